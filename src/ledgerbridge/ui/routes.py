"""Routes: which connection's records go where, and a commerce route's policies and PayMatch
block as forms (not JSON). A route's form is read into the JSON the service takes
(``commerce.policy``, ``commerce.rules``, ``paymatch``) and a refusal comes back on the field
its path names. Nested lists (order states, payment methods, VAT codes, adjustments, filters)
are repeatable rows: "Add row" posts the form back with one more empty row, so it works
without JavaScript. A route's historical import shows its plan first, then its progress."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, get_args

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.commerce.config import (
    DEFAULT_PAYMENT_METHODS,
    CommercePolicy,
    MatchField,
    ServiceLineKind,
    StateAction,
)
from ledgerbridge.commerce.mapping import Operator
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.routing import APP_SOURCE
from ledgerbridge.model.commerce import CUSTOMER_KINDS
from ledgerbridge.runtime.jobqueue.port import FINISHED_JOB_STATUSES
from ledgerbridge.services.errors import Invalid, ServiceError
from ledgerbridge.services.routes import RouteInput, default_commerce
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import label_of
from ledgerbridge.ui.nav import connection_context, menu, tab
from ledgerbridge.ui.web import (
    ChangeDep,
    SignedDep,
    UiRoute,
    redirect,
    render,
    system_of,
    templates,
)

router = APIRouter(route_class=UiRoute)
menu("Routes", "/ui/routes", 20)
tab("Routes", "routes", 40, applies=lambda spec: spec.side == "app")

JSON = dict[str, Any]
ACTIONS = {
    "create_invoice": "Create an invoice",
    "create_order": "Create an order (invoiced later)",
    "ignore": "Ignore",
}
assert set(ACTIONS) == set(get_args(StateAction))
KIND_LABELS = {"b2c": "Consumers (B2C)", "b2b": "Businesses (B2B)", "ean": "Public bodies (EAN)"}
SERVICE_LINES = {"shipping": "Shipping item", "fee": "Fee item", "discount": "Discount item"}
"""The service item fields of the form, one per kind of line ``policy.service_items`` names."""
assert set(SERVICE_LINES) == set(get_args(ServiceLineKind))
CHOICES = {
    "match_by": get_args(MatchField),
    "vat_zone": ("domestic", "eu", "abroad"),
    "rounding": ("per_rate", "per_line"),
    "operator": get_args(Operator),
}
LISTS = {
    "states": ("name", "action"),
    "payment_methods": ("method", "payment_term", "registered_as_paid", "account"),
    "domestic_codes": ("rate", "code"),
    "oss_codes": ("key", "code"),
    "adjustments": ("target", "template"),
    "filters": ("field", "operator", "value"),
}
"""Each repeatable list of the form and the fields of one of its rows."""
LIST_OPERATORS = frozenset({"in", "not_in"})
NO_VALUE = frozenset({"exists", "missing"})


KEYED = {
    "commerce.policy.vat.domestic_codes.": ("domestic_codes", "rate", "code"),
    "commerce.policy.vat.oss_codes.": ("oss_codes", "key", "code"),
    "commerce.policy.states.": ("states", "name", "action"),
    "commerce.policy.payment_methods.": ("payment_methods", "method", "payment_term"),
}
"""The lists the route keeps as a mapping (rate → code, state → action, method → rule), each
with the row's field of the key and of the value: a refusal names the key typed."""


def _row_field(field: str, draft: JSON) -> str:
    """A refusal inside a keyed list (``commerce.policy.vat.domestic_codes.25`` for the code
    of rate 25, ``….25.[key]`` for the rate itself, ``….payment_methods.card.payment_term``)
    as the name of the row's input that holds it, so that the field is marked and the
    summary's link leads to it. An entity refused by its place in the list (``entities.0``)
    is named by its checkbox (``entities.payout``)."""
    head, _, place = field.partition(".")
    if head == "entities" and place.isdigit() and int(place) < len(draft["entities"]):
        return f"entities.{draft['entities'][int(place)]}"
    for prefix, (name, key, value) in KEYED.items():
        if not field.startswith(prefix):
            continue
        typed, _, inner = field.removeprefix(prefix).partition(".")
        target = key if inner == "[key]" else inner if inner in LISTS[name] else value
        rows = list(enumerate(draft["policy"][name]))
        # The key as typed, else as the policy normalised it (an OSS key typed ``dk:25``).
        for same in (str.__eq__, lambda shown, wanted: shown.casefold() == wanted.casefold()):
            for index, row in rows:
                if same(_text(row[key]), typed):
                    return f"{prefix}{index}.{target}"
    return field


