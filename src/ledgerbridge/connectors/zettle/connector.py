"""Zettle connector: the POS's sales and refunds, and the card payouts, come into the hub.

Sales and refunds are one list in Zettle (``GET /purchases/v2``), paged by the hash of the last
purchase read: a page after it holds only newer purchases, so the hash is the streams'
cursor and a pull reads only what is new (until a page is empty). The ``purchases`` stream
keeps the sales, ``refunds`` the refunds. ``PurchaseCreated`` webhooks name a purchase, which
is then read by its uuid.

Payouts come from the Finance API's LIQUID account: ``PAYMENT``, ``PAYMENT_FEE`` and other
entries accumulate there until a ``PAYOUT`` entry takes the balance to the bank; a payout is
that entry and the entries since the one before it. The cursor is the last payout's moment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
    RemoteUnavailable,
    Verified,
)
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.zettle.client import NotFound, ZettleClient
from ledgerbridge.connectors.zettle.mapping import (
    Entry,
    PayoutMapping,
    PurchaseMapping,
    RefundMapping,
    group_payouts,
    payout_row,
)
from ledgerbridge.connectors.zettle.webhooks import notices

log = logging.getLogger(__name__)

STREAM_ENTITIES: dict[str, str] = {"purchases": "order", "refunds": "refund", "payouts": "payout"}
LOOKBACK = timedelta(days=31)
"""How far back the first import reads when no start date is set."""
MAX_PURCHASES = 1000
"""Zettle's largest ``limit`` for purchases."""
LEDGER_PAGE = 10_000
"""The Finance API's default (and our) ``limit`` for transactions."""
FINANCE_TIME = "%Y-%m-%dT%H:%M:%S"
NUMBER_WINDOW = timedelta(days=7)
"""Purchases read this far before a payout's first entry, to name its payments' sales."""


def client_for(settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport,
               clock: Any, on_token: Any = None) -> ZettleClient:  # fmt: skip
    """The client a connection's settings and API key make."""
    return ZettleClient(
        settings=settings, secrets=secrets, meter=meter, clock=clock, transport=transport,
        on_token=on_token,
    )  # fmt: skip


