"""The commerce policies, one table per decision: every IEX behaviour they decide has a row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledgerbridge.commerce.config import CommercePolicy, named_codes
from ledgerbridge.commerce.policies import (
    DateRange,
    ImportProblem,
    booked_gross,
    check_totals,
    credit_note_lines,
    decide_booking,
    decide_customer,
    decide_payment,
    line_item,
    line_vat_code,
    paid_time_unmapped,
    plan_historical_import,
    withdraws,
)
from ledgerbridge.model.commerce import Order, Refund
from ledgerbridge.model.invoice import Invoice, InvoiceLine
from tests.commerce.orders import CVR, DE_VAT, GLN, line, order

D = Decimal


def policy(**fields: Any) -> CommercePolicy:
    return CommercePolicy.model_validate({"rounding_account": "7290", **fields})


ONE_CENT_SHORT = [line("0.33"), line("0.33"), line("0.33", tax="0.09")]
"""Three lines whose VAT the shop rounded on the subtotal (0.2475 → 0.25): per line it is 0.24,
so the shop's total is one cent above the booked one, by an accounting system that rounds VAT
per line. One that rounds per rate (Uniconta) books 0.25 too."""
PER_LINE = {"vat": {"rounding": "per_line"}}
ONE_CENT_OVER = [line("0.33", tax="0.08"), line("0.33", tax="0.08"), line("0.33", tax="0.08")]
"""Three lines whose VAT the shop rounded per line (WooCommerce's default): 0.24 in all,
where VAT on their 0.99 is 0.25 once per rate."""


# ---------------------------------------------------------------------------- booking


@pytest.mark.parametrize(
    ("placed", "settings", "historical", "expected"),
    [
        pytest.param(order(), {}, None, ("create_invoice", True, "book"), id="processing"),
        pytest.param(
            order(state="completed"), {}, None, ("create_invoice", True, "book"), id="completed"
        ),
        *(
            pytest.param(
                order(state=state, paid_at=None),
                {},
                None,
                ("ignore", False, "state_not_triggering"),
                id=state,
            )
            for state in ("pending", "on-hold", "failed", "cancelled", "refunded")
        ),
        pytest.param(
            order(),
            {"states": {"processing": "create_order", "completed": "create_invoice"}},
            None,
            ("create_order", False, "order_requested"),
            id="processing-reserves-stock-as-order",
        ),
        pytest.param(
            order(state="completed"),
            {"states": {"processing": "create_order", "completed": "create_invoice"}},
            None,
            ("create_invoice", True, "book"),
            id="completed-invoices-after-order",
        ),
        pytest.param(
            order(),
            {"states": {"processing": "ignore"}},
            None,
            ("ignore", False, "state_not_triggering"),
            id="state-ignored-by-setting",
        ),
        pytest.param(
            order(), {"book": False}, None, ("create_invoice", False, "draft_requested"), id="draft"
        ),
        pytest.param(
            order(ONE_CENT_SHORT, total="5.00"),
            {},
            None,
            ("create_invoice", False, "totals_mismatch"),
            id="totals-mismatch-stays-draft",
        ),
        pytest.param(
            order(ONE_CENT_SHORT, total="1.24", total_tax="0.25"),
            {},
            None,
            ("create_invoice", True, "book"),
            id="one-cent-gap-books-with-rounding",
        ),
        pytest.param(
            order(created_at="2026-05-31T23:59:00+02:00"),
            {"start_date": "2026-06-01"},
            None,
            ("ignore", False, "before_start_date"),
            id="before-go-live",
        ),
        pytest.param(
            order(),
            {"start_date": "2026-06-01"},
            None,
            ("create_invoice", True, "book"),
            id="on-go-live-day",
        ),
        pytest.param(
            order(created_at="2026-03-15T12:00:00+01:00", paid_at=None, state="completed"),
            {"start_date": "2026-06-01"},
            DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
            ("create_invoice", True, "book"),
            id="historical-import-covers-it",
        ),
        pytest.param(
            order(created_at="2026-02-15T12:00:00+01:00", paid_at=None, state="completed"),
            {"start_date": "2026-06-01"},
            DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
            ("ignore", False, "before_start_date"),
            id="historical-import-elsewhere",
        ),
        pytest.param(
            order(state="pending", paid_at=None, renewal=True, subscription_id="s-7"),
            {},
            None,
            ("ignore", False, "state_not_triggering"),
            id="renewal-pending",
        ),
        pytest.param(
            order(state="failed", paid_at=None, renewal=True, subscription_id="s-7"),
            {},
            None,
            ("ignore", False, "state_not_triggering"),
            id="renewal-failed",
        ),
        pytest.param(
            order(renewal=True, subscription_id="s-7"),
            {},
            None,
            ("create_invoice", True, "book"),
            id="renewal-then-paid",
        ),
    ],
)
def test_booking(
    placed: Order,
    settings: dict[str, Any],
    historical: DateRange | None,
    expected: tuple[str, bool, str],
) -> None:
    decision = decide_booking(placed, policy(**settings), historical)
    assert (decision.action, decision.book, decision.reason) == expected


@pytest.mark.parametrize(
    ("placed", "settings", "email_to"),
    [
        pytest.param(order(), {"email_invoices": True}, "kunde@example.dk", id="booked-mailed"),
        pytest.param(order(), {}, None, id="mail-off"),
        pytest.param(order(), {"email_invoices": True, "book": False}, None, id="draft-not-mailed"),
        pytest.param(
            order([line("10.00")], total="13.50"),
            {"email_invoices": True},
            None,
            id="mismatch-not-mailed",
        ),
        pytest.param(
            order(customer={"ean": GLN, "email": "bogholderi@kommune.dk"}),
            {"email_invoices": True},
            None,
            id="ean-gets-e-invoice-not-mail",
        ),
        pytest.param(
            order(customer={"vat_number": CVR}), {"email_invoices": True}, None, id="no-address"
        ),
    ],
)
def test_invoice_mail(placed: Order, settings: dict[str, Any], email_to: str | None) -> None:
    assert decide_booking(placed, policy(**settings)).email_to == email_to


@pytest.mark.parametrize(
    ("state", "settings", "withdrawn"),
    [
        pytest.param("cancelled", {}, True, id="cancelled"),
        pytest.param("failed", {}, True, id="failed"),
        pytest.param("trash", {}, True, id="moved-to-the-shops-trash"),
        pytest.param("on-hold", {}, False, id="on-hold-waits"),
        pytest.param("pending", {}, False, id="pending-waits"),
        pytest.param("refunded", {}, False, id="refunded-is-no-cancellation"),
        pytest.param(
            "cancelled", {"states": {"cancelled": "create_invoice"}}, False, id="booked-state"
        ),
        pytest.param("failed", {"states": {"failed": "create_order"}}, False, id="ordered-state"),
    ],
)
def test_a_cancelled_failed_or_trashed_order_is_withdrawn_unless_the_policy_books_its_state(
    state: str, settings: dict[str, Any], withdrawn: bool
) -> None:
    assert withdraws(order(state=state, paid_at=None), policy(**settings)) is withdrawn


# ---------------------------------------------------------------------------- totals


@pytest.mark.parametrize(
    ("placed", "settings", "expected"),
    [
        pytest.param(order(), {}, ("match", "totals_match", "0.00", None), id="match"),
        pytest.param(
            order(
                [
                    line("199.00", quantity="2"),
                    line("39.00", kind="shipping"),
                    line("-20.00", kind="discount"),
                    line("0.00", rate="0", kind="fee"),
                ]
            ),
            {},
            ("match", "totals_match", "0.00", None),
            id="all-line-kinds",
        ),
        pytest.param(
            order(ONE_CENT_SHORT, total="1.24", total_tax="0.25"),
            PER_LINE,
            ("rounding", "rounding_within_tolerance", "0.01", "7290"),
            id="one-cent-inside-tolerance",
        ),
        pytest.param(
            order(ONE_CENT_SHORT, total="1.24", total_tax="0.25"),
            {},
            ("match", "totals_match", "0.00", None),
            id="subtotal-rounding-matches-per-rate-booking",
        ),
        pytest.param(
            order(ONE_CENT_OVER, total="1.23", total_tax="0.24"),
            {},
            ("rounding", "rounding_within_tolerance", "-0.01", "7290"),
            id="per-line-shop-rounding-against-per-rate-booking",
        ),
        pytest.param(
            order([line("10.00")], total="12.49"),
            {},
            ("rounding", "rounding_within_tolerance", "-0.01", "7290"),
            id="one-cent-below",
        ),
        pytest.param(
            order([line("10.00")], total="12.55"),
            {},
            ("rounding", "rounding_within_tolerance", "0.05", "7290"),
            id="at-the-tolerance",
        ),
        pytest.param(
            order([line("10.00")], total="12.56"),
            {},
            ("totals_mismatch", "totals_mismatch", "0.00", None),
            id="beyond-the-tolerance",
        ),
        pytest.param(
            order([line("10.00")], total="13.50"),
            {},
            ("totals_mismatch", "totals_mismatch", "0.00", None),
            id="a-krone-off",
        ),
        pytest.param(
            order([line("10.00")], total="12.51"),
            {"rounding_tolerance": "0"},
            ("totals_mismatch", "totals_mismatch", "0.00", None),
            id="no-tolerance",
        ),
        pytest.param(
            order([line("10.00")], total="12.60"),
            {"rounding_tolerance": "0.10"},
            ("rounding", "rounding_within_tolerance", "0.10", "7290"),
            id="wider-tolerance",
        ),
        pytest.param(
            order(ONE_CENT_SHORT, total="1.24"),
            {"rounding_account": None, **PER_LINE},
            ("totals_mismatch", "rounding_account_missing", "0.00", None),
            id="no-rounding-account",
        ),
    ],
)
def test_totals_against_the_shops(
    placed: Order, settings: dict[str, Any], expected: tuple[str, str, str, str | None]
) -> None:
    check = check_totals(placed, policy(**settings))
    status, reason, rounding, account = expected
    assert (check.status, check.reason) == (status, reason)
    assert (check.rounding_amount, check.rounding_account) == (D(rounding), account)
    assert check.shop_total == placed.total
    assert check.difference == placed.total - check.booked_total


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=D("-500"), max_value=D("5000"), places=2),
            st.integers(min_value=1, max_value=20),
            st.sampled_from(["0", "6", "12", "19", "25"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.decimals(min_value=D("-0.10"), max_value=D("0.10"), places=2),
)
def test_a_booked_invoice_with_its_rounding_line_totals_what_the_shop_charged(
    lines: list[tuple[Decimal, int, str]], gap: Decimal
) -> None:
    placed = order([line(str(price), rate, quantity=str(qty)) for price, qty, rate in lines])
    shifted = placed.model_copy(update={"total": placed.total + gap})
    check = check_totals(shifted, policy(**PER_LINE))
    if gap == 0:
        assert check.status == "match"
    elif abs(gap) <= D("0.05"):
        assert check.status == "rounding"
        assert check.booked_total + check.rounding_amount == shifted.total
    else:
        assert (check.status, check.difference) == ("totals_mismatch", gap)


def test_a_mismatch_reports_both_totals() -> None:
    check = check_totals(order([line("10.00")], total="13.50", total_tax="2.70"), policy())
    assert (check.shop_total, check.booked_total) == (D("13.50"), D("12.50"))
    assert (check.shop_tax, check.booked_tax) == (D("2.70"), D("2.50"))
    assert check.difference == D("1.00")


def test_the_start_date_is_a_day_on_the_connections_calendar() -> None:
    """An order placed at 00:30 in Copenhagen on the start day is the start day's, though it
    is still the day before in UTC."""
    placed = order(created_at="2026-06-01T00:30:00+02:00")
    starting = policy(start_date="2026-06-01")
    assert decide_booking(placed, starting, None, "Europe/Copenhagen").reason == "book"
    assert decide_booking(placed, starting, None, "UTC").reason == "before_start_date"
    june = DateRange(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    plan = plan_historical_import([placed], june, set(), {"U25"}, policy(), timezone="UTC")
    assert plan.orders == 0
    plan = plan_historical_import(
        [placed], june, set(), {"U25"}, policy(), timezone="Europe/Copenhagen"
    )
    assert plan.orders == 1


def test_the_one_cent_gap_is_the_shops_subtotal_rounding() -> None:
    check = check_totals(order(ONE_CENT_SHORT, total="1.24", total_tax="0.25"), policy(**PER_LINE))
    assert (check.shop_tax, check.booked_tax) == (D("0.25"), D("0.24"))
    assert check.booked_total + check.rounding_amount == check.shop_total


def test_vat_is_booked_once_per_code_even_where_two_codes_share_a_rate() -> None:
    """Uniconta rounds VAT once per VAT code: two codes at 25 % on 0.10 each are 0.03 + 0.03,
    not 0.05 on their 0.20, and the check before booking says what the books and the
    reconciliation will read."""
    lines = [
        InvoiceLine(quantity=D(1), unit_price=D("0.10"), vat_code="U25", vat_rate=D(25)),
        InvoiceLine(quantity=D(1), unit_price=D("0.10"), vat_code="U25S", vat_rate=D(25)),
    ]
    booked = Invoice.model_validate(
        {"party_id": "p", "number": "1", "date": "2026-12-01", "currency": "DKK",
         "lines": [line.model_dump() for line in lines]}
    )  # fmt: skip
    assert booked_gross(lines, policy()) == D("0.26")
    assert booked_gross(lines, policy()) == booked.booked_total("per_code")
    assert booked_gross(lines, policy(**PER_LINE)) == D("0.26")


# ---------------------------------------------------------------------------- payment


@pytest.mark.parametrize(
    ("placed", "settings", "expected"),
    [
        pytest.param(order(), {}, ("Kort", True, "registered_as_paid"), id="card-paid"),
        pytest.param(
            order(payment_method={"code": "mobilepay"}),
            {},
            ("Kort", True, "registered_as_paid"),
            id="mobilepay-paid",
        ),
        pytest.param(
            order(payment_method={"code": "MobilePay"}),
            {},
            ("Kort", True, "registered_as_paid"),
            id="a-file-s-mobilepay-in-its-own-case",
        ),
        pytest.param(
            order(payment_method={"code": "IZETTLE_CARD"}),
            {
                "payment_methods": {
                    "izettle_card": {"payment_term": "Zettle", "registered_as_paid": True}
                }
            },
            ("Zettle", True, "registered_as_paid"),
            id="zettle-method-named-in-lower-case",
        ),
        pytest.param(
            order(payment_method={"code": "Stripe"}),
            {
                "payment_methods": {
                    "Stripe": {"payment_term": "Netto 14", "registered_as_paid": False}
                }
            },
            ("Netto 14", False, "method_not_registered_as_paid"),
            id="a-rule-named-exactly-wins",
        ),
        pytest.param(
            order(state="pending", paid_at=None, renewal=True, subscription_id="s-7"),
            {},
            ("Kort", False, "order_not_paid"),
            id="renewal-unpaid-gets-a-term",
        ),
        pytest.param(
            order(payment_method={"code": "bacs"}, paid_at=None),
            {},
            ("Netto 8", False, "method_not_registered_as_paid"),
            id="bank-transfer",
        ),
        pytest.param(
            order(payment_method={"code": "cod"}, paid_at=None),
            {},
            ("Netto 8", False, "method_not_registered_as_paid"),
            id="cash-on-delivery",
        ),
        pytest.param(
            order(payment_method={"code": "giftcard"}),
            {},
            ("Netto 8", False, "payment_method_unknown"),
            id="unknown-method",
        ),
        pytest.param(
            order(payment_method=None), {}, ("Netto 8", False, "no_method"), id="no-method"
        ),
        pytest.param(
            order(payment_method={"code": "invoice"}, customer={"ean": GLN}),
            {},
            ("Netto 30", False, "payment_method_unknown"),
            id="ean-profile-term",
        ),
        pytest.param(
            order(payment_method={"code": "bacs"}, customer={"ean": GLN}),
            {},
            ("Netto 8", False, "method_not_registered_as_paid"),
            id="method-term-wins-over-profile",
        ),
        pytest.param(
            order(payment_method={"code": "vipps"}),
            {
                "payment_methods": {"vipps": {"registered_as_paid": True}},
                "default_payment_term": "Netto 14",
            },
            ("Netto 14", True, "registered_as_paid"),
            id="method-without-term",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "cash", "amount": "25.00"},
                ]
            ),
            {"payment_methods": {"cash": {"payment_term": "Kontant", "registered_as_paid": True}}},
            ("Netto 8", False, "payment_split"),
            id="split-card-and-cash",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "Stripe", "amount": "25.00"},
                ]
            ),
            {},
            ("Kort", True, "registered_as_paid"),
            id="two-payments-one-method",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "quickpay", "amount": "25.00"},
                ]
            ),
            {},
            ("Kort", True, "registered_as_paid"),
            id="two-methods-one-rule",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "quickpay", "amount": "25.00"},
                ]
            ),
            {
                "payment_methods": {
                    "stripe": {
                        "payment_term": "Kort",
                        "registered_as_paid": True,
                        "account": "5820",
                    },
                    "quickpay": {
                        "payment_term": "Kort",
                        "registered_as_paid": True,
                        "account": "5830",
                    },
                },
                "payment_journal": "INDBETAL",
            },
            ("Netto 8", False, "payment_split"),
            id="two-methods-one-term-two-accounts",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "quickpay", "amount": "25.00"},
                ]
            ),
            {
                "payment_methods": {
                    "stripe": {
                        "payment_term": "Kort",
                        "registered_as_paid": True,
                        "account": "5820",
                    },
                    "quickpay": {
                        "payment_term": "Kort",
                        "registered_as_paid": True,
                        "account": "5820",
                    },
                },
                "payment_journal": "INDBETAL",
            },
            ("Kort", True, "registered_as_paid"),
            id="two-methods-one-term-one-account",
        ),
        pytest.param(
            order(
                tenders=[
                    {"code": "stripe", "amount": "100.00"},
                    {"code": "giftcard", "amount": "25.00"},
                ]
            ),
            {},
            ("Netto 8", False, "payment_split"),
            id="split-with-a-method-without-rule",
        ),
    ],
)
def test_payment(placed: Order, settings: dict[str, Any], expected: tuple[str, bool, str]) -> None:
    decision = decide_payment(placed, policy(**settings))
    assert (decision.payment_term, decision.registered_as_paid, decision.reason) == expected


MAPPED = {"order.number": {"column": "Ordrenr"}, "order.created_at": {"column": "Dato"}}


@pytest.mark.parametrize(
    ("fields", "settings", "warned"),
    [
        pytest.param({"order.payment_method": {"column": "Betaling"}}, {}, True, id="card-rules"),
        pytest.param(
            {"order.payment_method": {"column": "Betaling"}, "order.paid_at": {"column": "Dato"}},
            {},
            False,
            id="paid-time-mapped",
        ),
        pytest.param({}, {}, False, id="no-method-no-card-order"),
        pytest.param({"order.payment_method": {"value": "bacs"}}, {}, False, id="bank-only"),
        pytest.param({"order.payment_method": {"value": "Stripe"}}, {}, True, id="card-constant"),
        pytest.param(
            {"order.payment_method": {"column": "Betaling"}},
            {
                "payment_methods": dict.fromkeys(
                    ("stripe", "woocommerce_payments", "quickpay", "mobilepay")
                )
            },
            False,
            id="no-rule-registers-paid",
        ),
    ],
)
def test_a_file_without_a_paid_time_is_warned_of_when_card_payments_are_registered(
    fields: dict[str, Any], settings: dict[str, Any], warned: bool
) -> None:
    warning = paid_time_unmapped(policy(**settings), {**MAPPED, **fields})
    assert (warning is not None) is warned
    if warning is not None:
        assert "map no paid time (order.paid_at)" in warning and "PayMatch" in warning


# ---------------------------------------------------------------------------- customer


@pytest.mark.parametrize(
    ("placed", "settings", "expected"),
    [
        pytest.param(
            order(),
            {},
            ("match_or_create", "b2c", "email", "kunde@example.dk", "PRIV", "domestic", None),
            id="b2c-by-email",
        ),
        pytest.param(
            order(customer={"name": "Gæst"}),
            {},
            ("fail", "b2c", "email", None, None, None, None),
            id="b2c-without-email",
        ),
        pytest.param(
            order(customer={"vat_number": CVR, "company": "Tømrer ApS"}),
            {},
            ("match_or_create", "b2b", "vat_number", CVR, "ERHVERV", "domestic", None),
            id="b2b-by-cvr",
        ),
        pytest.param(
            order(customer={"vat_number": DE_VAT}, shipping_address={"country": "DE"}),
            {},
            ("match_or_create", "b2b", "vat_number", DE_VAT, "ERHVERV", "eu", None),
            id="b2b-in-germany",
        ),
        pytest.param(
            order(customer={"ean": GLN, "vat_number": CVR}),
            {},
            ("match_or_create", "ean", "ean", GLN, "EAN", "domestic", "Netto 30"),
            id="ean",
        ),
        pytest.param(
            order(shipping_address={"country": "US"}),
            {},
            ("match_or_create", "b2c", "email", "kunde@example.dk", "PRIV", "abroad", None),
            id="b2c-abroad",
        ),
        pytest.param(
            order(customer={"phone": "+45 20 12 34 56"}),
            {
                "customers": {
                    "profiles": {
                        "b2c": {"match_by": "phone", "debtor_group": "WEB"},
                        "b2b": {"debtor_group": "B2B"},
                        "ean": {"debtor_group": "EAN"},
                    }
                }
            },
            ("match_or_create", "b2c", "phone", "+4520123456", "WEB", "domestic", None),
            id="b2c-by-phone",
        ),
        pytest.param(
            order(customer={"vat_number": DE_VAT}, shipping_address={"country": "DE"}),
            {
                "customers": {
                    "profiles": {
                        "b2c": {"debtor_group": "PRIV"},
                        "b2b": {"debtor_group": "B2B", "vat_zone": "domestic"},
                        "ean": {"debtor_group": "EAN"},
                    }
                }
            },
            ("match_or_create", "b2b", "vat_number", DE_VAT, "B2B", "domestic", None),
            id="profile-fixes-vat-zone",
        ),
    ],
)
def test_customer_match_or_create(
    placed: Order, settings: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    decision = decide_customer(placed, policy(**settings))
    assert (
        decision.action,
        decision.kind,
        decision.match_field,
        decision.match_value,
        decision.debtor_group,
        decision.vat_zone,
        decision.payment_term,
    ) == expected
    if decision.action == "fail":
        assert decision.reason == "customer_email_missing"


@pytest.mark.parametrize(
    ("customer", "action", "account"),
    [
        ({"email": "kunde@example.dk"}, "shared", "99999"),
        ({"name": "Gæst"}, "shared", "99999"),
        ({"vat_number": CVR}, "match_or_create", None),
        ({"ean": GLN}, "match_or_create", None),
    ],
)
def test_shared_customer_takes_every_consumer_only(
    customer: dict[str, Any], action: str, account: str | None
) -> None:
    decision = decide_customer(
        order(customer=customer), policy(customers={"shared_b2c_account": "99999"})
    )
    assert (decision.action, decision.account) == (action, account)


# ---------------------------------------------------------------------------- VAT


@pytest.mark.parametrize(
    ("fields", "rate", "settings", "expected"),
    [
        pytest.param({}, "25", {}, ("U25", "domestic", "domestic_rate"), id="dk-25"),
        pytest.param({}, "0", {}, ("U0", "domestic", "domestic_rate"), id="dk-0"),
        pytest.param({}, "12", {}, (None, "domestic", "vat_code_missing"), id="dk-unknown-rate"),
        pytest.param(
            {},
            "25",
            {"vat": {"domestic_codes": {"25.00": "S25"}}},
            ("S25", "domestic", "domestic_rate"),
            id="rate-written-with-decimals",
        ),
        pytest.param(
            {"billing_address": None}, "25", {}, ("U25", "domestic", "domestic_rate"), id="unknown"
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}},
            "19",
            {},
            ("U_DE19", "oss", "oss_destination_rate"),
            id="oss-germany",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}},
            "7",
            {},
            ("U_DE07", "oss", "oss_destination_rate"),
            id="oss-germany-reduced",
        ),
        pytest.param(
            {"destination_country": "FR"},
            "5.5",
            {},
            ("U_FR05.5", "oss", "oss_destination_rate"),
            id="oss-france-5.5",
        ),
        pytest.param(
            {"shipping_address": {"country": "GR"}},
            "24",
            {},
            ("U_GR24", "oss", "oss_destination_rate"),
            id="oss-greece",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}},
            "19",
            {"vat": {"oss_codes": {"de:19.0": "OSSDE"}}},
            ("OSSDE", "oss", "oss_destination_rate"),
            id="oss-code-table",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}},
            "19",
            {"vat": {"oss_code_pattern": "OSS-{country}-{rate}"}},
            ("OSS-DE-19", "oss", "oss_destination_rate"),
            id="oss-pattern",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}},
            "25",
            {"vat": {"oss": False}},
            ("U25", "domestic", "domestic_rate"),
            id="no-oss-home-vat",
        ),
        pytest.param(
            {"shipping_address": {"country": "FR"}},
            "0",
            {},
            (None, "oss", "vat_zero_on_eu_consumer_sale"),
            id="oss-consumer-charged-no-vat-is-a-question",
        ),
        pytest.param(
            {"shipping_address": {"country": "IT"}},
            "0",
            {"vat": {"oss_codes": {"IT:0": "UEUFRI"}}},
            ("UEUFRI", "oss", "oss_destination_rate"),
            id="oss-consumer-zero-rated-as-the-policy-maps-it",
        ),
        pytest.param(
            {"shipping_address": {"country": "IT"}},
            "0",
            {"vat": {"oss": False}},
            ("U0", "domestic", "domestic_rate"),
            id="no-oss-consumer-zero-rate-is-home-zero",
        ),
        pytest.param(
            {"shipping_address": {"country": "IT"}, "customer": {"company": "Rossi Srl"}},
            "0",
            {},
            (None, "oss", "vat_zero_on_eu_consumer_sale"),
            id="eu-business-without-vat-number-charged-no-vat",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}, "customer": {"vat_number": DE_VAT}},
            "0",
            {},
            ("UEUV", "eu_business", "reverse_charge"),
            id="eu-business-reverse-charge",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}, "customer": {"vat_number": DE_VAT}},
            "19",
            {},
            ("U_DE19", "oss", "oss_destination_rate"),
            id="eu-business-charged-vat",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}, "customer": {"vat_number": CVR}},
            "0",
            {},
            (None, "eu_business", "vat_zero_without_eu_vat_number"),
            id="home-vat-number-shipped-to-the-eu-charged-no-vat",
        ),
        pytest.param(
            {
                "shipping_address": {"country": "DE"},
                "customer": {"vat_number": "NO923609016MVA"},
            },
            "0",
            {},
            (None, "eu_business", "vat_zero_without_eu_vat_number"),
            id="non-eu-vat-number-shipped-to-the-eu-charged-no-vat",
        ),
        pytest.param(
            {"shipping_address": {"country": "GR"}, "customer": {"vat_number": "EL094259216"}},
            "0",
            {},
            ("UEUV", "eu_business", "reverse_charge"),
            id="greek-el-prefix-reverse-charge",
        ),
        pytest.param(
            {"shipping_address": {"country": "DK"}, "customer": {"vat_number": DE_VAT}},
            "0",
            {"vat": {"home_country": "SE", "domestic_codes": {"0": "MF0"}}},
            ("UEUV", "eu_business", "reverse_charge"),
            id="danish-delivery-of-a-swedish-shop-to-a-german-business",
        ),
        pytest.param(
            {"shipping_address": {"country": "US"}},
            "0",
            {},
            ("UEXP", "export", "export"),
            id="export-us",
        ),
        pytest.param(
            {"shipping_address": {"country": "NO"}},
            "0",
            {},
            ("UEXP", "export", "export"),
            id="export-norway",
        ),
        pytest.param(
            {"shipping_address": {"country": "US"}},
            "25",
            {},
            (None, "export", "vat_charged_on_export"),
            id="export-with-vat",
        ),
        pytest.param(
            {"shipping_address": {"country": "NO"}},
            "25",
            {"vat": {"oss_codes": {"NO:25": "U_NO25"}}},
            ("U_NO25", "export", "foreign_vat_registration"),
            id="norway-voec-registration",
        ),
        pytest.param(
            {"shipping_address": {"country": "NO"}},
            "15",
            {"vat": {"oss_codes": {"NO:25": "U_NO25"}}},
            (None, "export", "vat_charged_on_export"),
            id="norway-at-a-rate-without-a-code",
        ),
        pytest.param(
            {"billing_address": {"country": "SE"}, "customer": {"vat_number": "SE556036079301"}},
            "0",
            {"vat": {"home_country": "SE", "domestic_codes": {"0": "MF0"}}},
            ("MF0", "domestic", "domestic_rate"),
            id="other-home-country",
        ),
        pytest.param(
            {"shipping_address": {"country": "MC"}},
            "20",
            {},
            ("U_FR20", "oss", "oss_destination_rate"),
            id="monaco-is-france-under-oss",
        ),
        pytest.param(
            {"shipping_address": {"country": "MC"}},
            "5.5",
            {"vat": {"oss_codes": {"FR:5.5": "OSS-FR-R"}}},
            ("OSS-FR-R", "oss", "oss_destination_rate"),
            id="monaco-takes-frances-code",
        ),
        pytest.param(
            {"shipping_address": {"country": "MC"}},
            "20",
            {"vat": {"home_country": "FR", "domestic_codes": {"20": "TVA20"}}},
            ("TVA20", "domestic", "domestic_rate"),
            id="monaco-is-home-to-a-french-shop",
        ),
        pytest.param(
            {"shipping_address": {"country": "FR"}},
            "20",
            {"vat": {"home_country": "MC", "domestic_codes": {"20": "TVA20"}}},
            ("TVA20", "domestic", "domestic_rate"),
            id="france-is-home-to-a-monaco-shop",
        ),
        pytest.param(
            {"shipping_address": {"country": "DE"}, "customer": {"vat_number": "FR40303265045"}},
            "0",
            {"vat": {"home_country": "MC"}},
            (None, "eu_business", "vat_zero_without_eu_vat_number"),
            id="a-french-number-is-home-to-a-monaco-shop",
        ),
        pytest.param(
            {"shipping_address": {"country": "IM"}},
            "20",
            {"vat": {"oss_codes": {"GB:20": "UK20"}}},
            ("UK20", "export", "foreign_vat_registration"),
            id="isle-of-man-is-the-uk",
        ),
        pytest.param(
            {"shipping_address": {"country": "AX"}},
            "0",
            {},
            ("UEXP", "export", "export"),
            id="aland-is-outside-eu-vat",
        ),
    ],
)
def test_vat_code(
    fields: dict[str, Any], rate: str, settings: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    placed = order([line("100.00", rate)], **fields)
    decision = line_vat_code(placed, placed.lines[0], policy(**settings))
    assert (decision.code, decision.rule, decision.reason) == expected


def test_a_new_customer_in_monaco_is_in_the_eu_zone() -> None:
    """A debtor created for a Monaco order is an EU customer, as France's would be."""
    placed = order(shipping_address={"country": "MC"})
    assert decide_customer(placed, policy()).vat_zone == "eu"


@pytest.mark.parametrize(
    ("sold", "expected"),
    [
        pytest.param(line("49.00", "0", kind="shipping"), None, id="shipping-charged-no-vat"),
        pytest.param(line("15.00", "0", kind="fee"), None, id="fee-charged-no-vat"),
        pytest.param(line("0.00", "0", kind="shipping"), "U0", id="free-shipping"),
        pytest.param(line("-20.00", "0", kind="discount"), "U0", id="discount"),
        pytest.param(line("49.00", "22", kind="shipping"), "U_IT22", id="shipping-with-it-vat"),
    ],
)
def test_what_an_eu_consumer_is_charged_no_vat_on(
    sold: dict[str, Any], expected: str | None
) -> None:
    """Shipping and fees owe the destination's VAT as the goods do; a line that sells nothing
    for an amount (free shipping, a discount) has no VAT to declare anywhere."""
    placed = order([line("100.00", "22"), sold], shipping_address={"country": "IT"})
    assert line_vat_code(placed, placed.lines[1], policy()).code == expected


def test_historical_import_plan_shows_an_eu_consumer_charged_no_vat() -> None:
    june = DateRange(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    placed = order([line("100.00", "0")], shipping_address={"country": "IT"})
    plan = plan_historical_import([placed], june, {"SKU-1"}, {"U0"}, policy())
    assert plan.problems == (ImportProblem("1001", "vat_zero_on_eu_consumer_sale", "IT 0%"),)


def test_historical_import_plan_shows_a_sale_below_zero() -> None:
    june = DateRange(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    placed = order([line("100.00", quantity="-2")])
    plan = plan_historical_import([placed], june, {"SKU-1"}, {"U25"}, policy())
    assert plan.problems == (ImportProblem("1001", "negative_sale", "sells SKU-1 at quantity -2"),)


@pytest.mark.parametrize(
    ("sold", "expected"),
    [
        pytest.param(line("49.00", kind="shipping"), "FRAGT", id="shipping"),
        pytest.param(line("15.00", kind="fee"), "GEBYR", id="fee"),
        pytest.param(line("-20.00", kind="discount"), None, id="kind-not-named"),
        pytest.param(line("100.00", sku=None), None, id="item-without-sku-stays-without"),
        pytest.param({**line("49.00", kind="shipping"), "sku": "EXPRES"}, "EXPRES", id="own-sku"),
    ],
)
def test_the_item_a_line_is_booked_on(sold: dict[str, Any], expected: str | None) -> None:
    settings = policy(service_items={"shipping": "FRAGT", "fee": "GEBYR"})
    assert line_item(order([sold]).lines[0], settings) == expected


def test_a_refunded_shipping_line_is_credited_on_the_shipping_item() -> None:
    placed = order([line("100.00", source_id="l1"), line("40.00", kind="shipping", source_id="l2")])
    returned = refund("50.00", [{"order_line_id": "l2", "quantity": "1",
                                 "net_amount": "40.00", "tax_amount": "10.00"}])  # fmt: skip
    settings = policy(service_items={"shipping": "FRAGT"})
    decision = credit_note_lines(returned, placed, settings)
    assert [(ln.sku, ln.description, ln.quantity, ln.unit_price) for ln in decision.lines] == [
        ("FRAGT", "shipping 40.00", Decimal(-1), Decimal("40.0000"))
    ]


def test_policy_round_trips_through_json_as_settings_are_stored() -> None:
    for stored in (CommercePolicy(), policy(vat={"oss_codes": {"fr:5.5": "OSS-FR-R"}})):
        assert CommercePolicy.model_validate_json(stored.model_dump_json()) == stored
    assert CommercePolicy().vat.oss_codes == {}
    assert policy(vat={"oss_codes": {"fr:5.50": "X"}}).vat.oss_codes == {"FR:5.5": "X"}


def test_a_profile_given_alone_keeps_the_other_kinds_defaults() -> None:
    """Setting the consumers' debtor group does not ask for the businesses' and EAN
    customers' profiles too: they keep their defaults, and only the given profile's codes
    are looked up in the accounting system when the route is saved."""
    given = {"customers": {"profiles": {"b2c": {"debtor_group": "WEB", "match_by": "phone"}}}}
    profiles = CommercePolicy.model_validate(given).customers.profiles
    assert (profiles["b2c"].debtor_group, profiles["b2c"].match_by) == ("WEB", "phone")
    assert profiles["b2b"] == CommercePolicy().customers.profiles["b2b"]
    assert profiles["ean"] == CommercePolicy().customers.profiles["ean"]
    assert [(c.field, c.code) for c in named_codes(given)] == [
        ("commerce.policy.customers.profiles.b2c.debtor_group", "WEB")
    ]
    with pytest.raises(ValidationError) as refused:
        CommercePolicy.model_validate({"customers": {"profiles": {"ean": None}}})
    assert "missing: ean: give it, or leave it out for its default" in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "loc"),
    [
        ({"vat": {"oss_codes": {"DE19": "X"}}}, ("vat", "oss_codes")),
        ({"vat": {"oss_codes": {"XX:19": "X"}}}, ("vat", "oss_codes")),
        ({"vat": {"oss_code_pattern": "U_{country}"}}, ("vat", "oss_code_pattern")),
        ({"vat": {"oss_code_pattern": "U_{land}{rate}"}}, ("vat", "oss_code_pattern")),
        ({"vat": {"home_country": "XX"}}, ("vat", "home_country")),
        ({"customers": {"profiles": {"ean": None}}}, ("customers", "profiles")),
        (
            {
                "customers": {
                    "profiles": {
                        "b2c": {"debtor_group": "P", "vat_code": "U25"},
                        "b2b": {"debtor_group": "B"},
                        "ean": {"debtor_group": "E"},
                    }
                }
            },
            ("customers", "profiles", "b2c", "vat_code"),
        ),
        ({"states": {"processing": "book"}}, ("states", "processing")),
        ({"rounding_tolerance": "-0.01"}, ("rounding_tolerance",)),
        ({"rounding_tolerance": "1.01"}, ("rounding_tolerance",)),
        ({"vat": {"oss_codes": {"MC:20": "U_FR20"}}}, ("vat", "oss_codes", "MC:20", "[key]")),
        (
            {"vat": {"home_country": "MC", "oss_codes": {"FR:20": "X"}}},
            ("vat", "oss_codes", "FR:20", "[key]"),
        ),
        ({"vat": {"oss_codes": {"dk:25": "U25"}}}, ("vat", "oss_codes", "DK:25", "[key]")),
        (
            {"vat": {"home_country": "SE", "oss_codes": {"DK:25": "U_DK25", "SE:25": "X"}}},
            ("vat", "oss_codes", "SE:25", "[key]"),
        ),
        ({"start_date": "2026-13-01"}, ("start_date",)),
        ({"service_items": {"item": "VARE"}}, ("service_items", "item", "[key]")),
        ({"service_items": {"shipping": " "}}, ("service_items", "shipping")),
        ({"default_payment_term": ""}, ("default_payment_term",)),
        ({"rounding_account": " "}, ("rounding_account",)),
        ({"refund_item": ""}, ("refund_item",)),
        (
            {"payment_methods": {"viabill": {"payment_term": ""}}},
            ("payment_methods", "viabill", "payment_term"),
        ),
        ({"customers": {"shared_b2c_account": ""}}, ("customers", "shared_b2c_account")),
        ({"vat": {"domestic_codes": {"25": ""}}}, ("vat", "domestic_codes", "25")),
        ({"vat": {"export_code": ""}}, ("vat", "export_code")),
    ],
)
def test_bad_policy_names_the_setting(settings: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        policy(**settings)
    assert tuple(exc.value.errors()[0]["loc"]) == loc


def test_a_policy_saved_with_empty_codes_reads_them_as_left_out() -> None:
    """Routes saved before empty codes were refused keep running: each empty code is the
    setting left out (no rounding item: a gap is a mismatch, not a line on no item)."""
    stored = {
        "default_payment_term": "",
        "rounding_account": "",
        "payment_methods": {"viabill": {"payment_term": " ", "registered_as_paid": True}},
        "customers": {"shared_b2c_account": ""},
        "vat": {"domestic_codes": {"25": "U25", "0": ""}},
        "refund_item": "REFUSION",
    }
    with pytest.raises(ValidationError):
        CommercePolicy.model_validate(stored)
    read = CommercePolicy.saved(stored)
    assert (read.default_payment_term, read.rounding_account, read.refund_item) == (
        "Netto 8", None, "REFUSION",
    )  # fmt: skip
    assert read.payment_methods["viabill"].payment_term is None
    assert read.customers.shared_b2c_account is None
    assert read.vat.domestic_codes == {Decimal(25): "U25"}
    assert CommercePolicy.saved(None) == CommercePolicy()


def test_oss_codes_take_other_eu_countries_and_foreign_registrations_not_home() -> None:
    """A Danish shop names codes for Germany's OSS VAT and Norway's VOEC; a Swedish shop may
    name Denmark's. Only its own country is refused (see the table above)."""
    danish = policy(vat={"oss_codes": {"DE:19": "U_DE19", "NO:25": "VOEC25"}})
    assert danish.vat.oss_codes == {"DE:19": "U_DE19", "NO:25": "VOEC25"}
    swedish = policy(vat={"home_country": "SE", "oss_codes": {"DK:25": "U_DK25"}})
    assert swedish.vat.oss_codes == {"DK:25": "U_DK25"}


def test_a_policy_saved_with_values_now_refused_runs_and_says_how() -> None:
    """A route stored before a bound was added keeps running, its values read safely: a
    tolerance beyond cents as the largest one, a home-country OSS code as left out; each is a
    warning until the route is saved again."""
    profiles = CommercePolicy().model_dump(mode="json")["customers"]["profiles"]
    stored = {
        "rounding_tolerance": "100.00",
        "vat": {"oss_codes": {"dk:25": "U25", "DE:19": "U_DE19"}},
        "customers": {"profiles": {**profiles, "ean": {"debtor_group": "EAN", "vat_code": "U25"},
                                   "b2b": {"debtor_group": "ERHVERV", "vat_code": None}}},
    }  # fmt: skip
    with pytest.raises(ValidationError):
        CommercePolicy.model_validate(stored)
    read = CommercePolicy.saved(stored)
    assert read.rounding_tolerance == D("1.00")
    assert read.vat.oss_codes == {"DE:19": "U_DE19"}
    assert "vat_code" not in read.model_dump(mode="json")["customers"]["profiles"]["ean"]
    tolerance, profile, home = CommercePolicy.saved_warnings(stored)
    assert tolerance.startswith("commerce.policy.rounding_tolerance is 100.00")
    assert profile.startswith("commerce.policy.customers.profiles.ean.vat_code is not used")
    assert home.startswith("commerce.policy.vat.oss_codes.dk:25: 'dk:25' is the shop's own country")
    assert CommercePolicy.saved_warnings(CommercePolicy().model_dump(mode="json")) == []
    # A profile's VAT code read back as null (as stored, or sent back as read) is no refusal.
    echoed = {"profiles": {**profiles, "b2b": {"debtor_group": "ERHVERV", "vat_code": None}}}
    assert CommercePolicy.model_validate({"customers": echoed}).customers == CommercePolicy(
    ).customers  # fmt: skip
    assert stored["vat"] == {"oss_codes": {"dk:25": "U25", "DE:19": "U_DE19"}}  # not changed


# ---------------------------------------------------------------------------- refunds


REFUNDED_ORDER = order(
    [
        line("100.00", quantity="2", source_id="11", sku="MUG"),
        line("40.00", source_id="12", sku="CAP"),
        line("39.00", kind="shipping", source_id="13"),
    ]
)


def refund(amount: str, lines: list[dict[str, Any]], **fields: Any) -> Refund:
    return Refund.model_validate(
        {
            "source_id": "r-1",
            "order_source_id": "1001",
            "created_at": "2026-06-03T09:00:00+02:00",
            "currency": "DKK",
            "amount": amount,
            "reason": "Returneret",
            "lines": lines,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("refunded", "settings", "expected_lines", "total"),
    [
        pytest.param(
            refund(
                "125.00",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "1",
                        "net_amount": "100.00",
                        "tax_amount": "25.00",
                    }
                ],
            ),
            {},
            [("MUG", "-1", "100.00", "25")],
            "-125.00",
            id="partial-one-of-two-mugs",
        ),
        pytest.param(
            refund(
                "298.75",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "2",
                        "net_amount": "200.00",
                        "tax_amount": "50.00",
                    },
                    {
                        "order_line_id": "13",
                        "quantity": "1",
                        "net_amount": "39.00",
                        "tax_amount": "9.75",
                    },
                ],
            ),
            {},
            [("MUG", "-2", "100.00", "25"), (None, "-1", "39.00", "25")],
            "-298.75",
            id="items-and-shipping",
        ),
        pytest.param(
            refund(
                "50.00",
                [{"sku": "CAP", "quantity": "1", "net_amount": "40.00", "tax_amount": "10.00"}],
            ),
            {},
            [("CAP", "-1", "40.00", "25")],
            "-50.00",
            id="by-sku",
        ),
        pytest.param(
            refund("12.50", [{"order_line_id": "12", "net_amount": "10.00", "tax_amount": "2.50"}]),
            {},
            [("CAP", "-1", "10.00", "25")],
            "-12.50",
            id="money-back-on-a-line",
        ),
        pytest.param(
            refund(
                "150.00",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "1",
                        "net_amount": "100.00",
                        "tax_amount": "25.00",
                    }
                ],
            ),
            {"refund_item": "REFUSION"},
            [("MUG", "-1", "100.00", "25"), ("REFUSION", "-1", "20.00", "25")],
            "-150.00",
            id="lines-plus-goodwill",
        ),
        pytest.param(
            refund("40.00", []),
            {"refund_item": "REFUSION"},
            [("REFUSION", "-1", "32.00", "25")],
            "-40.00",
            id="free-amount",
        ),
    ],
)
def test_refund_becomes_credit_note(
    refunded: Refund,
    settings: dict[str, Any],
    expected_lines: list[tuple[str | None, str, str, str]],
    total: str,
) -> None:
    decision = credit_note_lines(refunded, REFUNDED_ORDER, policy(**settings))
    assert decision.reason == "credit_note"
    assert [
        (credit.sku, credit.quantity, credit.unit_price, credit.vat_rate)
        for credit in decision.lines
    ] == [(sku, D(qty), D(price), D(rate)) for sku, qty, price, rate in expected_lines]
    assert decision.totals is not None
    assert decision.totals.status == "match"
    assert decision.totals.booked_total == D(total) == -refunded.amount