def _errors_under(errors: Mapping[str, str], prefix: str) -> list[str]:
    return [message for key, message in errors.items() if key.startswith(prefix)]


def _label_in_form(key: str, inputs: Mapping[str, str], groups: Mapping[str, str]) -> str:
    """A refused input named as the form labels it, after the groups it is in ("Order state
    2, Leads to"), never by its path; a refusal of a whole list by its last word."""
    parts = key.split(".")
    named = [
        groups[p] for p in (".".join(parts[:n]) for n in range(1, len(parts) + 1)) if p in groups
    ]
    if key in inputs:
        named.append(inputs[key])
    return ", ".join(named) or label_of(parts[-1])


templates.env.globals.update(
    route_actions=ACTIONS, customer_kinds=KIND_LABELS, route_choices=CHOICES,
    service_lines=SERVICE_LINES, errors_under=_errors_under, label_in_form=_label_in_form,
)  # fmt: skip


# ------------------------------------------------------------------ the form as data


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _optional(value: Any) -> str | None:
    return _text(value) or None


def _on(value: Any) -> bool:
    return value in ("on", "true", "1", True)


def _rows(form: Mapping[str, str], prefix: str, fields: tuple[str, ...]) -> list[JSON]:
    """The rows ``<prefix>.<i>.<field>`` in order; a row with every text empty is dropped."""
    indexes = sorted(
        {
            int(parts[0])
            for key in form
            if key.startswith(prefix + ".")
            and (parts := key.removeprefix(prefix + ".").split("."))[0].isdigit()
        }
    )
    rows = []
    for index in indexes:
        row = {name: form.get(f"{prefix}.{index}.{name}", "") for name in fields}
        if any(_text(v) for k, v in row.items() if k not in ("action", "operator")):
            rows.append(row)
    return rows


def draft_of_form(form: Mapping[str, str]) -> JSON:
    """The route as the form shows it (lists as rows), read from a posted form."""
    p = "commerce.policy"
    profiles = {
        kind: {
            **{
                name: form.get(f"{p}.customers.profiles.{kind}.{name}", "")
                for name in ("match_by", "debtor_group", "vat_zone", "payment_term")
            },
            "update_existing": _on(form.get(f"{p}.customers.profiles.{kind}.update_existing")),
        }
        for kind in CUSTOMER_KINDS
    }
    return {
        "source": _text(form.get("source")),
        "target": _text(form.get("target")),
        "entities": [k.removeprefix("entities.") for k in form if k.startswith("entities.")],
        "active": _on(form.get("active")),
        "commerce_on": _on(form.get("commerce_on")),
        "paymatch_on": _on(form.get("paymatch_on")),
        "policy": {
            "states": _rows(form, f"{p}.states", LISTS["states"]),
            "book": _on(form.get(f"{p}.book")),
            "email_invoices": _on(form.get(f"{p}.email_invoices")),
            "default_payment_term": _text(form.get(f"{p}.default_payment_term")),
            "payment_methods": _rows(form, f"{p}.payment_methods", LISTS["payment_methods"]),
            "payment_journal": _text(form.get(f"{p}.payment_journal")),
            "profiles": profiles,
            "shared_b2c_account": _text(form.get(f"{p}.customers.shared_b2c_account")),
            "home_country": _text(form.get(f"{p}.vat.home_country")),
            "domestic_codes": _rows(form, f"{p}.vat.domestic_codes", LISTS["domestic_codes"]),
            "oss": _on(form.get(f"{p}.vat.oss")),
            "oss_codes": _rows(form, f"{p}.vat.oss_codes", LISTS["oss_codes"]),
            **{
                name: _text(form.get(f"{p}.vat.{name}"))
                for name in ("oss_code_pattern", "eu_business_code", "export_code", "rounding")
            },
            **{
                name: _text(form.get(f"{p}.{name}"))
                for name in ("rounding_tolerance", "rounding_account", "refund_item", "start_date")
            },
            "service_items": {
                kind: _text(form.get(f"{p}.service_items.{kind}")) for kind in SERVICE_LINES
            },
        },
        "adjustments": _rows(form, "commerce.rules.adjustments", LISTS["adjustments"]),
        "filters": _rows(form, "commerce.rules.filters", LISTS["filters"]),
        "paymatch": {
            name: form.get(f"paymatch.{name}", "")
            for name in (
                "journal",
                "receivable_account",
                "fee_account",
                "bank_account",
                "error_account",
                "group_lines",
                "start_date",
                "wait_for_invoice_hours",
            )
        },
    }


