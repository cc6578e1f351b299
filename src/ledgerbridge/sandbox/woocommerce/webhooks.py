"""Webhook delivery as WooCommerce does it, with its known defects.

A save queues one delivery per active webhook on the topic; the body is built when the delivery
runs (as Action Scheduler does), so it is the resource as it is then. Signature:
``base64(HMAC-SHA256(raw body, secret))``. Success is an answer from 200 to 302; any other
answer or no answer counts a failure, and a webhook whose consecutive failures exceed the limit
is set to ``disabled``. An active webhook is pinged with the form body ``webhook_id=<id>`` until a
ping is answered 200.

The defects are settings: ``order.updated`` delivered several times for one save (``repeats``)
and a save whose delivery never happens (``miss_rate``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

log = logging.getLogger(__name__)

USER_AGENT = "WooCommerce/9.9.3 Hookshot (WordPress/6.8.1)"
SUCCESS = range(200, 303)
"""2xx, 301 and 302 count as delivered (no redirect is followed)."""


def sign(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: base64 of the HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Job:
    """One queued delivery: a ping, or a topic's payload for one resource."""

    webhook_id: int
    topic: str
    resource_id: int
    ping: bool = False
    deleted: bool = False
    copy: int = 1
    """1 for the first delivery of a save, 2… for its repeats."""


@dataclass(frozen=True)
class Delivery:
    """One HTTP attempt, as the sandbox's log shows it."""

    delivery_id: int
    webhook_id: int
    topic: str
    resource_id: int
    url: str
    ping: bool
    copy: int
    status_code: int | None
    error: str | None
    headers: dict[str, str]
    body: bytes
    at: datetime

    @property
    def ok(self) -> bool:
        """Whether WooCommerce counts it as delivered."""
        return self.status_code is not None and self.status_code in SUCCESS

    def to_json(self) -> dict[str, Any]:
        """The control API's view (body as text)."""
        return {
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "topic": self.topic,
            "resource_id": self.resource_id,
            "url": self.url,
            "ping": self.ping,
            "copy": self.copy,
            "status_code": self.status_code,
            "error": self.error,
            "ok": self.ok,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "at": self.at.isoformat(),
        }


@dataclass
class Target:
    """What a delivery needs to know about its webhook at the moment it runs."""

    url: str
    secret: str
    active: bool


@dataclass
class Outcome:
    """Counters of the dispatcher, for the control API."""

    deliveries: list[Delivery] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)


class Dispatcher:
    """FIFO deliveries on the sandbox kit's queue; every attempt is logged.

    ``target(webhook_id)`` and ``payload(job)`` read the shop's state when the delivery runs;
    ``result(webhook_id, ok, ping)`` lets the shop count failures, disable the webhook and note
    an answered ping.
    """

    def __init__(
        self,
        *,
        source: Callable[[], str],
        target: Callable[[int], Target | None],
        payload: Callable[[Job], bytes | None],
        result: Callable[[int, bool, bool], None],
        now: Callable[[], datetime],
        timeout: float,
    ) -> None:
        self._source = source
        self._target = target
        self._payload = payload
        self._result = result
        self._now = now
        self._lock = threading.Lock()
        self._next_id = 1
        self.outcome = Outcome()
        self._queue = DeliveryQueue(
            self._deliver,
            name="woocommerce-sandbox-webhooks",
            timeout=timeout,
            drain_within=timeout * 4 + 1,
        )

    def submit(self, job: Job) -> None:
        """Queue one delivery."""
        self._queue.submit(job)

    def record_miss(self, webhook_id: int, topic: str, resource_id: int) -> None:
        """Note a save whose delivery was dropped (the ``miss_rate`` defect)."""
        with self._lock:
            self.outcome.missed.append(
                {"webhook_id": webhook_id, "topic": topic, "resource_id": resource_id}
            )

    def deliveries(self) -> list[Delivery]:
        """Every attempt so far, oldest first."""
        with self._lock:
            return list(self.outcome.deliveries)

    def missed(self) -> list[dict[str, Any]]:
        """Every dropped delivery so far."""
        with self._lock:
            return list(self.outcome.missed)

    def clear(self) -> None:
        """Forget the log (on reset)."""
        with self._lock:
            self.outcome = Outcome()

    def wait(self, timeout: float) -> None:
        """Block until every queued delivery ran; raise ``TimeoutError`` otherwise."""
        self._queue.wait(timeout)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        self._queue.close()

    def _deliver(self, client: httpx.Client, job: Job) -> None:
        target = self._target(job.webhook_id)
        if target is None or (not target.active and not job.ping):
            return
        with self._lock:
            delivery_id = self._next_id
            self._next_id += 1
        headers = {"User-Agent": USER_AGENT}
        if job.ping:
            body = f"webhook_id={job.webhook_id}".encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            payload = self._payload(job)
            if payload is None:
                return
            body = payload
            resource, event = job.topic.split(".", 1)
            headers.update(
                {
                    "Content-Type": "application/json",
                    "X-WC-Webhook-Source": self._source(),
                    "X-WC-Webhook-Topic": job.topic,
                    "X-WC-Webhook-Resource": resource,
                    "X-WC-Webhook-Event": event,
                    "X-WC-Webhook-Signature": sign(target.secret, body),
                    "X-WC-Webhook-ID": str(job.webhook_id),
                    "X-WC-Webhook-Delivery-ID": hashlib.md5(
                        f"{job.webhook_id}.{delivery_id}".encode()
                    ).hexdigest(),
                }
            )
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(target.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            delivery_id,
            job.webhook_id,
            job.topic,
            job.resource_id,
            target.url,
            job.ping,
            job.copy,
            status,
            error,
            headers,
            body,
            self._now(),
        )
        with self._lock:
            self.outcome.deliveries.append(delivery)
        self._result(
            job.webhook_id, delivery.status_code == 200 if job.ping else delivery.ok, job.ping
        )
        if not delivery.ok:
            log.info(
                "webhook %s: %s not delivered (%s)", job.webhook_id, job.topic, error or status
            )
