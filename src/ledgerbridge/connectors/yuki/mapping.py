"""Yuki ⇄ canonical mapping: pure functions over the rows the client reads, table-tested.

Rows and payloads share one shape: the element names of Yuki's contact search results
(``Code``, ``Name``, ``EMailWork``, ``PhoneHome``…), so a payload maps back exactly as Yuki
would return it. The connector turns a payload into the ``UpdateContact`` document.

Which Yuki element carries which hub field follows the integration's two tables (organisation
and person); the billing address is Yuki's address, the postal address its mail address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.connectors.base import (
    JSON,
    EntityMapping,
    NumberSequence,
    RemoteRef,
    SkipRecord,
)
from ledgerbridge.connectors.kit.codes import CodeTable
from ledgerbridge.connectors.kit.records import (
    booked_then_withdrawn,
    booked_with_lines,
    written_once,
)
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.kit.values import named, person_address, text, texts, wire
from ledgerbridge.model.invoice import fold_document_discount

CONTACT_TYPES = {"organisation": "Company", "person": "Person"}
KINDS = {wire: kind for kind, wire in CONTACT_TYPES.items()}
DIRECTIONS = ("both", "inbound", "outbound", "none")
ID_PREFIX = "id:"
"""Remote id of a Yuki contact without a relationship code: its Yuki id."""
NOTICE_REASON = "yuki_contact_type_manual"
NOT_CUSTOMER_REASON = "yuki_contact_not_customer"
"""An invoice waits (unsent) because Yuki does not show its contact as a customer yet."""
REFUSED_NOT_CUSTOMER = "yuki_invoice_refused_not_customer"
"""Yuki refused an invoice because the contact is not a customer (the box was cleared)."""
CODE_TAKEN = "debtor_number_taken"
"""A party is not sent under a debtor number another Yuki contact holds as its code."""

ORGANISATION_FIELDS: dict[str, str] = {
    "debtor_number": "Code",
    "name": "Name",
    "email": "EMailWork",
    "website": "Website",
    "phone": "PhoneHome",
    "organisation_number": "CoCNumber",
    "vat_number": "VATNumber",
}
"""The organisation table: hub field → Yuki element (addresses apart)."""
PERSON_FIELDS: dict[str, str] = {
    "debtor_number": "Code",
    "first_name": "FirstName",
    "last_name": "LastName",
    "name": "Name",
    "email": "EmailHome",
    "phone": "PhoneHome",
    "mobile_phone": "MobileHome",
}
"""The person table: hub field → Yuki element (the private address apart)."""
ADDRESS_ELEMENTS = {
    "line1": "AddressLine_1",
    "line2": "AddressLine_2",
    "postal_code": "Postcode",
    "city": "City",
}
MAIL_ELEMENTS = {
    "line1": "MailAddressLine_1",
    "line2": "MailAddressLine_2",
    "postal_code": "MailPostcode",
    "city": "MailCity",
}
CONTACT_ELEMENTS: dict[str, tuple[str, ...]] = {
    "organisation": (
        "ID", "Type", *ORGANISATION_FIELDS.values(), *ADDRESS_ELEMENTS.values(),
        *MAIL_ELEMENTS.values(), "Country",
    ),
    "person": ("ID", "Type", *PERSON_FIELDS.values(), *ADDRESS_ELEMENTS.values(), "Country"),
}  # fmt: skip
"""The elements the mapping writes, per contact kind: an update sends each, so a value cleared
in the hub is cleared in Yuki too. Elements outside the kind's table (an organisation's mobile,
a person's website or VAT number) are not sent, so Yuki keeps them."""


NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry (control characters, lone surrogates): Yuki's web
services take XML documents, so a value holding one cannot be sent."""
UNWRITABLE = "value_not_xml"


def writable(values: Mapping[str, Any], names: Mapping[str, str], what: str) -> None:
    """Refuses a record, naming the hub field, when one of its values holds a character XML
    cannot carry: the document could not be built, and the whole run would stop on it."""
    for key, value in values.items():
        found = NOT_XML.search(value) if isinstance(value, str) else None
        if found is not None:
            raise SkipRecord(
                UNWRITABLE,
                f"{what} {names.get(key, key)} holds the control character "
                f"U+{ord(found.group()):04X}, which Yuki's XML web services cannot carry; "
                "remove it from the record and it syncs by itself",
            )


def flag(value: Any, default: bool = False) -> bool:
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() in ("true", "1")


def contact_remote_id(remote: JSON) -> str:
    """The relationship code, else ``id:`` and Yuki's own id."""
    code = text(remote.get("Code"))
    return code if code else f"{ID_PREFIX}{remote.get('ID')}"


