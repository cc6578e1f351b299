"""Tripletex wire → canonical records, and the set-up checks on settings alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.base import SetupRefused, SkipRecord
from ledgerbridge.connectors.tripletex.mapping import (
    CustomerMapping,
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
