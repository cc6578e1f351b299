"""Search filters of the served list endpoints, applied to a company's rows.

Each function takes already-parsed query parameters (``None`` = not given) and returns matching
rows in id order. Date ranges follow the spec's wording: ``…From`` includes, ``…To`` excludes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from decimal import Decimal

from ledgerbridge.sandbox.tripletex.books import Book
from ledgerbridge.sandbox.tripletex.render import Row

Predicate = Callable[[Row], bool]


def _filter(rows: Iterable[Row], *predicates: Predicate | None) -> list[Row]:
    """Rows passing every given predicate."""
    active = [p for p in predicates if p is not None]
    return [row for row in rows if all(p(row) for p in active)]


def _in(field: str, wanted: Collection[object] | None) -> Predicate | None:
    """Field value is one of ``wanted`` (a "List of IDs" filter)."""
    if wanted is None:
        return None
    return lambda row: row.get(field) in wanted


def _equals(field: str, wanted: object | None) -> Predicate | None:
    """Field value equals ``wanted`` exactly."""
    if wanted is None:
        return None
    return lambda row: row.get(field) == wanted


def _contains(field: str, wanted: str | None) -> Predicate | None:
    """Field contains ``wanted``, ignoring case (the spec's "Containing")."""
    if wanted is None:
        return None
    needle = wanted.casefold()
    return lambda row: needle in str(row.get(field) or "").casefold()


def _date_range(field: str, start: str | None, end: str | None) -> Predicate | None:
    """ISO date in ``[start, end)``."""
    if start is None and end is None:
        return None
    return lambda row: (
        (start is None or row.get(field, "") >= start) and (end is None or row.get(field, "") < end)
    )


def _number_range(field: str, low: Decimal | None, high: Decimal | None) -> Predicate | None:
    """Amount in ``[low, high)`` ("From and including", "To and excluding")."""
    if low is None and high is None:
        return None
    return lambda row: (
        row.get(field) is not None
        and ((low is None or row[field] >= low) and (high is None or row[field] < high))
    )


def _flag(field: str, wanted: bool) -> Predicate:
    """Boolean field equals ``wanted`` (a missing flag counts as false)."""
    return lambda row: bool(row.get(field)) == wanted


def _changed_since(since: datetime | None) -> Predicate | None:
    """Changed at or after ``since``."""
    if since is None:
        return None
    return lambda row: row["_changed"] >= since


def customers(
    book: Book,
    ids: list[int] | None = None,
    numbers: list[int] | None = None,
    organization_number: str | None = None,
    email: str | None = None,
    invoice_email: str | None = None,
    name: str | None = None,
    mobile: str | None = None,
    inactive: bool | None = False,
    manager_ids: list[int] | None = None,
    changed_since: datetime | None = None,
) -> list[Row]:
    """``GET /customer``; ``isInactive`` defaults to false as the spec declares."""
    return _filter(
        book.rows("Customer"),
        _in("id", ids),
        _in("customerNumber", numbers),
        _equals("organizationNumber", organization_number),
        _equals("email", email),
        _equals("invoiceEmail", invoice_email),
        _contains("name", name),
        _equals("phoneNumberMobile", mobile),
        _equals("isInactive", inactive),
        _in("accountManager", manager_ids),
        _changed_since(changed_since),
    )


def products(
    book: Book,
    ids: list[int] | None = None,
    product_numbers: list[str] | None = None,
    name: str | None = None,
    ean: str | None = None,
    flags: dict[str, bool] | None = None,
    references: dict[str, list[int]] | None = None,
    price_ranges: dict[str, tuple[Decimal | None, Decimal | None]] | None = None,
) -> list[Row]:
    """``GET /product``: ``flags`` are boolean equals, ``references`` id lists per field."""
    predicates: list[Predicate | None] = [
        _in("id", ids),
        _in("number", product_numbers),
        _contains("name", name),
        _equals("ean", ean),
    ]
    for field, flag in (flags or {}).items():
        predicates.append(_flag(field, flag))
    for field, wanted in (references or {}).items():
        predicates.append(_in(field, wanted))
    for field, (low, high) in (price_ranges or {}).items():
        predicates.append(_number_range(field, low, high))
    return _filter(book.rows("Product"), *predicates)


def vat_types(
    rows: Iterable[Row],
    ids: list[int] | None = None,
    numbers: list[str] | None = None,
    type_of_vat: str | None = None,
) -> list[Row]:
    """``GET /ledger/vatType``: ``typeOfVat`` keeps the VAT types of that direction."""
    kinds = {
        "OUTGOING": ("OUTGOING", "NONE"),
        "INCOMING": ("INCOMING", "NONE"),
        "INCOMING_INVOICE": ("INCOMING", "NONE"),
        "PROJECT": ("OUTGOING", "NONE"),
        "LEDGER": ("OUTGOING", "INCOMING", "NONE"),
    }
    wanted = kinds.get(type_of_vat) if type_of_vat else None
    return _filter(rows, _in("id", ids), _in("number", numbers), _in("_kind", wanted))


def orders(
    book: Book,
    date_from: str,
    date_to: str,
    ids: list[int] | None = None,
    number: str | None = None,
    customer_ids: list[int] | None = None,
    delivery_comment: str | None = None,
    closed: bool | None = None,
    subscription: bool | None = None,
) -> list[Row]:
    """``GET /order`` (orders dated in ``[orderDateFrom, orderDateTo)``)."""
    return _filter(
        book.rows("Order"),
        _date_range("orderDate", date_from, date_to),
        _in("id", ids),
        _equals("number", number),
        _in("customer", customer_ids),
        _contains("deliveryComment", delivery_comment),
        None if closed is None else _flag("isClosed", closed),
        None if subscription is None else _flag("isSubscription", subscription),
    )


def invoices(
    book: Book,
    date_from: str,
    date_to: str,
    ids: list[int] | None = None,
    number: int | None = None,
    kid: str | None = None,
    voucher_ids: list[int] | None = None,
    customer_id: int | None = None,
) -> list[Row]:
    """``GET /invoice`` (charged outgoing invoices in ``[invoiceDateFrom, invoiceDateTo)``)."""
    return _filter(
        book.rows("Invoice"),
        _date_range("invoiceDate", date_from, date_to),
        _in("id", ids),
        _equals("invoiceNumber", number),
        _equals("kid", kid),
        _in("voucher", voucher_ids),
        _equals("customer", customer_id),
    )


def vouchers(
    book: Book,
    date_from: str,
    date_to: str,
    ids: list[int] | None = None,
    numbers: list[int] | None = None,
    number_from: int | None = None,
    number_to: int | None = None,
    type_ids: list[int] | None = None,
) -> list[Row]:
    """``GET /ledger/voucher``: posted vouchers (the voucher reception is separate)."""
    return _filter(
        book.rows("Voucher"),
        lambda row: not row.get("_reception"),
        _date_range("date", date_from, date_to),
        _in("id", ids),
        _in("number", numbers),
        (lambda row: row["number"] >= number_from) if number_from is not None else None,
        (lambda row: row["number"] < number_to) if number_to is not None else None,
        _in("voucherType", type_ids),
    )


def reception(
    book: Book, date_from: str | None, date_to: str | None, search: str | None
) -> list[Row]:
    """``GET /ledger/voucher/>voucherReception``: documents received but not yet booked."""
    return _filter(
        book.rows("Voucher"),
        lambda row: bool(row.get("_reception")),
        _date_range("date", date_from, date_to),
        _contains("description", search),
    )


def voucher_types(book: Book, name: str | None) -> list[Row]:
    """``GET /ledger/voucherType``."""
    return _filter(book.rows("VoucherType"), _contains("name", name))


def postings(
    book: Book,
    date_from: str,
    date_to: str,
    references: dict[str, int] | None = None,
    account_from: int | None = None,
    account_to: int | None = None,
    posting_type: str | None = None,
) -> list[Row]:
    """``GET /ledger/posting``; ``accountNumberFrom``/``To`` are taken as inclusive bounds."""

    def account_number(row: Row) -> int:
        account = book.get("Account", row["account"])
        return int(account["number"]) if account else -1

    predicates: list[Predicate | None] = [
        _date_range("date", date_from, date_to),
        _equals("type", posting_type),
    ]
    for field, wanted in (references or {}).items():
        predicates.append(_equals(field, wanted))
    if account_from is not None:
        predicates.append(lambda row: account_number(row) >= account_from)
    if account_to is not None:
        predicates.append(lambda row: account_number(row) <= account_to)
    return _filter(book.rows("Posting"), *predicates)


def bank_statements(
    book: Book, ids: list[int] | None = None, account_ids: list[int] | None = None
) -> list[Row]:
    """``GET /bank/statement`` (the spec offers no date filter; each has fromDate/toDate)."""
    return _filter(book.rows("BankStatement"), _in("id", ids), _in("_account", account_ids))


def bank_transactions(book: Book, statement_id: int) -> list[Row]:
    """``GET /bank/statement/transaction?bankStatementId=``."""
    return _filter(book.rows("BankTransaction"), _equals("bankStatement", statement_id))


def payment_types(
    book: Book, ids: list[int] | None, description: str | None, query: str | None
) -> list[Row]:
    """``GET /invoice/paymentType``."""
    return _filter(
        book.rows("PaymentType"),
        _in("id", ids),
        _contains("description", description),
        _contains("description", query),
    )
