"""A refused value's reason in the words of the person who typed it.

The validation library says "Input should be a valid decimal" or "Input should be a valid
dictionary or instance of CommercePolicy": a programmer's words, and sometimes a class name. Every
place that turns a refusal into an answer (the API's 422s, a route's or a connection's settings,
a file mapping, a web page's form, a record's skip reason, the CLI's environment variables)
reads its reason here, so a setting typed as ``1,5`` reads the same wherever it is typed: "must
be a number such as 0.50, with a point as decimal mark".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["describe_validation_error", "in_words"]

NUMBER = "must be a number such as 0.50, with a point as decimal mark"
WHOLE = "must be a whole number such as 3"
DATE = "must be a day of the calendar written year-month-day, such as 2026-01-31"
MOMENT = "must be a date and time such as 2026-01-31T14:30:00+01:00"

FIXED = {
    "missing": "required",
    "extra_forbidden": "unknown field: it is not one this takes",
    "decimal_parsing": NUMBER,
    "decimal_type": NUMBER,
    "float_parsing": NUMBER,
    "float_type": NUMBER,
    "finite_number": "must be a finite number such as 0.50",
    "int_parsing": WHOLE,
    "int_type": WHOLE,
    "int_from_float": WHOLE + ", without decimals",
    "int_parsing_size": "is too large a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "date_parsing": DATE,
    "date_type": DATE,
    "date_from_datetime_parsing": DATE,
    "date_from_datetime_inexact": DATE,
    "datetime_parsing": MOMENT,
    "datetime_type": MOMENT,
    "datetime_from_date_parsing": MOMENT,
    "datetime_object_invalid": MOMENT,
    "timezone_aware": "must say its time zone, such as 2026-01-31T14:30:00+01:00",
    "time_parsing": "must be a time of day such as 14:30",
    "time_type": "must be a time of day such as 14:30",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be an object of named values",
    "model_type": "must be an object of named values",
    "model_attributes_type": "must be an object of named values",
    "none_required": "must be left out",
    "url_parsing": "must be a web address such as https://example.com",
    "url_type": "must be a web address such as https://example.com",
    "uuid_parsing": "must be an id as this hub gives it, such as 3f2a9c1e-…",
    "uuid_type": "must be an id as this hub gives it, such as 3f2a9c1e-…",
}
"""The reasons that need nothing of the value's limits."""

BOUNDED = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
    "multiple_of": "must be a multiple of {multiple_of}",
    "decimal_max_places": "must have at most {decimal_places} decimals",
    "decimal_max_digits": "must have at most {max_digits} digits",
    "decimal_whole_digits": "must have at most {whole_digits} digits before the point",
    "string_too_long": "must have at most {max_length} characters",
    "too_long": "must have at most {max_length} items",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "string_pattern_mismatch": "is not in the form expected (pattern {pattern})",
    "union_tag_invalid": "its {discriminator} must be {expected_tags}, not '{tag}'",
    "union_tag_not_found": "needs its {discriminator}",
    "json_invalid": "is not JSON: {error}",
}
"""The reasons that name a limit the error carries (``ctx``)."""


def in_words(error: Mapping[str, Any]) -> str:
    """One refusal (an item of ``ValidationError.errors()``, or a dict with its ``type``,
    ``msg`` and ``ctx``) as a clause to follow the field's name: "rounding_tolerance: must be a
    number such as 0.50, with a point as decimal mark". A check's own words (a validator's
    ``ValueError``, a custom error) are kept as they are."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in FIXED:
        return FIXED[kind]
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} characters"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"must have at least {least} item{'' if least == 1 else 's'}"
    if kind in BOUNDED:
        try:
            return BOUNDED[kind].format(**{k: _as_typed(v) for k, v in ctx.items()})
        except (KeyError, IndexError):
            pass  # a refusal passed on without its limits: its own message below
    message = str(error.get("msg", ""))
    for framework, plain in (("Value error, ", ""), ("Input should be ", "must be ")):
        if message.startswith(framework):
            return plain + message.removeprefix(framework)
    return message


def _as_typed(limit: Any) -> Any:
    """A limit as a person types it: 0, not the 0.0 of a field that takes fractions."""
    return int(limit) if isinstance(limit, float) and limit.is_integer() else limit


def describe_validation_error(exc: ValidationError, whole: str = "record") -> str:
    """One line naming each bad field by its path in the data (``lines.0.quantity``, or
    ``whole`` for the record as a whole) with what it must be, in the words ``in_words`` gives
    every refusal: for the skip reasons, issue details and logs a person reads."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or whole
        parts.append(f"{where}: {in_words(error)}")
    return "; ".join(parts)
