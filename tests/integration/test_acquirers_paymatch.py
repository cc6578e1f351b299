"""Acquirers end to end through PayMatch: the Stripe, Zettle and Vipps MobilePay sandboxes and
the Uniconta sandbox on loopback, the hub on loopback over a real database, everything set up
through the hub API as a user would. Each acquirer's payouts come in through its connection
and become lines of the PAYMATCH cash journal in Uniconta, matched to the shop's invoices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.stripe import SandboxServer as StripeServer
from ledgerbridge.sandbox.stripe import StripeSandbox
from ledgerbridge.sandbox.uniconta import seed_products, seed_webshop
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer as VippsServer
from ledgerbridge.sandbox.vipps_mobilepay import VippsSandbox
from ledgerbridge.sandbox.zettle import ZettleSandbox
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, latest_run
from tests.integration.test_commerce_flow import POLICY, VAT, items, order_body
from tests.integration.test_zettle import POLICY as POS_POLICY
from tests.integration.test_zettle import prepare_uniconta
from tests.integration.webshop_fixtures import Webshop, webshop, woo

__all__ = ["webshop", "woo"]

PAYMATCH: dict[str, Any] = {
    "journal": "PAYMATCH", "receivable_account": "5820", "fee_account": "7220",
    "bank_account": "5900", "error_account": "5990", "group_lines": False,
    "start_date": "2026-01-01", "wait_for_invoice_hours": 0,
}  # fmt: skip
TOTAL = Decimal("298.75")
"""What ``order_body``'s customer pays."""
CENTS = int(TOTAL * 100)


def journal(uniconta: Uniconta, reference: str) -> list[tuple[str, str, str | None]]:
    """(account, debit − credit, invoice) of the PAYMATCH lines of one posting."""
    rows = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
            if r.get("ReferenceNumber") == reference]  # fmt: skip
    assert all(r["Journal"] == "PAYMATCH" for r in rows)
    return [(r["Account"], f"{Decimal(str(r['Amount'])):.2f}", r.get("Invoice")) for r in rows]


def all_lines(uniconta: Uniconta) -> list[dict[str, Any]]:
    return uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")


def payout_issues(tenant: Tenant, cid: str) -> dict[str, dict[str, Any]]:
    found = tenant.api.get(f"/connections/{cid}/issues").json()
    return {i["key"]: i for i in found if i["stream"] == "payouts"}


def pull(system: System, tenant: Tenant, cid: str, kind: str = "pull") -> dict[str, Any]:
    assert tenant.api.post(f"/connections/{cid}/jobs/{kind}").status_code in (200, 202)
    system.run_until_idle()
    run = latest_run(tenant, cid, kind)
    assert run["status"] == "succeeded", run
    return run


def postings(tenant: Tenant) -> list[dict[str, Any]]:
    return items(tenant, "/journal-postings")


@pytest.fixture
def shop(system: System, tenant: Tenant, uniconta: Uniconta) -> dict[str, Any]:
    """Uniconta with products, the webshop set-up and the PAYMATCH journal, imported; the shop's
    orders come in through the hub API (route ``app`` → Uniconta with the commerce block)."""
    seed_webshop(uniconta.sandbox, COMPANY)
    sku = seed_products(uniconta.sandbox, COMPANY, count=4, seed=5)[0]
    item = uniconta.sandbox.get(COMPANY, "InvItemClient", sku) or {}
    uniconta.sandbox.update(COMPANY, "InvItemClient", sku, {**item, "Vat": "S25"})
    streams = ("customers", "products", "invoices", "cash_journal")
    connection = connect(tenant, uniconta, settings={
        "entities": {s: {"enabled": True} for s in streams}, "vat_mapping": {**VAT, "U0": "U0"},
        "post_invoices": True})  # fmt: skip
    import_all(system, tenant, connection["id"])
    route = tenant.api.post("/routes", json={
        "source": "app", "target": connection["id"], "entities": ["party"],
        "commerce": {"policy": POLICY, "rules": {}}})  # fmt: skip
    assert route.status_code == 201, route.text
    return {"cid": connection["id"], "sku": sku}


