"""File integration: order and refund files read into canonical records, every problem named
by its line and column, over the sample files in ``files/`` (CSV with ``;`` and ``,``,
decimal commas, UTF-8 with a BOM, Latin-1 and Windows-1252, XML)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ledgerbridge.commerce.files import (
    CsvFormat,
    FileLimits,
    FileMapping,
    XmlFormat,
    content_key,
    preview,
    read,
    suggest_fields,
    suggest_mapping,
)
from ledgerbridge.model.commerce import Order, Refund

FILES = Path(__file__).parent / "files"


def sample(name: str) -> bytes:
    return (FILES / name).read_bytes()


def mapping(**fields: Any) -> FileMapping:
    return FileMapping.model_validate(fields)


DANISH_LINES = mapping(
    kind="orders",
    format={"type": "csv"},
    layout="line_per_row",
    decimal_separator=",",
    thousands_separator=".",
    date_format="%d-%m-%Y %H:%M",
    fields={
        "order.number": "Ordrenr",
        "order.created_at": "Dato",
        "order.state": {"column": "Status", "values": {"betalt": "processing"}},
        "order.currency": "Valuta",
        "customer.name": "Kunde",
        "customer.email": "E-mail",
        "customer.vat_number": "CVR",
        "customer.ean": "EAN",
        "billing_address.country": "Land",
        "shipping_price": "Fragt",
        "line.sku": "Varenr",
        "line.description": "Beskrivelse",
        "line.quantity": "Antal",
        "line.unit_price": "Stykpris",
        "line.tax_rate": "Moms %",
    },
)
DUTCH_ROWS = mapping(
    kind="orders",
    format={"type": "csv", "encoding": "latin-1"},
    fields={
        "order.number": "Bestelnummer",
        "order.created_at": "Besteldatum",
        "order.state": "Bestelstatus",
        "order.currency": "Munt",
        "order.total": "Totaal",
        "customer.name": "Klantnaam",
        "customer.email": "E-mailadres",
        "line.sku": "Artikelnummer",
        "line.description": "Omschrijving",
        "line.quantity": "Aantal",
        "line.unit_price": "Prijs",
        "line.tax_rate": "BTW %",
    },
)
PROBLEM_LINES = mapping(
    kind="orders",
    format={"type": "csv", "delimiter": ","},
    layout="line_per_row",
    fields={
        "order.number": "order",
        "order.created_at": "date",
        "order.state": "status",
        "order.currency": "currency",
        "customer.email": "email",
        "customer.vat_number": "vat number",
        "customer.ean": "ean",
        "billing_address.country": "country",
        "line.sku": "sku",
        "line.description": "description",
        "line.quantity": "qty",
        "line.unit_price": "price",
        "line.tax_rate": "vat rate",
    },
)
XML_ORDERS = mapping(
    kind="orders",
    format={"type": "xml", "records": "Export/Orders/Order", "lines": "Lines/Line"},
    fields={
        "order.number": "@id",
        "order.created_at": "Date",
        "order.state": "Status",
        "order.currency": {"value": "EUR"},
        "order.total": "Total",
        "customer.name": "Customer/Name",
        "customer.email": "Customer/Email",
        "billing_address.country": "Address/Country",
        "line.sku": "Sku",
        "line.quantity": "Qty",
        "line.unit_price": "Price",
        "line.tax_rate": "Vat",
    },
)
DANISH_REFUNDS = mapping(
    kind="refunds",
    format={"type": "csv"},
    decimal_separator=",",
    date_format="%d-%m-%Y",
    fields={
        "refund.source_id": "Kreditnota",
        "refund.order_number": "Ordrenr",
        "refund.created_at": "Dato",
        "refund.currency": "Valuta",
        "refund.amount": "Beløb",
        "refund.reason": "Årsag",
        "line.sku": "Varenr",
        "line.quantity": "Antal",
        "line.net_amount": "Beløb ex moms",
        "line.tax_amount": "Momsbeløb",
    },
)
XML_REFUNDS = mapping(
    kind="refunds",
    format={"type": "xml", "records": "Refunds/Refund"},
    fields={
        "refund.source_id": "@number",
        "refund.order_number": "Order",
        "refund.created_at": "Date",
        "refund.currency": {"value": "EUR"},
        "refund.amount": "Amount",
        "refund.reason": "Reason",
    },
)


def orders(name: str, file_mapping: FileMapping) -> dict[str, Order]:
    result = read(sample(name), file_mapping)
    assert all(isinstance(record, Order) for record in result.records)
    return {record.source_id: record for record in result.records if isinstance(record, Order)}


# --- reading whole files -------------------------------------------------------------------


def test_semicolons_decimal_commas_and_a_bom_one_line_per_row() -> None:
    result = read(sample("ordrer_linjer.csv"), DANISH_LINES)
    assert result.problems == []
    assert result.rows == 4
    found = {record.source_id: record for record in result.records if isinstance(record, Order)}
    assert list(found) == ["1001", "1002", "1003"]
    first = found["1001"]
    assert first.state == "processing"
    assert first.created_at.isoformat() == "2026-11-30T14:05:00+01:00"
    assert first.customer.name == "Søren Ærø"
    assert [(line.kind, line.sku, line.quantity, line.unit_price) for line in first.lines] == [
        ("item", "MUG-1", Decimal(2), Decimal("79.20")),
        ("item", "TEA-7", Decimal(1), Decimal("1200.00")),
        ("shipping", None, Decimal(1), Decimal("39.00")),
    ]
    assert first.lines[0].description == 'Krus "Blå"'
    assert first.lines[1].description == "Te, grøn"
    assert (first.total, first.total_tax) == (Decimal("1746.75"), Decimal("349.35"))
    public = found["1002"]
    assert (public.customer.vat_number, public.customer.ean) == ("DK13585628", "5790000000005")
    assert public.customer.customer_kind == "ean"
    assert [line.kind for line in public.lines] == ["item"]  # shipping 0 is no line


def test_a_formula_in_a_cell_is_text() -> None:
    """CSV injection: a value that a spreadsheet would run stays the text it is."""
    description = orders("ordrer_linjer.csv", DANISH_LINES)["1003"].lines[0].description
    assert description == '=HYPERLINK("http://x";"klik")'


@pytest.mark.parametrize("encoding", [None, "latin-1"])
def test_commas_and_latin_1_one_order_per_row(encoding: str | None) -> None:
    file_mapping = DUTCH_ROWS.model_copy(update={"format": CsvFormat(encoding=encoding)}, deep=True)
    found = orders("bestellingen_latin1.csv", file_mapping)
    assert found["5001"].customer.name == "José Peña"
    assert found["5001"].lines[0].description == "Café boek"
    assert found["5001"].created_at.isoformat() == "2026-11-30T00:00:00+01:00"
    assert found["5002"].created_at.isoformat() == "2026-11-30T16:45:00+01:00"
    assert [(o.total, o.total_tax) for o in found.values()] == [
        (Decimal("21.80"), Decimal("1.80")),
        (Decimal("9.08"), Decimal("1.58")),
    ]


def test_xml_with_namespaces_attributes_line_elements_and_a_fixed_currency() -> None:
    result = read(sample("orders.xml"), XML_ORDERS)
    [order] = result.records
    assert isinstance(order, Order)
    assert (order.source_id, order.currency, order.total) == ("7001", "EUR", Decimal("24.70"))
    assert order.customer.name == "Émilie Dubois"
    assert [(line.sku, line.tax_rate, line.tax_amount) for line in order.lines] == [
        ("BOOK-1", Decimal("5.5"), Decimal("1.10")),
        ("CARD-1", Decimal(20), Decimal("0.60")),
    ]
    assert [(p.line, p.column, p.code, p.record) for p in result.problems] == [
        (28, "Price", "number_invalid", "7002")
    ]


def test_refunds_from_windows_1252_with_lines_or_a_free_amount() -> None:
    result = read(sample("kreditnotaer_cp1252.csv"), DANISH_REFUNDS)
    refunds = {r.source_id: r for r in result.records if isinstance(r, Refund)}
    assert list(refunds) == ["K-1", "K-2"]
    assert refunds["K-1"].order_source_id == "1001"
    assert [(line.sku, line.net_amount, line.tax_amount) for line in refunds["K-1"].lines] == [
        ("MUG-1", Decimal("79.20"), Decimal("19.80"))
    ]
    assert refunds["K-2"].lines == []
    assert refunds["K-2"].free_amount == Decimal("50.00")
    assert refunds["K-2"].reason == "Godtør €"
    assert [(p.line, p.column, p.field, p.code) for p in result.problems] == [
        (4, None, "lines", "refund_lines_exceed_amount"),
        (5, "Ordrenr", "refund.order_number", "value_missing"),
    ]


def test_a_refunded_line_without_its_amounts_names_the_column_to_fill() -> None:
    """A credit-note export with the returned SKU and quantity but no amount per line: the
    line cannot be credited (a refund file has no prices), and the problem says which column
    is empty and what else the row can be, not a bare "Field required" on "line". Without its
    VAT (read as 0) the line would be credited at its rate and the VAT again as a free
    amount."""
    content = (
        "Kreditnota;Ordrenr;Dato;Valuta;Beløb;Årsag;Varenr;Antal;Beløb ex moms;Momsbeløb\n"
        "K-5;1005;02-12-2026;DKK;125,00;Retur;MUG-1;1;;\n"
        "K-6;1006;02-12-2026;DKK;125,00;Retur;MUG-1;1;100,00;25,00\n"
        "K-7;1007;02-12-2026;DKK;125,00;Retur;MUG-1;1;100,00;\n"
        "K-8;1008;02-12-2026;DKK;100,00;Retur;BOG-1;1;100,00;0\n"
    ).encode()
    result = read(content, DANISH_REFUNDS)
    assert [r.source_id for r in result.records] == ["K-6", "K-8"]
    assert [(p.line, p.column, p.field, p.record, p.code) for p in result.problems] == [
        (2, "Beløb ex moms", "line.net_amount", "K-5", "value_missing"),
        (2, "Momsbeløb", "line.tax_amount", "K-5", "value_missing"),
        (4, "Momsbeløb", "line.tax_amount", "K-7", "value_missing"),
    ]
    problem = result.problems[0]
    assert "column 'Beløb ex moms' is empty" in problem.message
    assert "free amount" in problem.message
    assert "0 on a line without VAT" in result.problems[2].message
    unmapped = DANISH_REFUNDS.model_copy(
        update={"fields": {k: v for k, v in DANISH_REFUNDS.fields.items()
                           if k != "line.net_amount"}}
    )  # fmt: skip
    problem = read(content, unmapped).problems[0]
    assert (problem.line, problem.field, problem.code) == (2, "line.net_amount", "value_missing")
    assert "no column is mapped" in problem.message


def test_a_credit_note_export_with_minus_signs_says_to_write_them_positive() -> None:
    """Accounting exports write credit notes negative; a refund is what the customer got
    back. Each negative figure is its row's problem, saying which positive number to write
    instead, not a bare "Input should be greater than 0"."""
    content = (
        "Kreditnota;Ordrenr;Dato;Valuta;Beløb;Årsag;Varenr;Antal;Beløb ex moms;Momsbeløb\n"
        "K-5;1005;02-12-2026;DKK;-125,00;Retur;MUG-1;-1;-100,00;-25,00\n"
    ).encode()
    result = read(content, DANISH_REFUNDS)
    assert result.records == []
    assert [(p.column, p.field, p.code) for p in result.problems] == [
        ("Beløb", "refund.amount", "greater_than"),
        ("Antal", "line.quantity", "greater_than_equal"),
        ("Beløb ex moms", "line.net_amount", "greater_than_equal"),
        ("Momsbeløb", "line.tax_amount", "greater_than_equal"),
    ]
    assert "write -125.00 as 125.00" in result.problems[0].message
    assert "write -1 as 1" in result.problems[1].message
    assert all("minus sign" in p.message for p in result.problems)


def test_xml_refunds() -> None:
    result = read(sample("refunds.xml"), XML_REFUNDS)
    [refund] = result.records
    assert isinstance(refund, Refund)
    assert (refund.source_id, refund.order_source_id, refund.amount) == (
        "R-1",
        "7001",
        Decimal("3.60"),
    )
    assert [(p.line, p.column, p.code) for p in result.problems] == [(12, "Amount", "greater_than")]


def test_a_refund_file_names_how_the_money_went_back() -> None:
    header = ["Refund id", "Order number", "Date", "Currency", "Amount", "Refund method"]
    content = (
        f"{';'.join(header)}\nK-9;1001;2026-12-02;DKK;50.00;bacs\nK-10;1002;2026-12-02;DKK;20.00;\n"
    ).encode()
    fields = suggest_fields(header, "refunds")
    assert fields["refund.payment_method"] == "Refund method"
    file_mapping = mapping(kind="refunds", format={"type": "csv"}, date_format="%Y-%m-%d",
                           fields=fields)  # fmt: skip
    result = read(content, file_mapping)
    assert result.problems == []
    methods = {
        r.source_id: r.payment_method and r.payment_method.code
        for r in result.records
        if isinstance(r, Refund)
    }
    assert methods == {"K-9": "bacs", "K-10": None}


def test_an_empty_vat_rate_is_a_problem_not_a_line_without_vat() -> None:
    """Read as 0 %, a blank VAT cell would book a Danish sale as exempt: the file must write 0,
    or the mapping give the column a default."""
    content = (
        b"Ordrenr;Dato;Status;E-mail;Varenr;Antal;Stykpris;Moms %\n"
        b"3001;30-11-2026 14:05;Betalt;kunde@example.dk;MUG-1;1;79,20;25\n"
        b"3001;30-11-2026 14:05;Betalt;kunde@example.dk;TEA-7;1;40,00;\n"
        b"3002;30-11-2026 14:05;Betalt;kunde@example.dk;BOG-1;1;100,00;0\n"
    )
    fields = {
        "order.number": "Ordrenr", "order.created_at": "Dato",
        "order.state": {"column": "Status", "values": {"betalt": "processing"}},
        "order.currency": {"value": "DKK"}, "customer.email": "E-mail", "line.sku": "Varenr",
        "line.quantity": "Antal", "line.unit_price": "Stykpris", "line.tax_rate": "Moms %",
    }  # fmt: skip
    settings: dict[str, Any] = {"kind": "orders", "format": {"type": "csv"},
                                "layout": "line_per_row", "decimal_separator": ",",
                                "date_format": "%d-%m-%Y %H:%M"}  # fmt: skip
    result = read(content, mapping(**settings, fields=fields))
    assert [record.source_id for record in result.records] == ["3002"], "a written 0 is 0 %"
    found = [(p.line, p.column, p.field, p.code) for p in result.problems]
    assert found == [(2, None, None, "order_rejected"),
                     (3, "Moms %", "line.tax_rate", "value_missing")]  # fmt: skip
    assert "write 0 for a line without VAT" in result.problems[1].message
    defaulted = {**fields, "line.tax_rate": {"column": "Moms %", "default": "25"}}
    result = read(content, mapping(**settings, fields=defaulted))
    assert result.problems == []
    (order, _) = result.records
    assert isinstance(order, Order)
    assert [line.tax_rate for line in order.lines] == [Decimal(25), Decimal(25)]


# --- every problem on its line and column --------------------------------------------------

PROBLEMS = [
    (3, "price", "line.unit_price", "number_invalid", "2002"),
    (4, None, None, "order_rejected", "2002"),
    (5, "date", "order.created_at", "date_invalid", "2003"),
    (6, "currency", "order.currency", "currency_code", "2004"),
    (7, "vat number", "customer.vat_number", "vat_number", "2005"),
    (8, "ean", "customer.ean", "gln", "2006"),
    (9, "status", "order.state", "value_missing", "2007"),
    (10, "price", "line.unit_price", "number_invalid", "2008"),
    (11, None, None, "columns_count", "2009"),
    (14, "email", "customer.email", "email", "2011"),
    (15, "qty", "line.quantity", "quantity_zero", "2012"),
    (16, None, None, "order_rejected", "2013"),
    (17, "currency", "order.currency", "record_field_differs", "2013"),
]


def test_a_value_out_of_its_range_says_what_it_must_be() -> None:
    """A VAT rate of 250 (a typo of 25) is its line's problem in words, not the validation
    library's "Input should be less than or equal to 100"."""
    content = (
        b"order,date,status,currency,email,vat number,ean,country,sku,description,qty,price,"
        b"vat rate\n"
        b"2001,2026-11-30T10:00:00+01:00,completed,EUR,a@example.com,,,NL,A-1,Good,1,10.00,250\n"
    )
    [problem] = read(content, PROBLEM_LINES).problems
    assert (problem.line, problem.column, problem.field) == (2, "vat rate", "line.tax_rate")
    assert problem.message == "must be 100 or less"


