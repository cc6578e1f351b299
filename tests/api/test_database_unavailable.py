"""While the database cannot be reached, the API says so: a JSON 503 to retry, and a health
check that a load balancer can act on."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import TEST_DATABASE
from tests.integration.conftest import Tenant


def _refuse_connections(db_url: str, allow: bool) -> None:
    """The database refuses new connections (and drops those open) as a stopped server
    would, or accepts them again."""
    name = sa.make_url(db_url).database
    admin = sa.create_engine(sa.make_url(TEST_DATABASE), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
    admin.dispose()


def test_an_unreachable_database_is_a_503_and_health_says_so(
    tenant: Tenant, hub: str, db_url: str
) -> None:
    if TEST_DATABASE == "sqlite":
        pytest.skip("a database server that goes away is PostgreSQL's")
    assert httpx.get(f"{hub}/health").json() == {"status": "ok"}
    _refuse_connections(db_url, allow=False)
    try:
        health = httpx.get(f"{hub}/health")
        assert health.status_code == 503
        assert health.json() == {"detail": "the database is unavailable; try again shortly"}
        assert health.headers["Retry-After"] == "5"
        parties = tenant.api.get("/parties")
        assert parties.status_code == 503
        assert parties.json()["detail"] == "the database is unavailable; try again shortly"
    finally:
        _refuse_connections(db_url, allow=True)
    assert httpx.get(f"{hub}/health").json() == {"status": "ok"}
    assert tenant.api.get("/parties").status_code == 200
