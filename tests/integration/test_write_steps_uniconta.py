"""Uniconta invoices are created as journaled steps (order, lines, posting, read-back): a fault
at any step resumes the record from its last confirmed step, so every hub invoice becomes
exactly one posted Uniconta invoice with all its lines; a record that cannot be written gets
its own issue and never holds back the others. The hub API, a real database and the Uniconta
sandbox over loopback.

What is simulated: ``StepFaults`` is a real transport that, for a chosen call, either sends the
request to the sandbox for real (it takes effect there) and then loses the answer, answers 500
or raises a crash; or answers 429 without sending it. A real network on loopback cannot produce
these on demand at a precise step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_products
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, WriteIntent
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, new_tenant
from tests.integration.test_uniconta_integration import VAT, full, issues, party_by_number


class Crash(Exception):
    """Stands for the process dying right after a call took effect."""


@dataclass
class Fault:
    method: str
    path_part: str
    kind: str
    """``lose`` (sent, answer lost), ``500`` (sent, answered 500), ``crash`` (sent, then the
    process dies), ``429`` (not sent, throttled for a second), ``422`` (not sent, refused)."""
    times: int = 1
    after: int = 0
    """Matching calls let through before the fault strikes."""


class StepFaults(httpx.BaseTransport):
    """A real transport that injects one kind of fault into chosen calls, and lists them."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []

    def inject(
        self, method: str, path_part: str, kind: str, times: int = 1, after: int = 0
    ) -> None:
        self.faults.append(Fault(method, path_part, kind, times, after))

    def count(self, method: str, path_part: str) -> int:
        return sum(1 for m, p in self.calls if m == method and path_part in p)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = None
        for candidate in self.faults:
            if (
                candidate.times > 0
                and request.method == candidate.method
                and (candidate.path_part in request.url.path)
            ):
                if candidate.after > 0:
                    candidate.after -= 1
                    continue
                fault = candidate
                break
        if fault is not None and fault.kind == "429":
            fault.times -= 1
            return httpx.Response(429, headers={"Retry-After": "1"}, request=request)
        if fault is not None and fault.kind == "422":
            fault.times -= 1
            refusal = {"status": 422, "message": "the request was refused by the test"}
            return httpx.Response(422, json=refusal, request=request)
        response = self.inner.handle_request(request)
        self.calls.append((request.method, request.url.path))
        if fault is None:
            return response
        fault.times -= 1
        response.read()
        response.close()
        if fault.kind == "lose":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        if fault.kind == "crash":
            raise Crash(f"the process died after {request.method} {request.url.path}")
        return httpx.Response(500, json={"Message": "internal error"}, request=request)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


@pytest.fixture
def faults() -> StepFaults:
    return StepFaults()


@pytest.fixture
def system(settings: Settings, clock: ManualClock, faults: StepFaults) -> Iterator[System]:
    built = System(settings, clock=clock, transport=faults)
    yield built
    built.close()


@pytest.fixture
def tenant(system: System, hub_port: int) -> Iterator[Tenant]:
    server = ServerThread(create_app(system), port=hub_port).start()
    created = new_tenant(system, f"{server.url}/api/v1")
    yield created
    server.stop()


@dataclass
class Trading:
    cid: str
    party_id: str
    item: str


@pytest.fixture
def trading(system: System, tenant: Tenant, uniconta: Uniconta) -> Trading:
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=21)
    seed_products(uniconta.sandbox, COMPANY, count=6, seed=21)
    connection = connect(tenant, uniconta, settings=full(post_invoices=True, vat_mapping=VAT))
    import_all(system, tenant, connection["id"])
    item = next(i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i.get("Vat") == "S25")
    party = party_by_number(tenant, "debtor_number", accounts[0])
    return Trading(connection["id"], party["id"], item["Item"])


