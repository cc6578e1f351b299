"""The production backend: procrastinate on PostgreSQL, for worker processes on any machines.

How our rules map onto procrastinate:

- one job at a time per connection, in order: the job's ``lock`` is the connection;
- coalescing: ``queueing_lock`` is the dedupe key, and a command whose key already has a
  waiting job returns that job's id instead of raising ``AlreadyEnqueued``; a retry whose key
  meanwhile got a waiting twin is folded into the twin (procrastinate's retry does not check
  the queueing lock): it ends ``succeeded`` with the twin's id in its args, and reads as
  ``merged``;
- priorities: ours run lowest first, procrastinate's highest first, so the sign is flipped;
- postponement: procrastinate keeps a waiting job in its lock's line even when it is
  scheduled for later, which would stall the connection until the quota resets; a postponed
  job is therefore retried at the lowest priority, so every other job of its connection passes
  it;
- retries: a short exponential backoff (the connection waits meanwhile);
- dead workers: every worker renews its heartbeat from its event loop, independent of the
  handlers' threads; each worker process looks for jobs of workers silent for a lease and runs
  them again (their runs are closed as interrupted), and a worker that comes back after being
  taken over discards its outcome instead of recording it over the new holder's;
- jobs deferred in the caller's transaction use the SQLAlchemy session's psycopg connection.

procrastinate's schema is applied by our migration 0004, under the migration lock.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import socket
import threading
import time
from collections.abc import Collection, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as procrastinate_errors
from procrastinate import jobs as procrastinate_jobs
from procrastinate import worker as procrastinate_worker
from procrastinate.job_context import JobContext as ProcrastinateContext
from procrastinate.manager import JobManager
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue.port import (
    MERGED_INTO,
    Command,
    Handler,
    JobInfo,
    JobTally,
    LeaseLost,
    Postpone,
    ProgressProbe,
    RecoveredHook,
    RetryableError,
    RunningJob,
    WorkerStopping,
    describe,
    exponential_backoff,
)
from ledgerbridge.store.db import end_when_idle

T = TypeVar("T")

logger = logging.getLogger(__name__)

TASK = "ledgerbridge.job"
QUEUE = "ledgerbridge"
POSTPONED_PRIORITY = -2_000_000_000
"""procrastinate priority of a postponed job: below every other job of its connection."""
MAX_ATTEMPTS = 5
_RACE_RETRIES = 8

_STATUS_TO_OURS = {
    "todo": "queued",
    "doing": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "aborting": "running",
    "aborted": "cancelled",
}
_FOLDED = f"j.args->>'{MERGED_INTO}' IS NOT NULL"
_STATUS_CONDITIONS = {
    "queued": "j.status = 'todo'",
    "running": "j.status IN ('doing', 'aborting')",
    "done": f"(j.status = 'succeeded' AND NOT {_FOLDED})",
    "failed": f"(j.status = 'failed' AND NOT {_FOLDED})",
    "cancelled": "j.status IN ('cancelled', 'aborted')",
    "merged": f"(j.status IN ('succeeded', 'failed') AND {_FOLDED})",
}
"""Our states in procrastinate's terms: a folded job is a finished one naming its twin."""