SMALL_ORDER = order(
    [line("0.33", source_id=str(n), sku=f"PIN-{n}") for n in (1, 2)]
    + [line("0.33", tax="0.09", source_id="3", sku="PIN-3")],
    total="1.24",
    total_tax="0.25",
)


@pytest.mark.parametrize(
    ("refunded", "placed", "expected"),
    [
        pytest.param(
            refund(
                "1.24",
                [
                    {
                        "order_line_id": "1",
                        "quantity": "1",
                        "net_amount": "0.33",
                        "tax_amount": "0.08",
                    },
                    {
                        "order_line_id": "2",
                        "quantity": "1",
                        "net_amount": "0.33",
                        "tax_amount": "0.08",
                    },
                    {
                        "order_line_id": "3",
                        "quantity": "1",
                        "net_amount": "0.33",
                        "tax_amount": "0.09",
                    },
                ],
            ),
            SMALL_ORDER,
            ("credit_note", "rounding", "-1.23", "-0.01"),
            id="one-cent-gap-of-a-full-refund",
        ),
        pytest.param(
            refund(
                "130.00",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "1",
                        "net_amount": "100.00",
                        "tax_amount": "30.00",
                    }
                ],
            ),
            REFUNDED_ORDER,
            ("totals_mismatch", "totals_mismatch", "-125.00", "0.00"),
            id="shop-vat-disagrees",
        ),
    ],
)
def test_credit_note_totals_are_checked_like_an_invoices(
    refunded: Refund, placed: Order, expected: tuple[str, str, str, str]
) -> None:
    decision = credit_note_lines(refunded, placed, policy(**PER_LINE))
    assert decision.totals is not None
    reason, status, booked, rounding = expected
    assert (decision.reason, decision.totals.status) == (reason, status)
    assert decision.totals.booked_total == D(booked)
    assert decision.totals.rounding_amount == D(rounding)
    assert decision.totals.shop_total == -refunded.amount


