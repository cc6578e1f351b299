"""Set-up steps before a connection exists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter(prefix="/setup", tags=["setup"])


class UnicontaLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str
    base_url: str | None = None


@router.post("/uniconta/login")
def uniconta_login(body: UnicontaLogin, principal: PrincipalDep, system: SystemDep) -> Any:
    """Log in with a Uniconta user and list its companies. The user must be a Server user;
    without the Reseller role invoices cannot be enabled (the answer says so)."""
    return system.setup.uniconta_login(principal, body.username, body.password, body.base_url)
