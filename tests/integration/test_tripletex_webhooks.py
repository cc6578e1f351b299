"""Tripletex webhooks end to end: saving a connection subscribes it to customer and product
events, the sandbox calls the hub's inbound endpoint over loopback with signed callbacks, and
the changed records reach the hub without a pull (fixtures shared with ``test_tripletex.py``)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.tripletex.webhooks import sign
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    Tripletex,
    activate,
    all_of,
    clock,
    connect,
    party_of,
    pull,
    settings,
    system,
    tripletex,
)

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used by the tests below

EVENTS = {f"{s}.{v}" for s in ("customer", "product") for v in ("create", "update", "delete")}


def subscriptions(tripletex: Tripletex) -> list[dict[str, Any]]:
    """The firm's subscriptions as stored by the sandbox (with the owning token's id)."""
    with tripletex.sandbox.lock:
        return [
            dict(r) for r in tripletex.sandbox.book(tripletex.firm.firm_id).rows("Subscription")
        ]


def stored_secrets(system: System, cid: str) -> dict[str, Any]:
    with system.sessions() as session:
        return dict(system.box.open(session.get_one(Connection, cid).secrets))


def delivered(system: System, tripletex: Tripletex) -> None:
    """Wait until the sandbox has made its callbacks, then run the jobs they queued."""
    tripletex.sandbox.wait_for_webhooks()
    system.run_until_idle()


def test_saving_a_connection_subscribes_it_to_customer_and_product_events(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    subs = subscriptions(tripletex)
    assert {s["event"] for s in subs} == EVENTS and len(subs) == len(EVENTS)
    assert {s["targetUrl"] for s in subs} == {connection["change_url"]}
    assert all(s["status"] == "ACTIVE" and s["_secret"] for s in subs)
    secrets = stored_secrets(system, connection["id"])
    assert {s["_secret"] for s in subs} == {secrets["webhook_secret"]}
    assert sorted(secrets["webhook_subscription_ids"]) == sorted(str(s["id"]) for s in subs)


def test_customer_and_product_changes_arrive_without_a_pull(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    customer, other = tripletex.sandbox.all(firm, "Customer")[:2]
    product, gone = tripletex.sandbox.all(firm, "Product")[:2]
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"email": "ny@eksempel.no"})
    tripletex.sandbox.update(firm, "Customer", other["id"], {"isInactive": True})
    tripletex.sandbox.update(firm, "Product", product["id"], {"name": "Årsoppgjør"})
    added = tripletex.sandbox.insert(firm, "Customer", {"name": "Fjordkraft Regnskap AS"})
    tripletex.sandbox.delete(firm, "Product", gone["id"])
    delivered(system, tripletex)
    kinds = [r["kind"] for r in tenant.api.get(f"/connections/{cid}").json()["recent_runs"]]
    assert kinds[0] == "inbox" and not {"pull", "products"} & set(kinds), kinds
    # The callbacks carry only ids (``fields=id``): the records were read again.
    assert party_of(tenant, customer)["data"]["email"] == "ny@eksempel.no"
    assert party_of(tenant, other)["data"]["active"] is False, "inactive customers are read too"
    assert party_of(tenant, added)["data"]["name"] == "Fjordkraft Regnskap AS"
    products = {p["data"]["sku"]: p["data"] for p in all_of(tenant, "/products")}
    assert products[str(product["number"])]["name"] == "Årsoppgjør"
    assert str(gone["number"]) in products, "a delete is logged, the hub record kept"
    logged = tenant.api.get(
        f"/connections/{cid}/sync-log", params={"reason": "delete_not_propagated"}
    ).json()
    assert [(e["stream"], e["remote_id"]) for e in logged] == [("products", str(gone["id"]))]


def test_a_callback_with_a_bad_signature_is_refused_and_nothing_is_stored(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    url = connection["change_url"]
    secret = stored_secrets(system, connection["id"])["webhook_secret"]
    body = json.dumps({"subscriptionId": 1, "event": "customer.update", "id": 5, "value": None})
    forged = {
        "idempotency-key": "k-1",
        "x-request-signature": sign("guessed", "k-1", body.encode()),
    }
    with httpx.Client() as client:
        assert client.post(url, content=body, headers=forged).status_code == 401
        unsigned = client.post(url, content=body, headers={"idempotency-key": "k-1"})
        assert unsigned.status_code == 401
        status = tenant.api.get(f"/connections/{connection['id']}").json()
        assert status["pending_callbacks"] == 0, "nothing stored"
        signed = {
            "idempotency-key": "k-1",
            "x-request-signature": sign(secret, "k-1", body.encode()),
        }
        for _ in range(2):  # Tripletex resends under the same idempotency key
            assert client.post(url, content=body, headers=signed).status_code == 200
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["pending_callbacks"] == 1, "stored once"


def test_rotating_the_token_moves_the_subscriptions_to_the_new_one(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex, entities={"period_statistics": {"enabled": False}})
    cid = connection["id"]
    activate(system, tenant, cid)
    old_ids = {s["id"] for s in subscriptions(tripletex)}
    old_secret = stored_secrets(system, cid)["webhook_secret"]
    fresh = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2027, 11, 20)
    )
    saved = tenant.api.patch(
        f"/connections/{cid}",
        json={
            "secrets": {"employee_token": fresh.token},
            "settings": {"employee_token_expires_on": "2027-11-20"},
        },
    )
    assert saved.status_code == 200 and saved.json()["warnings"] == [], saved.text
    subs = subscriptions(tripletex)
    assert len(subs) == len(EVENTS) and not old_ids & {s["id"] for s in subs}, "old ones deleted"
    assert stored_secrets(system, cid)["webhook_secret"] != old_secret
    tripletex.sandbox.revoke_employee_token(tripletex.firm.employee_token)
    firm = tripletex.firm.firm_id
    customer = tripletex.sandbox.all(firm, "Customer")[0]
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"email": "etter@rotasjon.no"})
    delivered(system, tripletex)
    assert party_of(tenant, customer)["data"]["email"] == "etter@rotasjon.no"


def test_a_hub_tripletex_cannot_call_gets_a_warning_and_keeps_its_pulls(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    # A hub published at a plain-HTTP address: Tripletex only calls HTTPS targets.
    system.connections.public_url = "http://hub.example"
    connection = connect(tenant, tripletex)
    assert any(
        "webhooks could not be set up" in w and "targetUrl" in w and "scheduled pulls" in w
        for w in connection["warnings"]
    ), connection["warnings"]
    assert subscriptions(tripletex) == []
    assert "webhook_secret" not in stored_secrets(system, connection["id"])
    activate(system, tenant, connection["id"])


def test_the_pull_switches_on_subscriptions_tripletex_disabled_after_failed_calls(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    # Tripletex disabled one after too many failed calls (the sandbox's own failure count is
    # tested in tests/sandbox), and a user switched another off by hand: set here directly.
    statuses = {"customer.update": "DISABLED_TOO_MANY_ERRORS", "product.update": "DISABLED"}
    with tripletex.sandbox.lock:
        for row in tripletex.sandbox.book(firm).rows("Subscription"):
            row["status"] = statuses.get(row["event"], row["status"])
    # A change the disabled subscription does not announce: the pull finds it, then checks.
    customer = tripletex.sandbox.all(firm, "Customer")[0]
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"email": "uvarslet@aktiv.no"})
    pull(system, tenant, cid)
    assert party_of(tenant, customer)["data"]["email"] == "uvarslet@aktiv.no"
    now = {s["event"]: s["status"] for s in subscriptions(tripletex)}
    assert now["customer.update"] == "ACTIVE", "switched on again"
    assert now["product.update"] == "DISABLED", "a user's choice stays"
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"email": "igjen@aktiv.no"})
    delivered(system, tripletex)
    assert party_of(tenant, customer)["data"]["email"] == "igjen@aktiv.no"
