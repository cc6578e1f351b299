"""Zettle's Pusher API deliveries: webhooks to a subscription's destination, as
``pusher-api`` documents them.

An envelope ``{organizationUuid, messageUuid, eventName, messageId, payload, timestamp}`` whose
``payload`` is the event's JSON as a *string*, posted with ``X-iZettle-Signature`` =
hex(HMAC-SHA256(signingKey, "<timestamp>.<payload>")). A new destination first gets a
``TestMessage``. Delivery is at least once: a 2xx is success; anything else is retried every
60 s ten times, every 600 s nine times, then hourly for 70 hours, after which the subscription
is deleted (``FAILING`` meanwhile). The sandbox retries on its own clock, when told to
(``retry_due``), so a test decides when time passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

RETRY_DELAYS: tuple[timedelta, ...] = (
    *(timedelta(seconds=60),) * 10,
    *(timedelta(seconds=600),) * 9,
    *(timedelta(hours=1),) * 70,
)
"""The documented retry schedule; after the last one the subscription is deleted."""


def signature(signing_key: str, timestamp: str, payload: str) -> str:
    """``X-iZettle-Signature``."""
    message = f"{timestamp}.{payload}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Message:
    """One event for one subscription, with its delivery history."""

    subscription_uuid: str
    envelope: dict[str, Any]
    attempts: int = 0
    next_at: datetime | None = None
    delivered: bool = False


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt, as the control API shows it."""

    subscription_uuid: str
    message_uuid: str
    event_name: str
    url: str
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
            "subscription_uuid": self.subscription_uuid,
            "message_uuid": self.message_uuid,
            "event_name": self.event_name,
            "url": self.url,
            "status_code": self.status_code,
            "error": self.error,
            "ok": self.ok,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "at": self.at.isoformat(),
        }


@dataclass
class Target:
    """What a delivery reads about its subscription when it runs."""

    url: str
    signing_key: str
    active: bool


@dataclass
class Log:
    attempts: list[Attempt] = field(default_factory=list)
    waiting: list[Message] = field(default_factory=list)


class Pusher:
    """Deliveries on the sandbox kit's queue. ``target(uuid)`` reads the subscription when a
    delivery runs; ``result(uuid, ok, gave_up)`` lets the state mark it FAILING, ACTIVE again,
    or delete it."""

    def __init__(
        self,
        *,
        target: Callable[[str], Target | None],
        result: Callable[[str, bool, bool], None],
        now: Callable[[], datetime],
        timeout: float,
    ) -> None:
        self._target = target
        self._result = result
        self._now = now
        self._lock = threading.Lock()
        self.log = Log()
        self._queue = DeliveryQueue(
            self._deliver, name="zettle-sandbox-pusher", timeout=timeout,
            drain_within=timeout * 4 + 1,
        )  # fmt: skip

    def submit(self, message: Message) -> None:
        self._queue.submit(message)

    def retry_due(self) -> int:
        """Queue every failed message whose next attempt is due on the sandbox clock."""
        now = self._now()
        with self._lock:
            due = [m for m in self.log.waiting if m.next_at is not None and m.next_at <= now]
            self.log.waiting = [m for m in self.log.waiting if m not in due]
        for message in due:
            self._queue.submit(message)
        return len(due)

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self.log.attempts)

    def waiting(self) -> list[Message]:
        with self._lock:
            return list(self.log.waiting)

    def wait(self, timeout: float) -> None:
        self._queue.wait(timeout)

    def close(self) -> None:
        self._queue.close()

    def _deliver(self, client: httpx.Client, message: Message) -> None:
        target = self._target(message.subscription_uuid)
        if target is None:
            return
        envelope = message.envelope
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-iZettle-Signature": signature(
                target.signing_key, str(envelope["timestamp"]), str(envelope["payload"])
            ),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(target.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = Attempt(
            message.subscription_uuid, str(envelope["messageUuid"]), str(envelope["eventName"]),
            target.url, status, error, headers, body, self._now(),
        )  # fmt: skip
        message.attempts += 1
        gave_up = False
        if not attempt.ok:
            if message.attempts > len(RETRY_DELAYS):
                gave_up = True
            else:
                message.next_at = self._now() + RETRY_DELAYS[message.attempts - 1]
        with self._lock:
            self.log.attempts.append(attempt)
            if not attempt.ok and not gave_up:
                self.log.waiting.append(message)
        self._result(message.subscription_uuid, attempt.ok, gave_up)
