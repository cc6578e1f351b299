"""Retention: old history goes, what a reader has not consumed yet stays, whatever its age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.retention import PUSH_CURSOR, Retention
from ledgerbridge.runtime.system import RETENTION_CRON, SYSTEM_SCOPE, System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import Change
from ledgerbridge.store.tables.reconcile import Reconciliation
from ledgerbridge.store.tables.sync import Cursor, InboxEvent, SyncLogEntry
from ledgerbridge.store.tables.tenancy import (
    Connection,
    Tenant,
    WebhookDelivery,
    WebhookSubscription,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=45)
RECENT = NOW - timedelta(days=2)


def _connection(session: Session, tenant_id: str, name: str) -> str:
    row = Connection(
        tenant_id=tenant_id, system="uniconta", name=name, timezone="UTC", settings={},
        secrets="", credential_key=name, inbound_token_hash="x", created_at=OLD,
        updated_at=OLD,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def _changes(session: Session, tenant_id: str, positions: range, at: datetime) -> None:
    for position in positions:
        session.add(
            Change(
                tenant_id=tenant_id,
                position=position,
                entity="party",
                record_id=f"r{position}",
                version=1,
                operation="update",
                origin="api",
                at=at,
            )
        )


def _cursor(session: Session, connection_id: str, position: int) -> None:
    session.add(
        Cursor(connection_id=connection_id, name=PUSH_CURSOR, value=str(position), updated_at=OLD)
    )


def test_purge_keeps_what_readers_still_need(session_factory: sessionmaker[Session]) -> None:
    clock = ManualClock(NOW)
    with session_factory.begin() as session:
        session.add_all([Tenant(id="t1", name="One", created_at=OLD),
                         Tenant(id="t2", name="Two", created_at=OLD),
                         Tenant(id="t3", name="Three", created_at=OLD)])  # fmt: skip
        session.flush()
        # t1: two connections, one has pushed up to 8, the other up to 5.
        fast, slow = _connection(session, "t1", "fast"), _connection(session, "t1", "slow")
        _cursor(session, fast, 8)
        _cursor(session, slow, 5)
        _changes(session, "t1", range(1, 9), OLD)
        _changes(session, "t1", range(9, 11), RECENT)
        # t2: a connection that has not pushed yet keeps every change.
        _connection(session, "t2", "new")
        _changes(session, "t2", range(1, 4), OLD)
        # t3: no connection: only the age counts.
        _changes(session, "t3", range(1, 3), OLD)
        for at, outcome in ((OLD, "created"), (RECENT, "updated")):
            session.add(
                SyncLogEntry(
                    connection_id=fast, stream="customers", direction="out", outcome=outcome, at=at
                )
            )
        for key, processed in (("done", OLD), ("pending", None), ("fresh", RECENT)):
            session.add(
                InboxEvent(
                    connection_id=fast,
                    event_key=key,
                    payload={},
                    received_at=OLD,
                    processed_at=processed,
                )
            )
        session.add(WebhookSubscription(id="s1", tenant_id="t1", url="http://127.0.0.1:1/",
                                        secret="x", events=["*"], created_at=OLD))  # fmt: skip
        session.flush()
        for delivered in (OLD, None):
            session.add(
                WebhookDelivery(subscription_id="s1", tenant_id="t1", event_type="party.update",
                                payload={}, status="delivered" if delivered else "pending",
                                next_attempt_at=OLD, created_at=OLD, delivered_at=delivered)
            )  # fmt: skip
    jobs = EmbeddedBackend(session_factory, clock, lease_seconds=60)

    purged = Retention(session_factory, jobs, clock, keep=timedelta(days=30)).purge()

    assert (purged.sync_log, purged.inbox_events, purged.webhook_deliveries) == (1, 1, 1)
    assert purged.changes == 5 + 0 + 2
    with session_factory() as session:
        left = session.execute(
            sa.select(Change.tenant_id, Change.position).order_by(Change.tenant_id, Change.position)
        ).all()
        assert left == [("t1", 6), ("t1", 7), ("t1", 8), ("t1", 9), ("t1", 10),
                        ("t2", 1), ("t2", 2), ("t2", 3)]  # fmt: skip
        assert session.scalars(sa.select(SyncLogEntry.outcome)).all() == ["updated"]
        assert sorted(session.scalars(sa.select(InboxEvent.event_key))) == ["fresh", "pending"]
        assert session.scalars(sa.select(WebhookDelivery.status)).all() == ["pending"]


def test_a_records_creation_outlives_the_retention_age(
    session_factory: sessionmaker[Session],
) -> None:
    """The history of a record starts where the record did, however old: its creation's
    change row stays, its later versions go with the rest of the history."""
    clock = ManualClock(NOW)
    with session_factory.begin() as session:
        session.add(Tenant(id="t1", name="One", created_at=OLD))
        session.flush()
        for position, operation in ((1, "created"), (2, "updated"), (3, "deleted")):
            session.add(
                Change(tenant_id="t1", position=position, entity="party", record_id="r1",
                       version=position, operation=operation, origin="api", at=OLD)
            )  # fmt: skip
    jobs = EmbeddedBackend(session_factory, clock, lease_seconds=60)

    purged = Retention(session_factory, jobs, clock, keep=timedelta(days=30)).purge()

    assert purged.changes == 2
    with session_factory() as session:
        assert session.scalars(sa.select(Change.operation)).all() == ["created"]


def test_replaced_reconciliation_reports_go_the_newest_of_each_month_stays(
    session_factory: sessionmaker[Session],
) -> None:
    clock = ManualClock(NOW)
    with session_factory.begin() as session:
        session.add(Tenant(id="t1", name="One", created_at=OLD))
        session.flush()
        cid = _connection(session, "t1", "c1")
        for period, at in (
            ("2026-09", OLD - timedelta(days=1)),
            ("2026-09", OLD),
            ("2026-10", OLD),
            ("2026-10", RECENT),
            ("2026-11", OLD),
        ):
            session.add(Reconciliation(connection_id=cid, tenant_id="t1", period=period,
                                       trigger="manual", status="done", calls=0,
                                       created_at=at))  # fmt: skip
    jobs = EmbeddedBackend(session_factory, clock, lease_seconds=60)

    purged = Retention(session_factory, jobs, clock, keep=timedelta(days=30)).purge()

    assert purged.reconciliations == 2
    with session_factory() as session:
        left = session.execute(
            sa.select(Reconciliation.period, Reconciliation.created_at).order_by(
                Reconciliation.period
            )
        ).all()
    assert [(p, at.date()) for p, at in left] == [
        ("2026-09", OLD.date()), ("2026-10", RECENT.date()), ("2026-11", OLD.date())
    ]  # fmt: skip


def test_retention_runs_from_a_daily_internal_schedule(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db_url, secret_keys=Fernet.generate_key().decode(),
        secret_key_file=tmp_path / "unused.key", retention_days=7,
    )  # fmt: skip
    system = System(settings)
    try:
        (schedule,) = [s for s in system.scheduler.list(SYSTEM_SCOPE) if s.kind == "retention"]
        assert (schedule.cron, schedule.timezone, schedule.enabled) == (RETENTION_CRON, "UTC", True)
        job_id = system.queue.enqueue(Command("retention", connection_id=SYSTEM_SCOPE))
        assert system.worker.run_until_idle() >= 1
        info = system.queue.get(job_id)
        assert info is not None and info.status == "done"
    finally:
        system.close()
