"""Stripe wire → canonical payouts, and the webhook signature check: pure functions, no I/O.

The wire objects are shaped as the official OpenAPI (2023-08-16) and the 2026 fixtures in
``shared/specs/stripe`` describe them."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.base import CallbackRefused, ChangeNotice, SkipRecord
from ledgerbridge.connectors.stripe.connector import CurrencyScoped
from ledgerbridge.connectors.stripe.mapping import PayoutMapping, line_type, payout_record
from ledgerbridge.connectors.stripe.webhooks import check_signature, notices
from ledgerbridge.model import Payout

CREATED = 1_764_748_800  # 2025-12-03 08:00 UTC
ARRIVAL = 1_764_892_800  # 2025-12-05 00:00 UTC


def charge(charge_id: str, amount: int, currency: str = "dkk", **metadata: str) -> dict[str, Any]:
    return {"id": charge_id, "object": "charge", "amount": amount, "currency": currency,
            "metadata": metadata, "payment_intent": f"pi_{charge_id[3:]}"}  # fmt: skip


def txn(
    txn_id: str,
    kind: str,
    amount: int,
    fee: int = 0,
    source: Any = None,
    *,
    category: str | None = None,
    created: int = CREATED,
    exchange_rate: float | None = None,
) -> dict[str, Any]:
    return {
        "id": txn_id, "object": "balance_transaction", "amount": amount, "fee": fee,
        "fee_details": [{"amount": fee, "currency": "dkk", "type": "stripe_fee",
                         "description": "Stripe processing fees", "application": None}]
        if fee else [],
        "net": amount - fee, "currency": "dkk", "created": created, "available_on": created,
        "exchange_rate": exchange_rate, "reporting_category": category or kind,
        "source": source, "status": "available", "type": kind, "description": None,
    }  # fmt: skip


def payout(transactions: list[dict[str, Any]] | None, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": "po_1", "object": "payout", "amount": amount, "arrival_date": ARRIVAL,
        "automatic": transactions is not None, "balance_transaction": "txn_po",
        "created": CREATED + 3600, "currency": "dkk", "description": "STRIPE PAYOUT",
        "statement_descriptor": None, "status": "paid", "method": "standard",
        "reconciliation_status": "completed" if transactions is not None else "not_applicable",
        "_transactions": transactions, **extra,
    }  # fmt: skip


def mixed() -> dict[str, Any]:
    """A charge, a refund of another charge, a dispute, a fee of its own, an EUR charge and
    the payout's own transaction, newest first as Stripe lists them."""
    sold = charge("ch_a", 50000, order_id="1001")
    refunded = charge("ch_b", 20000, order_number="1002")
    disputed = charge("ch_c", 30000, order_id="1003")
    euro = charge("ch_d", 4000, "eur", order_id="1004")
    rows = [
        txn("txn_po", "payout", -91_842, source="po_1", category="payout"),
        txn("txn_fee", "stripe_fee", -2500, category="fee", created=CREATED + 50),
        txn("txn_eur", "charge", 29841, 628, euro, exchange_rate=7.4603, created=CREATED + 40),
        txn("txn_dp", "adjustment", -30000, 1500,
            {"id": "dp_1", "object": "dispute", "amount": 30000, "currency": "dkk",
             "charge": disputed, "metadata": {}},
            category="dispute", created=CREATED + 30),
        txn("txn_re", "refund", -5000, 0,
            {"id": "re_1", "object": "refund", "amount": 5000, "currency": "dkk",
             "charge": refunded, "metadata": {}},
            created=CREATED + 20),
        txn("txn_a", "charge", 50000, 930, sold, created=CREATED + 10),
        txn("txn_b", "charge", 20000, 480, "ch_b", created=CREATED + 5),
        txn("txn_c", "charge", 30000, 630, disputed),
    ]  # fmt: skip
    net = sum(row["net"] for row in rows[1:])
    rows[0] = txn("txn_po", "payout", -net, source="po_1", category="payout")
    return payout(rows, net)


def test_every_kind_of_movement_becomes_a_line_with_the_shops_references() -> None:
    record = payout_record(mixed())
    built = Payout.model_validate(record)
    assert built.itemised and built.status == "paid" and built.currency == "DKK"
    assert str(built.arrival_date) == "2025-12-05"
    lines = {line.line_id: line for line in built.lines}
    assert "txn_po" not in lines, "the payout's own transaction is no line"
    assert [line.line_id for line in built.lines] == [
        "txn_c", "txn_b", "txn_a", "txn_re", "txn_dp", "txn_eur", "txn_fee"
    ], "oldest first"  # fmt: skip
    sold = lines["txn_a"]
    assert (sold.type, sold.gross, sold.fee, sold.net) == (
        "charge",
        Decimal("500.00"),
        Decimal("9.30"),
        Decimal("490.70"),
    )
    assert (sold.order_ref, sold.psp_ref) == ("1001", "ch_a")
    refund = lines["txn_re"]
    assert (refund.type, refund.gross, refund.net) == ("refund", Decimal("-50"), Decimal("-50"))
    assert (refund.order_ref, refund.psp_ref) == ("1002", "ch_b"), "from the refund's charge"
    dispute = lines["txn_dp"]
    assert (dispute.type, dispute.gross, dispute.fee, dispute.net) == (
        "chargeback", Decimal("-300"), Decimal("15"), Decimal("-315"))  # fmt: skip
    assert (dispute.order_ref, dispute.psp_ref) == ("1003", "ch_c")
    fee = lines["txn_fee"]
    assert (fee.type, fee.gross, fee.fee, fee.net) == ("fee", 0, Decimal("25"), Decimal("-25"))
    assert fee.psp_ref is None and fee.order_ref is None
    unexpanded = lines["txn_b"]
    assert unexpanded.psp_ref == "ch_b" and unexpanded.order_ref is None
    assert built.difference == 0, "the lines' net is what reached the bank"
    assert built.gross - built.fees == built.net
    assert built.fees == sum(line.fee for line in built.lines)


