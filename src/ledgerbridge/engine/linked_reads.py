"""Streams read by link (``EntityMapping.read_by_link``): the system lists no such records
(Tripletex keeps what is still owed on each invoice, and the connection only sends invoices),
so a pull reads those linked in the stream they attach to, by id, a page of links at a time."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.connectors.base import Page
from ledgerbridge.engine.context import RunContext
from ledgerbridge.store.tables.sync import Link


@dataclass(frozen=True)
class Pages:
    """A connection's pages of a stream as a pull reads them: the connector's own, except for a
    stream read by link, whose page is the next ``limit`` links of the stream it attaches to
    (in remote id order, after ``after``), read with one ``fetch_many``. A record no longer in
    the system is left out of its page; the position is the page's last link, so a run that
    stops resumes after it."""

    ctx: RunContext
    sessions: sessionmaker[Session]

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        mapping = self.ctx.mapping(stream)
        if not mapping.read_by_link or mapping.attach_to is None:
            return self.ctx.connector.read_page(stream, after, limit)
        query = sa.select(Link.remote_id).where(
            Link.connection_id == self.ctx.connection_id, Link.stream == mapping.attach_to
        )
        if after is not None:
            query = query.where(Link.remote_id > after)
        with self.sessions() as session:
            remote_ids = list(session.scalars(query.order_by(Link.remote_id).limit(limit)))
        if not remote_ids:
            return Page([], after, more=False)
        found = self.ctx.connector.fetch_many(stream, remote_ids)
        return Page(
            [found[rid] for rid in remote_ids if rid in found],
            remote_ids[-1],
            more=len(remote_ids) >= limit,
        )
