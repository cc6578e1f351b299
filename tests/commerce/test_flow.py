"""The commerce flow, pure: what an order or a refund becomes, one row per IEX behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.commerce.config import CommercePolicy
from ledgerbridge.commerce.files import FileMapping, read
from ledgerbridge.commerce.flow import (
    Credited,
    KnownRecords,
    OrderResult,
    PartyPlan,
    Prior,
    match_key,
    order_flow,
    party_update,
    refund_flow,
)
from ledgerbridge.commerce.mapping import MappingRules
from ledgerbridge.engine.canonical import validate
from ledgerbridge.model.commerce import Order, PaymentMethod, Refund
from ledgerbridge.model.invoice import Invoice
from tests.commerce.orders import CVR, DE_VAT, GLN, line, order

D = Decimal
ZONE = "Europe/Copenhagen"
ONE_CENT_SHORT = [line("0.33"), line("0.33"), line("0.33", tax="0.09")]
"""VAT rounded on the subtotal by the shop: its total is one cent above the booked one."""


def policy(**fields: Any) -> CommercePolicy:
    return CommercePolicy.model_validate({"rounding_account": "7290", **fields})


def flow(placed: Order, known: KnownRecords | None = None, **kwargs: Any) -> OrderResult:
    settings = kwargs.pop("settings", {})
    rules = kwargs.pop("rules", None)
    return order_flow(
        placed, policy(**settings), rules, known or KnownRecords(), timezone=ZONE, **kwargs
    )


def booked(result: OrderResult, party_id: str = "party-1") -> Invoice:
    """The invoice as the hub stores it: the flow's data must be a valid invoice."""
    assert result.outcome == "invoice", result
    assert result.invoice is not None
    return Invoice.model_validate(validate("invoice", {**result.invoice, "party_id": party_id}))


def codes(invoice: Invoice) -> list[str | None]:
    return [invoice_line.vat_code for invoice_line in invoice.lines]


# ---------------------------------------------------------------------------- orders


def test_dk_consumer_paid_by_card_is_booked_paid_with_a_new_customer() -> None:
    result = flow(order([line("100.00"), line("39.00", kind="shipping")]))
    invoice = booked(result)
    assert (result.state, result.reason, result.issue) == ("paid", "book", False)
    assert invoice.status == "paid"
    assert invoice.payment_term == "Kort"
    assert invoice.reference == "1001"
    assert str(invoice.date) == "2026-06-01"
    assert codes(invoice) == ["U25", "U25"]
    assert invoice.gross_total == D("173.75")
    assert result.party is not None and result.party.party_id is None
    assert result.party.key == "email:kunde@example.dk"
    assert result.party.data is not None
    assert result.party.data["customer_group"] == "PRIV"
    assert result.party.data["vat_zone"] == "domestic"
    assert result.party.data["kind"] == "person"
    assert validate("party", result.party.data)["email"] == "kunde@example.dk"


def test_a_sale_below_zero_is_held_as_a_refund_in_disguise_not_booked_negative() -> None:
    """A file row of quantity -1 (goods taken back) and a shop order totalling below zero
    would each be booked as a negative invoice crediting no sale: held with the issue
    negative_sale, saying to make it a refund of the order it returns."""
    csv = (
        b"Ordrenr;Dato;Status;E-mail;Varenr;Antal;Stykpris\n"
        b"2001;30-11-2026 14:05;Betalt;kunde@example.dk;MUG-1;-1;79,20\n"
    )
    mapping = FileMapping.model_validate({
        "kind": "orders", "format": {"type": "csv"}, "decimal_separator": ",",
        "date_format": "%d-%m-%Y %H:%M", "timezone": "Europe/Copenhagen",
        "fields": {"order.number": "Ordrenr", "order.created_at": "Dato",
                   "order.state": {"column": "Status", "values": {"betalt": "processing"}},
                   "order.currency": {"value": "DKK"}, "customer.email": "E-mail",
                   "line.sku": "Varenr", "line.quantity": "Antal", "line.unit_price": "Stykpris",
                   "line.tax_rate": {"value": "25"}},
    })  # fmt: skip
    read_back = read(csv, mapping)
    assert read_back.problems == []
    (returned,) = read_back.records
    assert isinstance(returned, Order)
    result = flow(returned)
    assert (result.outcome, result.reason, result.issue, result.invoice) == (
        "skip", "negative_sale", True, None,
    )  # fmt: skip
    assert result.message.startswith("order 2001 sells MUG-1 at quantity -1: a sale below zero")
    assert "refund in the shop (or a refunds file)" in result.message

    negative_fee = line("-200.00", kind="fee")
    below_zero = flow(order([line("100.00"), negative_fee]))
    assert (below_zero.outcome, below_zero.reason) == ("skip", "negative_sale")
    assert "order 1001 totals -125.00 DKK" in below_zero.message
    discounted = flow(order([line("100.00"), line("-20.00", kind="fee")]))
    assert (discounted.outcome, discounted.reason) == ("invoice", "book"), "a negative fee lowers"


def test_order_date_is_the_connections_day() -> None:
    late = order(created_at="2026-06-01T23:30:00+00:00", paid_at="2026-06-01T23:31:00+00:00")
    assert str(booked(flow(late)).date) == "2026-06-02"


