"""PayMatch's decisions, table-tested: which account each payout line goes to, with which
invoice number and reason, and that every voucher balances."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.commerce.paymatch import (
    InvoiceFact,
    PayMatchPolicy,
    late_outcomes,
    payout_changes,
    payout_digest,
    payout_digests,
    post_payout,
    readdressed,
)
from ledgerbridge.model.journal import JournalPosting
from ledgerbridge.model.payout import Payout

NOW = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)
POLICY = PayMatchPolicy(
    journal="PAYMATCH", receivable_account="5820", fee_account="7220", bank_account="5900",
    error_account="5990", start_date=dt.date(2026, 11, 1),
)  # fmt: skip


class Known:
    """Orders by number and by transaction id, each with its invoice's state."""

    def __init__(
        self, *facts: tuple[str, str | None, str, str | None], settled: dict[str, str] | None = None
    ) -> None:
        self.settled = settled or {}
        self.by_number: dict[str, InvoiceFact] = {}
        self.by_txn: dict[str, InvoiceFact] = {}
        for number, txn, state, invoice in facts:
            fact = InvoiceFact(number, state, invoice, txn)  # type: ignore[arg-type]
            self.by_number[number] = fact
            if txn:
                self.by_txn[txn] = fact

    def by_order_ref(self, ref: str) -> InvoiceFact | None:
        return self.by_number.get(ref)

    def by_psp_ref(self, ref: str) -> InvoiceFact | None:
        return self.by_txn.get(ref)

    def settled_by(self, invoice_number: str) -> str | None:
        return self.settled.get(invoice_number)


