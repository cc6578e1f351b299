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

What a page's rows map to needs no database (``InboundSync.prepare``): it is worked out in a
third thread as soon as the page is read, beside the last page's writes, so a page's apply
starts with its rows mapped, validated and hashed.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol, TypeVar

from ledgerbridge.connectors.base import Page

T = TypeVar("T")


class PageReader(Protocol):
    """What reads a stream's pages: a connector, or the engine's ``linked_reads.Pages``."""

    def read_page(self, stream: str, after: str | None, limit: int) -> Page: ...


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
    connector: PageReader,
    stream: str,
    after: str | None,
    limit: int,
    prepare: Callable[[Page], T],
) -> Generator[tuple[Page, T], None, None]:
    """A stream's pages from ``after``, each next one read while the caller applies the last,
    with what ``prepare`` made of it.

    ``prepare`` runs in a thread of its own. A page read while the caller still applies the
    last one is prepared at once, beside the caller's writes (which let go of the interpreter
    while the database works). A page the caller was already waiting for (a slow API) is
    prepared once the read of the page after it is booked: the preparation would otherwise
    slow that booking (its writes wait for the interpreter too) and the API's wait with it.

    The reads and preparations run in the caller's context (its run fence holds there too).
    If the caller stops (an error, a superseded run), the read and preparation in flight are
    waited for, never left running on a connector about to be closed; their outcome is
    dropped."""
    waiting = threading.Event()
    """Set while the caller waits for the next page."""

    # The reader is left (its read in flight waited for) before the preparer it hands to.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as preparer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader,
    ):
        context = contextvars.copy_context()

        def prepared_later(page: Page) -> Future[T]:
            return preparer.submit(context.copy().run, prepare, page)

        page = connector.read_page(stream, after, limit)
        prepared: Future[T] | None = prepared_later(page)
        while True:
            if page.more:
                booked = threading.Event()
                upcoming = reader.submit(
                    context.copy().run,
                    _read, booked, waiting, connector, stream, page.after, limit, prepared_later,
                )  # fmt: skip
                booked.wait()
            yield page, (prepared or prepared_later(page)).result()
            if not page.more:
                return
            waiting.set()
            try:
                page, prepared = upcoming.result()
            finally:
                waiting.clear()


def _read(
    booked: threading.Event,
    waiting: threading.Event,
    connector: PageReader,
    stream: str,
    after: str | None,
    limit: int,
    prepared_later: Callable[[Page], Future[T]],
) -> tuple[Page, Future[T] | None]:
    token = _BOOKED.set(booked)
    try:
        page = connector.read_page(stream, after, limit)
    finally:
        _BOOKED.reset(token)
        booked.set()  # a page read without a call (or a failed one) releases the caller too
    return page, None if waiting.is_set() else prepared_later(page)


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
