"""An acquirer's payouts as a person checks them: each payout with its lines, which of them
PayMatch matched to an invoice and which went to the error account, the cash-journal postings
made of it, and the link to each posting in the accounting system (docs/paymatch.md)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.engine.hub import connection_origin
from ledgerbridge.runtime.paymatch import WAITING
from ledgerbridge.services.errors import NotFound
from ledgerbridge.services.records import RecordService
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import SyncIssue
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
PAYMATCH_STREAM = "payouts"
"""The stream PayMatch files its issues under (a payout waiting for an invoice, skipped)."""


def line_states(payout: JSON, postings: list[JSON]) -> list[JSON]:
    """Each payout line with its state: ``matched`` (to ``invoice`` when the posting names
    it), ``unmatched`` (on the error account, with the ``reason``) or ``pending`` (no posting
    yet). A late match's receivable line turns an unmatched line matched."""
    invoices: dict[str, str | None] = {}
    errors: dict[str, str | None] = {}
    for posting in postings:
        for line in posting.get("lines", []):
            line_id = line.get("payout_line_id")
            if not line_id:
                continue
            if line.get("role") == "receivable":
                invoices[line_id] = line.get("invoice")
            elif line.get("role") == "error" and posting.get("kind") == "payout":
                errors[line_id] = line.get("reason")
    shown = []
    for line in payout.get("lines", []):
        line_id = line.get("line_id")
        if line_id in invoices:
            state, reason, invoice = "matched", None, invoices[line_id]
        elif line_id in errors:
            state, reason, invoice = "unmatched", errors[line_id], None
        elif postings:
            state, reason, invoice = "matched", None, None
        else:
            state, reason, invoice = "pending", None, None
        shown.append({**line, "state": state, "reason": reason, "invoice": invoice})
    return shown


def payout_errors(postings: list[JSON]) -> int:
    """The error-account lines of the payout's own posting that are of no payout line: a
    difference between the deposit and its lines, or a payout that is not itemised (its
    whole net). No late match moves them: they stay for a person."""
    return sum(
        1
        for posting in postings
        if posting.get("kind") == "payout"
        for line in posting.get("lines", [])
        if line.get("role") == "error" and not line.get("payout_line_id")
    )


class PayoutService:
    def __init__(self, session_factory: sessionmaker[Session], records: RecordService) -> None:
        self._sessions = session_factory
        self._records = records

    def list_payouts(self, principal: Principal, connection_id: str, limit: int = 50) -> list[JSON]:
        """The connection's payouts, newest arrival first, each with its lines' states, its
        postings (each with its ``sync``: where it was written, with the link into the
        accounting system when it has one, or why not) and PayMatch's open issue."""
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"connection {connection_id} not found")
            payouts = list(
                session.scalars(
                    sa.select(HubRecord)
                    .where(
                        HubRecord.tenant_id == principal.tenant_id,
                        HubRecord.entity == "payout",
                        HubRecord.origin == connection_origin(connection_id),
                        HubRecord.deleted.is_(False),
                    )
                    .order_by(
                        HubRecord.data["arrival_date"].as_string().desc(),
                        HubRecord.updated_at.desc(),
                    )
                    .limit(limit)
                )
            )
            ids = [str(p.data.get("source_id")) for p in payouts]
            postings = self._postings(session, principal.tenant_id, ids)
            issues = self._issues(session, principal.tenant_id, ids)
        links = self._records.sync_states(
            principal, [p["id"] for found in postings.values() for p in found]
        )
        shown = []
        for record in payouts:
            data = record.data
            key = (str(data.get("provider")), str(data.get("source_id")))
            made = [{**p, "sync": links.get(p["id"], [])} for p in postings.get(key, [])]
            lines = line_states(data, made)
            unmatched = sum(1 for line in lines if line["state"] == "unmatched")
            unmatched += payout_errors(made)
            if not made:
                # Only a payout waiting for its invoices will be posted by itself; one not
                # paid, before the start date or invalid is not posted, its issue says why.
                issue = issues.get(key[1]) or {}
                state = "waiting" if issue.get("reason") == WAITING else "not_posted"
            else:
                state = "unmatched" if unmatched else "matched"
            shown.append(
                {
                    "id": record.id,
                    **{k: v for k, v in data.items() if k != "lines"},
                    "lines": lines,
                    "postings": made,
                    "state": state,
                    "unmatched": unmatched,
                    "issue": issues.get(key[1]),
                }
            )
        return shown

    @staticmethod
    def _postings(
        session: Session, tenant_id: str, payout_ids: list[str]
    ) -> dict[tuple[str, str], list[JSON]]:
        if not payout_ids:
            return {}
        column = HubRecord.data["payout_id"].as_string()
        rows = session.scalars(
            sa.select(HubRecord)
            .where(
                HubRecord.tenant_id == tenant_id,
                HubRecord.entity == "journal_posting",
                HubRecord.deleted.is_(False),
                column.in_(payout_ids),
            )
            .order_by(HubRecord.created_at, HubRecord.id)
        )
        found: dict[tuple[str, str], list[JSON]] = {}
        for row in rows:
            key = (str(row.data.get("provider")), str(row.data.get("payout_id")))
            found.setdefault(key, []).append({"id": row.id, **row.data})
        return found

    @staticmethod
    def _issues(session: Session, tenant_id: str, payout_ids: list[str]) -> dict[str, JSON]:
        if not payout_ids:
            return {}
        rows = session.scalars(
            sa.select(SyncIssue)
            .join(Connection, Connection.id == SyncIssue.connection_id)
            .where(
                Connection.tenant_id == tenant_id,
                SyncIssue.stream == PAYMATCH_STREAM,
                SyncIssue.key.in_(payout_ids),
            )
        )
        return {row.key: {"reason": row.reason_code, "message": row.message} for row in rows}
