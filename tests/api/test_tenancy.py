"""Users and API keys: who may revoke whose key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.services.tenancy import IssuedKey


@pytest.fixture
def owner(system: System) -> IssuedKey:
    return system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")


@pytest.fixture
def api(hub: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub, timeout=30) as client:
        yield client


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_user(api: httpx.Client, owner: IssuedKey, email: str, role: str) -> dict[str, str]:
    response = api.post("/users", json={"email": email, "role": role}, headers=as_(owner.api_key))
    assert response.status_code == 201, response.text
    added: dict[str, str] = response.json()
    return added


def test_an_admin_cannot_revoke_an_owners_key(api: httpx.Client, owner: IssuedKey) -> None:
    admin = add_user(api, owner, "admin@nordlys.example", "admin")
    refused = api.delete(f"/api-keys/{owner.key_id}", headers=as_(admin["api_key"]))
    assert refused.status_code == 403
    assert "owner" in refused.json()["detail"]
    assert api.get("/users", headers=as_(owner.api_key)).status_code == 200


def test_an_admin_revokes_a_members_key_and_an_owner_an_admins(
    api: httpx.Client, owner: IssuedKey
) -> None:
    admin = add_user(api, owner, "admin@nordlys.example", "admin")
    member = add_user(api, owner, "member@nordlys.example", "member")
    assert (
        api.delete(f"/api-keys/{member['key_id']}", headers=as_(admin["api_key"])).status_code
        == 204
    )
    assert api.get("/users", headers=as_(member["api_key"])).status_code == 401
    assert api.delete(f"/api-keys/{admin['key_id']}", headers=as_(owner.api_key)).status_code == 204
    assert api.get("/users", headers=as_(admin["api_key"])).status_code == 401


def test_a_member_revokes_no_key(api: httpx.Client, owner: IssuedKey) -> None:
    member = add_user(api, owner, "member@nordlys.example", "member")
    other = add_user(api, owner, "other@nordlys.example", "member")
    assert (
        api.delete(f"/api-keys/{other['key_id']}", headers=as_(member["api_key"])).status_code
        == 403
    )
