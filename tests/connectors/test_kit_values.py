"""The value helpers every mapping reads wire values with: one canonical form whatever the
system sent, so that the same value never looks like a change."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.kit.values import dec, decimal, named, text, texts, wire, words


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), (" Acme ", "Acme"), (42, "42"), ("a  b", "a  b")],
)
def test_text_is_stripped_and_empty_is_none(value: object, expected: str | None) -> None:
    assert text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (" \t ", None), (" Jan  van\tder \n Berg ", "Jan van der Berg"), (7, "7")],
)
def test_words_folds_runs_of_white_space(value: object, expected: str | None) -> None:
    assert words(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("", None), (2, "2"), ("2", "2"), (2.0, "2"), ("2.00", "2"),
        ("2.50", "2.5"), (2.5, "2.5"), ("-0.10", "-0.1"), ("1E+2", "100"),
        (Decimal("3.140"), "3.14"),
    ],
)  # fmt: skip
def test_dec_is_one_normal_form_string(value: object, expected: str | None) -> None:
    assert dec(value) == expected


@pytest.mark.parametrize("value", ["abc", float("inf"), "NaN"])
def test_dec_refuses_what_is_no_finite_number(value: object) -> None:
    with pytest.raises((ArithmeticError, ValueError)):
        dec(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("abc", None), ("2.50", Decimal("2.50")), (-3, Decimal(-3))],
)
def test_decimal_is_exact_and_none_when_unreadable(value: object, expected: Decimal | None) -> None:
    result = decimal(value)
    assert result == expected
    assert result is None or isinstance(result, Decimal)
    assert str(result) == str(expected)


def test_a_record_without_a_name_is_skipped_saying_which() -> None:
    assert named(" Fjord AS ", "account 10") == "Fjord AS"
    with pytest.raises(SkipRecord) as caught:
        named("  ", "account 10")
    assert (caught.value.reason, caught.value.message) == (
        "name_missing",
        "account 10 has no name, which the hub needs: give it one there and the next sync "
        "brings it",
    )


def test_a_field_table_reads_each_field_as_text_and_writes_it_back() -> None:
    table = {"email": "ContactEmail", "phone": "Phone"}
    assert texts({"ContactEmail": " a@b.dk ", "Other": 1}, table) == {
        "email": "a@b.dk", "phone": None}  # fmt: skip
    assert wire({"email": "a@b.dk", "name": "x"}, table) == {
        "ContactEmail": "a@b.dk", "Phone": None}  # fmt: skip
