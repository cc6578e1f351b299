"""From a file's bytes to rows of text cells, each knowing the line and column it came from.

Everything about the file as a file happens here: its identity, its size and row limits, its
encoding, CSV quoting and delimiters, XML parsing. Values stay text: a cell such as
``=HYPERLINK(…)`` is data, never a formula, and numbers and dates are read later by the
field they fill. XML is parsed with entities left unexpanded, nothing fetched from the
network and no DOCTYPE allowed, so a file cannot expand itself or read other files.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree
from pydantic import BaseModel, ConfigDict

from ledgerbridge.commerce.files.mapping import CsvFormat, FieldSource, FileMapping, XmlFormat

__all__ = [
    "LIMITS",
    "Cell",
    "FileLimits",
    "FileRefused",
    "Problem",
    "Row",
    "Table",
    "content_key",
    "decode",
    "guess_format",
    "read_columns",
    "read_table",
    "sample_values",
    "sniff_encoding",
]

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
DELIMITERS = ";,\t|"


@dataclass(frozen=True)
class FileLimits:
    """What a file may hold before it is refused as a whole, so a wrong or hostile upload
    cannot exhaust memory or time."""

    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 100_000
    """Data rows of a CSV file, record elements of an XML file."""
    max_field_chars: int = 1_000


LIMITS = FileLimits()
"""The limits every file is read with unless a caller sets its own."""


class Problem(BaseModel):
    """Why a line of the file (or the file) was not read, as the user can find it: ``line``
    counts from 1 with the header line, ``column`` is the header or XML path, ``field`` the
    canonical field, ``record`` the order or refund number when known."""

    model_config = ConfigDict(frozen=True)

    line: int | None
    column: str | None = None
    field: str | None = None
    record: str | None = None
    code: str
    message: str
    value: str | None = None


class FileRefused(Exception):
    """The file cannot be read at all (too large, not decodable, a mapped column missing)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Cell:
    """One field's text in one row, or its constant; ``text`` is None when empty."""

    text: str | None
    line: int
    column: str | None
    bad: bool = False
    """The cell already has its problem (too long), so it is not checked again."""
    given: bool = True
    """Written in the file, rather than the mapping's constant or default."""


@dataclass
class Row:
    """A CSV data row or an XML record: the record's fields and those of its lines."""

    line: int
    cells: dict[str, Cell]
    lines: list[dict[str, Cell]]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Table:
    columns: list[str]
    """The headers (CSV) or the child paths of the first records (XML), for suggestions."""
    line_columns: list[str]
    """The columns of lines: an XML file's paths in its line elements, else ``columns``."""
    rows: list[Row]


def content_key(content: bytes) -> str:
    """The file's identity by content: SHA-256 of its bytes without a UTF-8 byte order mark
    and with every line ending as ``\\n``, so the same export saved on Windows or re-saved
    by an editor that adds a BOM is still the same file."""
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    normalised = content.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return hashlib.sha256(normalised).hexdigest()


def _refuse(code: str, message: str, line: int | None = None, **extra: str) -> FileRefused:
    return FileRefused(Problem(line=line, code=code, message=message, **extra))


def sniff_encoding(content: bytes) -> str | None:
    """The encoding a new file is in, for a suggestion: UTF-8 or UTF-16 by a byte order
    mark, UTF-8 when the bytes are valid UTF-8, else Windows-1252 (Latin-1 when a byte
    Windows-1252 lacks is there). None for plain ASCII, which every candidate reads alike, so
    each file's own encoding is still found when it is read."""
    if content.startswith(_BOM):
        return "utf-8"
    if content.startswith(_UTF16_BOMS):
        return "utf-16"
    if content.isascii():
        return None
    for candidate in ("utf-8", "cp1252"):
        try:
            content.decode(candidate)
        except UnicodeDecodeError:
            continue
        return candidate
    return "iso8859-1"


