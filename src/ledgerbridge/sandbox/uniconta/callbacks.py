"""Change URL delivery: a single background thread that calls the customer's URL in order.

Uniconta calls the Change URL after the change is saved, never as part of the client's request,
so callbacks are queued at commit time and delivered here with retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx

from ledgerbridge.sandbox.delivery import DeliveryQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Callback:
    """One queued notification: ``GET url?...`` or, with the Post option, ``POST`` + JSON."""

    url: str
    method: str
    body: bytes | None


class CallbackDispatcher:
    """FIFO delivery with a few retries; failures are logged and dropped, as a webhook would be."""

    def __init__(self, attempts: int = 4, backoff: float = 0.05, timeout: float = 5.0) -> None:
        self._attempts = attempts
        self._backoff = backoff
        self._queue = DeliveryQueue(
            self._deliver,
            name="uniconta-sandbox-callbacks",
            timeout=timeout,
            drain_within=timeout * attempts + 1,
        )
        self.delivered = 0
        self.dropped = 0

    def submit(self, callback: Callback) -> None:
        """Queue a callback; the worker thread starts on first use."""
        self._queue.submit(callback)

    def wait(self, timeout: float) -> None:
        """Block until every queued callback was delivered or dropped; raise on timeout."""
        self._queue.wait(timeout)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        self._queue.close()

    def _deliver(self, client: httpx.Client, callback: Callback) -> None:
        """Try a callback a few times with exponential backoff, then drop it with a warning."""
        headers = {"Content-Type": "application/json"} if callback.body is not None else {}
        problem = ""
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = client.request(
                    callback.method, callback.url, content=callback.body, headers=headers
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                self.delivered += 1
                return
            problem = f"HTTP {response.status_code}"
        self.dropped += 1
        log.warning(
            "Change URL callback dropped after %d attempts (%s): %s %s",
            self._attempts,
            problem,
            callback.method,
            callback.url,
        )
