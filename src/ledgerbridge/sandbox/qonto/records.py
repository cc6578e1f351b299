"""Stored resources and their JSON shapes: clients, client invoices, credit notes, products.

Each record keeps what was accepted (typed) and renders Qonto's response shape on demand. Input
rules follow the docs pages listed in ``docs/sandbox-qonto.md``; field order in responses
follows Qonto's examples.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from ledgerbridge.sandbox.qonto.core import (
    bad_parameter,
    dumps,
    format_timestamp,
    parse_date,
    validation,
)
from ledgerbridge.sandbox.qonto.money import (
    ZERO,
    Discount,
    Line,
    Totals,
    format_amount,
    format_decimal,
    money,
    parse_currency,
    parse_decimal,
    parse_money,
    render_line,
    to_cents,
)

CLIENT_KINDS = ("company", "individual", "freelancer")
LOCALES = ("fr", "en", "de", "it", "es", "nl", "pt")
ADDRESS_KEYS = ("street_address", "city", "zip_code", "province_code", "country_code")
INVOICE_STATUSES = ("draft", "unpaid", "paid", "canceled")
PRODUCT_TYPES = ("good", "service")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FRENCH_VAT = re.compile(r"^FR[0-9A-Z]{2}\d{9}$")
_LIMITS = {
    "name": 250,
    "first_name": 60,
    "last_name": 60,
    "vat_number": 20,
    "tax_identification_number": 30,
    "address": 250,
    "city": 50,
    "zip_code": 20,
    "province_code": 10,
    "recipient_code": 20,
    "e_invoicing_address": 100,
}


class Resource(Protocol):
    """A stored record that renders as a dict and as cached JSON bytes."""

    def render(self) -> dict[str, Any]:
        """A fresh dict in Qonto's response shape."""
        ...

    def encoded(self) -> bytes:
        """The same as JSON bytes, cached until the record changes."""
        ...


def fold(text: str) -> str:
    """Case- and accent-insensitive form used by the name filter."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _string(raw: Mapping[str, Any], key: str, pointer: str | None = None) -> str | None:
    """Optional string property, empty meaning absent, with its length limit."""
    value = raw.get(key)
    where = pointer or f"/{key}"
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise validation("must be a string", where)
    limit = _LIMITS.get(key)
    if limit is not None and len(value) > limit:
        raise validation(f"is too long (maximum is {limit} characters)", where, "too_long")
    return value


def _email(value: Any, pointer: str) -> str:
    """An e-mail address (a plausibility check, like any server does)."""
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise validation("is not a valid email address", pointer)
    return value


def _address(value: Any, pointer: str) -> dict[str, str | None] | None:
    """``{street_address, city, zip_code, province_code, country_code}`` or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise validation("must be an object", pointer)
    address: dict[str, str | None] = {}
    for key in ADDRESS_KEYS:
        text = _string(value, key, f"{pointer}/{key}")
        address[key] = text.upper() if key == "country_code" and text else text
    return address


# ------------------------------------------------------------------ clients


