"""Turn-taking for SQLite's one write lock among the threads of this process.

SQLite lets one transaction write at a time; the others wait in its busy handler, which
sleeps and polls (up to 100 ms between tries), so a waiter can lose its turn again and again
to threads arriving later. Under a burst of API writes a callback's acknowledgement (one short
insert) would then wait for many of them. Here writers wait on a condition instead: turns go
in arrival order, a transaction marked urgent (``first``) goes before every waiting one, and
waiting holds no pooled connection. On SQLite this process is the only one on its database
(embedded mode); a turn not given within the busy timeout is taken anyway, so SQLite's own
locking decides, as it did without the gate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine

from ledgerbridge.store.db import SessionFactory

T = TypeVar("T")
_marks = threading.local()


def first(action: Callable[..., T], *args: Any) -> T:
    """Run ``action`` with its write transactions going before every waiting one."""
    _marks.urgent = True
    try:
        return action(*args)
    finally:
        _marks.urgent = False


class WriteGate:
    def __init__(self, timeout: float = 30.0) -> None:
        """``timeout``: as SQLite's busy timeout (``store.db``), the longest a writer waited."""
        self.timeout = timeout
        self._cond = threading.Condition()
        self._holder: int | None = None
        self._depth = 0
        self._urgent = 0
        self._queue: deque[int] = deque()
        self._tickets = 0

    def _free_for(self, ticket: int | None) -> bool:
        if self._holder is not None:
            return False
        return ticket is None or (self._urgent == 0 and self._queue[0] == ticket)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The write turn for the block (re-entered freely by the thread holding it)."""
        me = threading.get_ident()
        with self._cond:
            if self._holder != me:
                self._wait(me, urgent=getattr(_marks, "urgent", False))
            held = self._holder == me
            if held:
                self._depth += 1
        try:
            yield
        finally:
            if held:
                with self._cond:
                    self._depth -= 1
                    if self._depth == 0:
                        self._holder = None
                        self._cond.notify_all()

    def _wait(self, me: int, *, urgent: bool) -> None:
        """Wait (condition held) for the turn; gives up after ``timeout``."""
        ticket = None
        if urgent:
            self._urgent += 1
        else:
            self._tickets += 1
            ticket = self._tickets
            self._queue.append(ticket)
        deadline = time.monotonic() + self.timeout
        try:
            while not self._free_for(ticket):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)
            self._holder = me
        finally:
            if ticket is None:
                self._urgent -= 1
            else:
                self._queue.remove(ticket)
            # The head of the queue may have changed: let the next waiter look again.
            self._cond.notify_all()


class GatedSessions(SessionFactory):
    """Sessions whose writing transactions (``begin``) take their turn at the gate first."""

    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        super().__init__(engine)
        self.gate = gate

    @contextmanager
    def begin(self) -> Iterator[Any]:
        with self.gate.turn(), super().begin() as session:
            yield session
