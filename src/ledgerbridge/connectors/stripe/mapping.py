"""Stripe payouts and balance transactions → canonical ``Payout`` records: pure functions.

A payout row as the connector hands it over is the payout object with ``_transactions``: the
balance transactions of ``GET /v1/balance_transactions?payout=…`` with ``source`` (and the
source's ``charge``) expanded, or None for a manual payout, which Stripe cannot itemise.

Stripe facts relied on (``shared/research/api-acquirers.md`` §1, the official OpenAPI): amounts
are integers in the currency's minor unit, signed as the balance sees them (a refund is
negative); a balance transaction's ``amount`` is gross, ``fee`` the sum of its ``fee_details``,
``net = amount - fee``; ``exchange_rate`` is set when the source was in another currency; the
payout's own ``type=payout`` transaction is in the list and is not a line.
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

TRANSACTIONS = "_transactions"
"""Key of a payout row holding its balance transactions (None: not itemisable)."""
REFUSED = "_lines_refused"
"""Key of a payout row whose lines Stripe refused to list: why."""
ORDER_KEYS = ("order_id", "order_number")
"""Metadata keys a shop's Stripe plugin stores its order under (WooCommerce's gateway writes
``order_id``; others ``order_number``)."""
LINE_TYPES: dict[str, str] = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "payment_failure_refund": "refund",
    "refund_failure": "refund",
    "stripe_fee": "fee",
    "stripe_fx_fee": "fee",
    "tax_fee": "fee",
    "application_fee": "fee",
    "application_fee_refund": "fee",
    "payout_failure": "payout_reversal",
    "payout_cancel": "payout_reversal",
    "reserve_transaction": "reserve",
    "reserved_funds": "reserve",
    "adjustment": "adjustment",
}
"""Balance transaction ``type`` → line type; any other type is ``other``."""
FEE_ONLY = frozenset({"fee"})
"""Line types whose whole amount is a fee kept (or given back) by Stripe: gross 0."""
OWN = frozenset({"payout"})
"""The payout's own transaction: the money leaving the balance, not a line."""


def minor(value: Any, currency: str, what: str) -> Decimal:
    """An integer in the currency's minor unit as an amount (``1999`` DKK → ``19.99``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SkipRecord("invalid_remote_data", f"{what} is not a whole number: {value!r}")
    return Decimal(value).scaleb(-currency_places(currency))


def moment(value: Any) -> str | None:
    """A Unix timestamp as an ISO moment (UTC)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat()


def line_type(txn: Mapping[str, Any]) -> str:
    """The canonical type of a balance transaction: a dispute's withdrawal is a chargeback,
    the funds given back when it is won a chargeback reversal."""
    kind = str(txn.get("type") or "")
    category = str(txn.get("reporting_category") or "")
    source = txn.get("source")
    source_object = source.get("object") if isinstance(source, dict) else None
    disputed = category.startswith("dispute") or source_object == "dispute" or (
        isinstance(source, str) and source.startswith("dp_")
    )  # fmt: skip
    if kind == "adjustment" and disputed:
        reversal = category == "dispute_reversal" or int(txn.get("amount") or 0) > 0
        return "chargeback_reversal" if reversal else "chargeback"
    return LINE_TYPES.get(kind, "other")


def _charge_of(source: Any) -> Mapping[str, Any] | None:
    """The charge a source is or refers to, when expanded."""
    if not isinstance(source, dict):
        return None
    if source.get("object") == "charge":
        return source
    charge = source.get("charge")
    return charge if isinstance(charge, dict) else None


def _charge_id(source: Any) -> str | None:
    if isinstance(source, str):
        return source if source.startswith(("ch_", "py_")) else None
    if not isinstance(source, dict):
        return None
    if source.get("object") == "charge":
        return text(source.get("id"))
    charge = source.get("charge")
    if isinstance(charge, dict):
        return text(charge.get("id"))
    return text(charge)


def order_ref(source: Any) -> str | None:
    """The shop's order: the source's own metadata (a refund may carry it), else its
    charge's."""
    holders = [source, _charge_of(source)]
    for holder in holders:
        metadata = holder.get("metadata") if isinstance(holder, dict) else None
        if isinstance(metadata, dict):
            for key in ORDER_KEYS:
                found = text(metadata.get(key))
                if found is not None:
                    return found
    return None


