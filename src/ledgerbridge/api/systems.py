"""The accounting systems a connection can reach, and what each offers: the form of its
settings and secrets, its streams, schedules, jobs and lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ledgerbridge.api.deps import PrincipalDep
from ledgerbridge.services.connections.catalogue import systems

router = APIRouter(prefix="/systems", tags=["connections"])


class StreamView(BaseModel):
    name: str
    directions: list[str] = Field(
        description="What `settings.entities.<stream>.direction` may be (`both` when the "
        "stream goes both ways)"
    )
    enabled_by_default: bool


class DefaultSchedule(BaseModel):
    kind: str
    cron: str
    timezone: str = Field(description="The system's default zone; a connection's own applies")


class CodeMappingsView(BaseModel):
    vat: bool = Field(description="Whether VAT codes are mapped (`settings.vat_mapping`)")
    units: dict[str, str] | None = Field(description="Default units; null: none are mapped")
    payment_terms: dict[str, int] | None = Field(
        description="Default payment terms; null: none are mapped"
    )


class SystemView(BaseModel):
    name: str
    timezone: str = Field(description="A new connection's default time zone")
    settings_schema: dict[str, Any] = Field(description="JSON Schema of the settings")
    secrets_schema: dict[str, Any] = Field(description="JSON Schema of the secrets")
    streams: list[StreamView]
    schedules: list[DefaultSchedule]
    job_kinds: list[str] = Field(description="Jobs a user may run (`POST …/jobs/{kind}`)")
    lists: list[str] = Field(description="Lists read with `GET …/lists/{name}`")
    code_mappings: CodeMappingsView
    daily_call_limit: int
    quota_timezone: str = Field(description="Where the vendor's quota day starts")
    oauth: bool = Field(description="Whether connections log in with OAuth")


@router.get("", response_model=list[SystemView])
def list_systems(_principal: PrincipalDep) -> Any:
    """Uniconta, Yuki, Tripletex and Qonto (see docs/connector-<system>.md for each)."""
    return systems()
