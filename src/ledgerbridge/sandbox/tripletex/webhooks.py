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
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

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
        self._timeout = timeout
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.records: list[DeliveryRecord] = []

    def submit(self, delivery: Delivery) -> None:
        """Queue a callback; the worker thread starts on first use."""
        with self._idle:
            self._pending += 1
        self._ensure_worker()
        self._queue.put(delivery)

    def wait(self, timeout: float) -> None:
        """Block until every queued callback was delivered or dropped; raise on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} webhook callback(s) still pending")
                self._idle.wait(remaining)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self._timeout * self._attempts + 1)

    def _ensure_worker(self) -> None:
        """Start the daemon thread lazily so an idle sandbox owns no threads."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tripletex-sandbox-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        """Worker loop: deliver callbacks one at a time, in the order they were queued."""
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                try:
                    ok = self._deliver(client, delivery)
                    self._on_result(delivery, ok)
                except Exception:
                    # A worker that dies silently would strand every later webhook.
                    log.exception("webhook %s to %s crashed", delivery.event, delivery.url)
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

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