_WAITING_TWIN = sa.text(
    "SELECT id FROM procrastinate_jobs WHERE queueing_lock = :key AND status = 'todo'"
)
_UNCOUNT = sa.text(
    "UPDATE procrastinate_jobs SET attempts = attempts - 1 WHERE id = :id AND attempts > 0"
)
_HASTEN = sa.text(
    "UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'"
    " AND args->>'connection_id' = :connection_id AND scheduled_at = :held_until"
)
_RESET_ATTEMPTS = sa.text("UPDATE procrastinate_jobs SET attempts = 0 WHERE id = :id")
_HOLDER = sa.text("SELECT status, worker_id FROM procrastinate_jobs WHERE id = :id")
_STILL_STALLED = sa.text(
    "SELECT id FROM procrastinate_jobs WHERE id = :id AND status = 'doing'"
    " AND worker_id IS NOT DISTINCT FROM :worker FOR UPDATE"
)
_RETRY_NOW = sa.text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)")
_FAIL = sa.text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)")
_SUCCEED = sa.text("SELECT procrastinate_finish_job_v1(:id, 'succeeded', false)")
_MARK_MERGED = sa.text(
    "UPDATE procrastinate_jobs"
    " SET args = args || jsonb_build_object(CAST(:field AS text), CAST(:twin AS text))"
    " WHERE id = :id AND status = 'doing' AND worker_id IS NOT DISTINCT FROM :worker"
)
# A job's timestamps are in procrastinate's event log.
_JOBS = """
SELECT j.id, j.status, j.priority, j.queueing_lock, j.args, j.scheduled_at, j.attempts,
       (SELECT min(e.at) FROM procrastinate_events e
         WHERE e.job_id = j.id AND e.type = 'deferred') AS created_at,
       (SELECT max(e.at) FROM procrastinate_events e
         WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
       (SELECT max(e.at) FROM procrastinate_events e
         WHERE e.job_id = j.id AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted'))
         AS finished_at
  FROM procrastinate_jobs j
 WHERE j.task_name = :task
"""
_TALLY = sa.text(
    f"""
SELECT j.args->>'kind' AS kind, j.status::text AS status,
       ({_FOLDED} AND j.status IN ('succeeded', 'failed')) AS folded, count(*) AS n
  FROM procrastinate_jobs j
 WHERE j.task_name = :task
 GROUP BY 1, 2, 3
"""
)
# A job deferred to run at once has no scheduled time: it is due since it was deferred.
_DUE = sa.text(
    """
SELECT count(*) AS n,
       min(coalesce(j.scheduled_at, (SELECT min(e.at) FROM procrastinate_events e
                                      WHERE e.job_id = j.id AND e.type = 'deferred'))) AS oldest
  FROM procrastinate_jobs j
 WHERE j.task_name = :task AND j.status = 'todo'
   AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
"""
)
_PURGE = sa.text(
    """
DELETE FROM procrastinate_jobs j
 WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
   AND NOT EXISTS (SELECT 1 FROM procrastinate_events e
                    WHERE e.job_id = j.id AND e.at >= :cutoff)
"""
)


def _conninfo(database_url: str) -> str:
    """A libpq connection string from our SQLAlchemy URL (``postgresql+psycopg://…``)."""
    url = sa.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _lock(command: Command) -> str | None:
    return None if command.connection_id is None else f"connection:{command.connection_id}"


def _info(row: sa.Row[Any]) -> JobInfo:
    args = dict(row.args or {})
    priority = int(row.priority)
    merged_into = args.get(MERGED_INTO) if row.status in ("succeeded", "failed") else None
    return JobInfo(
        id=str(row.id),
        kind=str(args.get("kind", "")),
        connection_id=args.get("connection_id"),
        tenant_id=args.get("tenant_id"),
        payload=dict(args.get("payload") or {}),
        status="merged" if merged_into else _STATUS_TO_OURS.get(row.status, row.status),
        priority=-priority if priority != POSTPONED_PRIORITY else -POSTPONED_PRIORITY,
        run_after=row.scheduled_at,
        attempts=int(row.attempts),
        dedupe_key=row.queueing_lock,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        merged_into=None if merged_into is None else str(merged_into),
    )


class _Retry(Exception):
    """Carries the retry decision from the task's thread to the retry strategy."""

    def __init__(self, decision: procrastinate.RetryDecision, cause: str) -> None:
        super().__init__(cause)
        self.decision = decision


class _DecidedRetry(procrastinate.BaseRetryStrategy):
    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate_jobs.Job
    ) -> procrastinate.RetryDecision | None:
        return exception.decision if isinstance(exception, _Retry) else None


class ProcrastinateJobContext:
    """The handler's view of a procrastinate job. ``heartbeat`` checks, at most every third
    of the lease, that the job is still held by this worker (liveness itself is the worker's
    heartbeat, renewed by its event loop)."""

    def __init__(
        self, backend: ProcrastinateBackend, job: RunningJob, worker_id: int | None
    ) -> None:
        self.job = job
        self._backend = backend
        self._worker_id = worker_id
        self._checked = time.monotonic()

    @property
    def clock(self) -> Clock:
        return self._backend.clock

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._backend.lease_seconds / 3:
            return
        self._checked = now
        if not self._backend.holds(int(self.job.id), self._worker_id):
            raise LeaseLost(self.job.id)

    @property
    def stop_requested(self) -> bool:
        return self._backend.stopping.is_set()


