"""``GET /stock-levels``: the stock the accounting system reports, by product and warehouse."""

from __future__ import annotations

from typing import Any

from ledgerbridge.engine.canonical import validate
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, new_tenant


def product(tenant: Tenant, sku: str) -> str:
    response = tenant.api.post("/products", json={"sku": sku, "name": f"Product {sku}"})
    assert response.status_code == 201, response.text
    product_id: str = response.json()["id"]
    return product_id


def stock(system: System, tenant_id: str, product_id: str, warehouse: str, quantity: int) -> str:
    """A stock level as a pull from the accounting system stores it."""
    data = validate(
        "stock_level",
        {
            "product_id": product_id,
            "warehouse": warehouse,
            "quantity": quantity,
            "available": quantity,
            "as_of": "2026-12-01T05:00:00+00:00",
        },
    )
    with system.sessions.begin() as session:
        record = system.hub.create(session, tenant_id, "stock_level", data, "connection:test")
        return record.id


def listed(tenant: Tenant, **params: Any) -> list[tuple[str, str, str]]:
    response = tenant.api.get("/stock-levels", params=params)
    assert response.status_code == 200, response.text
    return [
        (i["data"]["product_id"], i["data"]["warehouse"], i["data"]["quantity"])
        for i in response.json()["items"]
    ]


def test_stock_levels_are_read_by_product_and_warehouse(
    system: System, tenant: Tenant, hub: str
) -> None:
    chair, desk = product(tenant, "CH-1"), product(tenant, "DK-1")
    first = stock(system, tenant.tenant_id, chair, "Main", 12)
    stock(system, tenant.tenant_id, chair, "Odense", 3)
    stock(system, tenant.tenant_id, desk, "Main", 0)

    assert sorted(listed(tenant)) == sorted(
        [(chair, "Main", "12"), (chair, "Odense", "3"), (desk, "Main", "0")]
    )
    assert sorted(listed(tenant, product_id=chair)) == [
        (chair, "Main", "12"),
        (chair, "Odense", "3"),
    ]
    assert listed(tenant, warehouse="Main", product_id=desk) == [(desk, "Main", "0")]
    assert listed(tenant, warehouse="Aarhus") == []

    one = tenant.api.get(f"/stock-levels/{first}")
    assert one.status_code == 200
    assert one.json()["data"]["warehouse"] == "Main"
    assert tenant.api.get("/stock-levels/nope").status_code == 404
    # Read only: the accounting system owns stock.
    assert tenant.api.post("/stock-levels", json={}).status_code == 405


def test_another_tenants_stock_is_not_seen(system: System, tenant: Tenant, hub: str) -> None:
    chair = product(tenant, "CH-1")
    level = stock(system, tenant.tenant_id, chair, "Main", 12)
    other = new_tenant(system, hub, "Other Shop")
    try:
        assert other.api.get("/stock-levels").json()["items"] == []
        assert other.api.get(f"/stock-levels/{level}").status_code == 404
    finally:
        other.api.close()


def test_stock_levels_page(system: System, tenant: Tenant, hub: str) -> None:
    chair = product(tenant, "CH-1")
    for warehouse in ("A", "B", "C"):
        stock(system, tenant.tenant_id, chair, warehouse, 1)
    page = tenant.api.get("/stock-levels", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next"]
    rest = tenant.api.get("/stock-levels", params={"limit": 2, "after": page["next"]}).json()
    assert len(rest["items"]) == 1 and rest["next"] is None
