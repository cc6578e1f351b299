"""How a new file is written, learnt from what it holds: its CSV layout (encoding, delimiter,
quote, the line its column names are on), its decimal and thousands separators and its date
format, so a suggested mapping reads it as it is.

Nothing is guessed silently. When the sample allows two readings (``01/02/2026`` day first or
month first, ``1.234`` twelve hundred and more or just over one), or contradicts itself, the
setting is left undecided and a ``Doubt`` says why and which values to choose from.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from ledgerbridge.commerce.files.mapping import CsvFormat
from ledgerbridge.commerce.files.source import DELIMITERS, Problem, decode, sniff_encoding

__all__ = ["Column", "Doubt", "sniff_csv", "sniff_dates", "sniff_numbers"]

Column = tuple[str, Sequence[str]]
"""A column's name and the texts written in it."""
DecimalSeparator = Literal[".", ","]
ThousandsSeparator = Literal[".", ",", " ", "'"]
Reading = tuple[DecimalSeparator, ThousandsSeparator | None]

_SAMPLE_LINES = 200
_NAMES = {"\t": "tab", ";": "';'", ",": "','", "|": "'|'"}
_NUMBER = re.compile(r"[+-]?\d[\d.,' ]*\d")
_DATE = re.compile(r"(\d{1,4})([-./])(\d{1,2})\2(\d{1,4})")
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
_DECIMALS: tuple[DecimalSeparator, ...] = (".", ",")
_THOUSANDS: tuple[ThousandsSeparator | None, ...] = (None, ".", ",", " ", "'")


class Doubt(Problem):
    """A setting the file's content does not decide: ``setting`` names it as in a mapping
    (``date_format``, ``format.header_line``), ``choices`` are the values it could have."""

    setting: str
    choices: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------ layout


@dataclass(frozen=True)
class _Shape:
    """How a sample splits with one delimiter: the usual number of fields of its rows, the
    first row that has them (the header) and how many rows from there on have them."""

    width: int = 0
    header_line: int = 1
    rows: int = 0
    header: tuple[str, ...] = ()


def _shape(sample: str, delimiter: str, quote: str) -> _Shape:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar=quote)
    rows: list[tuple[int, list[str]]] = []
    line = 0
    try:
        for values in reader:
            start, line = line + 1, reader.line_num
            if any(value.strip() for value in values):
                rows.append((start, values))
    except csv.Error:
        pass  # a row the sample cuts or cannot split: the rows before it decide
    widths = Counter(len(values) for _, values in rows if len(values) > 1)
    if not widths:
        return _Shape()
    width = max(widths, key=lambda size: (widths[size], size))
    start, header = next((start, values) for start, values in rows if len(values) == width)
    if start > 100:
        return _Shape()
    count = sum(1 for at, values in rows if at >= start and len(values) == width)
    return _Shape(width, start, count, tuple(name.strip() for name in header))


def _quote(sample: str) -> str:
    """The quote character: the one the standard library's sniffer finds around values next
    to a delimiter, ``"`` when no value is quoted."""
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).quotechar
    except csv.Error:
        return '"'
    return found if found in ('"', "'") else '"'


def _data_like(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text) or text.isdigit() or _DATE.match(text))


