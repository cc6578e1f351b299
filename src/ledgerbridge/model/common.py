"""Building blocks shared by every canonical record: the base class, addresses and code types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.validation import (
    NUL,
    normalize_country,
    normalize_currency,
    normalize_ean,
    normalize_email,
    normalize_gln,
    normalize_iban,
    normalize_locale,
    nul_location,
)

__all__ = [
    "MODEL_CONFIG",
    "Address",
    "Canonical",
    "CountryCode",
    "CurrencyCode",
    "Ean",
    "Email",
    "Gln",
    "Iban",
    "Locale",
    "Record",
    "field_error",
]

MODEL_CONFIG = ConfigDict(extra="forbid", str_strip_whitespace=True)


def field_error(error_type: str, exc: ValueError) -> PydanticCustomError:
    """A pydantic error of a stable ``type`` whose message is the validator's, unprefixed.

    API clients switch on ``type`` and show ``msg``; pydantic's default "Value error, …" prefix
    would say nothing to them.
    """
    return PydanticCustomError(error_type, "{reason}", {"reason": str(exc)})


def _checked(normalize: Callable[[str], str], error_type: str) -> AfterValidator:
    """Wrap a ``validation`` normaliser as a field validator that reports ``error_type``."""

    def check(value: str) -> str:
        try:
            return normalize(value)
        except ValueError as exc:
            raise field_error(error_type, exc) from None

    return AfterValidator(check)


CountryCode = Annotated[str, _checked(normalize_country, "country_code")]
CurrencyCode = Annotated[str, _checked(normalize_currency, "currency_code")]
Locale = Annotated[str, _checked(normalize_locale, "locale")]
Email = Annotated[str, _checked(normalize_email, "email")]
Iban = Annotated[str, _checked(normalize_iban, "iban")]
Gln = Annotated[str, _checked(normalize_gln, "gln")]
Ean = Annotated[str, _checked(normalize_ean, "ean")]


class Canonical(BaseModel):
    """Base of every canonical shape: unknown fields are refused, strings stripped, and a NUL
    character refused wherever it hides (PostgreSQL cannot store it; no name or note has one)."""

    model_config = MODEL_CONFIG

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # After validation, nested shapes are models that check their own fields, so the
        # error names the innermost field.
        if value is None or (type(value) is str and NUL not in value):
            return value  # most fields: no call into ``nul_location``
        where = nul_location(value)
        if where is not None:
            inside = "".join(f"[{part!r}]" for part in where)
            raise PydanticCustomError(
                "nul_character",
                "a NUL character (\\u0000) is not allowed in text{inside}",
                {"inside": f" at {inside}" if inside else ""},
            )
        return value


class Record(Canonical):
    """Base of every synchronised record: strict about its fields, carrying the hub's id.

    Unknown fields are rejected rather than dropped, so a mapping that sends a misspelt field
    fails in tests instead of silently losing data.
    """

    id: str | None = None

    def content(self) -> dict[str, Any]:
        """The record in JSON form without its id: what change detection compares and hashes."""
        return self.model_dump(mode="json", exclude={"id"})


class Address(Canonical):
    """A postal address; part of a record, so it has no id of its own.

    ``line1`` is the first line as written. Apps that keep it in parts (street, house number,
    suffix) set those too: a system with one free-text line gets the parts joined when they
    differ from the line's own split, and fills them by splitting the line it sends back.
    """

    line1: str | None = None
    street: str | None = None
    house_number: str | None = None
    house_number_suffix: str | None = None
    line2: str | None = None
    line3: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: CountryCode | None = None
