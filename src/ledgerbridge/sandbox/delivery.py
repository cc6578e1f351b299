"""The outbound half of a sandbox: callbacks and webhooks sent from a background thread, the
way a vendor's platform calls a subscriber. Shared by every sandbox that calls out; what is
sent, how it is signed and retried stays with each vendor's dispatcher."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeliveryQueue(Generic[T]):
    """FIFO: one daemon thread hands each queued item to ``deliver`` with one HTTP client.

    The thread starts on first use, so an idle sandbox owns none. ``wait`` lets a test block
    until everything queued was delivered or given up.
    """

    def __init__(
        self,
        deliver: Callable[[httpx.Client, T], None],
        *,
        name: str,
        timeout: float,
        drain_within: float,
    ) -> None:
        self._deliver = deliver
        self._name = name
        self._timeout = timeout
        self._drain_within = drain_within
        self._queue: queue.Queue[tuple[T] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: T) -> None:
        """Queue an item; the worker thread starts on first use."""
        with self._idle:
            self._pending += 1
        self._ensure_worker()
        self._queue.put((item,))

    def wait(self, timeout: float) -> None:
        """Block until every queued item was delivered or given up; raise on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} {self._name} delivery(ies) still pending")
                self._idle.wait(remaining)

    def close(self) -> None:
        """Stop the worker after it has drained the queue."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self._drain_within)

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """One item at a time, in the order they were queued."""
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                entry = self._queue.get()
                if entry is None:
                    return
                try:
                    self._deliver(client, entry[0])
                except Exception:
                    # A worker that dies silently would strand every later delivery.
                    log.exception("%s: a delivery failed unexpectedly", self._name)
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
