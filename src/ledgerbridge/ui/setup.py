"""Adding a connection: pick the system, then fill the form its typed settings and secrets
generate (``ui/forms.py``); the service checks the credentials with the system before
anything is saved, and a refusal comes back on the field it concerns. A system whose set-up
needs a first step (a login that lists companies) sends its choices into the same form as
``options``."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.connectors.settings import schema_of
from ledgerbridge.services.errors import Forbidden, Invalid, NotFound, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import FormField, choices_of, fields_of, fields_under, read_values
from ledgerbridge.ui.web import (
    ChangeDep,
    SignedDep,
    UiRoute,
    redirect,
    render,
    system_of,
    templates,
)
from ledgerbridge.ui.wizard import wizard_of

router = APIRouter(route_class=UiRoute)
GROUPS = {
    "accounting": "Accounting systems",
    "app": "Webshops, acquirers, POS and files",
}
templates.env.globals["choices_of"] = choices_of
TIMEZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def form_fields(system: str) -> tuple[list[FormField], list[FormField]]:
    """(settings fields, secrets fields) of a system's set-up form."""
    spec = SYSTEMS.get(system)
    if spec is None:
        raise NotFound(f"there is no system '{system}'")
    steps = wizard_of(system)
    schema = schema_of(spec.settings)
    settings = fields_of(schema) + [f for name in steps.nested for f in fields_under(schema, name)]
    secrets = [
        f
        for f in fields_of(schema_of(spec.secrets), secret=True)
        if f.name not in steps.system_secrets
    ]
    return settings, secrets


