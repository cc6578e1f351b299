"""A connection's overview: its health, the last error with what to do, warnings with their
action, the Change URL, schedules with their next and last runs, the last runs, and the jobs
a person may start now ("Sync now", "Test connection")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.connections.explain import known_fix
from ledgerbridge.ui.connections import STATE_LABELS, state_of
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Overview", "", 10)

CHANGE_URL_HINTS = {
    "uniconta": "In Uniconta, open Company › Maintenance (Firma › Vedligeholdelse), paste "
    "this address into the Change URL field and save: Uniconta then tells ledgerbridge about "
    "every change at once instead of waiting for the next scheduled read.",
}
"""Where a system takes the Change URL; a system not listed gets a general sentence."""

JOB_LABELS = {
    "push": "Send changes now",
    "retry": "Retry all issues",
    "inbox": "Process callbacks",
}
"""The button of a job kind; a scheduled read is "Read <kind> now"."""


def job_label(kind: str) -> str:
    return JOB_LABELS.get(kind, f"Read {kind.replace('_', ' ')} now")


@router.get("/connections/{connection_id}/", response_class=HTMLResponse)
@router.get("/connections/{connection_id}", response_class=HTMLResponse)
def overview_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "")
    status = context["connection"]
    state = state_of(status)
    warnings = [(w, known_fix(w)) for w in status["warnings"]]
    return render(
        request,
        "connection/overview.html",
        {
            **context,
            "state": state,
            "state_label": STATE_LABELS[state],
            "warnings": warnings,
            "change_url_hint": CHANGE_URL_HINTS.get(status["system"]),
            "jobs": [(kind, job_label(kind)) for kind in status["job_kinds"]],
            "open_issue_count": sum(status["open_issues"].values()),
        },
        signed=signed,
    )


@router.post("/connections/{connection_id}/test", response_class=HTMLResponse)
def test_connection(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """One call with the saved credentials. htmx shows the answer in place; without
    JavaScript it comes back as the overview's notice."""
    system = system_of(request)
    result = system.connections.test(signed.principal, connection_id, system.connector)
    if request.headers.get("hx-request"):
        return render(request, "connection/_test_result.html", {"result": result})
    if result["ok"]:
        notice = f"Test passed: {result['description']}"
    else:
        notice = f"Test failed: {result['error']}"
    return redirect(f"/ui/connections/{connection_id}/", notice)


@router.post("/connections/{connection_id}/jobs/{kind}")
def sync_now(request: Request, connection_id: str, kind: str, signed: ChangeDep) -> Response:
    """Queue a job now; Activity shows its run once a worker starts it."""
    system_of(request).connections.request(signed.principal, connection_id, kind)
    return redirect(
        f"/ui/connections/{connection_id}/activity",
        f"{job_label(kind)}: queued. Its run appears below as soon as a worker starts it.",
    )
