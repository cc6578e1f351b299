"""Retention: history older than the configured age is deleted, once a day.

What goes: finished jobs, sync-log rows, inbox events already processed, delivered webhook
deliveries, change-feed rows, and reconciliation reports a newer report of the same month
has replaced (the newest report of each month stays: it is what the next report of that
month is compared with, and a month's books are read long after). What stays, whatever its
age: anything a reader still needs. An inbox event not processed yet and a delivery not
delivered yet are never removed, and a change is removed only once every connection of its
tenant has pushed past it (the lowest push cursor of the tenant's connections; a connection
that has not pushed yet keeps them all). Apps reading ``GET /changes`` are expected to read
within the retention age.

A record's creation (its change row with the first values, who and which run) is kept as long
as the record: its history always starts where the record did. Later versions and the sync
log go after the retention age like the rest of the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue.port import JobBackend
from ledgerbridge.store.tables.hub import Change
from ledgerbridge.store.tables.reconcile import Reconciliation
from ledgerbridge.store.tables.sync import Cursor, InboxEvent, SyncLogEntry
from ledgerbridge.store.tables.tenancy import Connection, WebhookDelivery

PUSH_CURSOR = "push"
"""The cursor name under which the push job keeps the last change position it sent."""


@dataclass(frozen=True)
class Purged:
    jobs: int
    sync_log: int
    inbox_events: int
    webhook_deliveries: int
    changes: int
    reconciliations: int = 0


def _count(result: sa.Result[object]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


class Retention:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        jobs: JobBackend,
        clock: Clock,
        *,
        keep: timedelta,
    ) -> None:
        if keep <= timedelta(0):
            raise ValueError("retention age must be positive")
        self._sessions = session_factory
        self._jobs = jobs
        self._clock = clock
        self._keep = keep

    def purge(self) -> Purged:
        """Delete what is older than the retention age and no reader still needs."""
        cutoff = self._clock.now() - self._keep
        jobs = self._jobs.purge_finished(self._keep)
        with self._sessions.begin() as session:
            sync_log = _count(
                session.execute(sa.delete(SyncLogEntry).where(SyncLogEntry.at < cutoff))
            )
            inbox = _count(
                session.execute(
                    sa.delete(InboxEvent).where(
                        InboxEvent.processed_at.is_not(None), InboxEvent.processed_at < cutoff
                    )
                )
            )
            deliveries = _count(
                session.execute(
                    sa.delete(WebhookDelivery).where(
                        WebhookDelivery.delivered_at.is_not(None),
                        WebhookDelivery.delivered_at < cutoff,
                    )
                )
            )
            changes = self._purge_changes(session, cutoff)
            reports = self._purge_reports(session, cutoff)
        return Purged(jobs, sync_log, inbox, deliveries, changes, reports)

    @staticmethod
    def _purge_reports(session: Session, cutoff: datetime) -> int:
        """Old reports that a newer report of the same connection and month replaced."""
        newer = sa.orm.aliased(Reconciliation)
        replaced = (
            sa.select(sa.literal(1))
            .select_from(newer)
            .where(
                newer.connection_id == Reconciliation.connection_id,
                newer.period == Reconciliation.period,
                newer.created_at > Reconciliation.created_at,
            )
        )
        return _count(
            session.execute(
                sa.delete(Reconciliation).where(
                    Reconciliation.created_at < cutoff, sa.exists(replaced)
                )
            )
        )

    @staticmethod
    def _purge_changes(session: Session, cutoff: datetime) -> int:
        """Old changes that every connection of their tenant has pushed past, but for each
        record's creation."""
        pushed = sa.func.coalesce(sa.cast(Cursor.value, sa.BigInteger), 0)
        behind = (
            sa.select(sa.literal(1))
            .select_from(Connection)
            .outerjoin(
                Cursor,
                sa.and_(Cursor.connection_id == Connection.id, Cursor.name == PUSH_CURSOR),
            )
            .where(Connection.tenant_id == Change.tenant_id, pushed < Change.position)
        )
        return _count(
            session.execute(
                sa.delete(Change).where(
                    Change.at < cutoff, Change.operation != "created", ~sa.exists(behind)
                )
            )
        )
