"""Work statistics of one client company and month, and when a month's summary is imported.

Figures come from the client's own company (accountant login access: the company id is the
Basic-auth user name), with the endpoints ``docs/connector-tripletex.md`` lists per figure:
counts, and sums of posting amounts in NOK read from the same postings list.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from ledgerbridge.connectors.base import DataField
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
AMOUNT_METRICS: tuple[str, ...] = ("sales_amount", "purchase_amount", "bank_inflow", "bank_outflow")
"""Sums in NOK (two decimals); each is positive in the usual direction (see ``_add_posting``)."""
DATA_FIELDS: dict[str, DataField] = {
    "sale_entries": DataField("Sale entries", "count", "Vouchers of type Utgående faktura "
                              "(invoices and credit notes)", common=True),
    "purchase_entries": DataField("Purchase entries", "count", "Vouchers of type "
                                  "Leverandørfaktura", common=True),
    "bank_transactions": DataField("Bank transactions", "count", "Postings on a bank "
                                   "account", common=True),
    "documents": DataField("Documents", "count", "Vouchers of the month with an attachment",
                           common=True),
    "incoming_payments": DataField("Incoming payments", "count", "Innbetaling vouchers"),
    "outgoing_payments": DataField("Outgoing payments", "count", "Utbetaling vouchers"),
    "payroll_entries": DataField("Payroll entries", "count", "Lønnsbilag vouchers"),
    "journal_entries": DataField("Journal entries", "count", "Memorialbilag vouchers"),
    "travel_expenses": DataField("Travel expenses", "count", "Reiseregning vouchers"),
    "employee_expenses": DataField("Employee expenses", "count", "Ansattutlegg vouchers"),
    "bank_reconciliations": DataField("Bank reconciliations", "count", "Bankavstemming "
                                      "vouchers"),
    "vat_returns": DataField("VAT returns", "count", "Mva-melding vouchers"),
    "vouchers": DataField("Vouchers", "count", "All vouchers of the month"),
    "postings": DataField("Postings", "count", "All postings of the month"),
    "documents_waiting": DataField("Documents waiting", "count", "Documents in the voucher "
                                   "reception, not yet booked"),
    "sales_amount": DataField("Sales amount", "amount", "Net sales excluding VAT, NOK: "
                              "revenue postings (3000-3999) of sale vouchers"),
    "purchase_amount": DataField("Purchase amount", "amount", "Net purchases excluding VAT, "
                                 "NOK: cost postings (4000-7999) of supplier invoices"),
    "bank_inflow": DataField("Bank inflow", "amount", "Money in: debit postings on bank "
                             "accounts, NOK"),
    "bank_outflow": DataField("Bank outflow", "amount", "Money out: credit postings on bank "
                              "accounts, NOK, as a positive number"),
}  # fmt: skip
"""Every statistic a month offers the app's custom fields, as the mapping screen lists them:
the four the integration names first, then the less common ones ("Show more")."""
METRICS: tuple[str, ...] = tuple(DATA_FIELDS)
REVENUE_ACCOUNTS = range(3000, 4000)
"""NS 4102 class 3, sales and operating revenue."""
COST_ACCOUNTS = range(4000, 8000)
"""NS 4102 classes 4-7: goods, payroll and other operating costs."""
POSTING_FIELDS = "amount,account(number,isBankAccount),voucher(voucherType(id))"
"""What one postings list needs for the posting count, the bank figures and the sums."""
CENT = Decimal("0.01")
IMPORT_DAYS = ("last_work_day", "last_calendar_day")
RELOAD_MONTHS = 12
EASTER_OFFSETS = (-3, -2, 0, 1, 39, 49, 50)
"""Days from Easter Sunday of Norway's moving public holidays: Maundy Thursday, Good Friday,
Easter Sunday and Monday, Ascension Day, Whit Sunday and Monday."""
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 17), (12, 25), (12, 26))
"""(month, day) of Norway's other public holidays; 24 and 31 December are not among them."""


