"""A connection's mapping rules: checked when saved (errors name the rule's path), versioned
by content, and applied to an order with every change or skip reported."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ledgerbridge.commerce.mapping import MappingRules, apply_mapping
from ledgerbridge.model.commerce import Order
from tests.commerce.orders import CVR, line, order


def rules(*, adjustments: Any = (), filters: Any = (), version: int = 1) -> MappingRules:
    return MappingRules.model_validate(
        {"version": version, "adjustments": list(adjustments), "filters": list(filters)}
    )


SHOP_ORDER = order(
    [line("100.00", sku="MUG"), line("39.00", kind="shipping")],
    note="Leave at the door",
    shipping_address={"country": "SE", "city": "Malmö"},
)


@pytest.mark.parametrize(
    ("content", "loc", "error_type"),
    [
        (
            {"adjustments": [{"target": "lines.description", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "lines.0.description", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "source_id", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "id", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "customer", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "customer.nickname", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "note.text", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "destination", "template": "x"}]},
            ("adjustments", 0, "target"),
            "mapping_path",
        ),
        (
            {"adjustments": [{"target": "note", "template": "{{ number "}]},
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        (
            {"adjustments": [{"target": "note", "template": "{% for %}"}]},
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        ({"adjustments": [{"target": "note"}]}, ("adjustments", 0, "template"), "missing"),
        (
            {"filters": [{"field": "lines.sku", "operator": "eq", "value": "A"}]},
            ("filters", 0, "field"),
            "mapping_path",
        ),
        (
            {"filters": [{"field": "customer.kindness", "operator": "eq", "value": "A"}]},
            ("filters", 0, "field"),
            "mapping_path",
        ),
        (
            {"filters": [{"field": "note", "operator": "like", "value": "A"}]},
            ("filters", 0, "operator"),
            "literal_error",
        ),
        (
            {"filters": [{"field": "note", "operator": "exists", "value": "A"}]},
            ("filters", 0),
            "mapping_filter_value",
        ),
        (
            {"filters": [{"field": "note", "operator": "in", "value": "A"}]},
            ("filters", 0),
            "mapping_filter_value",
        ),
        (
            {"filters": [{"field": "note", "operator": "eq"}]},
            ("filters", 0),
            "mapping_filter_value",
        ),
        (
            {"filters": [{"field": "total", "operator": "gt", "value": [1]}]},
            ("filters", 0),
            "mapping_filter_value",
        ),
        (
            {
                "adjustments": [
                    {"target": "note", "template": "{% for l in lines %}{{ l.sku }}{% endfor %}"}
                ]
            },
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        (
            {"adjustments": [{"target": "note", "template": "{% set a = 'x' %}{{ a ~ a }}"}]},
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        (
            {"adjustments": [{"target": "note", "template": "{{ note | center(999999999) }}"}]},
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        (
            {"adjustments": [{"target": "note", "template": "{{ '%999999999s' | format(note) }}"}]},
            ("adjustments", 0, "template"),
            "mapping_template",
        ),
        ({"version": 0}, ("version",), "greater_than_equal"),
        ({"mappings": []}, ("mappings",), "extra_forbidden"),
    ],
)
def test_bad_rules_name_their_path(
    content: dict[str, Any], loc: tuple[Any, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        MappingRules.model_validate(content)
    first = exc.value.errors()[0]
    assert (tuple(first["loc"]), first["type"]) == (loc, error_type)


@pytest.mark.parametrize(
    ("condition", "placed", "skipped"),
    [
        ({"field": "payment_method.code", "operator": "eq", "value": "bacs"}, SHOP_ORDER, False),
        ({"field": "payment_method.code", "operator": "eq", "value": "stripe"}, SHOP_ORDER, True),
        ({"field": "payment_method.code", "operator": "ne", "value": "stripe"}, SHOP_ORDER, False),
        ({"field": "customer.customer_kind", "operator": "eq", "value": "b2b"}, SHOP_ORDER, False),
        (
            {"field": "customer.customer_kind", "operator": "eq", "value": "b2b"},
            order(customer={"vat_number": CVR}),
            True,
        ),
        ({"field": "destination", "operator": "in", "value": ["NO", "SE"]}, SHOP_ORDER, True),
        ({"field": "destination", "operator": "not_in", "value": ["DK"]}, SHOP_ORDER, True),
        ({"field": "destination", "operator": "not_in", "value": ["DK"]}, order(), False),
        ({"field": "lines.*.sku", "operator": "eq", "value": "MUG"}, SHOP_ORDER, True),
        ({"field": "lines.*.sku", "operator": "eq", "value": "GIFTCARD"}, SHOP_ORDER, False),
        ({"field": "lines.*.kind", "operator": "eq", "value": "fee"}, SHOP_ORDER, False),
        ({"field": "total", "operator": "gt", "value": 1000}, SHOP_ORDER, False),
        ({"field": "total", "operator": "ge", "value": "173.75"}, SHOP_ORDER, True),
        ({"field": "total", "operator": "eq", "value": 173.75}, SHOP_ORDER, True),
        ({"field": "total", "operator": "lt", "value": "abc"}, SHOP_ORDER, False),
        ({"field": "customer.company", "operator": "exists"}, SHOP_ORDER, False),
        ({"field": "customer.company", "operator": "missing"}, SHOP_ORDER, True),
        ({"field": "note", "operator": "contains", "value": "DOOR"}, SHOP_ORDER, True),
        ({"field": "created_at", "operator": "lt", "value": "2026-06-01"}, SHOP_ORDER, False),
        ({"field": "created_at", "operator": "lt", "value": "2026-06-02"}, SHOP_ORDER, True),
        ({"field": "created_at", "operator": "lt", "value": "2026-06-01T10:30"}, SHOP_ORDER, True),
        ({"field": "created_at", "operator": "ge", "value": "2026-06-01T10:30"}, SHOP_ORDER, False),
        ({"field": "is_paid", "operator": "eq", "value": False}, SHOP_ORDER, False),
        ({"field": "is_paid", "operator": "eq", "value": False}, order(paid_at=None), True),
        (
            {"field": "renewal", "operator": "eq", "value": True},
            order(renewal=True, subscription_id="s-1"),
            True,
        ),
        ({"field": "shipping_address.city", "operator": "eq", "value": "Malmö"}, SHOP_ORDER, True),
        ({"field": "shipping_address.city", "operator": "eq", "value": "Malmö"}, order(), False),
    ],
)
def test_filter(condition: dict[str, Any], placed: Order, skipped: bool) -> None:
    outcome = apply_mapping(placed, rules(filters=[condition]))
    assert outcome.skipped is skipped
    if skipped:
        assert (outcome.reason, outcome.rule) == ("mapping_filter", "filters[0]")
        assert outcome.detail.startswith(f"{condition['field']} {condition['operator']}")
    else:
        assert (outcome.reason, outcome.order) == ("mapped", placed)


def test_the_first_matching_filter_is_reported() -> None:
    outcome = apply_mapping(
        SHOP_ORDER,
        rules(
            filters=[
                {"field": "destination", "operator": "eq", "value": "DE"},
                {"field": "lines.*.sku", "operator": "in", "value": ["MUG", "CAP"]},
                {"field": "note", "operator": "exists"},
            ]
        ),
    )
    assert (outcome.rule, outcome.detail) == ("filters[1]", 'lines.*.sku in ["MUG", "CAP"]')


@pytest.mark.parametrize(
    ("adjustments", "changes"),
    [
        (
            [{"target": "note", "template": "Webordre {{ number }}: {{ note }}"}],
            [("note", "Leave at the door", "Webordre 1001: Leave at the door")],
        ),
        (
            [{"target": "customer.company", "template": "{{ customer.company or customer.name }}"}],
            [("customer.company", None, "Karen Kunde")],
        ),
        (
            [
                {
                    "target": "lines.*.description",
                    "template": "{{ line.sku or line.kind }} ({{ number }})",
                }
            ],
            [
                ("lines.0.description", "item 100.00", "MUG (1001)"),
                ("lines.1.description", "shipping 39.00", "shipping (1001)"),
            ],
        ),
        (
            [
                {
                    "target": "destination_country",
                    "template": "{{ shipping_address.country | lower }}",
                }
            ],
            [("destination_country", None, "SE")],
        ),
        ([{"target": "note", "template": "{{ '' }}"}], [("note", "Leave at the door", None)]),
        ([{"target": "note", "template": "{{ note }}"}], []),
        (
            [
                {"target": "customer.phone", "template": "+45"},
                {"target": "number", "template": "WEB-{{ number }}"},
            ],
            [("customer.phone", None, "+45"), ("number", "1001", "WEB-1001")],
        ),
        (
            [{"target": "number", "template": "{{ number }}-{{ lines | length }}"}],
            [("number", "1001", "1001-2")],
        ),
        (
            [
                {
                    "target": "note",
                    "template": "{{ lines | map(attribute='sku') | select | join(',') }}",
                }
            ],
            [("note", "Leave at the door", "MUG")],
        ),
        (
            [
                {
                    "target": "customer.company",
                    "template": "{% if destination != 'DK' %}Export{% endif %}",
                }
            ],
            [("customer.company", None, "Export")],
        ),
        (
            [{"target": "note", "template": "{{ total * 2 }} {{ created_at.year }}"}],
            [("note", "Leave at the door", "347.50 2026")],
        ),
    ],
)
def test_adjustment(adjustments: list[dict[str, str]], changes: list[tuple[str, Any, Any]]) -> None:
    outcome = apply_mapping(SHOP_ORDER, rules(adjustments=adjustments))
    assert outcome.reason == "mapped"
    assert [(c.path, c.before, c.after) for c in outcome.changes] == changes
    assert outcome.order is not None
    assert outcome.order.source_id == SHOP_ORDER.source_id


def test_adjustments_read_the_order_as_the_shop_sent_it() -> None:
    outcome = apply_mapping(
        SHOP_ORDER,
        rules(
            adjustments=[
                {"target": "number", "template": "A-{{ number }}"},
                {"target": "note", "template": "{{ number }}"},
            ]
        ),
    )
    assert outcome.order is not None
    assert (outcome.order.number, outcome.order.note) == ("A-1001", "1001")


@pytest.mark.parametrize(
    ("adjustment", "reason", "detail"),
    [
        (
            {"target": "note", "template": "{{ coupon_code }}"},
            "mapping_template_failed",
            "'coupon_code' is undefined",
        ),
        (
            {"target": "note", "template": "{{ customer.fax }}"},
            "mapping_template_failed",
            "has no attribute 'fax'",
        ),
        (
            {"target": "note", "template": "{{ ''.__class__.__mro__ }}"},
            "mapping_template_failed",
            "__class__",
        ),
        (
            {"target": "note", "template": "{{ 'x' * 100000 }}"},
            "mapping_template_failed",
            "10,000 characters",
        ),
        (
            {"target": "note", "template": "{{ 10 ** 100000 }}"},
            "mapping_template_failed",
            "exponent",
        ),
        ({"target": "note", "template": "{{ 1 / 0 }}"}, "mapping_template_failed", "division"),
        (
            {"target": "note", "template": "{{ range(10) }}"},
            "mapping_template_failed",
            "'range' is undefined",
        ),
        (
            {"target": "note", "template": "{{ ('x' * 9000) | replace('x', 'xx') }}"},
            "mapping_template_failed",
            "10,000 characters",
        ),
        (
            {"target": "currency", "template": "EURO"},
            "mapping_result_invalid",
            "currency: unknown currency code 'EURO'",
        ),
        (
            {"target": "customer.email", "template": "{{ customer.name }}"},
            "mapping_result_invalid",
            "customer.email: invalid email address",
        ),
        (
            {"target": "lines.*.quantity", "template": "0"},
            "mapping_result_invalid",
            "lines.0.quantity: a line's quantity must not be zero",
        ),
        (
            {"target": "lines.*.quantity", "template": "two"},
            "mapping_result_invalid",
            "lines.0.quantity: must be a number such as 0.50, with a point as decimal mark",
        ),
    ],
)
def test_an_adjustment_that_fails_says_where(
    adjustment: dict[str, str], reason: str, detail: str
) -> None:
    outcome = apply_mapping(SHOP_ORDER, rules(adjustments=[adjustment]))
    assert outcome.skipped
    assert outcome.reason == reason
    assert detail in outcome.detail
    if reason == "mapping_template_failed":
        assert outcome.rule == "adjustments[0]"


def test_filters_see_the_order_before_adjustments() -> None:
    outcome = apply_mapping(
        order(),
        rules(
            adjustments=[{"target": "note", "template": "set"}],
            filters=[{"field": "note", "operator": "missing"}],
        ),
    )
    assert outcome.reason == "mapping_filter"


def test_rules_are_versioned_by_content() -> None:
    first = rules(adjustments=[{"target": "note", "template": "{{ number }}"}])
    same = rules(adjustments=[{"target": "note", "template": "{{ number }}"}], version=7)
    changed = rules(adjustments=[{"target": "note", "template": "#{{ number }}"}])
    assert first.content_hash == same.content_hash != changed.content_hash
    assert first.revise(same) is first
    second = first.revise(changed)
    assert (second.version, second.content_hash) == (2, changed.content_hash)
    assert second.revise(changed).version == 2
    assert second.revise(first).version == 3
    outcome = apply_mapping(order(), second)
    assert (outcome.version, outcome.rules_hash) == (2, changed.content_hash)
    assert MappingRules.model_validate(second.model_dump(mode="json")) == second


def test_no_rules_change_nothing() -> None:
    outcome = apply_mapping(SHOP_ORDER, MappingRules())
    assert (outcome.reason, outcome.order, outcome.changes) == ("mapped", SHOP_ORDER, ())
