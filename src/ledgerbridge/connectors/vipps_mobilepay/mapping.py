"""Report API entries → canonical payouts: pure functions, no I/O.

The API has no payout object. A payout is the ``payout-scheduled`` entry of a ledger's funds
topic together with the funds entries since the previous one (``shared/research/api-acquirers.md``
§3): captures (positive) and refunds (negative) become charge and refund lines with the
merchant's order id (``reference``) and the payment's ``pspReference``; each capture's fee is
the ``capture-fee`` entry of the fees topic with the same ``pspReference``, put on the line as
its ``fee``.

Net settlement retains the fees from the payout (``fees-retained`` in funds): when the fees
retained equal the fees put on the lines nothing more is needed; any difference (fees of
captures paid out earlier, monthly fees, a fee the fees topic has not shown) becomes one fee
line, so the lines always add up to the amount paid. Gross settlement retains nothing: the
lines' fees are then given back by that fee line (a negative fee), as they are invoiced
separately.

Amounts are integers in minor units, signed as they move the balance; the payout's amount is
minus its ``payout-scheduled`` amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ledgerbridge.connectors.base import JSON, SkipRecord
from ledgerbridge.connectors.kit.payouts import PayoutStream
from ledgerbridge.connectors.kit.values import dec, text
from ledgerbridge.model.numbers import currency_places

PROVIDER = "vipps_mobilepay"
PAYOUT = "payout-scheduled"
PAYOUT_TYPES = frozenset({PAYOUT, "scheduled-for-payout"})
"""The payout entry: ``payout-scheduled`` now, ``scheduled-for-payout`` in the 2023 OpenAPI."""
FEES_RETAINED = "fees-retained"
CAPTURE_FEE = "capture-fee"
LINE_TYPES = {
    "capture": "charge",
    "refund": "refund",
    "retained-disputed-capture": "chargeback",
    "returned-disputed-capture": "chargeback_reversal",
    "payout-aborted": "payout_reversal",
    "correction": "adjustment",
    "credit-note": "adjustment",
    "top-up": "other",
}
"""Funds entry types → payout line types; a type not here (new ones may appear without notice)
is an ``other`` line that names it."""
ORDER_TYPES = frozenset({"capture", "refund", "retained-disputed-capture",
                         "returned-disputed-capture"})  # fmt: skip
"""Entries whose ``reference`` is the merchant's order id (a correction's is a text)."""


def is_payout(entry: Mapping[str, Any]) -> bool:
    return entry.get("entryType") in PAYOUT_TYPES


def payout_id(ledger_id: str, entry: Mapping[str, Any]) -> str:
    """``<ledgerId>:<pspReference>`` of the payout entry (its ledger date when it has none)."""
    return f"{ledger_id}:{text(entry.get('pspReference')) or text(entry.get('ledgerDate'))}"


def minor(entry: Mapping[str, Any], key: str = "amount") -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise SkipRecord(
            "invalid_remote_data",
            f"entry {entry.get('pspReference')} ({entry.get('entryType')}) has no whole "
            f"{key} in minor units: {value!r}",
        )
    return int(value)


def moment(value: Any) -> str | None:
    """An entry's ``time`` (UTC, ``…Z``) as an ISO moment."""
    raw = text(value)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


class Money:
    """Minor units of one currency as canonical decimal strings."""

    def __init__(self, currency: str) -> None:
        self.places = currency_places(currency)

    def __call__(self, amount: int) -> str:
        return dec(Decimal(amount).scaleb(-self.places)) or "0"


def fees_by_payment(fees: list[JSON]) -> dict[str, int]:
    """The fee of each payment (positive, minor units): its ``capture-fee`` entries."""
    found: dict[str, int] = {}
    for entry in fees:
        psp = text(entry.get("pspReference"))
        if entry.get("entryType") == CAPTURE_FEE and psp is not None:
            found[psp] = found.get(psp, 0) - minor(entry)
    return found


