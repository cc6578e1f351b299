"""Records that came through a link the connection no longer keeps (``LinkedBy``): the
monthly summaries of a Tripletex client relinked to another customer.

A pull of such a stream first deletes them from the hub (the change feed and the webhooks say
so) and forgets their links, so the old customer's months can come again for the client it
is linked to next, as records of their own. The figures of a client that was only unlinked
stay: nothing has replaced them. Open issues of a record no client is linked to any more
close, since nothing reads it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.engine.context import INBOUND, RunContext
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, SyncIssue

RELINKED = "relinked"


def stale(source: str, linked_now: str | None, sources: frozenset[str]) -> bool:
    """Whether a record that came through ``source`` (a customer) and whose owner (a client)
    is linked to ``linked_now`` came through a link that no longer holds: its client is
    linked to another record of the system, or its source (among ``sources``, those linked)
    to another client."""
    if linked_now == source:
        return False
    return linked_now is not None or source in sources


def drop_relinked(
    session: Session, hub: HubStore, recorder: SyncRecorder, ctx: RunContext, stream: str
) -> None:
    """Delete from the hub, and unlink, the records of ``stream`` whose link no longer holds
    (``stale``); close the open issues of records no client is linked to. One query reads the
    stream's links with their owners."""
    linked_by = ctx.mapping(stream).linked_by
    if linked_by is None:
        return
    setting = ctx.settings.get(linked_by.setting) or {}
    links = {str(owner): str(source) for owner, source in setting.items()}
    owner = HubRecord.data[linked_by.field].as_string()
    rows = session.execute(
        sa.select(Link.id, Link.record_id, Link.remote_id, owner)
        .join(HubRecord, HubRecord.id == Link.record_id)
        .where(Link.connection_id == ctx.connection_id, Link.stream == stream)
    ).all()
    sources = frozenset(links.values())
    gone = [
        row
        for row in rows
        if stale(linked_by.source(row[2]), links.get(str(row[3])) if row[3] else None, sources)
    ]
    records = {record.id: record for record in hub.load(session, [row[1] for row in gone])}
    for _, record_id, remote_id, client in gone:
        record = records.get(record_id)
        if record is None or record.deleted:
            continue
        hub.delete(session, record, ctx.origin)
        recorder.log(
            session, stream=stream, direction=INBOUND, outcome="updated", record_id=record_id,
            remote_id=remote_id, reason=RELINKED,
            message=f"settings.{linked_by.setting} no longer links {client} to "
            f"{linked_by.source(remote_id)}, which this record came from: it is deleted from "
            "the hub, and the figures of the record linked now come with the next reads",
        )  # fmt: skip
    if gone:
        session.execute(sa.delete(Link).where(Link.id.in_([row[0] for row in gone])))
    keys = session.scalars(
        sa.select(SyncIssue.key).where(
            SyncIssue.connection_id == ctx.connection_id,
            SyncIssue.stream == stream,
            SyncIssue.direction == INBOUND,
        )
    ).all()
    recorder.resolve(
        session, stream, INBOUND, [key for key in keys if linked_by.source(key) not in sources]
    )