def draft_of_route(route: JSON) -> JSON:
    """The route as the form shows it, from the service's view of it (or of a new one)."""
    commerce = route.get("commerce") or default_commerce()
    # Read through the model: a route saved before a setting existed shows its default, so
    # saving the form does not switch it off.
    policy = CommercePolicy.saved(commerce["policy"]).model_dump(mode="json")
    rules = commerce["rules"]
    customers, vat = policy["customers"], policy["vat"]
    paymatch = route.get("paymatch") or {}
    return {
        "source": route.get("source", ""),
        "target": route.get("target", ""),
        "entities": list(route.get("entities", [])),
        "active": route.get("active", True),
        "commerce_on": route.get("commerce") is not None,
        "paymatch_on": route.get("paymatch") is not None,
        "policy": {
            "states": [{"name": k, "action": v} for k, v in policy["states"].items()],
            "book": policy["book"],
            "email_invoices": policy["email_invoices"],
            "default_payment_term": policy["default_payment_term"],
            "payment_methods": [
                {"method": k, **{n: v[n] or "" for n in LISTS["payment_methods"][1:]}}
                for k, v in policy["payment_methods"].items()
            ],
            "payment_journal": policy.get("payment_journal") or "",
            "profiles": {
                kind: {k: "" if v is None else v for k, v in profile.items()}
                for kind, profile in customers["profiles"].items()
            },
            "shared_b2c_account": customers.get("shared_b2c_account") or "",
            "home_country": vat["home_country"],
            "domestic_codes": [{"rate": k, "code": v} for k, v in vat["domestic_codes"].items()],
            "oss": vat["oss"],
            "oss_codes": [{"key": k, "code": v} for k, v in vat["oss_codes"].items()],
            **{
                name: vat[name]
                for name in ("oss_code_pattern", "eu_business_code", "export_code", "rounding")
            },
            **{
                name: "" if policy.get(name) is None else policy[name]
                for name in ("rounding_tolerance", "rounding_account", "refund_item", "start_date")
            },
            "service_items": {
                kind: policy["service_items"].get(kind, "") for kind in SERVICE_LINES
            },
        },
        "adjustments": [dict(a) for a in rules["adjustments"]],
        "filters": [{**f, "value": _shown_value(f.get("value"))} for f in rules["filters"]],
        "paymatch": {k: "" if v is None else v for k, v in paymatch.items()},
    }


def _shown_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _filter_value(row: JSON) -> Any:
    text = _text(row.get("value"))
    if row.get("operator") in LIST_OPERATORS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if row.get("operator") in NO_VALUE:
        return None
    return text or None


def input_of(draft: JSON) -> RouteInput:
    """The JSON the route service checks: empty optional texts left out (the default applies),
    required ones kept empty so the refusal names them."""
    policy = draft["policy"]
    commerce = None
    if draft["commerce_on"]:
        commerce = {
            "policy": {
                "states": {_text(r["name"]): r["action"] for r in policy["states"]},
                "book": policy["book"],
                "email_invoices": policy["email_invoices"],
                "default_payment_term": policy["default_payment_term"],
                "payment_methods": {
                    # A default method whose row was removed is dropped, not kept by default.
                    **dict.fromkeys(DEFAULT_PAYMENT_METHODS),
                    **{
                        _text(r["method"]): {
                            "payment_term": _optional(r.get("payment_term")),
                            "registered_as_paid": _on(r.get("registered_as_paid")),
                            "account": _optional(r.get("account")),
                        }
                        for r in policy["payment_methods"]
                    },
                },
                "payment_journal": _optional(policy["payment_journal"]),
                "customers": {
                    "profiles": {
                        kind: {
                            "debtor_group": _text(profile["debtor_group"]),
                            **{
                                name: _optional(profile[name])
                                for name in ("match_by", "vat_zone", "payment_term")
                            },
                            "update_existing": _on(profile["update_existing"]),
                        }
                        for kind, profile in policy["profiles"].items()
                    },
                    "shared_b2c_account": _optional(policy["shared_b2c_account"]),
                },
                "vat": {
                    "home_country": policy["home_country"],
                    "domestic_codes": {
                        _text(r["rate"]): _text(r["code"]) for r in policy["domestic_codes"]
                    },
                    "oss": policy["oss"],
                    "oss_codes": {_text(r["key"]): _text(r["code"]) for r in policy["oss_codes"]},
                    **{
                        name: policy[name]
                        for name in (
                            "oss_code_pattern",
                            "eu_business_code",
                            "export_code",
                            "rounding",
                        )
                    },
                },
                "rounding_tolerance": policy["rounding_tolerance"] or "0",
                **{
                    name: _optional(policy[name])
                    for name in ("rounding_account", "refund_item", "start_date")
                },
                "service_items": {
                    kind: item
                    for kind, given in policy["service_items"].items()
                    if (item := _optional(given))
                },
            },
            "rules": {
                "adjustments": [
                    {"target": _text(r["target"]), "template": r["template"]}
                    for r in draft["adjustments"]
                ],
                "filters": [
                    {
                        "field": _text(r["field"]),
                        "operator": r["operator"],
                        "value": _filter_value(r),
                    }
                    for r in draft["filters"]
                ],
            },
        }
    paymatch = None
    if draft["paymatch_on"]:
        given = draft["paymatch"]
        paymatch = {
            **{
                name: _text(given.get(name))
                for name in (
                    "journal",
                    "receivable_account",
                    "fee_account",
                    "bank_account",
                    "error_account",
                )
            },
            "group_lines": _on(given.get("group_lines")),
            "start_date": _optional(given.get("start_date")),
            "wait_for_invoice_hours": _text(given.get("wait_for_invoice_hours")) or "24",
        }
    return RouteInput(
        source=draft["source"],
        target=draft["target"],
        entities=draft["entities"],
        commerce=commerce,
        active=draft["active"],
        paymatch=paymatch,
    )