def sniff_csv(content: bytes) -> tuple[CsvFormat, list[Doubt]]:
    """The CSV layout of a file: its encoding, the delimiter that splits its rows into the
    same number of fields most often, the quote, and the line of its header (the first row
    of that width, so an export's title lines above it are skipped)."""
    encoding = sniff_encoding(content)
    text = decode(content, encoding)
    sample = "".join(itertools.islice(io.StringIO(text, newline=""), _SAMPLE_LINES))
    quote = _quote(sample)
    shapes = {delimiter: _shape(sample, delimiter, quote) for delimiter in DELIMITERS}
    ranked = sorted(shapes, key=lambda d: (shapes[d].rows, shapes[d].width), reverse=True)
    best = shapes[ranked[0]]
    if not best.rows:
        return CsvFormat(quote=quote, encoding=encoding), []
    doubts = []
    tied = [d for d in ranked if (shapes[d].rows, shapes[d].width) == (best.rows, best.width)]
    if len(tied) > 1:
        named = " or ".join(_NAMES[d] for d in tied)
        doubts.append(
            Doubt(
                line=best.header_line, code="delimiter_ambiguous", setting="format.delimiter",
                choices=tied,
                message=f"the rows split into {best.width} fields by {named} alike; give "
                "format.delimiter",
            )
        )  # fmt: skip
    names = [name for name in best.header if name]
    if sum(map(_data_like, names)) * 2 >= len(names):
        doubts.append(
            Doubt(
                line=best.header_line, code="header_missing", setting="format.header_line",
                value=", ".join(names)[:100],
                message=f"line {best.header_line} looks like data, not column names: the "
                "file needs a header line naming its columns (add one, or give "
                "format.header_line the line that has them)",
            )
        )  # fmt: skip
    delimiter = tied[0] if len(tied) == 1 else None
    fmt = CsvFormat(
        delimiter=delimiter, quote=quote, encoding=encoding, header_line=best.header_line
    )
    return fmt, doubts


# ------------------------------------------------------------------ numbers


def _fits(text: str, decimal: str, thousands: str | None) -> bool:
    whole = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+" if thousands else r"\d+"
    return re.fullmatch(rf"[+-]?(?:{whole})(?:{re.escape(decimal)}\d+)?", text) is not None


def _readings(text: str) -> list[Reading]:
    """The (decimal, thousands) separators a number with separators could be written with;
    none for text that is no such number (``12.34.56``, ``SKU-1``, ``25``)."""
    text = text.replace("\u00a0", " ")
    if not _NUMBER.fullmatch(text) or text.isdigit():
        return []
    return [
        (decimal, thousands)
        for decimal in _DECIMALS
        for thousands in _THOUSANDS
        if thousands != decimal and _fits(text, decimal, thousands)
    ]


def _decimal_name(separator: str) -> str:
    return "decimal comma" if separator == "," else "decimal point"


def sniff_numbers(
    preferred: Sequence[Column], others: Sequence[Column]
) -> tuple[DecimalSeparator | None, ThousandsSeparator | None, list[Doubt]]:
    """The decimal and thousands separators the numbers are written with, from the columns
    of number fields (``preferred``), else from every column. A number such as ``49,95``
    or ``1,234.50`` decides; ``1.234`` alone leaves it open; no separator at all reads alike
    either way (``.``). None for the decimal separator when undecided, with the doubt."""
    first = _numbers(preferred)
    if first is not None and (first[0] is not None or first[2][0].code.endswith("_mixed")):
        return first
    second = _numbers(others)
    if second is not None and second[0] is not None:
        return second
    return first or second or (".", None, [])


def _numbers(
    columns: Sequence[Column],
) -> tuple[DecimalSeparator | None, ThousandsSeparator | None, list[Doubt]] | None:
    """The separators these columns decide, a doubt when they leave them open or disagree,
    None when no number in them has a separator that matters."""
    decisive: dict[DecimalSeparator, tuple[str, str]] = {}
    ambiguous: tuple[str, str] | None = None
    seen: list[list[Reading]] = []
    for column, values in columns:
        for value in values:
            readings = _readings(value)
            if not readings:
                continue
            seen.append(readings)
            if "." not in value and "," not in value:
                continue  # 1 234 or 1'234: the same number whichever the decimal separator
            decimals = {decimal for decimal, _ in readings}
            if len(decimals) == 1:
                decisive.setdefault(decimals.pop(), (column, value))
            elif ambiguous is None:
                ambiguous = (column, value)
    if len(decisive) > 1:
        (c1, v1), (c2, v2) = decisive["."], decisive[","]
        message = (
            f"column {c1!r} has {v1!r} ({_decimal_name('.')}), column {c2!r} {v2!r} "
            f"({_decimal_name(',')}): a file is read with one decimal_separator; give it"
        )
        return None, None, [_number_doubt("decimal_separator_mixed", c2, v2, message)]
    if decisive:
        (decimal,) = decisive
        return decimal, _thousands(seen, decimal), []
    if ambiguous is not None:
        column, value = ambiguous
        mark = "." if "." in value else ","
        message = (
            f"{value!r} in column {column!r} reads as a whole number with thousands separator "
            f"{mark!r} or as a decimal number; give decimal_separator (and "
            "thousands_separator)"
        )
        return None, None, [_number_doubt("decimal_separator_ambiguous", column, value, message)]
    return None


