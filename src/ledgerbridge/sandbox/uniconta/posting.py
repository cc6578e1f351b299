"""Posting an order as an invoice, settling credit notes and registering payments.

Posting is Uniconta's ``InvoiceAPI.PostInvoice``: the order and its lines become a
``DebtorInvoiceClient`` with ``DebtorInvoiceLines`` and an open item
(``DebtorTransOpenClient``), and the order is deleted. The same pricing code prices seeded
invoices, so imported and posted invoices add up the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerbridge.sandbox.uniconta.rules import (
    INVOICE,
    INVOICE_LINE,
    JOURNAL_LINE,
    OPEN_ITEM,
    ORDER,
    ZERO,
    after_write,
    cascade_delete,
    derive,
    due_date,
    line_total,
    money,
    next_number,
    stamp,
)
from ledgerbridge.sandbox.uniconta.store import Payment, Row, Transaction

DEFAULT_VAT = "S25"

DOCUMENT_TYPES = ("Invoice", "Creditnote", "Packnote", "OrderConfirmation", "Offer")
"""``CompanyLayoutType`` members the booking service's ``documentType`` accepts (the layout
an invoice is printed with; a negative total prints as a credit note whatever is asked)."""

PAID_AT_POSTING = frozenset({"Creditcard", "NetCash"})
"""Payment methods of a term whose invoice is paid when it is posted: the payment goes to the
term's account at posting time (a card acquirer's receivable, the till)."""

DELIVERY_FIELDS = (
    "DeliveryName", "DeliveryAddress1", "DeliveryAddress2", "DeliveryAddress3",
    "DeliveryZipCode", "DeliveryCity", "DeliveryCountry",
)  # fmt: skip


class PostingRefused(Exception):
    """A posting Uniconta answers with an ``ErrorCodes`` value instead of ``Succes``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PricedInvoice:
    """Invoice lines with their amounts, and the invoice's net, VAT and total."""

    lines: list[Row]
    net: Decimal
    vat: Decimal

    @property
    def total(self) -> Decimal:
        """Net plus VAT."""
        return self.net + self.vat


def price_lines(
    order_lines: Sequence[Mapping[str, Any]],
    invoice_number: int,
    currency: str,
    item_of: Callable[[str], Mapping[str, Any] | None],
    rate_of: Callable[[str], Decimal | None],
) -> PricedInvoice:
    """Turn order lines into invoice lines and add up net and VAT.

    A line's VAT code is its own ``Vat``, else its item's, else ``S25``. VAT is computed per
    code on the code's net sum and rounded once, as an invoice's VAT specification shows it.
    Text and unit fall back to the item's name and unit.
    """
    lines: list[Row] = []
    net_by_code: dict[str, Decimal] = {}
    for line in order_lines:
        item = item_of(line["Item"]) if line.get("Item") else None
        code = line.get("Vat") or (item.get("Vat") if item else None) or DEFAULT_VAT
        if rate_of(code) is None:
            raise PostingRefused(
                "RecordNotFound",
                f"Line {line.get('LineNumber')}: VAT code {code!r} does not exist in GLVatClient",
            )
        net = line_total(
            line.get("Qty", ZERO), line.get("Price", ZERO), line.get("DiscountPct", ZERO)
        )
        net_by_code[code] = net_by_code.get(code, ZERO) + net
        lines.append(
            {
                "InvoiceNumber": invoice_number,
                "LineNumber": line.get("LineNumber"),
                "Item": line.get("Item") or None,
                "Text": line.get("Text") or (item.get("Name") if item else None),
                "InvoiceQty": line.get("Qty", ZERO),
                "Unit": line.get("Unit") or (item.get("Unit") if item else None),
                "SalesPrice": line.get("Price", ZERO),
                "DiscountPct": line.get("DiscountPct", ZERO),
                "NetAmount": net,
                "Vat": code,
                "Currency": currency,
            }
        )
    vat = sum(
        (money(amount * (rate_of(code) or ZERO) / 100) for code, amount in net_by_code.items()),
        ZERO,
    )
    return PricedInvoice(lines, sum(net_by_code.values(), ZERO), vat)