@pytest.fixture(scope="module")
def problem_file() -> Any:
    return read(sample("orders_problems.csv"), PROBLEM_LINES)


@pytest.mark.parametrize(("line", "column", "field", "code", "record"), PROBLEMS)
def test_each_problem_names_its_line_and_column(
    problem_file: Any, line: int, column: str | None, field: str | None, code: str, record: str
) -> None:
    matches = [p for p in problem_file.problems if p.line == line]
    assert [(p.column, p.field, p.code, p.record) for p in matches] == [
        (column, field, code, record)
    ]
    assert matches[0].message


def test_no_line_disappears(problem_file: Any) -> None:
    """Every order is read or has its problems; a multi-line quoted value keeps its order."""
    read_numbers = {record.source_id for record in problem_file.records}
    assert read_numbers == {"2001", "2010"}
    assert sorted(p.line for p in problem_file.problems) == [entry[0] for entry in PROBLEMS]
    assert {p.record for p in problem_file.problems} | read_numbers == {
        str(number) for number in range(2001, 2014)
    }
    assert problem_file.records[1].lines[0].description == "multi\nline description"


def test_a_bad_line_makes_its_whole_order_a_problem(problem_file: Any) -> None:
    rejected = next(p for p in problem_file.problems if p.code == "order_rejected")
    assert rejected.message == "order 2002 is not read, because of the problems on line 3"
    assert "2002" not in {record.source_id for record in problem_file.records}


