"""Qonto ⇄ canonical client mapping: one table row per field of the seed, both directions."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ledgerbridge.connectors.base import CallbackRefused, SkipRecord
from ledgerbridge.connectors.qonto.client import _error_message, idempotency_key
from ledgerbridge.connectors.qonto.connector import check_webhook, parse_cursor, record_url
from ledgerbridge.connectors.qonto.mapping import (
    HUB_ID,
    ClientMapping,
    Codes,
    CreditNoteMapping,
    InvoiceMapping,
    address_in,
    address_out,
    identity_key,
    missing_vat_group,
    percentage_of,
    phone_out,
)
from ledgerbridge.connectors.yuki.mapping import ContactMapping
from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.lookups import ProductIndex, with_products

MAPPING = ClientMapping()

COMPANY: dict[str, Any] = {
    "id": "c-1",
    "kind": "company",
    "name": "Atlas Rénovation SAS",
    "email": "contact@atlas.example",
    "phone": {"country_code": "+33", "number": "142685300"},
    "phone_number": "+33142685300",
    "locale": "fr",
    "currency": "EUR",
    "tax_identification_number": "732829320",
    "vat_number": "FR44732829320",
    "billing_address": {
        "street_address": "12 bis rue de la République",
        "zip_code": "69002",
        "city": "Lyon",
        "province_code": None,
        "country_code": "FR",
    },
    "delivery_address": {
        "street_address": "3 quai Perrache",
        "zip_code": "69002",
        "city": "Lyon",
        "province_code": None,
        "country_code": "FR",
    },
}

PERSON: dict[str, Any] = {
    "id": "c-2",
    "kind": "individual",
    "name": "Jan Peter van der Berg",
    "first_name": "Jan Peter",
    "last_name": "van der Berg",
    "email": "jan@mail.example",
    "phone": {"country_code": "+31", "number": "612345678"},
    "locale": "nl",
    "currency": "EUR",
    "billing_address": {
        "street_address": "Keizersgracht 123-2",
        "zip_code": "1015 CJ",
        "city": "Amsterdam",
        "province_code": None,
        "country_code": "NL",
    },
}

# (canonical field, Qonto client, expected canonical value)
ORGANISATION_ROWS: list[tuple[str, dict[str, Any], Any]] = [
    ("kind", COMPANY, "organisation"),
    ("name", COMPANY, "Atlas Rénovation SAS"),
    ("email", COMPANY, "contact@atlas.example"),
    ("phone", COMPANY, "+33142685300"),
    ("locale", COMPANY, "fr"),
    ("organisation_number", COMPANY, "732829320"),
    ("vat_number", COMPANY, "FR44732829320"),
    ("is_customer", COMPANY, True),
    (
        "billing_address",
        COMPANY,
        {"line1": "12 bis rue de la République", "street": "rue de la République",
         "house_number": "12", "house_number_suffix": "bis", "postal_code": "69002",
         "city": "Lyon", "country": "FR"},
    ),
    (
        "postal_address",
        COMPANY,
        {"line1": "3 quai Perrache", "street": "quai Perrache", "house_number": "3",
         "postal_code": "69002", "city": "Lyon", "country": "FR"},
    ),
]  # fmt: skip

PERSON_ROWS: list[tuple[str, dict[str, Any], Any]] = [
    ("kind", PERSON, "person"),
    ("first_name", PERSON, "Jan Peter"),
    ("middle_name", PERSON, "van der"),
    ("last_name", PERSON, "Berg"),
    ("name", PERSON, "Jan Peter van der Berg"),
    ("email", PERSON, "jan@mail.example"),
    ("phone", PERSON, "+31612345678"),
    ("locale", PERSON, "nl"),
    (
        "billing_address",
        PERSON,
        {"line1": "Keizersgracht 123-2", "street": "Keizersgracht", "house_number": "123",
         "house_number_suffix": "2", "postal_code": "1015 CJ", "city": "Amsterdam",
         "country": "NL"},
    ),
    ("postal_address", PERSON, None),
]  # fmt: skip


@pytest.mark.parametrize(("field", "remote", "expected"), ORGANISATION_ROWS + PERSON_ROWS)
def test_inbound_field(field: str, remote: dict[str, Any], expected: Any) -> None:
    assert MAPPING.to_canonical(remote, {})[field] == expected


HUB_ORGANISATION: dict[str, Any] = {
    "id": "hub-1",
    "kind": "organisation",
    "name": "Atlas Rénovation SAS",
    "is_customer": True,
    "debtor_number": "10001",
    "email": "contact@atlas.example",
    "phone": "+33 1 42 68 53 00",
    "locale": "fr-FR",
    "currency": "EUR",
    "organisation_number": "732829320",
    "vat_number": "FR44732829320",
    "billing_address": {"line1": "12 bis rue de la République",
                        "street": "rue de la République", "house_number": "12",
                        "house_number_suffix": "bis", "postal_code": "69002", "city": "Lyon",
                        "country": "FR"},
    "postal_address": {"line1": "3 quai Perrache", "street": "quai Perrache",
                       "house_number": "3", "postal_code": "69002", "city": "Lyon",
                       "country": "FR"},
}  # fmt: skip

HUB_PERSON: dict[str, Any] = {
    "id": "hub-2",
    "kind": "person",
    "name": "Jan Peter van der Berg",
    "first_name": "Jan Peter",
    "middle_name": "van der",
    "last_name": "Berg",
    "is_customer": True,
    "debtor_number": "10002",
    "email": "jan@mail.example",
    "phone": "+31 6 12345678",
    "locale": "nl-NL",
    "billing_address": {"line1": "Keizersgracht 123-2", "street": "Keizersgracht",
                       "house_number": "123", "house_number_suffix": "2",
                       "postal_code": "1015 CJ", "city": "Amsterdam", "country": "NL"},
}  # fmt: skip

# (Qonto field, hub record, expected wire value)
OUTBOUND_ROWS: list[tuple[str, dict[str, Any], Any]] = [
    ("kind", HUB_ORGANISATION, "company"),
    ("name", HUB_ORGANISATION, "Atlas Rénovation SAS"),
    ("email", HUB_ORGANISATION, "contact@atlas.example"),
    ("phone", HUB_ORGANISATION, {"country_code": "+33", "number": "142685300"}),
    ("locale", HUB_ORGANISATION, "fr"),
    ("currency", HUB_ORGANISATION, "EUR"),
    ("tax_identification_number", HUB_ORGANISATION, "732829320"),
    ("vat_number", HUB_ORGANISATION, "FR44732829320"),
    (
        "billing_address",
        HUB_ORGANISATION,
        {"street_address": "12 bis rue de la République", "zip_code": "69002", "city": "Lyon",
         "province_code": None, "country_code": "FR"},
    ),
    (
        "delivery_address",
        HUB_ORGANISATION,
        {"street_address": "3 quai Perrache", "zip_code": "69002", "city": "Lyon",
         "province_code": None, "country_code": "FR"},
    ),
    ("kind", HUB_PERSON, "individual"),
    ("first_name", HUB_PERSON, "Jan Peter"),
    ("last_name", HUB_PERSON, "van der Berg"),
    ("email", HUB_PERSON, "jan@mail.example"),
    ("phone", HUB_PERSON, {"country_code": "+31", "number": "612345678"}),
    ("locale", HUB_PERSON, "nl"),
    (
        "billing_address",
        HUB_PERSON,
        {"street_address": "Keizersgracht 123-2", "zip_code": "1015 CJ", "city": "Amsterdam",
         "province_code": None, "country_code": "NL"},
    ),
    (HUB_ID, HUB_PERSON, "hub-2"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "record", "expected"), OUTBOUND_ROWS)
def test_outbound_field(field: str, record: dict[str, Any], expected: Any) -> None:
    assert MAPPING.from_canonical(record, None, {})[field] == expected


@pytest.mark.parametrize("record", [HUB_ORGANISATION, HUB_PERSON])
def test_round_trip_keeps_every_field(record: dict[str, Any]) -> None:
    """Only the phone's spacing and the locale's region are Qonto's own form."""
    back = MAPPING.to_canonical(MAPPING.from_canonical(record, None, {}), {})
    for field in MAPPING.fields:
        if field == "locale":
            assert back[field] == record[field].split("-")[0]
        elif field == "phone":
            assert back[field] == record[field].replace(" ", "")
        elif field in record:
            assert back[field] == record[field], field


