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


class _Ticket:
    """A writer waiting in the queue: woken alone when the turn is handed to it."""

    __slots__ = ("handed", "owner")

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.handed = threading.Event()


class WriteTurns:
    """The turn is handed from one writer to the next: ``give_back`` makes the first in the
    queue the holder and wakes that one thread only. (Waking every waiter to let them check
    whose turn it was cost each commit as many thread switches as writers were waiting, and
    the holder of the lock shared the interpreter with all of them.)"""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._holder: object | None = None
        self._urgent: deque[_Ticket] = deque()
        self._normal: deque[_Ticket] = deque()

    def take(self, owner: object) -> None:
        """Wait for the turn, then hold it for ``owner`` (a database connection)."""
        with self._lock:
            if self._holder is None:  # nobody holds it, so nobody waits for it either
                self._holder = owner
                return
            ticket = _Ticket(owner)
            (self._urgent if _URGENT.get() else self._normal).append(ticket)
        if ticket.handed.wait(self._timeout_s):
            return
        with self._lock:
            if ticket.handed.is_set():  # handed over as the wait ran out
                return
            (self._urgent if ticket in self._urgent else self._normal).remove(ticket)
        raise sqlite3.OperationalError("database is locked")

    def give_back(self, owner: object) -> None:
        """End ``owner``'s turn, if it holds one (a rollback may follow a commit), and hand
        it to the next writer waiting."""
        with self._lock:
            if self._holder is not owner:
                return
            queue = self._urgent or self._normal
            if not queue:
                self._holder = None
                return
            ticket = queue.popleft()
            self._holder = ticket.owner
            ticket.handed.set()

    def waiting(self) -> tuple[int, int]:
        """(urgent, other) writers waiting for their turn."""
        with self._lock:
            return len(self._urgent), len(self._normal)
