"""A connection's credentials and settings: its secrets (a form generated from the system's
secrets, as at set-up), checked with the system by "Test" and again on "Save", so a refused
token never replaces a working one; the token's expiry date and the settings that go with a
secret (Qonto's OAuth client ID); "Log in again" for a system
with an OAuth login; the name; pause and resume; and deleting the connection after a
confirmation that says what goes with it."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec
from ledgerbridge.connectors.settings import EXPIRY_SUFFIX, schema_of
from ledgerbridge.services.errors import Invalid, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import FormField, fields_of, read_values
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of
from ledgerbridge.ui.wizard import wizard_of

router = APIRouter(route_class=UiRoute)
NAME_LENGTH = 200
"""The longest name the name field takes (its ``maxlength``)."""
tab("Credentials", "credentials", 90)


def credential_fields(spec: SystemSpec) -> tuple[list[FormField], list[FormField]]:
    """(secrets, settings) of a system's credentials form: the settings are the expiry dates
    and those that go with a secret (Qonto's OAuth client ID). No secret is required there:
    one left empty keeps its saved value (a new SMTP password alone, a new client ID with the
    same secret). Secrets a login hands out (Qonto's tokens) are not asked here either, as at
    set-up: logging in again replaces them."""
    steps = wizard_of(spec.name)
    secrets = [
        replace(f, required=False)
        for f in fields_of(schema_of(spec.secrets), secret=True)
        if f.name not in steps.system_secrets
    ]
    settings = [
        f
        for f in fields_of(schema_of(spec.settings))
        if f.name.endswith(EXPIRY_SUFFIX) or f.name in steps.with_secrets
    ]
    return secrets, settings


def _page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    errors: dict[str, str] | None = None,
    checked: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The tab; after a refusal, with what the person typed (``typed``: the name, the
    settings) in its fields, so what was refused stays in view beside its reason. A secret is
    never shown again: its field stays empty."""
    context = connection_context(request, signed, connection_id, "credentials")
    secrets, plain = credential_fields(context["spec"])
    saved = context["connection"]["settings"]
    typed = typed or {}
    values = {f"settings.{f.name}": saved.get(f.name) or "" for f in plain}
    values.update({k: v for k, v in typed.items() if k in values})
    context.update(
        secret_fields=secrets,
        setting_fields=plain,
        values=values,
        name=typed.get("name", context["connection"]["name"]),
        options={},
        errors=errors or {},
        checked=checked,
    )
    return render(
        request, "connection/credentials.html", context, status_code=status_code, signed=signed
    )


@router.get("/connections/{connection_id}/credentials", response_class=HTMLResponse)
def credentials_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    return _page(request, signed, connection_id)


async def _given(
    request: Request, signed: Signed, connection_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(secrets, settings) the credentials form gives; an empty secret is left as it is, and
    only a setting that differs from the saved one is sent."""
    system, saved = system_of(request).connections.settings_of(signed.principal, connection_id)
    spec = SYSTEMS[system]
    secrets, plain = credential_fields(spec)
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}

    def under(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in given.items() if k.startswith(prefix)}

    new_secrets = read_values(secrets, under("secrets."))
    changed = {
        key: value
        for key, value in read_values(plain, under("settings.")).items()
        if value != saved.get(key)
    }
    if not new_secrets and not changed:
        raise Invalid(f"paste the new {spec.title} credentials first", field="secrets")
    return new_secrets, changed


async def _typed(request: Request) -> dict[str, str]:
    """The credentials form's settings as typed (its secrets left out: never shown again)."""
    form = await request.form()  # cached: read before, by the form's own fields
    return {k: v for k, v in form.items() if isinstance(v, str) and k.startswith("settings.")}


@router.post("/connections/{connection_id}/credentials/check", response_class=HTMLResponse)
async def check(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """ "Test": the new credentials checked with the system, nothing saved. From htmx only the
    result is swapped in, so the pasted token stays in its field for "Save"."""
    fragment = bool(request.headers.get("hx-request"))
    try:
        secrets, settings = await _given(request, signed, connection_id)
        result = system_of(request).connections.check_credentials(
            signed.principal, connection_id, secrets_=secrets, settings=settings or None
        )
    except ServiceError as exc:
        refused = {"ok": False, "error": exc.message}
        if fragment:
            return render(
                request, "connection/_check.html", {"checked": refused},
                status_code=exc.status, signed=signed,
            )  # fmt: skip
        return _page(
            request, signed, connection_id, errors={exc.field or "_": exc.message},
            checked=refused, typed=await _typed(request), status_code=exc.status,
        )  # fmt: skip
    if fragment:
        return render(request, "connection/_check.html", {"checked": result}, signed=signed)
    return _page(request, signed, connection_id, checked=result)


@router.post("/connections/{connection_id}/credentials", response_class=HTMLResponse)
async def save_credentials(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """ "Save": checked with the system again by the service before anything is stored."""
    try:
        secrets, settings = await _given(request, signed, connection_id)
        changed = system_of(request).connections.configure(
            signed.principal, connection_id, secrets_=secrets, settings=settings or None
        )
    except ServiceError as exc:
        return _page(
            request, signed, connection_id, errors={exc.field or "_": exc.message},
            typed=await _typed(request), status_code=exc.status,
        )  # fmt: skip
    notice = "The new credentials work and are saved."
    if changed["warnings"]:
        notice += " " + " ".join(changed["warnings"])
    return redirect(f"/ui/connections/{connection_id}/credentials", notice)


@router.post("/connections/{connection_id}/credentials/login", response_class=HTMLResponse)
def log_in_again(request: Request, connection_id: str, signed: ChangeDep) -> Any:
    """Starts the system's OAuth login and links to it (the page's CSP lets a form lead only
    to our own pages, so the person follows the link)."""
    started = system_of(request).oauth.authorize(signed.principal, connection_id)
    context = connection_context(request, signed, connection_id, "credentials")
    context["authorize_url"] = started["authorize_url"]
    return render(request, "connection/login_again.html", context, signed=signed)


@router.post("/connections/{connection_id}/name", response_class=HTMLResponse)
def save_name(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    name: Annotated[str, Form()] = "",
) -> Response:
    refused = (
        "give the connection a name"
        if not name.strip()
        else f"at most {NAME_LENGTH} characters: this one has {len(name)}"
        if len(name) > NAME_LENGTH
        else None
    )
    if refused:
        return _page(
            request, signed, connection_id, errors={"name": refused}, typed={"name": name},
            status_code=422,
        )  # fmt: skip
    try:
        system_of(request).connections.configure(signed.principal, connection_id, name=name)
    except ServiceError as exc:
        return _page(
            request, signed, connection_id, errors={exc.field or "_": exc.message},
            typed={"name": name}, status_code=exc.status,
        )  # fmt: skip
    return redirect(f"/ui/connections/{connection_id}/credentials", "Name saved.")


@router.post("/connections/{connection_id}/active", response_class=HTMLResponse)
def set_active(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    active: Annotated[bool, Form()],
) -> Response:
    """Pause: the schedules stop and queued jobs end without doing anything; resume: the
    schedules start again."""
    system_of(request).connections.configure(signed.principal, connection_id, active=active)
    notice = (
        "The connection is active again: its schedules run."
        if active
        else "The connection is paused: nothing syncs until it is resumed."
    )
    return redirect(f"/ui/connections/{connection_id}/credentials", notice)


@router.get("/connections/{connection_id}/delete", response_class=HTMLResponse)
def confirm_delete(request: Request, connection_id: str, signed: SignedDep) -> Any:
    signed.principal.require_admin("deleting a connection")
    context = connection_context(request, signed, connection_id, "credentials")
    return render(
        request, "connection/delete.html", {**context, "errors": {}, "typed": ""}, signed=signed
    )


@router.post("/connections/{connection_id}/delete", response_class=HTMLResponse)
def delete(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    confirm_name: Annotated[str, Form()] = "",
) -> Response:
    """Deleting asks for the connection's name typed again: it cannot be undone. A name that
    differs comes back as typed, so the difference can be seen."""
    context = connection_context(request, signed, connection_id, "credentials")
    if confirm_name.strip() != context["connection"]["name"]:
        errors = {"confirm_name": "type the connection's name exactly to delete it"}
        context.update(errors=errors, typed=confirm_name)
        return render(request, "connection/delete.html", context, status_code=422, signed=signed)
    deleted = system_of(request).connections.delete(signed.principal, connection_id)
    notice = f"{deleted['name']} is deleted."
    if deleted["warnings"]:
        notice += " " + " ".join(deleted["warnings"])
    return redirect("/ui/", notice)
