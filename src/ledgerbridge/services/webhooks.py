"""Signed outbound webhooks to the app.

Each hub change writes a delivery row in the transaction that made the change (an outbox), so a
change is never committed without its notification. A job delivers pending rows with
``X-Ledgerbridge-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, the scheme
Stripe and Qonto use, so the app can reject replays by the timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.kit.http import in_plain_words
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.model import ENTITY_TYPES
from ledgerbridge.runtime.reconcile import EVENT as RECONCILIATION_EVENT
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.hooks import after_commit
from ledgerbridge.store.secrets import SecretBox
from ledgerbridge.store.tables.hub import ChangeRow, HubRecord
from ledgerbridge.store.tables.tenancy import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ledgerbridge-Signature"
MAX_ATTEMPTS = 8
PING = "ping"
"""The event of a test delivery: sent to one subscription whatever events it chose."""
DELIVERIES_SHOWN = 100
URL_MAX = 2000
"""The longest webhook URL kept (its column's size)."""


RECORD_OPERATIONS = ("created", "updated", "deleted")
RUN_EVENTS = ("connection.import_completed", "connection.warning", RECONCILIATION_EVENT)


def announced_events() -> list[str]:
    """What runs announce: an import done, a connection's warning, a reconciliation's new
    differences, and the scheduled reads a user waits for (``connection.statistics_completed``)."""
    announced = {
        f"connection.{kind}_completed"
        for spec in SYSTEMS.values()
        for kind, pull in spec.pulls.items()
        if pull.announce
    }
    return [*RUN_EVENTS, *sorted(announced)]


def known_events() -> set[str]:
    """Every event a subscription may name: each hub record's change (``party.created``) and
    what runs announce."""
    records = {
        f"{entity}.{operation}" for entity in ENTITY_TYPES for operation in RECORD_OPERATIONS
    }
    return records | set(announced_events())


def _checked_events(events: list[str]) -> list[str]:
    """The events as given, each one known: an event no run ever sends would make a webhook
    that never fires, without a word."""
    known = known_events()
    problems = [
        Invalid(
            f"'{event}' is not an event: give * for all; a record's change, <entity>.created, "
            f".updated or .deleted with <entity> one of {', '.join(ENTITY_TYPES)}; or one of "
            f"{', '.join(announced_events())}",
            field=f"events.{n}",
        )
        for n, event in enumerate(events)
        if event != "*" and event not in known
    ]
    if problems:
        raise Invalid(problems[0].message, field=problems[0].field, also=problems[1:])
    return events


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What an app does on receipt (also used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 6 * 3600))


