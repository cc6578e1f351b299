"""WooCommerce sandbox's WooPayments routes over HTTP on loopback: card-paid orders and their
refunds as transactions with fees, a deposit run from the control API, the documented shapes
and paging, and a shop without WooPayments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.faults import FaultInjector
from ledgerbridge.sandbox.woocommerce import WooSandbox, create_app
from ledgerbridge.sandbox.woocommerce.app import FAULTS
from ledgerbridge.sandbox.woocommerce.payments import fee_of
from tests.sandbox.live import SwitchServer, serve_switch

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
API = "/wp-json/wc/v3"


@pytest.fixture(scope="module")
def live_server() -> Iterator[SwitchServer]:
    yield from serve_switch()


@pytest.fixture
def shop(live_server: SwitchServer) -> Iterator[tuple[WooSandbox, ManualClock, httpx.Client]]:
    """An empty shop with one product, and a client with the shop's key."""
    clock = ManualClock(START)
    sandbox = WooSandbox(clock, seed=4)
    sandbox.create_product({"name": "Kaffe", "sku": "KAF", "regular_price": "100.00"})
    live_server.switch.app = FaultInjector(FAULTS).wrap(create_app(sandbox))
    key = sandbox.default_key
    with httpx.Client(
        base_url=live_server.base_url, auth=(key.consumer_key, key.consumer_secret)
    ) as client:
        yield sandbox, clock, client
    sandbox.close()


def paid_order(sandbox: WooSandbox, quantity: int, method: str = "woocommerce_payments") -> int:
    product = next(iter(sandbox.products))
    line = {"product_id": product, "quantity": quantity}
    order = sandbox.create_order({"payment_method": method, "line_items": [line]})
    sandbox.pay_order(order["id"], f"ch_test{order['id']}")
    return int(order["id"])


def deposit(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/_sandbox/payments/deposits", json=body)


def test_card_orders_and_refunds_become_transactions_paid_out_in_one_deposit(
    shop: tuple[WooSandbox, ManualClock, httpx.Client],
) -> None:
    sandbox, clock, client = shop
    first = paid_order(sandbox, 2)
    paid_order(sandbox, 1, method="bacs")  # not paid through WooPayments: no transaction
    clock.advance(timedelta(minutes=5))
    second = paid_order(sandbox, 1)
    sandbox.create_refund(second, {"amount": "30.00"})
    sandbox.create_refund(first, {"amount": "10.00", "api_refund": False})  # by hand
    clock.advance(timedelta(hours=1))

    made = deposit(client)
    assert made.status_code == 200, made.text
    payout = made.json()
    charges = 20_000 - fee_of(20_000) + 10_000 - fee_of(10_000)
    assert payout["amount"] == charges - 3_000
    assert payout["id"].startswith("po_") and payout["type"] == "deposit"
    assert payout["status"] == "paid" and payout["currency"] == "dkk" and payout["automatic"]
    assert payout["date"] == int(clock.now().timestamp()) * 1000
    assert payout["created"] == int(clock.now().timestamp())

    listed = client.get(f"{API}/payments/deposits").json()
    assert listed == {"data": [payout], "total_count": 1}
    assert client.get(f"{API}/payments/deposits/{payout['id']}").json() == payout

    query = {"deposit_id": payout["id"], "direction": "asc"}
    lines = client.get(f"{API}/payments/transactions", params=query).json()["data"]
    assert [(t["type"], t["amount"], t["fees"], t["net"], t["order"]["number"]) for t in lines] == [
        ("charge", 20_000, fee_of(20_000), 20_000 - fee_of(20_000), str(first)),
        ("charge", 10_000, fee_of(10_000), 10_000 - fee_of(10_000), str(second)),
        ("refund", -3_000, 0, -3_000, str(second)),
    ]
    assert fee_of(20_000) == 480, "1.5 % + 1.80"
    charge = lines[0]
    assert charge["charge_id"] == f"ch_test{first}" and charge["order_id"] == first
    assert charge["payment_intent_id"].startswith("pi_") and charge["currency"] == "dkk"
    assert charge["deposit_id"] == payout["id"] and charge["deposit_status"] == "paid"
    assert charge["exchange_rate"] == 1.0 and charge["customer_currency"] == "dkk"
    assert charge["date"] == "2026-11-30 09:00:00"
    assert lines[2]["charge_id"] == lines[1]["charge_id"]

    # Nothing left to pay out; a later order goes into the next deposit only.
    assert deposit(client).status_code == 400
    third = paid_order(sandbox, 3)
    clock.advance(timedelta(days=1))
    later = deposit(client, status="pending").json()
    rows = client.get(f"{API}/payments/transactions", params={"deposit_id": later["id"]}).json()
    assert [t["order_id"] for t in rows["data"]] == [third]
    assert later["status"] == "pending"


def test_deposit_paging_filters_and_status_changes(
    shop: tuple[WooSandbox, ManualClock, httpx.Client],
) -> None:
    sandbox, clock, client = shop
    made = []
    for _ in range(5):
        paid_order(sandbox, 1)
        clock.advance(timedelta(days=1))
        made.append(deposit(client).json())
    newest_first = client.get(f"{API}/payments/deposits", params={"pagesize": 2}).json()
    assert newest_first["total_count"] == 5
    assert [d["id"] for d in newest_first["data"]] == [made[4]["id"], made[3]["id"]]
    third_page = client.get(f"{API}/payments/deposits", params={
        "pagesize": 2, "page": 3, "sort": "date", "direction": "asc"}).json()  # fmt: skip
    assert [d["id"] for d in third_page["data"]] == [made[4]["id"]]
    after = datetime.fromtimestamp(made[2]["created"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    newer = client.get(f"{API}/payments/deposits", params={"date_after": after}).json()
    assert {d["id"] for d in newer["data"]} == {made[3]["id"], made[4]["id"]}

    failed = client.put(f"/_sandbox/payments/deposits/{made[0]['id']}", json={"status": "failed"})
    assert failed.json()["status"] == "failed"
    only = client.get(f"{API}/payments/deposits", params={"status_is": "failed"}).json()
    assert [d["id"] for d in only["data"]] == [made[0]["id"]]

    assert client.get(f"{API}/payments/deposits", params={"sort": "x"}).status_code == 400
    assert deposit(client, status="lost").status_code == 400
    missing = client.get(f"{API}/payments/deposits/po_nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "wcpay_deposit_not_found"


def test_shop_key_is_required_and_a_shop_without_woopayments_has_no_route(
    shop: tuple[WooSandbox, ManualClock, httpx.Client],
) -> None:
    _sandbox, _clock, client = shop
    base = str(client.base_url).rstrip("/")
    assert httpx.get(base + f"{API}/payments/deposits").status_code == 401
    assert client.put("/_sandbox/settings", json={"woopayments": False}).status_code == 200
    for path in ("/payments/deposits", "/payments/transactions", "/payments/deposits/po_1"):
        answer = client.get(API + path)
        assert answer.status_code == 404
        assert answer.json()["code"] == "rest_no_route"
