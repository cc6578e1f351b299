"""Invoices, credit notes and payments: totals, rounding, rules, and lossless money in JSON."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledgerbridge.model import Invoice, InvoiceLine, Payment, round_money
from ledgerbridge.model.invoice import combined_discount, fold_document_discount


def _line(**fields: Any) -> InvoiceLine:
    return InvoiceLine.model_validate({"quantity": "1", "unit_price": "0", **fields})


def _invoice(**fields: Any) -> Invoice:
    return Invoice.model_validate(
        {"party_id": "p-1", "date": "2024-03-01", "currency": "EUR", **fields}
    )


def _error(model: type[Invoice] | type[InvoiceLine] | type[Payment], **data: Any) -> Any:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return info.value.errors()[0]


@pytest.mark.parametrize(
    ("quantity", "unit_price", "discount", "expected"),
    [
        ("1", "0.005", "0", "0.01"),
        ("3", "0.335", "0", "1.01"),
        ("-1", "0.005", "0", "-0.01"),
        ("1", "-0.005", "0", "-0.01"),
        ("2", "10.00", "12.5", "17.50"),
        ("1", "9.99", "15", "8.49"),
        ("1", "0.10", "50", "0.05"),
        ("0.333", "3", "0", "1.00"),
        ("7", "1.425", "0", "9.98"),
        ("1", "100", "100", "0.00"),
    ],
)
def test_line_net_amount_rounds_half_up(
    quantity: str, unit_price: str, discount: str, expected: str
) -> None:
    line = _line(quantity=quantity, unit_price=unit_price, discount_percent=discount)
    assert line.net_amount == Decimal(expected)
    assert str(line.net_amount) == expected


def test_vat_is_rounded_per_line_half_up() -> None:
    invoice = _invoice(
        lines=[
            {"quantity": "1", "unit_price": "0.10", "vat_rate": "25"},
            {"quantity": "1", "unit_price": "0.10", "vat_rate": "25"},
        ]
    )
    assert [line.vat_amount for line in invoice.lines] == [Decimal("0.03"), Decimal("0.03")]
    assert invoice.net_total == Decimal("0.20")
    assert invoice.vat_total == Decimal("0.06")
    assert invoice.gross_total == Decimal("0.26")


def test_vat_per_code_is_rounded_once_on_the_codes_net_as_uniconta_books_it() -> None:
    invoice = _invoice(
        discount_percent="0",
        lines=[
            {"quantity": "1", "unit_price": "0.10", "vat_rate": "25", "vat_code": "U25"},
            {"quantity": "1", "unit_price": "0.10", "vat_rate": "25", "vat_code": "U25"},
            {"quantity": "1", "unit_price": "0.10", "vat_rate": "25", "vat_code": "K25"},
            {"quantity": "1", "unit_price": "4.00"},
        ],
    )
    assert invoice.vat_by_code() == {
        "U25": (Decimal("0.20"), Decimal("0.06")),
        "K25": (Decimal("0.10"), Decimal("0.03")),
        "": (Decimal("4.00"), Decimal("0.00")),
    }
    assert invoice.vat_by_code("per_code") == {
        "U25": (Decimal("0.20"), Decimal("0.05")),
        "K25": (Decimal("0.10"), Decimal("0.03")),
        "": (Decimal("4.00"), Decimal("0.00")),
    }
    assert invoice.booked_total() == invoice.gross_total == Decimal("4.39")
    assert invoice.booked_total("per_code") == Decimal("4.38")


def test_totals_over_mixed_rates() -> None:
    invoice = _invoice(
        lines=[
            {"quantity": "3", "unit_price": "19.99", "vat_rate": "25", "sku": "A"},
            {"quantity": "1.5", "unit_price": "850", "discount_percent": "10", "vat_rate": "21"},
            {"quantity": "2", "unit_price": "4.50", "vat_rate": "0"},
            {"quantity": "1", "unit_price": "12.34"},
        ]
    )
    assert [line.net_amount for line in invoice.lines] == [
        Decimal("59.97"),
        Decimal("1147.50"),
        Decimal("9.00"),
        Decimal("12.34"),
    ]
    assert invoice.net_total == Decimal("1228.81")
    assert invoice.vat_total == Decimal("14.99") + Decimal("240.98")
    assert invoice.gross_total == Decimal("1484.78")


def test_empty_invoice_totals_are_zero() -> None:
    invoice = _invoice()
    assert (invoice.net_total, invoice.vat_total, invoice.gross_total) == (0, 0, 0)
    assert str(invoice.gross_total) == "0.00"


def test_float_input_has_no_binary_artefacts() -> None:
    line = InvoiceLine.model_validate({"quantity": 0.1, "unit_price": 0.2, "vat_rate": 25})
    assert line.quantity == Decimal("0.1")
    assert line.unit_price == Decimal("0.2")
    from_json = InvoiceLine.model_validate_json('{"quantity": 0.1, "unit_price": 19.99}')
    assert from_json.unit_price == Decimal("19.99")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", float("nan"), float("inf")])
def test_nan_and_infinity_are_rejected(bad: Any) -> None:
    assert _error(InvoiceLine, quantity=bad, unit_price="1")["loc"] == ("quantity",)


def test_amounts_serialise_as_strings() -> None:
    invoice = _invoice(amount_open="1234.50", lines=[{"quantity": "2", "unit_price": "0.10"}])
    data = invoice.model_dump(mode="json")
    assert data["amount_open"] == "1234.50"
    assert data["lines"][0]["unit_price"] == "0.10"
    assert json.loads(invoice.model_dump_json())["lines"][0]["quantity"] == "2"


@pytest.mark.parametrize("computed", ["net_amount", "vat_amount"])
def test_line_computed_amounts_are_not_input(computed: str) -> None:
    error = _error(InvoiceLine, quantity="1", unit_price="1", **{computed: "1"})
    assert (error["loc"], error["type"]) == ((computed,), "extra_forbidden")


@pytest.mark.parametrize("computed", ["net_total", "vat_total", "gross_total"])
def test_invoice_totals_are_not_input(computed: str) -> None:
    error = _error(Invoice, party_id="p", date="2024-01-01", currency="EUR", **{computed: "1"})
    assert (error["loc"], error["type"]) == ((computed,), "extra_forbidden")


def test_invoice_round_trip_and_dump_has_no_totals() -> None:
    invoice = _invoice(
        id="inv-1",
        number="2024-0001",
        due_date="2024-03-31",
        payment_term_days=30,
        status="booked",
        reference="PO 77",
        notes="Tak for handlen",
        amount_open="125.00",
        subject="Invoice_2024-0001",
        discount_percent="2.5",
        lines=[
            {"line_number": 1, "sku": "A", "quantity": "1", "unit_price": "100", "vat_rate": "25",
             "extra_description": "March", "product_id": "prod-1", "purchase_price": "61.30"},
        ],
    )  # fmt: skip
    data = invoice.model_dump(mode="json")
    assert "net_total" not in data
    assert "net_amount" not in data["lines"][0]
    assert Invoice.model_validate(data) == invoice
    assert Invoice.model_validate_json(invoice.model_dump_json()) == invoice


@pytest.mark.parametrize(
    ("line", "document", "combined"),
    [
        ("10", "5", "14.5"),
        ("0", "5", "5"),
        ("10", "0", "10"),
        ("0", "0", "0"),
        ("12.5", "3.33", "15.41375"),
        ("100", "5", "100"),
        ("10.00", "5.0", "14.5"),
    ],
)
def test_combined_discount_is_exact_and_plain(line: str, document: str, combined: str) -> None:
    assert str(combined_discount(Decimal(line), Decimal(document))) == combined


def test_the_document_discount_applies_to_each_line_before_rounding() -> None:
    invoice = _invoice(
        discount_percent="5",
        lines=[
            {"quantity": "1.5", "unit_price": "100", "discount_percent": "10", "vat_rate": "20"},
            {"quantity": "3", "unit_price": "19.99", "vat_rate": "5.5"},
        ],
    )
    # 150 less 10 % less 5 % is 128.25; 59.97 less 5 % is 56.9715, rounded once to 56.97.
    assert [line.net_amount for line in invoice.lines_with_document_discount()] == [
        Decimal("128.25"),
        Decimal("56.97"),
    ]
    assert invoice.net_total == Decimal("185.22")
    assert invoice.vat_total == Decimal("25.65") + Decimal("3.13")
    assert invoice.gross_total == Decimal("214.00")
    # The lines themselves keep their own discount; the amounts before it stay readable.
    assert [line.net_amount for line in invoice.lines] == [Decimal("135.00"), Decimal("59.97")]


def test_folded_json_lines_are_the_models_folded_lines() -> None:
    data = {
        "party_id": "p",
        "date": "2024-03-01",
        "currency": "EUR",
        "discount_percent": "5",
        "lines": [
            {"description": "A", "quantity": "1", "unit_price": "10", "discount_percent": "10"},
            {"description": "B", "quantity": "2", "unit_price": "3"},
        ],
    }
    folded = fold_document_discount(data)
    assert [line["discount_percent"] for line in folded] == ["14.5", "5"]
    assert [line["description"] for line in folded] == ["A", "B"]
    invoice = Invoice.model_validate(data)
    assert [line.discount_percent for line in invoice.lines_with_document_discount()] == [
        Decimal(line["discount_percent"]) for line in folded
    ]
    assert data["lines"][0]["discount_percent"] == "10"  # the record is left as it was


def test_without_a_document_discount_lines_are_folded_as_they_are() -> None:
    lines = [{"quantity": "1", "unit_price": "10", "discount_percent": "10"}, {"quantity": "1"}]
    assert fold_document_discount({"lines": lines}) == lines
    assert fold_document_discount({"lines": lines, "discount_percent": "0"}) == lines


def test_due_date_not_before_date() -> None:
    assert _invoice(due_date="2024-03-01").due_date == dt.date(2024, 3, 1)
    error = _error(Invoice, party_id="p", date="2024-03-01", due_date="2024-02-29", currency="EUR")
    assert (error["loc"], error["type"]) == (("due_date",), "due_date_before_date")
    assert "2024-02-29" in error["msg"]


def test_credit_note_may_name_the_invoice_it_credits() -> None:
    note = _invoice(
        kind="credit_note",
        credits_invoice_id="inv-1",
        lines=[{"quantity": "-2", "unit_price": "50", "vat_rate": "25"}],
    )
    assert note.net_total == Decimal("-100.00")
    assert note.gross_total == Decimal("-125.00")


def test_credit_note_with_negative_prices() -> None:
    note = _invoice(kind="credit_note", lines=[{"quantity": "2", "unit_price": "-50"}])
    assert note.net_total == Decimal("-100.00")


def test_only_a_credit_note_credits_an_invoice() -> None:
    error = _error(
        Invoice, party_id="p", date="2024-03-01", currency="EUR", credits_invoice_id="inv-1"
    )
    assert (error["loc"], error["type"]) == (
        ("credits_invoice_id",),
        "credits_invoice_id_on_invoice",
    )


def test_credit_note_must_not_total_positive() -> None:
    error = _error(
        Invoice,
        kind="credit_note",
        party_id="p",
        date="2024-03-01",
        currency="EUR",
        lines=[
            {"quantity": "-1", "unit_price": "10"},
            {"quantity": "2", "unit_price": "10"},
        ],
    )
    assert (error["loc"], error["type"]) == (("lines",), "credit_note_positive")
    assert "10.00" in error["msg"]


def test_negative_invoice_stays_an_invoice() -> None:
    invoice = _invoice(lines=[{"quantity": "-1", "unit_price": "10"}])
    assert invoice.kind == "invoice"
    assert invoice.net_total == Decimal("-10.00")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"currency": "XYZ"}, ("currency",)),
        ({"status": "open"}, ("status",)),
        ({"kind": "debit_note"}, ("kind",)),
        ({"payment_term_days": 400}, ("payment_term_days",)),
        ({"lines": [{"quantity": "1"}]}, ("lines", 0, "unit_price")),
        (
            {"lines": [{"quantity": "1", "unit_price": "1", "discount_percent": "101"}]},
            ("lines", 0, "discount_percent"),
        ),
        (
            {"lines": [{"quantity": "1", "unit_price": "1", "vat_rate": "-1"}]},
            ("lines", 0, "vat_rate"),
        ),
        ({"lines": [{"quantity": "1", "unit_price": "1", "price": "1"}]}, ("lines", 0, "price")),
        ({"discount_percent": "100.01"}, ("discount_percent",)),
        ({"discount_percent": "-1"}, ("discount_percent",)),
        (
            {"lines": [{"quantity": "1", "unit_price": "1", "purchase_price": "-0.01"}]},
            ("lines", 0, "purchase_price"),
        ),
    ],
)
def test_invoice_field_errors(fields: dict[str, Any], loc: tuple[Any, ...]) -> None:
    data = {"party_id": "p", "date": "2024-03-01", "currency": "EUR", **fields}
    assert _error(Invoice, **data)["loc"] == loc


def test_invoice_in_gold_is_refused_with_a_reason() -> None:
    error = _error(Invoice, party_id="p", date="2024-03-01", currency="XAU")
    assert (error["loc"], error["type"]) == (("currency",), "currency_code")
    assert error["msg"] == "'XAU' is not a currency invoices can be made in"


def test_invoice_requires_party_date_and_currency() -> None:
    with pytest.raises(ValidationError) as info:
        Invoice.model_validate({})
    assert {error["loc"] for error in info.value.errors()} == {
        ("party_id",),
        ("date",),
        ("currency",),
    }


def test_payment() -> None:
    payment = Payment(
        invoice_id="inv-1", date=dt.date(2024, 4, 2), amount=Decimal("125.00"), currency="eur"
    )
    assert payment.currency == "EUR"
    assert Payment.model_validate(payment.model_dump(mode="json")) == payment


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"amount": "0"}, ("amount",)),
        ({"amount": "-5"}, ("amount",)),
        ({"currency": "XX"}, ("currency",)),
    ],
)
def test_payment_errors(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    data = {
        "invoice_id": "inv-1",
        "date": "2024-04-02",
        "amount": "10",
        "currency": "DKK",
        **fields,
    }
    assert _error(Payment, **data)["loc"] == loc


def test_round_money() -> None:
    assert round_money(Decimal("2.675")) == Decimal("2.68")
    assert round_money(Decimal("-2.675")) == Decimal("-2.68")
    assert round_money(Decimal("12345678901234567890123.455")) == Decimal(
        "12345678901234567890123.46"
    )


def _numbers(places: int) -> st.SearchStrategy[Decimal]:
    """Every number the model accepts with ``places`` decimals: below 10^12 in size."""
    return st.decimals(min_value=-(10**12) + 1, max_value=10**12 - 1, places=places)


_quantities = _numbers(6)
_prices = _numbers(4)  # a EUR unit price: cents and two places more
_amounts = _numbers(2)
_percents = st.decimals(min_value=0, max_value=100, allow_nan=False, places=4)


@given(
    lines=st.lists(
        st.tuples(_quantities, _prices, _percents, st.sampled_from(["0", "5.5", "21", "25"])),
        max_size=5,
    ),
    document=_percents,
)
def test_an_invoice_totals_as_its_folded_lines(
    lines: list[tuple[Decimal, Decimal, Decimal, str]], document: Decimal
) -> None:
    """Sending folded lines to a system without a document discount books the hub's totals."""
    data: dict[str, Any] = {
        "party_id": "p",
        "date": "2024-03-01",
        "currency": "EUR",
        "discount_percent": document,
        "lines": [
            {"quantity": q, "unit_price": p, "discount_percent": d, "vat_rate": r}
            for q, p, d, r in lines
        ],
    }
    invoice = Invoice.model_validate(data)
    folded = _invoice(lines=fold_document_discount(invoice.model_dump(mode="json")))
    assert (folded.net_total, folded.vat_total) == (invoice.net_total, invoice.vat_total)


@given(
    quantity=_quantities,
    unit_price=_prices,
    amount_open=st.none() | _amounts,
    discount=st.decimals(min_value=0, max_value=100, allow_nan=False, places=4),
)
def test_money_survives_json_without_loss(
    quantity: Decimal, unit_price: Decimal, amount_open: Decimal | None, discount: Decimal
) -> None:
    invoice = _invoice(
        amount_open=amount_open,
        lines=[{"quantity": quantity, "unit_price": unit_price, "discount_percent": discount}],
    )
    for copy in (
        Invoice.model_validate(invoice.model_dump(mode="json")),
        Invoice.model_validate_json(invoice.model_dump_json()),
    ):
        assert copy == invoice
        assert str(copy.lines[0].quantity) == str(quantity)
        assert str(copy.lines[0].unit_price) == str(unit_price)
        assert str(copy.amount_open) == str(amount_open)
        assert copy.net_total == invoice.net_total