def test_a_person_with_only_a_postal_address_is_sent_with_it() -> None:
    """An app may give a person's one address as its postal address: Qonto gets it as the
    client's address, which a client needs to be invoiced."""
    record = {**HUB_PERSON, "billing_address": None,
              "postal_address": HUB_PERSON["billing_address"]}  # fmt: skip
    payload = MAPPING.from_canonical(record, None, {})
    assert payload["billing_address"]["street_address"] == "Keizersgracht 123-2"
    both = {**HUB_PERSON, "postal_address": {"line1": "Postbus 12", "city": "Utrecht",
                                             "country": "NL"}}  # fmt: skip
    assert MAPPING.from_canonical(both, None, {})["billing_address"]["city"] == "Amsterdam"


def test_a_person_address_changed_in_qonto_is_the_one_yuki_sends() -> None:
    """A person has one address in the hub, its billing address, in Qonto as in Yuki: a move
    made in Qonto is what Yuki's private address becomes, not a second address beside it."""
    yuki = ContactMapping({"organisation": "both", "person": "both"})
    synced = validate("party", {**MAPPING.to_canonical(PERSON, {}), "debtor_number": "10002"})
    assert synced["postal_address"] is None
    sent = yuki.from_canonical(synced, None, {})
    assert (sent["AddressLine_1"], sent["City"]) == ("Keizersgracht 123-2", "Amsterdam")

    moved = {**PERSON, "billing_address": {"street_address": "Oudegracht 7",
             "zip_code": "3511 AB", "city": "Utrecht", "country_code": "NL"}}  # fmt: skip
    incoming = MAPPING.to_canonical(moved, {})
    changed = {k: v for k, v in incoming.items() if synced.get(k) != v}
    assert list(changed) == ["billing_address"]
    record = validate("party", {**synced, **changed})
    sent = yuki.from_canonical(record, None, {})
    assert (sent["AddressLine_1"], sent["Postcode"], sent["City"], sent["Country"]) == (
        "Oudegracht 7",
        "3511 AB",
        "Utrecht",
        "NL",
    )


def test_a_person_known_only_by_full_name_is_split() -> None:
    record = {**HUB_PERSON, "first_name": None, "middle_name": None, "last_name": None}
    payload = MAPPING.from_canonical(record, None, {})
    assert (payload["first_name"], payload["last_name"]) == ("Jan Peter", "van der Berg")


def test_a_qonto_client_with_only_a_name_is_split() -> None:
    remote = {**PERSON, "first_name": None, "last_name": None}
    canonical = MAPPING.to_canonical(remote, {})
    assert (canonical["first_name"], canonical["middle_name"], canonical["last_name"]) == (
        "Jan Peter",
        "van der",
        "Berg",
    )


