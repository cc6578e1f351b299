"""From rows of text cells to canonical orders and refunds, with every problem on its line.

Each cell is read by the field it fills (numbers with the mapping's separators, dates with
its format and time zone), then the rows of one record are put together and checked by the
canonical record itself, so a file is held to exactly the rules every other way in is (VAT
numbers, EAN numbers, currencies, e-mail addresses, amounts). A problem never stops the other
rows; a record with a problem on any of its rows is not read at all, and each of its other
rows says so, so no order is booked with a line missing.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ledgerbridge.commerce.files.mapping import (
    FIELDS,
    CsvFormat,
    FieldSpec,
    FileKind,
    FileMapping,
    XmlFormat,
    suggest_fields,
)
from ledgerbridge.commerce.files.sniff import Column, Doubt, sniff_csv, sniff_dates, sniff_numbers
from ledgerbridge.commerce.files.source import (
    LIMITS,
    Cell,
    FileLimits,
    FileRefused,
    Problem,
    Row,
    content_key,
    guess_format,
    read_columns,
    read_table,
    sample_values,
)
from ledgerbridge.model.commerce import Order, Refund
from ledgerbridge.model.numbers import LIMIT, currency_places
from ledgerbridge.model.reasons import in_words

__all__ = ["FileRead", "Preview", "PreviewRow", "Suggestion", "preview", "read", "suggest_mapping"]

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_RECORD_FIELDS = {
    "order.number": ("number",),
    "order.source_id": ("source_id",),
    "order.created_at": ("created_at",),
    "order.paid_at": ("paid_at",),
    "order.state": ("state",),
    "order.currency": ("currency",),
    "order.total": ("total",),
    "order.total_tax": ("total_tax",),
    "order.payment_method": ("payment_method", "code"),
    "order.transaction_id": ("transaction_id",),
    "order.note": ("note",),
    "order.destination_country": ("destination_country",),
    "customer.email": ("customer", "email"),
    "customer.phone": ("customer", "phone"),
    "customer.name": ("customer", "name"),
    "customer.company": ("customer", "company"),
    "customer.vat_number": ("customer", "vat_number"),
    "customer.ean": ("customer", "ean"),
    "customer.source_id": ("customer", "source_id"),
    "refund.order_number": ("order_source_id",),
    "refund.created_at": ("created_at",),
    "refund.currency": ("currency",),
    "refund.amount": ("amount",),
    "refund.reason": ("reason",),
    "refund.payment_method": ("payment_method", "code"),
    **{
        f"{address}.{part}": (address, part)
        for address in ("billing_address", "shipping_address")
        for part in ("line1", "postal_code", "city", "country")
    },
}
"""Where each record-level field of a file goes in the canonical record."""


class PreviewRow(BaseModel):
    """A row as it would be read: the canonical value of each field (none when the cell is
    empty or has a problem), its lines' values, and the row's problems."""

    line: int
    values: dict[str, str | None]
    lines: list[dict[str, str | None]]
    problems: list[Problem]


class Preview(BaseModel):
    columns: list[str]
    line_columns: list[str]
    suggested: dict[str, str]
    """Which column each field is likely in, by the columns' names."""
    rows: list[PreviewRow]
    problems: list[Problem]
    """Problems of the file as a whole (it cannot be read with the mapping)."""


class FileRead(BaseModel):
    content_key: str
    rows: int
    """Data rows (CSV) or record elements (XML) in the file."""
    records: list[Order | Refund]
    problems: list[Problem]


