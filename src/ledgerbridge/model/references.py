"""Which field of a canonical record holds the hub id of which other record, declared once.

The hub API refuses a record whose reference names no live record of the same tenant, and each
connector's mappings resolve these fields through the records' links (a contact's
``party_id`` to its debtor's account); both read this table, so a reference is never known to
one and not the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.model import ENTITY_TYPES


@dataclass(frozen=True)
class RecordReference:
    """``entity.field`` holds the id of a ``target`` record."""

    entity: str
    field: str
    target: str
    name: str
    """What the reference is, as the stem of the reasons a record waits or is skipped for
    (``invoice_customer``: ``invoice_customer_missing``, ``invoice_customer_pending``)."""
    required: bool
    """Whether every record has one (the model's field is required); an optional reference
    that is empty stays empty (a credit note's original invoice)."""

    @property
    def missing_reason(self) -> str:
        return f"{self.name}_missing"

    @property
    def pending_reason(self) -> str:
        return f"{self.name}_pending"


def _declare(entity: str, field: str, target: str, name: str) -> RecordReference:
    required = ENTITY_TYPES[entity].model_fields[field].is_required()
    return RecordReference(entity, field, target, name, required)


REFERENCES: tuple[RecordReference, ...] = (
    _declare("contact_person", "party_id", "party", "contact_parent"),
    _declare("invoice", "party_id", "party", "invoice_customer"),
    _declare("invoice", "credits_invoice_id", "invoice", "credited_invoice"),
    _declare("stock_level", "product_id", "product", "stock_product"),
    _declare("payment", "invoice_id", "invoice", "payment_invoice"),
    _declare("period_statistics", "party_id", "party", "statistics_party"),
    _declare("journal_posting", "invoice_id", "invoice", "posting_invoice"),
    _declare("journal_posting", "party_id", "party", "posting_customer"),
)


def references_of(entity: str) -> tuple[RecordReference, ...]:
    """The references a record of ``entity`` holds."""
    return tuple(ref for ref in REFERENCES if ref.entity == entity)


def reference(entity: str, field: str) -> RecordReference:
    """The declaration of ``entity.field``; a field that is no reference is a ``KeyError``,
    so a mapping cannot resolve a reference the model does not know."""
    for ref in REFERENCES:
        if ref.entity == entity and ref.field == field:
            return ref
    raise KeyError(f"{entity}.{field} is not a reference")