def _original(txn: Mapping[str, Any], kind: str, currency: str) -> tuple[str | None, str | None]:
    """The currency and amount the customer paid in, when Stripe converted it (``exchange_rate``
    set and the source in another currency), signed like the line."""
    source = txn.get("source")
    if txn.get("exchange_rate") is None or not isinstance(source, dict):
        return None, None
    original = text(source.get("currency"))
    amount = source.get("amount")
    if original is None or original.upper() == currency or not isinstance(amount, int):
        return None, None
    value = minor(amount, original, "the source's amount")
    if kind in ("refund", "chargeback"):
        value = -value
    return original.upper(), dec(value)


def payout_line(txn: Mapping[str, Any], currency: str) -> JSON:
    """One balance transaction as a payout line."""
    txn_id = text(txn.get("id"))
    if txn_id is None:
        raise SkipRecord("invalid_remote_data", "a balance transaction has no id")
    kind = line_type(txn)
    what = f"balance transaction {txn_id}"
    amount = minor(txn.get("amount"), currency, f"{what}'s amount")
    fee = minor(txn.get("fee", 0), currency, f"{what}'s fee")
    net = minor(txn.get("net"), currency, f"{what}'s net")
    if amount - fee != net:
        raise SkipRecord(
            "invalid_remote_data", f"{what}: net {net} is not amount {amount} minus fee {fee}"
        )
    if kind in FEE_ONLY:
        amount, fee = Decimal(0), -net
    original_currency, original_amount = _original(txn, kind, currency)
    source = txn.get("source")
    return {
        "line_id": txn_id,
        "type": kind,
        "occurred_at": moment(txn.get("created")),
        "gross": dec(amount),
        "fee": dec(fee),
        "net": dec(net),
        "original_currency": original_currency,
        "original_amount": original_amount,
        "order_ref": order_ref(source),
        "psp_ref": _charge_id(source),
        "description": text(txn.get("description")),
    }


def payout_record(remote: Mapping[str, Any]) -> JSON:
    """A payout row (see the module docstring) as a canonical ``Payout``."""
    payout_id = text(remote.get("id"))
    currency = (text(remote.get("currency")) or "").upper()
    if payout_id is None or len(currency) != 3:
        raise SkipRecord("invalid_remote_data", f"payout {payout_id} has no id or currency")
    arrival = remote.get("arrival_date")
    if isinstance(arrival, bool) or not isinstance(arrival, int):
        raise SkipRecord("invalid_remote_data", f"payout {payout_id} has no arrival date")
    if remote.get(REFUSED):
        raise SkipRecord(
            "payout_lines_unreadable",
            f"Stripe refused to list the lines of payout {payout_id}: {remote[REFUSED]}",
        )
    net = minor(remote.get("amount"), currency, f"payout {payout_id}'s amount")
    transactions = remote.get(TRANSACTIONS)
    itemised = bool(remote.get("automatic")) and isinstance(transactions, list)
    lines: list[JSON] = []
    if itemised and isinstance(transactions, list):
        own = text(remote.get("balance_transaction"))
        # Stripe lists newest first; a journal reads oldest first.
        lines = [
            payout_line(txn, currency)
            for txn in reversed(transactions)
            if str(txn.get("type")) not in OWN and text(txn.get("id")) != own
        ]
    gross = sum((Decimal(line["gross"]) for line in lines), Decimal(0)) if itemised else net
    fees = sum((Decimal(line["fee"]) for line in lines), Decimal(0))
    trace = remote.get("trace_id")
    trace_value = text(trace.get("value")) if isinstance(trace, dict) else None
    return {
        "provider": "stripe",
        "source_id": payout_id,
        "status": text(remote.get("status")) or "pending",
        "arrival_date": datetime.fromtimestamp(arrival, UTC).date().isoformat(),
        "created_at": moment(remote.get("created")),
        "currency": currency,
        "gross": dec(gross),
        "fees": dec(fees),
        "net": dec(net),
        "bank_reference": trace_value
        or text(remote.get("statement_descriptor"))
        or text(remote.get("description")),
        "lines": lines,
        "itemised": itemised,
    }


class PayoutMapping(PayoutStream):
    """Payouts, inbound only: Stripe is where they happen. A payout read again unchanged is
    the same record; one whose status or lines changed (paid, then failed) is an update."""

    read_only_reason = "payouts_are_stripes"

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return payout_record(remote)