def place(system: System, tenant: Tenant, shop: dict[str, Any], number: str, txn: str) -> str:
    """A paid card order with its payment id, booked in Uniconta; returns its invoice number."""
    body = order_body(shop["sku"], source_id=number, number=number, transaction_id=txn)
    made = tenant.api.post("/orders", json=body)
    assert made.status_code == 201, made.text
    system.run_until_idle()
    (invoice,) = [r for r in items(tenant, "/invoices") if r["data"]["reference"] == number]
    assert invoice["data"]["number"], invoice
    return str(invoice["data"]["number"])


def paymatch_route(tenant: Tenant, source: str, target: str, **blocks: Any) -> dict[str, Any]:
    body = {"source": source, "target": target, "entities": [], "paymatch": PAYMATCH, **blocks}
    route = tenant.api.post("/routes", json=body)
    assert route.status_code == 201, route.text
    made: dict[str, Any] = route.json()
    return made


# --------------------------------------------------------------------------------- Stripe


@pytest.fixture
def stripe() -> Iterator[tuple[StripeSandbox, str]]:
    sandbox = StripeSandbox(webhook_timeout=5.0, seed=7)
    server = StripeServer(sandbox)
    server.start()
    yield sandbox, server.base_url
    server.stop()
    sandbox.close()