def test_bank_transfer_is_booked_and_left_open_with_netto_8() -> None:
    result = flow(order(payment_method={"code": "bacs", "title": "Bankoverførsel"}))
    invoice = booked(result)
    assert (invoice.status, invoice.payment_term) == ("booked", "Netto 8")


def test_eu_business_is_reverse_charge() -> None:
    placed = order(
        [line("500.00", "0")],
        customer={"email": "einkauf@firma.de", "company": "Firma GmbH", "vat_number": DE_VAT},
        billing_address={"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
    )
    result = flow(placed)
    invoice = booked(result)
    assert codes(invoice) == ["UEUV"]
    assert result.party is not None and result.party.data is not None
    assert result.party.key == f"vat_number:{DE_VAT}"
    assert result.party.data["customer_group"] == "ERHVERV"
    assert result.party.data["vat_zone"] == "eu"
    assert result.party.data["kind"] == "organisation"


def test_oss_consumer_in_germany_gets_u_de19() -> None:
    placed = order(
        [line("100.00", "19"), line("5.00", "19", kind="shipping")],
        shipping_address={"line1": "Weg 2", "city": "Hamburg", "country": "DE"},
    )
    result = flow(placed)
    assert codes(booked(result)) == ["U_DE19", "U_DE19"]
    assert result.party is not None and result.party.data is not None
    assert result.party.data["vat_zone"] == "eu"


def test_vat_charged_in_norway_is_booked_on_the_code_of_the_shops_registration_there() -> None:
    """A shop registered for Norwegian VAT (VOEC) charges 25 % there: without a code for it the
    order is held saying how to name one, with it the line is booked on that code."""
    to_norway = order([line("100.00")], shipping_address={"country": "NO"})
    held = flow(to_norway)
    assert (held.outcome, held.reason) == ("skip", "vat_charged_on_export")
    assert 'name the VAT code of that rate in policy.vat.oss_codes as "NO:25"' in held.message
    registered = flow(to_norway, settings={"vat": {"oss_codes": {"NO:25": "U_NO25"}}})
    assert codes(booked(registered)) == ["U_NO25"]


def test_ean_customer_gets_its_profile_and_term() -> None:
    placed = order(
        customer={"email": "faktura@kommune.dk", "company": "Aarhus Kommune", "ean": GLN},
        payment_method={"code": "ean_invoice", "title": "EAN"},
        paid_at=None,
    )
    result = flow(placed)
    invoice = booked(result)
    assert (invoice.status, invoice.payment_term) == ("booked", "Netto 30")
    assert result.party is not None and result.party.data is not None
    assert result.party.data["gln"] == GLN
    assert result.party.data["customer_group"] == "EAN"
    assert result.party.key == f"ean:{GLN}"


PER_LINE = {"vat": {"rounding": "per_line"}}
"""An accounting system that rounds VAT per line, against a shop that rounds on the subtotal."""


def test_a_shops_per_line_vat_rounding_is_a_rounding_line_against_per_rate_booking() -> None:
    lines = [line("0.33", tax="0.08"), line("0.33", tax="0.08"), line("0.33", tax="0.08")]
    result = flow(order(lines, total="1.23", total_tax="0.24"))
    rounding = booked(result).lines[-1]
    assert (rounding.sku, rounding.unit_price, rounding.vat_code) == ("7290", D("-0.01"), None)
    assert result.state == "paid"


def test_one_cent_gap_within_tolerance_is_a_rounding_line() -> None:
    result = flow(order(ONE_CENT_SHORT, total="1.24", total_tax="0.25"), settings=PER_LINE)
    invoice = booked(result)
    rounding = invoice.lines[-1]
    assert (rounding.sku, rounding.unit_price, rounding.vat_code) == ("7290", D("0.01"), None)
    assert rounding.vat_amount == 0
    assert invoice.gross_total == D("1.24")
    assert result.state == "paid"


def test_larger_gap_stays_a_draft_with_totals_mismatch() -> None:
    result = flow(order(ONE_CENT_SHORT, total="5.00"), settings=PER_LINE)
    invoice = booked(result)
    assert (invoice.status, result.reason, result.issue) == ("draft", "totals_mismatch", True)
    assert "5.00" in result.message and "1.23" in result.message


def test_gap_without_rounding_account_stays_a_draft() -> None:
    placed = order(ONE_CENT_SHORT, total="1.24", total_tax="0.25")
    result = order_flow(placed, CommercePolicy.model_validate(PER_LINE), None, KnownRecords())
    assert (result.state, result.reason, result.issue) == (
        "draft",
        "rounding_account_missing",
        True,
    )


@pytest.mark.parametrize(
    ("settings", "state", "reason"),
    [
        ({"book": False}, "draft", "draft_requested"),
        ({"states": {"processing": "create_order"}}, "draft", "order_requested"),
    ],
)
def test_drafts_asked_for_are_no_issue(settings: dict[str, Any], state: str, reason: str) -> None:
    result = flow(order(), settings=settings)
    assert (booked(result).status, result.reason, result.issue) == (state, reason, False)


def test_renewal_failed_then_processing_is_booked_once() -> None:
    renewal: dict[str, Any] = {"renewal": True, "subscription_id": "sub-7"}
    failed = flow(order(state="failed", paid_at=None, **renewal))
    assert (failed.outcome, failed.reason, failed.issue) == ("skip", "state_not_triggering", True)
    paid = flow(order(**renewal))
    assert booked(paid).status == "paid"
    again = flow(order(state="completed", **renewal), prior=Prior("inv-1", "paid", "party-1"))
    assert (again.outcome, again.reason, again.invoice) == ("unchanged", "invoice_booked", None)


def test_a_draft_is_recomputed_when_its_order_changes() -> None:
    result = flow(order(state="completed"), prior=Prior("inv-1", "draft", "party-1"))
    assert booked(result).status == "paid"


@pytest.mark.parametrize("state", ["cancelled", "failed"])
def test_an_order_cancelled_before_booking_withdraws_its_draft(state: str) -> None:
    ordered = {"states": {"on-hold": "create_order", "processing": "create_invoice"}}
    draft = Prior("inv-1", "draft", "party-1")
    result = flow(order(state=state, paid_at=None), settings=ordered, prior=draft)
    assert (result.outcome, result.reason, result.issue) == ("withdraw", f"order_{state}", False)
    assert result.invoice is None and result.party is None
    assert f"is '{state}' in the shop and was not booked" in result.message
    # Taken in again once it reaches a state that books it: a new invoice.
    again = flow(order(state="processing"), settings=ordered)
    assert booked(again).status == "paid"


def test_a_cancelled_order_never_taken_in_or_booked_is_no_withdrawal() -> None:
    trashed = flow(order(state="trash", paid_at=None))
    assert (trashed.outcome, trashed.issue) == ("skip", False)
    never = flow(order(state="cancelled", paid_at=None))
    assert (never.outcome, never.reason, never.issue) == ("skip", "state_not_triggering", False)
    assert (
        never.message == "the order is 'cancelled' in the shop and was never paid: there is "
        "nothing to book"
    )
    for state in ("booked", "paid"):
        kept = flow(order(state="cancelled"), prior=Prior("inv-1", state, "party-1"))
        assert (kept.outcome, kept.reason) == ("unchanged", "invoice_booked")
    listed = {"states": {"cancelled": "create_invoice"}}
    draft = Prior("inv-1", "draft", "party-1")
    booked_so = flow(order(state="cancelled"), settings=listed, prior=draft)
    assert booked(booked_so).status == "paid"


def test_filter_skips_the_order_with_the_rules_version() -> None:
    rules = MappingRules.model_validate(
        {
            "version": 3,
            "filters": [{"field": "payment_method.code", "operator": "eq", "value": "stripe"}],
        }
    )
    result = flow(order(), rules=rules)
    assert (result.outcome, result.reason) == ("skip", "mapping_filter")
    assert result.rules_version == 3 and result.rules_hash == rules.content_hash
    assert "filters[0]" in result.message


def test_adjustments_reach_the_invoice() -> None:
    rules = MappingRules.model_validate(
        {"adjustments": [{"target": "note", "template": "Webordre {{ number }}"}]}
    )
    result = flow(order(), rules=rules)
    assert booked(result).notes == "Webordre 1001"
    assert [change.path for change in result.changes] == ["note"]


def test_order_before_the_start_date_is_skipped_unless_imported_before() -> None:
    early = order(created_at="2026-05-20T10:00:00+02:00", paid_at="2026-05-20T10:01:00+02:00")
    skipped = flow(early, settings={"start_date": "2026-06-01"})
    assert (skipped.outcome, skipped.reason) == ("skip", "before_start_date")
    taken_in = flow(
        early, settings={"start_date": "2026-06-01"}, prior=Prior("inv-1", "draft", "party-1")
    )
    assert taken_in.outcome == "invoice"


def test_shared_b2c_customer() -> None:
    known = KnownRecords(debtor_numbers={"99999": "party-shared"})
    result = flow(order(), known, settings={"customers": {"shared_b2c_account": "99999"}})
    assert result.party is not None
    assert result.party.party_id == "party-shared"
    missing = flow(order(), settings={"customers": {"shared_b2c_account": "99999"}})
    assert (missing.outcome, missing.reason) == ("skip", "shared_customer_missing")


def test_customer_match_by_email_finds_the_existing_party() -> None:
    known = KnownRecords(parties={"email:kunde@example.dk": "party-7"})
    placed = order(customer={"email": "Kunde@Example.dk", "name": "Karen Kunde"})
    result = flow(placed, known)
    assert result.party is not None
    assert (result.party.party_id, result.party.data) == ("party-7", None)


MOVED = {"line1": "Strandvejen 9", "postal_code": "2900", "city": "Hellerup", "country": "DK"}
KAREN = {
    "kind": "person", "name": "Karen Kunde", "is_customer": True, "debtor_number": "10042",
    "email": "kunde@example.dk", "phone": "+45 11 22 33 44", "customer_group": "PRIV",
    "vat_zone": "domestic",
    "billing_address": {"line1": "Havnegade 1", "city": "Aarhus C", "country": "DK"},
}  # fmt: skip
"""Karen as the hub has her, with her debtor number from Uniconta."""
BEFORE_THE_ORDER = datetime(2026, 5, 1, tzinfo=UTC)
"""A party's last change a month before ``order()`` was placed."""


def returning(settings: dict[str, Any] | None = None, **fields: Any) -> PartyPlan:
    """The party plan of Karen's next order (``order()`` with ``fields``), found by e-mail."""
    known = KnownRecords(parties={"email:kunde@example.dk": "party-7"})
    result = flow(order(**fields), known, settings=settings or {})
    assert result.outcome == "invoice" and result.party is not None, result
    assert result.party.party_id == "party-7"
    return result.party


def test_a_returning_customers_new_address_and_phone_update_the_party() -> None:
    plan = returning(
        billing_address=MOVED,
        customer={"email": "Kunde@Example.dk", "name": "Karen Kunde", "phone": "+4555667788"},
    )
    assert plan.key == "email:kunde@example.dk"
    assert plan.as_of == datetime(2026, 6, 1, 8, tzinfo=UTC)
    update = party_update(KAREN, BEFORE_THE_ORDER, plan)
    assert update is not None and not update.stale
    assert update.changed == ("phone", "billing_address")
    assert update.data == {**KAREN, "phone": "+4555667788", "billing_address": {
        **MOVED, "line2": None, "line3": None, "street": None, "house_number": None,
        "house_number_suffix": None, "region": None}}  # fmt: skip
    assert validate("party", update.data)["billing_address"]["city"] == "Hellerup"
    # Its debtor number, group and zone stay; the e-mail it was found by keeps its case.
    assert update.data["email"] == "kunde@example.dk"
    assert update.data["customer_group"] == "PRIV" and update.data["debtor_number"] == "10042"


def test_a_renewal_never_updates_the_customer() -> None:
    """A renewal carries the address the subscription was taken out with: after the customer
    moved (a later checkout updated the party), each month's renewal would move them back."""
    plan = returning(billing_address=MOVED, renewal=True, subscription_id="145")
    assert plan.update is None and party_update(KAREN, BEFORE_THE_ORDER, plan) is None


def test_a_policy_naming_one_payment_method_keeps_the_defaults() -> None:
    """Naming ``viabill`` adds it: card orders stay paid at booking on the card term, which
    replacing the defaults would have booked open on the default term, silently."""
    policy = CommercePolicy.model_validate(
        {"payment_methods": {"viabill": {"payment_term": "Kort", "registered_as_paid": True},
                             "bacs": {"payment_term": "Netto 14"}, "cod": None}}
    )  # fmt: skip
    methods = policy.payment_methods
    assert methods["viabill"].registered_as_paid and methods["stripe"].registered_as_paid
    assert methods["stripe"].payment_term == "Kort" and methods["bacs"].payment_term == "Netto 14"
    assert "cod" not in methods, "a method given as null drops its default"


def test_an_order_older_than_the_partys_last_change_does_not_update_it() -> None:
    plan = returning(billing_address=MOVED)
    after = datetime(2026, 6, 2, tzinfo=UTC)  # typed in the accounting system since
    update = party_update(KAREN, after, plan)
    assert update is not None and update.stale and update.changed == ("billing_address",)
    at_the_same_time = party_update(KAREN, datetime(2026, 6, 1, 8, tzinfo=UTC), plan)
    assert at_the_same_time is not None and at_the_same_time.stale


def test_what_the_order_lacks_or_says_alike_is_no_update() -> None:
    bare = returning(customer={"email": "kunde@example.dk"}, billing_address=None)
    assert bare.update == {}, "no name, phone or address: nothing to write, nothing blanked"
    assert party_update(KAREN, BEFORE_THE_ORDER, bare) is None
    alike = returning(
        customer={"email": "kunde@example.dk", "name": "Karen Kunde", "phone": "004511223344"},
        billing_address={"line1": "Havnegade 1", "city": "Aarhus C", "country": "DK",
                         "region": "Midtjylland"},
    )  # fmt: skip
    assert party_update(KAREN, BEFORE_THE_ORDER, alike) is None, "the same number and address"


def test_the_match_field_group_and_zone_are_never_updated() -> None:
    known = KnownRecords(parties={"phone:4511223344": "party-7"})
    placed = order(
        customer={"email": "ny@example.dk", "name": "Karen Kunde", "phone": "+45 11223344"},
        shipping_address={"line1": "Weg 2", "city": "Hamburg", "country": "DE"},
    )
    settings = {"customers": {"profiles": {
        "b2c": {"debtor_group": "WEB", "match_by": "phone"},
        "b2b": {"debtor_group": "ERHVERV"}, "ean": {"debtor_group": "EAN"}}}}  # fmt: skip
    plan = flow(placed, known, settings=settings).party
    assert plan is not None and plan.update is not None
    assert set(plan.update) == {"name", "email", "billing_address"}
    update = party_update(KAREN, BEFORE_THE_ORDER, plan)
    assert update is not None and update.changed == ("email",)
    assert (update.data["phone"], update.data["customer_group"], update.data["vat_zone"]) == (
        "+45 11 22 33 44", "PRIV", "domestic")  # fmt: skip


def test_a_business_is_renamed_after_its_company_never_after_a_person() -> None:
    known = KnownRecords(parties={f"vat_number:{DE_VAT}": "party-9"})
    firm = {"email": "einkauf@firma.de", "name": "Klaus Weber", "vat_number": DE_VAT}
    where = {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}
    renamed = flow(order([line("500.00", "0")], customer={**firm, "company": "Weber AG"},
                         billing_address=where), known).party  # fmt: skip
    assert renamed is not None and renamed.update is not None
    assert renamed.update["name"] == "Weber AG"
    nameless = flow(order([line("500.00", "0")], customer=firm, billing_address=where),
                    known).party  # fmt: skip
    assert nameless is not None and nameless.update is not None
    assert "name" not in nameless.update and nameless.update["email"] == "einkauf@firma.de"


def test_no_update_when_the_profile_is_off_or_the_party_is_the_shared_account() -> None:
    off = {"customers": {"profiles": {
        "b2c": {"debtor_group": "PRIV", "update_existing": False},
        "b2b": {"debtor_group": "ERHVERV"}, "ean": {"debtor_group": "EAN"}}}}  # fmt: skip
    plan = returning(billing_address=MOVED, settings=off)
    assert plan.update is None and party_update(KAREN, BEFORE_THE_ORDER, plan) is None
    # A business whose e-mail is the shared till debtor's is booked on it, unchanged.
    known = KnownRecords(
        parties={"email:kasse@example.dk": "party-shared"},
        debtor_numbers={"99999": "party-shared"},
    )
    settings = {"customers": {"shared_b2c_account": "99999", "profiles": {
        "b2c": {"debtor_group": "PRIV"}, "b2b": {"debtor_group": "ERHVERV", "match_by": "email"},
        "ean": {"debtor_group": "EAN"}}}}  # fmt: skip
    business = order(
        customer={"email": "kasse@example.dk", "company": "Firma ApS", "vat_number": CVR},
        billing_address=MOVED,
    )
    for placed in (business, order(billing_address=MOVED)):
        shared = flow(placed, known, settings=settings).party
        assert shared is not None and shared.party_id == "party-shared"
        assert shared.update is None


def test_customer_without_the_match_field_is_an_issue() -> None:
    result = flow(order(customer={"name": "Anonym"}))
    assert (result.outcome, result.reason, result.issue) == ("skip", "customer_email_missing", True)


def test_line_without_vat_code_is_skipped() -> None:
    result = flow(order([line("100.00", "12")]))
    assert (result.outcome, result.reason) == ("skip", "vat_code_missing")
    assert "12" in result.message


def test_products_are_linked_by_sku() -> None:
    known = KnownRecords(products={"SKU-1": "product-1"})
    assert booked(flow(order(), known)).lines[0].product_id == "product-1"


def test_shipping_and_fees_are_booked_on_the_policys_service_items() -> None:
    placed = order([line("100.00"), line("39.00", kind="shipping"), line("15.00", kind="fee")])
    known = KnownRecords(products={"FRAGT": "product-fragt"})
    invoice = booked(flow(placed, known, settings={"service_items": {"shipping": "FRAGT",
                                                                     "fee": "GEBYR"}}))  # fmt: skip
    assert [(ln.sku, ln.product_id, ln.description, ln.unit_price) for ln in invoice.lines] == [
        ("SKU-1", None, "item 100.00", D("100.00")),
        ("FRAGT", "product-fragt", "shipping 39.00", D("39.00")),
        ("GEBYR", None, "fee 15.00", D("15.00")),
    ]
    without = booked(flow(placed))
    assert [ln.sku for ln in without.lines] == ["SKU-1", None, None]


def test_an_eu_consumer_charged_no_vat_is_an_issue_saying_what_to_fix() -> None:
    placed = order([line("100.00", "0")], shipping_address={"country": "IT"})
    result = flow(placed)
    assert (result.outcome, result.reason, result.issue) == (
        "skip", "vat_zero_on_eu_consumer_sale", True
    )  # fmt: skip
    assert "consumer in IT" in result.message
    assert "Add IT's VAT rate in the shop" in result.message
    assert 'policy.vat.oss_codes as "IT:0"' in result.message
    mapped = flow(placed, settings={"vat": {"oss_codes": {"IT:0": "UEUFRI"}}})
    assert codes(booked(mapped)) == ["UEUFRI"]


def test_no_vat_to_a_business_without_another_eu_countrys_vat_number_is_a_question() -> None:
    """A Danish company's goods shipped to Germany without VAT: reverse charge needs the
    buyer's VAT number from another member state, so its line is no UEUV line but the
    order's issue, naming the number and what to correct."""
    placed = order(
        [line("100.00", "0")],
        shipping_address={"country": "DE"},
        customer={"email": "indkoeb@firma.dk", "company": "Firma ApS", "vat_number": CVR},
    )
    result = flow(placed)
    assert (result.outcome, result.reason, result.issue) == (
        "skip", "vat_zero_without_eu_vat_number", True
    )  # fmt: skip
    assert f"business in DE whose VAT number {CVR} is not of another EU country than DK" in (
        result.message
    )
    assert "Correct the customer's VAT number, or charge VAT in the shop" in result.message
    german = placed.model_copy(
        update={"customer": placed.customer.model_copy(update={"vat_number": DE_VAT})}
    )
    assert codes(booked(flow(german))) == ["UEUV"]


def test_match_keys() -> None:
    assert match_key("email", " A@B.dk ") == "a@b.dk"
    assert match_key("phone", "+45 12 34-56 78") == "4512345678"
    # One number however it is written: with +, with the international 00, or digits only.
    assert {match_key("phone", v) for v in ("+45 11 22 33 44", "4511223344", "0045 1122 3344",
                                             "+45-1122-3344")} == {"4511223344"}  # fmt: skip
    assert match_key("phone", "n/a") is None
    assert match_key("vat_number", None) is None


# ---------------------------------------------------------------------------- refunds


REFUNDED_ORDER = order(
    [
        line("100.00", quantity="2", source_id="11", sku="MUG"),
        line("39.00", kind="shipping", source_id="13"),
    ]
)
INVOICE = Prior("inv-1", "paid", "party-1")


def refund(amount: str, lines: list[dict[str, Any]]) -> Refund:
    return Refund.model_validate(
        {
            "source_id": "r-1",
            "order_source_id": "1001",
            "created_at": "2026-06-03T09:00:00+02:00",
            "currency": "DKK",
            "amount": amount,
            "reason": "Returneret",
            "lines": lines,
        }
    )


PARTIAL = refund(
    "125.00",
    [{"order_line_id": "11", "quantity": "1", "net_amount": "100.00", "tax_amount": "25.00"}],
)


def test_partial_refund_is_a_credit_note_against_the_invoice() -> None:
    result = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), INVOICE, timezone=ZONE)
    assert (result.outcome, result.state, result.issue) == ("credit_note", "booked", False)
    assert result.credit_note is not None
    note = Invoice.model_validate(validate("invoice", result.credit_note))
    assert (note.kind, note.credits_invoice_id, note.party_id) == (
        "credit_note",
        "inv-1",
        "party-1",
    )
    assert [(n.sku, n.quantity, n.unit_price, n.vat_code) for n in note.lines] == [
        ("MUG", D(-1), D("100.00"), "U25")
    ]
    assert note.gross_total == D("-125.00")