@pytest.mark.parametrize(
    ("names", "wire"),
    [
        (("Jan", "van der", "Berg"), ("Jan", "van der Berg")),
        (("Kees", "in ’t", "Veld"), ("Kees", "in ’t Veld")),
        (("Pieter", None, "Vries"), ("Pieter", "Vries")),
        (("Jan", "Peter", "Balkenende"), ("Jan Peter", "Balkenende")),
    ],
)
def test_the_middle_name_is_the_tussenvoegsel_of_the_last_name(
    names: tuple[str, str | None, str], wire: tuple[str, str]
) -> None:
    """The CRM's Middelname is the tussenvoegsel: it leads Qonto's last name and comes back
    from it; a middle name that is no particle is a given name."""
    first, middle, last = names
    record = {**HUB_PERSON, "name": " ".join(n for n in names if n)}
    record.update(first_name=first, middle_name=middle, last_name=last)
    payload = MAPPING.from_canonical(record, None, {})
    assert (payload["first_name"], payload["last_name"]) == wire
    back = MAPPING.to_canonical(payload, {})
    if middle is None or middle == "Peter":
        assert (back["first_name"], back["middle_name"], back["last_name"]) == (
            wire[0],
            None,
            wire[1],
        )
    else:
        assert (back["first_name"], back["middle_name"], back["last_name"]) == names


@pytest.mark.parametrize(
    "remote",
    [
        {**PERSON, "name": "Pieter de Vries", "first_name": "Pieter", "last_name": "de Vries"},
        {**PERSON, "name": "Pieter de Vries", "first_name": None, "last_name": None},
    ],
)
def test_a_qonto_last_name_with_a_particle_comes_in_with_it_as_middle_name(
    remote: dict[str, Any],
) -> None:
    canonical = MAPPING.to_canonical(remote, {})
    assert (canonical["first_name"], canonical["middle_name"], canonical["last_name"]) == (
        "Pieter",
        "de",
        "Vries",
    )
    assert canonical["name"] == "Pieter de Vries"


def test_a_freelancer_stays_a_freelancer() -> None:
    payload = MAPPING.from_canonical(HUB_PERSON, {"id": "c-9", "kind": "freelancer"}, {})
    assert payload["kind"] == "freelancer"
    assert payload["id"] == "c-9"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_customer": False, "is_supplier": True}, "relation_type_unsupported"),
        ({"debtor_number": None}, "debtor_number_missing"),
        ({"debtor_number": "  "}, "debtor_number_missing"),
        ({"phone": "0142685300", "billing_address": None, "postal_address": None},
         "phone_invalid"),
        ({"phone": "0142685300", "billing_address": {"line1": "1 Main St", "country": "US"}},
         "phone_invalid"),
    ],
)  # fmt: skip
def test_skips(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(SkipRecord) as caught:
        MAPPING.from_canonical({**HUB_ORGANISATION, **changes}, None, {})
    assert caught.value.reason == reason


def test_a_person_without_a_first_name_is_skipped() -> None:
    record = {**HUB_PERSON, "name": "Jansen", "first_name": None, "middle_name": None}
    record["last_name"] = None
    with pytest.raises(SkipRecord) as caught:
        MAPPING.from_canonical(record, None, {})
    assert caught.value.reason == "first_name_missing"


def test_an_unsupported_locale_keeps_qontos_own() -> None:
    payload = MAPPING.from_canonical({**HUB_ORGANISATION, "locale": "da-DK"}, {"locale": "en"}, {})
    assert payload["locale"] == "en"


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+33 1 42 68 53 00", {"country_code": "+33", "number": "142685300"}),
        ("+352 26 12 34", {"country_code": "+352", "number": "261234"}),
        ("+1 212 555 0100", {"country_code": "+1", "number": "2125550100"}),
        (None, None),
    ],
)
def test_phone_out(phone: str | None, expected: dict[str, str] | None) -> None:
    assert phone_out(phone) == expected


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [
        ("020-5786874", "NL", {"country_code": "+31", "number": "205786874"}),
        ("01 42 68 53 00", "FR", {"country_code": "+33", "number": "142685300"}),
        ("089 99 87 76", "BE", {"country_code": "+32", "number": "89998776"}),
        ("06 1234 5678", "IT", {"country_code": "+39", "number": "0612345678"}),
        ("0031 20 578 6874", "FR", {"country_code": "+31", "number": "205786874"}),
        ("+49 30 1234567", "NL", {"country_code": "+49", "number": "301234567"}),
        ("22 12 34 56", "NO", {"country_code": "+47", "number": "22123456"}),
        ("(212) 555-0100", "US", {"country_code": "+1", "number": "2125550100"}),
        ("021 123 4567", "ZA", {"country_code": "+27", "number": "211234567"}),
        ("20 12 34 56", "dk", {"country_code": "+45", "number": "20123456"}),
    ],
)
def test_a_national_number_takes_the_calling_code_of_the_partys_country(
    phone: str, country: str, expected: dict[str, str]
) -> None:
    """A CRM keeps its customers' numbers as they dial them at home: the address's country
    gives the calling code, less the trunk 0 (Italy keeps it), for any country (Norway, the
    United States); a number with its own international prefix keeps that one."""
    assert phone_out(phone, country) == expected


@pytest.mark.parametrize(
    ("phone", "country", "message"),
    [
        ("0142685300", None, "of a customer with no country has no international prefix"),
        ("0142685300", "US", "is not a phone number of United States"),
        ("22 12 34", "NO", "is not a phone number of Norway"),
        ("12", "NL", "is not a phone number of Netherlands"),
        ("phone", "NL", "is not a phone number"),
        (
            "020-5786874",
            "AQ",
            "has no international prefix, and the customer's address country Antarctica has no "
            "calling code of its own",
        ),
        ("+99 123 456 789", None, "has an unknown country calling code"),
        ("+33 1 42 68", None, "is too short for a phone number of France"),
        ("+31 20 578 6874 12345", "NL", "is too long for a phone number of Netherlands"),
        ("+1 555 0100", None, "is too short for a phone number of calling code +1"),
    ],
)
def test_a_number_that_is_no_phone_number_is_refused_with_what_to_correct(
    phone: str, country: str | None, message: str
) -> None:
    with pytest.raises(SkipRecord) as caught:
        phone_out(phone, country)
    assert caught.value.reason == "phone_invalid"
    assert caught.value.message.startswith(f"phone '{phone}' {message}")


