"""The hub's records (read-only): parties, products, invoices and orders with search, their
sync state per connection, the open issue and the link to the record in the system's own
app; a record's page with its fields and its history (each version with its field changes and
who made it, each write to each system with its run, outcome and remote id)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.services.records import RecordView
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.ui.forms import label_of
from ledgerbridge.ui.nav import menu, system_title
from ledgerbridge.ui.web import SignedDep, UiRoute, render, system_of

router = APIRouter(route_class=UiRoute)
menu("Records", "/ui/records", 30)

PER_PAGE = 50
SEARCH_MAX = 200
"""The longest search (the API's); a longer one is refused on the search field."""
SEARCH_SENT_MAX = 10_000
"""Longer than this, the address itself is refused (a search is typed or pasted, not this)."""
KINDS = {"party": "Parties", "product": "Products", "invoice": "Invoices", "order": "Orders"}
TITLE_FIELDS = ("name", "number", "sku", "subject", "reference", "source_id")
"""The first of these a record has is its title in a list."""
COLUMNS = {
    "party": ("debtor_number", "creditor_number", "email", "vat_number"),
    "product": ("sku", "unit", "sales_price", "currency"),
    "invoice": ("date", "status", "currency", "amount_open"),
    "order": ("created_at", "state", "currency", "total"),
}
"""The fields a list shows beside the title; a record's page shows them all."""


def title_of(view: RecordView) -> str:
    for name in TITLE_FIELDS:
        if view.data.get(name) not in (None, ""):
            return str(view.data[name])
    return view.id


def _connection_names(request: Request, principal: Principal) -> dict[str, str]:
    return {c["id"]: c["name"] for c in system_of(request).connections.list_connections(principal)}


@router.get("/records", response_class=HTMLResponse)
def records_page(
    request: Request,
    signed: SignedDep,
    entity: Literal["party", "product", "invoice", "order"] = "party",
    q: str = Query("", max_length=SEARCH_SENT_MAX),
    after: str = Query("", max_length=36),
) -> Any:
    error = f"a search has at most {SEARCH_MAX} characters" if len(q) > SEARCH_MAX else ""
    views = (
        []
        if error
        else system_of(request).records.list_page(
            signed.principal, entity, limit=PER_PAGE + 1, after=after or None, search=q or None
        )
    )
    shown = views[:PER_PAGE]
    return render(
        request,
        "records/list.html",
        {
            "entity": entity,
            "kinds": KINDS,
            "q": q,
            "after": after,
            "rows": [(v, title_of(v)) for v in shown],
            "columns": [(c, label_of(c)) for c in COLUMNS[entity]],
            "next": shown[-1].id if len(views) > PER_PAGE else None,
            "names": _connection_names(request, signed.principal),
            "error": error,
        },
        status_code=422 if error else 200,
        signed=signed,
    )


def timeline(versions: list[dict[str, Any]], writes: list[dict[str, Any]]) -> list[Any]:
    """Versions and writes in one story, oldest first; a version goes before the writes of
    the same moment (the change came first, then what it caused)."""
    events = [("version", v["at"], 0, v) for v in versions]
    events += [("write", w["at"], 1, w) for w in writes]
    return [(kind, item) for kind, _at, _order, item in sorted(events, key=lambda e: e[1:3])]


def zone_of(writes: list[dict[str, Any]]) -> str:
    """One time zone for the whole timeline, so that its times read in order: that of the
    connection the record was synced with most (UTC for a record never synced)."""
    zones = Counter(w["timezone"] for w in writes)
    return zones.most_common(1)[0][0] if zones else "UTC"


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, record_id: str, signed: SignedDep) -> Any:
    view = system_of(request).records.find(signed.principal, record_id)
    history = system_of(request).history.history(signed.principal, view.entity, record_id)
    return render(
        request,
        "records/record.html",
        {
            "record": view,
            "title": title_of(view),
            "kind": KINDS.get(view.entity, view.entity.replace("_", " ").capitalize()),
            "listed": view.entity in KINDS,
            "names": _connection_names(request, signed.principal),
            "system_title": system_title,
            "history": timeline(history.versions, history.writes),
            "zone": zone_of(history.writes),
            "creates": history.creates,
        },
        signed=signed,
    )