def test_the_bad_value_is_shown_as_text(problem_file: Any) -> None:
    formula = next(p for p in problem_file.problems if p.line == 10)
    assert formula.value == "=1+2"


def test_a_number_twice_in_a_file_of_one_order_per_row() -> None:
    content = sample("bestellingen_latin1.csv")
    content += content.splitlines(keepends=True)[1]
    result = read(content, DUTCH_ROWS)
    assert [r.source_id for r in result.records] == ["5002"]
    assert [(p.line, p.code) for p in result.problems] == [
        (2, "record_duplicated"),
        (4, "record_duplicated"),
    ]


def test_a_mapped_column_missing_from_the_file() -> None:
    renamed = DANISH_LINES.model_copy(deep=True)
    renamed.fields["line.unit_price"].column = "Pris"
    result = read(sample("ordrer_linjer.csv"), renamed)
    assert result.records == []
    [problem] = result.problems
    assert (problem.line, problem.column, problem.code) == (1, "Pris", "column_missing")
    assert "'Stykpris'" in problem.message


@pytest.mark.parametrize(
    ("content", "file_format", "code", "line"),
    [
        (b"", CsvFormat(), "file_empty", 1),
        (b"Ordrenr;Dato\n1;\xff\n", CsvFormat(encoding="utf-8"), "file_encoding", 2),
        (sample("entities.xml"), XmlFormat(records="Orders/Order"), "xml_malformed", 1),
        (sample("external_entity.xml"), XmlFormat(records="Orders/Order"), "xml_doctype", 1),
        (sample("small_entity.xml"), XmlFormat(records="Orders/Order"), "xml_doctype", 1),
        (b"<Orders><Order>", XmlFormat(records="Orders/Order"), "xml_malformed", 1),
        (sample("orders.xml"), XmlFormat(records="Orders/Order"), "records_missing", 2),
    ],
)
def test_a_file_that_cannot_be_read_is_one_problem(
    content: bytes, file_format: CsvFormat | XmlFormat, code: str, line: int
) -> None:
    fields = {
        "order.number": "@id" if isinstance(file_format, XmlFormat) else "Ordrenr",
        "order.created_at": "Dato",
        "order.state": "Status",
        "order.currency": "Valuta",
        "line.unit_price": "Pris",
    }
    result = read(content, mapping(kind="orders", format=file_format, fields=fields))
    assert result.records == []
    assert [(p.code, p.line) for p in result.problems] == [(code, line)]


