"""Validators and normalisers for the identifiers and codes that canonical records carry.

Each function takes a raw value, returns its normalised form, and raises ``ValueError`` with a
message that names the bad value. They are plain functions so that connector mappings can
normalise vendor data with exactly the rules the model enforces, and so that two spellings of
the same number (``DK 13 58 56 28`` and ``DK13585628``) never look like a change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache

import pycountry
from stdnum import ean, iban
from stdnum.be import vat as be_vat
from stdnum.ch import vat as ch_vat
from stdnum.dk import cvr as dk_cvr
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fi import ytunnus as fi_ytunnus
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.gb import vat as gb_vat
from stdnum.no import mva as no_mva
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

__all__ = [
    "NUL_MESSAGE",
    "normalize_country",
    "normalize_currency",
    "normalize_ean",
    "normalize_email",
    "normalize_gln",
    "normalize_iban",
    "normalize_locale",
    "normalize_organisation_number",
    "normalize_vat_number",
    "nul_location",
    "vat_number_country",
]

_SEPARATORS = re.compile(r"[\s.\-]")

NUL = "\x00"
NUL_MESSAGE = "a NUL character (\\u0000) is not allowed in text"


def nul_location(value: object) -> tuple[str | int, ...] | None:
    """Where a NUL character hides in a JSON-like value (a string, or a key or string anywhere
    inside lists and objects), as a path; None when there is none. PostgreSQL cannot store NUL
    in text or JSON, so such a value is refused before it reaches the database."""
    if isinstance(value, str):
        return () if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return (key,)
            inner = nul_location(item)
            if inner is not None:
                return (key, *inner)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            inner = nul_location(item)
            if inner is not None:
                return (index, *inner)
    return None


# VAT prefixes that differ from the ISO country code (Greece uses EL; XI is Northern Ireland).
_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
# The prefix to put in front of a bare number, where it is not the ISO code itself.
_COUNTRY_PREFIX = {"GR": "EL", "CH": "CHE"}
_EU_PREFIXES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES) | {"EL"}


def _reason(exc: ValueError) -> str:
    """A validator's message as a clause: "the number's checksum or check digit is invalid"."""
    message = str(exc).rstrip(".")
    return message[:1].lower() + message[1:]


@cache
def _iso_codes(database: str, attribute: str) -> frozenset[str]:
    """The upper-cased codes of one pycountry database, read once: each record's country,
    currency and language is then a set look-up, not a query of the database."""
    entries = getattr(pycountry, database)
    return frozenset(str(getattr(e, attribute)).upper() for e in entries if hasattr(e, attribute))


def _known_country(code: str) -> bool:
    return code.upper() in _iso_codes("countries", "alpha_2")


