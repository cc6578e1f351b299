"""When a month's summary is imported (Norway's public holidays included), how statistics
become summary metrics, and the figures of a month of hand-made books read from the sandbox
over loopback, every request and answer checked against the official spec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from werkzeug.wrappers import Response

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.tripletex.client import TripletexClient
from ledgerbridge.connectors.tripletex.mapping import StatisticsMapping
from ledgerbridge.connectors.tripletex.statistics import (
    METRICS,
    due_months,
    easter_sunday,
    import_day,
    last_months,
    month_statistics,
    public_holidays,
    valid_rule,
    voucher_types,
)
from ledgerbridge.model import PeriodStatistics
from ledgerbridge.sandbox.tripletex import SandboxServer, TripletexSandbox
from ledgerbridge.sandbox.tripletex.books import (
    BANK_RECONCILIATION,
    MANUAL,
    OUTGOING_PAYMENT,
    SUPPLIER_INVOICE,
    Book,
    Posting,
)
from tests.connectors.test_tripletex_contract import Recording, TripletexRequest
from tests.specs import spec_path

SPEC = spec_path("tripletex/tripletex-openapi-2.74.00.json")


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2004, date(2004, 4, 11)),
        (2018, date(2018, 4, 1)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2029, date(2029, 4, 1)),
        (2038, date(2038, 4, 25)),  # the latest possible date
        (2057, date(2057, 4, 22)),
        (2285, date(2285, 3, 22)),  # the earliest possible date
    ],
)
def test_easter_sunday(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_public_holidays_of_2024() -> None:
    assert sorted(public_holidays(2024)) == [
        date(2024, 1, 1),
        date(2024, 3, 28),  # Maundy Thursday
        date(2024, 3, 29),  # Good Friday
        date(2024, 3, 31),  # Easter Sunday
        date(2024, 4, 1),  # Easter Monday
        date(2024, 5, 1),
        date(2024, 5, 9),  # Ascension Day
        date(2024, 5, 17),
        date(2024, 5, 19),  # Whit Sunday
        date(2024, 5, 20),  # Whit Monday
        date(2024, 12, 25),
        date(2024, 12, 26),
    ]


@pytest.mark.parametrize(
    ("rule", "month", "expected"),
    [
        ("last_calendar_day", date(2026, 2, 1), date(2026, 2, 28)),
        ("last_work_day", date(2026, 5, 1), date(2026, 5, 29)),  # the 31st is a Sunday
        ("last_work_day", date(2026, 11, 1), date(2026, 11, 30)),
        # Easter 31 March: Good Friday 29 and Maundy Thursday 28 March are holidays.
        ("last_work_day", date(2024, 3, 1), date(2024, 3, 27)),
        ("last_work_day", date(2029, 3, 1), date(2029, 3, 28)),  # Good Friday on the 30th
        ("last_work_day", date(2059, 3, 1), date(2059, 3, 26)),  # Easter Monday on the 31st
        ("last_work_day", date(2004, 5, 1), date(2004, 5, 28)),  # Whit Monday on the 31st
        ("last_work_day", date(2057, 5, 1), date(2057, 5, 30)),  # Ascension Day on the 31st
        ("last_work_day", date(2285, 4, 1), date(2285, 4, 29)),  # Ascension Day on the 30th
        ("last_work_day", date(2024, 5, 1), date(2024, 5, 31)),  # May's holidays are earlier
        ("last_work_day", date(2029, 5, 1), date(2029, 5, 31)),
        ("last_work_day", date(2024, 12, 1), date(2024, 12, 31)),  # 31 December is a work day
        ("last_work_day", date(2023, 12, 1), date(2023, 12, 29)),  # the 30th and 31st: weekend
        ("last_calendar_day", date(2024, 3, 1), date(2024, 3, 31)),
        (1, date(2026, 12, 1), date(2027, 1, 1)),
        (28, date(2026, 1, 1), date(2026, 2, 28)),
    ],
)
def test_import_day(rule: object, month: date, expected: date) -> None:
    assert import_day(rule, month) == expected


def test_due_months() -> None:
    assert due_months(3, date(2026, 12, 3)) == [date(2026, 11, 1)]
    assert due_months(3, date(2026, 12, 4)) == []
    assert due_months("last_calendar_day", date(2026, 11, 30)) == [date(2026, 11, 1)]
    assert due_months("last_work_day", date(2026, 5, 31)) == []
    assert due_months("last_work_day", date(2024, 3, 27)) == [date(2024, 3, 1)]
    assert due_months("last_work_day", date(2024, 3, 29)) == [], "Good Friday"


def test_reload_months_are_the_twelve_before_the_current_one() -> None:
    months = last_months(date(2026, 1, 15), 12)
    assert months[0] == date(2025, 1, 1) and months[-1] == date(2025, 12, 1)
    assert len(set(months)) == 12


@pytest.mark.parametrize("rule", ["last_work_day", "last_calendar_day", 1, 28])
def test_valid_rules(rule: object) -> None:
    assert valid_rule(rule)


@pytest.mark.parametrize("rule", [0, 29, "monthly", True, "3"])
def test_invalid_rules(rule: object) -> None:
    assert not valid_rule(rule)


def test_only_mapped_metrics_are_imported_under_their_custom_fields() -> None:
    summary = {"title": "Month end", "topic": "Bookkeeping",
               "fields": {"sale_entries": "salgsbilag", "sales_amount": "omsetning",
                          "postings": " "}}  # fmt: skip
    mapping = StatisticsMapping(summary)
    row = {"customer": "51", "party_id": "p-1", "period_start": "2026-11-01",
           "period_end": "2026-11-30",
           "metrics": {"sale_entries": 12, "postings": 80, "sales_amount": "2450.50"}}  # fmt: skip
    assert mapping.remote_id(row) == "51:2026-11"
    stats = PeriodStatistics.model_validate(mapping.to_canonical(row, {}))
    assert stats.metrics == {"sale_entries": 12, "sales_amount": Decimal("2450.50")}
    assert stats.fields == {"salgsbilag": 12, "omsetning": Decimal("2450.50")}
    assert (stats.title, stats.topic) == ("Month end", "Bookkeeping")
    with pytest.raises(SkipRecord) as caught:
        mapping.to_canonical({**row, "_problem": "no access"}, {})
    assert caught.value.reason == "client_company_unreachable"


# ------------------------------------------------------------------ a month of books


class Exchanges(Recording):
    """A real transport that keeps every request and its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.responses.append(response)
        return response