def test_a_dutch_customer_with_a_national_phone_number_is_sent() -> None:
    record = {
        **HUB_ORGANISATION,
        "phone": "020-5786874",
        "billing_address": {"line1": "Damrak 1", "postal_code": "1012 LG", "city": "Amsterdam",
                            "country": "NL"},
    }  # fmt: skip
    payload = MAPPING.from_canonical(record, None, {})
    assert payload["phone"] == {"country_code": "+31", "number": "205786874"}


def test_a_customer_outside_europe_with_a_national_phone_number_is_sent() -> None:
    """Any country's national numbers take its calling code, not only Europe's."""
    record = {
        **HUB_ORGANISATION,
        "phone": "(212) 555-0100",
        "billing_address": {"line1": "1 Main St", "postal_code": "10001", "city": "New York",
                            "country": "US"},
    }  # fmt: skip
    payload = MAPPING.from_canonical(record, None, {})
    assert payload["phone"] == {"country_code": "+1", "number": "2125550100"}


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"tax_identification_number": "732829320", "vat_number": "FR44732829320"},
         "tin:732829320"),
        ({"vat_number": "fr44732829320", "email": "a@b.example"}, "vat:FR44732829320"),
        ({"email": "Contact@Atlas.example"}, "email:contact@atlas.example"),
        ({"kind": "company", "name": "Atlas"}, "name:Atlas"),
        ({"kind": "individual", "first_name": "Jan", "last_name": "Berg"}, "name:Jan Berg"),
    ],
)  # fmt: skip
def test_identity_key(payload: dict[str, Any], key: str) -> None:
    assert identity_key(payload) == key


def test_idempotency_key_is_stable_per_record_and_content() -> None:
    first = idempotency_key("hub-1", {"name": "A", "email": "a@b.example"})
    assert first == idempotency_key("hub-1", {"email": "a@b.example", "name": "A"})
    assert first != idempotency_key("hub-1", {"name": "B", "email": "a@b.example"})
    assert first != idempotency_key("hub-2", {"name": "A", "email": "a@b.example"})


def test_error_message_names_each_field() -> None:
    response = httpx.Response(
        422,
        json={
            "errors": [
                {"code": "blank", "detail": "can't be blank", "source": {"pointer": "/name"}},
                {"code": "invalid", "detail": "is invalid",
                 "source": {"pointer": "/billing_address/zip_code"}},
            ],
            "trace_id": "abc",
        },
    )  # fmt: skip
    assert _error_message(response) == (
        "name: can't be blank; billing_address.zip_code: is invalid (trace abc)"
    )


@pytest.mark.parametrize(
    ("cursor", "parts"),
    [(None, (None, 0)), ("2026-03-10T09:00:00.000Z|3", ("2026-03-10T09:00:00.000Z", 3))],
)
def test_parse_cursor(cursor: str | None, parts: tuple[str | None, int]) -> None:
    assert parse_cursor(cursor) == parts


# ---------------------------------------------------------------------------- invoices

CODES = Codes(
    [
        {"code": "FR20", "rate": "20", "country": "FR"},
        {"code": "FR5.5", "rate": "5.5", "country": "FR"},
        {"code": "NL-RC", "rate": "0", "country": "NL"},
    ],
    {"stuk": "pcs-nl"},
    "FR",
)
INVOICES = InvoiceMapping(CODES, lambda: "FR7616958000016218830371501")
CREDIT_NOTES = CreditNoteMapping(CODES, lambda: None)

QONTO_INVOICE: dict[str, Any] = {
    "id": "inv-1",
    "number": "F-2026-00042",
    "status": "unpaid",
    "client_id": "c-1",
    "client": {"id": "c-1", "billing_address": {"country_code": "FR"}},
    "issue_date": "2026-03-10",
    "due_date": "2026-04-09",
    "currency": "EUR",
    "total_amount": {"value": "1321.20", "currency": "EUR"},
    "amount_paid": {"value": "0.00", "currency": "EUR"},
    "discount": {"type": "percentage", "value": "0.05"},
    "items": [
        {
            "title": "Conseil",
            "description": "Mars",
            "quantity": "1.5",
            "unit": "hour",
            "unit_price": {"value": "100.00", "currency": "EUR"},
            "vat_rate": "0.2",
            "discount": {"type": "percentage", "value": "0.1"},
            "subtotal": {"value": "135.00", "currency": "EUR"},
        },
        {
            "title": "Livres",
            "description": None,
            "quantity": "3",
            "unit": "piece",
            "unit_price": {"value": "19.99", "currency": "EUR"},
            "vat_rate": "0.055",
            "discount": {"type": "absolute", "value": "5.997"},
            "subtotal": {"value": "53.97", "currency": "EUR"},
        },
    ],
}

# (canonical field, expected value) for QONTO_INVOICE
INVOICE_IN_ROWS: list[tuple[str, Any]] = [
    ("kind", "invoice"),
    ("number", "F-2026-00042"),
    ("subject", "Invoice_F-2026-00042"),
    ("discount_percent", "5"),
    ("party_id", "hub-party"),
    ("date", "2026-03-10"),
    ("due_date", "2026-04-09"),
    ("payment_term_days", 30),
    ("currency", "EUR"),
    ("status", "booked"),
    ("amount_open", "1321.20"),
]