def test_refund_of_a_free_amount_is_a_refund_item_line() -> None:
    result = refund_flow(
        refund("40.00", []), REFUNDED_ORDER, policy(refund_item="REFUSION"), INVOICE
    )
    assert result.credit_note is not None
    note = Invoice.model_validate(validate("invoice", result.credit_note))
    assert [(n.sku, n.quantity, n.unit_price, n.vat_code) for n in note.lines] == [
        ("REFUSION", D(-1), D("32.00"), "U25")
    ]
    missing = refund_flow(refund("40.00", []), REFUNDED_ORDER, policy(), INVOICE)
    assert (missing.outcome, missing.reason) == ("skip", "refund_item_missing")


def test_a_refund_the_invoice_cannot_take_is_an_issue_saying_what_to_fix() -> None:
    """A refund in another currency than its order, or of more than the order totals (a
    file's amount read with the wrong decimal separator), would book a credit note the
    invoice cannot carry: it is the refund's issue, naming both figures."""
    euros = Refund.model_validate({**PARTIAL.model_dump(mode="json"), "currency": "EUR"})
    result = refund_flow(euros, REFUNDED_ORDER, policy(), INVOICE)
    assert (result.outcome, result.reason, result.issue, result.credit_note) == (
        "skip", "refund_currency_mismatch", True, None,
    )  # fmt: skip
    assert "in EUR and order 1001 in DKK" in result.message
    total = REFUNDED_ORDER.total
    result = refund_flow(
        refund("12500.00", []), REFUNDED_ORDER, policy(refund_item="REFUSION"), INVOICE
    )
    assert (result.outcome, result.reason, result.issue, result.credit_note) == (
        "skip", "refund_exceeds_order", True, None,
    )  # fmt: skip
    assert f"refund of 12500.00 DKK is more than order 1001 totals ({total} DKK)" in (
        result.message
    )
    whole = refund_flow(
        refund(str(total), []), REFUNDED_ORDER, policy(refund_item="REFUSION"), INVOICE
    )
    assert (whole.outcome, whole.reason) == ("credit_note", "credit_note"), "all of it"


