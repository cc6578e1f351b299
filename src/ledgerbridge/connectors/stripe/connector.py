"""Stripe connector: the account's payouts come into the hub, each with the balance
transactions it pays out (charges, refunds, disputes, fees), as ``payout`` records.

Payouts are listed newest first with ``created[gte]``, a page a call; an automatic payout's
lines are ``GET /v1/balance_transactions?payout=…`` with ``expand[]=data.source`` and
``expand[]=data.source.charge``, 100 a call (the payout's own transaction is among them); a
manual payout cannot be itemised and is read without lines. Webhooks bring a payout as soon as
it is paid, reconciled or changed; the hourly pull is the safety net. A payout's status moves
for days after it is created (pending, in transit, paid, and a paid one may still fail), so
each scan starts again at the oldest payout it saw that may still change. Such a rescan lists
the payouts again (a call a hundred) but reads a payout's lines only when the payout is new to
the connection or its state changed since its lines were read (see ``ReadMemo``): an unchanged
payout is not handed over again, which the engine takes as nothing new (an incremental stream).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
    SkipRecord,
    Verified,
)
from ledgerbridge.connectors.kit.cursors import ChangedSince
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.stripe.client import MAX_LIMIT, NotFound
from ledgerbridge.connectors.stripe.mapping import REFUSED, TRANSACTIONS, PayoutMapping
from ledgerbridge.connectors.stripe.webhooks import client_for, notices

STREAM_ENTITIES: dict[str, str] = {"payouts": "payout"}
EXPAND = (("expand[]", "data.source"), ("expand[]", "data.source.charge"))
"""A line's charge, refund or dispute, and the charge a refund or dispute belongs to: where
the order reference (metadata) and the charge id are."""
OVERLAP = timedelta(minutes=5)
"""A scan starts this much before the previous one began, so a payout created while it ran
(or stamped by a clock a little behind ours) is read again, not missed."""
SETTLING = frozenset({"pending", "in_transit"})
FAILS_WITHIN = timedelta(days=7)
"""How long after its arrival date a paid payout may still turn failed ("within 5 business
days", the spec's status description): the scans keep reading it again until then."""
STATE_FIELDS = (
    "status", "amount", "currency", "arrival_date", "automatic", "reconciliation_status",
    "failure_code", "failure_balance_transaction", "trace_id", "statement_descriptor",
    "description",
)  # fmt: skip
"""What a payout's record is made of besides its lines: a payout whose lines were read is read
again when one of these changes (paid, then failed; reconciled; its trace id known)."""
CURSOR_LIMIT = 500
"""The longest cursor the store keeps."""
MEMO_SEPARATOR = "!"
"""Between the memo and the scan's cursor (in neither base64url nor a scan cursor)."""
ENTRY = 8
"""Characters per memo entry: 48 bits of a digest of the payout id and its state."""


def payout_digest(payout: Mapping[str, Any]) -> str:
    """A payout's id and state in ``ENTRY`` characters: equal only when both are (a collision
    of 48 bits among a window's few dozen payouts is not a practical concern)."""
    state = [payout.get("id"), *(payout.get(name) for name in STATE_FIELDS)]
    blob = json.dumps(state, sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(blob).digest()[:6]).decode()


@dataclass(frozen=True)
class ReadMemo:
    """Which payouts of the rescan window have had their lines read, in which state, kept in
    the stream's cursor ahead of the scan's own: ``<previous>.<current>!<scan cursor>``.
    ``previous``: the payouts the last finished scan read or found unchanged; ``current``: those
    of this scan so far, which become ``previous`` when it ends. A payout out of the window is
    never listed again, so it drops out. When the cursor would be too long, entries are left
    out: a payout left out is read again, never missed."""

    previous: frozenset[str] = frozenset()
    current: tuple[str, ...] = ()

    @classmethod
    def split(cls, after: str | None) -> tuple[ReadMemo, str | None]:
        """A stored cursor → (memo, the scan's cursor); a cursor without a memo has none."""
        if not after or MEMO_SEPARATOR not in after:
            return cls(), after
        memo, _, scan = after.partition(MEMO_SEPARATOR)
        previous, _, current = memo.partition(".")
        return cls(frozenset(_entries(previous)), tuple(_entries(current))), scan

    def known(self, digest: str) -> bool:
        return digest in self.previous or digest in self.current

    def noting(self, digests: Iterable[str]) -> ReadMemo:
        fresh = tuple(d for d in dict.fromkeys([*self.current, *digests]))
        return ReadMemo(self.previous - set(fresh), fresh)

    def finished(self) -> ReadMemo:
        """This scan's memo as the next one's ``previous``."""
        return ReadMemo(frozenset(self.current), ())

    def joined(self, scan: str) -> str:
        """The stored cursor: memo and scan cursor, within ``CURSOR_LIMIT`` (the current scan's
        entries kept first, then the previous ones, while they fit)."""
        room = (CURSOR_LIMIT - len(scan) - len(MEMO_SEPARATOR) - 1) // ENTRY
        current = self.current[: max(room, 0)]
        previous = sorted(self.previous)[: max(room - len(current), 0)]
        return f"{''.join(previous)}.{''.join(current)}{MEMO_SEPARATOR}{scan}"


def _entries(text: str) -> list[str]:
    return [text[i : i + ENTRY] for i in range(0, len(text) - ENTRY + 1, ENTRY)]


class StripeConnector(Connector):
    system = "stripe"
    default_streams = frozenset({"payouts"})

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.client = client_for(settings, secrets, meter, transport)
        self.currency = (text(settings.get("account_currency")) or "").upper() or None
        start = settings.get("import_from")
        self.import_from: int | None = None
        if start:
            day = datetime.fromisoformat(str(start)).date()
            self.import_from = int(datetime.combine(day, time(), UTC).timestamp())
        self.mappings: Mapping[str, EntityMapping] = {"payouts": CurrencyScoped(self.currency)}

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        balance = self.client.get("/balance")
        currencies = sorted(
            str(row.get("currency", "")).upper()
            for row in balance.get("available") or []
            if isinstance(row, dict)
        )
        return f"Stripe account settling in {', '.join(currencies) or 'no currency yet'}"

    # ------------------------------------------------------------------ reads

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream != "payouts":
            return Page([], after, more=False)
        memo, after = ReadMemo.split(after)
        scan = ChangedSince.parse(after)
        now = self.clock.now().astimezone(UTC)
        if scan.starting:
            scan = scan.starts_next(str(int((now - OVERLAP).timestamp())))
        since = max(int(scan.since or 0), self.import_from or 0)
        params = [("created[gte]", str(since))] if since else []
        rows, more = self.client.page(
            "/payouts", params, limit=min(limit, MAX_LIMIT), starting_after=scan.position or None
        )
        watched = [int(p["created"]) for p in rows if self._may_change(p, now)]
        if watched:
            scan = replace(scan, upcoming=str(min([int(scan.upcoming), *watched])))
        records: list[JSON] = []
        read: list[str] = []
        for payout in rows:
            digest = payout_digest(payout)
            if memo.known(digest):
                read.append(digest)
                continue
            record = self._with_lines(payout)
            records.append(record)
            if not record.get(REFUSED):
                read.append(digest)
        memo = memo.noting(read)
        if more and rows:
            return Page(records, memo.joined(scan.at(rows[-1]["id"])), more=True)
        return Page(records, memo.finished().joined(scan.done()), more=False)

    @staticmethod
    def _may_change(payout: Mapping[str, Any], now: datetime) -> bool:
        """Whether a payout may still change status: settling, or paid lately."""
        status = payout.get("status")
        if status in SETTLING:
            return True
        arrival = payout.get("arrival_date")
        if status != "paid" or not isinstance(arrival, int):
            return False
        return datetime.fromtimestamp(arrival, UTC) > now - FAILS_WITHIN

    def _with_lines(self, payout: JSON) -> JSON:
        """The payout with its balance transactions (``ceil((lines + 1) / 100)`` calls); a
        manual payout, or one in a currency this connection does not read, gets none."""
        row = dict(payout)
        row[TRANSACTIONS] = None
        currency = str(payout.get("currency") or "").upper()
        if not payout.get("automatic") or (self.currency and currency != self.currency):
            return row
        params = [("payout", str(payout["id"])), *EXPAND]
        try:
            row[TRANSACTIONS] = list(self.client.every("/balance_transactions", params))
        except RemoteRejected as exc:
            # One payout Stripe will not itemise stops only that payout, with the reason.
            row[REFUSED] = str(exc)
        return row

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        """Each payout by id, with its lines (a call per payout, plus its lines')."""
        if stream != "payouts":
            return {}
        found: dict[str, JSON] = {}
        for payout_id in dict.fromkeys(remote_ids):
            if not payout_id.startswith("po_"):
                continue
            try:
                payout = self.client.get(f"/payouts/{payout_id}")
            except NotFound:
                continue
            found[payout_id] = self._with_lines(payout)
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """A payout's business key is its id."""
        return self.fetch_many(stream, keys)

    # ------------------------------------------------------------------ writes

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("payouts are made by Stripe, never by the hub", reason="read_only")

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("payouts are made by Stripe, never by the hub", reason="read_only")

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return notices(body)


class CurrencyScoped(PayoutMapping):
    """Payouts of the connection's currency only (``account_currency``), when it has one: an
    account that settles to a DKK and a EUR bank account needs a journal per currency, so a
    connection each."""

    def __init__(self, currency: str | None) -> None:
        self.currency = currency

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        currency = str(remote.get("currency") or "").upper()
        if self.currency and currency != self.currency:
            raise SkipRecord(
                "payout_currency_not_read",
                f"payout {remote.get('id')} is in {currency}; this connection reads "
                f"{self.currency} payouts (settings.account_currency)",
            )
        return super().to_canonical(remote, refs)


def fingerprint(secret_key: str) -> str:
    """A digest that tells keys apart without revealing them."""
    return hashlib.sha256(secret_key.encode()).hexdigest()[:16]


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """The key works (a read of the balance, which any key with balance access may make);
    the currency asked for is one the account settles in."""
    client = client_for(settings, secrets, meter, transport)
    try:
        balance = client.get("/balance")
    finally:
        client.close()
    warnings: list[str] = []
    wanted = (text(settings.get("account_currency")) or "").upper()
    held = {
        str(row.get("currency", "")).upper()
        for row in balance.get("available") or []
        if isinstance(row, dict)
    }
    if wanted and held and wanted not in held:
        warnings.append(
            f"the Stripe account holds {', '.join(sorted(held))}, not {wanted}: no payout "
            "will be read until it settles in that currency"
        )
    key = str(secrets.get("secret_key") or "")
    return Verified(settings={"key_fingerprint": fingerprint(key)}, warnings=warnings)