def normalize_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased ("dk" → "DK")."""
    code = value.strip().upper()
    if len(code) != 2 or not _known_country(code):
        raise ValueError(f"unknown country code {value!r}")
    return code


_NOT_INVOICE_CURRENCIES = frozenset(
    {
        "XAU", "XAG", "XPT", "XPD",  # gold, silver, platinum, palladium
        "XBA", "XBB", "XBC", "XBD",  # European bond market units
        "XDR", "XSU", "XUA", "XAD",  # units of account: IMF, Sucre, ADB, Arab Monetary Fund
        "XTS", "XXX",  # reserved for testing; no currency involved
    }
)  # fmt: skip
"""ISO 4217 codes that are metals, units of account or placeholders, not money a business
invoices in: accounting systems refuse them (Uniconta does), so the hub refuses them up front
instead of accepting a record no system will take. XOF, XAF, XPF, XCD and XCG are real
currencies and stay valid."""


def normalize_currency(value: str) -> str:
    """An ISO 4217 alphabetic code of a currency one can invoice in, upper-cased ("eur" →
    "EUR")."""
    code = value.strip().upper()
    if len(code) != 3 or code not in _iso_codes("currencies", "alpha_3"):
        raise ValueError(f"unknown currency code {value!r}")
    if code in _NOT_INVOICE_CURRENCIES:
        raise ValueError(f"{code!r} is not a currency invoices can be made in")
    return code


def normalize_locale(value: str) -> str:
    """A BCP 47 tag in canonical case ("DA_dk" → "da-DK").

    The language must be an ISO 639-1 code and a two-letter region an ISO 3166-1 code: those
    decide the language of invoices and reminders, so a typo must not pass. Further subtags
    (variants, extensions) are kept as given, lower-cased.
    """
    subtags = value.strip().replace("_", "-").split("-")
    language = subtags[0].lower()
    if not (len(language) == 2 and language.isascii() and language.isalpha()) or (
        language.upper() not in _iso_codes("languages", "alpha_2")
    ):
        raise ValueError(f"invalid locale {value!r}: unknown language {subtags[0]!r}")
    result = [language]
    rest = subtags[1:]
    if rest and len(rest[0]) == 4 and rest[0].isascii() and rest[0].isalpha():
        result.append(rest.pop(0).title())
    if rest and len(rest[0]) == 2 and rest[0].isascii() and rest[0].isalpha():
        region = rest.pop(0).upper()
        if not _known_country(region):
            raise ValueError(f"invalid locale {value!r}: unknown region {region!r}")
        result.append(region)
    elif rest and len(rest[0]) == 3 and rest[0].isascii() and rest[0].isdigit():
        result.append(rest.pop(0))
    for subtag in rest:
        if not (1 <= len(subtag) <= 8 and subtag.isascii() and subtag.isalnum()):
            raise ValueError(f"invalid locale {value!r}: malformed subtag {subtag!r}")
        result.append(subtag.lower())
    return "-".join(result)


_EMAIL_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_EMAIL_LOCAL = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize_email(value: str) -> str:
    """An address of the form local@domain.tld, with the domain lower-cased.

    A deliberately plain check (dot-atom local part, letter-digit-hyphen labels, international
    domain names via IDNA) that rejects what cannot be delivered without pulling in a dependency.
    Quoted local parts and IP-literal domains are refused: no accounting system accepts them.
    """
    address = value.strip()
    local, at, domain = address.rpartition("@")
    invalid = ValueError(f"invalid email address {value!r}")
    if not at or not local or len(local) > 64 or len(address) > 254:
        raise invalid
    if not _EMAIL_LOCAL.fullmatch(local):
        raise invalid
    if domain.isascii():
        ascii_domain = domain.lower()  # the labels' check below is all IDNA would add
    else:
        try:
            ascii_domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise invalid from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise invalid
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise invalid
    return f"{local}@{domain.lower()}"


def normalize_iban(value: str) -> str:
    """The compact, upper-case IBAN, checked by country format, check digits and bank code."""
    try:
        return str(iban.validate(value))
    except StdnumError as exc:
        raise ValueError(f"invalid IBAN {value!r}: {_reason(exc)}") from None


def normalize_ean(value: str) -> str:
    """A compact EAN-8, UPC-A, EAN-13 or GTIN-14 with a correct check digit."""
    try:
        return str(ean.validate(value))
    except StdnumError as exc:
        raise ValueError(f"invalid EAN {value!r}: {_reason(exc)}") from None


def normalize_gln(value: str) -> str:
    """A compact GLN: the 13-digit GS1 location number that e-invoicing networks route on."""
    try:
        compact = str(ean.validate(value))
    except StdnumError as exc:
        raise ValueError(f"invalid GLN {value!r}: {_reason(exc)}") from None
    if len(compact) != 13:
        raise ValueError(f"invalid GLN {value!r}: a GLN has 13 digits")
    return compact


def vat_number_country(vat_number: str) -> str | None:
    """The ISO country of a compact VAT number's prefix ("EL…" → "GR"), or None when it
    starts with no recognised prefix: two letters that name no country ("XX999") are part of
    the number, not a prefix."""
    prefix = vat_number[:2].upper()
    if not (len(prefix) == 2 and prefix.isascii() and prefix.isalpha()):
        return None
    country = _PREFIX_COUNTRY.get(prefix, prefix)
    return country if _known_country(country) else None


def _validate_no_vat(compact: str) -> str:
    """Norwegian VAT: the organisation number plus the MVA suffix, which is added if missing."""
    number = compact[2:]
    if number.isdigit():
        number += "MVA"
    return "NO" + str(no_mva.validate(number))


@lru_cache(maxsize=256)
def _danish_cvr(number: str) -> str:
    """A compact CVR number, checked once for a party's VAT number and organisation number
    alike (a Danish party carries the same CVR in both): the second check is a look-up.
    A number that is eight digits already is checked here, as stdnum would: its clean-up
    walks every character through a table of look-alike characters, and was most of the
    check's cost; anything else (and every refusal, with stdnum's reason) is stdnum's."""
    if (
        len(number) == 8
        and number.isascii()
        and number.isdigit()
        and number[0] != "0"
        and dk_cvr.checksum(number) == 0
    ):
        return number
    return str(dk_cvr.validate(number))