# ------------------------------------------------------------------ pages


def _connections(request: Request, signed: Signed) -> list[JSON]:
    return system_of(request).connections.list_connections(signed.principal)


def _labels(connections: list[JSON]) -> dict[str, str]:
    names = {c["id"]: f"{c['name']} ({SYSTEMS[c['system']].title})" for c in connections}
    return {APP_SOURCE: "Hub API (records written by your app)", **names}


def _rows_of(routes: list[JSON], labels: dict[str, str]) -> list[JSON]:
    return [
        {
            **r,
            "source_label": labels.get(r["source"], r["source"]),
            "target_label": labels.get(r["target"], r["target"]),
        }
        for r in routes
    ]


@router.get("/routes", response_class=HTMLResponse)
def routes_page(request: Request, signed: SignedDep) -> Any:
    labels = _labels(_connections(request, signed))
    routes = system_of(request).routes.list_routes(signed.principal)
    return render(
        request,
        "routes/list.html",
        {"routes": _rows_of(routes, labels), "connection": None},
        signed=signed,
    )


@router.get("/connections/{connection_id}/routes", response_class=HTMLResponse)
def connection_routes(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "routes")
    labels = _labels(_connections(request, signed))
    routes = [
        r
        for r in system_of(request).routes.list_routes(signed.principal)
        if connection_id in (r["source"], r["target"])
    ]
    context["routes"] = _rows_of(routes, labels)
    return render(request, "routes/connection.html", context, signed=signed)


