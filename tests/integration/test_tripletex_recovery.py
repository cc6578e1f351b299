"""Invoices, credit notes and payments whose answer was lost are found in Tripletex, never sent
twice: the hub API, a real database and the Tripletex sandbox over loopback.

What is simulated: the connection dropping after a request left. ``LoseOneAnswer`` sends the
request to the sandbox for real (it takes effect there), then throws the answer away and raises
the timeout the client would see. A real network on loopback cannot lose an answer on demand.
It can also act in the sandbox just before a request reaches it (``before``): what a user does
in Tripletex between two calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from tests.integration.conftest import Tenant, reconciled
from tests.integration.test_tripletex import (
    ALL_STREAMS,
    START,
    Tripletex,
    activate,
    all_of,
    connect,
    issue,
    serve_firm,
    settings,
)

__all__ = ["settings"]  # the fixture, with this module's sandbox

STREAMS = {**ALL_STREAMS, "payments": {"enabled": True}}


class LoseOneAnswer(httpx.BaseTransport):
    """A real transport that, once armed, loses the answer to the next matching request after
    the sandbox has acted on it. It also lists the API calls made (method, path under /v2)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.armed: tuple[str, str] | None = None
        self.meanwhile: tuple[str, Callable[[str], None]] | None = None
        self.calls: list[tuple[str, str]] = []

    def lose_answer_to(self, method: str, path_end: str) -> None:
        self.armed = (method, path_end)

    def before(self, path_end: str, act: Callable[[str], None]) -> None:
        """Once, just before the next request whose path ends so reaches the sandbox, ``act``
        on its path: what a user does in Tripletex between two calls."""
        self.meanwhile = (path_end, act)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/v2", 1)[-1]
        if self.meanwhile and path.endswith(self.meanwhile[0]):
            act, self.meanwhile = self.meanwhile[1], None
            act(path)
        response = self.inner.handle_request(request)
        self.calls.append((request.method, path))
        if self.armed and request.method == self.armed[0] and path.endswith(self.armed[1]):
            self.armed = None
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def since(self, mark: int) -> list[tuple[str, str]]:
        """Calls after ``mark`` (a length of ``calls``) for the records themselves: session
        creation and the VAT types a run reads once are left out."""
        overhead = ("/token/session/:create", "/ledger/vatType")
        return [c for c in self.calls[mark:] if c[1] not in overhead]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def tripletex(clock: ManualClock) -> Iterator[Tripletex]:
    yield from serve_firm(clock, clients=1, months=1)


@pytest.fixture
def lossy() -> LoseOneAnswer:
    return LoseOneAnswer()


@pytest.fixture
def system(settings: Settings, clock: ManualClock, lossy: LoseOneAnswer) -> Iterator[System]:
    built = System(settings, clock=clock, transport=lossy)
    yield built
    built.close()


def ready(system: System, tenant: Tenant, tripletex: Tripletex) -> tuple[str, dict[str, Any]]:
    """A connection sending invoices and payments, imported; the first client's party."""
    cid = connect(tenant, tripletex, entities=STREAMS)["id"]
    activate(system, tenant, cid)
    return cid, all_of(tenant, "/parties")[0]


def fail_then_retry(
    system: System, tenant: Tenant, cid: str, clock: ManualClock, lossy: LoseOneAnswer
) -> list[tuple[str, str]]:
    """Run the push whose answer is lost, then its retry once it is due; the retry's calls."""
    system.run_until_idle()
    failed = tenant.api.get(f"/connections/{cid}").json()
    assert "no answer from Tripletex" in failed["last_error"], failed
    clock.advance(timedelta(minutes=1))
    mark = len(lossy.calls)
    system.run_until_idle()
    return lossy.since(mark)


def recovered(tenant: Tenant, cid: str) -> list[str]:
    entries = tenant.api.get(
        f"/connections/{cid}/sync-log", params={"reason": "recovered_after_ambiguous_write"}
    ).json()
    return [e["record_id"] for e in entries]


def invoices(tripletex: Tripletex) -> list[dict[str, Any]]:
    return tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")


