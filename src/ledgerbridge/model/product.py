"""Products, their stock, and the reference data that lines point at: VAT codes and units."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from pydantic import AwareDatetime, Field

from ledgerbridge.model.common import CountryCode, CurrencyCode, Ean, Record
from ledgerbridge.model.numbers import Price, Quantity

__all__ = ["COMMON_UNITS", "Product", "StockLevel", "Unit", "VatCode"]


class Product(Record):
    """An item or service that can be sold or bought; ``sku`` is its business key."""

    sku: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str | None = None
    unit: str | None = None
    sales_price: Price | None = Field(default=None, ge=0)
    purchase_price: Price | None = Field(default=None, ge=0)
    cost_price: Price | None = Field(default=None, ge=0)
    currency: CurrencyCode | None = None
    vat_code: str | None = None
    ean: Ean | None = None
    active: bool = True
    kind: Literal["goods", "service"] | None = None
    """``service``: sold without stock (shipping, a fee, a rounding or refund item), which a
    shop does not list unless asked; none: the system does not say."""


class StockLevel(Record):
    """A product's stock in one warehouse (and location) at a moment.

    Quantities may be negative: systems that allow selling from empty stock report it so, and
    the record must carry what the system says.
    """

    product_id: str = Field(min_length=1)
    warehouse: str | None = None
    location: str | None = None
    quantity: Quantity
    reserved: Quantity = Decimal(0)
    ordered: Quantity = Decimal(0)
    available: Quantity
    as_of: AwareDatetime


class VatCode(Record):
    """A VAT code as the accounting system defines it, with its rate in percent."""

    code: str = Field(min_length=1)
    name: str | None = None
    rate: Decimal = Field(ge=0, le=100)
    country: CountryCode | None = None
    direction: Literal["sales", "purchase", "both"] = "both"


class Unit(Record):
    """A unit of measure; ``code`` is the canonical code that product and line units use."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)


def _units(*pairs: tuple[str, str]) -> Mapping[str, Unit]:
    return MappingProxyType({code: Unit(code=code, name=name) for code, name in pairs})


# Canonical unit codes that connector mappings translate vendor units to and from.
COMMON_UNITS: Mapping[str, Unit] = _units(
    ("pcs", "piece"),
    ("minute", "minute"),
    ("hour", "hour"),
    ("day", "day"),
    ("week", "week"),
    ("month", "month"),
    ("quarter", "quarter"),
    ("year", "year"),
    ("mg", "milligram"),
    ("g", "gram"),
    ("kg", "kilogram"),
    ("t", "tonne"),
    ("ml", "millilitre"),
    ("cl", "centilitre"),
    ("l", "litre"),
    ("mm", "millimetre"),
    ("cm", "centimetre"),
    ("m", "metre"),
    ("km", "kilometre"),
    ("m2", "square metre"),
    ("m3", "cubic metre"),
    ("kwh", "kilowatt hour"),
    ("box", "box"),
    ("set", "set"),
    ("pack", "pack"),
    ("pair", "pair"),
    ("roll", "roll"),
    ("pallet", "pallet"),
)