@dataclass
class Company:
    client: TripletexClient
    exchanges: Exchanges


def sale_invoice(book: Book, customer: int, day: date, price: str, vat_type: int) -> dict[str, Any]:
    """An order of one line, charged as an invoice the same day."""
    order = book.create_order(
        {
            "customer": {"id": customer},
            "orderDate": day.isoformat(),
            "deliveryDate": day.isoformat(),
            "orderLines": [
                {"description": "Rådgivning", "count": 1,
                 "unitPriceExcludingVatCurrency": price, "vatType": {"id": vat_type}},
            ],
        },
        None,
    )  # fmt: skip
    return book.invoice_order(order["id"], day, None)


def _book_november(sandbox: TripletexSandbox, book: Book) -> None:
    """November 2026 of a small company, with a sale on each side of the month."""
    vat = {row["number"]: row["id"] for row in sandbox.shared["VatType"].values()}
    customer = book.create_customer({"name": "Havbris AS"}, None)["id"]
    credited = sale_invoice(book, customer, date(2026, 11, 3), "1000", vat["3"])  # 25 % VAT
    book.credit_invoice(credited["id"], date(2026, 11, 10), None, None)
    paid = sale_invoice(book, customer, date(2026, 11, 30), "2450.50", vat["5"])  # no VAT
    book.register_payment(paid["id"], date(2026, 11, 30), book.rows("PaymentType")[0]["id"],
                          Decimal("2450.50"), None)  # fmt: skip
    sale_invoice(book, customer, date(2026, 10, 31), "700", vat["3"])
    sale_invoice(book, customer, date(2026, 12, 1), "900", vat["3"])
    document = book.add("Document", {"fileName": "Faktura_1.pdf", "size": 20_000,
                                     "mimeType": "application/pdf"}, None)["id"]  # fmt: skip
    supplier_invoice = [Posting(6300, Decimal("8000")), Posting(2710, Decimal("2000")),
                        Posting(2400, Decimal("-10000"))]  # fmt: skip
    book.add_voucher(date(2026, 11, 5), SUPPLIER_INVOICE, "Husleie", supplier_invoice, document)
    book.add_voucher(
        date(2026, 11, 20),
        OUTGOING_PAYMENT,
        "Husleie betalt",
        [Posting(2400, Decimal("10000")), Posting(1920, Decimal("-10000"))],
    )
    book.add_voucher(
        date(2026, 11, 30),
        BANK_RECONCILIATION,
        "Bankgebyr",
        [Posting(7770, Decimal("89.90")), Posting(1920, Decimal("-89.90"))],
    )
    book.add_voucher(date(2026, 11, 30), MANUAL, "Omklassifisering",
                     [Posting(3000, Decimal("300")), Posting(3100, Decimal("-300"))])  # fmt: skip
    book.add_reception_voucher(date(2026, 11, 15), "Faktura fra Kontorland", document)


