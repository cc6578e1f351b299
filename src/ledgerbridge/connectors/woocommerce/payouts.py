"""WooPayments deposits and their transactions → canonical ``Payout`` records: pure functions.

A deposit row as the connector hands it over is the deposit object of
``GET /wc/v3/payments/deposits`` with ``_transactions``: the transactions of
``GET /wc/v3/payments/transactions?deposit_id=…``, oldest first. A shop without WooPayments is
handed over as one row with ``_missing`` saying so, which becomes the stream's one issue.

WooPayments facts relied on (``shared/research/api-acquirers.md`` §2, ``api-woocommerce.md`` §8,
the docs' examples): amounts are integers in the currency's minor unit, currencies lower case;
a deposit's ``date`` is in milliseconds, ``created`` in seconds; a transaction's ``amount`` is
gross and signed (a refund negative), ``fees`` what WooPayments kept, ``net = amount - fees``;
``order.number`` is the shop's order number, ``charge_id`` the Stripe charge.
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

PROVIDER = "woopayments"
TRANSACTIONS = "_transactions"
"""Key of a deposit row holding its transactions."""
MISSING = "_missing"
"""Key of the row that stands for a shop without WooPayments: why."""
MISSING_ID = "woopayments"
"""Remote id of that row: one issue, however often the shop is read."""
LINE_TYPES: dict[str, str] = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "refund_failure": "refund",
    "payment_failure_refund": "refund",
    "dispute": "chargeback",
    "dispute_reversal": "chargeback_reversal",
    "card_reader_fee": "fee",
    "fee": "fee",
    "adjustment": "adjustment",
}
"""Transaction ``type`` → line type; any other type is ``other``."""
STATUSES = frozenset({"pending", "in_transit", "paid", "failed", "canceled"})


def minor(value: Any, currency: str, what: str) -> Decimal:
    """An integer in the currency's minor unit as an amount (``29875`` DKK → ``298.75``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SkipRecord("invalid_remote_data", f"{what} is not a whole number: {value!r}")
    return Decimal(value).scaleb(-currency_places(currency))


def _moment(value: Any) -> str | None:
    """A transaction's ``date`` (``YYYY-MM-DD HH:MM:SS``, taken as UTC) as an ISO moment."""
    raw = text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _order_ref(txn: Mapping[str, Any]) -> str | None:
    """The order number (a shop with sequential numbers shows it), else the order id."""
    order = txn.get("order")
    number = text(order.get("number")) if isinstance(order, dict) else None
    if number is not None:
        return number
    order_id = txn.get("order_id")
    return str(order_id) if isinstance(order_id, int) and order_id > 0 else text(order_id)


def payout_line(txn: Mapping[str, Any], currency: str) -> JSON:
    """One transaction as a payout line, its fee merged in."""
    txn_id = text(txn.get("transaction_id"))
    if txn_id is None:
        raise SkipRecord("invalid_remote_data", "a WooPayments transaction has no id")
    what = f"transaction {txn_id}"
    kind = LINE_TYPES.get(str(txn.get("type") or ""), "other")
    amount = minor(txn.get("amount"), currency, f"{what}'s amount")
    fee = minor(txn.get("fees", 0) or 0, currency, f"{what}'s fees")
    net = minor(txn.get("net"), currency, f"{what}'s net")
    if amount - fee != net:
        raise SkipRecord(
            "invalid_remote_data", f"{what}: net {net} is not amount {amount} minus fees {fee}"
        )
    if kind == "fee":
        amount, fee = Decimal(0), -net
    original_currency: str | None = None
    original_amount: str | None = None
    paid_in = (text(txn.get("customer_currency")) or "").upper()
    if paid_in and paid_in != currency and isinstance(txn.get("customer_amount"), int):
        value = abs(minor(txn["customer_amount"], paid_in, f"{what}'s customer amount"))
        original_currency = paid_in
        original_amount = dec(value if amount >= 0 else -value)
    return {
        "line_id": txn_id,
        "type": kind,
        "occurred_at": _moment(txn.get("date")),
        "gross": dec(amount),
        "fee": dec(fee),
        "net": dec(net),
        "original_currency": original_currency,
        "original_amount": original_amount,
        "order_ref": _order_ref(txn),
        "psp_ref": text(txn.get("charge_id")) or text(txn.get("payment_intent_id")),
        "description": None,
    }


def payout_record(remote: Mapping[str, Any]) -> JSON:
    """A deposit row (see the module docstring) as a canonical ``Payout``."""
    if remote.get(MISSING):
        raise SkipRecord("woopayments_not_active", str(remote[MISSING]))
    deposit_id = text(remote.get("id"))
    currency = (text(remote.get("currency")) or "").upper()
    if deposit_id is None or len(currency) != 3:
        raise SkipRecord("invalid_remote_data", f"deposit {deposit_id} has no id or currency")
    date = remote.get("date")
    if isinstance(date, bool) or not isinstance(date, int):
        raise SkipRecord("invalid_remote_data", f"deposit {deposit_id} has no date")
    net = minor(remote.get("amount"), currency, f"deposit {deposit_id}'s amount")
    if remote.get("type") == "withdrawal" and net > 0:
        net = -net  # money taken from the bank, whichever sign the amount is given with
    transactions = remote.get(TRANSACTIONS)
    itemised = isinstance(transactions, list)
    lines = [payout_line(txn, currency) for txn in transactions or []]
    own_fee = minor(remote.get("fee", 0) or 0, currency, f"deposit {deposit_id}'s fee")
    if own_fee and itemised:
        # An instant deposit's fee is kept from the deposit: a fee line of its own, so the
        # lines add up to what reached the bank and the fee is booked as one.
        lines.append({
            "line_id": f"{deposit_id}:fee", "type": "fee", "occurred_at": None, "gross": "0",
            "fee": dec(own_fee), "net": dec(-own_fee), "order_ref": None, "psp_ref": None,
            "description": "Deposit fee (instant deposit)",
        })  # fmt: skip
    gross = sum((Decimal(ln["gross"]) for ln in lines), Decimal(0)) if itemised else net
    fees = sum((Decimal(ln["fee"]) for ln in lines), Decimal(0))
    if not itemised:
        fees += own_fee
    status = str(remote.get("status") or "")
    created = remote.get("created")
    return {
        "provider": PROVIDER,
        "source_id": deposit_id,
        "status": status if status in STATUSES else "pending",
        "arrival_date": datetime.fromtimestamp(date / 1000, UTC).date().isoformat(),
        "created_at": datetime.fromtimestamp(created, UTC).isoformat()
        if isinstance(created, int) and not isinstance(created, bool)
        else None,
        "currency": currency,
        "gross": dec(gross),
        "fees": dec(fees),
        "net": dec(net),
        "bank_reference": None,
        "lines": lines,
        "itemised": itemised,
    }


class DepositMapping(PayoutStream):
    """WooPayments deposits, inbound only: WooPayments makes them. A deposit read again
    unchanged is the same record; one whose status or lines changed is an update."""

    remote_entity = "deposit"
    read_only_reason = "deposits_are_woopayments"

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return payout_record(remote)
