"""Writes to hub records, always with their change-feed row in the same transaction.

Every path that changes a canonical record (the app through the API, a connector through a
sync) goes through here, so the change feed, webhooks and pushes can never miss a change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.clock import Clock
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.store.base import new_id
from ledgerbridge.store.tables.hub import Change, HubRecord

JSON = dict[str, Any]
ChangeListener = Callable[[Session, list[Change]], None]
"""Called once per transaction, just before it commits, with every change it made (their
``seq`` assigned): listeners add their rows (webhook outbox) to the same transaction."""

_PENDING = "ledgerbridge.hub.changes"

API_ORIGIN = "api"


def connection_origin(connection_id: str) -> str:
    return f"connection:{connection_id}"


class HubStore:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.listeners: list[ChangeListener] = []

    def get(
        self, session: Session, tenant_id: str, entity: str, record_id: str
    ) -> HubRecord | None:
        record = session.get(HubRecord, record_id)
        if record is None or record.tenant_id != tenant_id or record.entity != entity:
            return None
        return record

    def index_by_field(
        self, session: Session, tenant_id: str, entity: str, field: str
    ) -> dict[str, str]:
        """Live records of an entity by the value of one field (e.g. debtor number → id)."""
        return dict(self.values_of_field(session, tenant_id, entity, field))

    def values_of_field(
        self, session: Session, tenant_id: str, entity: str, field: str
    ) -> list[tuple[str, str]]:
        """(value, id) of every live record of an entity with this field set; unlike
        ``index_by_field`` it keeps records that share a value."""
        value = HubRecord.data[field].as_string()
        rows = session.execute(
            sa.select(value, HubRecord.id).where(
                HubRecord.tenant_id == tenant_id,
                HubRecord.entity == entity,
                HubRecord.deleted.is_(False),
                value.is_not(None),
            )
        )
        return [(key, record_id) for key, record_id in rows if key]

    def create(
        self, session: Session, tenant_id: str, entity: str, data: JSON, origin: str
    ) -> HubRecord:
        now = self.clock.now()
        record = HubRecord(
            id=new_id(),
            tenant_id=tenant_id,
            entity=entity,
            data=data,
            content_hash=content_hash(data),
            version=1,
            origin=origin,
            deleted=False,
            created_at=now,
            updated_at=now,
        )
        session.add(record)
        self._record_change(session, record, "created")
        return record

    def update(self, session: Session, record: HubRecord, data: JSON, origin: str) -> bool:
        """Replace the record's data; returns False (and writes nothing) when nothing changed."""
        new_hash = content_hash(data)
        if new_hash == record.content_hash and not record.deleted:
            return False
        record.data = data
        record.content_hash = new_hash
        record.version += 1
        record.origin = origin
        record.updated_at = self.clock.now()
        self._record_change(session, record, "updated")
        return True

    def delete(self, session: Session, record: HubRecord, origin: str) -> None:
        """Mark deleted. Deletes never propagate to accounting systems; the feed still says so."""
        if record.deleted:
            return
        record.deleted = True
        record.version += 1
        record.origin = origin
        record.updated_at = self.clock.now()
        self._record_change(session, record, "deleted")

    def _record_change(self, session: Session, record: HubRecord, operation: str) -> None:
        change = Change(
            tenant_id=record.tenant_id,
            entity=record.entity,
            record_id=record.id,
            version=record.version,
            operation=operation,
            origin=record.origin,
            at=record.updated_at,
        )
        session.add(change)
        _, pending = session.info.setdefault(_PENDING, (self, []))
        pending.append(change)

    def dispatch(self, session: Session, changes: list[Change]) -> None:
        session.flush()
        for listener in self.listeners:
            listener(session, changes)

    def changes(self, session: Session, tenant_id: str, after: int, limit: int) -> list[Change]:
        return list(
            session.scalars(
                sa.select(Change)
                .where(Change.tenant_id == tenant_id, Change.seq > after)
                .order_by(Change.seq)
                .limit(limit)
            )
        )


@sa.event.listens_for(Session, "before_commit")
def _dispatch_changes(session: Session) -> None:
    entry = session.info.pop(_PENDING, None)
    if entry is not None:
        hub, changes = entry
        hub.dispatch(session, changes)


@sa.event.listens_for(Session, "after_rollback")
def _drop_changes(session: Session) -> None:
    session.info.pop(_PENDING, None)
