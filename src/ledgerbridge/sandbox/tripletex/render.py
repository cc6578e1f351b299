"""``fields`` selection, rendering of stored rows into the spec's JSON, sorting and paging.

Rows are stored flat: scalars as JSON values, a reference to another object as its integer id,
a list of references as a list of ids, and embedded objects without an endpoint (``changes``) as
dicts. Rendering turns references into ``{"id", "url"}`` unless ``fields`` expands them, as
Tripletex does (its FAQ: without ``fields`` an order carries only the ids of its lines).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ledgerbridge.sandbox.tripletex.errors import ILLEGAL_FILTER, SORTING, TripletexError
from ledgerbridge.sandbox.tripletex.models import PATHS, FieldSpec, models

Row = dict[str, Any]
Selection = dict[str, "Selection | None"]
Resolver = Callable[[str, int], Row | None]

OSLO = ZoneInfo("Europe/Oslo")
ALL = "*"
_ALL_SELECTION: Selection = {ALL: None}


def local_timestamp(moment: datetime) -> str:
    """Tripletex DateTime (``YYYY-MM-DDThh:mm:ss``, Norwegian local time)."""
    return moment.astimezone(OSLO).strftime("%Y-%m-%dT%H:%M:%S")


def change_entry(kind: str, employee_id: int | None, moment: datetime) -> Row:
    """One entry of a ``changes`` list."""
    change: Row = {"timestamp": local_timestamp(moment), "changeType": kind}
    if employee_id is not None:
        change["employeeId"] = employee_id
    return change


def parse_fields(text: str | None) -> Selection | None:
    """Parse ``fields`` (``*,customer(name,postalAddress(*)),changes``); blank means default."""
    if text is None or not text.strip():
        return None
    selection, rest = _parse_list(text, 0, text)
    if rest != len(text):
        raise _illegal_fields(text, f"unexpected ')' at position {rest}")
    return selection


def _parse_list(text: str, pos: int, whole: str) -> tuple[Selection, int]:
    """Parse comma-separated items from ``pos`` up to a closing parenthesis or the end."""
    selection: Selection = {}
    name = ""
    while pos < len(text):
        char = text[pos]
        if char == "(":
            key = name.strip()
            if not key or key == ALL:
                raise _illegal_fields(whole, f"'(' without a field name at position {pos}")
            sub, pos = _parse_list(text, pos + 1, whole)
            if pos >= len(text) or text[pos] != ")":
                raise _illegal_fields(whole, "missing ')'")
            selection[key] = sub
            name = ""
            pos += 1
            continue
        if char == ")":
            break
        if char == ",":
            _add_name(selection, name)
            name = ""
        else:
            name += char
        pos += 1
    _add_name(selection, name)
    return selection, pos


def _add_name(selection: Selection, name: str) -> None:
    """Add a plain field name (no sub-selection) unless it is empty or already expanded."""
    key = name.strip()
    if key and key not in selection:
        selection[key] = None


def _illegal_fields(text: str, problem: str) -> TripletexError:
    """400/11000 for a ``fields`` value that cannot be applied."""
    return TripletexError(
        400,
        ILLEGAL_FILTER,
        f"Illegal fields filter {text!r}: {problem}.",
        developer_message=problem,
    )


def check_selection(selection: Selection | None, model_name: str) -> None:
    """Refuse field names the model does not have (recursively through expanded references)."""
    if selection is None:
        return
    catalogue = models()
    entry = catalogue.get(model_name)
    if entry is None:
        return
    for name, sub in selection.items():
        if name == ALL:
            continue
        spec = entry.fields.get(name)
        if spec is None:
            raise TripletexError(
                400,
                ILLEGAL_FILTER,
                f"Illegal field in fields filter: {name}. {name} does not match a field in the "
                f"model: {model_name}DTO",
            )
        if sub is not None:
            if not spec.is_reference:
                raise _illegal_fields(name, f"{name} is not an object and cannot be expanded")
            check_selection(sub, spec.model or "")


class Renderer:
    """Turns stored rows into response objects for one request (its base URL and company)."""

    def __init__(self, base_url: str, resolve: Resolver) -> None:
        self.base_url = base_url.rstrip("/")
        self.resolve = resolve

    def url(self, model_name: str, object_id: object) -> str | None:
        """Absolute URL of an object, like Tripletex's ``url`` property."""
        path = PATHS.get(model_name)
        return f"{self.base_url}/{path}/{object_id}" if path else None

    def render(self, row: Mapping[str, Any], model_name: str, selection: Selection | None) -> Row:
        """One object, projected by ``selection`` (``None``: all fields but ``changes``)."""
        entry = models().get(model_name)
        if entry is None:
            return {k: v for k, v in row.items() if v is not None and not k.startswith("_")}
        if selection is None or ALL in selection:
            names = [name for name in entry.fields if name != "changes"]
            if selection is not None:
                names += [name for name in selection if name != ALL and name not in names]
        else:
            names = list(selection)
        out: Row = {}
        for name in names:
            spec = entry.fields[name]
            sub = selection.get(name) if selection is not None else None
            if name == "url":
                url = self.url(model_name, row.get("id"))
                if url is not None and row.get("id") is not None:
                    out[name] = url
                continue
            value = row.get(name)
            if value is None and name == "changes" and "_created" in row:
                value = [change_entry("CREATE", row.get("_creator"), row["_created"])]
            if value is None:
                continue
            out[name] = self._value(spec, value, sub)
        return out

    def _value(self, spec: FieldSpec, value: Any, sub: Selection | None) -> Any:
        """A field's JSON value: references become ``{id, url}`` or expanded objects."""
        if spec.kind == "ref":
            return self._nested(spec.model or "", value, sub)
        if spec.kind == "refs":
            return [self._nested(spec.model or "", item, sub) for item in value]
        return value

    def _nested(self, model_name: str, value: Any, sub: Selection | None) -> Row:
        """A referenced object: embedded dicts in full, ids as a link unless expanded."""
        if isinstance(value, Mapping):
            return self.render(value, model_name, sub if sub is not None else _ALL_SELECTION)
        if sub is not None:
            target = self.resolve(model_name, value)
            if target is not None:
                return self.render(target, model_name, sub)
        url = self.url(model_name, value)
        return {"id": value, "url": url} if url is not None else {"id": value}


