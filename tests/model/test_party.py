"""Party and ContactPerson: normalisation, country inference, error locations, JSON round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledgerbridge.model import Address, ContactPerson, Party


def _errors(**fields: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        Party.model_validate({"name": "Acme", **fields})
    return [dict(error) for error in info.value.errors()]


def _full_party() -> Party:
    return Party(
        id="p-1",
        kind="organisation",
        name="Nordisk Tømmer ApS",
        is_customer=True,
        is_supplier=True,
        debtor_number="10042",
        creditor_number="20042",
        email="info@tommer.dk",
        invoice_email="faktura@tommer.dk",
        phone="+45 70 12 34 56",
        mobile_phone="+45 20 12 34 56",
        website="https://tommer.dk",
        postal_address=Address(
            line1="Postboks 12", postal_code="8000", city="Aarhus C", country="dk"
        ),
        billing_address=Address(
            line1="Havnegade 1", postal_code="8000", city="Aarhus C", country="DK"
        ),
        visiting_address=Address(line1="Havnegade 1", city="Aarhus C", country="DK"),
        delivery_address=Address(line1="Lager 3", line2="Port 2", city="Horsens", country="DK"),
        vat_number="DK 13 58 56 28",
        organisation_number="13585628",
        gln="5790000000005",
        iban="DK50 0040 0440 1162 43",
        locale="da_DK",
        currency="dkk",
        payment_term_days=30,
    )


def test_party_normalises_identifiers_and_codes() -> None:
    party = _full_party()
    assert party.vat_number == "DK13585628"
    assert party.organisation_number == "13585628"
    assert party.iban == "DK5000400440116243"
    assert party.locale == "da-DK"
    assert party.currency == "DKK"
    assert party.postal_address is not None
    assert party.postal_address.country == "DK"


def test_party_json_round_trip() -> None:
    party = _full_party()
    assert Party.model_validate(party.model_dump(mode="json")) == party
    assert Party.model_validate_json(party.model_dump_json()) == party


def test_person_party() -> None:
    person = Party(
        kind="person", name="Jan de Vries", first_name="Jan", middle_name="de", last_name="Vries"
    )
    assert person.kind == "person"
    assert Party.model_validate(person.model_dump(mode="json")) == person


def test_party_defaults() -> None:
    party = Party(name="Acme")
    assert (party.id, party.kind, party.is_customer, party.is_supplier, party.active) == (
        None,
        "organisation",
        False,
        False,
        True,
    )


def test_content_leaves_out_the_hub_id() -> None:
    party = _full_party()
    content = party.content()
    assert "id" not in content
    assert content == party.model_copy(update={"id": "other"}).content()


def test_bare_vat_number_takes_billing_address_country_before_postal() -> None:
    party = Party(
        name="Acme",
        postal_address=Address(country="DK"),
        billing_address=Address(country="NL"),
        vat_number="004495445B01",
    )
    assert party.vat_number == "NL004495445B01"


def test_bare_vat_number_falls_back_to_postal_then_visiting_address() -> None:
    assert (
        Party(name="A", postal_address=Address(country="BE"), vat_number="0403019261").vat_number
        == "BE0403019261"
    )
    assert (
        Party(name="A", visiting_address=Address(country="NO"), vat_number="995525828").vat_number
        == "NO995525828MVA"
    )


def test_delivery_address_does_not_decide_the_country() -> None:
    party = Party(name="A", delivery_address=Address(country="DK"), vat_number="13585627")
    assert party.vat_number == "13585627"


def test_vat_prefix_wins_over_address_country() -> None:
    party = Party(name="A", billing_address=Address(country="DK"), vat_number="SE123456789701")
    assert party.vat_number == "SE123456789701"


def test_organisation_number_uses_address_country_before_vat_prefix() -> None:
    party = Party(
        name="A",
        billing_address=Address(country="DK"),
        vat_number="SE123456789701",
        organisation_number="13 58 56 28",
    )
    assert party.organisation_number == "13585628"


def test_organisation_number_falls_back_to_vat_prefix() -> None:
    party = Party(name="A", vat_number="FR40303265045", organisation_number="732 829 320")
    assert party.organisation_number == "732829320"
    errors = _errors(vat_number="NO995525828MVA", organisation_number="988077918")
    assert errors[0]["loc"] == ("organisation_number",)
    assert "for NO" in errors[0]["msg"]


def test_organisation_number_without_any_country_is_kept_compact() -> None:
    assert Party(name="A", organisation_number="abc 123").organisation_number == "ABC123"


@pytest.mark.parametrize(
    ("fields", "loc", "error_type", "bad_value"),
    [
        ({"vat_number": "DK13585627"}, ("vat_number",), "vat_number", "DK13585627"),
        (
            {"billing_address": {"country": "NL"}, "vat_number": "123456789B90"},
            ("vat_number",),
            "vat_number",
            "123456789B90",
        ),
        (
            {"postal_address": {"country": "DK"}, "organisation_number": "13585627"},
            ("organisation_number",),
            "organisation_number",
            "13585627",
        ),
        ({"gln": "5790000000006"}, ("gln",), "gln", "5790000000006"),
        ({"iban": "NL91ABNA0417164301"}, ("iban",), "iban", "NL91ABNA0417164301"),
        ({"locale": "xx-DK"}, ("locale",), "locale", "xx-DK"),
        ({"currency": "EURO"}, ("currency",), "currency_code", "EURO"),
        ({"email": "ole@firma"}, ("email",), "email", "ole@firma"),
        ({"invoice_email": "faktura"}, ("invoice_email",), "email", "faktura"),
        (
            {"billing_address": {"country": "XX"}},
            ("billing_address", "country"),
            "country_code",
            "XX",
        ),
    ],
)
def test_error_names_field_and_value(
    fields: dict[str, Any], loc: tuple[str, ...], error_type: str, bad_value: str
) -> None:
    errors = _errors(**fields)
    assert len(errors) == 1
    assert errors[0]["loc"] == loc
    assert errors[0]["type"] == error_type
    assert f"'{bad_value}'" in errors[0]["msg"]


def test_vat_error_message_names_country() -> None:
    errors = _errors(vat_number="13585627", billing_address={"country": "DK"})
    assert errors[0]["msg"].startswith("invalid VAT number '13585627' for DK: ")


def test_unknown_country_message() -> None:
    with pytest.raises(ValidationError) as info:
        Address(country="xx")
    assert info.value.errors()[0]["msg"] == "unknown country code 'xx'"


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"name": ""}, ("name",)),
        ({"name": "   "}, ("name",)),
        ({"name": "x" * 256}, ("name",)),
        ({"payment_term_days": -1}, ("payment_term_days",)),
        ({"payment_term_days": 366}, ("payment_term_days",)),
        ({"kind": "company"}, ("kind",)),
    ],
)
def test_constraints(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert _errors(**fields)[0]["loc"] == loc


def test_name_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        Party.model_validate({})
    assert info.value.errors()[0]["loc"] == ("name",)


def test_whitespace_is_stripped() -> None:
    party = Party(name="  Acme  ", debtor_number=" 10042 ")
    assert (party.name, party.debtor_number) == ("Acme", "10042")


@pytest.mark.parametrize(
    ("model", "data", "loc"),
    [
        (Party, {"name": "Acme", "isCustomer": True}, ("isCustomer",)),
        (
            Party,
            {"name": "Acme", "billing_address": {"street_name": "x"}},
            ("billing_address", "street_name"),
        ),
        (Address, {"zip": "8000"}, ("zip",)),
        (ContactPerson, {"party_id": "p", "name": "Ole", "title": "CFO"}, ("title",)),
    ],
)
def test_extra_fields_are_rejected_by_name(
    model: type[Party] | type[Address] | type[ContactPerson],
    data: dict[str, Any],
    loc: tuple[str, ...],
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    error = info.value.errors()[0]
    assert (error["loc"], error["type"]) == (loc, "extra_forbidden")


def test_contact_person() -> None:
    contact = ContactPerson(
        party_id="p-1",
        name="Ole Hansen",
        first_name="Ole",
        last_name="Hansen",
        email="Ole@Firma.DK",
        job_title="CFO",
    )
    assert contact.email == "Ole@firma.dk"
    assert contact.active is True
    assert ContactPerson.model_validate(contact.model_dump(mode="json")) == contact


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"name": "Ole"}, ("party_id",)),
        ({"party_id": "p-1"}, ("name",)),
        ({"party_id": "p-1", "name": "Ole", "email": "ole"}, ("email",)),
    ],
)
def test_contact_person_errors(data: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        ContactPerson.model_validate(data)
    assert info.value.errors()[0]["loc"] == loc


# Any text but NUL, which no canonical text may hold (see tests/model/test_numbers.py), and
# lone surrogates, which are no Unicode text at all.
_text = (
    st.text(
        st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@given(
    name=_text,
    debtor_number=st.none() | _text,
    phone=st.none() | _text,
    city=st.none() | _text,
    payment_term_days=st.none() | st.integers(min_value=0, max_value=365),
)
def test_party_round_trip_property(
    name: str,
    debtor_number: str | None,
    phone: str | None,
    city: str | None,
    payment_term_days: int | None,
) -> None:
    party = Party(
        name=name,
        debtor_number=debtor_number,
        phone=phone,
        billing_address=Address(city=city, country="NL"),
        vat_number="NL004495445B01",
        payment_term_days=payment_term_days,
    )
    assert Party.model_validate(party.model_dump(mode="json")) == party
    assert Party.model_validate_json(party.model_dump_json()) == party
