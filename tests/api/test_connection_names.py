"""A connection's name is the tenant's only: refused on ``name`` when in use, also when two
saves of one set-up arrive together (the database's unique index decides, never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ledgerbridge.sandbox.faults import FaultPlan
from ledgerbridge.sandbox.uniconta import UnicontaSandbox
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta


def body(url: str, name: str) -> dict[str, Any]:
    return {
        "system": "uniconta",
        "name": name,
        "settings": {"company_id": COMPANY, "username": USER, "base_url": url},
        "secrets": {"password": PASSWORD},
    }


@pytest.fixture
def slow_uniconta() -> Iterator[str]:
    """Uniconta answering each call 400 ms late: a save's check with the system takes more
    than a second, so two saves sent together both pass the name check before either writes."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    server = SandboxServer(sandbox, faults=FaultPlan(latency_ms=400))
    server.start()
    yield server.base_url
    server.stop()
    sandbox.close()


def test_two_saves_sent_together_make_one_connection(tenant: Tenant, slow_uniconta: str) -> None:
    def save(name: str) -> httpx.Response:
        with httpx.Client(base_url=tenant.api.base_url, headers=tenant.api.headers) as client:
            return client.post("/connections", json=body(slow_uniconta, name), timeout=30)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(save, ["Uniconta – Nordlys", "uniconta – nordlys"]))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["field"] == "name"
    assert "exists already" in refused["detail"]
    assert len(tenant.api.get("/connections").json()) == 1


def test_a_name_in_use_is_refused_on_create_and_on_rename(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    first = tenant.api.post("/connections", json=body(uniconta.url, "Nordlys"))
    assert first.status_code == 201, first.text
    again = tenant.api.post("/connections", json=body(uniconta.url, " NORDLYS "))
    assert again.status_code == 409
    assert again.json() == {
        "detail": "a connection named 'Nordlys' exists already (see Connections): to add "
        "another, give it a name of its own",
        "field": "name",
    }
    second = tenant.api.post("/connections", json=body(uniconta.url, "Nordlys 2"))
    assert second.status_code == 201, second.text
    renamed = tenant.api.patch(f"/connections/{second.json()['id']}", json={"name": "nordlys"})
    assert renamed.status_code == 409
    assert renamed.json() == {
        "detail": "a connection named 'Nordlys' exists already (see Connections): choose a "
        "name no other connection has",
        "field": "name",
    }
    same = tenant.api.patch(f"/connections/{first.json()['id']}", json={"name": "NORDLYS"})
    assert same.status_code == 200, same.text  # its own name in other letters
    assert same.json()["name"] == "NORDLYS"


def test_connections_made_without_a_name_are_numbered(tenant: Tenant, uniconta: Uniconta) -> None:
    """A name is optional: a second connection of one system made without one is not refused
    for the name the first took by default, it is numbered."""
    names = []
    for _ in range(3):
        made = tenant.api.post("/connections", json=body(uniconta.url, ""))
        assert made.status_code == 201, made.text
        names.append(made.json()["name"])
    assert names == ["uniconta", "uniconta (2)", "uniconta (3)"]
