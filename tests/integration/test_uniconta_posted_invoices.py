"""Posting and posted invoices: only an invoice the app marks ready is posted, and a posted
invoice's Date and payment term sync both ways, whatever happened to an edit of its lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ledgerbridge.connectors.uniconta.connector import (
    REVISIT_EVERY,
    InvoiceCursor,
    UnicontaConnector,
)
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_invoices, seed_products
from ledgerbridge.store.tables.sync import Cursor
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    import_all,
)
from tests.integration.test_uniconta_integration import (  # noqa: F401
    _invoice_body,
    all_of,
    full,
    issues,
    trading,
)


def a_day_passes(system: System, connection_id: str) -> None:
    """The invoice pull's last round of headers read again began a day ago, as if it had."""
    with system.sessions.begin() as session:
        cursor = session.get(Cursor, (connection_id, "pull:invoices"))
        assert cursor is not None and cursor.value is not None
        kept = InvoiceCursor.parse(cursor.value)
        if kept.since is not None:
            began = datetime.fromisoformat(kept.since) - REVISIT_EVERY
            cursor.value = replace(kept, since=began.isoformat()).text()


def test_a_draft_goes_in_as_an_order_and_is_posted_once_it_is_sent(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    body = _invoice_body(trading["party"]["id"], trading["item"]["Item"], status="draft")
    draft = tenant.api.post("/invoices", json=body).json()
    system.run_until_idle()
    [order] = uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
    assert uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == []
    record = tenant.api.get(f"/invoices/{draft['id']}").json()
    assert (record["data"]["status"], record["data"]["number"]) == ("draft", None)
    assert record["sync"][0]["remote_id"] == f"order:{order['OrderNumber']}"

    assert tenant.api.patch(f"/invoices/{draft['id']}", json={"status": "sent"}).is_success
    system.run_until_idle()
    [posted] = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    assert posted["OrderNumber"] == order["OrderNumber"]
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    record = tenant.api.get(f"/invoices/{draft['id']}").json()
    assert record["data"]["status"] == "booked"
    assert record["data"]["number"] == str(posted["InvoiceNumber"])
    assert issues(tenant, trading["connection"]["id"]) == []


def test_date_and_payment_term_go_out_after_a_refused_line_edit(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    cid = trading["connection"]["id"]
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    record = tenant.api.get(f"/invoices/{created['id']}").json()
    number = int(record["data"]["number"])
    lines = record["data"]["lines"]
    lines[0]["quantity"] = "5"
    tenant.api.patch(f"/invoices/{created['id']}", json={"lines": lines})
    system.run_until_idle()
    [refused] = issues(tenant, cid, "invoice_lines_readonly_after_posting")

    # The lines stay edited in the hub; the header changes made next still reach Uniconta.
    tenant.api.patch(
        f"/invoices/{created['id']}",
        json={"date": "2026-11-25", "due_date": "2026-12-25", "payment_term_days": 30},
    )
    system.run_until_idle()
    invoice = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", number)
    assert invoice is not None
    assert invoice["Date"].startswith("2026-11-25")
    assert invoice["DueDate"].startswith("2026-12-25")
    assert invoice["Payment"] == "Netto 30"
    stored = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
              if ln["InvoiceNumber"] == number]  # fmt: skip
    assert stored[0]["InvoiceQty"] == 3
    [still] = issues(tenant, cid, "invoice_lines_readonly_after_posting")
    assert still["key"] == refused["key"] == created["id"]
    assert "lines can no longer change" in still["message"]
    assert [i["reason"] for i in issues(tenant, cid)] == ["invoice_lines_readonly_after_posting"]
    hub = tenant.api.get(f"/invoices/{created['id']}").json()["data"]
    assert hub["lines"][0]["quantity"] == "5" and hub["date"] == "2026-11-25"


def test_date_and_payment_term_changed_in_uniconta_reach_the_hub(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    cid = trading["connection"]["id"]
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    before = tenant.api.get(f"/invoices/{created['id']}").json()["data"]
    number = int(before["number"])
    tenant.api.post(f"/connections/{cid}/jobs/invoices")  # the pull has seen it
    system.run_until_idle()
    uniconta.sandbox.update(
        COMPANY, "DebtorInvoiceClient", number,
        {"Date": "2026-11-27", "DueDate": "2026-12-27", "Payment": "Netto 30"},
    )  # fmt: skip

    a_day_passes(system, cid)
    tenant.api.post(f"/connections/{cid}/jobs/invoices")
    system.run_until_idle()
    after = tenant.api.get(f"/invoices/{created['id']}").json()["data"]
    assert (after["date"], after["due_date"], after["payment_term_days"]) == (
        "2026-11-27", "2026-12-27", 30)  # fmt: skip
    assert after["lines"] == before["lines"]
    assert issues(tenant, cid) == []
    assert len(all_of(tenant, "/invoices")) == 1


def test_posted_invoices_are_read_again_a_few_pages_per_pull_once_a_day(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=13)
    seed_products(uniconta.sandbox, COMPANY, count=8, seed=13)
    numbers = seed_invoices(uniconta.sandbox, COMPANY, count=15, lines=2, seed=13)
    connection = connect(tenant, uniconta, settings=full(page_size=2))
    import_all(system, tenant, connection["id"])
    assert len(all_of(tenant, "/invoices")) == 15
    for number in (numbers[0], numbers[-1]):
        uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", number, {"Payment": "Netto 8"})

    def terms() -> dict[str, int | None]:
        return {i["data"]["number"]: i["data"]["payment_term_days"]
                for i in all_of(tenant, "/invoices")}  # fmt: skip

    # The import was a round of its own; a day later a pull reads five pages of headers
    # again (ten invoices here), then the new invoices.
    calls = uniconta.calls()
    tenant.api.post(f"/connections/{connection['id']}/jobs/invoices")
    system.run_until_idle()
    assert uniconta.calls() - calls == 1
    assert terms()[str(numbers[0])] != 8
    a_day_passes(system, connection["id"])
    calls = uniconta.calls()
    tenant.api.post(f"/connections/{connection['id']}/jobs/invoices")
    system.run_until_idle()
    assert uniconta.calls() - calls == 5 + 1  # five header pages, new ones (VAT rates kept)
    assert terms()[str(numbers[0])] == 8
    assert terms()[str(numbers[-1])] != 8

    # The next pull goes on from there: the last invoice's change arrives.
    tenant.api.post(f"/connections/{connection['id']}/jobs/invoices")
    system.run_until_idle()
    assert terms()[str(numbers[-1])] == 8
    assert len(all_of(tenant, "/invoices")) == 15

    # The round is over: until a day after it began, a pull reads only what is new.
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", numbers[1], {"Payment": "Netto 8"})
    calls = uniconta.calls()
    tenant.api.post(f"/connections/{connection['id']}/jobs/invoices")
    system.run_until_idle()
    assert uniconta.calls() - calls == 1  # the new ones
    assert terms()[str(numbers[1])] != 8

    # A day later the next round begins, and finds the change.
    a_day_passes(system, connection["id"])
    tenant.api.post(f"/connections/{connection['id']}/jobs/invoices")
    system.run_until_idle()
    assert terms()[str(numbers[1])] == 8


def test_an_import_reads_invoice_lines_in_whole_pages(uniconta: Uniconta) -> None:
    """The read that tells a page of invoices has no more lines brings the next page's first
    lines: they are used, so lines cost ceil(lines / 1000) reads, not one more per page."""
    seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=17)
    seed_products(uniconta.sandbox, COMPANY, count=8, seed=17)
    seed_invoices(uniconta.sandbox, COMPANY, count=600, lines=2, seed=17)
    connector = UnicontaConnector(
        {"company_id": COMPANY, "username": USER, "base_url": uniconta.url},
        {"password": PASSWORD},
        lambda calls: None,
    )
    try:
        calls = uniconta.calls()
        first = connector.read_page("invoices", None, 500)  # 1,000 lines: a full page
        second = connector.read_page("invoices", first.after, 500)
        assert uniconta.calls() - calls == 2 + 2  # two pages of invoices, 1,200 lines
    finally:
        connector.close()
    rows = first.records + second.records
    assert len(rows) == 600 and not second.more
    assert all(len(row["lines"]) == 2 for row in rows)
    assert all(
        line["InvoiceNumber"] == row["invoice"]["InvoiceNumber"]
        for row in rows
        for line in row["lines"]
    )


def test_a_credit_note_of_a_cancelled_invoice_waits_saying_it_is_cancelled(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    party, item = trading["party"]["id"], trading["item"]["Item"]
    cancelled = tenant.api.post(
        "/invoices", json=_invoice_body(party, item, status="cancelled")
    ).json()
    credit = _invoice_body(party, item, kind="credit_note", credits_invoice_id=cancelled["id"])
    credit["lines"] = [{**line, "quantity": f"-{line['quantity']}"} for line in credit["lines"]]
    assert tenant.api.post("/invoices", json=credit).status_code == 201
    system.run_until_idle()
    [waiting] = issues(tenant, trading["connection"]["id"], "credited_invoice_pending")
    assert "it is cancelled, and a cancelled invoice is not sent" in waiting["message"]
    assert "roles" not in waiting["message"]
    assert uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == []


def test_an_issued_invoice_without_lines_is_skipped_before_anything_is_written(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    body = _invoice_body(trading["party"]["id"], trading["item"]["Item"], lines=[])
    empty = tenant.api.post("/invoices", json=body).json()
    system.run_until_idle()
    [skipped] = issues(tenant, trading["connection"]["id"])
    assert (skipped["reason"], skipped["key"]) == ("invoice_without_lines", empty["id"])
    assert "add them in the app" in skipped["message"]
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == [], "no empty order is left"
    assert uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == []

    lines = _invoice_body(trading["party"]["id"], trading["item"]["Item"])["lines"]
    assert tenant.api.patch(f"/invoices/{empty['id']}", json={"lines": lines}).is_success
    system.run_until_idle()
    assert issues(tenant, trading["connection"]["id"]) == []
    [posted] = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    record = tenant.api.get(f"/invoices/{empty['id']}").json()["data"]
    assert record["number"] == str(posted["InvoiceNumber"])


def test_an_invoice_cancelled_in_the_app_withdraws_its_order_or_says_to_credit_it(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    trading: dict[str, Any],  # noqa: F811
) -> None:
    """A draft cancelled in the app: its Uniconta order (which reserves stock) is deleted and
    unlinked. A posted invoice cancelled in the app stays in the books (never deleted), and
    its issue says to credit it; nothing is written."""
    cid = trading["connection"]["id"]
    party, item = trading["party"]["id"], trading["item"]["Item"]
    draft = tenant.api.post("/invoices", json=_invoice_body(party, item, status="draft")).json()
    posted = tenant.api.post("/invoices", json=_invoice_body(party, item, status="sent")).json()
    system.run_until_idle()
    assert len(uniconta.sandbox.all(COMPANY, "DebtorOrderClient")) == 1
    [booked] = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")

    for made in (draft, posted):
        cancelled = tenant.api.patch(f"/invoices/{made['id']}", json={"status": "cancelled"})
        assert cancelled.status_code == 200, cancelled.text
    system.run_until_idle()
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == [], "the draft is withdrawn"
    assert tenant.api.get(f"/invoices/{draft['id']}").json()["sync"] == []
    assert uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == [booked], "books stay"
    [issue] = issues(tenant, cid)
    assert (issue["key"], issue["reason"]) == (posted["id"], "withdrawn_in_app_after_booking")
    assert (
        "cancelled in the app" in issue["message"] and "credit it in Uniconta" in (issue["message"])
    )
