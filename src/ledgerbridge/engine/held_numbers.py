"""Numbers a system's records hold that the hub reads but does not import.

A stream whose numbers the hub hands out (``NumberSequence``) may read rows only to follow the
hub records linked to them (``ROW_LINKED_ONLY``: a Yuki contact that is no customer, a supplier
when suppliers are not imported). Such a row is keyed by its number, and the system matches
records on it: a record the hub sent under it would overwrite that row or be refused. The rows
are read anyway, so their numbers are kept as they go by (no call of their own) and the
sequence skips them, as it skips the numbers of records the hub holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON, ROW_LINKED_ONLY
from ledgerbridge.engine.context import RunContext
from ledgerbridge.store.db import dialect_insert
from ledgerbridge.store.tables.sync import HeldNumber


def hold(session: Session, ctx: RunContext, stream: str, rows: list[JSON], now: datetime) -> None:
    """Keep the numbers of the rows of ``stream`` read only to follow linked records, when the
    hub hands out the stream's numbers; a number kept already is not written again."""
    mapping = ctx.mapping(stream)
    if mapping.sequence is None:
        return
    numbers = sorted({mapping.remote_id(row) for row in rows if row.get(ROW_LINKED_ONLY)})
    if not numbers:
        return
    insert = dialect_insert(session)(HeldNumber).on_conflict_do_nothing(
        index_elements=[HeldNumber.connection_id, HeldNumber.stream, HeldNumber.number]
    )
    session.execute(
        insert,
        [
            {"connection_id": ctx.connection_id, "stream": stream, "number": n, "seen_at": now}
            for n in numbers
        ],
    )


def held(session: Session, ctx: RunContext, streams: Iterable[str]) -> list[str]:
    """The numbers kept for ``streams``."""
    return list(
        session.scalars(
            sa.select(HeldNumber.number).where(
                HeldNumber.connection_id == ctx.connection_id,
                HeldNumber.stream.in_(list(streams)),
            )
        )
    )
