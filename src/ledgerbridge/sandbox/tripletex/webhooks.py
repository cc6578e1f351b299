"""Webhook delivery: one background thread POSTs queued events to subscribers in order.

Tripletex calls subscribers after the change is saved, never inside the API call that caused
it, so events are queued at commit time and delivered here. The body is the documented
envelope ``{subscriptionId, event, id, value}``; with a shared secret the call is signed as the
``Subscription.hmacSharedSecret`` description says:
``x-request-signature = base64(HmacSHA512(idempotency-key + '&' + body))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

log = logging.getLogger(__name__)


def sign(secret: str, idempotency_key: str, body: bytes) -> str:
    """The ``x-request-signature`` value for one callback."""
    message = idempotency_key.encode("utf-8") + b"&" + body
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


@dataclass(frozen=True)
class Delivery:
    """One queued callback for one subscription."""

    company_id: int
    subscription_id: int
    event: str
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class DeliveryRecord:
    """What happened to a delivery, for tests and ``/_sandbox/webhooks``."""

    subscription_id: int
    event: str
    url: str
    attempts: int
    status: int | None
    delivered: bool
    idempotency_key: str = field(default="")


ResultHook = Callable[[Delivery, bool], None]


class WebhookDispatcher:
    """FIFO delivery with a few retries; a failed event is dropped and reported to the hook."""

    def __init__(
        self,
        on_result: ResultHook,
        attempts: int = 3,
        backoff: float = 0.05,
        timeout: float = 5.0,
    ) -> None:
        self._on_result = on_result
        self._attempts = attempts
        self._backoff = backoff
        self._queue = DeliveryQueue(
            self._deliver_and_report,
            name="tripletex-sandbox-webhooks",
            timeout=timeout,
            drain_within=timeout * attempts + 1,
        )
        self.records: list[DeliveryRecord] = []

    def submit(self, delivery: Delivery) -> None:
        """Queue a callback; the worker thread starts on first use."""
        self._queue.submit(delivery)

    def wait(self, timeout: float) -> None:
        """Block until every queued callback was delivered or dropped; raise on timeout."""
        self._queue.wait(timeout)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        self._queue.close()

    def _deliver_and_report(self, client: httpx.Client, delivery: Delivery) -> None:
        self._on_result(delivery, self._deliver(client, delivery))

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> bool:
        """POST with exponential backoff between attempts; the same idempotency key each time."""
        status: int | None = None
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                time.sleep(self._backoff * 2 ** (attempt - 2))
            try:
                response = client.post(
                    delivery.url, content=delivery.body, headers=delivery.headers
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                log.info("webhook %s to %s failed: %s", delivery.event, delivery.url, exc)
                status = None
                continue
            status = response.status_code
            if response.is_success:
                self._record(delivery, attempt, status, True)
                return True
        self._record(delivery, self._attempts, status, False)
        log.warning(
            "webhook %s dropped after %d attempts (last status %s): %s",
            delivery.event,
            self._attempts,
            status,
            delivery.url,
        )
        return False

    def _record(self, delivery: Delivery, attempts: int, status: int | None, ok: bool) -> None:
        """Keep a delivery record (list appends are atomic under the GIL)."""
        self.records.append(
            DeliveryRecord(
                delivery.subscription_id,
                delivery.event,
                delivery.url,
                attempts,
                status,
                ok,
                delivery.headers.get("idempotency-key", ""),
            )
        )
