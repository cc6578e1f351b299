"""Orders whose lines name items Uniconta does not have: the invoice push checks its items
before it writes anything, so no empty order is left in Uniconta, only the orders with a
missing item fail, and items found are not read again. Orders through the hub API and a
commerce route to the Uniconta sandbox on loopback, on the real System and database; the
calls are counted by a real transport in between (``StepFaults`` without faults)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import SyncIssue
from tests.integration.conftest import COMPANY, Tenant, Uniconta
from tests.integration.test_commerce_flow import order_body, shop
from tests.integration.test_write_steps_uniconta import StepFaults

__all__ = ["shop"]


@pytest.fixture
def calls() -> StepFaults:
    return StepFaults()


@pytest.fixture
def system(settings: Settings, calls: StepFaults) -> Iterator[System]:
    built = System(settings, transport=calls)
    yield built
    built.close()


def item_reads(calls: StepFaults) -> int:
    return calls.count("GET", "/InvItemClient")


def posted(uniconta: Uniconta, number: str) -> list[dict[str, Any]]:
    return [
        row for row in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
        if row.get("YourRef") == number
    ]  # fmt: skip


def test_only_the_order_with_a_missing_item_fails_and_nothing_of_it_is_left_in_uniconta(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any], calls: StepFaults
) -> None:
    cid = shop["connection"]["id"]
    before = item_reads(calls)
    for number, sku in (("5001", shop["sku"]), ("5002", "NOSUCH"), ("5003", shop["sku"])):
        made = tenant.api.post("/orders", json=order_body(sku, source_id=number, number=number))
        assert made.status_code == 201, made.text
    system.run_until_idle()

    assert len(posted(uniconta, "5001")) == len(posted(uniconta, "5003")) == 1
    assert posted(uniconta, "5002") == []
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == [], "no empty order"
    (issue,) = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (issue["stream"], issue["reason"]) == ("invoices", "product_missing")
    assert (
        "item 'NOSUCH' on line 1 (Kaffekrus) does not exist in Uniconta, so nothing was sent: "
        "create the item in Uniconta or correct the SKU"
    ) in issue["message"], "named as Uniconta's users name it, not by the API's class"
    # One read for the batch's items, one more for the order that failed, sent alone.
    assert item_reads(calls) - before == 2

    # An item found is not read again.
    before = item_reads(calls)
    again = tenant.api.post("/orders", json=order_body(shop["sku"], source_id="5004",
                                                       number="5004"))  # fmt: skip
    assert again.status_code == 201, again.text
    system.run_until_idle()
    assert len(posted(uniconta, "5004")) == 1
    assert item_reads(calls) == before

    # Created in Uniconta, the item is found by the retry, and the order is booked.
    uniconta.sandbox.insert(COMPANY, "InvItemClient", {"Item": "NOSUCH", "Name": "Kaffekrus"})
    assert tenant.api.post(f"/connections/{cid}/jobs/retry").status_code == 202
    system.run_until_idle()
    (invoice,) = posted(uniconta, "5002")
    items = [ln.get("Item") for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
             if ln["InvoiceNumber"] == invoice["InvoiceNumber"]]  # fmt: skip
    assert items == ["NOSUCH", None], "the item line and the shipping line"
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_an_order_waiting_for_its_item_is_booked_by_itself_once_uniconta_has_it(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any], calls: StepFaults
) -> None:
    """No retry by hand: the push tries it again once its issue is an hour old (the hour is
    the issue's timestamp moved back, as a clock an hour later would leave it)."""
    cid = shop["connection"]["id"]
    made = tenant.api.post("/orders", json=order_body("NOSUCH", source_id="6001", number="6001"))
    assert made.status_code == 201, made.text
    system.run_until_idle()
    uniconta.sandbox.insert(COMPANY, "InvItemClient", {"Item": "NOSUCH", "Name": "Kaffekrus"})

    before = item_reads(calls)
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    assert posted(uniconta, "6001") == [] and item_reads(calls) == before, "not within the hour"

    with system.sessions.begin() as session:
        session.execute(
            sa.update(SyncIssue)
            .where(SyncIssue.connection_id == cid)
            .values(last_seen_at=system.clock.now() - timedelta(hours=1, seconds=1))
        )
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    assert len(posted(uniconta, "6001")) == 1
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