def test_stripe_payout_paid_by_webhook_is_posted_once_and_a_later_failure_is_reported(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    stripe: tuple[StripeSandbox, str],
) -> None:
    sandbox, url = stripe
    by_number = place(system, tenant, shop, "7001", "ch_7001")
    by_charge = place(system, tenant, shop, "7002", "ch_7002")
    refunded = place(system, tenant, shop, "7003", "ch_7003")
    made = tenant.api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    paymatch_route(tenant, cid, shop["cid"])
    import_all(system, tenant, cid)

    # The shop's Stripe plugin: order metadata on two charges; one charge known by its id only;
    # one charge for an order the shop never sent; a refund of 50.00 on order 7003.
    sandbox.create_charge({"amount": CENTS, "order_id": "7001", "fee": 448})
    sandbox.create_charge({"amount": CENTS, "transaction_id": "ch_7002", "fee": 448})
    sandbox.create_charge({"amount": CENTS, "order_id": "7003", "transaction_id": "ch_7003",
                           "fee": 448})  # fmt: skip
    sandbox.create_charge({"amount": 19900, "order_id": "99001", "fee": 300})
    sandbox.refund("ch_7003", {"amount": 5000})
    payout = sandbox.create_payout({})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()

    lines = journal(uniconta, payout["id"])
    fee = ("7220", "4.48", None)
    assert lines == [
        ("5820", "-298.75", by_number), fee,
        ("5820", "-298.75", by_charge), fee,
        ("5820", "-298.75", refunded), fee,
        ("5990", "-199.00", None), ("7220", "3.00", None),
        ("5820", "50.00", refunded),
        ("5900", f"{Decimal(payout['amount']) / 100:.2f}", None),
    ]  # fmt: skip
    assert sum(Decimal(amount) for _, amount, _ in lines) == 0
    texts = [r["Text"] for r in all_lines(uniconta)]
    assert any("no_match: no order with number 99001" in t for t in texts), texts
    assert len(postings(tenant)) == 1
    assert payout_issues(tenant, cid) == {}

    # The webhook delivered again and a pull repeated: nothing is posted twice.
    paid = next(e for e in sandbox.events.values() if e["type"] == "payout.paid")
    sandbox.resend(paid["id"])
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    pull(system, tenant, cid)
    assert len(journal(uniconta, payout["id"])) == len(lines)
    assert len(postings(tenant)) == 1

    # Stripe's warning: a payout shown as paid may fail later. Reported, not posted again.
    sandbox.set_payout_status(payout["id"], {"status": "failed"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    pull(system, tenant, cid)
    assert len(journal(uniconta, payout["id"])) == len(lines)
    assert len(postings(tenant)) == 1
    (stored,) = items(tenant, "/payouts")
    assert stored["data"]["status"] == "failed"
    issue = payout_issues(tenant, cid)[payout["id"]]
    assert issue["reason"] == "payout_inconsistent"
    assert "status paid → failed" in issue["message"]


def test_a_stripe_payout_left_whole_on_the_error_account_is_listed_unmatched(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    stripe: tuple[StripeSandbox, str],
) -> None:
    """A manual payout does not say which payments it holds: its whole net goes to the error
    account, and the payouts list says so rather than calling it matched."""
    sandbox, url = stripe
    place(system, tenant, shop, "7101", "ch_7101")
    made = tenant.api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    paymatch_route(tenant, cid, shop["cid"])
    import_all(system, tenant, cid)
    sandbox.create_charge({"amount": CENTS, "order_id": "7101", "fee": 448})
    payout = sandbox.create_payout({"automatic": False})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    net = f"{Decimal(payout['amount']) / 100:.2f}"
    assert journal(uniconta, payout["id"]) == [("5900", net, None), ("5990", f"-{net}", None)]

    (shown,) = tenant.api.get(f"/connections/{cid}/payouts").json()
    assert (shown["state"], shown["unmatched"]) == ("unmatched", 1)


def test_a_stripe_payout_before_the_start_date_is_listed_not_posted_not_waiting(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    stripe: tuple[StripeSandbox, str],
) -> None:
    """Only a payout waiting for an invoice is ``waiting`` (the page's "Waiting for an
    invoice"); one PayMatch will not post is ``not_posted``, with the issue saying why."""
    sandbox, url = stripe
    place(system, tenant, shop, "7111", "ch_7111")
    made = tenant.api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    paymatch_route(tenant, cid, shop["cid"], paymatch={**PAYMATCH, "start_date": "2099-01-01"})
    import_all(system, tenant, cid)
    sandbox.create_charge({"amount": CENTS, "order_id": "7111", "fee": 448})
    payout = sandbox.create_payout({})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    assert journal(uniconta, payout["id"]) == []
    assert payout_issues(tenant, cid)[payout["id"]]["reason"] == "before_start_date"

    (shown,) = tenant.api.get(f"/connections/{cid}/payouts").json()
    assert (shown["state"], shown["issue"]["reason"]) == ("not_posted", "before_start_date")


def test_stripe_pays_out_a_woocommerce_shops_card_orders_matched_to_their_invoices(
    webshop: Webshop, stripe: tuple[StripeSandbox, str]
) -> None:
    """The shop's own WooCommerce connection books the orders; Stripe's charges carry the
    WooCommerce order id (its Stripe plugin's metadata) or only the charge id the order stored
    as its transaction id."""
    sandbox, url = stripe
    api = webshop.tenant.api
    journal_on = {"settings": {"entities": {"cash_journal": {"enabled": True}}}}
    turned_on = api.patch(f"/connections/{webshop.uniconta_id}", json=journal_on)
    assert turned_on.status_code == 200, turned_on.text
    made = api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    paymatch_route(webshop.tenant, cid, webshop.uniconta_id)
    import_all(webshop.system, webshop.tenant, cid)
    orders = [webshop.order(who, [("KAF-500", 2)], method="stripe", paid=False)
              for who in ("mette", "anna")]  # fmt: skip
    orders = [webshop.shop.pay_order(o["id"], f"ch_woo{o['id']}") for o in orders]
    webshop.settle()
    invoices = [str(webshop.invoice(o)["InvoiceNumber"]) for o in orders]
    first, second = orders
    cents = [int(Decimal(o["total"]) * 100) for o in orders]
    sandbox.create_charge({"amount": cents[0], "order_id": str(first["id"]),
                           "transaction_id": f"ch_woo{first['id']}", "fee": 300})  # fmt: skip
    sandbox.create_charge({"amount": cents[1], "transaction_id": f"ch_woo{second['id']}",
                           "fee": 300})  # fmt: skip
    payout = sandbox.create_payout({})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    webshop.settle()
    assert journal(webshop.uniconta, payout["id"]) == [
        ("5820", f"{-Decimal(cents[0]) / 100:.2f}", invoices[0]), ("7220", "3.00", None),
        ("5820", f"{-Decimal(cents[1]) / 100:.2f}", invoices[1]), ("7220", "3.00", None),
        ("5900", f"{Decimal(payout['amount']) / 100:.2f}", None),
    ]  # fmt: skip
    assert payout_issues(webshop.tenant, cid) == {}


# --------------------------------------------------------------------------------- Zettle


def zettle_till(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> tuple[str, str, Callable[[], None]]:
    """A Zettle till booked into Uniconta with PayMatch, both imported: (the Zettle
    connection, the Uniconta one, a wait for the till's webhooks and the jobs they queue)."""
    sandbox, url = zettle
    prepare_uniconta(uniconta)
    made = tenant.api.post("/connections", json={
        "system": "zettle", "name": "Butikken",
        "settings": {"base_url": url, "contact_email": "kasse@example.dk"},
        "secrets": {"api_key": sandbox.default_key.key}})  # fmt: skip
    assert made.status_code == 201, made.text
    zid = str(made.json()["id"])
    streams = ("customers", "invoices", "payment_status", "cash_journal")
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True, "entities": {s: {"enabled": True} for s in streams}})  # fmt: skip
    uid = str(accounting["id"])
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    paymatch_route(tenant, zid, uid, commerce={"policy": POS_POLICY, "rules": {}})
    for cid in (uid, zid):
        import_all(system, tenant, cid)

    def settle() -> None:
        for _ in range(3):
            sandbox.wait_for_webhooks(timeout=30)
            system.run_until_idle()

    return zid, uid, settle


def test_zettle_card_sales_are_matched_by_payment_uuid_and_cash_stays_out(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    sandbox = zettle[0]
    zid, uid, settle = zettle_till(system, tenant, uniconta, zettle)

    coffee = [{"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 2}]
    book = [{"sku": "BOG-01", "name": "Kogebog", "unit_price": 24900, "vat_percentage": 0}]
    card = [{"type": "IZETTLE_CARD"}]
    cards = [sandbox.ring_up({"products": rows, "payments": card}) for rows in (coffee, book)]
    cash = sandbox.ring_up({"products": coffee, "payments": [{"type": "IZETTLE_CASH"}]})
    settle()
    invoices = {str(r.get("YourRef")): str(r["InvoiceNumber"])
                for r in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")}  # fmt: skip
    assert {str(s["globalPurchaseNumber"]) for s in [*cards, cash]} <= set(invoices)
    entry = sandbox.payout({})
    pull(system, tenant, zid, "payouts")
    settle()

    reference = str(entry["originatingTransactionUuid"])
    rows = [r for r in all_lines(uniconta) if r.get("ReferenceNumber") == reference]
    receivable = [r for r in rows if r["Account"] == "5820"]
    assert sorted((str(r["Invoice"]), Decimal(str(r["Amount"]))) for r in receivable) == sorted(
        (invoices[str(s["globalPurchaseNumber"])], -Decimal(s["amount"]) / 100) for s in cards
    )
    uuids = [s["payments"][0]["uuid"] for s in cards]
    assert all(any(u in r["Text"] for r in receivable) for u in uuids), "matched by payment"
    cash_invoice = invoices[str(cash["globalPurchaseNumber"])]
    assert all(r.get("Invoice") != cash_invoice for r in rows), "cash is not paid out"
    fees = [Decimal(str(r["Amount"])) for r in rows if r["Account"] == "7220"]
    assert len(fees) == 2 and all(f > 0 for f in fees)
    (bank,) = [r for r in rows if r["Account"] == "5900"]
    assert Decimal(str(bank["Amount"])) == -Decimal(entry["amount"]) / 100
    assert not [r for r in rows if r["Account"] == "5990"]
    assert sum(Decimal(str(r["Amount"])) for r in rows) == 0
    pull(system, tenant, zid, "payouts")
    settle()
    assert len([r for r in all_lines(uniconta) if r.get("ReferenceNumber") == reference]) == len(
        rows
    )
    assert payout_issues(tenant, zid) == {} and payout_issues(tenant, uid) == {}


def test_a_zettle_refund_weeks_after_its_sale_is_matched_to_the_sale_s_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    """A customer brings the cookbook back three weeks later: the refund's card payment is in
    today's payout, its sale long before the payout's period. It is the sale's invoice the
    refund goes back over, not an order named by the refund's own purchase number."""
    sandbox = zettle[0]
    zid, _, settle = zettle_till(system, tenant, uniconta, zettle)

    now = sandbox.now()
    weeks_ago = (now - timedelta(days=21)).isoformat()
    book = [{"sku": "BOG-01", "name": "Kogebog", "unit_price": 24900, "vat_percentage": 0}]
    coffee = [{"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 10}]
    card = [{"type": "IZETTLE_CARD"}]
    sale = sandbox.ring_up({"products": book, "payments": card, "at": weeks_ago})
    sandbox.payout({"at": (now - timedelta(days=20)).isoformat()})
    settle()
    pull(system, tenant, zid, "payouts")
    settle()
    (sold,) = [str(r["InvoiceNumber"]) for r in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
               if str(r.get("YourRef")) == str(sale["globalPurchaseNumber"])]  # fmt: skip

    sandbox.ring_up({"products": coffee, "payments": card})
    refund = sandbox.refund(sale["purchaseUUID1"], {})
    settle()
    entry = sandbox.payout({})
    pull(system, tenant, zid, "payouts")
    settle()

    rows = [r for r in all_lines(uniconta)
            if r.get("ReferenceNumber") == str(entry["originatingTransactionUuid"])]  # fmt: skip
    back = [r for r in rows if refund["payments"][0]["uuid"] in r["Text"] and
            r["Account"] in ("5820", "5990")]  # fmt: skip
    assert [(r["Account"], Decimal(str(r["Amount"])), r.get("Invoice")) for r in back] == [
        ("5820", Decimal("249.00"), sold)
    ], [r["Text"] for r in rows]


# ------------------------------------------------------------------------ Vipps MobilePay


@pytest.fixture
def vipps() -> Iterator[tuple[VippsSandbox, str]]:
    sandbox = VippsSandbox(clock=ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)))
    sandbox.add_ledger("302321", "DKK", msn="123455")
    with VippsServer(sandbox) as server:
        yield sandbox, server.base_url


def test_vipps_captures_match_shop_orders_and_a_late_order_is_matched_when_booked(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    vipps: tuple[VippsSandbox, str],
) -> None:
    sandbox, url = vipps
    first = place(system, tenant, shop, "8001", "vipps-8001")
    second = place(system, tenant, shop, "8002", "vipps-8002")
    made = tenant.api.post("/connections", json={
        "system": "vipps_mobilepay", "name": "Vipps MobilePay",
        "settings": {"base_url": url, "client_id": "vipps-client-1"},
        "secrets": {"client_secret": "vipps-secret-1",
                    "subscription_key": "vipps-sub-key-1"}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    paymatch_route(tenant, cid, shop["cid"])
    import_all(system, tenant, cid)
    for order in ("8001", "8002", "8003"):
        sandbox.capture("302321", order, CENTS, fee=448)
    payout = sandbox.schedule_payout("302321")
    pull(system, tenant, cid)
    (record,) = items(tenant, "/payouts")
    reference = record["data"]["source_id"]
    assert journal(uniconta, reference) == [
        ("5820", "-298.75", first), ("7220", "4.48", None),
        ("5820", "-298.75", second), ("7220", "4.48", None),
        ("5990", "-298.75", None), ("7220", "4.48", None),
        ("5900", f"{Decimal(-payout['amount']) / 100:.2f}", None),
    ]  # fmt: skip

    late = place(system, tenant, shop, "8003", "vipps-8003")
    system.run_until_idle()
    (line,) = [ln for ln in record["data"]["lines"] if ln["order_ref"] == "8003"]
    assert journal(uniconta, f"{reference}/{line['line_id']}") == [
        ("5990", "298.75", None), ("5820", "-298.75", late)]  # fmt: skip
    pull(system, tenant, cid)
    assert len(postings(tenant)) == 2, "the payout and the late match, once each"
    assert payout_issues(tenant, cid) == {}
