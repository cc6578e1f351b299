"""What the server works out itself on a write: numbers, stamps, derived values, roll-ups.

Uniconta assigns order and line numbers, computes line totals and stock availability, keeps an
order's totals and an item's stock figures in step with their lines, and removes an order's
lines with the order. These rules run inside a ``Transaction`` so a refusal later in the same
batch undoes them too.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.sandbox.uniconta.entities import ENTITIES, EntityDef
from ledgerbridge.sandbox.uniconta.store import Row, Transaction

CENT = Decimal("0.01")
ZERO = Decimal(0)

# Payment terms by code. "Lb. md. + 30" (løbende måned) means 30 days after the end of the
# invoice month. Any other code, or none, gives 14 days.
PAYMENT_TERM_DAYS = {"Netto 8": 8, "Netto 14": 14, "Netto 30": 30}
END_OF_MONTH_TERM_DAYS = {"Lb. md. + 30": 30}
DEFAULT_PAYMENT_DAYS = 14

ORDER = ENTITIES["DebtorOrderClient"]
ORDER_LINE = ENTITIES["DebtorOrderLineClient"]
ITEM = ENTITIES["InvItemClient"]
STOCK = ENTITIES["InvItemStorageClient"]
INVOICE = ENTITIES["DebtorInvoiceClient"]
INVOICE_LINE = ENTITIES["DebtorInvoiceLines"]
OPEN_ITEM = ENTITIES["DebtorTransOpenClient"]
JOURNAL = ENTITIES["GLDailyJournalClient"]
JOURNAL_LINE = ENTITIES["GLDailyJournalLineClient"]


def money(value: Decimal) -> Decimal:
    """Round to øre, halves away from zero, as amounts on a Danish invoice are rounded."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(qty: Decimal, price: Decimal, discount_pct: Decimal) -> Decimal:
    """``round(Qty * Price * (1 - DiscountPct/100), 2)``: a line's net amount."""
    return money(qty * price * (1 - discount_pct / 100))


def due_date(invoice_date: date, payment: str | None) -> date:
    """Due date from the invoice date and a payment-term code (unknown codes: 14 days)."""
    if payment in END_OF_MONTH_TERM_DAYS:
        last_day = calendar.monthrange(invoice_date.year, invoice_date.month)[1]
        month_end = invoice_date.replace(day=last_day)
        return month_end + timedelta(days=END_OF_MONTH_TERM_DAYS[payment])
    days = PAYMENT_TERM_DAYS.get(payment or "", DEFAULT_PAYMENT_DAYS)
    return invoice_date + timedelta(days=days)


def next_number(tx: Transaction, entity: str, *, consume: bool = True) -> int:
    """Next free order or invoice number; the series only moves forward, so a posted (and
    therefore deleted) order's number is never handed out again.
    """
    counters = tx.counters
    number = counters.order_number if entity == ORDER.name else counters.invoice_number
    while tx.exists(entity, number):
        number += 1
    if consume:
        if entity == ORDER.name:
            counters.order_number = number + 1
        else:
            counters.invoice_number = number + 1
    return number


def follow_loaded_numbers(tx: Transaction, definition: EntityDef, row: Row) -> None:
    """After an import, number series continue above the highest number loaded, so a new
    order never reuses the order number of an imported invoice.
    """
    counters = tx.counters
    if (definition is ORDER or definition is INVOICE) and row.get("OrderNumber"):
        counters.order_number = max(counters.order_number, row["OrderNumber"] + 1)
    if definition is INVOICE:
        counters.invoice_number = max(counters.invoice_number, row["InvoiceNumber"] + 1)


def assign_keys(tx: Transaction, definition: EntityDef, row: Row) -> None:
    """Server-assigned keys: an order number when 0 or absent, the next line number."""
    if definition is ORDER and not row.get("OrderNumber"):
        row["OrderNumber"] = next_number(tx, ORDER.name)
    elif definition is ORDER_LINE and not row.get("LineNumber"):
        lines = tx.children(ORDER_LINE.name, row.get("OrderNumber"))
        highest = max((line["LineNumber"] for line in lines), default=ZERO)
        row["LineNumber"] = Decimal(int(highest) + 1)


def stamp(
    tx: Transaction, definition: EntityDef, row: Row, now: datetime, *, new: bool, keep: bool
) -> None:
    """Server stamps: a new RowId and ``Created`` on insert, ``UpdatedAt`` on every write.

    ``keep`` (imports) keeps a ``Created``/``UpdatedAt`` given in the data.
    """
    if new:
        row["RowId"] = tx.counters.row_id
        tx.counters.row_id += 1
        if "Created" in definition.fields and not (keep and row.get("Created")):
            row["Created"] = now.astimezone(UTC)
    if "UpdatedAt" in definition.fields and not (keep and row.get("UpdatedAt")):
        row["UpdatedAt"] = now.astimezone(UTC)


