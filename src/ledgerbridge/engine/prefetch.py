"""Reading a stream one page ahead: while the engine applies a page, the next is on its way.

A cloud API answers a page in a few hundred milliseconds; applying it takes about as long. Read
one after the other, an import waits for both; with the next page read in a thread while the
last is applied, it waits for the slower of the two. Only a page the last one says exists is
read ahead, so the calls are the same as reading in turn (a run that stops loses at most the
page in flight, as before).

On SQLite a writing transaction holds the database's write lock from its first statement, and
every API call is first booked in the quota ledger in a transaction of its own: the page being
applied would make the read ahead wait for its booking, and so for the whole page. The engine
therefore lets the read ahead book its call first (``call_booked``, told by the runtime's
meter) and only then opens the page's transaction.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from ledgerbridge.connectors.base import Connector, Page

T = TypeVar("T")

_BOOKED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "ledgerbridge_call_booked", default=None
)


def call_booked() -> None:
    """Called once an API call is counted in the quota ledger: a read running ahead has
    written what it had to, and the engine may start its own write transaction."""
    event = _BOOKED.get()
    if event is not None:
        event.set()


def read_ahead(
    connector: Connector,
    stream: str,
    after: str | None,
    limit: int,
    prepare: Callable[[Page], T],
) -> Generator[tuple[Page, T], None, None]:
    """A stream's pages from ``after``, each next one read while the caller applies the last,
    with what ``prepare`` made of it (worked out in the reading thread too: while the caller
    waits on the database, which lets go of the interpreter, the next page's rows are mapped).

    The read ahead runs in the caller's context (its run fence holds there too). If the caller
    stops (an error, a superseded run), the read in flight is waited for, never left running on
    a connector about to be closed; its outcome is dropped."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        page = connector.read_page(stream, after, limit)
        prepared = prepare(page)
        while True:
            if not page.more:
                yield page, prepared
                return
            booked = threading.Event()
            upcoming = pool.submit(
                contextvars.copy_context().run,
                _read, booked, connector, stream, page.after, limit, prepare,
            )  # fmt: skip
            booked.wait()
            yield page, prepared
            page, prepared = upcoming.result()


def _read(
    booked: threading.Event,
    connector: Connector,
    stream: str,
    after: str | None,
    limit: int,
    prepare: Callable[[Page], T],
) -> tuple[Page, T]:
    token = _BOOKED.set(booked)
    try:
        page = connector.read_page(stream, after, limit)
    finally:
        _BOOKED.reset(token)
        booked.set()  # a page read without a call (or a failed one) releases the caller too
    return page, prepare(page)


class Later:
    """An action run in a thread once started, in the context of whoever started it, while
    that caller goes on: an import counts its streams (for its progress) once the first page
    came back, beside the next reads, instead of before them. Started only then, so a run
    the API refuses from its first call (throttled, logged out) makes that one call only."""

    def __init__(self, pool: ThreadPoolExecutor, action: Callable[[], None]) -> None:
        self._pool = pool
        self._action = action
        self._running: Future[None] | None = None

    def start(self) -> None:
        if self._running is None:
            self._running = self._pool.submit(contextvars.copy_context().run, self._action)

    def result(self) -> None:
        """Start it if not yet, wait for it, and raise what it raised."""
        self.start()
        if self._running is not None:
            self._running.result()


@contextmanager
def later(action: Callable[[], None]) -> Iterator[Later]:
    """A ``Later`` of ``action``; leaving the block waits for it if it was started, so it
    never outlives the connector it uses."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="later") as pool:
        yield Later(pool, action)
