"""Products the accounting system is master of, sent to a shop that has their SKUs already: the
hub, on loopback over a real database, pushes to the WooCommerce sandbox, and the assertions
read the shop's products and the connection's sync log as a user would."""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import WriteIntent
from tests.integration.conftest import Tenant, import_all
from tests.integration.test_woocommerce import Shop, all_of, connect, shop

__all__ = ["shop"]


def log(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(
        f"/connections/{cid}/sync-log", params={"direction": "outbound"}
    ).json()
    return found


def master_of_products(system: System, tenant: Tenant, shop: Shop) -> str:
    """A shop connection whose products come from the accounting system (outbound)."""
    cid: str = connect(tenant, shop, products={"enabled": True, "direction": "outbound"})["id"]
    import_all(system, tenant, cid)
    return cid


def add_product(tenant: Tenant, sku: str, name: str, price: str) -> str:
    made = tenant.api.post("/products", json={"sku": sku, "name": name, "sales_price": price})
    assert made.status_code == 201, made.text
    record_id: str = made.json()["id"]
    return record_id


def product(shop: Shop, sku: str) -> dict[str, Any]:
    found = shop.sandbox.find_by_sku(sku)
    assert found is not None, sku
    parent, variation = found
    with shop.sandbox.lock:
        if variation:
            return shop.sandbox.variation_json(variation)
        return shop.sandbox.product_json(parent)


def holders(shop: Shop, sku: str) -> int:
    with shop.sandbox.lock:
        every = [*shop.sandbox.products.values(), *shop.sandbox.variations.values()]
        return sum(1 for p in every if p["sku"] == sku)


def intents(system: System, cid: str) -> list[str]:
    with system.sessions() as session:
        return list(
            session.scalars(sa.select(WriteIntent.status).where(WriteIntent.connection_id == cid))
        )


def test_a_shop_product_with_the_sku_already_is_linked_and_brought_to_the_hub_values(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """KAF-500 is in the shop at 89.95 with VAT; the accounting system has it at 80 without
    VAT under another name. The create is refused (the SKU is taken), the look-up finds the
    shop's product, and since no call of ours made it, it is updated to the hub's values."""
    cid = master_of_products(system, tenant, shop)
    before = product(shop, "KAF-500")
    add_product(tenant, "KAF-500", "Espresso 500 g (hele bønner)", "80")
    system.run_until_idle()

    after = product(shop, "KAF-500")
    assert after["id"] == before["id"] and holders(shop, "KAF-500") == 1
    assert (after["name"], after["regular_price"]) == ("Espresso 500 g (hele bønner)", "100.00")
    entries = log(tenant, cid)
    assert [(e["outcome"], e["reason"]) for e in entries] == [
        ("updated", "linked_by_business_key")
    ], entries
    assert "linked to it by its business key and updated" in entries[0]["message"]
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    assert intents(system, cid) == ["done"]

    # Updated once: the next change in the hub is a plain update.
    (record,) = [p for p in all_of(tenant, "/products") if p["data"]["sku"] == "KAF-500"]
    changed = tenant.api.patch(f"/products/{record['id']}", json={"sales_price": "82"})
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    assert product(shop, "KAF-500")["regular_price"] == "102.50"
    latest = log(tenant, cid)
    assert [(e["outcome"], e["reason"]) for e in latest].count(("updated", None)) == 1, latest


def test_a_shop_product_that_already_holds_the_hub_values_is_linked_without_a_write(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    cid = master_of_products(system, tenant, shop)
    before = product(shop, "KOP-01")
    add_product(tenant, "KOP-01", before["name"], "63.2")  # 79.00 with VAT
    system.run_until_idle()
    assert product(shop, "KOP-01")["date_modified_gmt"] == before["date_modified_gmt"]
    entries = log(tenant, cid)
    assert [(e["outcome"], e["reason"]) for e in entries] == [
        ("unchanged", "linked_by_business_key")
    ], entries
    assert "already held the hub's values" in entries[0]["message"]
    assert intents(system, cid) == ["done"]


def test_an_own_create_whose_answer_was_lost_is_recovered_not_updated_as_adopted(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """The shop stores the new product but its answer is lost: the retry finds it by its SKU,
    and, a call of ours having made it, links it as our create, once."""
    cid = master_of_products(system, tenant, shop)
    faults = f"{shop.url}/_sandbox/faults"
    lost = {"rate": 1.0, "kinds": ["lost"], "methods": ["POST"], "path": "/products/batch$"}
    assert httpx.put(faults, json=lost).status_code == 200
    add_product(tenant, "UNI-42", "Mælkeskummer", "120")
    system.run_until_idle()
    assert httpx.get(faults).json()["injected"]["lost"] >= 1
    assert httpx.put(faults, json={}).status_code == 200
    deadline = time.monotonic() + 30
    while tenant.api.get(f"/connections/{cid}/issues").json():
        assert time.monotonic() < deadline, tenant.api.get(f"/connections/{cid}/issues").json()
        time.sleep(0.5)
        system.run_until_idle()
    assert holders(shop, "UNI-42") == 1
    assert product(shop, "UNI-42")["regular_price"] == "150.00"
    outcomes = [(e["outcome"], e["reason"]) for e in log(tenant, cid)]
    assert ("created", "recovered_after_ambiguous_write") in outcomes, outcomes
    assert all(reason != "linked_by_business_key" for _, reason in outcomes), outcomes
    assert intents(system, cid) == ["recovered"]


def test_accounting_items_that_are_shop_variations_are_linked_to_them_and_update_them(
    system: System, tenant: Tenant, shop: Shop
) -> None:
    """TSH-S/M/L are variations of the shop's T-shirt: found by their SKU (WooCommerce's
    products list answers variations when asked by SKU), linked as ``<parent>:<variation>``
    and updated as variations (price and status; the name stays the parent's)."""
    cid = master_of_products(system, tenant, shop)
    with shop.sandbox.lock:
        products_before = len(shop.sandbox.products)
    for sku in ("TSH-S", "TSH-M", "TSH-L"):
        add_product(tenant, sku, f"T-shirt {sku[-1]}", "100")
    # A product the shop does not have goes in the same batch and is created.
    add_product(tenant, "UNI-9", "Kaffeske", "16")
    system.run_until_idle()

    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    with shop.sandbox.lock:
        assert len(shop.sandbox.products) == products_before + 1, "only UNI-9 is new"
    for sku in ("TSH-S", "TSH-M", "TSH-L"):
        assert holders(shop, sku) == 1
        assert product(shop, sku)["regular_price"] == "125.00", sku
    records = {p["data"]["sku"]: p for p in all_of(tenant, "/products")}
    for sku in ("TSH-S", "TSH-M", "TSH-L"):
        found = shop.sandbox.find_by_sku(sku)
        assert found is not None
        (link,) = [s for s in records[sku]["sync"] if s["connection_id"] == cid]
        assert link["remote_id"] == f"{found[0]}:{found[1]}", link
    outcomes = sorted((e["outcome"], e["reason"]) for e in log(tenant, cid))
    assert outcomes == [("created", None), *[("updated", "linked_by_business_key")] * 3]
