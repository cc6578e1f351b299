"""Forms generated from a system's typed settings and secrets (the JSON Schema ``GET /systems``
serves): one field per plain value, with its label, help text and input type, so a new
connector gets its set-up form from its declarations alone. Nested settings (entities,
mappings, summary tasks) have pages of their own; learned settings (read-only) and those
read from the system when not given are never asked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ledgerbridge.services.errors import Invalid

ADVANCED = frozenset({"base_url", "daily_call_limit", "page_size"})
"""Shown under "Advanced": a sandbox or a private host, a lower budget, a smaller page. A
required one (a shop's own address) is asked with the others, never folded away."""
LONG_TEXT = 1000
"""A text that may be longer than this (a mail body template) gets a text area: its lines
survive, which a one-line input would join."""
WORDS = {
    "url": "URL",
    "id": "ID",
    "vat": "VAT",
    "msn": "MSN",
    "smtp": "SMTP",
    "api": "API",
    "tls": "TLS",
    "ca": "CA",
    "oauth": "OAuth",
}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    input: str
    """text, textarea, password, number, date, checkbox, select, url, map (``key = value``
    lines) or rows (a record per line, its values separated by commas)."""
    required: bool
    help: str
    advanced: bool
    secret: bool
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None
    options: dict[str, str] = field(default_factory=dict)
    """For a select the page fills in (a company list): value → label."""
    columns: tuple[str, ...] = ()
    """For ``rows``: the fields of each record, in the order a line gives them."""


def label_of(name: str) -> str:
    words = [WORDS.get(w, w) for w in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _plain(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The one non-null alternative of a property, when it is a plain value."""
    options = prop.get("anyOf") or [prop]
    kinds = [o for o in options if o.get("type") != "null"]
    if len(kinds) != 1:
        return None
    kind = kinds[0]
    if "$ref" in kind:
        kind = defs.get(kind["$ref"].rsplit("/", 1)[-1], {})
    if kind.get("type") in ("string", "integer", "number", "boolean") or "enum" in kind:
        return kind
    return None


def fields_of(schema: Mapping[str, Any], *, secret: bool = False) -> list[FormField]:
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    found: list[FormField] = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly") or prop.get("x-read-from-system"):
            continue
        kind = _plain(prop, defs)
        if kind is None:
            continue
        description = prop.get("description") or kind.get("description") or ""
        if not description and not secret and name not in required:
            continue  # undocumented: set by the system, not a person
        choices = tuple(str(c) for c in kind.get("enum", ()))
        if choices:
            input_type = "select"
        elif kind.get("type") == "boolean":
            input_type = "checkbox"
        elif kind.get("type") in ("integer", "number"):
            input_type = "number"
        elif kind.get("format") == "date":
            input_type = "date"
        elif secret:
            input_type = "password"
        elif kind.get("maxLength", 0) > LONG_TEXT:
            input_type = "textarea"
        elif name.endswith("url"):
            input_type = "url"
        else:
            input_type = "text"
        found.append(
            FormField(
                name=name,
                label=label_of(name),
                input=input_type,
                required=name in required,
                help=description,
                advanced=(name in ADVANCED or name.endswith("_url")) and name not in required,
                secret=secret,
                choices=choices,
                minimum=kind.get("minimum"),
                maximum=kind.get("maximum"),
                default=prop.get("default", kind.get("default")),
            )
        )
    return found


def fields_under(schema: Mapping[str, Any], name: str) -> list[FormField]:
    """The plain values inside one object setting, each named ``<name>.<key>``: an object's
    own fields (``debtor_numbers.next``), or one per key of a map whose keys are fixed
    (``base_urls.test``). A page asks for the few nested settings a person sets this way."""
    defs = schema.get("$defs", {})
    prop = schema.get("properties", {}).get(name, {})
    kinds = [o for o in (prop.get("anyOf") or [prop]) if o.get("type") != "null"]
    kind = kinds[0] if kinds else {}
    if "$ref" in kind:
        kind = defs.get(kind["$ref"].rsplit("/", 1)[-1], {})
    described = prop.get("description") or label_of(name)
    if "properties" in kind:
        properties = {
            k: {"description": f"{described} ({k})", **v} for k, v in kind["properties"].items()
        }
        inner = fields_of({**kind, "properties": properties, "$defs": defs})
    else:
        keys = (kind.get("propertyNames") or {}).get("enum", ())
        value = kind.get("additionalProperties") or {}
        inner = fields_of(
            {"properties": {k: {**value, "description": f"{described} ({k})"} for k in keys}}
        )
    url = "url" in name
    return [
        replace(
            f,
            name=f"{name}.{f.name}",
            label=f"{label_of(name)}: {f.label.lower() if not url else f.label}",
            input="url" if url and f.input == "text" else f.input,
            advanced=url,
        )
        for f in inner
    ]


def _one_kind(
    schema: Mapping[str, Any], name: str, kind: str
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """A setting's schema, and its one type when that is ``kind`` (``null`` aside)."""
    prop = schema.get("properties", {}).get(name, {})
    kinds = [o for o in (prop.get("anyOf") or [prop]) if o.get("type") != "null"]
    if len(kinds) != 1 or kinds[0].get("type") != kind:
        return prop, None
    return prop, kinds[0]


def _resolved(schema: Mapping[str, Any], part: Mapping[str, Any]) -> Mapping[str, Any]:
    """A part of the schema, its ``$ref`` followed into ``$defs``."""
    if "$ref" in part:
        return schema.get("$defs", {}).get(part["$ref"].rsplit("/", 1)[-1], {})
    return part


def map_field(schema: Mapping[str, Any], name: str) -> FormField | None:
    """An object setting whose keys are a person's own (``tax_classes``: a VAT code → a shop
    class) as one text area of ``key = value`` lines; None when the setting is not such a map
    of plain text."""
    prop, kind = _one_kind(schema, name, "object")
    if kind is None or "properties" in kind or (kind.get("propertyNames") or {}).get("enum"):
        return None
    value = _resolved(schema, kind.get("additionalProperties") or {})
    if value.get("type") != "string":
        return None
    return FormField(
        name=name,
        label=label_of(name),
        input="map",
        required=False,
        help=f"{prop.get('description') or ''}. One per line: key = value.",
        advanced=False,
        secret=False,
    )


def rows_field(schema: Mapping[str, Any], name: str) -> FormField | None:
    """A list setting of flat records (Qonto's ``vat_groups``: code, rate, country) as one text
    area, a record per line with its values in the schema's order; None for any other."""
    prop, kind = _one_kind(schema, name, "array")
    if kind is None:
        return None
    columns = tuple(_resolved(schema, kind.get("items") or {}).get("properties") or {})
    if not columns:
        return None
    return FormField(
        name=name,
        label=label_of(name),
        input="rows",
        required=False,
        help=f"{prop.get('description') or ''}. One per line: {', '.join(columns)}.",
        advanced=False,
        secret=False,
        columns=columns,
    )


def rows_lines(value: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A list of records as its text area shows it."""
    return "\n".join(", ".join(str(row.get(c) or "") for c in columns) for row in value)


def read_rows(f: FormField, text: str, field: str) -> list[dict[str, str]]:
    """Lines of comma-separated values as records; a line without a value for each column is
    refused on ``field`` (the values themselves are checked with the settings)."""
    found: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        values = [value.strip() for value in line.split(",")]
        if len(values) != len(f.columns) or not all(values):
            raise Invalid(
                f"{f.label}, line {number} ('{line.strip()[:60]}'): write it as "
                f"{', '.join(f.columns)}",
                field=field,
            )
        found.append(dict(zip(f.columns, values, strict=True)))
    return found


def map_lines(value: Mapping[str, Any]) -> str:
    """A map setting as its text area shows it."""
    return "\n".join(f"{key} = {item}" for key, item in value.items())


def read_map(name: str, text: str, field: str) -> dict[str, str]:
    """``key = value`` lines as a map; a line that is not one is refused on ``field``."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise Invalid(
                f"{label_of(name)}, line {number} ('{line.strip()[:60]}'): write it as key = value",
                field=field,
            )
        found[key.strip()] = value.strip()
    return found


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"debtor_numbers.next": 1}`` → ``{"debtor_numbers": {"next": 1}}``."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        here = nested
        for parent in parents:
            here = here.setdefault(parent, {})
        here[last] = value
    return nested


def read_values(
    fields: list[FormField], form: Mapping[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """The submitted values in their JSON form, nested where a field's name is dotted; an
    empty field is left out (the system's default applies), an unticked checkbox is false.
    A value the form cannot read is refused on its input (``prefix`` and its name)."""
    values: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name)
        if f.input == "checkbox":
            values[f.name] = raw in ("on", "true", "1")
            continue
        if raw is None or str(raw).strip() == "":
            continue
        text = str(raw).strip()
        if f.input == "map":
            values[f.name] = read_map(f.name, text, prefix + f.name)
        elif f.input == "rows":
            values[f.name] = read_rows(f, text, prefix + f.name)
        elif f.input == "number":
            try:
                values[f.name] = int(text)
            except ValueError:
                values[f.name] = text  # the service says why it is not a number
        else:
            values[f.name] = text
    return nest(values)


def choices_of(f: FormField, options: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str]]:
    """(value, label) of a select: the choices a first step found, else the schema's enum."""
    if f.name in options:
        return [(str(v), str(label)) for v, label in options[f.name].items()]
    return [(c, c) for c in f.choices]
