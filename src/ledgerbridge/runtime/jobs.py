"""Job handlers: open the connection's connector, run one engine operation, record the run.

Failures are sorted by what helps: a spent quota postpones the job to the next quota day
(no attempt counted), an unreachable system or a write of unknown outcome retries with backoff,
refused credentials stop and say so on the connection.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

import httpx
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    AmbiguousWrite,
    AuthenticationFailed,
    Connector,
    QuotaReached,
    RemoteUnavailable,
)
from ledgerbridge.connectors.registry import SYSTEMS, ConnectorHandle, daily_call_limit
from ledgerbridge.engine.context import RunContext, reads_something
from ledgerbridge.engine.fence import RunFenced, active_fence, begin_fenced_run, fenced
from ledgerbridge.engine.prefetch import call_booked
from ledgerbridge.engine.preview import SyncPreview, days_needed
from ledgerbridge.engine.quota import QuotaExhausted, QuotaLedger
from ledgerbridge.engine.sync import SyncEngine
from ledgerbridge.runtime.jobqueue.port import (
    Command,
    Handler,
    JobBackend,
    JobContext,
    LeaseLost,
    Postpone,
    RetryableError,
    WorkerStopping,
    exponential_backoff,
)
from ledgerbridge.store.db import refresh_statistics
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.sync import Link, Run
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class Connections(Protocol):
    """How the jobs read a connection; the connection service implements it (the runtime
    imports nothing from the services above it)."""

    def handle(self, connection_id: str) -> ConnectorHandle: ...

    def store_secrets(self, connection_id: str, changed: JSON) -> None: ...


class Events(Protocol):
    """The app's webhook events; the webhook service implements it."""

    def emit(self, session: Session, tenant_id: str, event: str, payload: JSON) -> None: ...

    def deliver_due(self) -> dict[str, int]: ...