def test_refunds_that_together_credit_more_than_the_order_stop_at_the_one_that_would() -> None:
    """Each refund alone fits the order (298.75), but the invoice's credit notes credit 250.00
    already: the 125.00 refund would take them beyond it, so it is held, saying what is
    credited and what is left to refund."""
    earlier = (Credited("CN-7", Decimal("125.00")), Credited("CN-8", Decimal("125.00")))
    result = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), INVOICE, credited=earlier)
    assert (result.outcome, result.reason, result.issue, result.credit_note) == (
        "skip", "refunds_exceed_order", True, None,
    )  # fmt: skip
    assert "would credit order 1001 for 375.00 DKK in all, more than it totals (298.75 DKK)" in (
        result.message
    )
    assert "credit 250.00 DKK already (credit note CN-7: 125.00, credit note CN-8: 125.00)" in (
        result.message
    )
    assert "at most 48.75 DKK is left to refund" in result.message
    one = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), INVOICE, credited=earlier[:1])
    assert (one.outcome, one.reason) == ("credit_note", "credit_note"), "up to the total"


@pytest.mark.parametrize(
    ("placed", "invoice", "reason"),
    [
        (None, None, "refund_order_missing"),
        (REFUNDED_ORDER, None, "refund_waiting_for_invoice"),
        (REFUNDED_ORDER, Prior("inv-1", "draft", "party-1"), "refund_waiting_for_invoice"),
    ],
)
def test_refund_waits_for_a_booked_invoice(
    placed: Order | None, invoice: Prior | None, reason: str
) -> None:
    result = refund_flow(PARTIAL, placed, policy(), invoice)
    assert (result.outcome, result.reason, result.issue, result.credit_note) == (
        "wait", reason, True, None,
    )  # fmt: skip