class ZettleConnector(Connector):
    system = "zettle"
    default_streams = frozenset({"purchases", "refunds", "payouts"})

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.client = client_for(settings, secrets, meter, transport, self.clock, self._token)
        start = settings.get("start_date")
        self.start: datetime | None = (
            datetime.fromisoformat(str(start)).replace(tzinfo=UTC) if start else None
        )
        self.currency: str | None = None
        self._purchases: dict[str, JSON] = {}
        self._pages: dict[tuple[tuple[str, str], ...], JSON] = {}
        """Answers of ``GET /purchases/v2`` in this run that reached the end of the list, by
        their parameters: sales and refunds come in the same list, so the stream read second
        takes the first one's answer when their cursors agree (one call a pull when nothing
        happened, not two). Full pages are not kept: an import's would hold the whole history
        in memory, and the second stream reads them again."""
        self.mappings: Mapping[str, EntityMapping] = {
            "purchases": PurchaseMapping(
                text(settings.get("tip_item")), text(settings.get("service_charge_item"))
            ),
            "refunds": RefundMapping(),
            "payouts": PayoutMapping(),
        }

    def _token(self, changed: JSON) -> None:
        """A new access token is kept with the connection, for the next run."""
        self.run_counts["oauth.grants"] += 1
        if self.on_secrets is not None:
            self.on_secrets(changed)

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        user = self.client.get("oauth", "/users/self")
        return f"Zettle organization {user.get('organizationUuid')}"

    def _since(self) -> datetime:
        return self.start or self.clock.now().astimezone(UTC) - LOOKBACK

    # ------------------------------------------------------------------ purchases

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream in ("purchases", "refunds"):
            return self._purchase_page(stream, after, limit)
        if stream == "payouts":
            return self._payouts(after)
        return Page([], after, more=False)

    def _purchase_page(self, stream: str, after: str | None, limit: int) -> Page:
        """The purchases after the cursor's hash, oldest first; each page is read until one
        comes back empty. Only the stream's kind (sales or refunds) is kept; a page the other
        stream read in this run is not read again."""
        params: dict[str, str] = {"limit": str(min(limit, MAX_PURCHASES)), "descending": "false"}
        if after:
            params["lastPurchaseHash"] = after
        else:
            params["startDate"] = self._since().strftime(FINANCE_TIME)
        key = tuple(sorted(params.items()))
        body = self._pages.get(key)
        if body is None:
            body = self.client.get("purchase", "/purchases/v2", params)
            if not isinstance(body, dict) or not isinstance(body.get("purchases"), list):
                raise RemoteUnavailable("Zettle answered GET /purchases/v2 without purchases")
            if len(body["purchases"]) < int(params["limit"]):
                self._pages[key] = body
        found = [p for p in body["purchases"] if isinstance(p, dict)]
        for purchase in found:
            if text(purchase.get("purchaseUUID1")):
                self._purchases[str(purchase["purchaseUUID1"])] = purchase
        wanted = [p for p in found if bool(p.get("refund")) == (stream == "refunds")]
        cursor = text(body.get("lastPurchaseHash")) or after
        return Page(wanted, cursor, more=bool(found))

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        """Purchases by uuid (a call each, once per run); a sale asked for as a refund, or
        the other way round, is not of that stream."""
        if stream not in ("purchases", "refunds"):
            return {}
        found: dict[str, JSON] = {}
        for rid in remote_ids:
            purchase = self._purchases.get(rid)
            if purchase is None:
                try:
                    purchase = self.client.get("purchase", f"/purchase/v2/{rid}")
                except NotFound:
                    continue
                if not isinstance(purchase, dict):
                    continue
                self._purchases[rid] = purchase
            if bool(purchase.get("refund")) == (stream == "refunds"):
                found[rid] = purchase
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """A sale's and a refund's business key is its uuid."""
        return self.fetch_many(stream, keys)

    # ------------------------------------------------------------------ payouts

    def _payouts(self, after: str | None) -> Page:
        """Payouts made since the cursor (the last payout's moment), each with its entries.
        A payout's entries began after the previous payout; on the first read, those before
        the window are missing, which the payout says (its opening balance)."""
        since = datetime.fromisoformat(after) if after else self._since()
        until = self.clock.now().astimezone(UTC) + timedelta(minutes=1)
        entries = [e for e in self._ledger(since, until) if e.timestamp > since or not after]
        groups = group_payouts(entries)
        if not groups:
            return Page([], after, more=False)
        opening = self._balance(since) if not after else 0
        numbers = self._purchase_numbers(groups)
        currency = self.currency or self._currency()
        rows = []
        for index, (payout, lines) in enumerate(groups):
            rows.append(payout_row(payout, lines, currency, numbers, opening if index == 0 else 0))
        return Page(rows, groups[-1][0].timestamp.isoformat(), more=False)

    def _ledger(self, since: datetime, until: datetime) -> list[Entry]:
        """LIQUID entries from ``since`` (inclusive, to the second) to ``until``, every page."""
        rows: list[Entry] = []
        offset = 0
        while True:
            params = {
                "start": since.astimezone(UTC).strftime(FINANCE_TIME),
                "end": until.astimezone(UTC).strftime(FINANCE_TIME),
                "limit": str(LEDGER_PAGE),
                "offset": str(offset),
            }
            body = self.client.get("finance", "/accounts/LIQUID/transactions", params)
            items = body.get("data") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise RemoteUnavailable("Zettle answered the LIQUID transactions without a list")
            rows.extend(Entry.read(item) for item in items if isinstance(item, dict))
            if len(items) < LEDGER_PAGE:
                return rows
            offset += LEDGER_PAGE

    def _balance(self, at: datetime) -> int:
        body = self.client.get("finance", "/accounts/LIQUID/balance",
                               {"at": at.astimezone(UTC).strftime(FINANCE_TIME)})  # fmt: skip
        data = body.get("data", body) if isinstance(body, dict) else {}
        try:
            return int(data.get("totalBalance") or 0)
        except (TypeError, ValueError):
            return 0

    def _currency(self) -> str:
        body = self.client.get("finance", "/payout-info")
        data = body.get("data", body) if isinstance(body, dict) else {}
        currency = text(data.get("currencyId"))
        if currency is None:
            raise RemoteUnavailable("Zettle's payout info names no currency")
        self.currency = currency
        return currency

    def _purchase_numbers(self, groups: list[tuple[Entry, list[Entry]]]) -> dict[str, str]:
        """Payment uuid → the number of the sale it paid (a refund's payment: the refunded
        sale's), from the purchases of the payouts' period. A refund of a sale from before the
        period (goods brought back weeks later) names the sale by its uuid, which is the
        order's shop id: never by the refund's own number, which is no order's."""
        moments = [e.timestamp for _, lines in groups for e in lines] + [groups[0][0].timestamp]
        params = {
            "startDate": (min(moments) - NUMBER_WINDOW).strftime(FINANCE_TIME),
            "endDate": (groups[-1][0].timestamp + timedelta(seconds=1)).strftime(FINANCE_TIME),
            "limit": str(MAX_PURCHASES),
        }
        purchases: list[JSON] = []
        while True:
            body = self.client.get("purchase", "/purchases/v2", params)
            page = body.get("purchases") if isinstance(body, dict) else None
            if not page:
                break
            purchases.extend(p for p in page if isinstance(p, dict))
            params["lastPurchaseHash"] = str(body.get("lastPurchaseHash"))
        number_of = {
            str(p.get("purchaseUUID1")): text(p.get("globalPurchaseNumber")
                                              or p.get("purchaseNumber"))
            for p in purchases
        }  # fmt: skip
        numbers: dict[str, str] = {}
        for purchase in purchases:
            sale = text(purchase.get("refundsPurchaseUUID1")) or str(purchase.get("purchaseUUID1"))
            number = number_of.get(sale) or sale
            for payment in purchase.get("payments") or []:
                if isinstance(payment, dict) and text(payment.get("uuid")) and number:
                    numbers[str(payment["uuid"])] = number
        return numbers

    # ------------------------------------------------------------------ writes and callbacks

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected(f"{stream} are not written to Zettle", reason="read_only")

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected(f"{stream} are not written to Zettle", reason="read_only")

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return notices(body)


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """The API key works: an assertion grant and ``GET /users/self``; the organization is
    learned. A revoked key is refused by Zettle with ``invalid_grant``."""
    client = client_for(settings, secrets, meter, transport, SystemClock())
    try:
        user = client.get("oauth", "/users/self")
    finally:
        client.close()
    organization = text(user.get("organizationUuid")) if isinstance(user, dict) else None
    return Verified(settings={"organization_uuid": organization} if organization else {},
                    warnings=[])  # fmt: skip
