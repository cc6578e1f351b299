"""Sync state shared by both directions: transactions, cursors, links and references."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import JSON, EntityMapping, Reference, RemoteRef, SkipRecord
from ledgerbridge.engine.canonical import content_hash, validate
from ledgerbridge.engine.context import INBOUND, OUTBOUND, RunContext
from ledgerbridge.engine.fence import active_fence
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.model.reasons import describe_validation_error
from ledgerbridge.store.base import new_id
from ledgerbridge.store.db import urgent_writer_waits
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Cursor, Link, SyncIssue

T = TypeVar("T")


def skip_reason(exc: SkipRecord | ValidationError) -> tuple[str, str]:
    """A connector's skip keeps its reason; data the model refuses names the fields."""
    if isinstance(exc, SkipRecord):
        return exc.reason, exc.message
    return "invalid_remote_data", describe_validation_error(exc)


class SyncState:
    def __init__(self, session_factory: sessionmaker[Session], hub: HubStore, clock: Clock) -> None:
        self._sessions = session_factory
        self.hub = hub
        self.clock = clock

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction of the engine. Inside a fenced run it commits only while the
        run's epoch is current, else raises ``RunFenced`` and rolls back (see ``fence``)."""
        fence = active_fence()
        if fence is None:
            with self._sessions.begin() as session:
                yield session
            return
        try:
            with self._sessions.begin() as session:
                fence.open(session)
                yield session
                fence.verify(session)
        except sa.exc.DBAPIError:
            fence.ensure_current(self._sessions)
            raise

    def in_parts(self, items: list[T], write: Callable[[Session, T], None]) -> None:
        """``write`` each item in a write transaction, committed when the items are done or
        when a callback's acknowledgement waits for SQLite's write lock: then what is written
        commits, the acknowledgement goes in, and the rest follows in the next transaction.
        For writes whose atomic unit is one item (a record's journal with its link): a batch
        of a hundred held the lock for 200 ms under load. On PostgreSQL, one transaction."""
        pending = list(reversed(items))
        while pending:
            with self.transaction() as session:
                while True:
                    write(session, pending.pop())
                    if not pending or urgent_writer_waits(session):
                        break

    def recorder(self, ctx: RunContext) -> SyncRecorder:
        return SyncRecorder(self.clock, ctx.connection_id, ctx.run_id, ctx.counts, ctx.observer)

    def cursor(self, session: Session, ctx: RunContext, name: str) -> str | None:
        row = session.get(Cursor, (ctx.connection_id, name))
        return row.value if row else None

    def set_cursor(self, session: Session, ctx: RunContext, name: str, value: str | None) -> None:
        row = session.get(Cursor, (ctx.connection_id, name))
        now = self.clock.now()
        if row is None:
            session.add(
                Cursor(connection_id=ctx.connection_id, name=name, value=value, updated_at=now)
            )
        else:
            row.value = value
            row.updated_at = now

    def validated(self, mapping: EntityMapping, canonical: JSON) -> tuple[JSON, JSON]:
        """(projection on the mapping's fields, the whole record a create would store), as the
        hub would store them: validated and normalised by the model."""
        full = validate(mapping.entity, {**mapping.defaults(), **canonical})
        return {name: full.get(name) for name in sorted(mapping.fields)}, full

    def normalise(self, mapping: EntityMapping, canonical: JSON) -> JSON:
        return self.validated(mapping, canonical)[0]

    def links_by(
        self, session: Session, ctx: RunContext, stream: str, column: Any, values: list[str]
    ) -> dict[str, Link]:
        if not values:
            return {}
        rows = session.scalars(
            sa.select(Link).where(
                Link.connection_id == ctx.connection_id,
                Link.stream == stream,
                column.in_(values),
            )
        )
        return {getattr(link, column.key): link for link in rows}

    def follow_renamed(
        self, session: Session, ctx: RunContext, stream: str, record_id: str, remote_id: str
    ) -> None:
        """A record of ``stream`` now known under another remote id (a Yuki contact whose
        relationship code the hub changed): the links of the streams attached to ``stream``
        name the same remote record, so they move with it, and what refers to the record
        through them (an invoice's customer) uses the new id at once."""
        attached = [
            name for name, mapping in ctx.connector.mappings.items() if mapping.attach_to == stream
        ]
        for name in attached:
            link = self.links_by(session, ctx, name, Link.record_id, [record_id]).get(record_id)
            if link is not None and link.remote_id != remote_id:
                link.remote_id = remote_id
                link.updated_at = self.clock.now()

    def save_link(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        record: HubRecord,
        remote_id: str,
        synced: JSON,
        link: Link | None,
    ) -> Link:
        if link is None:
            link = Link(
                **self.link_values(ctx, stream, record.id, record.content_hash, remote_id, synced)
            )
            session.add(link)
        else:
            link.remote_id = remote_id
            link.synced = synced
            link.remote_hash = content_hash(synced)
            link.hub_hash = record.content_hash
            link.updated_at = self.clock.now()
        return link

    def link_values(
        self,
        ctx: RunContext,
        stream: str,
        record_id: str,
        hub_hash: str,
        remote_id: str,
        synced: JSON,
        remote_hash: str | None = None,
        link_id: str | None = None,
    ) -> dict[str, Any]:
        """A new link's columns: for ``save_link``, and for a page's links inserted at once
        (``remote_hash``: ``synced``'s content hash, when worked out already; ``link_id``: its
        id, when drawn already)."""
        now = self.clock.now()
        return {
            "id": link_id or new_id(), "connection_id": ctx.connection_id, "stream": stream,
            "record_id": record_id, "remote_id": remote_id, "synced": synced,
            "remote_hash": remote_hash or content_hash(synced), "hub_hash": hub_hash,
            "created_at": now, "updated_at": now,
        }  # fmt: skip

    # ------------------------------------------------------------------ references

    def resolve_inbound(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, rows: list[JSON]
    ) -> list[dict[str, str | None] | SkipRecord]:
        """Per row: hub ids for its references, or the skip that applies (no reference at all,
        or the referenced record is not in the hub, with what keeps it out)."""
        if not mapping.references:
            return [{} for _ in rows]
        wanted: dict[str, set[str]] = {}
        per_row = [mapping.remote_refs(row) for row in rows]
        for refs in per_row:
            for ref in refs.values():
                if ref is not None:
                    wanted.setdefault(ref[0], set()).add(ref[1])
        found = {
            stream: {
                remote_id: link.record_id
                for remote_id, link in self.links_by(
                    session, ctx, stream, Link.remote_id, sorted(ids)
                ).items()
            }
            for stream, ids in wanted.items()
        }
        unlinked = {stream: sorted(ids - found[stream].keys()) for stream, ids in wanted.items()}
        blocked = self._open_issues(session, ctx, INBOUND, unlinked)
        results: list[dict[str, str | None] | SkipRecord] = []
        for refs in per_row:
            resolved: dict[str, str | None] = {}
            outcome: dict[str, str | None] | SkipRecord = resolved
            for reference in mapping.references:
                target = refs.get(reference.field)
                if target is None and not reference.required:
                    resolved[reference.field] = None
                    continue
                if target is None:
                    outcome = SkipRecord(
                        reference.missing_reason,
                        f"The {ctx.system_title} {mapping.remote_entity} has no "
                        f"{_label(reference)} to belong to: give it one in {ctx.system_title} "
                        f"(one of its {' or '.join(reference.streams)}), and it syncs with its "
                        "next change there",
                    )
                    break
                record_id = found.get(target[0], {}).get(target[1])
                if record_id is None:
                    outcome = self._held_inbound(ctx, reference, target, blocked)
                    break
                resolved[reference.field] = record_id
            results.append(outcome)
        return results

    def _held_inbound(
        self,
        ctx: RunContext,
        reference: Reference,
        target: RemoteRef,
        blocked: Mapping[tuple[str, str], str],
    ) -> SkipRecord:
        """Why a remote record's reference has no hub record yet: its stream is not read, the
        referenced record cannot sync itself, or it has not come in (new, or not there)."""
        stream, remote_id = target
        what = f"its {_label(reference)} ({stream} {remote_id})"
        if not ctx.directions(stream)[0]:
            cause = (
                f"{what} is not in the hub: this connection does not read {stream}; switch "
                f"{stream} on and this record follows by itself"
            )
        elif (stream, remote_id) in blocked:
            cause = (
                f"{what} cannot sync: {blocked[stream, remote_id]}; once that is fixed, this "
                "record follows by itself"
            )
        elif (hint := _hint(ctx, (stream,))) is not None:
            cause = f"{what} is not in the hub: {hint}"
        else:
            cause = (
                f"{what} is not in the hub: if it exists in {ctx.system_title}, it comes "
                "with the next pull or change and this record follows by itself; if it does "
                f"not (deleted there), give this record an existing {_label(reference)} in "
                f"{ctx.system_title}"
            )
        return SkipRecord(reference.pending_reason, cause)

    def resolve_outbound(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, record: JSON
    ) -> Mapping[str, RemoteRef | None]:
        """Remote ids for a hub record's references; raises ``SkipRecord`` when one is absent
        or has not synced to this connection yet, saying what keeps it."""
        refs: dict[str, RemoteRef | None] = {}
        for reference in mapping.references:
            record_id = record.get(reference.field)
            if record_id is None and not reference.required:
                refs[reference.field] = None
                continue
            if record_id is None:
                raise SkipRecord(reference.missing_reason, f"the record has no {reference.field}")
            for stream in reference.streams:
                link = self.links_by(session, ctx, stream, Link.record_id, [str(record_id)])
                if link:
                    refs[reference.field] = (stream, link[str(record_id)].remote_id)
                    break
            else:
                raise self._held_outbound(session, ctx, reference, str(record_id))
        return refs

    def _held_outbound(
        self, session: Session, ctx: RunContext, reference: Reference, record_id: str
    ) -> SkipRecord:
        """Why a hub record's reference has no remote record yet. Only when the referenced
        record exists and is on its way does the record follow by itself; otherwise the
        message says what to do."""
        label = _label(reference)
        streams = " or ".join(reference.streams)
        entity = ctx.mapping(reference.streams[0]).entity
        target = self.hub.get(session, ctx.tenant_id, entity, record_id)
        if target is None or target.deleted:
            what = f"its {label} {record_id}"
            return SkipRecord(
                reference.missing_reason,
                f"{what} does not exist in the hub (or was deleted): give the record an "
                f"existing {label} and it is sent",
            )
        what = f"its {label} {named(target.data, record_id)}"
        carriers = [s for s in reference.streams if _brings_link(ctx, s)]
        if not carriers:
            return SkipRecord(
                reference.pending_reason,
                f"{what} is not in {ctx.system_title}: this connection does not send "
                f"{streams}; switch one on and this record follows by itself",
            )
        fitting = [s for s in carriers if ctx.mapping(s).in_scope(target.data)]
        # A stream switched off that would carry it (a supplier, with suppliers not sent).
        idle = [
            s
            for s in reference.streams
            if s not in carriers
            and ctx.mapping(s).outbound
            and ctx.mapping(s).in_scope(target.data)
        ]
        if not fitting and idle:
            return SkipRecord(
                reference.pending_reason,
                f"{what} is not in {ctx.system_title}: it is one of the {idle[0]}, and this "
                f"connection does not send {idle[0]}; switch it on and this record follows by "
                "itself",
            )
        if not fitting:
            hints = (ctx.mapping(s).scope_hint(target.data) for s in carriers)
            why = next((h for h in hints if h), None) or "see its roles"
            return SkipRecord(
                reference.pending_reason,
                f"{what} is not one of the {streams} this connection sends ({why}): "
                f"make it one and this record follows by itself",
            )
        blocked = self._open_issues(session, ctx, OUTBOUND, {s: [record_id] for s in fitting})
        problem = next((blocked[s, record_id] for s in fitting if (s, record_id) in blocked), None)
        if problem is not None:
            return SkipRecord(
                reference.pending_reason,
                f"{what} cannot sync: {problem}; once that is fixed, this record follows by itself",
            )
        hint = _hint(ctx, reference.streams)
        return SkipRecord(
            reference.pending_reason,
            f"waits for {what}: {hint}"
            if hint
            else f"waits for {what} to sync; it will follow by itself",
        )

    def _open_issues(
        self, session: Session, ctx: RunContext, direction: str, keys: Mapping[str, list[str]]
    ) -> dict[tuple[str, str], str]:
        """Open issues of the given records, by (stream, key): their message."""
        found: dict[tuple[str, str], str] = {}
        for stream, values in keys.items():
            if not values:
                continue
            rows = session.execute(
                sa.select(SyncIssue.key, SyncIssue.message).where(
                    SyncIssue.connection_id == ctx.connection_id,
                    SyncIssue.stream == stream,
                    SyncIssue.direction == direction,
                    SyncIssue.key.in_(values),
                )
            )
            found.update({(stream, key): message for key, message in rows})
        return found

    def projection(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, record: JSON
    ) -> tuple[JSON, Mapping[str, RemoteRef | None]]:
        refs = self.resolve_outbound(session, ctx, mapping, record)
        return self.normalise(mapping, mapping.project(record, refs)), refs