def test_a_refund_of_an_order_refunded_before_it_was_booked_says_what_to_decide() -> None:
    """The order is 'refunded' and never booked: its refund does not wait for time but for
    the policy to book the state (or a person to dismiss both issues)."""
    refunded = REFUNDED_ORDER.model_copy(update={"state": "refunded"})
    result = refund_flow(PARTIAL, refunded, policy(), None)
    assert (result.outcome, result.reason, result.issue) == (
        "wait", "refund_waiting_for_invoice", True,
    )  # fmt: skip
    assert "order 1001 is 'refunded' in the shop" in result.message
    assert "set policy.states.refunded to create_invoice" in result.message
    assert "once it has" not in result.message
    waiting = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), None)
    assert waiting.message == (
        "the refunded order 1001 has no booked invoice yet; the credit note is made once it has"
    )
    booked_state = refund_flow(
        PARTIAL, refunded, policy(states={"refunded": "create_invoice"}), None
    )
    assert "once it has" in booked_state.message, "the policy books it: it is coming"


def test_a_booked_credit_note_is_not_rewritten() -> None:
    result = refund_flow(
        PARTIAL, REFUNDED_ORDER, policy(), INVOICE, Prior("cn-1", "booked", "party-1")
    )
    assert (result.outcome, result.reason) == ("unchanged", "credit_note_booked")


