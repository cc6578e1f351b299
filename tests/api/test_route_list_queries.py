"""``GET /routes`` reads the routes' source connections in one query, whatever the number of
routes: the statements it makes do not grow with the routes."""

from __future__ import annotations

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.flows import Route
from tests.integration.conftest import Tenant
from tests.statements import statements


def files_connection(tenant: Tenant, name: str) -> str:
    created = tenant.api.post("/connections", json={"system": "files", "name": name})
    assert created.status_code == 201, created.text
    connection_id: str = created.json()["id"]
    return connection_id


def add_routes(system: System, tenant: Tenant, target: str, count: int, first: int) -> None:
    """Routes from ``count`` files connections of their own each (written directly: only
    the listing is measured)."""
    sources = [files_connection(tenant, f"Shop {first + n}") for n in range(count)]
    now = system.clock.now()
    with system.sessions.begin() as session:
        session.add_all(
            Route(
                tenant_id=tenant.tenant_id,
                source_connection_id=source,
                target_connection_id=target,
                entities=["order"],
                commerce=None,
                paymatch=None,
                active=True,
                created_at=now,
                updated_at=now,
            )
            for source in sources
        )


def listed(system: System, tenant: Tenant) -> tuple[int, int]:
    """(routes listed, statements it took)."""
    with statements(system.db) as seen:
        response = tenant.api.get("/routes")
    assert response.status_code == 200, response.text
    return len(response.json()), len(seen)


def test_listing_routes_reads_their_sources_in_one_query(system: System, tenant: Tenant) -> None:
    target = files_connection(tenant, "Books")
    add_routes(system, tenant, target, 1, first=0)
    one, few = listed(system, tenant)
    add_routes(system, tenant, target, 19, first=1)
    twenty, many = listed(system, tenant)
    assert (one, twenty) == (1, 20)
    assert many == few, f"{few} statements for 1 route, {many} for 20"