def decode(content: bytes, encoding: str | None) -> str:
    """The text of the file. Without an encoding: UTF-16 after its byte order mark, UTF-8 (a
    byte order mark dropped) when the bytes are valid UTF-8, else Windows-1252, else Latin-1,
    the encodings spreadsheet exports in Western Europe come in. A given encoding that does
    not fit is refused at the line of the first bad byte, since decoding anyway would turn
    names into mojibake."""
    if encoding is None and content.startswith(_UTF16_BOMS):
        encoding = "utf-16"
    if content.startswith(_BOM) and encoding in (None, "utf-8"):
        content, encoding = content[len(_BOM) :], "utf-8"
    candidates = [encoding] if encoding else ["utf-8", "cp1252", "latin-1"]
    for candidate in candidates:
        try:
            return content.decode(candidate)
        except UnicodeDecodeError as exc:
            error = exc
    line = content[: error.start].count(b"\n") + 1
    raise _refuse(
        "file_encoding",
        f"the file is not {encoding}: byte {content[error.start]:#04x} on line {line}",
        line,
    )


def _delimiter(header: str, fmt: CsvFormat) -> str:
    """The given delimiter, else the candidate the header line holds most of: a header
    holds no decimal commas, so a ``;`` file with ``12,50`` amounts is not taken for ``,``."""
    if fmt.delimiter is not None:
        return fmt.delimiter
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def _cell(
    name: str, source: FieldSource, text: str | None, line: int, limits: FileLimits, row: Row
) -> Cell:
    """A field's cell from its column's text: empty is None (or the default), a word the
    mapping translates is translated, a text over the length limit is a problem."""
    if source.value is not None:
        return Cell(source.value, line, None, given=False)
    text = text.strip() if text else None
    if text and len(text) > limits.max_field_chars:
        row.problems.append(
            Problem(
                line=line,
                column=source.column,
                field=name,
                code="value_too_long",
                message=f"{len(text)} characters; a value has at most {limits.max_field_chars}",
                value=text[:100] + "…",
            )
        )
        return Cell(None, line, source.column, bad=True)
    if not text:
        return Cell(source.default, line, source.column, given=False)
    return Cell(source.translate(text), line, source.column)


def _csv_reader(content: bytes, fmt: CsvFormat) -> tuple[Iterator[list[str]], list[str], int]:
    """A reader past the header line, the header's names, and how many lines above the
    header are skipped (an export's title or period), which line numbers count in."""
    lines = io.StringIO(decode(content, fmt.encoding), newline="")
    skipped = 0
    while skipped < fmt.header_line - 1 and lines.readline():
        skipped += 1
    first = lines.readline()
    reader = csv.reader(
        itertools.chain([first], lines), delimiter=_delimiter(first, fmt), quotechar=fmt.quote
    )
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error):
        header = []
    if not any(header):
        where = "" if fmt.header_line == 1 else f" on line {fmt.header_line}"
        raise _refuse("file_empty", f"the file has no header line{where}", fmt.header_line)
    return reader, header, skipped


def _check_columns(mapping: FileMapping, header: list[str], line: int) -> None:
    missing = [column for column in mapping.columns() if column not in header]
    if missing:
        raise _refuse(
            "column_missing",
            f"the header has no column {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(repr(c) for c in header)}",
            line,
            column=missing[0],
        )
    doubled = [column for column in mapping.columns() if header.count(column) > 1]
    if doubled:
        raise _refuse(
            "column_ambiguous",
            f"the header has the column {doubled[0]!r} more than once",
            line,
            column=doubled[0],
        )