# ---------------------------------------------------------------------------- fixes


def test_a_credit_note_carries_the_credited_invoices_payment_term() -> None:
    carded = Prior("inv-1", "paid", "party-1", "Kort")
    result = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), carded, timezone=ZONE)
    assert result.credit_note is not None and result.credit_note["payment_term"] == "Kort"
    unknown = refund_flow(PARTIAL, REFUNDED_ORDER, policy(), INVOICE, timezone=ZONE)
    assert unknown.credit_note is not None
    assert unknown.credit_note["payment_term"] == "Kort", "the sale's method's term"


def test_a_refund_paid_back_another_way_carries_that_methods_term() -> None:
    """A card sale refunded by bank transfer goes back over the transfer's receivable; a
    method without a rule, or the sale's own, leaves the invoice's term."""
    settings = policy(payment_methods={
        "stripe": {"payment_term": "Kort 2", "registered_as_paid": True},
        "bacs": {"payment_term": "Bankoverførsel"},
    })  # fmt: skip
    carded = Prior("inv-1", "paid", "party-1", "Kort")

    def term(method: str | None) -> str:
        paid_back = PARTIAL.model_copy(
            update={"payment_method": PaymentMethod(code=method) if method else None}
        )
        result = refund_flow(paid_back, REFUNDED_ORDER, settings, carded, timezone=ZONE)
        assert result.credit_note is not None
        return str(result.credit_note["payment_term"])

    assert term("bacs") == "Bankoverførsel"
    assert term("giftcard") == "Kort", "no rule: the invoice's term"
    assert term("stripe") == "Kort", "the sale's own method: the invoice's term"
    assert term(None) == "Kort"


