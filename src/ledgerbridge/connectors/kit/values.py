"""Wire values as canonical ones, the same way in every mapping: a value two systems send alike
must not become two different canonical values (and look like a change) because each mapping
read it in its own way."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerbridge.connectors.base import JSON, SkipRecord


def text(value: Any) -> str | None:
    """A wire value as text without surrounding white space; None when nothing is left."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def named(value: Any, what: str) -> str:
    """A record's name (``text``), which the hub needs: a record without one is skipped
    (``name_missing``), ``what`` saying which."""
    name = text(value)
    if name is None:
        raise SkipRecord(
            "name_missing",
            f"{what} has no name, which the hub needs: give it one there and the next sync "
            "brings it",
        )
    return name


def words(value: Any) -> str | None:
    """``text`` with each run of white space inside made one space ("Jan  van\\tBerg" →
    "Jan van Berg"), for systems whose free text is compared word by word (Qonto's names)."""
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def dec(value: Any) -> str | None:
    """A wire number as a canonical decimal string in one normal form on both sides, so that
    "2", 2, 2.0 and "2.00" compare equal ("2"), as do "2.50" and 2.5 ("2.5"). A value that is
    no finite number raises (``ArithmeticError`` or ``ValueError``): the engine skips that
    record as unreadable instead of guessing."""
    if value is None or value == "":
        return None
    number = Decimal(str(value))
    if not number.is_finite():
        raise InvalidOperation(f"{value!r} is not a finite number")
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return str(number.normalize())


def decimal(value: Any) -> Decimal | None:
    """A wire number as a ``Decimal`` to compute with, exactly as sent; None when absent or not
    a number (a figure the system leaves unreadable is left out, not guessed)."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def texts(remote: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, str | None]:
    """The canonical fields a table declares (hub field → wire key), each read with ``text``."""
    return {field: text(remote.get(key)) for field, key in table.items()}


def wire(record: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    """The way back: each wire key a table declares, with its hub field's value."""
    return {key: record.get(field) for field, key in table.items()}


def person_address(record: Mapping[str, Any]) -> JSON | None:
    """A person's one address, as every connector sends it: the hub's billing address, else
    the postal address an app gave instead (Qonto's clients come in so), so that a person is
    never sent without the address the hub has for them."""
    return record.get("billing_address") or record.get("postal_address")
