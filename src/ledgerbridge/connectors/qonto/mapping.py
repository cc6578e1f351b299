"""Qonto ⇄ canonical mapping for clients, client invoices and credit notes: pure functions over
JSON dicts, table-tested.

The CRM's relation types are the canonical party's ``kind`` and ``is_customer``: an
organisation customer is a "Customer" (Qonto ``kind: company``), a person customer a "Private
Customer" (``individual``, or ``freelancer`` in Italy). Anything else is not synced.

A person's Qonto ``first_name`` holds the given names; ``last_name`` the surname with its
particles. The CRM's middle name is the Dutch tussenvoegsel ("van der" in Jan van der Berg), so
it goes out at the front of ``last_name`` and comes back from it (:func:`split_infix`). When the
hub knows only a full name it is split with :func:`split_name`. The canonical address has one
free line, as Qonto does, so line 1 goes across as it is. An organisation's invoice address is
Qonto's ``billing_address`` and its postal address Qonto's ``delivery_address``. A person has one
address, kept in the hub as its ``billing_address`` (as Yuki and Uniconta keep it, so an address
changed in Qonto is the one they send); it goes out as Qonto's ``billing_address``, taken from the
hub's postal address when an app gave only that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from ledgerbridge.connectors.base import (
    JSON,
    EntityMapping,
    ProductLookup,
    Reference,
    RemoteRef,
    SkipRecord,
)
from ledgerbridge.connectors.kit.codes import CodeTable
from ledgerbridge.connectors.kit.phones import international_phone
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.kit.values import dec, person_address, words
from ledgerbridge.connectors.qonto.addresses import StreetParts, join_street, split_street
from ledgerbridge.connectors.qonto.names import is_infix, join_name, split_infix, split_name

HUB_ID = "__hub_id__"
"""Payload key carrying the hub record id to the connector (for the idempotency key); it is
removed before the payload is sent."""

PERSON_KINDS = frozenset({"individual", "freelancer"})
LOCALES = frozenset({"fr", "en", "de", "it", "es", "nl", "pt"})
"""Languages Qonto accepts for a client's documents."""
COUNTRY_LOCALES = {
    "FR": "fr", "BE": "fr", "LU": "fr", "MC": "fr", "CH": "fr", "NL": "nl", "DE": "de",
    "AT": "de", "IT": "it", "SM": "it", "ES": "es", "PT": "pt",
}  # fmt: skip
"""The language a client of a country gets when the hub names none (Qonto invoices a client
only once it has one); any other country's is English."""
DEFAULT_CURRENCY = "EUR"
"""The currency a client gets when the hub names none (Qonto invoices a client only once it
has one): a Qonto account's own."""


def address_in(remote: Mapping[str, Any] | None) -> JSON | None:
    """Qonto's address object → canonical address (None when empty)."""
    if not remote:
        return None
    country = words(remote.get("country_code"))
    line = words(remote.get("street_address"))
    address = {
        "line1": line,
        "postal_code": words(remote.get("zip_code")),
        "city": words(remote.get("city")),
        "region": words(remote.get("province_code")),
        "country": country.upper() if country else None,
    }
    if not any(address.values()):
        return None
    if line:
        parts = split_street(line, country=country)
        address.update(
            street=parts.street, house_number=parts.number, house_number_suffix=parts.suffix
        )
    return {k: v for k, v in address.items() if v is not None}


def address_out(address: Mapping[str, Any] | None) -> JSON | None:
    """Canonical address → Qonto's address object (None when the hub has none)."""
    if not address:
        return None
    line = address.get("line1")
    parts = (address.get("street"), address.get("house_number"), address.get("house_number_suffix"))
    if any(parts):
        # The app's parts win when they are not the line's own split (entered or corrected
        # there); when they are, the line goes out exactly as it was written.
        line = join_street(StreetParts(*parts, True, line or ""), country=address.get("country"))
    return {
        "street_address": line,
        "zip_code": address.get("postal_code"),
        "city": address.get("city"),
        "province_code": address.get("region"),
        "country_code": address.get("country"),
    }


def phone_in(remote: Mapping[str, Any]) -> str | None:
    """Qonto keeps ``phone {country_code, number}`` and their concatenation ``phone_number``."""
    phone = remote.get("phone")
    if isinstance(phone, Mapping) and phone.get("number"):
        return words(f"{phone.get('country_code') or ''}{phone['number']}")
    return words(remote.get("phone_number"))


