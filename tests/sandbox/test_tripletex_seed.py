"""Seeding: deterministic, realistic Norwegian data and the 200-client benchmark helper."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from stdnum.no import orgnr

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.tripletex import TripletexSandbox
from ledgerbridge.sandbox.tripletex.seed import (
    months_back,
    seed_accounting_firm,
    seed_customers,
    seed_products,
    seed_work_statistics,
)

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _sandbox() -> TripletexSandbox:
    """A sandbox on the fixed test clock."""
    return TripletexSandbox(clock=ManualClock(START), seed=11)


def test_same_seed_same_data_lazy_or_eager() -> None:
    """Two sandboxes with one seed hold identical data, whether seeded eagerly or lazily."""
    eager, lazy = _sandbox(), _sandbox()
    first = seed_accounting_firm(eager, clients=2, seed=5, lazy=False)
    second = seed_accounting_firm(lazy, clients=2, seed=5, lazy=True)
    assert first == second
    for client in reversed(first.client_ids):
        for model in ("Customer", "Product", "Voucher", "Posting", "BankTransaction", "Document"):
            assert eager.all(client, model) == lazy.all(client, model), model
    assert eager.all(first.firm_id, "Customer") == lazy.all(first.firm_id, "Customer")
    other = _sandbox()
    third = seed_accounting_firm(other, clients=2, seed=6, lazy=False)
    assert other.all(third.client_ids[0], "Voucher") != eager.all(first.client_ids[0], "Voucher")


def test_norwegian_details_are_valid() -> None:
    """Organisation numbers pass mod 11; the firm's customers mirror its client companies."""
    sandbox = _sandbox()
    firm = seed_accounting_firm(sandbox, clients=8, other_customers=3)
    customers = sandbox.all(firm.firm_id, "Customer")
    assert len(customers) == 11
    numbers = [c["organizationNumber"] for c in customers if "organizationNumber" in c]
    assert numbers and all(orgnr.is_valid(n) for n in numbers)
    for client_id in firm.client_ids:
        company = sandbox.shared["Company"][client_id]
        assert orgnr.is_valid(company["organizationNumber"])
        assert company["organizationNumber"] in numbers
    address = sandbox.all(firm.firm_id, "Customer")[0]["postalAddress"]
    assert set(address) == {"id", "url"}


def test_work_statistics_cover_thirteen_months() -> None:
    """Vouchers of several types in every month; every voucher balances."""
    sandbox = _sandbox()
    company = sandbox.add_company("Fjord Rør AS", "923609016")
    seed_work_statistics(sandbox, company.id, months=13, seed=2)
    with sandbox.lock:
        book = sandbox.book(company.id)
        types = {row["id"]: row["name"] for row in book.rows("VoucherType")}
        vouchers = [v for v in book.rows("Voucher") if not v.get("_reception")]
        per_month = Counter(v["date"][:7] for v in vouchers)
        kinds = Counter(types[v["voucherType"]] for v in vouchers)
        for voucher in vouchers:
            amounts = [book.table("Posting")[p]["amount"] for p in voucher["postings"]]
            assert sum(amounts) == 0
    assert sorted(per_month) == [f"{m:%Y-%m}" for m in months_back(date(2026, 3, 10), 13)]
    assert {"Utgående faktura", "Leverandørfaktura", "Innbetaling", "Bankavstemming"} <= set(kinds)
    assert max(v["date"] for v in vouchers) <= "2026-03-10"


def test_customers_and_products_helpers() -> None:
    """Standalone helpers for a company's customers and the firm's services."""
    sandbox = _sandbox()
    company = sandbox.add_company("Nordlys Regnskap AS")
    assert len(seed_customers(sandbox, company.id, count=25, seed=4)) == 25
    assert len(seed_products(sandbox, company.id)) == 12
    names = [p["name"] for p in sandbox.all(company.id, "Product")]
    assert "MVA-melding" in names


def test_benchmark_firm_with_two_hundred_clients_is_cheap_until_read() -> None:
    """200 linked clients are created in well under a second; books appear on first access."""
    sandbox = _sandbox()
    firm = seed_accounting_firm(sandbox, clients=200, seed=1)
    assert len(firm.client_ids) == 200
    assert sandbox.employee(firm.employee_id).login_access == firm.client_ids
    last = sandbox.company(firm.client_ids[-1])
    assert last.book.pending_seed is not None
    assert sandbox.all(last.id, "Voucher")
    assert last.book.pending_seed is None