def test_a_charge_converted_by_stripe_keeps_the_currency_the_customer_paid_in() -> None:
    built = Payout.model_validate(payout_record(mixed()))
    euro = next(line for line in built.lines if line.line_id == "txn_eur")
    assert (euro.original_currency, euro.original_amount) == ("EUR", Decimal("40.00"))
    assert euro.gross == Decimal("298.41") and euro.order_ref == "1004"
    plain = next(line for line in built.lines if line.line_id == "txn_a")
    assert plain.original_currency is None and plain.original_amount is None


def test_a_manual_payout_is_not_itemised() -> None:
    built = Payout.model_validate(payout_record(payout(None, 123_456)))
    assert not built.itemised and built.lines == []
    assert (built.gross, built.fees, built.net) == (Decimal("1234.56"), 0, Decimal("1234.56"))
    assert built.difference == Decimal("1234.56"), "the whole amount is unmatched"


def test_amounts_follow_the_currencys_minor_unit() -> None:
    rows = [txn("txn_po", "payout", -9800, source="po_1"), txn("txn_1", "charge", 10000, 200)]
    for row in rows:
        row["currency"] = "jpy"
    built = Payout.model_validate(payout_record(payout(rows, 9800, currency="jpy")))
    assert built.net == Decimal("9800") and built.lines[0].fee == Decimal("200")


def test_line_types_of_disputes_fees_and_the_rest() -> None:
    won_back = txn("txn_r", "adjustment", 30000, 0, "dp_1", category="dispute_reversal")
    assert line_type(won_back) == "chargeback_reversal"
    assert line_type(txn("txn_x", "adjustment", -100, category="other_adjustment")) == "adjustment"
    assert line_type(txn("txn_f", "payout_failure", 9000, category="payout_reversal")) == (
        "payout_reversal")  # fmt: skip
    assert line_type(txn("txn_t", "topup", 9000)) == "other"
    given_back = txn("txn_g", "application_fee_refund", 300)
    (line,) = payout_record(payout([given_back], 300))["lines"]
    assert (line["type"], line["gross"], line["fee"], line["net"]) == ("fee", "0", "-3", "3")


def test_unreadable_payouts_are_skipped_with_the_reason() -> None:
    broken = txn("txn_1", "charge", 10000, 200)
    broken["net"] = 9000
    with pytest.raises(SkipRecord) as caught:
        payout_record(payout([broken], 9000))
    assert caught.value.reason == "invalid_remote_data" and "txn_1" in caught.value.message
    with pytest.raises(SkipRecord) as refused:
        payout_record({**payout(None, 100), "_lines_refused": "invalid_request_error: no"})
    assert refused.value.reason == "payout_lines_unreadable"
    with pytest.raises(SkipRecord, match="arrival date"):
        payout_record(payout(None, 100, arrival_date=None))
    with pytest.raises(SkipRecord, match="whole number"):
        payout_record({**payout(None, 100), "amount": "12.5"})


def test_a_connection_with_a_currency_skips_payouts_in_another() -> None:
    mapping = CurrencyScoped("EUR")
    with pytest.raises(SkipRecord) as caught:
        mapping.to_canonical(payout(None, 100), {})
    assert caught.value.reason == "payout_currency_not_read"
    assert CurrencyScoped("DKK").to_canonical(payout(None, 100), {})["net"] == "1"
    assert PayoutMapping().remote_id(payout(None, 100)) == "po_1"


SECRET = "whsec_test_secret"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def signed(body: bytes, at: datetime = NOW, secret: str = SECRET) -> dict[str, str]:
    stamp = int(at.timestamp())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}"}


def event(kind: str, object_id: str = "po_9") -> bytes:
    data = {"object": {"id": object_id, "object": "payout"}}
    return json.dumps({"id": "evt_1", "object": "event", "type": kind, "data": data}).encode()


def test_a_signed_delivery_is_accepted_under_its_event_id_and_a_forged_one_refused() -> None:
    body = event("payout.paid")
    secrets = {"webhook_secret": SECRET}
    assert check_signature(secrets, signed(body), body, NOW) == "evt_1"
    two = signed(body)["Stripe-Signature"] + ",v1=" + "0" * 64
    assert check_signature(secrets, {"stripe-signature": two}, body, NOW) == "evt_1"
    refusals = [
        ({}, body),
        (signed(body, secret="whsec_other"), body),
        (signed(body), body + b" "),
        (signed(body, at=datetime(2026, 12, 3, 11, 50, tzinfo=UTC)), body),
        ({"Stripe-Signature": "v1=abc"}, body),
    ]
    for headers, sent in refusals:
        with pytest.raises(CallbackRefused):
            check_signature(secrets, headers, sent, NOW)
    with pytest.raises(CallbackRefused):
        check_signature({}, signed(body), body, NOW)


def test_payout_events_wake_a_read_of_the_payout_and_others_are_ignored() -> None:
    assert notices(event("payout.failed")) == [ChangeNotice("payouts", "po_9", "upsert")]
    assert notices(event("payout.reconciliation_completed", "po_2"))[0].remote_id == "po_2"
    assert notices(event("charge.succeeded", "ch_1")) == []
    assert notices(event("payout.paid", "ch_1")) == []
    assert notices(b"not json") == []