@pytest.mark.parametrize(("field", "expected"), INVOICE_IN_ROWS)
def test_invoice_inbound_field(field: str, expected: Any) -> None:
    assert INVOICES.to_canonical(QONTO_INVOICE, {"party_id": "hub-party"})[field] == expected


# (line field, expected value of the first line, of the second line)
LINE_IN_ROWS: list[tuple[str, Any, Any]] = [
    ("description", "Conseil", "Livres"),
    ("extra_description", "Mars", None),
    ("quantity", "1.5", "3"),
    ("unit", "hour", "pcs"),
    ("unit_price", "100", "19.99"),
    # The line's own discount: 5.997 off 59.97 is 10 %; the invoice's 5 % is its own field.
    ("discount_percent", "10", "10"),
    ("vat_rate", "20", "5.5"),
    ("vat_code", "FR20", "FR5.5"),
]


@pytest.mark.parametrize(("field", "first", "second"), LINE_IN_ROWS)
def test_invoice_line_inbound_field(field: str, first: Any, second: Any) -> None:
    lines = INVOICES.to_canonical(QONTO_INVOICE, {})["lines"]
    assert (lines[0][field], lines[1][field]) == (first, second)


def test_a_draft_without_a_number_has_no_subject() -> None:
    canonical = INVOICES.to_canonical({**QONTO_INVOICE, "status": "draft", "number": None}, {})
    assert (canonical["number"], canonical["subject"]) == (None, None)


# (Qonto invoice discount, items' subtotals, hub discount_percent)
DOCUMENT_DISCOUNT_ROWS: list[tuple[Any, list[str], str]] = [
    ({"type": "percentage", "value": "0.05"}, ["135.00"], "5"),
    ({"type": "percentage", "value": "0.125"}, ["135.00"], "12.5"),
    (None, ["135.00"], "0"),
    ({"type": "absolute", "value": "10.00"}, ["150.00", "50.00"], "5"),  # exact
    ({"type": "absolute", "value": "10.00"}, ["300.00"], "3.333"),  # 3.33 % of 300 is 9.99
    ({"type": "absolute", "value": "10.00"}, ["3000.00"], "0.3333"),
    ({"type": "absolute", "value": "10.00"}, ["0.00"], "0"),  # nothing to discount
    ({"type": "absolute", "value": "-10.00"}, ["-200.00"], "5"),  # a credit note's
]


@pytest.mark.parametrize(("discount", "subtotals", "percent"), DOCUMENT_DISCOUNT_ROWS)
def test_invoice_discount_inbound(discount: Any, subtotals: list[str], percent: str) -> None:
    items = [
        {**QONTO_INVOICE["items"][0], "subtotal": {"value": value, "currency": "EUR"}}
        for value in subtotals
    ]
    remote = {**QONTO_INVOICE, "discount": discount, "items": items}
    assert INVOICES.to_canonical(remote, {})["discount_percent"] == percent


@pytest.mark.parametrize(
    ("amount", "base", "percent"),
    [
        ("10", "200", "5"),
        ("10", "300", "3.333"),  # 3.33 % of 300 is 9.99: one more place
        ("10", "30000", "0.03333"),
        ("0.01", "3", "0.3"),
        ("250", "200", "100"),  # never more than the base
        ("1", "60000000001", "0.0000000017"),  # beyond ten places: rounded to ten
    ],
)
def test_an_absolute_discount_is_the_shortest_percentage_giving_it_back_to_the_cent(
    amount: str, base: str, percent: str
) -> None:
    share = percentage_of(Decimal(amount), Decimal(base))
    assert str(share.normalize()) == str(Decimal(percent).normalize())


@pytest.mark.parametrize(
    ("status", "expected"),
    [("draft", "draft"), ("unpaid", "booked"), ("paid", "paid"), ("canceled", "cancelled")],
)
def test_invoice_status(status: str, expected: str) -> None:
    assert INVOICES.to_canonical({**QONTO_INVOICE, "status": status}, {})["status"] == expected


def test_a_vat_rate_without_a_vat_group_fails_naming_rate_and_country() -> None:
    item = {**QONTO_INVOICE["items"][0], "vat_rate": "0.21"}
    with pytest.raises(SkipRecord) as caught:
        INVOICES.to_canonical({**QONTO_INVOICE, "items": [item]}, {})
    assert caught.value.reason == "vat_group_missing"
    assert "VAT rate 21% for country FR" in caught.value.message


@pytest.mark.parametrize(
    ("rate", "client_country", "group"),
    [("0.2", "NL", "FR20"), ("0", "NL", "NL-RC"), ("0.055", "FR", "FR5.5")],
)
def test_charged_rates_are_the_organizations_and_zero_rates_the_clients(
    rate: str, client_country: str, group: str
) -> None:
    item = {**QONTO_INVOICE["items"][0], "vat_rate": rate}
    remote = {
        **QONTO_INVOICE,
        "items": [item],
        "client": {"billing_address": {"country_code": client_country}},
    }
    assert INVOICES.to_canonical(remote, {})["lines"][0]["vat_code"] == group


def test_an_unmapped_unit_is_skipped() -> None:
    item = {**QONTO_INVOICE["items"][0], "unit": "barrel"}
    with pytest.raises(SkipRecord) as caught:
        INVOICES.to_canonical({**QONTO_INVOICE, "items": [item]}, {})
    assert caught.value.reason == "unit_unmapped"


