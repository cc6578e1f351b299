"""The VAT basis of the shop's product prices.

The hub holds a product's sales price without VAT, as accounting systems do (Uniconta's
``SalesPrice1``). A shop may enter its prices with VAT (WooCommerce → Settings → Tax → "Prices
entered with tax", the usual choice of a Danish consumer shop): there a price from the
accounting system is sent with the VAT of the product's tax class added, and a shop price is
read back without it. The basis and the rates are the shop's own, read when the connection is
made (``read_price_basis``); the connection's settings can override them.

WooCommerce charges no tax on a product whose class has no rate row that matches the customer
(the built-in "Zero rate" class is usually left empty): such a class of the shop is read as
0 %. A product's class can follow its accounting VAT code (``settings.tax_classes``), so a
zero-rated book is not sent with the standard class and 25 % added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.woocommerce.client import NotFound, WooCommerceClient

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
STANDARD = "standard"
"""WooCommerce's name for the tax class a product without one (``tax_class: ""``) has."""


@dataclass(frozen=True)
class PriceBasis:
    """Whether the shop's prices include VAT, and the rate of each of its tax classes in the
    shop's own country (percent)."""

    includes_vat: bool = False
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def _rate(self, tax_class: str | None, sku: Any) -> Decimal:
        name = tax_class or STANDARD
        rate = self.rates.get(name)
        if rate is None:
            known = ", ".join(sorted(self.rates)) or "none"
            raise SkipRecord(
                "product_vat_rate_unknown",
                f"product {sku}: the shop enters prices with VAT, but its tax class '{name}' "
                f"has no rate for the shop's country (classes with a rate: {known}); "
                "add the rate in WooCommerce → Settings → Tax and save the connection again, "
                "or give it in the connection's settings.vat_rates",
            )
        return rate

    def to_shop(self, net: Decimal, tax_class: str | None, sku: Any) -> Decimal:
        """The shop's price of a price without VAT: with the class's VAT, to the cent."""
        if not self.includes_vat:
            return net
        factor = 1 + self._rate(tax_class, sku) / HUNDRED
        return (net * factor).quantize(CENT, ROUND_HALF_UP)

    def from_shop(self, price: Decimal, tax_class: str | None, sku: Any) -> Decimal:
        """A shop price without VAT: the one with the fewest decimals (at least two) that
        gives the shop's price back, so that sending it again changes nothing in the shop
        and the accounting system keeps the cents a person typed."""
        if not self.includes_vat:
            return price
        factor = 1 + self._rate(tax_class, sku) / HUNDRED
        exact = price / factor
        for places in (2, 3, 4):
            net = exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
            if (net * factor).quantize(CENT, ROUND_HALF_UP) == price:
                return net
        return exact.quantize(Decimal("0.0001"), ROUND_HALF_UP)


def basis_of(settings: Mapping[str, Any]) -> PriceBasis:
    """The connection's price basis; a connection made before the basis was read is taken
    as entering prices without VAT, as it was sent until then."""
    rates = settings.get("vat_rates") or {}
    return PriceBasis(
        bool(settings.get("prices_include_vat")),
        {str(name): Decimal(str(rate)) for name, rate in rates.items()},
    )


def tax_classes_of(settings: Mapping[str, Any]) -> dict[str, str]:
    """The shop tax class of each accounting VAT code the connection names
    (``settings.tax_classes``)."""
    return {str(code): str(slug) for code, slug in (settings.get("tax_classes") or {}).items()}


def wire_class(slug: str) -> str:
    """A class as a product's ``tax_class`` holds it: the standard class is ``""``."""
    return "" if slug == STANDARD else slug


def _country(value: Any) -> str:
    """``DK`` of ``woocommerce_default_country``'s ``DK`` or ``US:CA``."""
    return str(value or "").partition(":")[0].upper()


def read_price_basis(client: WooCommerceClient) -> dict[str, Any]:
    """The shop's price basis as connection settings: four reads (how prices are entered,
    the store's country, the tax table, the tax classes), made when the connection is made.
    A class's rate is that of its first rate row (by priority) for the store's country, else
    for every country; a class of the shop with neither is 0 %, since WooCommerce charges no
    tax where no rate matches. A shop whose API lists no classes gives its rated ones only."""
    entered = client.get("/settings/tax/woocommerce_prices_include_tax")
    country = _country(client.get("/settings/general/woocommerce_default_country").get("value"))
    rows = sorted(client.list_all("/taxes"), key=lambda row: int(row.get("priority") or 1))
    rates: dict[str, str] = {}
    for wanted in (country, ""):
        for row in rows:
            name = str(row.get("class") or STANDARD)
            if str(row.get("country") or "").upper() == wanted and name not in rates:
                rates[name] = str(Decimal(str(row.get("rate") or 0)).normalize())
    try:
        classes = client.list_all("/taxes/classes")
    except NotFound:
        classes = []
    for tax_class in classes:
        rates.setdefault(str(tax_class.get("slug") or STANDARD), "0")
    return {"prices_include_vat": entered.get("value") == "yes", "vat_rates": rates}
