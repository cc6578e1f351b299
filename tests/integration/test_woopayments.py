"""WooPayments end to end: the WooCommerce sandbox on loopback with WooPayments' deposits, a
hub over a real database, the WooCommerce connection reading deposits as payouts with the
shop's own keys, and a route shop → Uniconta with both a commerce and a paymatch block that
posts each deposit in the PAYMATCH cash journal matched to the booked invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_webshop
from ledgerbridge.sandbox.woocommerce import WooSandbox
from ledgerbridge.sandbox.woocommerce.payments import fee_of, minor
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, latest_run
from tests.integration.webshop_fixtures import (
    POLICY,
    WAREHOUSE,
    Webshop,
    stock_shop,
    woo,  # noqa: F401
)

CARD = "woocommerce_payments"
PAYMATCH: dict[str, Any] = {
    "journal": "PAYMATCH", "receivable_account": "5820", "fee_account": "7220",
    "bank_account": "5900", "error_account": "5990", "group_lines": False,
    "start_date": "2026-01-01", "wait_for_invoice_hours": 0,
}  # fmt: skip


def shop_connection(tenant: Tenant, shop: WooSandbox, url: str, **entities: Any) -> str:
    key = shop.default_key
    made = tenant.api.post("/connections", json={
        "system": "woocommerce", "name": "Webshop",
        "settings": {"base_url": url, "entities": {
            name: {"enabled": True, **extra} for name, extra in entities.items()}},
        "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def run_deposit(url: str, **body: Any) -> dict[str, Any]:
    made = httpx.post(f"{url}/_sandbox/payments/deposits", json=body, timeout=10)
    assert made.status_code == 200, made.text
    deposit: dict[str, Any] = made.json()
    return deposit


def pull_payouts(system: System, tenant: Tenant, cid: str) -> dict[str, Any]:
    assert tenant.api.post(f"/connections/{cid}/jobs/payouts").status_code == 202
    system.run_until_idle()
    return latest_run(tenant, cid, "payouts")


def payouts(tenant: Tenant) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get("/payouts", params={"limit": 1000}).json()["items"]
    return found


def issues(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(f"/connections/{cid}/issues").json()
    return [i for i in found if i["stream"] == "payouts"]


def card_order(shop: WooSandbox, product: int, quantity: int) -> dict[str, Any]:
    order = shop.create_order({"payment_method": CARD, "billing": {"email": "k@example.dk"},
                               "line_items": [{"product_id": product, "quantity": quantity}]},
                              created_via="checkout")  # fmt: skip
    return shop.pay_order(order["id"], f"ch_woo{order['id']}")


def test_a_deposit_comes_in_as_one_payout_with_its_lines(
    system: System,
    tenant: Tenant,
    woo: tuple[WooSandbox, str],  # noqa: F811
) -> None:
    shop, url = woo
    product = shop.create_product({"name": "Kaffe", "sku": "KAF", "regular_price": "89.95"})
    first = card_order(shop, product["id"], 2)
    second = card_order(shop, product["id"], 1)
    shop.create_refund(second["id"], {"amount": "20.00"})
    deposit = run_deposit(url)
    cid = shop_connection(tenant, shop, url, orders={}, payouts={})
    import_all(system, tenant, cid)

    (record,) = payouts(tenant)
    data = record["data"]
    assert (data["provider"], data["source_id"], data["status"], data["currency"]) == (
        "woopayments", deposit["id"], "paid", "DKK")  # fmt: skip
    assert Decimal(data["net"]) == Decimal(deposit["amount"]) / 100
    fees = (fee_of(minor(first["total"])) + fee_of(minor(second["total"]))) / Decimal(100)
    assert Decimal(data["fees"]) == fees
    lines = [(ln["type"], Decimal(ln["gross"]), Decimal(ln["fee"]), ln["order_ref"],
              ln["psp_ref"]) for ln in data["lines"]]  # fmt: skip
    assert lines == [
        ("charge", Decimal(first["total"]), fee_of(minor(first["total"])) / Decimal(100),
         str(first["number"]), f"ch_woo{first['id']}"),
        ("charge", Decimal(second["total"]), fee_of(minor(second["total"])) / Decimal(100),
         str(second["number"]), f"ch_woo{second['id']}"),
        ("refund", Decimal("-20.00"), Decimal(0), str(second["number"]), f"ch_woo{second['id']}"),
    ]  # fmt: skip
    assert issues(tenant, cid) == []

    # Read again unchanged: the same record; failed later: an update of it.
    run = pull_payouts(system, tenant, cid)
    assert run["counts"].get("payouts.unchanged") == 1, run
    assert run["calls"] == 2, "the deposit list and the deposit's one page of transactions"
    failed = httpx.put(f"{url}/_sandbox/payments/deposits/{deposit['id']}",
                       json={"status": "failed"}, timeout=10)  # fmt: skip
    assert failed.status_code == 200
    run = pull_payouts(system, tenant, cid)
    assert run["counts"].get("payouts.updated") == 1, run
    (record,) = payouts(tenant)
    assert record["data"]["status"] == "failed"


def test_a_shop_without_woopayments_says_so_once_and_its_orders_still_come(
    system: System,
    tenant: Tenant,
    woo: tuple[WooSandbox, str],  # noqa: F811
) -> None:
    shop, url = woo
    shop.apply_settings({"woopayments": False})
    product = shop.create_product({"name": "Kaffe", "sku": "KAF", "regular_price": "89.95"})
    card_order(shop, product["id"], 1)
    cid = shop_connection(tenant, shop, url, orders={}, payouts={})
    import_all(system, tenant, cid)
    pull_payouts(system, tenant, cid)
    (issue,) = issues(tenant, cid)
    assert issue["reason"] == "woopayments_not_active"
    assert "WooPayments" in issue["message"]
    assert payouts(tenant) == []
    orders = tenant.api.get("/orders", params={"limit": 10}).json()["items"]
    assert len(orders) == 1


def test_route_to_uniconta_posts_the_deposit_matched_to_the_booked_invoices(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    woo: tuple[WooSandbox, str],  # noqa: F811
) -> None:
    shop, url = woo
    seed_webshop(uniconta.sandbox, COMPANY)
    uniconta.sandbox.load(COMPANY, "InvWarehouseClient", [{"Warehouse": WAREHOUSE,
                                                           "Name": "Lager"}])  # fmt: skip
    products, customers = stock_shop(shop)
    setup = Webshop(system, tenant, shop, url, uniconta, products=products, customers=customers)
    setup.shop_id = shop_connection(
        tenant, shop, url, orders={}, refunds={}, products={"direction": "inbound"}, payouts={}
    )
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True, "products_master": "app",
        "entities": {s: {"enabled": True} for s in
                     ("customers", "products", "invoices", "payment_status", "cash_journal")},
    })  # fmt: skip
    setup.uniconta_id = accounting["id"]
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    route = tenant.api.post("/routes", json={
        "source": setup.shop_id, "target": setup.uniconta_id, "entities": ["product"],
        "commerce": {"policy": POLICY, "rules": {}}, "paymatch": PAYMATCH})  # fmt: skip
    assert route.status_code == 201, route.text
    for cid in (setup.uniconta_id, setup.shop_id):
        import_all(system, tenant, cid)
    setup.settle()

    first = setup.order("mette", [("KAF-500", 2)], method=CARD)
    second = setup.order("anna", [("KOP-01", 1)], method=CARD)
    setup.settle()
    invoices = {n: str(setup.invoice(o)["InvoiceNumber"]) for n, o in (("1", first), ("2", second))}
    deposit = run_deposit(url)
    pull_payouts(system, tenant, setup.shop_id)
    setup.settle()

    rows = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
            if r.get("ReferenceNumber") == deposit["id"]]  # fmt: skip
    assert all(r["Journal"] == "PAYMATCH" for r in rows)
    posted = [(r["Account"], Decimal(str(r["Amount"])), r.get("Invoice")) for r in rows]
    fee_1 = fee_of(minor(first["total"])) / Decimal(100)
    fee_2 = fee_of(minor(second["total"])) / Decimal(100)
    assert posted == [
        ("5820", -Decimal(first["total"]), invoices["1"]), ("7220", fee_1, None),
        ("5820", -Decimal(second["total"]), invoices["2"]), ("7220", fee_2, None),
        ("5900", Decimal(deposit["amount"]) / 100, None),
    ]  # fmt: skip
    postings = tenant.api.get("/journal-postings", params={"limit": 100}).json()["items"]
    assert [p["data"]["reference"] for p in postings] == [deposit["id"]]

    # The hourly pull reads the deposit again: nothing is posted twice.
    pull_payouts(system, tenant, setup.shop_id)
    setup.settle()
    again = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
             if r.get("ReferenceNumber") == deposit["id"]]  # fmt: skip
    assert len(again) == 5
    assert issues(tenant, setup.shop_id) == []