HUB_INVOICE: dict[str, Any] = {
    "id": "hub-inv-1",
    "kind": "invoice",
    "subject": "Renovation, phase 1",
    "party_id": "hub-party",
    "date": "2026-03-10",
    "payment_term_days": 14,
    "currency": "EUR",
    "discount_percent": "5",
    "lines": [
        {
            "description": "Conseil",
            "extra_description": "Mars",
            "quantity": "1.5",
            "unit": "hour",
            "unit_price": "100",
            "discount_percent": "10",
            "vat_code": "FR20",
        },
        {"description": "Livres", "quantity": "3", "unit": "pcs-nl", "unit_price": "19.99",
         "vat_rate": "5.5"},
    ],
}  # fmt: skip

# (Qonto field, expected wire value)
INVOICE_OUT_ROWS: list[tuple[str, Any]] = [
    ("client_id", "c-1"),
    ("issue_date", "2026-03-10"),
    ("due_date", "2026-03-24"),
    ("currency", "EUR"),
    ("payment_methods", {"iban": "FR7616958000016218830371501"}),
    ("discount", {"type": "percentage", "value": "0.05"}),
    (HUB_ID, "hub-inv-1"),
]


@pytest.mark.parametrize(("field", "expected"), INVOICE_OUT_ROWS)
def test_invoice_outbound_field(field: str, expected: Any) -> None:
    payload = INVOICES.from_canonical(HUB_INVOICE, None, {"party_id": ("customers", "c-1")})
    assert payload[field] == expected


LINE_OUT_ROWS: list[tuple[str, Any, Any]] = [
    ("title", "Conseil", "Livres"),
    ("description", "Mars", None),
    ("quantity", "1.5", "3"),
    ("unit", "hour", "stuk"),
    ("unit_price", {"value": "100", "currency": "EUR"}, {"value": "19.99", "currency": "EUR"}),
    ("vat_rate", "0.2", "0.055"),
    ("discount", {"type": "percentage", "value": "0.1"}, None),
]


@pytest.mark.parametrize(("field", "first", "second"), LINE_OUT_ROWS)
def test_invoice_line_outbound_field(field: str, first: Any, second: Any) -> None:
    items = INVOICES.from_canonical(HUB_INVOICE, None, {"party_id": ("customers", "c-1")})["items"]
    assert (items[0].get(field), items[1].get(field)) == (first, second)


def test_no_invoice_discount_is_sent_as_null_so_a_removed_one_is_removed() -> None:
    record = {**HUB_INVOICE, "discount_percent": "0"}
    payload = INVOICES.from_canonical(record, None, {"party_id": ("customers", "c-1")})
    assert "discount" in payload
    assert payload["discount"] is None


def test_the_subject_is_not_sent_qonto_names_the_invoice_by_its_number() -> None:
    record = {**HUB_INVOICE, "number": "F-2026-00043"}
    payload = INVOICES.from_canonical(record, None, {"party_id": ("customers", "c-1")})
    assert "Renovation, phase 1" not in repr(payload)
    assert payload["number"] == "F-2026-00043"
    projected = INVOICES.project(record, {"party_id": ("customers", "c-1")})
    assert projected["subject"] == "Invoice_F-2026-00043"


def test_a_hub_invoice_comes_back_from_its_draft_as_it_was_sent() -> None:
    projected = INVOICES.project(HUB_INVOICE, {"party_id": ("customers", "c-1")})
    assert projected["discount_percent"] == "5"
    assert [line["extra_description"] for line in projected["lines"]] == ["Mars", None]
    assert [line["discount_percent"] for line in projected["lines"]] == ["10", "0"]


