"""Hub → accounting system: pushes in batches, write intents and their recovery.

A create is recorded as a write intent before it is sent; an intent whose outcome is unknown
(a lost answer, a crash) is resolved by looking the record up by its business key before
anything is sent again. Updates go through a three-way merge against the link's ``synced``
state, so changes made meanwhile in the accounting system are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import (
    JSON,
    ROW_ISSUE,
    AmbiguousWrite,
    EntityMapping,
    NumberSequence,
    RemoteRef,
    RemoteRejected,
    SkipRecord,
)
from ledgerbridge.engine.canonical import content_hash, validate
from ledgerbridge.engine.context import OUTBOUND, RunContext
from ledgerbridge.engine.state import SyncState
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, SyncIssue, WriteIntent
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)


@dataclass
class Planned:
    """One record on its way out."""

    record: HubRecord
    link: Link | None
    projection: JSON
    refs: Mapping[str, RemoteRef | None]
    payload: JSON | None = None


def with_id(record: HubRecord) -> JSON:
    """The canonical data a mapping gets outbound: the record's content and its hub id."""
    return {**record.data, "id": record.id}


def business_key(mapping: EntityMapping, plan: Planned) -> str:
    """How a record is found again after an unanswered create: its business key, else the
    connector's key for the payload it sent."""
    key = mapping.business_key(with_id(plan.record))
    if key is None and plan.payload is not None:
        key = mapping.payload_key(plan.payload)
    return key or plan.record.id