def payout_record(remote: JSON) -> JSON:
    """The canonical payout of ``{"ledgerId", "payout": <payout entry>, "entries": [funds
    entries before it since the previous payout], "fees": [capture-fee entries]}``."""
    ledger_id = text(remote.get("ledgerId"))
    payout = remote.get("payout")
    if ledger_id is None or not isinstance(payout, dict) or not is_payout(payout):
        raise SkipRecord("invalid_remote_data", "a payout needs its ledger and payout entry")
    currency = text(payout.get("currency"))
    arrival = text(payout.get("ledgerDate"))
    if currency is None or arrival is None:
        raise SkipRecord(
            "invalid_remote_data",
            f"payout entry {payout.get('pspReference')} has no currency or ledger date",
        )
    money = Money(currency)
    fees = fees_by_payment(list(remote.get("fees") or []))
    lines: list[JSON] = []
    seen: set[str] = set()
    retained = 0
    retained_ids: list[str] = []
    line_fees = 0
    for entry in remote.get("entries") or []:
        kind = str(entry.get("entryType") or "")
        amount = minor(entry)
        psp = text(entry.get("pspReference"))
        if kind == FEES_RETAINED:
            retained -= amount
            retained_ids.append(psp or str(len(retained_ids)))
            continue
        if text(entry.get("currency")) not in (None, currency):
            raise SkipRecord(
                "invalid_remote_data",
                f"entry {psp} is in {entry.get('currency')}, its payout in {currency}",
            )
        fee = fees.get(psp, 0) if psp is not None and kind in ("capture", "refund") else 0
        line_fees += fee
        line_type = LINE_TYPES.get(kind, "other")
        lines.append(
            {
                "line_id": _unique(f"{psp or entry.get('time')}:{kind}", seen),
                "type": line_type,
                "occurred_at": moment(entry.get("time")),
                "gross": money(amount),
                "fee": money(fee),
                "net": money(amount - fee),
                "order_ref": text(entry.get("reference")) if kind in ORDER_TYPES else None,
                "psp_ref": psp,
                "description": None if kind in LINE_TYPES else f"Vipps MobilePay entry {kind}",
            }
        )
        if kind in ("correction", "credit-note", "top-up"):
            lines[-1]["description"] = text(entry.get("reference")) or kind
    rest = retained - line_fees
    if rest:
        source = retained_ids[0] if retained_ids else text(payout.get("pspReference"))
        lines.append(
            {
                "line_id": _unique(f"{source}:{FEES_RETAINED}", seen),
                "type": "fee",
                "occurred_at": moment(payout.get("time")),
                "gross": "0",
                "fee": money(rest),
                "net": money(-rest),
                "order_ref": None,
                "psp_ref": None,
                "description": "Fees retained beyond the payments' own fees"
                if rest > 0
                else "Fees of these payments invoiced, not retained",
            }
        )
    gross = sum(
        minor(entry)
        for entry in remote.get("entries") or []
        if entry.get("entryType") != FEES_RETAINED
    )
    return {
        "provider": PROVIDER,
        "source_id": payout_id(ledger_id, payout),
        "status": "paid",
        "arrival_date": arrival,
        "created_at": moment(payout.get("time")),
        "currency": currency,
        "gross": money(gross),
        "fees": money(retained),
        "net": money(-minor(payout)),
        "bank_reference": text(payout.get("reference")),
        "lines": lines,
        "itemised": True,
    }


def _unique(line_id: str, seen: set[str]) -> str:
    """A line id not used before in the payout (``…#2`` for a repeat)."""
    candidate, count = line_id, 1
    while candidate in seen:
        count += 1
        candidate = f"{line_id}#{count}"
    seen.add(candidate)
    return candidate


class PayoutMapping(PayoutStream):
    """Payouts, inbound only: the ledger's payout entries with what they pay out."""

    read_only_reason = "Vipps MobilePay reports payouts; they are not written"

    def remote_id(self, remote: JSON) -> str:
        payout = remote.get("payout") or {}
        return payout_id(str(remote.get("ledgerId")), payout)

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return payout_record(remote)
