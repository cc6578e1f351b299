"""WooCommerce end to end: the WooCommerce sandbox on loopback, a hub on loopback over a real
database, the connector driven through the real ``System`` (API, jobs, inbox, pulls, pushes).
The sandbox delivers its webhooks to the hub's callback URL over HTTP, with its defects on:
every order save delivered 2–9 times, deliveries dropped, webhooks disabled after failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.woocommerce.connector import WooCommerceConnector
from ledgerbridge.engine.hub import API_ORIGIN
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.woocommerce.app import SandboxServer
from ledgerbridge.sandbox.woocommerce.seed import seed_shop
from ledgerbridge.sandbox.woocommerce.state import WooSandbox
from ledgerbridge.store.tables.sync import InboxEvent
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import Tenant, import_all, latest_run


@dataclass
class Shop:
    sandbox: WooSandbox
    url: str
    cases: dict[str, Any]
    server: SandboxServer


@pytest.fixture
def shop() -> Iterator[Shop]:
    sandbox = WooSandbox(webhook_timeout=5.0)
    cases = seed_shop(sandbox, seed=1, orders=60, customers=12)
    server = SandboxServer(sandbox)
    server.start()
    yield Shop(sandbox, server.base_url, cases, server)
    server.stop()
    sandbox.close()


def all_of(tenant: Tenant, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"after": after} if after else {})}
        page = tenant.api.get(path, params=params).json()
        items.extend(page["items"])
        after = page["next"]
        if after is None:
            return items


def connect(tenant: Tenant, shop: Shop, **entities: Any) -> dict[str, Any]:
    key = shop.sandbox.default_key
    response = tenant.api.post(
        "/connections",
        json={
            "system": "woocommerce",
            "name": "Webshop",
            "settings": {"base_url": shop.url, **({"entities": entities} if entities else {})},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        },
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


def stored_secrets(system: System, cid: str) -> dict[str, Any]:
    with system.sessions() as session:
        return dict(system.box.open(session.get_one(Connection, cid).secrets))


def delivered(system: System, shop: Shop) -> None:
    """Wait until the shop has made its deliveries, then run the jobs they queued."""
    shop.sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()


def orders_by_source(tenant: Tenant) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in all_of(tenant, "/orders"):
        source = record["data"]["source_id"]
        assert source not in found, f"order {source} stored twice"
        found[source] = record
    return found


def changes(tenant: Tenant, after: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = tenant.api.get("/changes", params={"after": after, "limit": 1000}).json()
        items.extend(page["items"])
        if not page["items"]:
            return items
        after = page["next"]


def stock_of(shop: Shop, sku: str) -> tuple[bool, int]:
    """(manage_stock, stock_quantity) of the product or variation with the SKU, as served."""
    found = shop.sandbox.find_by_sku(sku)
    assert found is not None
    product_id, variation_id = found
    with shop.sandbox.lock:
        row = (
            shop.sandbox.variation_json(variation_id)
            if variation_id
            else shop.sandbox.product_json(product_id)
        )
    return row["manage_stock"], row["stock_quantity"]


def pull(system: System, tenant: Tenant, cid: str, kind: str = "pull") -> None:
    assert tenant.api.post(f"/connections/{cid}/jobs/{kind}").status_code == 202
    system.run_until_idle()


def test_saving_the_key_sets_up_signed_webhooks_and_a_wrong_key_is_refused(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    refused = tenant.api.post(
        "/connections",
        json={
            "system": "woocommerce",
            "settings": {"base_url": shop.url},
            "secrets": {"consumer_key": "ck_wrong", "consumer_secret": "cs_wrong"},
        },
    )
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "secrets"]
    assert "WooCommerce refused the REST API key (401" in problem["msg"]
    assert "Settings → Advanced → REST API" in problem["msg"]
    key = shop.sandbox.default_key
    no_shop = tenant.api.post(
        "/connections",
        json={
            "system": "woocommerce",
            "settings": {},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        },
    )
    assert no_shop.status_code == 422, no_shop.text
    assert "base_url" in json.dumps(no_shop.json()["detail"])
    connection = connect(tenant, shop)
    hooks = list(shop.sandbox.webhooks.values())
    assert sorted(h.topic for h in hooks) == sorted(
        ["order.created", "order.updated", "order.deleted", "product.created", "product.updated"]
    )
    assert {h.delivery_url for h in hooks} == {connection["change_url"]}
    secrets = stored_secrets(system, connection["id"])
    assert {h.secret for h in hooks} == {secrets["webhook_secret"]}
    assert sorted(secrets["webhook_ids"]) == sorted(str(h.id) for h in hooks)


def test_the_initial_import_brings_every_order_and_refund_once(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    import_all(system, tenant, cid)
    orders = orders_by_source(tenant)
    assert set(orders) == {str(i) for i in shop.sandbox.orders}
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    # A VAT number whose check digit is wrong holds the order with the reason, instead of
    # importing a business sale with a number no tax office knows.
    reverse = str(shop.cases["reverse_charge_order"])
    shop.sandbox.update_order(
        int(reverse), {"meta_data": [{"key": "_billing_vat_number", "value": "DE123456789"}]}
    )
    pull(system, tenant, cid)
    issues = tenant.api.get(f"/connections/{cid}/issues").json()
    assert [(i["key"], i["reason"]) for i in issues] == [(reverse, "invalid_remote_data")]
    assert "customer.vat_number" in issues[0]["message"]
    refunds = {r["data"]["source_id"]: r["data"] for r in all_of(tenant, "/refunds")}
    assert set(refunds) == {str(i) for i in shop.sandbox.refunds}
    partial = shop.cases["partial_refund_order"]
    assert any(r["order_source_id"] == str(partial) and r["lines"] for r in refunds.values())
    ean_order = orders[str(shop.cases["ean_order"])]
    assert ean_order["data"]["customer"]["ean"] == "5798000000001"
    (link,) = tenant.api.get(f"/orders/{ean_order['id']}").json()["sync"]
    assert link["remote_id"] == str(shop.cases["ean_order"])
    assert link["url"] == f"{shop.url}/wp-admin/post.php?post={link['remote_id']}&action=edit"
    renewal = orders[str(shop.cases["failed_then_paid_renewal"])]["data"]
    assert renewal["renewal"] is True and renewal["subscription_id"]
    products = {p["data"]["sku"] for p in all_of(tenant, "/products")}
    assert {"KAF-500", "TSH-S", "TSH-M", "TSH-L"} <= products


def test_the_import_progress_counts_each_stream_as_it_is_read_and_ends_at_its_total(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    # A webhook WooCommerce disabled: the import switches it on again, which is no record.
    hook = next(h for h in shop.sandbox.webhooks.values() if h.topic == "order.updated")
    with shop.sandbox.lock:
        hook.status = "disabled"
    status = import_all(system, tenant, cid)
    progress = status["import_progress"]
    (run,) = [r for r in status["recent_runs"] if r["kind"] == "import"]
    assert run["counts"]["webhooks.revived"] == 1
    sandbox = shop.sandbox
    # A variable product is not a product of the hub: its variations are, each counted.
    products = [p for p in sandbox.products.values() if p["type"] != "variable"]
    expected = {
        "orders": len(orders_by_source(tenant)),
        "products": len(products) + len(sandbox.variations),
        "refunds": len(sandbox.refunds),
    }
    assert {s: counts["total"] for s, counts in progress["streams"].items()} == expected
    for stream, counts in progress["streams"].items():
        assert sum(n for k, n in counts.items() if k != "total") == expected[stream], stream
    total = sum(expected.values())
    assert (progress["records_done"], progress["records_total"]) == (total, total)


def test_repeated_deliveries_store_each_save_once_and_a_missed_one_comes_with_the_pull(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    import_all(system, tenant, cid)
    shop.sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    shop.sandbox.apply_settings({"webhook_repeats": "2-9"})
    start = max((c["seq"] for c in changes(tenant)), default=0)
    saved = shop.cases["orders"][:6]
    for order_id in saved:
        shop.sandbox.update_order(order_id, {"customer_note": f"Ring på døren ({order_id})"})
    delivered(system, shop)
    copies = [
        d
        for d in shop.sandbox.hooks.deliveries()
        if d.topic == "order.updated" and d.resource_id in saved and d.ok
    ]
    assert len(copies) >= 2 * len(saved), "the shop repeated its deliveries"
    with system.sessions() as session:
        keys = list(
            session.scalars(
                sa.select(InboxEvent.event_key).where(
                    InboxEvent.connection_id == cid,
                    InboxEvent.event_key.like("order|%"),
                )
            )
        )
    for order_id in saved:
        mine = [k for k in keys if k.startswith(f"order|{order_id}|")]
        assert len(mine) == 1, (order_id, mine)
    orders = orders_by_source(tenant)
    for order_id in saved:
        assert orders[str(order_id)]["data"]["note"] == f"Ring på døren ({order_id})"
    after = [c for c in changes(tenant, start) if c["entity"] == "order"]
    assert sorted(c["record_id"] for c in after) == sorted(orders[str(i)]["id"] for i in saved), (
        "one change per save, however often it was delivered"
    )
    # A delivery the shop never makes: the safety-net pull reads the order by modified_after.
    shop.sandbox.apply_settings({"webhook_miss_rate": 1.0})
    missed = shop.cases["orders"][10]
    shop.sandbox.update_order(missed, {"customer_note": "Leveres på lageret"})
    delivered(system, shop)
    assert orders_by_source(tenant)[str(missed)]["data"]["note"] != "Leveres på lageret"
    pull(system, tenant, cid)
    assert orders_by_source(tenant)[str(missed)]["data"]["note"] == "Leveres på lageret"
    run = latest_run(tenant, cid, "pull")
    assert run["counts"]["orders.updated"] == 1, run
    read = sum(n for k, n in run["counts"].items() if k.startswith("orders."))
    assert read < len(shop.sandbox.orders) / 2, "only orders saved lately are read"
    # Orders, the trash (the first pull since the import reads it), refunds, webhooks, the
    # re-read.
    assert run["calls"] <= 5, run
    assert len(orders_by_source(tenant)) == len(shop.sandbox.orders)


def test_a_new_order_and_its_refund_arrive_by_webhook(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    import_all(system, tenant, cid)
    order_id = shop.cases["orders"][3]
    order = shop.sandbox.order_json(order_id)
    if order["status"] not in ("processing", "completed"):
        shop.sandbox.update_order(order_id, {"status": "completed"})
    line = shop.sandbox.order_json(order_id)["line_items"][0]
    shop.sandbox.create_refund(order_id, {"amount": "10.00", "reason": "Ridse i glasset"})
    delivered(system, shop)
    refunds = [r["data"] for r in all_of(tenant, "/refunds")]
    made = [r for r in refunds if r["reason"] == "Ridse i glasset"]
    assert len(made) == 1 and made[0]["order_source_id"] == str(order_id), refunds
    assert made[0]["amount"] == "10.00" or float(made[0]["amount"]) == 10.0
    assert line["id"]


def test_a_disabled_webhook_is_switched_on_again_by_the_pull(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    import_all(system, tenant, cid)
    hook = next(h for h in shop.sandbox.webhooks.values() if h.topic == "order.updated")
    with shop.sandbox.lock:
        hook.status = "disabled"
        hook.failure_count = 7
    # A save the disabled webhook does not deliver: the pull finds it, then checks webhooks.
    missed = shop.cases["orders"][4]
    shop.sandbox.update_order(missed, {"customer_note": "Ikke leveret"})
    pull(system, tenant, cid)
    assert orders_by_source(tenant)[str(missed)]["data"]["note"] == "Ikke leveret"
    assert hook.status == "active"
    assert all(h.status == "active" for h in shop.sandbox.webhooks.values())
    run = latest_run(tenant, cid, "pull")
    assert run["counts"]["webhooks.revived"] == 1, run
    # Switched on, it delivers again: a save reaches the hub without a pull.
    order_id = shop.cases["orders"][5]
    shop.sandbox.update_order(order_id, {"customer_note": "Igen aktiv"})
    delivered(system, shop)
    assert orders_by_source(tenant)[str(order_id)]["data"]["note"] == "Igen aktiv"
    pull(system, tenant, cid)
    run = latest_run(tenant, cid, "pull")
    assert "webhooks.revived" not in run["counts"], "nothing to switch on the next time"


def test_stock_is_written_to_the_product_or_variation_with_the_sku(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop, products={"enabled": True, "direction": "inbound"},
                  stock={"enabled": True}, orders={"enabled": True})["id"]  # fmt: skip
    import_all(system, tenant, cid)
    principal = system.tenancy.authenticate(tenant.api_key)
    assert principal is not None
    products = {p["data"]["sku"]: p["id"] for p in all_of(tenant, "/products")}
    unknown = system.records.create(
        principal, "product", {"sku": "UNI-999", "name": "Kun i regnskabet"}
    )
    for sku, quantity in (("KAF-500", 17), ("TSH-M", 4)):
        system.records.create(
            principal, "stock_level",
            {"product_id": products[sku], "quantity": str(quantity), "available": str(quantity),
             "as_of": "2026-12-03T05:00:00+00:00"},
        )  # fmt: skip
    system.records.create(
        principal, "stock_level",
        {"product_id": unknown.id, "quantity": "3", "available": "3",
         "as_of": "2026-12-03T05:00:00+00:00"},
    )  # fmt: skip
    system.run_until_idle()
    assert stock_of(shop, "KAF-500") == (True, 17)
    assert stock_of(shop, "TSH-M") == (True, 4), "a variation gets its own stock"
    issues = tenant.api.get(f"/connections/{cid}/issues").json()
    items = issues["items"] if isinstance(issues, dict) else issues
    held = [i for i in items if i["stream"] == "stock"]
    assert len(held) == 1 and held[0]["reason"] == "stock_product_pending", items
    message = held[0]["message"]
    assert "products" in message
    assert "its product UNI-999 (Kun i regnskabet)" in message and unknown.id not in message
    # A later level is an update of the same product's stock (read, compared, written).
    level = next(
        r for r in all_of(tenant, "/stock-levels") if r["data"]["product_id"] == products["KAF-500"]
    )
    with system.sessions.begin() as session:
        record = system.hub.get(session, tenant.tenant_id, "stock_level", level["id"])
        assert record is not None
        system.hub.update(
            session, record, {**record.data, "quantity": "12", "available": "12"}, API_ORIGIN
        )
    system.run_until_idle()
    assert stock_of(shop, "KAF-500") == (True, 12)


def test_products_go_to_the_shop_by_sku_when_the_accounting_system_is_their_master(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    connection = connect(tenant, shop, products={"enabled": True, "direction": "both"})
    cid = connection["id"]
    # The shop enters prices with VAT (the sandbox's default, as a Danish consumer shop does):
    # read when the connection is made, with the rate of each tax class in its country.
    assert connection["settings"]["prices_include_vat"] is True
    assert connection["settings"]["vat_rates"]["standard"] == "25"
    import_all(system, tenant, cid)
    products = {p["data"]["sku"]: p for p in all_of(tenant, "/products")}
    # The hub holds prices without VAT: the shop's 89.95 and 149.00 less 25 %.
    assert products["KAF-500"]["data"]["sales_price"] == "71.96"
    assert products["TSH-L"]["data"]["sales_price"] == "119.2"
    made = tenant.api.post(
        "/products", json={"sku": "UNI-100", "name": "Kaffefilter 100 stk.", "sales_price": "24"}
    )
    assert made.status_code == 201, made.text
    variation = products["TSH-L"]
    changed = tenant.api.patch(
        f"/products/{variation['id']}", json={"sales_price": "159", "name": "T-shirt - L"}
    )
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    found = shop.sandbox.find_by_sku("UNI-100")
    assert found is not None and found[1] == 0
    with shop.sandbox.lock:
        created = shop.sandbox.product_json(found[0])
        _, variation_id = shop.sandbox.find_by_sku("TSH-L") or (0, 0)
        varied = shop.sandbox.variation_json(variation_id)
    assert created["name"] == "Kaffefilter 100 stk." and created["regular_price"] == "30.00"
    assert varied["regular_price"] == "198.75", "the variation's price is written under its parent"
    issues = tenant.api.get(f"/connections/{cid}/issues").json()
    assert issues == [], issues
    # A push with nothing changed writes nothing: still one product with that SKU.
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    with shop.sandbox.lock:
        assert [p["sku"] for p in shop.sandbox.products.values()].count("UNI-100") == 1


def test_a_shop_entering_prices_without_vat_gets_and_gives_them_as_they_are(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    shop.sandbox.apply_settings({"prices_include_tax": False})
    connection = connect(tenant, shop, products={"enabled": True, "direction": "both"})
    assert connection["settings"]["prices_include_vat"] is False
    import_all(system, tenant, connection["id"])
    products = {p["data"]["sku"]: p for p in all_of(tenant, "/products")}
    assert products["KAF-500"]["data"]["sales_price"] == "89.95"
    made = tenant.api.post("/products", json={"sku": "UNI-7", "name": "Filt", "sales_price": "24"})
    assert made.status_code == 201, made.text
    system.run_until_idle()
    found = shop.sandbox.find_by_sku("UNI-7")
    assert found is not None
    with shop.sandbox.lock:
        assert shop.sandbox.product_json(found[0])["regular_price"] == "24.00"


def test_a_product_of_a_tax_class_without_a_rate_is_skipped_until_the_rate_is_given(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """The shop's zero-rate class has no rate rows, so WooCommerce charges no tax on it: read
    as 0 %. A class the connection has not seen (made in the shop after it was saved) is
    skipped until its rate is given."""
    with shop.sandbox.lock:
        for sku, tax_class in (("KAF-500", "zero-rate"), ("TE-100", "luxury")):
            found = shop.sandbox.find_by_sku(sku)
            assert found is not None
            shop.sandbox.products[found[0]]["tax_class"] = tax_class
    connection = connect(tenant, shop, products={"enabled": True, "direction": "both"})
    cid = connection["id"]
    assert connection["settings"]["vat_rates"]["zero-rate"] == "0"
    import_all(system, tenant, cid)
    issues = tenant.api.get(f"/connections/{cid}/issues").json()
    skipped = [i for i in issues if i["reason"] == "product_vat_rate_unknown"]
    assert len(skipped) == 1 and "'luxury'" in skipped[0]["message"], issues
    products = {p["data"]["sku"]: p for p in all_of(tenant, "/products")}
    assert "TE-100" not in products
    assert products["KAF-500"]["data"]["sales_price"] == "89.95", "no VAT in a 0 % class"
    rates = {**connection["settings"]["vat_rates"], "luxury": "25"}
    patched = tenant.api.patch(f"/connections/{cid}", json={"settings": {"vat_rates": rates}})
    assert patched.status_code == 200, patched.text
    assert tenant.api.post(f"/connections/{cid}/issues/retry", json={}).status_code == 202
    system.run_until_idle()
    assert "TE-100" in {p["data"]["sku"] for p in all_of(tenant, "/products")}
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def shop_product(shop: Shop, sku: str) -> dict[str, Any]:
    found = shop.sandbox.find_by_sku(sku)
    assert found is not None and not found[1], sku
    with shop.sandbox.lock:
        return shop.sandbox.product_json(found[0])


def zero_rate_mapped(system: System, tenant: Tenant, shop: Shop) -> str:
    """A connection sending products in both directions with VAT code U0 in the zero-rate
    class, imported."""
    connection = connect(tenant, shop, products={"enabled": True, "direction": "both"})
    cid = str(connection["id"])
    mapped = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"tax_classes": {"U0": "zero-rate"}}}
    )
    assert mapped.status_code == 200, mapped.text
    import_all(system, tenant, cid)
    return cid


def test_a_zero_rate_product_goes_to_the_shop_in_the_class_of_its_vat_code(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """A zero-rated book (VAT code U0) is sent in the zero-rate class at its net price, though
    the shop enters prices with VAT; a product whose code the map does not name keeps its
    class and gets the standard 25 %."""
    cid = zero_rate_mapped(system, tenant, shop)
    for sku, code in (("BOG-0", "U0"), ("UNI-25", "U25")):
        made = tenant.api.post(
            "/products",
            json={"sku": sku, "name": f"Vare {sku}", "sales_price": "80", "vat_code": code},
        )
        assert made.status_code == 201, made.text
    system.run_until_idle()
    book = shop_product(shop, "BOG-0")
    assert (book["tax_class"], book["regular_price"]) == ("zero-rate", "80.00")
    unmapped = shop_product(shop, "UNI-25")
    assert (unmapped["tax_class"], unmapped["regular_price"]) == ("", "100.00")
    products = {p["data"]["sku"]: p for p in all_of(tenant, "/products")}
    changed = tenant.api.patch(f"/products/{products['BOG-0']['id']}", json={"sales_price": "95"})
    assert changed.status_code == 200, changed.text
    # A shop product in the reduced class whose code is not mapped keeps its class.
    kept = tenant.api.patch(
        f"/products/{products['BOG-01']['id']}", json={"sales_price": "80", "vat_code": "U25"}
    )
    assert kept.status_code == 200, kept.text
    system.run_until_idle()
    book = shop_product(shop, "BOG-0")
    assert (book["tax_class"], book["regular_price"]) == ("zero-rate", "95.00")
    other_book = shop_product(shop, "BOG-01")
    assert (other_book["tax_class"], other_book["regular_price"]) == ("reduced-rate", "100.00")
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_a_vat_code_changed_alone_moves_the_shop_product_to_its_class_and_back(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """Only the VAT code changes (the net price stays): the shop product still changes class,
    and its price follows the class's VAT; a code that leaves the map leaves the map's class
    for the standard one. A push after each change writes nothing more."""
    cid = zero_rate_mapped(system, tenant, shop)
    made = tenant.api.post(
        "/products", json={"sku": "BOG-9", "name": "Bog", "sales_price": "80", "vat_code": "U25"}
    )
    assert made.status_code == 201, made.text
    system.run_until_idle()
    book = shop_product(shop, "BOG-9")
    assert (book["tax_class"], book["regular_price"]) == ("", "100.00")

    def recode(code: str) -> None:
        changed = tenant.api.patch(f"/products/{made.json()['id']}", json={"vat_code": code})
        assert changed.status_code == 200, changed.text
        system.run_until_idle()

    def push_writes_nothing() -> None:
        pull(system, tenant, cid, "push")
        run = latest_run(tenant, cid, "push")
        assert not [k for k in run["counts"] if k.startswith("products.")], run

    recode("U0")
    book = shop_product(shop, "BOG-9")
    assert (book["tax_class"], book["regular_price"]) == ("zero-rate", "80.00")
    push_writes_nothing()
    recode("U25")
    book = shop_product(shop, "BOG-9")
    assert (book["tax_class"], book["regular_price"]) == ("", "100.00")
    push_writes_nothing()
    # A class changed in the shop (its webhook) reaches the hub as the code the map gives it.
    # (Another price: a save the same second as one before it, with the same body, is taken
    # as that save's copy.)
    found = shop.sandbox.find_by_sku("BOG-9")
    assert found is not None
    shop.sandbox.update_product(found[0], {"tax_class": "zero-rate", "regular_price": "84.00"})
    delivered(system, shop)
    record = tenant.api.get(f"/products/{made.json()['id']}").json()
    assert (record["data"]["vat_code"], record["data"]["sales_price"]) == ("U0", "84"), record
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_a_tax_class_the_shop_does_not_have_is_refused_naming_the_setting(
    tenant: Tenant, shop: Shop
) -> None:
    cid = connect(tenant, shop)["id"]
    refused = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"tax_classes": {"U0": "zero"}}}
    )
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert "tax_classes" in problem["loc"], problem
    assert "no tax class zero" in problem["msg"] and "zero-rate" in problem["msg"]


def test_service_items_stay_out_of_the_shop_unless_the_connection_sends_them(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """Shipping, fees and the rounding item are service items in the accounting system, not
    products a customer can buy: they reach the shop only when asked, as virtual products."""
    cid = connect(tenant, shop, products={"enabled": True, "direction": "both"})["id"]
    import_all(system, tenant, cid)
    for sku, kind in (("FRAGT", "service"), ("KRUS-1", "goods")):
        made = tenant.api.post(
            "/products", json={"sku": sku, "name": sku, "sales_price": "40", "kind": kind}
        )
        assert made.status_code == 201, made.text
    system.run_until_idle()
    assert shop.sandbox.find_by_sku("KRUS-1") is not None
    assert shop.sandbox.find_by_sku("FRAGT") is None
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    patched = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"send_service_items": True}}
    )
    assert patched.status_code == 200, patched.text
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    found = shop.sandbox.find_by_sku("FRAGT")
    assert found is not None
    with shop.sandbox.lock:
        product = shop.sandbox.product_json(found[0])
    assert product["virtual"] is True and product["regular_price"] == "50.00"


def test_a_delivery_with_a_bad_signature_is_refused_and_nothing_is_stored(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    connection = connect(tenant, shop)
    url = connection["change_url"]
    shop.sandbox.wait_for_webhooks(timeout=30)
    before = tenant.api.get(f"/connections/{connection['id']}").json()["pending_callbacks"]
    secret = stored_secrets(system, connection["id"])["webhook_secret"]
    order = shop.sandbox.order_json(shop.cases["orders"][0])
    body = json.dumps(order).encode()
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "abc"}

    def signed(key: str) -> str:
        return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()

    with httpx.Client() as client:
        forged = {**headers, "X-WC-Webhook-Signature": signed("guessed")}
        assert client.post(url, content=body, headers=forged).status_code == 401
        assert client.post(url, content=body, headers=headers).status_code == 401
        status = tenant.api.get(f"/connections/{connection['id']}").json()
        assert status["pending_callbacks"] == before, "nothing stored"
        good = {**headers, "X-WC-Webhook-Signature": signed(secret)}
        for copy in range(3):  # copies with their own delivery ids, one save
            sent = {**good, "X-WC-Webhook-Delivery-ID": f"copy-{copy}"}
            assert client.post(url, content=body, headers=sent).status_code == 200
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["pending_callbacks"] == before + 1, "stored once"


class BeforeRefundsRoute(httpx.BaseTransport):
    """A shop older than WooCommerce 9.0, which has no ``GET /refunds``: WordPress answers
    that route with its 404 ``rest_no_route``; every other call goes to the sandbox."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/wp-json/wc/v3/refunds"):
            body = {"code": "rest_no_route", "message": "No route was found matching the URL "
                    "and request method.", "data": {"status": 404}}  # fmt: skip
            return httpx.Response(404, json=body)
        return self.inner.handle_request(request)


