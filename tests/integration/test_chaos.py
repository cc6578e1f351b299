"""The chaos harness's short variant: each system's push under 10 % mixed sandbox faults and
two ``kill -9`` of the engine's processes, on the suite's database (SQLite, or PostgreSQL with
``LEDGERBRIDGE_TEST_DATABASE``), with nothing lost, duplicated or damaged.

Everything is real: the sandboxes serve on loopback, ``ledgerbridge serve`` (and on
PostgreSQL a ``ledgerbridge worker``) run as child processes and are killed with SIGKILL. Every
wait is bounded (``QUICK``), so a failing engine makes the test fail in bounded time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from benchmarks.chaos import (
    QUICK,
    Options,
    Report,
    ShopOrder,
    Target,
    Till,
    Uniconta,
    Webshop,
    run_scenario,
    table,
)

# Long, but part of the default run (CI runs every test, ``slow`` ones included).
pytestmark = pytest.mark.slow


def _explain(report: Report) -> str:
    return (
        f"{table([report])}\nfailures: {report.failures}\nopen issues: {report.issue_reasons}"
        f"\nengine log (end):\n{report.log_tail}"
    )


@pytest.mark.parametrize("system", ["uniconta", "qonto", "tripletex"])
def test_push_under_faults_and_kills_loses_and_duplicates_nothing(
    system: str, db_url: str, tmp_path: Path
) -> None:
    report = run_scenario(system, db_url, QUICK, tmp_path)
    print(table([report]))
    assert report.records == QUICK.records, _explain(report)
    assert report.kills == QUICK.kills, _explain(report)
    assert sum(report.faults.values()) > 0, "the sandbox injected no fault"
    assert report.failures == [], _explain(report)
    assert report.linked == report.records, _explain(report)


def test_the_comparison_sees_a_duplicate_and_a_dangling_link(db_url: str, tmp_path: Path) -> None:
    """Without faults or kills, a second order planted for one hub invoice and a customer
    removed behind the hub's back are counted: the harness measures, it does not just print
    zeros."""

    def plant(target: Target) -> None:
        assert isinstance(target, Uniconta)
        twice = sorted(target.remote_documents()["invoices"])[0]
        first, second = target.sandbox.all(target.company, "DebtorClient")[:2]
        target.sandbox.insert(
            target.company,
            "DebtorOrderClient",
            {"Account": first["Account"], "OurRef": f"LB-{twice}"},
        )
        target.sandbox.delete(target.company, "DebtorClient", second["Account"])

    calm = Options(records=6, fault_rate=0, kills=0, timeout=30, setup_timeout=30)
    report = run_scenario("uniconta", db_url, calm, tmp_path, before_comparison=plant)
    assert report.sync_seconds is not None, _explain(report)
    assert (report.duplicated_remote, report.lost, report.neither) == (1, 1, 0), _explain(report)
    assert report.failures == ["lost=1", "duplicated_remote=1"]


def test_webshop_orders_under_faults_and_kills_are_each_booked_once(
    db_url: str, tmp_path: Path
) -> None:
    """Orders made in the shop while the engine is killed, webhooks repeated 2-9 times and
    some missed, the shop, Uniconta and its booking service faulted: each paid order is one
    booked invoice with the order's lines, each refund one credit note, each e-mail one
    debtor."""
    # Orders come in while the kills go on, refunds once their invoice is booked, and an
    # order whose every delivery was missed waits for the next pull: a longer bound.
    quick = replace(QUICK, timeout=90.0, grace=30.0)
    report = run_scenario("webshop", db_url, quick, tmp_path)
    print(table([report]))
    assert report.records >= QUICK.records, _explain(report)
    assert report.kills == quick.kills, _explain(report)
    assert sum(report.faults.values()) > 0, "the sandboxes injected no fault"
    assert report.failures == [], _explain(report)
    assert report.linked + report.unbooked == report.records, _explain(report)


def test_the_webshop_comparison_sees_second_documents_and_missing_ones(
    db_url: str, tmp_path: Path
) -> None:
    """Without faults or kills: an order booked twice and a debtor made twice for one e-mail
    are counted as duplicates; a paid order nobody booked (planted in what the harness made)
    is lost with neither invoice nor issue, and a refund without its credit note is lost."""

    def plant(target: Target) -> None:
        assert isinstance(target, Webshop)
        sandbox, company = target.sandbox, target.company
        twice = next(
            row
            for row in sandbox.all(company, "DebtorInvoiceClient")
            if row.get("YourRef") and not row.get("Settlements")
        )
        sandbox.load(company, "DebtorInvoiceClient", [{**twice, "InvoiceNumber": 999_001}])
        debtor = next(r for r in sandbox.all(company, "DebtorClient") if r.get("ContactEmail"))
        sandbox.load(company, "DebtorClient", [{**debtor, "Account": "999001"}])
        target.orders["999001"] = ShopOrder(
            "999001", "kunde0@kaos.example", "quickpay", Counter({"KAOS-ESP": 1}),
            Decimal("89.95"), triggers=True,
        )  # fmt: skip
        target.orders[str(twice["YourRef"])].refunds.append(Decimal("10.00"))

    calm = Options(records=8, fault_rate=0, kills=0, timeout=40, setup_timeout=30)
    report = run_scenario("webshop", db_url, calm, tmp_path, before_comparison=plant)
    assert report.sync_seconds is not None, _explain(report)
    assert (report.duplicated_remote, report.lost, report.neither) == (2, 2, 1), _explain(report)
    assert report.failures == ["lost=2", "duplicated_remote=2", "neither=1"], _explain(report)


def test_till_sales_paid_several_ways_under_faults_and_kills_are_each_registered_once(
    db_url: str, tmp_path: Path
) -> None:
    """Sales rung up at a Zettle till while the engine is killed, most paid two or three ways,
    some refunded once booked, webhooks repeated and those sent while ``serve`` is down missed,
    the till, Uniconta and its booking service faulted: each sale is one booked invoice, each
    split sale one set of payment lines in the cash journal, each part once on its method's
    account, and each refund one credit note against its sale's invoice."""
    quick = replace(QUICK, timeout=90.0, grace=30.0)
    report = run_scenario("till", db_url, quick, tmp_path)
    print(table([report]))
    assert report.records >= QUICK.records, _explain(report)  # the sales, and their refunds
    assert report.kills == quick.kills, _explain(report)
    assert sum(report.faults.values()) > 0, "the sandboxes injected no fault"
    assert report.failures == [], _explain(report)
    assert report.linked == report.records, _explain(report)


