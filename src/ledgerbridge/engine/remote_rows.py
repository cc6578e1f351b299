"""Kept remote rows: updates without a read first, where that is safe.

Uniconta's Update replaces the whole entity, so an update is built on the record as Uniconta
holds it (the three-way merge keeps what changed there). Reading it first costs a call per
100 records on every push. Instead the last whole row the system returned (``RemoteRow``) is
kept: from an import, a pull, a callback (read, or carried by Change URL's Post option) and the
answer of our own Insert or Update. A push uses a kept row instead of a read when nothing says
the record changed since it was kept:

- no callback naming the record is waiting to be processed (processing it reads the record
  and keeps that row, or forgets the row of a deleted record), and
- the system has delivered a callback (any record) at or after the row was kept, and within
  the last ``QUIET_LIMIT``: its Change URL is set up and working, so a change to this record
  would have been told. A connection whose Change URL is not set up, or that has been quiet
  for that long (the Change URL removed or changed in the system since), reads as before.

The trade-off: a change made in the system whose callback is late or lost is overwritten by
an update that does not read first, where a read would have merged it. Reading first only
narrows that window (a change between the read and the write is overwritten too, and Uniconta
offers no row version to refuse a stale update), and pulls read every row again and keep it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.engine.context import RunContext
from ledgerbridge.store.db import dialect_insert, insert_rows
from ledgerbridge.store.tables.sync import InboxEvent, RemoteRow

QUIET_LIMIT = timedelta(hours=1)
"""How long after the system's last callback kept rows are still vouched for: a Change URL
removed in the system says nothing, and pulls (every few hours) are the next to notice."""


def keeps(ctx: RunContext, stream: str) -> bool:
    """Rows are kept for streams whose updates replace the whole entity and that this
    connection sends."""
    return stream in ctx.connector.whole_row_updates and ctx.directions(stream)[1]


def keep(
    session: Session,
    ctx: RunContext,
    stream: str,
    rows: list[JSON],
    now: datetime,
    hashes: list[str] | None = None,
) -> None:
    """Keep these rows as the system returned them, in ``session`` (the transaction that
    applies or links them). A row equal to the one kept is not written again. ``hashes``:
    the rows' ``content_hash``, when worked out already."""
    if not keeps(ctx, stream):
        return
    mapping = ctx.mapping(stream)
    if hashes is None:
        hashes = [content_hash(row) for row in rows]
    values = {}
    for row, row_hash in zip(rows, hashes, strict=True):
        remote_id = mapping.remote_id(row)
        values[remote_id] = {
            "connection_id": ctx.connection_id,
            "stream": stream,
            "remote_id": remote_id,
            "row": row,
            "row_hash": row_hash,
            "stored_at": now,
        }
    if not values:
        return
    # Most rows a pull reads again are unchanged: compared by hash, they cost no write.
    stored = {
        remote_id: row_hash
        for remote_id, row_hash in session.execute(
            sa.select(RemoteRow.remote_id, RemoteRow.row_hash).where(
                RemoteRow.connection_id == ctx.connection_id,
                RemoteRow.stream == stream,
                RemoteRow.remote_id.in_(list(values)),
            )
        )
    }
    new = [v for remote_id, v in values.items() if remote_id not in stored]
    insert_rows(session, RemoteRow, new)  # an import's: plain inserts (COPY on PostgreSQL)
    changed = [
        v
        for remote_id, v in values.items()
        if remote_id in stored and stored[remote_id] != v["row_hash"]
    ]
    if not changed:
        return
    insert = dialect_insert(session)(RemoteRow)
    statement = insert.on_conflict_do_update(
        index_elements=[RemoteRow.connection_id, RemoteRow.stream, RemoteRow.remote_id],
        set_={
            "row": insert.excluded.row,
            "row_hash": insert.excluded.row_hash,
            "stored_at": insert.excluded.stored_at,
        },
    )
    session.connection().execute(statement, changed)


def forget(session: Session, ctx: RunContext, noticed: Mapping[str, Iterable[str]]) -> None:
    """Drop the kept rows of records a callback named (by stream): the rows read or carried
    with those callbacks are kept afresh by their ``apply``; a deleted record keeps none."""
    for stream, remote_ids in noticed.items():
        ids = sorted(set(remote_ids))
        if ids and keeps(ctx, stream):
            session.execute(
                sa.delete(RemoteRow).where(
                    RemoteRow.connection_id == ctx.connection_id,
                    RemoteRow.stream == stream,
                    RemoteRow.remote_id.in_(ids),
                )
            )


def usable(
    session: Session, ctx: RunContext, stream: str, remote_ids: list[str], now: datetime
) -> dict[str, JSON]:
    """The kept rows an update may be built on without a read (see the module's rules)."""
    if not remote_ids or not keeps(ctx, stream):
        return {}
    last_callback = session.scalar(
        sa.select(sa.func.max(InboxEvent.received_at)).where(
            InboxEvent.connection_id == ctx.connection_id
        )
    )
    if last_callback is None or last_callback < now - QUIET_LIMIT:
        return {}
    kept = session.execute(
        sa.select(RemoteRow.remote_id, RemoteRow.row).where(
            RemoteRow.connection_id == ctx.connection_id,
            RemoteRow.stream == stream,
            RemoteRow.remote_id.in_(remote_ids),
            RemoteRow.stored_at <= last_callback,
        )
    ).all()
    if not kept:
        return {}
    waiting = _waiting(session, ctx, stream)
    return {remote_id: row for remote_id, row in kept if remote_id not in waiting}


def _waiting(session: Session, ctx: RunContext, stream: str) -> set[str]:
    """Records of ``stream`` named by callbacks not processed yet."""
    payloads = session.scalars(
        sa.select(InboxEvent.payload).where(
            InboxEvent.connection_id == ctx.connection_id, InboxEvent.processed_at.is_(None)
        )
    )
    named: set[str] = set()
    for payload in payloads:
        notices = ctx.connector.parse_notification(
            payload.get("query", {}), payload.get("body", "").encode()
        )
        named.update(n.remote_id for n in notices if n.stream == stream)
    return named
