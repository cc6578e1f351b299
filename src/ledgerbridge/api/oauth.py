"""Logging a connection in to its system with OAuth 2.0: the authorize URL for the app's
"Log in to Qonto" button, and the callback the system's login page redirects to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.runtime.system import System
from ledgerbridge.services.oauth import OAuthService

router = APIRouter(tags=["oauth"])


def _service(system: System) -> OAuthService:
    return system.oauth


@router.post("/connections/{connection_id}/oauth/authorize")
def authorize(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Where the user logs in; open ``authorize_url`` in the browser."""
    return _service(system).authorize(principal, connection_id)


@router.get("/oauth/callback")
async def callback(
    system: SystemDep,
    state: str = Query(..., min_length=8),
    code: str | None = None,
    error: str | None = None,
) -> Any:
    """The system redirects here after the login; the ``state`` names the connection."""
    return await run_in_threadpool(_service(system).callback, state, code, error)