def test_entities_are_never_expanded() -> None:
    """Neither a file on the server nor an entity's text reaches a record or a message."""
    for name in ("external_entity.xml", "small_entity.xml", "entities.xml"):
        problem = read(sample(name), XML_ORDERS).problems[0]
        assert "Example Shop" not in problem.message and "lol" not in problem.message


@pytest.mark.parametrize(
    ("limits", "code", "line"),
    [
        (FileLimits(max_bytes=100), "file_too_large", None),
        (FileLimits(max_rows=3), "too_many_rows", 5),
    ],
)
def test_limits_refuse_the_file(limits: FileLimits, code: str, line: int | None) -> None:
    result = read(sample("ordrer_linjer.csv"), DANISH_LINES, limits)
    assert result.records == []
    assert [(p.code, p.line) for p in result.problems] == [(code, line)]


def test_a_value_over_the_length_limit_is_a_problem_of_its_row() -> None:
    result = read(sample("ordrer_linjer.csv"), DANISH_LINES, FileLimits(max_field_chars=20))
    too_long = [(p.line, p.column, p.code) for p in result.problems if p.code == "value_too_long"]
    assert too_long == [(5, "Beskrivelse", "value_too_long")]
    assert [r.source_id for r in result.records] == ["1001", "1002"]


def test_xml_record_count_limit() -> None:
    result = read(sample("orders.xml"), XML_ORDERS, FileLimits(max_rows=1))
    assert [(p.code, p.line) for p in result.problems] == [("too_many_rows", 18)]