def test_a_shop_without_the_refunds_route_gives_its_refunds_order_by_order(shop: Shop) -> None:
    key = shop.sandbox.default_key
    calls: list[int] = []
    connector = WooCommerceConnector(
        {"base_url": shop.url},
        {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        calls.append,
        BeforeRefundsRoute(),
    )
    try:
        orders = len(shop.sandbox.orders)
        assert connector.test() == f"WooCommerce shop {shop.url} ({orders} orders)"
        calls.clear()
        rows, after, more = [], None, True
        while more:
            page = connector.read_page("refunds", after, 20)
            rows.extend(page.records)
            after, more = page.after, page.more
        assert connector.fetch_many("refunds", [str(r["id"]) for r in rows]) == {}
    finally:
        connector.close()
    mapping = connector.mappings["refunds"]
    refunds = {r["source_id"]: r for r in (mapping.to_canonical(row, {}) for row in rows)}
    with shop.sandbox.lock:
        expected = {str(i): str(r["parent_id"]) for i, r in shop.sandbox.refunds.items()}
    assert {rid: r["order_source_id"] for rid, r in refunds.items()} == expected
    assert {r["currency"] for r in refunds.values()} == {"DKK"}
    # One probe, one call per page of orders, one per order with refunds.
    pages = -(-len(shop.sandbox.orders) // 20)
    assert len(calls) == 1 + pages + len({r["parent_id"] for r in rows})


def test_the_import_under_faults_brings_every_order_and_refund_once(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """The shop's host fails a third of the API calls (WordPress's fatal error, a 429 with
    Retry-After, a reset connection): reads are repeated, and nothing is lost or doubled."""
    cid = connect(tenant, shop)["id"]
    assert shop.server.faults is not None
    shop.server.faults.configure(
        FaultPlan(
            rate=0.33, seed=7, path="^/wp-json/",
            kinds=(FaultKind.ERROR, FaultKind.THROTTLE, FaultKind.RESET),
        )
    )  # fmt: skip
    assert tenant.api.post(f"/connections/{cid}/import").status_code == 202
    deadline = time.monotonic() + 120
    while tenant.api.get(f"/connections/{cid}").json()["import_state"] != "done":
        assert time.monotonic() < deadline, "the import did not finish"
        system.run_until_idle()
        time.sleep(0.2)
    injected = shop.server.faults.counters()["injected"]
    assert sum(injected.values()) >= 3, injected
    assert set(orders_by_source(tenant)) == {str(i) for i in shop.sandbox.orders}
    refunds = [r["data"]["source_id"] for r in all_of(tenant, "/refunds")]
    assert sorted(refunds) == sorted(str(i) for i in shop.sandbox.refunds)
    products = [p["data"]["sku"] for p in all_of(tenant, "/products")]
    assert len(products) == len(set(products))


def test_a_read_only_key_is_saved_with_a_warning_that_changes_come_with_the_pulls(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    key = shop.sandbox.add_key("read")
    response = tenant.api.post(
        "/connections",
        json={
            "system": "woocommerce",
            "settings": {"base_url": shop.url},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        },
    )
    assert response.status_code == 201, response.text
    (warning,) = [w for w in response.json()["warnings"] if "webhooks" in w]
    assert "scheduled pulls only" in warning and "Read/Write" in warning
    assert shop.sandbox.webhooks == {}, "none left half set up"
    import_all(system, tenant, response.json()["id"])
    assert len(orders_by_source(tenant)) == len(shop.sandbox.orders)


def read_orders(connector: WooCommerceConnector, after: str | None) -> tuple[list[Any], str]:
    """One orders scan from ``after``, to its end: the orders read and the cursor after."""
    rows: list[Any] = []
    more = True
    while more:
        page = connector.read_page("orders", after, 100)
        rows.extend(page.records)
        after, more = page.after, page.more
    assert after is not None
    return rows, after


def test_the_orders_pull_reads_the_trash_once_a_day_for_one_call() -> None:
    """An order trashed with every ``order.deleted`` delivery missed: ``status=any`` leaves it
    out, so a pull reads the trash too, by ``modified_after``, at most once a day."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    sandbox = WooSandbox(clock, webhook_timeout=5.0)
    cases = seed_shop(sandbox, seed=3, orders=12, customers=8)
    server = SandboxServer(sandbox)
    server.start()
    key = sandbox.default_key
    calls: list[int] = []
    secrets = {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret}
    connector = WooCommerceConnector({"base_url": server.base_url}, secrets, calls.append,
                                     clock=clock)  # fmt: skip
    clock.advance(timedelta(minutes=10))  # the seeded orders' saves are behind the import
    try:
        imported, after = read_orders(connector, None)
        assert len(imported) == len(sandbox.orders)
        before, trashed, restored = cases["orders"][:3]
        sandbox.delete_order(before, force=False)  # trashed while the hub was away
        clock.advance(timedelta(minutes=15))
        calls.clear()
        rows, after = read_orders(connector, after)
        assert [(r["id"], r["status"]) for r in rows] == [(before, "trash")]
        assert len(calls) == 2, "the changed orders and the trash, one call each"

        sandbox.delete_order(trashed, force=False)
        clock.advance(timedelta(minutes=15))
        calls.clear()
        rows, after = read_orders(connector, after)
        assert rows == [] and len(calls) == 1, "the trash was read less than a day ago"
        clock.advance(timedelta(hours=23, minutes=50))
        calls.clear()
        rows, after = read_orders(connector, after)
        assert [(r["id"], r["status"]) for r in rows] == [(trashed, "trash")]
        assert len(calls) == 2

        with sandbox.lock:
            sandbox.orders[trashed].trashed = False  # restored: an ordinary save
            sandbox.orders[trashed].modified = sandbox.now()
        sandbox.delete_order(restored, force=True)  # gone for good: nothing to read
        clock.advance(timedelta(days=1))
        calls.clear()
        rows, after = read_orders(connector, after)
        assert [r["id"] for r in rows] == [trashed] and rows[0]["status"] != "trash"
        assert len(calls) == 2
        # A cursor saved before the trash pass keeps working: its next scan reads the trash.
        since = after.split("|")[0]
        rows, _ = read_orders(connector, f"{since}|{since}|")
        assert len(calls) == 4
    finally:
        connector.close()
        server.stop()
        sandbox.close()
