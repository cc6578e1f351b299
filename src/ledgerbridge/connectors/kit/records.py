"""Rules a mapping applies to a whole record, the same way for every system."""

from __future__ import annotations

from ledgerbridge.connectors.base import JSON, SkipRecord


def written_once(current: JSON | None, reason: str, message: str) -> None:
    """A record the system books as it is written (an issued invoice, a registered payment)
    cannot be written again: an update is skipped with ``reason``, and ``message`` says what
    to do instead (a credit note, a correction in the system)."""
    if current is not None:
        raise SkipRecord(reason, message)


def booked_with_lines(lines: list[JSON], system: str) -> list[JSON]:
    """The lines of an invoice the system is to book: an invoice without any cannot be
    booked, so it is skipped before anything is written (no empty order is left behind),
    saying to add its lines in the app."""
    if not lines:
        raise SkipRecord(
            "invoice_without_lines",
            f"the invoice has no lines, and {system} books an invoice from its lines: add them "
            "in the app and it is sent",
        )
    return lines


def booked_then_withdrawn(record: JSON, system: str) -> SkipRecord:
    """An invoice the system booked that the app has since cancelled (or set back to a
    draft): a booked invoice is neither deleted nor changed, so a person credits it."""
    status = record.get("status") or "without a status"
    return SkipRecord(
        "withdrawn_in_app_after_booking",
        f"the invoice is {status} in the app, but {system} has booked it already, and a booked "
        f"invoice is never deleted nor changed: credit it in {system}, or make its credit note "
        "in the app (it is sent as one); then dismiss this issue",
    )
