"""WooCommerce ⇄ canonical mapping, pure functions: orders as the sandbox serves them (one
shop, in process, no HTTP), one table row per case, each mapped and validated by the model; then
refunds, products, stock and the webhook checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.base import CallbackRefused, SkipRecord
from ledgerbridge.connectors.woocommerce.connector import record_url
from ledgerbridge.connectors.woocommerce.mapping import (
    OrderMapping,
    ProductMapping,
    RefundMapping,
    StockMapping,
)
from ledgerbridge.connectors.woocommerce.webhooks import check_signature, notices
from ledgerbridge.engine.canonical import validate
from ledgerbridge.model import Order
from ledgerbridge.sandbox.woocommerce.seed import seed_shop
from ledgerbridge.sandbox.woocommerce.state import WooSandbox

ORDERS = OrderMapping()
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> tuple[WooSandbox, dict[str, Any]]:
    sandbox = WooSandbox(seed=4)
    cases = seed_shop(sandbox, seed=4, orders=80, customers=12)
    sandbox.close()
    return sandbox, cases


def billing(country: str, **extra: str) -> dict[str, str]:
    return {
        "first_name": "Maja", "last_name": "Holm", "address_1": "Strandvejen 4",
        "city": "Aarhus" if country == "DK" else "Berlin",
        "postcode": "8000" if country == "DK" else "10115",
        "country": country, "email": "maja@example.dk", "phone": "+4520304050", **extra,
    }  # fmt: skip


BODIES: dict[str, dict[str, Any]] = {
    "dk_consumer": {"billing": billing("DK"), "line_items": [{"sku": "KAF-500", "quantity": 2}],
                    "payment_method": "stripe", "set_paid": True},
    "oss_germany": {"billing": billing("DE"), "line_items": [{"sku": "KAF-500", "quantity": 1}],
                    "shipping_lines": [{"method_id": "flat_rate", "method_title": "DHL",
                                        "total": "60.00"}],
                    "payment_method": "stripe", "set_paid": True},
    "b2b_vat_number": {"billing": billing("DK", company="Kaffebar Holm ApS"),
                       "line_items": [{"sku": "KAF-1000", "quantity": 10}],
                       "meta_data": [{"key": "_billing_vat_number", "value": "DK12345674"}],
                       "payment_method": "bacs"},
    "ean_customer": {"billing": billing("DK", company="Aarhus Kommune"),
                     "line_items": [{"sku": "KAN-08", "quantity": 3}],
                     "meta_data": [{"key": "_billing_ean_number", "value": "5798000000001"}],
                     "payment_method": "bacs"},
    "coupon": {"billing": billing("DK"), "line_items": [{"sku": "KAF-500", "quantity": 4}],
               "coupon_lines": [{"code": "velkommen10"}], "set_paid": True,
               "payment_method": "stripe"},
    "shipping_and_fees": {"billing": billing("DK"),
                          "line_items": [{"sku": "KAF-500", "quantity": 1}],
                          "shipping_lines": [{"method_id": "flat_rate",
                                              "method_title": "GLS Pakkeshop", "total": "31.20"}],
                          "fee_lines": [{"name": "Gaveindpakning", "total": "20.00",
                                         "tax_status": "taxable"},
                                        {"name": "Rabat", "total": "-25.00",
                                         "tax_status": "taxable"}],
                          "set_paid": True, "payment_method": "mobilepay"},
    "one_cent_gap": {"billing": billing("DK"),
                     "line_items": [{"sku": "KAF-500", "quantity": 1, "total": "7.99"},
                                    {"sku": "KAF-1000", "quantity": 1, "total": "7.99"},
                                    {"sku": "KAN-08", "quantity": 1, "total": "7.99"}],
                     "set_paid": True, "payment_method": "stripe"},
}  # fmt: skip


def mapped(sandbox: WooSandbox, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the order's JSON as the API serves it, its canonical form validated by the model)."""
    wire = json.loads(json.dumps(sandbox.order_json(sandbox.create_order(body)["id"])))
    return wire, validate("order", ORDERS.to_canonical(wire, {}))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("dk_consumer", {"kind": "b2c", "rates": {"25"}, "destination": "DK", "paid": True}),
        ("oss_germany", {"kind": "b2c", "rates": {"19"}, "destination": "DE", "paid": True}),
        ("b2b_vat_number", {"kind": "b2b", "vat": "DK12345674", "paid": False}),
        ("ean_customer", {"kind": "ean", "ean": "5798000000001", "paid": False}),
        ("coupon", {"kind": "b2c", "rates": {"25"}, "paid": True}),
        ("shipping_and_fees", {"kinds": ["item", "shipping", "fee", "discount"], "paid": True}),
        ("one_cent_gap", {"kinds": ["item", "item", "item"], "paid": True}),
    ],
)
def test_an_order_maps_to_a_valid_canonical_order_with_the_shops_own_figures(
    shop: tuple[WooSandbox, dict[str, Any]], case: str, expected: dict[str, Any]
) -> None:
    sandbox, _ = shop
    wire, canonical = mapped(sandbox, BODIES[case])
    order = Order.model_validate(canonical)
    assert order.source_id == str(wire["id"]) and order.number == wire["number"]
    assert order.currency == "DKK" and order.state == wire["status"]
    assert order.total == Decimal(wire["total"]) and order.total_tax == Decimal(wire["total_tax"])
    assert order.is_paid is expected["paid"]
    # The lines carry the shop's figures: net and tax add up to the shop's total exactly.
    lines = sum((line.net_amount + line.tax_amount for line in order.lines), Decimal(0))
    assert lines == order.total
    assert sum((t.tax_total + t.shipping_tax_total for t in order.tax_lines), Decimal(0)) == (
        order.total_tax
    )
    if "kind" in expected:
        assert order.customer.customer_kind == expected["kind"]
    if "vat" in expected:
        assert order.customer.vat_number == expected["vat"]
    if "ean" in expected:
        assert order.customer.ean == expected["ean"]
    if "rates" in expected:
        assert {str(line.tax_rate.normalize()) for line in order.lines} == expected["rates"]
    if "destination" in expected:
        assert order.destination == expected["destination"]
    if "kinds" in expected:
        assert [line.kind for line in order.lines] == expected["kinds"]
    assert order.customer.email == "maja@example.dk" and order.customer.name == "Maja Holm"
    assert order.billing_address is not None and order.billing_address.line1 == "Strandvejen 4"
    assert order.payment_method is not None
    assert order.payment_method.code == BODIES[case]["payment_method"]