def post_order(
    tx: Transaction,
    order_number: int,
    invoice_date: date,
    invoice_number: int,
    simulate: bool,
    now: datetime,
) -> dict[str, Any]:
    """Post one order; returns the ``Succes`` result or raises ``PostingRefused``.

    With ``simulate`` everything is checked and computed, and nothing is stored.
    """
    order = tx.get(ORDER.name, order_number)
    if order is None:
        raise PostingRefused(
            "RecordNotFound", f"DebtorOrderClient with OrderNumber {order_number} does not exist"
        )
    order_lines = tx.children("DebtorOrderLineClient", order_number)
    if not order_lines:
        raise PostingRefused("NoLinesToInvoice", f"Order {order_number} has no lines to invoice")
    debtor = tx.get("DebtorClient", order.get("Account"))
    if debtor is None:
        raise PostingRefused(
            "RecordNotFound",
            f"Order {order_number}: DebtorClient with Account {order.get('Account')!r} "
            "does not exist",
        )
    settles = _settled_invoice(tx, order)
    if invoice_number:
        if tx.exists(INVOICE.name, invoice_number):
            raise PostingRefused("RecordExists", f"Invoice number {invoice_number} is already used")
    else:
        invoice_number = next_number(tx, INVOICE.name, consume=not simulate)
    currency = order.get("Currency") or debtor.get("Currency") or tx.company.currency
    payment = order.get("Payment") or debtor.get("Payment")
    term = tx.get("PaymentTermClient", payment) if payment else None
    priced = price_lines(
        order_lines,
        invoice_number,
        currency,
        lambda item: tx.get("InvItemClient", item),
        lambda code: _rate(tx, code),
    )
    result = {
        "Err": "Succes",
        "InvoiceNumber": invoice_number,
        "Date": invoice_date.isoformat(),
        "NetAmount": priced.net,
        "VatAmount": priced.vat,
        "TotalAmount": priced.total,
    }
    if simulate:
        return result
    invoice = {
        "InvoiceNumber": invoice_number,
        "Account": order["Account"],
        "Name": order.get("Name") or debtor.get("Name"),
        "Date": invoice_date,
        "DueDate": _due(invoice_date, payment, term),
        "Payment": payment,
        "Currency": currency,
        "NetAmount": priced.net,
        "VatAmount": priced.vat,
        "TotalAmount": priced.total,
        "OrderNumber": order_number,
        "YourRef": order.get("YourRef"),
        "OurRef": order.get("OurRef"),
        "Remark": order.get("Remark"),
        "Settlements": order.get("Settlements"),
        **{name: order.get(name) for name in DELIVERY_FIELDS},
    }
    store_invoice(tx, invoice, priced.lines, now)
    if settles is not None and priced.total < 0:
        settle_credit_note(tx, settles, invoice_number)
    elif term is not None and term.get("PaymentMethod") in PAID_AT_POSTING and priced.total > 0:
        apply_payment(tx, invoice_number, priced.total)
        tx.company.payments.append(Payment(invoice_number, priced.total, invoice_date))
    cascade_delete(tx, ORDER, tx.remove(ORDER, order_number))
    return result


def store_invoice(tx: Transaction, invoice: Row, lines: Sequence[Row], now: datetime) -> None:
    """Store a posted invoice, its lines and its open item (open for the full total)."""
    stamp(tx, INVOICE, invoice, now, new=True, keep=False)
    tx.put(INVOICE, invoice)
    for line in lines:
        row = dict(line)
        stamp(tx, INVOICE_LINE, row, now, new=True, keep=False)
        tx.put(INVOICE_LINE, row)
    open_item: Row = {
        "Account": invoice["Account"],
        "Invoice": invoice["InvoiceNumber"],
        "Date": invoice["Date"],
        "DueDate": invoice["DueDate"],
        "Amount": invoice["TotalAmount"],
        "AmountOpen": invoice["TotalAmount"],
        "Currency": invoice["Currency"],
    }
    stamp(tx, OPEN_ITEM, open_item, now, new=True, keep=False)
    derive(tx, OPEN_ITEM, open_item)
    tx.put(OPEN_ITEM, open_item)