LABELS = {"credits_invoice_id": "credited invoice"}
"""Reference fields whose name does not read as words by itself."""


def _label(reference: Reference) -> str:
    """A reference field as words: ``party_id`` → "party"."""
    return LABELS.get(reference.field) or reference.field.removesuffix("_id").replace("_", " ")


def named(data: Mapping[str, Any], record_id: str) -> str:
    """A referenced record as a person finds it in either system: by its business key (a
    product's SKU, an invoice's or a debtor's number) and its name, which a hub id is not;
    an invoice not numbered yet by its reference (the order's number); the id only when the
    record has none of them."""
    key = data.get("sku") or data.get("number") or data.get("debtor_number")
    name = data.get("name")
    if key and name:
        return f"{key} ({name})"
    if not key and not name and data.get("reference"):
        return f"with reference {data['reference']}"
    return str(key or name or record_id)


def _brings_link(ctx: RunContext, stream: str) -> bool:
    """Whether a hub record can get its link in this stream: the connection sends the stream,
    or only the system decides it and the connection reads it (Yuki's ticked Customer box)."""
    inbound, outbound = ctx.directions(stream)
    return outbound or (inbound and not ctx.mapping(stream).outbound)


def _hint(ctx: RunContext, streams: tuple[str, ...]) -> str | None:
    """What the connector says is done in its system for a record of these streams to be
    there (``Connector.held_hints``), if anything."""
    hints = ctx.connector.held_hints
    return next((hints[stream] for stream in streams if stream in hints), None)
