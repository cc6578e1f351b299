"""What an amount, price or quantity can be, and text without NUL: the checks every way into
the hub shares (the API and the records accounting systems send back)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledgerbridge.model import Invoice, Party, Payment, Product, StockLevel
from ledgerbridge.model.numbers import currency_places
from ledgerbridge.model.validation import nul_location


def errors(model: Any, data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(e["loc"], e["type"]) for e in caught.value.errors()]


def invoice(currency: str = "EUR", **line: Any) -> dict[str, Any]:
    return {"party_id": "p", "date": "2026-11-20", "currency": currency,
            "lines": [{"quantity": "1", "unit_price": "1", **line}]}  # fmt: skip


@pytest.mark.parametrize(
    ("currency", "places"), [("EUR", 2), ("DKK", 2), ("jpy", 0), ("ISK", 0), ("KWD", 3)]
)
def test_minor_units_follow_iso_4217(currency: str, places: int) -> None:
    assert currency_places(currency) == places


@pytest.mark.parametrize("value", ["1e999999", "-1e999999", "1E+12", "1000000000000.00"])
def test_sizes_of_10_to_the_12_or_more_are_refused(value: str) -> None:
    assert errors(Invoice, invoice(unit_price=value)) == [
        (("lines", 0, "unit_price"), "number_too_large")
    ]
    assert errors(Invoice, invoice(quantity=value)) == [
        (("lines", 0, "quantity"), "number_too_large")
    ]
    assert errors(Product, {"sku": "A", "name": "A", "sales_price": value}) == [
        (("sales_price",), "number_too_large")
    ]


def test_the_largest_possible_values_pass() -> None:
    largest = "999999999999.99"
    parsed = Invoice.model_validate({**invoice(unit_price=largest), "amount_open": largest})
    assert parsed.amount_open == Decimal(largest)
    assert parsed.net_total == Decimal(largest)


def test_precision_follows_the_currency() -> None:
    assert errors(Invoice, {**invoice(), "amount_open": "1.005"}) == [
        (("amount_open",), "number_too_precise")
    ]
    assert errors(Invoice, {**invoice("JPY"), "amount_open": "1.5"}) == [
        (("amount_open",), "number_too_precise")
    ]
    assert errors(Invoice, invoice("JPY", unit_price="0.125")) == [
        (("lines", 0, "unit_price"), "number_too_precise")
    ]
    # Trailing zeros are no precision, and unit prices go two places below the cent.
    assert Invoice.model_validate({**invoice(unit_price="0.0125"), "amount_open": "1.500"})
    assert Invoice.model_validate({**invoice("KWD"), "amount_open": "1.005"})
    payment = {"invoice_id": "i", "date": "2026-11-20", "amount": "10.001", "currency": "EUR"}
    assert errors(Payment, payment) == [(("amount",), "number_too_precise")]


def test_quantities_count_to_a_millionth() -> None:
    assert Invoice.model_validate(invoice(quantity="0.000001"))
    assert errors(Invoice, invoice(quantity="0.0000001")) == [
        (("lines", 0, "quantity"), "number_too_precise")
    ]
    stock = {"product_id": "p", "quantity": "1e13", "available": "1",
             "as_of": "2026-11-20T09:00:00+00:00"}  # fmt: skip
    assert errors(StockLevel, stock) == [(("quantity",), "number_too_large")]


def test_a_nul_character_is_refused_in_any_text_naming_the_innermost_field() -> None:
    assert errors(Party, {"name": "Kvist\x00"}) == [(("name",), "nul_character")]
    assert errors(Party, {"name": "Kvist", "postal_address": {"city": "\x00"}}) == [
        (("postal_address", "city"), "nul_character")
    ]
    assert errors(Invoice, invoice(description="Kaffe\x00")) == [
        (("lines", 0, "description"), "nul_character")
    ]


def test_nul_location_walks_json() -> None:
    assert nul_location({"a": [1, {"b": "x\x00"}]}) == ("a", 1, "b")
    assert nul_location({"k\x00": 1}) == ("k\x00",)
    assert nul_location("\x00") == ()
    assert nul_location({"a": ["fine", 1.5, None]}) is None
