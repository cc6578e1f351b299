"""Vipps MobilePay connector: a ledger's payouts come into the hub, read from the Report API's
``funds`` and ``fees`` feeds (no webhooks: a pull every hour).

A payout is assembled from the funds entries since the previous ``payout-scheduled`` entry up
to and including the next one (``mapping``). The feeds are read by cursor; the connection's
cursor keeps two positions (``kit.cursors.FeedPosition``):

* funds: where the payout not yet complete starts (a page's cursor and the entries of that page
  already paid out), so the next pull reads its entries again and nothing else;
* fees: the first page holding fees at or after the last payout's moment, where the fees of
  the payments still to be paid out start (a fee never comes before its capture). The fees
  feed is read only in a pull whose funds show a payout: a pull that finds none costs one
  call per funds page.

Within one pull the entries of a payout that spans several pages are kept in memory while the
cursor stays at its start: a pull that stops half-way starts that payout again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.clock import SystemClock
from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
    SetupRefused,
    Verified,
)
from ledgerbridge.connectors.kit.cursors import FeedPosition, feed_cursor, feed_positions
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.vipps_mobilepay.client import DEFAULT_BASE_URL, VippsClient
from ledgerbridge.connectors.vipps_mobilepay.mapping import (
    CAPTURE_FEE,
    PayoutMapping,
    is_payout,
    moment,
)

STREAM_ENTITIES: dict[str, str] = {"payouts": "payout"}


def client_for(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, clock: Any = None
) -> VippsClient:
    return VippsClient(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
        client_id=str(settings["client_id"]),
        client_secret=str(secrets["client_secret"]),
        subscription_key=str(secrets["subscription_key"]),
        msn=text(settings.get("msn")),
        meter=meter,
        clock=clock or SystemClock(),
        transport=transport,
    )


@dataclass
class _Fees:
    """The fees feed read to its end in this pull (when the funds feed first shows a payout):
    each payment's fee entries, and each page's cursor with its latest moment (to find where
    the fees of later payments start)."""

    start: FeedPosition
    read: bool = False
    by_payment: dict[str, list[JSON]] = field(default_factory=dict)
    pages: list[tuple[str, str]] = field(default_factory=list)
    """(the cursor the page was asked with, the latest moment on it), in feed order."""
    end: str = ""
    """The cursor after the last page read."""

    def resume_at(self, since: str | None) -> FeedPosition:
        """The first page with fees at or after ``since`` (the last payout's moment)."""
        if since is None:
            return self.start
        for cursor, latest in self.pages:
            if latest >= since:
                return FeedPosition(cursor)
        return FeedPosition(self.end)


@dataclass
class _Scan:
    """One pull of the funds feed, kept between ``read_page`` calls."""

    ledger_id: str
    fees: _Fees
    next_cursor: str
    """The funds page to ask for next."""
    skip: int
    """Entries of that page already read (paid out) before this pull."""
    pending: list[JSON] = field(default_factory=list)
    pending_start: FeedPosition | None = None
    last_payout: str | None = None
    """The moment of the last payout completed in this pull."""
    returned: str | None = None
    """The cursor last handed to the engine: a ``read_page`` with it continues this scan."""
    done: bool = False

    def cursor(self) -> str:
        funds = self.pending_start or FeedPosition(self.next_cursor, self.skip)
        return feed_cursor(funds, self.fees.resume_at(self.last_payout))


class VippsConnector(Connector):
    system = "vipps_mobilepay"
    default_streams = frozenset({"payouts"})

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.client = client_for(settings, secrets, meter, transport, self.clock)
        self.ledger_id = text(settings.get("ledger_id"))
        self.msn = text(settings.get("msn"))
        self.mappings: Mapping[str, EntityMapping] = {"payouts": PayoutMapping()}
        self._scan: _Scan | None = None

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        ledger = pick_ledger(self.client.ledgers(), self.ledger_id, self.msn)
        handles = ", ".join(ledger.get("settlesForRecipientHandles") or [])
        return f"Vipps MobilePay ledger {ledger['ledgerId']} ({ledger.get('currency')}, {handles})"

    def _ledger(self) -> str:
        if self.ledger_id is None:
            self.ledger_id = str(pick_ledger(self.client.ledgers(), None, self.msn)["ledgerId"])
        return self.ledger_id

    # ------------------------------------------------------------------ reads

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream != "payouts":
            return Page([], after, more=False)
        scan = self._scan
        if scan is None or scan.done or scan.returned != after:
            scan = self._start(after)
        page = self.client.feed(scan.ledger_id, "funds", scan.next_cursor)
        asked = scan.next_cursor
        records: list[JSON] = []
        for index, entry in enumerate(page.items):
            if index < scan.skip:
                continue
            if is_payout(entry):
                if not scan.fees.read:
                    self._read_fees(scan)
                records.append(self._payout(scan, entry))
                scan.pending, scan.pending_start = [], None
                scan.last_payout = moment(entry.get("time")) or scan.last_payout
                continue
            if not scan.pending:
                scan.pending_start = FeedPosition(asked, index)
            scan.pending.append(entry)
        scan.skip = 0
        scan.next_cursor = page.cursor
        scan.done = page.try_later or not page.items
        scan.returned = scan.cursor()
        return Page(records, scan.returned, more=not scan.done)

    def _start(self, after: str | None) -> _Scan:
        """A pull from the connection's cursor."""
        funds, fees_start = feed_positions(after, 2)
        self._scan = _Scan(self._ledger(), _Fees(fees_start), funds.cursor, funds.taken)
        return self._scan

    def _read_fees(self, scan: _Scan) -> None:
        """The fees feed read to its end once the pull meets its first payout, so every
        payment's fee is known when the payout is assembled; a pull that meets no payout
        leaves the fees feed unread (its position stays where it was)."""
        fees = scan.fees
        cursor = fees.start.cursor
        while True:
            page = self.client.feed(scan.ledger_id, "fees", cursor)
            moments = [m for m in (moment(e.get("time")) for e in page.items) if m is not None]
            if moments:
                fees.pages.append((cursor, max(moments)))
            for entry in page.items:
                psp = text(entry.get("pspReference"))
                if entry.get("entryType") == CAPTURE_FEE and psp is not None:
                    fees.by_payment.setdefault(psp, []).append(entry)
            cursor = page.cursor
            if page.try_later or not page.items:
                break
        fees.end = cursor
        fees.read = True

    def _payout(self, scan: _Scan, entry: JSON) -> JSON:
        payments = dict.fromkeys(text(e.get("pspReference")) for e in scan.pending)
        fees = [fee for psp in payments if psp for fee in scan.fees.by_payment.get(psp, [])]
        return {"ledgerId": scan.ledger_id, "payout": entry, "entries": scan.pending, "fees": fees}

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        """A payout cannot be read by itself (the API has no payout object): it comes with the
        feed only."""
        return {}

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        return {}

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("Vipps MobilePay payouts are not written", reason="read_only")

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("Vipps MobilePay payouts are not written", reason="read_only")

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return []


def pick_ledger(ledgers: list[JSON], ledger_id: str | None, msn: str | None) -> JSON:
    """The connection's ledger among those the keys reach: the one named, else the one that
    settles for the MSN, else the only one."""
    if ledger_id is not None:
        for ledger in ledgers:
            if str(ledger.get("ledgerId")) == ledger_id:
                return ledger
        known = ", ".join(str(ledger.get("ledgerId")) for ledger in ledgers) or "none"
        raise SetupRefused(
            f"these API keys do not reach ledger {ledger_id} (they reach: {known}); has the "
            "merchant given access to it?",
            "ledger_id",
        )
    found = ledgers
    if msn is not None:
        found = [
            ledger
            for ledger in ledgers
            if any(
                str(handle).partition(":")[2] == msn
                for handle in ledger.get("settlesForRecipientHandles") or []
            )
        ]
    if len(found) == 1:
        return found[0]
    if not found:
        what = f"settles for MSN {msn}" if msn else "these API keys reach"
        raise SetupRefused(f"no ledger {what}", "msn" if msn else "client_id")
    ids = ", ".join(str(ledger.get("ledgerId")) for ledger in found)
    raise SetupRefused(
        f"these API keys reach several ledgers ({ids}): set ledger_id or msn", "ledger_id"
    )


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """The keys give a token and reach the ledger; an unnamed ledger is learned (the keys'
    only one, or the MSN's)."""
    client = client_for(settings, secrets, meter, transport)
    try:
        ledger = pick_ledger(
            client.ledgers(), text(settings.get("ledger_id")), text(settings.get("msn"))
        )
    finally:
        client.close()
    return Verified(settings={"ledger_id": str(ledger["ledgerId"])}, warnings=[])
