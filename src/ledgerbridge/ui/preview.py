"""Preview before a run: the answer of ``POST /connections/{id}/preview`` as a page, reached
from "Preview" next to "Start initial import" (Import), "Reload data" (Tripletex's summary)
and "Send changes now" (Overview). It reads the system (calls) and writes nothing, so it is a
form post for an owner or admin, and the page offers the run itself once it was looked at."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.ui.nav import connection_context
from ledgerbridge.ui.web import ChangeDep, UiRoute, render, system_of

router = APIRouter(route_class=UiRoute)

RUNS = {
    "import": ("import", "Initial import", "Start initial import", "import"),
    "reload": ("summary", "Reload data", "Yes, reload data", "summary/reload"),
    "push": ("", "Send changes", "Send changes now", "jobs/push"),
}
"""Per kind: the tab it belongs to, the heading, the button that starts the run, its path."""


@router.post("/connections/{connection_id}/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    kind: Annotated[str, Form()] = "import",
) -> Any:
    system = system_of(request)
    answer = system.connections.preview(signed.principal, connection_id, kind, system.jobs.preview)
    tab_path, title, start_label, start_path = RUNS[kind]
    context = connection_context(request, signed, connection_id, tab_path)
    return render(
        request,
        "connection/preview.html",
        {
            **context,
            "preview": answer,
            "title": title,
            "start_label": start_label,
            "start_path": start_path,
        },
        signed=signed,
    )
