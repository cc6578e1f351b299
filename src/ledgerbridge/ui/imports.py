"""A connection's Import page: what to fix first (unmapped codes, a missing login), "Start
initial import", then its progress per stream, polled every 2 s while it runs: records done of
the total, calls used, the time left, and when the day's call budget is spent, the time it
resumes at. The fragment stops polling once the import is done."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Import", "import", 40, applies=lambda spec: spec.side == "accounting")

OUTCOMES = ("created", "updated", "unchanged", "skipped", "failed")


def progress_of(connection: dict[str, Any]) -> dict[str, Any]:
    """The import as the page shows it: whether to keep polling, and each stream's row."""
    progress = connection["import_progress"]
    state = connection["import_state"]
    rows = []
    for stream, counts in (progress or {}).get("streams", {}).items():
        done = sum(int(counts.get(o) or 0) for o in OUTCOMES)
        rows.append({"stream": stream, "done": done, "total": counts.get("total"), **counts})
    return {
        "state": state,
        "polling": state == "running",
        "progress": progress,
        "rows": rows,
        "synced": sum(int(r.get("created") or 0) + int(r.get("updated") or 0) for r in rows),
    }


def _context(request: Request, signed: Signed, connection_id: str) -> dict[str, Any]:
    context = connection_context(request, signed, connection_id, "import")
    return {**context, **progress_of(context["connection"]), "outcomes": OUTCOMES}


@router.get("/connections/{connection_id}/import", response_class=HTMLResponse)
def import_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = _context(request, signed, connection_id)
    preflight: list[str] = []
    if context["state"] == "not_started":
        system = system_of(request)
        opener = system.connector if signed.can_change else None
        preflight = system.connections.preflight(signed.principal, connection_id, opener)
    return render(
        request, "connection/import.html", {**context, "preflight": preflight}, signed=signed
    )


@router.get("/connections/{connection_id}/import/progress", response_class=HTMLResponse)
def import_progress(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = _context(request, signed, connection_id)
    return render(request, "connection/_import_progress.html", context, signed=signed)


@router.post("/connections/{connection_id}/import")
def start_import(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    system = system_of(request)
    started = system.connections.start_import(signed.principal, connection_id, system.connector)
    notice = "The initial import has started."
    if started["warnings"]:
        notice += " " + " ".join(started["warnings"])
    return redirect(f"/ui/connections/{connection_id}/import", notice)
