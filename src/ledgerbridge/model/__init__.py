"""Canonical records: the vendor-neutral shapes every connector maps to and from.

They are also the hub API's request and response bodies. This package imports nothing else
from ledgerbridge, so every other layer can depend on it.
"""

from __future__ import annotations

from pydantic import BaseModel

from ledgerbridge.model.commerce import Order, Refund
from ledgerbridge.model.common import (
    Address,
    CountryCode,
    CurrencyCode,
    Ean,
    Email,
    Gln,
    Iban,
    Locale,
    Record,
)
from ledgerbridge.model.custom_field import CustomField, CustomFieldKey
from ledgerbridge.model.invoice import Invoice, InvoiceLine, Payment, round_money
from ledgerbridge.model.journal import JournalLine, JournalPosting
from ledgerbridge.model.party import ContactPerson, Party
from ledgerbridge.model.payout import Payout, PayoutLine
from ledgerbridge.model.product import COMMON_UNITS, Product, StockLevel, Unit, VatCode
from ledgerbridge.model.statistics import MetricName, PeriodStatistics
from ledgerbridge.model.validation import (
    normalize_country,
    normalize_currency,
    normalize_ean,
    normalize_email,
    normalize_gln,
    normalize_iban,
    normalize_locale,
    normalize_organisation_number,
    normalize_vat_number,
    vat_number_country,
)

__all__ = [
    "COMMON_UNITS",
    "ENTITY_TYPES",
    "Address",
    "ContactPerson",
    "CountryCode",
    "CurrencyCode",
    "CustomField",
    "CustomFieldKey",
    "Ean",
    "Email",
    "Gln",
    "Iban",
    "Invoice",
    "InvoiceLine",
    "JournalLine",
    "JournalPosting",
    "Locale",
    "MetricName",
    "Order",
    "Party",
    "Payment",
    "Payout",
    "PayoutLine",
    "PeriodStatistics",
    "Product",
    "Record",
    "Refund",
    "StockLevel",
    "Unit",
    "VatCode",
    "normalize_country",
    "normalize_currency",
    "normalize_ean",
    "normalize_email",
    "normalize_gln",
    "normalize_iban",
    "normalize_locale",
    "normalize_organisation_number",
    "normalize_vat_number",
    "round_money",
    "vat_number_country",
]

# Entity type names as they appear in API paths, links and skip reasons.
ENTITY_TYPES: dict[str, type[BaseModel]] = {
    "party": Party,
    "contact_person": ContactPerson,
    "product": Product,
    "stock_level": StockLevel,
    "vat_code": VatCode,
    "unit": Unit,
    "invoice": Invoice,
    "payment": Payment,
    "order": Order,
    "refund": Refund,
    "payout": Payout,
    "journal_posting": JournalPosting,
    "period_statistics": PeriodStatistics,
    "custom_field": CustomField,
}