def test_a_vat_code_of_another_rate_keeps_the_invoice_a_draft() -> None:
    twelve = order([line("100.00", "12", sku="BAG-01")])
    settings = {"vat": {"domestic_codes": {"12": "U_SE25"}}}
    result = flow(twelve, settings=settings, code_rates={"U_SE25": D(25)})
    assert (result.state, result.reason, result.issue) == ("draft", "totals_mismatch", True)
    assert "VAT code U_SE25 books 25%, the shop charged 12% on BAG-01" in result.message
    right = flow(twelve, settings=settings, code_rates={"U_SE25": D(12)})
    assert (right.state, right.reason, right.issue) == ("paid", "book", False)


def test_a_paid_order_by_a_method_without_a_rule_is_an_issue_unless_its_profile_has_a_term() -> (
    None
):
    known = KnownRecords(debtor_numbers={"KASSE": "party-till"})
    till = {"customers": {"shared_b2c_account": "KASSE"}}
    mobile = order(payment_method={"code": "MOBILE_PAY"})
    result = flow(mobile, known, settings=till)
    assert (result.state, result.reason, result.issue) == ("booked", "payment_method_unknown", True)
    assert "'MOBILE_PAY'" in result.message and "shared debtor KASSE" in result.message
    kept = flow(mobile, known, settings=till, prior=Prior("inv-1", "booked", "party-till"))
    assert (kept.outcome, kept.issue) == ("unchanged", True)
    with_term = {"customers": {"profiles": {
        "b2c": {"debtor_group": "PRIV", "payment_term": "Netto 14"},
        "b2b": {"debtor_group": "ERHVERV"}, "ean": {"debtor_group": "EAN"}}}}  # fmt: skip
    assert flow(mobile, settings=with_term).issue is False
    unpaid = order(payment_method={"code": "MOBILE_PAY"}, paid_at=None)
    assert flow(unpaid, known, settings=till).issue is False


