"""WooCommerce sandbox over HTTP on loopback: auth, orders and their taxes, paging and filters,
refunds, products and stock, renewals, the control API and fault injection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan
from ledgerbridge.sandbox.woocommerce import SandboxServer, WooSandbox, create_app, seed_shop
from ledgerbridge.sandbox.woocommerce.app import FAULTS
from tests.sandbox.live import SwitchServer, serve_switch

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
API = "/wp-json/wc/v3"


@pytest.fixture(scope="module")
def live_server() -> Iterator[SwitchServer]:
    yield from serve_switch()


@pytest.fixture
def shop(live_server: SwitchServer) -> Iterator[tuple[WooSandbox, dict[str, Any], httpx.Client]]:
    """A seeded shop behind its fault injector, and a client with the shop's key."""
    sandbox = WooSandbox(ManualClock(START), seed=3)
    ids = seed_shop(sandbox, seed=3, orders=60, customers=20)
    live_server.switch.app = FaultInjector(FAULTS).wrap(create_app(sandbox))
    key = sandbox.default_key
    with httpx.Client(
        base_url=live_server.base_url + API, auth=(key.consumer_key, key.consumer_secret)
    ) as client:
        yield sandbox, ids, client
    sandbox.close()


def test_auth_errors_are_woocommerce_s(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    sandbox, _ids, client = shop
    key = sandbox.default_key
    base = str(client.base_url).rstrip("/")
    anonymous = httpx.get(base + "/orders")
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    unknown = httpx.get(base + "/orders", auth=("ck_unknown", "cs_x"))
    assert unknown.json()["code"] == "woocommerce_rest_cannot_view"
    wrong = httpx.get(base + "/orders", auth=(key.consumer_key, "cs_wrong"))
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Consumer secret is invalid.")
    query = httpx.get(
        base + "/orders",
        params={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
    )
    assert query.status_code == 200
    reader = sandbox.add_key("read")
    refused = httpx.post(
        base + "/customers",
        json={"email": "a@b.dk"},
        auth=(reader.consumer_key, reader.consumer_secret),
    )
    assert refused.json()["message"] == "The API key provided does not have write permissions."
    created = httpx.post(base + "/orders", json={})
    assert created.json()["code"] == "woocommerce_rest_cannot_create"
    # Permission is checked on existing objects only: a missing one is its 404 (400 on update).
    assert httpx.get(base + "/orders/999999").status_code == 404
    assert httpx.put(base + "/orders/999999", json={}).status_code == 400
    existing = next(iter(sandbox.orders))
    assert httpx.get(f"{base}/orders/{existing}").json()["code"] == "woocommerce_rest_cannot_view"
    assert (
        httpx.get(base + "/products/999999").json()["code"] == "woocommerce_rest_product_invalid_id"
    )
    wrong_secret = httpx.get(base + "/orders/999999", auth=(key.consumer_key, "cs_wrong"))
    assert wrong_secret.status_code == 401


def test_paging_headers_links_and_per_page_limit(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    sandbox, _ids, client = shop
    first = client.get("/orders", params={"per_page": 25})
    total = len([o for o in sandbox.orders.values() if not o.trashed])
    assert first.headers["X-WP-Total"] == str(total)
    assert first.headers["X-WP-TotalPages"] == str(-(-total // 25))
    assert 'rel="next"' in first.headers["Link"]
    dates = [o["date_created_gmt"] for o in first.json()]
    assert dates == sorted(dates, reverse=True)
    seen = []
    for page in range(1, int(first.headers["X-WP-TotalPages"]) + 1):
        seen += [
            o["id"] for o in client.get("/orders", params={"per_page": 25, "page": page}).json()
        ]
    assert len(seen) == len(set(seen)) == total
    too_many = client.get("/orders", params={"per_page": 101})
    assert too_many.status_code == 400
    assert too_many.json()["data"]["params"] == {
        "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"
    }


def test_modified_after_status_and_after_filters(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    sandbox, ids, client = shop
    clock = sandbox.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=1))
    cursor = sandbox.site.gmt(sandbox.now())
    clock.advance(timedelta(seconds=5))
    changed = client.put(f"/orders/{ids['b2b_order']}", json={"status": "completed"}).json()
    found = client.get(
        "/orders",
        params={
            "modified_after": cursor,
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
        },
    ).json()
    assert [o["id"] for o in found] == [changed["id"]]
    failed = client.get("/orders", params={"status": "failed,pending", "per_page": 100}).json()
    assert failed and {o["status"] for o in failed} <= {"failed", "pending"}
    recent = client.get(
        "/orders", params={"after": sandbox.site.local(START - timedelta(days=3)), "per_page": 100}
    ).json()
    assert recent and all(
        o["date_created"] > sandbox.site.local(START - timedelta(days=3)) for o in recent
    )
    bad = client.get("/orders", params={"modified_after": "yesterday"})
    assert bad.status_code == 400 and "modified_after" in bad.json()["data"]["params"]


def test_order_taxes_and_the_one_cent_gap(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    sandbox, ids, client = shop
    chocolate = next(p for p in sandbox.products.values() if p["sku"] == "CHO-70")["id"]
    created = client.post(
        "/orders",
        json={
            "billing": {"country": "DK", "email": "x@example.dk"},
            "line_items": [{"product_id": chocolate, "quantity": 1}] * 3,
        },
    )
    assert created.status_code == 201
    order = created.json()
    assert created.headers["Location"].endswith(f"{API}/orders/{order['id']}")
    assert [line["total_tax"] for line in order["line_items"]] == ["2.00", "2.00", "2.00"]
    assert order["total_tax"] == "6.00" and order["total"] == "29.97"
    net = sum(Decimal(line["total"]) for line in order["line_items"])
    assert (net * Decimal("0.25")).quantize(Decimal("0.01")) == Decimal("5.99")
    assert order["tax_lines"][0]["rate_code"] == "DK-MOMS-1"
    assert order["id"] in sandbox.rounding_gaps()
    sandbox.apply_settings({"round_at_subtotal": True})
    lines = [{"product_id": chocolate, "quantity": 1, "total": "1.67"}] * 3
    order = client.post("/orders", json={"billing": {"country": "DK"}, "line_items": lines}).json()
    printed = sum(Decimal(line["total_tax"]) for line in order["line_items"])
    assert Decimal(order["total_tax"]) - printed == Decimal("0.01")
    oss = client.get(f"/orders/{ids['oss_order']}").json()
    assert {t["rate_code"] for t in oss["tax_lines"]} == {"DE-MWST-1"}
    exempt = client.get(f"/orders/{ids['reverse_charge_order']}").json()
    assert exempt["total_tax"] == "0.00" and exempt["tax_lines"] == []


def test_refunds_partial_full_and_list(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    sandbox, ids, client = shop
    order = client.get(f"/orders/{ids['b2b_order']}").json()
    item = order["line_items"][0]
    stock_before = client.get(f"/products/{item['product_id']}").json()["stock_quantity"]
    refund = client.post(
        f"/orders/{order['id']}/refunds",
        json={
            "line_items": [
                {
                    "id": item["id"],
                    "quantity": 2,
                    "refund_total": "254.40",
                    "refund_tax": [{"id": 1, "refund_total": "63.60"}],
                }
            ]
        },
    )
    assert refund.status_code == 201
    body = refund.json()
    assert body["amount"] == "318.00" and body["line_items"][0]["quantity"] == -2
    assert body["line_items"][0]["total"] == "-254.40"
    after = client.get(f"/orders/{order['id']}").json()
    assert after["status"] == order["status"]
    assert after["refunds"] == [{"id": body["id"], "reason": "", "total": "-318.00"}]
    assert (
        client.get(f"/products/{item['product_id']}").json()["stock_quantity"] == stock_before + 2
    )
    rest = Decimal(order["total"]) - Decimal("318.00")
    too_much = client.post(f"/orders/{order['id']}/refunds", json={"amount": str(rest + 1)})
    assert too_much.status_code == 400 and too_much.json()["message"] == "Invalid refund amount."
    client.post(f"/orders/{order['id']}/refunds", json={"amount": str(rest)})
    assert client.get(f"/orders/{order['id']}").json()["status"] == "refunded"
    everything = client.get("/refunds", params={"per_page": 100})
    assert all("parent_id" in r for r in everything.json())
    assert int(everything.headers["X-WP-Total"]) == len(sandbox.refunds)
    assert len(client.get(f"/orders/{order['id']}/refunds").json()) == 2
    missing = client.post("/orders/999999/refunds", json={"amount": "1.00"})
    assert (missing.status_code, missing.json()["code"]) == (
        404,
        "woocommerce_rest_invalid_order_id",
    )


def test_stock_writes_single_variation_and_batch(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    _sandbox, ids, client = shop
    product_id = ids["products"][0]
    changed = client.put(
        f"/products/{product_id}", json={"manage_stock": True, "stock_quantity": 0}
    )
    assert changed.json()["stock_status"] == "outofstock"
    variation = ids["variations"][0]
    updated = client.patch(
        f"/products/{ids['variable_product']}/variations/{variation}", json={"stock_quantity": 7}
    )
    assert updated.json()["stock_quantity"] == 7
    batch = client.post(
        "/products/batch",
        json={
            "update": [
                {"id": ids["products"][1], "stock_quantity": 12},
                {"id": 999999, "stock_quantity": 1},
            ]
        },
    ).json()
    assert batch["update"][0]["stock_quantity"] == 12
    assert batch["update"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    bad = client.put(f"/products/{product_id}", json={"stock_quantity": "many"})
    assert bad.status_code == 400 and bad.json()["data"]["params"] == {
        "stock_quantity": "stock_quantity is not of type integer."
    }
    by_sku = client.get("/products", params={"sku": "KAF-1000"}).json()
    assert [p["sku"] for p in by_sku] == ["KAF-1000"]


def test_stock_follows_status_changes(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    _sandbox, ids, client = shop
    product_id = ids["products"][4]
    before = client.get(f"/products/{product_id}").json()["stock_quantity"]
    order = client.post(
        "/orders",
        json={"line_items": [{"product_id": product_id, "quantity": 2}], "set_paid": True},
    ).json()
    assert order["status"] == "processing" and order["date_paid"] is not None
    assert client.get(f"/products/{product_id}").json()["stock_quantity"] == before - 2
    client.put(f"/orders/{order['id']}", json={"status": "cancelled"})
    assert client.get(f"/products/{product_id}").json()["stock_quantity"] == before


def test_renewals_and_seed_contents(shop: tuple[WooSandbox, dict[str, Any], httpx.Client]) -> None:
    _sandbox, ids, client = shop
    renewal = client.get(f"/orders/{ids['failed_then_paid_renewal']}").json()
    assert renewal["created_via"] == "subscription" and renewal["status"] == "processing"
    assert {"key": "_subscription_renewal", "value": str(ids["subscriptions"][0])} in [
        {"key": m["key"], "value": m["value"]} for m in renewal["meta_data"]
    ]
    pending = client.get(f"/orders/{ids['pending_renewal']}").json()
    assert (
        pending["status"] == "pending" and pending["date_paid"] is None and pending["needs_payment"]
    )
    control = str(client.base_url).rstrip("/").replace(API, "") + "/_sandbox"
    failed = httpx.post(
        f"{control}/subscriptions/{ids['subscriptions'][2]}/renewals", json={"outcome": "failed"}
    ).json()
    assert failed["status"] == "failed"
    paid = httpx.post(
        f"{control}/orders/{failed['id']}/payment", json={"outcome": "paid", "transaction_id": "t1"}
    ).json()
    assert paid["status"] == "processing" and paid["transaction_id"] == "t1"
    ean = client.get(f"/orders/{ids['ean_order']}").json()
    assert any(m["key"] == "_billing_ean_number" for m in ean["meta_data"])
    business = client.get("/customers", params={"email": "indkob@kaffebar.example.dk"}).json()
    assert business[0]["meta_data"][0]["value"] == "DK12345674"
    assert ids["gap_orders"]
    full = client.get(f"/orders/{ids['full_refund_order']}").json()
    assert full["status"] == "refunded" and full["refunds"][0]["total"] == "-" + full["total"]
    partial = client.get(f"/orders/{ids['partial_refund_order']}").json()
    assert partial["status"] == "completed" and len(partial["refunds"]) == 1
    assert -Decimal(partial["refunds"][0]["total"]) < Decimal(partial["total"])


def test_seed_is_deterministic() -> None:
    first = WooSandbox(ManualClock(START), seed=9)
    second = WooSandbox(ManualClock(START), seed=9)
    ids = seed_shop(first, seed=9, orders=40, customers=12)
    assert ids == seed_shop(second, seed=9, orders=40, customers=12)
    assert [first.order_json(i) for i in ids["orders"]] == [
        second.order_json(i) for i in ids["orders"]
    ]
    assert first.default_key == second.default_key


def test_bad_input_is_a_400_naming_the_field(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    _sandbox, _ids, client = shop
    assert (
        client.post(
            "/orders", content=b"{nope", headers={"Content-Type": "application/json"}
        ).json()["code"]
        == "rest_invalid_json"
    )
    status = client.post("/orders", json={"status": "shipped"})
    assert status.status_code == 400
    assert status.json()["data"]["params"] == {
        "status": "status is not one of pending, processing, on-hold, completed, cancelled,"
        " refunded, and failed."
    }
    product = client.post("/orders", json={"line_items": [{"product_id": 1, "quantity": 1}]})
    assert (product.status_code, product.json()["code"]) == (
        400,
        "woocommerce_rest_invalid_product_id",
    )
    assert client.get("/orders/999999").json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    assert client.get("/nothing").json()["code"] == "rest_no_route"
    huge = client.put(f"/products/{_ids['products'][0]}", json={"regular_price": 10**30})
    assert huge.status_code == 400 and "regular_price" in huge.json()["data"]["params"]
    batch = client.post("/products/batch", json={"create": [1]})
    assert batch.json()["create"][0]["error"]["code"] == "rest_invalid_param"


def test_control_api_and_faults() -> None:
    sandbox = WooSandbox(ManualClock(START), seed=1)
    plan = FaultPlan.from_mapping({"rate": 1, "kinds": ["5xx"]})
    with SandboxServer(sandbox, faults=plan) as server:
        control = server.base_url + "/_sandbox"
        seeded = httpx.post(
            control + "/seed", json={"seed": 2, "orders": 20, "customers": 10}
        ).json()
        assert seeded["orders"] > 20
        key = sandbox.default_key
        failing = httpx.get(
            server.base_url + API + "/orders", auth=(key.consumer_key, key.consumer_secret)
        )
        assert failing.status_code == 500
        assert httpx.put(control + "/faults", json={"rate": 0}).status_code == 200
        assert (
            httpx.get(
                server.base_url + API + "/orders", auth=(key.consumer_key, key.consumer_secret)
            ).status_code
            == 200
        )
        assert httpx.put(control + "/settings", json={"webhook_repeats": "2-9"}).json()[
            "webhook_repeats"
        ] == [2, 9]
        assert httpx.put(control + "/settings", json={"webhook_repeats": "9-2"}).status_code == 400
        too_big = httpx.post(control + "/seed", json={"orders": 10**6})
        assert too_big.status_code == 400 and too_big.json()["data"]["params"] == {
            "orders": "orders must be at most 20000"
        }
        assert httpx.get(control + "/state").json()["orders"] == seeded["orders"]
        assert httpx.post(control + "/reset").json()["orders"] == 0
        reader = httpx.post(control + "/keys", json={"permissions": "read"}).json()
        assert reader["consumer_key"] != key.consumer_key
        assert sandbox.default_key == key
    sandbox.close()


def test_trash_is_listed_only_when_asked(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client],
) -> None:
    _sandbox, ids, client = shop
    order_id = ids["orders"][0]
    trashed = client.delete(f"/orders/{order_id}")
    assert trashed.status_code == 200 and trashed.json()["status"] == "trash"
    everything = [o["id"] for o in client.get("/orders", params={"per_page": 100}).json()]
    assert order_id not in everything
    bin_ = client.get("/orders", params={"status": "trash"}).json()
    assert [(o["id"], o["status"]) for o in bin_] == [(order_id, "trash")]
    assert client.get(f"/orders/{order_id}").json()["status"] == "trash"
    again = client.delete(f"/orders/{order_id}")
    assert again.status_code == 410 and again.json()["code"] == "woocommerce_rest_already_trashed"
    assert client.delete(f"/orders/{order_id}", params={"force": "true"}).status_code == 200
    assert client.get(f"/orders/{order_id}").status_code == 404