# --- the same file twice -------------------------------------------------------------------


def test_the_same_file_has_the_same_content_key() -> None:
    content = sample("ordrer_linjer.csv")
    assert content.startswith(b"\xef\xbb\xbf")
    without_bom = content[3:]
    windows = without_bom.replace(b"\n", b"\r\n")
    key = content_key(content)
    assert content_key(without_bom) == key == content_key(windows)
    assert content_key(content.replace(b"\n", b"\r")) == key
    assert read(content, DANISH_LINES).content_key == key
    assert content_key(content.replace(b"79,20", b"79,30")) != key
    assert len(key) == 64


# --- preview and suggestion ----------------------------------------------------------------


def test_preview_shows_the_first_rows_as_read() -> None:
    shown = preview(sample("orders_problems.csv"), PROBLEM_LINES, rows=3)
    assert [row.line for row in shown.rows] == [2, 3, 4]
    first = shown.rows[0]
    assert first.values["order.created_at"] == "2026-11-30T10:00:00+01:00"
    assert first.lines == [
        {
            "line.sku": "A-1",
            "line.description": "Good",
            "line.quantity": "1",
            "line.unit_price": "10.00",
            "line.tax_rate": "21",
        }
    ]
    assert first.problems == []
    assert shown.rows[1].lines[0]["line.unit_price"] is None
    assert [p.code for p in shown.rows[1].problems] == ["number_invalid"]
    assert [p.code for p in shown.rows[2].problems] == ["order_rejected"]
    assert shown.columns[:3] == ["order", "date", "status"]
    assert shown.suggested["line.unit_price"] == "price"


def test_preview_of_a_file_the_mapping_does_not_fit() -> None:
    shown = preview(sample("ordrer_linjer.csv"), PROBLEM_LINES)
    assert shown.rows == []
    assert [p.code for p in shown.problems] == ["column_missing"]


def test_preview_of_xml_rows_and_their_line_elements() -> None:
    shown = preview(sample("orders.xml"), XML_ORDERS, rows=1)
    [row] = shown.rows
    assert row.line == 4
    assert row.values["order.currency"] == "EUR"
    assert [line["line.sku"] for line in row.lines] == ["BOOK-1", "CARD-1"]
    assert shown.line_columns == ["Sku", "Qty", "Price", "Vat"]


