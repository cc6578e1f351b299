"""Stripe webhooks: a payout that is paid, reconciled, changed or failed reaches the hub at
once; the hourly pull stays as the safety net (Stripe may deliver an event late, twice, or not
at all when the endpoint was down past its retries).

One webhook endpoint is made through the API when the key is saved, listening to the payout
events, with the pinned API version; Stripe returns its signing secret once, on creation, and
it is kept with the connection's secrets. A delivery is checked as Stripe's libraries do:
``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` (one ``v1`` per
active secret), refused when no ``v1`` matches or ``t`` is more than 300 s from now. Its event
id (``evt_…``) is the inbox key, so the copies of one event are stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import JSON, CallbackRefused, CallMeter, ChangeNotice
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.stripe.client import API_VERSION, DEFAULT_BASE_URL, StripeClient

EVENTS = (
    "payout.paid",
    "payout.reconciliation_completed",
    "payout.updated",
    "payout.failed",
    "payout.canceled",
)
"""``payout.reconciliation_completed`` is when the lines may be listed (Stripe's own advice);
``payout.updated``/``payout.failed`` bring a payout that changed after it was read."""
TOLERANCE = 300
"""Seconds a signature's timestamp may be away from now (Stripe's libraries' default)."""
DESCRIPTION = "ledgerbridge payouts"


def client_for(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
) -> StripeClient:
    """The client a connection's settings and key make."""
    return StripeClient(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
        secret_key=str(secrets.get("secret_key") or ""),
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
    """One endpoint for the payout events, to the callback URL (one call)."""
    client = client_for(settings, secrets, meter, transport)
    try:
        made = client.post(
            "/webhook_endpoints",
            [
                ("url", callback_url),
                *(("enabled_events[]", event) for event in EVENTS),
                ("description", DESCRIPTION),
                ("api_version", API_VERSION),
            ],
        )
    finally:
        client.close()
    return {"webhook_secret": str(made["secret"]), "webhook_endpoint_id": str(made["id"])}


def unsubscribe(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, clock: Clock
) -> None:
    """Delete the endpoint made with these credentials."""
    endpoint = str(secrets.get("webhook_endpoint_id") or "")
    if not endpoint:
        return
    client = client_for(settings, secrets, meter, transport)
    try:
        client.delete(f"/webhook_endpoints/{endpoint}")
    finally:
        client.close()


def _signature(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def check_signature(
    secrets: Settings, headers: Mapping[str, str], body: bytes, now: datetime
) -> str | None:
    """Verify ``Stripe-Signature`` with the endpoint's secret; returns the event id."""
    lowered = {name.lower(): value for name, value in headers.items()}
    secret = str(secrets.get("webhook_secret") or "")
    header = lowered.get("stripe-signature", "")
    if not secret or not header:
        raise CallbackRefused("missing Stripe-Signature or webhook signing secret")
    timestamp, given = _signature(header)
    if timestamp is None or not given:
        raise CallbackRefused("the Stripe-Signature has no timestamp or no v1 signature")
    if abs(now.timestamp() - timestamp) > TOLERANCE:
        raise CallbackRefused("the Stripe-Signature timestamp is outside the tolerance zone")
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise CallbackRefused("no signature in Stripe-Signature matches the payload")
    event = _event(body)
    return str(event["id"]) if event is not None and event.get("id") else None


def _event(body: bytes) -> JSON | None:
    try:
        value = json.loads(body) if body else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def notices(body: bytes) -> list[ChangeNotice]:
    """A payout event as a notice to read that payout again (its lines may be listed only
    now, and the event's copy of the payout may be older than the payout); any other event
    gives none."""
    event = _event(body)
    if event is None or not str(event.get("type") or "").startswith("payout."):
        return []
    data = event.get("data")
    payout = data.get("object") if isinstance(data, dict) else None
    if not isinstance(payout, dict) or not str(payout.get("id") or "").startswith("po_"):
        return []
    return [ChangeNotice("payouts", str(payout["id"]), "upsert")]
