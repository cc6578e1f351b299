"""Stripe end to end: the Stripe sandbox on loopback, a hub on loopback over a real database, the
connector driven through the real ``System`` (API, jobs, inbox, pulls). The sandbox delivers
its signed webhooks to the hub's callback URL over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.stripe import SandboxServer, StripeSandbox, signature
from ledgerbridge.store.tables.sync import InboxEvent
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import Tenant, import_all, latest_run


@dataclass
class Account:
    sandbox: StripeSandbox
    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.base_url

    def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The account's own activity, through the sandbox's control API."""
        response = httpx.post(f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture
def account() -> Iterator[Account]:
    sandbox = StripeSandbox(webhook_timeout=5.0, seed=7)
    server = SandboxServer(sandbox)
    server.start()
    yield Account(sandbox, server)
    server.stop()
    sandbox.close()


def connect(tenant: Tenant, account: Account, **settings: Any) -> dict[str, Any]:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "stripe",
            "name": "Stripe",
            "settings": {"base_url": account.url, **settings},
            "secrets": {"secret_key": account.sandbox.default_key},
        },
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


def book(account: Account, orders: range) -> list[str]:
    """A charge per order, as the shop's Stripe plugin makes them."""
    return [
        account.control(
            "charges",
            {"amount": 10_000 + order * 137, "currency": "dkk", "order_id": str(order),
             "transaction_id": f"ch_order{order}"},
        )["id"]
        for order in orders
    ]  # fmt: skip


def payouts(tenant: Tenant) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"after": after} if after else {})}
        page = tenant.api.get("/payouts", params=params).json()
        for record in page["items"]:
            source = record["data"]["source_id"]
            assert source not in found, f"payout {source} stored twice"
            found[source] = record
        after = page["next"]
        if after is None:
            return found


def changes(tenant: Tenant, entity: str = "payout") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = tenant.api.get("/changes", params={"after": after, "limit": 1000}).json()
        items.extend(c for c in page["items"] if c["entity"] == entity)
        if not page["items"]:
            return items
        after = page["next"]


def pull(system: System, tenant: Tenant, cid: str) -> dict[str, Any]:
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    return latest_run(tenant, cid, "pull")


def delivered(system: System, account: Account) -> None:
    account.sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()


def inbox_keys(system: System, cid: str) -> list[str]:
    with system.sessions() as session:
        return list(
            session.scalars(sa.select(InboxEvent.event_key).where(InboxEvent.connection_id == cid))
        )


