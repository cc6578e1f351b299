"""The sync engine: every connector's import, pull, push, callbacks and retries.

Rules kept throughout (see ``inbound`` and ``outbound`` for each direction):
- no database transaction is open while an API call is made (the quota meter writes in a
  transaction of its own, and SQLite has one writer);
- whether a record changed is decided by comparing projections with the link's ``synced``
  state, so an echo of our own write is "unchanged" and is never sent back.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.engine.canonical import content_hash, validate
from ledgerbridge.engine.conflicts import ACCOUNTING, APP, CONFLICT_HELD
from ledgerbridge.engine.context import INBOUND, OUTBOUND, RunContext
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.inbound import InboundSync
from ledgerbridge.engine.outbound import MAKES_AGAIN, OutboundSync
from ledgerbridge.engine.steps import Faults
from ledgerbridge.store.tables.sync import Link, SyncIssue


class SyncEngine:
    def __init__(self, session_factory: sessionmaker[Session], hub: HubStore, clock: Clock) -> None:
        self._sessions = session_factory
        self.hub = hub
        self.inbound = InboundSync(session_factory, hub, clock)
        self.outbound = OutboundSync(session_factory, hub, clock)

    def run_import(self, ctx: RunContext) -> None:
        self.inbound.run_import(ctx)

    def process_inbox(self, ctx: RunContext) -> int:
        """Creates of ours that are not confirmed yet are resolved first, so that a callback
        about a record we created (Qonto's "invoice created") links it to its hub record
        instead of importing it a second time. A fault during that recovery does not hold the
        inbox back: records matching a still-open create are held back one by one."""
        if ctx.streams(outbound=True):
            self.outbound.recover_intents(ctx, Faults())
        return self.inbound.process_inbox(ctx)

    def run_push(self, ctx: RunContext) -> None:
        self.outbound.run_push(ctx)

    def reapply(self, ctx: RunContext, reasons: list[str]) -> None:
        """After a mapping changed: records skipped for these reasons are applied again,
        inbound from the copy kept with their issue (no API call), outbound by a push."""
        with self._sessions() as session:
            issues = session.execute(
                sa.select(SyncIssue.stream, SyncIssue.direction, SyncIssue.key, SyncIssue.payload)
                .where(
                    SyncIssue.connection_id == ctx.connection_id,
                    SyncIssue.reason_code.in_(reasons),
                )
                .order_by(SyncIssue.first_seen_at)
            ).all()
        for stream in ctx.connector.mappings:
            rows = [p for s, d, _, p in issues if s == stream and d == INBOUND and p]
            if rows and ctx.directions(stream)[0]:
                ctx.connector.prepare([stream])
                for start in range(0, len(rows), ctx.page_size):
                    page = rows[start : start + ctx.page_size]
                    with self.inbound.transaction() as session:
                        self.inbound.apply(session, ctx, stream, page)
            keys = [k for s, d, k, _ in issues if s == stream and d == OUTBOUND]
            if keys and ctx.directions(stream)[1]:
                for start in range(0, len(keys), ctx.write_batch_size):
                    self.outbound.push(ctx, stream, keys[start : start + ctx.write_batch_size])

    def retry_issues(
        self,
        ctx: RunContext,
        reason: str | None = None,
        issue_id: str | None = None,
        recreate: bool = False,
    ) -> int:
        """Try the open skipped or failed records of the connection again (all of them, those
        of one ``reason``, or one issue): inbound ones are read afresh (the cause may have
        been fixed there), outbound ones sent again, with the system's code tables read
        afresh too (a code created there to clear a skip). ``recreate``: the records of those
        issues ``MAKES_AGAIN`` applies to, and what they reference, that the system no longer
        has are unlinked first, so that they are made again (``unlink_missing``)."""
        query = sa.select(
            SyncIssue.stream, SyncIssue.direction, SyncIssue.key, SyncIssue.reason_code
        ).where(SyncIssue.connection_id == ctx.connection_id)
        if reason:
            query = query.where(SyncIssue.reason_code == reason)
        if issue_id:
            query = query.where(SyncIssue.id == issue_id)
        with self._sessions() as session:
            found = session.execute(query).all()
        issues = [(s, d, k) for s, d, k, _ in found]
        remake: dict[str, list[str]] = {}
        for s, d, k, code in found if recreate else ():
            if d == OUTBOUND and code in MAKES_AGAIN:
                remake.setdefault(s, []).append(k)
        ctx.connector.read_afresh()
        unlinked = self.outbound.unlink_missing(ctx, remake) if remake else {}
        for stream in ctx.connector.mappings:
            inbound_ids = sorted(k for s, d, k in issues if s == stream and d == INBOUND)
            if inbound_ids and ctx.directions(stream)[0]:
                self.inbound.retry(ctx, stream, inbound_ids)
            outbound_ids = sorted(
                {k for s, d, k in issues if s == stream and d == OUTBOUND}
                | set(unlinked.get(stream, ()))
            )
            if outbound_ids and ctx.directions(stream)[1]:
                for start in range(0, len(outbound_ids), ctx.write_batch_size):
                    self.outbound.push(
                        ctx, stream, outbound_ids[start : start + ctx.write_batch_size]
                    )
        return len(issues)

    def resolve_conflict(
        self, ctx: RunContext, issue_id: str, name: str | None, keep: str
    ) -> dict[str, int]:
        """A person's choice for a held conflict (one field, or every held field of the
        record). Keeping the accounting system's value writes it into the hub and makes it the
        link's synced state, so nothing goes back (no call). Keeping the app's makes the remote
        value the synced state and pushes the record: the usual update (one read, one write),
        which sends the hub's value; if the system changed the field again meanwhile, that is
        a new conflict for the rule to decide."""
        if keep not in (ACCOUNTING, APP):
            raise ValueError(f"keep must be {ACCOUNTING} or {APP}, not {keep!r}")
        with self.outbound.transaction() as session:
            issue = session.get(SyncIssue, issue_id)
            if (
                issue is None
                or issue.connection_id != ctx.connection_id
                or issue.reason_code != CONFLICT_HELD
            ):
                return {"resolved": 0}  # resolved meanwhile (agreement, or another choice)
            stream, record_id = issue.stream, issue.key
            mapping = ctx.mapping(stream)
            held = dict((issue.payload or {}).get("fields") or {})
            chosen = [f for f in ([name] if name else sorted(held)) if f in held]
            record = self.hub.get(session, ctx.tenant_id, mapping.entity, record_id)
            link = self.outbound.links_by(session, ctx, stream, Link.record_id, [record_id]).get(
                record_id
            )
            if not chosen or record is None or link is None:
                return {"resolved": 0}
            synced = dict(link.synced)
            for f in chosen:
                synced[f] = held[f].get("accounting")
            if keep == ACCOUNTING:
                data = {**record.data, **{f: held[f].get("accounting") for f in chosen}}
                self.hub.update(session, record, validate(mapping.entity, data), ctx.origin)
            link.synced, link.remote_hash = synced, content_hash(synced)
            link.hub_hash, link.updated_at = record.content_hash, self.outbound.clock.now()
            left = {f: v for f, v in held.items() if f not in chosen}
            recorder = self.outbound.recorder(ctx)
            if left:
                issue.payload = {**(issue.payload or {}), "fields": left}
                issue.message = (
                    f"{', '.join(sorted(left))} changed both in the app and in "
                    f"the {ctx.remote_name(stream)} {link.remote_id} since the last sync; the "
                    "conflict rule holds it until a person keeps one value"
                )
            else:
                session.delete(issue)
            side = "the app's" if keep == APP else f"{ctx.system_title}'s"
            recorder.log(
                session, stream=stream, direction=INBOUND if keep == ACCOUNTING else OUTBOUND,
                outcome="updated" if keep == ACCOUNTING else "unchanged", record_id=record_id,
                remote_id=link.remote_id, reason="conflict_resolved",
                message=f"conflict resolved: {side} value of {', '.join(chosen)} kept",
            )  # fmt: skip
        if keep == APP and ctx.directions(stream)[1]:
            self.outbound.push(ctx, stream, [record_id])
        return {"resolved": len(chosen)}
