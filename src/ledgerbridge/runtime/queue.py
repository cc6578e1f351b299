"""A durable job queue in our own tables, the same on SQLite and PostgreSQL.

Why not a job library: the embedded mode runs on SQLite and must survive ``kill -9``, and no
candidate offered a durable SQLite backend with per-connection serialization. The rules live in
the database (see ``ledgerbridge.store.tables.runtime``), so they hold for threads in one process
and for worker processes on many machines alike:

- at most one running job per connection; other connections run in parallel;
- at most one queued job per dedupe key, so bursts coalesce; a running job does not count, so a
  change that arrives during a run is picked up by the next one;
- a claim is a lease: the worker renews it from a background thread while the job runs; a
  worker that dies stops renewing it, and once it expires the job goes back to the queue (the
  next claim does this itself, so a dead worker blocks its connection for at most one lease).

This is the embedded backend's queue (``ledgerbridge.runtime.jobqueue.embedded``); worker
processes on PostgreSQL use procrastinate instead.

Every method is one short transaction; no transaction is held while a job runs. On PostgreSQL
the claim uses ``FOR UPDATE SKIP LOCKED`` so workers do not wait for each other; on SQLite every
transaction is ``BEGIN IMMEDIATE`` and writers are serialized anyway.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue import port
from ledgerbridge.runtime.jobqueue.port import (
    MERGED_INTO,
    JobTally,
    LeaseLost,
    ProgressProbe,
    RecoveredHook,
)
from ledgerbridge.store.base import UTCDateTime, new_id
from ledgerbridge.store.tables.runtime import FINISHED_STATUSES, Job

# Integrity errors here only come from races with other workers; a few retries settle them.
_RACE_RETRIES = 8
_MAX_ERROR_CHARS = 2000

_T = TypeVar("_T")

# Statements are built once: building them per claim costs more than running them on SQLite.
_NOW = sa.bindparam("now", type_=UTCDateTime())
_KINDS: sa.BindParameter[str] = sa.bindparam("kinds", expanding=True)


def _claim_statement(*, of_kinds: bool) -> sa.Select[Job]:
    """The first due job, in claim order, among the jobs that head their connection's line.

    Only a connection's head job is a candidate: when another worker has it locked, SKIP
    LOCKED passes over the whole connection instead of taking its second job, which would
    only collide with the first on the one-running-job index.
    """
    running = aliased(Job, name="running")
    earlier = aliased(Job, name="earlier")
    # The order of ix_jobs_claim, so that the scan stops at the first candidate; the id
    # settles the rare tie of two jobs enqueued with the same seq.
    order = (Job.priority, Job.run_after, Job.seq)
    ahead = sa.exists().where(
        earlier.connection_id == Job.connection_id,
        earlier.status == "queued",
        earlier.run_after <= _NOW,
        sa.tuple_(earlier.priority, earlier.run_after, earlier.seq, earlier.id)
        < sa.tuple_(*order, Job.id),
    )
    if of_kinds:
        ahead = ahead.where(earlier.kind.in_(_KINDS))
    busy = sa.exists().where(
        running.connection_id == Job.connection_id, running.status == "running"
    )
    query = sa.select(Job).where(
        Job.status == "queued",
        Job.run_after <= _NOW,
        sa.or_(Job.connection_id.is_(None), sa.and_(~busy, ~ahead)),
    )
    if of_kinds:
        query = query.where(Job.kind.in_(_KINDS))
    return query.order_by(*order).limit(1).with_for_update(skip_locked=True, of=Job)


_CLAIM_ANY_KIND = _claim_statement(of_kinds=False)
_CLAIM_OF_KINDS = _claim_statement(of_kinds=True)
# Under concurrent enqueues on PostgreSQL two jobs may share a number; they were enqueued at
# the same time, so either order is FIFO.
_NEXT_SEQ = sa.select(sa.func.coalesce(sa.func.max(Job.seq), 0) + 1).scalar_subquery()
_RUNNING = sa.select(Job).where(Job.status == "running").with_for_update(skip_locked=True)
_EXPIRED = _RUNNING.where(Job.lease_until < _NOW)


@dataclass(frozen=True)
class ClaimedJob(port.RunningJob):
    """A job as handed to the worker that holds its lease.

    ``lease_owner`` is the worker id plus a per-claim suffix, so that a stale handle from an
    earlier claim can never complete or renew a later claim of the same job, even by the same
    worker.
    """

    lease_owner: str = ""


@dataclass(frozen=True)
class JobInfo(port.JobInfo):
    """A job row with what only this queue keeps: the lease, the attempt limit, the result."""

    max_attempts: int = 1
    lease_owner: str | None = None
    lease_until: datetime | None = None
    result: dict[str, Any] | None = None


# A folded job is a cancelled row whose result names its twin: the status column keeps its
# values, so rows written before read as they were.
_MERGED = Job.result[MERGED_INTO].as_string().is_not(None)


def _merged_into(job: Job) -> str | None:
    twin = job.result.get(MERGED_INTO) if isinstance(job.result, dict) else None
    return str(twin) if job.status == "cancelled" and twin else None


def _status_filter(statuses: Collection[str]) -> sa.ColumnElement[bool]:
    """The rows of the asked states, ``merged`` and ``cancelled`` told apart."""
    plain = [status for status in statuses if status not in ("cancelled", "merged")]
    conditions: builtins.list[sa.ColumnElement[bool]] = [Job.status.in_(plain)]
    if "cancelled" in statuses:
        conditions.append(sa.and_(Job.status == "cancelled", ~_MERGED))
    if "merged" in statuses:
        conditions.append(sa.and_(Job.status == "cancelled", _MERGED))
    return sa.or_(*conditions)


def _info(job: Job) -> JobInfo:
    merged_into = _merged_into(job)
    return JobInfo(
        id=job.id,
        kind=job.kind,
        connection_id=job.connection_id,
        tenant_id=job.tenant_id,
        payload=dict(job.payload or {}),
        status="merged" if merged_into else job.status,
        priority=job.priority,
        run_after=job.run_after,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        dedupe_key=job.dedupe_key,
        lease_owner=job.lease_owner,
        lease_until=job.lease_until,
        last_error=job.last_error,
        result=job.result,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        merged_into=merged_into,
    )


def _clip(error: str) -> str:
    return error if len(error) <= _MAX_ERROR_CHARS else error[: _MAX_ERROR_CHARS - 1] + "…"


class JobQueue:
    """Enqueue, claim and settle jobs; every call is its own short transaction."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Clock, *, lease_seconds: float = 60.0
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._session_factory = session_factory
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self.on_enqueue: Callable[[], None] | None = None
        """Called once a new job is committed: wire it to ``Worker.wake`` so that idle worker
        threads of this process start it without waiting for their next poll."""
        self.on_recovered: RecoveredHook | None = None
        """Called, after commit, with the ids of jobs put back because their worker died."""
        self.progressed: ProgressProbe | None = None
        """Asked, for each job put back, whether its dead run wrote records: then its attempts
        are counted afresh."""

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def lease_seconds(self) -> float:
        return self._lease.total_seconds()

    def enqueue(
        self,
        kind: str,
        *,
        connection_id: str | None = None,
        tenant_id: str | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
        run_after: datetime | None = None,
        priority: int = 100,
        max_attempts: int = 5,
        session: Session | None = None,
    ) -> str:
        """Add a job and return its id; with a dedupe key that already has a queued job, return
        that job's id and leave it as it is.

        Pass ``session`` to add the job inside the caller's transaction (an inbox row and the
        job that processes it commit together); otherwise the job commits on its own.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if run_after is not None and run_after.tzinfo is None:
            raise ValueError("run_after must be timezone-aware")
        values: dict[str, Any] = {
            "kind": kind,
            "connection_id": connection_id,
            "tenant_id": tenant_id,
            "payload": dict(payload or {}),
            "dedupe_key": dedupe_key,
            "priority": priority,
            "max_attempts": max_attempts,
            "run_after": run_after,
        }
        if session is not None:
            job_id, added = self._enqueue_in(session, values)
            if added and self.on_enqueue is not None:
                hook = self.on_enqueue
                sa.event.listen(session, "after_commit", lambda _session: hook(), once=True)
            return job_id
        job_id, added = self._transaction(lambda own: self._enqueue_in(own, values))
        if added and self.on_enqueue is not None:
            self.on_enqueue()
        return job_id

    def _enqueue_in(self, session: Session, values: dict[str, Any]) -> tuple[str, bool]:
        """The job id, and whether it is a new job rather than a queued one coalesced."""
        key = values["dedupe_key"]
        races = 0
        while True:
            if key is not None:
                existing = session.scalar(
                    sa.select(Job.id).where(Job.dedupe_key == key, Job.status == "queued")
                )
                if existing is not None:
                    return existing, False
            now = self._clock.now()
            job_id = new_id()
            try:
                # A savepoint: losing the race to a concurrent enqueue of the same key must
                # not abort the caller's transaction.
                with session.begin_nested():
                    session.execute(
                        sa.insert(Job).values(
                            id=job_id,
                            status="queued",
                            attempts=0,
                            created_at=now,
                            seq=_NEXT_SEQ,
                            **{**values, "run_after": values["run_after"] or now},
                        )
                    )
            except IntegrityError:
                races += 1
                if key is None or races >= _RACE_RETRIES:
                    raise
                continue
            return job_id, True

    def hasten(self, connection_id: str, held_until: datetime) -> int:
        """Queued jobs of the connection held until exactly ``held_until`` run now."""
        now = self._clock.now()

        def move(session: Session) -> int:
            moved = session.execute(
                sa.update(Job)
                .where(
                    Job.connection_id == connection_id,
                    Job.status == "queued",
                    Job.run_after == held_until,
                )
                .values(run_after=now)
            )
            return int(moved.rowcount)  # type: ignore[attr-defined]

        hastened = self._transaction(move)
        if hastened and self.on_enqueue is not None:
            self.on_enqueue()
        return hastened

    def _transaction(self, work: Callable[[Session], _T]) -> _T:
        """Run ``work`` in a fresh transaction, again if it lost a race to another worker."""
        races = 0
        while True:
            try:
                with self._session_factory.begin() as session:
                    return work(session)
            except IntegrityError:
                races += 1
                if races >= _RACE_RETRIES:
                    raise

    def claim(self, worker_id: str, kinds: Collection[str] | None = None) -> ClaimedJob | None:
        """Take the next due job whose connection has nothing running, or None.

        Order: lowest priority, then oldest ``run_after``, then enqueue order. Running
        jobs whose lease has expired are put back first, so a crashed worker's job is retried
        ahead of younger work of its connection.
        """
        if kinds is not None and not kinds:
            return None
        recovered: builtins.list[str] = []
        claimed = self._transaction(
            lambda session: self._claim_in(session, worker_id, kinds, recovered)
        )
        self._announce(recovered)
        return claimed

    def _claim_in(
        self,
        session: Session,
        worker_id: str,
        kinds: Collection[str] | None,
        recovered: builtins.list[str],
    ) -> ClaimedJob | None:
        now = self._clock.now()
        recovered[:] = self._recover(session, now, expired_only=True)
        if kinds is None:
            job = session.scalars(_CLAIM_ANY_KIND, {"now": now}).first()
        else:
            job = session.scalars(_CLAIM_OF_KINDS, {"now": now, "kinds": list(kinds)}).first()
        if job is None:
            return None
        token = f"{worker_id}#{secrets.token_hex(4)}"
        attempts = job.attempts + 1
        # The partial unique index rejects this if another worker has just set a job of the
        # same connection running; the transaction then starts over with fresh data.
        session.execute(
            sa.update(Job)
            .where(Job.id == job.id)
            .values(
                status="running",
                attempts=attempts,
                lease_owner=token,
                lease_until=now + self._lease,
                started_at=now,
            )
        )
        return ClaimedJob(
            id=job.id,
            kind=job.kind,
            connection_id=job.connection_id,
            tenant_id=job.tenant_id,
            payload=dict(job.payload or {}),
            attempts=attempts,
            lease_owner=token,
        )

    def heartbeat(self, job: ClaimedJob) -> None:
        """Extend the lease of a job we still hold; raise LeaseLost otherwise."""
        now = self._clock.now()
        self._settle(job, lease_until=now + self._lease)

    def complete(self, job: ClaimedJob, result: dict[str, Any] | None = None) -> None:
        """Record success; raise LeaseLost if the job is no longer ours."""
        now = self._clock.now()
        self._settle(
            job,
            status="done",
            result=result,
            lease_owner=None,
            lease_until=None,
            finished_at=now,
        )

    def fail(self, job: ClaimedJob, error: str, *, retry_in: timedelta | None = None) -> None:
        """Record a failed attempt: queued again after ``retry_in`` while attempts remain,
        otherwise failed for good. Raise LeaseLost if the job is no longer ours."""

        def record(session: Session) -> None:
            now = self._clock.now()
            row = self._held(session, job)
            if retry_in is not None and row.attempts < row.max_attempts:
                self._requeue(session, row, run_after=now + retry_in, error=_clip(error), now=now)
            else:
                self._finish(session, row, "failed", _clip(error), now)

        self._transaction(record)

    def release(self, job: ClaimedJob, *, run_after: datetime) -> None:
        """Give a job back without counting the attempt (the quota is spent: try tomorrow)."""
        if run_after.tzinfo is None:
            raise ValueError("run_after must be timezone-aware")

        def give_back(session: Session) -> None:
            row = self._held(session, job)
            row.attempts -= 1
            self._requeue(
                session, row, run_after=run_after, error=row.last_error, now=self._clock.now()
            )

        self._transaction(give_back)

    def recover_expired(self) -> int:
        """Put running jobs whose lease has expired back in the queue; return how many.

        A job whose attempts are used up is failed instead, so a job that kills its worker
        every time cannot loop forever; a dead run that wrote records starts the count afresh.
        """
        return self._recover_in_own_transaction(expired_only=True)

    def recover_all_running(self) -> int:
        """At embedded start-up after ``kill -9``: nothing else can be running, so every
        running job is recovered as if its lease had expired."""
        return self._recover_in_own_transaction(expired_only=False)

    def _recover_in_own_transaction(self, *, expired_only: bool) -> int:
        recovered = self._transaction(
            lambda session: self._recover(session, self._clock.now(), expired_only=expired_only)
        )
        self._announce(recovered)
        return len(recovered)

    def _announce(self, recovered: builtins.list[str]) -> None:
        if recovered and self.on_recovered is not None:
            self.on_recovered(recovered)

    def _recover(
        self, session: Session, now: datetime, *, expired_only: bool
    ) -> builtins.list[str]:
        if expired_only:
            rows = session.scalars(_EXPIRED, {"now": now}).all()
        else:
            rows = session.scalars(_RUNNING).all()
        for row in rows:
            error = f"lease of {row.lease_owner} lost (worker stopped or too slow)"
            if self.progressed is not None and self.progressed(session, row.id):
                row.attempts = 0
            if row.attempts < row.max_attempts:
                # The original run_after keeps its place ahead of younger jobs.
                self._requeue(session, row, run_after=row.run_after, error=error, now=now)
            elif not self._folded(session, row, error=error, now=now):
                self._finish(session, row, "failed", error, now)
        return [row.id for row in rows]

    def _held(self, session: Session, job: ClaimedJob) -> Job:
        row = session.scalars(
            sa.select(Job)
            .where(Job.id == job.id, Job.status == "running", Job.lease_owner == job.lease_owner)
            .with_for_update()
        ).first()
        if row is None:
            raise LeaseLost(job.id)
        return row

    def _settle(self, job: ClaimedJob, **values: Any) -> None:
        with self._session_factory.begin() as session:
            done = session.execute(
                sa.update(Job)
                .where(
                    Job.id == job.id, Job.status == "running", Job.lease_owner == job.lease_owner
                )
                .values(**values)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLost(job.id)

    def _requeue(
        self, session: Session, row: Job, *, run_after: datetime, error: str | None, now: datetime
    ) -> None:
        """Back to the queue, unless a queued job with the same dedupe key already waits: then
        that job does the work and this one is folded into it (the unique index allows only
        one)."""
        if self._folded(session, row, error=error, now=now):
            return
        row.status = "queued"
        row.run_after = run_after
        row.last_error = error
        row.lease_owner = None
        row.lease_until = None
        session.flush()

    def _folded(self, session: Session, row: Job, *, error: str | None, now: datetime) -> bool:
        """Fold ``row`` into the queued job with its dedupe key, if one waits: ``merged``
        (kept as cancelled, the twin's id in its result), no failure, as that job does its
        work. True if it was."""
        if row.dedupe_key is None:
            return False
        waiting = session.scalar(
            sa.select(Job.id).where(Job.dedupe_key == row.dedupe_key, Job.status == "queued")
        )
        if waiting is None:
            return False
        note = f"folded into queued job {waiting}, which does its work"
        row.result = {MERGED_INTO: waiting}
        self._finish(session, row, "cancelled", f"{error}; {note}" if error else note, now)
        return True

    @staticmethod
    def _finish(session: Session, row: Job, status: str, error: str | None, now: datetime) -> None:
        row.status = status
        row.last_error = error
        row.lease_owner = None
        row.lease_until = None
        row.finished_at = now
        session.flush()

    def get(self, job_id: str) -> JobInfo | None:
        with self._session_factory() as session:
            job = session.get(Job, job_id)
            return None if job is None else _info(job)

    def get_many(self, job_ids: Collection[str]) -> dict[str, JobInfo]:
        if not job_ids:
            return {}
        with self._session_factory() as session:
            jobs = session.scalars(sa.select(Job).where(Job.id.in_(list(job_ids))))
            return {job.id: _info(job) for job in jobs}

    def list(
        self,
        *,
        connection_id: str | None = None,
        statuses: Collection[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[JobInfo]:
        """Newest first."""
        query = sa.select(Job)
        if connection_id is not None:
            query = query.where(Job.connection_id == connection_id)
        if statuses is not None:
            query = query.where(_status_filter(statuses))
        query = query.order_by(Job.seq.desc(), Job.id).limit(limit)
        with self._session_factory() as session:
            return [_info(job) for job in session.scalars(query)]

    def tally(self) -> JobTally:
        now = self._clock.now()
        with self._session_factory() as session:
            jobs: dict[tuple[str, str], int] = {}
            for kind, state, count in session.execute(
                sa.select(Job.kind, Job.status, sa.func.count()).group_by(Job.kind, Job.status)
            ):
                jobs[(kind, state)] = int(count)
            merged = sa.select(Job.kind, sa.func.count()).where(Job.status == "cancelled", _MERGED)
            for kind, count in session.execute(merged.group_by(Job.kind)):
                jobs[(kind, "merged")] = int(count)
                jobs[(kind, "cancelled")] -= int(count)
                if not jobs[(kind, "cancelled")]:
                    del jobs[(kind, "cancelled")]
            due, oldest = session.execute(
                sa.select(sa.func.count(), sa.func.min(Job.run_after)).where(
                    Job.status == "queued", Job.run_after <= now
                )
            ).one()
        return JobTally(jobs=jobs, due=int(due), oldest_due_at=oldest)

    def purge_finished(self, older_than: timedelta) -> int:
        """Delete done, failed and cancelled jobs that finished more than ``older_than`` ago."""
        cutoff = self._clock.now() - older_than
        with self._session_factory.begin() as session:
            result = session.execute(
                sa.delete(Job).where(Job.status.in_(FINISHED_STATUSES), Job.finished_at < cutoff)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