def new_invoices(
    tenant: Tenant, trading: Trading, count: int, status: str = "sent", **lines: Any
) -> list[str]:
    ids = []
    for n in range(count):
        body = {
            "party_id": trading.party_id, "date": "2026-11-20", "payment_term_days": 14,
            "currency": "DKK", "status": status,
            "lines": [
                {"sku": lines.get("sku", trading.item), "description": f"Timer {n}",
                 "quantity": "3", "unit_price": "850", "vat_code": "DK25"},
                {"description": "Kørsel", "quantity": "1", "unit_price": "250",
                 "vat_code": "DK25"},
            ],
        }  # fmt: skip
        created = tenant.api.post("/invoices", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def push(system: System, tenant: Tenant, cid: str) -> None:
    """Ask for a push (as the change itself does) and run jobs until idle."""
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()


def settle(
    system: System, tenant: Tenant, cid: str, clock: ManualClock, done: Callable[[], bool]
) -> None:
    """Later runs until ``done``: the clock moves on and a push is asked for. On PostgreSQL
    the job engine schedules retries in real time (2 s, 4 s …), so real time passes too."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "the records did not settle within 60 s"
        time.sleep(0.5)
        clock.advance(timedelta(minutes=5))
        push(system, tenant, cid)


def booked(tenant: Tenant, record_ids: list[str]) -> Callable[[], bool]:
    """Every one of the hub invoices is linked to its posted invoice."""
    return lambda: all(
        tenant.api.get(f"/invoices/{i}").json()["data"]["status"] == "booked" for i in record_ids
    )


def assert_posted_once(tenant: Tenant, uniconta: Uniconta, record_ids: list[str]) -> None:
    """Each hub invoice is exactly one posted Uniconta invoice with both its lines, its hub
    copy keeps both lines, and no order is left behind."""
    posted = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    lines = uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
    for record_id in record_ids:
        mine = [i for i in posted if i.get("OurRef") == f"LB-{record_id}"]
        assert len(mine) == 1, f"{record_id}: {len(mine)} posted invoices"
        number = mine[0]["InvoiceNumber"]
        assert len([ln for ln in lines if ln["InvoiceNumber"] == number]) == 2
        record = tenant.api.get(f"/invoices/{record_id}").json()
        assert record["data"]["number"] == str(number)
        assert record["data"]["status"] == "booked"
        assert len(record["data"]["lines"]) == 2
        assert record["sync"][0]["remote_id"] == str(number)
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []


def test_an_order_whose_answer_was_lost_is_found_and_completed(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    faults.inject("POST", "/Insert/DebtorOrderClient", "lose")
    ids = new_invoices(tenant, trading, 3)
    push(system, tenant, trading.cid)
    assert (
        "did not answer in time"
        in tenant.api.get(f"/connections/{trading.cid}").json()["last_error"]
    )
    assert len(uniconta.sandbox.all(COMPANY, "DebtorOrderClient")) == 3, "they did arrive"
    assert {i["reason"] for i in issues(tenant, trading.cid)} == {"write_interrupted"}
    settle(system, tenant, trading.cid, clock, booked(tenant, ids))
    assert faults.count("POST", "/Insert/DebtorOrderClient") == 1, "never inserted again"
    assert faults.count("POST", "/Insert/DebtorOrderLineClient") == 1, "one batch of lines"
    assert_posted_once(tenant, uniconta, ids)
    assert issues(tenant, trading.cid) == []
    recovered = tenant.api.get(
        f"/connections/{trading.cid}/sync-log", params={"reason": "recovered_after_ambiguous_write"}
    ).json()
    assert sorted(e["record_id"] for e in recovered) == sorted(ids)


def test_drafts_deleted_in_the_hub_are_deleted_from_uniconta_once_though_the_answer_was_lost(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    drafts = new_invoices(tenant, trading, 3, status="draft")
    push(system, tenant, trading.cid)
    orders = uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
    assert len(orders) == 3 and uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == []

    faults.inject("DELETE", "/Delete/DebtorOrderClient", "lose")
    for record_id in drafts[:2]:
        assert tenant.api.delete(f"/invoices/{record_id}").status_code == 204
    preview = tenant.api.post(f"/connections/{trading.cid}/preview", json={"kind": "push"})
    invoices = preview.json()["streams"]["invoices"]
    assert (invoices["delete"], invoices["create"], invoices["update"]) == (2, 0, 0)
    assert preview.json()["calls"]["run"] == 2, "a read of the orders and one delete"
    push(system, tenant, trading.cid)
    assert len(uniconta.sandbox.all(COMPANY, "DebtorOrderClient")) == 1, "they were deleted"

    def deleted() -> bool:
        log = f"/connections/{trading.cid}/sync-log"
        return len(tenant.api.get(log, params={"outcome": "deleted"}).json()) == 2

    settle(system, tenant, trading.cid, clock, deleted)
    assert faults.count("DELETE", "/Delete/DebtorOrderClient") == 1, "never sent again"
    (kept,) = uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
    assert kept["OurRef"] == f"LB-{drafts[2]}"
    lines = uniconta.sandbox.all(COMPANY, "DebtorOrderLineClient")
    assert {line["OrderNumber"] for line in lines} == {kept["OrderNumber"]}
    with system.sessions() as session:
        linked = session.scalars(sa.select(Link.record_id).where(Link.stream == "invoices"))
        assert set(linked) == {drafts[2]}
    assert issues(tenant, trading.cid) == []


def test_a_throttled_lines_insert_resumes_after_the_order(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    # The client repeats a throttled call in place (four tries): all four are throttled.
    faults.inject("POST", "/Insert/DebtorOrderLineClient", "429", times=4)
    ids = new_invoices(tenant, trading, 3)
    push(system, tenant, trading.cid)
    waiting = issues(tenant, trading.cid)
    assert {i["reason"] for i in waiting} == {"write_interrupted"}
    assert all(
        i["message"].startswith("Uniconta did not confirm the new invoice after the sales order: ")
        for i in waiting
    ), waiting[0]["message"]
    settle(system, tenant, trading.cid, clock, booked(tenant, ids))
    runs = tenant.api.get(f"/connections/{trading.cid}").json()["recent_runs"]
    assert any(r["status"] == "deferred" and "429" in r["message"] for r in runs), runs
    assert faults.count("POST", "/Insert/DebtorOrderClient") == 1, "the orders are kept"
    assert faults.count("POST", "/Insert/DebtorOrderLineClient") == 1
    assert_posted_once(tenant, uniconta, ids)
    assert issues(tenant, trading.cid) == []


def test_a_posting_answered_500_is_looked_up_not_posted_twice(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    faults.inject("POST", "/Invoice/DebtorOrders/", "500")
    ids = new_invoices(tenant, trading, 3)
    push(system, tenant, trading.cid)
    # The first posting took effect but was answered 500; the others wait behind it or went on.
    settle(system, tenant, trading.cid, clock, booked(tenant, ids))
    assert faults.count("POST", "/Invoice/DebtorOrders/") == 3, "each order posted once"
    assert_posted_once(tenant, uniconta, ids)
    assert issues(tenant, trading.cid) == []


def test_a_run_cut_short_after_progress_comes_back_without_using_an_attempt(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    """Steady faults must not make a push give up: a run that booked invoices before a fault
    ended it is postponed briefly with its attempts untouched; one that booked nothing is a
    failed attempt, retried with backoff."""
    faults.inject("POST", "/Invoice/DebtorOrders/", "500", after=2)
    ids = new_invoices(tenant, trading, 3)
    push(system, tenant, trading.cid)
    (waiting,) = [j for j in system.queue.list() if j.kind == "push" and j.status == "queued"]
    assert waiting.attempts == 0
    settle(system, tenant, trading.cid, clock, booked(tenant, ids))
    assert_posted_once(tenant, uniconta, ids)

    faults.inject("POST", "/Insert/DebtorOrderClient", "500")
    new_invoices(tenant, trading, 1)
    push(system, tenant, trading.cid)
    (waiting,) = [j for j in system.queue.list() if j.kind == "push" and j.status == "queued"]
    assert waiting.attempts == 1


def test_a_crash_between_steps_resumes_from_the_journal(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    faults.inject("POST", "/Insert/DebtorOrderLineClient", "crash")
    ids = new_invoices(tenant, trading, 2)
    push(system, tenant, trading.cid)
    with system.sessions() as session:
        journals = [i.steps for i in session.scalars(sa.select(WriteIntent))]
    assert all(j and j["lines"] == {"state": "started"} for j in journals)
    assert all(j and j["order"]["state"] == "done" for j in journals)
    settle(system, tenant, trading.cid, clock, booked(tenant, ids))
    assert faults.count("POST", "/Insert/DebtorOrderClient") == 1
    assert faults.count("POST", "/Insert/DebtorOrderLineClient") == 1, "found, not re-sent"
    assert_posted_once(tenant, uniconta, ids)


def test_a_refused_line_fails_its_invoice_alone(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading, clock: ManualClock
) -> None:
    good = new_invoices(tenant, trading, 2)
    bad = new_invoices(tenant, trading, 1, sku="NO-SUCH-ITEM")
    good += new_invoices(tenant, trading, 2)
    push(system, tenant, trading.cid)
    assert_posted_once(tenant, uniconta, good)
    refused = issues(tenant, trading.cid)
    assert [(i["key"], i["reason"]) for i in refused] == [(bad[0], "product_missing")]
    assert refused[0]["message"].startswith(
        "Uniconta refused the invoice's items: item 'NO-SUCH-ITEM' on line 1"
    ), refused[0]["message"]
    bad_orders = [
        o
        for o in uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
        if o["OurRef"] == f"LB-{bad[0]}"
    ]
    assert bad_orders == [], "nothing of it was written: no empty order is left"
    # Fixed in the hub, the invoice goes out whole from its first step.
    record = tenant.api.get(f"/invoices/{bad[0]}").json()
    lines = record["data"]["lines"]
    lines[0]["sku"] = trading.item
    assert tenant.api.patch(f"/invoices/{bad[0]}", json={"lines": lines}).status_code == 200
    push(system, tenant, trading.cid)
    assert_posted_once(tenant, uniconta, good + bad)
    assert issues(tenant, trading.cid) == []


def assert_posted_once_except_orders(
    tenant: Tenant, uniconta: Uniconta, record_ids: list[str]
) -> None:
    posted = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    for record_id in record_ids:
        assert len([i for i in posted if i.get("OurRef") == f"LB-{record_id}"]) == 1
        assert tenant.api.get(f"/invoices/{record_id}").json()["data"]["status"] == "booked"


def test_absurd_amounts_and_broken_records_become_issues_and_later_records_sync(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading, clock: ManualClock
) -> None:
    absurd, broken, fine = new_invoices(tenant, trading, 3)
    # Rows stored before the model refused such values (the API answers 422 for them now).
    with system.sessions.begin() as session:
        for record_id, change in ((absurd, "amount"), (broken, "lines")):
            record = session.get(HubRecord, record_id)
            assert record is not None
            data = dict(record.data)
            if change == "amount":
                data["lines"] = [{**data["lines"][0], "unit_price": "1e999999"}]
            else:
                data["lines"] = "not a list of lines"
            record.data = data
    push(system, tenant, trading.cid)
    found = {i["key"]: i for i in issues(tenant, trading.cid)}
    assert set(found) == {absurd, broken}
    assert {i["reason"] for i in found.values()} == {"invalid_record_data"}
    assert "numbers is out of any range" in found[absurd]["message"]
    assert "cannot be written: ValueError" in found[broken]["message"]
    assert_posted_once_except_orders(tenant, uniconta, [fine])
    later = new_invoices(tenant, trading, 2)
    push(system, tenant, trading.cid)
    assert_posted_once_except_orders(tenant, uniconta, later)
    assert set(i["key"] for i in issues(tenant, trading.cid)) == {absurd, broken}
    status = tenant.api.get(f"/connections/{trading.cid}").json()
    assert not status["last_error"], status["last_error"]


def test_a_create_recorded_before_the_journal_is_looked_up_step_by_step(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    [record_id] = new_invoices(tenant, trading, 1)
    with system.sessions() as session:
        record = session.get(HubRecord, record_id)
        assert record is not None
        as_sent = dict(record.data)
    push(system, tenant, trading.cid)
    assert_posted_once(tenant, uniconta, [record_id])
    # As an older version left it: posted in Uniconta, its answer lost, its intent ambiguous
    # without a journal, the hub record neither linked nor numbered.
    with system.sessions.begin() as session:
        session.execute(sa.delete(Link).where(Link.record_id == record_id))
        intent = session.scalars(sa.select(WriteIntent).filter_by(record_id=record_id)).one()
        intent.status, intent.steps = "ambiguous", None
        stored = session.get(HubRecord, record_id)
        assert stored is not None
        stored.data, stored.content_hash = as_sent, content_hash(as_sent)
    inserts = faults.count("POST", "/Insert/DebtorOrderClient")
    postings = faults.count("POST", "/Invoice/DebtorOrders/")
    clock.advance(timedelta(minutes=5))
    push(system, tenant, trading.cid)
    assert faults.count("POST", "/Insert/DebtorOrderClient") == inserts, "no second order"
    assert faults.count("POST", "/Invoice/DebtorOrders/") == postings, "not posted again"
    assert_posted_once(tenant, uniconta, [record_id])
    assert issues(tenant, trading.cid) == []


def test_a_refusal_names_the_refused_part_and_what_is_kept_in_users_words(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: Trading,
    faults: StepFaults, clock: ManualClock,
) -> None:  # fmt: skip
    faults.inject("POST", "/Insert/DebtorOrderLineClient", "422")
    [record_id] = new_invoices(tenant, trading, 1)
    push(system, tenant, trading.cid)
    [refused] = issues(tenant, trading.cid)
    message = refused["message"]
    assert message.startswith("Uniconta refused the order lines: "), message
    assert message.endswith("(done: the sales order; the rest is completed on retry)"), message
    assert "step" not in message, "the engine's step names are not shown"
    assert tenant.api.post(f"/connections/{trading.cid}/jobs/retry").status_code == 202
    settle(system, tenant, trading.cid, clock, booked(tenant, [record_id]))
    assert_posted_once(tenant, uniconta, [record_id])
