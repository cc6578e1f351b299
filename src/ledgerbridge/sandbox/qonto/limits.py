"""Per-IP rate limits and the idempotency-key cache, both timed by the sandbox clock.

Qonto limits each IP address to 1,000 requests per 10 seconds and 10,000 per 10 minutes, and
throttles an IP that collected more than 200 responses with status 401 within an hour.
Successful responses to requests carrying ``X-Qonto-Idempotency-Key`` are replayed for 30
minutes. Neither class locks: the sandbox calls them while holding its own lock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RATE_LIMITS: tuple[tuple[int, float], ...] = ((1000, 10.0), (10000, 600.0))


@dataclass(frozen=True)
class Throttled:
    """Why a request was refused and how long until it would be accepted."""

    detail: str
    retry_after: int


class RateLimiter:
    """Sliding-window counters per IP address."""

    def __init__(
        self,
        limits: Sequence[tuple[int, float]] = DEFAULT_RATE_LIMITS,
        auth_failure_limit: int = 200,
        auth_failure_window: float = 3600.0,
    ) -> None:
        for count, seconds in limits:
            if count < 1 or seconds <= 0:
                raise ValueError("rate limits need a positive count and window")
        self.limits = tuple((count, timedelta(seconds=seconds)) for count, seconds in limits)
        self.auth_failure_limit = auth_failure_limit
        self.auth_failure_window = timedelta(seconds=auth_failure_window)
        self._hits: dict[str, list[deque[datetime]]] = {}
        self._failures: dict[str, deque[datetime]] = {}

    def admit(self, ip: str, now: datetime) -> Throttled | None:
        """Count one request, or say why it must be refused (refusals are not counted)."""
        windows = self._hits.setdefault(ip, [deque() for _ in self.limits])
        for (count, span), hits in zip(self.limits, windows, strict=True):
            while hits and hits[0] <= now - span:
                hits.popleft()
            if len(hits) >= count:
                wait = (hits[0] + span - now).total_seconds()
                return Throttled(
                    f"Rate limit exceeded: {count} requests per {_span(span)}",
                    max(1, math.ceil(wait)),
                )
        failures = self._failures.get(ip)
        if failures is not None:
            while failures and failures[0] <= now - self.auth_failure_window:
                failures.popleft()
            if len(failures) > self.auth_failure_limit:
                wait = (failures[0] + self.auth_failure_window - now).total_seconds()
                return Throttled(
                    f"Too many unauthorized requests: more than {self.auth_failure_limit} "
                    f"responses with status 401 within {_span(self.auth_failure_window)}",
                    max(1, math.ceil(wait)),
                )
        for hits in windows:
            hits.append(now)
        return None

    def record_unauthorized(self, ip: str, now: datetime) -> None:
        """Remember a 401 answered to this IP."""
        self._failures.setdefault(ip, deque()).append(now)


def _span(span: timedelta) -> str:
    """``10 seconds``, ``10 minutes``, ``1 hour``."""
    seconds = int(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            amount = seconds // size
            return f"{amount} {unit}{'s' if amount != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


@dataclass(frozen=True)
class StoredResponse:
    """A successful response kept for replay."""

    status: int
    body: bytes
    stored_at: datetime


class IdempotencyCache:
    """Successful responses by idempotency key, kept for ``ttl``."""

    def __init__(self, ttl: timedelta = timedelta(minutes=30)) -> None:
        self.ttl = ttl
        self._entries: dict[str, StoredResponse] = {}

    def get(self, key: str, now: datetime) -> StoredResponse | None:
        """The stored response for ``key`` if it has not expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.stored_at + self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, status: int, body: bytes, now: datetime) -> None:
        """Keep a successful response."""
        self._entries[key] = StoredResponse(status, body, now)
