"""WooPayments inside the shop: the deposits (payouts to the merchant's bank) and the
transactions they pay out, under ``/wp-json/wc/v3/payments/``, read with the shop's own REST
API keys.

Shapes follow WooPayments' REST docs (``deposits.md``, ``transaction.md``; examples in
``shared/specs/woocommerce/examples/woopayments-*.json``): amounts in the currency's minor unit,
currencies in lower case, a deposit's ``date`` in milliseconds and ``created`` in seconds;
``GET /payments/deposits`` answers ``{"data", "total_count"}`` paged by ``page``/``pagesize``
and sorted by ``sort``/``direction``; ``GET /payments/transactions`` answers ``{"data"}``.

Orders paid with ``woocommerce_payments`` become charge transactions (a fee of
``FEE_PERCENT`` % plus ``FEE_FIXED`` minor units kept), their refunds negative refund
transactions without a fee. Nothing is deposited until the control API runs a deposit of what
is available (``POST /_sandbox/payments/deposits``), so a test decides when a payout happens.
A shop without the plugin (``settings.woopayments`` false) answers WordPress's
``rest_no_route``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ledgerbridge.sandbox.woocommerce.core import WooError, integer, invalid_param, not_one_of

if TYPE_CHECKING:
    from ledgerbridge.sandbox.woocommerce.state import Order, WooSandbox

GATEWAY = "woocommerce_payments"
"""The payment method id of orders paid through WooPayments."""
FEE_PERCENT = Decimal("1.5")
FEE_FIXED = 180
"""WooPayments' per-charge fee in the sandbox: 1.5 % + 1.80 (minor units of the currency)."""
STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")
SORTS = ("date", "amount", "status")
BANK = "STRIPE TEST BANK •••• 3000"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
NOT_FOUND = WooError(404, "wcpay_deposit_not_found", "Deposit not found.")
"""[inferred] WooPayments' code for an unknown deposit id."""


