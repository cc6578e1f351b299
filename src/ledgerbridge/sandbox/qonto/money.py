"""Amounts, invoice lines and document totals, computed with ``Decimal`` and rounded to cents.

Qonto sends money both as ``{"value": "12.52", "currency": "EUR"}`` and as integer ``*_cents``
twins, and rates and quantities as decimal strings (``"0.2"`` is 20 %). Keeping every amount a
``Decimal`` until it is rendered makes the twins agree to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ledgerbridge.sandbox.qonto.core import validation

CENT = Decimal("0.01")
ZERO = Decimal(0)
DISCOUNT_TYPES = ("percentage", "absolute")
VAT_RATES: dict[str, tuple[str, ...]] = {
    "FR": ("0", "0.021", "0.055", "0.085", "0.1", "0.2"),
    "DE": ("0", "0.07", "0.19"),
    "IT": ("0", "0.04", "0.05", "0.1", "0.22"),
    "ES": ("0", "0.04", "0.1", "0.21"),
}
"""The VAT rates an organization of each country invoices with: its country's own, zero
included. An organization of another country is held to the 0-1 range only."""

# Units of currency per euro. Rough 2026 levels; they only need to be stable for tests.
DEFAULT_RATES_PER_EUR: dict[str, Decimal] = {
    "EUR": Decimal(1),
    "USD": Decimal("1.08"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.94"),
    "DKK": Decimal("7.46"),
    "SEK": Decimal("11.20"),
    "NOK": Decimal("11.60"),
    "PLN": Decimal("4.30"),
}


def to_cents(amount: Decimal) -> int:
    """Integer cents of an amount (rounded half away from zero)."""
    return int(round_cents(amount) * 100)


def round_cents(amount: Decimal) -> Decimal:
    """Amount rounded to the cent, half away from zero (symmetric for credit notes)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal) -> str:
    """``"12.50"``: two decimals."""
    return f"{round_cents(amount):f}"


def format_decimal(value: Decimal) -> str:
    """Shortest plain form: ``"0.2"``, ``"1.5"``, ``"2"``; never exponent notation."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def format_price(value: Decimal) -> str:
    """Unit price with at least two decimals and any further precision kept (``"0.125"``)."""
    if value == round_cents(value):
        return format_amount(value)
    return format_decimal(value)


def money(amount: Decimal, currency: str) -> dict[str, str]:
    """``{"value", "currency"}`` object."""
    return {"value": format_amount(amount), "currency": currency}


def parse_decimal(value: Any, pointer: str) -> Decimal:
    """A decimal string (numbers are tolerated) from a request body."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise validation("must be a decimal number sent as a string", pointer)
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise validation(f"{value!r} is not a decimal number", pointer) from exc
    if not parsed.is_finite():
        raise validation(f"{value!r} is not a decimal number", pointer)
    return parsed


def parse_currency(value: Any, pointer: str) -> str:
    """ISO 4217 trigram, upper case."""
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise validation("must be an ISO 4217 currency code such as EUR", pointer)
    return value.upper()


def parse_money(value: Any, pointer: str, default_currency: str) -> tuple[Decimal, str]:
    """``{"value", "currency"}``; the currency defaults to the document's."""
    if not isinstance(value, Mapping):
        raise validation("must be an object with value and currency", pointer)
    if value.get("value") is None:
        raise validation("can't be blank", f"{pointer}/value", "blank")
    amount = parse_decimal(value["value"], f"{pointer}/value")
    currency = default_currency
    if value.get("currency") is not None:
        currency = parse_currency(value["currency"], f"{pointer}/currency")
    return amount, currency


