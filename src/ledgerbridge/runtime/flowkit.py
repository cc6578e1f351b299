"""What the jobs that derive or send records (the commerce flow, PayMatch, invoice mail)
share: their run rows in the sync log, their ``derived_records`` rows, and the hub records
of a route's source by the source's own ids.

Kept once so that a run is opened, closed and remembered the same way by every flow.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.routing import source_of
from ledgerbridge.engine.state import SyncState
from ledgerbridge.runtime.jobqueue.port import JobBackend
from ledgerbridge.store.tables.flows import DerivedRecord
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Run

WITHDRAWN = "withdrawn"
"""A derived row's state once the flow deleted its draft (an order cancelled before it was
booked): nothing is due for its source record until the flow derives it afresh."""


def start_run(
    sessions: sessionmaker[Session], clock: Clock, connection_id: str, kind: str, job_id: str
) -> str:
    """A ``running`` run of ``kind`` on the connection, committed at once so the log shows it."""
    with sessions.begin() as session:
        run = Run(
            connection_id=connection_id, kind=kind, job_id=job_id, status="running",
            counts={}, calls=0, started_at=clock.now(),
        )  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    sessions: sessionmaker[Session],
    clock: Clock,
    run_id: str,
    status: str,
    counts: Counter[str],
    message: str | None,
) -> None:
    """The run's outcome, its counts and message; a run removed meanwhile is left alone."""
    with sessions.begin() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status, run.counts, run.message = status, dict(counts), message
            run.finished_at = clock.now()


def derived_row(session: Session, route_id: str, key: str, role: str) -> DerivedRecord | None:
    """The route's ``derived_records`` row of a source key in a role, if written."""
    return session.scalar(
        sa.select(DerivedRecord).where(
            DerivedRecord.route_id == route_id,
            DerivedRecord.source_record_id == key,
            DerivedRecord.role == role,
        )
    )


def remember_derived(
    session: Session, clock: Clock, tenant_id: str, route_id: str, key: str, role: str,
    record_id: str, state: str, digest: str | None,
) -> DerivedRecord:  # fmt: skip
    """A new ``derived_records`` row, added to the session (in the caller's transaction)."""
    now = clock.now()
    row = DerivedRecord(
        tenant_id=tenant_id, route_id=route_id, source_record_id=key, role=role,
        derived_record_id=record_id, state=state, source_hash=digest,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    return row


def latest_source_records(
    session: Session, tenant_id: str, source: str, entity: str, source_ids: list[str]
) -> list[str]:
    """The hub records of ``entity`` from ``source`` with these source ids (the latest of
    each, since a record of another source may carry the same id)."""
    if not source_ids:
        return []
    column = HubRecord.data["source_id"].as_string()
    rows = session.execute(
        sa.select(column, HubRecord.id, HubRecord.origin)
        .where(
            HubRecord.tenant_id == tenant_id,
            HubRecord.entity == entity,
            HubRecord.deleted.is_(False),
            column.in_(source_ids),
        )
        .order_by(HubRecord.updated_at, HubRecord.id)
    ).all()
    latest = {key: rid for key, rid, origin in rows if source_of(origin) == source}
    return list(latest.values())


class RouteFlows:
    """The base of a route's flow jobs (commerce, PayMatch): the sessions, the hub, the queue
    and the clock they run with, and their runs' closing and derived-row look-up."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        hub: HubStore,
        queue: JobBackend,
        clock: Clock,
    ) -> None:
        self._sessions = session_factory
        self._hub = hub
        self._queue = queue
        self._clock = clock
        self._state = SyncState(session_factory, hub, clock)

    def _finish(self, run_id: str, status: str, counts: Counter[str], message: str | None) -> None:
        finish_run(self._sessions, self._clock, run_id, status, counts, message)

    def _derived(
        self, session: Session, route_id: str, key: str, role: str
    ) -> DerivedRecord | None:
        return derived_row(session, route_id, key, role)
