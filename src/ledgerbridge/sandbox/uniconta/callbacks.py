"""Change URL delivery: a single background thread that calls the customer's URL in order.

Uniconta calls the Change URL after the change is saved, never as part of the client's request,
so callbacks are queued at commit time and delivered here with retries.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import httpx

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
        self._timeout = timeout
        self._queue: queue.Queue[Callback | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.delivered = 0
        self.dropped = 0

    def submit(self, callback: Callback) -> None:
        """Queue a callback; the worker thread starts on first use."""
        with self._idle:
            self._pending += 1
        self._ensure_worker()
        self._queue.put(callback)

    def wait(self, timeout: float) -> None:
        """Block until every queued callback was delivered or dropped; raise on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} Change URL callback(s) still pending")
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
                    target=self._run, name="uniconta-sandbox-callbacks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        """Worker loop: deliver callbacks one at a time, in the order they were queued."""
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                callback = self._queue.get()
                if callback is None:
                    return
                try:
                    self._deliver(client, callback)
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

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
