"""Monthly summaries with amounts, imported on the last work day of a month that ends with
Easter: the hub API, a real database and the Tripletex sandbox over loopback, driven by a
controllable clock (fixtures shared with ``test_tripletex.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from tests.connectors.test_tripletex_statistics import sale_invoice
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    all_of,
    link_first_client,
    settings,
    system,
    tripletex,
)

__all__ = ["settings", "system", "tripletex"]  # fixtures used by the test below

EASTER_SUMMARY = {
    **SUMMARY,
    "import_day": "last_work_day",
    "fields": {"sale_entries": "Salgsbilag", "sales_amount": "Salg", "purchase_amount": "Kjøp",
               "bank_inflow": "Inn på bank", "bank_outflow": "Ut av bank"},
}  # fmt: skip


@pytest.fixture
def clock() -> ManualClock:
    """20 March 2024: Easter Sunday is the 31st, so the 28th and 29th are holidays."""
    return ManualClock(datetime(2024, 3, 20, 9, 0, tzinfo=UTC))


def test_the_summary_of_an_easter_month_is_imported_on_the_wednesday_before_easter(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    sandbox = tripletex.sandbox
    _, _, company = link_first_client(system, tenant, tripletex, EASTER_SUMMARY)

    clock.set(datetime(2024, 3, 26, 5, 30, tzinfo=UTC))  # Tuesday, 06:30 in Oslo
    system.run_until_idle()
    assert all_of(tenant, "/period-statistics") == []
    clock.set(datetime(2024, 3, 27, 5, 30, tzinfo=UTC))  # Wednesday: the last work day
    system.run_until_idle()
    summaries = all_of(tenant, "/period-statistics")
    assert [(s["data"]["period_start"], s["data"]["period_end"]) for s in summaries] == [
        ("2024-03-01", "2024-03-31")
    ]
    metrics = summaries[0]["data"]["metrics"]
    march = [i for i in sandbox.all(company, "Invoice") if i["invoiceDate"].startswith("2024-03")]
    assert Decimal(metrics["sales_amount"]) == sum(
        (Decimal(str(i["amountExcludingVat"])) for i in march), Decimal(0)
    )
    moves = [
        Decimal(str(t["amountCurrency"]))
        for t in sandbox.all(company, "BankTransaction")
        if t["postedDate"].startswith("2024-03")
    ]
    assert Decimal(metrics["bank_inflow"]) == sum((m for m in moves if m > 0), Decimal(0))
    assert Decimal(metrics["bank_outflow"]) == -sum((m for m in moves if m < 0), Decimal(0))
    assert all(value.count(".") == 0 or len(value.split(".")[1]) == 2
               for value in metrics.values()), "amounts in NOK with øre"  # fmt: skip
    assert Decimal(metrics["purchase_amount"]) > 0 and Decimal(metrics["sales_amount"]) > 0

    with sandbox.lock:  # a sale booked on Maundy Thursday
        book = sandbox.book(company)
        vat = next(v["id"] for v in sandbox.shared["VatType"].values() if v["number"] == "3")
        sale_invoice(book, book.rows("Customer")[0]["id"], date(2024, 3, 28), "500", vat)
    for day in (28, 29):  # Maundy Thursday, then Good Friday (the weekday-only last work day)
        clock.set(datetime(2024, 3, day, 5, 30, tzinfo=UTC))
        system.run_until_idle()
    again = all_of(tenant, "/period-statistics")
    assert [s["data"]["metrics"] for s in again] == [metrics], "March is not imported twice"