@pytest.mark.parametrize(
    ("refunded", "placed", "settings", "reason"),
    [
        (refund("40.00", []), REFUNDED_ORDER, {}, "refund_item_missing"),
        (
            refund("40.00", []),
            order([line("100.00"), line("50.00", rate="0", sku="BOOK")]),
            {"refund_item": "REFUSION"},
            "refund_rate_ambiguous",
        ),
        (
            refund("10.00", [{"order_line_id": "99", "net_amount": "8.00"}]),
            REFUNDED_ORDER,
            {},
            "refund_line_unknown",
        ),
        (refund("10.00", [], order_source_id="2002"), REFUNDED_ORDER, {}, "refund_order_mismatch"),
        pytest.param(
            refund(
                "125.00",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "1",
                        "net_amount": "100.00",
                        "tax_amount": "25.00",
                    }
                ],
                currency="EUR",
            ),
            REFUNDED_ORDER,
            {},
            "refund_currency_mismatch",
            id="refund-in-another-currency",
        ),
        pytest.param(
            refund("5000.00", []),
            REFUNDED_ORDER,
            {"refund_item": "REFUSION"},
            "refund_exceeds_order",
            id="free-amount-beyond-the-order",
        ),
        pytest.param(
            refund(
                "1250.00",
                [
                    {
                        "order_line_id": "11",
                        "quantity": "10",
                        "net_amount": "1000.00",
                        "tax_amount": "250.00",
                    }
                ],
            ),
            REFUNDED_ORDER,
            {},
            "refund_exceeds_order",
            id="more-units-than-were-sold",
        ),
    ],
)
def test_refund_that_cannot_be_credited_says_why(
    refunded: Refund, placed: Order, settings: dict[str, Any], reason: str
) -> None:
    decision = credit_note_lines(refunded, placed, policy(**settings))
    assert (decision.reason, decision.lines, decision.totals) == (reason, (), None)