class OutboundSync(SyncState):
    def run_push(self, ctx: RunContext) -> None:
        """Send hub changes made since the last push, in batches, then move the push cursor."""
        outbound = ctx.streams(outbound=True)
        read_only = [
            s
            for s, m in ctx.connector.mappings.items()
            if not m.outbound and m.read_only_reason and ctx.directions(s)[0]
        ]
        if not outbound and not read_only:
            return
        self.recover_intents(ctx)
        while True:
            with self.transaction() as session:
                after = int(self.cursor(session, ctx, "push") or 0)
                changes = self.hub.changes(session, ctx.tenant_id, after, 500)
                session.expunge_all()
            if not changes:
                break
            by_entity: dict[str, list[str]] = {}
            for change in changes:
                if change.origin != ctx.origin:
                    ids = by_entity.setdefault(change.entity, [])
                    if change.record_id not in ids:
                        ids.append(change.record_id)
            for stream in outbound:
                ids = by_entity.get(ctx.mapping(stream).entity, [])
                for start in range(0, len(ids), ctx.write_batch_size):
                    self.push(ctx, stream, ids[start : start + ctx.write_batch_size])
            for stream in read_only:
                self._note_read_only(ctx, stream, by_entity.get(ctx.mapping(stream).entity, []))
            with self.transaction() as session:
                self.set_cursor(session, ctx, "push", str(changes[-1].position))
            ctx.heartbeat()
        self._push_waiting(ctx, outbound)

    def _push_waiting(self, ctx: RunContext, streams: list[str]) -> None:
        """Records that waited for a referenced record (a contact for its customer) go out as
        soon as that record has synced."""
        for stream in streams:
            pending = {r.pending_reason for r in ctx.mapping(stream).references}
            if not pending:
                continue
            with self.transaction() as session:
                keys = list(
                    session.scalars(
                        sa.select(SyncIssue.key).where(
                            SyncIssue.connection_id == ctx.connection_id,
                            SyncIssue.stream == stream,
                            SyncIssue.direction == OUTBOUND,
                            SyncIssue.reason_code.in_(pending),
                        )
                    )
                )
            for start in range(0, len(keys), ctx.write_batch_size):
                self.push(ctx, stream, keys[start : start + ctx.write_batch_size])

    def _note_read_only(self, ctx: RunContext, stream: str, record_ids: list[str]) -> None:
        """The accounting system is master of this stream: say so on each changed record."""
        mapping = ctx.mapping(stream)
        if not record_ids or mapping.read_only_reason is None:
            return
        with self.transaction() as session:
            links = self.links_by(session, ctx, stream, Link.record_id, record_ids)
            recorder = self.recorder(ctx)
            for record_id, link in links.items():
                record = self.hub.get(session, ctx.tenant_id, mapping.entity, record_id)
                if record is None or record.origin == ctx.origin or record.deleted:
                    continue
                recorder.issue(
                    session, stream=stream, direction=OUTBOUND, key=record_id,
                    reason=mapping.read_only_reason, record_id=record_id,
                    remote_id=link.remote_id,
                    message=f"{mapping.remote_entity} is master for these records: hub changes "
                    "are not sent, and the next change made there overwrites them",
                )  # fmt: skip

    def push(self, ctx: RunContext, stream: str, record_ids: list[str]) -> None:
        """Create or update the given hub records in the accounting system."""
        mapping = ctx.mapping(stream)
        recorder = self.recorder(ctx)
        ctx.connector.prepare([stream])
        creates: list[Planned] = []
        updates: list[Planned] = []
        with self.transaction() as session:
            records = list(
                session.scalars(
                    sa.select(HubRecord).where(
                        HubRecord.id.in_(record_ids),
                        HubRecord.tenant_id == ctx.tenant_id,
                        HubRecord.entity == mapping.entity,
                    )
                )
            )
            links = self.links_by(session, ctx, stream, Link.record_id, record_ids)
            open_issues = recorder.open_issue_keys(session, stream, OUTBOUND, record_ids)
            resolved: list[str] = []
            if mapping.sequence is not None:
                self._number(session, ctx, mapping, mapping.sequence, records)
            for record in records:
                link = links.get(record.id)
                if record.deleted:
                    recorder.log(
                        session, stream=stream, direction=OUTBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=link.remote_id if link else None,
                        reason="delete_not_propagated",
                        message="deleted in the hub; deletes never reach the accounting system",
                    )  # fmt: skip
                    continue
                if not mapping.in_scope(record.data):
                    continue
                try:
                    projection, refs = self.projection(session, ctx, mapping, with_id(record))
                except SkipRecord as skip:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        reason=skip.reason, message=skip.message, record_id=record.id,
                    )  # fmt: skip
                    continue
                if link is not None and link.remote_hash == content_hash(projection):
                    link.hub_hash = record.content_hash
                    recorder.log(
                        session, stream=stream, direction=OUTBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=link.remote_id, persist=False,
                    )  # fmt: skip
                    if record.id in open_issues:
                        resolved.append(record.id)
                elif link is None:
                    creates.append(Planned(record, None, projection, refs))
                else:
                    updates.append(Planned(record, link, projection, refs))
            recorder.resolve(session, stream, OUTBOUND, resolved)
            session.flush()
            session.expunge_all()
        if updates:
            self._push_updates(ctx, stream, updates)
        if creates:
            self._push_creates(ctx, stream, creates)

    def _number(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        sequence: NumberSequence,
        records: list[HubRecord],
    ) -> None:
        """Give records about to be sent without a number the next ones of the connection's
        sequence. The counter lives in the connection's settings row, read under a row lock
        and saved in the transaction that stores the numbers, so two workers never hand out
        the same number; numbers other records hold already are skipped."""
        wanted = sorted(
            (r for r in records
             if not r.deleted and mapping.in_scope(r.data) and not r.data.get(sequence.field)),
            key=lambda r: (r.created_at, r.id),
        )  # fmt: skip
        if not wanted:
            return
        row = session.get(Connection, ctx.connection_id, with_for_update=True)
        config = (row.settings or {}).get(sequence.setting) if row is not None else None
        if row is None or not isinstance(config, dict) or config.get("next") is None:
            return
        taken = set(self.hub.index_by_field(session, ctx.tenant_id, mapping.entity, sequence.field))
        prefix, number = str(config.get("prefix") or ""), int(config["next"])
        for record in wanted:
            while f"{prefix}{number}" in taken:
                number += 1
            value = f"{prefix}{number}"
            taken.add(value)
            number += 1
            data = validate(mapping.entity, {**record.data, sequence.field: value})
            self.hub.update(session, record, data, ctx.origin)
        updated = {**config, "next": number}
        row.settings = {**row.settings, sequence.setting: updated}
        ctx.settings[sequence.setting] = updated

    def _back_refs(self, mapping: EntityMapping, record: JSON) -> dict[str, str | None]:
        return {ref.field: record.get(ref.field) for ref in mapping.references}

    def _push_updates(self, ctx: RunContext, stream: str, updates: list[Planned]) -> None:
        mapping = ctx.mapping(stream)
        current = ctx.connector.fetch_many(
            stream, [p.link.remote_id for p in updates if p.link is not None]
        )
        recorder = self.recorder(ctx)
        planned: list[Planned] = []
        with self.transaction() as session:
            for plan in updates:
                assert plan.link is not None
                record, link = plan.record, plan.link
                remote_row = current.get(link.remote_id)
                if remote_row is None:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        reason="remote_record_missing",
                        message=f"{mapping.remote_entity} {link.remote_id} no longer exists in "
                        "the accounting system; deletes are not propagated, so it is not "
                        "recreated",
                        record_id=record.id, remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                try:
                    back = self._back_refs(mapping, record.data)
                    remote = self.normalise(mapping, mapping.to_canonical(remote_row, back))
                except (SkipRecord, ValidationError):
                    remote = dict(link.synced)
                # Three-way merge: the hub's changes since the last sync win field by field;
                # changes made meanwhile in the accounting system are kept.
                merged = {
                    name: plan.projection.get(name)
                    if plan.projection.get(name) != link.synced.get(name)
                    else remote.get(name)
                    for name in mapping.fields
                }
                try:
                    plan.payload = mapping.from_canonical(
                        {**with_id(record), **merged}, remote_row, plan.refs
                    )
                except SkipRecord as skip:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        reason=skip.reason, message=skip.message, record_id=record.id,
                        remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                planned.append(plan)
        if planned:
            stored = self._write(ctx, stream, planned, create=False)
            self._after_write(ctx, stream, planned, stored, outcome="updated")

    def _push_creates(self, ctx: RunContext, stream: str, creates: list[Planned]) -> None:
        mapping = ctx.mapping(stream)
        intents: list[str] = []
        with self.transaction() as session:
            now = self.clock.now()
            for plan in creates:
                plan.payload = mapping.from_canonical(with_id(plan.record), None, plan.refs)
                intent = WriteIntent(
                    connection_id=ctx.connection_id, stream=stream, record_id=plan.record.id,
                    operation="create", status="pending", created_at=now, updated_at=now,
                    business_key=business_key(mapping, plan),
                )  # fmt: skip
                session.add(intent)
                session.flush()
                intents.append(intent.id)
        try:
            stored = self._write(ctx, stream, creates, create=True)
        except AmbiguousWrite:
            self._set_intents(intents, "ambiguous")
            raise
        except Exception:
            self._set_intents(intents, "failed")
            raise
        self._after_write(ctx, stream, creates, stored, outcome="created")
        self._set_intents(intents, "done")

    def _write(
        self, ctx: RunContext, stream: str, planned: list[Planned], *, create: bool
    ) -> list[JSON | None]:
        """Write a batch; when the system refuses it (batches are all-or-nothing), find the
        records that exist already (creates) and send the rest one by one to isolate the bad
        ones. Returns the stored rows, None where a record failed."""
        mapping = ctx.mapping(stream)
        write = ctx.connector.create_many if create else ctx.connector.update_many
        payloads = [p.payload or {} for p in planned]
        try:
            return list(write(stream, payloads))
        except RemoteRejected:
            if len(payloads) == 1 and not create:
                return [self._write_one(ctx, stream, planned[0], write)]
        results: list[JSON | None] = [None] * len(payloads)
        if create:
            keys: list[str | None] = [business_key(mapping, p) for p in planned]
            existing = ctx.connector.find_by_business_key(stream, [k for k in keys if k])
            for index, key in enumerate(keys):
                if key is not None and key in existing:
                    results[index] = existing[key]
        for index, plan in enumerate(planned):
            if results[index] is None:
                results[index] = self._write_one(ctx, stream, plan, write)
        return results

    def _write_one(
        self,
        ctx: RunContext,
        stream: str,
        plan: Planned,
        write: Callable[[str, list[JSON]], list[JSON]],
    ) -> JSON | None:
        try:
            return write(stream, [plan.payload or {}])[0]
        except RemoteRejected as exc:
            with self.transaction() as session:
                self.recorder(ctx).issue(
                    session, stream=stream, direction=OUTBOUND, key=plan.record.id,
                    outcome="failed", reason=exc.reason,
                    message=f"{ctx.mapping(stream).remote_entity} refused the record: {exc}",
                    record_id=plan.record.id,
                )  # fmt: skip
            return None

    def _after_write(
        self,
        ctx: RunContext,
        stream: str,
        planned: list[Planned],
        stored: list[JSON | None],
        *,
        outcome: str,
    ) -> None:
        mapping = ctx.mapping(stream)
        recorder = self.recorder(ctx)
        with self.transaction() as session:
            done: list[str] = []
            for plan, row in zip(planned, stored, strict=True):
                if row is None:
                    continue
                record = plan.record
                try:
                    synced = self.normalise(
                        mapping, mapping.to_canonical(row, self._back_refs(mapping, record.data))
                    )
                except (SkipRecord, ValidationError):
                    synced = plan.projection
                fresh = self.hub.get(session, ctx.tenant_id, mapping.entity, record.id)
                if fresh is None:
                    continue
                link = session.get(Link, plan.link.id) if plan.link is not None else None
                remote_id = mapping.remote_id(row)
                if link is not None:
                    self._adopt_remote_values(session, ctx, stream, fresh, link.synced, synced)
                    self._adopt_assigned_values(session, ctx, stream, fresh, synced)
                else:
                    taken = self.links_by(session, ctx, stream, Link.remote_id, [remote_id])
                    if remote_id in taken:
                        recorder.issue(
                            session, stream=stream, direction=OUTBOUND, key=record.id,
                            reason="business_key_conflict",
                            message=f"{mapping.remote_entity} {remote_id} already exists and "
                            f"is linked to hub record {taken[remote_id].record_id}; give this "
                            "record another key",
                            record_id=record.id, remote_id=remote_id,
                        )  # fmt: skip
                        continue
                    self._adopt_assigned_values(session, ctx, stream, fresh, synced)
                self.save_link(session, ctx, stream, fresh, remote_id, synced, link)
                problem = row.get(ROW_ISSUE)
                if problem:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        outcome=problem.get("outcome", "failed"), reason=problem["reason"],
                        message=problem["message"],
                        record_id=record.id, remote_id=remote_id,
                    )  # fmt: skip
                    continue
                recorder.log(
                    session, stream=stream, direction=OUTBOUND, outcome=outcome,
                    record_id=record.id, remote_id=remote_id,
                )  # fmt: skip
                done.append(record.id)
            recorder.resolve(session, stream, OUTBOUND, done)

    def _adopt_remote_values(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        record: HubRecord,
        before: JSON,
        after: JSON,
    ) -> None:
        """After an update, fields the hub did not change but the accounting system did (the
        other half of the three-way merge) are brought into the hub."""
        mapping = ctx.mapping(stream)
        try:
            current, _ = self.projection(session, ctx, mapping, with_id(record))
        except (SkipRecord, ValidationError):
            return
        data = dict(record.data)
        for name in mapping.fields:
            if current.get(name) == before.get(name) and after.get(name) != current.get(name):
                data[name] = after.get(name)
        self._save_hub(session, ctx, mapping, record, data)

    def _adopt_assigned_values(
        self, session: Session, ctx: RunContext, stream: str, record: HubRecord, stored: JSON
    ) -> None:
        """After a create, values only the accounting system assigns (an invoice number, a
        posting status) are brought into the hub."""
        mapping = ctx.mapping(stream)
        adopted = mapping.adopt_assigned(dict(record.data), stored)
        if adopted != record.data:
            self._save_hub(session, ctx, mapping, record, adopted)

    def _save_hub(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        record: HubRecord,
        data: JSON,
    ) -> None:
        try:
            self.hub.update(session, record, validate(mapping.entity, data), ctx.origin)
        except ValidationError as exc:
            log.warning("merged %s %s does not validate: %s", mapping.entity, record.id, exc)

    def _set_intents(self, intent_ids: list[str], status: str) -> None:
        with self.transaction() as session:
            session.execute(
                sa.update(WriteIntent)
                .where(WriteIntent.id.in_(intent_ids))
                .values(status=status, updated_at=self.clock.now())
            )

    def recover_intents(self, ctx: RunContext) -> None:
        """Resolve creates of unknown outcome (a crash or a lost answer) before sending more:
        a record found by its business key is linked, not created a second time."""
        with self.transaction() as session:
            open_intents = list(
                session.scalars(
                    sa.select(WriteIntent).where(
                        WriteIntent.connection_id == ctx.connection_id,
                        WriteIntent.status.in_(("pending", "ambiguous")),
                    )
                )
            )
            session.expunge_all()
        by_stream: dict[str, list[WriteIntent]] = {}
        for intent in open_intents:
            by_stream.setdefault(intent.stream, []).append(intent)
        for stream, intents in by_stream.items():
            mapping = ctx.mapping(stream)
            ctx.connector.prepare([stream])
            found = ctx.connector.find_by_business_key(stream, [i.business_key for i in intents])
            with self.transaction() as session:
                recorder = self.recorder(ctx)
                for intent in intents:
                    row = found.get(intent.business_key)
                    record = self.hub.get(session, ctx.tenant_id, mapping.entity, intent.record_id)
                    db_intent = session.get(WriteIntent, intent.id)
                    if db_intent is None:
                        continue
                    db_intent.updated_at = self.clock.now()
                    taken = row is not None and any(
                        link.record_id != intent.record_id
                        for link in self.links_by(
                            session, ctx, stream, Link.remote_id, [mapping.remote_id(row)]
                        ).values()
                    )
                    if row is None or record is None or taken:
                        # Never reached the system (what was found is another record's): a
                        # fresh attempt is safe.
                        db_intent.status = "not_applied"
                        continue
                    try:
                        synced = self.normalise(
                            mapping,
                            mapping.to_canonical(row, self._back_refs(mapping, record.data)),
                        )
                    except (SkipRecord, ValidationError):
                        # A system that cannot return the record as stored (Yuki's sales
                        # invoices): it holds what was sent.
                        synced, _ = self.projection(session, ctx, mapping, with_id(record))
                    existing = self.links_by(session, ctx, stream, Link.record_id, [record.id])
                    self._adopt_assigned_values(session, ctx, stream, record, synced)
                    self.save_link(
                        session, ctx, stream, record, mapping.remote_id(row), synced,
                        existing.get(record.id),
                    )  # fmt: skip
                    db_intent.status = "recovered"
                    db_intent.remote_id = mapping.remote_id(row)
                    recorder.log(
                        session, stream=stream, direction=OUTBOUND, outcome="created",
                        record_id=record.id, remote_id=mapping.remote_id(row),
                        reason="recovered_after_ambiguous_write",
                        message="found by its business key after an unanswered create",
                    )  # fmt: skip
                    recorder.resolve(session, stream, OUTBOUND, [record.id])