class ProcrastinateBackend:
    """``JobBackend`` on procrastinate. Enqueues and reads go through our SQLAlchemy sessions;
    only the workers open procrastinate's own connection pool."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        database_url: str,
        *,
        lease_seconds: float,
    ) -> None:
        self._sessions = session_factory
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.on_recovered: RecoveredHook | None = None
        self.progressed: ProgressProbe | None = None
        self.stopping = threading.Event()
        """Set when this process's worker is asked to stop (its running handlers may end)."""
        self.given_back: set[int] = set()
        """Jobs handed back at a stop, whose attempt is then not counted."""
        self._handlers: dict[str, Handler] = {}
        # The pool serves fetches, results, heartbeats and LISTEN; handlers use our own.
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=_conninfo(database_url), min_size=1, max_size=8
            )
        )
        self.app.task(name=TASK, queue=QUEUE, pass_context=True, retry=_DecidedRetry())(self._run)
        # Defers always run on the caller's connection, through a synchronous connector that
        # never opens a pool of its own (the app's connector turns asynchronous once a worker
        # of this process has opened it).
        self._deferrer = JobManager(procrastinate.SyncPsycopgConnector())

    # ------------------------------------------------------------------ enqueue and read

    def enqueue(self, command: Command, *, session: Session | None = None) -> str:
        if session is not None:
            return self._defer(session, command)
        with self._sessions.begin() as own:
            return self._defer(own, command)

    def _defer(self, session: Session, command: Command) -> str:
        key = command.dedupe_key
        for _ in range(_RACE_RETRIES):
            if key is not None:
                waiting = session.scalar(_WAITING_TWIN, {"key": key})
                if waiting is not None:
                    return str(waiting)
            connection = session.connection().connection.dbapi_connection
            job = procrastinate_jobs.Job(
                queue=QUEUE,
                task_name=TASK,
                lock=_lock(command),
                queueing_lock=key,
                priority=-command.priority,
                scheduled_at=command.run_after,
                task_kwargs={
                    "kind": command.kind,
                    "connection_id": command.connection_id,
                    "tenant_id": command.tenant_id,
                    "payload": dict(command.payload),
                },
            )
            try:
                # A savepoint: losing the race to a concurrent defer of the same key must not
                # abort the caller's transaction.
                with session.begin_nested():
                    deferred = self._deferrer.defer_job(job, connection=connection)
            except procrastinate_errors.AlreadyEnqueued:
                continue
            return str(deferred.id)
        raise RuntimeError(f"could not enqueue {command.kind}: dedupe key {key} kept racing")

    def get(self, job_id: str) -> JobInfo | None:
        if not job_id.isdigit():
            return None
        with self._sessions() as session:
            row = session.execute(
                sa.text(_JOBS + " AND j.id = :id"), {"task": TASK, "id": int(job_id)}
            ).first()
        return None if row is None else _info(row)

    def get_many(self, job_ids: Collection[str]) -> dict[str, JobInfo]:
        numbers = sorted({int(job_id) for job_id in job_ids if job_id.isdigit()})
        if not numbers:
            return {}
        query = sa.text(_JOBS + " AND j.id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
        with self._sessions() as session:
            rows = session.execute(query, {"task": TASK, "ids": numbers}).all()
        return {info.id: info for info in map(_info, rows)}

    def list(
        self,
        *,
        connection_id: str | None = None,
        statuses: Collection[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[JobInfo]:
        query = _JOBS
        params: dict[str, Any] = {"task": TASK, "limit": limit}
        if connection_id is not None:
            query += " AND j.lock = :lock"
            params["lock"] = f"connection:{connection_id}"
        if statuses is not None:
            conditions = [_STATUS_CONDITIONS[s] for s in statuses if s in _STATUS_CONDITIONS]
            query += f" AND ({' OR '.join(conditions) or 'false'})"
        query += " ORDER BY j.id DESC LIMIT :limit"
        with self._sessions() as session:
            return [_info(row) for row in session.execute(sa.text(query), params)]

    def tally(self) -> JobTally:
        jobs: dict[tuple[str, str], int] = {}
        with self._sessions() as session:
            for row in session.execute(_TALLY, {"task": TASK}):
                state = "merged" if row.folded else _STATUS_TO_OURS.get(row.status, row.status)
                key = (str(row.kind), state)
                jobs[key] = jobs.get(key, 0) + int(row.n)
            due = session.execute(_DUE, {"task": TASK}).one()
        return JobTally(jobs=jobs, due=int(due.n), oldest_due_at=due.oldest)

    def purge_finished(self, older_than: timedelta) -> int:
        cutoff = self.clock.now() - older_than
        with self._sessions.begin() as session:
            return int(session.execute(_PURGE, {"cutoff": cutoff}).rowcount)  # type: ignore[attr-defined]

    def hasten(self, connection_id: str, held_until: datetime) -> int:
        with self._sessions.begin() as session:
            result = session.execute(
                _HASTEN, {"connection_id": connection_id, "held_until": held_until}
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def uncount_attempt(self, job_id: int) -> None:
        """procrastinate counts every retry as an attempt; a postponement (quota, throttling,
        faults after progress) is no failure of the job, so its attempt is given back."""
        with self._sessions.begin() as session:
            session.execute(_UNCOUNT, {"id": job_id})

    def reset_attempts(self, job_id: int) -> None:
        """A dead run that wrote records starts the count of attempts afresh."""
        with self._sessions.begin() as session:
            session.execute(_RESET_ATTEMPTS, {"id": job_id})

    def take_stalled(
        self,
        job_id: int,
        worker_id: int | None,
        *,
        fail: bool,
        progressed: bool,
        merged_into: str | None = None,
    ) -> bool:
        """Run again (or fail, or fold into ``merged_into``, its waiting twin) a job of a dead
        worker, if it still is: every live process looks for stalled jobs, and the one that
        finds it second must not take back a job that a live worker has picked up meanwhile
        (two runs of it, attempts counted twice). The row stays locked from the check to the
        change."""
        with self._sessions.begin() as session:
            end_when_idle(session)  # every live process contends for the row
            if session.scalar(_STILL_STALLED, {"id": job_id, "worker": worker_id}) is None:
                return False
            if merged_into is not None:
                self._mark_merged(session, job_id, worker_id, merged_into)
                session.execute(_SUCCEED, {"id": job_id})
                return True
            session.execute(_FAIL if fail else _RETRY_NOW, {"id": job_id})
            if progressed and not fail:
                session.execute(_RESET_ATTEMPTS, {"id": job_id})
        return True

    @staticmethod
    def _mark_merged(session: Session, job_id: int, worker_id: int | None, twin: str) -> None:
        """Only while ``worker_id`` still holds the job: a job another worker took over meanwhile
        is that worker's, and its outcome will be its own."""
        session.execute(
            _MARK_MERGED,
            {"id": job_id, "worker": worker_id, "field": MERGED_INTO, "twin": twin},
        )

    def fold_into(self, job_id: int, worker_id: int | None, twin: str) -> None:
        """Name the waiting twin a running job is folded into; the job then ends succeeded,
        and reads as ``merged``."""
        with self._sessions.begin() as session:
            self._mark_merged(session, job_id, worker_id, twin)

    def run_progressed(self, job_id: int) -> bool:
        if self.progressed is None:
            return False
        with self._sessions() as session:
            return self.progressed(session, str(job_id))

    def holds(self, job_id: int, worker_id: int | None) -> bool:
        """Whether the job is still running on ``worker_id``."""
        with self._sessions() as session:
            row = session.execute(_HOLDER, {"id": job_id}).first()
        return row is not None and row.status == "doing" and row.worker_id == worker_id

    # ------------------------------------------------------------------ running

    def _run(self, context: ProcrastinateContext, **args: Any) -> dict[str, Any] | None:
        """The one procrastinate task: dispatch to our handler and turn its outcome into
        procrastinate's terms. Runs in a thread of procrastinate's sync-task support."""
        raw = context.job
        assert raw.id is not None
        job = RunningJob(
            id=str(raw.id),
            kind=str(args["kind"]),
            connection_id=args.get("connection_id"),
            tenant_id=args.get("tenant_id"),
            payload=dict(args.get("payload") or {}),
            attempts=raw.attempts + 1,
        )
        handler = self._handlers.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind}")
        try:
            return handler(ProcrastinateJobContext(self, job, raw.worker_id))
        except LeaseLost:
            raise
        except WorkerStopping as stopping:
            self.given_back.add(raw.id)
            now = procrastinate.RetryDecision(retry_at=datetime.now(UTC))
            raise _Retry(now, str(stopping)) from stopping
        except Postpone as postpone:
            twin = self.waiting_twin(raw)
            if twin is not None:
                self.fold_into(raw.id, raw.worker_id, twin)
                return {MERGED_INTO: twin, "postponed": str(postpone)}
            decision = procrastinate.RetryDecision(
                retry_at=postpone.run_after, priority=POSTPONED_PRIORITY
            )
            raise _Retry(decision, str(postpone)) from postpone
        except Exception as error:
            if job.attempts >= MAX_ATTEMPTS:
                raise
            retry_in = (
                error.retry_in
                if isinstance(error, RetryableError)
                else exponential_backoff(job.attempts)
            )
            twin = self.waiting_twin(raw)
            if twin is not None:
                self.fold_into(raw.id, raw.worker_id, twin)
                return {MERGED_INTO: twin, "error": describe(error)}
            if not isinstance(error, RetryableError):
                logger.exception("job %s (%s) attempt %d failed", job.id, job.kind, job.attempts)
            decision = procrastinate.RetryDecision(retry_at=datetime.now(UTC) + retry_in)
            raise _Retry(decision, describe(error)) from error

    def waiting_twin(self, job: procrastinate_jobs.Job) -> str | None:
        """A waiting job with this job's dedupe key, which then does this job's work."""
        if job.queueing_lock is None:
            return None
        with self._sessions() as session:
            twin = session.scalar(_WAITING_TWIN, {"key": job.queueing_lock})
        return None if twin is None else str(twin)

    def runner(
        self, handlers: Mapping[str, Handler], *, concurrency: int, poll_interval: float
    ) -> ProcrastinateRunner:
        self._handlers = dict(handlers)
        return ProcrastinateRunner(self, concurrency=concurrency, poll_interval=poll_interval)

    def recover_at_start(self) -> int:
        """Nothing to do at start-up: other worker processes may be running; jobs of dead
        workers are found by their heartbeats (``ProcrastinateRunner.recover_stalled``)."""
        return 0

    def close(self) -> None:
        """Nothing to release: workers open and close procrastinate's pool themselves."""


class _FencedWorker(procrastinate_worker.Worker):
    """procrastinate's worker, except that a job taken over while this worker looked dead
    (frozen past its heartbeat) keeps the new holder's state: the late outcome is dropped."""

    def __init__(self, backend: ProcrastinateBackend, **options: Any) -> None:
        super().__init__(**options)
        self._backend = backend
        self.jobs_run = 0
        self.stop_after: int | None = None

    async def _persist_job_status(
        self,
        job: procrastinate_jobs.Job,
        status: procrastinate_jobs.Status,
        retry_decision: procrastinate.RetryDecision | None,
        context: ProcrastinateContext,
        job_result: Any,
    ) -> None:
        assert job.id is not None
        self.jobs_run += 1
        if self.stop_after is not None and self.jobs_run >= self.stop_after:
            self.stop()
        given_back = job.id in self._backend.given_back
        self._backend.given_back.discard(job.id)
        if not await asyncio.to_thread(self._backend.holds, job.id, self.worker_id):
            logger.warning("job %s: taken over by another worker, outcome discarded", job.id)
            return
        await super()._persist_job_status(job, status, retry_decision, context, job_result)
        if retry_decision is not None and (
            retry_decision.priority == POSTPONED_PRIORITY or given_back
        ):
            await asyncio.to_thread(self._backend.uncount_attempt, job.id)

    def _log_job_outcome(
        self,
        status: procrastinate_jobs.Status,
        context: ProcrastinateContext,
        job_result: Any,
        job_retry: procrastinate_errors.JobRetry | None,
        exc_info: bool | BaseException = False,
    ) -> None:
        """A retry we decided (a postponement for the quota or a throttle, a backoff) is one
        line saying when and why: procrastinate would log it as an error with the traceback
        of our own signal, where a failure's traceback is logged by ``_run`` already."""
        if job_retry is None or not isinstance(exc_info, _Retry):
            super()._log_job_outcome(status, context, job_result, job_retry, exc_info)
            return
        logger.info(
            "Job %s runs again at %s: %s",
            context.job.call_string, exc_info.decision.retry_at, exc_info,
        )  # fmt: skip

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        """procrastinate stops the heartbeat before it waits for the running jobs: a job
        running a lease past SIGTERM would be taken for a dead worker's and run a second time
        beside this one. So the heartbeat goes on until the running jobs are done."""
        running = list(self._running_jobs.items())
        for _task, context in running:
            logger.info("stopping: waiting for job %s to finish", context.job.call_string)
        if running:
            await asyncio.wait([task for task, _context in running])
        await super()._shutdown(side_tasks)


class ProcrastinateRunner:
    """Runs procrastinate workers in this process: in the foreground (``ledgerbridge
    worker``), in a background thread (``serve`` on PostgreSQL), or until idle (tests)."""

    def __init__(
        self, backend: ProcrastinateBackend, *, concurrency: int, poll_interval: float
    ) -> None:
        self._backend = backend
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def _worker(self, *, wait: bool, concurrency: int) -> _FencedWorker:
        lease = self._backend.lease_seconds
        return _FencedWorker(
            self._backend,
            app=self._backend.app,
            queues=[QUEUE],
            name=self.worker_id,
            concurrency=concurrency,
            wait=wait,
            fetch_job_polling_interval=self._poll_interval,
            listen_notify=wait,
            install_signal_handlers=False,
            update_heartbeat_interval=lease / 3,
            stalled_worker_timeout=lease,
        )

    def run_once(self) -> bool:
        return self._drain(max_jobs=1) == 1

    def run_until_idle(self, max_jobs: int | None = None) -> int:
        return self._drain(max_jobs=max_jobs)

    def _drain(self, *, max_jobs: int | None) -> int:
        worker = self._worker(wait=False, concurrency=1)
        worker.stop_after = max_jobs

        async def drain() -> None:
            async with self._backend.app.open_async():
                await worker.run()

        _run_to_end(drain())
        return worker.jobs_run

    def run_forever(self, stop: threading.Event) -> None:
        """Run a worker with ``concurrency`` job threads, and recover dead workers' jobs
        every third of a lease, until ``stop`` is set."""
        worker = self._worker(wait=True, concurrency=self._concurrency)

        async def main() -> None:
            async with self._backend.app.open_async():
                running = asyncio.create_task(worker.run())
                while not stop.is_set() and not running.done():
                    try:
                        await self._recover_stalled_async()
                    except Exception:
                        logger.exception("recovering stalled jobs failed")
                    await asyncio.wait([running], timeout=self._backend.lease_seconds / 3)
                worker.stop()
                await running

        self._backend.stopping.clear()

        def stop_when_asked() -> None:
            stop.wait()
            self._backend.stopping.set()
            worker.stop()

        watcher = threading.Thread(target=stop_when_asked, name="ledgerbridge-stop", daemon=True)
        watcher.start()
        _run_to_end(main())

    def wake(self) -> None:
        """Workers hear of new jobs through PostgreSQL's LISTEN/NOTIFY."""

    def recover_stalled(self) -> int:
        """Run again the jobs of workers whose heartbeat is older than a lease; return how
        many."""

        async def recover() -> int:
            async with self._backend.app.open_async():
                return await self._recover_stalled_async()

        return _run_to_end(recover())

    async def _recover_stalled_async(self) -> int:
        manager = self._backend.app.job_manager
        stalled = await manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=self._backend.lease_seconds
        )
        recovered = []
        for job in stalled:
            assert job.id is not None
            twin = await asyncio.to_thread(self._backend.waiting_twin, job)
            progressed = await asyncio.to_thread(self._backend.run_progressed, job.id)
            fail = job.attempts + 1 >= MAX_ATTEMPTS and not progressed
            taken = await asyncio.to_thread(
                self._backend.take_stalled, job.id, job.worker_id,
                fail=fail, progressed=progressed, merged_into=twin,
            )  # fmt: skip
            if not taken:
                logger.warning("stalled job %s changed meanwhile; left to its new holder", job.id)
                continue
            recovered.append(str(job.id))
            if twin is not None:
                outcome = f"folded into its waiting twin, job {twin}, which does its work"
            elif fail:
                outcome = f"failed after {MAX_ATTEMPTS} attempts"
            else:
                outcome = "run again"
            logger.warning(
                "job %s (%s of connection %s): its worker stopped; %s",
                job.id, job.task_kwargs.get("kind"), job.task_kwargs.get("connection_id"), outcome,
            )  # fmt: skip
        await manager.prune_stalled_workers(self._backend.lease_seconds)
        hook = self._backend.on_recovered
        if recovered and hook is not None:
            await asyncio.to_thread(hook, recovered)
        return len(recovered)


def _run_to_end(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``, also from a thread whose event loop is running (a caller inside
    async code, or a browser driven through Playwright's sync API): the coroutine then runs on
    its own loop in a thread of its own, and the caller waits for its answer."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    answer: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(asyncio.run(work))
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="drain")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return answer[0]