class SyncJobs:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        connections: Connections,
        engine: SyncEngine,
        ledger: QuotaLedger,
        queue: JobBackend,
        webhooks: Events,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._sessions = session_factory
        self._connections = connections
        self._engine = engine
        self._ledger = ledger
        self._queue = queue
        self._webhooks = webhooks
        self._clock = clock
        self.transport = transport

    def handlers(self) -> dict[str, Handler]:
        engine = self._engine
        handlers: dict[str, Handler] = {
            "import": lambda job: self._run("import", job, engine.run_import),
            "push": lambda job: self._run("push", job, engine.run_push),
            "inbox": lambda job: self._run("inbox", job, engine.process_inbox),
            "retry": lambda job: self._run(
                "retry",
                job,
                lambda ctx: engine.retry_issues(
                    ctx,
                    job.job.payload.get("reason"),
                    job.job.payload.get("issue_id"),
                    recreate=bool(job.job.payload.get("recreate")),
                ),
            ),
            "resolve_conflict": lambda job: self._run(
                "resolve_conflict",
                job,
                lambda ctx: engine.resolve_conflict(
                    ctx,
                    job.job.payload["issue_id"],
                    job.job.payload.get("field"),
                    job.job.payload["keep"],
                ),
            ),
            "reapply": lambda job: self._run(
                "reapply", job, lambda ctx: engine.reapply(ctx, job.job.payload["reasons"])
            ),
            "deliver_webhooks": lambda job: dict(self._webhooks.deliver_due()),
        }
        for kind in sorted({k for spec in SYSTEMS.values() for k in spec.pulls}):
            handlers[kind] = partial(self._pull, kind)
        return handlers

    def _pull(self, kind: str, job: JobContext) -> JSON:
        connection_id = job.job.connection_id
        if connection_id is None:
            raise ValueError(f"{kind} job without a connection")
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None or not row.active:
                # Deleted or paused after the job was queued: the job ends, doing nothing.
                return {"skipped": "connection removed or paused"}
        handle = self._connections.handle(connection_id)
        plan = handle.system.pulls.get(kind)
        if plan is None:
            return {"skipped": f"no {kind} pull for this system"}
        if not reads_something(handle.settings, handle.system.default_streams, plan.streams):
            return {"skipped": f"{', '.join(plan.streams)} not enabled"}
        result = self._run(
            kind, job, lambda ctx: self._engine.inbound.run_pull(ctx, list(plan.streams)),
            reserve=plan.reserve,
        )  # fmt: skip
        if plan.announce and "run_id" in result:
            with self._sessions.begin() as session:
                self._webhooks.emit(
                    session, handle.tenant_id, f"connection.{kind}_completed",
                    {"connection_id": connection_id, "run_id": result["run_id"],
                     "counts": result["counts"], "at": self._clock.now().isoformat()},
                )  # fmt: skip
        return result

    @contextmanager
    def open_connector(
        self,
        connection_id: str,
        on_call: Callable[[int], None] | None = None,
        reserve: float = 0.0,
        settings: JSON | None = None,
    ) -> Iterator[Connector]:
        """A connector whose every API call is first booked in the quota ledger; ``reserve``
        is the share of the day's budget this run must leave for higher-priority work;
        ``settings``: the connection's as a preview assumes them, instead of the saved ones."""
        handle = self._connections.handle(connection_id)
        limit = daily_call_limit(handle.system, handle.settings)
        budget = limit - int(limit * reserve)

        def meter(calls: int) -> None:
            fence = active_fence()
            if fence is not None:  # a superseded run makes no further call, not even one
                fence.ensure_current(self._sessions)
            try:
                self._ledger.consume(
                    handle.credential_key, budget, handle.system.quota_timezone, calls
                )
            except DBAPIError:
                if fence is not None:  # the server ended the count of a run frozen in it
                    fence.ensure_current(self._sessions)
                raise
            except QuotaExhausted as exc:
                if reserve:
                    raise QuotaExhausted(
                        exc.credential_key, limit, exc.resumes_at,
                        reason=f"deferred to the next day: {budget} of the {limit} daily "
                        "calls are used, and the rest is kept for invoices and customers",
                    ) from exc  # fmt: skip
                raise
            call_booked()
            if on_call is not None:
                on_call(calls)

        connector = handle.system.factory(
            settings or handle.settings, handle.secrets, meter, self.transport, self._clock
        )
        connector.on_secrets = partial(self._connections.store_secrets, connection_id)
        try:
            yield connector
        finally:
            connector.close()

    def _run(
        self,
        kind: str,
        job: JobContext,
        action: Callable[[RunContext], Any],
        reserve: float = 0.0,
        *,
        after_import: bool = True,
    ) -> JSON:
        """Run ``action`` as a fenced, recorded run of the job's connection. ``after_import``:
        the job waits for the initial import (not so for work that brings records of its own,
        such as a file a user uploaded)."""
        connection_id = job.job.connection_id
        if connection_id is None:
            raise ValueError(f"{kind} job without a connection")
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None or not row.active:
                return {"skipped": "connection removed or paused"}
            if after_import and kind != "import" and row.import_state != "done":
                return {"skipped": "initial import not finished"}
        handle = self._connections.handle(connection_id)
        run_id = self._start_run(handle, kind, job.job.id)
        fence = begin_fenced_run(self._sessions, self._clock, connection_id, run_id)
        calls = Counter[str]()
        counts: Counter[str] = Counter()

        totals: dict[str, int] = {}

        def heartbeat() -> None:
            job.heartbeat()
            self._progress(run_id, counts, totals, calls["calls"])
            if job.stop_requested:
                # A page boundary: what the run did is committed with its cursors.
                raise WorkerStopping(f"{kind} stopped with its worker; it resumes on the next")

        def on_call(n: int) -> None:
            calls["calls"] += n

        try:
            with self.open_connector(connection_id, on_call, reserve) as connector:
                ctx = RunContext(
                    connection_id=connection_id,
                    tenant_id=handle.tenant_id,
                    settings=handle.settings,
                    connector=connector,
                    run_id=run_id,
                    page_size=int(handle.settings.get("page_size", handle.system.page_size)),
                    write_batch_size=handle.system.write_batch_size,
                    system_title=handle.system.title,
                    heartbeat=heartbeat,
                    counts=counts,
                    totals=totals,
                    fence=fence,
                )
                with fenced(ctx.fence):
                    try:
                        action(ctx)
                    finally:
                        counts.update(connector.run_counts)
        except RunFenced as exc:
            # A newer run took the job over: like a lost lease, not a failure of the job.
            self._finish(run_id, handle, "superseded", counts, calls["calls"], str(exc))
            log.warning("%s", exc)
            raise LeaseLost(job.job.id) from exc
        except WorkerStopping as exc:
            self._finish(run_id, handle, "interrupted", counts, calls["calls"], str(exc))
            raise
        except QuotaExhausted as exc:
            self._finish(run_id, handle, "deferred", counts, calls["calls"], str(exc))
            raise Postpone(exc.resumes_at, str(exc)) from exc
        except QuotaReached as exc:
            self._finish(run_id, handle, "deferred", counts, calls["calls"], str(exc))
            raise Postpone(exc.resumes_at, str(exc)) from exc
        except AuthenticationFailed as exc:
            self._finish(run_id, handle, "failed", counts, calls["calls"], str(exc), error=True)
            return {"error": str(exc)}
        except (RemoteUnavailable, AmbiguousWrite) as exc:
            asked = exc.retry_after if isinstance(exc, RemoteUnavailable) else None
            if asked is not None:
                # Throttled: the system said when to come back. That is no failure of the job,
                # so it waits that long without counting an attempt, and resumes from its cursor.
                self._finish(run_id, handle, "deferred", counts, calls["calls"], str(exc))
                resume_at = self._clock.now() + timedelta(seconds=max(asked, 1.0))
                raise Postpone(resume_at, str(exc)) from exc
            self._finish(run_id, handle, "failed", counts, calls["calls"], str(exc), error=True)
            if _made_progress(counts):
                # Faults that cut short a run which still wrote records are weather, not a
                # failing job: it comes back soon without using up an attempt, so a push under
                # steady faults goes on until every record is through.
                resume_at = self._clock.now() + exponential_backoff(1)
                raise Postpone(resume_at, f"cut short after progress: {exc}") from exc
            raise RetryableError(str(exc), retry_in=exponential_backoff(job.job.attempts)) from exc
        except Exception as exc:
            log.error("run %s of connection %s failed", run_id, handle.connection_id, exc_info=exc)
            self._finish(
                run_id, handle, "failed", counts, calls["calls"], failure_message(exc), error=True
            )
            raise
        self._finish(run_id, handle, "succeeded", counts, calls["calls"], None)
        if kind == "import":
            self._import_done(handle)
        return {"run_id": run_id, "counts": dict(counts), "calls": calls["calls"]}

    def preview(self, connection_id: str, kind: str, streams: list[str] | None = None) -> JSON:
        """What a run of ``kind`` (``import``, ``reload`` of ``streams``, all read ones by
        default, or ``push``) would do now, written
        nowhere (see ``engine/preview``). Its reads are real calls, booked in the quota like
        any other; the answer says how many it made and how many the run would make."""
        handle = self._connections.handle(connection_id)
        calls = Counter[str]()

        def on_call(n: int) -> None:
            calls["calls"] += n

        settings = dict(handle.settings)
        if kind == "reload" and handle.system.data_fields:
            # A reload is a pull once the reload is asked for (the figures of 12 months).
            summary = dict(settings.get("summary") or {})
            summary["reload_requested_at"] = self._clock.now().isoformat()
            settings["summary"] = summary
        preview = SyncPreview(self._sessions, self._engine.inbound, self._engine.outbound)
        with self.open_connector(connection_id, on_call, settings=settings) as connector:
            ctx = RunContext(
                connection_id=connection_id,
                tenant_id=handle.tenant_id,
                settings=settings,
                connector=connector,
                run_id=None,
                page_size=int(handle.settings.get("page_size", handle.system.page_size)),
                write_batch_size=handle.system.write_batch_size,
                system_title=handle.system.title,
            )
            if kind == "push":
                tally, run_calls = preview.push(ctx)
            else:
                tally = preview.import_or_pull(ctx, initial=kind == "import", streams=streams)
                run_calls = calls["calls"]  # the run reads the same pages, and writes none
        limit = daily_call_limit(handle.system, handle.settings)
        used = self._ledger.used(handle.credential_key, handle.system.quota_timezone)
        return {
            "kind": kind,
            **tally.answer(),
            "calls": {
                "preview": calls["calls"],
                "run": run_calls,
                "limit": limit,
                "used_today": used,
                "remaining_today": max(limit - used, 0),
                "days": days_needed(run_calls, limit, limit - used),
            },
        }

    def _start_run(self, handle: ConnectorHandle, kind: str, job_id: str) -> str:
        with self._sessions.begin() as session:
            run = Run(
                connection_id=handle.connection_id, kind=kind, job_id=job_id, status="running",
                counts={}, calls=0, started_at=self._clock.now(),
            )  # fmt: skip
            session.add(run)
            session.flush()
            return run.id

    def _progress(
        self, run_id: str, counts: Counter[str], totals: dict[str, int], calls: int
    ) -> None:
        with self._sessions.begin() as session:
            run = session.get(Run, run_id)
            if run is not None:
                run.counts = dict(counts)
                run.totals = dict(totals) or None
                run.calls = calls

    def _finish(
        self,
        run_id: str,
        handle: ConnectorHandle,
        status: str,
        counts: Counter[str],
        calls: int,
        message: str | None,
        *,
        error: bool = False,
    ) -> None:
        now = self._clock.now()
        with self._sessions.begin() as session:
            run = session.get(Run, run_id)
            if run is not None:
                run.status = status
                run.counts = dict(counts)
                run.calls = calls
                run.message = message
                run.finished_at = now
            connection = session.get(Connection, handle.connection_id)
            if connection is not None:
                if error:
                    connection.last_error_at = now
                    connection.last_error = message
                elif status == "succeeded" and (calls or _made_progress(counts)):
                    # A run that neither reached the system nor changed anything (a push
                    # with nothing to send) says nothing of the connection's health: it
                    # must not hide a newer error and the advice that goes with it.
                    # One that did clears the error: the connection works again, and the
                    # failed run keeps its message in the runs.
                    connection.last_success_at = now
                    connection.last_error = None
                    connection.last_error_at = None
                if status == "deferred":
                    connection.last_error = message
                    connection.last_error_at = now

    def _import_done(self, handle: ConnectorHandle) -> None:
        with self._sessions.begin() as session:
            connection = session.get(Connection, handle.connection_id)
            if connection is not None:
                connection.import_state = "done"
            self._webhooks.emit(
                session, handle.tenant_id, "connection.import_completed",
                {"connection_id": handle.connection_id, "at": self._clock.now().isoformat()},
            )  # fmt: skip
        # The tables an import fills whose reads the planner got wrong until autovacuum
        # caught up: look-ups by key, and the change feed's first page (a scan and a sort of
        # every change: 16.8 ms against 0.09 ms after 20,000 parties).
        refresh_statistics(self._sessions, [HubRecord, Link, Change])
        # Hub records that existed before the connection now go out, and callbacks that
        # arrived during the import are applied.
        for kind in ("push", "inbox") if handle.system.pushes else ("inbox",):
            self._queue.enqueue(
                Command(
                    kind, connection_id=handle.connection_id, tenant_id=handle.tenant_id,
                    dedupe_key=f"{kind}:{handle.connection_id}",
                )
            )  # fmt: skip


def failure_message(exc: BaseException) -> str:
    """What a run's status and the connection's last error say about an unexpected failure:
    short and for the user. The detail (a database error's SQL and parameters, a traceback)
    goes to the log only."""
    if isinstance(exc, SQLAlchemyError):
        return "database error (see the log)"
    return f"internal error: {type(exc).__name__} (see the log)"


def _made_progress(counts: Counter[str]) -> bool:
    """Whether a run created or updated anything (counts are ``<stream>.<outcome>``)."""
    return any(n and key.endswith((".created", ".updated")) for key, n in counts.items())
