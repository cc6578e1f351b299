"""The reconciliation job: a report of a connection's month, run on demand or monthly.

A report is a job like any other: it runs in the connection's line, under its run fence, and
every call it makes is booked in the quota ledger first (a spent budget postpones it to the
next quota day). The report is kept with its differences; the app hears of the differences
that were not in the previous report of the same month (``reconciliation.difference``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.engine.context import RunContext
from ledgerbridge.engine.reconcile import Period, Reconciler
from ledgerbridge.runtime.jobqueue.port import Handler, JobContext, Postpone
from ledgerbridge.runtime.jobs import Events, SyncJobs
from ledgerbridge.store.tables.reconcile import Reconciliation
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
KIND = "reconcile"
EVENT = "reconciliation.difference"


def difference_key(difference: JSON) -> tuple[str, ...]:
    """What makes a difference "the same" in two reports of one month."""
    return tuple(
        str(difference.get(name) or "")
        for name in ("stream", "kind", "record_id", "remote_id", "reason")
    )


class ReconcileJobs:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        jobs: SyncJobs,
        reconciler: Reconciler,
        webhooks: Events,
        clock: Clock,
    ) -> None:
        self._sessions = session_factory
        self._jobs = jobs
        self._reconciler = reconciler
        self._webhooks = webhooks
        self._clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self._reconcile}

    def _reconcile(self, job: JobContext) -> JSON:
        report_id = job.job.payload.get("report_id") or self._scheduled(job)
        if report_id is None:
            return {"skipped": "connection removed, paused or not imported yet"}
        with self._sessions.begin() as session:
            row = session.get(Reconciliation, report_id)
            if row is None:
                return {"skipped": "report removed"}
            row.status, row.job_id = "running", job.job.id
            period = Period.month(row.period)

        def action(ctx: RunContext) -> None:
            report = self._reconciler.reconcile(ctx, period)
            with self._sessions.begin() as session:
                row = session.get(Reconciliation, report_id)
                if row is None:
                    return
                row.run_id = ctx.run_id
                row.totals = report.totals
                row.differences = report.differences
                self._announce(session, row)

        try:
            result = self._jobs._run(KIND, job, action)
        except Postpone as exc:
            self._end(report_id, "deferred", str(exc))
            raise
        except Exception as exc:
            self._end(report_id, "failed", str(exc))
            raise
        if "run_id" not in result:
            self._end(report_id, "failed", str(result.get("skipped") or result.get("error")))
            return {**result, "report_id": report_id}
        self._end(report_id, "done", None, int(result.get("calls") or 0))
        return {**result, "report_id": report_id}

    def _scheduled(self, job: JobContext) -> str | None:
        """A scheduled run reports on the month that closed last, in the connection's zone."""
        with self._sessions.begin() as session:
            connection = session.get(Connection, job.job.connection_id)
            if connection is None or not connection.active or connection.import_state != "done":
                return None
            today = self._clock.now().astimezone(ZoneInfo(connection.timezone)).date()
            row = Reconciliation(
                connection_id=connection.id, tenant_id=connection.tenant_id,
                period=Period.before(today).label, trigger="schedule", status="queued",
                job_id=job.job.id, calls=0, created_at=self._clock.now(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            return row.id

    def _announce(self, session: Session, row: Reconciliation) -> None:
        """One event listing the differences the previous report of the month did not have."""
        previous = session.scalars(
            sa.select(Reconciliation)
            .where(
                Reconciliation.connection_id == row.connection_id,
                Reconciliation.period == row.period,
                Reconciliation.status == "done",
                Reconciliation.id != row.id,
            )
            .order_by(Reconciliation.created_at.desc())
            .limit(1)
        ).first()
        known = {difference_key(d) for d in (previous.differences or [])} if previous else set()
        new = [d for d in row.differences or [] if difference_key(d) not in known]
        if new:
            self._webhooks.emit(
                session, row.tenant_id, EVENT,
                {"connection_id": row.connection_id, "reconciliation_id": row.id,
                 "period": row.period, "differences": new,
                 "at": self._clock.now().isoformat()},
            )  # fmt: skip

    def _end(self, report_id: str, status: str, message: str | None, calls: int = 0) -> None:
        now: datetime = self._clock.now()
        with self._sessions.begin() as session:
            row = session.get(Reconciliation, report_id)
            if row is not None:
                row.status, row.message, row.calls = status, message, calls
                row.finished_at = now if status in ("done", "failed") else None