@dataclass(frozen=True)
class Discount:
    """A line or document discount: a fraction (``percentage``) or an amount (``absolute``)."""

    type: str
    value: Decimal

    def amount_on(self, base: Decimal) -> Decimal:
        """Discount amount on ``base`` (negative on a credit note), never beyond the base."""
        if self.type == "percentage":
            raw = base * self.value
        else:
            raw = self.value if base >= 0 else -self.value
        if base >= 0:
            return round_cents(min(raw, base))
        return round_cents(max(raw, base))

    def render(self, amount: Decimal, currency: str) -> dict[str, Any]:
        """Qonto's ``{"type", "value", "amount"}`` form."""
        if self.type == "percentage":
            value = format_decimal(self.value)
        else:
            value = format_amount(self.value)
        return {"type": self.type, "value": value, "amount": money(amount, currency)}

    def converted(self, rate: Decimal) -> Discount:
        """Same discount after a currency conversion (only absolute amounts change)."""
        if self.type == "percentage":
            return self
        return Discount(self.type, round_cents(self.value * rate))


def parse_discount(value: Any, pointer: str) -> Discount | None:
    """``{"type": "percentage"|"absolute", "value": "0.1"}`` or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise validation("must be an object with type and value", pointer)
    kind = value.get("type")
    if kind not in DISCOUNT_TYPES:
        raise validation(
            f"type must be one of: {', '.join(DISCOUNT_TYPES)}", f"{pointer}/type", "not_in_list"
        )
    if value.get("value") is None:
        raise validation("can't be blank", f"{pointer}/value", "blank")
    amount = parse_decimal(value["value"], f"{pointer}/value")
    if amount < 0 or (kind == "percentage" and amount > 1):
        limit = "between 0 and 1" if kind == "percentage" else "positive"
        raise validation(f"must be {limit}", f"{pointer}/value")
    return Discount(str(kind), amount)


@dataclass(frozen=True)
class Line:
    """One invoice or credit-note line as sent, in the document currency."""

    title: str
    description: str | None
    quantity: Decimal
    unit: str | None
    unit_price: Decimal
    vat_rate: Decimal
    vat_exemption_reason: str | None
    discount: Discount | None

    def converted(self, rate: Decimal) -> Line:
        """The line with prices converted to another currency."""
        return Line(
            self.title,
            self.description,
            self.quantity,
            self.unit,
            round_cents(self.unit_price * rate),
            self.vat_rate,
            self.vat_exemption_reason,
            self.discount.converted(rate) if self.discount else None,
        )

    def negated(self) -> Line:
        """The line with its quantity negated (credit notes)."""
        return Line(
            self.title,
            self.description,
            -self.quantity,
            self.unit,
            self.unit_price,
            self.vat_rate,
            self.vat_exemption_reason,
            self.discount,
        )


@dataclass(frozen=True)
class LineTotals:
    """Computed amounts of one line."""

    line: Line
    discount_amount: Decimal
    subtotal: Decimal
    vat: Decimal
    total: Decimal


@dataclass(frozen=True)
class Totals:
    """Computed amounts of a document.

    ``subtotal`` is the sum of line subtotals, ``discount_amount`` the document discount on it,
    ``vat`` the VAT on the discounted bases and ``total`` what the client pays.
    """

    lines: tuple[LineTotals, ...]
    subtotal: Decimal
    discount_amount: Decimal
    vat: Decimal
    total: Decimal


def parse_line(value: Any, pointer: str, currency: str) -> tuple[Line, str]:
    """Validate one line; return it with the currency its unit price was given in."""
    if not isinstance(value, Mapping):
        raise validation("must be an object", pointer)
    title = value.get("title")
    if not isinstance(title, str) or not title.strip():
        raise validation("can't be blank", f"{pointer}/title", "blank")
    if len(title) > 120:
        raise validation("is too long (maximum is 120 characters)", f"{pointer}/title", "too_long")
    description = value.get("description")
    if description is not None and not isinstance(description, str):
        raise validation("must be a string", f"{pointer}/description")
    if value.get("quantity") is None:
        raise validation("can't be blank", f"{pointer}/quantity", "blank")
    quantity = parse_decimal(value["quantity"], f"{pointer}/quantity")
    if quantity <= 0:
        raise validation("must be greater than 0", f"{pointer}/quantity", "greater_than")
    if value.get("unit_price") is None:
        raise validation("can't be blank", f"{pointer}/unit_price", "blank")
    unit_price, price_currency = parse_money(value["unit_price"], f"{pointer}/unit_price", currency)
    if unit_price < 0:
        raise validation(
            "must be greater than or equal to 0",
            f"{pointer}/unit_price/value",
            "greater_than_or_equal_to",
        )
    if value.get("vat_rate") is None:
        raise validation("can't be blank", f"{pointer}/vat_rate", "blank")
    vat_rate = parse_decimal(value["vat_rate"], f"{pointer}/vat_rate")
    if not ZERO <= vat_rate <= 1:
        raise validation("must be between 0 and 1 (0.2 is 20 %)", f"{pointer}/vat_rate")
    unit = value.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise validation("must be a string", f"{pointer}/unit")
    reason = value.get("vat_exemption_reason")
    if reason is not None and not isinstance(reason, str):
        raise validation("must be a string", f"{pointer}/vat_exemption_reason")
    discount = parse_discount(value.get("discount"), f"{pointer}/discount")
    line = Line(title, description, quantity, unit, unit_price, vat_rate, reason, discount)
    return line, price_currency


def check_vat_rate(rate: Decimal, country: str, pointer: str) -> None:
    """An item's rate must be one of its organization's country's VAT rates (``VAT_RATES``):
    ``422 not_in_list`` otherwise, as for any value outside a list."""
    allowed = VAT_RATES.get(country)
    if allowed is not None and rate not in {Decimal(value) for value in allowed}:
        raise validation(
            f"vat_rate must be one of: {', '.join(allowed)} (the VAT rates of {country})",
            pointer,
            "not_in_list",
        )


def compute(lines: Sequence[Line], discount: Discount | None) -> Totals:
    """Totals of a document.

    Each line: ``quantity × unit_price`` less its own discount is its subtotal, and its VAT is
    ``subtotal × vat_rate``. The document discount applies to the sum of line subtotals and is
    spread over the lines in proportion to their subtotals to get the VAT bases.
    """
    computed: list[LineTotals] = []
    for line in lines:
        gross = line.quantity * line.unit_price
        line_discount = line.discount.amount_on(gross) if line.discount else ZERO
        subtotal = round_cents(gross - line_discount)
        vat = round_cents(subtotal * line.vat_rate)
        computed.append(LineTotals(line, line_discount, subtotal, vat, subtotal + vat))
    subtotal = sum((item.subtotal for item in computed), ZERO)
    doc_discount = discount.amount_on(subtotal) if discount and subtotal else ZERO
    if doc_discount:
        share = (subtotal - doc_discount) / subtotal
        bases = (item.subtotal * share * item.line.vat_rate for item in computed)
        vat = sum((round_cents(base) for base in bases), ZERO)
    else:
        vat = sum((item.vat for item in computed), ZERO)
    total = subtotal - doc_discount + vat
    return Totals(tuple(computed), subtotal, doc_discount, vat, total)


def render_line(item: LineTotals, currency: str) -> dict[str, Any]:
    """A line in Qonto's response shape."""
    line = item.line
    rendered: dict[str, Any] = {
        "title": line.title,
        "description": line.description,
        "quantity": format_decimal(line.quantity),
        "unit": line.unit,
        "unit_price": {"value": format_price(line.unit_price), "currency": currency},
        "unit_price_cents": to_cents(line.unit_price),
        "vat_rate": format_decimal(line.vat_rate),
        "vat_exemption_reason": line.vat_exemption_reason,
        "discount": line.discount.render(item.discount_amount, currency) if line.discount else None,
        "total_vat": money(item.vat, currency),
        "total_vat_cents": to_cents(item.vat),
        "total_amount": money(item.total, currency),
        "total_amount_cents": to_cents(item.total),
        "subtotal": money(item.subtotal, currency),
        "subtotal_cents": to_cents(item.subtotal),
    }
    return rendered


def conversion_rate(rates: Mapping[str, Decimal], source: str, target: str) -> Decimal:
    """Units of ``target`` per unit of ``source``, through the euro."""
    if source == target:
        return Decimal(1)
    if source not in rates or target not in rates:
        missing = source if source not in rates else target
        raise validation(f"no exchange rate known for {missing}", "/currency", "not_in_list")
    return rates[target] / rates[source]
