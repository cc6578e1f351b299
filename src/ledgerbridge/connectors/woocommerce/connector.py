"""WooCommerce connector: a shop's orders and refunds come into the hub, its products go both
ways by SKU, and the accounting system's stock goes out to its products and variations.

Orders are read with ``modified_after`` (GMT) in id order, 100 a call, paged by
``X-WP-TotalPages``; refunds with ``after`` from ``GET /refunds`` (WooCommerce 9.0+), or order
by order on a shop that lacks it. Webhooks bring changes at once (``webhooks``); a safety-net
pull that finds changed orders, and each products refresh, also switch back on the webhooks
WooCommerce disabled. With WooPayments, its
deposits come in as payouts (``payouts``, off by default) with the same keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
    Verified,
)
from ledgerbridge.connectors.kit.cursors import SEPARATOR, ChangedSince
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.woocommerce.client import (
    BATCH_SIZE,
    MAX_PER_PAGE,
    NotFound,
    item_error,
)
from ledgerbridge.connectors.woocommerce.mapping import (
    OrderMapping,
    ProductMapping,
    RefundMapping,
    StockMapping,
    product_remote_id,
    split_remote_id,
)
from ledgerbridge.connectors.woocommerce.payouts import (
    MISSING,
    MISSING_ID,
    TRANSACTIONS,
    DepositMapping,
)
from ledgerbridge.connectors.woocommerce.prices import (
    basis_of,
    read_price_basis,
    tax_classes_of,
)
from ledgerbridge.connectors.woocommerce.webhooks import client_for, notices, revive

log = logging.getLogger(__name__)

STREAM_ENTITIES: dict[str, str] = {
    "products": "product",
    "stock": "stock_level",
    "orders": "order",
    "refunds": "refund",
    "payouts": "payout",
}
CHANGED_SINCE_OVERLAP = timedelta(minutes=2)
"""A ``modified_after`` scan starts this much before the previous one began, so an order saved
while it ran (or stamped by a shop clock a little behind ours) is read again, not missed."""
GMT = "%Y-%m-%dT%H:%M:%S"
TRASH_CHECK_EVERY = timedelta(days=1)
"""How often an orders pull also reads the shop's trash (``status=any`` leaves it out): an
order trashed after booking, whose ``order.deleted`` deliveries were all missed, gets its issue
within a day, for one call a day (an idle hour's calls stay one per pulled stream)."""
TRASH_PAGE = "t"
"""Marks an orders scan's position as a page of its trash pass (``t1``, ``t2``, …)."""
DEPOSITS = "/payments/deposits"
TRANSACTIONS_PATH = "/payments/transactions"
DEPOSIT_DATE = "%Y-%m-%d %H:%M:%S"
"""How WooPayments' ``date_after`` filter is written (UTC)."""
SETTLING = frozenset({"pending", "in_transit"})
FAILS_WITHIN = timedelta(days=7)
"""How long after its date a paid deposit may still turn failed (Stripe's "within 5 business
days", WooPayments being Stripe underneath): the scans keep reading it again until then."""
NO_WOOPAYMENTS = (
    "the shop answers no WooPayments routes (/wp-json/wc/v3/payments/deposits): WooPayments is "
    "not installed or not active. Switch the payouts stream off, or activate WooPayments"
)


class WooCommerceConnector(Connector):
    system = "woocommerce"
    default_streams = frozenset({"products", "stock", "orders", "refunds"})
    batched_writes = frozenset({"products", "stock"})
    held_hints: Mapping[str, str] = {
        "products": "the shop has no product or variation with that SKU yet; the stock "
        "follows by itself once the product is there (this connection sends it, or add it in "
        "WooCommerce)"
    }

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.client = client_for(settings, secrets, meter, transport)
        self.base_url = str(settings["base_url"])
        self.webhook_ids = {str(i) for i in secrets.get("webhook_ids") or []}
        self._refunds_route: bool | None = None
        self.mappings: Mapping[str, EntityMapping] = {
            "products": ProductMapping(
                basis_of(settings),
                services=bool(settings.get("send_service_items")),
                tax_classes=tax_classes_of(settings),
            ),
            "stock": StockMapping(text(settings.get("stock_warehouse"))),
            "orders": OrderMapping(),
            "refunds": RefundMapping(),
            "payouts": DepositMapping(),
        }

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        found = self.client.page_of("/orders", {"status": "any"}, per_page=1)
        return f"WooCommerce shop {self.base_url} ({found.total or 0} orders)"

    def count(self, stream: str) -> int | None:
        """The records an import of the stream handles, counted as its reads count them, so
        that its progress never passes its total: orders and refunds by ``X-WP-Total``,
        products with each variable product's variations in its place, deposits by
        WooPayments' ``total_count``. None when the shop cannot say (no ``GET /refunds``
        before WooCommerce 9.0, no WooPayments)."""
        try:
            if stream == "orders":
                return self.client.page_of("/orders", {"status": "any"}, per_page=1).total
            if stream == "refunds":
                return self.client.page_of("/refunds", {}, per_page=1).total
            if stream == "products":
                return self._products_count()
            if stream == "payouts":
                total = self.client.get(DEPOSITS, {"pagesize": "1"}).get("total_count")
                return total if isinstance(total, int) else None
        except NotFound:
            return None
        except RemoteRejected as exc:
            if not _no_route(exc):
                raise
        return None

    def _products_count(self) -> int | None:
        """Products as ``_products`` reads them: every product, less the variable ones, plus
        their variations (the ids each lists in ``variations``): one call, plus one per 100
        variable products."""
        every = self.client.page_of("/products", {}, per_page=1).total
        if every is None:
            return None
        variable = variations = 0
        page = 1
        while True:
            found = self.client.page_of(
                "/products", {"type": "variable"}, page=page, per_page=MAX_PER_PAGE
            )
            variable += len(found.items)
            variations += sum(len(p.get("variations") or []) for p in found.items)
            if page >= found.total_pages or not found.items:
                return every - variable + variations
            page += 1

    # ------------------------------------------------------------------ reads

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream == "orders":
            return self._changed_orders(after, limit)
        if stream == "refunds":
            return self._new_refunds(after, limit)
        if stream == "products":
            return self._products(after, limit)
        if stream == "payouts":
            return self._deposits(after, limit)
        return Page([], after, more=False)  # stock is written, never read

    def _deposits(self, after: str | None, limit: int) -> Page:
        """WooPayments deposits dated after the cursor's moment (seconds), oldest first, each
        with its transactions. A deposit still settling, or paid lately, may change status:
        the next scan starts again before the oldest such one. A shop without WooPayments
        gives one row saying so (its issue), and the scan ends."""
        scan = ChangedSince.parse(after)
        now = self.clock.now().astimezone(UTC)
        if scan.starting:
            scan = scan.starts_next(str(int((now - CHANGED_SINCE_OVERLAP).timestamp())))
        page = scan.page()
        params = {"sort": "date", "direction": "asc", "page": str(page),
                  "pagesize": str(min(limit, MAX_PER_PAGE))}  # fmt: skip
        if scan.since:
            moment = datetime.fromtimestamp(int(scan.since), UTC)
            params["date_after"] = moment.strftime(DEPOSIT_DATE)
        try:
            body = self.client.get(DEPOSITS, params)
        except NotFound:
            return Page([{"id": MISSING_ID, MISSING: NO_WOOPAYMENTS}], scan.done(), more=False)
        except RemoteRejected as exc:
            if not _no_route(exc):
                raise
            return Page([{"id": MISSING_ID, MISSING: NO_WOOPAYMENTS}], scan.done(), more=False)
        rows = [dict(d) for d in body.get("data") or [] if isinstance(d, dict)]
        watched = [int(d["date"]) // 1000 - 1 for d in rows if _may_change(d, now)]
        if watched:
            scan = replace(scan, upcoming=str(min([int(scan.upcoming), *watched])))
        records = [self._with_transactions(d) for d in rows]
        total = body.get("total_count")
        more = (page * int(params["pagesize"]) < total) if isinstance(total, int) else (
            len(rows) >= int(params["pagesize"])
        )  # fmt: skip
        if more and rows:
            return Page(records, scan.at(page + 1), more=True)
        return Page(records, scan.done(), more=False)

    def _with_transactions(self, deposit: JSON) -> JSON:
        """The deposit with its transactions, oldest first (a call per 100)."""
        rows: list[JSON] = []
        page = 1
        while True:
            body = self.client.get(TRANSACTIONS_PATH, {
                "deposit_id": str(deposit["id"]), "sort": "date", "direction": "asc",
                "page": str(page), "pagesize": str(MAX_PER_PAGE)})  # fmt: skip
            found = [dict(t) for t in body.get("data") or [] if isinstance(t, dict)]
            rows.extend(found)
            if len(found) < MAX_PER_PAGE:
                return {**deposit, TRANSACTIONS: rows}
            page += 1

    def _changed_orders(self, after: str | None, limit: int) -> Page:
        """Orders saved since the cursor's moment, in id order (a save during the scan can
        only shift rows to later pages, so one is read twice, never skipped). ``status=any``
        leaves trashed orders out: a trashed order comes with its ``order.deleted`` webhook,
        and, should every delivery of it be missed, with the trash pass at the end of a scan
        (at most once every ``TRASH_CHECK_EVERY``, see ``_trash_due``)."""
        core, checked = _orders_cursor(after)
        scan = ChangedSince.parse(core)
        starting = scan.starting
        if starting:
            began = self.clock.now().astimezone(UTC) - CHANGED_SINCE_OVERLAP
            scan = scan.starts_next(began.strftime(GMT))
        if scan.position.startswith(TRASH_PAGE):
            return self._trashed_orders(scan, checked, int(scan.position[1:]), limit)
        page = scan.page()
        params = {"status": "any", "orderby": "id", "order": "asc", "dates_are_gmt": "true"}
        if scan.since:
            params["modified_after"] = scan.since
        found = self.client.page_of("/orders", params, page=page, per_page=limit)
        if starting and found.items:
            self._revive_webhooks()
        if page < found.total_pages and found.items:
            return Page(found.items, _orders_at(scan.at(page + 1), checked), more=True)
        if self._trash_due(scan, checked):
            return Page(found.items, _orders_at(scan.at(f"{TRASH_PAGE}1"), checked), more=True)
        return Page(found.items, _orders_at(scan.done(), checked), more=False)

    def _trash_due(self, scan: ChangedSince, checked: str) -> bool:
        """Whether this scan ends with a look at the shop's trash: a pull (the import reads
        no trash: a trashed order has nothing to book) whose trash was not read in the last
        ``TRASH_CHECK_EVERY``. The trash is read by ``modified_after`` too (moving an order
        there saves it), so a check costs one call when nothing was trashed."""
        if not scan.since:
            return False
        try:
            last = datetime.strptime(checked, GMT).replace(tzinfo=UTC)
        except ValueError:
            return True  # never checked (a cursor saved before the trash pass, the import's)
        return self.clock.now().astimezone(UTC) - last >= TRASH_CHECK_EVERY

    def _trashed_orders(self, scan: ChangedSince, checked: str, page: int, limit: int) -> Page:
        """Orders moved to the trash since the last check (else since this scan's moment), so
        that an order trashed after it was booked gets its issue even when the shop's
        ``order.deleted`` deliveries were all missed; the next check reads from the moment
        this scan began."""
        params = {"status": "trash", "orderby": "id", "order": "asc", "dates_are_gmt": "true",
                  "modified_after": checked or scan.since}  # fmt: skip
        found = self.client.page_of("/orders", params, page=page, per_page=limit)
        if page < found.total_pages and found.items:
            return Page(found.items, _orders_at(scan.at(f"{TRASH_PAGE}{page + 1}"), checked), True)
        return Page(found.items, _orders_at(scan.done(), scan.upcoming), more=False)

    def _revive_webhooks(self) -> None:
        """An orders pull that finds changed orders, and each products refresh, also switch
        on the webhooks WooCommerce disabled after failed deliveries: the pull covers the gap,
        and changes come at once again after. WooCommerce disables a webhook only after its
        deliveries failed, that is after orders or products changed, so an orders pull that
        finds none spends no call on it (product webhooks wait for the 6-hourly refresh, which
        reads every product anyway). A problem here is logged and never fails the pull (a
        refused key still does)."""
        try:
            revived = revive(self.client, self.webhook_ids)
        except RemoteRejected as exc:
            log.warning("WooCommerce webhooks could not be checked: %s", exc)
            return
        for webhook_id in revived:
            log.warning(
                "WooCommerce had disabled webhook %s after failed deliveries; switched on again",
                webhook_id,
            )
        if revived:
            self.run_counts["webhooks.revived"] += len(revived)

    def _new_refunds(self, after: str | None, limit: int) -> Page:
        """Refunds made since the cursor's moment. A refund is never changed, only made (or
        deleted, which does not propagate)."""
        scan = ChangedSince.parse(after)
        if scan.starting:
            began = self.clock.now().astimezone(UTC) - CHANGED_SINCE_OVERLAP
            scan = scan.starts_next(began.strftime(GMT))
        if self._refunds_route is False:
            return self._refunds_by_order(scan, limit)
        page = scan.page()
        params = {"orderby": "id", "order": "asc", "dates_are_gmt": "true"}
        if scan.since:
            params["after"] = scan.since
        try:
            found = self.client.page_of("/refunds", params, page=page, per_page=limit)
        except RemoteRejected as exc:
            if not _no_route(exc):
                raise
            self._refunds_route = False
            return self._refunds_by_order(scan, limit)
        self._refunds_route = True
        rows = self._with_currency(found.items)
        if page < found.total_pages and found.items:
            return Page(rows, scan.at(page + 1), more=True)
        return Page(rows, scan.done(), more=False)

    def _refunds_by_order(self, scan: ChangedSince, limit: int) -> Page:
        """Without ``GET /refunds``: the orders saved since the moment that list refunds (a
        refund saves its order), and each one's refunds (a call per such order)."""
        page = scan.page()
        params = {"status": "any", "orderby": "id", "order": "asc", "dates_are_gmt": "true"}
        if scan.since:
            params["modified_after"] = scan.since
        found = self.client.page_of("/orders", params, page=page, per_page=limit)
        rows: list[JSON] = []
        for order in found.items:
            if order.get("refunds"):
                for refund in self.client.list_all(f"/orders/{int(order['id'])}/refunds"):
                    rows.append(
                        {**refund, "parent_id": order["id"], "_currency": order.get("currency")}
                    )
        if page < found.total_pages and found.items:
            return Page(rows, scan.at(page + 1), more=True)
        return Page(rows, scan.done(), more=False)

    def _with_currency(self, refunds: list[JSON]) -> list[JSON]:
        """Refunds with their order's currency (a refund does not carry it): one call for the
        orders of a page."""
        order_ids = sorted({int(r["parent_id"]) for r in refunds if r.get("parent_id")})
        currencies: dict[str, Any] = {}
        for start in range(0, len(order_ids), MAX_PER_PAGE):
            chunk = order_ids[start : start + MAX_PER_PAGE]
            for order in self.client.page_of(
                "/orders",
                {"include": ",".join(map(str, chunk)), "status": "any"},
                per_page=MAX_PER_PAGE,
            ).items:
                currencies[str(order["id"])] = order.get("currency")
        return [{**r, "_currency": currencies.get(str(r.get("parent_id")))} for r in refunds]

    def _products(self, after: str | None, limit: int) -> Page:
        """Products by id, a page a call, each variable product followed by its variations (a
        call each); the variable product itself is not a product of the hub."""
        page = int(after or 1)
        if page == 1:
            self._revive_webhooks()
        found = self.client.page_of(
            "/products", {"orderby": "id", "order": "asc"}, page=page, per_page=limit
        )
        rows: list[JSON] = []
        for product in found.items:
            if product.get("type") == "variable":
                rows.extend(self._variations_of(product))
            else:
                rows.append(product)
        if page < found.total_pages and found.items:
            return Page(rows, str(page + 1), more=True)
        return Page(rows, str(page), more=False)

    def _variations_of(self, product: JSON, only: list[int] | None = None) -> list[JSON]:
        params = {"include": ",".join(map(str, only))} if only else {}
        return [
            _as_variation(variation, product)
            for variation in self.client.list_all(
                f"/products/{int(product['id'])}/variations", params
            )
        ]

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        if stream == "payouts":
            return self._deposits_by_id(remote_ids)
        if stream == "orders":
            found = self._by_include("/orders", remote_ids, {"status": "any"})
            trashed = [rid for rid in remote_ids if rid not in found]
            if trashed:
                found.update(self._by_include("/orders", trashed, {"status": "trash"}))
            return found
        if stream == "refunds":
            if self._refunds_route is False:
                return {}
            try:
                rows = self._by_include("/refunds", remote_ids, {})
            except RemoteRejected as exc:
                if not _no_route(exc):
                    raise
                # An older shop finds a refund only under its order, which its id does not
                # name: the pull reads it with its order (a refund saves the order).
                return {}
            return {rid: row for rid, row in zip(rows, self._with_currency(list(rows.values())),
                                                 strict=True)}  # fmt: skip
        if stream in ("products", "stock"):
            found = self._products_by_id(remote_ids)
            if stream == "stock":
                return {rid: _stock_row(rid, row) for rid, row in found.items()}
            return found
        return {}

    def _deposits_by_id(self, remote_ids: list[str]) -> dict[str, JSON]:
        """Each deposit by id with its transactions; one the shop does not have is left out."""
        found: dict[str, JSON] = {}
        for deposit_id in dict.fromkeys(remote_ids):
            if deposit_id == MISSING_ID:
                continue
            try:
                deposit = self.client.get(f"{DEPOSITS}/{quote(deposit_id, safe='')}")
            except NotFound:
                continue
            found[deposit_id] = self._with_transactions(deposit)
        return found

    def _by_include(self, path: str, remote_ids: list[str], params: Mapping[str, str]
                    ) -> dict[str, JSON]:  # fmt: skip
        wanted = sorted({int(rid) for rid in remote_ids if rid.isdigit()})
        found: dict[str, JSON] = {}
        for start in range(0, len(wanted), MAX_PER_PAGE):
            chunk = ",".join(map(str, wanted[start : start + MAX_PER_PAGE]))
            page = self.client.page_of(path, {**params, "include": chunk}, per_page=MAX_PER_PAGE)
            found.update({str(row["id"]): row for row in page.items})
        return found

    def _products_by_id(self, remote_ids: list[str]) -> dict[str, JSON]:
        """Products by ``include`` (a call per 100), variations by parent (a call per parent
        with the parent itself, for its name)."""
        simple: list[str] = []
        variations: dict[int, list[int]] = {}
        for rid in remote_ids:
            try:
                parent, variation = split_remote_id(rid)
            except ValueError:
                continue
            if variation is None:
                simple.append(str(parent))
            else:
                variations.setdefault(parent, []).append(variation)
        found = self._by_include("/products", simple, {})
        parents = self._by_include("/products", [str(p) for p in variations], {})
        for parent_id, wanted in variations.items():
            owner = parents.get(str(parent_id))
            if owner is None:
                continue
            for row in self._variations_of(owner, wanted):
                found[product_remote_id(parent_id, row["id"])] = row
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """Products and variations by SKU (``sku`` takes a comma list); orders and refunds by
        their id. Stock is set, not created: a write that may not have arrived is simply sent
        again.

        WooCommerce's ``sku`` filter searches variations too: a variation comes back as a
        product of type ``variation`` with its ``parent_id``. It becomes the row the products
        pull makes of it, with its parent's name and tax class: one more call per 100
        parents, made only when variations were found."""
        if stream in ("orders", "refunds", "payouts"):
            return self.fetch_many(stream, keys)
        if stream != "products":
            return {}
        found: dict[str, JSON] = {}
        variations: list[JSON] = []
        unique = sorted({key for key in keys if key and "," not in key})
        for start in range(0, len(unique), MAX_PER_PAGE):
            chunk = unique[start : start + MAX_PER_PAGE]
            for row in self.client.page_of(
                "/products", {"sku": ",".join(chunk)}, per_page=MAX_PER_PAGE
            ).items:
                if row.get("type") == "variation" and row.get("parent_id"):
                    variations.append(row)
                else:
                    found.setdefault(str(row.get("sku")), row)
        if variations:
            parents = self._by_include("/products", [str(v["parent_id"]) for v in variations], {})
            for variation in variations:
                parent = parents.get(str(variation["parent_id"]))
                if parent is not None:
                    found.setdefault(str(variation.get("sku")), _as_variation(variation, parent))
        return found

    # ------------------------------------------------------------------ writes

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "products":
            created = self._batch("/products/batch", "create", [_wire(p) for p in payloads])
            return created
        if stream == "stock":
            return self._set_stock(payloads)
        raise RemoteRejected(f"{stream} are not written to WooCommerce", reason="read_only")

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "products":
            return self._update_products(payloads)
        if stream == "stock":
            return self._set_stock(payloads)
        raise RemoteRejected(f"{stream} are not written to WooCommerce", reason="read_only")

    def _update_products(self, payloads: list[JSON]) -> list[JSON]:
        """Products in one batch call per 100, variations in one per parent; results in the
        order given. A variation keeps its parent's name: only its SKU, price and status go.
        An update is safe to send again: a refusal is passed on without what each record's
        write did (``RemoteRejected.written`` holds creates only)."""
        try:
            return self._update_products_in_batches(payloads)
        except RemoteRejected as exc:
            raise RemoteRejected(str(exc), exc.reason) from exc

    def _update_products_in_batches(self, payloads: list[JSON]) -> list[JSON]:
        results: dict[int, JSON] = {}
        simple = [(i, p) for i, p in enumerate(payloads) if not p.get("_parent_id")]
        if simple:
            stored = self._batch("/products/batch", "update", [_wire(p) for _, p in simple])
            results.update({i: row for (i, _), row in zip(simple, stored, strict=True)})
        by_parent: dict[int, list[tuple[int, JSON]]] = {}
        for index, payload in enumerate(payloads):
            if payload.get("_parent_id"):
                by_parent.setdefault(int(payload["_parent_id"]), []).append((index, payload))
        for parent_id, group in by_parent.items():
            body = [_wire(p) for _, p in group]
            stored = self._batch(f"/products/{parent_id}/variations/batch", "update", body)
            for (index, payload), row in zip(group, stored, strict=True):
                results[index] = {
                    **row,
                    "_parent_id": parent_id,
                    "_parent_name": payload.get("_parent_name"),
                    "_parent_tax_class": payload.get("_parent_tax_class"),
                }
        return [results[i] for i in range(len(payloads))]

    def _set_stock(self, payloads: list[JSON]) -> list[JSON]:
        """Stock quantities on products (one batch call per 100) and variations (one per
        parent); each result is the stock as the shop stored it. A target the shop no longer
        has is refused with its SKU's product named. Setting stock again is harmless, so a
        refusal says nothing of what each record's write did (``RemoteRejected.written``)."""
        results: dict[int, JSON] = {}
        groups: dict[str, list[tuple[int, JSON]]] = {}
        for index, payload in enumerate(payloads):
            parent, variation = split_remote_id(str(payload["_target"]))
            path = (
                "/products/batch" if variation is None else f"/products/{parent}/variations/batch"
            )
            groups.setdefault(path, []).append((index, payload))
        for path, group in groups.items():
            body = [
                {
                    "id": split_remote_id(str(p["_target"]))[1]
                    or split_remote_id(str(p["_target"]))[0],
                    "manage_stock": True,
                    "stock_quantity": p["stock_quantity"],
                }
                for _, p in group
            ]
            try:
                stored = self._batch(path, "update", body)
            except RemoteRejected as exc:  # its rows are not stock rows in payload order
                raise RemoteRejected(str(exc), exc.reason) from exc
            for (index, payload), row in zip(group, stored, strict=True):
                results[index] = _stock_row(str(payload["_target"]), row)
        return [results[i] for i in range(len(payloads))]

    def _batch(self, path: str, action: str, items: list[JSON]) -> list[JSON]:
        """``POST …/batch`` in calls of 100. WooCommerce answers each object on its own: one
        it refused makes the whole call refused here, saying which objects it stored
        (``RemoteRejected.written``; those of later calls were not sent), so the engine
        confirms those and deals with the refused ones alone."""
        stored: list[JSON | None] = []
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            body = self.client.send("POST", path, {action: chunk})
            answered = (body or {}).get(action) if isinstance(body, dict) else None
            if not isinstance(answered, list) or len(answered) != len(chunk):
                raise RemoteRejected(f"WooCommerce answered {path} without its {action} list")
            refused = [_refusal(row, item) for row, item in zip(answered, chunk, strict=True)]
            for row, error in zip(answered, refused, strict=True):
                stored.append(None if error else dict(row))
            errors = [error for error in refused if error]
            if errors:
                taken = any(error.startswith(SKU_IN_USE) for error in errors)
                raise RemoteRejected(
                    "; ".join(errors),
                    reason="sku_in_use" if taken else "remote_rejected",
                    written=stored + [None] * (len(items) - len(stored)),
                )
        return [row for row in stored if row is not None]

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return notices(body)


def _may_change(deposit: Mapping[str, Any], now: datetime) -> bool:
    """Whether a deposit may still change status: settling, or paid lately."""
    status = deposit.get("status")
    date = deposit.get("date")
    if not isinstance(date, int) or isinstance(date, bool):
        return False
    if status in SETTLING:
        return True
    return status == "paid" and datetime.fromtimestamp(date / 1000, UTC) > now - FAILS_WITHIN


SKU_IN_USE = "the shop already uses SKU"


def _refusal(row: Any, sent: JSON) -> str | None:
    """Why WooCommerce refused one object of a batch, None when it stored it. A SKU refused as
    duplicated (``product_invalid_sku``, whose ``resource_id`` is the product or variation
    holding it) reaches here only when the look-up by SKU did not find its holder, so the
    message says what to do instead of WooCommerce's "Invalid or duplicated SKU"."""
    error = item_error(row)
    if error is None:
        return None
    details = row["error"]
    sku = text(sent.get("sku"))
    if details.get("code") != "product_invalid_sku" or sku is None:
        return error
    data = details.get("data") if isinstance(details.get("data"), dict) else {}
    holder = text(data.get("resource_id"))
    held = f" (product or variation {holder})" if holder and holder != "0" else ""
    return (
        f"{SKU_IN_USE} {sku}{held}, but does not return that product when asked by its SKU, "
        "so it cannot be linked: find the product holding the SKU in WooCommerce and give one "
        "of the two another SKU (in the shop or in the accounting system), then retry"
    )


def _no_route(exc: RemoteRejected) -> bool:
    """WordPress's 404 for a route the shop does not have (``GET /refunds`` before 9.0)."""
    return "rest_no_route" in str(exc)


def _wire(payload: JSON) -> JSON:
    """A payload without the keys that only travel inside the hub (``_parent_id`` …)."""
    return {k: v for k, v in payload.items() if not k.startswith("_")}


def _as_variation(variation: JSON, parent: JSON) -> JSON:
    return {
        **variation,
        "_parent_id": parent["id"],
        "_parent_name": parent.get("name"),
        "_parent_tax_class": parent.get("tax_class"),
    }


def _stock_row(remote_id: str, row: JSON) -> JSON:
    return {
        "_target": remote_id,
        "sku": row.get("sku"),
        "manage_stock": row.get("manage_stock"),
        "stock_quantity": row.get("stock_quantity"),
    }


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """The key works: a one-order read. WooCommerce answers 401 to a wrong key and to a key
    without read permission; the refusal says where keys are made. Then the shop's price
    basis (``prices.read_price_basis``), unless the settings give it: products sent from the
    accounting system get the shop's VAT added where the shop enters prices with VAT."""
    client = client_for(settings, secrets, meter, transport)
    warnings: list[str] = []
    learned: dict[str, Any] = {}
    try:
        client.page_of("/orders", {"status": "any"}, per_page=1)
        if settings.get("prices_include_vat") is None or settings.get("vat_rates") is None:
            try:
                basis = read_price_basis(client)
            except NotFound:
                warnings.append(
                    "the shop's tax settings could not be read (its REST API has no settings "
                    "route): products are sent with prices without VAT; set "
                    "settings.prices_include_vat and settings.vat_rates if the shop enters "
                    "prices with VAT"
                )
            else:
                learned = {k: v for k, v in basis.items() if settings.get(k) is None}
    finally:
        client.close()
    return Verified(settings=learned, warnings=warnings)


RECORD_PATHS = {
    "orders": "/wp-admin/post.php?post={id}&action=edit",
    "products": "/wp-admin/post.php?post={id}&action=edit",
}
"""A refund has no page of its own (it is shown on its order's, whose id its remote id does
not carry), so it gets no link."""


def record_url(settings: Mapping[str, Any], stream: str, remote_id: str) -> str | None:
    """The record's page in wp-admin: an order's edit screen (the classic path, which shops
    with HPOS redirect), a product's (a variation's parent's)."""
    path = RECORD_PATHS.get(stream)
    base = text(settings.get("base_url"))
    if path is None or base is None:
        return None
    target = remote_id.partition(":")[0]
    return base.rstrip("/") + path.format(id=quote(target))


def _orders_cursor(after: str | None) -> tuple[str, str]:
    """An orders cursor → (the ``ChangedSince`` cursor, when the trash was last read). A
    cursor saved before the trash pass has no such moment: its next scan reads the trash."""
    if after and after.count(SEPARATOR) >= 3:
        core, _, checked = after.rpartition(SEPARATOR)
        return core, checked
    return after or "", ""


def _orders_at(core: str, checked: str) -> str:
    """The orders cursor: the scan's, then when the trash was last read."""
    return f"{core}{SEPARATOR}{checked}"