@pytest.mark.parametrize(
    ("current", "changes", "reason"),
    [
        ({"id": "inv-1", "status": "unpaid", "number": "F-1"}, {}, "invoice_finalized"),
        (None, {"kind": "credit_note"}, "credit_note_not_sent"),
        (None, {"lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]},
         "vat_rate_missing"),
        (None, {"lines": [{"description": "x", "quantity": "1", "unit_price": "1",
                           "vat_rate": "20", "unit": "barrel"}]}, "unit_unmapped"),
        (None, {"lines": [{"description": "x", "quantity": "1", "unit_price": "1",
                           "vat_rate": "7"}]}, "vat_group_missing"),
    ],
)  # fmt: skip
def test_invoice_outbound_skips(
    current: dict[str, Any] | None, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SkipRecord) as caught:
        INVOICES.from_canonical(
            {**HUB_INVOICE, **changes}, current, {"party_id": ("customers", "c-1")}
        )
    assert caught.value.reason == reason


def test_a_rate_no_vat_group_of_the_organizations_country_has_is_held_naming_it() -> None:
    lines = [HUB_INVOICE["lines"][0], {**HUB_INVOICE["lines"][1], "vat_rate": "7"}]
    with pytest.raises(SkipRecord) as caught:
        INVOICES.from_canonical({**HUB_INVOICE, "lines": lines}, None, {"party_id": ("c", "c-1")})
    assert caught.value.reason == "vat_group_missing"
    assert caught.value.message.startswith(
        "line 2 ('Livres') has VAT rate 7%, which no VAT group of FR has (settings.vat_groups "
        "of FR: 5.5%, 20%); Qonto accepts only the VAT rates of the organization's country"
    )
    assert "Correct the line's VAT rate in the invoice, or add a VAT group of FR" in (
        caught.value.message
    )


@pytest.mark.parametrize(
    ("groups", "home", "rate", "sent"),
    [
        ([("NL-RC", "0", "NL")], "FR", "0", "0"),  # a zero rate is every country's
        ([("FR20", "20", "FR")], None, "20", "0.2"),  # country unknown: a group of the rate
        ([("DE19", "19", "DE")], "FR", "19", None),  # another country's rate is held
        ([("DE19", "19", "DE")], None, "7", None),
    ],
)
def test_a_charged_rate_goes_when_a_vat_group_of_the_organizations_country_has_it(
    groups: list[tuple[str, str, str]], home: str | None, rate: str, sent: str | None
) -> None:
    codes = Codes([{"code": c, "rate": r, "country": n} for c, r, n in groups], {}, home)
    line = {"description": "Conseil", "quantity": "1", "unit_price": "100", "vat_rate": rate}
    record = {**HUB_INVOICE, "lines": [line]}
    mapping = InvoiceMapping(codes, lambda: "FR7616958000016218830371501")
    if sent is None:
        with pytest.raises(SkipRecord, match="line 1 \\('Conseil'\\) has VAT rate"):
            mapping.from_canonical(record, None, {"party_id": ("customers", "c-1")})
        return
    payload = mapping.from_canonical(record, None, {"party_id": ("customers", "c-1")})
    assert payload["items"][0]["vat_rate"] == sent


def test_credit_note_is_a_negative_invoice_linked_to_the_one_it_credits() -> None:
    remote = {
        **QONTO_INVOICE,
        "id": "cn-1",
        "number": "AV-2026-00001",
        "invoice_id": "inv-1",
        "discount": None,
        "items": [{**QONTO_INVOICE["items"][0], "quantity": "-1.5"}],
    }
    refs = CREDIT_NOTES.remote_refs(remote)
    assert refs["credits_invoice_id"] == ("invoices", "inv-1")
    canonical = CREDIT_NOTES.to_canonical(
        remote, {"party_id": "hub-party", "credits_invoice_id": "hub-inv"}
    )
    assert canonical["kind"] == "credit_note"
    assert canonical["credits_invoice_id"] == "hub-inv"
    assert canonical["number"] == "AV-2026-00001"
    assert canonical["lines"][0]["quantity"] == "-1.5"
    assert canonical["payment_term_days"] == 0
    assert canonical["subject"] == "Invoice_AV-2026-00001"
    assert canonical["discount_percent"] == "0"
    assert canonical["lines"][0]["extra_description"] == "Mars"
    assert canonical["lines"][0]["discount_percent"] == "10"


PRODUCTS = ProductIndex(
    by_name={
        "Conseil": [
            {"id": "p-conseil", "name": "Conseil", "vat_code": "S", "purchase_price": "61.5"},
            {"id": "p-conseil-0", "name": "Conseil", "vat_code": "Z", "purchase_price": "50"},
        ],
        "Livres": [
            {"id": "p-old", "name": "Livres", "vat_code": "R", "active": False},
            {"id": "p-livres", "name": "Livres", "vat_code": "R", "purchase_price": "12"},
        ],
        "Double": [
            {"id": "p-d1", "name": "Double", "vat_code": "S"},
            {"id": "p-d2", "name": "Double", "vat_code": "S"},
        ],
        "Group": [{"id": "p-group", "name": "Group", "vat_code": "FR20"}],
    },
    rates={"S": {Decimal(20)}, "R": {Decimal("5.5")}, "Z": {Decimal(0)}},
)

# (item title, item VAT rate, hub product_id, hub purchase_price)
PRODUCT_ROWS: list[tuple[str, str, str | None, str | None]] = [
    ("Conseil", "0.2", "p-conseil", "61.5"),  # by name and the rate of its VAT code
    ("Conseil", "0", "p-conseil-0", "50"),  # the same name at another rate: another product
    ("  Conseil ", "0.2", "p-conseil", "61.5"),  # runs of spaces aside
    ("conseil", "0.2", None, None),  # names are compared as written
    ("Conseil", "0.055", None, None),  # no product at that rate: no product, not an error
    ("Livres", "0.055", "p-livres", "12"),  # an active one wins over an inactive one
    ("Double", "0.2", None, None),  # two products fit: none is guessed
    ("Group", "0.2", "p-group", None),  # the product's VAT code is the line's VAT group
    ("Inconnu", "0.2", None, None),
]


@pytest.mark.parametrize(("title", "rate", "product_id", "purchase_price"), PRODUCT_ROWS)
def test_an_inbound_line_gets_its_product_by_name_and_vat_rate_and_its_purchase_price(
    title: str, rate: str, product_id: str | None, purchase_price: str | None
) -> None:
    item = {**QONTO_INVOICE["items"][0], "title": title, "vat_rate": rate}
    client = {"id": "c-1", "billing_address": {"country_code": "NL"}}  # zero rates: NL-RC
    remote = {**QONTO_INVOICE, "client": client, "items": [item]}
    canonical = INVOICES.to_canonical(remote, {"party_id": "hub-party"})
    assert INVOICES.product_lookup is not None
    assert CREDIT_NOTES.product_lookup == INVOICES.product_lookup
    [line] = validate("invoice", with_products(INVOICES.product_lookup, canonical, PRODUCTS))[
        "lines"
    ]
    assert (line["product_id"], line["purchase_price"]) == (product_id, purchase_price)


@pytest.mark.parametrize(
    ("settings", "stream", "url"),
    [
        ({"organization_slug": "atlas"}, "customers",
         "https://app.qonto.com/organizations/atlas/clients/c-1"),
        ({"organization_slug": "atlas"}, "invoices",
         "https://app.qonto.com/organizations/atlas/receivable-invoices/c-1"),
        ({"organization_slug": "atlas", "app_url": "https://app.example/",
          "record_urls": {"customers": "/c/{id}"}}, "customers", "https://app.example/c/c-1"),
        ({}, "customers", None),
    ],
)  # fmt: skip
def test_record_url(settings: dict[str, Any], stream: str, url: str | None) -> None:
    assert record_url(settings, stream, "c-1") == url


# ---------------------------------------------------------------------------- webhooks

DOCS_SIGNATURE = "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
"""Qonto's documented test vector: body {"test":"data"}, secret test-secret."""
SIGNED_AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_the_documented_signature_is_accepted() -> None:
    headers = {"X-Qonto-Signature": DOCS_SIGNATURE}
    assert (
        check_webhook({"webhook_secret": "test-secret"}, headers, b'{"test":"data"}', SIGNED_AT)
        is None
    )


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now"),
    [
        ("other-secret", {"X-Qonto-Signature": DOCS_SIGNATURE}, b'{"test":"data"}', SIGNED_AT),
        ("test-secret", {"X-Qonto-Signature": DOCS_SIGNATURE}, b'{"test": "data"}', SIGNED_AT),
        ("test-secret", {}, b'{"test":"data"}', SIGNED_AT),
        ("", {"X-Qonto-Signature": DOCS_SIGNATURE}, b'{"test":"data"}', SIGNED_AT),
        ("test-secret", {"X-Qonto-Signature": DOCS_SIGNATURE}, b'{"test":"data"}',
         SIGNED_AT + timedelta(minutes=6)),
    ],
)  # fmt: skip
def test_a_webhook_that_does_not_prove_itself_is_refused(
    secret: str, headers: dict[str, str], body: bytes, now: datetime
) -> None:
    with pytest.raises(CallbackRefused):
        check_webhook({"webhook_secret": secret}, headers, body, now)


