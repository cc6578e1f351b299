"""WooCommerce sandbox webhooks against a real receiver on loopback: the ping, signed payloads
with WooCommerce's headers, repeated and missed deliveries, and a webhook disabled after its
failures and re-enabled over the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.woocommerce import SandboxServer, WooSandbox, seed_shop
from tests.sandbox.receiver import Received, Receiver, receiving

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
API = "/wp-json/wc/v3"
SECRET = "hemmelig-nøgle"


class TopicReceiver(Receiver):
    """The receiver, with its deliveries by WooCommerce topic."""

    def deliveries(self, topic: str | None = None) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.seen
                if topic is None or r.headers.get("X-WC-Webhook-Topic") == topic
            ]


@pytest.fixture
def receiver() -> Iterator[TopicReceiver]:
    with receiving(TopicReceiver()) as found:
        assert isinstance(found, TopicReceiver)
        yield found


@pytest.fixture
def shop() -> Iterator[tuple[WooSandbox, dict[str, Any], httpx.Client]]:
    sandbox = WooSandbox(ManualClock(START), seed=5)
    ids = seed_shop(sandbox, seed=5, orders=20, customers=10)
    with SandboxServer(sandbox) as server:
        key = sandbox.default_key
        with httpx.Client(
            base_url=server.base_url + API, auth=(key.consumer_key, key.consumer_secret)
        ) as client:
            yield sandbox, ids, client
    sandbox.close()


def subscribe(
    client: httpx.Client, receiver: TopicReceiver, topic: str, **extra: Any
) -> dict[str, Any]:
    answer = client.post(
        "/webhooks", json={"topic": topic, "delivery_url": receiver.url, "secret": SECRET, **extra}
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_ping_then_signed_payload_with_woocommerce_headers(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client], receiver: TopicReceiver
) -> None:
    sandbox, ids, client = shop
    hook = subscribe(client, receiver, "order.updated")
    assert "secret" not in hook and hook["hooks"][0] == "woocommerce_update_order"
    sandbox.wait_for_webhooks()
    ping = receiver.deliveries()[0]
    assert ping.raw == f"webhook_id={hook['id']}".encode()
    assert "X-WC-Webhook-Signature" not in ping.headers
    client.put(f"/orders/{ids['b2b_order']}", json={"status": "completed"})
    sandbox.wait_for_webhooks()
    [delivery] = receiver.deliveries("order.updated")
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), delivery.raw, hashlib.sha256).digest()
    ).decode()
    assert delivery.headers["X-WC-Webhook-Signature"] == expected
    assert delivery.headers["X-WC-Webhook-Resource"] == "order"
    assert delivery.headers["X-WC-Webhook-Event"] == "updated"
    assert delivery.headers["X-WC-Webhook-ID"] == str(hook["id"])
    assert delivery.headers["X-WC-Webhook-Source"] == sandbox.home_url + "/"
    assert delivery.headers["User-Agent"].startswith("WooCommerce/")
    body = delivery.json()
    assert body["status"] == "completed" and body["id"] == ids["b2b_order"]
    assert body == client.get(f"/orders/{ids['b2b_order']}").json()


def test_one_save_is_delivered_two_to_nine_times(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client], receiver: TopicReceiver
) -> None:
    sandbox, ids, client = shop
    sandbox.apply_settings({"webhook_repeats": "2-9"})
    subscribe(client, receiver, "order.updated")
    counts = []
    for order_id in ids["orders"][:6]:
        before = len(receiver.deliveries("order.updated"))
        client.put(f"/orders/{order_id}", json={"customer_note": "ring på"})
        sandbox.wait_for_webhooks()
        counts.append(len(receiver.deliveries("order.updated")) - before)
    assert all(2 <= count <= 9 for count in counts) and len(set(counts)) > 1
    ids_seen = {r.headers["X-WC-Webhook-Delivery-ID"] for r in receiver.deliveries("order.updated")}
    assert len(ids_seen) == sum(counts)


def test_a_missed_delivery_is_never_sent(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client], receiver: TopicReceiver
) -> None:
    sandbox, ids, client = shop
    hook = subscribe(client, receiver, "order.updated")
    sandbox.apply_settings({"webhook_miss_rate": 1})
    client.put(f"/orders/{ids['b2b_order']}", json={"status": "completed"})
    sandbox.wait_for_webhooks()
    assert receiver.deliveries("order.updated") == []
    assert sandbox.hooks.missed() == [
        {"webhook_id": hook["id"], "topic": "order.updated", "resource_id": ids["b2b_order"]}
    ]


def test_disabled_after_consecutive_failures_and_re_enabled(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client], receiver: TopicReceiver
) -> None:
    sandbox, ids, client = shop
    hook = subscribe(client, receiver, "order.updated")
    sandbox.wait_for_webhooks()
    receiver.status = 500
    for number in range(7):
        client.put(f"/orders/{ids['orders'][number]}", json={"customer_note": str(number)})
        sandbox.wait_for_webhooks()
        status = client.get(f"/webhooks/{hook['id']}").json()["status"]
        assert status == ("disabled" if number == 6 else "active"), number
    client.put(f"/orders/{ids['orders'][8]}", json={"customer_note": "after"})
    sandbox.wait_for_webhooks()
    assert len(receiver.deliveries("order.updated")) == 7
    receiver.status = 200
    assert (
        client.put(f"/webhooks/{hook['id']}", json={"status": "active"}).json()["status"]
        == "active"
    )
    client.put(f"/orders/{ids['orders'][9]}", json={"customer_note": "again"})
    sandbox.wait_for_webhooks()
    assert len(receiver.deliveries("order.updated")) == 8


def test_created_deleted_renewal_and_stock_topics(
    shop: tuple[WooSandbox, dict[str, Any], httpx.Client], receiver: TopicReceiver
) -> None:
    sandbox, ids, client = shop
    for topic in ("order.created", "order.deleted", "product.updated", "customer.created"):
        subscribe(client, receiver, topic)
    renewal = sandbox.renew(ids["subscriptions"][1], "paid")
    client.delete(f"/orders/{ids['orders'][0]}", params={"force": "true"})
    client.put(f"/products/{ids['products'][0]}", json={"stock_quantity": 3})
    client.post("/customers", json={"email": "ny@example.dk"})
    sandbox.wait_for_webhooks()
    [created] = receiver.deliveries("order.created")
    assert created.json()["id"] == renewal["id"] and created.json()["created_via"] == "subscription"
    assert receiver.deliveries("order.deleted")[0].json() == {"id": ids["orders"][0]}
    assert receiver.deliveries("product.updated")[-1].json()["stock_quantity"] == 3
    assert receiver.deliveries("customer.created")[0].json()["email"] == "ny@example.dk"


def test_webhook_validation(shop: tuple[WooSandbox, dict[str, Any], httpx.Client]) -> None:
    _sandbox, _ids, client = shop
    bad_topic = client.post(
        "/webhooks", json={"topic": "order.shipped", "delivery_url": "http://x"}
    )
    assert bad_topic.json()["code"] == "woocommerce_rest_shop_webhook_invalid_topic"
    bad_url = client.post("/webhooks", json={"topic": "order.created", "delivery_url": "ftp://x"})
    assert bad_url.json()["code"] == "woocommerce_rest_shop_webhook_invalid_delivery_url"
