"""The field catalogue against the official spec, and the ``fields`` parser and renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.sandbox.tripletex import TripletexError
from ledgerbridge.sandbox.tripletex.models import models, parse_field
from ledgerbridge.sandbox.tripletex.render import (
    Renderer,
    check_selection,
    parse_fields,
    sort_rows,
    version_digest,
)
from tests.specs import spec_path

SPEC = spec_path("tripletex/tripletex-openapi-2.74.00.json")
SCALARS = {"integer": "int", "number": "num", "string": "str", "boolean": "bool"}


def _spec_kind(prop: dict[str, Any]) -> str:
    """The catalogue's notation for one property of the spec."""
    prefix = "ro " if prop.get("readOnly") else ""
    if "$ref" in prop:
        return prefix + "@" + prop["$ref"].rsplit("/", 1)[1]
    if prop.get("type") == "array":
        items = prop["items"]
        if "$ref" in items:
            return prefix + "[@" + items["$ref"].rsplit("/", 1)[1] + "]"
        return prefix + "[" + SCALARS[items["type"]] + "]"
    if "enum" in prop:
        return prefix + "enum:" + "|".join(prop["enum"])
    if prop.get("type") == "object":
        return prefix + "obj"
    return prefix + SCALARS[prop["type"]]


@pytest.mark.skipif(not SPEC.exists(), reason=f"official spec not found at {SPEC}")
def test_catalogue_matches_the_official_spec() -> None:
    """Every catalogued model has exactly the spec's properties, types and read-only flags."""
    schemas = json.loads(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    raw = json.loads(
        (
            Path(__file__).resolve().parents[2]
            / "src/ledgerbridge/sandbox/tripletex/catalogue.json"
        ).read_text(encoding="utf-8")
    )
    assert len(raw) == 47
    for name, fields in raw.items():
        expected = {f: _spec_kind(p) for f, p in schemas[name]["properties"].items()}
        assert fields == expected, name
        assert list(fields) == list(expected), name


def test_catalogue_entries_decode() -> None:
    """References, lists, enums and read-only flags are decoded."""
    customer = models()["Customer"].fields
    assert customer["postalAddress"].kind == "ref" and customer["postalAddress"].model == "Address"
    assert customer["isCustomer"].read_only
    assert customer["language"].enum == ("NO", "EN")
    assert models()["Voucher"].fields["postings"].kind == "refs"
    assert parse_field("bankAccounts", "[str]").scalar == "str"
    with pytest.raises(ValueError):
        parse_field("x", "date")


def test_parse_fields() -> None:
    """Nested selections, ``*`` and whitespace."""
    assert parse_fields(None) is None
    assert parse_fields("  ") is None
    assert parse_fields("*") == {"*": None}
    assert parse_fields("id, name ,customer(name, postalAddress(*)),changes") == {
        "id": None,
        "name": None,
        "customer": {"name": None, "postalAddress": {"*": None}},
        "changes": None,
    }
    for bad in ("customer(name", "name)", "(name)", "*(name)"):
        with pytest.raises(TripletexError) as info:
            parse_fields(bad)
        assert (info.value.status, info.value.code) == (400, 11000)


def test_check_selection_follows_references() -> None:
    """Unknown fields are refused at any depth; scalars cannot be expanded."""
    check_selection(parse_fields("*,postalAddress(city,country(name))"), "Customer")
    for bad in ("postalAddress(street)", "name(first)", "shoeSize"):
        with pytest.raises(TripletexError):
            check_selection(parse_fields(bad), "Customer")


def test_renderer_links_and_expands() -> None:
    """References render as id/url unless expanded; ``changes`` is derived for new rows."""
    rows = {("Address", 7): {"id": 7, "version": 0, "city": "Bergen", "postalCode": "5003"}}
    renderer = Renderer("http://host/production/v2/", lambda m, i: rows.get((m, i)))
    customer = {
        "id": 1,
        "version": 2,
        "name": "Fjord Rør AS",
        "postalAddress": 7,
        "_created": datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
    }
    assert renderer.render(customer, "Customer", None) == {
        "id": 1,
        "version": 2,
        "url": "http://host/production/v2/customer/1",
        "name": "Fjord Rør AS",
        "postalAddress": {"id": 7, "url": "http://host/production/v2/address/7"},
    }
    picked = renderer.render(customer, "Customer", parse_fields("name,postalAddress(city),changes"))
    assert picked == {
        "name": "Fjord Rør AS",
        "postalAddress": {"city": "Bergen"},
        "changes": [{"timestamp": "2026-03-10T10:00:00", "changeType": "CREATE"}],
    }


def test_sorting_and_digest() -> None:
    """Sorting by nested fields, descending; the digest changes with versions."""
    customers = {
        1: {"id": 1, "version": 0, "name": "B"},
        2: {"id": 2, "version": 0, "name": "A"},
    }
    orders = [{"id": 10, "version": 0, "customer": 1}, {"id": 11, "version": 0, "customer": 2}]
    resolve = lambda model, i: customers.get(i)  # noqa: E731
    ordered = sort_rows(orders, "customer.name", "Order", resolve)
    assert [o["id"] for o in ordered] == [11, 10]
    assert [o["id"] for o in sort_rows(orders, "-id", "Order", resolve)] == [11, 10]
    before = version_digest(orders, None)
    orders[0]["version"] = 1
    assert version_digest(orders, None) != before
    assert version_digest([], None) is None
