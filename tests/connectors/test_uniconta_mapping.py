"""DebtorClient ⇄ party mapping, row by row, both directions."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.uniconta.mapping import AccountMapping
from ledgerbridge.engine.canonical import validate

DEBTOR = AccountMapping("DebtorClient", "debtor_number", "is_customer")

DEBTOR_ROW: dict[str, Any] = {
    "Account": "10042",
    "Name": "Hansen & Søn ApS",
    "Address1": "Vesterbrogade 12, 2. tv",
    "Address2": "Baghuset",
    "ZipCode": "1620",
    "City": "København V",
    "Country": "Denmark",
    "Phone": "+45 33 12 34 56",
    "MobilPhone": "+45 20 12 34 56",
    "ContactEmail": "info@hansen-soen.dk",
    "InvoiceEmail": "faktura@hansen-soen.dk",
    "Www": "www.hansen-soen.dk",
    "CompanyRegNo": "13585628",
    "VatNumber": "DK13585628",
    "EAN": "5790000123452",
    "Currency": "DKK",
    "UserLanguage": "Danish",
    "Blocked": False,
    "DeliveryAddress1": "Lagervej 3",
    "DeliveryZipCode": "2600",
    "DeliveryCity": "Glostrup",
    "DeliveryCountry": "Denmark",
    "Group": "DK",
    "CurBalance": 1250.5,
}

CANONICAL: dict[str, Any] = {
    "debtor_number": "10042",
    "is_customer": True,
    "name": "Hansen & Søn ApS",
    "billing_address": {"line1": "Vesterbrogade 12, 2. tv", "line2": "Baghuset",
                        "postal_code": "1620", "city": "København V", "country": "DK"},
    "phone": "+45 33 12 34 56",
    "mobile_phone": "+45 20 12 34 56",
    "email": "info@hansen-soen.dk",
    "invoice_email": "faktura@hansen-soen.dk",
    "website": "www.hansen-soen.dk",
    "organisation_number": "13585628",
    "vat_number": "DK13585628",
    "gln": "5790000123452",
    "currency": "DKK",
    "locale": "da",
    "active": True,
    "delivery_address": {"line1": "Lagervej 3", "postal_code": "2600", "city": "Glostrup",
                         "country": "DK"},
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(CANONICAL))
def test_each_field_maps_inbound(field: str) -> None:
    assert DEBTOR.to_canonical(DEBTOR_ROW, {})[field] == CANONICAL[field]


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("Account", "10042"), ("Name", "Hansen & Søn ApS"), ("Address1", "Vesterbrogade 12, 2. tv"),
        ("ZipCode", "1620"), ("City", "København V"), ("Country", "Denmark"),
        ("Phone", "+45 33 12 34 56"), ("MobilPhone", "+45 20 12 34 56"),
        ("ContactEmail", "info@hansen-soen.dk"), ("InvoiceEmail", "faktura@hansen-soen.dk"),
        ("Www", "www.hansen-soen.dk"), ("CompanyRegNo", "13585628"), ("VatNumber", "DK13585628"),
        ("EAN", "5790000123452"), ("Currency", "DKK"), ("UserLanguage", "Danish"),
        ("Blocked", False), ("DeliveryAddress1", "Lagervej 3"), ("DeliveryCity", "Glostrup"),
        ("DeliveryCountry", "Denmark"),
    ],
)  # fmt: skip
def test_each_field_maps_outbound(wire: str, value: Any) -> None:
    assert DEBTOR.from_canonical(CANONICAL, None, {})[wire] == value


def test_outbound_keeps_fields_the_hub_does_not_carry() -> None:
    payload = DEBTOR.from_canonical({**CANONICAL, "phone": "+45 70 00 00 00"}, DEBTOR_ROW, {})
    assert payload["Group"] == "DK"
    assert payload["Phone"] == "+45 70 00 00 00"


def test_round_trip_is_stable_and_valid() -> None:
    canonical = DEBTOR.to_canonical(DEBTOR_ROW, {})
    assert DEBTOR.to_canonical(DEBTOR.from_canonical(canonical, None, {}), {}) == canonical
    validate("party", canonical)


def test_blocked_debtor_is_an_inactive_party_and_back() -> None:
    assert DEBTOR.to_canonical({**DEBTOR_ROW, "Blocked": True}, {})["active"] is False
    assert DEBTOR.from_canonical({**CANONICAL, "active": False}, None, {})["Blocked"] is True


def test_missing_name_and_unknown_country_are_skips_with_reasons() -> None:
    with pytest.raises(SkipRecord) as missing:
        DEBTOR.to_canonical({"Account": "1"}, {})
    assert missing.value.reason == "name_missing"
    with pytest.raises(SkipRecord) as country:
        DEBTOR.to_canonical({**DEBTOR_ROW, "Country": "Atlantis"}, {})
    assert country.value.reason == "country_unmapped"
    assert "Atlantis" in country.value.message


def test_party_without_debtor_number_cannot_become_a_debtor() -> None:
    with pytest.raises(SkipRecord) as skip:
        DEBTOR.from_canonical({"name": "X", "is_customer": True}, None, {})
    assert skip.value.reason == "debtor_number_missing"


def test_only_customers_are_in_scope() -> None:
    assert DEBTOR.in_scope({"is_customer": True})
    assert not DEBTOR.in_scope({"is_supplier": True})
