"""Tripletex webhooks: customer and product changes reach the hub as they happen; the
scheduled pulls stay as the safety net (Tripletex may skip intermediate versions, or disable a
subscription after too many failed calls).

Subscriptions (``POST /event/subscription``) belong to the employee token that made them. Each
points at the connection's callback URL and carries a signing secret of our own
(``hmacSharedSecret``, write-only): Tripletex signs every call as
``x-request-signature = base64(HmacSHA512(idempotency-key + '&' + body))``, and the
``idempotency-key`` stays the same when a call is resent. A call is the envelope
``{subscriptionId, event, id, value}``; the record is read again rather than taken from
``value``, so the hub gets its current state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as secrets_module
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Literal

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
from ledgerbridge.connectors.tripletex.client import TripletexClient
from ledgerbridge.connectors.tripletex.setup import client_for

STREAMS = {"customer": "customers", "product": "products"}
VERBS = ("create", "update", "delete")
"""Event subject → the stream whose record changed."""
EVENTS = tuple(
    f"{subject}.{verb}" for subject in STREAMS for verb in ("create", "update", "delete")
)


def subscribe(
    settings: Settings,
    secrets: Settings,
    callback_url: str,
    meter: CallMeter,
    transport: Transport,
    clock: Clock,
) -> JSON:
    """One subscription per event to the callback URL, all signed with a new secret (six
    calls). When one fails, those made are deleted again: none is left half set up."""
    secret = secrets_module.token_urlsafe(48)
    client = client_for(settings, secrets, meter, transport, clock=clock)

    def make(event: str) -> str:
        created = client.request(
            "POST",
            "/event/subscription",
            json={
                "event": event,
                "targetUrl": callback_url,
                "fields": "id",
                "hmacSharedSecret": secret,
            },
        )
        return str(created["value"]["id"])

    try:
        ids = subscribe_all(EVENTS, make, lambda made: _delete(client, made))
    finally:
        client.close()
    return {"webhook_secret": secret, "webhook_subscription_ids": ids}


def unsubscribe(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, clock: Clock
) -> None:
    """Delete the subscriptions made with these credentials (only their own token may)."""
    ids = [str(i) for i in secrets.get("webhook_subscription_ids") or []]
    if not ids:
        return
    client = client_for(settings, secrets, meter, transport, clock=clock)
    try:
        _delete(client, ids)
    finally:
        client.close()


def _delete(client: TripletexClient, ids: list[str]) -> None:
    for subscription_id in ids:
        try:
            client.request("DELETE", f"/event/subscription/{int(subscription_id)}")
        except RemoteRejected:
            continue  # gone already


REVIVED = ("DISABLED_TOO_MANY_ERRORS", "DISABLED_RATE_LIMIT_EXCEEDED")
"""Statuses Tripletex sets when calls failed or came too fast: switched on again. A
subscription disabled by a user (``DISABLED``) or for misuse stays off."""


def revive(client: TripletexClient, ids: Collection[str]) -> list[str]:
    """Switch our subscriptions that Tripletex disabled back on (one list call, and a
    partial ``PUT`` without ``version`` per disabled one); returns their ids."""
    if not ids:
        return []
    revived = []
    for row in client.list_all("/event/subscription", {"fields": "id,status"}):
        if str(row["id"]) in ids and row.get("status") in REVIVED:
            client.request(
                "PUT",
                f"/event/subscription/{int(row['id'])}",
                json={"status": "ACTIVE"},
                content_type="application/json",  # as the spec declares for this operation
            )
            revived.append(str(row["id"]))
    return revived


def check_signature(
    secrets: Settings, headers: Mapping[str, str], body: bytes, _now: datetime
) -> str | None:
    """Verify ``x-request-signature`` with the connection's webhook secret; returns the
    ``idempotency-key``, under which a resent call is stored once."""
    secret = str(secrets.get("webhook_secret") or "")
    lowered = {name.lower(): value for name, value in headers.items()}
    key = lowered.get("idempotency-key", "")
    given = lowered.get("x-request-signature", "").strip()
    if not secret or not key or not given:
        raise CallbackRefused("missing x-request-signature, idempotency-key or webhook secret")
    mac = hmac.new(secret.encode(), key.encode() + b"&" + body, hashlib.sha512)
    if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), given):
        raise CallbackRefused("the x-request-signature does not match")
    return key


def notices(body: bytes) -> list[ChangeNotice]:
    """A callback envelope as a change notice: the record is fetched (upsert) or the delete
    is logged. Events of other subjects give none."""
    try:
        envelope = json.loads(body) if body else None
    except ValueError:
        return []
    if not isinstance(envelope, dict) or envelope.get("id") is None:
        return []
    subject, _, verb = str(envelope.get("event") or "").partition(".")
    stream = STREAMS.get(subject)
    if stream is None:
        return []
    operation: Literal["upsert", "delete"] = "delete" if verb == "delete" else "upsert"
    return [ChangeNotice(stream=stream, remote_id=str(envelope["id"]), operation=operation)]