_VAT_VALIDATORS: dict[str, Callable[[str], str]] = {
    # Denmark: what ``stdnum.eu.vat`` does for a DK number (the CVR check after the prefix).
    "DK": lambda compact: "DK" + _danish_cvr(compact[2:]),
    "NO": _validate_no_vat,
    "CH": lambda compact: str(ch_vat.validate(compact)),
    "GB": lambda compact: "GB" + str(gb_vat.validate(compact[2:])),
}


def normalize_vat_number(value: str, country: str | None = None) -> str:
    """The compact VAT number with its country prefix ("dk 13 58 56 28" → "DK13585628").

    A number without a recognised prefix (a country's code, or EL and XI) gets ``country``'s
    (Greece: EL, Switzerland: CHE) and is checked as that country's: ``XX999`` on a Danish
    party is refused, not passed on as a foreign number. A prefix in the number wins over
    ``country``, since a business can be registered abroad. EU numbers are
    checked with ``stdnum.eu.vat``, Norway, Switzerland and the UK with their own modules. Other
    prefixes are accepted in compact form: stdnum covers every country this project serves, and
    refusing a foreign customer's valid number would block their invoices.
    """
    compact = _SEPARATORS.sub("", value).upper()
    if not compact:
        raise ValueError(f"invalid VAT number {value!r}: empty")
    if vat_number_country(compact) is None:
        if country is None:
            return compact
        code = country.strip().upper()
        compact = _COUNTRY_PREFIX.get(code, code) + compact
    prefix = compact[:2]
    label = _PREFIX_COUNTRY.get(prefix, prefix)
    validator = _VAT_VALIDATORS.get(prefix)
    if validator is None and prefix in _EU_PREFIXES:
        validator = eu_vat.validate
    if validator is None:
        return compact
    try:
        return str(validator(compact))
    except StdnumError as exc:
        raise ValueError(f"invalid VAT number {value!r} for {label}: {_reason(exc)}") from None


def _validate_nl_kvk(number: str) -> str:
    """KvK numbers are eight digits; they carry no check digit, so the shape is all to check."""
    if len(number) != 8 or not number.isdigit():
        raise ValueError("a KvK number has 8 digits")
    return number


def _validate_fr_siren_siret(number: str) -> str:
    """SIREN (9 digits) identifies the company, SIRET (14) one of its establishments."""
    if len(number) == 9:
        return str(fr_siren.validate(number))
    if len(number) == 14:
        return str(fr_siret.validate(number))
    raise ValueError("a SIREN has 9 digits and a SIRET 14")


_ORGANISATION_VALIDATORS: dict[str, Callable[[str], str]] = {
    "DK": _danish_cvr,
    "NO": lambda number: str(no_orgnr.validate(number)),
    "SE": lambda number: str(se_orgnr.validate(number)),
    "FI": lambda number: str(fi_ytunnus.validate(number)),
    "NL": _validate_nl_kvk,
    "BE": lambda number: str(be_vat.validate(number)),
    "FR": _validate_fr_siren_siret,
}


def normalize_organisation_number(value: str, country: str | None = None) -> str:
    """The compact company registration number (CVR, orgnr, Y-tunnus, KvK, KBO/BCE, SIREN…).

    Checked with stdnum for the countries this project serves. German Handelsregister entries
    ("HRB 12345 B") have no checksum and their spacing matters to people, so they are kept as
    free text. Other countries, or no country, are accepted in compact form: there is nothing
    to check them against.
    """
    text = " ".join(value.split())
    if not text:
        raise ValueError(f"invalid organisation number {value!r}: empty")
    code = country.strip().upper() if country else None
    if code == "DE":
        return text
    compact = _SEPARATORS.sub("", text).upper()
    validator = _ORGANISATION_VALIDATORS.get(code) if code else None
    if validator is None:
        return compact
    if compact.startswith(code or "") and compact[2:3].isdigit():
        compact = compact[2:]
    try:
        return validator(compact)
    except ValueError as exc:
        raise ValueError(
            f"invalid organisation number {value!r} for {code}: {_reason(exc)}"
        ) from None