def phone_out(phone: str | None, country: str | None = None) -> JSON | None:
    """A phone number as Qonto's country code and number ("+31" / "205786874").

    A number written with its prefix ("+33 1 …", "0033 1 …") keeps it; one written as it is
    dialled at home ("020-5786874", as a CRM keeps its customers' numbers) takes the calling
    code of ``country``, the party's address country (:func:`international_phone`). One that
    is not a phone number there is refused with a reason.
    """
    if not phone:
        return None
    international = international_phone(phone, country)
    return {"country_code": international.calling_code, "number": international.number}


def locale_in(value: Any) -> str | None:
    code = words(value)
    return code.lower() if code else None


def locale_out(locale: str | None) -> str | None:
    """The hub's BCP 47 tag as Qonto's language: "nl-BE" → "nl"; unsupported ones are left
    unset so Qonto keeps its own choice."""
    if not locale:
        return None
    language = locale.split("-")[0].lower()
    return language if language in LOCALES else None


def _party_country(record: JSON) -> str | None:
    """The party's country: its billing address's, else its postal one's."""
    address = record.get("billing_address") or record.get("postal_address") or {}
    return str(address.get("country") or "").upper() or None


def _country_locale(record: JSON) -> str:
    """The language of the party's country (its billing address, else its postal one)."""
    return COUNTRY_LOCALES.get(_party_country(record) or "", "en")


def identity_key(payload: Mapping[str, Any]) -> str:
    """How a Qonto client is searched for: the first identifier the API filters on exactly
    (tax identification number, VAT number, e-mail), else its name."""
    for field, prefix in (("tax_identification_number", "tin"), ("vat_number", "vat")):
        value = words(payload.get(field))
        if value:
            return f"{prefix}:{value.upper()}"
    email = words(payload.get("email"))
    if email:
        return f"email:{email.lower()}"
    return f"name:{client_name(payload) or ''}"


