"""Orders, refunds and order payments: normalised codes, derived customer kind and destination,
money as precise as the currency, and errors that name the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledgerbridge.model.commerce import CommerceCustomer, Order, OrderPayment, Refund
from tests.commerce.orders import CVR, DE_VAT, GLN, line, order


def _error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[Any, ...], str]:
    first = exc.value.errors()[0]
    return tuple(first["loc"]), first["type"]


def test_order_normalises_codes_and_round_trips() -> None:
    placed = order(
        currency="dkk",
        shipping_address={"country": "se"},
        customer={"email": "Kunde@Example.DK", "vat_number": "dk 13 58 56 28"},
    )
    assert placed.currency == "DKK"
    assert placed.customer.email == "Kunde@example.dk"
    assert placed.customer.vat_number == CVR
    assert placed.destination == "SE"
    assert Order.model_validate(placed.model_dump(mode="json")) == placed


@pytest.mark.parametrize(
    ("customer", "kind"),
    [
        ({"email": "a@example.dk"}, "b2c"),
        ({"email": "a@example.dk", "company": "Tømrer ApS"}, "b2c"),
        ({"vat_number": CVR, "company": "Tømrer ApS"}, "b2b"),
        ({"vat_number": DE_VAT}, "b2b"),
        ({"ean": GLN, "vat_number": CVR}, "ean"),
        ({"ean": GLN}, "ean"),
        ({"vat_number": CVR, "kind": "b2c"}, "b2c"),
        ({"email": "a@example.dk", "kind": "b2b"}, "b2b"),
    ],
)
def test_customer_kind_follows_from_identifiers_unless_given(
    customer: dict[str, Any], kind: str
) -> None:
    assert CommerceCustomer.model_validate(customer).customer_kind == kind


@pytest.mark.parametrize(
    ("fields", "country"),
    [
        ({"destination_country": "fi", "shipping_address": {"country": "SE"}}, "FI"),
        ({"shipping_address": {"country": "DE"}}, "DE"),
        ({"shipping_address": {"city": "Kiel"}}, "DK"),
        ({}, "DK"),
        ({"billing_address": None}, None),
    ],
)
def test_destination_is_given_else_shipping_else_billing_country(
    fields: dict[str, Any], country: str | None
) -> None:
    assert order(**fields).destination == country


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"currency": "XXY"}, ("currency",), "currency_code"),
        ({"total": "125.001"}, ("total",), "number_too_precise"),
        ({"currency": "JPY", "total": "125.5"}, ("total",), "number_too_precise"),
        ({"total": "1e13"}, ("total",), "number_too_large"),
        ({"lines": []}, ("lines",), "too_short"),
        ({"lines": [line("10.00", kind="discount")]}, ("lines", 0), "discount_positive"),
        (
            {"lines": [{**line("-10.00", kind="discount"), "unit_price": "10.00"}]},
            ("lines", 0),
            "discount_positive",
        ),
        ({"lines": [line("10.00", quantity="0")]}, ("lines", 0, "quantity"), "quantity_zero"),
        (
            {"lines": [{**line("10.00"), "tax_rate": "101"}]},
            ("lines", 0, "tax_rate"),
            "less_than_equal",
        ),
        (
            {"lines": [{**line("10.00"), "description": "a\x00b"}]},
            ("lines", 0, "description"),
            "nul_character",
        ),
        ({"renewal": True}, ("subscription_id",), "subscription_missing"),
        ({"paid_at": "2026-05-31T10:00:00+02:00"}, ("paid_at",), "paid_before_created"),
        ({"created_at": "2026-06-01T10:00:00"}, ("created_at",), "timezone_aware"),
        ({"destination_country": "XX"}, ("destination_country",), "country_code"),
        ({"customer": {"ean": "5790000000006"}}, ("customer", "ean"), "gln"),
        ({"customer": {"kind": "ean"}}, ("customer",), "ean_missing"),
        ({"customer": {"email": "not-an-address"}}, ("customer", "email"), "email"),
        ({"customer": {"vat_number": "DK13585627"}}, ("customer", "vat_number"), "vat_number"),
        ({"customer": {"vat_number": "13585627"}}, ("customer", "vat_number"), "vat_number"),
        ({"payment_method": {"code": ""}}, ("payment_method", "code"), "string_too_short"),
        ({"unknown": 1}, ("unknown",), "extra_forbidden"),
    ],
)
def test_bad_order_names_the_field(
    fields: dict[str, Any], loc: tuple[Any, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        order(**fields)
    assert _error(exc) == (loc, error_type)


def test_bare_vat_number_is_checked_as_the_billing_countrys() -> None:
    assert order(customer={"vat_number": "13585628"}).customer.vat_number == CVR


def test_unit_price_may_be_finer_than_the_currency() -> None:
    placed = order([line("3.3333", quantity="3")])
    assert placed.lines[0].unit_price == Decimal("3.3333")
    with pytest.raises(ValidationError) as exc:
        order([line("3.33333", quantity="3")])
    assert _error(exc) == (("lines", 0, "unit_price"), "number_too_precise")


def _refund(**fields: Any) -> Refund:
    data: dict[str, Any] = {
        "source_id": "r-1",
        "order_source_id": "1001",
        "created_at": "2026-06-03T09:00:00+02:00",
        "currency": "DKK",
        "amount": "150.00",
        "reason": "Returned",
        "lines": [
            {"order_line_id": "11", "quantity": "1", "net_amount": "100.00", "tax_amount": "25.00"}
        ],
    }
    data.update(fields)
    return Refund.model_validate(data)


@pytest.mark.parametrize(
    ("fields", "free"),
    [
        ({}, Decimal("25.00")),
        ({"amount": "125.00"}, Decimal("0.00")),
        ({"lines": [], "amount": "40.00"}, Decimal("40.00")),
    ],
)
def test_refund_free_amount_is_what_the_lines_do_not_cover(
    fields: dict[str, Any], free: Decimal
) -> None:
    assert _refund(**fields).free_amount == free


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"amount": "100.00"}, ("lines",), "refund_lines_exceed_amount"),
        ({"amount": "0"}, ("amount",), "greater_than"),
        ({"amount": "-10.00"}, ("amount",), "greater_than"),
        ({"amount": "10.005"}, ("amount",), "number_too_precise"),
        (
            {"lines": [{"quantity": "1", "net_amount": "1.00"}]},
            ("lines", 0),
            "refund_line_unlinked",
        ),
        (
            {"lines": [{"sku": "A", "net_amount": "-1.00"}]},
            ("lines", 0, "net_amount"),
            "greater_than_equal",
        ),
        ({"order_source_id": ""}, ("order_source_id",), "string_too_short"),
    ],
)
def test_bad_refund_names_the_field(
    fields: dict[str, Any], loc: tuple[Any, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        _refund(**fields)
    assert _error(exc) == (loc, error_type)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, None),
        ({"amount": "10.001"}, (("amount",), "number_too_precise")),
        ({"currency": "JPY", "amount": "10.5"}, (("amount",), "number_too_precise")),
        ({"amount": "0"}, (("amount",), "greater_than")),
        ({"method": {"title": "Card"}}, (("method", "code"), "missing")),
    ],
)
def test_order_payment(fields: dict[str, Any], error: tuple[Any, str] | None) -> None:
    data: dict[str, Any] = {
        "order_source_id": "1001",
        "method": {"code": "stripe"},
        "amount": "125.00",
        "currency": "dkk",
        "transaction_reference": "pi_3Nabc",
        "date": "2026-06-01T10:01:00+02:00",
        **fields,
    }
    if error is None:
        payment = OrderPayment.model_validate(data)
        assert (payment.currency, payment.transaction_reference) == ("DKK", "pi_3Nabc")
        return
    with pytest.raises(ValidationError) as exc:
        OrderPayment.model_validate(data)
    assert _error(exc) == error
