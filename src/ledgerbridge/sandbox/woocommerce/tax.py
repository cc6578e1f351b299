"""Tax rates and an order's totals, computed the way WooCommerce does.

WooCommerce rounds each line's tax to cents by default ("round tax at subtotal level" off): the
order's ``total_tax`` is the sum of the rounded line taxes, which is often a cent away from the
tax an accounting system computes on the summed net amounts. With the option on, line taxes
stay unrounded (six decimals) and only each rate's sum is rounded, so the line taxes as printed
no longer add up to ``total_tax``. Both gaps are real and reproducible here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgerbridge.sandbox.woocommerce.core import PRECISION, money, rnd, trimmed

ZERO = Decimal(0)


@dataclass(frozen=True)
class TaxRate:
    """One row of WooCommerce's tax table (``/taxes``)."""

    id: int
    country: str
    rate: Decimal
    name: str
    tax_class: str = "standard"
    priority: int = 1
    shipping: bool = True

    @property
    def rate_code(self) -> str:
        """``COUNTRY-NAME-PRIORITY`` (state and empty parts left out), as ``get_rate_code``."""
        return f"{self.country}-{self.name.upper()}-{self.priority}"

    def to_json(self) -> dict[str, Any]:
        """The ``/taxes`` representation."""
        return {
            "id": self.id,
            "country": self.country,
            "state": "",
            "postcode": "",
            "city": "",
            "postcodes": [],
            "cities": [],
            "rate": f"{self.rate:.4f}",
            "name": self.name,
            "priority": self.priority,
            "compound": False,
            "shipping": self.shipping,
            "order": self.id,
            "class": self.tax_class,
        }


@dataclass
class Line:
    """One taxable amount of an order before rounding: an item, a fee or shipping."""

    subtotal: Decimal
    """Before discounts (net, six decimals)."""
    total: Decimal
    """After discounts (net, six decimals)."""
    rate: TaxRate | None
    subtotal_tax: Decimal = ZERO
    total_tax: Decimal = ZERO


@dataclass
class Totals:
    """Everything an order prints about money, computed once per save."""

    items: list[dict[str, Any]] = field(default_factory=list)
    fees: list[dict[str, Any]] = field(default_factory=list)
    shipping: list[dict[str, Any]] = field(default_factory=list)
    tax_lines: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


def tax_line(
    amount: Decimal, rate: TaxRate | None, prices_include_tax: bool, per_line: bool
) -> tuple[Decimal, Decimal]:
    """``(net, tax)`` of an amount entered with or without tax.

    Per-line rounding rounds the tax to cents and, for prices with tax, takes the net as the
    rest, so each line keeps its gross price to the cent.
    """
    if rate is None or rate.rate == 0:
        return rnd(amount, PRECISION), ZERO
    share = rate.rate / 100
    exact = amount * share / (1 + share) if prices_include_tax else amount * share
    tax = rnd(exact) if per_line else rnd(exact, PRECISION)
    net = amount - tax if prices_include_tax else amount
    return rnd(net, PRECISION), tax


def _taxes(line: Line, with_subtotal: bool) -> list[dict[str, Any]]:
    if line.rate is None or (line.total_tax == 0 and line.subtotal_tax == 0):
        return []
    entry: dict[str, Any] = {"id": line.rate.id, "total": trimmed(line.total_tax)}
    if with_subtotal:
        entry["subtotal"] = trimmed(line.subtotal_tax)
    return [entry]


def compute(
    items: list[tuple[dict[str, Any], Line, int]],
    fees: list[tuple[dict[str, Any], Line]],
    shipping: list[tuple[dict[str, Any], Line]],
) -> Totals:
    """Fill the money fields of each line and the order's totals and tax lines.

    ``items`` carry ``(line_json, amounts, quantity)``; each ``line_json`` is completed in
    place (``subtotal``, ``total``, ``*_tax``, ``taxes``, ``price``).
    """
    result = Totals()
    cart_tax: dict[int, Decimal] = defaultdict(lambda: ZERO)
    ship_tax: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rates: dict[int, TaxRate] = {}
    discount = discount_tax = ZERO
    net_sum = ZERO
    for data, line, quantity in items:
        data.update(
            subtotal=money(line.subtotal),
            subtotal_tax=money(line.subtotal_tax),
            total=money(line.total),
            total_tax=money(line.total_tax),
            taxes=_taxes(line, True),
            price=float(line.total / quantity) if quantity else 0.0,
        )
        discount += line.subtotal - line.total
        discount_tax += line.subtotal_tax - line.total_tax
        net_sum += line.total
        if line.rate is not None:
            rates[line.rate.id] = line.rate
            cart_tax[line.rate.id] += line.total_tax
        result.items.append(data)
    for data, line in fees:
        data.update(total=money(line.total), total_tax=money(line.total_tax))
        data["taxes"] = _taxes(line, True)
        net_sum += line.total
        if line.rate is not None:
            rates[line.rate.id] = line.rate
            cart_tax[line.rate.id] += line.total_tax
        result.fees.append(data)
    shipping_net = ZERO
    for data, line in shipping:
        data.update(total=money(line.total), total_tax=money(line.total_tax))
        data["taxes"] = _taxes(line, False)
        shipping_net += line.total
        if line.rate is not None:
            rates[line.rate.id] = line.rate
            ship_tax[line.rate.id] += line.total_tax
        result.shipping.append(data)
    cart_total = ZERO
    ship_total = ZERO
    for rate_id in sorted(rates):
        rate = rates[rate_id]
        items_tax = rnd(cart_tax[rate_id])
        shipping_tax = rnd(ship_tax[rate_id])
        cart_total += items_tax
        ship_total += shipping_tax
        result.tax_lines.append(
            {
                "rate_code": rate.rate_code,
                "rate_id": rate.id,
                "label": rate.name,
                "compound": False,
                "tax_total": money(items_tax),
                "shipping_tax_total": money(shipping_tax),
                "rate_percent": float(rate.rate),
                "meta_data": [],
            }
        )
    total = rnd(net_sum + shipping_net + cart_total + ship_total)
    result.fields = {
        "discount_total": money(discount),
        "discount_tax": money(discount_tax),
        "shipping_total": money(shipping_net),
        "shipping_tax": money(ship_total),
        "cart_tax": money(cart_total),
        "total": money(total),
        "total_tax": money(cart_total + ship_total),
    }
    return result
