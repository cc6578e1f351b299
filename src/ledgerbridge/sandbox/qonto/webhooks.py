"""Webhook delivery: signed POSTs to each subscription's ``callback_url`` from one thread.

Qonto signs with ``X-Qonto-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"`` and waits at most one second for a 2xx. Deliveries happen after the change
is committed, never inside the API request, in the order the changes happened.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Qonto-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Value of ``X-Qonto-Signature`` for a body sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class WebhookEvent:
    """One event for one subscription. Retries and replays resend the same id and body."""

    event_id: str
    subscription_id: str
    type: str
    action: str
    resource_id: str
    callback_url: str
    secret: str
    body: bytes
    created_at: datetime


@dataclass(frozen=True)
class WebhookDelivery:
    """One HTTP attempt to deliver an event."""

    event_id: str
    subscription_id: str
    callback_url: str
    attempt: int
    signature: str
    bad_signature: bool
    status_code: int | None
    error: str | None
    at: datetime

    @property
    def ok(self) -> bool:
        """Whether the receiver acknowledged with a 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class _Job:
    event: WebhookEvent
    bad_signature: bool


class WebhookDispatcher:
    """FIFO delivery with a few retries; every attempt is recorded for tests and the admin API."""

    def __init__(
        self,
        now: Callable[[], datetime],
        timeout: float = 1.0,
        attempts: int = 4,
        backoff: float = 0.05,
    ) -> None:
        if attempts < 1:
            raise ValueError("webhook attempts must be at least 1")
        self._now = now
        self._attempts = attempts
        self._backoff = backoff
        self._queue = DeliveryQueue(
            self._deliver,
            name="qonto-sandbox-webhooks",
            timeout=timeout,
            drain_within=attempts * timeout + backoff * 2**attempts + 1,
        )
        self._log_lock = threading.Lock()
        self._deliveries: list[WebhookDelivery] = []

    def submit(self, event: WebhookEvent, bad_signature: bool = False) -> None:
        """Queue an event; the worker thread starts on first use."""
        self._queue.submit(_Job(event, bad_signature))

    def deliveries(self) -> list[WebhookDelivery]:
        """Every attempt so far, oldest first."""
        with self._log_lock:
            return list(self._deliveries)

    def wait(self, timeout: float) -> None:
        """Block until every queued event was delivered or given up; raise on timeout."""
        self._queue.wait(timeout)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        self._queue.close()

    def _deliver(self, client: httpx.Client, job: _Job) -> None:
        """Try an event with exponential backoff; a bad-signature send is tried once."""
        event = job.event
        attempts = 1 if job.bad_signature else self._attempts
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                time.sleep(self._backoff * 2 ** (attempt - 2))
            now = self._now()
            secret = event.secret + "-wrong" if job.bad_signature else event.secret
            signature = sign(secret, int(now.timestamp()), event.body)
            status: int | None = None
            error: str | None = None
            try:
                response = client.post(
                    event.callback_url,
                    content=event.body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivery = WebhookDelivery(
                event.event_id,
                event.subscription_id,
                event.callback_url,
                attempt,
                signature,
                job.bad_signature,
                status,
                error,
                now,
            )
            with self._log_lock:
                self._deliveries.append(delivery)
            if delivery.ok:
                return
        log.warning(
            "Webhook %s (%s) not acknowledged after %d attempt(s): %s",
            event.event_id,
            event.type,
            attempts,
            event.callback_url,
        )
