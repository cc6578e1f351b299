"""Set-up steps before a connection exists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.api.input import HttpUrlText, PrintableText

router = APIRouter(prefix="/setup", tags=["setup"])


class UnicontaLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str
    base_url: HttpUrlText | None = None


@router.post("/uniconta/login")
def uniconta_login(body: UnicontaLogin, principal: PrincipalDep, system: SystemDep) -> Any:
    """Log in with a Uniconta user and list its companies. The user must be a Server user;
    without the Reseller role invoices cannot be enabled (the answer says so)."""
    return system.setup.uniconta_login(principal, body.username, body.password, body.base_url)


class YukiLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key: PrintableText = Field(description="A Yuki web service access key")
    base_url: HttpUrlText | None = None
    domain_id: PrintableText | None = Field(None, description="List this domain only")


@router.post("/yuki/login")
def yuki_login(body: YukiLogin, principal: PrincipalDep, system: SystemDep) -> Any:
    """List the domains a Yuki access key reaches, each with its administrations, to choose
    the connection's ``domain_id`` and ``administration_id`` from."""
    return system.setup.yuki_login(principal, body.access_key, body.base_url, body.domain_id)
