"""Wires one installation together from its settings: store, engine, services, jobs, worker.

The job backend follows the database: on SQLite the embedded queue, run by threads of the one
``serve`` process; on PostgreSQL procrastinate, so that ``serve`` (API, tick and an in-process
worker) and any number of ``ledgerbridge worker`` processes share one queue.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.connectors.base import Connector
from ledgerbridge.connectors.kit.kept import forget_kept_reads
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.quota import QuotaLedger
from ledgerbridge.engine.reconcile import Reconciler
from ledgerbridge.engine.routing import push_targets, tenant_connections, tenant_routes
from ledgerbridge.engine.sync import SyncEngine
from ledgerbridge.runtime.files import FileJobs
from ledgerbridge.runtime.flows import CommerceFlows
from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import Command, JobBackend, JobContext
from ledgerbridge.runtime.jobqueue.procrastinate import ProcrastinateBackend
from ledgerbridge.runtime.jobs import SyncJobs
from ledgerbridge.runtime.mail import InvoiceMails
from ledgerbridge.runtime.paymatch import PayMatchFlows
from ledgerbridge.runtime.reconcile import ReconcileJobs
from ledgerbridge.runtime.retention import Retention
from ledgerbridge.runtime.schedules import Scheduler
from ledgerbridge.services.connections import ConnectionService
from ledgerbridge.services.data_fields import DataFieldService
from ledgerbridge.services.files import FileService
from ledgerbridge.services.history import HistoryService
from ledgerbridge.services.mail import MailService
from ledgerbridge.services.oauth import OAuthService
from ledgerbridge.services.payouts import PayoutService
from ledgerbridge.services.reconciliations import ReconciliationService
from ledgerbridge.services.records import RecordService
from ledgerbridge.services.routes import RouteService
from ledgerbridge.services.setup import SetupService
from ledgerbridge.services.sign_in import SignInService
from ledgerbridge.services.tenancy import TenancyService
from ledgerbridge.services.webhooks import WebhookService
from ledgerbridge.settings import Settings
from ledgerbridge.store.db import create_db_engine, create_session_factory, migrate
from ledgerbridge.store.secrets import SecretBox, check_keys
from ledgerbridge.store.tables.hub import ChangeRow
from ledgerbridge.store.tables.sync import Run, SyncLogEntry, WriteIntent

log = logging.getLogger(__name__)

SYSTEM_SCOPE = "system"
"""Pseudo connection id of installation-wide housekeeping jobs (webhook delivery, retention)."""
RETENTION_CRON = "17 3 * * *"
"""Daily, at a quiet hour (UTC)."""


def job_backend(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> JobBackend:
    """procrastinate on PostgreSQL, the embedded queue on SQLite.

    procrastinate decides when a job is due by PostgreSQL's clock; an installation run on
    another clock (a simulated day that moves time forward) keeps the embedded queue, whose
    due times follow that clock, on PostgreSQL too."""
    if settings.database_url.startswith("sqlite") or not isinstance(clock, SystemClock):
        return EmbeddedBackend(sessions, clock, lease_seconds=settings.job_lease_seconds)
    return ProcrastinateBackend(
        sessions, clock, settings.database_url, lease_seconds=settings.job_lease_seconds
    )


class System:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        webhook_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        forget_kept_reads()
        self.db = create_db_engine(settings.database_url)
        migrate(self.db)
        self.sessions = create_session_factory(self.db)
        self.box = SecretBox.from_settings(settings.secret_keys, Path(settings.secret_key_file))
        check_keys(self.sessions, self.box)
        self.queue = job_backend(settings, self.sessions, self.clock)
        self.queue.on_recovered = self._close_interrupted_runs
        self.queue.progressed = _interrupted_run_progressed
        self.scheduler = Scheduler(self.sessions, self.queue, self.clock)
        self.ledger = QuotaLedger(self.sessions, self.clock)
        self.hub = HubStore(self.clock)
        self.webhooks = WebhookService(self.sessions, self.box, self.clock, webhook_transport)
        self.tenancy = TenancyService(self.sessions, self.clock)
        self.sign_in = SignInService(self.sessions, self.clock)
        self.records = RecordService(self.sessions, self.hub, self.clock)
        self.history = HistoryService(self.sessions)
        self.connections = ConnectionService(
            self.sessions, self.box, self.queue, self.scheduler, self.ledger, self.clock,
            settings.public_url, transport, installation=settings.model_dump(),
        )  # fmt: skip
        self.data_fields = DataFieldService(self.connections, self.records)
        self.files = FileService(self.sessions, self.queue, self.clock, self.connections)
        self.setup = SetupService(self.ledger, transport)
        self.oauth = OAuthService(
            self.sessions, self.box, self.clock, settings.public_url, self.ledger, transport
        )
        self.engine = SyncEngine(self.sessions, self.hub, self.clock)
        self.engine.inbound.on_release = self._queue_push
        self.jobs = SyncJobs(
            self.sessions, self.connections, self.engine, self.ledger, self.queue,
            self.webhooks, self.clock, transport,
        )  # fmt: skip
        self.file_jobs = FileJobs(
            self.sessions, self.connections, self.jobs, self.engine, self.queue, self.clock,
            settings.files_watch_root,
        )  # fmt: skip
        self.retention = Retention(
            self.sessions, self.queue, self.clock, keep=timedelta(days=settings.retention_days)
        )
        self.flows = CommerceFlows(self.sessions, self.hub, self.queue, self.clock)
        self.routes = RouteService(self.sessions, self.flows, self.queue, self.clock)
        self.paymatch = PayMatchFlows(self.sessions, self.hub, self.queue, self.clock)
        self.routes.paymatch = self.paymatch
        self.routes.opener = self.connector
        self.flows.opener = self.connector
        self.mails = InvoiceMails(
            self.sessions, self.queue, self.clock, self.connections,
            first_retry=timedelta(seconds=settings.mail_first_retry_seconds),
        )  # fmt: skip
        self.mail = MailService(self.sessions, self.mails)
        self.payouts = PayoutService(self.sessions, self.records)
        self.reconcile_jobs = ReconcileJobs(
            self.sessions, self.jobs, Reconciler(self.sessions, self.hub, self.clock),
            self.webhooks, self.clock,
        )  # fmt: skip
        self.reconciliations = ReconciliationService(self.sessions, self.queue, self.clock)
        self.worker = self.queue.runner(
            {
                **self.jobs.handlers(),
                **self.flows.handlers(),
                **self.paymatch.handlers(),
                **self.file_jobs.handlers(),
                **self.mails.handlers(),
                **self.reconcile_jobs.handlers(),
                "notices": self._notices,
                "retention": self._retention,
            },
            concurrency=settings.worker_concurrency,
            poll_interval=settings.poll_interval,
        )
        self.hub.listeners.append(self.webhooks.on_changes)
        self.hub.listeners.append(self._push_on_change)
        self.hub.listeners.append(self.flows.on_changes)
        self.hub.listeners.append(self.paymatch.on_changes)
        self.hub.listeners.append(self.mails.on_changes)
        self.webhooks.on_pending = self._deliver_soon
        # Deliveries are queued when they are due (``_deliver_due_webhooks``), not by a
        # schedule: an installation stored before keeps no minute-by-minute schedule.
        self.scheduler.remove(SYSTEM_SCOPE, "deliver_webhooks")
        self.scheduler.set(SYSTEM_SCOPE, "retention", RETENTION_CRON, "UTC")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- change fan-out

    def _push_on_change(self, session: Session, changes: list[ChangeRow]) -> None:
        """Queue a push for every connection the changes are routed to (engine/routing:
        without routes, every other connection of the tenant that carries the entity)."""
        targets: set[tuple[str, str]] = set()
        for tenant_id in sorted({c.tenant_id for c in changes}):
            connections = tenant_connections(session, tenant_id)
            routes = tenant_routes(session, tenant_id)
            for change in changes:
                if change.tenant_id == tenant_id:
                    for cid in push_targets(change.entity, change.origin, connections, routes):
                        targets.add((cid, tenant_id))
        for connection_id, tenant_id in sorted(targets):
            self._queue_push(session, connection_id, tenant_id)

    def _queue_push(self, session: Session, connection_id: str, tenant_id: str) -> None:
        """A push of one connection, in the transaction of what makes it due (a hub change,
        a pull that let waiting records go): none commits without its push."""
        self.queue.enqueue(
            Command(
                "push",
                connection_id=connection_id,
                tenant_id=tenant_id,
                dedupe_key=f"push:{connection_id}",
                priority=30,
            ),
            session=session,
        )

    def _notices(self, job: JobContext) -> dict[str, Any]:
        """The daily ``connection.warning`` events of a connection (a token about to expire)."""
        connection_id = job.job.connection_id
        if connection_id is None:
            raise ValueError("notices job without a connection")
        tenant_id, warnings = self.connections.warnings(connection_id)
        with self.sessions.begin() as session:
            for warning in warnings:
                self.webhooks.emit(
                    session, tenant_id, "connection.warning",
                    {"connection_id": connection_id, "message": warning,
                     "at": self.clock.now().isoformat()},
                )  # fmt: skip
        return {"warnings": len(warnings)}

    def _retention(self, _job: JobContext) -> dict[str, Any]:
        return dict(vars(self.retention.purge()))

    def _close_interrupted_runs(self, job_ids: list[str]) -> None:
        """A job run again because its worker died leaves a run marked running: close it."""
        with self.sessions.begin() as session:
            session.execute(
                sa.update(Run)
                .where(Run.job_id.in_(job_ids), Run.status == "running")
                .values(
                    status="interrupted",
                    finished_at=self.clock.now(),
                    message="its worker stopped; the job runs again",
                )
            )

    def _deliver_soon(self) -> None:
        self.queue.enqueue(
            Command(
                "deliver_webhooks", connection_id=SYSTEM_SCOPE,
                dedupe_key="deliver_webhooks", priority=40,
            )
        )  # fmt: skip

    def _deliver_due_webhooks(self) -> bool:
        """Queue a delivery job when a delivery is due: a retry whose backoff has passed, or
        a new one whose job a crash lost between its commit and the enqueue. One indexed
        look-up per tick; an idle installation queues nothing. True if a job was queued."""
        if not self.webhooks.any_due():
            return False
        running = self.queue.list(connection_id=SYSTEM_SCOPE, statuses=["running"])
        if any(job.kind == "deliver_webhooks" for job in running):
            # A delivery job in flight: what it did not send is found again once it ends.
            return False
        self._deliver_soon()
        return True

    def tick(self) -> bool:
        """Queue what is due (scheduled slots, webhook deliveries); True if anything was."""
        scheduled = bool(self.scheduler.tick())
        return self._deliver_due_webhooks() or scheduled

    # ---------------------------------------------------------------- running

    @contextmanager
    def connector(
        self, connection_id: str, on_call: Callable[[int], None] | None = None
    ) -> Iterator[Connector]:
        with self.jobs.open_connector(connection_id, on_call) as connector:
            yield connector

    def run_until_idle(self, max_rounds: int = 100) -> int:
        """Tick the scheduler and run jobs until nothing is due (scripts, tests, --once)."""
        total = 0
        for _ in range(max_rounds):
            self.tick()
            ran = self.worker.run_until_idle()
            total += ran
            if ran == 0:
                break
        return total

    def start_background(self) -> None:
        """Start the worker and the scheduler tick. On SQLite this process is the only one on
        its database, so jobs a killed process left running are run again at once; on
        PostgreSQL dead workers' jobs are found by their heartbeats."""
        recovered = self.queue.recover_at_start()
        if recovered:
            log.info("requeued %d job(s) left running by a previous process", recovered)
        self._stop.clear()
        worker = threading.Thread(
            target=self.worker.run_forever, args=(self._stop,), name="ledgerbridge-worker",
            daemon=True,
        )  # fmt: skip
        ticker = threading.Thread(target=self._tick_loop, name="ledgerbridge-tick", daemon=True)
        self._threads = [worker, ticker]
        for thread in self._threads:
            thread.start()

    def background_alive(self) -> bool:
        """Whether the worker and the scheduler tick started by ``start_background`` still
        run (a worker whose job loop died on an error runs nothing until restarted)."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.tick():
                    self.worker.wake()
            except Exception:
                log.exception("scheduler tick failed")
            self._stop.wait(5.0)

    def stop(self) -> None:
        self._stop.set()
        self.worker.wake()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []

    def close(self) -> None:
        self.stop()
        self.queue.close()
        self.db.dispose()


def freeze_start_up_heap() -> None:
    """Leave what start-up built (modules, mappings, table metadata: objects that live as long
    as the process) out of every later garbage collection. Without this each full collection
    walks them again, and an import of 20,000 records spent a sixth of its time there.
    Called once by the long-running processes (serve, worker), after their system is built."""
    gc.collect()
    gc.freeze()


def build(settings: Settings | None = None, **kwargs: Any) -> System:
    return System(settings or Settings(), **kwargs)


def _interrupted_run_progressed(session: Session, job_id: str) -> bool:
    """Whether the run a dead worker left open for this job got anything through: it logged
    a created or updated record (log rows commit with the records they describe), it
    completed a write begun by an earlier run (resumed creates commit on their own), or it
    confirmed a step of a write of several (an order's header, then its lines, then its
    booking: a run that dies after each confirmed step still moves the write on). A write
    only started is no progress: a job that dies in the same call every time still fails."""
    open_runs = sa.select(Run.id).where(Run.job_id == job_id, Run.status == "running")
    wrote = sa.select(SyncLogEntry.id).where(
        SyncLogEntry.run_id.in_(open_runs), SyncLogEntry.outcome.in_(("created", "updated"))
    )
    if session.scalar(wrote.limit(1)) is not None:
        return True
    stepped = (
        sa.select(WriteIntent.id)
        .join(Run, Run.connection_id == WriteIntent.connection_id)
        .where(
            Run.job_id == job_id,
            Run.status == "running",
            WriteIntent.status.in_(("done", "recovered")),
            WriteIntent.updated_at >= Run.started_at,
        )
    )
    if session.scalar(stepped.limit(1)) is not None:
        return True
    open_intents = session.execute(
        sa.select(WriteIntent.steps, Run.started_at)
        .join(Run, Run.connection_id == WriteIntent.connection_id)
        .where(
            Run.job_id == job_id,
            Run.status == "running",
            WriteIntent.status == "pending",
            WriteIntent.updated_at >= Run.started_at,
        )
    )
    return any(_confirmed_since(steps or {}, started_at) for steps, started_at in open_intents)


def _confirmed_since(steps: dict[str, Any], started_at: datetime) -> bool:
    """Whether a write's journal holds a step confirmed at or after ``started_at``."""
    since = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    for entry in steps.values():
        if not isinstance(entry, dict) or entry.get("state") != "done" or not entry.get("at"):
            continue
        if datetime.fromisoformat(str(entry["at"])) >= since:
            return True
    return False