def test_a_coupon_is_inside_the_item_lines_and_adds_no_line(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, _ = shop
    wire, canonical = mapped(sandbox, BODIES["coupon"])
    (item,) = wire["line_items"]
    assert Decimal(item["subtotal"]) > Decimal(item["total"]), "the coupon lowered the line"
    (line,) = canonical["lines"]
    assert Decimal(line["net_amount"]) == Decimal(item["total"])
    assert Decimal(line["unit_price"]) * 4 == Decimal(item["total"])


def test_the_one_cent_gap_between_line_taxes_and_the_tax_on_the_sum_is_kept_as_the_shop_says(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, _ = shop
    wire, canonical = mapped(sandbox, BODIES["one_cent_gap"])
    line_taxes = [Decimal(line["tax_amount"]) for line in canonical["lines"]]
    nets = sum((Decimal(line["net_amount"]) for line in canonical["lines"]), Decimal(0))
    on_the_sum = (nets * Decimal("0.25")).quantize(Decimal("0.01"))
    assert sum(line_taxes) == Decimal(wire["total_tax"]) == Decimal(canonical["total_tax"])
    assert sum(line_taxes) - on_the_sum == Decimal("0.01"), (line_taxes, on_the_sum)


def test_a_seeded_gap_order_and_every_seeded_order_map_without_a_skip(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, cases = shop
    assert cases["gap_orders"], "the seed made orders with a 1-cent gap"
    held = {cases["reverse_charge_order"]}  # its placeholder VAT number fails its check digit
    for order_id in sorted(set(sandbox.orders) - held):
        wire = json.loads(json.dumps(sandbox.order_json(order_id)))
        Order.model_validate(validate("order", ORDERS.to_canonical(wire, {})))


def test_a_renewal_names_its_subscription(shop: tuple[WooSandbox, dict[str, Any]]) -> None:
    sandbox, cases = shop
    wire = json.loads(json.dumps(sandbox.order_json(cases["failed_then_paid_renewal"])))
    canonical = validate("order", ORDERS.to_canonical(wire, {}))
    assert canonical["renewal"] is True
    subscription = next(
        m["value"] for m in wire["meta_data"] if m["key"] == "_subscription_renewal"
    )
    assert canonical["subscription_id"] == str(subscription)
    assert canonical["transaction_id"] and canonical["paid_at"]


def test_an_invalid_vat_number_is_refused_by_the_model_naming_the_field(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, cases = shop
    wire = json.loads(json.dumps(sandbox.order_json(cases["reverse_charge_order"])))
    wire["meta_data"] = [{"key": "_billing_vat_number", "value": "DE123456789"}]
    with pytest.raises(ValueError, match="vat_number"):
        validate("order", ORDERS.to_canonical(wire, {}))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"currency": ""}, "invalid_remote_data"),
        ({"date_created_gmt": None}, "invalid_remote_data"),
        ({"total": "lots"}, "invalid_remote_data"),
    ],
)
def test_an_unreadable_order_is_a_skip_with_a_reason(
    shop: tuple[WooSandbox, dict[str, Any]], change: dict[str, Any], reason: str
) -> None:
    sandbox, cases = shop
    wire = {**json.loads(json.dumps(sandbox.order_json(cases["orders"][0]))), **change}
    with pytest.raises(SkipRecord) as skipped:
        ORDERS.to_canonical(wire, {})
    assert skipped.value.reason == reason


