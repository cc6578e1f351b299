"""Zettle end to end: the Zettle sandbox and the Uniconta sandbox (with its booking service) on
loopback, the hub on loopback over a real database, connected through the hub API as a user
would: a Zettle connection (its API key; the webhook subscribed with it) and a route Zettle →
Uniconta with the POS commerce policy. A day of sales at the till becomes booked invoices with
the sold products on their lines and Zettle's totals; a refund becomes a credit note against
its invoice; an access token that expires during an import is renewed; signed webhooks are
accepted and forged ones refused; Finance payouts arrive as payout records."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.connectors.kit.kept import forget_kept_reads
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_webshop
from ledgerbridge.sandbox.zettle import ZettleSandbox
from ledgerbridge.store.tables.flows import FlowCursor
from ledgerbridge.store.tables.sync import Link
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, reconciled
from tests.integration.ui.commerce_fixtures import BOOKS_ZONE

SHARED_DEBTOR = "KASSE"
POLICY: dict[str, Any] = {
    "states": {"completed": "create_invoice"},
    "payment_methods": {
        "IZETTLE_CARD": {"payment_term": "Kort", "registered_as_paid": True},
        "IZETTLE_CARD_ONLINE": {"payment_term": "Kort", "registered_as_paid": True},
        "IZETTLE_CASH": {"payment_term": "Kontant", "registered_as_paid": True},
    },
    "customers": {"shared_b2c_account": SHARED_DEBTOR},
    "vat": {"domestic_codes": {"25": "U25", "12": "U12", "0": "U0"}},
    "rounding_account": "AFRUND",
    "refund_item": "REFUSION",
}
"""What a Zettle → Uniconta route needs: a sale is ``completed`` when rung up; card and cash are
paid at the till; every sale goes to one shared POS debtor."""
CATALOGUE = (
    ("KAF-01", "Cappuccino", 4200, 25),
    ("KAF-02", "Caffè latte", 4500, 25),
    ("BAG-01", "Kanelsnegl", 3250, 12),
    ("BAG-02", "Rugbrød", 4995, 12),
    ("BOG-01", "Kogebog", 24900, 0),
    ("AVI-01", "Dagens avis", 3900, 0),
)
"""SKU, name, price with VAT in øre, VAT rate: three rates at one till."""


@dataclass
class Till:
    """The set-up of one test, with what its assertions read."""

    system: System
    tenant: Tenant
    zettle: ZettleSandbox
    uniconta: Uniconta
    url: str
    zettle_id: str = ""
    uniconta_id: str = ""
    sales: list[dict[str, Any]] = field(default_factory=list)

    def settle(self) -> None:
        """Until every webhook arrived and no job is left."""
        for _ in range(3):
            self.zettle.wait_for_webhooks(timeout=30)
            self.system.run_until_idle()
            time.sleep(0.1)

    def pull(self, kind: str = "pull") -> None:
        job = self.tenant.api.post(f"/connections/{self.zettle_id}/jobs/{kind}")
        assert job.status_code in (200, 202), job.text
        self.settle()

    def invoices(self, sale: dict[str, Any]) -> list[dict[str, Any]]:
        number = str(sale["globalPurchaseNumber"])
        return [r for r in self.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
                if str(r.get("YourRef")) == number]  # fmt: skip

    def invoice(self, sale: dict[str, Any]) -> dict[str, Any]:
        found = [r for r in self.invoices(sale) if Decimal(str(r["TotalAmount"])) >= 0]
        assert len(found) == 1, (sale["globalPurchaseNumber"], found)
        return found[0]

    def lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        return [ln for ln in self.uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
                if ln["InvoiceNumber"] == invoice["InvoiceNumber"]]  # fmt: skip

    def issues(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.tenant.api.get(
            f"/connections/{self.zettle_id}/issues"
        ).json()
        return found

    def records(self, path: str) -> list[dict[str, Any]]:
        page = self.tenant.api.get(path, params={"limit": 1000}).json()
        return [item["data"] for item in page["items"]]


def ring_up(till: Till, body: dict[str, Any]) -> dict[str, Any]:
    sale = till.zettle.ring_up(body)
    till.sales.append(sale)
    return sale


def day_of_sales(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` sales: one to four rows at the three rates, row and purchase discounts, a
    service charge, tips, card, cash and split payments, fractional quantities."""
    bodies = []
    for n in range(count):
        rows = []
        for sku, name, price, vat in rng.sample(CATALOGUE, rng.randint(1, 4)):
            row: dict[str, Any] = {
                "sku": sku,
                "name": name,
                "unit_price": price,
                "vat_percentage": vat,
                "quantity": rng.choice([1, 1, 2, 3]),
            }
            if rng.random() < 0.3:
                row["discount"] = rng.choice([{"percentage": 10}, {"amount": 500}])
            if sku == "BAG-02" and rng.random() < 0.5:
                row["quantity"] = "1.5"
            rows.append(row)  # fmt: skip
        body: dict[str, Any] = {"products": rows}
        if n % 5 == 2:
            body["discount"] = rng.choice([{"percentage": 5}, {"amount": 1000}])
        if n % 7 == 3:
            body["service_charge"] = {"amount": 2500, "title": "Servering", "vat_percentage": 25}
        kind = n % 4
        if kind == 0:
            body["payments"] = [{"type": "IZETTLE_CASH"}]
        elif kind == 1:
            body["payments"] = [{"type": "IZETTLE_CARD", "tip": 1000}]
        elif kind == 2:
            body["payments"] = [{"type": "IZETTLE_CARD", "amount": 1000}, {"type": "IZETTLE_CASH"}]
        else:
            body["payments"] = [{"type": "IZETTLE_CARD"}]
        bodies.append(body)
    return bodies


