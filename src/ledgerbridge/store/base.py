"""Declarative base and column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON documents (canonical records, settings): JSONB on PostgreSQL, JSON text on SQLite."""


def new_id() -> str:
    """Primary keys are UUID strings (version 4, random): portable, and safe to hand out in
    URLs."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` ids as ``new_id`` makes them, from one read of the system's random source:
    each ``uuid.uuid4`` is a system call that lets go of the interpreter, and an import's
    page takes two thousand ids (the records and their links)."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(byte & 0x0F | 0x40 for byte in raw[6::16])  # version 4
    raw[8::16] = bytes(byte & 0x3F | 0x80 for byte in raw[8::16])  # the RFC 4122 variant
    digits = raw.hex()
    return [
        f"{digits[at : at + 8]}-{digits[at + 8 : at + 12]}-{digits[at + 12 : at + 16]}-"
        f"{digits[at + 16 : at + 20]}-{digits[at + 20 : at + 32]}"
        for at in range(0, len(digits), 32)
    ]


class IdSupply:
    """New ids for a page of records, drawn ``count`` at a time (``new_ids``) once the first
    is wanted: a page whose records are all known already draws none."""

    def __init__(self, count: int) -> None:
        self._count = max(count, 1)
        self._ids: list[str] = []

    def __call__(self) -> str:
        if not self._ids:
            self._ids = new_ids(self._count)
        return self._ids.pop()


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}
