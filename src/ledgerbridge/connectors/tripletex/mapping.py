"""Tripletex wire ⇄ canonical records: pure functions, table-tested.

Tripletex is master of clients, products and VAT types: these streams are one way (inbound).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerbridge.connectors.base import JSON, EntityMapping, SkipRecord

CUSTOMER_FIELDS = "*,postalAddress(*),physicalAddress(*)"
"""``fields`` for customers: addresses expanded, otherwise they are only ``{id, url}``."""


def text(value: Any) -> str | None:
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def ref_id(value: Any) -> str | None:
    """The id of a nested reference ``{"id": 5, "url": …}``."""
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return None


def address(value: Any) -> JSON | None:
    """An expanded Tripletex ``Address``; None when it holds nothing."""
    if not isinstance(value, dict):
        return None
    result = {
        "line1": text(value.get("addressLine1")),
        "line2": text(value.get("addressLine2")),
        "postal_code": text(value.get("postalCode")),
        "city": text(value.get("city")),
    }
    return result if any(v is not None for v in result.values()) else None


class CustomerMapping(EntityMapping):
    """Tripletex customers (the firm's clients) → parties, read with ``changedSince``."""

    entity = "party"
    remote_entity = "Customer"
    business_key_field = "debtor_number"
    fields = frozenset(
        {"kind", "name", "is_customer", "debtor_number", "organisation_number", "email",
         "invoice_email", "phone", "mobile_phone", "website", "postal_address",
         "visiting_address", "payment_term_days", "locale", "active"}
    )  # fmt: skip
    incremental = True
    outbound = False
    read_only_reason = "client_master_is_tripletex"

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        name = text(remote.get("name"))
        if name is None:
            raise SkipRecord("name_missing", f"Tripletex customer {remote.get('id')} has no name")
        due_in = remote.get("invoicesDueIn")
        return {
            "kind": "person" if remote.get("isPrivateIndividual") else "organisation",
            "name": name,
            "is_customer": True,
            "debtor_number": text(remote.get("customerNumber")),
            "organisation_number": text(remote.get("organizationNumber")),
            "email": text(remote.get("email")),
            "invoice_email": text(remote.get("invoiceEmail")),
            "phone": text(remote.get("phoneNumber")),
            "mobile_phone": text(remote.get("phoneNumberMobile")),
            "website": text(remote.get("website")),
            "postal_address": address(remote.get("postalAddress")),
            "visiting_address": address(remote.get("physicalAddress")),
            "payment_term_days": (
                int(due_in)
                if isinstance(due_in, int) and remote.get("invoicesDueInType", "DAYS") == "DAYS"
                else None
            ),
            "locale": "en" if remote.get("language") == "EN" else "nb",
            "active": not bool(remote.get("isInactive", False)),
        }

    def defaults(self) -> JSON:
        return {"is_customer": True}


class ProductMapping(EntityMapping):
    """Tripletex products → products; the VAT code is the VAT type's number."""

    entity = "product"
    remote_entity = "Product"
    business_key_field = "sku"
    fields = frozenset(
        {"sku", "name", "description", "sales_price", "cost_price", "vat_code", "ean", "active"}
    )
    outbound = False
    read_only_reason = "product_master_is_tripletex"

    def __init__(self, vat_numbers: Mapping[str, str]) -> None:
        self.vat_numbers = vat_numbers
        """VAT type id → VAT number (ids differ from the numbers users know)."""

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        sku = text(remote.get("number")) or str(remote["id"])
        vat_id = ref_id(remote.get("vatType"))
        return {
            "sku": sku,
            "name": text(remote.get("name")) or sku,
            "description": text(remote.get("description")),
            "sales_price": dec(remote.get("priceExcludingVatCurrency")),
            "cost_price": dec(remote.get("costExcludingVatCurrency")),
            "vat_code": self.vat_numbers.get(vat_id) if vat_id else None,
            "ean": text(remote.get("ean")),
            "active": not bool(remote.get("isInactive", False)),
        }


class VatTypeMapping(EntityMapping):
    """Tripletex VAT types → VAT codes (Norwegian), keyed by their number."""

    entity = "vat_code"
    remote_entity = "VatType"
    business_key_field = "code"
    fields = frozenset({"code", "name", "rate", "country", "direction"})
    outbound = False
    read_only_reason = "vat_types_master_is_tripletex"

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        number = text(remote.get("number"))
        if number is None:
            raise SkipRecord("vat_code_missing", f"Tripletex VAT type {remote['id']} has no number")
        direction = remote.get("_direction")
        return {
            "code": number,
            "name": text(remote.get("name")),
            "rate": dec(remote.get("percentage")) or Decimal(0),
            "country": "NO",
            "direction": direction if direction in ("sales", "purchase") else "both",
        }