def _thousands(seen: list[list[Reading]], decimal: DecimalSeparator) -> ThousandsSeparator | None:
    """The thousands separator the numbers need with this decimal separator: the one most
    of them group their digits with, a space only when nothing else is used (spaces inside
    a number are ignored anyway)."""
    grouped: Counter[ThousandsSeparator] = Counter()
    for readings in seen:
        needs = [thousands for d, thousands in readings if d == decimal]
        if needs and None not in needs:
            grouped.update(thousands for thousands in needs if thousands is not None)
    named = [thousands for thousands, _ in grouped.most_common() if thousands != " "]
    return named[0] if named else (" " if grouped else None)


def _number_doubt(code: str, column: str, value: str, message: str) -> Doubt:
    return Doubt(
        line=None, column=column, value=value, code=code, setting="decimal_separator",
        choices=[".", ","], message=message,
    )  # fmt: skip


# ------------------------------------------------------------------ dates


def _formats(text: str) -> list[str]:
    """The formats (``strptime`` codes) that read ``text``, day first before month first."""
    match = _DATE.match(text)
    if match is None:
        return []
    first, sep, _, last = match.groups()
    if len(first) == 4:
        orders = [f"%Y{sep}%m{sep}%d"]
    elif len(last) in (2, 4):
        year = "%Y" if len(last) == 4 else "%y"
        # Dotted dates are day first wherever they are written (31.12.2026).
        orders = [f"%d{sep}%m{sep}{year}"] + ([f"%m{sep}%d{sep}{year}"] if sep != "." else [])
    else:
        return []
    found = []
    for order in orders:
        for time in _TIMES:
            try:
                dt.datetime.strptime(text, order + time)
            except ValueError:
                continue
            found.append(order + time)
    return found


def _iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return bool(_DATE.match(text))


def sniff_dates(
    preferred: Sequence[Column], others: Sequence[Column]
) -> tuple[str | None, list[Doubt]]:
    """The date format of the date fields' columns (``preferred``), else of the columns
    whose every value reads as a date: the format that reads most of their dates, None for
    ISO 8601 (the default). A date it does not read is that row's problem. Two formats that
    read as many (``01/02/2026`` day or month first), or none that reads any, leave it open:
    None with the doubt."""
    columns = [(name, values) for name, values in preferred if values]
    if not columns:
        columns = [
            (name, values)
            for name, values in others
            if values and all(_formats(value) or _iso(value) for value in values)
        ]
    if not columns:
        return None, []
    read: Counter[str | None] = Counter()
    for _, values in columns:
        for value in values:
            read.update(_formats(value))
            if _iso(value):
                read[None] += 1
    name, values = columns[0]
    if not read:
        message = (
            f"the dates in column {name!r} (such as {values[0]!r}) are in no format known "
            "here; give date_format (strptime codes, such as %d-%m-%Y %H:%M)"
        )
        return None, [_date_doubt("date_format_unknown", name, values[0], [], message)]
    most = max(read.values())
    best = [found for found, count in read.items() if count == most]
    if None in best or len(best) == 1:
        return (None if None in best else best[0]), []
    formats = [found for found in best if found is not None]
    both = (v for _, vs in columns for v in vs if set(formats) <= set(_formats(v)))
    example = next(both, values[0])
    message = (
        f"the dates in column {name!r} (such as {example!r}) read day first ({formats[0]}) "
        f"or month first ({formats[1]}); give date_format"
    )
    return None, [_date_doubt("date_format_ambiguous", name, example, formats, message)]


def _date_doubt(
    code: str, column: str, value: str | None, choices: list[str], message: str
) -> Doubt:
    return Doubt(
        line=None, column=column, value=value, code=code, setting="date_format",
        choices=choices, message=message,
    )  # fmt: skip
