"""The API answers with the status codes its OpenAPI declares, and refuses what its schema
refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant

DECLARED = {"401", "403", "404", "409", "413", "422"}


def test_every_operation_declares_the_error_codes(tenant: Tenant, hub: str) -> None:
    spec = httpx.get(f"{hub}/../../openapi.json", timeout=60).json()
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    assert any(path.startswith("/api/v1/connections") for path, _, _ in operations)
    for path, method, operation in operations:
        missing = DECLARED - set(operation["responses"])
        assert not missing, f"{method.upper()} {path} does not declare {sorted(missing)}"
    invalid = spec["paths"]["/api/v1/parties"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Invalid"
    }


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/parties", "GET, POST"),
        ("POST", "/parties/abc", "GET, PUT, PATCH, DELETE"),
        ("PUT", "/stock-levels", "GET"),
        ("PATCH", "/connections", "GET, POST"),
    ],
)
def test_a_method_the_path_lacks_is_405_with_allow(
    tenant: Tenant, method: str, path: str, allow: str
) -> None:
    answer = tenant.api.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert method in answer.json()["detail"]


def contact(tenant: Tenant, **fields: Any) -> httpx.Response:
    party = tenant.api.post("/parties", json={"name": "Nordlys Handel ApS"})
    assert party.status_code == 201, party.text
    body = {"party_id": party.json()["id"], "name": "Mette Jensen", **fields}
    return tenant.api.post("/contact-persons", json=body)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/parties", {"name": "A", "is_customer": 1}, "is_customer"),
        ("/parties", {"name": "A", "is_customer": "true"}, "is_customer"),
        ("/parties", {"name": "A", "payment_term_days": "14"}, "payment_term_days"),
        ("/parties", {"name": "A", "payment_term_days": 14.0}, "payment_term_days"),
        ("/products", {"sku": "A", "name": "A", "active": 0}, "active"),
    ],
)
def test_booleans_and_integers_are_not_coerced(
    tenant: Tenant, path: str, body: dict[str, Any], field: str
) -> None:
    answer = tenant.api.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", field]]


def test_active_zero_is_refused_whole_and_in_a_patch(system: System, tenant: Tenant) -> None:
    refused = contact(tenant, active=0)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "active"]
    created = contact(tenant, active=False)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["active"] is False

    path = f"/contact-persons/{created.json()['id']}"
    patched = tenant.api.patch(path, json={"active": 1})
    assert patched.status_code == 422
    assert patched.json()["detail"][0]["loc"] == ["body", "active"]
    assert tenant.api.patch(path, json={"active": True}).json()["data"]["active"] is True


def test_a_json_body_that_is_not_utf8_is_invalid_input(tenant: Tenant) -> None:
    answer = tenant.api.post(
        "/parties", content=b'{"name": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body"]


def test_a_connections_active_flag_is_a_boolean(tenant: Tenant) -> None:
    refused = tenant.api.patch("/connections/unknown", json={"active": 0})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "active"]
    assert tenant.api.patch("/connections/unknown", json={"active": False}).status_code == 404