def test_refunds_are_positive_and_point_at_their_order_and_lines(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, cases = shop
    mapping = RefundMapping()
    for order_key, with_lines in (("partial_refund_order", True), ("amount_refund_order", False)):
        order_id = cases[order_key]
        refund = next(r for r in sandbox.refunds.values() if r["parent_id"] == order_id)
        wire = json.loads(json.dumps(sandbox.refund_json(refund["id"], with_parent=True)))
        canonical = validate("refund", mapping.to_canonical({**wire, "_currency": "DKK"}, {}))
        assert canonical["order_source_id"] == str(order_id)
        assert Decimal(canonical["amount"]) == Decimal(wire["amount"]) > 0
        assert bool(canonical["lines"]) is with_lines
        for line, remote in zip(canonical["lines"], wire["line_items"], strict=True):
            assert Decimal(line["quantity"]) == -Decimal(str(remote["quantity"])) > 0
            assert Decimal(line["net_amount"]) == -Decimal(remote["total"])
            assert line["order_line_id"] is not None
    with pytest.raises(SkipRecord) as skipped:
        mapping.to_canonical({"id": 5, "parent_id": 9, "amount": "1.00"}, {})
    assert skipped.value.reason == "refund_order_missing"


def test_products_and_variations_round_trip_by_sku(
    shop: tuple[WooSandbox, dict[str, Any]],
) -> None:
    sandbox, cases = shop
    mapping = ProductMapping()
    product = json.loads(json.dumps(sandbox.product_json(cases["products"][0])))
    parent = sandbox.product_json(cases["variable_product"])
    variation = {
        **json.loads(json.dumps(sandbox.variation_json(cases["variations"][1]))),
        "_parent_id": parent["id"],
        "_parent_name": parent["name"],
    }
    simple = validate("product", mapping.to_canonical(product, {}))
    assert mapping.remote_id(product) == str(product["id"])
    assert simple["sku"] == product["sku"] and simple["name"] == product["name"]
    assert Decimal(simple["sales_price"]) == Decimal(product["regular_price"])
    varied = validate("product", mapping.to_canonical(variation, {}))
    assert mapping.remote_id(variation) == f"{parent['id']}:{variation['id']}"
    assert varied["name"] == f"{parent['name']} - M" and varied["sku"] == variation["sku"]
    # What is written back comes back the same (the projection a push compares).
    for record, current in ((simple, product), (varied, variation)):
        payload = mapping.from_canonical(record, current, {})
        assert mapping.to_canonical({**current, **payload}, {}) == {
            k: record[k] for k in mapping.fields
        }
    created = mapping.from_canonical({**simple, "active": False}, None, {})
    assert created["type"] == "simple" and created["status"] == "private"
    with pytest.raises(SkipRecord) as skipped:
        mapping.to_canonical({**product, "sku": ""}, {})
    assert skipped.value.reason == "sku_missing"


def test_stock_goes_to_the_linked_product_or_variation_in_whole_units() -> None:
    mapping = StockMapping(warehouse="Hoved")
    record = {"product_id": "p-1", "quantity": "9", "available": "7", "warehouse": "Hoved",
              "as_of": NOW.isoformat()}  # fmt: skip
    payload = mapping.from_canonical(record, None, {"product_id": ("products", "113:115")})
    assert payload == {"_target": "113:115", "manage_stock": True, "stock_quantity": 7}
    assert mapping.remote_id(payload) == "113:115"
    assert mapping.project(record, {"product_id": ("products", "113:115")}) == {
        "product_id": "p-1",
        "available": "7",
    }
    assert not mapping.in_scope({**record, "warehouse": "Fjernlager"})
    with pytest.raises(SkipRecord) as fractional:
        mapping.from_canonical({**record, "available": "2.5"}, None, {"product_id": ("p", "1")})
    assert fractional.value.reason == "stock_not_whole"
    with pytest.raises(SkipRecord) as unlinked:
        mapping.from_canonical(record, None, {"product_id": None})
    assert unlinked.value.reason == "stock_product_missing"


def test_a_products_levels_are_sent_as_their_total_available() -> None:
    mapping = StockMapping()
    assert mapping.gathering is not None and mapping.gathering.field == "product_id"
    levels = [
        {"product_id": "p-1", "warehouse": "Hoved", "location": "A1", "quantity": "30",
         "available": "26.5", "as_of": NOW.isoformat()},
        {"product_id": "p-1", "warehouse": "Hoved", "location": "B2", "quantity": "4",
         "available": "4.5", "as_of": NOW.isoformat()},
        {"product_id": "p-1", "warehouse": "Fjernlager", "quantity": "-2", "available": "-2",
         "as_of": NOW.isoformat()},
    ]  # fmt: skip
    total = mapping.gathering.combine(levels)
    assert total == {"product_id": "p-1", "available": "29"}, "an oversold level counts negative"
    payload = mapping.from_canonical(total, None, {"product_id": ("products", "113")})
    assert payload == {"_target": "113", "manage_stock": True, "stock_quantity": 29}


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_the_signature_is_checked_and_copies_of_one_save_share_one_event_id() -> None:
    secrets = {"webhook_secret": "s3cret"}
    body = json.dumps(
        {"id": 42, "order_key": "wc_order_x", "line_items": [],
         "date_modified_gmt": "2026-12-03T07:00:00", "refunds": [{"id": 50, "total": "-5.00"}]}
    ).encode()  # fmt: skip
    first = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order",
             "X-WC-Webhook-Delivery-ID": "d1",
             "X-WC-Webhook-Signature": sign("s3cret", body)}  # fmt: skip
    second = {**first, "X-WC-Webhook-Delivery-ID": "d2"}
    created = {**first, "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": "d3"}
    assert check_signature(secrets, created, body, NOW) == check_signature(
        secrets, first, body, NOW
    ), "the created and updated deliveries of one state are one event"
    key = check_signature(secrets, first, body, NOW)
    assert key.startswith("order|42|2026-12-03T07:00:00|")
    assert check_signature(secrets, second, body, NOW) == key
    later = body.replace(b"07:00:00", b"07:00:05")
    resigned = {**first, "X-WC-Webhook-Signature": sign("s3cret", later)}
    assert check_signature(secrets, resigned, later, NOW) != key, "the next save is an event"
    paid = body.replace(b'"line_items": []', b'"line_items": [], "status": "processing"')
    same_second = {**first, "X-WC-Webhook-Signature": sign("s3cret", paid)}
    assert check_signature(secrets, same_second, paid, NOW) != key, (
        "a save in the same second with another state is another event"
    )
    with pytest.raises(CallbackRefused):
        check_signature(secrets, {**first, "X-WC-Webhook-Signature": sign("x", body)}, body, NOW)
    with pytest.raises(CallbackRefused):
        check_signature(secrets, {"X-WC-Webhook-Topic": "order.updated"}, body, NOW)
    assert check_signature(secrets, {}, b"webhook_id=7", NOW) == "ping:7"
    assert [(n.stream, n.remote_id) for n in notices(body)] == [("orders", "42"), ("refunds", "50")]
    assert notices(b"webhook_id=7") == []
    assert [(n.stream, n.remote_id) for n in notices(b'{"id": 42}')] == [("orders", "42")], (
        "an order.deleted delivery names the order, read again to see it trashed"
    )


def test_product_deliveries_name_the_product_or_variation() -> None:
    variation = {"id": 115, "type": "variation", "parent_id": 113, "sku": "TSH-M",
                 "stock_quantity": 3}  # fmt: skip
    variable = {"id": 113, "type": "variable", "sku": "TSH", "stock_quantity": None,
                "variations": [114, 115]}  # fmt: skip
    assert [n.remote_id for n in notices(json.dumps(variation).encode())] == ["113:115"]
    assert [n.remote_id for n in notices(json.dumps(variable).encode())] == ["113:114", "113:115"]


def test_record_urls_open_wp_admin() -> None:
    settings = {"base_url": "https://shop.example.dk/"}
    assert record_url(settings, "orders", "159") == (
        "https://shop.example.dk/wp-admin/post.php?post=159&action=edit"
    )
    assert record_url(settings, "products", "113:115") == (
        "https://shop.example.dk/wp-admin/post.php?post=113&action=edit"
    )
    assert record_url(settings, "refunds", "163") is None