def prepare_uniconta(uniconta: Uniconta) -> None:
    """The company's webshop set-up, a 12 % VAT code, the till's items and its POS debtor."""
    seed_webshop(uniconta.sandbox, COMPANY)
    uniconta.sandbox.load(COMPANY, "GLVatClient", [
        {"Vat": "U12", "Name": "Salgsmoms 12%", "VatType": "Sales", "Rate": 12}])  # fmt: skip
    vat = {25: "U25", 12: "U12", 0: "U0"}
    uniconta.sandbox.load(COMPANY, "InvItemClient", [
        {"Item": sku, "Name": name, "ItemType": "Item", "Vat": vat[rate], "Unit": "Piece",
         "SalesPrice1": price / 100}
        for sku, name, price, rate in CATALOGUE
    ])  # fmt: skip
    uniconta.sandbox.load(COMPANY, "DebtorClient", [
        {"Account": SHARED_DEBTOR, "Name": "Kassesalg (Zettle)", "Group": "PRIV",
         "Country": "Denmark", "Currency": "DKK", "Payment": "Kontant"}])  # fmt: skip


def open_till(
    system: System, tenant: Tenant, uniconta: Uniconta, sandbox: ZettleSandbox, url: str,
    *, policy: dict[str, Any] = POLICY, streams: tuple[str, ...] = (), **settings: Any,
) -> Till:  # fmt: skip
    """Both sides connected through the hub API and imported, the route in place (with
    ``policy``; ``streams`` switched on besides customers, invoices and payment status)."""
    prepare_uniconta(uniconta)
    till = Till(system, tenant, sandbox, uniconta, url)
    made = tenant.api.post("/connections", json={
        "system": "zettle", "name": "Butikken",
        "settings": {"base_url": url, "contact_email": "kasse@example.dk", **settings},
        "secrets": {"api_key": sandbox.default_key.key},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    till.zettle_id = made.json()["id"]
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True,
        "entities": {s: {"enabled": True}
                     for s in ("customers", "invoices", "payment_status", *streams)},
    })  # fmt: skip
    till.uniconta_id = accounting["id"]
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    route = tenant.api.post("/routes", json={
        "source": till.zettle_id, "target": till.uniconta_id, "entities": [],
        "commerce": {"policy": policy, "rules": {}}})  # fmt: skip
    assert route.status_code == 201, route.text
    for cid in (till.uniconta_id, till.zettle_id):
        import_all(system, tenant, cid)
    till.settle()
    return till