def _csv_rows(
    content: bytes, mapping: FileMapping, fmt: CsvFormat, limits: FileLimits, stop: int | None
) -> Table:
    reader, header, skipped = _csv_reader(content, fmt)
    _check_columns(mapping, header, skipped + 1)
    position = {name: header.index(name) for name in mapping.columns()}
    record_fields = {n: s for n, s in mapping.fields.items() if not mapping.specs[n].per_line}
    line_fields = {n: s for n, s in mapping.fields.items() if mapping.specs[n].per_line}
    rows: list[Row] = []
    line_num = skipped + 1
    while stop is None or len(rows) < stop:
        start = line_num + 1
        error = None
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            values, error = [], str(exc)
        line_num = skipped + reader.line_num  # type: ignore[attr-defined]
        if error is None and not any(value.strip() for value in values):
            continue
        if len(rows) >= limits.max_rows:
            raise _refuse("too_many_rows", f"the file has more than {limits.max_rows} rows", start)
        row = Row(start, {}, [])
        if error is not None:
            row.problems.append(
                Problem(
                    line=start, code="row_malformed", message=f"the row cannot be read: {error}"
                )
            )
        elif len(values) != len(header):
            row.problems.append(
                Problem(
                    line=start,
                    code="columns_count",
                    message=f"the row has {len(values)} fields, the header {len(header)}: "
                    "a delimiter inside an unquoted value, or a value missing",
                )
            )

        def text(source: FieldSource, values: list[str] = values) -> str | None:
            index = position.get(source.column or "", len(values))
            return values[index] if index < len(values) else None

        row.cells = {n: _cell(n, s, text(s), start, limits, row) for n, s in record_fields.items()}
        row.lines = [{n: _cell(n, s, text(s), start, limits, row) for n, s in line_fields.items()}]
        rows.append(row)
    return Table(header, header, rows)


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def _parse_xml(content: bytes) -> etree._Element:
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _refuse(
            "xml_malformed", f"the file is not well-formed XML: {exc.msg}", exc.lineno
        ) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise _refuse(
            "xml_doctype", "the file has a DOCTYPE; order files need none, and it is refused", 1
        )
    for element in root.iter(etree.Element):
        element.tag = etree.QName(element).localname
    return root


def _xml_value(element: etree._Element, path: str) -> tuple[str | None, int | None]:
    """The text at ``path`` below the element and the line it is on."""
    steps, _, attribute = path.partition("@")
    steps = steps.rstrip("/")
    target = element.find(steps) if steps else element
    if target is None:
        return None, None
    if attribute:
        return target.get(attribute), target.sourceline
    return "".join(target.itertext()), target.sourceline


def _leaf_paths(element: etree._Element, prefix: str = "") -> Iterator[str]:
    """The child paths below an element that hold values (for suggesting a mapping)."""
    for name in element.attrib:
        yield f"{prefix}@{name}"
    for child in element:
        path = f"{prefix}{child.tag}"
        if len(child) == 0:
            yield path
        yield from _leaf_paths(child, f"{path}/")


def _xml_records(content: bytes, fmt: XmlFormat, limits: FileLimits) -> list[etree._Element]:
    root = _parse_xml(content)
    first, *rest = fmt.records.split("/")
    records = [root] if not rest else root.findall("/".join(rest))
    if first != root.tag or not records:
        raise _refuse(
            "records_missing",
            f"the file has no elements at {fmt.records!r}; its root is {root.tag!r}",
            root.sourceline,
        )
    if len(records) > limits.max_rows:
        raise _refuse(
            "too_many_rows",
            f"the file has more than {limits.max_rows} records",
            records[limits.max_rows].sourceline,
        )
    return records


def _xml_columns(records: list[etree._Element], lines: str | None) -> tuple[list[str], list[str]]:
    """The value paths of the first records, and those of their line elements (relative to
    each line), or the records' own when the lines are not elements of their own."""
    own: dict[str, None] = {}
    of_lines: dict[str, None] = {}
    for record in records[:10]:
        own.update(
            dict.fromkeys(p for p in _leaf_paths(record) if not lines or not p.startswith(lines))
        )
        for line in record.findall(lines) if lines else []:
            of_lines.update(dict.fromkeys(_leaf_paths(line)))
    return list(own), list(of_lines) if lines else list(own)


def _repeated(element: etree._Element) -> str | None:
    """The path of the shallowest element below ``element`` that repeats among its siblings:
    where the records (or a record's lines) of an export are."""
    level = [(element, "")]
    while level:
        below = []
        for parent, path in level:
            tags = [child.tag for child in parent]
            for child in parent:
                if tags.count(child.tag) > 1:
                    return f"{path}{child.tag}"
                below.append((child, f"{path}{child.tag}/"))
        level = below
    return None


