"""The PayMatch flow's job: a route's payouts become cash-journal postings, once each.

A hub change of a payout made by a PayMatch route's source queues the route's
``paymatch_flow`` job in the same transaction (coalesced by its dedupe key); so does a change
of an invoice while the route has payouts waiting for an invoice or lines on the error
account, since a booked invoice is what they wait for. The job reads the tenant's change feed
after the route's own cursor (a cursor of the target connection named ``paymatch:<route>``,
apart from the commerce flow's, so one route can carry both blocks), decides each payout with
``commerce.paymatch`` and writes the posting in one fenced transaction with its
``derived_records`` row (role ``journal``, keyed by the acquirer and its payout id): a payout
read again, or a crash and rerun, finds the row and posts nothing more. A payout that changed
after it was posted is reported (``payout_inconsistent``), never posted twice. A line that
went to the error account and whose invoice is booked later gets a second posting (role
``late_match`` per line). Each invoice a posting takes off the receivable gets a row too (role
``settlement``), which every route into the same target reads: an invoice is settled once. The
postings reach the target through the ordinary push, since their
origin (``flow:<route>``) routes them there. A posting the target has not taken yet (refused for
a journal or an account it lacks) takes the route's journal and accounts again on each run, so
correcting the route sends it with the corrected ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, aliased

from ledgerbridge.commerce.flow import BOOKED_STATES
from ledgerbridge.commerce.paymatch import (
    LATE_MATCHABLE,
    InvoiceFact,
    PayMatchPolicy,
    late_outcomes,
    payout_changes,
    payout_digest,
    payout_digests,
    post_payout,
    readdressed,
)
from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.fence import RunFenced, begin_fenced_run, fenced
from ledgerbridge.engine.recorder import FLOW, SyncRecorder
from ledgerbridge.engine.routing import APP_SOURCE, flow_origin, source_of, source_origin
from ledgerbridge.engine.steps import OPEN_STATUSES, STARTED
from ledgerbridge.model.journal import JournalPosting
from ledgerbridge.model.payout import Payout
from ledgerbridge.model.reasons import describe_validation_error
from ledgerbridge.runtime.flowkit import (
    RouteFlows,
    latest_source_records,
    remember_derived,
    start_run,
)
from ledgerbridge.runtime.jobqueue.port import Command, Handler, JobContext, LeaseLost
from ledgerbridge.runtime.jobs import failure_message
from ledgerbridge.store.tables.flows import DerivedRecord, Route
from ledgerbridge.store.tables.hub import ChangeRow, HubRecord
from ledgerbridge.store.tables.sync import Cursor, Link, SyncIssue, WriteIntent
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

JSON = dict[str, Any]
STREAM = "payouts"
"""The issues' and the sync log's stream for what the flow did with a payout."""
WAITING = "waiting_for_invoice"
BEFORE_START = "before_start_date"
UNMATCHED = "unmatched"
"""A journal row's state while some of its lines wait on the error account for a match."""
SETTLEMENT = "settlement"
"""The derived-record role of an invoice a posting took off the receivable (keyed
``invoice:<number>``): a later payout's payment of it goes to the error account."""
SETTLED_EARLIER = "settled_earlier"
"""The derived-record role of an error-account line (keyed ``<payout>/<line>``, pointing at
its posting) that no late match moves, as another payout settled its invoice: said once."""
PAGE = 500
BATCH = 20
"""Payouts decided per transaction (a payout may hold thousands of lines)."""


def cursor_name(route_id: str) -> str:
    return f"paymatch:{route_id}"


def journal_key(payout: Payout) -> str:
    """The derived-record key of a payout: the acquirer's own id, not the hub record's, so the
    same payout written twice is posted once."""
    return f"payout:{payout.provider}:{payout.source_id}"


@dataclass
class PayMatchRun:
    route_id: str
    tenant_id: str
    source: str
    target_id: str
    policy: PayMatchPolicy
    recorder: SyncRecorder

    @property
    def origin(self) -> str:
        return flow_origin(self.route_id)


