"""Stripe's webhook deliveries: one event per change, sent to every enabled endpoint whose
``enabled_events`` match, signed ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>``.

Stripe retries an event until an endpoint answers 2xx and says it may deliver an event more
than once; both defects are settings here: ``repeats`` (copies of each event, the same event id)
and ``miss_rate`` (events never delivered, which only a read of the API finds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Stripe-Signature`` header for ``body`` signed at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class Job:
    """One delivery of one event to one endpoint."""

    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes
    copy: int = 1


@dataclass(frozen=True)
class Delivery:
    """One HTTP attempt, as the control API shows it."""

    endpoint_id: str
    event_id: str
    event_type: str
    url: str
    copy: int
    status_code: int | None
    error: str | None
    headers: dict[str, str]
    body: bytes
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "copy": self.copy,
            "status_code": self.status_code,
            "error": self.error,
            "ok": self.ok,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Target:
    """What a delivery needs to know of its endpoint when it runs."""

    url: str
    secret: str
    enabled: bool


class Dispatcher:
    """Deliveries in order on the sandbox kit's queue, each attempt logged."""

    def __init__(
        self,
        *,
        target: Callable[[str], Target | None],
        now: Callable[[], datetime],
        timeout: float,
    ) -> None:
        self._target = target
        self._now = now
        self._lock = threading.Lock()
        self._log: list[Delivery] = []
        self._missed: list[dict[str, str]] = []
        self._queue = DeliveryQueue(
            self._deliver,
            name="stripe-sandbox-webhooks",
            timeout=timeout,
            drain_within=timeout * 4 + 1,
        )

    def submit(self, job: Job) -> None:
        self._queue.submit(job)

    def record_miss(self, endpoint_id: str, event_id: str, event_type: str) -> None:
        with self._lock:
            self._missed.append(
                {"endpoint_id": endpoint_id, "event_id": event_id, "event_type": event_type}
            )

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._log)

    def missed(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._missed)

    def clear(self) -> None:
        with self._lock:
            self._log = []
            self._missed = []

    def wait(self, timeout: float) -> None:
        self._queue.wait(timeout)

    def close(self) -> None:
        self._queue.close()

    def _deliver(self, client: httpx.Client, job: Job) -> None:
        target = self._target(job.endpoint_id)
        if target is None or not target.enabled:
            return
        moment = self._now()
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature(target.secret, int(moment.timestamp()), job.body),
        }
        status: int | None = None
        error: str | None = None
        try:
            status = client.post(target.url, content=job.body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            job.endpoint_id, job.event_id, job.event_type, target.url, job.copy,
            status, error, headers, job.body, moment,
        )  # fmt: skip
        with self._lock:
            self._log.append(delivery)
        if not delivery.ok:
            log.info("endpoint %s: %s not delivered (%s)", job.endpoint_id, job.event_id,
                     error or status)  # fmt: skip


def event_body(event: dict[str, Any]) -> bytes:
    """An event as Stripe sends it: pretty JSON (the signature covers these exact bytes)."""
    return json.dumps(event, indent=2).encode()