class WebhookService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._sessions = session_factory
        self._box = box
        self._clock = clock
        self._transport = transport
        self.on_pending: Callable[[], None] = lambda: None

    def subscribe(self, principal: Principal, url: str, events: list[str]) -> dict[str, Any]:
        principal.require_admin("adding a webhook")
        url = url.strip()  # pasted with a space around it: the address is the same
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise Invalid(f"'{url}' is not an http(s) URL", field="url")
        if len(url) > URL_MAX:
            raise Invalid(f"a webhook's URL has at most {URL_MAX} characters", field="url")
        events = _checked_events([event.strip() for event in events])
        secret = "whsec_" + secrets.token_urlsafe(24)
        with self._sessions.begin() as session:
            row = WebhookSubscription(
                tenant_id=principal.tenant_id,
                url=url,
                secret=self._box.seal({"secret": secret}),
                events=events or ["*"],
                active=True,
                created_at=self._clock.now(),
            )
            session.add(row)
            session.flush()
            return {"id": row.id, "url": url, "events": row.events, "secret": secret}

    def list_subscriptions(self, principal: Principal) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(
                sa.select(WebhookSubscription).where(
                    WebhookSubscription.tenant_id == principal.tenant_id
                )
            )
            return [
                {
                    "id": r.id,
                    "url": r.url,
                    "events": r.events,
                    "active": r.active,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]

    def deliveries(
        self, principal: Principal, subscription_id: str, limit: int = DELIVERIES_SHOWN
    ) -> list[dict[str, Any]]:
        """A subscription's deliveries, newest first: what was sent, how often, and how the
        app answered the last time."""
        with self._sessions() as session:
            self._subscription(session, principal, subscription_id)
            rows = session.scalars(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == subscription_id)
                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                .limit(max(1, min(limit, 1000)))
            )
            return [_delivery_view(row) for row in rows]

    def ping(self, principal: Principal, subscription_id: str) -> dict[str, Any]:
        """Queue a ``ping`` to one subscription through the normal outbox (signed, retried and
        logged like any event), so the app's endpoint can be checked end to end."""
        principal.require_admin("sending a test ping")
        with self._sessions.begin() as session:
            sub = self._subscription(session, principal, subscription_id)
            now = self._clock.now()
            row = WebhookDelivery(
                subscription_id=sub.id,
                tenant_id=principal.tenant_id,
                event_type=PING,
                payload={"event": PING, "subscription_id": sub.id, "at": now.isoformat()},
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(row)
            session.flush()
            view = _delivery_view(row)
            after_commit(session, self.on_pending)
        return view

    def redeliver(self, principal: Principal, delivery_id: str) -> dict[str, Any]:
        """Send a failed delivery again (the app's endpoint is fixed): back to pending, with
        its attempts counted afresh."""
        principal.require_admin("redelivering a webhook")
        with self._sessions.begin() as session:
            row = session.get(WebhookDelivery, delivery_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"webhook delivery {delivery_id} not found")
            if row.status != "failed":
                raise Conflict(
                    f"delivery {delivery_id} is {row.status}: only a failed delivery is sent "
                    "again (a pending one is still being retried)"
                )
            row.status = "pending"
            row.attempts = 0
            row.next_attempt_at = self._clock.now()
            session.flush()
            view = _delivery_view(row)
            after_commit(session, self.on_pending)
        return view

    @staticmethod
    def _subscription(
        session: Session, principal: Principal, subscription_id: str
    ) -> WebhookSubscription:
        row = session.get(WebhookSubscription, subscription_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"webhook {subscription_id} not found")
        return row

    def unsubscribe(self, principal: Principal, subscription_id: str) -> None:
        principal.require_admin("removing a webhook")
        with self._sessions.begin() as session:
            session.delete(self._subscription(session, principal, subscription_id))

    def on_changes(self, session: Session, changes: list[ChangeRow]) -> None:
        """Hub change listener: queue a delivery per matching subscription, same transaction."""
        subscriptions: dict[str, list[WebhookSubscription]] = {}
        for change in changes:
            if change.tenant_id not in subscriptions:
                subscriptions[change.tenant_id] = self._subscriptions(session, change.tenant_id)
            if not subscriptions[change.tenant_id]:
                continue
            self._queue(
                session,
                subscriptions[change.tenant_id],
                change.tenant_id,
                f"{change.entity}.{change.operation}",
                {
                    "seq": change.position,
                    "entity": change.entity,
                    "record_id": change.record_id,
                    "operation": change.operation,
                    "version": change.version,
                    "origin": change.origin,
                    "at": change.at.isoformat(),
                    "data": _record_data(session, change.record_id),
                },
            )

    def emit(self, session: Session, tenant_id: str, event: str, payload: dict[str, Any]) -> None:
        """Queue an event that is not a record change (e.g. an import finished)."""
        self._queue(session, self._subscriptions(session, tenant_id), tenant_id, event, payload)

    @staticmethod
    def _subscriptions(session: Session, tenant_id: str) -> list[WebhookSubscription]:
        return list(
            session.scalars(
                sa.select(WebhookSubscription).where(
                    WebhookSubscription.tenant_id == tenant_id,
                    WebhookSubscription.active.is_(True),
                )
            )
        )

    def _queue(
        self,
        session: Session,
        subscriptions: list[WebhookSubscription],
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
    ) -> None:
        now = self._clock.now()
        queued = False
        for sub in subscriptions:
            if "*" not in sub.events and event not in sub.events:
                continue
            session.add(
                WebhookDelivery(
                    subscription_id=sub.id,
                    tenant_id=tenant_id,
                    event_type=event,
                    payload={"event": event, **payload},
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            queued = True
        if queued:
            after_commit(session, self.on_pending)

    def any_due(self) -> bool:
        """Whether a delivery waits to be sent now (first try, or a retry whose time came)."""
        with self._sessions() as session:
            return (
                session.scalar(
                    sa.select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= self._clock.now(),
                    )
                    .limit(1)
                )
                is not None
            )

    def deliver_due(self, limit: int = 200) -> dict[str, int]:
        """Send every due delivery once; failures are rescheduled with backoff."""
        now = self._clock.now()
        with self._sessions() as session:
            due = list(
                session.execute(
                    sa.select(WebhookDelivery, WebhookSubscription)
                    .join(WebhookSubscription)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.created_at)
                    .limit(limit)
                )
            )
            session.expunge_all()
        counts = {"delivered": 0, "retrying": 0, "failed": 0}
        with httpx.Client(timeout=10.0, transport=self._transport) as http:
            for delivery, sub in due:
                status_code, error = self._send(http, delivery, sub)
                with self._sessions.begin() as session:
                    row = session.get(WebhookDelivery, delivery.id)
                    if row is None:
                        continue
                    row.attempts += 1
                    row.last_status_code = status_code
                    row.last_error = error
                    if error is None:
                        row.status = "delivered"
                        row.delivered_at = self._clock.now()
                        counts["delivered"] += 1
                    elif row.attempts >= MAX_ATTEMPTS:
                        row.status = "failed"
                        counts["failed"] += 1
                    else:
                        row.next_attempt_at = self._clock.now() + backoff(row.attempts)
                        counts["retrying"] += 1
        return counts

    def _send(
        self, http: httpx.Client, delivery: WebhookDelivery, sub: WebhookSubscription
    ) -> tuple[int | None, str | None]:
        body = json.dumps(delivery.payload, sort_keys=True).encode()
        secret = self._box.open(sub.secret)["secret"]
        timestamp = int(self._clock.now().timestamp())
        try:
            response = http.post(
                sub.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Ledgerbridge-Event": delivery.event_type,
                    "X-Ledgerbridge-Delivery": delivery.id,
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                },
            )
        except httpx.HTTPError as exc:
            return None, f"could not deliver{in_plain_words(exc)}"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"


def _delivery_view(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "pending" else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }


def _record_data(session: Session, record_id: str) -> dict[str, Any] | None:
    record = session.get(HubRecord, record_id)
    return None if record is None or record.deleted else dict(record.data)
