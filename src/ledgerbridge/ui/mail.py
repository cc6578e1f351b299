"""Invoice mail of an accounting connection that mails booked invoices from the shop's own
SMTP server: the settings form (generated from the ``invoice_mail`` settings and the
``smtp_password`` secret), a test mail, and the mails with their state and a retry."""

from __future__ import annotations

from typing import Any, NamedTuple, get_args

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec
from ledgerbridge.connectors.settings import schema_of
from ledgerbridge.services.errors import Conflict, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import FormField, fields_of, read_values
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
PREFIX = "settings.invoice_mail."
SECRET = "smtp_password"
STATES = ("queued", "retry", "started", "sent", "refused", "unknown", "skipped", "failed")
RETRYABLE = frozenset({"unknown", "refused", "failed", "queued", "retry"})


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for kind in (annotation, *get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def mail_model(spec: SystemSpec) -> type[BaseModel] | None:
    """The model of a system's ``invoice_mail`` settings, when it has them."""
    field = spec.settings.model_fields.get("invoice_mail")
    return None if field is None else _model_of(field.annotation)


tab("Invoice mail", "mail", 70, applies=lambda spec: mail_model(spec) is not None)


class MailForm(NamedTuple):
    fields: list[FormField]
    groups: dict[str, list[FormField]]
    """A nested block's fields (the seller's details on the invoice), by the block's name."""
    secrets: list[FormField]


def _fields(system: str) -> MailForm:
    spec = SYSTEMS[system]
    model = mail_model(spec)
    if model is None:
        raise Conflict(f"{spec.title} connections send no invoice mail")
    groups = {
        name: fields_of(schema_of(nested))
        for name, info in model.model_fields.items()
        if (nested := _model_of(info.annotation)) is not None
    }
    secrets = [f for f in fields_of(schema_of(spec.secrets), secret=True) if f.name == SECRET]
    return MailForm(fields_of(schema_of(model)), groups, secrets)


MAIL_PAGE = 100
"""Mails listed on the tab at once, newest first; older ones are a link away."""


def _page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    test: dict[str, Any] | None = None,
    state: str | None = None,
    after: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = connection_context(request, signed, connection_id, "mail")
    system = request.app.state.system
    form = _fields(context["connection"]["system"])
    if values is None:
        _system, settings = system.connections.settings_of(signed.principal, connection_id)
        saved = settings.get("invoice_mail") or {}
        values = {PREFIX + k: v for k, v in saved.items() if k not in form.groups}
        for group in form.groups:
            values.update({f"{PREFIX}{group}.{k}": v for k, v in (saved.get(group) or {}).items()})
    shown = state if state in STATES else None
    # One more than a page, to know whether an older page follows.
    mails = system.mail.list(signed.principal, connection_id, shown, MAIL_PAGE + 1, after or None)
    context.update(
        mail_fields=form.fields,
        groups=form.groups,
        secret_fields=form.secrets,
        values=values,
        errors=errors or {},
        options={},
        test=test,
        state=shown,
        states=STATES,
        retryable=RETRYABLE,
        mails=mails[:MAIL_PAGE],
        older=mails[MAIL_PAGE - 1]["invoice_id"] if len(mails) > MAIL_PAGE else None,
    )
    return render(request, "commerce/mail.html", context, status_code=status_code, signed=signed)


@router.get("/connections/{connection_id}/mail", response_class=HTMLResponse)
def mail_page(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    state: str | None = None,
    after: str | None = None,
) -> Any:
    return _page(request, signed, connection_id, state=state, after=after)


@router.post("/connections/{connection_id}/mail", response_class=HTMLResponse)
async def save_mail(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """Saves the whole block: a field left empty goes back to its default (null in the
    merge patch), and the password only changes when one is typed."""
    system_name, _settings = system_of(request).connections.settings_of(
        signed.principal, connection_id
    )
    mail_form = _fields(system_name)
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    mine = {k.removeprefix(PREFIX): v for k, v in given.items() if k.startswith(PREFIX)}
    values = read_values(mail_form.fields, mine)
    block: dict[str, Any] = {f.name: values.get(f.name) for f in mail_form.fields}
    for group, fields in mail_form.groups.items():
        inner = {k.removeprefix(group + "."): v for k, v in mine.items()}
        read = read_values(fields, inner)
        block[group] = {f.name: read.get(f.name) for f in fields} if read else None
    secrets = read_values(
        mail_form.secrets, {k.removeprefix("secrets."): v for k, v in given.items()}
    )
    try:
        system_of(request).connections.configure(
            signed.principal, connection_id,
            settings={"invoice_mail": block}, secrets_=secrets or None,
        )  # fmt: skip
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        shown = {k: v for k, v in given.items() if not k.startswith("secrets.")}
        field = exc.field or "_"
        if not field.startswith(("settings.", "secrets.")) and field != "_":
            field = PREFIX + field
        return _page(
            request, signed, connection_id,
            values=shown, errors={field: exc.message}, status_code=exc.status,
        )  # fmt: skip
    return redirect(f"/ui/connections/{connection_id}/mail", "The invoice mail settings are saved.")


@router.post("/connections/{connection_id}/mail/test", response_class=HTMLResponse)
async def test_mail(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    form = await request.form()
    recipient = str(form.get("recipient") or "")
    try:
        answer = system_of(request).mail.send_test(signed.principal, connection_id, recipient)
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        test = {"recipient": recipient, "error": exc.message}
        return _page(request, signed, connection_id, test=test, status_code=exc.status)
    return _page(request, signed, connection_id, test={"recipient": recipient, **answer})


@router.post("/connections/{connection_id}/mail/{invoice_id}/retry")
def retry_mail(request: Request, connection_id: str, invoice_id: str, signed: ChangeDep) -> Any:
    mail = system_of(request).mail.retry(signed.principal, connection_id, invoice_id)
    if request.headers.get("hx-request"):
        return render(
            request, "commerce/_mail_row.html",
            {"m": mail, "retryable": RETRYABLE, "connection": {"id": connection_id},
             "just_retried": True},
            signed=signed,
        )  # fmt: skip
    return redirect(f"/ui/connections/{connection_id}/mail", "The mail is sent again.")