def client_name(payload: Mapping[str, Any]) -> str | None:
    """A client's display name, as Qonto forms it for persons ("first last")."""
    if payload.get("kind") in PERSON_KINDS or payload.get("first_name"):
        return words(f"{payload.get('first_name') or ''} {payload.get('last_name') or ''}")
    return words(payload.get("name"))


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
    match_fields = ("organisation_number", "vat_number", "email")
    """Qonto has no debtor number: a client is recognised as an existing hub customer by the
    identifiers it searches on too (``identity_key``)."""
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
            "email": words(remote.get("email")),
            "phone": phone_in(remote),
            "locale": locale_in(remote.get("locale")),
            "currency": words(remote.get("currency")),
        }
        if kind in PERSON_KINDS:
            first, middle, last = _person_names(remote, billing)
            name = join_name(first, middle, last) or words(remote.get("name"))
            if not name:
                raise SkipRecord("name_missing", f"client {remote.get('id')} has no name")
            record.update(
                kind="person", name=name, first_name=first, middle_name=middle, last_name=last,
                organisation_number=None, vat_number=None, billing_address=billing,
                postal_address=None,
            )  # fmt: skip
            return record
        name = words(remote.get("name"))
        if not name:
            raise SkipRecord("name_missing", f"client {remote.get('id')} has no name")
        record.update(
            kind="organisation", name=name, first_name=None, middle_name=None, last_name=None,
            organisation_number=words(remote.get("tax_identification_number")),
            vat_number=words(remote.get("vat_number")), billing_address=billing,
            postal_address=address_in(remote.get("delivery_address")),
        )  # fmt: skip
        return record

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        who = words(record.get("name")) or words(
            " ".join(str(record.get(part) or "") for part in ("first_name", "last_name"))
        )
        named = f" {who}" if who else ""
        if not record.get("is_customer"):
            raise SkipRecord(
                "relation_type_unsupported",
                f"only Customer and Private Customer relations sync to Qonto; party{named} is "
                "not a customer: mark it a customer (is_customer) and it syncs by itself",
            )
        if not words(record.get("debtor_number")):
            raise SkipRecord(
                "debtor_number_missing",
                f"customer{named} has no debtor number; assign one and it syncs by itself",
            )
        payload: JSON = {
            "email": record.get("email"),
            "phone": phone_out(record.get("phone"), _party_country(record)),
            "locale": locale_out(record.get("locale"))
            or (current or {}).get("locale")
            or _country_locale(record),
            "currency": record.get("currency")
            or (current or {}).get("currency")
            or DEFAULT_CURRENCY,
        }
        if record.get("kind") == "person":
            # A person's one address is the hub's billing address; an app may have given
            # only a postal one, and the client is not left without an address.
            address = person_address(record)
            first, last = _hub_person_names(record, address)
            current_kind = (current or {}).get("kind")
            payload.update(
                kind=current_kind if current_kind in PERSON_KINDS else "individual",
                first_name=first,
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
    """Qonto's first and last name → first, middle and last: the given names are the first
    name, and the last name's leading particles ("van der" in "van der Berg") the middle name,
    as the CRM keeps the tussenvoegsel. A client with only a full name is split first."""
    first = words(remote.get("first_name"))
    last = words(remote.get("last_name"))
    if not (first and last):
        full = words(remote.get("name")) or words(f"{first or ''} {last or ''}")
        if not full:
            return None, None, None
        parts = split_name(full, country=(address or {}).get("country"))
        first, last = words(join_name(parts.first, parts.middle, None)), parts.last
    if not last:
        return first, None, None
    infix, surname = split_infix(last)
    return first, infix, surname


def _hub_person_names(
    record: Mapping[str, Any], address: Mapping[str, Any] | None
) -> tuple[str | None, str]:
    """Qonto's first and last name for a hub person: a middle name made of particles is the
    tussenvoegsel and leads the last name; any other middle name is a given name and follows
    the first. A person without a last name has the full name split."""
    first, middle, last = (
        words(record.get("first_name")),
        words(record.get("middle_name")),
        words(record.get("last_name")),
    )
    if last:
        if middle and is_infix(middle):
            return first, join_name(middle, None, last)
        return words(join_name(first, middle, None)), last
    parts = split_name(str(record.get("name") or ""), country=(address or {}).get("country"))
    if not parts.last:
        raise SkipRecord("last_name_missing", "the person has no last name; Qonto needs one")
    if not parts.first:
        raise SkipRecord(
            "first_name_missing",
            f"the name '{record.get('name')}' has no first name Qonto could hold; fill in the "
            "person's first and last name",
        )
    return join_name(parts.first, parts.middle, None), parts.last


# ---------------------------------------------------------------------------- invoices

DEFAULT_UNITS: dict[str, str] = {
    "hour": "hour", "day": "day", "week": "week", "month": "month", "year": "year",
    "unit": "pcs", "piece": "pcs", "meter": "m", "kilogram": "kg", "gram": "g", "liter": "l",
}  # fmt: skip
"""Qonto's free-text units that are mapped to hub units when a connection starts; the
connection's ``unit_mapping`` adds to them and overrides them."""

STATUSES = {"draft": "draft", "unpaid": "booked", "paid": "paid", "canceled": "cancelled"}
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
PERCENT_PLACES = 10
"""Most decimals an absolute discount's percentage is given (see ``percentage_of``)."""


def money(value: Any) -> Decimal | None:
    """``{"value": "12.50", "currency": "EUR"}`` (or a bare number) as a decimal."""
    if isinstance(value, Mapping):
        value = value.get("value")
    return None if value is None or value == "" else Decimal(str(value))


def content_key(invoice: Mapping[str, Any]) -> str:
    """What tells an invoice we created apart when Qonto cannot be asked by our id or number:
    its client, dates, currency and items (title, quantity, unit price, VAT rate), as one
    digest. The same for the payload we sent and for the invoice Qonto stored from it."""
    client = invoice.get("client_id") or (invoice.get("client") or {}).get("id")
    items = [
        [str(item.get("title") or ""), dec(item.get("quantity")),
         dec(money(item.get("unit_price"))), dec(item.get("vat_rate"))]
        for item in invoice.get("items") or []
    ]  # fmt: skip
    content = [str(client), str(invoice.get("issue_date")), str(invoice.get("due_date")),
               str(invoice.get("currency")), items]  # fmt: skip
    digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    return f"content:{digest}"


_MISSING_GROUP = re.compile(
    r"has VAT rate (?P<rate>[0-9.]+)%(?: for country (?P<country>[A-Z]{2})\b|, which no VAT "
    r"group of (?P<home>[A-Z]{2}) has)?"
)


def missing_vat_group(message: str) -> str | None:
    """The VAT group a ``vat_group_missing`` skip waits for, as its message names it: its rate
    and country ("21% NL"), the rate alone while the country is unknown; None when the message
    names no rate. A screen counts the invoices waiting for each group by it."""
    found = list(_MISSING_GROUP.finditer(message))
    if not found:
        return None
    last = found[-1]  # the line's title, quoted before it, cannot be taken for it
    country = last.group("country") or last.group("home")
    return f"{last.group('rate')}% {country}" if country else f"{last.group('rate')}%"


class Codes:
    """A connection's VAT groups and units: VAT groups are found by rate and country (the
    organization's country, ``home_country``, for charged rates), units by the mapping; a
    missing one is a skip that names what to add, never a guess."""

    def __init__(
        self,
        vat_groups: list[Mapping[str, Any]] | None = None,
        unit_mapping: Mapping[str, str] | None = None,
        home_country: str | None = None,
    ) -> None:
        self.home_country = (home_country or "").upper() or None
        self.groups = {
            (Decimal(str(g["rate"])), str(g["country"]).upper()): str(g["code"])
            for g in vat_groups or []
        }
        self.rates = {code: rate for (rate, _), code in self.groups.items()}
        units = {**DEFAULT_UNITS, **(unit_mapping or {})}
        self.units = CodeTable("Qonto", "unit", "unit_mapping", units)

    def vat_country(self, rate: Decimal, client_country: str | None) -> str | None:
        """Whose VAT a rate is: a charged rate is the organization's own country's; a zero
        rate (reverse charge, export) is the client's country."""
        if rate and self.home_country:
            return self.home_country
        return client_country

    def vat_group(self, rate: Decimal, country: str | None, what: str) -> str:
        code = self.groups.get((rate, (country or "").upper()))
        if code is None:
            raise SkipRecord(
                "vat_group_missing",
                f"{what} has VAT rate {dec(rate)}% for country {country or '(none)'}, and no VAT "
                "group matches that rate and country; add one to the connection's vat_groups "
                "and the invoice syncs by itself",
            )
        return code

    def check_charged(self, rate: Decimal, what: str) -> None:
        """A rate is sent only when a VAT group of the organization's country has it: Qonto
        invoices the VAT rates of its organization's country, so another would be refused, or
        booked at a rate the books do not know, and the invoice would come back without a VAT
        group. A zero rate (exempt, reverse charge, export) is every country's. While the
        country is unknown, a group of that rate of any country will do."""
        if not rate:
            return
        countries = {country for known, country in self.groups if known == rate}
        if self.home_country in countries or (self.home_country is None and countries):
            return
        country = self.home_country
        of = f" of {country}" if country else ""
        known = sorted({r for r, c in self.groups if r and country in (None, c)})
        listed = ", ".join(f"{dec(r)}%" for r in known) or "none"
        raise SkipRecord(
            "vat_group_missing",
            f"{what} has VAT rate {dec(rate)}%, which no VAT group{of} has "
            f"(settings.vat_groups{of}: {listed}); Qonto accepts only the VAT rates of the "
            "organization's country, so the invoice is held, not sent. Correct the line's VAT "
            f"rate in the invoice, or add a VAT group{of} with that rate to settings.vat_groups "
            f"if it is one of {country or 'the country'}'s rates; the invoice then syncs by "
            "itself",
        )


INVOICE_PARTY = linked("invoice", "party_id", "customers")
CREDITED_INVOICE = linked("invoice", "credits_invoice_id", "invoices", required=True)
"""Qonto makes no credit note without the invoice it credits."""


class InvoiceMapping(EntityMapping):
    """Qonto client invoices both ways. Hub invoices go out as drafts, which Qonto numbers when
    they are finalized there; only drafts can be changed. The currency is the client's in
    Qonto, which converts prices sent in another one.

    Qonto's invoice discount is the hub's document discount and an item's discount the line's;
    an absolute one becomes a percentage (``percentage_of``). The subject is
    ``Invoice_<number>``, inbound only. Qonto has no product on an item: the engine finds the
    hub product by the item's title and VAT rate, and the line's purchase price is that
    product's (``product_lookup``).
    """

    entity = "invoice"
    remote_entity = "client invoice"
    business_key_field = "number"
    fields = frozenset(
        {"number", "subject", "party_id", "kind", "date", "due_date", "payment_term_days",
         "currency", "status", "lines", "discount_percent", "amount_open"}
    )  # fmt: skip
    fixed_remotely = frozenset({"client_not_invoiceable"})
    """Its customer, completed in the app, reaches Qonto by itself; the invoice follows."""
    references: tuple[Reference, ...] = (INVOICE_PARTY,)
    incremental = True
    product_lookup = ProductLookup(copies=(("purchase_price", "purchase_price"),))

    def __init__(self, codes: Codes, iban: Callable[[], str | None]) -> None:
        self.codes = codes
        self.iban = iban

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        client_id = remote.get("client_id") or (remote.get("client") or {}).get("id")
        return {"party_id": ("customers", str(client_id)) if client_id else None}

    def to_canonical(
        self,
        remote: JSON,
        refs: Mapping[str, str | None],
        originals: list[JSON] | None = None,
    ) -> JSON:
        issue, due = remote.get("issue_date"), remote.get("due_date")
        what = f"{self.remote_entity} {remote.get('number') or remote['id']}"
        lines = self._lines_in(remote, what, originals)
        total, paid = money(remote.get("total_amount")), money(remote.get("amount_paid"))
        status = str(remote.get("status") or "draft")
        number = words(remote.get("number"))
        return {
            "kind": "invoice",
            "number": number,
            "subject": f"Invoice_{number}" if number else None,
            "discount_percent": dec(_document_discount(remote)) or "0",
            "party_id": refs.get("party_id"),
            "date": issue,
            "due_date": due,
            "payment_term_days": _days(issue, due),
            "currency": words(remote.get("currency")),
            "status": STATUSES.get(status, "booked"),
            "lines": lines,
            "amount_open": _open_amount(status, total, paid),
        }

    def project(self, record: JSON, refs: Mapping[str, RemoteRef | None]) -> JSON:
        """The round trip through a draft. The wire carries no client country, so each line
        keeps the hub's VAT group when its rate is that group's rate."""
        payload = self.from_canonical(record, None, refs)
        back = {ref.field: record.get(ref.field) for ref in self.references}
        wire = {**payload, "id": record.get("id") or "", "status": "draft"}
        originals = list(record.get("lines") or [])
        projected = self.to_canonical(wire, back, originals)
        return projected

    def _lines_in(self, remote: JSON, what: str, originals: list[JSON] | None = None) -> list[JSON]:
        items = list(remote.get("items") or [])
        country = words(((remote.get("client") or {}).get("billing_address") or {}).get(
            "country_code"
        )) or words((remote.get("client") or {}).get("country_code"))  # fmt: skip
        lines: list[JSON] = []
        for number, item in enumerate(items, start=1):
            rate = Decimal(str(item.get("vat_rate") or "0")) * HUNDRED
            lines.append(
                {
                    "line_number": number,
                    "description": words(item.get("title")),
                    "extra_description": words(item.get("description")),
                    "quantity": dec(item.get("quantity")) or "0",
                    "unit": self.codes.units.to_hub(words(item.get("unit"))),
                    "unit_price": dec(money(item.get("unit_price"))) or "0",
                    "discount_percent": dec(_line_discount(item)) or "0",
                    "vat_rate": dec(rate),
                    "vat_code": (
                        self._hub_group(originals, number - 1, rate)
                        if originals is not None
                        else self.codes.vat_group(rate, self.codes.vat_country(rate, country), what)
                    ),
                }
            )
        return lines

    def _hub_group(self, originals: list[JSON], index: int, rate: Decimal) -> str | None:
        code = originals[index].get("vat_code") if index < len(originals) else None
        return code if code is not None and self.codes.rates.get(str(code)) == rate else None

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        if record.get("kind") == "credit_note":
            raise SkipRecord(
                "credit_note_not_sent", "credit notes are made in Qonto and only pulled"
            )
        if current is not None and current.get("status") not in (None, "draft"):
            raise SkipRecord(
                "invoice_finalized",
                f"invoice {current.get('number')} is finalized in Qonto and cannot be changed",
            )
        if record.get("status") == "cancelled":
            # Nothing to bill: a cancelled invoice never becomes a Qonto draft, and a draft
            # already there is not deleted (deletes are not propagated).
            raise SkipRecord(
                "invoice_cancelled",
                "the invoice is cancelled in the hub, so it is not sent to Qonto; a draft of "
                "it sent before stays there (deletes are not propagated): delete the draft in "
                "Qonto",
            )
        party = target_of(refs, self.entity, "party_id")
        issue = str(record["date"])
        due = record.get("due_date")
        if due is None:
            days = int(record.get("payment_term_days") or 0)
            due = (date.fromisoformat(issue) + timedelta(days=days)).isoformat()
        currency = str(record.get("currency"))
        payload: JSON = {
            "client_id": party[1],
            "issue_date": issue,
            "due_date": due,
            "currency": currency,
            "payment_methods": {"iban": self.iban()},
            "items": [
                self._line_out(number, line, currency)
                for number, line in enumerate(record.get("lines") or [], start=1)
            ],
            "discount": _discount_out(record.get("discount_percent")),
        }
        if record.get("number"):
            payload["number"] = record["number"]
        if current and current.get("id"):
            payload["id"] = current["id"]
        if record.get("id"):
            payload[HUB_ID] = str(record["id"])
        return payload

    def _line_out(self, number: int, line: Mapping[str, Any], currency: str) -> JSON:
        rate = line.get("vat_rate")
        if rate is None and line.get("vat_code") in self.codes.rates:
            rate = self.codes.rates[str(line["vat_code"])]
        if rate is None:
            raise SkipRecord(
                "vat_rate_missing",
                f"line '{line.get('description')}' has no VAT rate; Qonto needs one per line",
            )
        self.codes.check_charged(
            Decimal(str(rate)), f"line {number} ('{line.get('description') or '-'}')"
        )
        item: JSON = {
            "title": line.get("description") or "-",
            "quantity": dec(line.get("quantity")),
            "unit": self.codes.units.from_hub(line.get("unit")),
            "unit_price": {"value": dec(line.get("unit_price")), "currency": currency},
            "vat_rate": dec(Decimal(str(rate)) / HUNDRED),
        }
        if line.get("extra_description"):
            item["description"] = line["extra_description"]
        discount = _discount_out(line.get("discount_percent"))
        if discount:
            item["discount"] = discount
        return item

    def in_scope(self, record: JSON) -> bool:
        """The hub's invoices; its credit notes are the credit_notes stream's (Qonto makes
        them, and the hub only pulls them)."""
        return record.get("kind") != "credit_note"

    def payload_key(self, payload: JSON) -> str | None:
        return content_key(payload)

    def adopt_assigned(self, record: JSON, stored: JSON) -> JSON:
        """Qonto's number; and when Qonto converted the invoice to its client's currency
        (an invoice sent in USD to a EUR client is a EUR invoice there), the currency and the
        prices it invoiced, so the hub shows what the customer was billed."""
        adopted = {**record, "number": stored.get("number") or record.get("number")}
        lines, kept = list(record.get("lines") or []), list(stored.get("lines") or [])
        if stored.get("currency") in (None, record.get("currency")) or len(lines) != len(kept):
            return adopted
        adopted["currency"] = stored["currency"]
        adopted["lines"] = [
            {**line, "unit_price": ours.get("unit_price")}
            for line, ours in zip(lines, kept, strict=True)
        ]
        if stored.get("amount_open") is not None:
            adopted["amount_open"] = stored["amount_open"]
        return adopted


def currency_note(sent: JSON, stored: JSON) -> JSON | None:
    """Why an invoice Qonto made is not in the currency sent: Qonto invoices in its client's
    currency, converting at its own rate; what to change when that is not what was meant."""
    asked, billed = sent.get("currency"), stored.get("currency")
    if not asked or not billed or asked == billed:
        return None
    return {
        "reason": "currency_converted_by_qonto",
        "message": f"Qonto made the invoice in {billed}, the client's currency in Qonto, not "
        f"{asked}, converting its prices at Qonto's rate; the hub now shows it in {billed}. To "
        f"invoice this client in {asked}, set the client's currency in Qonto, then make the "
        "invoice again",
    }


class CreditNoteMapping(InvoiceMapping):
    """Qonto credit notes, pulled periodically as negative hub invoices of kind credit note,
    linked to the invoice they credit. Qonto is master: hub changes are not sent."""

    remote_entity = "credit note"
    references = (INVOICE_PARTY, CREDITED_INVOICE)
    fields = InvoiceMapping.fields | {"credits_invoice_id"}
    outbound = False
    read_only_reason = "qonto_master"

    def in_scope(self, record: JSON) -> bool:
        """Only the hub's credit notes: its invoices are the invoices stream's."""
        return record.get("kind") == "credit_note"

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        refs = super().remote_refs(remote)
        invoice_id = remote.get("invoice_id")
        refs["credits_invoice_id"] = ("invoices", str(invoice_id)) if invoice_id else None
        return refs

    def to_canonical(
        self,
        remote: JSON,
        refs: Mapping[str, str | None],
        originals: list[JSON] | None = None,
    ) -> JSON:
        canonical = super().to_canonical(
            {**remote, "status": "unpaid", "due_date": remote.get("issue_date")}, refs, originals
        )
        canonical.update(
            kind="credit_note",
            credits_invoice_id=refs.get("credits_invoice_id"),
            status="booked",
            amount_open=None,
        )
        return canonical


def _open_amount(status: str, total: Decimal | None, paid: Decimal | None) -> str | None:
    """What is still owed: nothing on a draft (not billed yet) and none on a cancelled invoice
    (cancelled, or fully credited, which Qonto cancels), else the total less what was paid."""
    if total is None or status == "draft":
        return None
    if status == "canceled":
        return "0"
    return str(total - (paid or 0))


def _days(issue: Any, due: Any) -> int | None:
    if not issue or not due:
        return None
    return (date.fromisoformat(str(due)) - date.fromisoformat(str(issue))).days


def percentage_of(amount: Decimal, base: Decimal) -> Decimal:
    """An absolute discount as a percentage of what it discounts: exact when that is a
    decimal of at most ``PERCENT_PLACES`` places (5 off 200 is 2.5 %), else the shortest one
    that gives the amount back to the cent on that base (10 off 300 is 3.3333 %). Beyond ten
    places (bases over about 50 million) it is rounded to ten. Nothing to discount, nothing
    off; never above 100 %, as Qonto never discounts more than the base."""
    if not base:
        return Decimal(0)
    with localcontext() as context:
        context.prec = 80
        exact = min(abs(amount / base) * HUNDRED, HUNDRED)
        wanted = abs(amount).quantize(CENT, ROUND_HALF_UP)
        for places in range(PERCENT_PLACES + 1):
            share = exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
            if (
                share == exact
                or (abs(base) * share / HUNDRED).quantize(CENT, ROUND_HALF_UP) == wanted
            ):
                return share
    return share


def _line_discount(item: Mapping[str, Any]) -> Decimal:
    """An item's discount as a percentage of its quantity × unit price."""
    discount = item.get("discount")
    if not isinstance(discount, Mapping) or discount.get("value") in (None, ""):
        return Decimal(0)
    value = Decimal(str(discount["value"]))
    if discount.get("type") == "absolute":
        gross = Decimal(str(item.get("quantity") or 0)) * (money(item.get("unit_price")) or 0)
        return percentage_of(value, gross)
    return value * HUNDRED


def _document_discount(remote: Mapping[str, Any]) -> Decimal:
    """The invoice's discount as a percentage of the items' subtotals (after their own
    discounts), on which Qonto takes it."""
    discount = remote.get("discount")
    if not isinstance(discount, Mapping) or discount.get("value") in (None, ""):
        return Decimal(0)
    value = Decimal(str(discount["value"]))
    if discount.get("type") == "absolute":
        items = remote.get("items") or []
        subtotal = sum((money(i.get("subtotal")) or Decimal(0) for i in items), Decimal(0))
        return percentage_of(value, subtotal)
    return value * HUNDRED


def _discount_out(percent: Any) -> JSON | None:
    """A hub discount percentage as Qonto's ``{"type": "percentage", "value": "0.05"}``; none
    is sent as null, so that a discount removed in the hub is removed in Qonto too."""
    value = Decimal(str(percent or 0))
    return {"type": "percentage", "value": dec(value / HUNDRED)} if value else None
