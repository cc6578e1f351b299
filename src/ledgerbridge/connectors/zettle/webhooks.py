"""Zettle's Pusher webhooks: a sale or refund reaches the hub as it is made; the pull every 15
minutes stays as the safety net (deliveries stop when a subscription is deleted after 70 hours
of failures).

The subscription is made through the Pusher API when the connection's API key is saved:
``POST /organizations/self/subscriptions`` with a version-1 UUID of our own, the event
``PurchaseCreated`` and the connection's callback URL; Zettle answers with the ``signingKey``
that signs every delivery: ``X-iZettle-Signature`` = hex(HMAC-SHA256(signingKey,
"<timestamp>.<payload>")), both taken from the delivered envelope. Deliveries are at least
once, so a message is stored under its ``messageUuid`` (its copies are one inbox event); the
first delivery to a new destination is a ``TestMessage``, answered and ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    CallbackMalformed,
    CallbackRefused,
    CallMeter,
    ChangeNotice,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.zettle.client import NotFound, ZettleClient

EVENTS = ("PurchaseCreated",)
SIGNATURE = "x-izettle-signature"


def _client(settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport,
            clock: Clock) -> ZettleClient:  # fmt: skip
    return ZettleClient(settings=settings, secrets=secrets, meter=meter, clock=clock,
                        transport=transport)  # fmt: skip


def subscribe(
    settings: Settings,
    secrets: Settings,
    callback_url: str,
    meter: CallMeter,
    transport: Transport,
    clock: Clock,
) -> JSON:
    """One subscription to ``PurchaseCreated`` at the callback URL (two calls: the grant and
    the subscription); its uuid and signing key are kept with the secrets. A subscription
    the secrets still name (made with the key this one replaces) is deleted first, with the
    new key: subscriptions belong to the organisation, and an old key a person revoked
    could not delete it, which left it failing on every delivery."""
    body: JSON = {
        "uuid": str(uuid.uuid1()),
        "transportName": "WEBHOOK",
        "eventNames": list(EVENTS),
        "destination": callback_url,
    }
    if settings.get("contact_email"):
        body["contactEmail"] = str(settings["contact_email"])
    client = _client(settings, secrets, meter, transport, clock)
    try:
        _delete(client, secrets)
        made = client.send("POST", "pusher", "/organizations/self/subscriptions", body)
    finally:
        client.close()
    key = text(made.get("signingKey")) if isinstance(made, dict) else None
    if key is None:
        raise RemoteUnavailable("Zettle made the subscription without a signing key")
    return {"signing_key": key, "subscription_uuid": body["uuid"]}


def unsubscribe(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, clock: Clock
) -> None:
    """Delete the subscription made with these credentials (gone already is fine)."""
    if text(secrets.get("subscription_uuid")) is None:
        return
    client = _client(settings, secrets, meter, transport, clock)
    try:
        _delete(client, secrets)
    finally:
        client.close()


def _delete(client: ZettleClient, secrets: Settings) -> None:
    """Delete the subscription the secrets name, if any (gone already is fine)."""
    ident = text(secrets.get("subscription_uuid"))
    if ident is None:
        return
    with contextlib.suppress(NotFound):
        client.send("DELETE", "pusher", f"/organizations/self/subscriptions/{ident}")


def _envelope(body: bytes) -> JSON:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackMalformed("the delivery is not JSON") from None
    if not isinstance(value, dict):
        raise CallbackMalformed("the delivery is not a JSON object")
    return value


def check_signature(
    secrets: Settings, headers: Mapping[str, str], body: bytes, _now: datetime
) -> str | None:
    """Verify ``X-iZettle-Signature`` with the subscription's signing key; returns the
    message's uuid, under which repeated deliveries are stored once."""
    lowered = {name.lower(): value for name, value in headers.items()}
    given = lowered.get(SIGNATURE, "").strip().lower()
    key = str(secrets.get("signing_key") or "")
    if not key or not given:
        raise CallbackRefused("missing X-iZettle-Signature or signing key")
    envelope = _envelope(body)
    message = f"{envelope.get('timestamp')}.{envelope.get('payload')}".encode()
    expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise CallbackRefused("the X-iZettle-Signature does not match")
    ident = text(envelope.get("messageUuid")) or text(envelope.get("messageId"))
    return f"zettle:{ident}" if ident else None


def notices(body: bytes) -> list[ChangeNotice]:
    """A ``PurchaseCreated`` as the purchase to read (by its uuid; the payload lacks the
    taxable amounts the mapping needs). A refund is a purchase too: without a ``refund`` flag
    in the payload it is asked for in both streams, and the read tells which it is. Any other
    event (``TestMessage``) gives none."""
    try:
        envelope = json.loads(body)
        payload = json.loads(envelope.get("payload") or "{}")
    except (ValueError, TypeError, AttributeError):
        return []
    if envelope.get("eventName") != "PurchaseCreated" or not isinstance(payload, dict):
        return []
    ident = text(payload.get("purchaseUuid") or payload.get("purchaseUUID1"))
    if ident is None:
        return []
    if "refund" not in payload:
        streams: tuple[str, ...] = ("purchases", "refunds")
    else:
        streams = ("refunds",) if payload.get("refund") else ("purchases",)
    return [ChangeNotice(stream, ident, "upsert") for stream in streams]