class StoreInvoices:
    """``commerce.paymatch.KnownInvoices`` over the hub, for one transaction of one route: the
    orders its payouts can pay, by number, shop id and transaction id, each with its derived
    invoice, and the invoices payouts into the same target settled, each read once.

    Order numbers are unique within one shop or till only, so the orders are those of the
    route's own source when it is a shop too (a till that is its own acquirer, or the app),
    else those of the shops whose commerce routes invoice into the route's target. A number
    two of those shops share matches neither (the transaction id may still)."""

    def __init__(self, session: Session, tenant_id: str, target_id: str, source: str) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._target_id = target_id
        self._source = source
        self._shops: dict[str, str] | None = None
        self._orders: tuple[dict[str, list[JSON]], dict[str, list[JSON]]] | None = None
        self._invoices: dict[tuple[str, str], tuple[str, str]] | None = None
        self._numbers: dict[str, str | None] = {}
        self._settled: dict[str, str] | None = None

    def _commerce_routes(self) -> dict[str, str]:
        """The commerce routes into the target whose invoices this route's payouts settle:
        route id → its source."""
        if self._shops is None:
            rows = self._session.execute(
                sa.select(Route.id, Route.source_connection_id, Route.commerce).where(
                    Route.tenant_id == self._tenant_id,
                    Route.target_connection_id == self._target_id,
                )
            )
            shops = {rid: src or APP_SOURCE for rid, src, block in rows if block}
            own = {rid: src for rid, src in shops.items() if src == self._source}
            self._shops = own or shops
        return self._shops

    def _load_orders(self) -> tuple[dict[str, list[JSON]], dict[str, list[JSON]]]:
        if self._orders is None:
            sources = set(self._commerce_routes().values())
            origins = [source_origin(source) for source in sources]
            data = HubRecord.data
            rows = self._session.execute(
                sa.select(
                    data["number"].as_string(),
                    data["source_id"].as_string(),
                    data["transaction_id"].as_string(),
                    HubRecord.origin,
                )
                .where(
                    HubRecord.tenant_id == self._tenant_id,
                    HubRecord.entity == "order",
                    HubRecord.origin.in_(origins),
                    HubRecord.deleted.is_(False),
                )
                .order_by(HubRecord.created_at, HubRecord.id)
            )
            by_ref: dict[str, dict[str, JSON]] = {}
            by_txn: dict[str, dict[str, JSON]] = {}
            for number, source_id, txn, origin in rows:
                source = str(source_of(origin))
                order = {"number": number, "source_id": source_id, "transaction_id": txn,
                         "source": source}  # fmt: skip
                for ref in (source_id, number):
                    if ref:
                        by_ref.setdefault(str(ref), {}).setdefault(source, order)
                if txn:
                    by_txn.setdefault(str(txn), {}).setdefault(source, order)
            self._orders = (
                {ref: list(found.values()) for ref, found in by_ref.items()},
                {txn: list(found.values()) for txn, found in by_txn.items()},
            )
        return self._orders

    def _invoice_rows(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(order's source, ``order:<shop id>``) → the invoice derived from it and its state."""
        if self._invoices is None:
            routes = self._commerce_routes()
            rows = self._session.execute(
                sa.select(
                    DerivedRecord.route_id,
                    DerivedRecord.source_record_id,
                    DerivedRecord.derived_record_id,
                    DerivedRecord.state,
                ).where(
                    DerivedRecord.tenant_id == self._tenant_id,
                    DerivedRecord.route_id.in_(list(routes)),
                    DerivedRecord.role == "invoice",
                )
            )
            self._invoices = {}
            for route_id, key, rid, state in rows:
                self._invoices.setdefault((routes[route_id], key), (rid, state))
        return self._invoices

    def _number(self, invoice_id: str) -> str | None:
        """The invoice's number (what Uniconta gave it); the tenant's invoice numbers are read
        in one query the first time, as a payout asks for hundreds of them."""
        if not self._numbers:
            rows = self._session.execute(
                sa.select(HubRecord.id, HubRecord.data["number"].as_string()).where(
                    HubRecord.tenant_id == self._tenant_id,
                    HubRecord.entity == "invoice",
                    HubRecord.deleted.is_(False),
                )
            )
            self._numbers = {rid: str(number) if number else None for rid, number in rows}
            self._numbers.setdefault("", None)
        return self._numbers.get(invoice_id)

    def _fact(self, found: list[JSON] | None) -> InvoiceFact | None:
        if not found or len(found) > 1:
            return None
        (order,) = found
        source_id = str(order["source_id"])
        label = str(order.get("number") or source_id)
        row = self._invoice_rows().get((order["source"], f"order:{source_id}"))
        if row is None:
            return InvoiceFact(label, "none", None, order.get("transaction_id"))
        invoice_id, state = row
        number = self._number(invoice_id)
        booked = state in BOOKED_STATES and number is not None
        return InvoiceFact(
            label, "booked" if booked else "pending", number, order.get("transaction_id")
        )

    def by_order_ref(self, ref: str) -> InvoiceFact | None:
        return self._fact(self._load_orders()[0].get(ref))

    def by_psp_ref(self, ref: str) -> InvoiceFact | None:
        return self._fact(self._load_orders()[1].get(ref))

    def _settlements(self) -> dict[str, str]:
        """Invoice number → the payout that settled it, over every route into the target."""
        if self._settled is None:
            posting = aliased(HubRecord)
            rows = self._session.execute(
                sa.select(
                    DerivedRecord.source_record_id,
                    posting.data["provider"].as_string(),
                    posting.data["payout_id"].as_string(),
                )
                .join(Route, Route.id == DerivedRecord.route_id)
                .join(posting, posting.id == DerivedRecord.derived_record_id)
                .where(
                    DerivedRecord.tenant_id == self._tenant_id,
                    DerivedRecord.role == SETTLEMENT,
                    Route.target_connection_id == self._target_id,
                )
                .order_by(DerivedRecord.created_at, DerivedRecord.id)
            )
            self._settled = {}
            for key, provider, payout_id in rows:
                self._settled.setdefault(
                    key.removeprefix("invoice:"), f"{provider} payout {payout_id}"
                )
        return self._settled

    def settled_by(self, invoice_number: str) -> str | None:
        return self._settlements().get(invoice_number)

    def settle(self, invoice_numbers: list[str], posting: JournalPosting) -> list[str]:
        """Note the invoices a posting just settled; returns those no payout had settled."""
        settled = self._settlements()
        new = [n for n in dict.fromkeys(invoice_numbers) if n not in settled]
        for number in new:
            settled[number] = f"{posting.provider} payout {posting.payout_id}"
        return new


class PayMatchFlows(RouteFlows):
    def handlers(self) -> dict[str, Handler]:
        return {"paymatch_flow": self._job, "paymatch_wake": self._wake}

    # ------------------------------------------------------------------ trigger

    def on_changes(self, session: Session, changes: list[ChangeRow]) -> None:
        """Hub listener: a payout from a PayMatch route's source queues the route's job; an
        invoice change queues it while the route has something waiting for an invoice."""
        relevant = [c for c in changes if c.entity in ("payout", "invoice")]
        for tenant_id in sorted({c.tenant_id for c in relevant}):
            mine = [c for c in relevant if c.tenant_id == tenant_id]
            sources = {source_of(c.origin) for c in mine if c.entity == "payout"}
            invoices = any(c.entity == "invoice" for c in mine)
            routes = session.scalars(
                sa.select(Route).where(Route.tenant_id == tenant_id, Route.active.is_(True))
            )
            for route in routes:
                if not route.paymatch:
                    continue
                if (route.source_connection_id or APP_SOURCE) in sources or (
                    invoices and self._open_work(session, route)
                ):
                    self.queue_flow(session, route.id, route.target_connection_id, tenant_id)

    @staticmethod
    def _open_work(session: Session, route: Route) -> bool:
        unmatched = session.scalar(
            sa.select(DerivedRecord.id)
            .where(
                DerivedRecord.route_id == route.id,
                DerivedRecord.role == "journal",
                DerivedRecord.state == UNMATCHED,
            )
            .limit(1)
        )
        if unmatched is not None:
            return True
        logged_on = route.source_connection_id or route.target_connection_id
        waiting = session.scalar(
            sa.select(SyncIssue.id)
            .where(
                SyncIssue.connection_id == logged_on,
                SyncIssue.stream == STREAM,
                SyncIssue.direction == FLOW,
                SyncIssue.reason_code == WAITING,
            )
            .limit(1)
        )
        return waiting is not None

    def queue_flow(
        self, session: Session | None, route_id: str, target_id: str, tenant_id: str
    ) -> str:
        """Queue the route's flow, in its target connection's line."""
        return self._queue.enqueue(
            Command(
                "paymatch_flow",
                connection_id=target_id,
                tenant_id=tenant_id,
                dedupe_key=f"paymatch_flow:{route_id}",
                priority=30,
                payload={"route_id": route_id},
            ),
            session=session,
        )

    def queue_wake(self, session: Session, route_id: str, tenant_id: str, at: dt.datetime) -> str:
        """Wake the route's flow when a waiting payout's time is up. The wake-up is in no
        connection's line: a job due tomorrow must not hold up the connection's work today
        (a line is served in order), so it only queues the flow when it is due."""
        return self._queue.enqueue(
            Command(
                "paymatch_wake",
                tenant_id=tenant_id,
                dedupe_key=f"paymatch_wake:{route_id}:{at.strftime('%Y%m%d%H%M')}",
                priority=30,
                run_after=at,
                payload={"route_id": route_id},
            ),
            session=session,
        )

    def _wake(self, job: JobContext) -> JSON:
        route_id = str(job.job.payload.get("route_id"))
        with self._sessions.begin() as session:
            route = session.get(Route, route_id)
            if route is None or not route.active or not route.paymatch:
                return {"skipped": "route removed, paused or without paymatch"}
            queued = self.queue_flow(session, route.id, route.target_connection_id, route.tenant_id)
        return {"queued": queued}

    # ------------------------------------------------------------------ job

    def _job(self, job: JobContext) -> JSON:
        route_id = str(job.job.payload.get("route_id"))
        with self._sessions() as session:
            route = session.get(Route, route_id)
            if route is None or not route.active:
                return {"skipped": "route removed or paused"}
            target = session.get(Connection, route.target_connection_id)
            if not route.paymatch or target is None:
                return {"skipped": "not a paymatch route"}
            policy = PayMatchPolicy.model_validate(route.paymatch)
            source = route.source_connection_id or APP_SOURCE
            tenant_id, target_id = route.tenant_id, target.id
        counts: Counter[str] = Counter()
        run_id = self._start_run(target_id, job.job.id)
        logged_on = target_id if source == APP_SOURCE else source
        run = PayMatchRun(
            route_id, tenant_id, source, target_id, policy,
            SyncRecorder(self._clock, logged_on, run_id, counts),
        )  # fmt: skip
        fence = begin_fenced_run(self._sessions, self._clock, target_id, run_id)
        try:
            with fenced(fence):
                self.follow(run, job.heartbeat)
                self.readdress(run, job.heartbeat)
                self.revisit(run, job.heartbeat)
        except RunFenced as exc:
            self._finish(run_id, "superseded", counts, str(exc))
            raise LeaseLost(job.job.id) from exc
        except Exception as exc:
            log.error("paymatch_flow of route %s failed", route_id, exc_info=exc)
            self._finish(run_id, "failed", counts, failure_message(exc))
            raise
        self._finish(run_id, "succeeded", counts, None)
        return {"run_id": run_id, "counts": dict(counts)}

    def _start_run(self, connection_id: str, job_id: str) -> str:
        return start_run(self._sessions, self._clock, connection_id, "paymatch_flow", job_id)

    # ------------------------------------------------------------------ reading

    def follow(self, run: PayMatchRun, heartbeat: Callable[[], None] = lambda: None) -> None:
        """Every payout change of the source after the route's cursor."""
        name = cursor_name(run.route_id)
        while True:
            with self._state.transaction() as session:
                cursor = session.get(Cursor, (run.target_id, name))
                after = int(cursor.value or 0) if cursor else 0
                changes = self._hub.change_heads(session, run.tenant_id, after, PAGE)
                session.expunge_all()
            if not changes:
                return
            ids = list(
                dict.fromkeys(
                    c.record_id
                    for c in changes
                    if c.entity == "payout" and source_of(c.origin) == run.source
                )
            )
            self._process(run, ids, heartbeat, changes[-1].position)

    def _process(
        self,
        run: PayMatchRun,
        payout_ids: list[str],
        heartbeat: Callable[[], None],
        position: int | None = None,
    ) -> None:
        """``BATCH`` payouts per fenced transaction (each posting with its derived row); the
        last one also moves the cursor, so a crash reads again only what was not committed."""
        starts = range(0, len(payout_ids), BATCH) if payout_ids else range(1)
        for start in starts:
            with self._state.transaction() as session:
                known = StoreInvoices(session, run.tenant_id, run.target_id, run.source)
                for record_id in payout_ids[start : start + BATCH]:
                    self._payout(session, run, record_id, known)
                if position is not None and start + BATCH >= len(payout_ids):
                    self._set_cursor(session, run, position)
            heartbeat()

    def revisit(self, run: PayMatchRun, heartbeat: Callable[[], None] = lambda: None) -> None:
        """Payouts waiting for an invoice, decided again, and so are payouts skipped as
        before the start date that the route's start date (moved back since) now takes in;
        lines on the error account whose invoice is booked now, moved by a late match."""
        with self._sessions() as session:
            issue = sa.and_(
                SyncIssue.connection_id == run.recorder.connection_id,
                SyncIssue.stream == STREAM,
                SyncIssue.direction == FLOW,
            )
            waiting = session.scalars(
                sa.select(SyncIssue.key).where(issue, SyncIssue.reason_code == WAITING)
            ).all()
            skipped = session.scalars(
                sa.select(SyncIssue.key).where(issue, SyncIssue.reason_code == BEFORE_START)
            ).all()
            before = self._payout_records(session, run, list(skipped)) if skipped else []
            started = session.scalars(
                sa.select(HubRecord.id).where(
                    HubRecord.id.in_(before),
                    HubRecord.data["arrival_date"].as_string() >= run.policy.start_date.isoformat(),
                )
            ).all()
            ids = [*self._payout_records(session, run, list(waiting)), *started]
            open_rows = session.scalars(
                sa.select(DerivedRecord.id).where(
                    DerivedRecord.route_id == run.route_id,
                    DerivedRecord.role == "journal",
                    DerivedRecord.state == UNMATCHED,
                )
            ).all()
        self._process(run, ids, heartbeat)
        for start in range(0, len(open_rows), BATCH):
            with self._state.transaction() as session:
                known = StoreInvoices(session, run.tenant_id, run.target_id, run.source)
                for row_id in open_rows[start : start + BATCH]:
                    row = session.get(DerivedRecord, row_id)
                    if row is not None:
                        self._late(session, run, row, known)
            heartbeat()

    def readdress(self, run: PayMatchRun, heartbeat: Callable[[], None] = lambda: None) -> None:
        """The route's postings the target has not taken (refused, or not sent yet), given
        the journal and the accounts the route names now. One the target has (linked), or
        whose insert may have taken effect unanswered (a started step, looked up by the push
        before anything is sent), is never changed: nothing is posted twice."""
        with self._sessions() as session:
            taken = sa.select(Link.id).where(
                Link.connection_id == run.target_id,
                Link.record_id == DerivedRecord.derived_record_id,
            )
            ids = session.scalars(
                sa.select(DerivedRecord.derived_record_id)
                .where(
                    DerivedRecord.route_id == run.route_id,
                    DerivedRecord.role.in_(("journal", "late_match")),
                    ~taken.exists(),
                )
                .order_by(DerivedRecord.created_at, DerivedRecord.id)
            ).all()
        for start in range(0, len(ids), BATCH):
            batch = list(ids[start : start + BATCH])
            with self._state.transaction() as session:
                in_flight = self._in_flight(session, run, batch)
                for record_id in batch:
                    if record_id not in in_flight:
                        self._readdress(session, run, record_id)
            heartbeat()

    def _readdress(self, session: Session, run: PayMatchRun, record_id: str) -> None:
        record = self._hub.get(session, run.tenant_id, "journal_posting", record_id)
        if record is None or record.deleted:
            return
        moved = readdressed(
            record.data, run.policy, run.route_id, self._moved_from(session, run, record.data)
        )
        if moved is None:
            return
        try:
            data = validate("journal_posting", moved)
        except ValidationError:
            return  # a posting the hub cannot read is reported by the push, as it was
        self._hub.update(session, record, data, run.origin, run_id=run.recorder.run_id)
        run.recorder.log(
            session, stream=STREAM, direction=FLOW, outcome="updated", record_id=record.id,
            reason="route_changed",
            message=f"posting {data['reference']} is not in the accounting system yet: it "
            f"goes with the route's journal {data['journal']} and accounts",
        )  # fmt: skip

    def _moved_from(self, session: Session, run: PayMatchRun, data: JSON) -> str | None:
        """For a late match: the account the payout posting's line it moves is on now."""
        if data.get("kind") != "late_match":
            return None
        line_ids = {ln.get("payout_line_id") for ln in data.get("lines") or []} - {None}
        key = f"payout:{data.get('provider')}:{data.get('payout_id')}"
        row = self._derived(session, run.route_id, key, "journal")
        posted = (
            self._hub.get(session, run.tenant_id, "journal_posting", row.derived_record_id)
            if row is not None
            else None
        )
        if posted is None or len(line_ids) != 1:
            return None
        return next(
            (
                str(ln["account"])
                for ln in posted.data.get("lines") or []
                if ln.get("role") == "error" and ln.get("payout_line_id") in line_ids
            ),
            None,
        )

    @staticmethod
    def _in_flight(session: Session, run: PayMatchRun, record_ids: list[str]) -> set[str]:
        """The postings whose create was sent and not answered (or journaled by a version
        that kept no steps): they may be in the target already."""
        rows = session.execute(
            sa.select(WriteIntent.record_id, WriteIntent.steps).where(
                WriteIntent.connection_id == run.target_id,
                WriteIntent.record_id.in_(record_ids),
                WriteIntent.status.in_(OPEN_STATUSES),
            )
        )
        return {
            record_id
            for record_id, steps in rows
            if steps is None or any(e.get("state") == STARTED for e in steps.values())
        }

    def _payout_records(self, session: Session, run: PayMatchRun, keys: list[str]) -> list[str]:
        """The hub payouts of the source with these payout ids (the latest of each)."""
        return latest_source_records(session, run.tenant_id, run.source, "payout", keys)

    def _set_cursor(self, session: Session, run: PayMatchRun, position: int) -> None:
        name = cursor_name(run.route_id)
        row = session.get(Cursor, (run.target_id, name))
        now = self._clock.now()
        if row is None:
            session.add(
                Cursor(connection_id=run.target_id, name=name, value=str(position), updated_at=now)
            )
        else:
            row.value = str(position)
            row.updated_at = now

    def _remember(
        self, session: Session, run: PayMatchRun, key: str, role: str, record_id: str,
        state: str, digest: str | None,
    ) -> None:  # fmt: skip
        remember_derived(
            session, self._clock, run.tenant_id, run.route_id, key, role, record_id, state, digest
        )
        session.flush()

    # ------------------------------------------------------------------ payouts

    def _payout(
        self, session: Session, run: PayMatchRun, record_id: str, known: StoreInvoices
    ) -> None:
        record = self._hub.get(session, run.tenant_id, "payout", record_id)
        if record is None or record.deleted:
            return
        recorder = run.recorder
        try:
            payout = Payout.model_validate(record.data)
        except ValidationError as exc:
            self._issue(session, run, record, str(record.data.get("source_id")),
                        "invalid_payout", describe_validation_error(exc))  # fmt: skip
            return
        key = journal_key(payout)
        digest = payout_digest(payout)
        derived = self._derived(session, run.route_id, key, "journal")
        if derived is not None:
            if derived.source_hash in payout_digests(payout):
                # Back to what was posted: a change reported before is no longer one.
                recorder.resolve(
                    session, STREAM, FLOW, [payout.source_id], reasons=["payout_inconsistent"]
                )
                recorder.log(
                    session, stream=STREAM, direction=FLOW, outcome="unchanged",
                    record_id=record.id, persist=False,
                )  # fmt: skip
                return
            self._inconsistent(session, run, record, payout, derived)
            return
        decision = post_payout(
            payout, run.policy, known, seen_at=record.created_at, now=self._clock.now()
        )
        if decision.outcome == "skip":
            self._issue(session, run, record, payout.source_id, decision.reason, decision.message)
            return
        if decision.outcome == "wait":
            self._issue(session, run, record, payout.source_id, WAITING, decision.message)
            assert decision.wait_until is not None
            self.queue_wake(session, run.route_id, run.tenant_id, decision.wait_until)
            return
        assert decision.posting is not None
        try:
            data = validate("journal_posting", {**decision.posting, "route_id": run.route_id})
        except ValidationError as exc:
            problem = describe_validation_error(exc)
            self._issue(session, run, record, payout.source_id, "invalid_posting",
                        f"the posting cannot be made: {problem}")  # fmt: skip
            return
        posting = self._hub.create(
            session, run.tenant_id, "journal_posting", data, run.origin, run_id=run.recorder.run_id
        )
        made = JournalPosting.model_validate(data)
        open_lines = any(ln.role == "error" and ln.reason in LATE_MATCHABLE for ln in made.lines)
        self._remember(
            session, run, key, "journal", posting.id, UNMATCHED if open_lines else "posted", digest
        )
        self._settled(session, run, known, decision.settled, made, posting.id)
        recorder.resolve(session, STREAM, FLOW, [payout.source_id])
        recorder.log(
            session, stream=STREAM, direction=FLOW, outcome="created", record_id=record.id,
            remote_id=posting.id, reason=decision.reason,
            message=f"payout {payout.source_id}: {decision.message}: posting {posting.id}",
        )  # fmt: skip

    def _settled(
        self,
        session: Session,
        run: PayMatchRun,
        known: StoreInvoices,
        paid: list[str],
        posting: JournalPosting,
        posting_id: str,
    ) -> None:
        """Remember each invoice whose payment the posting took off the receivable, so that
        no payout into the same target takes it off again."""
        for number in known.settle(paid, posting):
            self._remember(
                session, run, f"invoice:{number}", SETTLEMENT, posting_id, "posted", None
            )

    @staticmethod
    def _issue(
        session: Session, run: PayMatchRun, record: HubRecord, key: str, reason: str,
        message: str, **more: Any,
    ) -> None:  # fmt: skip
        """An issue of a payout: keyed by the acquirer's payout id (what the payouts page and
        the wait look up), naming the hub record it concerns."""
        run.recorder.issue(
            session, stream=STREAM, direction=FLOW, key=key, reason=reason, message=message,
            record_id=record.id, **more,
        )  # fmt: skip

    def _inconsistent(
        self,
        session: Session,
        run: PayMatchRun,
        record: HubRecord,
        payout: Payout,
        derived: DerivedRecord,
    ) -> None:
        """A payout that changed after it was posted: reported, never posted again."""
        posted = self._hub.get(session, run.tenant_id, "journal_posting", derived.derived_record_id)
        try:
            before = JournalPosting.model_validate(posted.data) if posted is not None else None
        except ValidationError:
            before = None
        what = payout_changes(before, payout) if before is not None else ["its content"]
        self._issue(
            session, run, record, payout.source_id, "payout_inconsistent",
            f"payout {payout.source_id} changed after it was posted "
            f"({'; '.join(what)}): it is not posted again; correct the cash journal by hand",
            outcome="failed", remote_id=derived.derived_record_id,
        )  # fmt: skip

    def _late(
        self, session: Session, run: PayMatchRun, row: DerivedRecord, known: StoreInvoices
    ) -> None:
        record = self._hub.get(session, run.tenant_id, "journal_posting", row.derived_record_id)
        if record is None or record.deleted:
            return
        posting = JournalPosting.model_validate(record.data)
        prefix = f"{row.source_record_id}/"
        done = [
            key.removeprefix(prefix)
            for key in session.scalars(
                sa.select(DerivedRecord.source_record_id).where(
                    DerivedRecord.route_id == run.route_id,
                    DerivedRecord.role.in_(("late_match", SETTLED_EARLIER)),
                    DerivedRecord.source_record_id.startswith(prefix, autoescape=True),
                )
            )
        ]
        outcomes = late_outcomes(posting, run.policy, known, done)
        for move in outcomes.moves:
            data = validate("journal_posting", {**move.posting, "route_id": run.route_id})
            late = self._hub.create(
                session,
                run.tenant_id,
                "journal_posting",
                data,
                run.origin,
                run_id=run.recorder.run_id,
            )
            self._remember(
                session, run, f"{prefix}{move.line_id}", "late_match", late.id, "posted", None
            )
            moved = JournalPosting.model_validate(data)
            paid = [ln.invoice for ln in moved.lines if ln.role == "receivable" and ln.amount < 0]
            self._settled(session, run, known, [n for n in paid if n], moved, late.id)
            done.append(move.line_id)
            run.recorder.log(
                session, stream=STREAM, direction=FLOW, outcome="created", record_id=record.id,
                remote_id=late.id, reason="late_match",
                message=f"payout {posting.payout_id} line {move.line_id} matched to invoice "
                f"{move.invoice_number}: posting {late.id}",
            )  # fmt: skip
        for kept in outcomes.kept:
            self._remember(
                session, run, f"{prefix}{kept.line_id}", SETTLED_EARLIER, record.id, "posted",
                None,
            )  # fmt: skip
            done.append(kept.line_id)
            run.recorder.log(
                session, stream=STREAM, direction=FLOW, outcome="skipped", record_id=record.id,
                remote_id=record.id, reason="already_settled",
                message=f"payout {posting.payout_id} line {kept.line_id}: the payment of "
                f"{-kept.amount} {posting.currency} of order {kept.order} stays on the error "
                f"account: invoice {kept.invoice_number}, booked since, was settled by "
                f"{kept.earlier} already, so it is not taken off the receivable twice; find out "
                "why the payment came twice (refund it to the customer, or place it by hand)",
            )  # fmt: skip
        waiting = {
            ln.payout_line_id
            for ln in posting.lines
            if ln.role == "error" and ln.reason in LATE_MATCHABLE and ln.payout_line_id
        }
        if waiting <= set(done):
            row.state = "posted"
            row.updated_at = self._clock.now()