def contact_aliases(remote: JSON) -> list[str]:
    """A contact that got its relationship code after it was linked by its Yuki id."""
    if text(remote.get("Code")) and remote.get("ID"):
        return [f"{ID_PREFIX}{remote['ID']}"]
    return []


def contact_directions(settings: Mapping[str, Any]) -> dict[str, str]:
    """Per contact kind, which way it syncs (``settings.contact_types``; default both)."""
    chosen = settings.get("contact_types") or {}
    return {kind: str(chosen.get(kind, "both")) for kind in CONTACT_TYPES}


class ContactMapping(EntityMapping):
    """Yuki contacts (companies and persons) as hub parties.

    A contact's remote id is its relationship code, the debtor number the hub hands out:
    that is what Yuki matches ``UpdateContact`` and sales invoices on, so a contact is never
    created twice. A contact made in Yuki without a code is known by its Yuki id until it has
    one. Deactivation in Yuki is not carried (the hub record stays active), and an inactive
    contact is not imported.
    """

    entity = "party"
    remote_entity = "contact"
    incremental = True
    """Pulls continue from the ``modifiedAfter`` scan's cursor: a full read of a large
    domain every hour would spend Yuki's 1,000 daily calls."""
    business_key_field = "debtor_number"
    sequence = NumberSequence(field="debtor_number", setting="debtor_numbers")
    fields = frozenset(
        {"kind", "debtor_number", "name", "first_name", "last_name", "email", "phone",
         "mobile_phone", "website", "organisation_number", "vat_number", "billing_address",
         "postal_address"}
    )  # fmt: skip

    def __init__(self, directions: Mapping[str, str]) -> None:
        self.directions = dict(directions)

    def remote_id(self, remote: JSON) -> str:
        return contact_remote_id(remote)

    def remote_aliases(self, remote: JSON) -> list[str]:
        return contact_aliases(remote)

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        kind = KINDS.get(str(remote.get("Type") or "Company"))
        label = text(remote.get("Name")) or text(remote.get("Code")) or remote.get("ID")
        if kind is None:
            raise SkipRecord(
                "contact_type_unsupported", f"Yuki contact {label} has type {remote.get('Type')}"
            )
        if self.directions.get(kind) not in ("both", "inbound"):
            raise SkipRecord(
                "contact_type_excluded",
                f"Yuki contact {label} is a {kind}, and this connection does not import "
                f"{kind}s (settings.contact_types.{kind})",
            )
        if not flag(remote.get("Active"), default=True):
            raise SkipRecord(
                "contact_inactive",
                f"Yuki contact {label} is inactive there: it is not imported, and a hub record "
                "already linked to it stays active",
            )
        named(remote.get("Name"), f"Yuki contact {label}")
        table = ORGANISATION_FIELDS if kind == "organisation" else PERSON_FIELDS
        canonical: JSON = dict.fromkeys(self.fields)
        canonical.update(texts(remote, table))
        country = text(remote.get("Country"))
        canonical["kind"] = kind
        canonical["billing_address"] = _address_in(remote, ADDRESS_ELEMENTS, country)
        if kind == "organisation":
            canonical["postal_address"] = _address_in(remote, MAIL_ELEMENTS, country)
        # Roles are set when Yuki creates the hub record; the API cannot set them back.
        canonical["is_customer"] = flag(remote.get("IsCustomer"))
        canonical["is_supplier"] = flag(remote.get("IsSupplier"))
        return canonical

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        code = text(record.get("debtor_number"))
        if code is None:
            raise SkipRecord(
                "debtor_number_missing",
                "the party has no debtor number; the hub hands them out from "
                "settings.debtor_numbers, which this connection lacks",
            )
        kind = record.get("kind") or "organisation"
        table = ORGANISATION_FIELDS if kind == "organisation" else PERSON_FIELDS
        payload: JSON = dict.fromkeys(CONTACT_ELEMENTS[kind])
        payload.update({k: v for k, v in (current or {}).items() if k in ("ID", "Active")})
        payload.update(wire(record, table))
        payload["Type"] = CONTACT_TYPES[kind]
        payload["Code"] = code
        billing = record.get("billing_address") or {}
        postal = record.get("postal_address") or {}
        if kind != "organisation":
            # A person has one address in Yuki, the hub's billing address (or the postal one
            # an app gave instead).
            billing, postal = person_address(record) or {}, {}
        payload.update(_address_out(billing, ADDRESS_ELEMENTS))
        if kind == "organisation":
            payload.update(_address_out(postal, MAIL_ELEMENTS))
        payload["Country"] = billing.get("country") or postal.get("country")
        writable(payload, _contact_fields(table), "the party's")
        return payload

    def in_scope(self, record: JSON) -> bool:
        kind = record.get("kind") or "organisation"
        return self.directions.get(kind) in ("both", "outbound")


