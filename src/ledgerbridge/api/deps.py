"""Request dependencies: the installation and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledgerbridge.runtime.system import System
from ledgerbridge.services.tenancy import Principal

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lb_…`")


def _system(request: Request) -> System:
    system: System = request.app.state.system
    return system


async def get_system(request: Request) -> System:
    """Async so that resolving it costs no trip to the thread pool: a callback's
    acknowledgement must not wait for a thread the other requests hold."""
    return _system(request)


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="missing API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = _system(request).tenancy.authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


SystemDep = Annotated[System, Depends(get_system)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
