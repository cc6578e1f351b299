"""A connection's Entities page: which streams sync and which way, the system's plain options
(Uniconta's ``post_invoices``, Yuki's contact types and suppliers), the schedule of each
scheduled job with its next and last run, and the time zone they run in. Saved as one merge
patch of the settings; a refusal comes back on the input it concerns."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec, directions
from ledgerbridge.connectors.settings import schema_of
from ledgerbridge.services.errors import ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import (
    FormField,
    fields_of,
    fields_under,
    label_of,
    map_field,
    map_lines,
    read_values,
    rows_field,
    rows_lines,
)
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.setup import TIMEZONES
from ledgerbridge.ui.web import (
    ChangeDep,
    SignedDep,
    UiRoute,
    named_by_label,
    redirect,
    render,
    system_of,
    unknown_choice,
)
from ledgerbridge.ui.wizard import wizard_of

router = APIRouter(route_class=UiRoute)
tab("Entities", "entities", 20, applies=lambda spec: bool(spec.streams))


def option_fields(spec: SystemSpec) -> list[FormField]:
    """The options the system's wizard names, as form fields (nested ones by their keys, a
    map of a person's own keys as ``key = value`` lines)."""
    schema = schema_of(spec.settings)
    plain = {f.name: f for f in fields_of(schema)}
    found: list[FormField] = []
    for name in wizard_of(spec.name).options:
        if name in plain:
            found.append(plain[name])
        elif (lines := map_field(schema, name)) is not None:
            found.append(lines)
        elif (rows := rows_field(schema, name)) is not None:
            found.append(rows)
        else:
            found.extend(fields_under(schema, name))
    return found


