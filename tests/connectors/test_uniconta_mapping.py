"""DebtorClient ⇄ party mapping, row by row, both directions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.uniconta.mapping import COUNTRY_BY_ISO, AccountMapping, Codes
from ledgerbridge.connectors.uniconta.settings import UnicontaSettings
from ledgerbridge.engine.canonical import validate
from ledgerbridge.model import normalize_country
from ledgerbridge.sandbox.uniconta import UnicontaSandbox
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from ledgerbridge.sandbox.uniconta.enums import COUNTRY_CODE

DEBTOR = AccountMapping("debtor", "debtor_number", "is_customer")

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


def test_a_persons_one_address_is_sent_even_when_given_as_postal() -> None:
    """A person's one address is its billing address, or the postal one an app gave instead
    (as Yuki and Qonto send it); an organisation's postal address has no place on a debtor."""
    postal = {"line1": "Vestergade 12", "postal_code": "8000", "city": "Aarhus", "country": "DK"}
    person = {"kind": "person", "name": "Jens Hansen", "debtor_number": "71001",
              "postal_address": postal}  # fmt: skip
    payload = DEBTOR.from_canonical(person, None, {})
    assert (payload["Address1"], payload["ZipCode"], payload["City"], payload["Country"]) == (
        "Vestergade 12", "8000", "Aarhus", "Denmark",
    )  # fmt: skip
    assert DEBTOR.to_canonical(payload, {})["billing_address"] == postal
    billed = DEBTOR.from_canonical({**person, "billing_address": CANONICAL["billing_address"]},
                                   None, {})  # fmt: skip
    assert billed["City"] == "København V", "the billing address wins over the postal one"
    organisation = DEBTOR.from_canonical({**person, "kind": "organisation"}, None, {})
    assert organisation["Address1"] is None and organisation["City"] is None


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


def test_an_unmapped_country_says_what_to_do_both_ways() -> None:
    with pytest.raises(SkipRecord) as inbound:
        DEBTOR.to_canonical({**DEBTOR_ROW, "Country": "Atlantis"}, {})
    assert "country 'Atlantis'" in inbound.value.message
    assert "add it to settings.country_mapping" in inbound.value.message
    assert "correct the account's country in Uniconta" in inbound.value.message
    party = {**CANONICAL, "billing_address": {"city": "Pristina", "country": "XK"}}
    with pytest.raises(SkipRecord) as outbound:
        DEBTOR.from_canonical(party, None, {})
    assert outbound.value.reason == "country_unmapped"
    assert "country 'XK'" in outbound.value.message
    assert 'add it to settings.country_mapping with the name Uniconta gives it ({"XK": ' in (
        outbound.value.message
    )
    assert "correct the party's country in the hub" in outbound.value.message


def test_country_mapping_adds_countries_and_renames_known_ones_both_ways() -> None:
    mapped = AccountMapping(
        "debtor", "debtor_number", "is_customer",
        Codes(country_mapping={"BR": "Brazil", "TR": "Turkey"}),
    )  # fmt: skip
    row = {**DEBTOR_ROW, "Country": "Brazil", "DeliveryCountry": "Turkey"}
    party = mapped.to_canonical(row, {})
    assert (party["billing_address"]["country"], party["delivery_address"]["country"]) == (
        "BR", "TR"
    )  # fmt: skip
    payload = mapped.from_canonical(party, None, {})
    assert (payload["Country"], payload["DeliveryCountry"]) == ("Brazil", "Turkey")
    assert mapped.to_canonical(DEBTOR_ROW, {})["billing_address"]["country"] == "DK"
    with pytest.raises(SkipRecord):
        mapped.to_canonical({**DEBTOR_ROW, "Country": "Türkiye"}, {})


@pytest.mark.parametrize(
    ("mapping", "where", "reason"),
    [
        ({"XX": "Atlantis"}, ("country_mapping", "XX", "[key]"), "unknown country code 'XX'"),
        ({"BR": ""}, ("country_mapping", "BR"), "at least 1 character"),
        ({"BR": "Brazil do Sul"}, ("country_mapping", "BR"), "one word"),
        ({"BR": "Unknown"}, ("country_mapping", "BR"), "no country"),
        ({"AX": "Finland"}, ("country_mapping",), "AX: 'Finland' is already the Uniconta "
         "country of FI"),
    ],
)  # fmt: skip
def test_a_country_mapping_is_checked_entry_by_entry(
    mapping: dict[str, str], where: tuple[str, ...], reason: str
) -> None:
    base = {"company_id": 12345, "username": "apiuser"}
    with pytest.raises(ValidationError) as refused:
        UnicontaSettings.model_validate({**base, "country_mapping": mapping})
    [error] = refused.value.errors()
    assert (error["loc"], reason in error["msg"]) == (where, True)
    kept = UnicontaSettings.model_validate({**base, "country_mapping": {"br": "Brazil"}})
    assert kept.country_mapping == {"BR": "Brazil"}


