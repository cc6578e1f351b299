"""The commerce flow's jobs: a route's orders and refunds become hub invoices and credit notes.

A hub change of an order or refund made by a commerce route's source queues the route's
``commerce_flow`` job in the same transaction (coalesced by its dedupe key). The job reads the
tenant's change feed after the route's own cursor, so nothing is missed and an order changed
five times is read once. Each order is decided by ``commerce.flow`` and written in one fenced
transaction together with its derived-record row: processed again (a state change, a repeated
delivery, a crash and rerun) it updates its draft invoice and never makes a second one; once
booked, it is left alone. The derived invoices and customers then reach the route's target
through the ordinary push, since their origin (``flow:<route>``) routes them there.

Jobs run in the target connection's line (one job of a connection at a time) under its run
fence, like the push that will send what they derive.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ledgerbridge.commerce.config import CommercePolicy, MatchField
from ledgerbridge.commerce.flow import (
    BOOKED_STATES,
    RAISED_AFTER_BOOKING,
    Credited,
    OrderResult,
    PartyPlan,
    Prior,
    RefundResult,
    credit_note_waits,
    match_key,
    order_flow,
    party_update,
    refund_flow,
    source_hash,
)
from ledgerbridge.commerce.mapping import MappingRules
from ledgerbridge.commerce.policies import DateRange, booked_gross
from ledgerbridge.connectors.base import Connector, ConnectorError
from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.fence import RunFenced, begin_fenced_run, fenced
from ledgerbridge.engine.preview import PreviewTally
from ledgerbridge.engine.quota import QuotaExhausted
from ledgerbridge.engine.recorder import FLOW, Observer, SyncRecorder
from ledgerbridge.engine.routing import APP_SOURCE, flow_origin, source_of
from ledgerbridge.model.commerce import Order, Refund
from ledgerbridge.model.invoice import Invoice
from ledgerbridge.model.reasons import describe_validation_error
from ledgerbridge.runtime.flowkit import (
    WITHDRAWN,
    RouteFlows,
    latest_source_records,
    remember_derived,
    start_run,
)
from ledgerbridge.runtime.jobqueue.port import Command, Handler, JobContext, LeaseLost
from ledgerbridge.runtime.jobs import failure_message
from ledgerbridge.store.tables.flows import DerivedRecord, FlowCursor, Route
from ledgerbridge.store.tables.hub import ChangeRow, HubRecord, business_key_is
from ledgerbridge.store.tables.sync import Link, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

JSON = dict[str, Any]
M = TypeVar("M", bound=BaseModel)
COMMERCE_ENTITIES = frozenset({"order", "refund"})
PAGE = 500
BATCH = 50
"""Records decided per transaction: fewer commits (each takes the tenant's feed counter and
checks the fence) without holding the counter long."""

_PARTY_FIELDS: dict[MatchField, str] = {
    "email": "email",
    "phone": "phone",
    "vat_number": "vat_number",
    "ean": "gln",
}
"""The party field a customer's match field is compared with."""


def flow_dedupe_key(route_id: str) -> str:
    return f"commerce_flow:{route_id}"


@dataclass
class FlowRun:
    """One run of one route: its settings and where it writes its log."""

    route_id: str
    tenant_id: str
    source: str
    target_id: str
    timezone: str
    policy: CommercePolicy
    rules: MappingRules | None
    recorder: SyncRecorder
    historical: DateRange | None = None
    refunded_orders: set[str] | None = None
    """The source ids of orders that have refunds, read once per run when first needed: an
    order booked without refunds (nearly all) then costs no look-up for them."""
    vat_rates: dict[str, Decimal] | None = None
    """The target's rates of its VAT codes, which totals are checked at: read once per run,
    before its first order, so an idle run makes no call."""
    parties_as_of: dict[str, dt.datetime] = field(default_factory=dict)
    """When the order was placed that each party this run created or updated was written
    from: what its fields are as of, rather than the run's clock, so a run that meets one
    customer's orders out of order (a historical import) ends with the newest order's."""

    @property
    def origin(self) -> str:
        return flow_origin(self.route_id)

    def tagged(self, message: str, result: OrderResult | None = None) -> str:
        """A log message with the mapping rules' version and hash it was decided by."""
        version = result.rules_version if result else None
        digest = result.rules_hash if result else None
        if version is None and self.rules is not None:
            version, digest = self.rules.version, self.rules.content_hash
        if version is None:
            return message
        return f"{message} [mapping rules v{version} {str(digest)[:12]}]"


def payment_reference(route_id: str, order: Order) -> str:
    """A payment posting's reference number (how its lines are found again in the journal):
    the order's, with a digest of the route and the order's shop id, since two shops into one
    company may share order numbers."""
    digest = hashlib.sha256(f"{route_id}/{order.source_id}".encode()).hexdigest()[:8]
    ref = order.number or order.source_id
    return f"PAY {ref[:40]} {digest}"


def commerce_of(route: Route) -> tuple[CommercePolicy, MappingRules | None] | None:
    """The route's saved policy and rules (validated when saved), or None for a plain route."""
    if not route.commerce:
        return None
    policy = CommercePolicy.saved(route.commerce.get("policy"))
    rules_data = route.commerce.get("rules")
    return policy, MappingRules.model_validate(rules_data) if rules_data else None


