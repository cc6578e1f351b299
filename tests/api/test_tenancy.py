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


def test_a_user_address_or_a_webhook_url_the_hub_cannot_keep_is_refused_on_its_field(
    api: httpx.Client, owner: IssuedKey, system: System
) -> None:
    """Before: any text with an @ became a user, and an address or a URL longer than its
    column was a 500 on PostgreSQL (SQLite kept it)."""
    for email in ("a" * 400 + "@nordlys.example", "ole@", "ole @nordlys.example"):
        refused = api.post("/users", json={"email": email}, headers=as_(owner.api_key))
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "email"]
        assert "is not an email address" in refused.json()["detail"][0]["msg"]
    long_url = "https://hooks.nordlys.example/" + "x" * 2000
    refused = api.post("/webhooks", json={"url": long_url}, headers=as_(owner.api_key))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "url"]
    assert "at most 2000 characters" in refused.json()["detail"][0]["msg"]
    users = api.get("/users", headers=as_(owner.api_key)).json()
    assert [u["email"] for u in users] == ["owner@nordlys.example"]
    assert api.get("/webhooks", headers=as_(owner.api_key)).json() == []
    add_user(api, owner, " Ole.Berg@Nordlys.Example ", "member")
    users = api.get("/users", headers=as_(owner.api_key)).json()
    assert "ole.berg@nordlys.example" in [u["email"] for u in users]


def test_a_webhook_naming_an_event_never_sent_is_refused_on_each_such_event(
    api: httpx.Client, owner: IssuedKey
) -> None:
    """Before: any name was kept, and a webhook for ``invoce.created`` never fired, without a
    word. Each unknown event is named at its place, with what may be given instead."""
    refused = api.post(
        "/webhooks",
        json={"url": "https://crm.nordlys.example/in",
              "events": ["invoce.created", "party.created", "connection.pull_completed"]},
        headers=as_(owner.api_key),
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    problems = refused.json()["detail"]
    assert [p["loc"] for p in problems] == [["body", "events", "0"], ["body", "events", "2"]]
    assert "'invoce.created' is not an event" in problems[0]["msg"]
    assert "invoice" in problems[0]["msg"] and "connection.import_completed" in problems[0]["msg"]
    assert api.get("/webhooks", headers=as_(owner.api_key)).json() == []
    made = api.post(
        "/webhooks",
        json={"url": "https://crm.nordlys.example/in",
              "events": ["invoice.created", "connection.statistics_completed",
                         "reconciliation.difference", "connection.warning"]},
        headers=as_(owner.api_key),
    )  # fmt: skip
    assert made.status_code == 201, made.text
