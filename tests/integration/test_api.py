"""The hub API's contract: validation that names the field, tenant isolation, roles, secrets."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.tenancy import ApiKey, Connection
from tests.integration.conftest import (
    PASSWORD,
    Tenant,
    Uniconta,
    connect,
    import_all,
    new_tenant,
    seed,
)


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "vat_number": "DK12345678"}, "body.vat_number"),
        ({"name": "X", "billing_address": {"country": "XX"}}, "body.billing_address.country"),
        ({"name": "X", "is_customer": "maybe"}, "body.is_customer"),
        ({"name": 42}, "body.name"),
        ({"name": "X", "iban": "NL00INVALID"}, "body.iban"),
        ({"name": "X", "currency": "EURO"}, "body.currency"),
        ({"name": "X", "colour": "blue"}, "body.colour"),
        ({}, "body.name"),
    ],
)
def test_bad_party_is_refused_with_the_field_named(tenant: Tenant, body: dict, field: str) -> None:
    assert field in _fields(tenant.api.post("/parties", json=body))


def test_malformed_json_is_a_422_not_a_500(tenant: Tenant) -> None:
    response = tenant.api.post(
        "/parties", content=b'{"name": "X",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_patch_that_breaks_a_rule_names_the_field_and_keeps_the_record(tenant: Tenant) -> None:
    created = tenant.api.post("/parties", json={"name": "Hansen ApS"}).json()
    response = tenant.api.patch(f"/parties/{created['id']}", json={"vat_number": "DK00000000"})
    assert "body.vat_number" in _fields(response)
    assert tenant.api.get(f"/parties/{created['id']}").json()["version"] == 1


def test_contact_person_must_belong_to_an_existing_party(tenant: Tenant) -> None:
    response = tenant.api.post(
        "/contact-persons", json={"party_id": "no-such-party", "name": "Jens Hansen"}
    )
    assert "body.party_id" in _fields(response)


def test_debtor_number_is_unique_per_tenant(tenant: Tenant) -> None:
    body = {"name": "A", "is_customer": True, "debtor_number": "100"}
    assert tenant.api.post("/parties", json=body).status_code == 201
    second = tenant.api.post("/parties", json={**body, "name": "B"})
    assert second.status_code == 409
    assert second.json()["field"] == "debtor_number"


def test_stale_version_is_a_conflict(tenant: Tenant) -> None:
    created = tenant.api.post("/parties", json={"name": "A"}).json()
    tenant.api.put(f"/parties/{created['id']}", json={"name": "B"})
    stale = tenant.api.put(
        f"/parties/{created['id']}", params={"if_version": 1}, json={"name": "C"}
    )
    assert stale.status_code == 409


def test_another_tenants_records_and_connections_are_invisible(
    system: System, hub: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    mine = tenant.api.post("/parties", json={"name": "Mine ApS"}).json()
    connection = connect(tenant, uniconta)
    other = new_tenant(system, hub, "Other Firm")
    assert other.api.get(f"/parties/{mine['id']}").status_code == 404
    assert other.api.patch(f"/parties/{mine['id']}", json={"name": "x"}).status_code == 404
    assert other.api.delete(f"/parties/{mine['id']}").status_code == 404
    assert other.api.get("/parties").json()["items"] == []
    assert other.api.get(f"/connections/{connection['id']}").status_code == 404
    assert other.api.get(f"/connections/{connection['id']}/sync-log").status_code == 404
    assert other.api.get("/changes").json()["items"] == []


def test_missing_or_wrong_key_is_401(hub: str) -> None:
    assert httpx.get(f"{hub}/parties").status_code == 401
    wrong = httpx.get(f"{hub}/parties", headers={"Authorization": "Bearer lb_nope"})
    assert wrong.status_code == 401


def test_member_can_read_but_not_change_a_connection(
    system: System, hub: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    added = tenant.api.post("/users", json={"email": "member@nordlys.example", "role": "member"})
    member = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    )
    assert member.get(f"/connections/{connection['id']}").status_code == 200
    for response in (
        member.patch(f"/connections/{connection['id']}", json={"name": "x"}),
        member.post(f"/connections/{connection['id']}/import"),
        member.post("/connections", json={"system": "uniconta", "settings": {}, "secrets": {}}),
        member.post("/users", json={"email": "x@y.example", "role": "admin"}),
    ):
        assert response.status_code == 403, response.text
        assert "owner or admin" in response.json()["detail"]
    assert member.post("/parties", json={"name": "Members may edit data"}).status_code == 201


def test_connection_settings_are_checked(tenant: Tenant, uniconta: Uniconta) -> None:
    base = {"system": "uniconta", "settings": {"company_id": 1, "username": "u"},
            "secrets": {"password": "p"}}  # fmt: skip
    assert "body.system" in _fields(tenant.api.post("/connections", json={**base, "system": "x"}))
    assert "body.timezone" in _fields(
        tenant.api.post("/connections", json={**base, "timezone": "Mars/Olympus"})
    )
    assert "body.settings.username" in _fields(
        tenant.api.post("/connections", json={**base, "settings": {"company_id": 1}})
    )
    assert "body.secrets.password" in _fields(
        tenant.api.post("/connections", json={**base, "secrets": {}})
    )


def test_wrong_password_is_refused_and_the_working_one_kept(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    changed = tenant.api.patch(
        f"/connections/{connection['id']}", json={"secrets": {"password": "wrong"}}
    )
    assert changed.status_code == 422
    assert changed.json()["detail"][0]["loc"] == ["body", "secrets"]
    assert changed.json()["detail"][0]["msg"] == (
        "Uniconta refused the credentials: check the user name and password"
    )
    result = tenant.api.post(f"/connections/{connection['id']}/test").json()
    assert result["ok"] is True


def test_secrets_are_ciphertext_at_rest_and_absent_from_logs(
    system: System, tenant: Tenant, uniconta: Uniconta, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seed(uniconta, 5)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    tenant.api.post(f"/connections/{connection['id']}/test")
    with system.db.connect() as conn:
        raw = conn.execute(sa.select(Connection.__table__)).mappings().one()
        keys = conn.execute(sa.select(ApiKey.__table__.c.key_hash)).scalars().all()
    assert PASSWORD not in str(dict(raw))
    assert raw["secrets"].startswith("gAAAA")  # a Fernet token
    assert tenant.api_key not in keys
    status = tenant.api.get(f"/connections/{connection['id']}").text
    assert PASSWORD not in status
    assert PASSWORD not in caplog.text
    assert tenant.api_key not in caplog.text