class Suggestion(BaseModel):
    """How to read a new file, from its content: a mapping's settings and the column of
    each field. A setting the content leaves open is None (its default applies) and has a
    doubt saying why and what to choose from."""

    format: CsvFormat | XmlFormat
    layout: Literal["record_per_row", "line_per_row"] = "record_per_row"
    """``line_per_row`` when a record's number is on several of the first rows."""
    decimal_separator: Literal[".", ","] | None = "."
    thousands_separator: Literal[".", ",", " ", "'"] | None = None
    date_format: str | None = None
    """None: ISO 8601 dates, or a format the dates leave open (see ``doubts``)."""
    columns: list[str]
    line_columns: list[str]
    """The columns of lines: those of an XML file's line elements, else ``columns``."""
    fields: dict[str, str]
    missing: list[str]
    """Fields a mapping needs that no column name gave away."""
    doubts: list[Doubt] = []
    """Settings the content does not decide: day or month first, a decimal point or a
    thousands separator, a header that looks like data."""

    def mapping(self, kind: FileKind) -> dict[str, Any]:
        """The suggestion as a mapping to read (and save) with, the settings it leaves open
        left out so their defaults apply."""
        settings = {
            "decimal_separator": self.decimal_separator,
            "thousands_separator": self.thousands_separator,
            "date_format": self.date_format,
        }
        return {
            "kind": kind,
            "format": self.format,
            "layout": self.layout,
            "fields": self.fields,
            **{name: value for name, value in settings.items() if value is not None},
        }


@dataclass
class _Values:
    """The parsed values of one row's cells, and the cells they came from."""

    cells: dict[str, Cell]
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def whole(self) -> Cell:
        """The line itself, for a problem of the line rather than one of its fields."""
        return Cell(None, min(cell.line for cell in self.cells.values()), None)


@dataclass
class _Group:
    key: str | None
    rows: list[Row]
    problems: list[Problem] = field(default_factory=list)


def _number(text: str, mapping: FileMapping) -> Decimal:
    """A number as written in the file (spaces inside it aside); the text is data, so
    ``=1+2`` is not a number, nor is ``12.5`` in a file whose decimal separator is a comma."""
    digits = text.replace(" ", "").replace("\u00a0", "")
    if mapping.thousands_separator:
        digits = digits.replace(mapping.thousands_separator, "")
    if mapping.decimal_separator == ",":
        digits = digits.replace(".", "!").replace(",", ".")
    if not _NUMBER.fullmatch(digits):
        raise ValueError(
            f"{text!r} is not a number (decimal separator {mapping.decimal_separator!r})"
        )
    value = Decimal(digits)
    if abs(value) >= LIMIT:
        raise ValueError(f"{text!r} is not a possible amount: its size must stay below 10^12")
    return value


