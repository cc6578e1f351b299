"""Routes between a tenant's connections and the records flows derive from hub records.

A route says which hub entities changed by one side (a connection, or the hub API when the
source is ``app``) are pushed to one target connection; a route with a ``commerce`` block also
turns the source's orders and refunds into invoices and credit notes for its target. The
derived-record table is what makes that exactly once: one row per (route, source record, role),
written in the transaction that writes the derived hub record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id

_CONNECTION_FK = "connections.id"


class Route(Base):
    """One directed route. ``source_connection_id`` is None for records written through the hub
    API (the API calls that side ``app``)."""

    __tablename__ = "routes"
    __table_args__ = (sa.Index("ix_routes_tenant", "tenant_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    source_connection_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE")
    )
    target_connection_id: Mapped[str] = mapped_column(
        sa.ForeignKey(_CONNECTION_FK, ondelete="CASCADE")
    )
    entities: Mapped[list[str]] = mapped_column(JSONDoc)
    commerce: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """``{"policy": CommercePolicy, "rules": MappingRules}`` as saved, or None."""
    paymatch: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    """A ``PayMatchPolicy`` as saved (the source's payouts posted in the target's cash
    journal), or None."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FlowCursor(Base):
    """The last change-feed position a route's flow has read: the job reads after it, so a
    change is never missed and repeated changes of one record are read once."""

    __tablename__ = "flow_cursors"

    route_id: Mapped[str] = mapped_column(
        sa.ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime]


class DerivedRecord(Base):
    """A hub record a route's flow derived from a source record (an invoice from an order, a
    credit note from a refund, a party from a customer). ``state`` is the derived record's
    lifecycle as the flow sees it (``draft``, ``booked``, ``paid``, ``waiting``): a booked
    invoice is never rewritten."""

    __tablename__ = "derived_records"
    __table_args__ = (
        sa.UniqueConstraint(
            "route_id", "source_record_id", "role", name="uq_derived_records_source"
        ),
        sa.Index("ix_derived_records_derived", "route_id", "derived_record_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    route_id: Mapped[str] = mapped_column(sa.ForeignKey("routes.id", ondelete="CASCADE"))
    source_record_id: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(32))
    derived_record_id: Mapped[str] = mapped_column(sa.String(36))
    state: Mapped[str] = mapped_column(sa.String(16))
    source_hash: Mapped[str | None] = mapped_column(sa.String(64))
    """Hash of the source record (with the rules' version) last processed: an unchanged
    repeat is recognised without recomputing."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
