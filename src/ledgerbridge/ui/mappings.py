"""A connection's code mappings: VAT codes, units and payment terms. The system's own VAT
codes are read from it (owners and admins: one call) and each code that is not mapped is
highlighted with the records waiting for it; saving maps them, and those records then sync by
themselves (the engine applies them again), which the page follows until they have."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from ledgerbridge.connectors.registry import CodeMappings, SystemSpec
from ledgerbridge.services.connections.codes import streams_needing_vat
from ledgerbridge.services.errors import Invalid, NotFound, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
HUB_VAT_CODES_SHOWN = 500
"""Hub VAT codes offered as suggestions; a tenant has a few dozen."""


def _has_codes(codes: CodeMappings) -> bool:
    return codes.vat or codes.units is not None or codes.payment_terms is not None


tab("Mappings", "mappings", 30, applies=lambda spec: _has_codes(spec.codes))


def _vat_rows(
    spec: SystemSpec, view: dict[str, Any], hub_codes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per code the mapping is keyed by (the system's or the hub's, per system):
    those the system or the hub has, those mapped, and those records wait for."""
    waiting = view["waiting"]["vat"]
    if spec.codes.vat_keys == "system":
        known = {c["code"]: c for c in view.get("remote_vat_codes") or [] if c.get("code")}
    else:
        known = {c["code"]: c for c in hub_codes}
    codes = [*known, *(c for c in view["vat"] if c not in known)]
    codes += [c for c in waiting if c and c not in codes]
    return [
        {
            "code": code,
            "name": (known.get(code) or {}).get("name"),
            "rate": (known.get(code) or {}).get("rate"),
            "value": view["vat"].get(code, ""),
            "waiting": waiting.get(code, 0),
        }
        for code in codes
    ]


def _hub_vat_codes(request: Request, signed: Signed) -> list[dict[str, Any]]:
    records = system_of(request).records.list_page(
        signed.principal, "vat_code", limit=HUB_VAT_CODES_SHOWN, after=None
    )
    return [r.data for r in records]


def _context(
    request: Request, signed: Signed, connection_id: str, *, remote: bool
) -> dict[str, Any]:
    context = connection_context(request, signed, connection_id, "mappings")
    spec: SystemSpec = context["spec"]
    if not _has_codes(spec.codes):
        raise NotFound(f"{spec.title} maps no codes")
    service = system_of(request).connections
    remote_error = None
    view = None
    if remote and signed.can_change and spec.codes.vat and "vat" in spec.lists:
        try:
            view = service.mappings(signed.principal, connection_id, system_of(request).connector)
        except Invalid as exc:
            remote_error = exc.message
    if view is None:
        view = service.mappings(signed.principal, connection_id)
    hub_codes = _hub_vat_codes(request, signed) if spec.codes.vat else []
    return {
        **context,
        "view": view,
        "vat_rows": _vat_rows(spec, view, hub_codes) if spec.codes.vat else [],
        "vat_needed_by": streams_needing_vat(spec.name, context["connection"]["settings"]),
        "hub_vat_codes": hub_codes,
        "remote_vat_codes": view.get("remote_vat_codes") or [],
        "remote_error": remote_error,
        "errors": {},
        "given": {},
        "default_units": spec.codes.units or {},
        "default_terms": spec.codes.payment_terms or {},
    }


@router.get("/connections/{connection_id}/mappings", response_class=HTMLResponse)
def mappings_page(
    request: Request, connection_id: str, signed: SignedDep, waiting: int | None = None
) -> Any:
    context = _context(request, signed, connection_id, remote=True)
    context["following"] = _following(context["view"], waiting)
    return render(request, "connection/mappings.html", context, signed=signed)


@router.get("/connections/{connection_id}/mappings/waiting", response_class=HTMLResponse)
def waiting_fragment(request: Request, connection_id: str, signed: SignedDep, of: int) -> Any:
    """The records that waited for the codes just mapped, polled until they have synced."""
    view = system_of(request).connections.mappings(signed.principal, connection_id)
    context = {"connection_id": connection_id, "following": _following(view, of)}
    return render(request, "connection/_mappings_waiting.html", context, signed=signed)


