"""Sync state per connection: links, kept remote rows and held numbers, cursors, runs, the sync
log, open issues, write intents, the daily quota ledger and the inbound webhook inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id
from ledgerbridge.store.tables.hub import BigIntId

_CONNECTION_FK = "connections.id"


class Link(Base):
    """Binds a hub record to its remote twin in one stream (customers, suppliers, …) of one
    connection: the one source of id truth. A party that is both customer and supplier has a
    link in each stream.

    ``synced`` is the canonical projection both sides agreed on at the last sync; it is the base
    of the three-way merge when both sides changed, and its hash tells an echo from a change.
    """

    __tablename__ = "links"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "stream", "remote_id"),
        sa.UniqueConstraint("connection_id", "stream", "record_id"),
        sa.Index("ix_links_record", "record_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(36))
    remote_id: Mapped[str] = mapped_column(sa.String(200))
    synced: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    remote_hash: Mapped[str] = mapped_column(sa.String(64))
    hub_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RemoteRow(Base):
    """The last whole row a system returned for a record of a stream whose update replaces the
    whole entity (Uniconta): read by an import, a pull or a callback, carried by a callback
    (Change URL's Post option) or answered by a write. An update built on it needs no read
    first. A callback naming the record since it was kept makes it unsafe to use until the
    callback is processed (which keeps the row read then); see ``engine/outbound``."""

    __tablename__ = "remote_rows"

    connection_id: Mapped[str] = mapped_column(
        sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    remote_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    row: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    row_hash: Mapped[str] = mapped_column(sa.String(64))
    """Tells a row read again unchanged (nothing written) from a changed one."""
    stored_at: Mapped[datetime]


class HeldNumber(Base):
    """A number a system's record holds in a stream whose numbers the hub hands out, read from
    a row the hub follows but does not import (a Yuki contact that is no customer): the
    sequence skips it, since the system matches records on it."""

    __tablename__ = "held_numbers"

    connection_id: Mapped[str] = mapped_column(
        sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    seen_at: Mapped[datetime]


class Cursor(Base):
    __tablename__ = "cursors"

    connection_id: Mapped[str] = mapped_column(
        sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.String(500))
    updated_at: Mapped[datetime]


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_connection_started", "connection_id", "started_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    job_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """Records per stream at the start of an import, when the system can count them (ETA)."""
    calls: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SyncLogEntry(Base):
    """What happened to one record in one run, with a stable reason code when it did not sync."""

    __tablename__ = "sync_log"
    __table_args__ = (
        sa.Index("ix_sync_log_connection_id", "connection_id", "id"),
        sa.Index("ix_sync_log_connection_outcome", "connection_id", "outcome", "reason_code"),
        sa.Index("ix_sync_log_run_id", "run_id"),
        sa.Index("ix_sync_log_record", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    stream: Mapped[str] = mapped_column(sa.String(32))
    direction: Mapped[str] = mapped_column(sa.String(8))
    record_id: Mapped[str | None] = mapped_column(sa.String(36))
    remote_id: Mapped[str | None] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason_code: Mapped[str | None] = mapped_column(sa.String(64))
    message: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime]


class SyncIssue(Base):
    """An open skip or failure. It is deleted when the record next syncs, so the list of issues
    is always "what still needs attention", while the sync log keeps the history."""

    __tablename__ = "sync_issues"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "stream", "direction", "key"),
        sa.Index("ix_sync_issues_key", "key"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(sa.String(32))
    direction: Mapped[str] = mapped_column(sa.String(8))
    key: Mapped[str] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason_code: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """The remote record as received, for inbound issues: a retry needs no API call. A flow's
    issue keyed by a source's own id (a payout's) holds the hub record's id (``record_id``)."""
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=1)


class WriteIntent(Base):
    """Recorded before an outbound create is sent, with a journal of its steps (an order, its
    lines, its posting …): each step is recorded as started before its call and with its result
    once confirmed, so a create that stopped anywhere resumes from its last confirmed step, and
    a step started but not confirmed is looked up before it is sent again. Any status other than
    ``done`` and ``recovered`` (``pending``, ``refused``; ``ambiguous`` and ``failed`` from
    before the journal) means the create is not known to be complete."""

    __tablename__ = "write_intents"
    __table_args__ = (
        sa.Index("ix_write_intents_open", "connection_id", "status"),
        sa.Index("ix_write_intents_record", "connection_id", "stream", "record_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(36))
    operation: Mapped[str] = mapped_column(sa.String(16))
    business_key: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))
    remote_id: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.Text)
    steps: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """Per step name: ``{"state": "started" | "done" | "refused", "result": …}``; None for
    intents recorded before steps were journaled (each of their steps counts as started)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class QuotaUsage(Base):
    """Calls made per credential per quota day (the day as the vendor counts it)."""

    __tablename__ = "quota_usage"

    credential_key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)
    limit: Mapped[int]


class InboxEvent(Base):
    """An inbound notification (Change URL callback, webhook), stored before it is acknowledged."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "event_key"),
        sa.Index("ix_inbox_events_pending", "connection_id", "processed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
