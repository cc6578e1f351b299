"""A Tripletex connection's summary tasks: the task's title, topic and import day, the data
fields each figure fills ("Show more" for the less common ones, "New custom field…" to create
one on the spot), and "Reload data", followed until it is done."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Summary tasks", "summary", 65, applies=lambda spec: spec.name == "tripletex")

NEW = "__new__"
"""The select's "New custom field…" choice."""
IMPORT_DAYS = [
    ("last_work_day", "Last work day of the month"),
    ("last_calendar_day", "Last calendar day of the month"),
    *[(str(day), f"Day {day} of the following month") for day in range(1, 29)],
]


def _page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    new: str | None = None,
    reload: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    system = system_of(request)
    context = connection_context(request, signed, connection_id, "summary")
    catalogue = system.data_fields.catalogue(signed.principal, connection_id)
    summary = dict(context["connection"]["settings"].get("summary") or {})
    shown = values or {
        "title": summary.get("title") or "",
        "topic": summary.get("topic") or "",
        "import_day": str(summary.get("import_day") or "last_work_day"),
        **{f"field.{f['statistic']}": f["custom_field"] or "" for f in catalogue["fields"]},
    }
    state = None
    if reload:
        state = system.connections.reload_state(signed.principal, connection_id, reload)
    return render(
        request,
        "summary/page.html",
        {
            **context,
            "fields": catalogue["fields"],
            "custom_fields": catalogue["custom_fields"],
            "values": shown,
            "errors": errors or {},
            "import_days": IMPORT_DAYS,
            "new": new,
            "NEW": NEW,
            "reload": state,
            "linked": len(context["connection"]["settings"].get("client_links") or {}),
            "connection_id": connection_id,
        },
        status_code=status_code,
        signed=signed,
    )


@router.get("/connections/{connection_id}/summary", response_class=HTMLResponse)
def summary_page(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    new: str | None = None,
    reload: str | None = None,
) -> Any:
    return _page(request, signed, connection_id, new=new, reload=reload)


@router.post("/connections/{connection_id}/summary", response_class=HTMLResponse)
async def save_summary(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """Saves the task settings and the field map; a field left on "New custom field…"
    (no JavaScript) comes back with the form that names it."""
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    fields = {
        key.removeprefix("field."): (value or None)
        for key, value in given.items()
        if key.startswith("field.")
    }
    wanted_new = next((name for name, value in fields.items() if value == NEW), None)
    day = given.get("import_day", "last_work_day")
    patch = {
        "title": given.get("title", "").strip() or None,
        "topic": given.get("topic", "").strip() or None,
        "recurrence": "monthly",
        "import_day": int(day) if day.isdigit() else day,
        "fields": {name: value for name, value in fields.items() if value != NEW},
    }
    try:
        system_of(request).connections.configure(
            signed.principal, connection_id, settings={"summary": patch}
        )
    except (Invalid, Conflict) as exc:
        field = (exc.field or "_").removeprefix("settings.summary.")
        return _page(
            request, signed, connection_id, errors={field: exc.message}, values=given,
            status_code=exc.status,
        )  # fmt: skip
    url = f"/ui/connections/{connection_id}/summary"
    if wanted_new:
        return redirect(f"{url}?new={wanted_new}#new-{wanted_new}", "Saved. Name the new field.")
    return redirect(url, "Summary task settings saved.")


@router.get(
    "/connections/{connection_id}/summary/fields/{statistic}/new", response_class=HTMLResponse
)
def new_field_form(request: Request, connection_id: str, statistic: str, signed: SignedDep) -> Any:
    """htmx: the inline "New custom field" form when the row's select is on that choice,
    nothing otherwise (the select sends its own value; the CSP forbids trigger filters)."""
    field = _field(request, signed, connection_id, statistic)
    chosen = request.query_params.get(f"field.{statistic}", "")
    return render(
        request,
        "summary/_new_field.html",
        {"f": field, "open": chosen == NEW and signed.can_change, "errors": {},
         "connection_id": connection_id},
        signed=signed,
    )  # fmt: skip


@router.post(
    "/connections/{connection_id}/summary/fields/{statistic}/custom-field",
    response_class=HTMLResponse,
)
async def create_custom_field(
    request: Request, connection_id: str, statistic: str, signed: ChangeDep
) -> Response:
    """Creates the field and maps the figure to it. htmx swaps the row, its select now on the
    new field; without JavaScript the page comes back with a notice. The label's input is
    named after its figure (``new_label.<statistic>``): the whole page form is posted."""
    system = system_of(request)
    htmx = bool(request.headers.get("hx-request"))
    raw = (await request.form()).get(f"new_label.{statistic}")
    label = raw if isinstance(raw, str) else ""
    try:
        made = system.data_fields.create_custom_field(
            signed.principal, connection_id, statistic, label=label
        )
    except (Invalid, Conflict) as exc:
        if not htmx:
            return _page(
                request, signed, connection_id, errors={f"new.{statistic}": exc.message},
                new=statistic, status_code=exc.status,
            )  # fmt: skip
        catalogue = system.data_fields.catalogue(signed.principal, connection_id)
        field = next(f for f in catalogue["fields"] if f["statistic"] == statistic)
        return render(
            request,
            "summary/_row.html",
            {"f": field, "custom_fields": catalogue["custom_fields"], "value": NEW,
             "new": statistic, "errors": {f"new.{statistic}": exc.message}, "label": label,
             "connection_id": connection_id, "NEW": NEW},
            status_code=422,
            signed=signed,
        )  # fmt: skip
    key = made["custom_field"]["key"]
    url = f"/ui/connections/{connection_id}/summary"
    if not htmx:
        return redirect(url, f"Custom field {made['custom_field']['label']} created and mapped.")
    catalogue = system.data_fields.catalogue(signed.principal, connection_id)
    field = next(f for f in catalogue["fields"] if f["statistic"] == statistic)
    return render(
        request,
        "summary/_row.html",
        {"f": field, "custom_fields": catalogue["custom_fields"], "value": key,
         "connection_id": connection_id, "NEW": NEW, "errors": {},
         "created": made["custom_field"]},
        signed=signed,
    )  # fmt: skip


@router.post("/connections/{connection_id}/summary/reload", response_class=HTMLResponse)
def reload(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    try:
        queued = system_of(request).connections.reload(signed.principal, connection_id)
    except (Invalid, Conflict) as exc:
        return _page(
            request, signed, connection_id, errors={"reload": exc.message},
            status_code=exc.status,
        )  # fmt: skip
    return redirect(
        f"/ui/connections/{connection_id}/summary?reload={queued['job_id']}#reload",
        "Reload started: the last 12 months are read again in the background.",
    )


@router.get("/connections/{connection_id}/summary/reload/{job_id}", response_class=HTMLResponse)
def reload_progress(request: Request, connection_id: str, job_id: str, signed: SignedDep) -> Any:
    """htmx polls this every 2 s; once the job is finished the fragment stops the polling."""
    state = system_of(request).connections.reload_state(signed.principal, connection_id, job_id)
    return render(
        request,
        "summary/_reload.html",
        {"reload": state, "connection_id": connection_id},
        signed=signed,
    )


def _field(request: Request, signed: Signed, connection_id: str, statistic: str) -> Any:
    catalogue = system_of(request).data_fields.catalogue(signed.principal, connection_id)
    for field in catalogue["fields"]:
        if field["statistic"] == statistic:
            return field
    raise NotFound(f"no data field '{statistic}'")