def _following(view: dict[str, Any], of: int | None) -> dict[str, int] | None:
    """(of, still waiting) for the records of the codes now mapped, when a save started it."""
    if not of or of < 0:
        return None
    left = sum(
        count
        for kind in ("vat", "units", "payment_terms")
        for code, count in view["waiting"][kind].items()
        if code in view[kind]
    )
    return {"of": of, "left": min(left, of), "done": max(of - left, 0)}


@router.post("/connections/{connection_id}/mappings", response_class=HTMLResponse)
async def save_mappings(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    service = system_of(request).connections
    form = await request.form()
    current = service.mappings(signed.principal, connection_id)
    try:
        vat, units, terms = _changes(form, current)
        saved = service.set_mappings(
            signed.principal, connection_id,
            vat=vat or None, units=units or None, payment_terms=terms or None,
        )  # fmt: skip
    except ServiceError as exc:
        context = _context(request, signed, connection_id, remote=True)
        _keep_typed(context, {k: v for k, v in form.items() if isinstance(v, str)})
        context["errors"] = {exc.field or "_": exc.message}
        context["following"] = None
        return render(
            request, "connection/mappings.html", context, status_code=exc.status, signed=signed
        )
    mapped: dict[str, set[str]] = {
        "vat": set(vat),
        "units": set(units),
        "payment_terms": set(terms),
    }
    waiting = sum(
        count
        for kind, given in mapped.items()
        for code, count in saved["waiting"][kind].items()
        if code in given
    )
    url = f"/ui/connections/{connection_id}/mappings"
    if not waiting:
        return redirect(url, "Mappings saved.")
    if service.status(signed.principal, connection_id)["import_state"] != "done":
        notice = (
            f"Mappings saved. {waiting} record{'s' if waiting != 1 else ''} skipped earlier for "
            "these codes sync with a retry (Issues) once the initial import is done."
        )
        return redirect(url, notice)
    notice = (
        f"Mappings saved. The {waiting} skipped record{'s' if waiting != 1 else ''} waiting for "
        "these codes sync by themselves: nothing else to do."
    )
    return redirect(f"{url}?waiting={waiting}", notice)


def _keep_typed(context: dict[str, Any], given: dict[str, str]) -> None:
    """A refused form shows what was typed, not the saved values, so nothing is typed twice."""
    for row in context["vat_rows"]:
        row["value"] = given.get(f"vat.{row['code']}", row["value"])
    view = context["view"]
    for kind, prefix in (("units", "unit."), ("payment_terms", "term.")):
        typed = {k.removeprefix(prefix): v for k, v in given.items() if k.startswith(prefix)}
        view[kind] = {**view[kind], **typed}
    context["given"] = given


def _changes(
    form: FormData, current: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """What the form changes: filled rows that differ from the saved mapping, and a new unit
    or payment term. An empty row stays as it is (a mapping is never removed by leaving its
    field blank)."""
    given = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    vat = _rows(given, "vat.", current["vat"])
    units = _rows(given, "unit.", current["units"])
    if given.get("new_unit_code") or given.get("new_unit_value"):
        if not given.get("new_unit_code") or not given.get("new_unit_value"):
            raise Invalid("give both the unit and the hub unit it maps to", field="new_unit")
        units[given["new_unit_code"]] = given["new_unit_value"]
    terms: dict[str, int] = {}
    raw_terms = _rows(given, "term.", {k: str(v) for k, v in current["payment_terms"].items()})
    if given.get("new_term_code") or given.get("new_term_days"):
        if not given.get("new_term_code") or not given.get("new_term_days"):
            raise Invalid("give both the payment term and its days", field="new_term")
        raw_terms[given["new_term_code"]] = given["new_term_days"]
    for code, days in raw_terms.items():
        if not days.isdigit() or int(days) > 3650:
            field = "new_term" if code == given.get("new_term_code") else f"term.{code}"
            raise Invalid(f"payment term '{code}': days must be a whole number 0–3650", field=field)
        terms[code] = int(days)
    return vat, units, terms


def _rows(given: dict[str, str], prefix: str, current: dict[str, Any]) -> dict[str, str]:
    """Filled fields under ``prefix`` whose value differs from the saved one."""
    rows = {k.removeprefix(prefix): v for k, v in given.items() if k.startswith(prefix) and v}
    return {code: v for code, v in rows.items() if v != str(current.get(code, ""))}
