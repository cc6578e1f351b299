"""Zettle JSON → canonical records: pure functions, no I/O.

A sale (a purchase) becomes an ``Order``: one line per product row at its net amount after
every discount (``rowTaxableAmount``: Zettle spreads a purchase discount over the rows and
computes VAT after discounts), its VAT rate, SKU, name and variant; a service charge and tips
are lines of their own. A refund (a negative purchase pointing at its original with
``refundsPurchaseUUID1``) becomes a ``Refund`` against that order, its rows found again by
their variant. The Finance API's LIQUID ledger becomes ``Payout``s.

Zettle facts relied on (``shared/research/api-zettle.md``): amounts are integers in minor units,
``amount`` includes VAT and is negative on a refund, ``quantity`` is a string, ``vatAmount`` is
what the rows' gross exceeds their taxable amounts by, a payment's ``gratuityAmount`` (tip) is
inside its ``amount``, and ``payments[].uuid`` is the Finance API's
``originatingTransactionUuid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ledgerbridge.connectors.base import JSON, EntityMapping, SkipRecord
from ledgerbridge.connectors.kit.payouts import PayoutStream
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.model.numbers import PRICE_EXTRA_PLACES, currency_places

CARD_TYPES = frozenset({"IZETTLE_CARD", "IZETTLE_CARD_ONLINE"})
"""Payments whose money Zettle handles, which its Finance API pays out."""
PAYMENT_TITLES = {
    "IZETTLE_CARD": "Card (Zettle)",
    "IZETTLE_CARD_ONLINE": "Card online (Zettle payment link)",
    "IZETTLE_CASH": "Cash",
    "IZETTLE_INVOICE": "Zettle invoice",
    "SWISH": "Swish",
    "VIPPS": "Vipps",
    "MOBILE_PAY": "MobilePay",
    "PAYPAL": "PayPal QR",
    "STORE_CREDIT": "Store credit",
    "GIFTCARD": "Gift card",
    "KLARNA": "Klarna",
}
LINE_TYPES = {
    "ADJUSTMENT": "adjustment",
    "CASHBACK": "adjustment",
    "FAILED_PAYOUT": "payout_reversal",
    "ADVANCE": "other",
    "ADVANCE_DOWNPAYMENT": "other",
    "ADVANCE_FEE_DOWNPAYMENT": "other",
    "PAYMENT_PAYOUT": "other",
    "INVOICE_PAYMENT": "charge",
}
"""Ledger entries other than card payments and their fees, as payout lines."""


def moment(value: Any, what: str) -> datetime:
    """A Zettle time: ``2021-01-13T21:34:10.968+0000`` (Purchase API, Finance guide),
    ``2022-03-01T12:42:10`` (Finance OpenAPI: UTC without offset), an ISO form with ``Z`` or
    ``+00:00``, or epoch milliseconds (Pusher payloads)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    raw = text(value)
    if raw is None:
        raise SkipRecord("invalid_remote_data", f"{what} has no time")
    raw = raw.replace("Z", "+00:00")
    if len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit():
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise SkipRecord("invalid_remote_data", f"{what}: {value!r} is not a time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def minor(value: Any, what: str) -> int:
    """An amount in minor units (an integer, or a string of one as the OpenAPI file says)."""
    if isinstance(value, bool):
        raise SkipRecord("invalid_remote_data", f"{what}: {value!r} is not an amount")
    try:
        number = Decimal(str(value if value is not None else 0).strip())
    except InvalidOperation:
        raise SkipRecord("invalid_remote_data", f"{what}: {value!r} is not an amount") from None
    if not number.is_finite() or number != number.to_integral_value() or abs(number) >= 10**15:
        raise SkipRecord("invalid_remote_data", f"{what}: {value!r} is not an amount")
    return int(number)


def major(amount: int, currency: str) -> Decimal:
    """Minor units as the currency's amount (12345 DKK → 123.45)."""
    return Decimal(amount).scaleb(-currency_places(currency))


def _quantity(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise SkipRecord("invalid_remote_data", f"{what}: quantity {value!r}") from None
    if not number.is_finite() or number == 0:
        raise SkipRecord("invalid_remote_data", f"{what}: quantity {value!r}")
    return number


def _rate(value: Any, what: str) -> Decimal:
    try:
        rate = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise SkipRecord("invalid_remote_data", f"{what}: VAT rate {value!r}") from None
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise SkipRecord("invalid_remote_data", f"{what}: VAT rate {value!r}")
    return rate.normalize() if rate != rate.to_integral_value() else rate.quantize(Decimal(1))


def spread(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split pro rata over ``weights`` in whole units that add up exactly."""
    whole = sum(weights)
    if not whole or not total:
        return [0] * len(weights)
    raw = [Decimal(total) * w / whole for w in weights]
    shares = [int(r) for r in raw]
    left = total - sum(shares)
    order = sorted(range(len(raw)), key=lambda i: abs(raw[i] - shares[i]), reverse=True)
    for i in order[: abs(left)]:
        shares[i] += 1 if left > 0 else -1
    return shares


def row_grosses(purchase: Mapping[str, Any]) -> list[int]:
    """Each product row's amount with VAT after every discount, in minor units (sign
    dropped). Zettle gives a row's price and its own discount; the purchase discount is spread
    over the rows pro rata to their price, so the rows add up to the purchase's amount less
    its service charge exactly."""
    rows = purchase.get("products") or []
    estimates = []
    for index, row in enumerate(rows):
        qty = abs(_quantity(row.get("quantity"), f"product row {index}"))
        price = minor(row.get("unitPrice"), f"product row {index} unitPrice")
        own = abs(minor(row.get("discountValue") or 0, f"product row {index} discountValue"))
        estimates.append(int((price * qty).quantize(Decimal(1), ROUND_HALF_UP)) - own)
    charge = abs(minor((purchase.get("serviceCharge") or {}).get("amount") or 0, "serviceCharge"))
    goods = abs(minor(purchase.get("amount"), "amount")) - charge
    extra = spread(goods - sum(estimates), estimates)
    return [e + x for e, x in zip(estimates, extra, strict=True)]


def line_key(row: Mapping[str, Any], index: int) -> str:
    """Which line a product row is, the same in a sale and in its refunds: its variant (else
    its product, else its place)."""
    return text(row.get("variantUuid")) or text(row.get("productUuid")) or f"row:{index}"


def _description(row: Mapping[str, Any]) -> str | None:
    name, variant = text(row.get("name")), text(row.get("variantName"))
    if name and variant:
        return f"{name} - {variant}"
    return name or variant


def _net_price(net: Decimal, qty: Decimal, currency: str) -> Decimal:
    quantum = Decimal(1).scaleb(-(currency_places(currency) + PRICE_EXTRA_PLACES))
    return (net / qty).quantize(quantum, rounding=ROUND_HALF_UP)


def main_payment(payments: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The payment that paid most of the sale (the first of equals)."""
    best: Mapping[str, Any] | None = None
    for payment in payments:
        if best is None or abs(minor(payment.get("amount"), "payment")) > abs(
            minor(best.get("amount"), "payment")
        ):
            best = payment
    return best


def payment_method(payments: Iterable[Mapping[str, Any]]) -> JSON | None:
    """The method of the largest payment, which a sale is booked and a refund paid back by."""
    main = main_payment(payments)
    kind = text(main.get("type")) if main is not None else None
    return {"code": kind, "title": PAYMENT_TITLES.get(kind, kind)} if kind else None


def tenders(payments: Sequence[Mapping[str, Any]], currency: str) -> list[JSON]:
    """Each payment of a sale paid with more than one method (part card, part cash), tip
    included; none when one method paid it all (several cards of one kind are one method)."""
    if len({text(p.get("type")) for p in payments} - {None}) < 2:
        return []
    return [
        {"code": kind, "title": PAYMENT_TITLES.get(kind, kind),
         "amount": str(major(abs(minor(p.get("amount"), "payment")), currency))}
        for p in payments
        if (kind := text(p.get("type")))
    ]  # fmt: skip


def card_payment(payments: Iterable[Mapping[str, Any]]) -> str | None:
    """The uuid of the largest card payment: what the Finance API pays out under."""
    cards = [p for p in payments if p.get("type") in CARD_TYPES and text(p.get("uuid"))]
    found = main_payment(cards)
    return text(found.get("uuid")) if found is not None else None


def order_from_purchase(
    purchase: Mapping[str, Any], tip_item: str | None = None, charge_item: str | None = None
) -> JSON:
    """A sale as an order (see the module docstring)."""
    ident = text(purchase.get("purchaseUUID1"))
    if ident is None:
        raise SkipRecord("invalid_remote_data", "a purchase without purchaseUUID1")
    if purchase.get("refund"):
        raise SkipRecord("not_a_sale", f"purchase {ident} is a refund")
    currency = text(purchase.get("currency"))
    if currency is None:
        raise SkipRecord("invalid_remote_data", f"purchase {ident} has no currency")
    currency = currency.upper()
    rows = purchase.get("products") or []
    if not rows:
        raise SkipRecord("invalid_remote_data", f"purchase {ident} has no product rows")
    grosses = row_grosses(purchase)
    lines: list[JSON] = []
    taxes: dict[Decimal, int] = {}
    for index, (row, gross) in enumerate(zip(rows, grosses, strict=True)):
        what = f"purchase {ident} row {index}"
        qty = _quantity(row.get("quantity"), what)
        net = minor(row.get("rowTaxableAmount"), f"{what} rowTaxableAmount")
        rate = _rate(row.get("vatPercentage"), what)
        tax = gross - net
        taxes[rate] = taxes.get(rate, 0) + tax
        lines.append({
            "source_id": line_key(row, index),
            "kind": "item",
            "sku": text(row.get("sku")),
            "description": _description(row),
            "quantity": str(qty),
            "unit_price": str(_net_price(major(net, currency), qty, currency)),
            "tax_rate": str(rate),
            "net_amount": str(major(net, currency)),
            "tax_amount": str(major(tax, currency)),
        })  # fmt: skip
    charge = purchase.get("serviceCharge")
    if isinstance(charge, dict) and charge.get("amount"):
        gross = minor(charge.get("amount"), f"purchase {ident} serviceCharge")
        rate = _rate(charge.get("vatPercentage"), f"purchase {ident} serviceCharge")
        net = int((Decimal(gross) * 100 / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP))
        taxes[rate] = taxes.get(rate, 0) + gross - net
        lines.append({
            "source_id": "service_charge", "kind": "fee", "sku": charge_item,
            "description": text(charge.get("title")) or "Service charge", "quantity": "1",
            "unit_price": str(major(net, currency)), "tax_rate": str(rate),
            "net_amount": str(major(net, currency)),
            "tax_amount": str(major(gross - net, currency)),
        })  # fmt: skip
    payments = [p for p in purchase.get("payments") or [] if isinstance(p, dict)]
    tips = sum(minor(p.get("gratuityAmount") or 0, "gratuityAmount") for p in payments)
    if tips:
        lines.append({
            "source_id": "tip", "kind": "fee", "sku": tip_item, "description": "Tip",
            "quantity": "1", "unit_price": str(major(tips, currency)), "tax_rate": "0",
            "net_amount": str(major(tips, currency)), "tax_amount": "0",
        })  # fmt: skip
    paid = moment(purchase.get("timestamp"), f"purchase {ident}")
    return {
        "source_id": ident,
        "number": text(purchase.get("globalPurchaseNumber") or purchase.get("purchaseNumber")),
        "state": "completed",
        "created_at": paid.isoformat(),
        "paid_at": paid.isoformat(),
        "currency": currency,
        "lines": lines,
        "total": str(major(minor(purchase.get("amount"), "amount") + tips, currency)),
        "total_tax": str(major(minor(purchase.get("vatAmount") or 0, "vatAmount"), currency)),
        "tax_lines": [
            {"label": f"VAT {rate}%", "rate": str(rate), "tax_total": str(major(tax, currency))}
            for rate, tax in sorted(taxes.items())
        ],
        "payment_method": payment_method(payments),
        "tenders": tenders(payments, currency),
        "transaction_id": card_payment(payments),
        "customer": {},
    }


def refund_from_purchase(purchase: Mapping[str, Any]) -> JSON:
    """A refund purchase as a refund of its original sale, lines positive."""
    ident = text(purchase.get("purchaseUUID1"))
    if ident is None:
        raise SkipRecord("invalid_remote_data", "a purchase without purchaseUUID1")
    if not purchase.get("refund"):
        raise SkipRecord("not_a_refund", f"purchase {ident} is a sale")
    original = text(purchase.get("refundsPurchaseUUID1"))
    if original is None:
        raise SkipRecord("invalid_remote_data", f"refund {ident} names no original purchase")
    currency = text(purchase.get("currency"))
    if currency is None:
        raise SkipRecord("invalid_remote_data", f"refund {ident} has no currency")
    currency = currency.upper()
    rows = purchase.get("products") or []
    lines: list[JSON] = []
    for index, (row, gross) in enumerate(zip(rows, row_grosses(purchase), strict=True)):
        what = f"refund {ident} row {index}"
        net = abs(minor(row.get("rowTaxableAmount"), f"{what} rowTaxableAmount"))
        lines.append({
            "order_line_id": line_key(row, index),
            "sku": text(row.get("sku")),
            "description": _description(row),
            "quantity": str(abs(_quantity(row.get("quantity"), what))),
            "net_amount": str(major(net, currency)),
            "tax_amount": str(major(max(gross - net, 0), currency)),
        })  # fmt: skip
    charge = purchase.get("serviceCharge")
    if isinstance(charge, dict) and charge.get("amount"):
        gross = abs(minor(charge.get("amount"), f"refund {ident} serviceCharge"))
        rate = _rate(charge.get("vatPercentage"), f"refund {ident} serviceCharge")
        net = int((Decimal(gross) * 100 / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP))
        lines.append({
            "order_line_id": "service_charge", "description": text(charge.get("title")),
            "quantity": "1", "net_amount": str(major(net, currency)),
            "tax_amount": str(major(gross - net, currency)),
        })  # fmt: skip
    amount = abs(minor(purchase.get("amount"), "amount"))
    if not amount:
        raise SkipRecord("invalid_remote_data", f"refund {ident} refunds nothing")
    return {
        "source_id": ident,
        "order_source_id": original,
        "created_at": moment(purchase.get("timestamp"), f"refund {ident}").isoformat(),
        "currency": currency,
        "amount": str(major(amount, currency)),
        "payment_method": payment_method(
            p for p in purchase.get("payments") or [] if isinstance(p, dict)
        ),
        "lines": lines,
    }


# ---------------------------------------------------------------------------- payouts


@dataclass(frozen=True)
class Entry:
    """One Finance ledger transaction, whichever of the two documented shapes it came in."""

    timestamp: datetime
    amount: int
    kind: str
    uuid: str | None

    @classmethod
    def read(cls, row: Mapping[str, Any]) -> Entry:
        kind = text(row.get("originatorTransactionType"))
        if kind is None:
            raise SkipRecord("invalid_remote_data", f"a ledger entry without a type: {row!r}")
        uuid = text(row.get("originatingTransactionUuid") or row.get("originatorTransactionUuid"))
        return cls(moment(row.get("timestamp"), f"{kind} entry"),
                   minor(row.get("amount"), f"{kind} entry"), kind, uuid)  # fmt: skip

    def to_json(self) -> JSON:
        return {"timestamp": self.timestamp.isoformat(), "amount": self.amount,
                "type": self.kind, "uuid": self.uuid}  # fmt: skip


def group_payouts(entries: Iterable[Entry]) -> list[tuple[Entry, list[Entry]]]:
    """Each ``PAYOUT`` with the entries that came into the LIQUID account since the one
    before it (Zettle has no payout id that groups them: their order in time does). Entries
    after the last payout wait for the next one."""
    groups: list[tuple[Entry, list[Entry]]] = []
    pending: list[Entry] = []
    for entry in sorted(entries, key=lambda e: (e.timestamp, e.kind == "PAYOUT")):
        if entry.kind == "PAYOUT":
            groups.append((entry, pending))
            pending = []
        else:
            pending.append(entry)
    return groups


def payout_id(entry: Entry) -> str:
    """A payout's id: its ledger entry's uuid, else its moment."""
    return entry.uuid or f"payout:{entry.timestamp.isoformat()}"


def payout_row(payout: Entry, entries: list[Entry], currency: str, numbers: Mapping[str, str],
               opening: int = 0) -> JSON:  # fmt: skip
    """What the connector reads for one payout: its entry, its entries, the currency, the
    purchase numbers of its payments and the balance it started from (non-zero: the entries
    before the read window are not in ``entries``)."""
    return {
        "id": payout_id(payout),
        "payout": payout.to_json(),
        "entries": [e.to_json() for e in entries],
        "currency": currency,
        "numbers": dict(numbers),
        "opening_balance": opening,
    }


def payout_from_row(row: Mapping[str, Any]) -> JSON:
    """A payout row as the canonical ``Payout``: a line per payment (its ``PAYMENT`` and
    ``PAYMENT_FEE`` merged; ``psp_ref`` the payment uuid; ``order_ref`` its purchase number),
    one per other entry; the payout's net is what left the LIQUID account."""
    currency = text(row.get("currency"))
    if currency is None:
        raise SkipRecord("invalid_remote_data", "a payout without a currency")
    currency = currency.upper()
    numbers = row.get("numbers") or {}
    head = row.get("payout") or {}
    paid_at = moment(head.get("timestamp"), "payout")
    by_payment: dict[str, dict[str, Any]] = {}
    others: list[JSON] = []
    for raw in row.get("entries") or []:
        when = moment(raw.get("timestamp"), "ledger entry")
        amount = minor(raw.get("amount"), "ledger entry")
        kind, uuid = str(raw.get("type")), text(raw.get("uuid"))
        if kind in ("PAYMENT", "PAYMENT_FEE", "INVOICE_PAYMENT", "INVOICE_PAYMENT_FEE") and uuid:
            line = by_payment.setdefault(uuid, {"gross": 0, "fee": 0, "at": when})
            line["at"] = min(line["at"], when)
            if kind.endswith("_FEE"):
                line["fee"] -= amount
            else:
                line["gross"] += amount
            continue
        if kind == "FROZEN_FUNDS":
            line_type = "chargeback" if amount < 0 else "chargeback_reversal"
        else:
            line_type = LINE_TYPES.get(kind, "other")
        others.append({
            "line_id": f"{kind}:{uuid or when.isoformat()}", "type": line_type,
            "occurred_at": when.isoformat(), "gross": str(major(amount, currency)), "fee": "0",
            "net": str(major(amount, currency)), "description": kind,
        })  # fmt: skip
    lines: list[JSON] = []
    for uuid, found in by_payment.items():
        gross, fee = found["gross"], found["fee"]
        lines.append({
            "line_id": uuid, "type": "charge" if gross >= 0 else "refund",
            "occurred_at": found["at"].isoformat(), "gross": str(major(gross, currency)),
            "fee": str(major(fee, currency)), "net": str(major(gross - fee, currency)),
            "psp_ref": uuid, "order_ref": text(numbers.get(uuid)),
        })  # fmt: skip
    lines.extend(others)
    net = -minor(head.get("amount"), "payout")
    opening = minor(row.get("opening_balance") or 0, "opening balance")
    return {
        "provider": "zettle",
        "source_id": str(row.get("id")),
        "status": "paid",
        "arrival_date": paid_at.date().isoformat(),
        "created_at": paid_at.isoformat(),
        "currency": currency,
        "gross": str(sum((Decimal(ln["gross"]) for ln in lines), Decimal(0))),
        "fees": str(sum((Decimal(ln["fee"]) for ln in lines), Decimal(0))),
        "net": str(major(net, currency)),
        "lines": lines,
        "itemised": True,
        "bank_reference": None if not opening else
        f"includes {major(opening, currency)} {currency} from before the read window",
    }  # fmt: skip


# ---------------------------------------------------------------------------- mappings


class PurchaseMapping(EntityMapping):
    """Sales, inbound only: the till is where they start, and a sale never changes (a refund
    is a purchase of its own)."""

    entity = "order"
    remote_entity = "purchase"
    fields = frozenset(
        {"source_id", "number", "state", "created_at", "paid_at", "currency", "lines", "total",
         "total_tax", "tax_lines", "payment_method", "transaction_id", "customer"}
    )  # fmt: skip
    business_key_field = "source_id"
    incremental = True
    outbound = False

    def __init__(self, tip_item: str | None = None, charge_item: str | None = None) -> None:
        self.tip_item = tip_item
        self.charge_item = charge_item

    def remote_id(self, remote: JSON) -> str:
        return str(remote["purchaseUUID1"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return order_from_purchase(remote, self.tip_item, self.charge_item)


class RefundMapping(EntityMapping):
    """Refunds, inbound only: purchases with ``refund: true``."""

    entity = "refund"
    remote_entity = "refund purchase"
    fields = frozenset(
        {"source_id", "order_source_id", "created_at", "currency", "amount", "payment_method",
         "lines"}
    )  # fmt: skip
    business_key_field = "source_id"
    incremental = True
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["purchaseUUID1"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return refund_from_purchase(remote)


class PayoutMapping(PayoutStream):
    """Card payouts from the Finance API's LIQUID account, inbound only."""

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return payout_from_row(remote)