def _xml_rows(
    content: bytes, mapping: FileMapping, fmt: XmlFormat, limits: FileLimits, stop: int | None
) -> Table:
    records = _xml_records(content, fmt, limits)
    record_fields = {n: s for n, s in mapping.fields.items() if not mapping.specs[n].per_line}
    line_fields = {n: s for n, s in mapping.fields.items() if mapping.specs[n].per_line}

    def cells(element: etree._Element, fields: dict[str, FieldSource], row: Row) -> dict[str, Cell]:
        found = {}
        for name, source in fields.items():
            text, at = _xml_value(element, source.column) if source.column else (None, None)
            line = at or element.sourceline or row.line
            found[name] = _cell(name, source, text, line, limits, row)
        return found

    rows: list[Row] = []
    for record in records[:stop]:
        row = Row(record.sourceline or 1, {}, [])
        row.cells = cells(record, record_fields, row)
        containers = record.findall(fmt.lines) if fmt.lines else [record]
        row.lines = [cells(container, line_fields, row) for container in containers]
        rows.append(row)
    return Table(*_xml_columns(records, fmt.lines), rows)


def guess_format(content: bytes, limits: FileLimits) -> CsvFormat | XmlFormat:
    """XML when the file starts with ``<``: its records are the shallowest repeated element,
    their lines the shallowest repeated element inside the first records. Else CSV, with its
    delimiter and encoding found when it is read."""
    if len(content) > limits.max_bytes:
        raise _too_large(content, limits)
    if not content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return CsvFormat()
    root = _parse_xml(content)
    below = _repeated(root) or (root[0].tag if len(root) else None)
    if below is None:
        return XmlFormat(records=root.tag)
    lines = next(filter(None, map(_repeated, root.findall(below)[:10])), None)
    return XmlFormat(records=f"{root.tag}/{below}", lines=lines)


def read_columns(
    content: bytes, fmt: CsvFormat | XmlFormat, limits: FileLimits
) -> tuple[list[str], list[str]]:
    """The columns a mapping can name: a CSV file's headers; the value paths of an XML
    file's first records, and of their line elements."""
    if len(content) > limits.max_bytes:
        raise _too_large(content, limits)
    if isinstance(fmt, XmlFormat):
        return _xml_columns(_xml_records(content, fmt, limits), fmt.lines)
    header = _csv_reader(content, fmt)[1]
    return header, header


def sample_values(
    content: bytes, fmt: CsvFormat | XmlFormat, limits: FileLimits, rows: int = 200
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The texts written in each column of the first ``rows`` rows (CSV) or records (XML),
    and in each column of their line elements (else the same), empty cells left out: what a
    suggestion learns the file's number and date formats from."""
    if len(content) > limits.max_bytes:
        raise _too_large(content, limits)
    if isinstance(fmt, XmlFormat):
        records = _xml_records(content, fmt, limits)[:rows]
        columns, line_columns = _xml_columns(records, fmt.lines)
        lines = [line for r in records for line in r.findall(fmt.lines)] if fmt.lines else []

        def texts(elements: list[etree._Element], path: str) -> list[str]:
            found = (_xml_value(element, path)[0] for element in elements)
            return [text.strip() for text in found if text and text.strip()]

        own = {column: texts(records, column) for column in columns}
        return own, {column: texts(lines, column) for column in line_columns} if lines else own
    reader, header, _ = _csv_reader(content, fmt)
    position = {name: header.index(name) for name in header if name}
    found: dict[str, list[str]] = {name: [] for name in position}
    try:
        for values in itertools.islice(reader, rows):
            for name, index in position.items():
                text = values[index].strip() if index < len(values) else ""
                if text:
                    found[name].append(text)
    except csv.Error:
        pass  # a malformed row ends the sample; reading the file reports it on its line
    return found, found


def _too_large(content: bytes, limits: FileLimits) -> FileRefused:
    return _refuse(
        "file_too_large",
        f"the file has {len(content)} bytes; at most {limits.max_bytes} are read",
    )


def read_table(
    content: bytes, mapping: FileMapping, limits: FileLimits, stop: int | None = None
) -> Table:
    """The file's rows (the first ``stop`` only, when given) with their cells; raises
    ``FileRefused`` when the file as a whole cannot be read with the mapping."""
    if len(content) > limits.max_bytes:
        raise _too_large(content, limits)
    if isinstance(mapping.format, XmlFormat):
        return _xml_rows(content, mapping, mapping.format, limits, stop)
    return _csv_rows(content, mapping, mapping.format, limits, stop)
