"""Orders a webshop route takes in before booking them (an order that reserves stock, a draft
with an open issue): withdrawn from Uniconta when the shop cancels the order, and mailed once
when they are booked later. The WooCommerce sandbox shop, the hub on loopback over a real
database, the Uniconta sandbox with its booking service (the webshop fixtures) and an SMTP
server on loopback (aiosmtpd); every assertion reads what a user would see in Uniconta, in the
hub, in the sync log and in the customer's mailbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.sandbox.smtp import SmtpSink
from tests.integration.conftest import COMPANY
from tests.integration.webshop_fixtures import POLICY, Webshop, webshop, woo

__all__ = ["webshop", "woo"]

RESERVING = {
    **POLICY,
    "email_invoices": True,
    "states": {
        "on-hold": "create_order",
        "processing": "create_invoice",
        "completed": "create_invoice",
    },
}
"""An order on hold (a bank transfer not paid yet) is an order in Uniconta, which reserves its
items; it is booked once paid."""


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "mail").start()
    yield server
    server.stop()


def mail_on(webshop: Webshop, sink: SmtpSink, enabled: bool = True) -> None:
    """The Uniconta connection mails booked invoices through the SMTP server on loopback."""
    changed = webshop.tenant.api.patch(f"/connections/{webshop.uniconta_id}", json={
        "settings": {"invoice_mail": {
            "enabled": enabled, "smtp_host": "127.0.0.1", "smtp_port": sink.port,
            "smtp_security": "none", "from_address": "faktura@nordlys.dk",
            "company": {"name": "Nordlys Handel ApS"}}}})  # fmt: skip
    assert changed.status_code == 200, changed.text


def held(webshop: Webshop) -> dict[str, Any]:
    """A bank-transfer order put on hold: taken in as an order in Uniconta."""
    placed = webshop.order("mette", [("KOP-01", 2)], method="bacs", paid=False)
    webshop.shop.update_order(placed["id"], {"status": "on-hold"})
    webshop.settle()
    return placed


def order_lines(webshop: Webshop, draft: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        line for line in webshop.uniconta.sandbox.all(COMPANY, "DebtorOrderLineClient")
        if line["OrderNumber"] == draft["OrderNumber"]
    ]  # fmt: skip


def log(webshop: Webshop, connection_id: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = webshop.tenant.api.get(
        f"/connections/{connection_id}/sync-log", params=params
    ).json()
    return found


def test_an_order_cancelled_in_the_shop_withdraws_its_uniconta_order_and_comes_back_afresh(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    placed = held(webshop)
    (draft,) = webshop.drafts(placed)
    assert [line["Item"] for line in order_lines(webshop, draft)] == ["KOP-01"]
    (hub_draft,) = webshop.hub_invoices(placed)
    assert hub_draft["status"] == "draft"

    webshop.shop.update_order(placed["id"], {"status": "cancelled"})
    webshop.settle()

    assert webshop.drafts(placed) == [] and webshop.invoices(placed) == []
    assert order_lines(webshop, draft) == [], "its lines go with it"
    assert webshop.hub_invoices(placed) == [], "the hub's draft is deleted"
    (withdrawn,) = log(webshop, webshop.shop_id, stream="orders", outcome="deleted")
    assert withdrawn["reason"] == "order_cancelled", withdrawn
    assert "is 'cancelled' in the shop and was not booked" in withdrawn["message"]
    (deleted,) = log(webshop, webshop.uniconta_id, stream="invoices", outcome="deleted")
    assert deleted["reason"] == "draft_withdrawn"
    assert deleted["remote_id"] == f"order:{draft['OrderNumber']}", deleted
    assert webshop.issues() == [] and webshop.tenant.api.get(
        f"/connections/{webshop.uniconta_id}/issues").json() == []  # fmt: skip

    # Cancelled again (a repeated delivery, a pull): nothing more happens.
    assert webshop.tenant.api.post(f"/connections/{webshop.shop_id}/jobs/pull").status_code == 202
    webshop.settle()
    assert len(log(webshop, webshop.shop_id, stream="orders", outcome="deleted")) == 1

    # The customer pays after all and the shop reopens the order: booked as a new invoice.
    webshop.shop.pay_order(placed["id"], f"txn_{placed['id']}")
    webshop.settle()
    booked = webshop.invoice(placed)
    assert [(line["Item"], line["InvoiceQty"]) for line in webshop.lines(booked)] == [("KOP-01", 2)]
    assert webshop.drafts(placed) == []
    (invoice,) = webshop.hub_invoices(placed)
    assert invoice["number"] == str(booked["InvoiceNumber"])


def test_a_failed_order_withdraws_its_order_but_a_booked_invoice_is_never_deleted(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    placed = held(webshop)
    card = webshop.order("anna", [("KAF-500", 1)])  # paid at checkout: booked at once
    webshop.settle()
    booked = webshop.invoice(card)

    webshop.shop.update_order(placed["id"], {"status": "failed"})
    webshop.shop.update_order(card["id"], {"status": "cancelled"})
    webshop.settle()

    assert webshop.drafts(placed) == []
    (withdrawn,) = log(webshop, webshop.shop_id, stream="orders", outcome="deleted")
    assert withdrawn["reason"] == "order_failed"
    assert webshop.invoices(card) == [booked], "a booked invoice stays (a credit note covers it)"
    assert [i["number"] for i in webshop.hub_invoices(card)] == [str(booked["InvoiceNumber"])]


def test_an_order_moved_to_the_trash_withdraws_its_uniconta_order_once(
    webshop: Webshop,
) -> None:
    """WooCommerce tells of a trashed order with ``order.deleted`` and a body of its id only;
    read again, the order has status ``trash`` and ends as a cancelled one. Deleting it for
    good afterwards delivers the same body again, and nothing more happens."""
    topics = {hook.topic for hook in webshop.shop.webhooks.values()}
    assert "order.deleted" in topics, topics
    webshop.save_route(RESERVING)
    placed = held(webshop)
    (draft,) = webshop.drafts(placed)

    webshop.shop.delete_order(placed["id"], force=False)
    webshop.settle()

    assert webshop.drafts(placed) == [] and webshop.invoices(placed) == []
    assert order_lines(webshop, draft) == []
    assert webshop.hub_invoices(placed) == []
    (withdrawn,) = log(webshop, webshop.shop_id, stream="orders", outcome="deleted")
    assert withdrawn["reason"] == "order_trash", withdrawn
    (deleted,) = log(webshop, webshop.uniconta_id, stream="invoices", outcome="deleted")
    assert deleted["reason"] == "draft_withdrawn"

    webshop.shop.delete_order(placed["id"], force=True)
    assert webshop.tenant.api.post(f"/connections/{webshop.shop_id}/jobs/pull").status_code == 202
    webshop.settle()
    assert len(log(webshop, webshop.shop_id, stream="orders", outcome="deleted")) == 1
    assert webshop.issues() == [] and webshop.tenant.api.get(
        f"/connections/{webshop.uniconta_id}/issues").json() == []  # fmt: skip


def test_a_booked_order_moved_to_the_trash_keeps_its_invoice_with_an_issue_saying_why(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    card = webshop.order("anna", [("KAF-500", 1)])  # paid at checkout: booked at once
    webshop.settle()
    booked = webshop.invoice(card)

    webshop.shop.delete_order(card["id"], force=False)
    webshop.settle()

    assert webshop.invoices(card) == [booked], "books are never deleted"
    assert [i["number"] for i in webshop.hub_invoices(card)] == [str(booked["InvoiceNumber"])]
    (issue,) = webshop.issues("orders")
    assert issue["reason"] == "deleted_in_shop_after_booking", issue
    assert "credit it there by hand" in issue["message"]
    assert log(webshop, webshop.shop_id, stream="orders", outcome="deleted") == []


def test_a_booked_order_trashed_with_every_delivery_missed_gets_its_issue_from_the_pull(
    webshop: Webshop,
) -> None:
    """``status=any`` leaves trashed orders out: the pull reads the shop's trash as well."""
    webshop.save_route(RESERVING)
    card = webshop.order("anna", [("KAF-500", 1)])
    webshop.settle()
    booked = webshop.invoice(card)

    webshop.shop.apply_settings({"webhook_miss_rate": 1.0})
    webshop.shop.delete_order(card["id"], force=False)
    webshop.settle()
    assert webshop.issues("orders") == [], "the shop delivered nothing"

    assert webshop.tenant.api.post(f"/connections/{webshop.shop_id}/jobs/pull").status_code == 202
    webshop.settle()

    assert webshop.invoices(card) == [booked], "books are never deleted"
    (issue,) = webshop.issues("orders")
    assert issue["reason"] == "deleted_in_shop_after_booking", issue
    assert "credit it there by hand" in issue["message"]


