"""Unit tests of the sandbox's OData ``$filter`` parser and ``$orderby`` sorting (no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.sandbox.uniconta.entities import ENTITIES
from ledgerbridge.sandbox.uniconta.odata import (
    QueryError,
    compile_filter,
    compile_query_filter,
    parse_orderby,
    parse_select,
    seek,
    sort_rows,
)

DEBTOR = ENTITIES["DebtorClient"]
ROWS: list[dict[str, Any]] = [
    {"Account": "1", "Name": "O'Brien ApS", "Country": "Denmark", "CreditMax": Decimal(0),
     "Blocked": False, "Created": datetime(2024, 1, 1, tzinfo=UTC)},
    {"Account": "2", "Name": "Nord A/S", "Country": "Sweden", "CreditMax": Decimal("1500.5"),
     "Blocked": True, "City": "Malmö", "Created": datetime(2025, 6, 1, 12, tzinfo=UTC)},
    {"Account": "10", "Name": "Syd ApS", "CreditMax": Decimal(20000), "Blocked": False,
     "City": "Odense C", "Created": datetime(2026, 1, 1, tzinfo=UTC)},
]  # fmt: skip


def matching(expression: str) -> list[str]:
    """Accounts of the rows a filter keeps."""
    predicate = compile_filter(expression, DEBTOR)
    return [row["Account"] for row in ROWS if predicate(row)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Name eq 'O''Brien ApS'", ["1"]),
        ("Account gt '1'", ["2", "10"]),
        ("Account lt '2'", ["1", "10"]),
        ("CreditMax gt 1500 and CreditMax le 1500.5", ["2"]),
        ("CreditMax eq 0 or Blocked eq true and CreditMax gt 100000", ["1"]),
        ("(CreditMax eq 0 or Blocked eq true) and CreditMax lt 100000", ["1", "2"]),
        ("not (Blocked eq true)", ["1", "10"]),
        ("not Blocked and City ne null", ["10"]),
        ("City eq null", ["1"]),
        ("City gt 'A'", ["2", "10"]),
        ("Country eq 'Denmark'", ["1"]),
        ("Country ne 'Denmark'", ["2", "10"]),
        ("Country gt 'Denmark'", ["2"]),
        ("Country eq Uniconta.Common.CountryCode'Sweden'", ["2"]),
        ("contains(City,'ö')", ["2"]),
        ("not contains(City,'ö')", ["1", "10"]),
        ("startswith(toupper(Name),'NORD')", ["2"]),
        ("endswith(Name, 'ApS')", ["1", "10"]),
        ("Created ge 2025-06-01T14:00:00+02:00", ["2", "10"]),
        ("Created gt 2025-06-01T12:00:00.000Z", ["10"]),
        ("Created lt 2025-01-01", ["1"]),
        ("  Blocked  ", ["2"]),
        ("false", []),
        # A batch read by key: one set look-up, with the same answers as the terms one by one.
        ("Account eq '10' or Account eq '1' or Account eq '99'", ["1", "10"]),
        ("Account eq '2' or Name eq 'Syd ApS' or Account eq '1'", ["1", "2", "10"]),
        ("(Account eq '1' or Account eq '2') and Blocked", ["2"]),
        ("City eq 'Malmö' or City eq 'Odense C'", ["2", "10"]),
        ("City eq 'Malmö' or City eq null", ["1", "2"]),
    ],
)
def test_filter_semantics(expression: str, expected: list[str]) -> None:
    assert matching(expression) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("Nmae eq 'x'", "Nmae"),
        ("Name eq 1", "cannot compare"),
        ("CreditMax eq '1'", "cannot compare"),
        ("Created gt '2024-01-01'", "cannot compare"),
        ("Blocked gt false", "not defined for Edm.Boolean"),
        ("Country eq 'Danmark'", "Danmark"),
        ("Country eq Uniconta.Common.Currencies'DKK'", "does not match"),
        ("Name eq Uniconta.Common.CountryCode'Denmark'", "enum literal"),
        ("not Name", "boolean"),
        ("Name and Blocked", "boolean"),
        ("contains(Name)", "2 arguments"),
        ("contains(CreditMax,'1')", "string arguments"),
        ("Name eq 'x' or", "ends unexpectedly"),
        ("Name eq 'x')", "unexpected ')'"),
        ("Name eq 'x' Blocked", "unexpected 'Blocked'"),
        ('Name eq "x"', "position 8"),
        ("CreditMax gt 12abc", "bad literal"),
        ("Created gt 2024-13-45T00:00:00Z", "not a valid date"),
    ],
)
def test_filter_errors_name_the_problem(expression: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_filter(expression, DEBTOR)
    assert fragment in str(info.value)


def test_orderby_nulls_first_and_enum_ordinal() -> None:
    by_city = sort_rows(ROWS, parse_orderby("City", DEBTOR), DEBTOR)
    assert [row["Account"] for row in by_city] == ["1", "2", "10"]
    by_country = sort_rows(ROWS, parse_orderby("Country desc, Account", DEBTOR), DEBTOR)
    assert [row["Account"] for row in by_country] == ["2", "1", "10"]


def test_orderby_and_select_reject_unknown_properties() -> None:
    with pytest.raises(QueryError, match="Nope"):
        parse_orderby("Name, Nope desc", DEBTOR)
    with pytest.raises(QueryError, match="upwards"):
        parse_orderby("Name upwards", DEBTOR)
    with pytest.raises(QueryError, match="Nope"):
        parse_select("Name,Nope", DEBTOR)
    assert parse_select("*", DEBTOR) == list(DEBTOR.fields)


@pytest.mark.parametrize(
    ("expression", "bounds"),
    [
        ("RowId gt 1234", [("RowId", False, Decimal(1234))]),
        ("RowId ge 5 and Blocked", [("RowId", True, Decimal(5))]),
        ("10 lt RowId and (Name eq 'x' and CreditMax ge 2)",
         [("RowId", False, Decimal(10)), ("Name", True, "x"), ("CreditMax", True, Decimal(2))]),
        ("Created ge 2025-01-01", [("Created", True, datetime(2025, 1, 1, tzinfo=UTC))]),
        ("RowId gt 5 or Blocked", []),
        ("not (RowId gt 5)", []),
        ("RowId lt 5", []),
        ("Country eq 'Denmark'", []),
        ("tolower(Name) gt 'a'", []),
    ],
)  # fmt: skip
def test_filter_lower_bounds(expression: str, bounds: list[tuple[str, bool, Any]]) -> None:
    assert list(compile_query_filter(expression, DEBTOR).bounds) == bounds


def test_seek_starts_at_the_first_candidate() -> None:
    rows = [{"RowId": n} for n in (1, 3, 3, 7, 9)]
    assert seek(rows, "RowId", [("RowId", False, Decimal(3))]) == 3
    assert seek(rows, "RowId", [("RowId", True, Decimal(3))]) == 1
    assert seek(rows, "RowId", [("RowId", True, 2), ("RowId", False, 7)]) == 4
    assert seek(rows, "RowId", [("RowId", False, 9)]) == 5
    assert seek(rows, "RowId", [("Name", False, "x")]) == 0
    with_nulls = [{"City": None}, {"City": "Aarhus"}, {"City": "Vejle"}]
    assert seek(with_nulls, "City", [("City", True, "B")]) == 2
