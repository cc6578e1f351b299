"""What the rest of the product knows about background jobs, whichever backend runs them.

Callers describe work as a ``Command`` and hand it to a ``JobBackend``; handlers receive a
``JobContext``. The rules every backend keeps (checked by one contract test suite):

- jobs of one connection run one at a time, in order (priority, then enqueue order);
- a command whose dedupe key already has a waiting job is folded into that job; so is a job
  whose retry finds such a twin waiting, or whose worker died while one waits: it ends
  ``merged``, naming the twin, never ``failed``;
- ``Postpone`` gives a job back until a later time without holding up the connection's other
  jobs and without counting an attempt;
- other failures retry with a short exponential backoff, the connection waiting meanwhile;
- a job whose worker died is run again, and the run it left is closed as interrupted;
- a command enqueued inside a transaction exists only if that transaction commits.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ledgerbridge.clock import Clock

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "merged")
"""Job states as the status API shows them, the same for every backend. ``merged``: the job
was folded into a waiting job with its dedupe key (``JobInfo.merged_into``), which does its
work; no failure, whatever its last attempt's error."""
FINISHED_JOB_STATUSES = ("done", "failed", "cancelled", "merged")
MERGED_INTO = "merged_into"
"""Where a backend keeps the id of the job a job was folded into."""

DEFAULT_PRIORITY = 100
"""Lower runs first."""


@dataclass(frozen=True)
class Command:
    """A request for background work: run ``kind`` for a connection."""

    kind: str
    connection_id: str | None = None
    tenant_id: str | None = None
    dedupe_key: str | None = None
    priority: int = DEFAULT_PRIORITY
    run_after: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.run_after is not None and self.run_after.tzinfo is None:
            raise ValueError("run_after must be timezone-aware")


@dataclass(frozen=True)
class RunningJob:
    """A job as its handler sees it."""

    id: str
    kind: str
    connection_id: str | None
    tenant_id: str | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class JobInfo:
    """A read-only snapshot of a job, for status pages and tests."""

    id: str
    kind: str
    connection_id: str | None
    tenant_id: str | None
    payload: dict[str, Any]
    status: str
    priority: int
    run_after: datetime | None
    attempts: int
    dedupe_key: str | None
    last_error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    merged_into: str | None = None
    """The waiting job this one was folded into (status ``merged``)."""


@dataclass(frozen=True)
class JobTally:
    """What the queue holds now, for the metrics: jobs per (kind, state), and the jobs due
    now that no worker has taken yet (the queue's depth) with the oldest one's due time."""

    jobs: dict[tuple[str, str], int]
    due: int
    oldest_due_at: datetime | None


class LeaseLost(Exception):
    """The job is no longer ours (another worker took it over after we looked dead). The
    holder must stop and must not record a result."""


class WorkerStopping(Exception):
    """Raised by a handler that ended early because its worker is stopping (SIGTERM): the job
    is given back to run at once, on any worker, without counting an attempt; its cursors make
    the next run resume where this one stopped."""


class RetryableError(Exception):
    """Raised by a handler to ask for another attempt after ``retry_in`` (for example the
    remote API answered 429 with Retry-After). Counts as an attempt."""

    def __init__(self, message: str, *, retry_in: timedelta) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class Postpone(Exception):
    """Raised by a handler to give the job back until ``run_after`` without counting an
    attempt (the daily call quota is spent: try after it resets)."""

    def __init__(self, run_after: datetime, reason: str = "") -> None:
        super().__init__(reason or f"postponed until {run_after.isoformat()}")
        self.run_after = run_after


def exponential_backoff(attempts: int) -> timedelta:
    """2 s after the first attempt, then 4 s, 8 s, … never more than 5 minutes: short, because
    the connection's later jobs wait behind a job that waits for its retry."""
    return timedelta(seconds=min(2.0 ** max(attempts, 1), 300.0))


def describe(error: BaseException) -> str:
    """Type and message only: a traceback may carry request bodies or tokens into the table."""
    return f"{type(error).__name__}: {error}"


class JobContext(Protocol):
    """What a handler gets: its job, the clock, and a check that the job is still its own."""

    @property
    def job(self) -> RunningJob: ...

    @property
    def clock(self) -> Clock: ...

    def heartbeat(self) -> None:
        """Raise LeaseLost if the job was taken over; cheap enough to call per page or record.
        Liveness itself is renewed by the runtime, whatever the handler's pace."""

    @property
    def stop_requested(self) -> bool:
        """Whether the worker was asked to stop: a long handler may then end at a point it can
        resume from and raise ``WorkerStopping``, instead of holding the shutdown up."""


Handler = Callable[[JobContext], dict[str, Any] | None]

RecoveredHook = Callable[[builtins.list[str]], None]
"""Called with the ids of jobs run again because their worker died (to close their runs)."""

ProgressProbe = Callable[[Session, str], bool]
"""Whether the run a dead worker left behind for this job wrote records. Such a job is run
again with its attempts counted afresh: a job that keeps getting through records finishes
however often its workers are killed, while one that kills its worker again and again without
progress still fails after its attempts."""


class JobRunner(Protocol):
    """Runs jobs through handlers in this process."""

    worker_id: str

    def run_once(self) -> bool:
        """Run one due job, if any; True if one ran."""

    def run_until_idle(self, max_jobs: int | None = None) -> int:
        """Run jobs until none is due (or ``max_jobs`` ran); return how many ran."""

    def run_forever(self, stop: Any) -> None:
        """Run jobs until the ``threading.Event`` ``stop`` is set."""

    def wake(self) -> None:
        """Look for work now (a job was just enqueued in this process)."""


class JobBackend(Protocol):
    """Enqueue, inspect and purge jobs, and make runners for them."""

    on_recovered: RecoveredHook | None
    progressed: ProgressProbe | None

    def enqueue(self, command: Command, *, session: Session | None = None) -> str:
        """Add a job and return its id, or the id of the waiting job it was folded into.

        With ``session`` the job is added in the caller's transaction: it exists only if that
        transaction commits (an inbox row and the job that processes it commit together)."""

    def get(self, job_id: str) -> JobInfo | None: ...

    def get_many(self, job_ids: Collection[str]) -> dict[str, JobInfo]:
        """The jobs of ``job_ids`` that exist, by id, read in one query (a page of runs
        names a job each)."""

    def list(
        self,
        *,
        connection_id: str | None = None,
        statuses: Collection[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[JobInfo]:
        """Newest first."""

    def purge_finished(self, older_than: timedelta) -> int:
        """Delete jobs that finished more than ``older_than`` ago; return how many."""

    def tally(self) -> JobTally:
        """Jobs per kind and state, and the depth of what is due now (one short read)."""

    def hasten(self, connection_id: str, held_until: datetime) -> int:
        """Run now the connection's waiting jobs held until exactly ``held_until`` (the next
        quota day's start, to which a spent quota postpones them), when the daily call limit
        was raised; answers how many. Jobs waiting for other reasons keep their time."""

    def runner(
        self,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int,
        poll_interval: float,
    ) -> JobRunner: ...

    def recover_at_start(self) -> int:
        """Embedded mode only has one process: jobs it left running are run again. Worker
        processes on PostgreSQL recover dead workers' jobs by their heartbeats instead."""

    def close(self) -> None: ...