# ---------------------------------------------------------------------------- historical import


def test_historical_import_plan_shows_what_it_would_create() -> None:
    march = DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    orders = [
        order(
            source_id="1", created_at="2026-03-02T10:00:00+01:00", paid_at=None, state="completed"
        ),
        order(
            source_id="2",
            created_at="2026-03-05T10:00:00+01:00",
            paid_at=None,
            state="completed",
            customer={"email": "ny@example.dk"},
            lines=[line("10.00", sku="NEW-1")],
        ),
        order(
            source_id="3",
            created_at="2026-03-09T10:00:00+01:00",
            paid_at=None,
            state="completed",
            currency="EUR",
            shipping_address={"country": "DE"},
            customer={"email": "kunde@example.de"},
            lines=[line("20.00", rate="19")],
        ),
        order(
            source_id="4",
            created_at="2026-03-10T10:00:00+01:00",
            paid_at=None,
            state="cancelled",
        ),
        order(
            source_id="5",
            created_at="2026-03-11T10:00:00+01:00",
            paid_at=None,
            state="completed",
            lines=[line("10.00")],
            total="13.00",
        ),
        order(source_id="6", created_at="2026-04-02T10:00:00+02:00", state="completed"),
        order(
            source_id="7",
            created_at="2026-03-12T10:00:00+01:00",
            paid_at=None,
            state="completed",
            customer={"name": "Gæst"},
        ),
    ]
    plan = plan_historical_import(
        orders,
        march,
        known_products={"SKU-1"},
        known_vat_codes={"U25"},
        policy=policy(start_date="2026-04-01"),
        known_customers={"email:kunde@example.dk"},
    )
    assert plan.orders == 5
    # 5: its totals disagree; 2, 3 and 7 lack a product, a VAT code, a customer's e-mail.
    assert plan.by_outcome == {"booked": 1, "draft": 1, "held": 3}
    assert plan.totals == {
        "DKK": D("125.00") + D("12.50") + D("13.00") + D("125.00"),
        "EUR": D("23.80"),
    }
    assert plan.customers_to_create == ("email:ny@example.dk", "email:kunde@example.de")
    assert plan.skipped == {"state_not_triggering": 1}
    assert plan.problems == (
        ImportProblem("2", "product_missing", "NEW-1"),
        ImportProblem("3", "vat_code_missing", "U_DE19"),
        ImportProblem("5", "totals_mismatch", "shop 13.00, booked 12.50 DKK"),
        ImportProblem("7", "customer_email_missing", ""),
    )