def test_a_payout_comes_in_as_one_record_with_its_lines_and_reads_again_unchanged(
    system: System, tenant: Tenant, account: Account
) -> None:
    charges = book(account, range(1001, 1007))
    refund = account.control(f"charges/{charges[1]}/refunds", {"amount": 4000})
    account.control("fees", {"amount": 2500, "description": "Radar"})
    made = account.control("payouts", {"automatic": True, "status": "paid"})
    connection = connect(tenant, account)
    cid = connection["id"]
    (endpoint,) = account.sandbox.endpoints.values()
    assert endpoint.url == connection["change_url"]
    assert set(endpoint.enabled_events) >= {"payout.paid", "payout.reconciliation_completed",
                                            "payout.failed"}  # fmt: skip
    with system.sessions() as session:
        secrets = system.box.open(session.get_one(Connection, cid).secrets)
    assert secrets["webhook_secret"] == endpoint.secret
    assert secrets["webhook_endpoint_id"] == endpoint.id
    # Nothing is written to Stripe: no push is scheduled (288 empty runs a day) or offered.
    status = tenant.api.get(f"/connections/{cid}").json()
    assert "push" not in status["job_kinds"], status["job_kinds"]
    assert "push" not in {schedule["kind"] for schedule in status["schedules"]}
    import_all(system, tenant, cid)
    for path, body in (("jobs/push", None), ("preview", {"kind": "push"})):
        refused = tenant.api.post(f"/connections/{cid}/{path}", json=body)
        assert refused.status_code == 422 and "Stripe is only read" in refused.text, refused.text
    (record,) = payouts(tenant).values()
    data = record["data"]
    assert (data["source_id"], data["status"], data["provider"]) == (made["id"], "paid", "stripe")
    assert data["itemised"] is True and data["currency"] == "DKK"
    assert Decimal(data["net"]) == Decimal(made["amount"]) / 100
    lines = data["lines"]
    assert sorted(line["type"] for line in lines) == ["charge"] * 6 + ["fee", "refund"]
    by_charge = {line["psp_ref"]: line for line in lines if line["type"] == "charge"}
    assert set(by_charge) == set(charges)
    first = account.sandbox.charges[charges[0]]
    booked = account.sandbox.transactions[first["balance_transaction"]]
    line = by_charge[charges[0]]
    assert line["order_ref"] == "1001"
    assert Decimal(line["gross"]) == Decimal(first["amount"]) / 100
    assert Decimal(line["fee"]) == Decimal(booked["fee"]) / 100 > 0
    assert Decimal(line["net"]) == Decimal(line["gross"]) - Decimal(line["fee"])
    (refunded,) = [line for line in lines if line["type"] == "refund"]
    assert (refunded["psp_ref"], refunded["order_ref"]) == (charges[1], "1002")
    assert Decimal(refunded["net"]) == Decimal(-refund["amount"]) / 100
    (fee,) = [line for line in lines if line["type"] == "fee"]
    assert (Decimal(fee["gross"]), Decimal(fee["fee"])) == (0, Decimal("25"))
    assert sum(Decimal(line["net"]) for line in lines) == Decimal(data["net"])
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    before = changes(tenant)
    # Read again: the payout is listed, found unchanged, and neither its lines read again
    # nor handed over again.
    run = pull(system, tenant, cid)
    assert run["kind"] == "pull" and not run["counts"].get("payouts.updated"), run
    assert run["calls"] == 1, "the payout list only"
    assert changes(tenant) == before
    again = payouts(tenant)[made["id"]]
    assert again["version"] == record["version"] and again["data"] == data
    # A manual payout cannot be itemised: it comes in without lines.
    book(account, range(1007, 1009))
    manual = account.control("payouts", {"automatic": False, "status": "paid"})
    pull(system, tenant, cid)
    found = payouts(tenant)
    assert set(found) == {made["id"], manual["id"]}
    assert found[manual["id"]]["data"]["itemised"] is False
    assert found[manual["id"]]["data"]["lines"] == []


def test_a_paid_payout_that_fails_later_updates_its_record_through_webhooks(
    system: System, tenant: Tenant, account: Account
) -> None:
    cid = connect(tenant, account)["id"]
    import_all(system, tenant, cid)
    assert payouts(tenant) == {}
    account.sandbox.apply_settings({"webhook_repeats": "3-3"})
    book(account, range(2001, 2004))
    made = account.control("payouts", {"automatic": True, "status": "paid"})
    delivered(system, account)
    record = payouts(tenant)[made["id"]]
    assert record["data"]["status"] == "paid" and len(record["data"]["lines"]) == 3
    copies = [d for d in account.sandbox.hooks.deliveries() if d.ok]
    events = {d.event_id for d in copies}
    assert len(copies) == 3 * len(events), "each event delivered three times"
    keys = inbox_keys(system, cid)
    assert sorted(keys) == sorted(events), "each event stored once"
    # Stripe's warning: a payout first shown as paid may fail after all.
    account.control(f"payouts/{made['id']}/status", {"status": "failed"})
    delivered(system, account)
    failed = payouts(tenant)[made["id"]]
    assert failed["data"]["status"] == "failed"
    assert failed["version"] > record["version"]
    assert failed["data"]["lines"] == record["data"]["lines"]
    assert [c["record_id"] for c in changes(tenant)].count(record["id"]) >= 2
    # A resend of an event stored already changes nothing.
    event = next(e for e in account.sandbox.events.values() if e["type"] == "payout.failed")
    stored = len(inbox_keys(system, cid))
    account.control(f"events/{event['id']}/resend", {})
    delivered(system, account)
    assert len(inbox_keys(system, cid)) == stored
    assert payouts(tenant)[made["id"]]["version"] == failed["version"]