@pytest.fixture
def company() -> Iterator[Company]:
    clock = ManualClock(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    sandbox = TripletexSandbox(clock=clock, seed=11)
    consumer = sandbox.add_consumer("ledgerbridge")
    own = sandbox.add_company("Fjordlys Rådgivning AS", "912345678")
    employee = sandbox.add_employee(own.id, "Kari", "Nordmann")
    token = sandbox.issue_employee_token(employee.id, consumer.token, date(2027, 12, 31))
    with sandbox.lock:
        _book_november(sandbox, sandbox.book(own.id))
    server = SandboxServer(sandbox)
    server.start()
    exchanges = Exchanges()
    client = TripletexClient(
        base_url=server.url("production"), environment="production",
        consumer_token=consumer.token, employee_token=token.token,
        meter=lambda calls: None, clock=clock, transport=exchanges,
    )  # fmt: skip
    yield Company(client, exchanges)
    client.close()
    server.stop()
    sandbox.close()


def test_a_month_of_books_gives_its_counts_and_sums(company: Company) -> None:
    figures = month_statistics(company.client, date(2026, 11, 1), voucher_types(company.client))
    assert {name: str(value) for name, value in figures.items() if value} == {
        "sale_entries": "3",  # two invoices and a credit note
        "purchase_entries": "1",
        "incoming_payments": "1",
        "outgoing_payments": "1",
        "bank_reconciliations": "1",
        "journal_entries": "1",
        "vouchers": "8",
        "postings": "19",
        "bank_transactions": "3",
        "documents": "1",
        "documents_waiting": "1",
        # Revenue net of VAT: 1,000 credited in full, 2,450.50; not the journal's 300.
        "sales_amount": "2450.50",
        "purchase_amount": "8000.00",  # net of input VAT
        "bank_inflow": "2450.50",
        "bank_outflow": "10089.90",
    }
    assert set(figures) == set(METRICS), "a figure without activity is 0, not missing"


def test_statistics_cost_four_calls_that_match_the_official_spec(company: Company) -> None:
    month_statistics(company.client, date(2026, 11, 1), voucher_types(company.client))
    paths = [r.url.path.split("/v2", 1)[1] for r in company.exchanges.requests]
    assert paths == [
        "/token/session/:create",
        "/ledger/voucherType",
        "/ledger/voucher",
        "/ledger/posting",
        "/ledger/voucher/>voucherReception",
    ]
    if not SPEC.exists():
        pytest.skip("the Tripletex spec is not available")
    spec = OpenAPI.from_dict(json.loads(SPEC.read_text()), config=Config(spec_validator_cls=None))
    exchanges = company.exchanges
    for request, answer in zip(exchanges.requests, exchanges.responses, strict=True):
        wrapped = Response(answer.content, status=answer.status_code,
                           headers=list(answer.headers.items()))  # fmt: skip
        spec.validate_request(TripletexRequest(request))
        spec.validate_response(TripletexRequest(request), WerkzeugOpenAPIResponse(wrapped))
