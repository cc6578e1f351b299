"""The reconciliation job: a report of a connection's month, run on demand or monthly.

A report is a job like any other: it runs in the connection's line, under its run fence, and
every call it makes is booked in the quota ledger first (a spent budget postpones it to the
next quota day). The report is kept with its differences; the app hears of the differences
that were not in the previous report of the same month (``reconciliation.difference``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.commerce.config import CommercePolicy
from ledgerbridge.commerce.paymatch import payout_changes
from ledgerbridge.commerce.policies import ended_unpaid
from ledgerbridge.engine.context import OUTBOUND, RunContext
from ledgerbridge.engine.reconcile import Period, Reconciler
from ledgerbridge.model.commerce import Order
from ledgerbridge.model.journal import JournalPosting
from ledgerbridge.model.payout import Payout
from ledgerbridge.runtime.flowkit import WITHDRAWN
from ledgerbridge.runtime.jobqueue.port import Handler, JobContext, Postpone
from ledgerbridge.runtime.jobs import Events, SyncJobs
from ledgerbridge.runtime.paymatch import STREAM as PAYOUTS
from ledgerbridge.runtime.paymatch import journal_key
from ledgerbridge.store.tables.flows import DerivedRecord, Route
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.reconcile import Reconciliation
from ledgerbridge.store.tables.sync import Link, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
KIND = "reconcile"
EVENT = "reconciliation.difference"
RESERVE = 0.2
"""A report may not use the last 20 % of the day's call budget: that stays for syncing
invoices and customers (as for the low-priority pulls); a report that reaches it is deferred
to the next quota day."""


def difference_key(difference: JSON) -> tuple[str, ...]:
    """What makes a difference "the same" in two reports of one month."""
    return tuple(
        str(difference.get(name) or "")
        for name in ("stream", "kind", "record_id", "remote_id", "reason")
    )


class ReconcileJobs:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        jobs: SyncJobs,
        reconciler: Reconciler,
        webhooks: Events,
        clock: Clock,
    ) -> None:
        self._sessions = session_factory
        self._jobs = jobs
        self._reconciler = reconciler
        self._webhooks = webhooks
        self._clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self._reconcile}

    def _reconcile(self, job: JobContext) -> JSON:
        report_id = job.job.payload.get("report_id") or self._scheduled(job)
        if report_id is None:
            return {"skipped": "connection removed, paused or not imported yet"}
        with self._sessions.begin() as session:
            row = session.get(Reconciliation, report_id)
            if row is None:
                return {"skipped": "report removed"}
            row.status, row.job_id = "running", job.job.id
            period = Period.month(row.period)

        def action(ctx: RunContext) -> None:
            report = self._reconciler.reconcile(ctx, period)
            with self._sessions.begin() as session:
                row = session.get(Reconciliation, report_id)
                if row is None:
                    return
                totals, differences = commerce(session, row.connection_id, period, report.booked)
                row.run_id = ctx.run_id
                row.totals = {**report.totals, **({"commerce": totals} if totals else {})}
                row.differences = report.differences + differences
                self._announce(session, row)

        try:
            result = self._jobs._run(KIND, job, action, reserve=RESERVE)
        except Postpone as exc:
            self._end(report_id, "deferred", str(exc))
            raise
        except Exception as exc:
            self._end(report_id, "failed", str(exc))
            raise
        if "run_id" not in result:
            self._end(report_id, "failed", str(result.get("skipped") or result.get("error")))
            return {**result, "report_id": report_id}
        self._end(report_id, "done", None, int(result.get("calls") or 0))
        return {**result, "report_id": report_id}

    def _scheduled(self, job: JobContext) -> str | None:
        """A scheduled run reports on the month that closed last, in the connection's zone."""
        with self._sessions.begin() as session:
            connection = session.get(Connection, job.job.connection_id)
            if connection is None or not connection.active or connection.import_state != "done":
                return None
            today = self._clock.now().astimezone(ZoneInfo(connection.timezone)).date()
            row = Reconciliation(
                connection_id=connection.id, tenant_id=connection.tenant_id,
                period=Period.before(today).label, trigger="schedule", status="queued",
                job_id=job.job.id, calls=0, created_at=self._clock.now(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            return row.id

    def _announce(self, session: Session, row: Reconciliation) -> None:
        """One event listing the differences the previous report of the month did not have."""
        previous = session.scalars(
            sa.select(Reconciliation)
            .where(
                Reconciliation.connection_id == row.connection_id,
                Reconciliation.period == row.period,
                Reconciliation.status == "done",
                Reconciliation.id != row.id,
            )
            .order_by(Reconciliation.created_at.desc())
            .limit(1)
        ).first()
        known = {difference_key(d) for d in (previous.differences or [])} if previous else set()
        new = [d for d in row.differences or [] if difference_key(d) not in known]
        if new:
            self._webhooks.emit(
                session, row.tenant_id, EVENT,
                {"connection_id": row.connection_id, "reconciliation_id": row.id,
                 "period": row.period, "differences": new,
                 "at": self._clock.now().isoformat()},
            )  # fmt: skip

    def _end(self, report_id: str, status: str, message: str | None, calls: int = 0) -> None:
        now: datetime = self._clock.now()
        with self._sessions.begin() as session:
            row = session.get(Reconciliation, report_id)
            if row is not None:
                row.status, row.message, row.calls = status, message, calls
                row.finished_at = now if status in ("done", "failed") else None


def commerce(
    session: Session,
    connection_id: str,
    period: Period,
    booked: dict[str, tuple[str, Decimal | None]],
) -> tuple[JSON, list[JSON]]:
    """What the routes into this connection made of the month: each source's orders against
    the invoices made of them as the accounting system holds them (``booked``: per hub
    invoice, its remote id and the gross total the system booked, from the report's read),
    and its payouts against the cash-journal postings made of them that reached the system.
    An order or payout counts as booked only then; one that is not, or whose booked amount or
    status differs from its own, is a difference."""
    connection = session.get(Connection, connection_id)
    if connection is None:
        return {}, []
    zone = ZoneInfo(connection.timezone)
    totals: JSON = {}
    differences: list[JSON] = []
    sent = {
        record_id: remote_id
        for record_id, remote_id in session.execute(
            sa.select(Link.record_id, Link.remote_id).where(Link.connection_id == connection_id)
        )
    }
    outbound_issues = {
        key: (reason, message)
        for key, reason, message in session.execute(
            sa.select(SyncIssue.key, SyncIssue.reason_code, SyncIssue.message).where(
                SyncIssue.connection_id == connection_id, SyncIssue.direction == OUTBOUND
            )
        )
    }
    routes = session.scalars(
        sa.select(Route).where(Route.target_connection_id == connection_id, Route.active)
    ).all()
    for route in routes:
        source = route.source_connection_id or connection_id
        origin = f"connection:{route.source_connection_id}" if route.source_connection_id else "api"
        shop = session.get(Connection, route.source_connection_id or "")
        source_name = shop.name if shop is not None else "the app (API)"
        jobs: list[tuple[str, str, str, Any, Any, str]] = []
        policy = CommercePolicy.saved((route.commerce or {}).get("policy"))
        if route.commerce:
            jobs.append(("orders", "order", "invoice", lambda d: f"order:{d.get('source_id')}",
                         lambda d: d.get("created_at"), "total"))  # fmt: skip
        if route.paymatch:
            jobs.append((PAYOUTS, "payout", "journal", _payout_key,
                         lambda d: d.get("arrival_date"), "net"))  # fmt: skip
        for stream, entity, role, key_of, day_of, amount in jobs:
            derived: dict[str, str] = {}
            withdrawn: set[str] = set()  # cancelled before booking: nothing is due
            for key, record_id, state in session.execute(
                sa.select(
                    DerivedRecord.source_record_id,
                    DerivedRecord.derived_record_id,
                    DerivedRecord.state,
                ).where(DerivedRecord.route_id == route.id, DerivedRecord.role == role)
            ):
                if state == WITHDRAWN:
                    withdrawn.add(key)
                else:
                    derived[key] = record_id
            issues = {
                key: (reason, message)
                for key, reason, message in session.execute(
                    sa.select(SyncIssue.key, SyncIssue.reason_code, SyncIssue.message).where(
                        SyncIssue.connection_id.in_({source, connection_id}),
                        SyncIssue.stream == stream,
                    )
                )
            }
            # Per route: two shops booked into one company (a webshop and a till) each
            # answer for their own sales.
            sums = totals.setdefault(f"{stream}:{route.id}", {
                "stream": stream, "route_id": route.id, "source_name": source_name,
                "count": 0, "booked": 0, "amounts": {},
            })  # fmt: skip
            for record in session.scalars(
                sa.select(HubRecord).where(
                    HubRecord.tenant_id == connection.tenant_id,
                    HubRecord.entity == entity,
                    HubRecord.deleted.is_(False),
                )
            ):
                data = record.data
                if record.origin != origin or not period.holds(_local_day(day_of(data), zone)):
                    continue
                if key_of(data) in withdrawn:
                    continue
                if (
                    role == "invoice"
                    and key_of(data) not in derived
                    and _ended_unpaid(data, policy)
                ):
                    continue  # ended in the shop before it was paid: nothing was ever due
                sums["count"] += 1
                currency = str(data.get("currency") or "")
                money = sums["amounts"].setdefault(currency, {"source": "0", "booked": "0"})
                own = Decimal(str(data.get(amount) or 0))
                money["source"] = str(Decimal(money["source"]) + own)

                differs = partial(_difference, differences, stream, entity, record.id)
                source_id = str(data.get("source_id") or "")
                made = derived.get(key_of(data))
                if made is None:
                    issue = issues.get(source_id)
                    if issue is not None:
                        differs("skipped", *issue)
                    else:
                        differs("pending", f"no_{role}", f"no {role} made of this {entity} "
                                "yet: the next flow run makes it; if it stays, the "
                                f"{entity}'s history says why")  # fmt: skip
                    continue
                what: list[str] = []
                if role == "invoice":
                    found = booked.get(made)
                    remote_id, there = found if found else (None, None)
                else:
                    remote_id = sent.get(made)
                    there, what = _posted(session, made, data)
                if remote_id is None or there is None:
                    issue = outbound_issues.get(made)
                    if issue is not None:
                        differs("skipped", *issue)
                    else:
                        differs("pending", f"{role}_not_booked", f"its {role} ({made}) is not "
                                "in the accounting system yet: the next sync sends it; if it "
                                f"stays, the {role}'s history says why")  # fmt: skip
                    continue
                sums["booked"] += 1
                money["booked"] = str(Decimal(money["booked"]) + there)
                issue = issues.get(source_id)
                if role == "journal" and issue is not None:
                    differs("skipped", *issue, remote_id)
                elif role == "invoice" and there != own:
                    differs("differs", "booked_total_differs", f"{entity} total {own} "
                            f"{currency}, its invoice in the accounting system {there}: "
                            "check the invoice there against the order and correct the "
                            "difference with a credit note or a new invoice",
                            remote_id)  # fmt: skip
                elif role == "journal" and what:
                    reason = "payout_failed" if data.get("status") == "failed" else "payout_changed"
                    differs("differs", reason, f"payout changed after it was posted "
                            f"({'; '.join(what)}): correct the cash journal by hand",
                            remote_id)  # fmt: skip
    return totals, differences


def _difference(
    into: list[JSON], stream: str, entity: str, record_id: str, kind: str, reason: str,
    message: str, remote_id: str | None = None,
) -> None:  # fmt: skip
    into.append({
        "stream": stream, "entity": entity, "kind": kind, "record_id": record_id,
        "remote_id": remote_id, "reason": reason, "message": message, "fields": [],
    })  # fmt: skip


def _posted(session: Session, posting_id: str, payout: JSON) -> tuple[Decimal | None, list[str]]:
    """The payout's net as its posting booked it, and what changed in the payout since."""
    row = session.get(HubRecord, posting_id)
    try:
        posting = JournalPosting.model_validate(row.data if row is not None else None)
        current = Payout.model_validate(payout)
    except ValidationError:
        return None, []
    net = posting.payout_net if posting.payout_net is not None else current.net
    changed = posting.payout_net != current.net or (
        posting.payout_status is not None and posting.payout_status != current.status
    )
    return net, payout_changes(posting, current) if changed else []


def _ended_unpaid(order: JSON, policy: CommercePolicy) -> bool:
    """Whether the shop ended the order before it was paid (the flow books nothing of it)."""
    try:
        return ended_unpaid(Order.model_validate(order), policy)
    except ValidationError:
        return False


def _payout_key(data: JSON) -> str | None:
    """The key PayMatch posts a payout under; None for a payout it cannot read (its own
    issue says why)."""
    try:
        return journal_key(Payout.model_validate(data))
    except ValidationError:
        return None


def _local_day(value: Any, zone: ZoneInfo) -> str | None:
    """A timestamp's day in the connection's zone; a plain date as it is."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= 10:
        return text
    return datetime.fromisoformat(text).astimezone(zone).date().isoformat()