def test_a_forged_or_stale_delivery_is_refused_and_a_missed_one_comes_with_the_pull(
    system: System, tenant: Tenant, account: Account
) -> None:
    connection = connect(tenant, account)
    cid = connection["id"]
    import_all(system, tenant, cid)
    (endpoint,) = account.sandbox.endpoints.values()
    account.sandbox.apply_settings({"webhook_miss_rate": 1.0})
    book(account, range(3001, 3003))
    made = account.control("payouts", {"automatic": True, "status": "paid"})
    delivered(system, account)
    assert payouts(tenant) == {}, "every event was missed"
    assert {m["event_type"] for m in account.sandbox.hooks.missed()} >= {"payout.paid"}
    event = next(e for e in account.sandbox.events.values() if e["type"] == "payout.paid")
    body = json.dumps(event).encode()
    now = int(time.time())
    forged = {"Stripe-Signature": signature("whsec_not_the_secret", now, body)}
    stale = {"Stripe-Signature": signature(endpoint.secret, now - 3600, body)}
    with httpx.Client(timeout=10) as client:
        for headers in (forged, stale, {}):
            answer = client.post(connection["change_url"], content=body, headers=headers)
            assert answer.status_code == 401, answer.text
    assert inbox_keys(system, cid) == []
    system.run_until_idle()
    assert payouts(tenant) == {}
    run = pull(system, tenant, cid)
    assert run["counts"].get("payouts.created") == 1, run
    assert payouts(tenant)[made["id"]]["data"]["status"] == "paid"


def test_a_large_payout_costs_a_list_call_and_a_call_per_hundred_lines_despite_throttling(
    system: System, tenant: Tenant, account: Account
) -> None:
    book(account, range(4001, 4231))
    made = account.control("payouts", {"automatic": True, "status": "paid"})
    cid = connect(tenant, account)["id"]
    faults = account.server.faults
    assert faults is not None
    faults.configure(
        FaultPlan(rate=0.3, kinds=(FaultKind.THROTTLE, FaultKind.ERROR), seed=18,
                  methods=frozenset({"GET"}), retry_after=0)
    )  # fmt: skip
    status = import_all(system, tenant, cid)
    injected = faults.counters()["total"]
    faults.configure(FaultPlan())
    record = payouts(tenant)[made["id"]]
    assert len(record["data"]["lines"]) == 230
    assert sum(Decimal(line["net"]) for line in record["data"]["lines"]) == Decimal(
        record["data"]["net"]
    )
    (run,) = [r for r in status["recent_runs"] if r["kind"] == "import"]
    assert injected > 0 and run["status"] == "succeeded", (run, injected)
    # 230 lines and the payout's own transaction: 3 pages of 100; plus the payout list.
    assert run["calls"] - injected == 1 + 3, (run, injected)


def test_a_rescan_reads_the_lines_only_of_a_new_payout_or_one_whose_state_changed(
    system: System, tenant: Tenant, account: Account
) -> None:
    book(account, range(5001, 5004))
    first = account.control("payouts", {"automatic": True, "status": "paid"})
    cid = connect(tenant, account)["id"]
    account.sandbox.apply_settings({"webhook_miss_rate": 1.0})
    import_all(system, tenant, cid)
    record = payouts(tenant)[first["id"]]
    assert pull(system, tenant, cid)["calls"] == 1, "unchanged: the payout list only"
    book(account, range(5004, 5006))
    second = account.control("payouts", {"automatic": True, "status": "in_transit"})
    run = pull(system, tenant, cid)
    assert run["counts"].get("payouts.created") == 1, run
    assert run["calls"] == 2, "the list, and the new payout's one page of lines"
    # Paid, then failed: the payout is read again with its lines and updates its record.
    account.control(f"payouts/{first['id']}/status", {"status": "failed"})
    run = pull(system, tenant, cid)
    assert run["counts"].get("payouts.updated") == 1, run
    assert run["calls"] == 2, "the list, and the failed payout's lines"
    failed = payouts(tenant)[first["id"]]
    assert failed["data"]["status"] == "failed" and failed["version"] > record["version"]
    assert len(failed["data"]["lines"]) == 3 == len(record["data"]["lines"])
    assert pull(system, tenant, cid)["calls"] == 1
    assert payouts(tenant)[second["id"]]["data"]["status"] == "in_transit"