def test_historical_import_plan_knows_a_customer_as_the_run_matches_it() -> None:
    march = DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    shouted = order(source_id="1", created_at="2026-03-02T10:00:00+01:00",
                    customer={"email": "SOREN.Aagaard@example.dk"})  # fmt: skip
    plan = plan_historical_import(
        [shouted], march, {"SKU-1"}, {"U25"}, policy(),
        known_customers={"email:soren.aagaard@example.dk"},
    )  # fmt: skip
    assert plan.customers_to_create == ()  # the run matches e-mail without case


def test_historical_import_plan_takes_a_line_without_sku_as_the_run_does() -> None:
    march = DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    free = order(source_id="1", created_at="2026-03-02T10:00:00+01:00",
                 lines=[line("100.00", sku=None)], total="125.00")  # fmt: skip
    plan = plan_historical_import([free], march, {"SKU-1"}, {"U25"}, policy())
    assert (plan.orders, plan.problems) == (1, ())  # booked as a line without an item


def test_historical_import_plan_changes_nothing_and_needs_an_ordered_range() -> None:
    placed = order()
    before = placed.model_dump()
    plan_historical_import(
        [placed], DateRange(dt.date(2026, 6, 1), dt.date(2026, 6, 1)), (), (), policy()
    )
    assert placed.model_dump() == before
    with pytest.raises(ValueError, match="before it starts"):
        DateRange(dt.date(2026, 6, 2), dt.date(2026, 6, 1))


