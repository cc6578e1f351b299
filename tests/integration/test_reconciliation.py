"""Reconciliation reports against the Uniconta sandbox: a month of 5,000 invoices where
exactly three records differ lists those three with their reasons, the app hears of new
differences once, the report downloads as CSV and runs monthly on its own."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_invoices, seed_products
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Link
from ledgerbridge.store.tables.tenancy import WebhookDelivery
from tests.integration.conftest import (
    COMPANY,
    Tenant,
    Uniconta,
    connect,
    import_all,
    new_tenant,
    reconciled,
)
from tests.integration.test_commerce_flow import (  # noqa: F401
    POLICY,
    order_body,
    shop,
    store_policy,
)
from tests.integration.test_uniconta_integration import full

MONTH = "2026-10"
INVOICES = 5000


def _events(system: System, tenant: Tenant) -> list[dict[str, Any]]:
    with system.sessions() as session:
        return [
            payload
            for (payload,) in session.execute(
                sa.select(WebhookDelivery.payload)
                .where(
                    WebhookDelivery.tenant_id == tenant.tenant_id,
                    WebhookDelivery.event_type == "reconciliation.difference",
                )
                .order_by(WebhookDelivery.created_at)
            )
        ]


def _invoice_with_vat(uniconta: Uniconta, like: int, number: int, code: str) -> int:
    """A posted invoice like ``like`` whose line uses VAT code ``code``, which neither the
    company's VAT table nor the connection's mapping knows."""
    sandbox = uniconta.sandbox
    header = {**sandbox.get(COMPANY, "DebtorInvoiceClient", like), "InvoiceNumber": number}
    [line] = [
        ln for ln in sandbox.all(COMPANY, "DebtorInvoiceLines") if ln["InvoiceNumber"] == like
    ]
    line = {k: v for k, v in line.items() if k != "RowId"}
    sandbox.load(COMPANY, "DebtorInvoiceClient", [{**header, "OrderNumber": 0}])
    sandbox.load(COMPANY, "DebtorInvoiceLines", [{**line, "InvoiceNumber": number, "Vat": code}])
    return number


def _report(system: System, tenant: Tenant, cid: str, period: str = MONTH) -> dict[str, Any]:
    return reconciled(system, tenant, cid, period)


def sales(report: dict[str, Any], stream: str) -> dict[str, Any]:
    """The commerce totals of the one route of ``stream`` (orders or payouts)."""
    [found] = [s for s in report["totals"]["commerce"].values() if s["stream"] == stream]
    return found


def test_a_month_of_5000_invoices_with_three_differences(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=40, seed=5)
    seed_products(uniconta.sandbox, COMPANY, count=12, seed=5)
    numbers = seed_invoices(
        uniconta.sandbox, COMPANY, count=INVOICES - 1, lines=1, seed=5,
        first_date=date(2026, 10, 1), days=31,
    )  # fmt: skip
    # One more invoice carries a VAT code the connection does not map: skipped on import.
    odd = _invoice_with_vat(uniconta, numbers[0], numbers[-1] + 1, "X12")
    connection = connect(tenant, uniconta, settings=full())
    cid = connection["id"]
    tenant.api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                       "events": ["reconciliation.difference"]})  # fmt: skip
    import_all(system, tenant, cid)
    skipped_by_code = {str(odd)}
    [issue] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (issue["reason"], issue["key"]) == ("vat_code_unmapped", str(odd))

    # Changed in Uniconta only (not pulled yet), and deleted in the hub (a posted invoice
    # cannot be deleted in Uniconta; deletes are not propagated).
    changed, deleted = numbers[100], numbers[200]
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", changed, {"Date": "2026-10-30"})
    with system.sessions() as session:
        hub_id = session.scalar(
            sa.select(Link.record_id).where(
                Link.connection_id == cid, Link.stream == "invoices",
                Link.remote_id == str(deleted),
            )
        )  # fmt: skip
    assert tenant.api.delete(f"/invoices/{hub_id}").status_code == 204
    system.run_until_idle()

    calls = uniconta.calls()
    report = _report(system, tenant, cid)
    spent = uniconta.calls() - calls
    found = {(d["kind"], d["remote_id"], d["reason"]) for d in report["differences"]}
    expected = {
        ("changed_remote", str(changed), "changed_in_system"),
        ("missing_hub", str(deleted), "deleted_in_hub"),
        *(("skipped", number, "vat_code_unmapped") for number in skipped_by_code),
    }
    assert found == expected
    assert len(report["differences"]) == 2 + len(skipped_by_code)
    [change] = [d for d in report["differences"] if d["kind"] == "changed_remote"]
    assert "date" in change["fields"] and change["record_id"]
    assert report["calls"] == spent
    totals = report["totals"]
    assert totals["hub"]["counts"]["invoices"] == INVOICES - 1 - len(skipped_by_code)
    assert totals["remote"]["counts"]["invoices"] == INVOICES - len(skipped_by_code)
    # The one the hub cannot read is in Uniconta's books all the same, and counted there.
    assert totals["remote"]["counts"]["invoices_unreadable"] == len(skipped_by_code)
    csv_text = tenant.api.get(f"/connections/{cid}/reconciliations/{report['id']}.csv").text
    assert "totals,invoices unreadable (count),0,1" in csv_text
    assert totals["hub"]["counts"]["customers"] == totals["remote"]["counts"]["customers"] == 40
    [event] = _events(system, tenant)
    assert {d["remote_id"] for d in event["differences"]} == {r for _, r, _ in expected}

    # The same differences again: nothing new, no event. A new one: an event with it alone.
    assert {(d["kind"], d["remote_id"], d["reason"])
            for d in _report(system, tenant, cid)["differences"]} == expected  # fmt: skip
    assert len(_events(system, tenant)) == 1
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", numbers[300], {"Date": "2026-10-29"})
    third = _report(system, tenant, cid)
    assert len(third["differences"]) == len(expected) + 1
    events = _events(system, tenant)
    assert len(events) == 2
    assert [d["remote_id"] for d in events[1]["differences"]] == [str(numbers[300])]

    # CSV: one row per difference, then the totals of both sides.
    download = tenant.api.get(f"/connections/{cid}/reconciliations/{third['id']}.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0][:3] == ["stream", "kind", "reason"]
    assert len([r for r in rows[1:] if r and r[0] == "invoices"]) == len(third["differences"])
    assert ["totals", "invoices (count)", str(INVOICES - 1 - len(skipped_by_code)),
            str(INVOICES - len(skipped_by_code))] in rows  # fmt: skip

    listed = tenant.api.get(f"/connections/{cid}/reconciliations").json()
    assert listed[0]["id"] == third["id"] and len(listed) == 3
    took = datetime.fromisoformat(report["finished_at"]) - datetime.fromisoformat(
        report["created_at"]
    )
    print(f"\nreconciliation of {INVOICES} invoices: {spent} calls, {took.total_seconds():.1f} s")


def test_reports_run_monthly_for_the_month_that_closed(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=2)
    connection = connect(tenant, uniconta)
    cid = connection["id"]
    import_all(system, tenant, cid)
    schedules = tenant.api.get(f"/connections/{cid}").json()["schedules"]
    assert {"kind": "reconcile", "cron": "0 6 2 * *"}.items() <= next(
        s for s in schedules if s["kind"] == "reconcile"
    ).items()
    # What the schedule's slot enqueues: the job alone, without a report asked for.
    system.queue.enqueue(Command("reconcile", connection_id=cid, tenant_id=tenant.tenant_id))
    system.run_until_idle()
    [report] = tenant.api.get(f"/connections/{cid}/reconciliations").json()
    today = system.clock.now().astimezone(ZoneInfo(connection["timezone"])).date()  # as the job
    last = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    assert (report["trigger"], report["period"], report["status"]) == (
        "schedule", last.strftime("%Y-%m"), "done")  # fmt: skip
    assert report["differences_count"] == 0


def test_bad_periods_and_roles_are_refused(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    cid = connection["id"]
    assert (
        tenant.api.post(
            f"/connections/{cid}/reconciliations", json={"period": "2026-13"}
        ).status_code
        == 422
    )
    assert (
        tenant.api.post(
            f"/connections/{cid}/reconciliations", json={"period": "2026-10"}
        ).status_code
        == 422
    )  # not imported yet
    assert tenant.api.get(f"/connections/{cid}/reconciliations/nope").status_code == 404
    assert tenant.api.get(f"/connections/{cid}/reconciliations/nope.csv").status_code == 404


def test_orders_of_a_shop_route_against_their_invoices(
    system: System,
    tenant: Tenant,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    cid = shop["connection"]["id"]
    assert tenant.api.post("/orders", json=order_body(shop["sku"])).status_code == 201
    unpaid = order_body(shop["sku"], source_id="5002", number="5002", state="pending",
                        paid_at=None)  # fmt: skip
    assert tenant.api.post("/orders", json=unpaid).status_code == 201
    system.run_until_idle()

    report = _report(system, tenant, cid, "2026-11")
    orders = sales(report, "orders")
    assert (orders["count"], orders["booked"]) == (2, 1)
    assert orders["amounts"]["DKK"] == {"source": "597.50", "booked": "298.75"}
    [difference] = report["differences"]
    assert (difference["stream"], difference["kind"]) == ("orders", "skipped")
    assert difference["reason"] == "state_not_triggering"


def test_an_order_cancelled_before_booking_is_nothing_due(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    cid, route = shop["connection"]["id"], shop["route"]
    states = {"on-hold": "create_order", "processing": "create_invoice"}
    body = {"source": "app", "target": cid, "entities": ["party"],
            "commerce": {"policy": {**POLICY, "states": states}, "rules": {}}}  # fmt: skip
    assert tenant.api.put(f"/routes/{route['id']}", json=body).status_code == 200
    assert tenant.api.post("/orders", json=order_body(shop["sku"])).status_code == 201
    held = order_body(shop["sku"], source_id="5002", number="5002", state="on-hold",
                      paid_at=None)  # fmt: skip
    record = tenant.api.post("/orders", json=held).json()
    system.run_until_idle()
    assert len(uniconta.sandbox.all(COMPANY, "DebtorOrderClient")) == 1
    cancelled = {**held, "state": "cancelled"}
    assert tenant.api.put(f"/orders/{record['id']}", json=cancelled).status_code == 200
    system.run_until_idle()
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []

    report = _report(system, tenant, cid, "2026-11")
    orders = sales(report, "orders")
    assert (orders["count"], orders["booked"]) == (1, 1)
    assert [d for d in report["differences"] if d["stream"] == "orders"] == []


def test_a_report_past_the_budget_it_may_use_waits_for_the_next_quota_day(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=4)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    # The day's budget is what was used so far: a report may not take the last 20 %.
    limit = uniconta.calls() + 1
    changed = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"daily_call_limit": limit}}
    )
    assert changed.status_code == 200, changed.text
    calls = uniconta.calls()
    started = tenant.api.post(f"/connections/{cid}/reconciliations", json={"period": MONTH})
    system.run_until_idle()
    report = tenant.api.get(f"/connections/{cid}/reconciliations/{started.json()['id']}").json()
    assert report["status"] == "deferred"
    assert "deferred to the next day" in report["message"]
    assert uniconta.calls() == calls


def test_an_invoice_moved_into_the_month_on_one_side_is_a_change_not_a_missing_record(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=8)
    seed_products(uniconta.sandbox, COMPANY, count=3, seed=8)
    numbers = seed_invoices(uniconta.sandbox, COMPANY, count=4, lines=1, seed=8,
                            first_date=date(2026, 10, 20), days=30)  # fmt: skip
    cid = connect(tenant, uniconta, settings=full())["id"]
    import_all(system, tenant, cid)
    november = numbers[-1]
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", november, {"Date": "2026-10-31"})

    report = _report(system, tenant, cid)
    [moved] = report["differences"]
    assert (moved["kind"], moved["remote_id"]) == ("changed_remote", str(november))
    assert "date" in moved["fields"]


def test_orders_count_as_booked_by_the_invoices_the_accounting_system_holds(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    cid = shop["connection"]["id"]
    sku = shop["sku"]
    for number, item in (("5001", sku), ("5002", "NOSUCH"), ("5003", sku)):
        body = order_body(item, source_id=number, number=number)
        assert tenant.api.post("/orders", json=body).status_code == 201
    system.run_until_idle()
    # Uniconta's invoice of 5003 holds one line more than the order (a fee added there).
    [booked] = [i for i in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
                if i.get("YourRef") == "5003"]  # fmt: skip
    lines = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
             if ln["InvoiceNumber"] == booked["InvoiceNumber"]]  # fmt: skip
    fee = {k: v for k, v in lines[-1].items() if k not in ("RowId", "Item")}
    uniconta.sandbox.load(COMPANY, "DebtorInvoiceLines", [{
        **fee, "LineNumber": lines[-1]["LineNumber"] + 1, "Text": "Gebyr", "InvoiceQty": 1,
        "SalesPrice": 20, "NetAmount": 20,
    }])  # fmt: skip

    report = _report(system, tenant, cid, "2026-11")
    orders = sales(report, "orders")
    assert (orders["count"], orders["booked"]) == (3, 2)
    assert orders["amounts"]["DKK"]["source"] == "896.25"
    assert orders["amounts"]["DKK"]["booked"] == "622.50"  # 2 × 298.75 + 20 and its VAT
    found = {(d["kind"], d["reason"]) for d in report["differences"] if d["stream"] == "orders"}
    assert found == {("skipped", "product_missing"), ("differs", "booked_total_differs")}
    [differs] = [d for d in report["differences"] if d["kind"] == "differs"]
    assert differs["message"].endswith(
        ": check the invoice there against the order and correct the difference with a credit "
        "note or a new invoice"
    )


def _credit_note(uniconta: Uniconta, like: int, number: int) -> int:
    """A posted credit note of invoice ``like`` without a payment term and due on its date
    (the hub reads a term of 0 days, which no Uniconta term maps), with its open item."""
    sandbox = uniconta.sandbox
    header = sandbox.get(COMPANY, "DebtorInvoiceClient", like)
    [line] = [
        ln for ln in sandbox.all(COMPANY, "DebtorInvoiceLines") if ln["InvoiceNumber"] == like
    ]
    line = {k: v for k, v in line.items() if k != "RowId"}
    sandbox.load(COMPANY, "DebtorInvoiceClient", [{
        **header, "InvoiceNumber": number, "OrderNumber": 0, "Payment": None,
        "DueDate": header["Date"],
    }])  # fmt: skip
    sandbox.load(COMPANY, "DebtorInvoiceLines", [{
        **line, "InvoiceNumber": number, "InvoiceQty": -line["InvoiceQty"],
        "NetAmount": -line["NetAmount"],
    }])  # fmt: skip
    [item] = [o for o in sandbox.all(COMPANY, "DebtorTransOpenClient") if o["Invoice"] == like]
    sandbox.load(COMPANY, "DebtorTransOpenClient", [{
        **{k: v for k, v in item.items() if k not in ("RowId", "Paid")}, "Invoice": number,
        "Amount": -item["Amount"], "AmountOpen": 0,
    }])  # fmt: skip
    return number


def test_open_amounts_are_read_from_the_system_and_pulled_changes_are_not_differences(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=6)
    seed_products(uniconta.sandbox, COMPANY, count=3, seed=6)
    numbers = seed_invoices(uniconta.sandbox, COMPANY, count=6, lines=1, seed=6,
                            first_date=date(2026, 10, 1), days=28)  # fmt: skip
    credits = [_credit_note(uniconta, n, numbers[-1] + 1 + i) for i, n in enumerate(numbers[:2])]
    settings = full()
    settings["entities"]["payment_status"] = {"enabled": False}
    cid = connect(tenant, uniconta, settings=settings)["id"]
    import_all(system, tenant, cid)
    items = uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
    open_there = sum(
        (Decimal(str(o["AmountOpen"])) for o in items if o["Invoice"] in numbers), Decimal(0)
    )
    assert open_there > 0

    # Open amounts not synced: the hub knows none, Uniconta's are read from Uniconta.
    report = _report(system, tenant, cid)
    assert Decimal(report["totals"]["remote"]["open_amount"]["DKK"]) == open_there
    assert Decimal(report["totals"]["hub"]["open_amount"]["DKK"]) == 0
    assert report["differences"] == []

    # Synced: both sides agree, and the credit notes the pull changed are not differences.
    changed = tenant.api.patch(f"/connections/{cid}", json={"settings": {
        "entities": {"payment_status": {"enabled": True}}}})  # fmt: skip
    assert changed.status_code == 200, changed.text
    system.queue.enqueue(Command("payments", connection_id=cid, tenant_id=tenant.tenant_id))
    system.run_until_idle()
    report = _report(system, tenant, cid)
    assert Decimal(report["totals"]["hub"]["open_amount"]["DKK"]) == open_there
    assert Decimal(report["totals"]["remote"]["open_amount"]["DKK"]) == open_there
    assert report["totals"]["remote"]["counts"]["credit_notes"] == len(credits)
    assert [(d["kind"], d["reason"]) for d in report["differences"]] == []


def test_a_month_starts_at_midnight_in_the_books_zone_not_in_utc(
    settings: Settings, hub_port: int, uniconta: Uniconta
) -> None:
    # 23:30 UTC on 30 November is 00:30 on 1 December in Copenhagen: December has started
    # in the books, so this month's report is December's and may be run.
    clock = ManualClock(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    system = System(settings, clock=clock)
    server = ServerThread(create_app(system), port=hub_port).start()
    tenant = new_tenant(system, f"{server.url}/api/v1")
    try:
        seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=2)
        cid = connect(tenant, uniconta)["id"]
        import_all(system, tenant, cid)
        started = tenant.api.post(f"/connections/{cid}/reconciliations", json={})
        assert started.status_code == 202, started.text
        assert started.json()["period"] == "2026-12"
        named = tenant.api.post(f"/connections/{cid}/reconciliations", json={"period": "2026-12"})
        assert named.status_code == 202, named.text
        later = tenant.api.post(f"/connections/{cid}/reconciliations", json={"period": "2027-01"})
        assert later.status_code == 422
    finally:
        tenant.api.close()
        server.stop()
        system.close()


def test_invoice_totals_are_what_uniconta_books_with_its_vat_rounded_per_code(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    # Two lines of 10.01 at 25 %: 2.50 VAT each when rounded per line, 5.01 on their 20.02
    # once per code, as Uniconta posts it and as the shop charged (25.03).
    cid = shop["connection"]["id"]
    body = order_body(shop["sku"], total="25.03", total_tax="5.01", lines=[
        {"source_id": "1", "kind": "item", "sku": shop["sku"], "description": "Kaffekrus",
         "quantity": "1", "unit_price": "10.01", "tax_rate": "25", "net_amount": "10.01",
         "tax_amount": "2.50"},
        {"source_id": "2", "kind": "shipping", "description": "GLS", "quantity": "1",
         "unit_price": "10.01", "tax_rate": "25", "net_amount": "10.01", "tax_amount": "2.51"},
    ])  # fmt: skip
    assert tenant.api.post("/orders", json=body).status_code == 201, body
    system.run_until_idle()
    [booked] = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    assert (booked["VatAmount"], booked["TotalAmount"]) == (5.01, 25.03)

    report = _report(system, tenant, cid, "2026-11")
    assert [d for d in report["differences"] if d["stream"] == "orders"] == []
    orders = sales(report, "orders")
    assert orders["amounts"]["DKK"] == {"source": "25.03", "booked": "25.03"}
    [(code, sums)] = report["totals"]["remote"]["vat"].items()
    assert (sums["net"], sums["vat"], sums["gross"]) == ("20.02", "5.01", "25.03")
    assert report["totals"]["hub"]["vat"][code] == sums


def test_an_order_the_shop_ended_unpaid_is_nothing_due_not_a_pending_invoice(
    system: System,
    tenant: Tenant,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    # Cancelled in the shop before it was ever paid: the flow books nothing of it, so the
    # report neither counts it among the month's sales nor asks for its invoice.
    cid = shop["connection"]["id"]
    assert tenant.api.post("/orders", json=order_body(shop["sku"])).status_code == 201
    ended = order_body(shop["sku"], source_id="5002", number="5002", state="cancelled",
                       paid_at=None)  # fmt: skip
    assert tenant.api.post("/orders", json=ended).status_code == 201
    system.run_until_idle()

    report = _report(system, tenant, cid, "2026-11")
    orders = sales(report, "orders")
    assert (orders["count"], orders["booked"]) == (1, 1)
    assert orders["amounts"]["DKK"] == {"source": "298.75", "booked": "298.75"}
    assert [d for d in report["differences"] if d["stream"] == "orders"] == []


def test_invoice_totals_in_two_currencies_are_never_added_together(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=9)
    seed_products(uniconta.sandbox, COMPANY, count=3, seed=9)
    [kroner] = seed_invoices(uniconta.sandbox, COMPANY, count=1, lines=1, seed=9,
                             first_date=date(2026, 10, 5), days=1)  # fmt: skip
    # The same sale invoiced in euros to a customer abroad, on the same VAT code.
    header = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", kroner)
    [line] = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
              if ln["InvoiceNumber"] == kroner]  # fmt: skip
    euros = kroner + 1
    uniconta.sandbox.load(COMPANY, "DebtorInvoiceClient", [
        {**header, "InvoiceNumber": euros, "Currency": "EUR", "OrderNumber": 0}])  # fmt: skip
    uniconta.sandbox.load(COMPANY, "DebtorInvoiceLines", [
        {**{k: v for k, v in line.items() if k != "RowId"}, "InvoiceNumber": euros}])  # fmt: skip
    cid = connect(tenant, uniconta, settings=full())["id"]
    import_all(system, tenant, cid)

    report = _report(system, tenant, cid)
    assert report["differences"] == []
    remote = report["totals"]["remote"]
    net = f"{Decimal(str(header['NetAmount'])):.2f}"
    assert sorted((s["currency"], s["net"]) for s in remote["vat"].values()) == [
        ("DKK", net), ("EUR", net)]  # fmt: skip
    assert report["totals"]["hub"]["vat"] == remote["vat"]
    assert set(remote["open_amount"]) == {"DKK", "EUR"}
    csv_text = tenant.api.get(f"/connections/{cid}/reconciliations/{report['id']}.csv").text
    [code] = {s["code"] for s in remote["vat"].values()}
    assert f"totals,net {code} (EUR),{net},{net}" in csv_text


def test_each_difference_says_what_to_do_about_it(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=11)
    seed_products(uniconta.sandbox, COMPANY, count=3, seed=11)
    numbers = seed_invoices(uniconta.sandbox, COMPANY, count=3, lines=1, seed=11,
                            first_date=date(2026, 10, 3), days=5)  # fmt: skip
    cid = connect(tenant, uniconta, settings=full())["id"]
    import_all(system, tenant, cid)
    changed, deleted, copied = numbers
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", changed, {"Date": "2026-10-20"})
    with system.sessions() as session:
        hub_id = session.scalar(
            sa.select(Link.record_id).where(
                Link.connection_id == cid, Link.remote_id == str(deleted)
            )
        )
    assert tenant.api.delete(f"/invoices/{hub_id}").status_code == 204
    # Booked in Uniconta after the last sync: the hub does not have it yet.
    header = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", copied)
    [line] = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
              if ln["InvoiceNumber"] == copied]  # fmt: skip
    new = copied + 10
    uniconta.sandbox.load(COMPANY, "DebtorInvoiceClient", [
        {**header, "InvoiceNumber": new, "OrderNumber": 0}])  # fmt: skip
    uniconta.sandbox.load(COMPANY, "DebtorInvoiceLines", [
        {**{k: v for k, v in line.items() if k != "RowId"}, "InvoiceNumber": new}])  # fmt: skip

    report = _report(system, tenant, cid)
    said = {d["reason"]: d["message"] for d in report["differences"]}
    assert said == {
        "changed_in_system": "changed in the accounting system since the last sync (date, "
        "due_date): "
        "the next sync brings the change into the hub",
        "deleted_in_hub": "linked, but deleted in the hub (deletes are not propagated): delete "
        "or credit it in the accounting system if it is to go",
        "not_imported": "in the accounting system, not in the hub yet: the next sync imports it",
    }


def test_a_route_saved_with_a_tolerance_now_refused_is_still_reconciled(
    system: System,
    tenant: Tenant,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    """A route stored with a rounding tolerance a save now refuses reads as the flow reads it:
    the report is made, not refused for the route's policy."""
    store_policy(system, shop["route"]["id"], {**POLICY, "rounding_tolerance": "100.00"})
    assert tenant.api.post("/orders", json=order_body(shop["sku"])).status_code == 201
    system.run_until_idle()
    report = _report(system, tenant, shop["connection"]["id"], "2026-11")
    assert (sales(report, "orders")["count"], sales(report, "orders")["booked"]) == (1, 1)
