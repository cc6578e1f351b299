"""What an import, a reload or a push would do, decided by the run's own code without its effects.

A preview is not a second copy of the sync rules. It reads what the run would read, then hands
it to the very functions the run decides with (``InboundSync.apply`` for records coming in,
``OutboundSync.plan`` for records going out) inside one database transaction that is rolled
back at the end, so links, matches, issues and hub records made while deciding are seen by the
records after them (as in the run) and then vanish. No connector write is ever called: a push's
creates, updates and withdrawn drafts are counted, and their calls estimated from the
connector's create plan and batch size. Every outcome the recorder counts is also shown to an
``Observer`` (``PreviewTally``), which keeps the counts, the skip reasons and a few examples of
each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.connectors.base import JSON, StepCall
from ledgerbridge.engine.context import RunContext
from ledgerbridge.engine.inbound import DONE, InboundSync, pull_cursor
from ledgerbridge.engine.linked_reads import Pages
from ledgerbridge.engine.outbound import OutboundSync, Planned

EXAMPLES = 5
"""Examples kept per stream and outcome, and per skip reason."""

ACTIONS = {
    "created": "create",
    "updated": "update",
    "deleted": "delete",
    "unchanged": "unchanged",
    "skipped": "skip",
    "failed": "skip",
}


def empty_stream() -> dict[str, Any]:
    return {
        "create": 0, "update": 0, "delete": 0, "unchanged": 0, "skip": 0,
        "examples": {"create": [], "update": [], "delete": [], "unchanged": []},
        "skips": {},
    }  # fmt: skip


class PreviewTally:
    """Per stream: records to create, update, leave unchanged and skip, with examples."""

    def __init__(self) -> None:
        self.streams: dict[str, dict[str, Any]] = {}

    def note(
        self, stream: str, outcome: str, key: str | None, reason: str | None, message: str | None
    ) -> None:
        action = ACTIONS.get(outcome)
        if action is None:
            return
        entry = self.streams.setdefault(stream, empty_stream())
        entry[action] += 1
        if action == "skip":
            skip = entry["skips"].setdefault(
                reason or "skipped", {"reason": reason or "skipped", "count": 0, "examples": []}
            )
            skip["count"] += 1
            if len(skip["examples"]) < EXAMPLES:
                skip["examples"].append({"key": key, "message": message})
        elif len(entry["examples"][action]) < EXAMPLES and key is not None:
            entry["examples"][action].append(key)

    def answer(self) -> dict[str, Any]:
        """Streams with their skips as a list (largest first), and the totals."""
        streams = {
            name: {**entry, "skips": sorted(entry["skips"].values(), key=lambda s: -s["count"])}
            for name, entry in self.streams.items()
        }
        totals = {
            action: sum(entry[action] for entry in self.streams.values())
            for action in ("create", "update", "delete", "unchanged", "skip")
        }
        return {"streams": streams, "totals": totals}


class SyncPreview:
    def __init__(
        self, session_factory: sessionmaker[Session], inbound: InboundSync, outbound: OutboundSync
    ) -> None:
        self._sessions = session_factory
        self.inbound = inbound
        self.outbound = outbound

    @contextmanager
    def _undone(self) -> Iterator[Session]:
        """One transaction for all the decisions, always rolled back: nothing is written,
        and no hub change reaches a listener (they hear of changes only at commit)."""
        with self._sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    def _cursor(self, ctx: RunContext, name: str) -> str | None:
        with self._sessions() as session:
            return self.inbound.cursor(session, ctx, name)

    def import_or_pull(
        self, ctx: RunContext, *, initial: bool, streams: list[str] | None = None
    ) -> PreviewTally:
        """The initial import (``initial``: streams already imported are left out, the others
        read from where the import stands) or a reload: a pull of ``streams`` (every stream
        read, by default). The reads are the run's own (the count, then every page); only the
        writes are left out."""
        tally = PreviewTally()
        ctx.observer = tally
        enabled = ctx.streams(inbound=True)
        streams = [s for s in enabled if streams is None or s in streams]
        if initial:
            for stream in streams:
                total = ctx.connector.count(stream)
                if total is not None:
                    ctx.totals[stream] = total
            streams = [s for s in streams if self._cursor(ctx, f"import:{s}") != DONE]
        pages_read: list[tuple[str, list[JSON]]] = []
        pages = Pages(ctx, self._sessions)
        for stream in streams:
            after = self._cursor(ctx, pull_cursor(stream))
            ctx.connector.prepare([stream])
            more = True
            while more:
                page = pages.read_page(stream, after, ctx.page_size)
                pages_read.append((stream, page.records))
                after, more = page.after, page.more
                ctx.heartbeat()
        # No call is made from here on: the transaction may stay open while deciding.
        with self._undone() as session:
            for stream, records in pages_read:
                self.inbound.apply(session, ctx, stream, records)
                _page_done(session)
        return tally

    def push(self, ctx: RunContext) -> tuple[PreviewTally, int]:
        """The pending hub changes a push would send: (the tally, the calls the push would
        make). Updates cost a batched read of the current records (for the three-way merge)
        and a batched write; creates cost the steps of the connector's create plan."""
        tally = PreviewTally()
        ctx.observer = tally
        calls = 0
        streams = ctx.streams(outbound=True)
        # The code tables the run reads before deciding (a VAT type's id for its number), read
        # outside the transaction as the run does, for the streams with changes to send only.
        pending = self._pending_streams(ctx, streams)
        if pending:
            ctx.connector.prepare(pending)
        with self._undone() as session:
            after = int(self.outbound.cursor(session, ctx, "push") or 0)
            while True:
                last, by_entity = self.outbound.pending(session, ctx, after)
                if last is None:
                    break
                for stream in streams:
                    ids = by_entity.get(ctx.mapping(stream).entity, [])
                    for start in range(0, len(ids), ctx.write_batch_size):
                        batch = ids[start : start + ctx.write_batch_size]
                        creates, updates, withdrawals = self.outbound.plan(
                            session, ctx, stream, batch
                        )
                        _page_done(session)
                        for plan in updates:
                            tally.note(stream, "updated", _remote_id(plan), None, None)
                        for plan in creates:
                            tally.note(stream, "created", plan.record.id, None, None)
                        for plan in withdrawals:
                            tally.note(stream, "deleted", _remote_id(plan), None, None)
                        calls += self._write_calls(ctx, stream, creates, updates, withdrawals)
                after = last
        return tally, calls

    def _pending_streams(self, ctx: RunContext, streams: list[str]) -> list[str]:
        """The outbound streams that have hub changes to send."""
        found: list[str] = []
        with self._undone() as session:
            after = int(self.outbound.cursor(session, ctx, "push") or 0)
            while len(found) < len(streams):
                last, by_entity = self.outbound.pending(session, ctx, after)
                if last is None:
                    break
                found += [
                    s for s in streams if s not in found and by_entity.get(ctx.mapping(s).entity)
                ]
                after = last
        return found

    def _write_calls(
        self,
        ctx: RunContext,
        stream: str,
        creates: list[Planned],
        updates: list[Planned],
        withdrawals: list[Planned],
    ) -> int:
        """Calls one batch of a push makes: the updates' read and write (one call per batch
        when the system writes in batches, else one per record), the withdrawn drafts' read
        and delete, and per create step the records that need it, in batches or one by one as
        the step is declared."""
        batched = stream in ctx.connector.batched_writes
        size = ctx.write_batch_size if batched else 1
        calls = 0
        if updates:
            calls += 1 + math.ceil(len(updates) / size)
        if withdrawals:
            calls += 2
        if creates:
            plan = ctx.connector.create_plan(stream)
            for step in plan.steps:
                needing = sum(
                    1
                    for create in creates
                    if step.needed(StepCall(create.payload or {}, create.record.id, {}))
                )
                if needing:
                    calls += math.ceil(needing / ctx.write_batch_size) if step.batched else needing
        return calls


def _page_done(session: Session) -> None:
    """Where the run commits a page: its rows go to the database (still to be rolled back)
    and leave the session, so the next page starts from a session as small as the run's."""
    session.flush()
    session.expunge_all()


def _remote_id(plan: Planned) -> str:
    return plan.link.remote_id if plan.link is not None else plan.record.id


def days_needed(calls: int, limit: int, remaining: int) -> int:
    """Days a run of ``calls`` takes at ``limit`` calls a day, starting today with
    ``remaining`` left: 1 when today's budget suffices."""
    if calls <= remaining:
        return 1
    return 1 + math.ceil((calls - max(remaining, 0)) / max(limit, 1))