def test_the_codes_a_policy_names_are_the_ones_given_not_its_defaults() -> None:
    assert named_codes({}) == []
    assert named_codes({"book": False, "vat": {"export_code": "UEXP"}}) == []
    given = {
        "default_payment_term": "Netto 14",
        "payment_methods": {"stripe": {"payment_term": "Kort", "registered_as_paid": True},
                            "bacs": {}},
        "customers": {"shared_b2c_account": "99999",
                      "profiles": {"b2c": {"debtor_group": "PRIV"},
                                   "b2b": {"debtor_group": "ERHVERV", "payment_term": "Netto 30"},
                                   "ean": {"debtor_group": "EAN"}}},
        "rounding_account": "AFRUND",
        "refund_item": None,
        "service_items": {"shipping": "FRAGT", "fee": "GEBYR"},
    }  # fmt: skip
    assert [(c.field.removeprefix("commerce.policy."), c.kind, c.code)
            for c in named_codes(given)] == [
        ("default_payment_term", "payment_term", "Netto 14"),
        ("payment_methods.stripe.payment_term", "payment_term", "Kort"),
        ("customers.profiles.b2c.debtor_group", "customer_group", "PRIV"),
        ("customers.profiles.b2b.debtor_group", "customer_group", "ERHVERV"),
        ("customers.profiles.b2b.payment_term", "payment_term", "Netto 30"),
        ("customers.profiles.ean.debtor_group", "customer_group", "EAN"),
        ("customers.shared_b2c_account", "customer", "99999"),
        ("rounding_account", "item", "AFRUND"),
        ("service_items.shipping", "item", "FRAGT"),
        ("service_items.fee", "item", "GEBYR"),
    ]  # fmt: skip


