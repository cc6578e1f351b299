"""Logging a connection in to its system with OAuth 2.0: the authorize URL for the app's
"Log in to Qonto" button, and the callback the system's login page redirects to."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.services.errors import NotFound
from ledgerbridge.services.oauth import LoginFailed

router = APIRouter(tags=["oauth"])
CONNECTION_ID = re.compile(r"[0-9a-f-]{36}")


@router.post("/connections/{connection_id}/oauth/authorize")
def authorize(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Where the user logs in; open ``authorize_url`` in the browser."""
    return system.oauth.authorize(principal, connection_id)


@router.get("/oauth/callback")
async def callback(
    request: Request,
    system: SystemDep,
    state: str = Query(..., min_length=8),
    code: str | None = None,
    error: str | None = None,
) -> Any:
    """The system redirects here after the login; the ``state`` names the connection. A login
    started from the web UI goes back to its page (303, ``?login=ok`` or ``?login=failed``:
    the page reads the reason from the connection); one started through the API answers
    JSON. A login already used or expired, opened again in a browser (the back button, a
    reload), leads to the connection's login page, which says so, rather than to a JSON
    refusal."""
    try:
        answer = await run_in_threadpool(system.oauth.callback, state, code, error)
    except LoginFailed as exc:
        if exc.return_to is None:
            raise
        return RedirectResponse(f"{exc.return_to}?login=failed", status_code=303)
    except NotFound:
        connection_id = state.split(".", 1)[0]
        browser = "text/html" in request.headers.get("accept", "")
        if not browser or not CONNECTION_ID.fullmatch(connection_id):
            raise
        return RedirectResponse(f"/ui/connections/{connection_id}/login?login=spent", 303)
    if "return_to" in answer:
        return RedirectResponse(f"{answer['return_to']}?login=ok", status_code=303)
    return answer
