"""Zettle's webhooks to a connection: a new API key saved on it removes the subscription made
with the old key (whether that key still works or was revoked), and one made with the new key
takes its place, so no delivery fails on a stale signing key; a delivery whose body is not
JSON is a bad request (400), not a refused signature."""

from __future__ import annotations

import httpx
import pytest

from ledgerbridge.sandbox.zettle import ZettleSandbox
from tests.integration.conftest import Tenant


def _connect(tenant: Tenant, sandbox: ZettleSandbox, url: str) -> dict[str, object]:
    made = tenant.api.post("/connections", json={
        "system": "zettle", "name": "Butikken", "settings": {"base_url": url},
        "secrets": {"api_key": sandbox.default_key.key},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["warnings"] == []
    connection: dict[str, object] = made.json()
    return connection


@pytest.mark.parametrize("old_key_revoked", [False, True])
def test_a_new_api_key_replaces_the_old_subscription(
    tenant: Tenant, zettle: tuple[ZettleSandbox, str], old_key_revoked: bool
) -> None:
    sandbox, url = zettle
    connection = _connect(tenant, sandbox, url)
    [first] = sandbox.subscriptions()
    new_key = sandbox.add_key()
    if old_key_revoked:
        sandbox.revoke_key(sandbox.default_key.client_id)

    saved = tenant.api.patch(
        f"/connections/{connection['id']}", json={"secrets": {"api_key": new_key.key}}
    )

    assert saved.status_code == 200, saved.text
    assert saved.json()["warnings"] == []
    [second] = sandbox.subscriptions()
    assert second["uuid"] != first["uuid"]
    assert second["destination"] == first["destination"]
    sandbox.ring_up({"products": [{"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200}],
                     "payments": [{"type": "IZETTLE_CARD"}]})  # fmt: skip
    sandbox.wait_for_webhooks(timeout=30)
    sales = [a for a in sandbox.pusher.attempts() if a.event_name == "PurchaseCreated"]
    assert len(sales) == 1 and all(a.ok for a in sales), "one delivery, accepted"


def test_a_delivery_that_is_not_json_is_a_bad_request(
    tenant: Tenant, zettle: tuple[ZettleSandbox, str]
) -> None:
    sandbox, url = zettle
    connection = _connect(tenant, sandbox, url)
    change_url = str(tenant.api.get(f"/connections/{connection['id']}").json()["change_url"])
    signed = {"X-iZettle-Signature": "0" * 64}

    with httpx.Client() as client:
        not_json = client.post(change_url, content=b"<html>oops</html>", headers=signed)
        not_object = client.post(change_url, content=b"[1, 2]", headers=signed)
        unsigned = client.post(change_url, content=b"<html>oops</html>")

    assert not_json.status_code == 400
    assert not_json.json()["detail"] == "callback refused: the delivery is not JSON"
    assert not_object.status_code == 400
    assert not_object.json()["detail"] == "callback refused: the delivery is not a JSON object"
    assert unsigned.status_code == 401, "a missing signature is checked first"