@pytest.mark.parametrize(
    ("headers", "kind", "expected"),
    [
        (
            ["Ordrenr.", "Ordredato", "Status", "Valuta", "Kundenavn", "E-mail", "CVR-nr",
             "EAN-nummer", "Varenr", "Antal", "Stykpris", "Moms %", "Fragt"],
            "orders",
            {"order.number": "Ordrenr.", "order.created_at": "Ordredato",
             "order.state": "Status", "order.currency": "Valuta",
             "customer.name": "Kundenavn", "customer.email": "E-mail",
             "customer.vat_number": "CVR-nr", "customer.ean": "EAN-nummer",
             "line.sku": "Varenr", "line.quantity": "Antal", "line.unit_price": "Stykpris",
             "line.tax_rate": "Moms %", "shipping_price": "Fragt"},
        ),
        (
            ["Bestelnummer", "Besteldatum", "Munt", "Klantnaam", "BTW-nummer", "Aantal",
             "Prijs", "BTW %", "Verzendkosten"],
            "orders",
            {"order.number": "Bestelnummer", "order.created_at": "Besteldatum",
             "order.currency": "Munt", "customer.name": "Klantnaam",
             "customer.vat_number": "BTW-nummer", "line.quantity": "Aantal",
             "line.unit_price": "Prijs", "line.tax_rate": "BTW %",
             "shipping_price": "Verzendkosten"},
        ),
        (
            ["Numéro de commande", "Date de commande", "Statut", "Devise", "Courriel",
             "Référence", "Quantité", "Prix unitaire", "Taux de TVA", "Frais de port"],
            "orders",
            {"order.number": "Numéro de commande", "order.created_at": "Date de commande",
             "order.state": "Statut", "order.currency": "Devise",
             "customer.email": "Courriel", "line.sku": "Référence",
             "line.quantity": "Quantité", "line.unit_price": "Prix unitaire",
             "line.tax_rate": "Taux de TVA", "shipping_price": "Frais de port"},
        ),
        (
            ["Order Number", "Order Date", "STATUS", "currency", "Grand Total", "SKU",
             "Qty", "Unit Price", "line.net_amount"],
            "orders",
            {"order.number": "Order Number", "order.created_at": "Order Date",
             "order.state": "STATUS", "order.currency": "currency",
             "order.total": "Grand Total", "line.sku": "SKU", "line.quantity": "Qty",
             "line.unit_price": "Unit Price", "line.net_amount": "line.net_amount"},
        ),
        (
            ["Kreditnota", "Ordrenr", "Dato", "Valuta", "Beløb", "Årsag"],
            "refunds",
            {"refund.source_id": "Kreditnota", "refund.order_number": "Ordrenr",
             "refund.created_at": "Dato", "refund.currency": "Valuta",
             "refund.amount": "Beløb", "refund.reason": "Årsag"},
        ),
        (["Foo", "Bar"], "orders", {}),
    ],
)  # fmt: skip
def test_suggested_columns_by_their_names(
    headers: list[str], kind: Any, expected: dict[str, str]
) -> None:
    assert suggest_fields(headers, kind) == expected


def test_a_suggestion_for_a_new_file_makes_a_mapping_that_reads_it() -> None:
    suggestion = suggest_mapping(sample("kreditnotaer_cp1252.csv"), "refunds")
    assert suggestion.missing == []
    assert suggestion.columns[0] == "Kreditnota"
    file_mapping = FileMapping(
        kind="refunds",
        format=suggestion.format,
        fields=suggestion.fields,
        decimal_separator=",",
        date_format="%d-%m-%Y",
    )
    assert file_mapping.fields == DANISH_REFUNDS.fields
    assert len(read(sample("kreditnotaer_cp1252.csv"), file_mapping).records) == 2


def test_a_suggestion_for_xml_finds_records_and_lines() -> None:
    suggestion = suggest_mapping(sample("orders.xml"), "orders")
    assert suggestion.format == XmlFormat(records="Export/Orders/Order", lines="Lines/Line")
    assert suggestion.fields["customer.email"] == "Customer/Email"
    assert suggestion.fields["line.unit_price"] == "Price"
    assert suggestion.missing == ["order.number", "order.currency"]


# --- the mapping is checked when it is made -------------------------------------------------

BASE: dict[str, Any] = {
    "kind": "orders",
    "format": {"type": "csv"},
    "fields": {
        "order.number": "Nr",
        "order.created_at": "Dato",
        "order.state": {"value": "completed"},
        "order.currency": {"value": "DKK"},
        "line.unit_price": "Pris",
    },
}


def changed(**update: Any) -> dict[str, Any]:
    data = {**BASE, **update}
    if "fields" in update:
        data["fields"] = {**BASE["fields"], **update["fields"]}
    return data


