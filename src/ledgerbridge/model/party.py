"""Parties (customers and suppliers, organisations and persons) and their contact persons."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ledgerbridge.model.common import (
    Address,
    CurrencyCode,
    Email,
    Gln,
    Iban,
    Locale,
    Record,
    field_error,
)
from ledgerbridge.model.validation import (
    normalize_organisation_number,
    normalize_vat_number,
    vat_number_country,
)

__all__ = ["ContactPerson", "Party"]

# Where a party's country is read from when its identifiers carry none, in order of preference:
# the billing address is the one tax authorities and e-invoicing networks look at.
_COUNTRY_ADDRESSES = ("billing_address", "postal_address", "visiting_address")


def _address_country(data: dict[str, Any]) -> str | None:
    """The first country found on the party's billing, postal or visiting address."""
    for field in _COUNTRY_ADDRESSES:
        address = data.get(field)
        if isinstance(address, Address) and address.country:
            return address.country
    return None


class Party(Record):
    """An organisation or a person that the business sells to, buys from, or both.

    A person has one address, its ``billing_address``: Uniconta, Yuki and Qonto read a person's
    address into it and send it from there, so a private customer who moves in one of them has
    the new address sent to the others. Each sends a person's postal address when it has no
    billing address (an app may give only that: ``connectors.kit.values.person_address``).
    Tripletex, read only, keeps a person's postal and visiting addresses as it has them.

    Field order matters: the addresses are declared before ``vat_number`` and
    ``organisation_number`` so that their validators can read the country, and so that an
    invalid number is reported at its own field.
    """

    kind: Literal["organisation", "person"] = "organisation"
    name: str = Field(min_length=1, max_length=255)
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    is_customer: bool = False
    is_supplier: bool = False
    debtor_number: str | None = None
    creditor_number: str | None = None
    email: Email | None = None
    invoice_email: Email | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    website: str | None = None
    postal_address: Address | None = None
    billing_address: Address | None = None
    visiting_address: Address | None = None
    delivery_address: Address | None = None
    vat_number: str | None = None
    organisation_number: str | None = None
    gln: Gln | None = None
    iban: Iban | None = None
    locale: Locale | None = None
    currency: CurrencyCode | None = None
    payment_term_days: int | None = Field(default=None, ge=0, le=365)
    customer_group: str | None = Field(default=None, max_length=50)
    """The accounting system's own customer (debtor) group code, when the app chooses it (a
    webshop's B2C, B2B and EAN profiles); otherwise the system's default applies."""
    vat_zone: Literal["domestic", "eu", "abroad"] | None = None
    """Where the customer is for VAT, when the app says so: the accounting system books its
    sales with the zone's rules (Uniconta's VatZone)."""
    active: bool = True

    @field_validator("vat_number")
    @classmethod
    def _normalise_vat_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Checked against its own prefix, else against the country of the party's address."""
        if value is None:
            return None
        try:
            return normalize_vat_number(value, _address_country(info.data))
        except ValueError as exc:
            raise field_error("vat_number", exc) from None

    @field_validator("organisation_number")
    @classmethod
    def _normalise_organisation_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Checked for the address country, else for the country of the VAT number's prefix.

        The address comes first because a registration number is national: a Danish company's
        CVR is Danish even if it also holds, say, a Swedish VAT registration.
        """
        if value is None:
            return None
        country = _address_country(info.data)
        vat_number = info.data.get("vat_number")
        if country is None and vat_number:
            country = vat_number_country(vat_number)
        try:
            return normalize_organisation_number(value, country)
        except ValueError as exc:
            raise field_error("organisation_number", exc) from None


class ContactPerson(Record):
    """A person at a party whom the business deals with; it exists only through its party."""

    party_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=255)
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    email: Email | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    job_title: str | None = None
    active: bool = True