def line(
    line_id: str, kind: str, gross: str, fee: str = "0", order: str | None = None,
    psp: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    net = str(Decimal(gross) - Decimal(fee))
    return {"line_id": line_id, "type": kind, "gross": gross, "fee": fee, "net": net,
            "order_ref": order, "psp_ref": psp}  # fmt: skip


def payout(*lines: dict[str, Any], net: str | None = None, **extra: Any) -> Payout:
    total = sum((Decimal(ln["net"]) for ln in lines), Decimal(0))
    body = {"provider": "stripe", "source_id": "po_1", "status": "paid",
            "arrival_date": "2026-12-02", "currency": "DKK",
            "gross": str(sum((Decimal(ln["gross"]) for ln in lines), Decimal(0))),
            "fees": str(sum((Decimal(ln["fee"]) for ln in lines), Decimal(0))),
            "net": net or str(total), "bank_reference": "STRIPE PAYOUT", "lines": list(lines),
            **extra}  # fmt: skip
    return Payout.model_validate(body)


def accounts(posting: dict[str, Any] | None) -> list[tuple[str, str, str | None, str | None]]:
    assert posting is not None
    checked = JournalPosting.model_validate(posting)  # balances, or raises
    return [(ln.account, f"{ln.amount:.2f}", ln.invoice, ln.reason) for ln in checked.lines]


BOOKED = Known(("1042", "ch_A", "booked", "5001"), ("1043", "ch_B", "booked", "5002"))


@pytest.mark.parametrize(
    ("lines", "policy", "expected"),
    [
        pytest.param(
            [line("t1", "charge", "100.00", "1.50", order="1042", psp="ch_A")],
            {},
            [
                ("5820", "-100.00", "5001", None),
                ("7220", "1.50", None, None),
                ("5900", "98.50", None, None),
            ],
            id="matched-by-order-number",
        ),
        pytest.param(
            [line("t1", "charge", "100.00", "1.50", psp="ch_B")],
            {},
            [
                ("5820", "-100.00", "5002", None),
                ("7220", "1.50", None, None),
                ("5900", "98.50", None, None),
            ],
            id="matched-by-transaction-id",
        ),
        pytest.param(
            [line("t1", "charge", "100.00", "1.50", order="9999", psp="ch_B")],
            {},
            [
                ("5820", "-100.00", "5002", None),
                ("7220", "1.50", None, None),
                ("5900", "98.50", None, None),
            ],
            id="order-ref-unknown-falls-back-to-psp",
        ),
        pytest.param(
            [
                line("t1", "charge", "100.00", "1.50", order="1042"),
                line("t2", "refund", "-40.00", "0", order="1043"),
            ],
            {},
            [
                ("5820", "-100.00", "5001", None),
                ("7220", "1.50", None, None),
                ("5820", "40.00", "5002", None),
                ("5900", "58.50", None, None),
            ],
            id="refund-debits-receivable",
        ),
        pytest.param(
            [
                line("t1", "charge", "100.00", "1.50", order="1042"),
                line("t2", "charge", "50.00", "0.75", psp="ch_B"),
            ],
            {"group_lines": True},
            [
                ("5820", "-150.00", None, None),
                ("7220", "2.25", None, None),
                ("5900", "147.75", None, None),
            ],
            id="grouped",
        ),
        pytest.param(
            [
                line("t1", "charge", "100.00", "1.50", order="1042"),
                line("t2", "charge", "20.00", "0.30", order="7777", psp="ch_X"),
            ],
            {},
            [
                ("5820", "-100.00", "5001", None),
                ("7220", "1.50", None, None),
                ("5990", "-20.00", None, "no_match"),
                ("7220", "0.30", None, None),
                ("5900", "118.20", None, None),
            ],
            id="unmatched-to-error-account",
        ),
        pytest.param(
            [line("t1", "charge", "100.00", "0", order="1042"), line("f1", "fee", "-5.00", "0")],
            {},
            [
                ("5820", "-100.00", "5001", None),
                ("7220", "5.00", None, None),
                ("5900", "95.00", None, None),
            ],
            id="fee-line-to-fee-account",
        ),
        pytest.param(
            [
                line("t1", "charge", "100.00", "0", order="1042"),
                line("c1", "chargeback", "-30.00", "15.00", psp="ch_A"),
            ],
            {},
            [
                ("5820", "-100.00", "5001", None),
                ("5990", "30.00", None, "unmatched_line_type"),
                ("7220", "15.00", None, None),
                ("5900", "55.00", None, None),
            ],
            id="chargeback-for-a-person",
        ),
    ],
)
def test_postings(lines: list[dict[str, Any]], policy: dict[str, Any], expected: Any) -> None:
    decision = post_payout(
        payout(*lines), POLICY.model_copy(update=policy), BOOKED, seen_at=NOW, now=NOW
    )
    assert decision.outcome == "post", decision.message
    assert accounts(decision.posting) == expected


def test_texts_carry_the_references() -> None:
    decision = post_payout(
        payout(line("t1", "charge", "100.00", "1.50", order="1042", psp="ch_A"),
               line("t2", "charge", "20.00", "0", order="1050", psp="ch_Z")),
        POLICY, BOOKED, seen_at=NOW, now=NOW,
    )  # fmt: skip
    assert decision.posting is not None
    texts = [ln["text"] for ln in decision.posting["lines"]]
    assert "order 1042, payment ch_A, invoice 5001" in texts[0]
    assert "no order with number 1050 or payment ch_Z" in texts[2]
    assert texts[-1] == "Payout po_1 STRIPE PAYOUT"
    assert decision.posting["reference"] == "po_1"
    assert decision.posting["payout_lines"] == {"t1": "98.50", "t2": "20.00"}


def test_difference_and_not_itemised() -> None:
    short = post_payout(
        payout(line("t1", "charge", "100.00", "1.50", order="1042"), net="98.00"),
        POLICY, BOOKED, seen_at=NOW, now=NOW,
    )  # fmt: skip
    assert accounts(short.posting)[-2:] == [
        ("5990", "0.50", None, "payout_difference"),
        ("5900", "98.00", None, None),
    ]
    whole = post_payout(payout(net="500.00", itemised=False), POLICY, BOOKED, seen_at=NOW, now=NOW)
    assert accounts(whole.posting) == [
        ("5900", "500.00", None, None),
        ("5990", "-500.00", None, "payout_not_itemised"),
    ]


@pytest.mark.parametrize(
    ("status", "arrival", "reason"),
    [
        ("failed", "2026-12-02", "payout_not_paid"),
        ("in_transit", "2026-12-02", "payout_not_paid"),
        ("paid", "2026-10-31", "before_start_date"),
    ],
)
def test_skips(status: str, arrival: str, reason: str) -> None:
    decision = post_payout(
        payout(line("t1", "charge", "10.00", order="1042"), status=status, arrival_date=arrival),
        POLICY, BOOKED, seen_at=NOW, now=NOW,
    )  # fmt: skip
    assert (decision.outcome, decision.reason) == ("skip", reason)


def test_waits_for_a_pending_invoice_then_posts_it_to_the_error_account() -> None:
    known = Known(("1042", "ch_A", "pending", None), ("1043", None, "none", None))
    body = payout(line("t1", "charge", "100.00", "1.00", order="1042"),
                  line("t2", "charge", "10.00", "0", order="1043"))  # fmt: skip
    early = post_payout(body, POLICY, known, seen_at=NOW, now=NOW + dt.timedelta(hours=2))
    assert early.outcome == "wait" and early.wait_until == NOW + dt.timedelta(hours=24)
    late = post_payout(body, POLICY, known, seen_at=NOW, now=NOW + dt.timedelta(hours=24))
    assert [r for *_, r in accounts(late.posting)] == [
        "invoice_not_booked",
        None,
        "order_not_invoiced",
        None,
    ]
    assert (late.matched, late.unmatched) == (0, 2)


def test_late_match_moves_the_line_once() -> None:
    body = payout(line("t1", "charge", "100.00", "1.00", order="1042"),
                  line("t2", "refund", "-20.00", "0", psp="ch_Q"))  # fmt: skip
    first = post_payout(body, POLICY, Known(), seen_at=NOW, now=NOW)
    posting = JournalPosting.model_validate(first.posting)
    assert late_outcomes(posting, POLICY, Known()).moves == []
    later = Known(("1042", None, "booked", "5001"), ("1099", "ch_Q", "booked", "5009"))
    moves = late_outcomes(posting, POLICY, later).moves
    assert [(m.line_id, m.invoice_number) for m in moves] == [("t1", "5001"), ("t2", "5009")]
    assert accounts(moves[0].posting) == [
        ("5990", "100.00", None, "late_match"),
        ("5820", "-100.00", "5001", None),
    ]
    assert accounts(moves[1].posting) == [
        ("5990", "-20.00", None, "late_match"),
        ("5820", "20.00", "5009", None),
    ]
    assert moves[0].posting["reference"] == "po_1/t1"
    assert late_outcomes(posting, POLICY, later, done=["t1", "t2"]).moves == []


def test_a_payment_of_an_invoice_settled_already_goes_to_the_error_account() -> None:
    known = Known(("1042", "ch_A", "booked", "5001"), ("1043", "ch_B", "booked", "5002"),
                  settled={"5001": "zettle payout Z1"})  # fmt: skip
    refund = line("r1", "refund", "-10.00", order="1042")
    body = payout(line("t1", "charge", "100.00", "1.00", order="1042"),
                  line("t2", "charge", "50.00", "0.50", psp="ch_B"), refund)  # fmt: skip
    decision = post_payout(body, POLICY, known, seen_at=NOW, now=NOW)
    assert accounts(decision.posting) == [
        ("5990", "-100.00", None, "already_settled"), ("7220", "1.00", None, None),
        ("5820", "-50.00", "5002", None), ("7220", "0.50", None, None),
        ("5820", "10.00", "5001", None), ("5900", "138.50", None, None),
    ]  # fmt: skip
    assert decision.settled == ["5002"], "a refund settles nothing"
    assert decision.posting is not None
    assert decision.posting["lines"][0]["text"] == (
        "Payout po_1: already_settled: invoice 5001 of order 1042 was settled by zettle payout "
        "Z1 already"
    )
    assert decision.message.endswith(
        "already settled, not taken off the receivable again: invoice 5001 (zettle payout Z1)"
    )

    posting = JournalPosting.model_validate(post_payout(
        body, POLICY, Known(), seen_at=NOW, now=NOW).posting)  # fmt: skip
    assert [m.line_id for m in late_outcomes(posting, POLICY, known).moves] == ["t2", "r1"]
    kept = late_outcomes(posting, POLICY, known).kept
    assert [(k.line_id, k.invoice_number, k.order, k.earlier, k.amount) for k in kept] == [
        ("t1", "5001", "1042", "zettle payout Z1", Decimal("-100.00"))
    ]
    assert late_outcomes(posting, POLICY, known, done=["t1"]).kept == []


def test_a_recheck_matches_each_error_line_once() -> None:
    """The recheck of a payout's error lines finds both the late matches and the payments
    settled meanwhile in one pass: each line's order is looked up once."""
    body = payout(line("t1", "charge", "100.00", order="1042"),
                  line("t2", "charge", "50.00", order="1043"))  # fmt: skip
    posting = JournalPosting.model_validate(
        post_payout(body, POLICY, Known(), seen_at=NOW, now=NOW).posting
    )
    known = Known(("1042", None, "booked", "5001"), ("1043", None, "booked", "5002"),
                  settled={"5001": "zettle payout Z1"})  # fmt: skip
    looked_up: list[str] = []
    lookup = known.by_order_ref

    def counted(ref: str) -> InvoiceFact | None:
        looked_up.append(ref)
        return lookup(ref)

    known.by_order_ref = counted  # type: ignore[method-assign]
    outcomes = late_outcomes(posting, POLICY, known)
    assert [m.line_id for m in outcomes.moves] == ["t2"]
    assert [k.line_id for k in outcomes.kept] == ["t1"]
    assert looked_up == ["1042", "1043"]


def test_a_late_match_of_a_long_payout_id_is_referenced_by_a_digest() -> None:
    """What docs/paymatch.md says of a late match's reference."""
    payout_id = "31f5e7c2-9a0b-11ef-8d2f-0242ac120002"
    body = payout(line("6c1d7f3e-9a0b-11ef-8d2f-0242ac120002", "charge", "100.00", order="1042"),
                  source_id=payout_id)  # fmt: skip
    posting = JournalPosting.model_validate(
        post_payout(body, POLICY, Known(), seen_at=NOW, now=NOW).posting
    )
    (move,) = late_outcomes(posting, POLICY, BOOKED).moves
    reference = move.posting["reference"]
    assert reference.startswith(f"{payout_id}/") and len(reference) == len(payout_id) + 13
    assert all(c in "0123456789abcdef" for c in reference.split("/")[1])


def test_currency_and_changes() -> None:
    body = payout(line("t1", "charge", "100.00", "1.50", order="1042"), currency="EUR")
    decision = post_payout(body, POLICY, BOOKED, seen_at=NOW, now=NOW)
    assert decision.posting is not None and decision.posting["currency"] == "EUR"
    posting = JournalPosting.model_validate(decision.posting)
    changed = payout(line("t1", "charge", "100.00", "2.50", order="1042"),
                     line("t9", "charge", "5.00", order="1043"), status="failed")  # fmt: skip
    assert payout_changes(posting, changed) == [
        "status paid → failed",
        "net 98.50 → 102.50",
        "line t1 net 98.50 → 97.50",
        "line t9 added",
    ]
    assert payout_digest(body) == payout_digest(Payout.model_validate(body.model_dump()))
    assert payout_digest(body) != payout_digest(changed)


def test_policy_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="wait_for_invoice_hours"):
        PayMatchPolicy.model_validate({**POLICY.model_dump(), "wait_for_invoice_hours": -1})
    with pytest.raises(ValueError, match="journal"):
        PayMatchPolicy.model_validate({**POLICY.model_dump(), "journal": ""})


