"""Shared pieces of the Qonto sandbox: the clock, the two error kinds, ids and time formats.

Qonto answers Business API failures with JSON:API error objects and OAuth failures with RFC 6749
bodies, so the two are distinct exception types that the HTTP layer renders differently.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any, Protocol


class Clock(Protocol):
    """Source of "now"; tests pass a manual clock to cross token lifetimes without waiting."""

    def now(self) -> datetime:
        """Current time, timezone-aware."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


class QontoError(Exception):
    """A refusal of the Business API, rendered as ``{"errors": [...], "trace_id"}``.

    ``pointer`` names the body property at fault, ``parameter`` the query parameter.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter

    def error_object(self) -> dict[str, Any]:
        """One JSON:API error object."""
        error: dict[str, Any] = {"code": self.code, "detail": self.detail}
        source = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        if source:
            error["source"] = source
        return error


class OAuthError(Exception):
    """A refusal of the OAuth server, rendered as ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire (accented names stay readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def validation(detail: str, pointer: str, code: str = "invalid") -> QontoError:
    """422 for a body property that fails a rule."""
    return QontoError(422, code, detail, pointer=pointer)


def bad_parameter(detail: str, parameter: str, code: str = "invalid") -> QontoError:
    """400 for a query parameter that fails a rule."""
    return QontoError(400, code, detail, parameter=parameter)


def not_found(kind: str) -> QontoError:
    """404 for an unknown (or deleted) resource id."""
    return QontoError(404, "not_found", f"{kind} not found")


def new_id(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng``, so seeded data is reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def utc_ms(moment: datetime) -> datetime:
    """UTC with milliseconds only, so stored values compare exactly with what clients read."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as in Qonto's webhook envelopes."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_timestamp(text: str, parameter: str) -> datetime:
    """ISO 8601 date-time (or date, read as midnight UTC) from a query filter."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    value = _OFFSET_NO_COLON.sub(r"\1:\2", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_parameter(f"{text!r} is not a valid ISO 8601 date-time", parameter) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: Any, pointer: str) -> date:
    """``YYYY-MM-DD`` from a request body."""
    if not isinstance(value, str):
        raise validation("must be a date in the format YYYY-MM-DD", pointer)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise validation(f"{value!r} is not a date in the format YYYY-MM-DD", pointer) from exc


def parse_query_date(text: str, parameter: str) -> date:
    """``YYYY-MM-DD`` from a query filter."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise bad_parameter(f"{text!r} is not a date in the format YYYY-MM-DD", parameter) from exc
