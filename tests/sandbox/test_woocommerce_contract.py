"""Contract tests: the WooCommerce sandbox's answers against the community OpenAPI file
(``woocommerce/woocommerce-wc-v3.openapi.community.yml``, generated from a live WooCommerce
route index), over HTTP on loopback.

Two kinds of check:

* every served operation of the file is called with a meaningful request, and its 2xx body is
  validated against the operation's response schema;
* for the collection reads, Hypothesis generates query parameters from the file's own parameter
  schemas (positive mode), and every answer must be a 2xx valid against the schema or a
  WordPress error body with a 4xx, never a 5xx.

Adjustments of the file, each a flaw of the file rather than of the sandbox (the file says
``WC ~5.x``; the docs and their examples, ``shared/specs/woocommerce/examples``, are the
reference):

* Every property may be ``null``: the docs' introduction says blank fields are sent as ``null``
  or ``""``, never left out (``date_paid`` of an unpaid order, ``stock_quantity`` of a product
  without managed stock), but the generator typed none of them nullable.
* ``line_items[].product_id``, ``tax_lines[].rate_id`` and a product's or variation's
  ``shipping_class_id`` are integers and ``version`` is a string, as in the docs' examples
  (``"product_id": 93``, ``"rate_id": 75``, ``"shipping_class_id": 0``, ``"version":
  "3.0.0"``); the file types them the other way.
* The file documents ``200`` for creations; WooCommerce answers ``201`` (``create_item``), so
  the ``200`` schema is used for any 2xx.

``/refunds`` (WooCommerce 9.0+) is newer than the file and is tested in
``test_woocommerce_api.py`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.woocommerce import SandboxServer, WooSandbox, seed_shop
from tests.specs import spec_path

SPEC = spec_path("woocommerce/woocommerce-wc-v3.openapi.community.yml")
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
API = "/wp-json/wc/v3"

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"community spec not found at {SPEC}")


def _nullable(node: Any) -> None:
    """Make every property of every schema nullable (blank fields are ``null``)."""
    if isinstance(node, dict):
        for prop in node.get("properties", {}).values():
            if isinstance(prop, dict) and "$ref" not in prop:
                prop["nullable"] = True
        for value in node.values():
            _nullable(value)
    elif isinstance(node, list):
        for value in node:
            _nullable(value)


def _load() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    order = schemas["shop_order"]["properties"]
    order["version"]["type"] = "string"
    order["line_items"]["items"]["properties"]["product_id"]["type"] = "integer"
    order["tax_lines"]["items"]["properties"]["rate_id"]["type"] = "integer"
    schemas["shop_order_refund"]["properties"]["line_items"]["items"]["properties"]["product_id"][
        "type"
    ] = "integer"
    for name in ("product", "product_variation"):
        schemas[name]["properties"]["shipping_class_id"]["type"] = "integer"
    _nullable(schemas)
    return spec


def _resolve(node: Any, spec: dict[str, Any]) -> Any:
    """The schema with its ``#/components/schemas`` references inlined."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(copy.deepcopy(spec["components"]["schemas"][name]), spec)
        return {key: _resolve(value, spec) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, spec) for value in node]
    return node


class World:
    """A seeded shop on loopback, a client with its key, and the adjusted spec."""

    def __init__(self, sandbox: WooSandbox, ids: dict[str, Any], client: httpx.Client) -> None:
        self.sandbox = sandbox
        self.ids = ids
        self.client = client
        self.spec = _load()
        self.checked: set[str] = set()

    def schema(self, method: str, path: str) -> dict[str, Any]:
        operation = self.spec["paths"][path][method.lower()]
        content = operation["responses"]["200"]["content"]["application/json"]
        resolved: dict[str, Any] = _resolve(content["schema"], self.spec)
        return resolved

    def check(self, method: str, path: str, response: httpx.Response) -> Any:
        """A 2xx whose body the spec's schema accepts."""
        assert 200 <= response.status_code < 300, (
            method,
            path,
            response.status_code,
            response.text,
        )
        body = response.json()
        OAS30Validator(self.schema(method, path)).validate(body)
        self.checked.add(f"{method} {path}")
        return body


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    sandbox = WooSandbox(ManualClock(START), seed=11)
    ids = seed_shop(sandbox, seed=11, orders=40, customers=12)
    with SandboxServer(sandbox) as server:
        key = sandbox.default_key
        with httpx.Client(
            base_url=server.base_url + API, auth=(key.consumer_key, key.consumer_secret)
        ) as client:
            yield World(sandbox, ids, client)
    sandbox.close()


