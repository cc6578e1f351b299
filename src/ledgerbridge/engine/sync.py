"""The sync logic every connector shares: import, pull, push, callbacks, retries.

Rules kept throughout:
- no database transaction is open while an API call is made (the quota meter writes in a
  transaction of its own, and SQLite has one writer);
- a page of remote records is applied, with its links, log rows and cursor, in one transaction:
  a crash loses at most the page in flight, and re-applying it changes nothing;
- a create is recorded as a write intent before it is sent; an intent whose outcome is unknown
  is resolved by looking the record up by its business key before anything is sent again;
- whether a record changed is decided by comparing projections with the link's ``synced`` state,
  so an echo of our own write is "unchanged" and is never sent back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    AmbiguousWrite,
    Connector,
    EntityMapping,
    RemoteRejected,
    SkipRecord,
)
from ledgerbridge.engine.canonical import content_hash, describe_validation_error, validate
from ledgerbridge.engine.hub import HubStore, connection_origin
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Cursor, InboxEvent, Link, SyncIssue, WriteIntent

log = logging.getLogger(__name__)

INBOUND = "inbound"
OUTBOUND = "outbound"
DONE = "done"


@dataclass
class RunContext:
    """One run of one job against one connection."""

    connection_id: str
    tenant_id: str
    settings: dict[str, Any]
    connector: Connector
    run_id: str | None
    page_size: int
    write_batch_size: int
    heartbeat: Callable[[], None] = lambda: None
    counts: Counter[str] = field(default_factory=Counter)
    unlinked_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per entity: hub records not yet linked, by business key (computed once per run)."""

    @property
    def origin(self) -> str:
        return connection_origin(self.connection_id)

    def directions(self, entity: str) -> tuple[bool, bool]:
        """(inbound, outbound) for an entity: the connector's abilities and the user's choice."""
        mapping = self.connector.mappings.get(entity)
        if mapping is None:
            return False, False
        chosen = self.settings.get("entities", {}).get(entity, {})
        if not chosen.get("enabled", True):
            return False, False
        direction = chosen.get("direction", "both")
        return (
            mapping.inbound and direction in ("both", INBOUND),
            mapping.outbound and direction in ("both", OUTBOUND),
        )