@pytest.mark.parametrize(
    ("data", "error_type"),
    [
        (changed(fields={"order.colour": "Farve"}), "mapping_field_unknown"),
        (changed(fields={"refund.amount": "Beløb"}), "mapping_field_unknown"),
        ({**BASE, "fields": {"order.number": "Nr"}}, "mapping_field_missing"),
        (changed(fields={"order.number": {"value": "1"}}), "mapping_key_constant"),
        (changed(fields={"line.sku": {"column": "Sku", "value": "X"}}), "source_invalid"),
        (changed(fields={"line.sku": {}}), "source_invalid"),
        (changed(date_format="%Y"), "date_format"),
        (changed(date_format="dd-mm-yyyy"), "date_format"),
        (changed(timezone="Europe/Aarhus"), "timezone"),
        (changed(format={"type": "csv", "encoding": "klingon"}), "encoding_unknown"),
        (changed(format={"type": "csv", "delimiter": '"'}), "delimiter_invalid"),
        (changed(decimal_separator=",", thousands_separator=","), "separators_equal"),
        (changed(format={"type": "xml", "records": "Orders//Order"}), "xml_path"),
        (
            changed(format={"type": "xml", "records": "O/O"}, fields={"line.sku": "a b"}),
            "xml_path",
        ),
        (
            changed(
                format={"type": "xml", "records": "O/O", "lines": "L/L"}, layout="line_per_row"
            ),
            "layout_invalid",
        ),
        (changed(format={"type": "json"}), "union_tag_invalid"),
    ],
)
def test_a_mapping_that_cannot_read_is_refused(data: dict[str, Any], error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FileMapping.model_validate(data)
    assert error_type in {error["type"] for error in caught.value.errors()}


def test_a_valid_mapping_round_trips_through_json() -> None:
    file_mapping = FileMapping.model_validate(BASE)
    assert FileMapping.model_validate_json(file_mapping.model_dump_json()) == file_mapping
    assert file_mapping.fields["order.number"].column == "Nr"
    assert file_mapping.key_field == "order.number"


@pytest.mark.parametrize(
    ("text", "separators", "expected"),
    [
        ("1.234,50", (",", "."), "1234.50"),
        ("1 234,50", (",", None), "1234.50"),
        ("1,234.50", (".", ","), "1234.50"),
        ("-12,5", (",", None), "-12.5"),
        ("12.5", (",", None), None),
        ("1e3", (".", None), None),
        ("NaN", (".", None), None),
        ("1000000000000", (".", None), None),
    ],
)
def test_numbers_with_the_mappings_separators(
    text: str, separators: tuple[str, str | None], expected: str | None
) -> None:
    decimal, thousands = separators
    file_mapping = FileMapping.model_validate(
        changed(decimal_separator=decimal, thousands_separator=thousands)
    )
    content = f'Nr;Dato;Pris\n1;2026-11-30;"{text}"\n'.encode()
    result = read(content, file_mapping)
    if expected is None:
        assert [(p.code, p.column) for p in result.problems] == [("number_invalid", "Pris")]
    else:
        [order] = result.records
        assert isinstance(order, Order)
        assert order.lines[0].unit_price == Decimal(expected)


def test_rows_after_the_first_may_leave_the_orders_fields_empty() -> None:
    """Many exports write the order's fields on its first line only; a default fills an
    empty cell without making the rows disagree."""
    file_mapping = PROBLEM_LINES.model_copy(deep=True)
    file_mapping.fields["order.state"].default = "completed"
    content = (
        b"order,date,status,currency,email,vat number,ean,country,sku,description,qty,price,"
        b"vat rate\n"
        b"3001,2026-11-30,processing,EUR,a@example.com,,,NL,A-1,x,1,10.00,21\n"
        b"3001,,,,,,,,A-2,y,2,5.00,21\n"
    )
    result = read(content, file_mapping)
    assert result.problems == []
    [order] = result.records
    assert isinstance(order, Order)
    assert (order.state, order.currency, len(order.lines)) == ("processing", "EUR", 2)
    assert order.total == Decimal("24.20")


def test_an_xml_order_without_line_elements() -> None:
    content = (
        sample("orders.xml").replace(b"<Lines>", b"<Lines/><Gone>").replace(b"</Lines>", b"</Gone>")
    )
    result = read(content, XML_ORDERS)
    assert result.records == []
    assert [(p.line, p.code, p.record) for p in result.problems] == [
        (4, "lines_missing", "7001"),
        (18, "lines_missing", "7002"),
    ]


def test_refund_lines_grouped_by_the_refund_number() -> None:
    file_mapping = DANISH_REFUNDS.model_copy(update={"layout": "line_per_row"}, deep=True)
    del file_mapping.fields["refund.amount"]
    content = (
        "Kreditnota;Ordrenr;Dato;Valuta;Beløb;Årsag;Varenr;Antal;Beløb ex moms;Momsbeløb\n"
        "K-9;1001;02-12-2026;DKK;;Retur;MUG-1;1;79,20;19,80\n"
        "K-9;1001;02-12-2026;DKK;;Retur;TEA-7;1;1200,00;300,00\n"
        "K-10;1002;02-12-2026;DKK;;;;;;\n"
    ).encode()
    result = read(content, file_mapping)
    [refund] = result.records
    assert isinstance(refund, Refund)
    assert [line.sku for line in refund.lines] == ["MUG-1", "TEA-7"]
    assert refund.amount == Decimal("1599.00")
    assert [(p.line, p.field, p.code) for p in result.problems] == [
        (4, "refund.amount", "value_missing")
    ]


# --- how a new file is written: layout, numbers and dates from its content ------------------


def test_a_danish_export_is_suggested_so_that_it_reads_as_it_is() -> None:
    """Windows-1252, a title and a period above the header, semicolons, a quoted ';',
    decimal commas with thousands points, dd-mm-yyyy dates, an order over two rows."""
    content = sample("ordrer_eksport_cp1252.csv")
    suggestion = suggest_mapping(content, "orders")
    assert suggestion.format == CsvFormat(
        delimiter=";", quote='"', encoding="cp1252", header_line=4
    )
    assert (suggestion.layout, suggestion.decimal_separator, suggestion.thousands_separator) == (
        "line_per_row", ",", "."
    )  # fmt: skip
    assert suggestion.date_format == "%d-%m-%Y"
    assert (suggestion.missing, suggestion.doubts) == ([], [])

    file_mapping = FileMapping.model_validate(suggestion.mapping("orders"))
    result = read(content, file_mapping)
    assert result.problems == []
    first, second = result.records
    assert isinstance(first, Order) and isinstance(second, Order)
    assert (first.number, first.customer.name if first.customer else None) == ("2001", "Søren Ærø")
    assert first.created_at.isoformat() == "2026-12-14T00:00:00+01:00"
    assert [(line.description, line.unit_price) for line in first.lines] == [
        ("Krus; blå", Decimal("79.95")), ("Kaffe, mørk", Decimal("1234.50"))
    ]  # fmt: skip
    assert second.created_at.date().isoformat() == "2026-12-03"
    # Lines count as an editor shows them, the skipped ones above the header included.
    assert [row.line for row in preview(content, file_mapping).rows] == [5, 6, 7]


def test_a_us_export_is_suggested_so_that_it_reads_as_it_is() -> None:
    """Commas, every value quoted, "1,234.50", month-first dates with AM/PM, one row per
    order."""
    content = sample("orders_us.csv")
    suggestion = suggest_mapping(content, "orders")
    assert suggestion.format == CsvFormat(delimiter=",", quote='"')
    assert (suggestion.layout, suggestion.decimal_separator, suggestion.thousands_separator) == (
        "record_per_row", ".", ","
    )  # fmt: skip
    assert suggestion.date_format == "%m/%d/%Y %I:%M %p"
    assert suggestion.doubts == []

    result = read(content, FileMapping.model_validate(suggestion.mapping("orders")))
    assert result.problems == []
    first, second = result.records
    assert isinstance(first, Order) and isinstance(second, Order)
    assert first.created_at.isoformat() == "2026-12-14T14:05:00+01:00"
    assert first.lines[0].unit_price == Decimal("1234.50")
    assert first.lines[0].description == "Mug, blue"
    assert second.created_at.isoformat() == "2026-12-03T11:30:00+01:00"
    assert second.lines[0].description == 'Tea "Earl Grey"'


def test_an_ambiguous_file_is_reported_and_not_guessed() -> None:
    """01/02/2026 is the 1st of February or the 2nd of January, 1.250 is one and a quarter
    or twelve hundred and fifty: neither is chosen, and each doubt says what to give."""
    suggestion = suggest_mapping(sample("orders_ambiguous.csv"), "orders")
    assert (suggestion.date_format, suggestion.decimal_separator) == (None, None)
    doubts = {doubt.setting: doubt for doubt in suggestion.doubts}
    assert sorted(doubts) == ["date_format", "decimal_separator"]
    dates = doubts["date_format"]
    assert (dates.code, dates.column) == ("date_format_ambiguous", "Date")
    assert dates.value == "01/02/2026"
    assert dates.choices == ["%d/%m/%Y", "%m/%d/%Y"]
    assert "give date_format" in dates.message
    numbers = doubts["decimal_separator"]
    assert (numbers.code, numbers.column, numbers.value) == (
        "decimal_separator_ambiguous", "Price", "1.250"
    )  # fmt: skip
    assert numbers.choices == [".", ","]
    # Once the user has chosen, the same file reads.
    chosen = {**suggestion.mapping("orders"), "date_format": "%d/%m/%Y",
              "decimal_separator": ",", "thousands_separator": "."}  # fmt: skip
    result = read(sample("orders_ambiguous.csv"), FileMapping.model_validate(chosen))
    assert result.problems == []
    assert [o.lines[0].unit_price for o in result.records if isinstance(o, Order)] == [
        Decimal("1250"), Decimal("2500")
    ]  # fmt: skip


def test_an_excel_unicode_text_export_is_utf16_with_tabs() -> None:
    text = (
        "Ordrenr\tDato\tStatus\tValuta\tVarenr\tStykpris\n"
        "7\t31.12.2026\tBetalt\tNOK\tØL\t1 299,90\n"
    )
    content = text.encode("utf-16")
    suggestion = suggest_mapping(content, "orders")
    assert suggestion.format == CsvFormat(delimiter="\t", encoding="utf-16")
    assert (suggestion.date_format, suggestion.decimal_separator) == ("%d.%m.%Y", ",")
    [order] = read(content, FileMapping.model_validate(suggestion.mapping("orders"))).records
    assert isinstance(order, Order)
    assert (order.lines[0].sku, order.lines[0].unit_price) == ("ØL", Decimal("1299.90"))


@pytest.mark.parametrize(
    ("text", "setting", "code"),
    [
        # Decimal points in one column, decimal commas in another.
        ("Order;Date;Price;Total\n1;2026-12-01;12.50;12,50\n", "decimal_separator",
         "decimal_separator_mixed"),
        # Dates in no format known.
        ("Order;Date;Price\n1;1st of December;12.50\n", "date_format", "date_format_unknown"),
        # The first line is data: the file has no header.
        ("1;2026-12-01;12.50\n2;2026-12-02;13.50\n", "format.header_line", "header_missing"),
        # Two delimiters split the rows alike.
        ("Name|Mail;Price\nAa|a@b.dk;12.50\n", "format.delimiter", "delimiter_ambiguous"),
    ],
)  # fmt: skip
def test_what_the_content_does_not_decide_is_a_doubt(text: str, setting: str, code: str) -> None:
    suggestion = suggest_mapping(text.encode(), "orders")
    assert [(doubt.setting, doubt.code) for doubt in suggestion.doubts] == [(setting, code)]