def shared_customers(links: Mapping[str, Any]) -> dict[str, list[str]]:
    """Tripletex customers linked from more than one client (``settings.client_links``) →
    those clients' party ids, sorted: a customer's statistics are one client's, the first's."""
    by_customer: dict[str, list[str]] = {}
    for party_id, customer_id in sorted(links.items()):
        by_customer.setdefault(str(customer_id), []).append(str(party_id))
    return {customer: parties for customer, parties in by_customer.items() if len(parties) > 1}


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
    ``types`` from ``voucher_types``, read once per company. Three lists: vouchers, postings
    (counts and every sum) and the voucher reception."""
    period = {"dateFrom": first.isoformat(), "dateTo": next_month(first).isoformat()}
    figures = dict.fromkeys(METRICS, Decimal(0))
    for voucher in client.list_all(
        "/ledger/voucher", {**period, "fields": "id,voucherType,attachment"}
    ):
        figures["vouchers"] += 1
        metric = _voucher_metric(voucher, types)
        if metric is not None:
            figures[metric] += 1
        if voucher.get("attachment"):
            figures["documents"] += 1
    for posting in client.list_all("/ledger/posting", {**period, "fields": POSTING_FIELDS}):
        _add_posting(figures, posting, types)
    figures["documents_waiting"] = Decimal(
        _count(client, "/ledger/voucher/>voucherReception", period)
    )
    for name in AMOUNT_METRICS:
        figures[name] = figures[name].quantize(CENT, ROUND_HALF_UP)
    return figures


def _count(client: TripletexClient, path: str, params: dict[str, Any]) -> int:
    return sum(1 for _ in client.list_all(path, {**params, "fields": "id"}))


def _voucher_metric(voucher: dict[str, Any], types: dict[str, str]) -> str | None:
    """The count a voucher adds to, by its type's name."""
    kind = (voucher.get("voucherType") or {}).get("id")
    return VOUCHER_METRICS.get(types.get(str(kind), ""))


def _add_posting(
    figures: dict[str, Decimal], posting: dict[str, Any], types: dict[str, str]
) -> None:
    """Count one posting and add its amount (Tripletex: debit positive, credit negative).

    Postings on a bank account (``isBankAccount``) are the bank transactions: debits are the
    inflow, credits the outflow. Revenue is credited, so the sales amount subtracts the
    revenue postings of sale vouchers; costs are debited, so the purchase amount adds the cost
    postings of supplier-invoice vouchers. A credit note lowers either."""
    figures["postings"] += 1
    amount = Decimal(str(posting.get("amount") or 0))
    account = posting.get("account") or {}
    number = int(account.get("number") or 0)
    metric = _voucher_metric(posting.get("voucher") or {}, types)
    if account.get("isBankAccount"):
        figures["bank_transactions"] += 1
        if amount > 0:
            figures["bank_inflow"] += amount
        else:
            figures["bank_outflow"] -= amount
    if metric == "sale_entries" and number in REVENUE_ACCOUNTS:
        figures["sales_amount"] -= amount
    elif metric == "purchase_entries" and number in COST_ACCOUNTS:
        figures["purchase_amount"] += amount


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday by the anonymous Gregorian (Meeus/Jones/Butcher) algorithm,
    so the holiday calendar needs no dependency."""
    golden = year % 19
    century, rest = divmod(year, 100)
    leap_centuries, century_remainder = divmod(century, 4)
    moon_correction = (century - (century + 8) // 25 + 1) // 3
    epact = (19 * golden + century - leap_centuries - moon_correction + 15) % 30
    quarters, year_remainder = divmod(rest, 4)
    weekday = (32 + 2 * century_remainder + 2 * quarters - epact - year_remainder) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """Norway's public holidays (helligdager and 1 and 17 May) of one year."""
    easter = easter_sunday(year)
    return frozenset(
        {easter + timedelta(days=offset) for offset in EASTER_OFFSETS}
        | {date(year, month, day) for month, day in FIXED_HOLIDAYS}
    )


def import_day(rule: Any, first: date) -> date:
    """The day the summary of the month starting ``first`` is imported: its last work day
    (Monday to Friday, not a Norwegian public holiday), its last calendar day, or day 1-28 of
    the following month."""
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if rule == "last_calendar_day":
        return last
    if rule == "last_work_day":
        while last.weekday() >= 5 or last in public_holidays(last.year):
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