def settle_credit_note(tx: Transaction, original: int, credit_note: int) -> None:
    """Settle a credit note against the invoice it credits.

    The original's open amount drops by the credit's absolute total (never below zero) and
    the credit note's own open item is closed.
    """
    credit_items = tx.children(OPEN_ITEM.name, credit_note)
    credit = sum((row["AmountOpen"] for row in credit_items), ZERO)
    remaining = -credit
    for row in tx.children(OPEN_ITEM.name, original):
        if remaining <= 0 or row["AmountOpen"] <= 0:
            continue
        applied = min(remaining, row["AmountOpen"])
        remaining -= applied
        _set_open(tx, row, row["AmountOpen"] - applied)
    for row in credit_items:
        _set_open(tx, row, ZERO)


def apply_payment(tx: Transaction, invoice_number: int, amount: Decimal) -> Row:
    """Book a payment on an invoice's open item: the open amount moves towards zero by
    ``amount`` (an overpayment is not carried as a credit).
    """
    items = tx.children(OPEN_ITEM.name, invoice_number)
    if not items:
        raise PostingRefused(
            "RecordNotFound", f"Invoice {invoice_number} has no open item in DebtorTransOpenClient"
        )
    row = items[0]
    open_amount: Decimal = row["AmountOpen"]
    if open_amount >= 0:
        remaining = max(open_amount - amount, ZERO)
    else:
        remaining = min(open_amount + amount, ZERO)
    return _set_open(tx, row, remaining)


def _set_open(tx: Transaction, row: Row, amount_open: Decimal) -> Row:
    """Store an open item with a new open amount; ``Paid`` follows."""
    changed = {**row, "AmountOpen": amount_open}
    derive(tx, OPEN_ITEM, changed)
    return tx.put(OPEN_ITEM, changed)


def _settled_invoice(tx: Transaction, order: Row) -> int | None:
    """The invoice an order's ``Settlements`` names, which must exist."""
    text = order.get("Settlements")
    if not text:
        return None
    number = int(text) if text.strip().isdigit() else None
    if number is None or not tx.exists(INVOICE.name, number):
        raise PostingRefused(
            "InvoiceNotFound",
            f"Order {order['OrderNumber']}: Settlements names invoice {text!r}, "
            "which does not exist",
        )
    return number


def _due(invoice_date: date, payment: str | None, term: Row | None) -> date:
    """Due date: the days of the company's payment term when it has the code (a card or
    cash term: the invoice date), else the built-in term rules."""
    if term is not None and term.get("PaymentMethod") in PAID_AT_POSTING:
        return invoice_date
    if term is not None and term.get("PaymentMethod") == "NetDays" and term.get("Days") is not None:
        return invoice_date + timedelta(days=int(term["Days"]))
    return due_date(invoice_date, payment)


def _rate(tx: Transaction, code: str) -> Decimal | None:
    """Rate of a VAT code in percent, or ``None`` for an unknown code."""
    vat = tx.get("GLVatClient", code)
    return vat.get("Rate", ZERO) if vat is not None else None


def book_journal(tx: Transaction, journal: str, booked_on: date, now: datetime) -> list[Row]:
    """Book a GL daily journal's lines, as a person does in Uniconta once they approved them:
    the lines must balance; a debtor line with an invoice number settles that invoice's open
    item by what it credits (a payment registered part by part lands on the invoice this way);
    booking takes the lines out of the journal. Returns the lines booked."""
    lines = tx.children(JOURNAL_LINE.name, journal)
    total = sum((row.get("Debit", ZERO) - row.get("Credit", ZERO) for row in lines), ZERO)
    if total != 0:
        raise PostingRefused(
            "JournalNotBalanced", f"Journal {journal}: the lines add up to {total}, not 0"
        )
    for row in lines:
        if row.get("AccountType") != "Debtor" or not row.get("Invoice"):
            continue
        paid = row.get("Credit", ZERO) - row.get("Debit", ZERO)
        number = int(str(row["Invoice"]))
        items = tx.children(OPEN_ITEM.name, number)
        if items and items[0].get("Account") != row.get("Account"):
            raise PostingRefused(
                "AccountMismatch",
                f"Journal {journal}: invoice {number} is on debtor {items[0].get('Account')}, "
                f"not {row.get('Account')}",
            )
        if paid > 0:
            apply_payment(tx, number, paid)
            tx.company.payments.append(Payment(number, paid, booked_on))
    for row in lines:
        tx.remove(JOURNAL_LINE, JOURNAL_LINE.key_of(row))
        after_write(tx, JOURNAL_LINE, row, None, now)
    return lines
