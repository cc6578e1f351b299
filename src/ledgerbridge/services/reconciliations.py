"""Reconciliation reports of a connection: start one, list them, read one, download it as CSV.

The work is the ``reconcile`` job (runtime/reconcile.py); this service queues it and reads
what it kept. Starting a report spends the system's calls, so it needs the owner or admin role;
reading one does not.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.reconcile import Period
from ledgerbridge.runtime.jobqueue.port import Command, JobBackend
from ledgerbridge.runtime.reconcile import KIND
from ledgerbridge.services.connections.base import iso
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.reconcile import Reconciliation
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
KINDS = {
    "skipped": "Skipped",
    "pending": "Pending",
    "changed_remote": "Changed in the accounting system only",
    "missing_remote": "Missing in the accounting system",
    "missing_hub": "Missing in the hub",
    "differs": "Booked with another amount or status",
}
"""Each kind of difference, as a person reads it."""
CSV_COLUMNS = ("stream", "kind", "reason", "record_id", "remote_id", "fields", "message")


class ReconciliationService:
    def __init__(self, session_factory: sessionmaker[Session], queue: JobBackend, clock: Clock):
        self._sessions = session_factory
        self._queue = queue
        self._clock = clock

    def _connection(self, session: Session, principal: Principal, connection_id: str) -> Connection:
        row = session.get(Connection, connection_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"connection {connection_id} not found")
        return row

    def today(self, principal: Principal, connection_id: str) -> date:
        """Today in the connection's zone: the books' day, which a month starts and ends by."""
        with self._sessions() as session:
            zone = ZoneInfo(self._connection(session, principal, connection_id).timezone)
        return self._clock.now().astimezone(zone).date()

    def current_month(self, principal: Principal, connection_id: str) -> str:
        """This month in the connection's zone: what a report covers when none is named."""
        return self.today(principal, connection_id).strftime("%Y-%m")

    def start(self, principal: Principal, connection_id: str, period: str | None = None) -> JSON:
        """Queue a report of ``period`` (``YYYY-MM``; this month by default)."""
        principal.require_admin("running a reconciliation (API calls)")
        today = self.today(principal, connection_id)
        label = period or today.strftime("%Y-%m")
        try:
            month = Period.month(label)
        except ValueError as exc:
            raise Invalid(str(exc), field="period") from exc
        if month.start > today:
            raise Invalid(f"period {label} has not started yet", field="period")
        with self._sessions.begin() as session:
            connection = self._connection(session, principal, connection_id)
            spec = SYSTEMS.get(connection.system)
            if spec is None or spec.side != "accounting":
                raise Invalid("only an accounting connection is reconciled", field="connection")
            if connection.import_state != "done":
                raise Invalid("the initial import has not finished yet", field="period")
            row = Reconciliation(
                connection_id=connection_id, tenant_id=principal.tenant_id, period=label,
                trigger="manual", status="queued", calls=0, created_at=self._clock.now(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            row.job_id = self._queue.enqueue(
                Command(
                    KIND, connection_id=connection_id, tenant_id=principal.tenant_id,
                    payload={"report_id": row.id}, priority=60,
                ),
                session=session,
            )  # fmt: skip
            return _header(row)

    def list(self, principal: Principal, connection_id: str, limit: int = 50) -> list[JSON]:
        """Newest first, without their differences."""
        with self._sessions() as session:
            self._connection(session, principal, connection_id)
            rows = session.scalars(
                sa.select(Reconciliation)
                .where(Reconciliation.connection_id == connection_id)
                .order_by(Reconciliation.created_at.desc(), Reconciliation.id)
                .limit(limit)
            )
            return [_header(row) for row in rows]

    def get(self, principal: Principal, connection_id: str, report_id: str) -> JSON:
        """The report with its totals and its differences, each with a link to open the
        remote record in the system's own app where it has one."""
        with self._sessions() as session:
            connection = self._connection(session, principal, connection_id)
            row = session.get(Reconciliation, report_id)
            if row is None or row.connection_id != connection_id:
                raise NotFound(f"reconciliation {report_id} not found")
            spec = SYSTEMS.get(connection.system)
            settings = dict(connection.settings)
            differences = []
            for difference in row.differences or []:
                url = None
                if spec is not None and spec.record_url and difference.get("remote_id"):
                    url = spec.record_url(settings, difference["stream"], difference["remote_id"])
                differences.append({**difference, "url": url})
            return {**_header(row), "totals": row.totals, "differences": differences}

    def csv(self, principal: Principal, connection_id: str, report_id: str) -> str:
        """One row per difference, then the totals of both sides per count and VAT code."""
        report = self.get(principal, connection_id, report_id)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for difference in report["differences"]:
            writer.writerow(
                [" ".join(difference[c]) if c == "fields" else difference.get(c) or ""
                 for c in CSV_COLUMNS]
            )  # fmt: skip
        totals = report["totals"] or {}
        writer.writerow([])
        writer.writerow(["totals", "measure", "hub", "accounting system"])
        for row in comparison(totals):
            writer.writerow(["totals", row["label"], row["hub"], row["remote"]])
        return out.getvalue()


NOT_READ = "not read"
"""The system's side of a total it offers no way to read."""


def comparison(totals: JSON) -> list[JSON]:
    """Both sides' totals row by row (counts, then net, VAT and gross per VAT code, then the
    open amount, then each route's orders or payouts in the hub against those booked), each
    with whether the two sides agree: what the report page and the CSV show."""
    hub, remote = totals.get("hub") or {}, totals.get("remote") or {}
    rows: list[JSON] = []
    # Invoices the system cannot read back (Yuki's booked sales invoices): its side of the
    # invoice totals is unknown, not zero.
    unread = "invoices" in (totals.get("unread") or ()) and not (
        {"invoices", "credit_notes"} & set(remote.get("counts", {}))
    )
    invoice_rows: list[JSON] = []
    # Invoices read without their lines: the system's side of the amounts is unknown, not
    # zero; likewise an open amount the hub does not keep (Tripletex's).
    amount_rows: list[JSON] = []
    open_rows: list[JSON] = []
    names = sorted({*hub.get("counts", {}), *remote.get("counts", {})})
    for name in names:
        row: JSON = {"label": f"{name.replace('_', ' ')} (count)",
                     "hub": str(hub.get("counts", {}).get(name, 0)),
                     "remote": str(remote.get("counts", {}).get(name, 0))}  # fmt: skip
        rows.append(row)
        if name in ("invoices", "credit_notes"):
            invoice_rows.append(row)
    codes = sorted({*hub.get("vat", {}), *remote.get("vat", {})})
    for key in codes:
        ours, theirs = hub.get("vat", {}).get(key, {}), remote.get("vat", {}).get(key, {})
        named = ours or theirs
        code = named.get("code", key) or "(no VAT code)"
        currency = f" ({named['currency']})" if named.get("currency") else ""
        for measure in ("net", "vat", "gross"):
            row = {"label": f"{measure} {code}{currency}", "hub": ours.get(measure, "0"),
                   "remote": theirs.get(measure, "0")}  # fmt: skip
            rows.append(row)
            invoice_rows.append(row)
            amount_rows.append(row)
    if hub or remote:
        ours_open, theirs_open = _per_currency(hub), _per_currency(remote)
        for currency in sorted({*ours_open, *theirs_open}) or [""]:
            label = f"open amount ({currency})" if currency else "open amount"
            row = {"label": label, "hub": ours_open.get(currency, "0"),
                   "remote": theirs_open.get(currency, "0")}  # fmt: skip
            rows.append(row)
            invoice_rows.append(row)
            amount_rows.append(row)
            open_rows.append(row)
    for key, sums in sorted((totals.get("commerce") or {}).items()):
        # A route's source records in the hub against those booked: whose invoice the
        # accounting system holds (with its total), or whose cash-journal posting reached it.
        label = str(sums.get("stream") or key).replace("_", " ")
        if sums.get("source_name"):
            label = f"{label} of {sums['source_name']}"
        rows.append({"label": f"{label} booked (count)", "hub": str(sums.get("count", 0)),
                     "remote": str(sums.get("booked", 0))})  # fmt: skip
        for currency, money in sorted((sums.get("amounts") or {}).items()):
            rows.append({"label": f"{label} booked ({currency})", "hub": money.get("source"),
                         "remote": money.get("booked")})  # fmt: skip
    for row in rows:
        row["agrees"] = _same(row["hub"], row["remote"])
    if unread:
        for row in invoice_rows:
            row.update(remote=NOT_READ, agrees=None)
    if "invoices" in (totals.get("amounts_unread") or ()):
        for row in amount_rows:
            row.update(remote=NOT_READ, agrees=None)
    if "invoices" in (totals.get("open_unread") or ()):
        for row in open_rows:
            row.update(remote=NOT_READ, agrees=None)
    return rows


def _per_currency(side: JSON) -> dict[str, str]:
    """A side's open amounts by currency; a report kept before they were split by currency
    holds one figure, shown without one."""
    amounts = side.get("open_amount", {})
    return dict(amounts) if isinstance(amounts, dict) else {"": str(amounts)}


def _same(left: str, right: str) -> bool:
    try:
        return Decimal(left) == Decimal(right)
    except ArithmeticError:
        return left == right


def _header(row: Reconciliation) -> JSON:
    differences = row.differences or []
    by_kind: dict[str, int] = {}
    for difference in differences:
        by_kind[difference["kind"]] = by_kind.get(difference["kind"], 0) + 1
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "period": row.period,
        "trigger": row.trigger,
        "status": row.status,
        "job_id": row.job_id,
        "run_id": row.run_id,
        "calls": row.calls,
        "differences_count": len(differences),
        "differences_by_kind": by_kind,
        "message": row.message,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
    }
