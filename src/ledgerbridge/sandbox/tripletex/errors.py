"""Tripletex error envelope and the status/code pairs the spec lists.

Every refusal is a ``TripletexError`` that becomes the spec's ``ApiError`` body
``{status, code, message, link, developerMessage, validationMessages, requestId}``. Fields the
real API leaves empty are sent as ``null`` (an official issue thread shows
``"developerMessage": null`` and ``"rootId": null``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DOC_LINK = "https://www.tripletex.no/tripletex-api-2-0/"

# Internal codes from the spec's info text, by HTTP status.
AUTHENTICATION = 3000
BAD_REQUEST = 4000
NOT_FOUND = 6000
REVISION = 8000
SECURITY = 9000
ILLEGAL_FILTER = 11000
PATH_PARAM = 12000
MAPPING = 16000
SORTING = 17000
VALIDATION = 18000
PARAM = 21000
INVALID_JSON = 22000
# The spec names no internal code for 429; 0 marks it as unknown rather than inventing one.
RATE_LIMIT = 0

VALIDATION_MESSAGE = "Validering feilet."


class TripletexError(Exception):
    """A refusal the real API would answer with an ``ApiError`` body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        developer_message: str | None = None,
        validation: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.developer_message = developer_message
        self.validation = tuple(validation)

    def body(self, request_id: str) -> dict[str, Any]:
        """The ``ApiError`` JSON object for this refusal."""
        messages = (
            [
                {"field": field, "message": text, "path": field, "rootId": None}
                for field, text in self.validation
            ]
            if self.validation
            else None
        )
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "link": DOC_LINK,
            "developerMessage": self.developer_message,
            "validationMessages": messages,
            "requestId": request_id,
        }


def validation_error(*problems: tuple[str, str]) -> TripletexError:
    """422/18000 with one validation message per ``(field, message)``."""
    return TripletexError(422, VALIDATION, VALIDATION_MESSAGE, validation=problems)


def not_found(what: str, object_id: object) -> TripletexError:
    """404/6000 for an object that does not exist (or is not visible to the caller)."""
    return TripletexError(404, NOT_FOUND, f"Object not found: {what} with id {object_id}.")


def param_error(name: str, problem: str) -> TripletexError:
    """422/21000 for a missing or malformed query parameter."""
    return TripletexError(
        422,
        PARAM,
        f"Illegal or missing parameter '{name}': {problem}",
        validation=[(name, problem)],
    )


def unauthorized(message: str) -> TripletexError:
    """401/3000: no usable session token."""
    return TripletexError(401, AUTHENTICATION, message)


def forbidden(message: str) -> TripletexError:
    """403/9000: authenticated, but not allowed here."""
    return TripletexError(403, SECURITY, message)