def test_the_block_names_its_journal_and_accounts() -> None:
    assert [(c.field, c.kind, c.code) for c in POLICY.named_codes()] == [
        ("paymatch.journal", "journal", "PAYMATCH"),
        ("paymatch.receivable_account", "account", "5820"),
        ("paymatch.fee_account", "account", "7220"),
        ("paymatch.bank_account", "account", "5900"),
        ("paymatch.error_account", "account", "5990"),
    ]


def test_a_posting_takes_the_corrected_journal_and_accounts_and_keeps_the_rest() -> None:
    body = payout(line("t1", "charge", "100.00", "1.50", order="1042"),
                  line("t2", "charge", "20.00", "0", order="1050"))  # fmt: skip
    typo = POLICY.model_copy(update={"journal": "PAYMTCH", "fee_account": "7221"})
    posting = {**(post_payout(body, typo, BOOKED, seen_at=NOW, now=NOW).posting or {})}
    moved = readdressed(posting, POLICY, "r1")
    assert moved is not None and (moved["journal"], moved["route_id"]) == ("PAYMATCH", "r1")
    assert accounts(moved) == [
        ("5820", "-100.00", "5001", None),
        ("7220", "1.50", None, None),
        ("5990", "-20.00", None, "no_match"),
        ("5900", "118.50", None, None),
    ]
    assert [ln["text"] for ln in moved["lines"]] == [ln["text"] for ln in posting["lines"]]
    kept = ("reference", "payout_id", "date", "currency", "payout_lines", "payout_net")
    assert {k: moved[k] for k in kept} == {k: posting[k] for k in kept}
    assert readdressed(moved, POLICY, "r1") is None, "nothing left to change"