@pytest.fixture
def till(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> Till:
    return open_till(system, tenant, uniconta, *zettle)


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def test_a_day_of_sales_is_booked_invoice_by_invoice_with_zettles_totals(till: Till) -> None:
    for body in day_of_sales(random.Random(7), 20):
        ring_up(till, body)
    till.settle()
    # A sale paid part by card, part in cash: one payment term cannot register both parts,
    # so it is booked open on the default term, the order's issue naming each part.
    split = {s["purchaseUUID1"]: s for s in till.sales
             if len({p["type"] for p in s["payments"]}) > 1}  # fmt: skip
    issues = till.issues()
    assert len(split) == 5 and sorted(i["reason"] for i in issues) == ["payment_split"] * 5
    for issue in issues:
        parts = split[issue["key"]]["payments"]
        card, cash = (f"{Decimal(p['amount']) / 100:.2f} DKK" for p in parts)
        assert f"(Card (Zettle) {card}, Cash {cash})" in issue["message"], issue
        assert "payment term Netto 8 and not registered as paid" in issue["message"]
    rates = set()
    for sale in till.sales:
        invoice = till.invoice(sale)
        tips = sum(p.get("gratuityAmount") or 0 for p in sale["payments"])
        assert money(invoice["TotalAmount"]) == Decimal(sale["amount"] + tips) / 100
        main = max(sale["payments"], key=lambda p: p["amount"])
        open_items = [r for r in till.uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
                      if r["Invoice"] == invoice["InvoiceNumber"]]  # fmt: skip
        if sale["purchaseUUID1"] in split:
            assert invoice["Payment"] == "Netto 8"
            assert sum(money(r["AmountOpen"]) for r in open_items) == money(
                invoice["TotalAmount"]
            ), "open until a person registers each part"
            continue
        assert invoice["Payment"] == ("Kontant" if main["type"] == "IZETTLE_CASH" else "Kort")
        assert invoice["Account"] == SHARED_DEBTOR
        lines = till.lines(invoice)
        items = [ln["Item"] for ln in lines if ln.get("Item") not in (None, "AFRUND")]
        assert items == [p["sku"] for p in sale["products"]]
        for line, row in zip(lines, sale["products"], strict=False):
            assert money(line["InvoiceQty"]) == money(row["quantity"])
            assert money(line["NetAmount"]) == Decimal(row["rowTaxableAmount"]) / 100
            rates.add(line["Vat"])
        assert all(money(r["AmountOpen"]) == 0 for r in open_items), "paid at the till"
    assert {"U25", "U12", "U0"} <= rates
    assert len(till.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 20
    assert till.uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    orders = till.records("/orders")
    assert sorted(int(o["number"]) for o in orders) == [s["globalPurchaseNumber"]
                                                         for s in till.sales]  # fmt: skip
    cards = {o["number"]: o["transaction_id"] for o in orders if o["transaction_id"]}
    assert len(cards) == 15, "every sale with a card part names its card payment"
    hooks = [a for a in till.zettle.pusher.attempts() if a.event_name == "PurchaseCreated"]
    assert len(hooks) == 20 and all(a.ok for a in hooks), "each sale arrived by webhook"
    till.pull()
    assert len(till.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 20, "once"


def test_a_refund_is_a_credit_note_against_the_sales_invoice(till: Till) -> None:
    sale = ring_up(till, {"products": [
        {"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 3},
        {"sku": "BOG-01", "name": "Kogebog", "unit_price": 24900, "vat_percentage": 0}],
        "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    till.settle()
    invoice = till.invoice(sale)
    refund = till.zettle.refund(sale["purchaseUUID1"], {"rows": [{"index": 0, "quantity": 1}]})
    till.settle()
    (note,) = [r for r in till.invoices(sale) if money(r["TotalAmount"]) < 0]
    assert note["Settlements"] == str(invoice["InvoiceNumber"])
    assert money(note["TotalAmount"]) == Decimal(refund["amount"]) / 100 == Decimal("-42.00")
    assert [(ln["Item"], money(ln["InvoiceQty"]), ln["Vat"]) for ln in till.lines(note)] == [
        ("KAF-01", -1, "U25")]  # fmt: skip
    assert till.invoice(sale) == invoice, "the booked invoice is left alone"
    assert [r["order_source_id"] for r in till.records("/refunds")] == [sale["purchaseUUID1"]]
    assert till.issues() == []


def test_a_card_refund_is_credited_on_the_sales_card_term_not_the_till_debtors(
    till: Till,
) -> None:
    sale = ring_up(till, {"products": [
        {"sku": "KAF-02", "name": "Caffè latte", "unit_price": 4500, "quantity": 2}],
        "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    till.settle()
    invoice = till.invoice(sale)
    assert invoice["Payment"] == "Kort"
    till.zettle.refund(sale["purchaseUUID1"], {"rows": [{"index": 0, "quantity": 1}]})
    till.settle()
    (note,) = [r for r in till.invoices(sale) if money(r["TotalAmount"]) < 0]
    debtor = till.uniconta.sandbox.get(COMPANY, "DebtorClient", SHARED_DEBTOR)
    assert debtor is not None and debtor["Payment"] == "Kontant"
    assert note["Payment"] == "Kort", "back over the card receivable, not the till"
    (credit,) = [r for r in till.records("/invoices") if r["kind"] == "credit_note"]
    assert credit["payment_term"] == "Kort"
    assert till.issues() == []


def test_a_sale_paid_with_a_method_without_a_rule_is_an_open_issue(till: Till) -> None:
    sale = ring_up(till, {"products": [
        {"sku": "BAG-01", "name": "Kanelsnegl", "unit_price": 3250, "vat_percentage": 12}],
        "payments": [{"type": "MOBILE_PAY"}]})  # fmt: skip
    till.settle()
    invoice = till.invoice(sale)
    assert invoice["Account"] == SHARED_DEBTOR
    open_items = [r for r in till.uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
                  if r["Invoice"] == invoice["InvoiceNumber"]]  # fmt: skip
    assert [money(r["AmountOpen"]) for r in open_items] == [Decimal("32.50")]
    (issue,) = till.issues()
    assert (issue["stream"], issue["reason"]) == ("orders", "payment_method_unknown")
    assert "'MOBILE_PAY'" in issue["message"] and "policy.payment_methods" in issue["message"]
    assert SHARED_DEBTOR in issue["message"]
    till.pull()
    assert [i["reason"] for i in till.issues()] == ["payment_method_unknown"], "stays open"


def test_a_sale_paid_part_card_part_cash_stays_open_for_a_person_until_dismissed(
    till: Till,
) -> None:
    latte = {"sku": "KAF-02", "name": "Caffè latte", "unit_price": 4500, "quantity": 2}
    split = [{"type": "IZETTLE_CARD", "amount": 2000}, {"type": "IZETTLE_CASH"}]
    sale = ring_up(till, {"products": [latte], "payments": split})
    till.settle()
    invoice = till.invoice(sale)
    assert invoice["Payment"] == "Netto 8", "neither Kort nor Kontant: one term, two payments"
    (issue,) = till.issues()
    assert issue["reason"] == "payment_split"
    assert "(Card (Zettle) 20.00 DKK, Cash 70.00 DKK)" in issue["message"]
    assert SHARED_DEBTOR in issue["message"]
    # Paid back in cash (the largest payment): the credit note settles against the open
    # invoice on its term, and the issue stays until a person registered the parts.
    till.zettle.refund(sale["purchaseUUID1"], {"rows": [{"index": 0, "quantity": 1}]})
    till.settle()
    (note,) = [r for r in till.invoices(sale) if money(r["TotalAmount"]) < 0]
    assert note["Payment"] == "Netto 8" and note["Settlements"] == str(invoice["InvoiceNumber"])
    till.pull()
    assert [i["reason"] for i in till.issues()] == ["payment_split"], "stays open"
    dismissed = till.tenant.api.post(f"/connections/{till.zettle_id}/issues/{issue['id']}/dismiss")
    assert dismissed.status_code == 200, dismissed.text
    till.pull()
    assert till.issues() == [], "a dismissed split stays dismissed"


SPLIT_POLICY: dict[str, Any] = {
    **POLICY,
    "payment_methods": {
        "IZETTLE_CARD": {"payment_term": "Kort", "registered_as_paid": True, "account": "5820"},
        "IZETTLE_CARD_ONLINE": {"payment_term": "Kort", "registered_as_paid": True},
        "IZETTLE_CASH": {"payment_term": "Kontant", "registered_as_paid": True,
                         "account": "5800"},
    },
    "payment_journal": "PAYMATCH",
}  # fmt: skip
"""The card's receivable and the till's cash account named: a split sale is registered."""
SPLIT = [{"type": "IZETTLE_CARD", "amount": 2000}, {"type": "IZETTLE_CASH"}]
LATTE = {"sku": "KAF-02", "name": "Caffè latte", "unit_price": 4500, "quantity": 2}


def journal_lines(till: Till) -> list[tuple[str, str, str, str | None, str]]:
    """The cash journal's lines: account type, account, debit − credit, invoice, reference."""
    return [
        (r["AccountType"], r["Account"],
         f"{money(r.get('Debit', 0)) - money(r.get('Credit', 0)):.2f}",
         r.get("Invoice"), r["ReferenceNumber"])
        for r in till.uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
    ]  # fmt: skip


def amount_open(till: Till, invoice: dict[str, Any]) -> Decimal:
    return sum(
        (money(r["AmountOpen"]) for r in till.uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
         if r["Invoice"] == invoice["InvoiceNumber"]),
        Decimal(0),
    )  # fmt: skip


def test_a_sale_paid_part_card_part_cash_is_registered_part_by_part(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    till = open_till(system, tenant, uniconta, *zettle, policy=SPLIT_POLICY,
                     streams=("cash_journal",))  # fmt: skip
    sale = ring_up(till, {"products": [LATTE], "payments": SPLIT})
    till.settle()
    invoice = till.invoice(sale)
    number = str(invoice["InvoiceNumber"])
    assert invoice["Payment"] == "Netto 8", "booked open: one term cannot register two parts"
    assert till.issues() == [], "no payment_split issue: the parts are registered"
    lines = journal_lines(till)
    (reference,) = {line[4] for line in lines}
    assert reference.startswith(f"PAY {sale['globalPurchaseNumber']} ")
    assert [line[:4] for line in lines] == [
        ("Debtor", SHARED_DEBTOR, "-20.00", number), ("Finans", "5820", "20.00", None),
        ("Debtor", SHARED_DEBTOR, "-70.00", number), ("Finans", "5800", "70.00", None),
    ]  # fmt: skip
    assert amount_open(till, invoice) == Decimal("90.00"), "until the journal is booked"
    (order,) = till.records("/orders")
    entries = till.tenant.api.get(f"/connections/{till.zettle_id}/sync-log").json()
    said = [e["message"] for e in entries if e["reason"] == "payment_split_registered"]
    assert len(said) == 2, "the invoice's line and the posting's"
    assert any("cash journal PAYMATCH (Card (Zettle) 20.00 DKK on 5820, Cash 70.00 DKK on "
               "5800)" in message for message in said), said  # fmt: skip
    # A person approves and books the journal in Uniconta: each part pays the invoice.
    till.uniconta.sandbox.book_journal(COMPANY, "PAYMATCH")
    assert amount_open(till, invoice) == 0
    assert [p["Amount"] for p in till.uniconta.sandbox.payments(COMPANY, int(number))] == [
        20, 70]  # fmt: skip
    till.pull()
    # A crash after the flow committed, before its cursor moved: the sale is read again.
    (route,) = till.tenant.api.get("/routes").json()
    with system.sessions.begin() as session:
        session.execute(sa.delete(FlowCursor).where(FlowCursor.route_id == route["id"]))
    system.flows.queue_flow(None, route["id"], till.uniconta_id, tenant.tenant_id)
    till.settle()
    assert journal_lines(till) == [], "registered once: nothing inserted again"
    assert till.issues() == []
    assert order["number"] == str(sale["globalPurchaseNumber"])


def test_a_flow_run_that_dies_after_writing_the_payments_writes_neither_them_nor_the_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The payments are written in the transaction that writes the booked invoice: a run that
    fails after writing them (before its commit) leaves neither, and the next run makes both,
    once: no invoice booked without its payments, no payments twice."""
    till = open_till(system, tenant, uniconta, *zettle, policy=SPLIT_POLICY,
                     streams=("cash_journal",))  # fmt: skip
    flows = type(system.flows)
    made = flows._payments
    died: list[str] = []

    def dies(self: Any, session: Any, run: Any, record: Any, order: Any, payments: Any) -> None:
        made(self, session, run, record, order, payments)
        if not died:
            died.append(order.source_id)
            raise RuntimeError("the process died before the commit")

    monkeypatch.setattr(flows, "_payments", dies)
    sale = ring_up(till, {"products": [LATTE], "payments": SPLIT})
    till.settle()
    assert died == [sale["purchaseUUID1"]]
    assert till.invoices(sale) == [] and journal_lines(till) == []
    assert till.records("/journal-postings") == [] and till.records("/invoices") == []
    deadline = time.monotonic() + 60
    while len(journal_lines(till)) < 4:  # the failed job is tried again in real time (2 s …)
        assert time.monotonic() < deadline, "the flow was not run again within 60 s"
        time.sleep(0.5)
        till.settle()
    invoice = till.invoice(sale)
    assert len(journal_lines(till)) == 4
    assert {line[3] for line in journal_lines(till)} == {str(invoice["InvoiceNumber"]), None}
    assert len(till.records("/journal-postings")) == 1
    assert till.issues() == []


def test_a_split_sales_payments_whose_insert_went_unanswered_are_inserted_once(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    """The invoice is booked, then Uniconta stores the payment lines and the answer is lost (a
    crash between booking and registering looks the same to the next push): the lines are
    found by their reference number, not inserted again, and none is lost."""
    till = open_till(system, tenant, uniconta, *zettle, policy=SPLIT_POLICY,
                     streams=("cash_journal",))  # fmt: skip
    sandbox = uniconta.sandbox
    insert = sandbox.api_insert
    lost: list[int] = []

    def answer_lost(company_id: int, entity: str, items: Any) -> Any:
        rows = insert(company_id, entity, items)
        if entity == "GLDailyJournalLineClient" and not lost:
            lost.append(len(rows))
            raise RuntimeError("the connection dropped after the insert")
        return rows

    sandbox.api_insert = answer_lost  # type: ignore[method-assign]
    sale = ring_up(till, {"products": [LATTE], "payments": SPLIT})
    till.settle()
    assert lost == [4], "stored, unanswered"
    invoice = till.invoice(sale)
    assert len(journal_lines(till)) == 4

    def linked() -> int:
        with system.sessions() as session:
            return int(session.scalar(
                sa.select(sa.func.count()).select_from(Link)
                .where(Link.connection_id == till.uniconta_id, Link.stream == "cash_journal")
            ) or 0)  # fmt: skip

    deadline = time.monotonic() + 60
    while not linked():  # the job engine retries the push in real time (2 s, 4 s …)
        assert time.monotonic() < deadline, "the posting was not found again within 60 s"
        time.sleep(0.5)
        pushed = till.tenant.api.post(f"/connections/{till.uniconta_id}/jobs/push")
        assert pushed.status_code in (200, 202), pushed.text
        till.settle()
    assert len(journal_lines(till)) == 4, "once"
    issues = till.tenant.api.get(f"/connections/{till.uniconta_id}/issues").json()
    assert issues == [] and till.issues() == []
    sandbox.book_journal(COMPANY, "PAYMATCH")
    assert amount_open(till, invoice) == 0


def test_a_route_naming_accounts_into_a_connection_not_sending_its_cash_journal_warns(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    till = open_till(system, tenant, uniconta, *zettle, policy=SPLIT_POLICY)
    (route,) = till.tenant.api.get("/routes").json()
    (warning,) = route["warnings"]
    assert "does not send its cash_journal stream" in warning
    sale = ring_up(till, {"products": [LATTE], "payments": SPLIT})
    till.settle()
    till.invoice(sale)
    assert len(till.records("/journal-postings")) == 1 and journal_lines(till) == []
    switched = till.tenant.api.patch(f"/connections/{till.uniconta_id}", json={
        "settings": {"entities": {"cash_journal": {"enabled": True}}}})  # fmt: skip
    assert switched.status_code == 200, switched.text
    assert till.tenant.api.get(f"/routes/{route['id']}").json()["warnings"] == []
    till.tenant.api.post(f"/connections/{till.uniconta_id}/jobs/push")
    till.settle()
    assert len(journal_lines(till)) == 4, "sent once the stream is on"


def test_a_split_sale_whose_method_names_no_account_stays_open_for_a_person(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    policy = {**SPLIT_POLICY, "payment_methods": {
        **SPLIT_POLICY["payment_methods"],
        "IZETTLE_CASH": {"payment_term": "Kontant", "registered_as_paid": True}}}  # fmt: skip
    till = open_till(system, tenant, uniconta, *zettle, policy=policy, streams=("cash_journal",))
    sale = ring_up(till, {"products": [LATTE], "payments": SPLIT})
    till.settle()
    invoice = till.invoice(sale)
    assert invoice["Payment"] == "Netto 8"
    (issue,) = till.issues()
    assert issue["reason"] == "payment_split"
    assert "give 'IZETTLE_CASH' an account in policy.payment_methods" in issue["message"]
    assert journal_lines(till) == []
    assert amount_open(till, invoice) == Decimal("90.00")


def test_a_sale_row_without_sku_is_no_problem_of_the_plan_and_is_booked_without_item(
    till: Till,
) -> None:
    sale = ring_up(till, {"products": [{"name": "Kage efter eget valg", "unit_price": 3000}],
                          "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    till.settle()
    (route,) = till.tenant.api.get("/routes").json()
    # The plan's days are the books' (Copenhagen), not the sale's UTC stamp's.
    sold = datetime.fromisoformat(str(sale["timestamp"]).replace("Z", "+00:00"))
    day = sold.astimezone(BOOKS_ZONE).date().isoformat()
    plan = till.tenant.api.post(
        f"/routes/{route['id']}/historical-import", json={"from": day, "to": day}
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["skipped"] == {"already_booked": 1}  # booked: the plan leaves it be
    assert plan.json()["problems"] == []
    lines = till.lines(till.invoice(sale))
    assert [(ln.get("Item"), ln.get("Text")) for ln in lines] == [
        (None, "Kage efter eget valg")]  # fmt: skip
    assert till.issues() == []


def test_a_refund_of_a_sale_uniconta_refused_says_its_credit_note_waits(till: Till) -> None:
    sale = ring_up(till, {"products": [
        {"sku": "NOPE-01", "name": "Ukendt vare", "unit_price": 5000}],
        "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    till.settle()
    refused = till.tenant.api.get(f"/connections/{till.uniconta_id}/issues").json()
    assert [i["reason"] for i in refused] == ["product_missing"]
    till.zettle.refund(sale["purchaseUUID1"], {"rows": [{"index": 0, "quantity": 1}]})
    till.settle()
    assert till.invoices(sale) == [], "neither the invoice nor its credit note is in Uniconta"
    log = till.tenant.api.get(
        f"/connections/{till.zettle_id}/sync-log", params={"stream": "refunds", "limit": 100}
    ).json()
    (entry,) = [e for e in log if e["direction"] == "flow"]
    message = entry["message"]
    assert "credit note booked against" not in message, message
    assert "does not have yet (refused there: product_missing)" in message, message
    assert "credited_invoice_pending" in message, message


def test_a_route_naming_a_vat_code_of_another_rate_is_refused(till: Till) -> None:
    (route,) = till.tenant.api.get("/routes").json()
    policy = {**POLICY, "vat": {"domestic_codes": {"25": "U25", "12": "U25", "0": "U0"}}}
    body = {"source": till.zettle_id, "target": till.uniconta_id, "entities": [],
            "commerce": {"policy": policy, "rules": {}}}  # fmt: skip
    refused = till.tenant.api.put(f"/routes/{route['id']}", json=body)
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "commerce", "policy", "vat", "domestic_codes", "12"]
    assert "VAT code 'U25' books 25% in Uniconta, not 12%" in problem["msg"], problem["msg"]
    kept = till.tenant.api.get(f"/routes/{route['id']}").json()
    assert kept["commerce"]["policy"]["vat"]["domestic_codes"]["12"] == "U12"


def test_a_sale_whose_vat_code_books_another_rate_is_held_as_totals_mismatch(
    till: Till,
) -> None:
    # The code the route names for 12 % books 25 % in Uniconta (changed there after the route
    # was saved); its rates are read again once the kept ones are six hours old.
    till.uniconta.sandbox.update(COMPANY, "GLVatClient", "U12", {"Rate": 25})
    forget_kept_reads()
    sale = ring_up(till, {"products": [
        {"sku": "BAG-01", "name": "Kanelsnegl", "unit_price": 3250, "vat_percentage": 12}],
        "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    till.settle()
    assert till.invoices(sale) == [], "not booked at a wrong total"
    (issue,) = till.issues()
    assert (issue["stream"], issue["reason"]) == ("orders", "totals_mismatch")
    assert "VAT code U12 books 25%, the shop charged 12% on BAG-01" in issue["message"]
    (invoice,) = till.records("/invoices")
    assert invoice["status"] == "draft"


def stored_secrets(system: System, cid: str) -> dict[str, Any]:
    with system.sessions() as session:
        return dict(system.box.open(session.get_one(Connection, cid).secrets))


def test_signed_webhooks_are_accepted_and_forged_ones_refused(till: Till) -> None:
    connection = till.tenant.api.get(f"/connections/{till.zettle_id}").json()
    secrets = stored_secrets(till.system, till.zettle_id)
    assert secrets["subscription_uuid"] in {
        s["uuid"] for s in till.zettle.subscriptions()}  # fmt: skip
    test_messages = [a for a in till.zettle.pusher.attempts() if a.event_name == "TestMessage"]
    assert [a.status_code for a in test_messages] == [200], "the test message is answered"
    # A sale made while webhooks are lost is delivered by a forged and a real copy.
    sale = till.zettle.ring_up({"products": [{"sku": "KAF-02", "name": "Caffè latte",
                                              "unit_price": 4500}]})  # fmt: skip
    till.zettle.wait_for_webhooks()
    delivered = [a for a in till.zettle.pusher.attempts() if a.event_name == "PurchaseCreated"]
    body = delivered[-1].body
    envelope = json.loads(body)
    url = connection["change_url"]
    with httpx.Client() as client:
        forged = client.post(url, content=body, headers={"X-iZettle-Signature": "0" * 64})
        assert forged.status_code == 401
        assert client.post(url, content=body).status_code == 401
        key = secrets["signing_key"].encode()
        mac = hmac.new(key, f"{envelope['timestamp']}.{envelope['payload']}".encode(),
                       hashlib.sha256).hexdigest()  # fmt: skip
        for _ in range(2):  # a repeated delivery of the same message
            again = client.post(url, content=body, headers={"X-iZettle-Signature": mac})
            assert again.status_code in (200, 202), again.text
    till.settle()
    till.invoice(sale)
    assert len(till.invoices(sale)) == 1
    assert till.issues() == []


def test_an_access_token_that_expires_during_the_import_is_renewed(
    system: System, tenant: Tenant, uniconta: Uniconta, zettle: tuple[ZettleSandbox, str]
) -> None:
    sandbox, url = zettle
    for body in day_of_sales(random.Random(3), 30):
        sandbox.ring_up(body)
    # Every API call moves Zettle's clock 15 minutes: a token lasts eight calls.
    sandbox.apply_settings({"seconds_per_request": 900})
    till = open_till(system, tenant, uniconta, sandbox, url, page_size=4)
    grants = len(sandbox.state.tokens)
    assert grants >= 3, f"only {grants} grants: the token never expired"
    orders = till.records("/orders")
    assert len(orders) == 30
    assert len(till.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 30
    assert {i["reason"] for i in till.issues()} <= {"payment_split"}, "split sales only"
    secrets = stored_secrets(system, till.zettle_id)
    assert secrets["access_token"] in sandbox.state.tokens, "the newest token is kept"


def test_finance_payouts_are_imported_as_payout_records(till: Till) -> None:
    card = ring_up(till, {"products": [{"sku": "KAF-01", "name": "Cappuccino",
                                        "unit_price": 4200, "quantity": 2}],
                          "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    ring_up(
        till,
        {
            "products": [
                {"sku": "BOG-01", "name": "Kogebog", "unit_price": 24900, "vat_percentage": 0}
            ],
            "payments": [{"type": "IZETTLE_CASH"}],
        },
    )
    split = ring_up(till, {"products": [{"sku": "BAG-02", "name": "Rugbrød", "unit_price": 4995,
                                         "vat_percentage": 12, "quantity": 4}],
                           "payments": [{"type": "IZETTLE_CARD", "amount": 10000, "tip": 500},
                                        {"type": "IZETTLE_CASH"}]})  # fmt: skip
    refunded = till.zettle.refund(card["purchaseUUID1"], {"rows": [{"index": 0, "quantity": 1}]})
    till.settle()
    entry = till.zettle.payout({})
    till.pull("payouts")
    (payout,) = till.records("/payouts")
    assert (payout["provider"], payout["status"], payout["source_id"]) == (
        "zettle", "paid", entry["originatingTransactionUuid"])  # fmt: skip
    assert money(payout["net"]) == -Decimal(entry["amount"]) / 100
    lines = {line["psp_ref"]: line for line in payout["lines"]}
    card_uuid, split_uuid = card["payments"][0]["uuid"], split["payments"][0]["uuid"]
    refund_uuid = refunded["payments"][0]["uuid"]
    assert set(lines) == {card_uuid, split_uuid, refund_uuid}, "card payments only"
    assert (money(lines[card_uuid]["gross"]), lines[card_uuid]["order_ref"]) == (
        Decimal("84.00"), str(card["globalPurchaseNumber"]))  # fmt: skip
    assert money(lines[split_uuid]["gross"]) == Decimal("105.00"), "the card part with its tip"
    assert lines[refund_uuid]["type"] == "refund"
    assert lines[refund_uuid]["order_ref"] == str(card["globalPurchaseNumber"])
    for line in payout["lines"]:
        assert money(line["net"]) == money(line["gross"]) - money(line["fee"])
    assert sum(money(ln["net"]) for ln in payout["lines"]) == money(payout["net"])
    orders = {o["number"]: o for o in till.records("/orders")}
    assert orders[str(card["globalPurchaseNumber"])]["transaction_id"] == card_uuid
    till.pull("payouts")
    assert len(till.records("/payouts")) == 1, "read again, still one payout"
    till.zettle.ring_up({"products": [{"name": "Kop", "unit_price": 3000}]})
    till.zettle.payout({})
    till.pull("payouts")
    assert len(till.records("/payouts")) == 2


def test_a_reconciliation_answers_for_each_shop_booked_into_the_company(till: Till) -> None:
    # The till and an app (a webshop through the API) book into one Uniconta company: the
    # report counts each one's sales against its own invoices, not both together.
    app = till.tenant.api.post("/routes", json={
        "source": "app", "target": till.uniconta_id, "entities": ["party"],
        "commerce": {"policy": {**POLICY, "states": {"processing": "create_invoice"},
                                "payment_methods": {"card": POLICY["payment_methods"]
                                                    ["IZETTLE_CARD"]}}, "rules": {}}})  # fmt: skip
    assert app.status_code == 201, app.text
    coffee = {"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 2}
    ring_up(till, {"products": [coffee], "payments": [{"type": "IZETTLE_CARD"}]})
    now = till.system.clock.now().astimezone(BOOKS_ZONE)
    order = {
        "source_id": "9001", "number": "9001", "state": "processing", "currency": "DKK",
        "created_at": now.isoformat(), "paid_at": now.isoformat(),
        "lines": [{"source_id": "1", "kind": "item", "sku": "BOG-01", "description": "Kogebog",
                   "quantity": "1", "unit_price": "249.00", "tax_rate": "0",
                   "net_amount": "249.00", "tax_amount": "0.00"}],
        "total": "249.00", "total_tax": "0.00",
        "payment_method": {"code": "card", "title": "Kort"},
        "billing_address": {"line1": "Havnegade 1", "postal_code": "8000", "city": "Aarhus C",
                            "country": "DK"},
        "customer": {"email": "karen@kunde.dk", "name": "Karen Kunde"},
    }  # fmt: skip
    assert till.tenant.api.post("/orders", json=order).status_code == 201
    till.settle()

    report = reconciled(till.system, till.tenant, till.uniconta_id, now.strftime("%Y-%m"))
    per_shop = {
        sums["source_name"]: (sums["count"], sums["booked"], sums["amounts"]["DKK"]["source"])
        for sums in report["totals"]["commerce"].values()
    }
    assert per_shop == {"Butikken": (1, 1, "84.00"), "the app (API)": (1, 1, "249.00")}
