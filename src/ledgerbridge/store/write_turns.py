"""Turns at SQLite's one write lock among a process's threads: first come, first served, and
urgent writers first.

SQLite lets one transaction write at a time. A writer that finds the lock taken polls for it
with growing sleeps (its busy handler), so under load a writer can wait seconds while others
that came later get in between its sleeps: with 50 API clients writing, a callback's
acknowledgement (one short insert) waited up to 1.4 s at the 99th percentile, long enough for
a sender to give up and retry. The process's writers therefore queue here for the lock, in
the order they came, and an urgent one (a callback being acknowledged) goes before the
others: it waits at most for the write in progress.

A turn is taken right before ``BEGIN IMMEDIATE`` and given back right after ``COMMIT`` or
``ROLLBACK``, exactly where SQLite takes and drops its own lock, so no code can wait here
where it would not have waited for SQLite. Other processes (a CLI command beside ``serve``)
still meet SQLite's busy handler. A turn not given within the busy timeout fails as SQLite
would: ``database is locked``.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ledgerbridge_urgent_write", default=False
)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """The writes made inside go before the others waiting for SQLite's write lock."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class WriteTurns:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._changed = threading.Condition()
        self._holder: object | None = None
        self._urgent: deque[object] = deque()
        self._normal: deque[object] = deque()

    def take(self, owner: object) -> None:
        """Wait for the turn, then hold it for ``owner`` (a database connection)."""
        queue = self._urgent if _URGENT.get() else self._normal
        with self._changed:
            ticket = object()
            queue.append(ticket)
            deadline = time.monotonic() + self._timeout_s
            while self._holder is not None or self._next() is not ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    queue.remove(ticket)
                    self._changed.notify_all()
                    raise sqlite3.OperationalError("database is locked")
                self._changed.wait(remaining)
            queue.popleft()
            self._holder = owner

    def give_back(self, owner: object) -> None:
        """End ``owner``'s turn, if it holds one (a rollback may follow a commit)."""
        with self._changed:
            if self._holder is owner:
                self._holder = None
                self._changed.notify_all()

    def waiting(self) -> tuple[int, int]:
        """(urgent, other) writers waiting for their turn."""
        with self._changed:
            return len(self._urgent), len(self._normal)

    def _next(self) -> object | None:
        if self._urgent:
            return self._urgent[0]
        return self._normal[0] if self._normal else None