def derive(tx: Transaction, definition: EntityDef, row: Row) -> None:
    """Fill read-only values computed from the row itself or from its children."""
    if definition is ORDER_LINE:
        row["Total"] = line_total(
            row.get("Qty", ZERO), row.get("Price", ZERO), row.get("DiscountPct", ZERO)
        )
    elif definition is STOCK:
        row["Available"] = row.get("Qty", ZERO) - row.get("QtyReserved", ZERO)
    elif definition is ITEM:
        row.update(stock_figures(tx.children(STOCK.name, row["Item"])))
    elif definition is ORDER:
        row.update(order_figures(tx.children(ORDER_LINE.name, row["OrderNumber"])))
        if not row.get("Name"):
            debtor = tx.get("DebtorClient", row.get("Account"))
            if debtor is not None:
                row["Name"] = debtor.get("Name")
    elif definition is OPEN_ITEM:
        row["Paid"] = row.get("AmountOpen", ZERO) == 0
    elif definition is JOURNAL_LINE:
        row["Amount"] = row.get("Debit", ZERO) - row.get("Credit", ZERO)
        row["AmountCur"] = row.get("DebitCur", ZERO) - row.get("CreditCur", ZERO)
    elif definition is JOURNAL:
        row["NumberOfLines"] = len(tx.children(JOURNAL_LINE.name, row["Journal"]))


def stock_figures(stock: Iterable[Row]) -> dict[str, Decimal]:
    """An item's stock: the sums over its warehouses."""
    qty = reserved = ordered = ZERO
    for row in stock:
        qty += row.get("Qty", ZERO)
        reserved += row.get("QtyReserved", ZERO)
        ordered += row.get("QtyOrdered", ZERO)
    return {
        "QtyOnStock": qty,
        "QtyReserved": reserved,
        "QtyOrdered": ordered,
        "Available": qty - reserved,
    }


def order_figures(lines: list[Row]) -> dict[str, Any]:
    """An order's total (net, before VAT) and line count."""
    return {"OrderTotal": sum((line["Total"] for line in lines), ZERO), "NoLines": len(lines)}


def after_write(
    tx: Transaction, definition: EntityDef, old: Row | None, new: Row | None, now: datetime
) -> None:
    """Roll a child's change up to its parent (order totals, item stock), and let a posted
    invoice's open item follow a change of its dates.
    """
    if definition is ORDER_LINE:
        for number in _parents("OrderNumber", old, new):
            order = tx.get(ORDER.name, number)
            if order is not None:
                figures = order_figures(tx.children(ORDER_LINE.name, number))
                tx.put(ORDER, {**order, **figures, "UpdatedAt": now.astimezone(UTC)})
    elif definition is STOCK:
        for item_key in _parents("Item", old, new):
            item = tx.get(ITEM.name, item_key)
            if item is not None:
                tx.put(ITEM, {**item, **stock_figures(tx.children(STOCK.name, item_key))})
    elif definition is JOURNAL_LINE:
        # Counted by the change, not recounted: a journal may hold a month of payouts.
        before = old.get("Journal") if old is not None else None
        after = new.get("Journal") if new is not None else None
        for name, delta in ((before, -1), (after, 1)):
            journal = tx.get(JOURNAL.name, name) if name is not None and before != after else None
            if journal is not None:
                lines = int(journal.get("NumberOfLines") or 0) + delta
                tx.put(JOURNAL, {**journal, "NumberOfLines": lines})
    elif definition is INVOICE and old is not None and new is not None:
        for open_item in tx.children(OPEN_ITEM.name, new["InvoiceNumber"]):
            tx.put(OPEN_ITEM, {**open_item, "Date": new["Date"], "DueDate": new["DueDate"]})


def cascade_delete(tx: Transaction, definition: EntityDef, row: Row) -> None:
    """Delete what belongs to a deleted row: an order's lines, an item's stock rows."""
    if definition is ORDER:
        for line in tx.children(ORDER_LINE.name, row["OrderNumber"]):
            tx.remove(ORDER_LINE, ORDER_LINE.key_of(line))
    elif definition is ITEM:
        for stock in tx.children(STOCK.name, row["Item"]):
            tx.notify(STOCK, tx.remove(STOCK, STOCK.key_of(stock)), "Delete")


def _parents(name: str, old: Row | None, new: Row | None) -> list[Any]:
    """Distinct parent keys a change touched (a row may have moved between parents)."""
    values = [row[name] for row in (old, new) if row is not None and row.get(name) is not None]
    return list(dict.fromkeys(values))
