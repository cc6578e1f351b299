"""Phone numbers as a system that keeps them as a calling code and a number needs them, read
by ``phonenumbers`` (Google's libphonenumber data) rather than by a table of our own.

A CRM keeps its customers' numbers as they are dialled at home ("020-5786874"): the party's
address country says whose national number it is. A number written with its prefix ("+47 22
12 34 56", "0047 …") says so itself."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
import pycountry
from phonenumbers import NumberParseException, ValidationResult

from ledgerbridge.connectors.base import SkipRecord

REASON = "phone_invalid"
"""The skip reason of a phone number that cannot be written with its calling code."""


@dataclass(frozen=True)
class InternationalPhone:
    """A phone number split as dialled from abroad: +31 | 205786874."""

    calling_code: str
    """The country calling code with its "+" ("+31")."""
    number: str
    """The national significant number: without the trunk "0" a country drops when dialled
    from abroad (020-… in the Netherlands is 20…), with the "0" Italy keeps."""


def international_phone(phone: str, country: str | None = None) -> InternationalPhone:
    """``phone`` with its calling code; ``country`` (ISO alpha-2, the party's address country)
    is the one of a number written without a prefix.

    A national number must be a valid number of ``country``: that is what shows the address
    names the right country ("0142685300" is French, no American one). A number with its own
    prefix must have a length its country's numbers have; it is not checked against the
    number ranges in use, which change faster than any copy of them (a number the system holds
    already must be able to go back). Anything else is skipped with ``phone_invalid``, saying
    what to correct.
    """
    compact = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        parsed = _parsed(phone, compact, None)
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        if possible != ValidationResult.IS_POSSIBLE:
            raise _invalid(phone, _length_problem(possible, parsed.country_code or 0))
    else:
        region = str(country or "").upper()
        if not region:
            raise _invalid(
                phone,
                "of a customer with no country has no international prefix: write it with its "
                "country code (+33 …), or give the customer an address with its country",
            )
        parsed = _parsed(phone, compact, region)
        if not phonenumbers.is_valid_number_for_region(parsed, region):
            raise _invalid(
                phone,
                f"is not a phone number of {_country_name(region)}, the customer's address "
                "country: correct it, or write it with its country code (+33 …)",
            )
    return InternationalPhone(
        f"+{parsed.country_code}", phonenumbers.national_significant_number(parsed)
    )


def _parsed(phone: str, compact: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(compact, region)
    except NumberParseException as exc:
        raise _invalid(phone, _parse_problem(exc, region)) from None


def _invalid(phone: str, problem: str) -> SkipRecord:
    return SkipRecord(REASON, f"phone '{phone}' {problem}")


def _parse_problem(exc: NumberParseException, region: str | None) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if region is None:
            return "has an unknown country calling code: correct it"
        return (
            "has no international prefix, and the customer's address country "
            f"{_country_name(region)} has no calling code of its own: write the number with "
            "its country code (+33 …)"
        )
    if exc.error_type in (
        NumberParseException.TOO_SHORT_NSN,
        NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return "is too short to be a phone number: correct it"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "is too long to be a phone number: correct it"
    return "is not a phone number: correct it"


def _length_problem(result: int, calling_code: int) -> str:
    regions = [r for r in phonenumbers.region_codes_for_country_code(calling_code) if r != "001"]
    where = _country_name(regions[0]) if len(regions) == 1 else f"calling code +{calling_code}"
    if result == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return f"is too short for a phone number of {where} (is its area code missing?): correct it"
    if result == ValidationResult.TOO_SHORT:
        return f"is too short for a phone number of {where}: correct it"
    if result == ValidationResult.TOO_LONG:
        return f"is too long for a phone number of {where}: correct it"
    return f"has a length no phone number of {where} has: correct it"


def _country_name(code: str) -> str:
    """ "NO" → "Norway"; a code pycountry lacks stays as it is."""
    found = pycountry.countries.get(alpha_2=code)
    return str(getattr(found, "name", code)) if found else code
