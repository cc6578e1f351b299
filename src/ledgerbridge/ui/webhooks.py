"""Outbound webhooks: the tenant's subscriptions and their events, adding one (its signing
secret shown once), deleting one; per subscription the deliveries log (live while some are
pending), a test ping through the normal outbox, and redelivery of a failed delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import menu
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
menu("Webhooks", "/ui/settings/webhooks", 90)
PAGE = "/ui/settings/webhooks"
EXAMPLE_EVENTS = (
    "party.created, party.updated, invoice.created, invoice.updated, "
    "connection.import_completed, connection.statistics_completed, connection.warning"
)


def _events(text: str) -> list[str]:
    """Events as typed: comma or space separated; none means every event (``*``)."""
    return [e for e in text.replace(",", " ").split() if e] or ["*"]


def _list(
    request: Request,
    signed: Signed,
    *,
    created: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    subscriptions = system_of(request).webhooks.list_subscriptions(signed.principal)
    return render(
        request,
        "settings/webhooks.html",
        {"subscriptions": subscriptions, "created": created, "errors": errors or {},
         "values": values or {}, "example_events": EXAMPLE_EVENTS},
        status_code=status_code,
        signed=signed,
    )  # fmt: skip


@router.get("/settings/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, signed: SignedDep) -> Any:
    return _list(request, signed)


@router.post("/settings/webhooks", response_class=HTMLResponse)
def subscribe(
    request: Request,
    signed: ChangeDep,
    url: Annotated[str, Form()] = "",
    events: Annotated[str, Form()] = "*",
) -> Response:
    """The signing secret is in this answer only."""
    try:
        created = system_of(request).webhooks.subscribe(signed.principal, url, _events(events))
    except (Invalid, Conflict) as exc:
        return _list(
            request, signed, errors={(exc.field or "url").split(".")[0]: exc.message},
            values={"url": url, "events": events}, status_code=exc.status,
        )  # fmt: skip
    return _list(request, signed, created=created)


@router.post("/settings/webhooks/{subscription_id}/delete", response_class=HTMLResponse)
def unsubscribe(request: Request, subscription_id: str, signed: ChangeDep) -> Response:
    system_of(request).webhooks.unsubscribe(signed.principal, subscription_id)
    return redirect(PAGE, "Webhook deleted: nothing more is sent to it.")


def _subscription(request: Request, signed: Signed, subscription_id: str) -> dict[str, Any]:
    for sub in system_of(request).webhooks.list_subscriptions(signed.principal):
        if sub["id"] == subscription_id:
            return sub
    raise NotFound(f"webhook {subscription_id} not found")


@router.get("/settings/webhooks/{subscription_id}", response_class=HTMLResponse)
def deliveries_page(request: Request, subscription_id: str, signed: SignedDep) -> Any:
    sub = _subscription(request, signed, subscription_id)
    deliveries = system_of(request).webhooks.deliveries(signed.principal, subscription_id)
    return render(
        request,
        "settings/webhook.html",
        {"sub": sub, "deliveries": deliveries},
        signed=signed,
    )


@router.get("/settings/webhooks/{subscription_id}/deliveries", response_class=HTMLResponse)
def deliveries_fragment(request: Request, subscription_id: str, signed: SignedDep) -> Any:
    """htmx polls this every 2 s while a delivery is pending; the fragment stops it after."""
    sub = _subscription(request, signed, subscription_id)
    deliveries = system_of(request).webhooks.deliveries(signed.principal, subscription_id)
    return render(
        request, "settings/_deliveries.html", {"sub": sub, "deliveries": deliveries}, signed=signed
    )


@router.post("/settings/webhooks/{subscription_id}/ping", response_class=HTMLResponse)
def ping(request: Request, subscription_id: str, signed: ChangeDep) -> Response:
    system_of(request).webhooks.ping(signed.principal, subscription_id)
    return redirect(f"{PAGE}/{subscription_id}", "Test ping queued: it is sent in a moment.")


@router.post(
    "/settings/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_class=HTMLResponse,
)
def redeliver(
    request: Request, subscription_id: str, delivery_id: str, signed: ChangeDep
) -> Response:
    system_of(request).webhooks.redeliver(signed.principal, delivery_id)
    return redirect(f"{PAGE}/{subscription_id}", "Delivery queued again.")