def test_a_debtor_without_a_country_in_uniconta_has_none_in_the_hub() -> None:
    address = DEBTOR.to_canonical({**DEBTOR_ROW, "Country": "Unknown"}, {})["billing_address"]
    assert "country" not in address


def test_every_uniconta_country_maps_to_an_iso_code_and_back() -> None:
    """Each name of the connector's table is a member of the sandbox's CountryCode, which
    also has members the connector leaves to country_mapping."""
    assert set(COUNTRY_BY_ISO.values()) < set(COUNTRY_CODE.members) - {"Unknown"}
    assert len(set(COUNTRY_BY_ISO.values())) == len(COUNTRY_BY_ISO)
    assert all(normalize_country(iso) == iso for iso in COUNTRY_BY_ISO)


@pytest.fixture(scope="module")
def uniconta() -> Iterator[httpx.Client]:
    """A REST client of a running sandbox, logged in to company 12345."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=12345, name="Nordlys Handel ApS")
    sandbox.add_user(12345, "apiuser", "secret", user_type="Server")
    served = SandboxServer(sandbox)
    served.start()
    with httpx.Client(base_url=served.base_url, auth=("0012345/apiuser", "secret")) as http:
        yield http
    served.stop()
    sandbox.close()


def _read_back(uniconta: httpx.Client, account: str) -> dict[str, Any]:
    rows = uniconta.get("/odata/12345/DebtorClient", params={"$filter": f"Account eq '{account}'"})
    assert rows.status_code == 200, rows.text
    [row] = rows.json()["value"]
    return dict(row)


@pytest.mark.parametrize("iso", sorted(COUNTRY_BY_ISO))
def test_a_party_of_each_country_round_trips_through_the_sandbox(
    uniconta: httpx.Client, iso: str
) -> None:
    account = f"C-{iso}"
    party = {**CANONICAL, "debtor_number": account,
             "billing_address": {**CANONICAL["billing_address"], "country": iso},
             "delivery_address": {**CANONICAL["delivery_address"], "country": iso}}  # fmt: skip
    inserted = uniconta.post(
        "/api/Entities/Insert/DebtorClient", json=DEBTOR.from_canonical(party, None, {})
    )
    assert inserted.status_code == 200, inserted.text
    back = DEBTOR.to_canonical(_read_back(uniconta, account), {})
    assert {field: value for field, value in back.items() if value is not None} == party


def test_a_party_of_a_country_mapped_by_the_connection_round_trips_through_the_sandbox(
    uniconta: httpx.Client,
) -> None:
    mapped = AccountMapping(
        "debtor", "debtor_number", "is_customer", Codes(country_mapping={"MX": "Mexico"})
    )
    party = {**CANONICAL, "debtor_number": "C-MX-1",
             "billing_address": {**CANONICAL["billing_address"], "country": "MX"}}  # fmt: skip
    inserted = uniconta.post(
        "/api/Entities/Insert/DebtorClient", json=mapped.from_canonical(party, None, {})
    )
    assert inserted.status_code == 200, inserted.text
    row = _read_back(uniconta, "C-MX-1")
    assert row["Country"] == "Mexico"
    assert mapped.to_canonical(row, {})["billing_address"]["country"] == "MX"


def test_an_australian_debtor_imports(uniconta: httpx.Client) -> None:
    inserted = uniconta.post(
        "/api/Entities/Insert/DebtorClient",
        json={**DEBTOR_ROW, "Account": "AU-1", "Country": "Australia"},
    )
    assert inserted.status_code == 200, inserted.text
    party = DEBTOR.to_canonical(_read_back(uniconta, "AU-1"), {})
    assert party["billing_address"]["country"] == "AU"
    validate("party", party)


def test_party_without_debtor_number_cannot_become_a_debtor() -> None:
    with pytest.raises(SkipRecord) as skip:
        DEBTOR.from_canonical({"name": "X", "is_customer": True}, None, {})
    assert skip.value.reason == "debtor_number_missing"


def test_only_customers_are_in_scope() -> None:
    assert DEBTOR.in_scope({"is_customer": True})
    assert not DEBTOR.in_scope({"is_supplier": True})