def test_the_till_comparison_sees_payment_lines_twice_missing_and_wrong(
    db_url: str, tmp_path: Path
) -> None:
    """Without faults or kills: a split sale's payment lines inserted a second time under
    another reference are a duplicate; a sale missing one of its parts' lines has that part
    lost; a sale with none of its lines and no issue is lost with neither; a part on a wrong
    amount is damaged; a refund nobody credited is lost, and a credit note of a sale never
    refunded a duplicate."""

    def plant(target: Target) -> None:
        assert isinstance(target, Till)
        sandbox, company, entity = target.sandbox, target.company, "GLDailyJournalLineClient"
        split = sorted((s for s in target.sales.values() if s.parts), key=lambda s: int(s.number))
        twice, short, none, wrong = (
            next(iter(target._payments()[sale.number].values())) for sale in split[:4]
        )
        written = ("RowId", "Amount", "AmountCur", "Created")
        number = str(twice[0]["ReferenceNumber"]).split(" ")[1]
        again = [
            {**{k: v for k, v in row.items() if k not in written},
             "ReferenceNumber": f"PAY {number} deadbeef"}
            for row in twice
        ]  # fmt: skip
        sandbox.load(company, entity, again)
        tendered = [row for row in short if row["AccountType"] != "Debtor"]
        sandbox.delete(company, entity, tendered[-1]["RowId"])
        for row in none:
            sandbox.delete(company, entity, row["RowId"])
        debit = next(row for row in wrong if row["AccountType"] != "Debtor")
        sandbox.update(company, entity, debit["RowId"], {"Debit": Decimal(str(debit["Debit"])) + 1})
        invoices = target._invoices()[0]
        planted = {sale.number for sale in split[:4]}
        uncredited, credited = [
            invoices[sale.number][0]
            for sale in sorted(target.sales.values(), key=lambda s: int(s.number))
            if sale.number not in planted and not sale.refunds
        ][:2]
        target.sales[str(uncredited["YourRef"])].refunds.append(Decimal("10.00"))
        note = {**credited, "InvoiceNumber": 999_002, "TotalAmount": Decimal("-10.00"),
                "Settlements": str(credited["InvoiceNumber"])}  # fmt: skip
        sandbox.load(company, "DebtorInvoiceClient", [note])

    calm = Options(records=10, fault_rate=0, kills=0, timeout=40, setup_timeout=30)
    report = run_scenario("till", db_url, calm, tmp_path, before_comparison=plant)
    assert report.sync_seconds is not None, _explain(report)
    assert (report.duplicated_remote, report.lost, report.neither, report.damaged) == (
        2, 3, 1, 1), _explain(report)  # fmt: skip
    assert report.failures == ["lost=3", "duplicated_remote=2", "damaged=1", "neither=1"]