def _render_form(
    request: Request,
    signed: Signed,
    draft: JSON,
    *,
    route_id: str | None = None,
    errors: dict[str, str] | None = None,
    warnings: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    connections = _connections(request, signed)
    labels = _labels(connections)
    entities = sorted({e for c in connections for e in SYSTEMS[c["system"]].entities})
    for name, fields in LISTS.items():
        rows = draft["policy"][name] if name in draft["policy"] else draft[name]
        rows.append(dict.fromkeys(fields, ""))  # always one empty row to fill in
    return render(
        request,
        "routes/edit.html",
        {
            "draft": draft,
            "route_id": route_id,
            "errors": errors or {},
            "input_labels": {},
            "group_labels": {},
            "choices_refused": {},
            "warnings": warnings or [],
            "sources": labels,
            "targets": {k: v for k, v in labels.items() if k != APP_SOURCE},
            "entity_names": entities,
        },
        status_code=status_code,
        signed=signed,
    )


@router.get("/routes/new", response_class=HTMLResponse)
def new_route(request: Request, signed: SignedDep, source: str = "", target: str = "") -> Any:
    signed.principal.require_admin("creating a route")
    draft = draft_of_route({"source": source, "target": target})
    return _render_form(request, signed, draft)


@router.get("/routes/{route_id}", response_class=HTMLResponse)
def edit_route(request: Request, route_id: str, signed: SignedDep) -> Any:
    route = system_of(request).routes.get(signed.principal, route_id)
    draft = draft_of_route(route)
    return _render_form(request, signed, draft, route_id=route_id, warnings=route["warnings"])


async def _save(request: Request, signed: Signed, route_id: str | None) -> Response:
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    draft = draft_of_form(given)
    added = given.get("add_row")
    if added in LISTS:
        # "Add row": the same form back with one more empty row; nothing is saved.
        rows = draft["policy"][added] if added in draft["policy"] else draft[added]
        rows.append(dict.fromkeys(LISTS[added], ""))
        return _render_form(request, signed, draft, route_id=route_id)
    routes = system_of(request).routes
    try:
        body = input_of(draft)
        saved = (
            routes.create(signed.principal, body)
            if route_id is None
            else routes.replace(signed.principal, route_id, body)
        )
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        problems = exc.problems if isinstance(exc, Invalid) else [exc]
        errors = {
            _row_field(problem.field, draft) if problem.field else "_": problem.message
            for problem in problems
        }
        return _render_form(
            request, signed, draft, route_id=route_id, errors=errors, status_code=exc.status
        )
    return redirect(
        f"/ui/routes/{saved['id']}", " ".join(["The route is saved.", *saved["warnings"]])
    )


@router.post("/routes/new", response_class=HTMLResponse)
async def create_route(request: Request, signed: ChangeDep) -> Response:
    return await _save(request, signed, None)


@router.post("/routes/{route_id}", response_class=HTMLResponse)
async def save_route(request: Request, route_id: str, signed: ChangeDep) -> Response:
    return await _save(request, signed, route_id)


@router.post("/routes/{route_id}/delete")
def delete_route(request: Request, route_id: str, signed: ChangeDep) -> Response:
    system_of(request).routes.delete(signed.principal, route_id)
    return redirect("/ui/routes", "The route is removed.")


# ------------------------------------------------------------------ historical import


def _history_page(
    request: Request,
    signed: Signed,
    route_id: str,
    *,
    values: dict[str, str] | None = None,
    plan: JSON | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    route = system_of(request).routes.get(signed.principal, route_id)
    labels = _labels(_connections(request, signed))
    today = dt.date.today()
    return render(
        request,
        "routes/history.html",
        {
            "route": _rows_of([route], labels)[0],
            "values": values or {"from": today.replace(day=1).isoformat(), "to": today.isoformat()},
            "plan": plan,
            "errors": errors or {},
        },
        status_code=status_code,
        signed=signed,
    )


def _day(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("give a day, such as 2026-01-31", field=field) from None


@router.get("/routes/{route_id}/history", response_class=HTMLResponse)
def history_page(request: Request, route_id: str, signed: SignedDep) -> Any:
    return _history_page(request, signed, route_id)


@router.post("/routes/{route_id}/history", response_class=HTMLResponse)
async def history(request: Request, route_id: str, signed: ChangeDep) -> Response:
    """``preview``: the plan of a dry run, shown on the page; ``import``: the job, followed
    on its own page."""
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("from", "to")}
    dry_run = form.get("action") != "import"
    try:
        start, end = _day(values["from"], "from"), _day(values["to"], "to")
        answer = system_of(request).routes.historical_import(
            signed.principal, route_id, start, end, dry_run=dry_run
        )
    except Invalid as exc:
        errors = {exc.field or "_": exc.message}
        return _history_page(
            request, signed, route_id, values=values, errors=errors, status_code=422
        )
    if dry_run:
        return _history_page(request, signed, route_id, values=values, plan=answer)
    return redirect(
        f"/ui/routes/{route_id}/history/{answer['job_id']}",
        "The historical import is queued.",
    )


def _job_context(request: Request, signed: Signed, route_id: str, job_id: str) -> JSON:
    job = system_of(request).routes.historical_job(signed.principal, route_id, job_id)
    streams: dict[str, dict[str, int]] = {}
    for key, count in sorted(job["counts"].items()):
        stream, _, outcome = key.partition(".")
        streams.setdefault(stream, {})[outcome or "records"] = count
    outcomes = sorted({o for counts in streams.values() for o in counts})
    finished = job["status"] in FINISHED_JOB_STATUSES
    return {"job": job, "streams": streams, "outcomes": outcomes, "finished": finished,
            "route_id": route_id}  # fmt: skip


@router.get("/routes/{route_id}/history/{job_id}", response_class=HTMLResponse)
def history_job(request: Request, route_id: str, job_id: str, signed: SignedDep) -> Any:
    context = _job_context(request, signed, route_id, job_id)
    return render(request, "routes/job.html", context, signed=signed)


@router.get("/routes/{route_id}/history/{job_id}/progress", response_class=HTMLResponse)
def history_progress(request: Request, route_id: str, job_id: str, signed: SignedDep) -> Any:
    """The fragment the job page polls every 2 s; once the job finished it stops polling."""
    context = _job_context(request, signed, route_id, job_id)
    return render(request, "routes/_progress.html", context, signed=signed)
