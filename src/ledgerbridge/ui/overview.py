"""A connection's overview: its health, the last error with what to do, the Change URL,
schedules with their next and last runs, and the jobs a person may start."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import SignedDep, UiRoute, render

router = APIRouter(route_class=UiRoute)
tab("Overview", "", 10)


@router.get("/connections/{connection_id}/", response_class=HTMLResponse)
@router.get("/connections/{connection_id}", response_class=HTMLResponse)
def overview_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "")
    return render(request, "connection/overview.html", context, signed=signed)
