"""The diff a change keeps for a record's history: only what changed, before and after."""

from __future__ import annotations

from ledgerbridge.engine.hub import field_diff


def test_only_changed_fields_with_nested_objects_field_by_field_and_lists_whole() -> None:
    before = {
        "name": "Nordlys",
        "phone": None,
        "billing_address": {"city": "Fredericia", "postal_code": "7000"},
        "lines": [{"sku": "A", "quantity": "1"}],
        "email": "a@example.com",
    }
    after = {
        "name": "Nordlys",
        "phone": "+45 70 70 70 70",
        "billing_address": {"city": "Vejle", "postal_code": "7000"},
        "lines": [{"sku": "A", "quantity": "2"}],
    }
    assert field_diff(before, after) == {
        "phone": [None, "+45 70 70 70 70"],
        "billing_address.city": ["Fredericia", "Vejle"],
        "lines": [[{"sku": "A", "quantity": "1"}], [{"sku": "A", "quantity": "2"}]],
        "email": ["a@example.com", None],
    }
    assert field_diff(after, after) == {}
    assert field_diff({"billing_address": None}, {"billing_address": {"city": "Vejle"}}) == {
        "billing_address": [None, {"city": "Vejle"}]
    }
