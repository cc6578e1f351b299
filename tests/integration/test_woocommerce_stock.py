"""Stock from Uniconta into a WooCommerce shop end to end: the Uniconta sandbox counts an item
in two warehouses, the hub on loopback over a real database sends it to the WooCommerce
sandbox, and every assertion reads the shop's product as a customer would see it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.integration.conftest import COMPANY
from tests.integration.webshop_fixtures import WAREHOUSE, Webshop, webshop, woo

__all__ = ["webshop", "woo"]

SKU = "KAF-500"
BACK_STORE = "02"


def counted(webshop: Webshop, *levels: tuple[str, int]) -> None:
    """A stock count in Uniconta (warehouse, quantity) and its stock pull."""
    for warehouse, quantity in levels:
        webshop.uniconta.sandbox.set_stock(COMPANY, SKU, warehouse, quantity)
    job = webshop.tenant.api.post(f"/connections/{webshop.uniconta_id}/jobs/stock", json={})
    assert job.status_code in (200, 202), job.text
    webshop.settle()


def in_shop(webshop: Webshop) -> int:
    quantity: int = webshop.shop.product_json(webshop.products[SKU])["stock_quantity"]
    return quantity


def stock_issues(webshop: Webshop) -> list[dict[str, Any]]:
    return webshop.issues("stock")


def last_push(webshop: Webshop) -> dict[str, Any]:
    runs = webshop.tenant.api.get(f"/connections/{webshop.shop_id}").json()["recent_runs"]
    push: dict[str, Any] = next(r for r in runs if r["kind"] == "push")
    return push


def two_warehouses(webshop: Webshop) -> None:
    webshop.uniconta.sandbox.load(
        COMPANY, "InvWarehouseClient", [{"Warehouse": BACK_STORE, "Name": "Baglager"}]
    )


def test_a_product_in_two_warehouses_shows_their_sum_and_the_sum_follows_a_change(
    webshop: Webshop,
) -> None:
    two_warehouses(webshop)
    counted(webshop, (WAREHOUSE, 42), (BACK_STORE, 8))
    assert in_shop(webshop) == 50
    assert stock_issues(webshop) == []
    # One write for the product, however many of its levels changed.
    assert (last_push(webshop)["counts"], last_push(webshop)["calls"]) == ({"stock.created": 1}, 1)

    # One warehouse counted again: the total is worked out again, not that level sent alone.
    counted(webshop, (BACK_STORE, 3))
    assert in_shop(webshop) == 45
    push = last_push(webshop)
    assert (push["counts"], push["calls"]) == ({"stock.updated": 1}, 2), "one read, one write"
    assert stock_issues(webshop) == []

    # A warehouse chosen afterwards: the shop gets that warehouse's stock only, on the same
    # product (nothing is created again, no level is left with a conflict).
    chosen = webshop.tenant.api.patch(
        f"/connections/{webshop.shop_id}", json={"settings": {"stock_warehouse": BACK_STORE}}
    )
    assert chosen.status_code == 200, chosen.text
    counted(webshop, (BACK_STORE, 5))
    assert in_shop(webshop) == 5
    assert last_push(webshop)["counts"] == {"stock.updated": 1}
    counted(webshop, (WAREHOUSE, 40))
    assert in_shop(webshop) == 5, "the other warehouse is not the shop's"
    assert stock_issues(webshop) == []


def test_stock_writes_whose_answers_were_lost_end_with_the_sum_once(webshop: Webshop) -> None:
    """The shop stores each write but its answer is lost (the connection drops): the push
    fails, its retry sends the total again, and the product ends with the sum, linked once."""
    two_warehouses(webshop)
    faults = f"{webshop.shop_url}/_sandbox/faults"
    lost = {"rate": 1.0, "kinds": ["lost"], "methods": ["POST"], "path": "/products/batch$"}
    for levels, total in ((((WAREHOUSE, 42), (BACK_STORE, 8)), 50), (((BACK_STORE, 3),), 45)):
        assert httpx.put(faults, json=lost).status_code == 200
        counted(webshop, *levels)
        assert httpx.get(faults).json()["injected"]["lost"] >= 1
        assert last_push(webshop)["status"] == "failed"
        assert httpx.put(faults, json={}).status_code == 200
        retried_until_clear(webshop)
        assert in_shop(webshop) == total
    levels = webshop.tenant.api.get("/stock-levels").json()["items"]
    in_shop_links = [
        link["remote_id"]
        for level in levels
        for link in level["sync"]
        if link["connection_id"] == webshop.shop_id and link["remote_id"]
    ]
    assert in_shop_links == [str(webshop.products[SKU])], levels


def retried_until_clear(webshop: Webshop, seconds: float = 30.0) -> None:
    """Run the jobs until the failed push's retry (due after its back-off) has cleared the
    stock issues."""
    deadline = time.monotonic() + seconds
    while stock_issues(webshop) or last_push(webshop)["status"] != "succeeded":
        assert time.monotonic() < deadline, stock_issues(webshop)
        time.sleep(0.5)
        webshop.settle()


def test_stock_counted_before_its_route_existed_reaches_the_shop_once_it_does(
    webshop: Webshop,
) -> None:
    counted(webshop, (WAREHOUSE, 42))
    assert in_shop(webshop) == 42
    api = webshop.tenant.api
    [route] = [r for r in api.get("/routes").json() if r["entities"] == ["stock_level"]]
    body = {k: route[k] for k in ("source", "target", "entities")}
    assert api.delete(f"/routes/{route['id']}").status_code == 204
    counted(webshop, (WAREHOUSE, 17))
    api.post(f"/connections/{webshop.shop_id}/jobs/push")  # its scheduled push runs meanwhile
    webshop.settle()
    assert in_shop(webshop) == 42, "no route sends stock to the shop"

    # The route made again: the stock counted meanwhile goes with the next push.
    assert api.post("/routes", json=body).status_code == 201
    api.post(f"/connections/{webshop.shop_id}/jobs/push")
    webshop.settle()
    assert in_shop(webshop) == 17
    assert stock_issues(webshop) == []
