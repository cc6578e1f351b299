"""Tripletex wire → canonical records, and the set-up checks on settings alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.base import SetupRefused, SkipRecord
from ledgerbridge.connectors.kit.codes import unmapped_code
from ledgerbridge.connectors.tripletex.mapping import (
    CustomerMapping,
    InvoiceMapping,
    PaymentStatusMapping,
    ProductMapping,
    VatTypeMapping,
)
from ledgerbridge.connectors.tripletex.setup import check_settings, token_warnings
from ledgerbridge.model import Party, Product, VatCode

CUSTOMER: dict[str, Any] = {
    "id": 51, "version": 2, "name": "Fjord Frisør AS", "organizationNumber": "865823479",
    "customerNumber": 10000, "isCustomer": True, "isInactive": False,
    "email": "post@fjord.no", "invoiceEmail": "faktura@fjord.no", "phoneNumber": "61 42 79 39",
    "language": "NO", "isPrivateIndividual": False, "invoicesDueIn": 14,
    "invoicesDueInType": "DAYS",
    "postalAddress": {"id": 9, "addressLine1": "Storgata 1", "postalCode": "2609",
                      "city": "Lillehammer", "country": {"id": 161}},
    "physicalAddress": {"id": 10, "url": "https://tripletex.no/v2/address/10"},
}  # fmt: skip


def test_customer_becomes_a_customer_party() -> None:
    data = CustomerMapping().to_canonical(CUSTOMER, {})
    party = Party.model_validate(data)
    assert party.debtor_number == "10000" and party.is_customer and party.active
    assert party.postal_address is not None and party.postal_address.city == "Lillehammer"
    assert data["visiting_address"] is None  # not expanded: only {id, url}
    assert party.payment_term_days == 14 and party.locale == "nb"
    assert party.kind == "organisation"


def test_an_address_carries_its_countrys_code_and_one_with_only_a_country_is_none() -> None:
    sweden = {"id": 206, "isoAlpha2Code": "se"}
    data = CustomerMapping().to_canonical({
        **CUSTOMER,
        "postalAddress": {**CUSTOMER["postalAddress"], "country": sweden},
        "physicalAddress": {"id": 10, "addressLine1": "", "country": {"id": 161}},
    }, {})  # fmt: skip
    assert data["postal_address"]["country"] == "SE"
    assert data["visiting_address"] is None  # Tripletex gives an empty address Norway
    assert CustomerMapping().to_canonical(CUSTOMER, {})["postal_address"]["country"] is None


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"isPrivateIndividual": True}, "kind", "person"),
        ({"isInactive": True}, "active", False),
        ({"invoicesDueInType": "MONTHS"}, "payment_term_days", None),
        ({"language": "EN"}, "locale", "en"),
        ({"email": "  "}, "email", None),
    ],
)
def test_customer_fields(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert CustomerMapping().to_canonical({**CUSTOMER, **changes}, {})[field] == expected


def test_customer_without_name_is_skipped() -> None:
    with pytest.raises(SkipRecord) as caught:
        CustomerMapping().to_canonical({**CUSTOMER, "name": " "}, {})
    assert caught.value.reason == "name_missing"


def test_product_takes_the_vat_number_not_the_vat_type_id() -> None:
    remote = {"id": 37, "name": "Regnskapsføring", "number": "100",
              "priceExcludingVatCurrency": "4500", "costExcludingVatCurrency": "0",
              "vatType": {"id": 5}, "isInactive": False}  # fmt: skip
    product = Product.model_validate(ProductMapping({"5": "3"}).to_canonical(remote, {}))
    assert product.sku == "100" and product.vat_code == "3"
    assert product.sales_price == Decimal(4500)
    unnumbered = ProductMapping({}).to_canonical({"id": 38, "name": "X"}, {})
    assert unnumbered["sku"] == "38" and unnumbered["vat_code"] is None


def test_vat_type_becomes_a_norwegian_vat_code() -> None:
    remote = {"id": 5, "number": "3", "name": "Utgående avgift, høy sats",
              "percentage": "25", "_direction": "sales"}  # fmt: skip
    code = VatCode.model_validate(VatTypeMapping().to_canonical(remote, {}))
    assert (code.code, code.rate, code.country, code.direction) == ("3", 25, "NO", "sales")
    unknown = VatTypeMapping().to_canonical({**remote, "_direction": None}, {})
    assert unknown["direction"] == "both"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"environment": "staging"}, "settings.environment"),
        ({"employee_token_expires_on": "31.12.2026"}, "settings.employee_token_expires_on"),
        ({"token_warning_days": -1}, "settings.token_warning_days"),
        ({"token_warning_days": "7"}, "settings.token_warning_days"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SetupRefused) as caught:
        check_settings(settings)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 1), None),
        (date(2026, 12, 17), "in 14 days"),
        (date(2026, 12, 30), "in 1 day)"),
        (date(2026, 12, 31), "expired on 2026-12-31"),
    ],
)
def test_token_warnings_start_the_configured_days_before_expiry(
    today: date, expected: str | None
) -> None:
    settings = {"employee_token_expires_on": "2026-12-31"}
    warnings = token_warnings(settings, today)
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expected in warnings[0]
    assert token_warnings({}, today) == []
    assert token_warnings({**settings, "token_warning_days": 0}, date(2026, 12, 30)) == []


INVOICE: dict[str, Any] = {
    "id": "hub-1", "kind": "invoice", "date": "2026-11-20", "due_date": "2026-12-04",
    "currency": "NOK", "status": "sent",
    "lines": [{"description": "Rådgivning", "quantity": "1.5", "unit_price": "1200",
               "discount_percent": "0", "vat_code": "3"}],
}  # fmt: skip
PARTY_REF: dict[str, Any] = {"party_id": ("customers", "51"), "credits_invoice_id": None}


def test_issued_invoice_becomes_an_order_with_numeric_amounts() -> None:
    mapping = InvoiceMapping({"3": "5"})
    payload = mapping.from_canonical(INVOICE, None, PARTY_REF)
    order = payload["order"]
    assert order["customer"] == {"id": 51} and order["invoicesDueIn"] == 14
    assert order["orderLines"] == [
        {"description": "Rådgivning", "count": 1.5, "unitPriceExcludingVatCurrency": 1200,
         "vatType": {"id": 5}}
    ]  # fmt: skip
    assert payload["invoiceDate"] == "2026-11-20"
    assert mapping.in_scope(INVOICE) and not mapping.in_scope({**INVOICE, "status": "draft"})


@pytest.mark.parametrize(
    ("record", "refs", "current", "reason"),
    [
        (INVOICE, PARTY_REF, {"id": 7}, "invoice_lines_readonly_after_posting"),
        ({**INVOICE, "currency": "EUR"}, PARTY_REF, None, "currency_unsupported"),
        ({**INVOICE, "kind": "credit_note"}, PARTY_REF, None, "credited_invoice_missing"),
        ({**INVOICE, "lines": [{"quantity": "1", "unit_price": "1", "vat_code": "99"}]},
         PARTY_REF, None, "vat_code_unmapped"),
    ],
)  # fmt: skip
def test_invoices_tripletex_cannot_take_are_skipped_with_a_reason(
    record: dict[str, Any], refs: dict[str, Any], current: Any, reason: str
) -> None:
    with pytest.raises(SkipRecord) as caught:
        InvoiceMapping({"3": "5"}).from_canonical(record, current, refs)
    assert caught.value.reason == reason


def test_a_skipped_invoice_says_what_to_do_and_names_its_code() -> None:
    """The issue names the code as the Mappings page counts waiting records by it, and says
    what to change; a foreign currency says which one and where such an invoice is made."""
    line = {"quantity": "1", "unit_price": "1", "vat_code": "99"}
    with pytest.raises(SkipRecord) as caught:
        InvoiceMapping({"3": "5"}).from_canonical({**INVOICE, "lines": [line]}, None, PARTY_REF)
    assert unmapped_code(caught.value.reason, caught.value.message) == "99"
    assert "lists/vat" in caught.value.message
    with pytest.raises(SkipRecord) as caught:
        InvoiceMapping({"3": "5"}).from_canonical({**INVOICE, "currency": "EUR"}, None, PARTY_REF)
    assert "EUR" in caught.value.message and "change its currency to NOK" in caught.value.message


def test_credit_note_credits_the_whole_invoice_and_adopts_tripletex_numbers() -> None:
    mapping = InvoiceMapping({})
    refs = {**PARTY_REF, "credits_invoice_id": ("invoices", "901")}
    payload = mapping.from_canonical({**INVOICE, "kind": "credit_note"}, None, refs)
    assert payload["credit"] == "901" and payload["date"] == "2026-11-20"
    stored = {"id": 902, "invoiceNumber": 12, "invoiceDate": "2026-11-20",
              "invoiceDueDate": "2026-11-20", "isCreditNote": True,
              "customer": {"id": 51}, "creditedInvoice": 901}  # fmt: skip
    assert mapping.remote_refs(stored) == {
        "party_id": ("customers", "51"), "credits_invoice_id": ("invoices", "901"),
    }  # fmt: skip
    canonical = mapping.to_canonical(stored, {"party_id": "p", "credits_invoice_id": "i"})
    assert canonical["number"] == "12" and canonical["kind"] == "credit_note"
    adopted = mapping.adopt_assigned({**INVOICE, "number": None}, canonical)
    assert adopted["number"] == "12" and adopted["due_date"] == "2026-11-20"


@pytest.mark.parametrize(
    ("outstanding", "amount_open"),
    [
        (5625.0, "5625"),  # unpaid: the whole gross amount
        (4625.5, "4625.5"),  # partly paid
        (0, "0"),  # paid, or credited
        (-1000.0, "-1000"),  # a credit note of an invoice paid in part
    ],
)
def test_payment_status_is_what_is_still_owed_on_the_invoice(
    outstanding: float, amount_open: str
) -> None:
    mapping = PaymentStatusMapping()
    row = {"id": 7, "amountOutstanding": outstanding}
    assert mapping.remote_id(row) == "7"
    assert mapping.to_canonical(row, {}) == {"amount_open": amount_open}
    assert mapping.attach_to == "invoices" and mapping.read_by_link and not mapping.outbound


def test_an_invoice_read_without_its_outstanding_amount_is_skipped_with_the_reason() -> None:
    with pytest.raises(SkipRecord) as refused:
        PaymentStatusMapping().to_canonical({"id": 7}, {})
    assert refused.value.reason == "invalid_remote_data"
    assert "Tripletex invoice 7" in str(refused.value)
