"""Uniconta ⇄ canonical mapping: pure functions over JSON dicts, table-tested.

Uniconta's OData serialises enum properties by member name (``"Country": "Denmark"``,
``"UserLanguage": "Danish"``, ``"Currency": "DKK"``, ``"Unit": "Piece"``); the canonical model
uses ISO codes and its own unit codes. VAT codes and units are mapped per connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ledgerbridge.connectors.base import (
    JSON,
    ROW_ISSUE,
    EntityMapping,
    NumberSequence,
    RemoteRef,
    SkipRecord,
)
from ledgerbridge.connectors.kit.codes import CodeTable
from ledgerbridge.connectors.kit.records import booked_then_withdrawn, booked_with_lines
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.kit.values import dec, named, person_address, text, texts, wire
from ledgerbridge.model import normalize_country
from ledgerbridge.model.invoice import fold_document_discount

COUNTRY_BY_ISO: dict[str, str] = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BG": "Bulgaria", "CA": "Canada",
    "CH": "Switzerland", "CN": "China", "CY": "Cyprus", "CZ": "CzechRepublic", "DE": "Germany",
    "DK": "Denmark", "EE": "Estonia", "ES": "Spain", "FI": "Finland", "FO": "FaroeIslands",
    "FR": "France", "GB": "UnitedKingdom", "GL": "Greenland", "GP": "Guadeloupe", "GR": "Greece",
    "HR": "Croatia", "HU": "Hungary", "IE": "Ireland", "IN": "India", "IS": "Iceland",
    "IT": "Italy", "JP": "Japan", "LI": "Liechtenstein", "LT": "Lithuania", "LU": "Luxembourg",
    "LV": "Latvia", "MC": "Monaco", "MT": "Malta", "NL": "Netherlands", "NO": "Norway",
    "NZ": "NewZealand", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "RS": "Serbia",
    "RU": "Russia", "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia", "TR": "Türkiye",
    "US": "UnitedStates", "VN": "Vietnam",
}  # fmt: skip
"""ISO 3166 code → Uniconta ``CountryCode`` member name, for every member whose name is known
(docs/sandbox-uniconta.md says which are verified). Uniconta has a member for every country;
a connection names the others in ``country_mapping``, else they are ``country_unmapped``."""
ISO_BY_COUNTRY = {name: iso for iso, name in COUNTRY_BY_ISO.items()}

NO_COUNTRY = "Unknown"
"""The ``CountryCode`` member of an account whose country is not set."""

_MEMBER = re.compile(r"[^\W\d]\w*")
"""A .NET enum member name: one word (``UnitedStates``, ``Türkiye``)."""


def _member_name(name: str) -> str:
    if not _MEMBER.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a Uniconta country name: those are one word, as Uniconta shows "
            "them (UnitedStates, CzechRepublic)"
        )
    if name == NO_COUNTRY:
        raise ValueError(f"{NO_COUNTRY} is Uniconta's name for no country")
    return name


def _one_code_per_name(mapping: dict[str, str]) -> dict[str, str]:
    """Each name reads back as one code, so a name already the table's for another code
    (that the mapping does not change) is refused."""
    names: dict[str, str] = {}
    for code, name in sorted({**COUNTRY_BY_ISO, **mapping}.items()):
        other = names.setdefault(name, code)
        if other != code:
            given = code if code in mapping else other
            taken = other if given == code else code
            raise ValueError(
                f"{given}: {name!r} is already the Uniconta country of {taken}; a Uniconta "
                f"country is read back as one code (map {taken} to another name too, if "
                f"{name!r} is {given}'s)"
            )
    return mapping


CountryMapping = Annotated[
    dict[
        Annotated[str, AfterValidator(normalize_country)],
        Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_member_name)],
    ],
    AfterValidator(_one_code_per_name),
]
"""A connection's ``country_mapping``: ISO 3166 code → Uniconta country name, over the
known table."""

LANGUAGE_BY_CODE: dict[str, str] = {
    "da": "Danish", "en": "English", "de": "German", "sv": "Swedish", "nb": "Norwegian",
    "no": "Norwegian", "nl": "Dutch", "fr": "French", "fi": "Finnish", "is": "Icelandic",
    "es": "Spanish", "it": "Italian", "pl": "Polish", "fo": "Faroese", "et": "Estonian",
    "lt": "Lithuanian", "lv": "Latvian",
}  # fmt: skip
CODE_BY_LANGUAGE = {name: code for code, name in LANGUAGE_BY_CODE.items() if code != "no"}

COMMON_UNITS: dict[str, str] = {
    "Piece": "pcs", "Hours": "hour", "Day": "day", "Week": "week", "Month": "month",
    "Year": "year", "Kg": "kg", "Gram": "g", "Tonne": "t", "Litre": "l", "Meter": "m",
    "SquareMeter": "m2", "CubicMeter": "m3", "Km": "km", "Box": "box", "Set": "set",
    "Pack": "pack", "Pair": "pair", "Pallet": "pallet", "Roll": "roll",
}  # fmt: skip
"""Uniconta ``ItemUnit`` members pre-mapped to canonical units; connections may add more."""

DEFAULT_PAYMENT_TERMS: dict[str, int] = {"Netto 8": 8, "Netto 14": 14, "Netto 30": 30}
"""Uniconta payment term codes and their days; connections may add their own."""

READY_STATUSES = frozenset({"sent", "booked", "paid"})
"""Hub invoice statuses of an invoice the app has issued: only such an invoice is posted when
the connection posts; a draft goes in as an order, and is posted once it becomes one of these."""

AWAIT_BOOKING = "await_booking"
"""Marks an order the hub wants booked while no booking service is configured: it is left
ready to book in Uniconta, with the issue ``awaiting_manual_booking``."""

INVOICE_REF_PREFIX = "LB-"
"""``OurRef`` of orders created from the hub: the hub invoice id, so an order whose creation
went unanswered is found again instead of being created twice."""


def num(value: Any) -> float | None:
    """A canonical decimal as a JSON number for the wire (Uniconta takes doubles)."""
    return None if value is None else float(Decimal(str(value)))


def iso_date(value: Any) -> str | None:
    return None if value is None else str(value)[:10]


class Countries:
    """ISO 3166 codes ⇄ Uniconta's country names: the known table with a connection's
    ``country_mapping`` over it. A country in neither is skipped with ``country_unmapped``,
    never guessed."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.names = {**COUNTRY_BY_ISO, **(mapping or {})}
        self.codes = {name: code for code, name in self.names.items()}

    def to_iso(self, name: str | None) -> str | None:
        """An account's ``CountryCode`` as the hub's ISO code; ``Unknown`` is no country."""
        if name is None or name == NO_COUNTRY:
            return None
        try:
            return self.codes[name]
        except KeyError:
            raise SkipRecord(
                "country_unmapped",
                f"Uniconta country '{name}' has no ISO 3166 code here: add it to "
                f'settings.country_mapping under its code (as {{"BR": "Brazil"}}), and the '
                "record syncs by itself; or correct the account's country in Uniconta, or "
                "clear it to sync the account without one",
            ) from None

    def from_iso(self, code: str | None) -> str | None:
        """A hub ISO country code as the ``CountryCode`` member Uniconta accepts."""
        if code is None:
            return None
        try:
            return self.names[code]
        except KeyError:
            raise SkipRecord(
                "country_unmapped",
                f"country '{code}' has no Uniconta name here: add it to "
                f'settings.country_mapping with the name Uniconta gives it ({{"{code}": '
                '"<its name in Uniconta>"}, one word as UnitedStates), and the record syncs '
                "by itself; or correct the party's country in the hub, or clear it to sync "
                "the party without one",
            ) from None


