"""Reconciliation reports: both sides of a connection for a period, kept as one document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id


class Reconciliation(Base):
    """One report: the totals of both sides (``totals``) and every difference record by
    record (``differences``), as one JSON document each. A report is read whole (page, CSV,
    webhook comparison with the previous report of its period), so it needs no table of
    its own per difference."""

    __tablename__ = "reconciliations"
    __table_args__ = (
        sa.Index("ix_reconciliations_connection", "connection_id", "created_at"),
        sa.Index("ix_reconciliations_period", "connection_id", "period", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    period: Mapped[str] = mapped_column(sa.String(7))
    """The calendar month, ``YYYY-MM``, in the connection's time zone."""
    trigger: Mapped[str] = mapped_column(sa.String(16))
    """``manual`` or ``schedule``."""
    status: Mapped[str] = mapped_column(sa.String(16))
    """``queued``, ``running``, ``done``, ``deferred`` (the day's budget) or ``failed``."""
    job_id: Mapped[str | None] = mapped_column(sa.String(36))
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    calls: Mapped[int] = mapped_column(default=0)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    differences: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDoc)
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