def test_the_happy_path_costs_two_calls_per_invoice(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer
) -> None:
    cid, party = ready(system, tenant, tripletex)
    mark = len(lossy.calls)
    issue(tenant, party["id"])
    system.run_until_idle()
    order = tripletex.sandbox.all(tripletex.firm.firm_id, "Order")[-1]
    assert lossy.since(mark) == [("POST", "/order"), ("PUT", f"/order/{order['id']}/:invoice")]
    assert len(invoices(tripletex)) == 1
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_an_invoice_whose_answer_was_lost_is_adopted_not_charged_twice(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    lossy.lose_answer_to("PUT", "/:invoice")
    invoice = issue(tenant, party["id"])
    retry = fail_then_retry(system, tenant, cid, clock, lossy)
    charged = invoices(tripletex)
    assert len(charged) == 1, "charged once"
    assert retry == [("GET", "/invoice")], "the order is journaled: found with one read"
    order = tripletex.sandbox.all(tripletex.firm.firm_id, "Order")[-1]
    assert order["number"] == invoice["id"], "the order carries the hub id"
    assert recovered(tenant, cid) == [invoice["id"]]
    hub = tenant.api.get(f"/invoices/{invoice['id']}").json()
    assert hub["data"]["number"] == str(charged[0]["invoiceNumber"])
    assert hub["sync"][0]["remote_id"] == str(charged[0]["id"])


def test_an_order_whose_answer_was_lost_is_invoiced_not_created_again(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    orders_before = len(tripletex.sandbox.all(tripletex.firm.firm_id, "Order"))
    lossy.lose_answer_to("POST", "/order")
    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{cid}").json()["last_error"]
    clock.advance(timedelta(minutes=1))
    mark = len(lossy.calls)
    system.run_until_idle()
    orders = tripletex.sandbox.all(tripletex.firm.firm_id, "Order")
    assert len(orders) == orders_before + 1, "the order is not created again"
    assert len(invoices(tripletex)) == 1 and orders[-1]["isClosed"]
    assert lossy.since(mark) == [("GET", "/order"), ("PUT", f"/order/{orders[-1]['id']}/:invoice")]
    assert recovered(tenant, cid) == [invoice["id"]]


def test_a_payment_whose_answer_was_lost_is_not_registered_twice(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    lossy.lose_answer_to("PUT", "/:payment")
    paid = tenant.api.post(
        "/payments",
        json={"invoice_id": invoice["id"], "date": "2026-11-25", "amount": "2000.00",
              "currency": "NOK"},
    )  # fmt: skip
    assert paid.status_code == 201, paid.text
    retry = fail_then_retry(system, tenant, cid, clock, lossy)
    charged = invoices(tripletex)[0]
    assert charged["amountOutstanding"] == Decimal("3625.00"), "paid once"
    assert retry == [("GET", f"/invoice/{charged['id']}")], "its postings tell"
    assert recovered(tenant, cid) == [paid.json()["id"]]
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_a_credit_note_whose_answer_was_lost_is_adopted_not_credited_again(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    lossy.lose_answer_to("PUT", "/:createCreditNote")
    credit = issue(
        tenant, party["id"], kind="credit_note", credits_invoice_id=invoice["id"],
        lines=[{"description": "Kreditert", "quantity": "-1", "unit_price": "4500",
                "vat_code": "3"}],
    )  # fmt: skip
    retry = fail_then_retry(system, tenant, cid, clock, lossy)
    notes = [i for i in invoices(tripletex) if i["isCreditNote"]]
    assert len(notes) == 1
    assert [c[1] for c in retry] == [f"/invoice/{notes[0]['creditedInvoice']}", "/invoice"]
    assert recovered(tenant, cid) == [credit["id"]]
    hub = tenant.api.get(f"/invoices/{credit['id']}").json()["data"]
    assert hub["number"] == str(notes[0]["invoiceNumber"])


def test_an_order_tripletex_refuses_to_invoice_is_not_left_behind(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer
) -> None:
    cid, party = ready(system, tenant, tripletex)
    firm = tripletex.firm.firm_id
    orders_before = len(tripletex.sandbox.all(firm, "Order"))

    def lines_removed(path: str) -> None:
        """A user empties the order in Tripletex before it is charged."""
        order_id = int(path.split("/")[2])
        with tripletex.sandbox.lock:
            book = tripletex.sandbox.book(firm)
            for line_id in book.get("Order", order_id)["orderLines"]:
                book.table("OrderLine").pop(line_id, None)
            book.get("Order", order_id)["orderLines"] = []

    lossy.before("/:invoice", lines_removed)
    issue(tenant, party["id"])
    system.run_until_idle()
    assert len(tripletex.sandbox.all(tripletex.firm.firm_id, "Order")) == orders_before
    assert invoices(tripletex) == []
    problems = tenant.api.get(f"/connections/{cid}/issues").json()
    assert [p["reason"] for p in problems] == ["remote_rejected"]
    assert "no order lines" in problems[0]["message"]


def test_an_invoice_whose_outstanding_amount_tripletex_does_not_return_is_not_counted_as_paid(
    system: System, tenant: Tenant, tripletex: Tripletex, lossy: LoseOneAnswer
) -> None:
    """Outstanding amounts are asked for by id, for the invoices just read: one Tripletex does
    not return (gone between the two calls) is not settled but listed as not read."""
    cid = connect(tenant, tripletex, entities={**STREAMS, "payment_status": {"enabled": True}})[
        "id"
    ]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    kept, gone = issue(tenant, party["id"]), issue(tenant, party["id"])
    system.run_until_idle()
    firm = tripletex.firm.firm_id
    number = tenant.api.get(f"/invoices/{gone['id']}").json()["data"]["number"]
    gone_id = next(i["id"] for i in invoices(tripletex) if str(i["invoiceNumber"]) == number)

    def hidden(path: str) -> None:
        with tripletex.sandbox.lock:
            tripletex.sandbox.book(firm).table("Invoice").pop(gone_id)

    # The invoices are read first, then their outstanding amounts: gone in between.
    lossy.before("/invoice", lambda path: lossy.before("/invoice", hidden))
    report = reconciled(system, tenant, cid, "2026-11")
    skipped = [
        (d["record_id"], d["remote_id"], d["reason"])
        for d in report["differences"]
        if d["kind"] == "skipped"
    ]
    assert skipped == [(gone["id"], str(gone_id), "open_amount_not_read")], report
    assert report["totals"]["remote"]["open_amount"] == {"NOK": "5625"}
    assert report["totals"]["remote"]["counts"]["open_amounts_unreadable"] == 1
    assert kept["id"] not in {d["record_id"] for d in report["differences"]}
