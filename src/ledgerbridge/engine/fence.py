"""Fenced runs: at most one run of a connection writes its sync state at any moment.

A job's lease says who *should* run it, but a worker that froze (a slow API, a paused VM, a
stop signal) does not know that its lease expired and another worker took the job over. So a
run begins by bumping the connection's epoch (``run_fences``), and every engine transaction
of the run checks, just before it commits, that the epoch is still the one it began with. A
superseded run gets ``RunFenced`` at its next write and that transaction rolls back: nothing
it does after the takeover is stored, and since each remote write is recorded in a fenced
transaction before it is sent, it sends nothing new either.

On PostgreSQL the check reads the fence row ``FOR SHARE``, so a takeover (an ``UPDATE`` of
that row) waits until a check-and-commit in flight has committed: each commit happens
entirely before or entirely after the takeover. SQLite has one writer at a time, which gives
the same order.

A run frozen in the middle of a transaction would hold its row locks (the fence row among
them) and so block the run taking over for as long as it stays frozen. A fenced transaction
therefore lets PostgreSQL end it once it has sat idle for a while (``store.db.end_when_idle``:
the engine never waits on an API inside a transaction, so only a frozen or stuck run gets
there); the frozen run finds its connection gone when it resumes, and learns that it was
superseded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.store.db import dialect_insert, end_when_idle
from ledgerbridge.store.tables.fences import RunFence


class RunFenced(Exception):
    """A newer run of the connection began: this run must stop, and its write was refused."""


@dataclass(frozen=True)
class FenceToken:
    """The epoch a run began with; its writes are valid only while the epoch is current."""

    connection_id: str
    epoch: int
    run_id: str | None = None

    def open(self, session: Session) -> None:
        """Start a fenced transaction: on PostgreSQL it is ended by the server if it sits idle,
        so a frozen run cannot hold a takeover back."""
        end_when_idle(session)

    def verify(self, session: Session) -> None:
        """Raise ``RunFenced`` unless the epoch is still current. Inside the transaction about
        to commit, so that on PostgreSQL the row lock holds a takeover back until it has."""
        self._check(session, lock=True)

    def ensure_current(self, sessions: sessionmaker[Session]) -> None:
        """Raise ``RunFenced`` if the run was superseded, in a read of its own. Checked before
        every API call, so a run resumed after a takeover stops before its next call, not only
        at its next write (a freeze between this check and the request itself can still let
        one call out; its outcome is refused at the next write); and after a fenced
        transaction failed in the database, so a run whose frozen transaction the server
        ended learns why."""
        with sessions() as session:
            self._check(session, lock=False)

    def _check(self, session: Session, *, lock: bool) -> None:
        query = sa.select(RunFence.epoch, RunFence.run_id).where(
            RunFence.connection_id == self.connection_id
        )
        current = session.execute(query.with_for_update(read=True) if lock else query).first()
        if current is None or current.epoch != self.epoch:
            newer = "the connection was removed" if current is None else (
                f"run {current.run_id} took over (epoch {current.epoch})"
            )  # fmt: skip
            raise RunFenced(
                f"run {self.run_id} (epoch {self.epoch}) of connection {self.connection_id} "
                f"superseded, {newer}: its write or call was refused"
            )


def begin_fenced_run(
    sessions: sessionmaker[Session], clock: Clock, connection_id: str, run_id: str | None
) -> FenceToken:
    """Take the connection over for a new run: bump its epoch. Any older run still going is
    refused from its next write on."""
    with sessions.begin() as session:
        insert = dialect_insert(session)
        statement = insert(RunFence).values(
            connection_id=connection_id, epoch=1, run_id=run_id, began_at=clock.now()
        )
        statement = statement.on_conflict_do_update(
            index_elements=[RunFence.connection_id],
            set_={
                "epoch": RunFence.epoch + 1,
                "run_id": statement.excluded.run_id,
                "began_at": statement.excluded.began_at,
            },
        )
        epoch = session.execute(statement.returning(RunFence.epoch)).scalar_one()
    return FenceToken(connection_id, int(epoch), run_id)


_ACTIVE: ContextVar[FenceToken | None] = ContextVar("ledgerbridge_run_fence", default=None)


@contextmanager
def fenced(token: FenceToken | None) -> Iterator[None]:
    """Check ``token`` in every engine write transaction made inside this block (a run's
    action); ``None`` leaves writes unfenced (a run built without a fence, e.g. in tests)."""
    reset = _ACTIVE.set(token)
    try:
        yield
    finally:
        _ACTIVE.reset(reset)


def active_fence() -> FenceToken | None:
    """The fence of the run this thread is executing, if any."""
    return _ACTIVE.get()
