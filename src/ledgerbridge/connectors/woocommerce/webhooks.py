"""WooCommerce webhooks: orders and products reach the hub as they are saved; the scheduled
``modified_after`` pull stays as the safety net, because WooCommerce drops deliveries (partial
refunds before #22073) and disables a webhook after repeated failed deliveries.

Webhooks are made through the REST API when the connection's key is saved, one per topic, all
pointing at the connection's callback URL and signed with a secret of our own:
``X-WC-Webhook-Signature = base64(HMAC-SHA256(raw body, secret))``. A delivery's body is the
resource as ``GET`` shows it, and one save of an order is delivered 2–9 times (#13760,
#19764, #20047, #29131), each copy with its own ``X-WC-Webhook-Delivery-ID``; so a delivery's
event id is its resource (``order``, ``product``), the resource's id, ``date_modified_gmt`` and
a digest of the body: the copies of one save are one inbox event (its ``order.created`` too,
which carries the same state), the next save another, also within the same second (an order
created and paid at once: ``date_modified_gmt`` counts whole seconds). The record is read again
when the event is applied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets as secrets_module
from collections.abc import Collection, Mapping
from datetime import datetime

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    CallbackRefused,
    CallMeter,
    ChangeNotice,
    RemoteRejected,
)
from ledgerbridge.connectors.kit.subscriptions import subscribe_all
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.woocommerce.client import WooCommerceClient
from ledgerbridge.connectors.woocommerce.mapping import product_remote_id

log = logging.getLogger(__name__)

TOPICS = ("order.created", "order.updated", "order.deleted", "product.created", "product.updated")
"""A refund saves its order (``order.updated``), so refunds come with their order's topic. An
order moved to the trash or deleted comes as ``order.deleted``, whose body is ``{"id": N}``."""
WEBHOOK_NAME = "ledgerbridge"
PING = re.compile(rb"^webhook_id=(\d{1,20})$")
"""The ping WooCommerce sends when a webhook is saved: a form body, unsigned."""


def client_for(settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
               ) -> WooCommerceClient:  # fmt: skip
    """The client a connection's settings and key make."""
    return WooCommerceClient(
        base_url=str(settings["base_url"]),
        consumer_key=str(secrets.get("consumer_key") or ""),
        consumer_secret=str(secrets.get("consumer_secret") or ""),
        meter=meter,
        transport=transport,
    )


def subscribe(
    settings: Settings,
    secrets: Settings,
    callback_url: str,
    meter: CallMeter,
    transport: Transport,
    clock: Clock,
) -> JSON:
    """One active webhook per topic to the callback URL, all signed with a new secret (a
    call per topic). When one fails, those made are deleted again: none is left half set up."""
    secret = secrets_module.token_urlsafe(32)
    client = client_for(settings, secrets, meter, transport)

    def make(topic: str) -> str:
        made = client.send(
            "POST",
            "/webhooks",
            {
                "name": f"{WEBHOOK_NAME} {topic}",
                "topic": topic,
                "delivery_url": callback_url,
                "secret": secret,
                "status": "active",
            },
        )
        return str(made["id"])

    try:
        ids = subscribe_all(TOPICS, make, lambda made: _delete(client, made))
    finally:
        client.close()
    return {"webhook_secret": secret, "webhook_ids": ids}


def unsubscribe(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, clock: Clock
) -> None:
    """Delete the webhooks made with these credentials."""
    ids = [str(i) for i in secrets.get("webhook_ids") or []]
    if not ids:
        return
    client = client_for(settings, secrets, meter, transport)
    try:
        _delete(client, ids)
    finally:
        client.close()


def _delete(client: WooCommerceClient, ids: list[str]) -> None:
    for webhook_id in ids:
        try:
            client.send("DELETE", f"/webhooks/{int(webhook_id)}", params={"force": "true"})
        except RemoteRejected:
            continue  # gone already


def revive(client: WooCommerceClient, ids: Collection[str]) -> list[str]:
    """Switch our webhooks that WooCommerce disabled after failed deliveries back on (one list
    call, and a ``PUT status=active`` per disabled one); returns their ids. A webhook a user
    paused stays paused."""
    if not ids:
        return []
    revived = []
    for hook in client.list_all("/webhooks"):
        if str(hook.get("id")) in ids and hook.get("status") == "disabled":
            client.send("PUT", f"/webhooks/{int(hook['id'])}", {"status": "active"})
            revived.append(str(hook["id"]))
    return revived


def check_signature(
    secrets: Settings, headers: Mapping[str, str], body: bytes, _now: datetime
) -> str | None:
    """Verify ``X-WC-Webhook-Signature`` with the connection's webhook secret; returns the
    event id under which the copies of one save are stored once. The unsigned ping that
    WooCommerce sends when a webhook is saved is answered (so it is not sent again) and
    stored under one id per webhook; it changes nothing."""
    lowered = {name.lower(): value for name, value in headers.items()}
    given = lowered.get("x-wc-webhook-signature", "").strip()
    ping = PING.match(body.strip())
    if ping is not None and not given:
        return f"ping:{ping.group(1).decode()}"
    secret = str(secrets.get("webhook_secret") or "")
    if not secret or not given:
        raise CallbackRefused("missing X-WC-Webhook-Signature or webhook secret")
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(mac).decode(), given):
        raise CallbackRefused("the X-WC-Webhook-Signature does not match")
    kind = lowered.get("x-wc-webhook-resource") or lowered.get("x-wc-webhook-topic", "")
    resource = _resource(body)
    if resource is None or not resource.get("id"):
        return lowered.get("x-wc-webhook-delivery-id") or None
    stamp = resource.get("date_modified_gmt") or lowered.get("x-wc-webhook-delivery-id", "")
    digest = hashlib.sha256(body).hexdigest()[:16]
    return f"{kind.partition('.')[0]}|{resource['id']}|{str(stamp)[:100]}|{digest}"


def _resource(body: bytes) -> JSON | None:
    try:
        value = json.loads(body) if body else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def notices(body: bytes) -> list[ChangeNotice]:
    """A delivery as change notices, told apart by the resource's shape (the stored event
    keeps the body, not the topic header): an order (and the refunds it lists, since a refund
    is delivered as its order's update), or a product or variation. Each is read again when
    applied, so the hub gets its current state. A deletion (``{"id": N}``) is an order's, the
    only deleted topic subscribed: read again, a trashed order has status ``trash``, which
    withdraws its unbooked draft. A ping or anything else gives none."""
    resource = _resource(body)
    if resource is None or resource.get("id") is None:
        return []
    rid = str(resource["id"])
    if set(resource) == {"id"}:
        return [ChangeNotice("orders", rid, "upsert")]
    if "line_items" in resource and "order_key" in resource:
        found = [ChangeNotice("orders", rid, "upsert")]
        for refund in resource.get("refunds") or []:
            if isinstance(refund, dict) and refund.get("id") is not None:
                found.append(ChangeNotice("refunds", str(refund["id"]), "upsert"))
        return found
    if "sku" in resource and "stock_quantity" in resource:
        if resource.get("type") == "variation" and resource.get("parent_id"):
            return [
                ChangeNotice("products", product_remote_id(resource["parent_id"], rid), "upsert")
            ]
        if resource.get("type") == "variable":
            # The variable product itself is not a product of the hub; its variations are.
            return [
                ChangeNotice("products", product_remote_id(rid, v), "upsert")
                for v in resource.get("variations") or []
            ]
        return [ChangeNotice("products", rid, "upsert")]
    return []
