"""Failures a caller can act on, mapped to 4xx by the API and to messages by the CLI."""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """Input refused; ``also`` holds the other problems found in the same input, so that one
    answer names them all (each with where it is)."""

    status = 422

    def __init__(
        self, message: str, *, field: str | None = None, also: Sequence[Invalid] = ()
    ) -> None:
        super().__init__(message, field=field)
        self.also = list(also)

    @property
    def problems(self) -> list[Invalid]:
        return [self, *self.also]
