"""Users, API keys and webhook subscriptions of the caller's tenant."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter()


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    role: Literal["owner", "admin", "member"] = "member"


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        description="e.g. party.created, invoice.updated, connection.import_completed; * for all",
    )


@router.get("/users", tags=["tenancy"])
def list_users(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.tenancy.list_users(principal)


@router.post("/users", status_code=201, tags=["tenancy"])
def add_user(body: UserCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """Adds a user and returns their first API key (shown once)."""
    issued = system.tenancy.add_user(principal, body.email, body.role)
    return {"user_id": issued.user_id, "key_id": issued.key_id, "api_key": issued.api_key}


@router.delete("/api-keys/{key_id}", status_code=204, tags=["tenancy"])
def revoke_key(key_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
    system.tenancy.revoke_key(principal, key_id)
    return Response(status_code=204)


@router.get("/webhooks", tags=["webhooks"])
def list_webhooks(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.webhooks.list_subscriptions(principal)


@router.post("/webhooks", status_code=201, tags=["webhooks"])
def subscribe(body: WebhookCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """Returns the signing secret once: verify `X-Ledgerbridge-Signature` with it."""
    return system.webhooks.subscribe(principal, body.url, body.events)


@router.delete("/webhooks/{subscription_id}", status_code=204, tags=["webhooks"])
def unsubscribe(subscription_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
    system.webhooks.unsubscribe(principal, subscription_id)
    return Response(status_code=204)