@dataclass
class ClientRecord:
    """A client as stored: the normalised attributes plus timestamps."""

    id: str
    attrs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    folded_name: str = field(init=False)
    _encoded: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.folded_name = fold(self.name)

    def encoded(self) -> bytes:
        """``render()`` as JSON bytes, cached until the next change."""
        if self._encoded is None:
            self._encoded = dumps(self.render())
        return self._encoded

    @property
    def name(self) -> str:
        """Display name (``first_name last_name`` for persons)."""
        return str(self.attrs.get("name") or "")

    def replace(self, attrs: dict[str, Any], now: datetime) -> None:
        """New attributes after an update."""
        self.attrs = attrs
        self.folded_name = fold(self.name)
        self.updated_at = now
        self._encoded = None

    def render(self) -> dict[str, Any]:
        """Qonto's client object."""
        a = self.attrs
        phone = a.get("phone")
        return {
            "id": self.id,
            "name": a.get("name"),
            "first_name": a.get("first_name"),
            "last_name": a.get("last_name"),
            "phone_number": (phone["country_code"] + phone["number"]) if phone else None,
            "phone": dict(phone) if phone else None,
            "kind": a["kind"],
            "type": a["kind"],
            "email": a.get("email"),
            "extra_emails": list(a.get("extra_emails") or []),
            "currency": a.get("currency"),
            "e_invoicing_address": a.get("e_invoicing_address"),
            "vat_number": a.get("vat_number"),
            "tax_identification_number": a.get("tax_identification_number"),
            "address": a.get("address"),
            "city": a.get("city"),
            "zip_code": a.get("zip_code"),
            "province_code": a.get("province_code"),
            "country_code": a.get("country_code"),
            "billing_address": dict(a["billing_address"]) if a.get("billing_address") else None,
            "delivery_address": dict(a["delivery_address"]) if a.get("delivery_address") else None,
            "recipient_code": a.get("recipient_code"),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "locale": a.get("locale"),
        }

    def missing_for_invoicing(self) -> list[str]:
        """What the docs say a client needs before it can be invoiced."""
        a = self.attrs
        missing = [key for key in ("currency", "locale") if not a.get(key)]
        billing = a.get("billing_address") or {}
        needed = ("street_address", "city", "zip_code", "country_code")
        if not all(billing.get(key) for key in needed):
            missing.append("address")
        return missing


def client_input(record: ClientRecord) -> dict[str, Any]:
    """The stored attributes in request form, as the base a PATCH is merged onto."""
    return {key: value for key, value in record.attrs.items() if value is not None}


def normalize_client(raw: Mapping[str, Any], italian_organization: bool) -> dict[str, Any]:
    """Validate a client body (``kind`` wins over its alias ``type``) into stored attributes.

    Root address fields and ``billing_address`` mirror each other; when both are sent the
    object wins, because the root fields are deprecated.
    """
    kind = raw.get("kind") or raw.get("type")
    if kind is None:
        raise validation("can't be blank", "/kind", "blank")
    allowed = CLIENT_KINDS if italian_organization else ("company", "individual")
    if kind not in allowed:
        raise validation(f"kind must be one of: {', '.join(allowed)}", "/kind", "not_in_list")
    attrs: dict[str, Any] = {"kind": kind}
    first_name = _string(raw, "first_name")
    last_name = _string(raw, "last_name")
    name = _string(raw, "name")
    if kind == "company":
        if name is None:
            raise validation("can't be blank", "/name", "blank")
    else:
        if first_name is None:
            raise validation("can't be blank", "/first_name", "blank")
        if last_name is None:
            raise validation("can't be blank", "/last_name", "blank")
        name = f"{first_name} {last_name}"
    attrs.update({"name": name, "first_name": first_name, "last_name": last_name})
    if raw.get("email") not in (None, ""):
        attrs["email"] = _email(raw["email"], "/email")
    extra = raw.get("extra_emails")
    if extra is not None:
        if not isinstance(extra, list):
            raise validation("must be an array of e-mail addresses", "/extra_emails")
        if len(extra) > 100:
            raise validation("has too many entries (maximum is 100)", "/extra_emails", "too_long")
        attrs["extra_emails"] = [
            _email(value, f"/extra_emails/{index}") for index, value in enumerate(extra)
        ]
    phone = raw.get("phone")
    if phone is not None:
        if not isinstance(phone, Mapping):
            raise validation("must be an object with country_code and number", "/phone")
        code = _string(phone, "country_code", "/phone/country_code")
        number = _string(phone, "number", "/phone/number")
        if code is None or number is None:
            raise validation("needs both country_code and number", "/phone", "blank")
        attrs["phone"] = {"country_code": code, "number": number}
    vat_number = _string(raw, "vat_number")
    if vat_number is not None and kind != "individual":
        vat_number = vat_number.replace(" ", "").upper()
        if vat_number.startswith("FR") and not _FRENCH_VAT.match(vat_number):
            raise validation(
                "French VAT numbers are FR, a 2-character key and the 9-digit SIREN",
                "/vat_number",
            )
        attrs["vat_number"] = vat_number
    for key in ("tax_identification_number", "e_invoicing_address", "recipient_code"):
        attrs[key] = _string(raw, key)
    billing = _address(raw.get("billing_address"), "/billing_address")
    if billing is None:
        root = {
            "street_address": _string(raw, "address"),
            "city": _string(raw, "city"),
            "zip_code": _string(raw, "zip_code"),
            "province_code": _string(raw, "province_code"),
            "country_code": (_string(raw, "country_code") or "").upper() or None,
        }
        billing = root if any(root.values()) else None
    if billing is not None:
        attrs["billing_address"] = billing
        attrs.update(
            {
                "address": billing["street_address"],
                "city": billing["city"],
                "zip_code": billing["zip_code"],
                "province_code": billing["province_code"],
                "country_code": billing["country_code"],
            }
        )
    attrs["delivery_address"] = _address(raw.get("delivery_address"), "/delivery_address")
    if raw.get("currency") not in (None, ""):
        attrs["currency"] = parse_currency(raw["currency"], "/currency")
    if raw.get("locale") not in (None, ""):
        locale = raw["locale"]
        if not isinstance(locale, str) or locale.lower() not in LOCALES:
            raise validation(
                f"locale must be one of: {', '.join(LOCALES)}", "/locale", "not_in_list"
            )
        attrs["locale"] = locale.lower()
    return attrs


