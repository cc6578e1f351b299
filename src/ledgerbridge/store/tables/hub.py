"""The hub: canonical records of every tenant and the change feed over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Autoincrementing 64-bit keys; SQLite only autoincrements a plain INTEGER primary key."""


class HubRecord(Base):
    """One canonical record. ``origin`` says who made the last change (``api`` or a connection).

    The index below hands out a page of an entity's records in id order without sorting them
    all (migration 0016). Besides it, migrations 0015 and 0016 index each business key inside
    ``data`` (one partial expression index per entity and key, which models cannot declare for
    both backends), and migration 0020 a credit note's invoice; ``business_key_is`` writes the
    expression those indexes are on."""

    __tablename__ = "hub_records"
    __table_args__ = (sa.Index("ix_hub_records_tenant_entity_id", "tenant_id", "entity", "id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)
    origin: Mapped[str] = mapped_column(sa.String(64))
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    search_text: Mapped[str] = mapped_column(sa.Text, default="", server_default="", deferred=True)
    """``search_text(data)``, written with ``data`` (migration 0017); searched, never read
    back, so a record loaded by the ORM leaves it in the database."""


class Change(Base):
    """Append-only change feed. ``seq`` is the row id; ``position`` is the cursor handed to
    apps, push jobs and webhooks: numbered per tenant in commit order (see ``FeedCounter``), so
    a reader that has seen a position has seen every change committed before it."""

    __tablename__ = "changes"
    __table_args__ = (
        sa.Index("ux_changes_tenant_position", "tenant_id", "position", unique=True),
        sa.Index("ix_changes_record", "record_id", "version"),
    )

    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    position: Mapped[int] = mapped_column(sa.BigInteger)
    entity: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[str] = mapped_column(sa.String(36))
    version: Mapped[int]
    operation: Mapped[str] = mapped_column(sa.String(16))
    origin: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(sa.String(100))
    """Who asked for an ``api`` change: ``key:<api key id>`` or ``user:<user id>``."""
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    """The run that wrote a connection's or a flow's change."""
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """Per changed field ``[before, after]`` (a creation: every field set, before null)."""


@dataclass(slots=True)
class ChangeRow:
    """A change as it is written to the feed and as the hub's listeners see it: a plain
    object, since an import makes thousands per page and the ORM's bookkeeping of each would
    cost more than the row itself (they are inserted in one statement, see ``HubStore``)."""

    tenant_id: str
    entity: str
    record_id: str
    version: int
    operation: str
    origin: str
    at: datetime
    actor: str | None
    run_id: str | None
    diff: dict[str, Any] | None
    position: int = 0

    def values(self) -> dict[str, Any]:
        """The row's columns, as the feed's INSERT takes them."""
        return {
            "tenant_id": self.tenant_id, "position": self.position, "entity": self.entity,
            "record_id": self.record_id, "version": self.version, "operation": self.operation,
            "origin": self.origin, "at": self.at, "actor": self.actor, "run_id": self.run_id,
            "diff": self.diff,
        }  # fmt: skip


class FeedCounter(Base):
    """Last change-feed position handed out per tenant. A writing transaction takes the next
    positions just before it commits (the row stays locked until then), so positions are
    handed out in commit order and no reader can pass a position that commits later."""

    __tablename__ = "feed_counters"

    tenant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last: Mapped[int] = mapped_column(sa.BigInteger)


def search_text(data: Any) -> str:
    """What a record is found by in a search of its words: each of its values (nested ones
    too) in lower case, one a line, without the field names. A search reads this short text
    instead of the whole JSON document cast to text, which cost PostgreSQL 12 µs a record
    (250 ms a search of 20,000 parties); lower case on both sides makes it case-blind for
    every letter (SQLite's LIKE folds ASCII only), and no field name matches every record."""
    values: list[str] = []

    def walk(container: Any) -> None:
        for value in container.values() if isinstance(container, dict) else container:
            if value is None or value is True or value is False:
                continue
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, dict | list):
                walk(value)
            else:
                values.append(str(value))

    if isinstance(data, dict | list):
        walk(data)
    return "\n".join(values).lower()


def holds_word(word: str) -> sa.ColumnElement[bool]:
    """The record's values hold ``word`` (any case; ``%`` and ``_`` taken literally)."""
    return HubRecord.search_text.contains(word.lower(), autoescape=True)


def business_key_is(dialect: str, entity: str, field: str, value: str) -> sa.ColumnElement[bool]:
    """The record is an ``entity`` whose business key ``field`` is ``value`` (or whose indexed
    reference is: a credit note's ``credits_invoice_id``, migration 0020): written as the
    migrations' partial index on that key is, entity and path inline, so that the planner
    takes the index (bound parameters there would hide it)."""
    if dialect == "postgresql":
        key = f"(hub_records.data ->> '{field}')"
    else:
        key = f"json_extract(hub_records.data, '$.{field}')"
    return sa.and_(
        sa.text(f"hub_records.entity = '{entity}'"), sa.literal_column(key, sa.String) == value
    )
