"""PayMatch end to end: orders and payouts written through the hub API, one route app →
Uniconta carrying both a commerce and a paymatch block, the real System and database, and the
Uniconta sandbox on loopback, where each payout becomes lines of the PAYMATCH cash journal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_products, seed_webshop
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_commerce_flow import POLICY, VAT, items, order_body

PAYMATCH: dict[str, Any] = {
    "journal": "PAYMATCH", "receivable_account": "5820", "fee_account": "7220",
    "bank_account": "5900", "error_account": "5990", "group_lines": False,
    "start_date": "2026-11-01", "wait_for_invoice_hours": 0,
}  # fmt: skip
TOTAL = "298.75"
"""What ``order_body``'s customer pays."""


@pytest.fixture
def shop(system: System, tenant: Tenant, uniconta: Uniconta) -> dict[str, Any]:
    """Uniconta with products, the webshop set-up and the PAYMATCH journal, imported, and a
    route from the hub API (the shop and its acquirer) carrying both blocks."""
    seed_webshop(uniconta.sandbox, COMPANY)
    sku = seed_products(uniconta.sandbox, COMPANY, count=4, seed=5)[0]
    item = uniconta.sandbox.get(COMPANY, "InvItemClient", sku) or {}
    uniconta.sandbox.update(COMPANY, "InvItemClient", sku, {**item, "Vat": "S25"})
    streams = ("customers", "products", "invoices", "cash_journal")
    connection = connect(tenant, uniconta, settings={
        "entities": {s: {"enabled": True} for s in streams}, "vat_mapping": {**VAT, "U0": "U0"},
        "post_invoices": True})  # fmt: skip
    import_all(system, tenant, connection["id"])
    route = tenant.api.post("/routes", json={
        "source": "app", "target": connection["id"], "entities": ["party"],
        "commerce": {"policy": POLICY, "rules": {}}, "paymatch": PAYMATCH})  # fmt: skip
    assert route.status_code == 201, route.text
    return {"cid": connection["id"], "route": route.json(), "sku": sku}


def place(system: System, tenant: Tenant, shop: dict[str, Any], number: str, **fields: Any) -> str:
    """A paid card order, booked in Uniconta; returns its invoice number."""
    body = order_body(shop["sku"], source_id=number, number=number,
                      transaction_id=f"ch_{number}", **fields)  # fmt: skip
    assert tenant.api.post("/orders", json=body).status_code == 201
    system.run_until_idle()
    (invoice,) = [r for r in items(tenant, "/invoices") if r["data"]["reference"] == number]
    assert invoice["data"]["number"], invoice
    return str(invoice["data"]["number"])


def charge(line_id: str, gross: str, fee: str, **refs: Any) -> dict[str, Any]:
    net = str(Decimal(gross) - Decimal(fee))
    return {"line_id": line_id, "type": "charge", "gross": gross, "fee": fee, "net": net, **refs}


def pay_out(
    tenant: Tenant, source_id: str, *lines: dict[str, Any], net: str | None = None, **fields: Any
) -> dict[str, Any]:
    total = sum((Decimal(ln["net"]) for ln in lines), Decimal(0))
    body = {
        "provider": "stripe", "source_id": source_id, "status": "paid",
        "arrival_date": "2026-12-02", "currency": "DKK",
        "gross": str(sum((Decimal(ln["gross"]) for ln in lines), Decimal(0))),
        "fees": str(sum((Decimal(ln["fee"]) for ln in lines), Decimal(0))),
        "net": net or str(total), "bank_reference": f"STRIPE {source_id}", "lines": list(lines),
        **fields,
    }  # fmt: skip
    made = tenant.api.post("/payouts", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def journal(uniconta: Uniconta, reference: str) -> list[tuple[str, str, str | None]]:
    """(account, debit − credit, invoice) of the PAYMATCH lines of one posting."""
    rows = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
            if r.get("ReferenceNumber") == reference]  # fmt: skip
    assert all(r["Journal"] == "PAYMATCH" for r in rows)
    return [(r["Account"], f"{Decimal(str(r['Amount'])):.2f}", r.get("Invoice")) for r in rows]