def test_historical_import_plan_says_which_orders_stay_orders_and_which_stay_drafts() -> None:
    """An order the policy makes a Uniconta order is transferred but never booked: the plan
    counts it apart from the invoices, as it does the drafts a person books."""
    march = DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    orders = [
        order(source_id="1", created_at="2026-03-10T10:00:00+01:00", state="processing"),
        order(source_id="2", created_at="2026-03-11T10:00:00+01:00", state="completed"),
    ]
    states = {"processing": "create_order", "completed": "create_invoice"}
    booked = plan_historical_import(orders, march, {"SKU-1"}, {"U25"}, policy(states=states))
    assert (booked.orders, booked.by_outcome) == (2, {"order": 1, "booked": 1})
    drafts = plan_historical_import(
        orders, march, {"SKU-1"}, {"U25"}, policy(states=states, book=False)
    )
    assert drafts.by_outcome == {"order": 1, "draft": 1}


def test_a_payment_methods_account_needs_the_payment_journal_named() -> None:
    with pytest.raises(ValidationError) as refused:
        CommercePolicy.model_validate(
            {"payment_methods": {"cash": {"payment_term": "Kontant", "account": "5800"}}}
        )
    (error,) = refused.value.errors()
    assert error["loc"] == ("payment_journal",) and error["type"] == "payment_journal_missing"
    assert "cash" in error["msg"]


def test_a_payment_methods_account_and_the_payment_journal_are_looked_up() -> None:
    given = {"payment_methods": {"cash": {"payment_term": "Kontant", "account": "5800"}},
             "payment_journal": "INDBET"}  # fmt: skip
    named = {(code.field, code.kind, code.code) for code in named_codes(given)}
    assert ("commerce.policy.payment_methods.cash.account", "account", "5800") in named
    assert ("commerce.policy.payment_journal", "journal", "INDBET") in named