def test_orders_conform(world: World) -> None:
    client, ids = world.client, world.ids
    listed = world.check(
        "GET", "/orders", client.get("/orders", params={"per_page": 100, "status": "any"})
    )
    assert listed
    for order_id in (
        ids["oss_order"],
        ids["reverse_charge_order"],
        ids["partial_refund_order"],
        ids["failed_then_paid_renewal"],
        ids["pending_renewal"],
        *ids["orders"][:20],
    ):
        world.check("GET", "/orders/{id}", client.get(f"/orders/{order_id}"))
    product = ids["products"][0]
    created = world.check(
        "POST",
        "/orders",
        client.post(
            "/orders",
            json={
                "payment_method": "quickpay",
                "billing": {"country": "DE", "email": "a@example.de"},
                "line_items": [
                    {"product_id": product, "quantity": 2},
                    {
                        "product_id": ids["variable_product"],
                        "variation_id": ids["variations"][0],
                        "quantity": 1,
                    },
                ],
                "shipping_lines": [
                    {"method_id": "flat_rate", "method_title": "DHL", "total": "60.00"}
                ],
                "fee_lines": [{"name": "Rabat", "total": "-10.00"}],
                "coupon_lines": [{"code": "velkommen10"}],
            },
        ),
    )
    world.check(
        "PUT", "/orders/{id}", client.put(f"/orders/{created['id']}", json={"status": "processing"})
    )
    world.check(
        "DELETE",
        "/orders/{id}",
        client.delete(f"/orders/{created['id']}", params={"force": "true"}),
    )


def test_refunds_conform(world: World) -> None:
    client, ids = world.client, world.ids
    order = client.get(f"/orders/{ids['b2b_order']}").json()
    item = order["line_items"][0]
    refund = world.check(
        "POST",
        "/orders/{order_id}/refunds",
        client.post(
            f"/orders/{order['id']}/refunds",
            json={
                "reason": "Returneret",
                "line_items": [
                    {
                        "id": item["id"],
                        "quantity": 1,
                        "refund_total": item["price"],
                        "refund_tax": [{"id": 1, "refund_total": 1}],
                    }
                ],
            },
        ),
    )
    world.check("GET", "/orders/{order_id}/refunds", client.get(f"/orders/{order['id']}/refunds"))
    world.check(
        "GET",
        "/orders/{order_id}/refunds/{id}",
        client.get(f"/orders/{order['id']}/refunds/{refund['id']}"),
    )
    world.check(
        "DELETE",
        "/orders/{order_id}/refunds/{id}",
        client.delete(f"/orders/{order['id']}/refunds/{refund['id']}", params={"force": "true"}),
    )
    amount = client.get(f"/orders/{ids['amount_refund_order']}/refunds").json()
    assert amount[0]["line_items"] == []


def test_customers_conform(world: World) -> None:
    client = world.client
    world.check("GET", "/customers", client.get("/customers", params={"per_page": 100}))
    created = world.check(
        "POST",
        "/customers",
        client.post(
            "/customers",
            json={
                "email": "kontrakt@example.dk",
                "first_name": "Kim",
                "billing": {"country": "DK", "city": "Ry"},
            },
        ),
    )
    world.check("GET", "/customers/{id}", client.get(f"/customers/{created['id']}"))
    world.check(
        "PUT",
        "/customers/{id}",
        client.put(f"/customers/{created['id']}", json={"last_name": "Lund"}),
    )