def issues(tenant: Tenant, cid: str) -> dict[str, str]:
    found = tenant.api.get(f"/connections/{cid}/issues").json()
    return {i["key"]: i["reason"] for i in found if i["stream"] == "payouts"}


def test_payout_matched_by_number_and_transaction_id_posted_once(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    first = place(system, tenant, shop, "6001")
    second = place(system, tenant, shop, "6002")
    lines = (charge("t1", TOTAL, "4.48", order_ref="6001"),
             charge("t2", TOTAL, "4.48", psp_ref="ch_6002"))  # fmt: skip
    payout = pay_out(tenant, "po_1", *lines)
    system.run_until_idle()
    assert journal(uniconta, "po_1") == [
        ("5820", "-298.75", first), ("7220", "4.48", None),
        ("5820", "-298.75", second), ("7220", "4.48", None), ("5900", "588.54", None),
    ]  # fmt: skip
    texts = [r["Text"] for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")]
    assert f"Payout po_1: payment order 6001, invoice {first}" in texts
    assert f"Payout po_1: payment order 6002, payment ch_6002, invoice {second}" in texts
    postings = items(tenant, "/journal-postings")
    assert [p["data"]["reference"] for p in postings] == ["po_1"]
    assert postings[0]["origin"] == f"flow:{shop['route']['id']}"

    # Read again: the same record saved unchanged.
    assert tenant.api.patch(f"/payouts/{payout['id']}", json={}).status_code == 200
    system.run_until_idle()
    assert len(journal(uniconta, "po_1")) == 5
    assert len(items(tenant, "/journal-postings")) == 1
    assert issues(tenant, shop["cid"]) == {}


def test_the_same_payout_written_again_is_refused_naming_the_record_it_is(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    place(system, tenant, shop, "6070")
    lines = [charge("t1", TOTAL, "4.48", order_ref="6070")]
    first = pay_out(tenant, "NETS-002", *lines, provider="nets")
    system.run_until_idle()
    assert tenant.api.patch(f"/payouts/{first['id']}", json={"status": "failed"}).status_code == 200
    system.run_until_idle()
    assert issues(tenant, shop["cid"]) == {"NETS-002": "payout_inconsistent"}

    body = {**first["data"], "status": "paid"}
    again = tenant.api.post("/payouts", json=body)
    assert again.status_code == 409, again.text
    assert first["id"] in again.json()["detail"] and "NETS-002" in again.json()["detail"]
    other = tenant.api.post("/payouts", json={**body, "source_id": "NETS-003"})
    assert other.status_code == 201, other.text
    moved = tenant.api.put(f"/payouts/{other.json()['id']}", json=body)
    assert moved.status_code == 409, moved.text
    system.run_until_idle()
    assert [p["id"] for p in items(tenant, "/payouts") if p["data"]["source_id"] == "NETS-002"] == [
        first["id"]
    ]
    assert issues(tenant, shop["cid"])["NETS-002"] == "payout_inconsistent"
    # Another acquirer may use the same id.
    assert tenant.api.post("/payouts", json={**body, "provider": "stripe"}).status_code == 201


def test_an_invoice_settled_by_a_payout_is_not_settled_again(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    number = place(system, tenant, shop, "6080")
    pay_out(tenant, "ZETTLE-1", charge("t1", TOTAL, "4.48", order_ref="6080"), provider="zettle")
    system.run_until_idle()
    assert journal(uniconta, "ZETTLE-1")[0] == ("5820", "-298.75", number)

    pay_out(tenant, "NETS-1", charge("n1", TOTAL, "2.00", order_ref="6080"), provider="nets")
    system.run_until_idle()
    system.run_until_idle()
    assert journal(uniconta, "NETS-1") == [
        ("5990", "-298.75", None), ("7220", "2.00", None), ("5900", "296.75", None),
    ]  # fmt: skip
    texts = [r["Text"] for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")]
    assert (f"Payout NETS-1: already_settled: invoice {number} of order 6080 was settled by "
            "zettle payout ZETTLE-1 already") in texts  # fmt: skip
    (shown,) = [p for p in items(tenant, "/journal-postings")
                if p["data"]["reference"] == "NETS-1"]  # fmt: skip
    assert [ln["reason"] for ln in shown["data"]["lines"]] == ["already_settled", None, None]
    log = tenant.api.get(f"/connections/{shop['cid']}/sync-log", params={"stream": "payouts"})
    assert any(f"already settled, not taken off the receivable again: invoice {number}"
               in (e.get("message") or "") for e in log.json()), log.text  # fmt: skip


def test_a_line_on_the_error_account_whose_invoice_another_payout_settled_says_so_once(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """A payment of no known order waits on the error account; its order turns out to be one
    another payout settled meanwhile (the shop corrects the order's payment id): it is not
    moved to the receivable a second time, and the log says which payout settled it."""
    number = place(system, tenant, shop, "6095")
    pay_out(tenant, "po_A", charge("t1", TOTAL, "4.48", psp_ref="ch_other"))
    system.run_until_idle()
    assert journal(uniconta, "po_A")[0] == ("5990", "-298.75", None)
    pay_out(tenant, "po_B", charge("b1", TOTAL, "4.48", order_ref="6095"))
    system.run_until_idle()
    assert journal(uniconta, "po_B")[0] == ("5820", "-298.75", number)

    corrected = order_body(shop["sku"], source_id="6095", number="6095", transaction_id="ch_other")
    assert tenant.api.post("/orders", json=corrected).status_code == 201
    place(system, tenant, shop, "6096")
    pay_out(tenant, "po_C", charge("c1", TOTAL, "4.48", order_ref="6096"))
    system.run_until_idle()
    pay_out(tenant, "po_D", charge("d1", TOTAL, "4.48", order_ref="6096"))
    system.run_until_idle()

    assert journal(uniconta, "po_A/t1") == [], "not taken off the receivable twice"
    log = tenant.api.get(f"/connections/{shop['cid']}/sync-log", params={"stream": "payouts"})
    said = [e for e in log.json() if e.get("reason") == "already_settled"
            and "payout po_A line t1" in (e.get("message") or "")]  # fmt: skip
    assert len(said) == 1, log.text
    assert (f"invoice {number}, booked since, was settled by stripe payout po_B already"
            in said[0]["message"])  # fmt: skip


def test_line_before_its_order_goes_to_the_error_account_then_a_late_match_moves_it(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    pay_out(tenant, "po_2", charge("t1", TOTAL, "4.48", order_ref="6010", psp_ref="ch_6010"))
    system.run_until_idle()
    assert journal(uniconta, "po_2") == [
        ("5990", "-298.75", None),
        ("7220", "4.48", None),
        ("5900", "294.27", None),
    ]
    texts = [r["Text"] for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")]
    assert "Payout po_2: no_match: no order with number 6010 or payment ch_6010" in texts

    number = place(system, tenant, shop, "6010")
    system.run_until_idle()
    assert journal(uniconta, "po_2/t1") == [("5990", "298.75", None), ("5820", "-298.75", number)]
    assert len(journal(uniconta, "po_2")) == 3, "the first posting is left as it was"
    system.run_until_idle()
    assert len(items(tenant, "/journal-postings")) == 2, "moved once"


def test_refund_grouping_and_a_difference(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    first = place(system, tenant, shop, "6020")
    place(system, tenant, shop, "6021")
    refund = {"line_id": "r1", "type": "refund", "gross": "-100.00", "fee": "0",
              "net": "-100.00", "order_ref": "6021"}  # fmt: skip
    pay_out(tenant, "po_3", charge("t1", TOTAL, "4.48", order_ref="6020"), refund, net="194.00")
    system.run_until_idle()
    assert journal(uniconta, "po_3")[0] == ("5820", "-298.75", first)
    assert journal(uniconta, "po_3")[2][:2] == ("5820", "100.00")
    assert journal(uniconta, "po_3")[-2:] == [("5990", "0.27", None), ("5900", "194.00", None)]

    saved = tenant.api.put(f"/routes/{shop['route']['id']}", json={
        "source": "app", "target": shop["cid"], "entities": ["party"],
        "commerce": {"policy": POLICY, "rules": {}},
        "paymatch": {**PAYMATCH, "group_lines": True}})  # fmt: skip
    assert saved.status_code == 200, saved.text
    place(system, tenant, shop, "6022")
    pay_out(tenant, "po_4", charge("t1", TOTAL, "4.48", order_ref="6022"),
            charge("t2", TOTAL, "4.48", order_ref="6021"))  # fmt: skip
    system.run_until_idle()
    assert journal(uniconta, "po_4") == [
        ("5820", "-597.50", None),
        ("7220", "8.96", None),
        ("5900", "588.54", None),
    ]


def test_a_currency_other_than_the_company_s(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    number = place(system, tenant, shop, "6030", currency="EUR")
    pay_out(tenant, "po_5", charge("t1", TOTAL, "4.48", order_ref="6030"), currency="EUR")
    system.run_until_idle()
    rows = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
            if r.get("ReferenceNumber") == "po_5"]  # fmt: skip
    assert [(r["Currency"], r["DebitCur"], r["CreditCur"], r["Debit"], r["Credit"])
            for r in rows] == [("EUR", 0, 298.75, 0, 0), ("EUR", 4.48, 0, 0, 0),
                               ("EUR", 294.27, 0, 0, 0)]  # fmt: skip
    assert rows[0]["Invoice"] == number


def test_changed_after_posting_is_reported_not_posted_again_and_failed_is_skipped(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    place(system, tenant, shop, "6040")
    payout = pay_out(tenant, "po_6", charge("t1", TOTAL, "4.48", order_ref="6040"))
    failed = pay_out(tenant, "po_7", charge("t1", TOTAL, "4.48", order_ref="6040"),
                     status="failed")  # fmt: skip
    system.run_until_idle()
    assert len(journal(uniconta, "po_6")) == 3
    assert journal(uniconta, "po_7") == []
    assert issues(tenant, shop["cid"]) == {"po_7": "payout_not_paid"}
    found = tenant.api.get(f"/connections/{shop['cid']}/issues").json()
    assert [(i["key"], i["record_id"]) for i in found if i["stream"] == "payouts"] == [
        ("po_7", failed["id"])
    ], "the hub record, the payout id as the key"

    changed = tenant.api.patch(f"/payouts/{payout['id']}", json={"status": "failed"})
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    assert len(journal(uniconta, "po_6")) == 3
    found = tenant.api.get(f"/connections/{shop['cid']}/issues").json()
    (inconsistent,) = [i for i in found if i["key"] == "po_6"]
    assert inconsistent["reason"] == "payout_inconsistent"
    assert inconsistent["record_id"] == payout["id"]
    assert "status paid → failed" in inconsistent["message"]
    back = tenant.api.patch(f"/payouts/{payout['id']}", json={"status": "paid"})
    assert back.status_code == 200, back.text
    system.run_until_idle()
    assert "po_6" not in issues(tenant, shop["cid"])
    assert len(journal(uniconta, "po_6")) == 3
    assert failed["data"]["status"] == "failed"


def test_the_paymatch_block_is_checked_when_saved(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    body = {"source": "app", "target": shop["cid"], "entities": ["party"]}
    missing = {k: v for k, v in PAYMATCH.items() if k != "fee_account"}
    for paymatch, field in ((missing, "paymatch.fee_account"),
                            ({**PAYMATCH, "wait_for_invoice_hours": -2},
                             "paymatch.wait_for_invoice_hours")):  # fmt: skip
        refused = tenant.api.put(f"/routes/{shop['route']['id']}",
                                 json={**body, "paymatch": paymatch})  # fmt: skip
        assert refused.status_code == 422, refused.text
        (detail,) = refused.json()["detail"]
        assert ".".join(str(part) for part in detail["loc"][1:]) == field


def test_a_payout_waits_for_an_invoice_not_booked_yet_then_matches_it(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    saved = tenant.api.put(f"/routes/{shop['route']['id']}", json={
        "source": "app", "target": shop["cid"], "entities": ["party"],
        "commerce": {"policy": POLICY, "rules": {}},
        "paymatch": {**PAYMATCH, "wait_for_invoice_hours": 24}})  # fmt: skip
    assert saved.status_code == 200, saved.text
    body = order_body(shop["sku"], source_id="6050", number="6050", transaction_id="ch_6050",
                      state="pending", paid_at=None)  # fmt: skip
    order = tenant.api.post("/orders", json=body).json()
    pay_out(tenant, "po_8", charge("t1", TOTAL, "4.48", psp_ref="ch_6050"))
    system.run_until_idle()
    assert journal(uniconta, "po_8") == []
    assert issues(tenant, shop["cid"])["po_8"] == "waiting_for_invoice"

    paid = {"state": "processing", "paid_at": "2026-11-20T10:30:00+01:00"}
    assert tenant.api.patch(f"/orders/{order['id']}", json=paid).status_code == 200
    system.run_until_idle()
    (invoice,) = [r for r in items(tenant, "/invoices") if r["data"]["reference"] == "6050"]
    assert journal(uniconta, "po_8")[0] == ("5820", "-298.75", invoice["data"]["number"])
    assert "po_8" not in issues(tenant, shop["cid"])


def test_a_late_match_takes_the_line_off_the_error_account_it_was_posted_on(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """The error account changed in the route between the payout and its order: the line sits
    on the old account in Uniconta, so the late match moves it from there."""
    pay_out(tenant, "po_20", charge("t1", TOTAL, "4.48", order_ref="6090"))
    system.run_until_idle()
    assert journal(uniconta, "po_20")[0] == ("5990", "-298.75", None)

    uniconta.sandbox.load(COMPANY, "GLAccountClient", [{"Account": "5991", "Name": "Kortdiff"}])
    saved = tenant.api.put(f"/routes/{shop['route']['id']}", json={
        "source": "app", "target": shop["cid"], "entities": ["party"],
        "commerce": {"policy": POLICY, "rules": {}},
        "paymatch": {**PAYMATCH, "error_account": "5991"}})  # fmt: skip
    assert saved.status_code == 200, saved.text
    number = place(system, tenant, shop, "6090")
    system.run_until_idle()
    assert journal(uniconta, "po_20/t1") == [("5990", "298.75", None), ("5820", "-298.75", number)]
    system.run_until_idle()
    assert journal(uniconta, "po_20/t1") == [("5990", "298.75", None), ("5820", "-298.75", number)]


def test_a_bank_reference_learnt_after_posting_is_no_change_to_report(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """Stripe fills a payout's trace id in after it is paid: the payout read again then has a
    bank reference it did not have. Nothing the journal's amounts depend on changed: it is not
    a ``payout_inconsistent`` that tells a person to correct the journal."""
    place(system, tenant, shop, "6095")
    payout = pay_out(tenant, "po_21", charge("t1", TOTAL, "4.48", order_ref="6095"),
                     bank_reference=None)  # fmt: skip
    system.run_until_idle()
    assert len(journal(uniconta, "po_21")) == 3

    changed = tenant.api.patch(f"/payouts/{payout['id']}", json={"bank_reference": "TRC123"})
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    assert issues(tenant, shop["cid"]) == {}
    assert len(journal(uniconta, "po_21")) == 3
    assert len(items(tenant, "/journal-postings")) == 1


def test_a_payout_before_the_start_date_is_posted_once_the_start_date_is_moved_back(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """A start date set too late: the payout is skipped with ``before_start_date``; moving the
    start date back to before its arrival posts it, once."""
    route = shop["route"]["id"]

    def save(start: str) -> None:
        saved = tenant.api.put(f"/routes/{route}", json={
            "source": "app", "target": shop["cid"], "entities": ["party"],
            "commerce": {"policy": POLICY, "rules": {}},
            "paymatch": {**PAYMATCH, "start_date": start}})  # fmt: skip
        assert saved.status_code == 200, saved.text

    save("2026-12-05")
    number = place(system, tenant, shop, "6097")
    pay_out(tenant, "po_22", charge("t1", TOTAL, "4.48", order_ref="6097"))
    system.run_until_idle()
    assert journal(uniconta, "po_22") == []
    assert issues(tenant, shop["cid"]) == {"po_22": "before_start_date"}

    save("2026-12-01")
    system.run_until_idle()
    assert journal(uniconta, "po_22") == [
        ("5820", "-298.75", number), ("7220", "4.48", None), ("5900", "294.27", None)
    ]  # fmt: skip
    assert issues(tenant, shop["cid"]) == {}
    system.run_until_idle()
    assert len(items(tenant, "/journal-postings")) == 1
