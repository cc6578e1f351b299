"""WooPayments deposits and transactions → canonical payouts: pure functions, no I/O.

The wire objects are shaped as WooPayments' REST docs' examples (``deposits.md``,
``transaction.md``, stored in ``shared/specs/woocommerce/examples``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.commerce.paymatch import InvoiceFact, PayMatchPolicy, post_payout
from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.woocommerce.payouts import (
    MISSING,
    MISSING_ID,
    TRANSACTIONS,
    DepositMapping,
    payout_record,
)
from ledgerbridge.model import Payout

DATE_MS = 1_764_892_800_000  # 2025-12-05 00:00 UTC
NOW = dt.datetime(2025, 12, 6, tzinfo=dt.UTC)


class Nothing:
    """A hub that knows no order: every payment goes to the error account."""

    def by_order_ref(self, ref: str) -> InvoiceFact | None:
        return None

    def by_psp_ref(self, ref: str) -> InvoiceFact | None:
        return None

    def settled_by(self, invoice_number: str) -> str | None:
        return None


def txn(
    txn_id: str, kind: str, amount: int, fees: int, number: str, **extra: Any
) -> dict[str, Any]:
    return {
        "transaction_id": txn_id, "type": kind, "channel": "online",
        "date": "2025-12-03 09:07:29", "amount": amount, "net": amount - fees, "fees": fees,
        "currency": "dkk", "charge_id": f"ch_{number}", "payment_intent_id": f"pi_{number}",
        "deposit_id": "po_1", "exchange_rate": 1.0, "customer_amount": abs(amount),
        "customer_currency": "dkk", "order_id": int(number),
        "order": {"number": f"WC-{number}", "url": "", "subscriptions": []}, **extra,
    }  # fmt: skip


def deposit(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "po_1OJ466CBu6Jj8nBr38JRxdNE", "date": DATE_MS, "type": "deposit",
        "amount": sum(line["net"] for line in lines), "status": "paid",
        "bankAccount": "STRIPE TEST BANK •••• 3000 (DKK)", "currency": "dkk",
        "automatic": True, "fee": 0, "fee_percentage": 0, "created": DATE_MS // 1000,
        TRANSACTIONS: list(lines), **extra,
    }  # fmt: skip


def test_deposit_with_a_charge_and_a_refund_is_one_itemised_payout() -> None:
    charge = txn("txn_1", "charge", 29_875, 628, "1001")
    refund = txn("txn_2", "refund", -10_000, 0, "1002")
    record = payout_record(deposit(charge, refund))
    payout = Payout.model_validate(record)
    assert (payout.provider, payout.source_id, payout.status) == (
        "woopayments", "po_1OJ466CBu6Jj8nBr38JRxdNE", "paid")  # fmt: skip
    assert str(payout.arrival_date) == "2025-12-05" and payout.currency == "DKK"
    assert payout.created_at is not None and payout.created_at.year == 2025
    assert (payout.gross, payout.fees, payout.net) == (
        Decimal("198.75"), Decimal("6.28"), Decimal("192.47"))  # fmt: skip
    assert payout.difference == 0 and payout.itemised
    first, second = payout.lines
    assert (first.line_id, first.type, first.gross, first.fee, first.net) == (
        "txn_1", "charge", Decimal("298.75"), Decimal("6.28"), Decimal("292.47"))  # fmt: skip
    assert (first.order_ref, first.psp_ref) == ("WC-1001", "ch_1001")
    assert first.occurred_at is not None and first.occurred_at.isoformat().startswith(
        "2025-12-03T09:07:29"
    )
    assert (second.type, second.gross, second.fee, second.net) == (
        "refund", Decimal("-100.00"), Decimal(0), Decimal("-100.00"))  # fmt: skip
    assert first.original_currency is None


def test_types_withdrawal_foreign_currency_and_order_id_without_number() -> None:
    dispute = txn("txn_3", "dispute", -5_000, 1_500, "1003")
    foreign = txn("txn_4", "charge", 7_460, 200, "1004", customer_amount=1_000,
                  customer_currency="eur", order={"number": None})  # fmt: skip
    reader = txn("txn_5", "card_reader_fee", -300, 0, "1005")
    record = payout_record(deposit(dispute, foreign, reader, type="withdrawal", amount=3_460))
    payout = Payout.model_validate(record)
    assert payout.net == Decimal("-34.60"), "a withdrawal takes money from the bank"
    kinds = [(ln.type, ln.gross, ln.fee, ln.net) for ln in payout.lines]
    assert kinds == [
        ("chargeback", Decimal("-50.00"), Decimal("15.00"), Decimal("-65.00")),
        ("charge", Decimal("74.60"), Decimal("2.00"), Decimal("72.60")),
        ("fee", Decimal(0), Decimal("3.00"), Decimal("-3.00")),
    ]
    assert (payout.lines[1].original_currency, payout.lines[1].original_amount) == (
        "EUR", Decimal("10.00"))  # fmt: skip
    assert payout.lines[1].order_ref == "1004", "the order id when no number is given"


def test_statuses_and_a_deposit_without_transactions() -> None:
    settling = payout_record(deposit(status="in_transit", amount=1_000, **{TRANSACTIONS: None}))
    assert settling["status"] == "in_transit" and settling["itemised"] is False
    assert Decimal(settling["gross"]) == Decimal(settling["net"]) == Decimal("10.00")
    assert settling["lines"] == []
    assert payout_record(deposit(status="estimated"))["status"] == "pending"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"currency": None}, "invalid_remote_data"),
        ({"date": "2025-12-05"}, "invalid_remote_data"),
        ({"amount": "10.00"}, "invalid_remote_data"),
        ({TRANSACTIONS: [txn("txn_9", "charge", 1_000, 30, "1009", net=1_000)]},
         "invalid_remote_data"),
        ({TRANSACTIONS: [{**txn("txn_9", "charge", 0, 0, "1009"), "amount": 10.5}]},
         "invalid_remote_data"),
        ({MISSING: "no WooPayments"}, "woopayments_not_active"),
    ],
)  # fmt: skip
def test_unreadable_deposits_are_skipped_with_a_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(SkipRecord) as caught:
        payout_record({**deposit(), **change})
    assert caught.value.reason == reason


def test_mapping_is_inbound_only_keyed_by_deposit_id() -> None:
    mapping = DepositMapping()
    assert (mapping.entity, mapping.business_key_field, mapping.outbound) == (
        "payout", "source_id", False)  # fmt: skip
    assert mapping.remote_id(deposit()) == "po_1OJ466CBu6Jj8nBr38JRxdNE"
    assert mapping.remote_id({"id": MISSING_ID, MISSING: "x"}) == "woopayments"
    assert mapping.to_canonical(deposit(), {})["source_id"] == "po_1OJ466CBu6Jj8nBr38JRxdNE"


def test_an_instant_deposit_s_own_fee_is_a_fee_line_and_the_lines_add_up() -> None:
    """WooPayments keeps an instant deposit's fee from the deposit: PayMatch books it on the
    fee account, not as a difference on the error account."""
    charge = txn("txn_1", "charge", 29_875, 628, "1001")
    record = payout_record(deposit(charge, amount=29_247 - 439, fee=439, fee_percentage=1.5))
    payout = Payout.model_validate(record)
    assert (payout.net, payout.fees, payout.difference) == (
        Decimal("288.08"), Decimal("10.67"), Decimal(0))  # fmt: skip
    fee = payout.lines[-1]
    assert (fee.type, fee.gross, fee.fee, fee.net) == (
        "fee", Decimal(0), Decimal("4.39"), Decimal("-4.39"))  # fmt: skip
    policy = PayMatchPolicy(
        journal="PAYMATCH", receivable_account="5820", fee_account="7220", bank_account="5900",
        error_account="5990", start_date=dt.date(2025, 1, 1),
    )  # fmt: skip
    decision = post_payout(payout, policy, Nothing(), seen_at=NOW, now=NOW)
    assert decision.posting is not None
    posted = [(ln["account"], ln["amount"], ln.get("reason")) for ln in decision.posting["lines"]]
    assert ("7220", "4.39", None) in posted
    assert not [ln for ln in posted if ln[2] == "payout_difference"], posted