def sort_rows(
    rows: Sequence[Row], sorting: str | None, model_name: str, resolve: Resolver
) -> list[Row]:
    """Apply ``sorting`` (``name,-date,customer.name``); rows without a value sort first."""
    if sorting is None or not sorting.strip():
        return list(rows)
    keys: list[tuple[list[str], bool]] = []
    entry = models()[model_name]
    for item in sorting.split(","):
        term = item.strip()
        descending = term.startswith("-")
        path = term.lstrip("-").strip().split(".")
        if not path[0] or path[0] not in entry.fields:
            raise TripletexError(
                422, SORTING, f"Illegal sorting field '{term}' for {model_name}DTO."
            )
        keys.append((path, descending))
    ordered = list(rows)
    for path, descending in reversed(keys):
        ordered.sort(key=_key_function(path, model_name, resolve), reverse=descending)
    return ordered


def _key_function(path: list[str], model_name: str, resolve: Resolver) -> Callable[[Row], Any]:
    """Sort key for one ``sorting`` term."""

    def key(row: Row) -> tuple[int, Any]:
        return _sort_key(_lookup(row, path, model_name, resolve))

    return key


def _lookup(row: Mapping[str, Any], path: list[str], model_name: str, resolve: Resolver) -> Any:
    """Value at a dotted path, following references through ``resolve``."""
    value: Any = row.get(path[0])
    current, field_name = model_name, path[0]
    for name in path[1:]:
        entry = models().get(current)
        field = entry.fields.get(field_name) if entry else None
        if value is None or field is None or field.kind != "ref":
            return None
        current = field.model or ""
        target = value if isinstance(value, Mapping) else resolve(current, value)
        value = target.get(name) if target is not None else None
        field_name = name
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    """Comparable key: missing values first, numbers and text in their own order."""
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    return (2, str(value))


def version_digest(rows: Iterable[Row], fields: str | None) -> str | None:
    """Hash of the full result (ids and versions) and the selection; ``None`` when empty."""
    digest = hashlib.sha256((fields or "").encode("utf-8"))
    empty = True
    for row in rows:
        empty = False
        digest.update(f"|{row.get('id')}:{row.get('version')}".encode())
    return None if empty else digest.hexdigest()


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON; amounts kept as ``Decimal`` are written as plain numbers."""
    return json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    """JSON for values the standard encoder refuses."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
