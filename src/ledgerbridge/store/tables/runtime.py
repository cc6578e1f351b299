"""Job queue and schedule tables.

The queue lives in our own tables so that the embedded mode (SQLite) and the production mode
(PostgreSQL, many workers) share one implementation and both survive ``kill -9``. The two rules
that must hold across processes, one running job per connection and one queued job per dedupe
key, are partial unique indexes: a race between workers ends in an integrity error, never in two
syncs of one connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_STATUSES = ("done", "failed", "cancelled")

_STATUS_LIST = ", ".join(f"'{status}'" for status in JOB_STATUSES)
_RUNNING = sa.text("status = 'running'")
_QUEUED = sa.text("status = 'queued'")


class Job(Base):
    """One unit of background work; a row, so that a crash loses nothing."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_STATUS_LIST})", name="ck_jobs_status"),
        sa.CheckConstraint("max_attempts >= 1", name="ck_jobs_max_attempts"),
        # One running job per connection, for every worker on every machine.
        sa.Index(
            "uq_jobs_running_connection",
            "connection_id",
            unique=True,
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        ),
        # A burst of identical requests coalesces into the one job still waiting.
        sa.Index(
            "uq_jobs_queued_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=_QUEUED,
            postgresql_where=_QUEUED,
        ),
        # The claim order; its leading column also finds running jobs with an expired lease.
        sa.Index("ix_jobs_claim", "status", "priority", "run_after", "seq"),
        # A connection's line of queued jobs, for "is another job ahead of this one"; its
        # leading column serves lookups by connection.
        sa.Index(
            "ix_jobs_connection_line", "connection_id", "status", "priority", "run_after", "seq"
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(100))
    # No foreign key: a job (and its history) may outlive the connection it worked for.
    connection_id: Mapped[str | None] = mapped_column(sa.String(36))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    priority: Mapped[int] = mapped_column(default=100)
    run_after: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255))
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime]
    # Enqueue order, for FIFO among jobs created at the same instant (a manual clock in tests,
    # a burst within one clock tick): max + 1 at insert, indexed so that max is cheap.
    seq: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Schedule(Base):
    """A cron rule per connection and job kind, evaluated in the connection's time zone."""

    __tablename__ = "schedules"
    __table_args__ = (
        # Also the index for lookups by connection_id, its leading column.
        sa.UniqueConstraint("connection_id", "kind", name="uq_schedules_connection_kind"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.String(36))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(100))
    cron: Mapped[str] = mapped_column(sa.String(100))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    # Local wall-clock slot last fired ("YYYY-MM-DDTHH:MM"): the repeated hour of a fall-back
    # day has the same wall-clock times, so this, not the UTC instant, decides "already ran".
    last_slot: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