def test_a_draft_uniconta_refused_leaves_no_issue_once_its_order_is_cancelled(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    shop = webshop.shop
    shop.apply_settings({"webhook_miss_rate": 1.0})  # a product the hub never heard of
    made = shop.create_product({"name": "Kaffekværn manuel", "sku": "KVN-01",
                                "regular_price": "399.00"})  # fmt: skip
    shop.apply_settings({"webhook_miss_rate": 0.0})
    webshop.products["KVN-01"] = made["id"]
    placed = webshop.order("mette", [("KVN-01", 1)], method="bacs", paid=False)
    shop.update_order(placed["id"], {"status": "on-hold"})
    webshop.settle()
    issues = webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/issues").json()
    assert [i["reason"] for i in issues] == ["product_missing"]

    shop.update_order(placed["id"], {"status": "cancelled"})
    webshop.settle()
    assert webshop.drafts(placed) == [] and webshop.hub_invoices(placed) == []
    assert webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/issues").json() == []


def test_an_order_a_person_posted_in_uniconta_meanwhile_is_not_deleted_but_an_issue(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    placed = held(webshop)
    (draft,) = webshop.drafts(placed)
    posted = webshop.uniconta.sandbox.book_order(COMPANY, draft["OrderNumber"])

    webshop.shop.update_order(placed["id"], {"status": "cancelled"})
    webshop.settle()

    assert [i["InvoiceNumber"] for i in webshop.invoices(placed)] == [posted["InvoiceNumber"]]
    issues = webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/issues").json()
    (issue,) = [i for i in issues if i["stream"] == "invoices"]
    assert issue["reason"] == "withdrawn_after_posting", issue
    assert f"posted in Uniconta as invoice {posted['InvoiceNumber']}" in issue["message"]
    assert "credit it in Uniconta" in issue["message"]


def test_an_order_booked_when_it_is_paid_is_mailed_once(webshop: Webshop, sink: SmtpSink) -> None:
    webshop.save_route(RESERVING)
    mail_on(webshop, sink)
    placed = held(webshop)
    assert len(webshop.drafts(placed)) == 1 and sink.received() == [], "an order is not mailed"

    webshop.shop.pay_order(placed["id"], f"txn_{placed['id']}")
    webshop.settle()
    booked = webshop.invoice(placed)
    assert webshop.drafts(placed) == []
    (received,) = sink.received()
    assert received.rcpt_to == ["mette@example.dk"]
    message = received.message()
    assert str(booked["InvoiceNumber"]) in message["Subject"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == f"invoice-{booked['InvoiceNumber']}.pdf"
    (mail,) = webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/invoice-mails").json()
    assert (mail["state"], mail["order_number"]) == ("sent", str(placed["number"]))
    assert mail["attachment"] == "standard", "the booking of an update answers no PDF"

    # Completed, pulled again, its payment status read: still one mail.
    webshop.shop.update_order(placed["id"], {"status": "completed"})
    pulled = webshop.tenant.api.post(f"/connections/{webshop.uniconta_id}/jobs/pull")
    assert pulled.status_code == 202, pulled.text
    webshop.settle()
    assert len(sink.received()) == 1


def test_a_draft_with_a_rounding_gap_is_mailed_once_when_the_policy_lets_it_be_booked(
    webshop: Webshop, sink: SmtpSink
) -> None:
    webshop.save_route({**POLICY, "email_invoices": True, "rounding_account": None})
    mail_on(webshop, sink)
    gap = webshop.order("mette", [("CHO-70", 3)])  # a one-cent gap and nothing to book it on
    webshop.settle()
    assert len(webshop.drafts(gap)) == 1
    assert [i["reason"] for i in webshop.issues("orders")] == ["rounding_account_missing"]
    assert sink.received() == [], "a draft is not mailed"

    webshop.save_route({**POLICY, "email_invoices": True})  # AFRUND books the gap
    webshop.settle()
    booked = webshop.invoice(gap)
    assert [line["Item"] for line in webshop.lines(booked)] == ["CHO-70", "AFRUND"]
    assert [r.rcpt_to for r in sink.received()] == [["mette@example.dk"]]
    assert webshop.issues("orders") == []


def test_a_draft_booked_while_mail_was_off_is_never_mailed(
    webshop: Webshop, sink: SmtpSink
) -> None:
    webshop.save_route(RESERVING)
    mail_on(webshop, sink, enabled=False)
    before = held(webshop)
    webshop.shop.pay_order(before["id"], f"txn_{before['id']}")
    webshop.settle()
    webshop.invoice(before)  # booked while mail was off

    mail_on(webshop, sink)
    webshop.shop.update_order(before["id"], {"status": "completed"})
    after = held(webshop)
    webshop.shop.pay_order(after["id"], f"txn_{after['id']}")
    webshop.settle()
    pulled = webshop.tenant.api.post(f"/connections/{webshop.uniconta_id}/jobs/pull")
    assert pulled.status_code == 202, pulled.text
    webshop.settle()
    assert [r.rcpt_to for r in sink.received()] == [["mette@example.dk"]]
    mails = webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/invoice-mails").json()
    assert [m["order_number"] for m in mails] == [str(after["number"])]


def test_a_refund_of_a_draft_a_person_booked_in_uniconta_is_credited(webshop: Webshop) -> None:
    """The route keeps drafts; the order is refunded while its invoice is a draft, so the
    refund waits for it. A person books the draft in Uniconta; once the invoices pull reads
    it booked, the refund becomes its credit note (a draft too) instead of waiting for ever."""
    webshop.save_route({**POLICY, "book": False})
    placed = webshop.order("mette", [("KOP-01", 2)])
    webshop.settle()
    (draft,) = webshop.drafts(placed)
    webshop.shop.create_refund(placed["id"], {"amount": "79.00", "reason": "Knust kop"})
    webshop.settle()
    assert [i["reason"] for i in webshop.issues("refunds")] == ["refund_waiting_for_invoice"]

    posted = webshop.uniconta.sandbox.book_order(COMPANY, draft["OrderNumber"])
    pulled = webshop.tenant.api.post(f"/connections/{webshop.uniconta_id}/jobs/invoices")
    assert pulled.status_code in (200, 202), pulled.text
    webshop.settle()
    assert webshop.issues("refunds") == []
    (invoice,) = [i for i in webshop.hub_invoices(placed) if i["kind"] == "invoice"]
    assert (invoice["number"], invoice["status"]) == (str(posted["InvoiceNumber"]), "booked")
    (note,) = [i for i in webshop.hub_invoices(placed) if i["kind"] == "credit_note"]
    assert note["status"] == "draft", "the policy keeps drafts"
    (credit_draft,) = webshop.drafts(placed)
    assert credit_draft["Settlements"] == str(posted["InvoiceNumber"])
    assert credit_draft["OrderTotal"] == -63.2
