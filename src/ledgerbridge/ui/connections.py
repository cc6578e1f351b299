"""The home page: every connection with its health, today's calls against the budget, open
issues and warnings; counts per state at the top and a state filter kept in the URL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.ui.web import SignedDep, UiRoute, render, system_of

router = APIRouter(route_class=UiRoute)

STATES = ("ok", "warning", "error", "importing", "inactive")
STATE_LABELS = {
    "ok": "OK",
    "warning": "Warning",
    "error": "Error",
    "importing": "Importing",
    "inactive": "Inactive",
}


def state_of(status: dict[str, Any]) -> str:
    """One word for a connection's health, worst first."""
    if not status["active"]:
        return "inactive"
    if status["import_state"] == "running":
        return "importing"
    last_error, last_success = status["last_error_at"], status["last_success_at"]
    if last_error and (not last_success or last_error > last_success):
        return "error"
    if status["warnings"] or status["open_issues"]:
        return "warning"
    return "ok"


@router.get("/", response_class=HTMLResponse)
def connections_page(request: Request, signed: SignedDep, state: str | None = None) -> Any:
    statuses = system_of(request).connections.list_connections(signed.principal)
    rows = [{**s, "state": state_of(s)} for s in statuses]
    counts = {key: sum(1 for r in rows if r["state"] == key) for key in STATES}
    shown = [r for r in rows if state in (None, "", r["state"])]
    return render(
        request,
        "connections/list.html",
        {
            "rows": shown,
            "counts": counts,
            "total": len(rows),
            "state": state if state in STATES else None,
            "states": STATE_LABELS,
        },
        signed=signed,
    )