class SyncEngine:
    def __init__(self, session_factory: sessionmaker[Session], hub: HubStore, clock: Clock) -> None:
        self._sessions = session_factory
        self.hub = hub
        self.clock = clock

    # ------------------------------------------------------------------ helpers

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _recorder(self, ctx: RunContext) -> SyncRecorder:
        return SyncRecorder(self.clock, ctx.connection_id, ctx.run_id, ctx.counts)

    def _cursor(self, session: Session, ctx: RunContext, name: str) -> str | None:
        row = session.get(Cursor, (ctx.connection_id, name))
        return row.value if row else None

    def _set_cursor(self, session: Session, ctx: RunContext, name: str, value: str | None) -> None:
        row = session.get(Cursor, (ctx.connection_id, name))
        if row is None:
            session.add(
                Cursor(
                    connection_id=ctx.connection_id,
                    name=name,
                    value=value,
                    updated_at=self.clock.now(),
                )
            )
        else:
            row.value = value
            row.updated_at = self.clock.now()

    def _normalise(self, mapping: EntityMapping, canonical: JSON) -> JSON:
        """The remote's canonical fields as the hub would store them (validated, normalised)."""
        return self._validated(mapping, canonical)[0]

    def _validated(self, mapping: EntityMapping, canonical: JSON) -> tuple[JSON, JSON]:
        """(projection on the mapping's fields, the whole record a create would store)."""
        full = validate(mapping.entity, {**mapping.defaults(), **canonical})
        return {name: full.get(name) for name in sorted(mapping.fields)}, full

    def _links_by(
        self, session: Session, ctx: RunContext, entity: str, column: Any, values: list[str]
    ) -> dict[str, Link]:
        if not values:
            return {}
        rows = session.scalars(
            sa.select(Link).where(
                Link.connection_id == ctx.connection_id,
                Link.entity == entity,
                column.in_(values),
            )
        )
        return {getattr(link, column.key): link for link in rows}

    def _save_link(
        self,
        session: Session,
        ctx: RunContext,
        entity: str,
        record: HubRecord,
        remote_id: str,
        synced: JSON,
        link: Link | None,
    ) -> Link:
        now = self.clock.now()
        if link is None:
            link = Link(
                connection_id=ctx.connection_id,
                entity=entity,
                record_id=record.id,
                remote_id=remote_id,
                created_at=now,
                synced=synced,
                remote_hash=content_hash(synced),
                hub_hash=record.content_hash,
                updated_at=now,
            )
            session.add(link)
        else:
            link.remote_id = remote_id
            link.synced = synced
            link.remote_hash = content_hash(synced)
            link.hub_hash = record.content_hash
            link.updated_at = now
        return link

    # ------------------------------------------------------------------ inbound

    def apply_inbound(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        rows: list[JSON],
        *,
        log_unchanged: bool = False,
    ) -> None:
        """Bring remote records into the hub (create, merge or leave), in the given session."""
        entity = mapping.entity
        recorder = self._recorder(ctx)
        remote_ids = [mapping.remote_id(row) for row in rows]
        links = self._links_by(session, ctx, entity, Link.remote_id, remote_ids)
        open_issues = recorder.open_issue_keys(session, entity, INBOUND, remote_ids)
        resolved: list[str] = []

        def skip(remote_id: str, exc: SkipRecord | ValidationError) -> None:
            reason, message = _skip_reason(exc)
            recorder.issue(
                session, entity=entity, direction=INBOUND, key=remote_id,
                reason=reason, message=message, remote_id=remote_id,
            )  # fmt: skip

        for row, remote_id in zip(rows, remote_ids, strict=True):
            try:
                remote, full = self._validated(mapping, mapping.to_canonical(row))
            except (SkipRecord, ValidationError) as exc:
                skip(remote_id, exc)
                continue
            link = links.get(remote_id)
            if link is not None and link.remote_hash == content_hash(remote):
                recorder.log(
                    session, entity=entity, direction=INBOUND, outcome="unchanged",
                    record_id=link.record_id, remote_id=remote_id, persist=log_unchanged,
                    reason="echo" if log_unchanged else None,
                )  # fmt: skip
                if remote_id in open_issues:
                    resolved.append(remote_id)
                continue
            record: HubRecord | None = None
            base: JSON = {}
            if link is not None:
                record = self.hub.get(session, ctx.tenant_id, entity, link.record_id)
                base = link.synced
                if record is not None and record.deleted:
                    self._save_link(session, ctx, entity, record, remote_id, remote, link)
                    recorder.log(
                        session, entity=entity, direction=INBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=remote_id, reason="deleted_in_hub",
                        message="changed in the accounting system, but deleted in the hub",
                    )  # fmt: skip
                    continue
            else:
                key = mapping.business_key(remote)
                if key is not None:
                    record_id = self._unlinked_by_key(session, ctx, mapping).pop(key, None)
                    if record_id is not None:
                        record = self.hub.get(session, ctx.tenant_id, entity, record_id)
                # First match of an existing hub record: the accounting system's values win.
                base = {name: None for name in mapping.fields}
            try:
                if record is None:
                    record = self.hub.create(session, ctx.tenant_id, entity, full, ctx.origin)
                    outcome = "created"
                else:
                    data = dict(record.data)
                    for name in mapping.fields:
                        if remote.get(name) != base.get(name) and (
                            link is not None or remote.get(name) is not None
                        ):
                            data[name] = remote.get(name)
                    data = validate(entity, data)
                    changed = self.hub.update(session, record, data, ctx.origin)
                    outcome = "updated" if changed else "unchanged"
            except ValidationError as exc:
                skip(remote_id, exc)
                continue
            self._save_link(session, ctx, entity, record, remote_id, remote, link)
            recorder.log(
                session, entity=entity, direction=INBOUND, outcome=outcome,
                record_id=record.id, remote_id=remote_id,
                persist=outcome != "unchanged" or log_unchanged,
            )  # fmt: skip
            if remote_id in open_issues:
                resolved.append(remote_id)
        recorder.resolve(session, entity, INBOUND, resolved)

    def _unlinked_by_key(
        self, session: Session, ctx: RunContext, mapping: EntityMapping
    ) -> dict[str, str]:
        """Hub records not yet linked on this connection, by business key: an app may have
        created the customer before the accounting system was connected."""
        cached = ctx.unlinked_keys.get(mapping.entity)
        if cached is not None:
            return cached
        if mapping.business_key_field is None:
            return ctx.unlinked_keys.setdefault(mapping.entity, {})
        numbers = self.hub.index_by_field(
            session, ctx.tenant_id, mapping.entity, mapping.business_key_field
        )
        linked = set(
            session.scalars(
                sa.select(Link.record_id).where(
                    Link.connection_id == ctx.connection_id, Link.entity == mapping.entity
                )
            )
        )
        unlinked = {key: rid for key, rid in numbers.items() if rid not in linked}
        return ctx.unlinked_keys.setdefault(mapping.entity, unlinked)

    def _inbound_mappings(self, ctx: RunContext) -> list[EntityMapping]:
        return [m for e, m in ctx.connector.mappings.items() if ctx.directions(e)[0]]

    def run_import(self, ctx: RunContext) -> None:
        """The initial import, resumable: one cursor per entity, saved with each page."""
        for mapping in self._inbound_mappings(ctx):
            name = f"import:{mapping.entity}"
            with self._transaction() as session:
                after = self._cursor(session, ctx, name)
            while after != DONE:
                page = ctx.connector.read_page(mapping.entity, after, ctx.page_size)
                with self._transaction() as session:
                    self.apply_inbound(session, ctx, mapping, page.records)
                    after = page.after if page.after is not None else DONE
                    self._set_cursor(session, ctx, name, after)
                ctx.heartbeat()

    def run_pull(self, ctx: RunContext) -> None:
        """The safety-net pull: a full keyset scan, comparing hashes (Uniconta has no
        modified-since filter on accounts). Resumable through its own cursor."""
        for mapping in self._inbound_mappings(ctx):
            name = f"pull:{mapping.entity}"
            with self._transaction() as session:
                after = self._cursor(session, ctx, name)
            while True:
                page = ctx.connector.read_page(mapping.entity, after, ctx.page_size)
                with self._transaction() as session:
                    self.apply_inbound(session, ctx, mapping, page.records)
                    after = page.after
                    self._set_cursor(session, ctx, name, after)
                ctx.heartbeat()
                if after is None:
                    break

    def process_inbox(self, ctx: RunContext) -> int:
        """Apply stored callbacks: bodies when the system sent them, else one batched read."""
        with self._transaction() as session:
            events = list(
                session.scalars(
                    sa.select(InboxEvent)
                    .where(
                        InboxEvent.connection_id == ctx.connection_id,
                        InboxEvent.processed_at.is_(None),
                    )
                    .order_by(InboxEvent.id)
                    .limit(1000)
                )
            )
            session.flush()
            session.expunge_all()
        if not events:
            return 0
        with_data: dict[str, dict[str, JSON]] = {}
        to_fetch: dict[str, set[str]] = {}
        deletes: list[tuple[str, str]] = []
        for event in events:
            notices = ctx.connector.parse_notification(
                event.payload.get("query", {}), event.payload.get("body", "").encode()
            )
            for notice in notices:
                if not ctx.directions(notice.entity)[0]:
                    continue
                if notice.operation == "delete":
                    deletes.append((notice.entity, notice.remote_id))
                elif notice.data is not None:
                    with_data.setdefault(notice.entity, {})[notice.remote_id] = notice.data
                else:
                    to_fetch.setdefault(notice.entity, set()).add(notice.remote_id)
        fetched: dict[str, dict[str, JSON]] = {}
        for entity, ids in to_fetch.items():
            pending = sorted(ids - set(with_data.get(entity, {})))
            fetched[entity] = ctx.connector.fetch_many(entity, pending) if pending else {}
        with self._transaction() as session:
            recorder = self._recorder(ctx)
            for entity, mapping in ctx.connector.mappings.items():
                rows = {**fetched.get(entity, {}), **with_data.get(entity, {})}
                if rows:
                    self.apply_inbound(
                        session, ctx, mapping, list(rows.values()), log_unchanged=True
                    )
            for entity, remote_id in deletes:
                recorder.log(
                    session, entity=entity, direction=INBOUND, outcome="unchanged",
                    remote_id=remote_id, reason="delete_not_propagated",
                    message="deleted in the accounting system; the hub record is kept",
                )  # fmt: skip
            now = self.clock.now()
            session.execute(
                sa.update(InboxEvent)
                .where(InboxEvent.id.in_([e.id for e in events]))
                .values(processed_at=now, outcome="applied")
            )
        return len(events)

    # ------------------------------------------------------------------ outbound

    def run_push(self, ctx: RunContext) -> None:
        """Send hub changes made since the last push, in batches, then move the push cursor."""
        outbound = {e for e in ctx.connector.mappings if ctx.directions(e)[1]}
        if not outbound:
            return
        self._recover_intents(ctx)
        while True:
            with self._transaction() as session:
                after = int(self._cursor(session, ctx, "push") or 0)
                changes = self.hub.changes(session, ctx.tenant_id, after, 500)
                session.flush()
                session.expunge_all()
            if not changes:
                return
            by_entity: dict[str, list[str]] = {}
            for change in changes:
                if change.entity in outbound and change.origin != ctx.origin:
                    ids = by_entity.setdefault(change.entity, [])
                    if change.record_id not in ids:
                        ids.append(change.record_id)
            for entity, record_ids in by_entity.items():
                for start in range(0, len(record_ids), ctx.write_batch_size):
                    self.push_records(ctx, entity, record_ids[start : start + ctx.write_batch_size])
            with self._transaction() as session:
                self._set_cursor(session, ctx, "push", str(changes[-1].seq))
            ctx.heartbeat()

    def push_records(self, ctx: RunContext, entity: str, record_ids: list[str]) -> None:
        """Create or update the given hub records in the accounting system."""
        mapping = ctx.connector.mappings[entity]
        recorder = self._recorder(ctx)
        creates: list[tuple[HubRecord, JSON]] = []
        updates: list[tuple[HubRecord, Link, JSON]] = []
        with self._transaction() as session:
            records = list(
                session.scalars(
                    sa.select(HubRecord).where(
                        HubRecord.id.in_(record_ids), HubRecord.tenant_id == ctx.tenant_id
                    )
                )
            )
            links = self._links_by(session, ctx, entity, Link.record_id, record_ids)
            open_issues = recorder.open_issue_keys(session, entity, OUTBOUND, record_ids)
            resolved: list[str] = []
            for record in records:
                link = links.get(record.id)
                if record.deleted:
                    recorder.log(
                        session, entity=entity, direction=OUTBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=link.remote_id if link else None,
                        reason="delete_not_propagated",
                        message="deleted in the hub; deletes never reach the accounting system",
                    )  # fmt: skip
                    continue
                if not mapping.in_scope(record.data):
                    continue
                try:
                    projection = self._normalise(mapping, mapping.project(record.data))
                except SkipRecord as skip:
                    recorder.issue(
                        session, entity=entity, direction=OUTBOUND, key=record.id,
                        reason=skip.reason, message=skip.message, record_id=record.id,
                    )  # fmt: skip
                    continue
                if link is not None and link.remote_hash == content_hash(projection):
                    link.hub_hash = record.content_hash
                    recorder.log(
                        session, entity=entity, direction=OUTBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=link.remote_id, persist=False,
                    )  # fmt: skip
                    if record.id in open_issues:
                        resolved.append(record.id)
                elif link is None:
                    creates.append((record, projection))
                else:
                    updates.append((record, link, projection))
            recorder.resolve(session, entity, OUTBOUND, resolved)
            session.flush()
            session.expunge_all()
        if updates:
            self._push_updates(ctx, mapping, updates)
        if creates:
            self._push_creates(ctx, mapping, creates)

    def _push_updates(
        self, ctx: RunContext, mapping: EntityMapping, updates: list[tuple[HubRecord, Link, JSON]]
    ) -> None:
        entity = mapping.entity
        current = ctx.connector.fetch_many(entity, [link.remote_id for _, link, _ in updates])
        recorder = self._recorder(ctx)
        payloads: list[JSON] = []
        planned: list[tuple[HubRecord, Link, JSON]] = []
        with self._transaction() as session:
            for record, link, projection in updates:
                remote_row = current.get(link.remote_id)
                if remote_row is None:
                    recorder.issue(
                        session, entity=entity, direction=OUTBOUND, key=record.id,
                        reason="remote_record_missing",
                        message=f"{mapping.remote_entity} {link.remote_id} no longer exists in "
                        "the accounting system; deletes are not propagated, so it is not "
                        "recreated",
                        record_id=record.id, remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                try:
                    remote = self._normalise(mapping, mapping.to_canonical(remote_row))
                except (SkipRecord, ValidationError):
                    remote = dict(link.synced)
                # Three-way merge: the hub's changes since the last sync win field by field;
                # changes made meanwhile in the accounting system are kept.
                merged = {
                    name: projection.get(name)
                    if projection.get(name) != link.synced.get(name)
                    else remote.get(name)
                    for name in mapping.fields
                }
                payloads.append(mapping.from_canonical({**record.data, **merged}, remote_row))
                planned.append((record, link, projection))
        if not payloads:
            return
        stored = self._write(ctx, mapping, payloads, planned, create=False)
        self._after_write(ctx, mapping, planned, stored, outcome="updated")

    def _push_creates(
        self, ctx: RunContext, mapping: EntityMapping, creates: list[tuple[HubRecord, JSON]]
    ) -> None:
        entity = mapping.entity
        payloads: list[JSON] = []
        planned: list[tuple[HubRecord, Link | None, JSON]] = []
        intents: list[str] = []
        with self._transaction() as session:
            now = self.clock.now()
            for record, projection in creates:
                key = mapping.business_key(record.data) or record.id
                intent = WriteIntent(
                    connection_id=ctx.connection_id, entity=entity, record_id=record.id,
                    operation="create", business_key=key, status="pending",
                    created_at=now, updated_at=now,
                )  # fmt: skip
                session.add(intent)
                session.flush()
                intents.append(intent.id)
                payloads.append(mapping.from_canonical(record.data, None))
                planned.append((record, None, projection))
        try:
            stored = self._write(ctx, mapping, payloads, planned, create=True)
        except AmbiguousWrite:
            self._set_intents(intents, "ambiguous")
            raise
        except Exception:
            self._set_intents(intents, "failed")
            raise
        self._after_write(ctx, mapping, planned, stored, outcome="created")
        self._set_intents(intents, "done")

    def _write(
        self,
        ctx: RunContext,
        mapping: EntityMapping,
        payloads: list[JSON],
        planned: list[Any],
        *,
        create: bool,
    ) -> list[JSON | None]:
        """Write a batch; when the system refuses it (batches are all-or-nothing), find the
        records that exist already (creates) and send the rest one by one to isolate the bad
        ones. Returns the stored rows, None where a record failed."""
        write = ctx.connector.create_many if create else ctx.connector.update_many
        try:
            return list(write(mapping.entity, payloads))
        except RemoteRejected:
            if len(payloads) == 1 and not create:
                return [self._fail_one(ctx, mapping, planned[0], payloads[0], write)]
        results: list[JSON | None] = [None] * len(payloads)
        todo = list(range(len(payloads)))
        if create:
            keys = [mapping.remote_id(p) for p in payloads]
            existing = ctx.connector.find_by_business_key(mapping.entity, keys)
            for index, key in enumerate(keys):
                if key in existing:
                    results[index] = existing[key]
            todo = [i for i in todo if results[i] is None]
        for index in todo:
            results[index] = self._fail_one(ctx, mapping, planned[index], payloads[index], write)
        return results

    def _fail_one(
        self,
        ctx: RunContext,
        mapping: EntityMapping,
        plan: Any,
        payload: JSON,
        write: Callable[[str, list[JSON]], list[JSON]],
    ) -> JSON | None:
        record = plan[0]
        try:
            return write(mapping.entity, [payload])[0]
        except RemoteRejected as exc:
            with self._transaction() as session:
                self._recorder(ctx).issue(
                    session, entity=mapping.entity, direction=OUTBOUND, key=record.id,
                    outcome="failed", reason="remote_rejected",
                    message=f"{mapping.remote_entity} refused the record: {exc}",
                    record_id=record.id,
                )  # fmt: skip
            return None

    def _after_write(
        self,
        ctx: RunContext,
        mapping: EntityMapping,
        planned: list[Any],
        stored: list[JSON | None],
        *,
        outcome: str,
    ) -> None:
        entity = mapping.entity
        recorder = self._recorder(ctx)
        with self._transaction() as session:
            done: list[str] = []
            for (record, old_link, _projection), row in zip(planned, stored, strict=True):
                if row is None:
                    continue
                try:
                    synced = self._normalise(mapping, mapping.to_canonical(row))
                except (SkipRecord, ValidationError):
                    synced = self._normalise(mapping, mapping.project(record.data))
                fresh = self.hub.get(session, ctx.tenant_id, entity, record.id)
                if fresh is None:
                    continue
                link = session.get(Link, old_link.id) if old_link is not None else None
                remote_id = mapping.remote_id(row)
                if link is not None:
                    self._adopt_remote_values(session, ctx, mapping, fresh, link.synced, synced)
                else:
                    taken = self._links_by(session, ctx, entity, Link.remote_id, [remote_id])
                    if remote_id in taken:
                        recorder.issue(
                            session, entity=entity, direction=OUTBOUND, key=record.id,
                            reason="business_key_conflict",
                            message=f"{mapping.remote_entity} {remote_id} already exists and "
                            f"is linked to hub record {taken[remote_id].record_id}; give this "
                            "record another key",
                            record_id=record.id, remote_id=remote_id,
                        )  # fmt: skip
                        continue
                self._save_link(session, ctx, entity, fresh, remote_id, synced, link)
                recorder.log(
                    session, entity=entity, direction=OUTBOUND, outcome=outcome,
                    record_id=record.id, remote_id=remote_id,
                )  # fmt: skip
                done.append(record.id)
            recorder.resolve(session, entity, OUTBOUND, done)

    def _adopt_remote_values(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        record: HubRecord,
        before: JSON,
        after: JSON,
    ) -> None:
        """After an update, fields the hub did not change but the accounting system did (the
        other half of the three-way merge) are brought into the hub."""
        try:
            current = self._normalise(mapping, mapping.project(record.data))
        except (SkipRecord, ValidationError):
            return
        data = dict(record.data)
        for name in mapping.fields:
            if current.get(name) == before.get(name) and after.get(name) != current.get(name):
                data[name] = after.get(name)
        try:
            self.hub.update(session, record, validate(mapping.entity, data), ctx.origin)
        except ValidationError as exc:
            log.warning("merged %s %s does not validate: %s", mapping.entity, record.id, exc)

    def _set_intents(self, intent_ids: list[str], status: str) -> None:
        with self._transaction() as session:
            session.execute(
                sa.update(WriteIntent)
                .where(WriteIntent.id.in_(intent_ids))
                .values(status=status, updated_at=self.clock.now())
            )

    def _recover_intents(self, ctx: RunContext) -> None:
        """Resolve creates of unknown outcome (a crash or a lost answer) before sending more:
        a record found by its business key is linked, not created a second time."""
        with self._transaction() as session:
            open_intents = list(
                session.scalars(
                    sa.select(WriteIntent).where(
                        WriteIntent.connection_id == ctx.connection_id,
                        WriteIntent.status.in_(("pending", "ambiguous")),
                    )
                )
            )
            session.flush()
            session.expunge_all()
        by_entity: dict[str, list[WriteIntent]] = {}
        for intent in open_intents:
            by_entity.setdefault(intent.entity, []).append(intent)
        for entity, intents in by_entity.items():
            mapping = ctx.connector.mappings[entity]
            found = ctx.connector.find_by_business_key(entity, [i.business_key for i in intents])
            with self._transaction() as session:
                recorder = self._recorder(ctx)
                for intent in intents:
                    row = found.get(intent.business_key)
                    record = self.hub.get(session, ctx.tenant_id, entity, intent.record_id)
                    db_intent = session.get(WriteIntent, intent.id)
                    assert db_intent is not None
                    db_intent.updated_at = self.clock.now()
                    if row is None or record is None:
                        # Never reached the system: a fresh attempt is safe.
                        db_intent.status = "not_applied"
                        continue
                    synced = self._normalise(mapping, mapping.to_canonical(row))
                    existing = self._links_by(session, ctx, entity, Link.record_id, [record.id])
                    self._save_link(
                        session, ctx, entity, record, mapping.remote_id(row), synced,
                        existing.get(record.id),
                    )  # fmt: skip
                    db_intent.status = "recovered"
                    db_intent.remote_id = mapping.remote_id(row)
                    recorder.log(
                        session, entity=entity, direction=OUTBOUND, outcome="created",
                        record_id=record.id, remote_id=mapping.remote_id(row),
                        reason="recovered_after_ambiguous_write",
                        message="found by its business key after an unanswered create",
                    )  # fmt: skip
                    recorder.resolve(session, entity, OUTBOUND, [record.id])

    # ------------------------------------------------------------------ retries

    def retry_issues(self, ctx: RunContext) -> int:
        """Try every open skipped or failed record of the connection again."""
        with self._transaction() as session:
            issues = list(
                session.scalars(
                    sa.select(SyncIssue).where(SyncIssue.connection_id == ctx.connection_id)
                )
            )
            session.flush()
            session.expunge_all()
        for entity, mapping in ctx.connector.mappings.items():
            inbound_ids = sorted(
                i.key for i in issues if i.entity == entity and i.direction == INBOUND
            )
            if inbound_ids and ctx.directions(entity)[0]:
                rows = ctx.connector.fetch_many(entity, inbound_ids)
                with self._transaction() as session:
                    self.apply_inbound(session, ctx, mapping, list(rows.values()))
            outbound_ids = [i.key for i in issues if i.entity == entity and i.direction == OUTBOUND]
            if outbound_ids and ctx.directions(entity)[1]:
                for start in range(0, len(outbound_ids), ctx.write_batch_size):
                    self.push_records(
                        ctx, entity, outbound_ids[start : start + ctx.write_batch_size]
                    )
        return len(issues)


def _skip_reason(exc: SkipRecord | ValidationError) -> tuple[str, str]:
    """A connector's skip keeps its reason; data the model refuses names the fields."""
    if isinstance(exc, SkipRecord):
        return exc.reason, exc.message
    return "invalid_remote_data", describe_validation_error(exc)