def _contact_fields(table: Mapping[str, str]) -> dict[str, str]:
    """Yuki element → the hub field it carries, for naming a value that cannot be sent."""
    return {
        "Country": "billing_address.country",
        **{element: field for field, element in table.items()},
        **{element: f"billing_address.{part}" for part, element in ADDRESS_ELEMENTS.items()},
        **{element: f"postal_address.{part}" for part, element in MAIL_ELEMENTS.items()},
    }


def _address_in(remote: JSON, elements: Mapping[str, str], country: str | None) -> JSON | None:
    address = texts(remote, elements)
    if not any(address.values()):
        return None
    address["country"] = country
    return {k: v for k, v in address.items() if v is not None}


def _address_out(address: Mapping[str, Any], elements: Mapping[str, str]) -> JSON:
    return wire(address, elements)


class CustomerFlagMapping(EntityMapping):
    """Yuki contacts whose Customer box is ticked, attached to the party linked in contacts.

    The API cannot tick the box, and Yuki refuses invoices for a contact without it: a link
    here is what lets an invoice go out, and it closes the notice that asked for the tick. It
    also closes a party's ``debtor_number_taken`` refusal: the contact holding the number,
    once ticked, is imported and linked to the party by that number.
    """

    entity = "party"
    remote_entity = "customer contact"
    fields = frozenset({"is_customer"})
    attach_to = "contacts"
    incremental = True
    outbound = False
    resolves = frozenset({NOTICE_REASON, CODE_TAKEN})

    def remote_id(self, remote: JSON) -> str:
        return contact_remote_id(remote)

    def remote_aliases(self, remote: JSON) -> list[str]:
        return contact_aliases(remote)

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return {"is_customer": flag(remote.get("IsCustomer"))}


INVOICE_FIELDS = {
    "Reference": "number", "Number": "number", "Subject": "number", "Currency": "currency",
    "Remarks": "notes", "ContactCode": "party's debtor_number",
}  # fmt: skip
"""Sales-invoice element → the hub field it carries, for naming a value that cannot be sent."""
LINE_FIELDS = {"Description": "description", "ProductReference": "sku", "VATType": "vat_code"}


