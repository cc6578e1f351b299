"""Posting and posted invoices: only an invoice the app marks ready is posted, and a posted
invoice's Date and payment term sync whatever happened to an edit of its lines."""

from __future__ import annotations

from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, Tenant, Uniconta
from tests.integration.test_uniconta_integration import (  # noqa: F401
    _invoice_body,
    issues,
    trading,
)


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
