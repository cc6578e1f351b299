"""A Tripletex connection's client links: the app's clients with their Integration column,
and per client a searchable pick of the Tripletex customer (suggested by organisation number),
relink and unlink, each saved as one link. "Reload data" then back-fills the figures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.errors import Conflict, Invalid, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Client links", "clients", 66, applies=lambda spec: "client_links" in spec.linked_records)


@router.get("/connections/{connection_id}/clients", response_class=HTMLResponse)
def clients_page(request: Request, connection_id: str, signed: SignedDep, q: str = "") -> Any:
    system = system_of(request)
    context = connection_context(request, signed, connection_id, "clients")
    clients = system.connections.clients(signed.principal, connection_id, q)
    names: dict[str, str] = {}
    problem = None
    if signed.can_change and any(c["customer_id"] for c in clients):
        # The customers' names cost a read of the system's list: owners and admins only.
        try:
            customers = system.connections.remote_list(
                signed.principal, connection_id, "customers", system.connector
            )
            names = {c["id"]: _label(c) for c in customers}
        except ServiceError as exc:
            problem = exc.message
    return render(
        request,
        "clients/list.html",
        {**context, "clients": clients, "q": q, "names": names, "problem": problem,
         "linked": sum(1 for c in clients if c["customer_id"])},
        signed=signed,
    )  # fmt: skip


def _editor(
    request: Request,
    signed: Signed,
    connection_id: str,
    party_id: str,
    q: str,
    *,
    error: str | None = None,
    chosen: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The link editor; after a refusal, with the customer that was picked (``chosen``) still
    picked beside the reason, not the saved link."""
    system = system_of(request)
    context = connection_context(request, signed, connection_id, "clients")
    choices = system.connections.link_choices(
        signed.principal, connection_id, party_id, system.connector, q
    )
    return render(
        request,
        "clients/link.html",
        {**context, **choices, "q": q, "error": error, "chosen": chosen, "label": _label},
        status_code=status_code,
        signed=signed,
    )


@router.get("/connections/{connection_id}/clients/{party_id}", response_class=HTMLResponse)
def link_page(
    request: Request, connection_id: str, party_id: str, signed: SignedDep, q: str = ""
) -> Any:
    return _editor(request, signed, connection_id, party_id, q)


@router.post("/connections/{connection_id}/clients/{party_id}", response_class=HTMLResponse)
def link_client(
    request: Request,
    connection_id: str,
    party_id: str,
    signed: ChangeDep,
    customer_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        system_of(request).connections.set_client_link(
            signed.principal, connection_id, party_id, customer_id
        )
    except (Invalid, Conflict) as exc:
        return _editor(
            request, signed, connection_id, party_id, "", error=exc.message,
            chosen=customer_id or None, status_code=exc.status,
        )  # fmt: skip
    return redirect(
        f"/ui/connections/{connection_id}/clients",
        "Client linked. Use Reload data to back-fill its last 12 months.",
    )


@router.post("/connections/{connection_id}/clients/{party_id}/unlink", response_class=HTMLResponse)
def unlink_client(
    request: Request, connection_id: str, party_id: str, signed: ChangeDep
) -> Response:
    system_of(request).connections.remove_client_link(signed.principal, connection_id, party_id)
    return redirect(
        f"/ui/connections/{connection_id}/clients",
        "Client unlinked: its figures are no longer imported.",
    )


def _label(customer: dict[str, Any]) -> str:
    """A customer as a person recognises it: name, customer number, organisation number."""
    parts = [str(customer.get("name") or f"Customer {customer.get('id')}")]
    if customer.get("number"):
        parts.append(f"no. {customer['number']}")
    if customer.get("organisation_number"):
        parts.append(f"org. {customer['organisation_number']}")
    return " · ".join(parts)