def _moment(text: str, mapping: FileMapping) -> dt.datetime:
    """A moment as written in the file; without a UTC offset it is in the mapping's zone."""
    try:
        if mapping.date_format:
            moment = dt.datetime.strptime(text, mapping.date_format)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        expected = mapping.date_format or "ISO 8601 (2026-11-30 or 2026-11-30T14:05:00+01:00)"
        raise ValueError(f"{text!r} is not a date in the format {expected}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(mapping.timezone))
    return moment


def _parse(
    cells: dict[str, Cell],
    mapping: FileMapping,
    problems: list[Problem],
    record: str | None,
    *,
    first: bool = True,
) -> _Values:
    """The cells' values; a record field the record needs must be on its ``first`` row (the
    rows after it may leave the record's fields empty)."""
    parsed = _Values(cells)
    for name, cell in cells.items():
        if cell.text is None:
            spec = mapping.specs[name]
            if first and not cell.bad and spec.required and not spec.per_line:
                problems.append(_missing(name, cell, record))
            continue
        kind = mapping.specs[name].value
        try:
            if kind == "number":
                parsed.values[name] = _number(cell.text, mapping)
            elif kind == "datetime":
                parsed.values[name] = _moment(cell.text, mapping)
            else:
                parsed.values[name] = cell.text
        except ValueError as exc:
            problems.append(
                Problem(
                    line=cell.line,
                    column=cell.column,
                    field=name,
                    record=record,
                    code="number_invalid" if kind == "number" else "date_invalid",
                    message=str(exc),
                    value=cell.text,
                )
            )
    return parsed


def _missing(name: str, cell: Cell, record: str | None) -> Problem:
    where = f"column {cell.column!r}" if cell.column else "the file"
    return Problem(
        line=cell.line,
        column=cell.column,
        field=name,
        record=record,
        code="value_missing",
        message=f"{name} is empty; {where} must hold it",
    )


def _rate_missing(cell: Cell, record: str | None) -> Problem:
    """An empty VAT rate in a mapped column: read as 0 % it would book the line without VAT (a
    domestic sale declared exempt), so the file must say so, or the mapping its default."""
    return Problem(
        line=cell.line,
        column=cell.column,
        field="line.tax_rate",
        record=record,
        code="value_missing",
        message=f"line.tax_rate is empty in column {cell.column!r}: read as 0 % it would book "
        "the line without VAT; write 0 for a line without VAT, or give line.tax_rate a "
        "default in the mapping",
    )


_REFUND_LINE_AMOUNTS = {
    "line.net_amount": "its refunded amount excluding VAT",
    "line.tax_amount": "its refunded VAT (0 on a line without VAT)",
}
"""What a refunded line needs, as a refund file has no prices or rates to compute it from: a
line read without its VAT would credit the goods at their rate and the difference again as a
free amount."""


def _refund_line_problems(line: _Values, record: str | None) -> list[Problem]:
    """A refunded line credits its net amount and its VAT; a row with no line values is a
    free amount instead."""
    found = []
    for name, what in _REFUND_LINE_AMOUNTS.items():
        cell = line.cells.get(name)
        if line.get(name) is not None or (cell is not None and cell.bad):
            continue
        where = (
            f"column {cell.column!r} is empty" if cell and cell.column else "no column is mapped"
        )
        found.append(
            Problem(
                line=cell.line if cell else line.whole().line,
                column=cell.column if cell else None,
                field=name,
                record=record,
                code="value_missing",
                message=f"a refunded line needs {what} ({name}), and {where}: fill it in, "
                "or leave the row's line columns empty to refund refund.amount as a free amount",
            )
        )
    return found


def _present(line: _Values) -> bool:
    """Whether a line holds anything from the file (constants and defaults make no line)."""
    return any(cell.given for cell in line.cells.values())


class _Builder:
    """The canonical data of one record, and for each of its places the cell it came from,
    so the record's own validation errors point at the file."""

    def __init__(self, group: _Group) -> None:
        self.group = group
        self.places: dict[tuple[str | int, ...], tuple[str, Cell]] = {}

    def place(self, loc: tuple[str | int, ...], name: str, cell: Cell | None) -> None:
        if cell is not None:
            self.places[loc] = (name, cell)

    def problems(self, exc: ValidationError) -> list[Problem]:
        found = []
        first = self.group.rows[0]
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = next(
                (
                    self.places[loc[:size]]
                    for size in range(len(loc), 0, -1)
                    if loc[:size] in self.places
                ),
                None,
            )
            name, cell = where if where else (".".join(map(str, loc)), Cell(None, first.line, None))
            found.append(
                Problem(
                    line=cell.line,
                    column=cell.column,
                    field=name,
                    record=self.group.key,
                    code=error["type"],
                    message=in_words(error),
                    value=cell.text,
                )
            )
        return found


def _record_values(head: _Values, builder: _Builder) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in head.values.items():
        target = _RECORD_FIELDS.get(name)
        if target is None or value is None:
            continue
        inner = data
        for part in target[:-1]:
            inner = inner.setdefault(part, {})
        inner[target[-1]] = value
        builder.place(target, name, head.cells[name])
    return data


def _cents(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def _order(head: _Values, lines: list[_Values], builder: _Builder) -> Order:
    data = _record_values(head, builder)
    if "source_id" not in data:
        data["source_id"] = data.get("number")
        builder.place(("source_id",), "order.number", head.cells.get("order.number"))
    places = currency_places(str(data.get("currency", "")))
    built: list[dict[str, Any]] = []
    for line in lines:
        quantity = line.get("line.quantity")
        quantity = Decimal(1) if quantity is None else quantity
        price = line.get("line.unit_price")
        rate = line.get("line.tax_rate") or Decimal(0)
        net = line.get("line.net_amount")
        net = _cents(quantity * price, places) if net is None else net
        tax = line.get("line.tax_amount")
        tax = _cents(net * rate / 100, places) if tax is None else tax
        index = len(built)
        builder.place(("lines", index), "line", line.whole())
        for name, cell in line.cells.items():
            builder.place(("lines", index, name.removeprefix("line.")), name, cell)
        built.append(
            {
                "kind": line.get("line.kind") or "item",
                "source_id": line.get("line.source_id"),
                "sku": line.get("line.sku"),
                "description": line.get("line.description"),
                "quantity": quantity,
                "unit_price": price,
                "tax_rate": rate,
                "net_amount": net,
                "tax_amount": tax,
            }
        )
    shipping = head.get("shipping_price")
    if shipping:
        rate = head.get("shipping_tax_rate")
        rate = (built[0]["tax_rate"] if built else Decimal(0)) if rate is None else rate
        net = _cents(shipping, places)
        index = len(built)
        builder.place(("lines", index), "shipping_price", head.cells["shipping_price"])
        builder.place(
            ("lines", index, "tax_rate"), "shipping_tax_rate", head.cells.get("shipping_tax_rate")
        )
        built.append(
            {
                "kind": "shipping",
                "description": "Shipping",
                "unit_price": shipping,
                "tax_rate": rate,
                "net_amount": net,
                "tax_amount": _cents(net * rate / 100, places),
            }
        )
    data["lines"] = built
    if "total" not in data:
        data["total"] = sum((line["net_amount"] + line["tax_amount"] for line in built), Decimal(0))
    if "total_tax" not in data:
        data["total_tax"] = sum((line["tax_amount"] for line in built), Decimal(0))
    return Order.model_validate(data)


def _refund(head: _Values, lines: list[_Values], builder: _Builder) -> Refund:
    data = _record_values(head, builder)
    data["source_id"] = builder.group.key
    builder.place(("source_id",), "refund.source_id", head.cells.get("refund.source_id"))
    built: list[dict[str, Any]] = []
    for line in lines:
        index = len(built)
        builder.place(("lines", index), "line", line.whole())
        values = {}
        for name, value in line.values.items():
            values[name.removeprefix("line.")] = value
            builder.place(("lines", index, name.removeprefix("line.")), name, line.cells[name])
        built.append(values)
    data["lines"] = built
    if "amount" not in data:
        data["amount"] = sum(
            (line.get("net_amount", 0) + line.get("tax_amount", 0) for line in built), Decimal(0)
        )
        builder.place(("amount",), "refund.amount", head.cells.get("refund.amount"))
    return Refund.model_validate(data)


def _groups(rows: list[Row], mapping: FileMapping) -> list[_Group]:
    """The rows of each record, in the order records first appear. In a file of one record
    per row, a number on two rows is a problem of both: which one is the order is unknown."""
    key_field = mapping.key_field
    groups: dict[str, _Group] = {}
    alone: list[_Group] = []
    for row in rows:
        key = row.cells[key_field].text
        if key is None:
            alone.append(_Group(None, [row]))
        else:
            groups.setdefault(key, _Group(key, [])).rows.append(row)
    if mapping.layout == "record_per_row":
        for group in groups.values():
            if len(group.rows) > 1:
                lines = ", ".join(str(row.line) for row in group.rows)
                for row in group.rows:
                    cell = row.cells[key_field]
                    group.problems.append(
                        Problem(
                            line=row.line,
                            column=cell.column,
                            field=key_field,
                            record=group.key,
                            code="record_duplicated",
                            message=f"{group.key} is on lines {lines}; this file has one row "
                            "per record",
                            value=group.key,
                        )
                    )
    ordered = [*groups.values(), *alone]
    ordered.sort(key=lambda group: group.rows[0].line)
    return ordered


def _differences(group: _Group, heads: list[_Values], mapping: FileMapping) -> list[Problem]:
    """Rows of one record that disagree on a record field: the record is not read, since
    which value is right is not known."""
    found = []
    first = heads[0]
    for later in heads[1:]:
        for name, cell in later.cells.items():
            own = first.cells[name]
            written = cell.given and own.given and None not in (cell.text, own.text)
            if written and own.text != cell.text:
                found.append(
                    Problem(
                        line=cell.line,
                        column=cell.column,
                        field=name,
                        record=group.key,
                        code="record_field_differs",
                        message=f"{cell.text!r} here, {own.text!r} on line {own.line} of the "
                        f"same {mapping.kind[:-1]}",
                        value=cell.text,
                    )
                )
    return found


def _read_group(group: _Group, mapping: FileMapping) -> tuple[Order | Refund | None, list[Problem]]:
    problems = [
        *group.problems,
        *(p.model_copy(update={"record": group.key}) for row in group.rows for p in row.problems),
    ]
    heads = [
        _parse(row.cells, mapping, problems, group.key, first=index == 0)
        for index, row in enumerate(group.rows)
    ]
    lines: list[_Values] = []
    for row in group.rows:
        for cells in row.lines:
            line = _parse(cells, mapping, problems, group.key)
            if mapping.kind == "orders" or _present(line):
                lines.append(line)
            if mapping.kind == "refunds" and _present(line):
                problems.extend(_refund_line_problems(line, group.key))
            if mapping.kind == "orders":
                problems.extend(
                    _missing(name, cell, group.key)
                    for name, cell in cells.items()
                    if cell.text is None and not cell.bad and mapping.specs[name].required
                )
                rate = cells.get("line.tax_rate")
                if rate and rate.column and rate.text is None and not (rate.bad or row.problems):
                    problems.append(_rate_missing(rate, group.key))
    problems.extend(_differences(group, heads, mapping))
    head = heads[0]
    if mapping.kind == "orders" and not lines:
        problems.append(
            Problem(
                line=group.rows[0].line,
                record=group.key,
                code="lines_missing",
                message="the order has no lines",
            )
        )
    if mapping.kind == "refunds" and head.get("refund.amount") is None and not lines:
        problems.append(
            _missing(
                "refund.amount",
                head.cells.get("refund.amount") or Cell(None, group.rows[0].line, None),
                group.key,
            )
        )
    if problems:
        return None, problems
    builder = _Builder(group)
    try:
        if mapping.kind == "orders":
            return _order(head, lines, builder), []
        return _refund(head, lines, builder), []
    except ValidationError as exc:
        return None, builder.problems(exc)


def _span(row: Row) -> range:
    """The lines a row covers: an XML record's elements, a CSV row's quoted line breaks."""
    cells = [*row.cells.values(), *(cell for line in row.lines for cell in line.values())]
    return range(row.line, max((cell.line for cell in cells), default=row.line) + 1)


def _rejected(group: _Group, problems: list[Problem], mapping: FileMapping) -> list[Problem]:
    """A note on each row of a record that is not read but has no problem of its own."""
    bad = sorted({p.line for p in problems if p.line is not None})
    where = ", ".join(map(str, bad))
    noun = mapping.kind[:-1]
    return [
        Problem(
            line=row.line,
            record=group.key,
            code=f"{noun}_rejected",
            message=f"{noun} {group.key} is not read, because of the problems on line {where}",
        )
        for row in group.rows
        if not any(line in _span(row) for line in bad)
    ]


def _records(rows: list[Row], mapping: FileMapping) -> tuple[list[Order | Refund], list[Problem]]:
    records: list[Order | Refund] = []
    problems: list[Problem] = []
    for group in _groups(rows, mapping):
        record, found = _read_group(group, mapping)
        if record is not None:
            records.append(record)
        else:
            problems.extend(found)
            problems.extend(_rejected(group, found, mapping))
    problems.sort(key=lambda problem: problem.line or 0)
    return records, problems


def read(content: bytes, mapping: FileMapping, limits: FileLimits = LIMITS) -> FileRead:
    """Every record of the file, and a problem for every line that could not be read."""
    key = content_key(content)
    try:
        table = read_table(content, mapping, limits)
    except FileRefused as refused:
        return FileRead(content_key=key, rows=0, records=[], problems=[refused.problem])
    records, problems = _records(table.rows, mapping)
    return FileRead(content_key=key, rows=len(table.rows), records=records, problems=problems)


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def preview(
    content: bytes, mapping: FileMapping, rows: int = 10, limits: FileLimits = LIMITS
) -> Preview:
    """The first ``rows`` rows as ``read`` would read them, before the mapping is saved. A
    record whose rows go on beyond them is shown as far as it goes."""
    try:
        table = read_table(content, mapping, limits, stop=rows)
    except FileRefused as refused:
        return Preview(
            columns=[], line_columns=[], suggested={}, rows=[], problems=[refused.problem]
        )
    _, problems = _records(table.rows, mapping)
    shown = []
    for index, row in enumerate(table.rows):
        end = table.rows[index + 1].line if index + 1 < len(table.rows) else None
        own = [
            p
            for p in problems
            if (p.line or 0) >= row.line and (end is None or (p.line or 0) < end)
        ]
        values = _parse(row.cells, mapping, [], None)
        lines = [_parse(cells, mapping, [], None) for cells in row.lines]
        shown.append(
            PreviewRow(
                line=row.line,
                values={name: _shown(values.get(name)) for name in row.cells},
                lines=[{name: _shown(line.get(name)) for name in line.cells} for line in lines],
                problems=own,
            )
        )
    return Preview(
        columns=table.columns,
        line_columns=table.line_columns,
        suggested=suggest_fields(
            table.columns,
            mapping.kind,
            table.line_columns if _own_lines(mapping.format) else None,
        ),
        rows=shown,
        problems=[],
    )


def _own_lines(fmt: CsvFormat | XmlFormat) -> bool:
    """Whether lines have columns of their own (XML line elements)."""
    return isinstance(fmt, XmlFormat) and fmt.lines is not None


def suggest_mapping(
    content: bytes,
    kind: FileKind,
    format: CsvFormat | XmlFormat | None = None,
    limits: FileLimits = LIMITS,
) -> Suggestion:
    """A first mapping for a new file: its format (found in it when not given), its columns,
    the column each field is likely in, and how its rows, numbers and dates are written, as
    its first rows show. Raises ``FileRefused`` when the file cannot be read."""
    doubts: list[Doubt] = []
    fmt = format or guess_format(content, limits)
    if format is None and isinstance(fmt, CsvFormat):
        fmt, doubts = sniff_csv(content)
    columns, line_columns = read_columns(content, fmt, limits)
    own_lines = _own_lines(fmt)
    fields = suggest_fields(columns, kind, line_columns if own_lines else None)
    missing = [spec.name for spec in FIELDS[kind] if spec.required and spec.name not in fields]
    record_values, line_values = sample_values(content, fmt, limits)

    def values(spec: FieldSpec) -> list[str]:
        found = line_values if spec.per_line and own_lines else record_values
        return found.get(fields[spec.name], [])

    def typed(kind_of_value: str) -> list[Column]:
        specs = [s for s in FIELDS[kind] if s.value == kind_of_value and s.name in fields]
        return [(fields[spec.name], values(spec)) for spec in specs]

    every: list[Column] = [*record_values.items(), *(line_values.items() if own_lines else ())]
    decimal, thousands, number_doubts = sniff_numbers(typed("number"), every)
    date_format, date_doubts = sniff_dates(typed("datetime"), every)
    key = "refund.source_id" if kind == "refunds" else "order.number"
    key = "order.source_id" if "order.source_id" in fields else key
    numbers = values(next(s for s in FIELDS[kind] if s.name == key)) if key in fields else []
    repeated = len(set(numbers)) < len(numbers)
    return Suggestion(
        format=fmt,
        layout="line_per_row" if repeated and not own_lines else "record_per_row",
        decimal_separator=decimal,
        thousands_separator=thousands,
        date_format=date_format,
        columns=columns,
        line_columns=line_columns,
        fields=fields,
        missing=missing,
        doubts=[*doubts, *number_doubts, *date_doubts],
    )
