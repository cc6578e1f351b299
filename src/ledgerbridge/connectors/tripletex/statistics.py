"""Work statistics of one client company and month, and when a month's summary is imported.

Counts come from the client's own company (accountant login access: the company id is the
Basic-auth user name), with the endpoints ``docs/sandbox-tripletex.md`` lists per figure.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledgerbridge.connectors.tripletex.client import TripletexClient

VOUCHER_METRICS: dict[str, str] = {
    "Utgående faktura": "sale_entries",
    "Leverandørfaktura": "purchase_entries",
    "Innbetaling": "incoming_payments",
    "Utbetaling": "outgoing_payments",
    "Lønnsbilag": "payroll_entries",
    "Memorialbilag": "journal_entries",
    "Reiseregning": "travel_expenses",
    "Ansattutlegg": "employee_expenses",
    "Bankavstemming": "bank_reconciliations",
    "Mva-melding": "vat_returns",
}
"""Voucher type names (ids differ per company) → metric."""
METRICS: tuple[str, ...] = (
    *VOUCHER_METRICS.values(),
    "vouchers",
    "postings",
    "bank_transactions",
    "documents",
    "documents_waiting",
)
BANK_ACCOUNT = 1920
"""The bank account whose postings are the month's bank transactions."""
IMPORT_DAYS = ("last_work_day", "last_calendar_day")
RELOAD_MONTHS = 12


def next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def voucher_types(client: TripletexClient) -> dict[str, str]:
    """The company's voucher type ids → names (ids differ per company)."""
    return {
        str(t["id"]): str(t.get("name"))
        for t in client.list_all("/ledger/voucherType", {"fields": "id,name"})
    }


def month_statistics(
    client: TripletexClient, first: date, types: dict[str, str]
) -> dict[str, Decimal]:
    """Every metric of one company for the month starting ``first`` (``dateTo`` excluded);
    ``types`` from ``voucher_types``, read once per company."""
    period = {"dateFrom": first.isoformat(), "dateTo": next_month(first).isoformat()}
    counts = dict.fromkeys(METRICS, 0)
    for voucher in client.list_all(
        "/ledger/voucher", {**period, "fields": "id,voucherType,attachment"}
    ):
        counts["vouchers"] += 1
        kind = (voucher.get("voucherType") or {}).get("id")
        metric = VOUCHER_METRICS.get(types.get(str(kind), ""))
        if metric is not None:
            counts[metric] += 1
        if voucher.get("attachment"):
            counts["documents"] += 1
    counts["postings"] = _count(client, "/ledger/posting", period)
    bank = {"accountNumberFrom": BANK_ACCOUNT, "accountNumberTo": BANK_ACCOUNT}
    counts["bank_transactions"] = _count(client, "/ledger/posting", {**period, **bank})
    counts["documents_waiting"] = _count(client, "/ledger/voucher/>voucherReception", period)
    return {name: Decimal(value) for name, value in counts.items()}


def _count(client: TripletexClient, path: str, params: dict[str, Any]) -> int:
    return sum(1 for _ in client.list_all(path, {**params, "fields": "id"}))


def import_day(rule: Any, first: date) -> date:
    """The day the summary of the month starting ``first`` is imported: its last work day
    (Monday to Friday), its last calendar day, or day 1-28 of the following month."""
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if rule == "last_calendar_day":
        return last
    if rule == "last_work_day":
        while last.weekday() >= 5:
            last -= timedelta(days=1)
        return last
    return next_month(first).replace(day=int(rule))


def due_months(rule: Any, today: date) -> list[date]:
    """First days of the months whose summary is imported ``today``."""
    this_month = today.replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    return [first for first in (previous, this_month) if import_day(rule, first) == today]


def last_months(today: date, count: int) -> list[date]:
    """First days of the ``count`` months before the current one, oldest first."""
    months = [today.replace(day=1)]
    for _ in range(count):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    return sorted(months[1:])


def valid_rule(rule: Any) -> bool:
    if rule in IMPORT_DAYS:
        return True
    return isinstance(rule, int) and not isinstance(rule, bool) and 1 <= rule <= 28
