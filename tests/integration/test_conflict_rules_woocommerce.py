"""Conflict rules in a commerce flow: a WooCommerce product's price changed in the shop (its
webhook arrives) and in the app before either side synced; each rule decides, and a held
conflict is resolved both ways."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, import_all
from tests.integration.test_woocommerce import Shop, all_of, connect, delivered, shop

__all__ = ["shop"]  # the shop sandbox fixture

SHOP_PRICE, APP_PRICE = "99.00", "120.00"


def _both_change(
    system: System, tenant: Tenant, shop: Shop, rules: dict[str, Any] | None
) -> tuple[str, str, int]:
    """(connection, hub product, shop product id) after the price changed on both sides."""
    settings = {"conflicts": {"product": rules}} if rules else {}
    # Prices entered without VAT: the hub's price is the shop's, so each side's is one number.
    shop.sandbox.apply_settings({"prices_include_tax": False})
    cid = connect(tenant, shop, products={"enabled": True, "direction": "both"})["id"]
    if settings:
        tenant.api.patch(f"/connections/{cid}", json={"settings": settings}).raise_for_status()
    import_all(system, tenant, cid)
    delivered(system, shop)
    products = all_of(tenant, "/products")
    simple = next(
        p for p in products if (shop.sandbox.find_by_sku(p["data"]["sku"]) or (0, 1))[1] == 0
    )
    product_id, _ = shop.sandbox.find_by_sku(simple["data"]["sku"]) or (0, 0)
    shop.sandbox.update_product(product_id, {"regular_price": SHOP_PRICE})
    shop.sandbox.wait_for_webhooks(timeout=30)  # the shop's webhook is stored first
    patched = tenant.api.patch(f"/products/{simple['id']}", json={"sales_price": APP_PRICE})
    assert patched.status_code == 200, patched.text
    delivered(system, shop)
    return cid, simple["id"], product_id


def _prices(tenant: Tenant, shop: Shop, record_id: str, product_id: int) -> tuple[str, str]:
    hub = tenant.api.get(f"/products/{record_id}").json()["data"]["sales_price"]
    with shop.sandbox.lock:
        remote = shop.sandbox.product_json(product_id)["regular_price"]
    return f"{float(hub):.2f}", remote


@pytest.mark.parametrize(
    ("rules", "winner"),
    [
        (None, SHOP_PRICE),  # today: the webhook's read takes the shop's price first
        ({"sales_price": "accounting"}, SHOP_PRICE),
        ({"sales_price": "app"}, APP_PRICE),
        ({"*": "latest"}, APP_PRICE),  # the app changed after the shop's webhook came
    ],
)
def test_each_rule_decides_a_price_changed_in_the_shop_and_in_the_app(
    system: System, tenant: Tenant, shop: Shop, rules: Any, winner: str
) -> None:
    cid, record_id, product_id = _both_change(system, tenant, shop, rules)
    assert _prices(tenant, shop, record_id, product_id) == (winner, winner)
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


@pytest.mark.parametrize("keep", ["accounting", "app"])
def test_a_held_price_is_resolved_both_ways(
    system: System, tenant: Tenant, shop: Shop, keep: str
) -> None:
    cid, record_id, product_id = _both_change(system, tenant, shop, {"sales_price": "hold"})
    assert _prices(tenant, shop, record_id, product_id) == (APP_PRICE, SHOP_PRICE)
    (issue,) = tenant.api.get(f"/connections/{cid}/issues").json()
    assert issue["reason"] == "conflict_held" and set(issue["held"]) == {"sales_price"}
    resolved = tenant.api.post(
        f"/connections/{cid}/conflicts/{issue['id']}/resolve", json={"keep": keep}
    )
    assert resolved.status_code == 202, resolved.text
    delivered(system, shop)
    winner = SHOP_PRICE if keep == "accounting" else APP_PRICE
    assert _prices(tenant, shop, record_id, product_id) == (winner, winner)
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
