"""Report API entries → canonical payouts, without I/O: the guide's worked example, gross
settlement, fees not known, and entries the mapping cannot read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.vipps_mobilepay.mapping import PayoutMapping, payout_record
from ledgerbridge.model.payout import Payout

LEDGER = "302321"


def entry(kind: str, amount: int, psp: str, reference: str, minute: int) -> dict[str, Any]:
    return {
        "pspReference": psp,
        "time": f"2026-03-10T09:{minute:02d}:00.000000Z",
        "ledgerDate": "2026-03-10",
        "entryType": kind,
        "reference": reference,
        "currency": "DKK",
        "amount": amount,
        "recipientHandle": "DK:123455",
    }


def guide(settlement: str = "net", with_fees: bool = True) -> dict[str, Any]:
    """Captures 100, 100 and 200 kr (fee 4 kr each), a refund of 100, payout 288 (net)."""
    entries = [
        entry("capture", 10000, "9001", "order-1001", 1),
        entry("capture", 10000, "9002", "order-1002", 2),
        entry("capture", 20000, "9003", "order-1003", 3),
        entry("refund", -10000, "9004", "order-1003", 4),
    ]
    payout_amount = -30000
    if settlement == "net":
        entries.append(entry("fees-retained", -1200, "9005", "9005", 5))
        payout_amount = -28800
    paid = (("9001", "order-1001", 1), ("9002", "order-1002", 2), ("9003", "order-1003", 3))
    fees = [entry("capture-fee", -400, psp, ref, minute) for psp, ref, minute in paid]
    payout = entry("payout-scheduled", payout_amount, "2000023",
                   "Vipps utbet. 2000023 Vippsnr 57860", 6)  # fmt: skip
    return {
        "ledgerId": LEDGER,
        "payout": payout,
        "entries": entries,
        "fees": fees if with_fees else [],
    }


def test_the_guides_worked_example_is_a_payout_of_288_with_the_fees_on_the_capture_lines() -> None:
    record = payout_record(guide())
    payout = Payout.model_validate(record)
    assert payout.source_id == f"{LEDGER}:2000023"
    assert payout.bank_reference == "Vipps utbet. 2000023 Vippsnr 57860"
    assert payout.status == "paid" and payout.currency == "DKK"
    assert (payout.gross, payout.fees, payout.net) == (Decimal(300), Decimal(12), Decimal(288))
    assert [(line.type, line.gross, line.fee, line.net) for line in payout.lines] == [
        ("charge", Decimal(100), Decimal(4), Decimal(96)),
        ("charge", Decimal(100), Decimal(4), Decimal(96)),
        ("charge", Decimal(200), Decimal(4), Decimal(196)),
        ("refund", Decimal(-100), Decimal(0), Decimal(-100)),
    ]
    assert [(line.order_ref, line.psp_ref) for line in payout.lines] == [
        ("order-1001", "9001"), ("order-1002", "9002"), ("order-1003", "9003"),
        ("order-1003", "9004"),
    ]  # fmt: skip
    assert payout.difference == 0
    assert PayoutMapping().remote_id(guide()) == payout.source_id


def test_fees_retained_that_the_fees_topic_does_not_explain_become_a_fee_line() -> None:
    payout = Payout.model_validate(payout_record(guide(with_fees=False)))
    fee_lines = [line for line in payout.lines if line.type == "fee"]
    assert [(line.gross, line.fee, line.net) for line in fee_lines] == [
        (Decimal(0), Decimal(12), Decimal(-12))
    ]
    assert all(line.fee == 0 for line in payout.lines if line.type != "fee")
    assert payout.net == Decimal(288) and payout.difference == 0


def test_gross_settlement_pays_everything_out_and_gives_the_invoiced_fees_back() -> None:
    payout = Payout.model_validate(payout_record(guide("gross")))
    assert (payout.gross, payout.fees, payout.net) == (Decimal(300), Decimal(0), Decimal(300))
    fee_line = [line for line in payout.lines if line.type == "fee"]
    assert [(line.fee, line.net) for line in fee_line] == [(Decimal(-12), Decimal(12))]
    assert payout.difference == 0


def test_corrections_and_unknown_entry_types_are_lines_of_their_own() -> None:
    remote = guide()
    remote["entries"].insert(0, entry("correction", 500, "9010", "Correction of 2026-03-09", 0))
    remote["entries"].insert(0, entry("brand-new-type", 100, "9011", "x", 0))
    remote["payout"]["amount"] = -29400
    payout = Payout.model_validate(payout_record(remote))
    kinds = {line.psp_ref: (line.type, line.order_ref, line.description) for line in payout.lines}
    assert kinds["9010"] == ("adjustment", None, "Correction of 2026-03-09")
    assert kinds["9011"] == ("other", None, "Vipps MobilePay entry brand-new-type")
    assert payout.net == Decimal(294) and payout.difference == 0


@pytest.mark.parametrize("amount", ["100", 1.5, None, True])
def test_an_amount_that_is_not_whole_minor_units_skips_the_payout(amount: Any) -> None:
    remote = guide()
    remote["entries"][0]["amount"] = amount
    with pytest.raises(SkipRecord) as caught:
        payout_record(remote)
    assert caught.value.reason == "invalid_remote_data"


def test_a_payout_without_its_payout_entry_is_skipped() -> None:
    remote = guide()
    remote["payout"] = remote["entries"][0]
    with pytest.raises(SkipRecord):
        payout_record(remote)
