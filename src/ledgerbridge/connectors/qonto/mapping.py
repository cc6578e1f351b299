"""Qonto ⇄ canonical mapping for clients: pure functions over JSON dicts, table-tested.

The CRM's relation types are the canonical party's ``kind`` and ``is_customer``: an
organisation customer is a "Customer" (Qonto ``kind: company``), a person customer a "Private
Customer" (``individual``, or ``freelancer`` in Italy). Anything else is not synced.

A person's Qonto ``first_name`` holds the given names, first and middle; ``last_name`` the
surname with its particles. When the hub knows only a full name it is split with
:func:`split_name`. The canonical address has one free line, as Qonto does, so line 1 goes
across as it is. An organisation's invoice address is Qonto's ``billing_address`` and its postal
address Qonto's ``delivery_address``; a person's one address is the ``billing_address``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerbridge.connectors.base import (
    JSON,
    EntityMapping,
    RemoteRef,
    SkipRecord,
)
from ledgerbridge.connectors.qonto.names import join_name, split_name

HUB_ID = "__hub_id__"
"""Payload key carrying the hub record id to the connector (for the idempotency key); it is
removed before the payload is sent."""

PERSON_KINDS = frozenset({"individual", "freelancer"})
LOCALES = frozenset({"fr", "en", "de", "it", "es", "nl", "pt"})
"""Languages Qonto accepts for a client's documents."""


def text(value: Any) -> str | None:
    if value is None:
        return None
    stripped = " ".join(str(value).split())
    return stripped or None


def address_in(remote: Mapping[str, Any] | None) -> JSON | None:
    """Qonto's address object → canonical address (None when empty)."""
    if not remote:
        return None
    country = text(remote.get("country_code"))
    address = {
        "line1": text(remote.get("street_address")),
        "postal_code": text(remote.get("zip_code")),
        "city": text(remote.get("city")),
        "region": text(remote.get("province_code")),
        "country": country.upper() if country else None,
    }
    if not any(address.values()):
        return None
    return {k: v for k, v in address.items() if v is not None}


def address_out(address: Mapping[str, Any] | None) -> JSON | None:
    """Canonical address → Qonto's address object (None when the hub has none)."""
    if not address:
        return None
    return {
        "street_address": address.get("line1"),
        "zip_code": address.get("postal_code"),
        "city": address.get("city"),
        "province_code": address.get("region"),
        "country_code": address.get("country"),
    }


def phone_in(remote: Mapping[str, Any]) -> str | None:
    """Qonto keeps ``phone {country_code, number}`` and their concatenation ``phone_number``."""
    phone = remote.get("phone")
    if isinstance(phone, Mapping) and phone.get("number"):
        return text(f"{phone.get('country_code') or ''}{phone['number']}")
    return text(remote.get("phone_number"))


def phone_out(phone: str | None) -> JSON | None:
    """An international number "+33 1 23 45 67 89" as Qonto's country code and number.

    The country code is the digits after "+" that no known calling code extends; numbers
    without "+" have no code Qonto could hold, so they are refused with a reason.
    """
    if not phone:
        return None
    compact = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if not compact.startswith("+") or len(compact) < 4:
        raise SkipRecord(
            "phone_invalid",
            f"phone '{phone}' has no international prefix; Qonto needs one (+33 …)",
        )
    digits = compact[1:]
    for length in (3, 2, 1):
        if digits[:length] in CALLING_CODES:
            return {"country_code": "+" + digits[:length], "number": digits[length:]}
    raise SkipRecord("phone_invalid", f"phone '{phone}' has an unknown country calling code")


CALLING_CODES = frozenset(
    {
        "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
        "45", "46", "47", "48", "49", "51", "52", "54", "55", "61", "64", "65", "81", "82",
        "86", "90", "91", "212", "213", "216", "351", "352", "353", "354", "356", "357", "358",
        "359", "370", "371", "372", "377", "385", "386", "420", "421", "423",
    }
)  # fmt: skip
"""Calling codes of the countries Qonto's customers trade with most."""


def locale_in(value: Any) -> str | None:
    code = text(value)
    return code.lower() if code else None


def locale_out(locale: str | None) -> str | None:
    """The hub's BCP 47 tag as Qonto's language: "nl-BE" → "nl"; unsupported ones are left
    unset so Qonto keeps its own choice."""
    if not locale:
        return None
    language = locale.split("-")[0].lower()
    return language if language in LOCALES else None


def identity_key(payload: Mapping[str, Any]) -> str:
    """How a Qonto client is searched for: the first identifier the API filters on exactly
    (tax identification number, VAT number, e-mail), else its name."""
    for field, prefix in (("tax_identification_number", "tin"), ("vat_number", "vat")):
        value = text(payload.get(field))
        if value:
            return f"{prefix}:{value.upper()}"
    email = text(payload.get("email"))
    if email:
        return f"email:{email.lower()}"
    return f"name:{client_name(payload) or ''}"


def client_name(payload: Mapping[str, Any]) -> str | None:
    """A client's display name, as Qonto forms it for persons ("first last")."""
    if payload.get("kind") in PERSON_KINDS or payload.get("first_name"):
        return text(f"{payload.get('first_name') or ''} {payload.get('last_name') or ''}")
    return text(payload.get("name"))