def test_a_late_match_moves_the_line_off_the_account_it_is_on() -> None:
    """The route's error account changed after the payout was posted: the late match takes
    the line off the old one, where it sits; a late match not sent yet follows the line."""
    body = payout(line("t1", "charge", "100.00", "1.00", order="1042"))
    posting = JournalPosting.model_validate(
        post_payout(body, POLICY, Known(), seen_at=NOW, now=NOW).posting
    )
    changed = POLICY.model_copy(update={"error_account": "5991", "receivable_account": "5821"})
    (move,) = late_outcomes(posting, changed, BOOKED).moves
    assert accounts(move.posting) == [
        ("5990", "100.00", None, "late_match"),
        ("5821", "-100.00", "5001", None),
    ]
    kept = readdressed(move.posting, changed, "r1", moved_from="5990")
    assert kept is not None and accounts(kept) == accounts(move.posting)
    followed = readdressed(move.posting, changed, "r1", moved_from="5991")
    assert followed is not None and [ln["account"] for ln in followed["lines"]] == ["5991", "5821"]


def test_a_bank_reference_learnt_later_leaves_the_digest_as_it_was() -> None:
    body = payout(line("t1", "charge", "100.00", "1.50", order="1042"), bank_reference=None)
    traced = body.model_copy(update={"bank_reference": "TRACE 0042"})
    moved = body.model_copy(update={"arrival_date": dt.date(2026, 12, 3)})
    assert payout_digest(traced) == payout_digest(body)
    assert payout_digest(moved) != payout_digest(body)
    assert payout_digest(body) in payout_digests(body) and len(payout_digests(body)) == 2