def test_a_webhook_gives_its_event_id() -> None:
    body = b'{"id": "evt-1", "type": "v1/client-invoices", "data": {"id": "inv-1"}}'
    stamp = int(SIGNED_AT.timestamp())
    digest = hmac.new(b"s3cret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"x-qonto-signature": f"t={stamp},v1={digest}"}
    assert check_webhook({"webhook_secret": "s3cret"}, headers, body, SIGNED_AT) == "evt-1"


# Address line 1 ⇄ Street, HouseNumber, HouseNumberSuffix (both directions, per country).
STREET_ROWS: list[tuple[str, str, tuple[str | None, str | None, str | None]]] = [
    ("Keizersgracht 123-A", "NL", ("Keizersgracht", "123", "A")),
    ("Rue de la Loi 16 bte 3", "BE", ("Rue de la Loi", "16", "bte 3")),
    ("Hovedgaden 12, 3. tv", "DK", ("Hovedgaden", "12", "3. tv")),
    ("16 bis, rue de la Paix", "FR", ("rue de la Paix", "16", "bis")),
    ("Storgata 5 H0301", "NO", ("Storgata", "5", "H0301")),
]


@pytest.mark.parametrize(("line", "country", "parts"), STREET_ROWS)
def test_address_line_1_is_split_into_street_number_and_suffix(
    line: str, country: str, parts: tuple[str | None, str | None, str | None]
) -> None:
    address = address_in({"street_address": line, "city": "X", "country_code": country})
    assert address is not None
    assert (address["street"], address["house_number"], address.get("house_number_suffix")) == (
        parts
    )
    assert address["line1"] == line


@pytest.mark.parametrize(("line", "country", "parts"), STREET_ROWS)
def test_street_number_and_suffix_are_joined_into_address_line_1(
    line: str, country: str, parts: tuple[str | None, str | None, str | None]
) -> None:
    street, number, suffix = parts
    hub = {"street": street, "house_number": number, "house_number_suffix": suffix,
           "country": country}  # fmt: skip
    wire = address_out(hub)
    assert wire is not None
    assert address_in({**wire, "country_code": country})["street"] == street  # type: ignore[index]
    assert address_out({**hub, "line1": line}) == {**wire, "street_address": line}


def test_a_corrected_split_is_written_joined_and_an_untouched_one_keeps_its_text() -> None:
    """An ambiguous line, "Keizersgracht 123-2" (number 123 with addition 2, or flat 2): the best
    reading fills the parts and the original text goes back out; a person who corrects the
    parts on the record overrides it, and the line is written from their parts."""
    address = address_in({"street_address": "Keizersgracht 123-2", "country_code": "NL"})
    assert address is not None
    assert address_out(address)["street_address"] == "Keizersgracht 123-2"  # type: ignore[index]
    corrected = {**address, "house_number": "123", "house_number_suffix": "II"}
    assert address_out(corrected)["street_address"] == "Keizersgracht 123 II"  # type: ignore[index]


@pytest.mark.parametrize(
    ("home", "ask", "wanted"),
    [
        (
            "FR",
            lambda c: c.vat_group(Decimal(21), "NL", "line 1 ('has VAT rate 5% for country DE')"),
            "21% NL",
        ),
        ("FR", lambda c: c.vat_group(Decimal("5.5"), None, "line 1 ('Livre')"), "5.5%"),
        ("FR", lambda c: c.check_charged(Decimal(7), "line 2 ('Formation')"), "7% FR"),
        (None, lambda c: c.check_charged(Decimal(7), "line 2 ('Formation')"), "7%"),
    ],
)
def test_a_missing_vat_group_is_named_by_its_rate_and_country(
    home: str | None, ask: Any, wanted: str
) -> None:
    """What an invoice waits for is read back from its skip's message, as the connection's
    Mappings count the invoices waiting per VAT group; a line title that reads like a rate
    is not taken for it."""
    codes = Codes([{"code": "FR20", "rate": "20", "country": "FR"}], {}, home)
    with pytest.raises(SkipRecord) as caught:
        ask(codes)
    assert caught.value.reason == "vat_group_missing"
    assert missing_vat_group(caught.value.message) == wanted
    assert missing_vat_group("some other message") is None
