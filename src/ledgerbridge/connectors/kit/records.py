"""Rules a mapping applies to a whole record, the same way for every system."""

from __future__ import annotations

from ledgerbridge.connectors.base import JSON, SkipRecord


def written_once(current: JSON | None, reason: str, message: str) -> None:
    """A record the system books as it is written (an issued invoice, a registered payment)
    cannot be written again: an update is skipped with ``reason``, and ``message`` says what
    to do instead (a credit note, a correction in the system)."""
    if current is not None:
        raise SkipRecord(reason, message)
