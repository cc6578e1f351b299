"""Sync state shared by both directions: transactions, cursors, links and references."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import JSON, EntityMapping, RemoteRef, SkipRecord
from ledgerbridge.engine.canonical import content_hash, describe_validation_error, validate
from ledgerbridge.engine.context import RunContext
from ledgerbridge.engine.fence import active_fence
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Cursor, Link


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

    def recorder(self, ctx: RunContext) -> SyncRecorder:
        return SyncRecorder(self.clock, ctx.connection_id, ctx.run_id, ctx.counts)

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
        now = self.clock.now()
        if link is None:
            link = Link(
                connection_id=ctx.connection_id,
                stream=stream,
                record_id=record.id,
                remote_id=remote_id,
                synced=synced,
                remote_hash=content_hash(synced),
                hub_hash=record.content_hash,
                created_at=now,
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

    # ------------------------------------------------------------------ references

    def resolve_inbound(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, rows: list[JSON]
    ) -> list[dict[str, str | None] | SkipRecord]:
        """Per row: hub ids for its references, or the skip that applies (parent absent, or
        not synced yet)."""
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
                        f"{mapping.remote_entity} has no {reference.field.replace('_id', '')} "
                        "to belong to",
                    )
                    break
                record_id = found.get(target[0], {}).get(target[1])
                if record_id is None:
                    outcome = SkipRecord(
                        reference.pending_reason,
                        f"waits for {target[0]} {target[1]} to sync; it will follow by itself",
                    )
                    break
                resolved[reference.field] = record_id
            results.append(outcome)
        return results

    def resolve_outbound(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, record: JSON
    ) -> Mapping[str, RemoteRef | None]:
        """Remote ids for a hub record's references; raises ``SkipRecord`` when one is absent
        or has not synced to this connection yet."""
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
                raise SkipRecord(
                    reference.pending_reason,
                    f"waits for {reference.field} {record_id} to sync; it will follow by itself",
                )
        return refs

    def projection(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, record: JSON
    ) -> tuple[JSON, Mapping[str, RemoteRef | None]]:
        refs = self.resolve_outbound(session, ctx, mapping, record)
        return self.normalise(mapping, mapping.project(record, refs)), refs
