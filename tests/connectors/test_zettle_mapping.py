"""Zettle wire → canonical records, on Zettle's own example payloads and on sales the sandbox
rings up: discounts, a partial refund, a split card and cash payment with a tip and a
service charge, payouts from the Finance ledger in both documented shapes, and the Pusher
envelope's signature. Each canonical result is validated by the hub's model and checked with
the commerce policies a Zettle → Uniconta route uses."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.commerce.config import CommercePolicy, PaymentRule
from ledgerbridge.commerce.flow import Prior, refund_flow
from ledgerbridge.commerce.policies import check_totals, credit_note_lines
from ledgerbridge.connectors.base import AuthenticationFailed, CallbackRefused, SkipRecord
from ledgerbridge.connectors.zettle.client import client_id_of
from ledgerbridge.connectors.zettle.mapping import (
    Entry,
    group_payouts,
    order_from_purchase,
    payout_from_row,
    payout_row,
    refund_from_purchase,
)
from ledgerbridge.connectors.zettle.webhooks import check_signature, notices
from ledgerbridge.model.commerce import Order, Refund
from ledgerbridge.model.payout import Payout
from ledgerbridge.sandbox.zettle import ZettleSandbox
from tests.specs import spec_path

EXAMPLES = spec_path("zettle/examples")
pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason=f"no examples at {EXAMPLES}")
POLICY = CommercePolicy.model_validate({
    "states": {"completed": "create_invoice"},
    "rounding_account": "AFRUND",
    "vat": {"home_country": "SE", "domestic_codes": {"25": "MP1", "12": "MP2", "6": "MP3",
                                                     "0": "MF"}},
})  # fmt: skip


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_the_discount_example_becomes_an_order_at_its_net_amounts() -> None:
    purchase = example("purchase-purchase-with-discounts")["purchases"][0]
    order = Order.model_validate(order_from_purchase(purchase))
    assert [(ln.description, ln.net_amount, ln.tax_rate) for ln in order.lines] == [
        ("T-shirt - Small", Decimal("67.86"), Decimal(12)),
        ("T-shirt - Large", Decimal("67.86"), Decimal(12)),
    ]
    assert [ln.unit_price for ln in order.lines] == [Decimal("67.8600")] * 2
    assert sum(ln.tax_amount for ln in order.lines) == order.total_tax == Decimal("16.28")
    assert sum(ln.net_amount + ln.tax_amount for ln in order.lines) == order.total == 152
    assert order.number == "34" and order.state == "completed" and order.paid_at
    assert order.payment_method is None, "the example's payment names no type"
    assert order.customer.customer_kind == "b2c" and order.customer.email is None
    # Zettle's VAT per row against VAT on the rate's net sum: a one-cent rounding line.
    totals = check_totals(order, POLICY)
    assert (totals.status, totals.rounding_amount) == ("rounding", Decimal("-0.01"))


def test_the_partial_refund_example_is_a_refund_of_one_line_of_its_sale() -> None:
    refund_json, sale_json = example("purchase-purchases-with-partial-refund")["purchases"]
    order = Order.model_validate(order_from_purchase(sale_json))
    refund = Refund.model_validate(refund_from_purchase(refund_json))
    assert refund.order_source_id == order.source_id == sale_json["purchaseUUID1"]
    assert refund.amount == Decimal("100.00")
    (line,) = refund.lines
    assert (line.quantity, line.net_amount, line.tax_amount) == (1, Decimal("89.29"),
                                                                 Decimal("10.71"))  # fmt: skip
    assert line.order_line_id == order.lines[0].source_id != order.lines[1].source_id
    assert order.payment_method is not None and order.payment_method.code == "IZETTLE_CASH"
    assert order.transaction_id is None, "cash is not paid out by Zettle"
    decision = credit_note_lines(refund, order, POLICY)
    (credited,) = decision.lines
    assert (credited.quantity, credited.unit_price, credited.vat_rate) == (
        -1, Decimal("89.29"), Decimal(12))  # fmt: skip
    assert decision.totals is not None and decision.totals.status == "match"
    with pytest.raises(SkipRecord, match="not_a_sale"):
        order_from_purchase(refund_json)
    with pytest.raises(SkipRecord, match="not_a_refund"):
        refund_from_purchase(sale_json)


def test_a_card_sale_refunded_in_cash_is_credited_on_the_cash_term() -> None:
    refund_json, sale_json = example("purchase-purchases-with-partial-refund")["purchases"]
    sale_json["payments"][0]["type"] = "IZETTLE_CARD"
    order = Order.model_validate(order_from_purchase(sale_json))
    refund = Refund.model_validate(refund_from_purchase(refund_json))
    assert refund.payment_method is not None and refund.payment_method.code == "IZETTLE_CASH"
    settings = POLICY.model_copy(update={"payment_methods": {
        "IZETTLE_CARD": PaymentRule(payment_term="Kort", registered_as_paid=True),
        "IZETTLE_CASH": PaymentRule(payment_term="Kontant", registered_as_paid=True),
    }})  # fmt: skip
    invoice = Prior("inv-1", "paid", "party-till", "Kort")
    result = refund_flow(refund, order, settings, invoice)
    assert result.credit_note is not None and result.credit_note["payment_term"] == "Kontant"


def rung_up(body: dict[str, Any]) -> dict[str, Any]:
    sandbox = ZettleSandbox(clock=ManualClock(datetime(2026, 11, 2, 12, tzinfo=UTC)))
    try:
        return sandbox.ring_up(body)
    finally:
        sandbox.close()


def test_a_split_payment_is_the_larger_payments_method_and_the_cards_transaction() -> None:
    purchase = rung_up({
        "products": [{"name": "Pasta", "sku": "MAD-1", "unit_price": 18900, "quantity": 2,
                      "vat_percentage": 12},
                     {"name": "Vin", "sku": "VIN-1", "unit_price": 45000, "vat_percentage": 25,
                      "discount": {"percentage": 10}},
                     {"name": "Avis", "unit_price": 3900, "vat_percentage": 6}],
        "discount": {"amount": 5000},
        "service_charge": {"amount": 4000, "title": "Service", "vat_percentage": 25},
        "payments": [{"type": "IZETTLE_CARD", "amount": 50000, "tip": 3000},
                     {"type": "IZETTLE_CASH"}],
    })  # fmt: skip
    card, cash = purchase["payments"]
    order = Order.model_validate(order_from_purchase(purchase, "DRIKKE", "SERVICE"))
    assert order.payment_method is not None and order.payment_method.code == "IZETTLE_CARD"
    assert order.transaction_id == card["uuid"]
    assert [(ln.kind, ln.sku) for ln in order.lines] == [
        ("item", "MAD-1"), ("item", "VIN-1"), ("item", None), ("fee", "SERVICE"),
        ("fee", "DRIKKE")]  # fmt: skip
    tip = order.lines[-1]
    assert (tip.net_amount, tip.tax_rate, tip.tax_amount) == (Decimal(30), 0, 0)
    assert order.total == Decimal(purchase["amount"] + 3000) / 100
    assert sum(ln.net_amount + ln.tax_amount for ln in order.lines) == order.total
    assert order.total_tax == Decimal(purchase["vatAmount"]) / 100
    assert {t.rate for t in order.tax_lines} == {Decimal(6), Decimal(12), Decimal(25)}
    assert check_totals(order, POLICY).status in ("match", "rounding")
    # Each part, the tip inside the card's, adds up to what the customer paid.
    assert [(t.code, t.title, t.amount) for t in order.tenders] == [
        ("IZETTLE_CARD", "Card (Zettle)", Decimal(card["amount"]) / 100),
        ("IZETTLE_CASH", "Cash", Decimal(cash["amount"]) / 100),
    ]
    assert sum(t.amount for t in order.tenders) == order.total
    mostly_cash = rung_up(
        {
            "products": [{"name": "Kaffe", "unit_price": 4000}],
            "payments": [{"type": "IZETTLE_CARD", "amount": 1000}, {"type": "IZETTLE_CASH"}],
        }
    )
    other = Order.model_validate(order_from_purchase(mostly_cash))
    assert other.payment_method is not None and other.payment_method.code == "IZETTLE_CASH"
    assert other.transaction_id == mostly_cash["payments"][0]["uuid"]
    assert cash["type"] == "IZETTLE_CASH"
    two_cards = rung_up({"products": [{"name": "Kaffe", "unit_price": 4000}],
                         "payments": [{"type": "IZETTLE_CARD", "amount": 1000},
                                      {"type": "IZETTLE_CARD"}]})  # fmt: skip
    assert Order.model_validate(order_from_purchase(two_cards)).tenders == [], "one method"


def test_unreadable_purchases_are_skipped_with_a_reason() -> None:
    good = rung_up({"products": [{"name": "Kaffe", "unit_price": 4000}]})
    for broken in (
        {**good, "currency": None},
        {**good, "products": [{**good["products"][0], "quantity": "abc"}]},
        {**good, "products": [{**good["products"][0], "rowTaxableAmount": "1e999"}]},
        {**good, "timestamp": "yesterday"},
        {**good, "products": []},
    ):
        with pytest.raises(SkipRecord) as skipped:
            order_from_purchase(broken)
        assert skipped.value.reason == "invalid_remote_data"


GUIDE = [
    {"timestamp": "2020-11-22T04:00:00.000+0000", "amount": -3404,
     "originatorTransactionType": "PAYOUT",
     "originatingTransactionUuid": "9a1d5a40-2c7a-11eb-a3c6-b3c3a6ffe0f1"},
    *example("finance-liquid-transactions-guide-example")["data"],
]  # fmt: skip


def test_a_payout_is_its_entry_and_the_payments_since_the_previous_one() -> None:
    entries = [Entry.read(row) for row in GUIDE]
    ((payout, lines),) = group_payouts(entries)
    numbers = {"6820265b-953e-43a7-bb65-abac1ef104bf": "1042"}
    row = payout_row(payout, lines, "GBP", numbers)
    made = Payout.model_validate(payout_from_row(row))
    assert (made.provider, made.status, made.source_id) == ("zettle", "paid", payout.uuid)
    assert (made.gross, made.fees, made.net) == (Decimal("41.00"), Decimal("6.96"),
                                                 Decimal("34.04"))  # fmt: skip
    by_id = {line.line_id: line for line in made.lines}
    late = by_id["6820265b-953e-43a7-bb65-abac1ef104bf"]
    assert (late.type, late.gross, late.fee, late.net) == (
        "charge",
        Decimal("11.00"),
        Decimal("6.21"),
        Decimal("4.79"),
    )
    assert (late.psp_ref, late.order_ref) == (late.line_id, "1042")
    assert by_id["e548933c-53fb-4a99-bbc5-c31f7861bcc3"].order_ref is None
    assert made.difference == 0 and made.arrival_date.isoformat() == "2020-11-22"
    # The OpenAPI file's shape of the same entries: string amounts, the other uuid key,
    # times without an offset.
    bare = [
        {"timestamp": r["timestamp"][:19], "amount": str(r["amount"]),
         "originatorTransactionType": r["originatorTransactionType"],
         "originatorTransactionUuid": r["originatingTransactionUuid"]}
        for r in GUIDE
    ]  # fmt: skip
    ((again, again_lines),) = group_payouts(Entry.read(r) for r in bare)
    same = Payout.model_validate(payout_from_row(payout_row(again, again_lines, "GBP", numbers)))
    assert [(ln.line_id, ln.net) for ln in same.lines] == [(ln.line_id, ln.net)
                                                           for ln in made.lines]  # fmt: skip


def test_entries_after_the_last_payout_wait_and_refunds_are_negative_lines() -> None:
    rows = [
        ("2026-11-01T10:00:00", 20000, "PAYMENT", "a"), ("2026-11-01T10:00:01", -350,
                                                         "PAYMENT_FEE", "a"),
        ("2026-11-01T11:00:00", -5000, "PAYMENT", "r"), ("2026-11-01T11:00:01", 88,
                                                         "PAYMENT_FEE", "r"),
        ("2026-11-01T12:00:00", -1000, "FROZEN_FUNDS", "c"),
        ("2026-11-02T04:00:00", -13738, "PAYOUT", "p1"),
        ("2026-11-02T10:00:00", 9000, "PAYMENT", "b"),
    ]  # fmt: skip
    entries = [
        Entry.read({"timestamp": t, "amount": a, "originatorTransactionType": k,
                    "originatingTransactionUuid": u})
        for t, a, k, u in rows
    ]  # fmt: skip
    ((payout, lines),) = group_payouts(entries)
    made = Payout.model_validate(payout_from_row(payout_row(payout, lines, "DKK", {}, 500)))
    types = {line.line_id: line.type for line in made.lines}
    assert types == {"a": "charge", "r": "refund", "FROZEN_FUNDS:c": "chargeback"}
    refund = next(line for line in made.lines if line.line_id == "r")
    assert (refund.gross, refund.fee, refund.net) == (Decimal(-50), Decimal("-0.88"),
                                                      Decimal("-49.12"))  # fmt: skip
    assert made.net == Decimal("137.38") and made.difference == 0
    assert made.bank_reference and "5.00 DKK" in made.bank_reference, "opening balance shown"


def test_a_signed_delivery_is_accepted_once_per_message_and_a_bad_one_refused() -> None:
    event = example("pusher-PurchaseCreated")
    event.pop("payload_decoded")
    body = json.dumps(event).encode()
    key = "zLzClQLQN8yfH8aEjONeXzgJRAHR0zpD7RonFCpizujCUCectBlln0vFArTbLPYa"
    signed = hmac.new(key.encode(), f"{event['timestamp']}.{event['payload']}".encode(),
                      hashlib.sha256).hexdigest()  # fmt: skip
    now = datetime.now(UTC)
    ident = check_signature({"signing_key": key}, {"X-iZettle-Signature": signed}, body, now)
    assert ident == f"zettle:{event['messageUuid']}"
    for headers, secrets in (
        ({"X-iZettle-Signature": signed[:-1] + "0"}, {"signing_key": key}),
        ({}, {"signing_key": key}),
        ({"X-iZettle-Signature": signed}, {}),
    ):
        with pytest.raises(CallbackRefused):
            check_signature(secrets, headers, body, now)
    with pytest.raises(CallbackRefused):
        check_signature({"signing_key": key}, {"X-iZettle-Signature": signed}, b"{", now)
    found = notices(body)
    purchase = json.loads(event["payload"])["purchaseUuid"]
    assert {(n.stream, n.remote_id) for n in found} == {("purchases", purchase),
                                                        ("refunds", purchase)}  # fmt: skip
    test_message = {**event, "eventName": "TestMessage", "payload": '{"data":"payload"}'}
    assert notices(json.dumps(test_message).encode()) == []
    refund = {**event, "payload": json.dumps({"purchaseUuid": "x", "refund": True})}
    assert [n.stream for n in notices(json.dumps(refund).encode())] == ["refunds"]


def test_the_client_id_is_read_from_the_api_key() -> None:
    sandbox = ZettleSandbox()
    try:
        key = sandbox.default_key
        assert client_id_of(key.key) == key.client_id
    finally:
        sandbox.close()
    for bad in ("not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.sig"):
        with pytest.raises(AuthenticationFailed, match="API key"):
            client_id_of(bad)
