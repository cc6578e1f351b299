"""API keys over the API: listed with their holder and when they were last used (never the
key itself), created for oneself to rotate, revoked by the service's rules."""

from __future__ import annotations

import httpx

from tests.integration.conftest import Tenant


def test_keys_are_listed_created_for_oneself_and_marked_when_used(tenant: Tenant, hub: str) -> None:
    made = tenant.api.post("/api-keys", json={"name": "CRM production"})
    assert made.status_code == 201, made.text
    assert made.json()["api_key"].startswith("lb_")
    with httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {made.json()['api_key']}"}
    ) as crm:
        assert crm.get("/users").status_code == 200
    keys = {k["name"]: k for k in tenant.api.get("/api-keys").json()}
    assert set(keys) == {"owner key", "CRM production"}
    crm_key = keys["CRM production"]
    assert crm_key["email"] == keys["owner key"]["email"] and crm_key["role"] == "owner"
    assert crm_key["last_used_at"] is not None and crm_key["revoked_at"] is None
    assert "api_key" not in crm_key and "key_hash" not in crm_key
    assert tenant.api.post("/api-keys", json={"name": ""}).status_code == 422
    assert tenant.api.delete(f"/api-keys/{crm_key['id']}").status_code == 204
    revoked = {k["name"]: k for k in tenant.api.get("/api-keys").json()}["CRM production"]
    assert revoked["revoked_at"] is not None


def test_an_admin_cannot_revoke_an_owners_key_nor_a_member_create_one(
    tenant: Tenant, hub: str
) -> None:
    admin = tenant.api.post("/users", json={"email": "a@nordlys.example", "role": "admin"}).json()
    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    owner_key = next(k for k in tenant.api.get("/api-keys").json() if k["role"] == "owner")
    with httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {admin['api_key']}"}) as a:
        refused = a.delete(f"/api-keys/{owner_key['id']}")
        assert refused.status_code == 403 and "owner" in refused.text
    with httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {member.json()['api_key']}"}
    ) as m:
        assert m.get("/api-keys").status_code == 200
        assert m.post("/api-keys", json={"name": "mine"}).status_code == 403