def render_form(
    request: Request,
    signed: Signed,
    system: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    options: dict[str, dict[str, str]] | None = None,
    warnings: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The set-up form of ``system``; ``values`` prefill it (``settings.x``, ``secrets.y``,
    ``name``, ``timezone``; a secret a first step was given is carried hidden, so the page is
    never cached), ``options`` turn a field into a choice (a company list), ``warnings`` are
    what a first step found."""
    settings, secrets = form_fields(system)
    spec = SYSTEMS[system]
    lacking = system_of(request).connections.installation_lacks(system)
    if lacking:
        warnings = [
            f"This installation is not set up for {spec.title} yet: whoever runs the server "
            f"sets {' or '.join(lacking)} and restarts it. Until "
            f"then no {spec.title} connection can be saved.",
            *(warnings or []),
        ]
    names = {f"settings.{f.name}" for f in settings} | {f"secrets.{f.name}" for f in secrets}
    placed = {_field_of(key, names): message for key, message in (errors or {}).items()}
    response = render(
        request,
        "setup/form.html",
        {
            "system": system,
            "spec": spec,
            "settings_fields": settings,
            "secret_fields": secrets,
            "values": values or {"timezone": spec.timezone},
            "errors": placed,
            "advanced_open": refused_under_advanced(placed, settings + secrets),
            "options": options or {},
            "warnings": warnings or [],
            "save_label": wizard_of(system).save_label,
            "timezones": TIMEZONES,
        },
        status_code=status_code,
        signed=signed,
    )
    response.headers["cache-control"] = "no-store"
    return response


def refused_under_advanced(errors: dict[str, str], fields: list[FormField]) -> bool:
    """Whether a refusal is on a field under "Advanced" (the time zone, a host), which then
    opens: a marked field folded away is one the person cannot see."""
    folded = {"timezone"} | {
        f"{'secrets' if f.secret else 'settings'}.{f.name}" for f in fields if f.advanced
    }
    return not folded.isdisjoint(errors)


def _field_of(key: str, names: set[str]) -> str:
    """The input a refusal belongs on: ``settings.debtor_numbers`` goes on the form's first
    field under it (``settings.debtor_numbers.next``)."""
    if key in names:
        return key
    return next((n for n in sorted(names) if n.startswith(key + ".")), key)


@router.get("/connections/new", response_class=HTMLResponse)
def pick_system(request: Request, signed: SignedDep) -> Any:
    signed.principal.require_admin("adding a connection")
    groups = {
        title: sorted((s for s in SYSTEMS.values() if s.side == side), key=lambda s: s.title)
        for side, title in GROUPS.items()
    }
    return render(request, "setup/pick.html", {"groups": groups}, signed=signed)


@router.get("/connections/new/{system}", response_class=HTMLResponse)
def setup_form(request: Request, system: str, signed: SignedDep, form: bool = False) -> Any:
    """The system's first step (a login), or its plain form (``?form=1``, or no first step)."""
    signed.principal.require_admin("adding a connection")
    start = wizard_of(system).start
    if start is not None and not form and system in SYSTEMS:
        return start(request, signed)
    return render_form(request, signed, system)


NAME_MAX = 200
"""A connection's name at most, as the API and the rename on Credentials hold it."""


@router.post("/connections/new/{system}", response_class=HTMLResponse)
async def create_connection(request: Request, system: str, signed: ChangeDep) -> Response:
    settings_fields, secret_fields = form_fields(system)
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    settings = read_values(settings_fields, _under(given, "settings."))
    secrets = read_values(secret_fields, _under(given, "secrets."))
    options = {k.removeprefix("options."): v for k, v in _under(given, "options.").items()}
    try:
        if len(given.get("name", "")) > NAME_MAX:
            raise Invalid(f"a connection's name has at most {NAME_MAX} characters", field="name")
        created = system_of(request).connections.create(
            signed.principal,
            system=system,
            name=given.get("name", ""),
            timezone=given.get("timezone") or None,
            settings={**settings, **_carried(given)},
            secrets_=secrets,
        )
    except ServiceError as exc:
        if isinstance(exc, Forbidden):
            raise  # the page that says who may do this, not a form to fill again
        values = {
            k: v
            for k, v in given.items()
            if not k.startswith("secrets.") or _keeps_secrets(system, exc.field, v)
        }
        return render_form(
            request, signed, system,
            values=values, errors={exc.field or "_": exc.message},
            options=_options_back(options), status_code=422 if exc.status == 422 else exc.status,
        )  # fmt: skip
    awaiting_login = SYSTEMS[system].oauth is not None and not created.get("logged_in")
    notice = f"{created['name']} is {'saved' if awaiting_login else 'connected'}."
    target = f"/ui/connections/{created['id']}/"
    next_page = wizard_of(system).next_page
    if next_page is not None:
        target, more = next_page(created)
        notice += f" {more}" if more else ""
    if created.get("warnings"):
        notice += " " + " ".join(created["warnings"])
    return redirect(target, notice)


def _keeps_secrets(system: str, refused: str | None, secret: str) -> bool:
    """Whether a refused form carries a secret it was given (hidden, as the first step carries
    it), so that fixing another field does not mean pasting the password or key again. A
    refusal of the credentials themselves (a secret, the user, the host) asks for them anew."""
    field = (refused or "").removeprefix("settings.")
    credentials = field.startswith("secrets") or field in SYSTEMS[system].credential_settings
    return bool(secret) and not credentials


def _under(form: dict[str, str], prefix: str) -> dict[str, str]:
    return {k.removeprefix(prefix): v for k, v in form.items() if k.startswith(prefix)}


def _carried(form: dict[str, str]) -> dict[str, Any]:
    """Settings a first step chose that the form does not show (``carry.<name>``, JSON)."""
    carried: dict[str, Any] = {}
    for key, value in _under(form, "carry.").items():
        try:
            carried[key] = json.loads(value)
        except ValueError:
            carried[key] = value
    return carried


def _options_back(options: dict[str, str]) -> dict[str, dict[str, str]]:
    """A choice list the first step gave, sent along with the form so a refused save shows
    the same choices (``options.<field>`` = JSON object of value → label)."""
    back: dict[str, dict[str, str]] = {}
    for key, value in options.items():
        try:
            back[key] = {str(k): str(v) for k, v in json.loads(value).items()}
        except (ValueError, AttributeError):
            continue
    return back