def _address_in(remote: JSON, prefix: str, countries: Countries) -> JSON | None:
    address = {
        "line1": text(remote.get(f"{prefix}Address1")),
        "line2": text(remote.get(f"{prefix}Address2")),
        "line3": text(remote.get(f"{prefix}Address3")),
        "postal_code": text(remote.get(f"{prefix}ZipCode")),
        "city": text(remote.get(f"{prefix}City")),
        "country": countries.to_iso(text(remote.get(f"{prefix}Country"))),
    }
    if not any(address.values()):
        return None
    return {k: v for k, v in address.items() if v is not None}


def _address_out(address: JSON | None, prefix: str, countries: Countries) -> JSON:
    address = address or {}
    return {
        f"{prefix}Address1": address.get("line1"),
        f"{prefix}Address2": address.get("line2"),
        f"{prefix}Address3": address.get("line3"),
        f"{prefix}ZipCode": address.get("postal_code"),
        f"{prefix}City": address.get("city"),
        f"{prefix}Country": countries.from_iso(address.get("country")),
    }


class Codes:
    """A connection's code tables: VAT codes (Uniconta → hub), units, payment terms,
    countries, and the VAT rates Uniconta holds. Unmapped codes are skips with a reason,
    never guesses."""

    def __init__(
        self,
        vat_mapping: Mapping[str, str] | None = None,
        unit_mapping: Mapping[str, str] | None = None,
        payment_terms: Mapping[str, int] | None = None,
        vat_rates: Mapping[str, str] | None = None,
        country_mapping: Mapping[str, str] | None = None,
    ) -> None:
        units = {**COMMON_UNITS, **(unit_mapping or {})}
        terms = {**DEFAULT_PAYMENT_TERMS, **(payment_terms or {})}
        self.vat = CodeTable("Uniconta", "VAT code", "vat_mapping", vat_mapping)
        self.units = CodeTable("Uniconta", "unit", "unit_mapping", units, blank=("None",))
        self.terms = CodeTable("Uniconta", "payment term", "payment_terms", terms, shown=term_days)
        self.countries = Countries(country_mapping)
        self.vat_rates = dict(vat_rates or {})

    def rate(self, uniconta_code: str | None) -> str | None:
        return self.vat_rates.get(uniconta_code) if uniconta_code else None

    def vat_to_hub(self, code: str | None, what: str) -> str | None:
        """A line's VAT code for the hub: through ``vat_mapping`` when it is mapped there,
        else Uniconta's own code when the company has it (a webshop flow books with
        Uniconta's codes: U25, U_DE19, UEUV), else unmapped."""
        if code is not None and code not in self.vat.codes and code in self.vat_rates:
            return code
        return self.vat.to_hub(code, what)

    def vat_from_hub(self, code: str | None) -> str | None:
        """A hub VAT code for Uniconta: translated when ``vat_mapping`` maps it, sent as it is
        when it is one of the company's own codes, else ``vat_code_unmapped``."""
        if code is not None and not self.vat.knows(code) and code in self.vat_rates:
            return code
        if code is not None and not self.vat.knows(code):
            raise SkipRecord(
                self.vat.reason,
                f"VAT code {code!r} is neither one of the company's VAT codes in Uniconta nor "
                "mapped in settings.vat_mapping: create it in Uniconta (an OSS code per "
                "country and rate, as U_DE19), then retry the connection's issues; or map it, "
                "and the record syncs by itself",
            )
        return self.vat.from_hub(code)