def merge_client_patch(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A PATCH body over the current attributes; root address fields rebuild the object."""
    merged = {**base, **patch}
    if "kind" in patch or "type" in patch:
        merged["kind"] = patch.get("kind") or patch.get("type")
    root_keys = ("address", "city", "zip_code", "province_code", "country_code")
    if "billing_address" not in patch and any(key in patch for key in root_keys):
        merged.pop("billing_address", None)
    return merged


# ------------------------------------------------------------------ invoices


@dataclass
class InvoiceRecord:
    """A client invoice. ``source`` is the accepted body, re-parsed when a draft is patched."""

    id: str
    organization_id: str
    status: str
    client_id: str
    client: dict[str, Any]
    currency: str
    lines: tuple[Line, ...]
    discount: Discount | None
    totals: Totals
    number: str | None
    issue_date: date
    due_date: date
    payment_methods: list[dict[str, Any]]
    extra: dict[str, Any]
    source: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finalized_at: datetime | None = None
    paid_at: datetime | None = None
    attachment_id: str | None = None
    credit_note_ids: list[str] = field(default_factory=list)
    _encoded: bytes | None = field(default=None, repr=False, compare=False)

    def changed(self, now: datetime) -> None:
        """Bump ``updated_at`` and drop the cached encoding."""
        self.updated_at = now
        self._encoded = None

    def encoded(self) -> bytes:
        """``render()`` as JSON bytes, cached until the next change: list pages are built
        from these, which keeps paging through tens of thousands of invoices cheap.
        """
        if self._encoded is None:
            self._encoded = dumps(self.render())
        return self._encoded

    @property
    def amount_paid(self) -> Decimal:
        """The whole total once paid; Qonto records no partial payments through the API."""
        return self.totals.total if self.status == "paid" else ZERO

    def render(self) -> dict[str, Any]:
        """Qonto's client invoice object."""
        currency = self.currency
        totals = self.totals
        extra = self.extra
        return {
            "id": self.id,
            "organization_id": self.organization_id,
            "attachment_id": self.attachment_id,
            "number": self.number,
            "invoice_number": self.number,
            "purchase_order": extra.get("purchase_order"),
            "status": self.status,
            "invoice_url": f"https://pay.qonto.com/invoices/{self.id}",
            "contact_email": extra.get("contact_email"),
            "terms_and_conditions": extra.get("terms_and_conditions"),
            "discount_conditions": extra.get("discount_conditions"),
            "late_payment_penalties": extra.get("late_payment_penalties"),
            "legal_fixed_compensation": extra.get("legal_fixed_compensation"),
            "header": extra.get("header"),
            "footer": extra.get("footer"),
            "currency": currency,
            "total_amount": money(totals.total, currency),
            "total_amount_cents": to_cents(totals.total),
            "vat_amount": money(totals.vat, currency),
            "vat_amount_cents": to_cents(totals.vat),
            "amount_paid": money(self.amount_paid, currency),
            "amount_paid_cents": to_cents(self.amount_paid),
            "issue_date": self.issue_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "performance_date": extra.get("performance_date"),
            "performance_start_date": extra.get("performance_start_date"),
            "performance_end_date": extra.get("performance_end_date"),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "finalized_at": format_timestamp(self.finalized_at),
            "paid_at": format_timestamp(self.paid_at),
            "stamp_duty_amount": None,
            "discount": (
                self.discount.render(totals.discount_amount, currency) if self.discount else None
            ),
            "items": [render_line(item, currency) for item in totals.lines],
            "client_id": self.client_id,
            "client": dict(self.client),
            "credit_notes_ids": list(self.credit_note_ids),
            "payment_methods": [dict(method) for method in self.payment_methods],
            "invoice_type": "standard",
            "upload_id": extra.get("upload_id"),
            "quote_id": extra.get("quote_id"),
        }


INVOICE_TEXT_FIELDS = (
    "purchase_order",
    "terms_and_conditions",
    "header",
    "footer",
    "upload_id",
    "quote_id",
)
INVOICE_DATE_FIELDS = ("performance_date", "performance_start_date", "performance_end_date")
SETTINGS_TEXT_FIELDS = ("discount_conditions", "late_payment_penalties", "legal_fixed_compensation")


def invoice_extra(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Echoed invoice properties: texts, performance dates, contact e-mail, settings texts."""
    extra: dict[str, Any] = {}
    for key in INVOICE_TEXT_FIELDS:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise validation("must be a string", f"/{key}")
        extra[key] = value
    for key in INVOICE_DATE_FIELDS:
        value = raw.get(key)
        extra[key] = parse_date(value, f"/{key}").isoformat() if value is not None else None
    if raw.get("contact_email") is not None:
        extra["contact_email"] = _email(raw["contact_email"], "/contact_email")
    settings = raw.get("settings")
    if settings is not None and not isinstance(settings, Mapping):
        raise validation("must be an object", "/settings")
    for key in SETTINGS_TEXT_FIELDS:
        value = (settings or {}).get(key, raw.get(key))
        if value is not None and not isinstance(value, str):
            raise validation("must be a string", f"/settings/{key}")
        extra[key] = value
    return extra


def parse_status_filter(text: str) -> set[str]:
    """``filter[status]``: one status or a comma-separated list."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    if not wanted or not wanted <= set(INVOICE_STATUSES):
        raise bad_parameter(
            f"status must be one of: {', '.join(INVOICE_STATUSES)}",
            "filter[status]",
            "not_in_list",
        )
    return wanted


# -------------------------------------------------------------- credit notes


@dataclass
class CreditNoteRecord:
    """A credit note: negated lines against one finalised invoice."""

    id: str
    invoice_id: str
    number: str
    issue_date: date
    invoice_issue_date: date
    currency: str
    lines: tuple[Line, ...]
    discount: Discount | None
    totals: Totals
    client: dict[str, Any]
    extra: dict[str, Any]
    created_at: datetime
    attachment_id: str
    _encoded: bytes | None = field(default=None, repr=False, compare=False)

    def encoded(self) -> bytes:
        """``render()`` as JSON bytes (credit notes never change)."""
        if self._encoded is None:
            self._encoded = dumps(self.render())
        return self._encoded

    def render(self) -> dict[str, Any]:
        """Qonto's credit note object."""
        currency = self.currency
        totals = self.totals
        return {
            "id": self.id,
            "invoice_id": self.invoice_id,
            "attachment_id": self.attachment_id,
            "issue_date": self.issue_date.isoformat(),
            "invoice_issue_date": self.invoice_issue_date.isoformat(),
            "number": self.number,
            "reason": self.extra.get("reason"),
            "terms_and_conditions": self.extra.get("terms_and_conditions"),
            "header": self.extra.get("header"),
            "footer": self.extra.get("footer"),
            "vat_amount": money(totals.vat, currency),
            "vat_amount_cents": to_cents(totals.vat),
            "total_amount": money(totals.total, currency),
            "total_amount_cents": to_cents(totals.total),
            "currency": currency,
            "created_at": format_timestamp(self.created_at),
            "finalized_at": format_timestamp(self.created_at),
            "contact_email": self.extra.get("contact_email"),
            "invoice_url": f"https://pay.qonto.com/invoices/{self.id}",
            "einvoicing_status": None,
            "welfare_fund": None,
            "withholding_tax": None,
            "stamp_duty_amount": None,
            "discount": (
                self.discount.render(totals.discount_amount, currency) if self.discount else None
            ),
            "items": [render_line(item, currency) for item in totals.lines],
            "client": dict(self.client),
        }


# ------------------------------------------------------------------ products


@dataclass
class ProductRecord:
    """A catalogue product (Qonto keeps no stock)."""

    id: str
    organization_id: str
    attrs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    _encoded: bytes | None = field(default=None, repr=False, compare=False)

    def encoded(self) -> bytes:
        """``render()`` as JSON bytes (products never change)."""
        if self._encoded is None:
            self._encoded = dumps(self.render())
        return self._encoded

    def render(self) -> dict[str, Any]:
        """Qonto's product object."""
        a = self.attrs
        return {
            "id": self.id,
            "title": a["title"],
            "type": a["type"],
            "unit_price": {"value": format_amount(a["unit_price"]), "currency": a["currency"]},
            "vat_rate": a["vat_rate"],
            "organization_id": self.organization_id,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "description": a.get("description"),
            "internal_note": a.get("internal_note"),
            "unit": a.get("unit"),
            "vat_exemption_code": a.get("vat_exemption_code"),
            "links": [dict(link) for link in a.get("links", [])],
        }


def normalize_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a product body."""
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise validation("can't be blank", "/title", "blank")
    if len(title) > 120:
        raise validation("is too long (maximum is 120 characters)", "/title", "too_long")
    kind = raw.get("type")
    if kind not in PRODUCT_TYPES:
        raise validation(f"type must be one of: {', '.join(PRODUCT_TYPES)}", "/type", "not_in_list")
    if raw.get("unit_price") is None:
        raise validation("can't be blank", "/unit_price", "blank")
    price, currency = parse_money(raw["unit_price"], "/unit_price", "EUR")
    if raw.get("vat_rate") is None:
        raise validation("can't be blank", "/vat_rate", "blank")
    vat_rate = parse_decimal(raw["vat_rate"], "/vat_rate")
    if not ZERO <= vat_rate <= 1:
        raise validation("must be between 0 and 1 (0.2 is 20 %)", "/vat_rate")
    links = raw.get("links") or []
    if not isinstance(links, list) or not all(isinstance(link, Mapping) for link in links):
        raise validation("must be an array of {title, url} objects", "/links")
    attrs: dict[str, Any] = {
        "title": title,
        "type": kind,
        "unit_price": price,
        "currency": currency,
        "vat_rate": format_decimal(vat_rate),
        "links": [{"title": link.get("title"), "url": link.get("url")} for link in links],
    }
    for key in ("description", "internal_note", "unit", "vat_exemption_code"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise validation("must be a string", f"/{key}")
        attrs[key] = value
    return attrs
