"""Writes to hub records, always with their change-feed row in the same transaction.

Every path that changes a canonical record (the app through the API, a connector through a
sync) goes through here, so the change feed, webhooks and pushes can never miss a change.

Feed positions are taken just before the transaction commits, from a per-tenant counter row
that stays locked until the commit: two writers of one tenant get their positions in the order
they commit, so a reader never sees a position while a smaller one is still to commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from ledgerbridge.clock import Clock
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.store.base import new_id
from ledgerbridge.store.db import dialect_insert, insert_rows
from ledgerbridge.store.tables.hub import Change, ChangeRow, FeedCounter, HubRecord, search_text

JSON = dict[str, Any]
ChangeListener = Callable[[Session, list[ChangeRow]], None]
"""Called once per transaction, just before it commits, with every change it made (their
``position`` assigned): listeners add their rows (webhook outbox) to the same transaction
and, since the tenant's feed counter is locked until the commit, must be quick."""

_PENDING = "ledgerbridge.hub.changes"

API_ORIGIN = "api"


def connection_origin(connection_id: str) -> str:
    return f"connection:{connection_id}"


@dataclass(slots=True)
class NewRecord:
    """A hub record to be created by ``HubStore.create_many``: its id and hash are known at
    once, so its link and log rows can be written before the page's one insert."""

    id: str
    data: JSON
    content_hash: str


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

    def load(self, session: Session, record_ids: Iterable[str]) -> list[HubRecord]:
        """Loads these records into the session in one query, so that ``get`` finds them
        without one query each (a page of linked records read again). The session holds its
        records weakly: the caller keeps the answer while it uses ``get``, or they are gone
        at once and each ``get`` queries again."""
        wanted = sorted(set(record_ids))
        if not wanted:
            return []
        return list(session.scalars(sa.select(HubRecord).where(HubRecord.id.in_(wanted))))

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
        self,
        session: Session,
        tenant_id: str,
        entity: str,
        data: JSON,
        origin: str,
        *,
        actor: str | None = None,
        run_id: str | None = None,
    ) -> HubRecord:
        """``actor`` (an app's key or user) or ``run_id`` (a sync's or flow's run) say who
        made the change, for the record's history."""
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
            search_text=search_text(data),
        )
        session.add(record)
        self._record_change(session, record, "created", _created_diff(data), actor, run_id)
        return record

    @staticmethod
    def prepare(data: JSON, hashed: str | None = None, record_id: str | None = None) -> NewRecord:
        """A record for ``create_many``, with its id (``record_id``, when drawn already) and
        content hash (``hashed``, when worked out already)."""
        return NewRecord(record_id or new_id(), data, hashed or content_hash(data))

    def create_many(
        self,
        session: Session,
        tenant_id: str,
        entity: str,
        records: list[NewRecord],
        origin: str,
        *,
        actor: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """``create`` for many records in one INSERT (an import's page), each with its
        change row as ``create`` writes it: thousands of ORM objects would cost more than
        the rows."""
        if not records:
            return
        now = self.clock.now()
        insert_rows(
            session,
            HubRecord,
            [
                {"id": new.id, "tenant_id": tenant_id, "entity": entity, "data": new.data,
                 "content_hash": new.content_hash, "version": 1, "origin": origin,
                 "deleted": False, "created_at": now, "updated_at": now,
                 "search_text": search_text(new.data)}
                for new in records
            ],
        )  # fmt: skip
        _, pending = session.info.setdefault(_PENDING, (self, []))
        savepoints = _open_savepoints(session)
        pending.extend(
            (
                ChangeRow(tenant_id, entity, new.id, 1, "created", origin, now, actor, run_id,
                          _created_diff(new.data)),
                savepoints,
            )
            for new in records
        )  # fmt: skip

    def update(
        self,
        session: Session,
        record: HubRecord,
        data: JSON,
        origin: str,
        *,
        actor: str | None = None,
        run_id: str | None = None,
    ) -> bool:
        """Replace the record's data; returns False (and writes nothing) when nothing changed."""
        new_hash = content_hash(data)
        if new_hash == record.content_hash and not record.deleted:
            return False
        diff = field_diff(record.data, data)
        record.data = data
        record.search_text = search_text(data)
        record.content_hash = new_hash
        record.version += 1
        record.origin = origin
        record.updated_at = self.clock.now()
        self._record_change(session, record, "updated", diff, actor, run_id)
        return True

    def delete(
        self, session: Session, record: HubRecord, origin: str, *, actor: str | None = None
    ) -> None:
        """Mark deleted; the feed says so. Deletes do not propagate to accounting systems,
        but for a draft the system keeps apart from its books (``EntityMapping.withdrawable``)."""
        if record.deleted:
            return
        record.deleted = True
        record.version += 1
        record.origin = origin
        record.updated_at = self.clock.now()
        self._record_change(session, record, "deleted", None, actor, None)

    def _record_change(
        self,
        session: Session,
        record: HubRecord,
        operation: str,
        diff: JSON | None,
        actor: str | None,
        run_id: str | None,
    ) -> None:
        change = ChangeRow(
            tenant_id=record.tenant_id,
            entity=record.entity,
            record_id=record.id,
            version=record.version,
            operation=operation,
            origin=record.origin,
            at=record.updated_at,
            actor=actor,
            run_id=run_id,
            diff=diff,
        )
        # Inserted only at commit, once it has its position (``dispatch``).
        _, pending = session.info.setdefault(_PENDING, (self, []))
        pending.append((change, _open_savepoints(session)))

    def dispatch(self, session: Session, changes: list[ChangeRow]) -> None:
        """Number the transaction's changes, store them (one INSERT) and tell the listeners
        (at commit)."""
        session.flush()
        for tenant_id in sorted({c.tenant_id for c in changes}):  # one lock order: no deadlock
            mine = [c for c in changes if c.tenant_id == tenant_id]
            last = _take_positions(session, tenant_id, len(mine))
            for position, change in enumerate(mine, start=last - len(mine) + 1):
                change.position = position
        insert_rows(session, Change, [c.values() for c in changes])
        for listener in self.listeners:
            listener(session, changes)

    def change_heads(
        self,
        session: Session,
        tenant_id: str,
        after: int,
        limit: int,
        *,
        entity: str | None = None,
        upto: int | None = None,
    ) -> Sequence[sa.Row[int, str, str, str]]:
        """``changes`` without their diffs (position, entity, record_id, origin): what the
        followers of the feed (pushes, routes) read to know which records to look at. An
        import's thousands of changes cost them no JSON decoding nor an ORM object each.
        ``entity`` and ``upto`` narrow it (a stream switched on walks its own past)."""
        query = sa.select(Change.position, Change.entity, Change.record_id, Change.origin).where(
            Change.tenant_id == tenant_id, Change.position > after
        )
        if entity is not None:
            query = query.where(Change.entity == entity)
        if upto is not None:
            query = query.where(Change.position <= upto)
        return session.execute(query.order_by(Change.position).limit(limit)).all()

    def changes(self, session: Session, tenant_id: str, after: int, limit: int) -> list[Change]:
        """Changes after the cursor ``after`` (a position), in commit order."""
        return list(
            session.scalars(
                sa.select(Change)
                .where(Change.tenant_id == tenant_id, Change.position > after)
                .order_by(Change.position)
                .limit(limit)
            )
        )


def _created_diff(data: JSON) -> JSON:
    """A creation's diff: every field set, before null."""
    return {name: [None, value] for name, value in data.items() if value is not None}


def field_diff(before: JSON, after: JSON, prefix: str = "") -> JSON:
    """``{field: [before, after]}`` for each field that differs; a nested object (an address)
    is compared field by field (``billing_address.city``), a list (invoice lines) whole."""
    diff: JSON = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            diff.update(field_diff(old, new, f"{prefix}{name}."))
        else:
            diff[f"{prefix}{name}"] = [old, new]
    return diff


def _take_positions(session: Session, tenant_id: str, count: int) -> int:
    """Reserve ``count`` feed positions for the tenant; returns the last one. The counter row
    stays locked by this transaction until it commits."""
    statement = dialect_insert(session)(FeedCounter).values(tenant_id=tenant_id, last=count)
    statement = statement.on_conflict_do_update(
        index_elements=[FeedCounter.tenant_id],
        set_={"last": FeedCounter.last + statement.excluded.last},
    )
    last = session.execute(statement.returning(FeedCounter.last)).scalar_one()
    return int(last)


@sa.event.listens_for(Session, "before_commit")
def _dispatch_changes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint is being released: the changes wait for the real commit
    entry = session.info.pop(_PENDING, None)
    if entry is not None:
        hub, pending = entry
        hub.dispatch(session, [change for change, _ in pending])


def _open_savepoints(session: Session) -> tuple[SessionTransaction, ...]:
    """The savepoints a change is made in: if one of them is rolled back, so is the change."""
    savepoints = []
    transaction = session.get_nested_transaction()
    while transaction is not None and transaction.nested:
        savepoints.append(transaction)
        transaction = transaction.parent
    return tuple(savepoints)


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_savepoint_changes(session: Session, transaction: SessionTransaction) -> None:
    entry = session.info.get(_PENDING)
    if entry is not None and transaction.nested:
        entry[1][:] = [(c, inside) for c, inside in entry[1] if transaction not in inside]


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_changes(session: Session, transaction: SessionTransaction) -> None:
    # Only when the outermost transaction ends (a savepoint rolled back leaves it going);
    # after a commit the changes were already taken, so what is left was rolled back.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
