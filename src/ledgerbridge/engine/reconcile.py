"""Reconciliation: both sides of a connection for one month, and every record that differs.

The remote side is read through the connector's own page reads (the same ones a pull uses, so
the calls are counted in the quota ledger like every run's) and converted to canonical form as
a pull would, without writing anything. Each record is then compared with its link:

- ``skipped``: a record with an open issue (its reason and message);
- ``pending``: a hub change, or a hub record, not sent yet;
- ``changed_remote``: the remote record differs from what the link last synced (changed in
  the accounting system only, not pulled yet);
- ``missing_remote`` / ``missing_hub``: on one side only (deleted there, or never synced).

Invoices and credit notes are filed under their month by their date; master data (customers,
products) is counted whole. Totals per side: counts, and net, VAT and gross per VAT code and
the open amount of the month's invoices and credit notes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON, ROW_LINKED_ONLY, EntityMapping, SkipRecord
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.engine.context import INBOUND, OUTBOUND, RunContext
from ledgerbridge.engine.outbound import with_id
from ledgerbridge.engine.state import SyncState, skip_reason
from ledgerbridge.model.invoice import Invoice, VatRounding
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, SyncIssue, WriteIntent

COUNTED = {"party": "customers", "product": "products"}
"""Master-data entities counted whole, by the stream that carries them (a party is counted as
a customer in the customers stream only)."""
DATED = frozenset({"invoice"})
"""Entities filed under a month by their ``date``."""
UNREADABLE = "invoices_unreadable"
"""The count of the month's invoices and credit notes in the system that cannot be read as
either (each listed as ``skipped`` with its reason): the system's side counts what its books
hold."""
OPEN_UNREADABLE = "open_amounts_unreadable"
"""The count of the month's invoices and credit notes in the system whose open amount cannot
be read (each listed as ``skipped`` with its reason): left out of the system's open amount,
never counted as settled."""
OPEN_NOT_RETURNED = (
    "open_amount_not_read",
    "the accounting system did not return what is still owed on it when asked: the next "
    "report reads it again",
)
"""Why an invoice has no open amount when the system, asked for it by id, did not return it."""
OPEN_INTENTS = ("pending", "refused", "ambiguous", "failed")


@dataclass(frozen=True)
class Period:
    """A calendar month in the connection's time zone: ``start`` ≤ date < ``end``."""

    label: str
    start: date
    end: date

    @classmethod
    def month(cls, label: str) -> Period:
        """``YYYY-MM``; raises ValueError otherwise."""
        parts = label.split("-")
        if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2:
            raise ValueError(f"period {label!r} is not a month like 2026-11")
        year, month = int(parts[0]), int(parts[1])
        start = date(year, month, 1)
        end = date(year + month // 12, month % 12 + 1, 1)
        return cls(label, start, end)

    @classmethod
    def before(cls, day: date) -> Period:
        """The last month that closed before ``day``."""
        first = day.replace(day=1)
        previous = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
        return cls.month(previous.strftime("%Y-%m"))

    def holds(self, value: Any) -> bool:
        if value is None:
            return False
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        return self.start <= day < self.end


@dataclass
class Side:
    """What one side holds for the period: counts, and invoice totals per currency and VAT
    code (amounts in two currencies are never added together)."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    vat: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict)
    open_amount: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add_invoice(self, data: JSON, rounding: VatRounding) -> None:
        """Counts the invoice and adds its amounts per VAT code, the VAT rounded as the
        system books it (so the system's side is what its books hold)."""
        try:
            invoice = Invoice.model_validate(data)
        except ValidationError:
            return
        self.counts["credit_notes" if invoice.kind == "credit_note" else "invoices"] += 1
        for code, (net, vat) in invoice.vat_by_code(rounding).items():
            sums = self.vat.setdefault(
                (invoice.currency, code),
                {"net": Decimal(0), "vat": Decimal(0), "gross": Decimal(0)},
            )
            sums["net"] += net
            sums["vat"] += vat
            sums["gross"] += net + vat
        self.open_amount[invoice.currency] += invoice.amount_open or Decimal(0)

    def json(self) -> JSON:
        """``vat`` is keyed by currency and code (``"DKK U25"``), each entry naming both."""
        return {
            "counts": dict(self.counts),
            "vat": {
                f"{currency} {code}".rstrip(): {
                    "currency": currency, "code": code,
                    **{name: str(value) for name, value in sums.items()},
                }
                for (currency, code), sums in sorted(self.vat.items())
            },
            "open_amount": {
                currency: str(amount) for currency, amount in sorted(self.open_amount.items())
            },
        }  # fmt: skip


@dataclass
class Remote:
    """A remote record as a pull would see it: its projection, or why it cannot sync."""

    projection: JSON | None
    full: JSON | None
    skip: tuple[str, str] | None
    day: str | None = None
    """Its date (dated streams), from the canonical form or else the wire's."""


@dataclass
class Report:
    totals: JSON
    differences: list[JSON]
    booked: dict[str, tuple[str, Decimal | None]] = field(default_factory=dict)
    """Per hub invoice linked in the system: its remote id and the gross total the system
    booked (None when it cannot be read), of any month; what the commerce comparison counts
    an order's invoice by."""


class Reconciler(SyncState):
    """Reads the remote side and compares it with the hub and the links; writes nothing."""

    def reconcile(self, ctx: RunContext, period: Period) -> Report:
        hub_side, remote_side = Side(), Side()
        differences: list[JSON] = []
        booked: dict[str, tuple[str, Decimal | None]] = {}
        streams = [
            s
            for s in ctx.streams(inbound=True, outbound=True)
            if ctx.mapping(s).attach_to is None
            and (ctx.mapping(s).entity in DATED or COUNTED.get(ctx.mapping(s).entity) == s)
        ]
        for stream in streams:
            differences.extend(self._stream(ctx, stream, period, hub_side, remote_side, booked))
        unread = [s for s in streams if not ctx.mapping(s).inbound and not ctx.mapping(s).read_back]
        amounts_unread = [s for s in streams if not ctx.mapping(s).reads_amounts]
        open_unread = [
            s for s in streams if not ctx.mapping(s).reads_open_amount and not _open_sources(ctx, s)
        ]
        return Report(
            totals={"period": period.label, "hub": hub_side.json(), "remote": remote_side.json(),
                    "streams": streams, "unread": unread, "amounts_unread": amounts_unread,
                    "open_unread": open_unread},
            differences=differences, booked=booked,
        )  # fmt: skip

    def _stream(
        self,
        ctx: RunContext,
        stream: str,
        period: Period,
        hub_side: Side,
        remote_side: Side,
        booked: dict[str, tuple[str, Decimal | None]],
    ) -> list[JSON]:
        mapping = ctx.mapping(stream)
        dated = mapping.entity in DATED
        remote = self._read_remote(ctx, stream) if mapping.inbound else {}
        with self._sessions() as session:
            links = list(
                session.scalars(
                    sa.select(Link).where(
                        Link.connection_id == ctx.connection_id, Link.stream == stream
                    )
                )
            )
            by_record = {link.record_id: link for link in links}
            by_remote = {link.remote_id: link for link in links}
            # A stream the connection only sends is not read page by page: the records of
            # the report linked in the system are read by id, unless the system cannot give
            # them back (``read_back``: a booked Yuki sales invoice), where the link tells all.
            wanted = links if mapping.read_back else []
            if not mapping.inbound and mapping.read_back:
                reported = self._hub_records(session, ctx, mapping, period)
                wanted = [link for link in links if link.record_id in reported]
        unseen = [link.remote_id for link in wanted if link.remote_id not in remote]
        if unseen:
            # Linked records a page read did not bring (a draft order, a record deleted
            # there): read them by id, so that only what is really gone counts as missing.
            ctx.heartbeat()
            found = ctx.connector.fetch_many(stream, unseen)
            if found:
                remote.update(self._convert(ctx, stream, list(found.values())))
        open_unreadable: dict[str, tuple[str, str]] = {}
        if dated:
            open_unreadable = self._open_amounts(ctx, stream, remote)
            for linked in links:
                there = remote.get(linked.remote_id)
                if there is not None and there.full is not None:
                    booked[linked.record_id] = (
                        linked.remote_id,
                        _booked_total(there.full, mapping.vat_rounding),
                    )
        with self._sessions() as session:
            records = self._hub_records(session, ctx, mapping, period)
            issues = {
                (direction, key): (reason, message)
                for direction, key, reason, message in session.execute(
                    sa.select(
                        SyncIssue.direction, SyncIssue.key, SyncIssue.reason_code, SyncIssue.message
                    ).where(
                        SyncIssue.connection_id == ctx.connection_id, SyncIssue.stream == stream
                    )
                )
            }
            creating = set(
                session.scalars(
                    sa.select(WriteIntent.record_id).where(
                        WriteIntent.connection_id == ctx.connection_id,
                        WriteIntent.stream == stream,
                        WriteIntent.status.in_(OPEN_INTENTS),
                    )
                )
            )
            in_period = {
                rid
                for rid, seen in remote.items()
                if not dated or _in_period(period, seen, by_remote.get(rid), records)
            }
            differences: list[JSON] = []

            def add(
                kind: str,
                record_id: str | None,
                remote_id: str | None,
                reason: str,
                message: str,
                fields: list[str] | None = None,
            ) -> None:
                differences.append({
                    "stream": stream, "entity": mapping.entity, "kind": kind,
                    "record_id": record_id, "remote_id": remote_id, "reason": reason,
                    "message": message, "fields": fields or [],
                })  # fmt: skip

            rates = self._code_rates(session, ctx) if dated else {}
            for record_id, record in sorted(records.items()):
                if dated:
                    hub_side.add_invoice(_at_code_rates(record.data, rates), mapping.vat_rounding)
                else:
                    hub_side.counts[stream] += 1
                link = by_record.get(record_id)
                issue = issues.get((OUTBOUND, record_id))
                if link is None:
                    if issue is not None:
                        add("skipped", record_id, None, *issue)
                    elif record_id in creating:
                        add("pending", record_id, None, "create_in_progress",
                            "its create was started and is not confirmed yet: the next sync "
                            "confirms it or finds it in the accounting system")  # fmt: skip
                    elif ctx.directions(stream)[1]:
                        add("pending", record_id, None, "not_sent",
                            "in the hub, not sent to the accounting system yet: the next sync "
                            "sends it (Send changes now sends it at once)")  # fmt: skip
                    else:
                        add("missing_remote", record_id, None, "not_in_system",
                            "in the hub only: this connection does not send these "
                            "records; enter it in the accounting system, or have the "
                            "connection send them")  # fmt: skip
                    continue
                seen = remote.get(link.remote_id)
                if seen is None and not mapping.read_back:
                    # The system's records of this stream cannot be read back (a booked Yuki
                    # sales invoice): the link is all there is to know, so it is not missing.
                    if issue is not None:
                        add("skipped", record_id, link.remote_id, *issue)
                    continue
                if seen is None:
                    add("missing_remote", record_id, link.remote_id, "remote_record_missing",
                        "linked, but no longer in the accounting system (deleted there): "
                        "enter it there again, or delete it in the app if it was meant "
                        "to go")  # fmt: skip
                    continue
                differences.extend(
                    self._compare(session, ctx, mapping, stream, record, link, seen, issue)
                )
            for remote_id in sorted(in_period & open_unreadable.keys()):
                # Its open amount is unknown: listed, and counted apart from the open total.
                remote_side.counts[OPEN_UNREADABLE] += 1
                link = by_remote.get(remote_id)
                add("skipped", link.record_id if link else None, remote_id,
                    *open_unreadable[remote_id])  # fmt: skip
            for remote_id in sorted(in_period):
                seen = remote[remote_id]
                if seen.full is not None and dated:
                    remote_side.add_invoice(_at_code_rates(seen.full, rates), mapping.vat_rounding)
                elif dated:
                    # In the books but unreadable here (listed with its reason): counted, so
                    # the system's side holds as many as its books, apart from its kind.
                    remote_side.counts[UNREADABLE] += 1
                else:
                    remote_side.counts[stream] += 1
                link = by_remote.get(remote_id)
                if link is not None and link.record_id in records:
                    continue  # compared above
                if link is not None:
                    moved = session.get(HubRecord, link.record_id)
                    if moved is not None and not moved.deleted:
                        # Filed under another month in the hub (its date changed on one side):
                        # the comparison with the link says which.
                        differences.extend(self._compare(
                            session, ctx, mapping, stream, moved, link, seen,
                            issues.get((OUTBOUND, moved.id)),
                        ))  # fmt: skip
                        continue
                    add("missing_hub", link.record_id, remote_id, "deleted_in_hub",
                        "linked, but deleted in the hub (deletes are not propagated): delete or "
                        "credit it in the accounting system if it is to go")  # fmt: skip
                    continue
                issue = issues.get((INBOUND, remote_id))
                if issue is None and seen.skip is not None:
                    issue = seen.skip
                if issue is not None:
                    add("skipped", None, remote_id, *issue)
                else:
                    add("missing_hub", None, remote_id, "not_imported",
                        "in the accounting system, not in the hub yet: the next sync "
                        "imports it")  # fmt: skip
        return differences

    @staticmethod
    def _code_rates(session: Session, ctx: RunContext) -> dict[str, Decimal]:
        """The rate of each VAT code the connection reads from the system (its ``vat_codes``
        stream's records in the hub), by code."""
        linked = sa.select(Link.record_id).where(
            Link.connection_id == ctx.connection_id, Link.stream == "vat_codes"
        )
        rates: dict[str, Decimal] = {}
        for data in session.scalars(
            sa.select(HubRecord.data).where(
                HubRecord.id.in_(linked), HubRecord.entity == "vat_code",
                HubRecord.deleted.is_(False),
            )
        ):  # fmt: skip
            code, rate = data.get("code"), data.get("rate")
            if code is not None and rate is not None:
                rates[str(code)] = Decimal(str(rate))
        return rates

    def _hub_records(
        self, session: Session, ctx: RunContext, mapping: EntityMapping, period: Period
    ) -> dict[str, HubRecord]:
        """The hub's records of the report, by id: those the stream carries, of the month
        when they are dated."""
        dated = mapping.entity in DATED
        return {
            r.id: r
            for r in session.scalars(
                sa.select(HubRecord).where(
                    HubRecord.tenant_id == ctx.tenant_id,
                    HubRecord.entity == mapping.entity,
                    HubRecord.deleted.is_(False),
                )
            )
            if mapping.in_scope(r.data) and (not dated or period.holds(r.data.get("date")))
        }

    def _compare(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        stream: str,
        record: HubRecord,
        link: Link,
        seen: Remote,
        issue: tuple[str, str] | None,
    ) -> list[JSON]:
        base = {"stream": stream, "entity": mapping.entity, "record_id": record.id,
                "remote_id": link.remote_id}  # fmt: skip
        if issue is not None:
            return [{**base, "kind": "skipped", "reason": issue[0], "message": issue[1],
                     "fields": []}]  # fmt: skip
        if seen.projection is None:
            reason, message = seen.skip or ("invalid_remote_data", "cannot be read")
            return [{**base, "kind": "skipped", "reason": reason, "message": message,
                     "fields": []}]  # fmt: skip
        if content_hash(seen.projection) != link.remote_hash:
            fields = _changed(mapping, seen.projection, link.synced)
            action = (
                "the next sync brings the change into the hub"
                if ctx.directions(stream)[0]
                else "this connection does not read these records, so change the app to match "
                "or undo the change there"
            )
            return [{**base, "kind": "changed_remote", "reason": "changed_in_system",
                     "message": "changed in the accounting system since the last sync ("
                     + ", ".join(fields) + f"): {action}", "fields": fields}]  # fmt: skip
        if record.content_hash != link.hub_hash and record.origin != ctx.origin:
            # Changed in the hub by someone else than this connection (what a push sends; a
            # pull's own change, such as an open amount read back, has nothing to send).
            try:
                projection, _ = self.projection(session, ctx, mapping, with_id(record))
            except (SkipRecord, ValidationError) as exc:
                reason, message = skip_reason(exc)
                return [{**base, "kind": "pending", "reason": reason,
                         "message": f"changed in the hub, not sent yet: {message}",
                         "fields": []}]  # fmt: skip
            if projection != link.synced:
                fields = _changed(mapping, projection, link.synced)
                return [{**base, "kind": "pending", "reason": "not_sent",
                         "message": "changed in the hub, not sent yet ("
                         + ", ".join(fields) + "): the next sync sends it",
                         "fields": fields}]  # fmt: skip
        return []

    def _read_remote(self, ctx: RunContext, stream: str) -> dict[str, Remote]:
        """Every record of the stream, page by page, as a pull would convert it."""
        ctx.connector.prepare([stream])
        found: dict[str, Remote] = {}
        for rows in self._pages(ctx, stream):
            found.update(self._convert(ctx, stream, rows))
        return found

    def _pages(self, ctx: RunContext, stream: str) -> Iterator[list[JSON]]:
        after: str | None = None
        while True:
            ctx.heartbeat()
            page = ctx.connector.read_page(stream, after, ctx.page_size)
            yield [row for row in page.records if not row.get(ROW_LINKED_ONLY)]
            if not page.more or page.after == after:
                return
            after = page.after

    def _open_amounts(
        self, ctx: RunContext, stream: str, remote: dict[str, Remote]
    ) -> dict[str, tuple[str, str]]:
        """The system's open amounts of its invoices, read from the stream attached to them
        that carries them (``_open_sources``): page by page (Uniconta's open items, which list
        only what is still open: an invoice not listed is settled), or, for a stream read by
        link, those of the invoices read here by id (Tripletex's outstanding amounts: one call
        per 100, where an invoice not returned was not read, as it was just read itself).

        Returns the invoices whose open amount could not be read, by remote id, with why: they
        keep no open amount (never counted as settled) and the report lists them."""
        unreadable: dict[str, tuple[str, str]] = {}
        for name in _open_sources(ctx, stream):
            mapping = ctx.connector.mappings[name]
            read = [rid for rid, seen in remote.items() if seen.full is not None]
            if mapping.read_by_link:
                ctx.heartbeat()
                rows = list(ctx.connector.fetch_many(name, read).values()) if read else []
            else:
                rows = [row for page in self._pages(ctx, name) for row in page]
            amounts: dict[str, Any] = {}
            for row in rows:
                remote_id = mapping.remote_id(row)
                try:
                    amounts[remote_id] = mapping.to_canonical(row, {}).get("amount_open")
                except SkipRecord as exc:
                    unreadable[remote_id] = skip_reason(exc)
            for remote_id, seen in remote.items():
                if seen.full is None:
                    continue
                if remote_id not in amounts and mapping.read_by_link:
                    unreadable.setdefault(remote_id, OPEN_NOT_RETURNED)
                if remote_id in unreadable:
                    seen.full = {**seen.full, "amount_open": None}
                else:
                    seen.full = {**seen.full, "amount_open": amounts.get(remote_id) or "0"}
        return unreadable

    def _convert(self, ctx: RunContext, stream: str, rows: list[JSON]) -> dict[str, Remote]:
        mapping = ctx.mapping(stream)
        converted: dict[str, Remote] = {}
        with self._sessions() as session:
            references = self.resolve_inbound(session, ctx, mapping, rows)
        for row, refs in zip(rows, references, strict=True):
            remote_id = mapping.remote_id(row)
            day = mapping.remote_date(row)
            if isinstance(refs, SkipRecord):
                converted[remote_id] = Remote(None, None, skip_reason(refs), day)
                continue
            try:
                projection, full = self.validated(mapping, mapping.to_canonical(row, refs))
            except (SkipRecord, ValidationError) as exc:
                converted[remote_id] = Remote(None, None, skip_reason(exc), day)
                continue
            except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
                reason = ("invalid_remote_data", f"{type(exc).__name__}: {exc}")
                converted[remote_id] = Remote(None, None, reason, day)
                continue
            stated = full.get("date")
            converted[remote_id] = Remote(projection, full, None, str(stated) if stated else day)
        return converted


def _open_sources(ctx: RunContext, stream: str) -> list[str]:
    """The streams attached to an invoice stream that carry the system's open amounts of its
    invoices: read for every report when the invoices' mapping ``reads_open_amount``
    (Uniconta's open items), else only while the connection reads them into the hub
    (Tripletex's ``payment_status``): without them the hub's side is never known."""
    reads_always = ctx.mapping(stream).reads_open_amount
    return [
        name
        for name, m in ctx.connector.mappings.items()
        if m.attach_to == stream
        and m.inbound
        and "amount_open" in m.fields
        and (reads_always or ctx.directions(name)[0])
    ]


def _in_period(
    period: Period, seen: Remote, link: Link | None, records: dict[str, HubRecord]
) -> bool:
    """Whether a remote record of a dated stream belongs to the period: by its date, else
    (when even its wire form carries none) by its linked hub record; a record that can be
    dated by neither is listed in every report until it syncs."""
    if seen.day is not None:
        return period.holds(seen.day)
    return link is None or link.record_id in records


def _at_code_rates(invoice: JSON, rates: Mapping[str, Decimal]) -> JSON:
    """The invoice with each line that names a VAT code but no rate given its code's rate in
    the system: the rate the system books its VAT at, where the hub's record leaves it out
    (an invoice made through the API with codes only). Other lines are left as they are."""
    lines = invoice.get("lines")
    if not isinstance(lines, list) or not rates:
        return invoice
    filled = [
        {**line, "vat_rate": str(rates[line["vat_code"]])}
        if isinstance(line, dict) and line.get("vat_rate") is None
        and line.get("vat_code") in rates
        else line
        for line in lines
    ]  # fmt: skip
    return {**invoice, "lines": filled}


def _booked_total(invoice: JSON, rounding: VatRounding) -> Decimal | None:
    """An invoice's gross total as the system books it; None if it cannot be read."""
    try:
        return Invoice.model_validate(invoice).booked_total(rounding)
    except ValidationError:
        return None


def _changed(mapping: EntityMapping, current: JSON, synced: JSON) -> list[str]:
    """The mapping's fields whose value differs from what was last synced."""
    return sorted(name for name in mapping.fields if current.get(name) != synced.get(name))