def test_a_card_order_without_a_paid_time_says_why_its_invoice_is_open() -> None:
    """A file mapped without order.paid_at brings card orders the shop never reports paid:
    booked open on the card term, the sync log says why and what to map."""
    result = flow(order(paid_at=None))
    invoice = booked(result)
    assert (invoice.status, invoice.payment_term, result.issue) == ("booked", "Kort", False)
    assert result.message.startswith("invoice booked with payment term Kort, not registered")
    assert "'stripe' is registered as paid" in result.message
    assert "map order.paid_at" in result.message
    bank = flow(order(paid_at=None, payment_method={"code": "bacs"}))
    assert "order.paid_at" not in bank.message  # open on its term as the rule says


def test_a_paid_order_refunded_before_booking_says_how_to_book_it() -> None:
    refunded = flow(order(state="refunded"))
    assert (refunded.outcome, refunded.reason, refunded.issue) == (
        "skip", "state_not_triggering", True)  # fmt: skip
    assert "set policy.states.refunded to create_invoice" in refunded.message
    assert "once it reaches one that does" not in refunded.message  # it never will
    waiting = flow(order(state="on-hold"))
    assert "once it reaches one that does" in waiting.message
    booked_so = flow(order(state="refunded"), settings={"states": {"refunded": "create_invoice"}})
    assert booked(booked_so).status == "paid"


# ---------------------------------------------------------------------------- split sales

SPLIT = [{"code": "stripe", "title": "Kort", "amount": "100.00"},
         {"code": "cash", "title": "Kontant", "amount": "25.00"}]  # fmt: skip
ACCOUNTS = {
    "payment_methods": {
        "stripe": {"payment_term": "Kort", "registered_as_paid": True, "account": "5820"},
        "cash": {"payment_term": "Kontant", "registered_as_paid": True, "account": "5800"},
    },
    "payment_journal": "INDBET",
}


def test_a_split_sale_whose_methods_name_accounts_is_booked_open_with_a_payment_per_part() -> None:
    result = flow(order(tenders=SPLIT), settings=ACCOUNTS)
    invoice = booked(result)
    assert (invoice.status, invoice.payment_term) == ("booked", "Netto 8")
    assert (result.reason, result.issue) == ("payment_split_registered", False)
    assert "cash journal INDBET (Kort 100.00 DKK on 5820, Kontant 25.00 DKK on 5800)" in (
        result.message
    )
    assert result.payments is not None
    given = {"invoice_id": "inv-1", "party_id": "party-1", "reference": "PAY 1"}
    posting = validate("journal_posting", {**result.payments, **given})
    assert [(ln["role"], ln.get("account"), ln["amount"], ln["method"])
            for ln in posting["lines"]] == [
        ("customer", None, "-100.00", "stripe"), ("tender", "5820", "100.00", "stripe"),
        ("customer", None, "-25.00", "cash"), ("tender", "5800", "25.00", "cash"),
    ]  # fmt: skip
    assert (posting["journal"], posting["date"], posting["kind"]) == (
        "INDBET",
        "2026-06-01",
        "payment",
    )


def test_a_split_sale_whose_method_names_no_account_stays_the_orders_issue_naming_it() -> None:
    settings = {**ACCOUNTS, "payment_methods": {
        **ACCOUNTS["payment_methods"], "cash": {"payment_term": "Kontant"}}}  # fmt: skip
    result = flow(order(tenders=SPLIT), settings=settings)
    assert (result.reason, result.issue, result.payments) == ("payment_split", True, None)
    assert "give 'cash' an account in policy.payment_methods" in result.message
    without = flow(order(tenders=SPLIT), settings={"payment_methods": {"cash": {}}})
    assert (without.reason, without.payments) == ("payment_split", None)
    assert "give 'stripe', 'cash' an account" in without.message


def test_a_split_sale_booked_as_a_draft_gets_no_payments() -> None:
    result = flow(order(tenders=SPLIT), settings={**ACCOUNTS, "book": False})
    assert result.state == "draft" and result.payments is None


def test_a_booked_split_sale_read_again_keeps_its_issue_unless_its_parts_were_registered() -> None:
    registered = Prior("inv-1", "booked", "party-1", "Netto 8", D("125.00"), payments=True)
    again = flow(order(tenders=SPLIT), settings=ACCOUNTS, prior=registered)
    assert (again.outcome, again.issue) == ("unchanged", False)
    by_hand = Prior("inv-1", "booked", "party-1", "Netto 8", D("125.00"))
    # Booked before the accounts were named: a person registers the parts, as its issue says.
    kept = flow(order(tenders=SPLIT), settings=ACCOUNTS, prior=by_hand)
    assert (kept.outcome, kept.issue, kept.payments) == ("unchanged", True, None)