def test_products_conform(world: World) -> None:
    client, ids = world.client, world.ids
    world.check("GET", "/products", client.get("/products", params={"per_page": 100}))
    created = world.check(
        "POST",
        "/products",
        client.post(
            "/products",
            json={
                "name": "Kontraktkaffe",
                "sku": "KON-1",
                "regular_price": "10.00",
                "manage_stock": True,
                "stock_quantity": 4,
            },
        ),
    )
    world.check("GET", "/products/{id}", client.get(f"/products/{ids['variable_product']}"))
    world.check(
        "PUT",
        "/products/{id}",
        client.put(f"/products/{created['id']}", json={"stock_quantity": 9}),
    )
    parent = ids["variable_product"]
    world.check(
        "GET", "/products/{product_id}/variations", client.get(f"/products/{parent}/variations")
    )
    variation = world.check(
        "POST",
        "/products/{product_id}/variations",
        client.post(
            f"/products/{parent}/variations",
            json={
                "sku": "TSH-XL",
                "regular_price": "149.00",
                "attributes": [{"name": "Størrelse", "option": "XL"}],
            },
        ),
    )
    world.check(
        "GET",
        "/products/{product_id}/variations/{id}",
        client.get(f"/products/{parent}/variations/{variation['id']}"),
    )
    world.check(
        "PUT",
        "/products/{product_id}/variations/{id}",
        client.put(
            f"/products/{parent}/variations/{variation['id']}",
            json={"manage_stock": True, "stock_quantity": 2},
        ),
    )


def test_webhooks_and_taxes_conform(world: World) -> None:
    client = world.client
    created = world.check(
        "POST",
        "/webhooks",
        client.post(
            "/webhooks",
            json={
                "topic": "order.updated",
                "delivery_url": "http://127.0.0.1:9/hook",
                "status": "paused",
            },
        ),
    )
    world.check("GET", "/webhooks", client.get("/webhooks"))
    world.check("GET", "/webhooks/{id}", client.get(f"/webhooks/{created['id']}"))
    world.check(
        "PUT", "/webhooks/{id}", client.put(f"/webhooks/{created['id']}", json={"name": "Ordrer"})
    )
    world.check(
        "DELETE",
        "/webhooks/{id}",
        client.delete(f"/webhooks/{created['id']}", params={"force": "true"}),
    )
    world.check("GET", "/taxes", client.get("/taxes"))
    world.check("GET", "/taxes/classes", client.get("/taxes/classes"))


def _query_strategy(world: World, path: str) -> st.SearchStrategy[dict[str, Any]]:
    """Query parameters from the file's own parameter schemas (positive values)."""
    picks: dict[str, st.SearchStrategy[Any]] = {}
    for param in world.spec["paths"][path]["get"].get("parameters", []):
        if param["in"] != "query":
            continue
        schema = param.get("schema", {})
        name = param["name"]
        if name in ("after", "before", "modified_after", "modified_before"):
            picks[name] = st.sampled_from(
                ["2026-01-01T00:00:00", "2026-03-01T12:30:00", "2026-03-09"]
            )
        elif "enum" in schema:
            picks[name] = st.sampled_from(schema["enum"])
        elif schema.get("type") == "array" and "enum" in schema.get("items", {}):
            picks[name] = st.lists(
                st.sampled_from(schema["items"]["enum"]), min_size=1, max_size=3
            ).map(",".join)
        elif schema.get("type") == "integer":
            picks[name] = st.integers(min_value=1, max_value=150)
        elif schema.get("type") == "boolean":
            picks[name] = st.sampled_from(["true", "false"])
        elif schema.get("type") == "array":
            picks[name] = st.lists(st.integers(min_value=100, max_value=400), max_size=3).map(
                lambda ids: ",".join(map(str, ids))
            )
        else:
            picks[name] = st.text(alphabet="abcdefghijklmnopqrstuvwxyzæøå@.", max_size=8)
    return st.fixed_dictionaries({}, optional=picks)


@pytest.mark.parametrize("path", ["/orders", "/products", "/customers", "/webhooks"])
def test_generated_collection_queries(world: World, path: str) -> None:
    """Generated query strings: a valid page, or a 400 naming the parameter; never a 5xx."""
    statuses: list[int] = []

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(query=_query_strategy(world, path))
    def run(query: dict[str, Any]) -> None:
        response = world.client.get(path, params=query)
        statuses.append(response.status_code)
        if response.status_code < 300:
            world.check("GET", path, response)
            assert int(response.headers["X-WP-Total"]) >= len(response.json())
        else:
            assert response.status_code == 400, (query, response.text)
            body = response.json()
            assert body["code"] == "rest_invalid_param" and body["data"]["status"] == 400
            assert set(body["data"]["params"]) <= set(query)

    run()
    assert any(status == 200 for status in statuses)