class ClientMapping(EntityMapping):
    """Hub customers as Qonto clients, both ways."""

    entity = "party"
    remote_entity = "client"
    fields = frozenset(
        {
            "kind", "name", "first_name", "middle_name", "last_name", "is_customer", "email",
            "phone", "locale", "currency", "organisation_number", "vat_number",
            "billing_address", "postal_address",
        }
    )  # fmt: skip
    incremental = True
    """Read by ``updated_at``: a pull asks only for clients changed since the last one seen."""

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        kind = str(remote.get("kind") or remote.get("type") or "company")
        billing = address_in(remote.get("billing_address")) or address_in(
            {
                "street_address": remote.get("address"),
                "zip_code": remote.get("zip_code"),
                "city": remote.get("city"),
                "province_code": remote.get("province_code"),
                "country_code": remote.get("country_code"),
            }
        )
        record: JSON = {
            "is_customer": True,
            "email": text(remote.get("email")),
            "phone": phone_in(remote),
            "locale": locale_in(remote.get("locale")),
            "currency": text(remote.get("currency")),
        }
        if kind in PERSON_KINDS:
            first, middle, last = _person_names(remote, billing)
            name = join_name(first, middle, last) or text(remote.get("name"))
            if not name:
                raise SkipRecord("name_missing", f"client {remote.get('id')} has no name")
            record.update(
                kind="person", name=name, first_name=first, middle_name=middle, last_name=last,
                organisation_number=None, vat_number=None, billing_address=None,
                postal_address=billing,
            )  # fmt: skip
            return record
        name = text(remote.get("name"))
        if not name:
            raise SkipRecord("name_missing", f"client {remote.get('id')} has no name")
        record.update(
            kind="organisation", name=name, first_name=None, middle_name=None, last_name=None,
            organisation_number=text(remote.get("tax_identification_number")),
            vat_number=text(remote.get("vat_number")), billing_address=billing,
            postal_address=address_in(remote.get("delivery_address")),
        )  # fmt: skip
        return record

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        if not record.get("is_customer"):
            raise SkipRecord(
                "relation_type_unsupported",
                "only Customer and Private Customer relations sync to Qonto; this party is "
                "not a customer",
            )
        if not text(record.get("debtor_number")):
            raise SkipRecord(
                "debtor_number_missing",
                "the customer has no debtor number; assign one and it syncs by itself",
            )
        payload: JSON = {
            "email": record.get("email"),
            "phone": phone_out(record.get("phone")),
            "locale": locale_out(record.get("locale")) or (current or {}).get("locale"),
            "currency": record.get("currency") or (current or {}).get("currency"),
        }
        if record.get("kind") == "person":
            address = record.get("postal_address") or record.get("billing_address")
            first, middle, last = _hub_person_names(record, address)
            current_kind = (current or {}).get("kind")
            payload.update(
                kind=current_kind if current_kind in PERSON_KINDS else "individual",
                first_name=join_name(first, middle, None) or None,
                last_name=last,
                billing_address=address_out(address),
            )
        else:
            payload.update(
                kind="company",
                name=record.get("name"),
                tax_identification_number=record.get("organisation_number"),
                vat_number=record.get("vat_number"),
                billing_address=address_out(record.get("billing_address")),
                delivery_address=address_out(record.get("postal_address")),
            )
        if current and current.get("id"):
            payload["id"] = current["id"]
        if record.get("id"):
            payload[HUB_ID] = str(record["id"])
        return payload

    def payload_key(self, payload: JSON) -> str | None:
        return identity_key(payload)

    def defaults(self) -> JSON:
        return {"is_customer": True}


def _person_names(
    remote: Mapping[str, Any], address: JSON | None
) -> tuple[str | None, str | None, str | None]:
    """Qonto's first and last name → first, middle and last: the first given name is the
    first name and the others are middle names. A client with only a full name is split."""
    first_names = text(remote.get("first_name"))
    last = text(remote.get("last_name"))
    if first_names and last:
        first, _, middle = first_names.partition(" ")
        return first, middle or None, last
    full = text(remote.get("name")) or text(f"{first_names or ''} {last or ''}")
    if not full:
        return None, None, None
    parts = split_name(full, country=(address or {}).get("country"))
    return parts.first, parts.middle, parts.last


def _hub_person_names(
    record: Mapping[str, Any], address: Mapping[str, Any] | None
) -> tuple[str | None, str | None, str | None]:
    """The hub person's names, split from its full name when it has no last name."""
    first, middle, last = (
        text(record.get("first_name")),
        text(record.get("middle_name")),
        text(record.get("last_name")),
    )
    if last:
        return first, middle, last
    parts = split_name(str(record.get("name") or ""), country=(address or {}).get("country"))
    if not parts.last:
        raise SkipRecord("last_name_missing", "the person has no last name; Qonto needs one")
    if not parts.first:
        raise SkipRecord(
            "first_name_missing",
            f"the name '{record.get('name')}' has no first name Qonto could hold; fill in the "
            "person's first and last name",
        )
    return parts.first, parts.middle, parts.last