def minor(amount: str | Decimal) -> int:
    """A decimal amount in the shop's two-decimal currencies as minor units."""
    return int((Decimal(amount) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def fee_of(amount: int) -> int:
    """The fee WooPayments keeps on a charge of ``amount`` minor units."""
    percent = (Decimal(amount) * FEE_PERCENT / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return int(percent) + FEE_FIXED


class WooPayments:
    """The WooPayments account of one shop: its deposits and which transaction each paid."""

    def __init__(self, sandbox: WooSandbox, seed: int) -> None:
        self.sandbox = sandbox
        self.deposits: dict[str, dict[str, Any]] = {}
        self.deposited: dict[str, str] = {}
        """Transaction id → the deposit that paid it out."""
        self._rng = random.Random(seed)

    # ----------------------------------------------------------- transactions

    def _charge_ids(self, order: Order) -> tuple[str, str]:
        """The charge and payment intent of an order: the transaction id the gateway stored
        when it is a charge id, else ids derived from the order."""
        stored = str(order.fields.get("transaction_id") or "")
        charge = stored if stored.startswith(("ch_", "py_")) else f"ch_wcpay{order.id:08d}"
        return charge, f"pi_wcpay{order.id:08d}"

    def _base(self, order: Order, charge: str, intent: str) -> dict[str, Any]:
        billing = order.fields.get("billing") or {}
        home = self.sandbox.home_url.rstrip("/")
        return {
            "channel": "online",
            "source": "visa",
            "source_identifier": "4242",
            "customer_name": " ".join(
                part for part in (billing.get("first_name"), billing.get("last_name")) if part
            ),
            "customer_email": billing.get("email", ""),
            "customer_country": billing.get("country", ""),
            "currency": str(order.fields["currency"]).lower(),
            "risk_level": 0,
            "charge_id": charge,
            "exchange_rate": 1.0,
            "customer_currency": str(order.fields["currency"]).lower(),
            "loan_id": None,
            "order_id": order.id,
            "source_device": None,
            "order": {
                "number": str(order.json.get("number", order.id)),
                "url": f"{home}/wp-admin/post.php?post={order.id}&action=edit",
                "customer_url": "admin.php?page=wc-admin&path=/customers&filter=single_customer"
                f"&customers={order.fields.get('customer_id', 0)}",
                "subscriptions": [],
            },
            "payment_intent_id": intent,
        }

    def transactions(self) -> list[dict[str, Any]]:
        """Every WooPayments transaction of the shop, oldest first (without deposit fields)."""
        rows: list[tuple[datetime, dict[str, Any]]] = []
        for order in self.sandbox.orders.values():
            if order.fields.get("payment_method") != GATEWAY or order.paid is None:
                continue
            charge, intent = self._charge_ids(order)
            amount = minor(order.json["total"])
            fee = fee_of(amount)
            rows.append((order.paid, {
                "transaction_id": f"txn_wcpay{order.id:08d}", "type": "charge",
                "date": order.paid.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                **self._base(order, charge, intent),
                "amount": amount, "fees": fee, "net": amount - fee, "customer_amount": amount,
                "amount_in_usd": None, "available_on": order.paid.date().isoformat(),
            }))  # fmt: skip
            for refund_id in order.refund_ids:
                refund = self.sandbox.refunds[refund_id]
                if not refund.get("refunded_payment"):
                    continue  # refunded by hand: no money moved at WooPayments
                amount = -minor(refund["amount"])
                made: datetime = refund["_created"]
                rows.append((made, {
                    "transaction_id": f"txn_wcpayr{refund_id:08d}", "type": "refund",
                    "date": made.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    **self._base(order, charge, intent),
                    "amount": amount, "fees": 0, "net": amount, "customer_amount": -amount,
                    "amount_in_usd": None, "available_on": made.date().isoformat(),
                }))  # fmt: skip
        rows.sort(key=lambda pair: (pair[0], pair[1]["transaction_id"]))
        found = []
        for _moment, row in rows:
            deposit = self.deposits.get(self.deposited.get(row["transaction_id"], ""))
            row["deposit_id"] = deposit["id"] if deposit else None
            row["deposit_status"] = deposit["status"] if deposit else "estimated"
            found.append(row)
        return found

    # --------------------------------------------------------------- deposits

    def run_deposit(self, status: str = "paid", currency: str | None = None) -> dict[str, Any]:
        """Pay out every transaction not deposited yet in one currency (the store's unless
        given) as one deposit; a negative balance is a withdrawal from the bank."""
        if status not in STATUSES:
            raise not_one_of("status", STATUSES)
        wanted = (currency or self.sandbox.currency).lower()
        with self.sandbox.lock:
            due = [
                row
                for row in self.transactions()
                if row["deposit_id"] is None and row["currency"] == wanted
            ]
            if not due:
                raise WooError(400, "wcpay_no_available_balance", "Nothing is available.")
            amount = sum(row["net"] for row in due)
            now = self.sandbox.now()
            deposit_id = "po_" + "".join(self._rng.choice(ALPHABET) for _ in range(24))
            deposit = {
                "id": deposit_id, "date": int(now.timestamp()) * 1000,
                "type": "deposit" if amount >= 0 else "withdrawal", "amount": amount,
                "status": status, "bankAccount": f"{BANK} ({wanted.upper()})",
                "currency": wanted, "automatic": True, "fee": 0, "fee_percentage": 0,
                "created": int(now.timestamp()),
            }  # fmt: skip
            self.deposits[deposit_id] = deposit
            for row in due:
                self.deposited[row["transaction_id"]] = deposit_id
            return dict(deposit)

    def set_status(self, deposit_id: str, status: str) -> dict[str, Any]:
        """A deposit's status changes afterwards (a paid one may still fail)."""
        if status not in STATUSES:
            raise not_one_of("status", STATUSES)
        with self.sandbox.lock:
            deposit = self.deposits.get(deposit_id)
            if deposit is None:
                raise NOT_FOUND
            deposit["status"] = status
            return dict(deposit)

    def deposit(self, deposit_id: str) -> dict[str, Any]:
        with self.sandbox.lock:
            found = self.deposits.get(deposit_id)
            if found is None:
                raise NOT_FOUND
            return dict(found)

    def list_deposits(self, query: Any) -> dict[str, Any]:
        """``GET /payments/deposits``: filters ``status_is``, ``status_is_not``,
        ``date_after``, ``date_before``, ``store_currency_is``; ``sort`` and ``direction``
        (newest first by default); ``page`` and ``pagesize`` (25 by default)."""
        page = integer(query.get("page", "1"), "page", 1)
        size = integer(query.get("pagesize", "25"), "pagesize", 1)
        sort = query.get("sort", "date")
        if sort not in SORTS:
            raise not_one_of("sort", SORTS)
        direction = query.get("direction", "desc").lower()
        if direction not in ("asc", "desc"):
            raise not_one_of("direction", ("asc", "desc"))
        with self.sandbox.lock:
            rows = [dict(d) for d in self.deposits.values()]
        if "status_is" in query:
            rows = [d for d in rows if d["status"] == query["status_is"]]
        if "status_is_not" in query:
            rows = [d for d in rows if d["status"] != query["status_is_not"]]
        if "store_currency_is" in query:
            rows = [d for d in rows if d["currency"] == query["store_currency_is"].lower()]
        for name, after in (("date_after", True), ("date_before", False)):
            if name in query:
                bound = _moment_ms(query[name], name)
                rows = [d for d in rows if (d["date"] > bound if after else d["date"] < bound)]
        rows.sort(key=lambda d: d["id"], reverse=direction == "desc")
        rows.sort(key=lambda d: d[sort], reverse=direction == "desc")
        start = (page - 1) * size
        return {"data": rows[start : start + size], "total_count": len(rows)}

    def list_transactions(self, query: Any) -> dict[str, Any]:
        """``GET /payments/transactions``: ``deposit_id`` filters; oldest first (``direction``
        asc) or newest first (desc, the default); ``page`` and ``pagesize`` (25 by default)."""
        page = integer(query.get("page", "1"), "page", 1)
        size = integer(query.get("pagesize", "25"), "pagesize", 1)
        direction = query.get("direction", "desc").lower()
        if direction not in ("asc", "desc"):
            raise not_one_of("direction", ("asc", "desc"))
        with self.sandbox.lock:
            rows = self.transactions()
        if "deposit_id" in query:
            rows = [r for r in rows if r["deposit_id"] == query["deposit_id"]]
        if direction == "desc":
            rows.reverse()
        start = (page - 1) * size
        return {"data": rows[start : start + size]}


def invalid_json() -> Any:
    raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")


def _moment_ms(value: str, name: str) -> int:
    """A date filter (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``, UTC) in milliseconds."""
    raw = value.strip().replace("T", " ")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise invalid_param(name, "Invalid date.") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


Call = Callable[..., Awaitable[Response]]


def add_routes(
    app: FastAPI,
    sandbox: WooSandbox,
    call: Call,
    control: Callable[[Callable[[], Any]], Response],
    body_of: Callable[[Request], Awaitable[Any]],
    no_route: WooError,
) -> None:
    """The WooPayments REST routes (behind the shop's key) and their control routes."""
    prefix = "/wp-json/wc/v3/payments"

    def installed() -> None:
        if not sandbox.settings.woopayments:
            raise no_route

    async def answer(request: Request, permission: str, handler: Callable[[], Any]) -> Response:
        if not sandbox.settings.woopayments:
            return control(installed)
        return await call(request, permission, lambda _k, _b: handler())

    @app.get(prefix + "/deposits", tags=["woopayments"])
    async def deposits(request: Request) -> Response:
        return await answer(
            request, "list", lambda: sandbox.payments.list_deposits(request.query_params)
        )

    @app.get(prefix + "/deposits/{deposit_id}", tags=["woopayments"])
    async def deposit(request: Request, deposit_id: str) -> Response:
        return await answer(request, "view", lambda: sandbox.payments.deposit(deposit_id))

    @app.get(prefix + "/transactions", tags=["woopayments"])
    async def transactions(request: Request) -> Response:
        return await answer(
            request, "list", lambda: sandbox.payments.list_transactions(request.query_params)
        )

    @app.post("/_sandbox/payments/deposits", tags=["sandbox control"])
    async def run_deposit(request: Request) -> Response:
        """A deposit of what is available: ``{"status": "paid"|…, "currency"}``."""
        body = await body_of(request)
        if body is None:
            return control(invalid_json)
        return control(
            lambda: sandbox.payments.run_deposit(
                str(body.get("status", "paid")), body.get("currency") or None
            )
        )

    @app.put("/_sandbox/payments/deposits/{deposit_id}", tags=["sandbox control"])
    async def change_deposit(request: Request, deposit_id: str) -> Response:
        """A deposit's status changes later: ``{"status": "failed"}``."""
        body = await body_of(request)
        if body is None:
            return control(invalid_json)
        return control(lambda: sandbox.payments.set_status(deposit_id, str(body.get("status"))))
