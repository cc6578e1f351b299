"""The webshop demo's payment side: a Stripe payout matched in Uniconta's cash journal (PayMatch)
and a day of sales at a Zettle till booked as invoices.

Both are set up through the hub's REST API, as a user would, on the Uniconta connection the
webshop part made; the sandboxes play Stripe, the till and its owner.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from ledgerbridge.sandbox.stripe import StripeSandbox
from ledgerbridge.sandbox.uniconta import UnicontaSandbox
from ledgerbridge.sandbox.zettle import ZettleSandbox

PAYMATCH: dict[str, Any] = {
    # The accounts seed_webshop creates, as docs/paymatch.md asks a user to set them up.
    "journal": "PAYMATCH",
    "receivable_account": "5820",
    "fee_account": "7220",
    "bank_account": "5900",
    "error_account": "5990",
    "group_lines": False,
}
CARD_METHODS = frozenset({"stripe", "woocommerce_payments", "quickpay", "mobilepay"})
UNKNOWN_ORDER = "99001"
"""A charge for an order the shop never reported: PayMatch puts it on the error account."""

POS_DEBTOR = "KASSE"
POS_POLICY: dict[str, Any] = {
    # A sale is complete when rung up; card and cash are paid at the till; one POS debtor.
    "states": {"completed": "create_invoice"},
    # Each method's account (the card receivable, the till's cash): a sale paid part by card,
    # part in cash is registered part by part in the cash journal.
    "payment_methods": {
        "IZETTLE_CARD": {"payment_term": "Kort", "registered_as_paid": True, "account": "5820"},
        "IZETTLE_CASH": {"payment_term": "Kontant", "registered_as_paid": True, "account": "5800"},
    },
    "payment_journal": "PAYMATCH",
    "customers": {"shared_b2c_account": POS_DEBTOR},
    "vat": {"domestic_codes": {"25": "U25", "12": "U12", "0": "U0"}},
    "rounding_account": "AFRUND",
    "refund_item": "REFUSION",
}
TILL_ITEMS = (
    ("KAF-01", "Cappuccino", 4200, 25),
    ("KAF-02", "Caffè latte", 4500, 25),
    ("BAG-01", "Kanelsnegl", 3250, 12),
    ("BOG-01", "Kogebog", 24900, 0),
)
"""SKU, name, price with VAT in øre, VAT rate: a café with a bakery and a book corner."""

Post = Callable[[httpx.Client, str, dict[str, Any]], dict[str, Any]]


def stripe_payout(
    console: Console,
    api: httpx.Client,
    post: Post,
    settle: Callable[[], None],
    stripe: StripeSandbox,
    stripe_url: str,
    uniconta: UnicontaSandbox,
    company_id: int,
    uniconta_id: str,
    payments: int = 8,
) -> None:
    """Card orders the shop booked are paid out by Stripe (minus its fees) together with a
    charge for an order the shop never sent; PayMatch posts the payout in the cash journal."""
    # Card orders the shop booked and Uniconta registered as paid at booking (term Kort).
    paid = {
        str(r["data"]["reference"])
        for r in all_records(api, "/invoices")
        if r["data"]["kind"] == "invoice" and r["data"]["status"] == "paid"
    }
    orders = [
        r["data"]
        for r in all_records(api, "/orders")
        if (r["data"].get("payment_method") or {}).get("code") in CARD_METHODS
        and str(r["data"]["number"] or r["data"]["source_id"]) in paid
        and r["data"].get("currency") == stripe.currency.upper()
    ][:payments]
    for order in orders:
        stripe.create_charge(
            {
                "amount": int(Decimal(str(order["total"])) * 100),
                "order_id": order["number"] or order["source_id"],
                "order_number": order["number"] or order["source_id"],
            }
        )
    stripe.create_charge({"amount": 19900, "order_id": UNKNOWN_ORDER})
    connection = post(api, "/connections", {
        "system": "stripe", "name": "Stripe",
        "settings": {"base_url": stripe_url},
        "secrets": {"secret_key": stripe.default_key},
    })  # fmt: skip
    # Payouts from today on: earlier ones were reconciled by hand before the integration.
    start = stripe.clock.now().date().isoformat()
    post(api, "/routes", {"source": connection["id"], "target": uniconta_id, "entities": [],
                          "paymatch": {**PAYMATCH, "start_date": start}})  # fmt: skip
    api.post(f"/connections/{connection['id']}/import").raise_for_status()
    settle()
    # Stripe pays the balance out; its webhook says so when the money has reached the bank.
    payout = stripe.create_payout({})
    stripe.set_payout_status(payout["id"], {"status": "paid"})
    stripe.wait_for_webhooks()
    settle()
    rows = uniconta.all(company_id, "GLDailyJournalLineClient")
    table = Table(title="Stripe payout in Uniconta's PAYMATCH cash journal (to approve and book)")
    for column in ("account", "amount", "invoice", "text"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for row in rows:
        amount = Decimal(str(row.get("Amount") or 0))
        table.add_row(str(row["Account"]), f"{amount:.2f}", str(row.get("Invoice") or ""),
                      str(row.get("Text") or ""))  # fmt: skip
    console.print(table)
    matched = sum(1 for r in rows if r["Account"] == PAYMATCH["receivable_account"])
    unmatched = sum(1 for r in rows if r["Account"] == PAYMATCH["error_account"])
    console.print(
        f"PayMatch: {matched} payments matched to their invoices, {unmatched} on the error "
        f"account {PAYMATCH['error_account']} (order {UNKNOWN_ORDER} is unknown to the shop)"
    )


def prepare_till(uniconta: UnicontaSandbox, company_id: int) -> None:
    """What the accountant sets up in Uniconta for the till: a 12 % VAT code, its items and
    the debtor every sale is booked on."""
    uniconta.load(company_id, "GLVatClient", [
        {"Vat": "U12", "Name": "Salgsmoms 12%", "VatType": "Sales", "Rate": 12}])  # fmt: skip
    codes = {25: "U25", 12: "U12", 0: "U0"}
    uniconta.load(company_id, "InvItemClient", [
        {"Item": sku, "Name": name, "ItemType": "Item", "Vat": codes[rate], "Unit": "Piece",
         "SalesPrice1": price / 100}
        for sku, name, price, rate in TILL_ITEMS
    ])  # fmt: skip
    uniconta.load(company_id, "DebtorClient", [
        {"Account": POS_DEBTOR, "Name": "Kassesalg (Zettle)", "Group": "PRIV",
         "Country": "Denmark", "Currency": "DKK"}])  # fmt: skip


def zettle_day(
    console: Console,
    api: httpx.Client,
    post: Post,
    settle: Callable[[], None],
    zettle: ZettleSandbox,
    zettle_url: str,
    uniconta: UnicontaSandbox,
    company_id: int,
    uniconta_id: str,
    sales: int = 12,
) -> None:
    """A day at the till: card and cash sales, a discount, a refund; each booked in Uniconta."""
    rng = random.Random(7)
    rung: list[dict[str, Any]] = []
    for n in range(sales):
        rows = [
            {"sku": sku, "name": name, "unit_price": price, "vat_percentage": rate,
             "quantity": rng.choice([1, 1, 2])}
            for sku, name, price, rate in rng.sample(TILL_ITEMS, rng.randint(1, 3))
        ]  # fmt: skip
        payments: list[dict[str, Any]] = [
            {"type": "IZETTLE_CASH" if n % 3 == 0 else "IZETTLE_CARD"}
        ]
        if n == 4:  # paid part by card, the rest in cash
            payments = [{"type": "IZETTLE_CARD", "amount": 2000}, {"type": "IZETTLE_CASH"}]
        body: dict[str, Any] = {"products": rows, "payments": payments}
        if n % 4 == 1:
            body["discount"] = {"percentage": 10}
        rung.append(zettle.ring_up(body))
    refunded = rung[1]
    zettle.refund(str(refunded["purchaseUUID1"]), {})
    connection = post(api, "/connections", {
        "system": "zettle", "name": "Caféen",
        "settings": {"base_url": zettle_url, "contact_email": "kasse@kaffeklubben.example"},
        "secrets": {"api_key": zettle.default_key.key},
    })  # fmt: skip
    post(api, "/routes", {"source": connection["id"], "target": uniconta_id, "entities": [],
                          "commerce": {"policy": POS_POLICY, "rules": {}}})  # fmt: skip
    api.post(f"/connections/{connection['id']}/import").raise_for_status()
    settle()
    numbers = {str(sale["globalPurchaseNumber"]) for sale in rung}
    booked = [r for r in uniconta.all(company_id, "DebtorInvoiceClient")
              if str(r.get("YourRef")) in numbers]  # fmt: skip
    invoices = [r for r in booked if Decimal(str(r["TotalAmount"])) >= 0]
    credit_notes = len(booked) - len(invoices)
    till_total = sum(Decimal(sale["amount"]) for sale in rung) / 100
    booked_total = sum((Decimal(str(r["TotalAmount"])) for r in invoices), Decimal(0))
    console.print(
        f"Zettle: {len(rung)} sales at the till (DKK {till_total:.2f}) → {len(invoices)} "
        f"booked invoices on debtor {POS_DEBTOR} (DKK {booked_total:.2f}), {credit_notes} credit "
        f"note for the refunded sale {refunded['globalPurchaseNumber']}"
    )
    issues = api.get(f"/connections/{connection['id']}/issues").json()
    for issue in (i for i in issues if i["reason"] == "payment_split"):
        console.print(f"  left open for a person (payment_split): {issue['message']}")
    split = {str(sale["globalPurchaseNumber"]) for sale in rung if len(sale["payments"]) > 1}
    for invoice in (r for r in invoices if str(r.get("YourRef")) in split):
        number = str(invoice["InvoiceNumber"])
        parts = [
            f"{-Decimal(str(r.get('Amount') or 0)):.2f}"
            for r in uniconta.all(company_id, "GLDailyJournalLineClient")
            if r.get("AccountType") == "Debtor" and str(r.get("Invoice")) == number
        ]
        console.print(
            f"  sale {invoice['YourRef']} paid part by card, part in cash: invoice {number} "
            f"booked open, a payment line per part ({', '.join(parts)} DKK) in cash journal "
            f"{POS_POLICY['payment_journal']} against it, to approve and book"
        )


def all_records(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        page = api.get(path, params=params).json()
        items.extend(page["items"])
        after = page.get("next")
        if not after:
            return items