def term_days(term: int) -> str:
    return f"of {term} days"


ACCOUNT_TEXTS: dict[str, str] = {
    "email": "ContactEmail",
    "invoice_email": "InvoiceEmail",
    "phone": "Phone",
    "mobile_phone": "MobilPhone",
    "website": "Www",
    "vat_number": "VatNumber",
    "organisation_number": "CompanyRegNo",
    "gln": "EAN",
    "currency": "Currency",
}
"""An account's text fields: hub field → Uniconta property."""

VAT_ZONES = {"domestic": "Domestic", "eu": "EU", "abroad": "Foreign"}
"""Hub VAT zone → Uniconta's ``VatZones`` member."""
ZONES_IN = {zone: hub for hub, zone in VAT_ZONES.items()}


class AccountMapping(EntityMapping):
    """Debtors and creditors share one shape in Uniconta: an account of a party.

    ``number_field`` is the canonical number the ``Account`` key carries (debtor or creditor
    number) and ``role_field`` the role the account implies (customer or supplier).
    """

    entity = "party"
    base_fields = frozenset(
        {
            "name", "email", "invoice_email", "phone", "mobile_phone", "website",
            "billing_address", "delivery_address", "vat_number", "organisation_number", "gln",
            "currency", "locale", "active",
        }
    )  # fmt: skip

    debtor_fields = frozenset({"customer_group", "vat_zone"})
    """What only a debtor carries: the customer group and VAT zone a webshop chooses per
    customer kind (B2C, B2B, EAN)."""

    def __init__(
        self, remote_entity: str, number_field: str, role_field: str, codes: Codes | None = None
    ) -> None:
        self.countries = (codes or Codes()).countries
        self.remote_entity = remote_entity
        self.number_field = number_field
        self.business_key_field = number_field
        self.role_field = role_field
        self.debtor = number_field == "debtor_number"
        self.fields = self.base_fields | {number_field, role_field}
        if self.debtor:
            self.fields |= self.debtor_fields
            # A customer that comes without a number (a webshop's) gets the next one.
            self.sequence = NumberSequence(field="debtor_number", setting="debtor_numbers")
        else:
            # A supplier does too, once the connection has creditor_numbers (no default:
            # creditor numbering is each company's own).
            self.sequence = NumberSequence(field="creditor_number", setting="creditor_numbers")

    def remote_id(self, remote: JSON) -> str:
        return str(remote["Account"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        name = named(remote.get("Name"), f"account {remote.get('Account')}")
        language = text(remote.get("UserLanguage"))
        return {
            self.number_field: text(remote.get("Account")),
            self.role_field: True,
            "name": name,
            **texts(remote, ACCOUNT_TEXTS),
            "billing_address": _address_in(remote, "", self.countries),
            "delivery_address": _address_in(remote, "Delivery", self.countries),
            "locale": CODE_BY_LANGUAGE.get(language) if language else None,
            "active": not bool(remote.get("Blocked", False)),
            **(
                {"customer_group": text(remote.get("Group")),
                 "vat_zone": ZONES_IN.get(str(remote.get("VatZone")))}
                if self.debtor else {}
            ),
        }  # fmt: skip

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        number = text(record.get(self.number_field))
        if number is None:
            label = self.number_field.replace("_", " ")
            hint = "" if self.debtor else "; or set creditor_numbers and retry"
            raise SkipRecord(
                f"{self.number_field}_missing",
                f"the party has no {label}; Uniconta needs one as the account key: give it "
                f"one and it syncs by itself{hint}",
            )
        locale = record.get("locale")
        language = LANGUAGE_BY_CODE.get(locale.split("-")[0].lower()) if locale else None
        payload: JSON = dict(current or {})
        payload.update(
            {
                "Account": number,
                "Name": record.get("name"),
                **wire(record, ACCOUNT_TEXTS),
                "UserLanguage": language,
                "Blocked": not record.get("active", True),
                **_address_out(_main_address(record), "", self.countries),
                **_address_out(record.get("delivery_address"), "Delivery", self.countries),
            }
        )
        if self.debtor:
            zone = record.get("vat_zone")
            payload["Group"] = record.get("customer_group") or payload.get("Group")
            payload["VatZone"] = VAT_ZONES[zone] if zone else payload.get("VatZone")
        return payload

    def in_scope(self, record: JSON) -> bool:
        return bool(record.get(self.role_field))

    def defaults(self) -> JSON:
        return {"kind": "organisation"}


class DebtorMapping(AccountMapping):
    """Customers as Uniconta's debtors. The class names its records, so that a record's history
    (which has no connection's mapping at hand) calls a create step what Uniconta calls it."""

    remote_entity = "debtor"

    def __init__(self, codes: Codes | None = None) -> None:
        super().__init__("debtor", "debtor_number", "is_customer", codes)


class CreditorMapping(AccountMapping):
    """Suppliers as Uniconta's creditors (see ``DebtorMapping``)."""

    remote_entity = "creditor"

    def __init__(self, codes: Codes | None = None) -> None:
        super().__init__("creditor", "creditor_number", "is_supplier", codes)


def _main_address(record: JSON) -> JSON | None:
    """The account's address (``Address1``…): an organisation's billing address; a person's one
    address (``person_address``), which an app may have given as the postal one."""
    if record.get("kind") == "person":
        return person_address(record)
    return record.get("billing_address")


DC_TYPES = {"Debtor": "customers", "Creditor": "suppliers"}


class ContactMapping(EntityMapping):
    """Contact persons; each belongs to a debtor (or creditor) through ``DCType``/``DCAccount``.

    Contacts have no natural key in Uniconta, so the business key is the parent account and
    the name: how a contact whose creation went unanswered is found again.
    """

    entity = "contact_person"
    remote_entity = "contact"
    fields = frozenset({"party_id", "name", "email", "mobile_phone", "job_title"})
    references = (linked(entity, "party_id", "customers", "suppliers"),)

    def remote_id(self, remote: JSON) -> str:
        return str(remote["RowId"])

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        account = text(remote.get("DCAccount"))
        stream = DC_TYPES.get(str(remote.get("DCType") or "Debtor"))
        return {"party_id": (stream, account) if account and stream else None}

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        name = named(remote.get("Name"), f"contact {remote.get('RowId')}")
        return {
            "party_id": refs.get("party_id"),
            "name": name,
            "email": text(remote.get("Email")),
            "mobile_phone": text(remote.get("Mobil")),
            "job_title": text(remote.get("Title")),
        }

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        stream, account = target_of(refs, self.entity, "party_id")
        payload: JSON = dict(current or {})
        payload.update(
            {
                "DCType": "Debtor" if stream == "customers" else "Creditor",
                "DCAccount": account,
                "Name": record.get("name"),
                "Email": record.get("email"),
                "Mobil": record.get("mobile_phone"),
                "Title": record.get("job_title"),
            }
        )
        return payload

    def business_key(self, record: JSON) -> str | None:
        return None

    def payload_key(self, payload: JSON) -> str | None:
        return contact_key(payload)


def contact_key(payload: JSON) -> str:
    """Parent account and name: a contact's identity when it has no RowId yet."""
    return f"{payload.get('DCAccount')}\t{payload.get('Name')}"


class ProductMapping(EntityMapping):
    """Items. By default one way: Uniconta is master of products. A connection whose app is
    the master (``products_master: app``, a webshop's catalogue) also creates and updates
    them in Uniconta by SKU."""

    entity = "product"
    remote_entity = "item"
    business_key_field = "sku"
    fields = frozenset(
        {"sku", "name", "unit", "sales_price", "cost_price", "purchase_price", "currency",
         "vat_code", "ean", "active", "kind"}
    )  # fmt: skip
    outbound = False
    read_only_reason: str | None = "product_master_is_uniconta"

    def __init__(self, codes: Codes, *, master: str = "uniconta", group: str | None = None) -> None:
        self.codes = codes
        self.group = group
        self.own_codes = master == "app"
        """Items carry Uniconta's own VAT codes when the app is master; otherwise a code
        must be mapped in vat_mapping, as for every item read."""
        if master == "app":
            self.outbound = True
            self.read_only_reason = None

    def remote_id(self, remote: JSON) -> str:
        return str(remote["Item"])

    def _vat_in(self, code: str | None, what: str) -> str | None:
        if self.own_codes:
            return self.codes.vat_to_hub(code, what)
        return self.codes.vat.to_hub(code, what)

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        """An item as the app's catalogue has it; what the hub does not hold (cost, stock,
        Uniconta's own fields) stays as Uniconta has it."""
        payload: JSON = dict(current or {})
        payload.update(
            {
                "Item": record.get("sku"),
                "Name": record.get("name"),
                "SalesPrice1": num(record.get("sales_price")),
                "Currency1": record.get("currency"),
                "Unit": self.codes.units.from_hub(record.get("unit")),
                "Vat": self.codes.vat_from_hub(record.get("vat_code")),
                "EAN": record.get("ean"),
                "Blocked": not record.get("active", True),
            }
        )
        if current is None and self.group:
            payload["Group"] = self.group
        if current is None and record.get("kind") == "service":
            payload["ItemType"] = "Service"
        return payload

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        item = str(remote["Item"])
        return {
            "sku": item,
            "name": text(remote.get("Name")) or item,
            "unit": self.codes.units.to_hub(text(remote.get("Unit"))),
            "sales_price": dec(remote.get("SalesPrice1")),
            "cost_price": dec(remote.get("CostPrice")),
            "purchase_price": dec(remote.get("PurchasePrice")),
            "currency": text(remote.get("Currency1")),
            "vat_code": self._vat_in(text(remote.get("Vat")), f"item {item}"),
            "ean": text(remote.get("EAN")),
            "active": not bool(remote.get("Blocked", False)),
            "kind": "service" if remote.get("ItemType") == "Service" else "goods",
        }


class StockMapping(EntityMapping):
    """Stock per item and warehouse, one way, refreshed daily."""

    entity = "stock_level"
    remote_entity = "item stock"
    fields = frozenset({"product_id", "warehouse", "location", "quantity", "reserved",
                        "ordered", "available", "as_of"})  # fmt: skip
    references = (linked(entity, "product_id", "products"),)
    outbound = False
    read_only_reason = "stock_master_is_uniconta"

    def __init__(self, as_of: str) -> None:
        self.as_of = as_of

    def remote_id(self, remote: JSON) -> str:
        return f"{remote['Item']}|{remote.get('Warehouse') or ''}|{remote.get('Location') or ''}"

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        return {"product_id": ("products", str(remote["Item"]))}

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        qty = Decimal(str(remote.get("Qty") or 0))
        reserved = Decimal(str(remote.get("QtyReserved") or 0))
        return {
            "product_id": refs.get("product_id"),
            "warehouse": text(remote.get("Warehouse")),
            "location": text(remote.get("Location")),
            "quantity": dec(qty),
            "reserved": dec(reserved),
            "ordered": dec(remote.get("QtyOrdered") or 0),
            "available": dec(remote.get("Available", qty - reserved)),
            "as_of": self.as_of,
        }


class InvoiceMapping(EntityMapping):
    """Invoices both ways. Rows are composite: ``{"order": …, "lines": […]}`` for an order not
    yet posted, ``{"invoice": …, "lines": […]}`` for a posted invoice. A posted invoice's lines
    are read-only; its Date and payment term still sync.
    """

    entity = "invoice"
    remote_entity = "invoice"
    step_labels = MappingProxyType({
        "items": "invoice's items", "order": "sales order", "lines": "order lines",
        "post": "invoicing of the sales order", "read": "reading of the posted invoice",
        "posted_header": "update of the posted invoice",
    })  # fmt: skip
    business_key_field = "number"
    fixed_remotely = frozenset({"product_missing"})
    incremental = True
    """Posted invoices only ever get higher numbers: the hourly pull reads the new ones, and
    headers of those seen before to catch a changed date or payment term (see the
    connector's ``_read_invoices``)."""
    fields = frozenset(
        {"number", "party_id", "kind", "date", "due_date", "payment_term_days", "payment_term",
         "currency", "status", "lines", "credits_invoice_id", "reference", "delivery_address"}
    )  # fmt: skip
    references = (
        linked(entity, "party_id", "customers"),
        linked(entity, "credits_invoice_id", "invoices"),
    )
    resolves = frozenset({"awaiting_manual_booking", "invoice_generation_failed"})
    """The pull reads posted invoices only: an order left to book, or one Uniconta could not
    generate the invoice of, that it reads was booked (by hand)."""
    vat_rounding = "per_code"
    """Posting works out the VAT once per VAT code on the code's net total."""

    def __init__(self, codes: Codes, *, post: bool, booking: bool = True) -> None:
        self.codes = codes
        self.post = post
        self.booking = booking
        """Whether a booking service posts; without one an invoice to post stays an order
        ready to book in Uniconta (``AWAIT_BOOKING``)."""

    def remote_id(self, remote: JSON) -> str:
        if "invoice" in remote:
            return str(remote["invoice"]["InvoiceNumber"])
        return f"order:{remote['order']['OrderNumber']}"

    def remote_aliases(self, remote: JSON) -> list[str]:
        number = (remote.get("invoice") or {}).get("OrderNumber")
        return [f"order:{number}"] if number else []

    def finishes_when_deleted(self, record: JSON) -> bool:
        """A record that goes in as an order (a draft, or any invoice while the connection
        does not post), which its withdrawal deletes with its stock reservation."""
        return not (self.post and record.get("status") in READY_STATUSES)

    def withdrawable(self, remote_id: str) -> bool:
        """An order not posted yet: a draft, which reserves its items' stock."""
        return remote_id.startswith("order:")

    def remote_date(self, remote: JSON) -> str | None:
        posted = "invoice" in remote
        header = remote.get("invoice") or remote.get("order") or {}
        return iso_date(header.get("Date") if posted else header.get("InvoiceDate"))

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        header = remote.get("invoice") or remote.get("order") or {}
        account = text(header.get("Account"))
        settles = text(header.get("Settlements"))
        return {
            "party_id": ("customers", account) if account else None,
            "credits_invoice_id": ("invoices", settles) if settles else None,
        }

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        posted = "invoice" in remote
        header = remote["invoice"] if posted else remote["order"]
        lines = [self._line_in(i, line, posted) for i, line in enumerate(remote.get("lines", []))]
        invoice_date = iso_date(header.get("Date") if posted else header.get("InvoiceDate"))
        due = iso_date(header.get("DueDate"))
        term = text(header.get("Payment"))
        days = self.codes.terms.get(term)
        if days is None and due and invoice_date:
            days = (date.fromisoformat(due) - date.fromisoformat(invoice_date)).days
        # A term the day table does not know (a card term, Kort) is kept by its code.
        own_term = term if term is not None and self.codes.terms.get(term) is None else None
        total = sum((Decimal(str(ln["quantity"])) * Decimal(str(ln["unit_price"])) for ln in lines),
                    Decimal(0))  # fmt: skip
        canonical: JSON = {
            "number": str(header["InvoiceNumber"]) if posted else None,
            "party_id": refs.get("party_id"),
            "kind": "credit_note" if total < 0 else "invoice",
            "date": invoice_date,
            "due_date": due,
            "payment_term_days": days,
            "payment_term": own_term,
            "currency": text(header.get("Currency")),
            "lines": lines,
            "credits_invoice_id": refs.get("credits_invoice_id"),
            "reference": text(header.get("YourRef")),
            "delivery_address": _address_in(header, "Delivery", self.codes.countries),
        }
        if posted or remote.get("post") or remote.get(AWAIT_BOOKING):
            # An order that is to be posted projects as booked, so that an order whose
            # posting failed differs from it and is posted again on retry.
            canonical["status"] = "booked"
        if "lines" not in remote:
            # A posted invoice's header read again without its lines, which cannot change:
            # the lines and what follows from them stay as last synced.
            del canonical["lines"], canonical["kind"]
        return canonical

    def adopt_assigned(self, record: JSON, stored: JSON) -> JSON:
        """Once posted, the invoice is what Uniconta made of it: its number, due date and the
        lines as posted (units and rates filled in from the items), keeping the hub's product
        references. The posted lines carry the document discount, folded in when the order was
        sent, so the hub's becomes 0 and its totals stay the same. Only when it is posted: an
        invoice the hub already has as posted (booked, with its number) keeps its lines, so a
        line edit that Uniconta refused stays in the hub with its issue. A paid invoice (a card
        order paid at checkout) stays paid."""
        if stored.get("status") != "booked" or _posted_in_hub(record):
            return record
        adopted = {
            **record,
            **{name: stored[name] for name in ("number", "status", "due_date",
               "payment_term_days") if stored.get(name) is not None},
        }  # fmt: skip
        if record.get("status") == "paid":
            adopted["status"] = "paid"  # registered as paid: booking it does not undo that
        hub_lines = record.get("lines") or []
        adopted["lines"] = [
            {**(hub_lines[i] if i < len(hub_lines) else {}),
             **{k: v for k, v in line.items() if v is not None}}
            for i, line in enumerate(stored.get("lines") or [])
        ]  # fmt: skip
        adopted["discount_percent"] = "0"
        return adopted

    def _line_in(self, index: int, line: JSON, posted: bool) -> JSON:
        vat = text(line.get("Vat"))
        return {
            "line_number": index + 1,
            "sku": text(line.get("Item")),
            "description": text(line.get("Text")),
            "quantity": dec(line.get("InvoiceQty" if posted else "Qty")) or "0",
            "unit": self.codes.units.to_hub(text(line.get("Unit"))),
            "unit_price": dec(line.get("SalesPrice" if posted else "Price")) or "0",
            "discount_percent": dec(line.get("DiscountPct")) or "0",
            "vat_code": self.codes.vat_to_hub(vat, "an invoice line"),
            "vat_rate": self.codes.rate(vat),
        }

    def _line_out(self, line: JSON) -> JSON:
        return {
            "Item": line.get("sku"),
            "Text": line.get("description"),
            "Qty": num(line.get("quantity")),
            "Unit": self.codes.units.from_hub(line.get("unit")),
            "Price": num(line.get("unit_price")),
            "DiscountPct": num(line.get("discount_percent")) or 0.0,
            "Vat": self.codes.vat_from_hub(line.get("vat_code")),
        }

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        party = target_of(refs, self.entity, "party_id")
        credited = refs.get("credits_invoice_id")
        if credited and credited[1].startswith("order:") and record.get("status") != "draft":
            raise SkipRecord(
                "credited_invoice_pending",
                f"the credited invoice is still {credited[1].replace(':', ' ')} in Uniconta: a "
                "credit note settles against a booked invoice, so it follows once that is booked",
            )
        header = {
            "Account": party[1],
            "Currency": record.get("currency"),
            "Payment": record.get("payment_term")
            or self.codes.terms.from_hub(record.get("payment_term_days")),
            "YourRef": record.get("reference"),
            "Settlements": credited[1] if credited else None,
            **_address_out(record.get("delivery_address"), "Delivery", self.codes.countries),
        }
        # Uniconta orders have no document discount: it goes in each line's DiscountPct.
        lines = [self._line_out(line) for line in fold_document_discount(record)]
        if current is not None and "invoice" in current:
            return self._posted_update(record, current, lines)
        if record.get("number") is not None and record.get("status") != "draft":
            # The form a posted invoice comes back in (projection of a posted record).
            return {
                "invoice": {
                    **header,
                    "InvoiceNumber": int(record["number"]),
                    "Date": record.get("date"),
                    "DueDate": record.get("due_date"),
                },
                "lines": [
                    {**ln, "InvoiceQty": ln["Qty"], "SalesPrice": ln["Price"]} for ln in lines
                ],
            }
        order = dict((current or {}).get("order") or {})
        order.update(
            header,
            InvoiceDate=record.get("date"),
            Remark=record.get("notes"),
            OurRef=INVOICE_REF_PREFIX + str(record.get("id") or order.get("OurRef", "")[3:]),
        )
        to_post = self.post and _ready(record)
        if to_post:
            booked_with_lines(lines, "Uniconta")
        if to_post and not self.booking:
            return {"order": order, "lines": lines, "post": False, AWAIT_BOOKING: True}
        return {"order": order, "lines": lines, "post": to_post}

    def _posted_update(self, record: JSON, current: JSON, lines: list[JSON]) -> JSON:
        """After posting, only the header's Date, due date and payment term may change. They
        are sent even when the hub's lines differ from the posted ones; that line edit is
        refused with its own issue (``ROW_ISSUE``), which stays open while the lines differ."""
        posted_lines = [self._line_in(i, ln, True) for i, ln in enumerate(current["lines"])]
        wanted = [self._line_in(i, {**ln, "InvoiceQty": ln["Qty"], "SalesPrice": ln["Price"]},
                                True) for i, ln in enumerate(lines)]  # fmt: skip
        number = current["invoice"].get("InvoiceNumber")
        refusal = {
            "reason": "invoice_lines_readonly_after_posting",
            "message": f"invoice {number} is posted in Uniconta: its lines can no longer "
            "change; only the date and the payment term sync. Lines are changed before "
            "posting; now put its lines back as posted (this issue then closes), and to change "
            "what was invoiced make a credit note of it and a new invoice",
        }
        invoice = dict(current["invoice"])
        invoice.update(
            Date=record.get("date"),
            DueDate=record.get("due_date"),
            Payment=record.get("payment_term")
            or self.codes.terms.from_hub(record.get("payment_term_days")),
        )
        lines_differ = _comparable(posted_lines) != _comparable(wanted)
        if lines_differ and _header(invoice) == _header(current["invoice"]):
            raise SkipRecord(refusal["reason"], refusal["message"])
        payload: JSON = {"invoice": invoice, "lines": current["lines"]}
        if lines_differ:
            payload[ROW_ISSUE] = refusal
        return payload

    def business_key(self, record: JSON) -> str | None:
        # Orders created from the hub carry the hub id in OurRef; posted invoices their number.
        record_id = record.get("id")
        return INVOICE_REF_PREFIX + str(record_id) if record_id else text(record.get("number"))

    def payload_key(self, payload: JSON) -> str | None:
        """The hub id an order or invoice made from the hub carries in ``OurRef``."""
        header = payload.get("invoice") or payload.get("order") or {}
        reference = text(header.get("OurRef"))
        return reference if reference and reference.startswith(INVOICE_REF_PREFIX) else None

    def in_scope(self, record: JSON) -> bool:
        return record.get("status") != "cancelled"

    def left_scope(self, record: JSON) -> SkipRecord | None:
        return booked_then_withdrawn(record, "Uniconta")

    def scope_hint(self, record: JSON) -> str | None:
        return "it is cancelled, and a cancelled invoice is not sent to Uniconta"


def _posted_in_hub(record: JSON) -> bool:
    return record.get("number") is not None and record.get("status") in ("booked", "paid")


def _ready(record: JSON) -> bool:
    return record.get("status") in READY_STATUSES


def _header(invoice: JSON) -> tuple[Any, ...]:
    """A posted invoice's changeable header, with dates compared as days."""
    return (iso_date(invoice.get("Date")), iso_date(invoice.get("DueDate")), invoice.get("Payment"))


def _comparable(lines: list[JSON]) -> list[tuple[Any, ...]]:
    keys = ("sku", "description", "quantity", "unit", "unit_price", "discount_percent", "vat_code")
    return [tuple(dec(ln[k]) if k in ("quantity", "unit_price", "discount_percent") else ln[k]
                  for k in keys) for ln in lines]  # fmt: skip


class PaymentStatusMapping(EntityMapping):
    """Open items, one way, daily: an invoice is paid when its open amount reaches 0."""

    entity = "invoice"
    remote_entity = "open debtor entry"
    fields = frozenset({"amount_open", "status"})
    attach_to = "invoices"
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["Invoice"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        open_amount = dec(remote.get("AmountOpen")) or "0"
        paid = bool(remote.get("Paid")) or Decimal(open_amount) == 0
        return {"amount_open": open_amount, "status": "paid" if paid else "booked"}