def streams_of(spec: SystemSpec, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Each stream with its label, the directions it allows (each as its list shows it), and
    the connection's choice."""
    chosen = settings.get("entities") or {}
    said = {
        "both": "Both ways",
        "inbound": f"From {spec.title} only",
        "outbound": f"To {spec.title} only",
    }
    rows = []
    for name, mapping in spec.streams.items():
        choice = chosen.get(name) or {}
        enabled = choice.get("enabled")
        rows.append(
            {
                "name": name,
                "label": label_of(name),
                "directions": {d: said[d] for d in directions(mapping)},
                "enabled": name in spec.default_streams if enabled is None else enabled,
                "direction": choice.get("direction", "both"),
            }
        )
    return rows


def schedules_of(spec: SystemSpec, connection: dict[str, Any]) -> list[dict[str, Any]]:
    """The scheduled reads a person may move, with what they read and their runs."""
    runs = {s["kind"]: s for s in connection["schedules"]}
    return [
        {
            "kind": kind,
            "streams": ", ".join(label_of(s) for s in pull.streams),
            "default": pull.cron,
            "cron": runs.get(kind, {}).get("cron", pull.cron),
            "next_run_at": runs.get(kind, {}).get("next_run_at"),
            "last_run_at": runs.get(kind, {}).get("last_run_at"),
        }
        for kind, pull in spec.pulls.items()
    ]


def _values_of(settings: dict[str, Any], fields: list[FormField]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        value: Any = settings
        for part in f.name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict) and f.input == "map":
            value = map_lines(value)
        if isinstance(value, list) and f.input == "rows":
            value = rows_lines(value, f.columns) or None
        if value is not None:
            values[f"settings.{f.name}"] = value
    return values


def _page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    errors: dict[str, str] | None = None,
    posted: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = connection_context(request, signed, connection_id, "entities")
    spec, connection = context["spec"], context["connection"]
    settings = dict(connection["settings"])
    streams = streams_of(spec, settings)
    schedules = schedules_of(spec, connection)
    fields = option_fields(spec)
    values = _values_of(settings, fields)
    timezone = connection["timezone"]
    if posted is not None:
        for row in streams:
            key = f"settings.entities.{row['name']}"
            row["enabled"] = posted.get(f"{key}.enabled") == "on"
            row["direction"] = posted.get(f"{key}.direction", row["direction"])
        for row in schedules:
            row["cron"] = posted.get(f"settings.schedules.{row['kind']}", row["cron"])
        values = {k: v for k, v in posted.items() if k.startswith("settings.")}
        timezone = posted.get("timezone", timezone)
    labels = _labels_of(streams, fields, schedules)
    chosen = {f"settings.entities.{r['name']}.direction": r for r in streams}
    placed: dict[str, str] = {}
    for key, message in (errors or {}).items():
        where = _input_of(key, list(labels))
        if where in chosen:  # a choice edited in the page: named with the choices shown
            row = chosen[where]
            message = unknown_choice(labels[where], row["direction"], row["directions"]) or message
        placed[where] = (
            named_by_label(message, where, labels[where]) if where in labels else message
        )
    return render(
        request,
        "connection/entities.html",
        {
            **context,
            "streams": streams,
            "schedules": schedules,
            "option_fields": fields,
            "values": values,
            "errors": placed,
            "options": {},
            "timezone": timezone,
            "timezones": TIMEZONES,
        },
        status_code=status_code,
        signed=signed,
    )


def _labels_of(
    streams: list[dict[str, Any]], fields: list[FormField], schedules: list[dict[str, Any]]
) -> dict[str, str]:
    """Each input of the page (a refusal goes on the first at or under its field) with its
    name as the page shows it, for the refusal to name it so."""
    return {
        **{f"settings.entities.{r['name']}.enabled": r["label"] for r in streams},
        **{
            f"settings.entities.{r['name']}.direction": f"Direction of {r['label']}"
            for r in streams
        },
        **{f"settings.{f.name}": f.label for f in fields},
        **{f"settings.schedules.{r['kind']}": f"Schedule of {r['streams']}" for r in schedules},
        "timezone": "Time zone",
    }


def _input_of(key: str, inputs: list[str]) -> str:
    """The input a refusal goes on: the first one at or under the field the service names."""
    return next((i for i in inputs if i == key or i.startswith(key + ".")), key)


@router.get("/connections/{connection_id}/entities", response_class=HTMLResponse)
def entities_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    return _page(request, signed, connection_id)


@router.post("/connections/{connection_id}/entities", response_class=HTMLResponse)
async def save_entities(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    system, current = system_of(request).connections.settings_of(signed.principal, connection_id)
    spec = SYSTEMS[system]
    entities: dict[str, Any] = {}
    for name, mapping in spec.streams.items():
        key = f"settings.entities.{name}"
        choice: dict[str, Any] = {"enabled": given.get(f"{key}.enabled") == "on"}
        if len(directions(mapping)) > 1:
            choice["direction"] = given.get(f"{key}.direction") or "both"
        entities[name] = choice
    # An empty schedule, or the default one, removes the connection's own (null in the patch).
    overridden = current.get("schedules") or {}
    schedules: dict[str, str | None] = {}
    for kind, pull in spec.pulls.items():
        cron = (given.get(f"settings.schedules.{kind}") or "").strip()
        if cron and cron != pull.cron:
            schedules[kind] = cron
        elif kind in overridden:
            schedules[kind] = None
    fields = option_fields(spec)
    try:
        options = read_values(
            fields, {k.removeprefix("settings."): v for k, v in given.items()}, "settings."
        )
        for f in fields:
            top = f.name.split(".")[0]
            if top not in options and top in current:
                options[top] = None  # emptied: the system's default applies again
        patch = {**options, "entities": entities, "schedules": schedules}
        system_of(request).connections.configure(
            signed.principal, connection_id, settings=patch,
            timezone=given.get("timezone") or None,
        )  # fmt: skip
    except ServiceError as exc:
        return _page(
            request, signed, connection_id, errors={exc.field or "_": exc.message},
            posted=given, status_code=422 if exc.status == 422 else exc.status,
        )  # fmt: skip
    if spec.side == "app":
        return redirect(f"/ui/connections/{connection_id}/entities", "Saved what syncs.")
    return redirect(
        f"/ui/connections/{connection_id}/import",
        "Saved what syncs. Next: map the codes, then start the initial import.",
    )
