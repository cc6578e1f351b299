"""Uniconta ⇄ canonical mapping: pure functions over JSON dicts, table-tested.

Uniconta's OData serialises enum properties by member name (``"Country": "Denmark"``,
``"UserLanguage": "Danish"``, ``"Currency": "DKK"``); the canonical model uses ISO codes.
"""

from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.base import JSON, EntityMapping, SkipRecord

COUNTRY_BY_ISO: dict[str, str] = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CA": "Canada", "CH": "Switzerland",
    "CN": "China", "CY": "Cyprus", "CZ": "CzechRepublic", "DE": "Germany", "DK": "Denmark",
    "EE": "Estonia", "ES": "Spain", "FI": "Finland", "FO": "FaroeIslands", "FR": "France",
    "GB": "UnitedKingdom", "GL": "Greenland", "GR": "Greece", "HR": "Croatia", "HU": "Hungary",
    "IE": "Ireland", "IS": "Iceland", "IT": "Italy", "JP": "Japan", "LI": "Liechtenstein",
    "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta", "NL": "Netherlands",
    "NO": "Norway", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SE": "Sweden",
    "SI": "Slovenia", "SK": "Slovakia", "US": "UnitedStates",
}  # fmt: skip
ISO_BY_COUNTRY = {name: iso for iso, name in COUNTRY_BY_ISO.items()}

LANGUAGE_BY_CODE: dict[str, str] = {
    "da": "Danish", "en": "English", "de": "German", "sv": "Swedish", "nb": "Norwegian",
    "no": "Norwegian", "nl": "Dutch", "fr": "French", "fi": "Finnish", "is": "Icelandic",
    "es": "Spanish", "it": "Italian", "pl": "Polish", "fo": "Faroese", "et": "Estonian",
    "lt": "Lithuanian", "lv": "Latvian",
}  # fmt: skip
CODE_BY_LANGUAGE = {name: code for code, name in LANGUAGE_BY_CODE.items() if code != "no"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def country_to_iso(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return ISO_BY_COUNTRY[name]
    except KeyError:
        raise SkipRecord(
            "country_unmapped", f"Uniconta country '{name}' has no ISO code mapping"
        ) from None


def country_from_iso(code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return COUNTRY_BY_ISO[code]
    except KeyError:
        raise SkipRecord(
            "country_unmapped", f"country '{code}' has no Uniconta equivalent"
        ) from None


def _address_in(remote: JSON, prefix: str) -> JSON | None:
    address = {
        "line1": _text(remote.get(f"{prefix}Address1")),
        "line2": _text(remote.get(f"{prefix}Address2")),
        "line3": _text(remote.get(f"{prefix}Address3")),
        "postal_code": _text(remote.get(f"{prefix}ZipCode")),
        "city": _text(remote.get(f"{prefix}City")),
        "country": country_to_iso(_text(remote.get(f"{prefix}Country"))),
    }
    if not any(address.values()):
        return None
    return {k: v for k, v in address.items() if v is not None}


def _address_out(address: JSON | None, prefix: str) -> JSON:
    address = address or {}
    return {
        f"{prefix}Address1": address.get("line1"),
        f"{prefix}Address2": address.get("line2"),
        f"{prefix}Address3": address.get("line3"),
        f"{prefix}ZipCode": address.get("postal_code"),
        f"{prefix}City": address.get("city"),
        f"{prefix}Country": country_from_iso(address.get("country")),
    }


class AccountMapping(EntityMapping):
    """Debtors and creditors share one shape in Uniconta: an account of a party.

    ``number_field`` is the canonical number the ``Account`` key carries (debtor or creditor
    number) and ``role_field`` the role the account implies (customer or supplier).
    """

    entity = "party"
    fields = frozenset(
        {
            "name", "email", "invoice_email", "phone", "mobile_phone", "website",
            "billing_address", "delivery_address", "vat_number", "organisation_number", "gln",
            "currency", "locale", "active",
        }
    )  # fmt: skip

    def __init__(self, remote_entity: str, number_field: str, role_field: str) -> None:
        self.remote_entity = remote_entity
        self.number_field = number_field
        self.business_key_field = number_field
        self.role_field = role_field
        self.fields = AccountMapping.fields | {number_field, role_field}

    def remote_id(self, remote: JSON) -> str:
        return str(remote["Account"])

    def to_canonical(self, remote: JSON) -> JSON:
        name = _text(remote.get("Name"))
        if name is None:
            raise SkipRecord("name_missing", f"account {remote.get('Account')} has no name")
        language = _text(remote.get("UserLanguage"))
        data: JSON = {
            self.number_field: _text(remote.get("Account")),
            self.role_field: True,
            "name": name,
            "email": _text(remote.get("ContactEmail")),
            "invoice_email": _text(remote.get("InvoiceEmail")),
            "phone": _text(remote.get("Phone")),
            "mobile_phone": _text(remote.get("MobilPhone")),
            "website": _text(remote.get("Www")),
            "billing_address": _address_in(remote, ""),
            "delivery_address": _address_in(remote, "Delivery"),
            "vat_number": _text(remote.get("VatNumber")),
            "organisation_number": _text(remote.get("CompanyRegNo")),
            "gln": _text(remote.get("EAN")),
            "currency": _text(remote.get("Currency")),
            "locale": CODE_BY_LANGUAGE.get(language) if language else None,
            "active": not bool(remote.get("Blocked", False)),
        }
        return data

    def from_canonical(self, record: JSON, current: JSON | None) -> JSON:
        number = _text(record.get(self.number_field))
        if number is None:
            label = self.number_field.replace("_", " ")
            raise SkipRecord(
                f"{self.number_field}_missing",
                f"the party has no {label}; Uniconta needs one as the account key",
            )
        locale = record.get("locale")
        language = LANGUAGE_BY_CODE.get(locale.split("-")[0].lower()) if locale else None
        payload: JSON = dict(current or {})
        payload.update(
            {
                "Account": number,
                "Name": record.get("name"),
                "ContactEmail": record.get("email"),
                "InvoiceEmail": record.get("invoice_email"),
                "Phone": record.get("phone"),
                "MobilPhone": record.get("mobile_phone"),
                "Www": record.get("website"),
                "VatNumber": record.get("vat_number"),
                "CompanyRegNo": record.get("organisation_number"),
                "EAN": record.get("gln"),
                "Currency": record.get("currency"),
                "UserLanguage": language,
                "Blocked": not record.get("active", True),
                **_address_out(record.get("billing_address"), ""),
                **_address_out(record.get("delivery_address"), "Delivery"),
            }
        )
        return payload

    def in_scope(self, record: JSON) -> bool:
        return bool(record.get(self.role_field))

    def defaults(self) -> JSON:
        return {"kind": "organisation"}


DEBTOR = AccountMapping("DebtorClient", number_field="debtor_number", role_field="is_customer")
