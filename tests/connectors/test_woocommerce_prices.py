"""The VAT basis of a shop's product prices: a price without VAT sent to a shop that enters
prices with VAT, and a shop price read back, for every cent amount up to 100 at the usual
Nordic and Benelux rates; pure functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.woocommerce.mapping import ProductMapping
from ledgerbridge.connectors.woocommerce.prices import PriceBasis, basis_of

RATES = {
    "standard": Decimal(25),
    "reduced-rate": Decimal(12),
    "nl": Decimal(21),
    "zero": Decimal(0),
}
WITH_VAT = PriceBasis(True, RATES)


@pytest.mark.parametrize("tax_class", ["standard", "reduced-rate", "nl", "zero"])
def test_every_shop_price_read_and_sent_back_is_the_same_price(tax_class: str) -> None:
    for cents in range(1, 10_001):
        shop = Decimal(cents) / 100
        net = WITH_VAT.from_shop(shop, tax_class, "SKU")
        assert WITH_VAT.to_shop(net, tax_class, "SKU") == shop, (shop, net)
        assert -net.as_tuple().exponent <= 4


def test_a_net_price_in_cents_is_read_back_with_its_cents() -> None:
    """99.99 without VAT is 124.99 in a 25 % shop; read back it is 99.99 again, not the
    99.992 of the exact division (which would change the accounting system's item)."""
    assert WITH_VAT.to_shop(Decimal("99.99"), "", "SKU") == Decimal("124.99")
    assert WITH_VAT.from_shop(Decimal("124.99"), "", "SKU") == Decimal("99.99")
    assert WITH_VAT.from_shop(Decimal("0.07"), None, "SKU") == Decimal("0.056")


def test_a_shop_entering_prices_without_vat_keeps_them_and_needs_no_rate() -> None:
    basis = PriceBasis(False, {})
    assert basis.to_shop(Decimal("24"), "unknown-class", "SKU") == Decimal("24")
    assert basis.from_shop(Decimal("30"), "unknown-class", "SKU") == Decimal("30")


def test_a_class_without_a_rate_is_a_skip_naming_the_class_and_the_fix() -> None:
    with pytest.raises(SkipRecord) as caught:
        WITH_VAT.to_shop(Decimal("10"), "luxury", "KAF-1")
    assert caught.value.reason == "product_vat_rate_unknown"
    assert "'luxury'" in str(caught.value) and "settings.vat_rates" in str(caught.value)


def test_a_variation_of_class_parent_takes_its_parents_rate() -> None:
    mapping = ProductMapping(
        basis_of({"prices_include_vat": True, "vat_rates": {"reduced-rate": "12"}})
    )
    variation = {
        "id": 7, "sku": "BOG-1", "regular_price": "112.00", "tax_class": "parent",
        "_parent_id": 3, "_parent_name": "Bog", "_parent_tax_class": "reduced-rate",
    }  # fmt: skip
    assert mapping.to_canonical(variation, {})["sales_price"] == "100"
    payload = mapping.from_canonical(
        {"sku": "BOG-1", "name": "Bog", "sales_price": "50"}, variation, {}
    )
    assert payload["regular_price"] == "56" and payload["_parent_tax_class"] == "reduced-rate"
