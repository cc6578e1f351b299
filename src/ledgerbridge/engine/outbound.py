"""Hub → accounting system: pushes in batches, creates as journaled steps, and per-record
isolation.

A create is a write intent whose steps (the connector's ``CreatePlan``) are journaled one by
one: started before the call, confirmed with its result after it, each in its own committed
transaction. After any failure the record resumes from its last confirmed step; a step started
but not confirmed is looked up first. A record is linked as soon as its last step is confirmed.
A record that cannot be written gets its own open issue and never stops the others. Updates go
through a three-way merge against the link's ``synced`` state, so changes made meanwhile in the
accounting system are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, SessionTransaction

from ledgerbridge.connectors.base import (
    JSON,
    MAKE_AGAIN_HINT,
    REFERENCE_MISSING,
    ROW_ISSUE,
    ROW_NOTE,
    ConnectorError,
    CreatePlan,
    EntityMapping,
    NumberSequence,
    RemoteRef,
    RemoteRejected,
    RemoteUnavailable,
    SkipRecord,
    StepCall,
    WriteStep,
)
from ledgerbridge.engine import held_numbers, remote_rows
from ledgerbridge.engine.canonical import content_hash, validate
from ledgerbridge.engine.conflicts import (
    CONFLICT,
    Verdict,
    decide,
    has_rules,
    held_fields,
    record_verdict,
)
from ledgerbridge.engine.context import INBOUND, OUTBOUND, RunContext
from ledgerbridge.engine.gathering import gather
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.engine.routing import routed_to, tenant_routes
from ledgerbridge.engine.state import SyncState, named
from ledgerbridge.engine.steps import (
    ADOPTED,
    AWAITING_CREATE,
    DONE,
    OPEN_STATUSES,
    REFUSED,
    RESUMABLE_STATUSES,
    STARTED,
    TRANSIENT,
    Faults,
    chunks,
    complete,
    confirmed_steps,
    journal_of,
    results_of,
    state_of,
)
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, SyncIssue, WriteIntent
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

REMOTE_FIX_RETRY = timedelta(hours=1)
"""How long a record waiting on something done in the accounting system waits between tries
(each costs the connector's check, a read)."""

PUSHED_STREAMS = "push-streams"
"""The cursor holding the streams the last push sent (comma-separated): a stream not among
them was switched on (or made outbound) since, and its records are sent from the start."""
FEEDING = "push-routes:"
"""Per stream, the routes that send its entity here (``+``-joined id prefixes; ``*`` while
the tenant has no routes): a route added, given the entity or resumed since the last push
sends the records it routes from the start."""
SCOPE = "push-scope:"
"""Per stream, its mapping's ``scope`` at the last push: a setting that changed what the
stream admits makes its records be walked again from the start."""
BACKFILL = "push-backfill:"
"""Per stream switched on: ``<position reached>/<push cursor when it was switched on>``."""
MOVED = "ledgerbridge.engine.moved_by_update"


def moved_by_update(session: Session) -> frozenset[tuple[str, str]]:
    """(connection, hub record) pairs whose update the push confirmed in this transaction
    and that the system answered as another remote record than the one linked: a Uniconta
    order the update posted, now its invoice. What a listener needs to tell the push's
    booking of a draft from any later change of the booked invoice."""
    return frozenset(session.info.get(MOVED, ()))


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_moved(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(MOVED, None)


def _sent(
    groups: Iterable[list[Planned]],
    faults: Faults,
    send: Callable[[list[Planned]], Sequence[Any]],
) -> Iterator[tuple[list[Planned], Sequence[Any]]]:
    """Each group with the system's answer to it, until a fault stops the run; a transient
    fault is noted and its group left to the page's next reading (sending it again is safe
    where this is used)."""
    for group in groups:
        if faults.stop:
            return
        try:
            answer = send(group)
        except TRANSIENT as exc:
            faults.note(exc)
            continue
        yield group, answer


LINKED_BY_KEY = "linked_by_business_key"
"""The reason logged on a record linked to a remote record that existed before (``ADOPTED``)."""
REMOTE_MISSING = "remote_record_missing"
"""The issue of a record whose linked twin the system no longer has (deleted there)."""
UNLINKED_TO_REMAKE = "unlinked_to_make_again"
"""The reason logged on a record unlinked by a person's "make it again" (``unlink_missing``)."""
MAKES_AGAIN = frozenset({REMOTE_MISSING, REFERENCE_MISSING})
"""The issues "make it again" applies to: a twin, or a record it references, gone there."""


@dataclass
class Planned:
    """One record on its way out."""

    record: HubRecord
    link: Link | None
    projection: JSON
    refs: Mapping[str, RemoteRef | None]
    payload: JSON | None = None
    taken: frozenset[str] = frozenset()
    """Fields both sides changed whose remote value the conflict rule keeps: the hub takes
    them once the write is confirmed."""
    data: JSON | None = None
    """What is sent when it is not the record's own content: its group's (``gathering``)."""
    adopted: str | None = None
    """The business key of a remote record just adopted (``Create.adopted``): this update
    brings it to the hub's values, and is logged as such."""

    @property
    def canonical(self) -> JSON:
        """The canonical data the mapping gets for this record."""
        return self.data if self.data is not None else with_id(self.record)


def with_id(record: HubRecord) -> JSON:
    """The canonical data a mapping gets outbound: the record's content and its hub id."""
    return {**record.data, "id": record.id}


@dataclass
class Create:
    """A create on its way: the record, its intent and the intent's journal."""

    plan: Planned
    intent_id: str
    key: str
    journal: dict[str, Any]
    recovered: bool = False
    """A step of it was found by a look-up (it had taken effect without our knowing)."""
    adopted: bool = False
    """Found whole by its business key after the system refused to create it, with no call of
    ours that may have made it: a record that existed before, not ours. It is linked, then
    brought to the hub's values by an update."""
    unanswered: frozenset[str] = frozenset()
    """Steps started and not confirmed when the record was resumed: a call of ours may have
    made what a look-up finds for them."""
    stopped: bool = False
    """No further call for it in this run (linked, refused, or stopped by a fault)."""
    settled: bool = False
    """Linked, or given its issue: nothing more to say about it in this run."""
    fault: ConnectorError | None = None

    def call(self) -> StepCall:
        return StepCall(self.plan.payload or {}, self.key, results_of(self.journal))


def may_have_written(steps: JSON | None) -> bool:
    """Whether an intent's create may have written something: a step started or done (one
    recorded before steps were journaled may have written anything)."""
    if steps is None:
        return True
    return any(entry.get("state") in (STARTED, DONE) for entry in steps.values())


def unwritable(exc: Exception) -> tuple[str, str]:
    """Reason and message for a record whose own data broke its mapping (an absurd amount,
    a value the wire format cannot hold)."""
    if isinstance(exc, ArithmeticError):
        return "invalid_record_data", (
            "the record cannot be written: one of its numbers is out of any range money or "
            "quantities can take (or not a number); correct it in the app"
        )
    return "invalid_record_data", f"the record cannot be written: {type(exc).__name__}: {exc}"


def business_key(mapping: EntityMapping, plan: Planned) -> str:
    """How a record is found again after an unanswered create: its business key, else the
    connector's key for the payload it sent."""
    key = mapping.business_key(plan.canonical)
    if key is None and plan.payload is not None:
        key = mapping.payload_key(plan.payload)
    return key or plan.record.id


def linked_message(remote_name: str, remote_id: str, key: str, then: str) -> str:
    """What the log says of a record linked to a remote record that existed before."""
    return (
        f"{remote_name} {remote_id} with {key} existed already (this connection did "
        f"not create it): linked to it by its business key{then}"
    )


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
        faults = Faults()
        self.recover_intents(ctx, faults)
        if faults.stop:
            faults.raise_first()
        self._backfill_switched_on(ctx, outbound, faults)
        while True:
            with self.transaction() as session:
                after = int(self.cursor(session, ctx, "push") or 0)
                last, by_entity = self.pending(session, ctx, after)
                session.expunge_all()
            if last is None:
                break
            for stream in outbound:
                ids = by_entity.get(ctx.mapping(stream).entity, [])
                for start in range(0, len(ids), ctx.write_batch_size):
                    self.push(ctx, stream, ids[start : start + ctx.write_batch_size], faults)
            for stream in read_only:
                self._note_read_only(ctx, stream, by_entity.get(ctx.mapping(stream).entity, []))
            # A page that met a fault is read again next run (its linked records cost no call,
            # its open creates resume), so no update it held is lost behind the cursor.
            faults.raise_first()
            with self.transaction() as session:
                self.set_cursor(session, ctx, "push", str(last))
            ctx.heartbeat()
        self._push_waiting(ctx, outbound, faults)
        faults.raise_first()

    def _backfill_switched_on(self, ctx: RunContext, outbound: list[str], faults: Faults) -> None:
        """A stream switched on after its records' changes passed the push cursor would never
        send them, nor would a route that starts sending its entity here (added, given the
        entity, resumed), nor a setting that widens what the stream admits (its mapping's
        ``scope``): each such stream walks the feed again from the start up to where the
        cursor stood (records already linked and unchanged cost no call). The walk is
        resumable: its position is kept after each page, as the cursor's is."""
        with self.transaction() as session:
            known = self.cursor(session, ctx, PUSHED_STREAMS)
            upto = int(self.cursor(session, ctx, "push") or 0)
            again = set(outbound) - set(known.split(",")) if known is not None else set()
            for stream, routes in self._feeding(session, ctx, outbound).items():
                before = self.cursor(session, ctx, FEEDING + stream)
                if before is not None and not set(routes.split("+")) <= set(before.split("+")):
                    again.add(stream)
                if before != routes:
                    self.set_cursor(session, ctx, FEEDING + stream, routes)
            for stream in outbound:
                scope = ctx.mapping(stream).scope
                before = self.cursor(session, ctx, SCOPE + stream)
                if (before or "") != scope:
                    again.add(stream)
                    self.set_cursor(session, ctx, SCOPE + stream, scope)
            for stream in again if upto else ():
                self.set_cursor(session, ctx, BACKFILL + stream, f"0/{upto}")
            if known != ",".join(outbound):
                self.set_cursor(session, ctx, PUSHED_STREAMS, ",".join(outbound))
        for stream in outbound:
            while not faults.stop:
                with self.transaction() as session:
                    walk = self.cursor(session, ctx, BACKFILL + stream)
                    if not walk:
                        break
                    after, end = (int(part) for part in walk.split("/"))
                    last, by_entity = self.pending(
                        session, ctx, after, entity=ctx.mapping(stream).entity, upto=end
                    )
                    session.expunge_all()
                if last is None:
                    with self.transaction() as session:
                        self.set_cursor(session, ctx, BACKFILL + stream, None)
                    break
                ids = by_entity.get(ctx.mapping(stream).entity, [])
                for start in range(0, len(ids), ctx.write_batch_size):
                    self.push(ctx, stream, ids[start : start + ctx.write_batch_size], faults)
                faults.raise_first()
                with self.transaction() as session:
                    self.set_cursor(session, ctx, BACKFILL + stream, f"{last}/{end}")
                ctx.heartbeat()

    @staticmethod
    def _feeding(session: Session, ctx: RunContext, outbound: list[str]) -> dict[str, str]:
        """Per outbound stream, the active routes sending its entity to this connection."""
        routes = tenant_routes(session, ctx.tenant_id)
        if not routes:
            return dict.fromkeys(outbound, "*")
        return {
            stream: "+".join(sorted(
                route.id[:12] for route in routes
                if route.active and route.target == ctx.connection_id
                and ctx.mapping(stream).entity in route.entities
            ))
            for stream in outbound
        }  # fmt: skip

    def pending(
        self,
        session: Session,
        ctx: RunContext,
        after: int,
        limit: int = 500,
        *,
        entity: str | None = None,
        upto: int | None = None,
    ) -> tuple[int | None, dict[str, list[str]]]:
        """The next page of hub changes after the push cursor ``after`` (up to ``upto``, of
        one ``entity`` when given) that this connection sends: (the page's last position,
        None when there is none; record ids by entity)."""
        changes = self.hub.change_heads(
            session, ctx.tenant_id, after, limit, entity=entity, upto=upto
        )
        routed = routed_to(session, ctx.tenant_id, ctx.connection_id, ctx.connector.system)
        by_entity: dict[str, list[str]] = {}
        for change in changes:
            if routed(change.entity, change.origin):
                ids = by_entity.setdefault(change.entity, [])
                if change.record_id not in ids:
                    ids.append(change.record_id)
        return (changes[-1].position if changes else None), by_entity

    def _push_waiting(self, ctx: RunContext, streams: list[str], faults: Faults) -> None:
        """Records that waited for a referenced record (a contact for its customer) go out as
        soon as that record has synced; those waiting on something done in the accounting
        system (``fixed_remotely``) are tried again once their issue is an hour old."""
        tried_before = self.clock.now() - REMOTE_FIX_RETRY
        for stream in streams:
            mapping = ctx.mapping(stream)
            pending = {r.pending_reason for r in mapping.references}
            if not pending and not mapping.fixed_remotely:
                continue
            with self.transaction() as session:
                keys = list(
                    session.scalars(
                        sa.select(SyncIssue.key).where(
                            SyncIssue.connection_id == ctx.connection_id,
                            SyncIssue.stream == stream,
                            SyncIssue.direction == OUTBOUND,
                            sa.or_(
                                SyncIssue.reason_code.in_(pending),
                                sa.and_(
                                    SyncIssue.reason_code.in_(mapping.fixed_remotely),
                                    SyncIssue.last_seen_at <= tried_before,
                                ),
                            ),
                        )
                    )
                )
            for start in range(0, len(keys), ctx.write_batch_size):
                self.push(ctx, stream, keys[start : start + ctx.write_batch_size], faults)

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
                    message=f"{ctx.system_title} is master for this {mapping.remote_entity}: "
                    "hub changes are not sent, and the next change made there overwrites them",
                )  # fmt: skip

    def push(
        self, ctx: RunContext, stream: str, record_ids: list[str], faults: Faults | None = None
    ) -> None:
        """Create or update the given hub records in the accounting system. Transient faults
        are collected in ``faults``; without it, the first one is raised once every other
        record was tried."""
        own = faults is None
        faults = faults or Faults()
        if faults.stop:
            return
        ctx.connector.prepare([stream])
        with self.transaction() as session:
            creates, updates, withdrawals = self.plan(session, ctx, stream, record_ids)
            session.flush()
            session.expunge_all()
        if updates:
            self._push_updates(ctx, stream, updates, faults)
        if withdrawals and not faults.stop:
            self._push_withdrawals(ctx, stream, withdrawals, faults)
        if creates and not faults.stop:
            adopted = self._push_creates(ctx, stream, creates, faults)
            if adopted:
                # Linked to records that existed before: now an update brings them to the
                # hub's values (the link's synced state is what they held).
                self.push(ctx, stream, adopted, faults)
            finished = [plan.record.id for plan in creates if plan.record.deleted]
            if finished and not faults.stop:
                with self.transaction() as session:
                    linked = list(self.links_by(session, ctx, stream, Link.record_id, finished))
                if linked:
                    # Interrupted creates of records deleted meanwhile, now finished and
                    # linked: their drafts are withdrawn.
                    self.push(ctx, stream, linked, faults)
        if own:
            faults.raise_first()

    def unlink_missing(
        self, ctx: RunContext, targets: Mapping[str, list[str]]
    ) -> dict[str, list[str]]:
        """A person's "make it again" for records whose twin the system no longer has (the
        issue ``remote_record_missing``, or a refusal naming a linked record gone there,
        ``REFERENCE_MISSING``). Each record of ``targets`` (hub ids by stream), and each record
        it references, whose linked twin the system confirms gone when read now loses its
        link and kept row, so that the push which follows creates it anew (or finds and links
        one made there again by hand, as any create does); a referenced record the app never
        sends (Tripletex's customers) is linked by the pull that brings the one made there
        again. A twin that still exists keeps its link: nothing is made twice. Answers the
        records unlinked, by stream."""
        wanted: dict[str, set[str]] = {stream: set(ids) for stream, ids in targets.items()}
        with self._sessions() as session:
            for stream, ids in targets.items():
                references = ctx.mapping(stream).references
                for record in self.hub.load(session, ids) if references else []:
                    for ref in references:
                        value = record.data.get(ref.field)
                        if not isinstance(value, str):
                            continue
                        for target in ref.streams:
                            if target in ctx.connector.mappings and any(ctx.directions(target)):
                                wanted.setdefault(target, set()).add(value)
            links = {
                stream: self.links_by(session, ctx, stream, Link.record_id, sorted(ids))
                for stream, ids in wanted.items()
            }
            session.expunge_all()
        unlinked: dict[str, list[str]] = {}
        recorder = self.recorder(ctx)
        for stream, linked in links.items():
            if not linked:
                continue
            found = ctx.connector.fetch_many(stream, [link.remote_id for link in linked.values()])
            gone = [link for link in linked.values() if link.remote_id not in found]
            if not gone:
                continue
            after = (
                "to be made again by the push that follows"
                if ctx.directions(stream)[1]
                else "to be linked to the record made there again, when a pull brings it"
            )
            with self.transaction() as session:
                session.execute(sa.delete(Link).where(Link.id.in_([link.id for link in gone])))
                remote_rows.forget(session, ctx, {stream: [link.remote_id for link in gone]})
                for link in gone:
                    recorder.log(
                        session, stream=stream, direction=OUTBOUND, outcome="updated",
                        record_id=link.record_id, remote_id=link.remote_id,
                        reason=UNLINKED_TO_REMAKE,
                        message=f"{ctx.remote_name(stream)} {link.remote_id} no longer exists "
                        f"there: unlinked, {after}",
                    )  # fmt: skip
            unlinked[stream] = [link.record_id for link in gone]
        return unlinked

    def plan(
        self, session: Session, ctx: RunContext, stream: str, record_ids: list[str]
    ) -> tuple[list[Planned], list[Planned], list[Planned]]:
        """What a push does with these hub records, decided in ``session`` without a call:
        those unchanged for the system and those skipped are logged (with their issue); the
        answer is (creates, updates, withdrawals) still to send, withdrawals being records
        deleted in the hub, or out of scope since, whose remote draft is deleted too
        (``EntityMapping.withdrawable``); a record out of scope that cannot be withdrawn gets
        the issue its mapping gives (``left_scope``).
        The push and its preview both decide here."""
        mapping = ctx.mapping(stream)
        recorder = self.recorder(ctx)
        creates: list[Planned] = []
        updates: list[Planned] = []
        withdrawals: list[Planned] = []
        records = list(
            session.scalars(
                sa.select(HubRecord).where(
                    HubRecord.id.in_(record_ids),
                    HubRecord.tenant_id == ctx.tenant_id,
                    HubRecord.entity == mapping.entity,
                )
            )
        )
        # In the order given (the change feed's): invoices are numbered and sent in the order
        # they were made, whatever order the database hands them back in.
        order = {record_id: n for n, record_id in enumerate(record_ids)}
        records.sort(key=lambda record: order[record.id])
        gathered: dict[str, JSON] = {}
        if mapping.gathering is not None:
            groups = gather(session, ctx, stream, mapping, records)
            records, gathered = groups.records, groups.data
            recorder.resolve(session, stream, OUTBOUND, groups.covered)
        sent = [record.id for record in records]
        links = self.links_by(session, ctx, stream, Link.record_id, sent)
        open_issues = recorder.open_issue_keys(session, stream, OUTBOUND, sent)
        adopting = self._adopting(session, ctx, stream, list(links))
        finishing = self._finishing(
            session, ctx, stream, [r for r in records if r.deleted and r.id not in links]
        )
        resolved: list[str] = []
        agreed: list[str] = []
        if mapping.sequence is not None:
            self._number(session, ctx, mapping, mapping.sequence, records)
        for record in records:
            link = links.get(record.id)
            if record.deleted and record.id not in finishing:
                if link is not None and mapping.withdrawable(link.remote_id):
                    withdrawals.append(Planned(record, link, {}, {}))
                    continue
                message = "deleted in the hub; deletes never reach the accounting system"
                if link is None:
                    message = "deleted in the hub before it reached the accounting system"
                    # Never sent now: what its create waited for (an item) is moot.
                    if record.id in open_issues:
                        resolved.append(record.id)
                recorder.log(
                    session, stream=stream, direction=OUTBOUND, outcome="unchanged",
                    record_id=record.id, remote_id=link.remote_id if link else None,
                    reason="delete_not_propagated", message=message,
                )  # fmt: skip
                continue
            data = gathered.get(record.id)
            canonical = data if data is not None else with_id(record)
            try:
                if not mapping.in_scope(record.data):
                    if link is not None and mapping.withdrawable(link.remote_id):
                        withdrawals.append(Planned(record, link, {}, {}))
                    elif link is not None and (left := mapping.left_scope(record.data)):
                        raise left
                    continue
                projection, refs = self.projection(session, ctx, mapping, canonical)
                payload = mapping.from_canonical(canonical, None, refs) if link is None else None
            except SkipRecord as skip:
                recorder.issue(
                    session, stream=stream, direction=OUTBOUND, key=record.id,
                    reason=skip.reason, message=skip.message, record_id=record.id,
                )  # fmt: skip
                continue
            except Exception as exc:  # one record's own data never stops the others
                reason, message = unwritable(exc)
                recorder.issue(
                    session, stream=stream, direction=OUTBOUND, key=record.id,
                    outcome="failed", reason=reason, message=message, record_id=record.id,
                )  # fmt: skip
                continue
            if link is not None and link.remote_hash == content_hash(projection):
                agreed.append(record.id)
                link.hub_hash = record.content_hash
                key = adopting.get(record.id)
                recorder.log(
                    session, stream=stream, direction=OUTBOUND, outcome="unchanged",
                    record_id=record.id, remote_id=link.remote_id, persist=key is not None,
                    reason=LINKED_BY_KEY if key is not None else None,
                    message=None if key is None else linked_message(
                        ctx.remote_name(stream), link.remote_id, key,
                        "; it already held the hub's values"),
                )  # fmt: skip
                if record.id in open_issues:
                    resolved.append(record.id)
            elif link is None:
                creates.append(Planned(record, None, projection, refs, payload, data=data))
            else:
                updates.append(
                    Planned(record, link, projection, refs, data=data,
                            adopted=adopting.get(record.id))
                )  # fmt: skip
        updating = {plan.record.id for plan in updates}
        self._settle_adopted(session, ctx, stream, [r for r in adopting if r not in updating])
        recorder.resolve(session, stream, OUTBOUND, resolved)
        # Both sides agree in full on these records: a hold of theirs ends.
        recorder.resolve(session, stream, CONFLICT, agreed)
        return creates, updates, withdrawals

    def _finishing(
        self, session: Session, ctx: RunContext, stream: str, deleted: list[HubRecord]
    ) -> set[str]:
        """Records deleted in the hub before their create was confirmed, that create having
        perhaps written a draft (``EntityMapping.finishes_when_deleted``): the create is
        finished, so that the draft is linked and then withdrawn rather than left behind."""
        mapping = ctx.mapping(stream)
        candidates = [r.id for r in deleted if mapping.finishes_when_deleted(r.data)]
        if not candidates:
            return set()
        intents = session.execute(
            sa.select(WriteIntent.record_id, WriteIntent.steps).where(
                WriteIntent.connection_id == ctx.connection_id,
                WriteIntent.stream == stream,
                WriteIntent.record_id.in_(candidates),
                WriteIntent.status.in_(OPEN_STATUSES),
            )
        )
        return {record_id for record_id, steps in intents if may_have_written(steps)}

    @staticmethod
    def _adopting(
        session: Session, ctx: RunContext, stream: str, record_ids: list[str]
    ) -> dict[str, str]:
        """Of these linked records, those adopted whose update is still to come (``ADOPTED``):
        record id → the business key they were found by."""
        if not record_ids:
            return {}
        return dict(
            session.execute(
                sa.select(WriteIntent.record_id, WriteIntent.business_key).where(
                    WriteIntent.connection_id == ctx.connection_id,
                    WriteIntent.stream == stream,
                    WriteIntent.record_id.in_(record_ids),
                    WriteIntent.status == ADOPTED,
                )
            ).all()
        )

    def _settle_adopted(
        self, session: Session, ctx: RunContext, stream: str, record_ids: list[str]
    ) -> None:
        """The adopted records' update is written, needless, or given its issue: their
        intents are done (an issue's retry, or the record's next change, sends it again)."""
        if not record_ids:
            return
        session.execute(
            sa.update(WriteIntent)
            .where(
                WriteIntent.connection_id == ctx.connection_id,
                WriteIntent.stream == stream,
                WriteIntent.record_id.in_(record_ids),
                WriteIntent.status == ADOPTED,
            )
            .values(status="done", updated_at=self.clock.now())
        )

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
        taken.update(self._skipped_numbers(session, ctx, sequence))
        prefix, number = str(config.get("prefix") or ""), int(config["next"])
        for record in wanted:
            while f"{prefix}{number}" in taken:
                number += 1
            value = f"{prefix}{number}"
            taken.add(value)
            number += 1
            data = validate(mapping.entity, {**record.data, sequence.field: value})
            self.hub.update(session, record, data, ctx.origin, run_id=ctx.run_id)
        updated = {**config, "next": number}
        row.settings = {**row.settings, sequence.setting: updated}
        ctx.settings[sequence.setting] = updated

    @staticmethod
    def _skipped_numbers(session: Session, ctx: RunContext, sequence: NumberSequence) -> list[str]:
        """Numbers the system's records hold that the hub did not import: those it skipped on
        reading them (an inactive contact, a kind not imported; a record numbered by
        ``sequence`` is keyed by its number, so its open inbound issue's key is the number),
        and those of rows it reads only to follow linked records (``held_numbers``). A new
        record must not take any of them."""
        streams = [s for s, m in ctx.connector.mappings.items() if m.sequence == sequence]
        skipped = session.scalars(
            sa.select(SyncIssue.key).where(
                SyncIssue.connection_id == ctx.connection_id,
                SyncIssue.direction == INBOUND,
                SyncIssue.stream.in_(streams),
            )
        )
        return [*skipped, *held_numbers.held(session, ctx, streams)]

    def _back_refs(self, mapping: EntityMapping, record: JSON) -> dict[str, str | None]:
        return {ref.field: record.get(ref.field) for ref in mapping.references}

    def _push_updates(
        self, ctx: RunContext, stream: str, updates: list[Planned], faults: Faults
    ) -> None:
        """Merge each update with the record as the system holds it (its kept row when that
        is safe to use, see ``remote_rows``, else read in one batch), then write in batches."""
        mapping = ctx.mapping(stream)
        remote_ids = [p.link.remote_id for p in updates if p.link is not None]
        with self._sessions() as session:
            current = remote_rows.usable(session, ctx, stream, remote_ids, self.clock.now())
        unknown = [remote_id for remote_id in remote_ids if remote_id not in current]
        try:
            if unknown:
                current.update(ctx.connector.fetch_many(stream, unknown))
        except TRANSIENT as exc:
            faults.note(exc)
            return
        recorder = self.recorder(ctx)
        planned: list[Planned] = []
        with self.transaction() as session:
            held = held_fields(session, ctx.connection_id, stream, [p.record.id for p in updates])
            for plan in updates:
                assert plan.link is not None
                record, link = plan.record, plan.link
                remote_row = current.get(link.remote_id)
                if remote_row is None:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        reason=REMOTE_MISSING,
                        message=f"{ctx.remote_name(stream)} {link.remote_id} no longer exists "
                        f"there (linked to {named(record.data, record.id)}): deletes are not "
                        "propagated, so it is not made again and this record's changes are not "
                        "sent. Deleted on purpose: delete it in the app too, or dismiss this "
                        f"issue; by mistake: {MAKE_AGAIN_HINT}",
                        record_id=record.id, remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                try:
                    back = self._back_refs(mapping, plan.canonical)
                    remote = self.normalise(mapping, mapping.to_canonical(remote_row, back))
                except (SkipRecord, ValidationError, ArithmeticError, ValueError):
                    remote = dict(link.synced)
                # Three-way merge: the hub's changes since the last sync win field by field;
                # changes made meanwhile in the accounting system are kept, and so are the
                # fields both changed that the connection's conflict rules give to it.
                verdict = self._verdict(ctx, stream, plan, remote, held.get(record.id, {}))
                theirs = verdict.remote | set(verdict.held)
                merged = {
                    name: plan.projection.get(name)
                    if plan.projection.get(name) != link.synced.get(name) and name not in theirs
                    else remote.get(name)
                    for name in mapping.fields
                }
                record_verdict(
                    session, recorder, stream=stream, entity=mapping.entity,
                    remote_name=ctx.remote_name(stream), record_id=record.id,
                    remote_id=link.remote_id, verdict=verdict,
                )  # fmt: skip
                plan.taken = frozenset(verdict.remote)
                if theirs and all(merged[n] == remote.get(n) for n in mapping.fields):
                    # Nothing of the hub's is to be sent: no write, the hub takes what the
                    # rules gave the accounting system.
                    self._keep_remote(session, ctx, stream, plan, remote, recorder)
                    continue
                try:
                    plan.payload = mapping.from_canonical(
                        {**plan.canonical, **merged}, remote_row, plan.refs
                    )
                except SkipRecord as skip:
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        reason=skip.reason, message=skip.message, record_id=record.id,
                        remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                except Exception as exc:  # one record's own data never stops the others
                    reason, message = unwritable(exc)
                    recorder.issue(
                        session, stream=stream, direction=OUTBOUND, key=record.id,
                        outcome="failed", reason=reason, message=message, record_id=record.id,
                        remote_id=link.remote_id,
                    )  # fmt: skip
                    continue
                planned.append(plan)
            going = {plan.record.id for plan in planned}
            self._settle_adopted(session, ctx, stream, [
                p.record.id for p in updates if p.adopted is not None and p.record.id not in going
            ])  # fmt: skip
        batched = ctx.connector.batched_writes | ctx.connector.batched_updates
        size = ctx.write_batch_size if stream in batched else 1
        # Updates are safe to send again: a record keeps its link and is pushed again with
        # the page that held it.
        sent = _sent(chunks(planned, size), faults, partial(self._write_updates, ctx, stream))
        for group, stored in sent:
            with self.transaction() as session:
                recorder = self.recorder(ctx)
                for plan, row in zip(group, stored, strict=True):
                    if row is None:
                        continue
                    why = said = None
                    if plan.adopted is not None and plan.link is not None:
                        why = LINKED_BY_KEY
                        said = linked_message(
                            ctx.remote_name(stream), plan.link.remote_id, plan.adopted,
                            " and updated to the hub's values",
                        )  # fmt: skip
                    self._link_written(
                        session, ctx, stream, plan, row, "updated", recorder, why, said
                    )
                self._settle_adopted(
                    session, ctx, stream, [p.record.id for p in group if p.adopted is not None]
                )

    def _push_withdrawals(
        self, ctx: RunContext, stream: str, withdrawals: list[Planned], faults: Faults
    ) -> None:
        """Drafts deleted in the hub or out of scope since (an invoice cancelled), deleted in
        the system in batches, and unlinked. Sending
        one again is safe (a draft already gone counts as deleted), so a fault leaves it to
        the page's next reading."""
        recorder = self.recorder(ctx)
        groups = chunks(withdrawals, ctx.write_batch_size)
        for group, refusals in _sent(groups, faults, partial(self._withdraw, ctx, stream)):
            with self.transaction() as session:
                gone: list[str] = []
                for plan, refused in zip(group, refusals, strict=True):
                    assert plan.link is not None
                    record, remote_id = plan.record, plan.link.remote_id
                    if refused is not None:
                        recorder.issue(
                            session, stream=stream, direction=OUTBOUND, key=record.id,
                            outcome="failed", reason=refused.reason, message=str(refused),
                            record_id=record.id, remote_id=remote_id,
                        )  # fmt: skip
                        continue
                    link = session.get(Link, plan.link.id)
                    if link is not None:
                        session.delete(link)
                    gone.append(remote_id)
                    recorder.resolve(session, stream, OUTBOUND, [record.id])
                    why = "deleted in the hub" if record.deleted else "no longer to be sent"
                    recorder.log(
                        session, stream=stream, direction=OUTBOUND, outcome="deleted",
                        record_id=record.id, remote_id=remote_id, reason="draft_withdrawn",
                        message=f"{why} before it was booked: "
                        f"{remote_id.replace(':', ' ')} deleted in the accounting system",
                    )  # fmt: skip
                remote_rows.forget(session, ctx, {stream: gone})

    def _withdraw(
        self, ctx: RunContext, stream: str, group: list[Planned]
    ) -> list[RemoteRejected | None]:
        """One batch of withdrawals; a batch refused as a whole is sent again one by one, so
        only the record refused fails."""
        remote_ids = [plan.link.remote_id for plan in group if plan.link is not None]
        try:
            return list(ctx.connector.withdraw_many(stream, remote_ids))
        except RemoteRejected as exc:
            if len(group) == 1:
                return [exc]
        return [self._withdraw(ctx, stream, [plan])[0] for plan in group]

    def _verdict(
        self, ctx: RunContext, stream: str, plan: Planned, remote: JSON, held: dict[str, JSON]
    ) -> Verdict:
        """The connection's conflict rules applied to an update about to be merged; without
        rules or holds the default merge (the hub's changes sent) stands."""
        mapping = ctx.mapping(stream)
        if plan.link is None or (not held and not has_rules(ctx.settings, mapping.entity)):
            return Verdict()
        return decide(
            ctx.settings, mapping.entity, sorted(mapping.fields), hub=plan.projection,
            base=plan.link.synced, remote=remote, hub_changed_at=plan.record.updated_at,
            remote_seen_at=self.clock.now(), held=held,
        )  # fmt: skip

    def _keep_remote(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        plan: Planned,
        remote: JSON,
        recorder: SyncRecorder,
    ) -> None:
        """An update whose every field is the remote's (taken or held by a conflict rule):
        the link takes the remote state and the hub the fields given to the system."""
        assert plan.link is not None
        link = session.get(Link, plan.link.id)
        fresh = self.hub.get(session, ctx.tenant_id, ctx.mapping(stream).entity, plan.record.id)
        if link is None or fresh is None:
            return
        self._adopt_remote_values(session, ctx, stream, fresh, link.synced, remote, plan.taken)
        self.save_link(session, ctx, stream, fresh, link.remote_id, remote, link)
        recorder.log(
            session, stream=stream, direction=OUTBOUND, outcome="unchanged",
            record_id=fresh.id, remote_id=link.remote_id, reason="conflict_rule",
            message="every changed field went to the accounting system's value by the "
            "connection's conflict rules: nothing to write",
        )  # fmt: skip

    def _write_updates(
        self, ctx: RunContext, stream: str, planned: list[Planned]
    ) -> list[JSON | None]:
        """Write a batch of updates; when the system refuses it (batches are all-or-nothing),
        send them one by one so that only the bad record fails. None where one failed."""
        try:
            return list(ctx.connector.update_many(stream, [p.payload or {} for p in planned]))
        except RemoteRejected as exc:
            if len(planned) == 1:
                self._refused(ctx, stream, planned[0], exc)
                return [None]
        return [self._write_updates(ctx, stream, [plan])[0] for plan in planned]

    def _refused(self, ctx: RunContext, stream: str, plan: Planned, exc: RemoteRejected) -> None:
        with self.transaction() as session:
            self.recorder(ctx).issue(
                session, stream=stream, direction=OUTBOUND, key=plan.record.id,
                outcome="failed", reason=exc.reason,
                message=f"{ctx.system_title} refused the {ctx.mapping(stream).remote_entity}: "
                f"{exc}",
                record_id=plan.record.id, remote_id=plan.link.remote_id if plan.link else None,
            )  # fmt: skip

    def _link_written(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        plan: Planned,
        row: JSON,
        outcome: str | None,
        recorder: SyncRecorder,
        reason: str | None = None,
        message: str | None = None,
    ) -> str | None:
        """Link a record to what the system stored and take what the system assigned into
        the hub; returns the remote id, None when it belongs to another hub record. Without
        ``outcome`` nothing is logged: the update that follows says what became of it."""
        mapping = ctx.mapping(stream)
        record = plan.record
        try:
            synced = self.normalise(
                mapping, mapping.to_canonical(row, self._back_refs(mapping, plan.canonical))
            )
        except Exception:
            # A system that cannot return the record as stored (Yuki's sales invoices), or a
            # stored row its mapping cannot read: it holds what was sent.
            synced = plan.projection
        fresh = self.hub.get(session, ctx.tenant_id, mapping.entity, record.id)
        if fresh is None:
            return None
        remote_id = mapping.remote_id(row)
        link = session.get(Link, plan.link.id) if plan.link is not None else None
        # A group's remote record holds the group's values: none of them is one member's own.
        adopts = plan.data is None
        if link is not None and adopts:
            self._adopt_remote_values(session, ctx, stream, fresh, link.synced, synced, plan.taken)
        if link is None:
            taken = self.links_by(session, ctx, stream, Link.remote_id, [remote_id])
            owner = taken.get(remote_id)
            if owner is not None and owner.record_id != record.id:
                recorder.issue(
                    session, stream=stream, direction=OUTBOUND, key=record.id,
                    reason="business_key_conflict",
                    message=f"{ctx.remote_name(stream)} {remote_id} already exists and is "
                    f"linked to hub record {owner.record_id}; give this record another key",
                    record_id=record.id, remote_id=remote_id,
                )  # fmt: skip
                return None
            link = owner or self.links_by(session, ctx, stream, Link.record_id, [record.id]).get(
                record.id
            )
        if adopts and not fresh.deleted:  # a finished create about to be withdrawn
            self._adopt_assigned_values(session, ctx, stream, fresh, synced)
        if link is not None and link.remote_id != remote_id:
            if outcome == "updated":
                session.info.setdefault(MOVED, set()).add((ctx.connection_id, record.id))
            self.follow_renamed(session, ctx, stream, record.id, remote_id)
        self.save_link(session, ctx, stream, fresh, remote_id, synced, link)
        remote_rows.keep(session, ctx, stream, [row], self.clock.now())
        # An inbound copy held back while this create was unconfirmed is this record.
        recorder.resolve(session, stream, INBOUND, [remote_id], reasons=[AWAITING_CREATE])
        problem = row.get(ROW_ISSUE)
        if problem:
            recorder.issue(
                session, stream=stream, direction=OUTBOUND, key=record.id,
                outcome=problem.get("outcome", "failed"), reason=problem["reason"],
                message=problem["message"], record_id=record.id, remote_id=remote_id,
            )  # fmt: skip
            return remote_id
        if outcome is None:
            return remote_id
        note = row.get(ROW_NOTE)
        if note and reason is None:
            reason, message = note["reason"], note["message"]
        recorder.log(
            session, stream=stream, direction=OUTBOUND, outcome=outcome,
            record_id=record.id, remote_id=remote_id, reason=reason, message=message,
        )  # fmt: skip
        recorder.resolve(session, stream, OUTBOUND, [record.id])
        return remote_id

    # ------------------------------------------------------------------ creates as steps

    def _push_creates(
        self, ctx: RunContext, stream: str, creates: list[Planned], faults: Faults
    ) -> list[str]:
        """Resume each record's open intent, or record a new one, then run the steps. Returns
        the records linked to remote records that existed before (``Create.adopted``)."""
        mapping = ctx.mapping(stream)
        plan = ctx.connector.create_plan(stream)
        items: list[Create] = []
        with self.transaction() as session:
            recorder = self.recorder(ctx)
            now = self.clock.now()
            existing = {
                intent.record_id: intent
                for intent in session.scalars(
                    sa.select(WriteIntent)
                    .where(
                        WriteIntent.connection_id == ctx.connection_id,
                        WriteIntent.stream == stream,
                        WriteIntent.record_id.in_([p.record.id for p in creates]),
                        WriteIntent.status.in_(OPEN_STATUSES),
                    )
                    .order_by(WriteIntent.created_at)
                )
            }
            for planned in creates:
                intent = existing.get(planned.record.id)
                if intent is None:
                    try:
                        key = business_key(mapping, planned)
                    except Exception as exc:  # the record's own data
                        reason, message = unwritable(exc)
                        recorder.issue(
                            session, stream=stream, direction=OUTBOUND, key=planned.record.id,
                            outcome="failed", reason=reason, message=message,
                            record_id=planned.record.id,
                        )  # fmt: skip
                        continue
                    intent = WriteIntent(
                        connection_id=ctx.connection_id, stream=stream,
                        record_id=planned.record.id, operation="create", status="pending",
                        business_key=key, steps={}, created_at=now, updated_at=now,
                    )  # fmt: skip
                    session.add(intent)
                    session.flush()
                journal = journal_of(intent.steps, plan)
                if intent.status == REFUSED:
                    # Tried again: the refused step is sent again with the current data.
                    journal = {n: e for n, e in journal.items() if e.get("state") != REFUSED}
                if intent.status != "pending" or intent.steps is None:
                    intent.status, intent.steps, intent.updated_at = "pending", journal, now
                unanswered = frozenset(n for n in journal if state_of(journal, n) == STARTED)
                items.append(
                    Create(planned, intent.id, intent.business_key, journal, unanswered=unanswered)
                )
        self._run_steps(ctx, stream, plan, items, faults)
        return [item.plan.record.id for item in items if item.adopted and item.settled]

    def _run_steps(
        self, ctx: RunContext, stream: str, plan: CreatePlan, items: list[Create], faults: Faults
    ) -> None:
        """Each step in order over every record that needs it: look up what was started but
        not confirmed, send the rest (in batches where the step is batched), and link each
        record as soon as its last step is confirmed. Without a batched step, each record
        goes through all its steps before the next starts, so a fault that stops the run
        leaves the records before it linked."""
        if len(items) > 1 and not any(step.batched for step in plan.steps):
            for item in items:
                self._run_steps(ctx, stream, plan, [item], faults)
            return
        self._confirm(ctx, stream, plan, None, [(item, None) for item in items])
        for step in plan.steps:
            todo = [
                item
                for item in items
                if not item.stopped
                and state_of(item.journal, step.name) != DONE
                and step.needed(item.call())
            ]
            size = ctx.write_batch_size if step.batched else 1
            started = [i for i in todo if state_of(i.journal, step.name) == STARTED]
            if step.find is not None:
                for group in chunks(started, size):
                    self._look_up(ctx, stream, plan, step, group, faults)
            sendable = [i for i in todo if not i.stopped and state_of(i.journal, step.name) != DONE]
            for group in chunks(sendable, size):
                self._send(ctx, stream, plan, step, group, faults)
        self._interrupted(ctx, stream, plan, [i for i in items if not i.settled])

    def _look_up(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep,
        group: list[Create],
        faults: Faults,
        *,
        refused: bool = False,
    ) -> list[Create]:
        """Whether a step started but not confirmed took effect; what is found is adopted.
        Returns the records not found (their step is to be sent).

        ``refused``: the look-up follows a call the system refused, known to have written
        none of ``group``. A record found whole there, whose step no earlier call of ours may
        have made (``Create.unanswered``), existed before: it is linked as an adopted record,
        not as a create of ours recovered."""
        assert step.find is not None
        if faults.stop:
            self._stop(group, None)
            return []
        try:
            found = step.find([item.call() for item in group])
        except TRANSIENT as exc:
            faults.note(exc)
            self._stop(group, exc)
            return []
        except RemoteRejected as exc:
            # The look-up itself was refused: sending blind could duplicate the record.
            for item in group:
                self._refuse(ctx, stream, plan, step, item, exc, looked_up=True)
            return []
        adopted: list[tuple[Create, JSON | None]] = []
        missing: list[Create] = []
        for item, row in zip(group, found, strict=True):
            if row is not None and not self._taken(ctx, stream, plan, step, item, row):
                whole = complete(
                    plan, {**item.journal, step.name: {"state": DONE, "result": row}},
                    item.plan.payload or {}, item.key,
                )  # fmt: skip
                if refused and whole and step.name not in item.unanswered:
                    item.adopted = True
                else:
                    item.recovered = True
                adopted.append((item, row))
            else:
                missing.append(item)
        self._confirm(ctx, stream, plan, step, adopted)
        return missing

    def _taken(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep,
        item: Create,
        row: JSON,
    ) -> bool:
        """A look-up that completes the record found a remote record another hub record is
        linked to (two records with the same content): it is not this one's."""
        journal = {**item.journal, step.name: {"state": DONE, "result": row}}
        payload = item.plan.payload or {}
        if not complete(plan, journal, payload, item.key):
            return False
        mapping = ctx.mapping(stream)
        remote_id = mapping.remote_id(plan.stored(StepCall(payload, item.key, results_of(journal))))
        with self.transaction() as session:
            owner = self.links_by(session, ctx, stream, Link.remote_id, [remote_id]).get(remote_id)
        return owner is not None and owner.record_id != item.plan.record.id

    def _send(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep,
        group: list[Create],
        faults: Faults,
        *,
        looked_up: bool = False,
    ) -> None:
        if faults.stop:
            self._stop(group, None)
            return
        self._journal(group, step, {"state": STARTED})
        try:
            results = step.send([item.call() for item in group])
            if len(results) != len(group):
                raise RemoteRejected(
                    f"{len(results)} results for {len(group)} records", reason="remote_rejected"
                )
        except RemoteUnavailable as exc:
            # Refused before it took effect: the step is known not to be applied.
            self._journal(group, step, None)
            faults.note(exc)
            self._stop(group, exc)
            return
        except TRANSIENT as exc:
            faults.note(exc)
            self._stop(group, exc)
            return
        except RemoteRejected as exc:
            written = exc.written if exc.written is not None else []
            if len(written) != len(group):
                self._journal(group, step, None)
                self._rejected(ctx, stream, plan, step, group, exc, faults, looked_up=looked_up)
                return
            # Answered record by record: those it stored are confirmed, the others were not
            # written by this call.
            stored: list[tuple[Create, JSON | None]] = [
                (item, row) for item, row in zip(group, written, strict=True) if row
            ]
            unwritten = [item for item, row in zip(group, written, strict=True) if not row]
            self._journal(unwritten, step, None)
            self._confirm(ctx, stream, plan, step, stored)
            if unwritten:
                self._rejected(
                    ctx, stream, plan, step, unwritten, exc, faults, looked_up=looked_up,
                    known=True,
                )  # fmt: skip
            return
        self._confirm(ctx, stream, plan, step, list(zip(group, results, strict=True)))

    def _rejected(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep,
        group: list[Create],
        exc: RemoteRejected,
        faults: Faults,
        *,
        looked_up: bool,
        known: bool = False,
    ) -> None:
        """Records a refused call carried, perhaps refused because they exist already: those
        a look-up finds are linked, the others refused (alone) or sent again one by one (so
        that only the bad one fails). ``known``: the call is known to have written none of
        them (it answered record by record); a call that carried one record alone wrote
        nothing either. A refused batch of several may have written some (WooCommerce and
        Yuki answer each record on its own): what a look-up finds may be ours."""
        alone = len(group) == 1
        if step.find is not None and not looked_up:
            for item in group:
                item.journal[step.name] = {"state": STARTED}
            group = self._look_up(ctx, stream, plan, step, group, faults, refused=alone or known)
        if alone:
            for item in group:
                self._refuse(ctx, stream, plan, step, item, exc)
            return
        for item in group:
            self._send(ctx, stream, plan, step, [item], faults, looked_up=True)

    def _journal(self, group: list[Create], step: WriteStep, entry: JSON | None) -> None:
        """Record a step's state for a group, committed before anything else happens."""
        for item in group:
            if entry is None:
                item.journal.pop(step.name, None)
            else:
                item.journal[step.name] = dict(entry)
        now = self.clock.now()

        def write(session: Session, item: Create) -> None:
            intent = session.get(WriteIntent, item.intent_id)
            if intent is not None:
                intent.steps, intent.updated_at = dict(item.journal), now

        self.in_parts(group, write)

    def _confirm(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep | None,
        results: list[tuple[Create, JSON | None]],
    ) -> None:
        """Store confirmed step results and, in the same transaction, link every record whose
        last step this was (``step`` None: records already complete when resumed).

        Each record's journal and link commit together, and nothing needs a whole batch in
        one transaction: when a callback's acknowledgement waits for SQLite's write lock, the
        records confirmed so far commit and the rest follow in the next transaction (under
        load, one confirming a hundred records held the lock for 200 ms)."""
        recorder = self.recorder(ctx)
        now = self.clock.now()
        self.in_parts(
            results,
            lambda session, done: self._confirm_one(
                session, ctx, stream, plan, step, recorder, now, *done
            ),
        )

    def _confirm_one(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep | None,
        recorder: SyncRecorder,
        now: datetime,
        item: Create,
        result: JSON | None,
    ) -> None:
        if step is not None:
            # ``at``: when it was confirmed, so a dead run's finished steps count as
            # progress for its job's attempts (runtime/system.py).
            item.journal[step.name] = {
                "state": DONE,
                "result": result or {},
                "at": now.isoformat(),
            }
        intent = session.get(WriteIntent, item.intent_id)
        if intent is None:
            return
        intent.steps, intent.updated_at = dict(item.journal), now
        payload = item.plan.payload or {}
        if not complete(plan, item.journal, payload, item.key):
            return
        item.stopped = item.settled = True
        try:
            row = plan.stored(item.call())
        except (KeyError, TypeError) as exc:
            recorder.issue(
                session, stream=stream, direction=OUTBOUND, key=item.plan.record.id,
                outcome="failed", reason="remote_rejected", record_id=item.plan.record.id,
                message=f"the confirmed steps do not make a whole record: {exc!r}",
            )  # fmt: skip
            return
        if item.adopted:
            # Not created: linked, and brought to the hub's values by the update that follows.
            remote_id = self._link_written(session, ctx, stream, item.plan, row, None, recorder)
            intent.status = ADOPTED if remote_id is not None else "done"
            intent.remote_id = remote_id
            return
        reason = message = None
        if item.recovered:
            reason = "recovered_after_ambiguous_write"
            message = "found by a look-up after an unconfirmed call"
        remote_id = self._link_written(
            session, ctx, stream, item.plan, row, "created", recorder, reason, message
        )
        intent.status = "recovered" if item.recovered else "done"
        intent.remote_id = remote_id

    def _stop(self, group: list[Create], exc: ConnectorError | None) -> None:
        for item in group:
            item.stopped = True
            item.fault = item.fault or exc

    def _interrupted(
        self, ctx: RunContext, stream: str, plan: CreatePlan, items: list[Create]
    ) -> None:
        """Records a fault stopped: an open issue says where they are; the next run resumes
        them from their last confirmed step."""
        if not items:
            return
        remote = ctx.mapping(stream).remote_entity
        with self.transaction() as session:
            recorder = self.recorder(ctx)
            for item in items:
                fault = item.fault
                confirmed = confirmed_steps(plan, item.journal, remote)
                where = f"after {confirmed}" if confirmed else "before its first step"
                cause = f": {fault}" if fault else " (the run stopped after repeated faults)"
                recorder.issue(
                    session, stream=stream, direction=OUTBOUND, key=item.plan.record.id,
                    outcome="failed", reason="write_interrupted", record_id=item.plan.record.id,
                    message=f"{ctx.system_title} did not confirm the new {remote} {where}"
                    f"{cause}; it resumes there on the next run",
                )  # fmt: skip

    def _refuse(
        self,
        ctx: RunContext,
        stream: str,
        plan: CreatePlan,
        step: WriteStep,
        item: Create,
        exc: RemoteRejected,
        *,
        looked_up: bool = False,
    ) -> None:
        """The system refused this record's step: its own open issue; the steps confirmed
        before it are kept (or dropped, when the refusal undid them) and it resumes there
        once the record changes or is retried."""
        item.stopped = item.settled = True
        if looked_up:
            journal = item.journal
        elif step.restarts_on_refusal:
            journal = {}
        else:
            journal = {**item.journal, step.name: {"state": REFUSED}}
        item.journal = journal
        remote = ctx.mapping(stream).remote_entity
        confirmed = confirmed_steps(plan, journal, remote)
        kept = f" (done: {confirmed}; the rest is completed on retry)" if confirmed else ""
        label = plan.label(step.name, remote)
        what = (
            f"The {label} could not be looked up in {ctx.system_title}"
            if looked_up
            else f"{ctx.system_title} refused the {label}"
        )
        with self.transaction() as session:
            intent = session.get(WriteIntent, item.intent_id)
            if intent is not None:
                intent.steps, intent.error = dict(journal), str(exc)
                intent.status = "pending" if looked_up else REFUSED
                intent.updated_at = self.clock.now()
            self.recorder(ctx).issue(
                session, stream=stream, direction=OUTBOUND, key=item.plan.record.id,
                outcome="failed", reason=exc.reason, record_id=item.plan.record.id,
                message=f"{what}: {exc}{kept}",
            )  # fmt: skip

    def recover_intents(self, ctx: RunContext, faults: Faults) -> None:
        """Resume every create not known to be complete (a crash, a lost answer, a fault)
        before anything new is sent: its started steps are looked up, its missing ones sent.
        Intents of records linked meanwhile (matched on import) or deleted are closed, but for
        a deleted draft's that may have written part of it: it is finished and withdrawn
        (``_finishing``). An adopted record whose update was not confirmed (``ADOPTED``) is
        pushed again."""
        enabled = set(ctx.streams(outbound=True))
        with self.transaction() as session:
            open_intents = list(
                session.execute(
                    sa.select(
                        WriteIntent.id, WriteIntent.stream, WriteIntent.record_id,
                        WriteIntent.status, WriteIntent.steps,
                    )
                    .where(
                        WriteIntent.connection_id == ctx.connection_id,
                        WriteIntent.status.in_((*RESUMABLE_STATUSES, ADOPTED)),
                    )
                    .order_by(WriteIntent.created_at)
                ).all()
            )  # fmt: skip
            by_stream: dict[str, list[str]] = {}
            for intent_id, stream, record_id, status, steps in open_intents:
                if stream not in enabled:
                    continue
                mapping = ctx.mapping(stream)
                record = self.hub.get(session, ctx.tenant_id, mapping.entity, record_id)
                linked = self.links_by(session, ctx, stream, Link.record_id, [record_id])
                if status == ADOPTED and linked and record is not None and not record.deleted:
                    by_stream.setdefault(stream, []).append(record_id)
                    continue
                finishes = (
                    record is not None and record.deleted and not linked
                    and mapping.finishes_when_deleted(record.data) and may_have_written(steps)
                )  # fmt: skip
                if not finishes and (record is None or record.deleted or linked):
                    intent = session.get(WriteIntent, intent_id)
                    if intent is not None:
                        intent.status = "done" if linked else "abandoned"
                        intent.updated_at = self.clock.now()
                    continue
                by_stream.setdefault(stream, []).append(record_id)
        for stream, record_ids in by_stream.items():
            for start in range(0, len(record_ids), ctx.write_batch_size):
                if faults.stop:
                    return
                self.push(ctx, stream, record_ids[start : start + ctx.write_batch_size], faults)

    def _adopt_remote_values(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        record: HubRecord,
        before: JSON,
        after: JSON,
        taken: frozenset[str] = frozenset(),
    ) -> None:
        """After an update, fields the hub did not change but the accounting system did (the
        other half of the three-way merge), and those both changed that a conflict rule gave
        to the accounting system (``taken``), are brought into the hub."""
        mapping = ctx.mapping(stream)
        try:
            current, _ = self.projection(session, ctx, mapping, with_id(record))
        except Exception:  # the record's own data: the write stands, the hub keeps its values
            return
        data = dict(record.data)
        for name in mapping.fields:
            unchanged_here = current.get(name) == before.get(name) or name in taken
            if unchanged_here and after.get(name) != current.get(name):
                data[name] = after.get(name)
        self._save_hub(session, ctx, mapping, record, data)

    def _adopt_assigned_values(
        self, session: Session, ctx: RunContext, stream: str, record: HubRecord, stored: JSON
    ) -> None:
        """After a create, values only the accounting system assigns (an invoice number, a
        posting status) are brought into the hub."""
        mapping = ctx.mapping(stream)
        try:
            adopted = mapping.adopt_assigned(dict(record.data), stored)
        except Exception as exc:  # the write stands and is linked; the hub keeps its values
            log.warning("assigned values of %s %s not taken: %s", mapping.entity, record.id, exc)
            return
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
            self.hub.update(
                session, record, validate(mapping.entity, data), ctx.origin, run_id=ctx.run_id
            )
        except ValidationError as exc:
            log.warning("merged %s %s does not validate: %s", mapping.entity, record.id, exc)