class InvoiceMapping(EntityMapping):
    """Hub invoices with status ``sent``, one way: each becomes a booked sales invoice, an
    outstanding item in Yuki. Yuki offers no way to change or read them back; payments are
    not synced back."""

    entity = "invoice"
    remote_entity = "sales invoice"
    business_key_field = "number"
    fields = frozenset(
        {"kind", "number", "party_id", "date", "due_date", "currency", "lines", "notes"}
    )
    references = (linked(entity, "party_id", "customers", pending_reason=NOT_CUSTOMER_REASON),)
    inbound = False
    read_back = False

    def __init__(self, vat_mapping: Mapping[str, Any], payment_method: str) -> None:
        by_hub = {str(k): str(v) for k, v in vat_mapping.items()}
        self.vat_types = CodeTable("Yuki", "VAT code", "vat_mapping", back=by_hub)
        self.payment_method = payment_method

    def remote_id(self, remote: JSON) -> str:
        return str(remote["Reference"])

    def business_key(self, record: JSON) -> str | None:
        return invoice_reference(record)

    def payload_key(self, payload: JSON) -> str | None:
        return text(payload.get("Reference"))

    def in_scope(self, record: JSON) -> bool:
        # Sent, or sent and already paid (the hub records payments; Yuki gets the invoice).
        return record.get("status") in ("sent", "paid")

    def left_scope(self, record: JSON) -> SkipRecord | None:
        return booked_then_withdrawn(record, "Yuki")

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        if "Lines" not in remote:
            raise SkipRecord("invoice_not_readable", "Yuki does not return sales invoices")
        lines = [
            {
                "line_number": index + 1,
                "sku": text(line.get("ProductReference")),
                "description": text(line.get("Description")),
                "quantity": line["ProductQuantity"],
                "unit_price": line["SalesPrice"],
                "vat_code": line.get("hub_vat_code"),
                "vat_rate": line.get("VATPercentage"),
            }
            for index, line in enumerate(remote["Lines"])
        ]
        return {
            "kind": remote.get("kind"),
            "number": text(remote.get("Number")),
            "party_id": refs.get("party_id"),
            "date": remote.get("Date"),
            "due_date": remote.get("DueDate"),
            "currency": remote.get("Currency"),
            "lines": lines,
            "notes": text(remote.get("Remarks")),
        }

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        written_once(
            current,
            "invoice_readonly_after_sending",
            f"invoice {(current or {}).get('Reference')} is booked in Yuki, whose API cannot "
            "change a sales invoice; correct it with a credit note",
        )
        code = target_of(refs, self.entity, "party_id")[1]
        if code.startswith(ID_PREFIX):
            # Waits like an unticked customer, and follows by itself once the hub has given
            # the contact its relationship code (the customer's link moves to the code).
            raise SkipRecord(
                NOT_CUSTOMER_REASON,
                "the customer was made in Yuki without a relationship code and has no debtor "
                "number yet: it gets the hub's next one when the hub sends it to Yuki, which "
                "any change to the customer in the app does (or give it a debtor number); "
                "the invoice follows as soon as the code is in Yuki",
            )
        reference = invoice_reference(record)
        # Yuki's schema wants at least one line, and refuses the whole call otherwise.
        booked_with_lines(list(record.get("lines") or []), "Yuki")
        due = record.get("due_date")
        if due is None and record.get("payment_term_days") is not None and record.get("date"):
            due = (
                date.fromisoformat(record["date"]) + timedelta(days=record["payment_term_days"])
            ).isoformat()
        lines = [self._line_out(line) for line in fold_document_discount(record)]
        for index, line in enumerate(lines):
            writable(line, LINE_FIELDS, f"the invoice's line {index + 1}:")
        payload: JSON = {
            "Reference": reference,
            "Number": record.get("number"),
            "Subject": f"Invoice {record.get('number') or reference}",
            "PaymentMethod": self.payment_method,
            "Date": record.get("date"),
            "DueDate": due,
            "Currency": record.get("currency"),
            "Remarks": record.get("notes"),
            "ContactCode": code,
            "kind": record.get("kind") or "invoice",
            # Yuki has no document discount: it is in each line's price, with the line's own.
            "Lines": lines,
        }
        writable(payload, INVOICE_FIELDS, "the invoice's")
        return payload

    def _line_out(self, line: JSON) -> JSON:
        price = Decimal(str(line.get("unit_price") or 0))
        discount = Decimal(str(line.get("discount_percent") or 0))
        if discount:
            price = (price * (1 - discount / 100)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        hub_code = line.get("vat_code")
        if hub_code is not None and line.get("vat_rate") is None:
            # A Yuki line carries its VAT percentage beside its VAT type, whose rate depends on
            # the administration's country and the date: never guessed, never sent as none.
            label = line.get("description") or line.get("sku") or line.get("line_number")
            raise SkipRecord(
                "vat_rate_missing",
                f"invoice line '{label}' has VAT code {hub_code} but no VAT rate; Yuki needs "
                "the rate with the VAT type: give the line its vat_rate",
            )
        return {
            "Description": line.get("description") or line.get("sku") or "",
            "ProductReference": line.get("sku"),
            "ProductQuantity": plain(Decimal(str(line.get("quantity") or 0))),
            "SalesPrice": plain(price),
            "VATPercentage": str(line["vat_rate"]) if line.get("vat_rate") is not None else None,
            "VATType": self._vat_type(hub_code),
            "hub_vat_code": hub_code,
        }

    def _vat_type(self, hub_code: str | None) -> str | None:
        """The mapped Yuki VAT type; a hub code that is a number is taken as Yuki's own."""
        if hub_code is not None and hub_code.isdigit() and not self.vat_types.knows(hub_code):
            return hub_code
        return self.vat_types.from_hub(hub_code)


def plain(number: Decimal) -> str:
    """A decimal without exponent or trailing zeros, as xs:decimal wants it (``10``, ``36.45``)."""
    return f"{number.normalize():f}"


def invoice_reference(record: JSON) -> str | None:
    """Yuki's reference for a hub invoice: its number, else the hub id (both unique)."""
    return text(record.get("number")) or text(record.get("id"))