class StoreKnown:
    """``commerce.flow.Known`` over the hub, for one transaction of a run: each field's
    values are read once (an index per field, oldest record first) and the parties the run
    creates are added, so the next order of the batch finds them."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._indexes: dict[tuple[str, str], dict[str, str]] = {}

    def _index(
        self, entity: str, field: str, normalise: Callable[[str], str | None]
    ) -> dict[str, str]:
        index = self._indexes.get((entity, field))
        if index is None:
            column = HubRecord.data[field].as_string()
            rows = self._session.execute(
                sa.select(column, HubRecord.id)
                .where(
                    HubRecord.tenant_id == self._tenant_id,
                    HubRecord.entity == entity,
                    HubRecord.deleted.is_(False),
                    column.is_not(None),
                )
                .order_by(HubRecord.created_at, HubRecord.id)
            )
            index = {}
            for value, record_id in rows:
                key = normalise(str(value))
                if key is not None:
                    index.setdefault(key, str(record_id))
            self._indexes[entity, field] = index
        return index

    def party_by(self, field: MatchField, key: str) -> str | None:
        return self._index("party", _PARTY_FIELDS[field], partial(match_key, field)).get(key)

    def party_by_debtor_number(self, account: str) -> str | None:
        return self._index("party", "debtor_number", _same).get(account)

    def product_by_sku(self, sku: str) -> str | None:
        return self._index("product", "sku", _same).get(sku)

    def wrote_party(self, party_id: str, data: JSON) -> None:
        """A party the run created or updated in this transaction: found by the next orders
        by its new values."""
        for (entity, name), index in self._indexes.items():
            if entity != "party" or not data.get(name):
                continue
            match = next((m for m, f in _PARTY_FIELDS.items() if f == name), None)
            key = match_key(match, str(data[name])) if match else str(data[name])
            if key is not None:
                index.setdefault(key, party_id)


def _same(value: str) -> str | None:
    return value or None


def _logged(
    session: Session,
    recorder: SyncRecorder,
    record_id: str,
    key: str,
    outcome: str,
    result: OrderResult,
) -> None:
    """An order that needs no one: its log line, and its issue closed unless it keeps one."""
    if not result.issue:
        recorder.resolve(session, "orders", FLOW, [key])
    recorder.log(
        session, stream="orders", direction=FLOW, outcome=outcome, record_id=record_id,
        reason=result.reason, message=result.message,
    )  # fmt: skip


def flow_command(
    route_id: str, target_id: str, tenant_id: str, *, revisit: bool = False
) -> Command:
    """A route's flow job; ``revisit`` also takes up again its drafts and the orders and
    refunds it skipped, as a changed policy or a retry of their issues asks."""
    key = f"commerce_revisit:{route_id}" if revisit else flow_dedupe_key(route_id)
    return Command(
        "commerce_flow",
        connection_id=target_id,
        tenant_id=tenant_id,
        dedupe_key=key,
        priority=25,
        payload={"route_id": route_id, "revisit": revisit},
    )


class CommerceFlows(RouteFlows):
    opener: Callable[[str], AbstractContextManager[Connector]] | None = None
    """Set by the runtime: opens the target's connector, which says the rates of its VAT
    codes."""

    def handlers(self) -> dict[str, Handler]:
        return {"commerce_flow": self._flow_job, "commerce_history": self._history_job}

    # ------------------------------------------------------------------ trigger

    def on_changes(self, session: Session, changes: list[ChangeRow]) -> None:
        """Hub listener: an order or refund from a commerce route's source queues the route's
        job in the transaction that made the change."""
        relevant = [c for c in changes if c.entity in COMMERCE_ENTITIES]
        for tenant_id in sorted({c.tenant_id for c in relevant}):
            sources = {source_of(c.origin) for c in relevant if c.tenant_id == tenant_id}
            routes = session.scalars(
                sa.select(Route).where(Route.tenant_id == tenant_id, Route.active.is_(True))
            )
            for route in routes:
                if route.commerce and (route.source_connection_id or APP_SOURCE) in sources:
                    self.queue_flow(session, route.id, route.target_connection_id, tenant_id)
        invoices = [c for c in changes if c.entity == "invoice"]
        if invoices:
            self._drafts_booked_in_target(session, invoices)

    def _drafts_booked_in_target(self, session: Session, changes: list[ChangeRow]) -> None:
        """Draft invoices a person booked in the route's target, read back by its pull: the
        derived row takes the state, and the route takes up again what waits for it (the
        order's refunds, ``refund_waiting_for_invoice``), which no change of the shop would."""
        by_target: dict[str, set[str]] = {}
        for change in changes:
            target = source_of(change.origin)
            if target is not None and target != APP_SOURCE:
                by_target.setdefault(target, set()).add(change.record_id)
        for target, invoice_ids in sorted(by_target.items()):
            rows = session.execute(
                sa.select(DerivedRecord, Route.tenant_id)
                .join(Route, Route.id == DerivedRecord.route_id)
                .where(
                    Route.target_connection_id == target,
                    Route.active.is_(True),
                    DerivedRecord.role == "invoice",
                    DerivedRecord.state == "draft",
                    DerivedRecord.derived_record_id.in_(sorted(invoice_ids)),
                )
            ).all()
            routes: dict[str, str] = {}
            for derived, tenant_id in rows:
                invoice = session.get(HubRecord, derived.derived_record_id)
                status = None if invoice is None or invoice.deleted else invoice.data.get("status")
                if status in BOOKED_STATES:
                    derived.state, derived.updated_at = str(status), self._clock.now()
                    routes[derived.route_id] = tenant_id
            for route_id, tenant_id in sorted(routes.items()):
                self.queue_flow(session, route_id, target, tenant_id, revisit=True)

    def queue_flow(
        self,
        session: Session | None,
        route_id: str,
        target_id: str,
        tenant_id: str,
        *,
        revisit: bool = False,
    ) -> str:
        """Queue the route's flow; ``revisit`` also takes up again its drafts and the orders
        and refunds it skipped (after its policy or rules changed)."""
        return self._queue.enqueue(
            flow_command(route_id, target_id, tenant_id, revisit=revisit), session=session
        )

    def queue_history(self, route: Route, date_range: DateRange) -> str:
        return self._queue.enqueue(
            Command(
                "commerce_history",
                connection_id=route.target_connection_id,
                tenant_id=route.tenant_id,
                priority=60,
                payload={
                    "route_id": route.id,
                    "from": date_range.start.isoformat(),
                    "to": date_range.end.isoformat(),
                },
            )
        )

    # ------------------------------------------------------------------ jobs

    def _flow_job(self, job: JobContext) -> JSON:
        return self._job(job, "commerce_flow", None)

    def _history_job(self, job: JobContext) -> JSON:
        payload = job.job.payload
        date_range = DateRange(
            dt.date.fromisoformat(payload["from"]), dt.date.fromisoformat(payload["to"])
        )
        return self._job(job, "commerce_history", date_range)

    def _flow_run(
        self,
        route_id: str,
        historical: DateRange | None,
        counts: Counter[str],
        start: Callable[[str], str | None],
        observer: Observer | None = None,
    ) -> FlowRun | str:
        """The run of an active commerce route (``start`` gets the target connection and
        gives the run's id), or why there is none."""
        with self._sessions() as session:
            route = session.get(Route, route_id)
            if route is None or not route.active:
                return "route removed or paused"
            commerce = commerce_of(route)
            target = session.get(Connection, route.target_connection_id)
            if commerce is None or target is None:
                return "not a commerce route"
            source = route.source_connection_id or APP_SOURCE
            tenant_id, target_id, zone = route.tenant_id, target.id, target.timezone
        run_id = start(target_id)
        logged_on = target_id if source == APP_SOURCE else source
        return FlowRun(
            route_id=route_id, tenant_id=tenant_id, source=source, target_id=target_id,
            timezone=zone, policy=commerce[0], rules=commerce[1],
            recorder=SyncRecorder(self._clock, logged_on, run_id, counts, observer),
            historical=historical,
        )  # fmt: skip

    def preview_history(self, route_id: str, date_range: DateRange) -> PreviewTally:
        """What a historical import would do: the import's own decisions (``_order`` for
        each order in the range, as in ``_import``) in one transaction that is rolled back, so
        no invoice, customer, issue or derived row remains and no push is queued."""
        tally = PreviewTally()
        run = self._flow_run(route_id, date_range, Counter(), lambda _target: None, tally)
        if isinstance(run, str):
            raise ValueError(run)
        with self._sessions() as session:
            try:
                ids = self._history_ids(session, run)
                for start in range(0, len(ids), BATCH):  # as ``_process`` reads the hub
                    known = StoreKnown(session, run.tenant_id)
                    for record_id in ids[start : start + BATCH]:
                        self._order(session, run, record_id, known)
                    session.flush()
                    session.expunge_all()  # as the run's session ends with its batch
            finally:
                session.rollback()
        return tally

    def _history_ids(self, session: Session, run: FlowRun) -> list[str]:
        """The source's orders created in the historical import's range."""
        assert run.historical is not None
        return [
            record.id
            for record in source_orders(session, run.tenant_id, run.source)
            if _created_in(record, run.historical, run.timezone)
        ]

    def _job(self, job: JobContext, kind: str, historical: DateRange | None) -> JSON:
        route_id = str(job.job.payload.get("route_id"))
        counts: Counter[str] = Counter()
        run = self._flow_run(
            route_id, historical, counts, lambda target: self._start_run(target, kind, job.job.id)
        )
        if isinstance(run, str):
            return {"skipped": run}
        run_id = run.recorder.run_id
        assert run_id is not None
        target_id = run.target_id

        def heartbeat() -> None:
            job.heartbeat()

        fence = begin_fenced_run(self._sessions, self._clock, target_id, run_id)
        try:
            with fenced(fence):
                if historical is None:
                    self.follow(run, heartbeat)
                    if job.job.payload.get("revisit"):
                        self.revisit(run)
                else:
                    self._import(run, heartbeat)
        except RunFenced as exc:
            self._finish(run_id, "superseded", counts, str(exc))
            raise LeaseLost(job.job.id) from exc
        except Exception as exc:
            log.error("%s of route %s failed", kind, route_id, exc_info=exc)
            self._finish(run_id, "failed", counts, failure_message(exc))
            raise
        self._finish(run_id, "succeeded", counts, None)
        return {"run_id": run_id, "counts": dict(counts)}

    def _start_run(self, connection_id: str, kind: str, job_id: str) -> str:
        return start_run(self._sessions, self._clock, connection_id, kind, job_id)

    # ------------------------------------------------------------------ reading

    def follow(self, run: FlowRun, heartbeat: Callable[[], None] = lambda: None) -> None:
        """Every order and refund change of the source after the route's cursor."""
        while True:
            with self._state.transaction() as session:
                cursor = session.get(FlowCursor, run.route_id)
                after = cursor.position if cursor else 0
                changes = self._hub.change_heads(session, run.tenant_id, after, PAGE)
                session.expunge_all()
            if not changes:
                return
            orders: dict[str, None] = {}
            refunds: dict[str, None] = {}
            for change in changes:
                if source_of(change.origin) != run.source:
                    continue
                if change.entity == "order":
                    orders[change.record_id] = None
                elif change.entity == "refund":
                    refunds[change.record_id] = None
            self._process(run, list(orders), list(refunds), heartbeat, changes[-1].position)

    def _process(
        self,
        run: FlowRun,
        orders: list[str],
        refunds: list[str],
        heartbeat: Callable[[], None],
        position: int | None = None,
    ) -> None:
        """Orders, then refunds, ``BATCH`` records per fenced transaction (each record's
        derived rows with its hub records); the last one also moves the cursor to
        ``position``, so a crash reads again at most what was not committed."""
        work = [("order", rid) for rid in orders] + [("refund", rid) for rid in refunds]
        if orders and run.vat_rates is None:
            run.vat_rates = self._vat_rates(run)
        starts = range(0, len(work), BATCH) if work else range(1)
        for start in starts:
            with self._state.transaction() as session:
                known = StoreKnown(session, run.tenant_id)
                for entity, record_id in work[start : start + BATCH]:
                    if entity == "order":
                        self._order(session, run, record_id, known)
                    else:
                        self._refund(session, run, record_id)
                if position is not None and start + BATCH >= len(work):
                    self._set_cursor(session, run.route_id, position)
            heartbeat()

    def _vat_rates(self, run: FlowRun) -> dict[str, Decimal]:
        """The target's VAT code rates (outside any transaction: a call). A target that
        cannot be reached leaves them unknown: the lines are then checked at their own rates,
        and the push meets the target's answer."""
        if self.opener is None:
            return {}
        try:
            with self.opener(run.target_id) as connector:
                return connector.vat_rates()
        except (ConnectorError, QuotaExhausted) as exc:
            log.warning("VAT rates of %s not read: %s", run.target_id, exc)
            return {}

    def revisit(self, run: FlowRun) -> None:
        """Orders whose invoice is still a draft and orders and refunds with an open issue,
        decided again: a policy or rules change (a VAT code added, a filter removed) reaches
        them without waiting for the shop to change them."""
        with self._sessions() as session:
            drafts = session.scalars(
                sa.select(DerivedRecord.source_record_id).where(
                    DerivedRecord.route_id == run.route_id,
                    DerivedRecord.role == "invoice",
                    DerivedRecord.state == "draft",
                )
            ).all()
            issues = session.execute(
                sa.select(SyncIssue.stream, SyncIssue.key).where(
                    SyncIssue.connection_id == run.recorder.connection_id,
                    SyncIssue.direction == FLOW,
                )
            ).all()
            orders = {key.removeprefix("order:") for key in drafts}
            orders |= {key for stream, key in issues if stream == "orders"}
            refunds = {key for stream, key in issues if stream == "refunds"}
            order_ids = self._source_records(session, run, "order", sorted(orders))
            refund_ids = self._source_records(session, run, "refund", sorted(refunds))
        self._process(run, order_ids, refund_ids, lambda: None)

    def _source_records(
        self, session: Session, run: FlowRun, entity: str, source_ids: list[str]
    ) -> list[str]:
        """The hub records of the source with these shop ids (the latest of each)."""
        return latest_source_records(session, run.tenant_id, run.source, entity, source_ids)

    def _import(self, run: FlowRun, heartbeat: Callable[[], None]) -> None:
        """A historical import: every order of the source created in the range."""
        with self._sessions() as session:
            ids = self._history_ids(session, run)
        self._process(run, ids, [], heartbeat)

    def _set_cursor(self, session: Session, route_id: str, position: int) -> None:
        cursor = session.get(FlowCursor, route_id)
        if cursor is None:
            session.add(
                FlowCursor(route_id=route_id, position=position, updated_at=self._clock.now())
            )
        else:
            cursor.position = position
            cursor.updated_at = self._clock.now()

    def _remember(
        self, session: Session, run: FlowRun, key: str, role: str, record_id: str, state: str,
        digest: str | None,
    ) -> DerivedRecord:  # fmt: skip
        return remember_derived(
            session, self._clock, run.tenant_id, run.route_id, key, role, record_id, state, digest
        )

    # ------------------------------------------------------------------ orders

    def _source(
        self, session: Session, run: FlowRun, entity: str, record_id: str, model: type[M]
    ) -> tuple[HubRecord, M] | None:
        """A live order or refund of the source, validated; one that is not valid is its
        issue (``invalid_order``, ``invalid_refund``) and flows no further."""
        record = self._hub.get(session, run.tenant_id, entity, record_id)
        if record is None or record.deleted:
            return None
        try:
            return record, model.model_validate(record.data)
        except ValidationError as exc:
            run.recorder.issue(
                session, stream=f"{entity}s", direction=FLOW,
                key=str(record.data.get("source_id")), reason=f"invalid_{entity}",
                message=describe_validation_error(exc), record_id=record.id,
            )  # fmt: skip
            return None

    def _order(self, session: Session, run: FlowRun, record_id: str, known: StoreKnown) -> None:
        loaded = self._source(session, run, "order", record_id, Order)
        if loaded is None:
            return
        record, order = loaded
        recorder = run.recorder
        key = f"order:{order.source_id}"
        derived = self._derived(session, run.route_id, key, "invoice")
        digest = source_hash(record.data, run.policy, run.rules)
        if derived is not None and derived.source_hash == digest:
            recorder.log(
                session, stream="orders", direction=FLOW, outcome="unchanged",
                record_id=record.id, persist=False,
            )  # fmt: skip
            return
        prior = self._prior(session, run, derived)
        result = order_flow(
            order, run.policy, run.rules, known, prior,
            timezone=run.timezone, historical=run.historical, code_rates=run.vat_rates,
        )  # fmt: skip
        issue_key = order.source_id
        if result.outcome == "skip" and not result.issue:  # nothing anyone needs to do
            _logged(session, recorder, record.id, issue_key, "skipped", result)
            return
        if result.outcome == "skip":
            recorder.issue(
                session, stream="orders", direction=FLOW, key=issue_key, reason=result.reason,
                message=run.tagged(result.message, result), record_id=record.id,
            )  # fmt: skip
            return
        if result.outcome == "unchanged":
            assert derived is not None
            derived.source_hash = digest
            if result.reason in RAISED_AFTER_BOOKING:
                recorder.issue(
                    session, stream="orders", direction=FLOW, key=issue_key, outcome="unchanged",
                    reason=result.reason, message=result.message, record_id=record.id,
                    remote_id=derived.derived_record_id,
                )  # fmt: skip
                return
            _logged(session, recorder, record.id, issue_key, "unchanged", result)
            return
        if result.outcome == "withdraw":
            assert derived is not None
            self._withdraw(session, run, record, derived, digest, result)
            return
        written = self._write_invoice(session, run, record, order, derived, digest, result, known)
        if written is not None and written in BOOKED_STATES:
            if result.payments is not None:
                self._payments(session, run, record, order, result.payments)
            self._waiting_refunds(session, run, order.source_id)

    def _payments(
        self, session: Session, run: FlowRun, record: HubRecord, order: Order, payments: JSON
    ) -> None:
        """The payment posting of a split sale, in the transaction that wrote its booked
        invoice, with its derived-record row (role ``payment``): made once, however often the
        order is read. The push sends it after the invoice, once Uniconta numbered it."""
        key = f"order:{order.source_id}"
        if self._derived(session, run.route_id, key, "payment") is not None:
            return
        row = self._derived(session, run.route_id, key, "invoice")
        invoice = (
            self._hub.get(session, run.tenant_id, "invoice", row.derived_record_id) if row else None
        )
        if invoice is None:
            return
        try:
            data = validate("journal_posting", {
                **payments, "invoice_id": invoice.id, "party_id": invoice.data.get("party_id"),
                "route_id": run.route_id, "reference": payment_reference(run.route_id, order),
            })  # fmt: skip
        except ValidationError as exc:
            run.recorder.issue(
                session, stream="orders", direction=FLOW, key=order.source_id,
                reason="invalid_posting", record_id=record.id, remote_id=invoice.id,
                message="the payments of the sale's parts cannot be made: "
                f"{describe_validation_error(exc)}; register each part in the accounting "
                "system, then dismiss this issue",
            )  # fmt: skip
            return
        posting = self._hub.create(
            session, run.tenant_id, "journal_posting", data, run.origin, run_id=run.recorder.run_id
        )
        self._remember(session, run, key, "payment", posting.id, "posted", None)
        run.recorder.log(
            session, stream="orders", direction=FLOW, outcome="created", record_id=record.id,
            remote_id=posting.id, reason="payment_split_registered",
            message=f"payments of order {data['order_ref']} against hub invoice {invoice.id}: "
            f"posting {posting.id} ({data['reference']}) in cash journal {data['journal']}",
        )  # fmt: skip

    def _withdraw(
        self,
        session: Session,
        run: FlowRun,
        record: HubRecord,
        derived: DerivedRecord,
        digest: str,
        result: OrderResult,
    ) -> None:
        """Delete the draft invoice of an order whose sale ended before it was booked. The
        push deletes what the target holds of it (a Uniconta order, releasing its stock); the
        derived row stays, so the order is derived afresh should it come back."""
        invoice = self._hub.get(session, run.tenant_id, "invoice", derived.derived_record_id)
        if invoice is not None and not invoice.deleted:
            self._hub.delete(session, invoice, run.origin)
        derived.state, derived.source_hash = WITHDRAWN, digest
        derived.updated_at = self._clock.now()
        key = str(record.data["source_id"])
        run.recorder.resolve(session, "orders", FLOW, [key])
        run.recorder.log(
            session, stream="orders", direction=FLOW, outcome="deleted", record_id=record.id,
            remote_id=derived.derived_record_id, reason=result.reason,
            message=run.tagged(
                f"{result.message} (hub invoice {derived.derived_record_id})", result
            ),
        )  # fmt: skip

    def _prior(self, session: Session, run: FlowRun, derived: DerivedRecord | None) -> Prior | None:
        if derived is None:
            return None
        invoice = self._hub.get(session, run.tenant_id, "invoice", derived.derived_record_id)
        if invoice is None or invoice.deleted:
            return None  # deleted in the hub: the order is derived afresh
        data = invoice.data
        state = derived.state
        if data.get("status") in BOOKED_STATES:
            # Booked in the target meanwhile (a person booked the order there): never
            # rewritten nor withdrawn.
            state = str(data["status"])
        try:
            booked = Invoice.model_validate(data)
            total: Decimal | None = booked.net_total + booked.vat_total
        except ValidationError:
            total = None  # an invoice the hub cannot read is not compared
        paid = self._derived(session, run.route_id, derived.source_record_id, "payment")
        return Prior(
            derived.derived_record_id, state, data.get("party_id"), data.get("payment_term"),
            total, payments=paid is not None,
        )  # fmt: skip

    def _party(
        self,
        session: Session,
        run: FlowRun,
        record: HubRecord,
        result: OrderResult,
        known: StoreKnown,
    ) -> str | None:
        """The invoice's party: the one found (updated from the order when its profile says
        so), else the one created for this match key."""
        plan = result.party
        assert plan is not None
        if plan.party_id is not None:
            if plan.update is not None:
                self._update_party(session, run, record, plan, known)
            return plan.party_id
        assert plan.data is not None and plan.key is not None
        key = f"party:{plan.key}"
        remembered = self._derived(session, run.route_id, key, "party")
        if remembered is not None:
            existing = self._hub.get(session, run.tenant_id, "party", remembered.derived_record_id)
            if existing is not None and not existing.deleted:
                return existing.id
        try:
            data = validate("party", plan.data)
        except ValidationError as exc:
            run.recorder.issue(
                session, stream="orders", direction=FLOW, key=str(record.data["source_id"]),
                reason="invalid_customer",
                message=f"the customer cannot be created: {describe_validation_error(exc)}; "
                "correct the customer on the order in the shop: the order flows again once it "
                "changes, and its invoice is made then",
                record_id=record.id,
            )  # fmt: skip
            return None
        party = self._hub.create(
            session, run.tenant_id, "party", data, run.origin, run_id=run.recorder.run_id
        )
        known.wrote_party(party.id, data)
        if plan.as_of is not None:
            run.parties_as_of[party.id] = plan.as_of
        if remembered is not None:
            remembered.derived_record_id = party.id
            remembered.updated_at = self._clock.now()
        else:
            self._remember(session, run, key, "party", party.id, "created", None)
        run.recorder.log(
            session, stream="customers", direction=FLOW, outcome="created", record_id=party.id,
            message=f"customer {plan.key} for order {record.data['source_id']}",
        )  # fmt: skip
        return party.id

    def _update_party(
        self, session: Session, run: FlowRun, record: HubRecord, plan: PartyPlan,
        known: StoreKnown,
    ) -> None:  # fmt: skip
        """Write what the order says of an existing customer to its party where it differs,
        unless the party changed after the order was placed. An update the party cannot take
        is the customer's issue: the order is booked on the party as it is all the same."""
        party = self._hub.get(session, run.tenant_id, "party", str(plan.party_id))
        if party is None or party.deleted:
            return
        as_of = run.parties_as_of.get(party.id) if party.origin == run.origin else None
        changed_at = as_of or party.updated_at
        update = party_update(party.data, changed_at, plan)
        recorder = run.recorder
        key = str(plan.key)
        order_id = str(record.data["source_id"])
        if update is None:
            recorder.resolve(session, "customers", FLOW, [key])
            return
        assert plan.as_of is not None  # an update is only asked as of the order's time
        fields = ", ".join(update.changed)
        if update.stale:
            recorder.log(
                session, stream="customers", direction=FLOW, outcome="unchanged",
                record_id=party.id, reason="customer_changed_after_order", key=key,
                message=f"customer {key} is not updated from order {order_id} ({fields} "
                f"differ): its details are of {changed_at.isoformat()}, newer than the order "
                f"placed at {plan.as_of.isoformat()}",
            )  # fmt: skip
            return
        try:
            data = validate("party", update.data)
        except ValidationError as exc:
            recorder.issue(
                session, stream="customers", direction=FLOW, key=key,
                reason="invalid_customer_update", record_id=party.id,
                message=f"customer {key} is not updated from order {order_id} (its {fields}): "
                f"{describe_validation_error(exc)}. The order is booked on the customer as it "
                "is: correct the customer in the accounting system if it has changed",
            )  # fmt: skip
            return
        if not self._hub.update(session, party, data, run.origin, run_id=recorder.run_id):
            return
        known.wrote_party(party.id, data)
        run.parties_as_of[party.id] = plan.as_of
        recorder.resolve(session, "customers", FLOW, [key])
        recorder.log(
            session, stream="customers", direction=FLOW, outcome="updated", record_id=party.id,
            key=key, message=f"customer {key} updated from order {order_id}: {fields}",
        )  # fmt: skip

    def _write_invoice(
        self,
        session: Session,
        run: FlowRun,
        record: HubRecord,
        order: Order,
        derived: DerivedRecord | None,
        digest: str,
        result: OrderResult,
        known: StoreKnown,
    ) -> str | None:
        """Create or update the order's invoice with its derived-record row; returns its
        state, or None when it could not be written (the issue says why)."""
        party_id = self._party(session, run, record, result, known)
        if party_id is None:
            return None
        assert result.invoice is not None and result.state is not None
        recorder = run.recorder
        try:
            data = validate("invoice", {**result.invoice, "party_id": party_id})
        except ValidationError as exc:
            recorder.issue(
                session, stream="orders", direction=FLOW, key=order.source_id,
                reason="invalid_invoice",
                message=f"the invoice cannot be made: {describe_validation_error(exc)}",
                record_id=record.id,
            )  # fmt: skip
            return None
        invoice = None
        if derived is not None:
            invoice = self._hub.get(session, run.tenant_id, "invoice", derived.derived_record_id)
        if invoice is not None and not invoice.deleted:
            merged = _merged(invoice, {**result.invoice, "party_id": party_id})
            if merged is None:
                recorder.issue(
                    session, stream="orders", direction=FLOW, key=order.source_id,
                    reason="invalid_invoice", record_id=record.id, remote_id=invoice.id,
                    message="the draft invoice cannot take the order's change: it no longer "
                    "fits what the accounting system gave it (its due date)",
                )  # fmt: skip
                return None
            changed = self._hub.update(
                session, invoice, merged, run.origin, run_id=run.recorder.run_id
            )
            outcome = "updated" if changed else "unchanged"
        else:
            invoice = self._hub.create(
                session, run.tenant_id, "invoice", data, run.origin, run_id=run.recorder.run_id
            )
            outcome = "created"
        self._written(
            session, run, record, "orders", order.source_id, f"order:{order.source_id}",
            "invoice", derived, invoice.id,
            result.state, digest, outcome, result.issue, result.reason,
            run.tagged(f"{result.message} (hub invoice {invoice.id})", result),
        )  # fmt: skip
        return result.state

    def _written(
        self,
        session: Session,
        run: FlowRun,
        record: HubRecord,
        stream: str,
        source_id: str,
        key: str,
        role: str,
        derived: DerivedRecord | None,
        derived_id: str,
        state: str,
        digest: str,
        outcome: str,
        issue: bool,
        reason: str,
        message: str,
    ) -> None:
        """After a derived invoice or credit note is written: remember it for the source
        record (in the same transaction: the once-only guarantee), and record the outcome,
        as an open issue when a person must look (a draft with a gap) or in the log."""
        if derived is None:
            self._remember(session, run, key, role, derived_id, state, digest)
        else:
            derived.derived_record_id = derived_id
            derived.state = state
            derived.source_hash = digest
            derived.updated_at = self._clock.now()
        recorder = run.recorder
        if issue:
            recorder.issue(
                session, stream=stream, direction=FLOW, key=source_id, reason=reason,
                message=message, outcome=outcome, record_id=record.id, remote_id=derived_id,
            )  # fmt: skip
        else:
            recorder.resolve(session, stream, FLOW, [source_id])
            recorder.log(
                session, stream=stream, direction=FLOW, outcome=outcome, record_id=record.id,
                remote_id=derived_id, reason=reason, message=message,
            )  # fmt: skip

    # ------------------------------------------------------------------ refunds

    def _waiting_refunds(self, session: Session, run: FlowRun, order_source_id: str) -> None:
        """Refunds of an order that just got its booked invoice: their credit notes now."""
        column = HubRecord.data["order_source_id"].as_string()
        if run.refunded_orders is None:
            run.refunded_orders = set(
                session.scalars(
                    sa.select(column).where(
                        HubRecord.tenant_id == run.tenant_id,
                        HubRecord.entity == "refund",
                        HubRecord.deleted.is_(False),
                    )
                )
            )
        if order_source_id not in run.refunded_orders:
            return
        ids = session.scalars(
            sa.select(HubRecord.id)
            .where(
                HubRecord.tenant_id == run.tenant_id,
                HubRecord.entity == "refund",
                HubRecord.deleted.is_(False),
                column == order_source_id,
            )
            .order_by(HubRecord.created_at, HubRecord.id)
        ).all()
        for refund_id in ids:
            self._refund(session, run, refund_id)

    def _order_of(self, session: Session, run: FlowRun, source_id: str) -> Order | None:
        """The order a refund names, by the source connection's link when it has one (an
        index look-up), else by the order's ``source_id`` among the tenant's orders."""
        record: HubRecord | None = None
        if run.source != APP_SOURCE:
            linked = session.scalar(
                sa.select(Link.record_id).where(
                    Link.connection_id == run.source,
                    Link.stream == "orders",
                    Link.remote_id == source_id,
                )
            )
            record = self._hub.get(session, run.tenant_id, "order", linked) if linked else None
        if record is None:
            column = HubRecord.data["source_id"].as_string()
            record = session.scalar(
                sa.select(HubRecord)
                .where(
                    HubRecord.tenant_id == run.tenant_id,
                    HubRecord.entity == "order",
                    HubRecord.deleted.is_(False),
                    column == source_id,
                )
                .order_by(HubRecord.updated_at.desc(), HubRecord.id)
                .limit(1)
            )
        if record is None:
            return None
        try:
            return Order.model_validate(record.data)
        except ValidationError:
            return None  # its own issue says why

    def _refund(self, session: Session, run: FlowRun, record_id: str) -> None:
        loaded = self._source(session, run, "refund", record_id, Refund)
        if loaded is None:
            return
        record, refund = loaded
        recorder = run.recorder
        key = f"refund:{refund.source_id}"
        derived = self._derived(session, run.route_id, key, "credit_note")
        digest = source_hash(record.data, run.policy, None)
        if derived is not None and derived.source_hash == digest:
            return
        order = self._order_of(session, run, refund.order_source_id)
        invoice_row = self._derived(
            session, run.route_id, f"order:{refund.order_source_id}", "invoice"
        )
        credited: tuple[Credited, ...] = ()
        if invoice_row is not None:
            own = derived.derived_record_id if derived is not None else None
            credited = self._credited(session, run, invoice_row.derived_record_id, own)
        result = refund_flow(
            refund, order, run.policy, self._prior(session, run, invoice_row),
            self._prior(session, run, derived), timezone=run.timezone, credited=credited,
        )  # fmt: skip
        if result.outcome in ("wait", "skip"):
            recorder.issue(
                session, stream="refunds", direction=FLOW, key=refund.source_id,
                reason=result.reason, message=run.tagged(result.message), record_id=record.id,
            )  # fmt: skip
            return
        if result.outcome == "unchanged":
            assert derived is not None
            derived.source_hash = digest
            recorder.resolve(session, "refunds", FLOW, [refund.source_id])
            return
        assert invoice_row is not None
        if not result.issue:
            waits = self._credited_pending(session, run, invoice_row.derived_record_id)
            if waits is not None:
                message = credit_note_waits(str(result.state), invoice_row.derived_record_id, waits)
                result = replace(result, message=message)
        written = self._write_credit_note(session, run, record, refund, derived, digest, result)
        if written == "updated":
            # A credit note changed (a draft's refund corrected): a refund of the same order
            # held for crediting the invoice beyond its total may fit now.
            for held_id in self._held_for_exceeding(session, run, refund):
                self._refund(session, run, held_id)

    def _held_for_exceeding(self, session: Session, run: FlowRun, refund: Refund) -> list[str]:
        """The latest records of the other refunds of ``refund``'s order that are held with
        ``refunds_exceed_order``."""
        keys = session.scalars(
            sa.select(SyncIssue.key).where(
                SyncIssue.connection_id == run.recorder.connection_id,
                SyncIssue.stream == "refunds",
                SyncIssue.direction == FLOW,
                SyncIssue.reason_code == "refunds_exceed_order",
                SyncIssue.key != refund.source_id,
            )
        ).all()
        if not keys:
            return []
        ids = self._source_records(session, run, "refund", sorted(keys))
        order = HubRecord.data["order_source_id"].as_string()
        return list(
            session.scalars(
                sa.select(HubRecord.id)
                .where(HubRecord.id.in_(ids), order == refund.order_source_id)
                .order_by(HubRecord.created_at, HubRecord.id)
            )
        )

    def _credited(
        self, session: Session, run: FlowRun, invoice_id: str, own: str | None
    ) -> tuple[Credited, ...]:
        """The hub's credit notes of an invoice other than the refund's own (``own``), with
        what each credits as the accounting system books it (through the index of credit
        notes by the invoice they credit, migration 0020)."""
        dialect = session.get_bind().dialect.name
        rows = session.scalars(
            sa.select(HubRecord)
            .where(
                HubRecord.tenant_id == run.tenant_id,
                business_key_is(dialect, "invoice", "credits_invoice_id", invoice_id),
                HubRecord.deleted.is_(False),
            )
            .order_by(HubRecord.created_at, HubRecord.id)
        )
        credited: list[Credited] = []
        for row in rows:
            if row.id == own:
                continue
            try:
                note = Invoice.model_validate(row.data)
            except ValidationError:
                continue  # a credit note the hub cannot read has its own issue
            amount = -booked_gross(note.lines_with_document_discount(), run.policy)
            credited.append(Credited(note.number or row.id, amount))
        return tuple(credited)

    def _credited_pending(self, session: Session, run: FlowRun, invoice_id: str) -> str | None:
        """Why the target does not have the credited invoice yet (the reason it refused it,
        or "" when it was not sent yet); None when it has it. A credit note follows its
        invoice there, so its log must not say it is booked before then."""
        linked = session.scalar(
            sa.select(Link.remote_id).where(
                Link.connection_id == run.target_id,
                Link.stream == "invoices",
                Link.record_id == invoice_id,
            )
        )
        if linked is not None:
            return None
        refused = session.scalar(
            sa.select(SyncIssue.reason_code).where(
                SyncIssue.connection_id == run.target_id,
                SyncIssue.stream == "invoices",
                SyncIssue.key == invoice_id,
            )
        )
        return refused or ""

    def _write_credit_note(
        self,
        session: Session,
        run: FlowRun,
        record: HubRecord,
        refund: Refund,
        derived: DerivedRecord | None,
        digest: str,
        result: RefundResult,
    ) -> str | None:
        """Write the refund's credit note; answers the outcome (``created``, ``updated``,
        ``unchanged``), or None when the hub cannot take it (its issue says why)."""
        assert result.credit_note is not None and result.state is not None
        recorder = run.recorder
        try:
            data = validate("invoice", result.credit_note)
        except ValidationError as exc:
            recorder.issue(
                session, stream="refunds", direction=FLOW, key=refund.source_id,
                reason="invalid_credit_note",
                message=f"the credit note cannot be made: {describe_validation_error(exc)}",
                record_id=record.id,
            )  # fmt: skip
            return None
        note = None
        if derived is not None:
            note = self._hub.get(session, run.tenant_id, "invoice", derived.derived_record_id)
        if note is not None and not note.deleted:
            outcome = (
                "updated"
                if self._hub.update(session, note, data, run.origin, run_id=run.recorder.run_id)
                else "unchanged"
            )
        else:
            note = self._hub.create(
                session, run.tenant_id, "invoice", data, run.origin, run_id=run.recorder.run_id
            )
            outcome = "created"
        self._written(
            session, run, record, "refunds", refund.source_id, f"refund:{refund.source_id}",
            "credit_note", derived, note.id,
            result.state, digest, outcome, result.issue, result.reason,
            run.tagged(f"{result.message}: credit note {note.id}"),
        )  # fmt: skip
        return outcome


# ---------------------------------------------------------------------------- shared reads


def source_orders(session: Session, tenant_id: str, source: str) -> Iterator[HubRecord]:
    """The live hub orders a route's source wrote (by their last change's origin)."""
    rows = session.scalars(
        sa.select(HubRecord)
        .where(
            HubRecord.tenant_id == tenant_id,
            HubRecord.entity == "order",
            HubRecord.deleted.is_(False),
        )
        .order_by(HubRecord.created_at, HubRecord.id)
        .execution_options(yield_per=500)
    )
    for record in rows:
        if source_of(record.origin) == source:
            yield record


def _merged(invoice: HubRecord, decided: JSON) -> JSON | None:
    """A draft's new data: what the flow decides, over what the accounting system gave the
    invoice meanwhile (its number, due date), so an update does not undo the push's answer.
    None when the two no longer make a valid invoice."""
    kept = {key: value for key, value in invoice.data.items() if key not in decided}
    try:
        return validate("invoice", {**kept, **decided})
    except ValidationError:
        return None


def _created_in(record: HubRecord, date_range: DateRange, timezone: str) -> bool:
    """Whether an order was placed in the range, on the connection's calendar."""
    created = record.data.get("created_at")
    try:
        moment = dt.datetime.fromisoformat(str(created))
    except ValueError:
        return False
    if moment.tzinfo is None:
        return moment.date() in date_range
    return moment.astimezone(ZoneInfo(timezone)).date() in date_range
