"""The account a Stripe sandbox simulates: charges, refunds, disputes and fees, the balance
transactions each of them books, payouts of the available balance, and the events they raise.

Amounts are integers in the currency's minor unit, as on Stripe's wire. The account has one
settlement currency; a charge in another currency is booked converted at its exchange rate
(``amount × exchange_rate`` in the account's currency, rounded). Everything booked becomes
available at once (no rolling reserve), so a payout takes what was booked since the last one.

Objects are shaped as the official OpenAPI (2023-08-16) describes them, with the 2026 fixtures'
newer fields where they are harmless (``balance_type``); see ``docs/connector-stripe.md``.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.sandbox.stripe.webhooks import Dispatcher, Job, Target, event_body

API_VERSION = "2023-08-16"
DEFAULT_FEE = (Decimal("0.015"), 180)
"""A card charge's Stripe fee when none is given: 1.5 % plus 1.80 in the account's currency
(the EEA card price in Denmark; a made-up price is as good for a simulation)."""
DISPUTE_FEE = 1500
"""What a dispute costs besides the amount withdrawn, in the account's minor unit."""
PAYOUT_DAYS = 2
"""Days from a payout's creation to its arrival date."""
PAYOUT_EVENTS = (
    "payout.created",
    "payout.updated",
    "payout.paid",
    "payout.failed",
    "payout.canceled",
    "payout.reconciliation_completed",
)
TRANSITIONS = {
    "pending": {"in_transit", "paid", "failed", "canceled"},
    "in_transit": {"paid", "failed", "canceled"},
    "paid": {"failed"},  # "Some failed payouts may initially show as paid but then change"
    "failed": set(),
    "canceled": set(),
}
NO_MORE = frozenset({"failed", "canceled"})


class StripeError(Exception):
    """An answer in Stripe's error shape: ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an id it does not have."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def invalid(param: str, message: str) -> StripeError:
    return StripeError(400, message, code="parameter_invalid_integer" if "integer" in message
                       else "parameter_invalid", param=param)  # fmt: skip


@dataclass
class Settings:
    """The webhook defects: copies of each event (``repeats``, a range) and the share of
    events never delivered (``miss_rate``)."""

    repeats: tuple[int, int] = (1, 1)
    miss_rate: float = 0.0

    def to_json(self) -> dict[str, Any]:
        low, high = self.repeats
        return {"webhook_repeats": f"{low}-{high}", "webhook_miss_rate": self.miss_rate}


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str]
    description: str | None
    created: int
    status: str = "enabled"

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": API_VERSION,
            "application": None,
            "created": self.created,
            "description": self.description,
            "enabled_events": list(self.enabled_events),
            "livemode": False,
            "metadata": {},
            "status": self.status,
            "url": self.url,
        }
        if with_secret:
            found["secret"] = self.secret
        return found


class StripeSandbox:
    """One Stripe account in test mode, safe to use from the server's threads (``lock``)."""

    def __init__(
        self,
        *,
        currency: str = "dkk",
        clock: Clock | None = None,
        seed: int = 1,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.clock = clock or SystemClock()
        self.currency = currency.lower()
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self.default_key = "sk_test_" + self._token(24)
        self.keys: set[str] = {self.default_key}
        self.settings = Settings()
        self.hooks = Dispatcher(target=self._target, now=self.clock.now, timeout=webhook_timeout)
        self.reset()

    # ------------------------------------------------------------------ basics

    def reset(self) -> None:
        """An account with nothing booked (keys and settings stay)."""
        with self.lock:
            self.charges: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.disputes: dict[str, dict[str, Any]] = {}
            self.transactions: dict[str, dict[str, Any]] = {}
            self.payouts: dict[str, dict[str, Any]] = {}
            self.events: dict[str, dict[str, Any]] = {}
            self.endpoints: dict[str, Endpoint] = {}
            self.paid_out: dict[str, str] = {}
            """Balance transaction → the payout that took it."""
            self.order: dict[str, int] = {}
            """Object id → creation sequence: lists are newest first, ties by this."""
            self._sequence = 0
            self.hooks.clear()

    def close(self) -> None:
        self.hooks.close()

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def _token(self, length: int) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._random.choice(alphabet) for _ in range(length))

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        made = f"{prefix}_{self._token(24)}"
        self.order[made] = self._sequence
        return made

    def add_key(self) -> str:
        """Another secret key of the account."""
        with self.lock:
            key = "sk_test_" + self._token(24)
            self.keys.add(key)
            return key

    def apply_settings(self, values: dict[str, Any]) -> Settings:
        """``webhook_repeats`` ("1-3") and ``webhook_miss_rate`` (0 to 1)."""
        with self.lock:
            for name, value in values.items():
                if name == "webhook_repeats":
                    low, _, high = str(value).partition("-")
                    try:
                        pair = (int(low), int(high or low))
                    except ValueError as exc:
                        raise invalid(name, "webhook_repeats must look like 1-3") from exc
                    if not 1 <= pair[0] <= pair[1] <= 10:
                        raise invalid(name, "webhook_repeats must be between 1 and 10")
                    self.settings.repeats = pair
                elif name == "webhook_miss_rate":
                    try:
                        rate = float(value)
                    except (TypeError, ValueError) as exc:
                        raise invalid(name, "webhook_miss_rate must be a number") from exc
                    if not 0.0 <= rate <= 1.0:
                        raise invalid(name, "webhook_miss_rate must be between 0 and 1")
                    self.settings.miss_rate = rate
                else:
                    raise invalid(name, f"Received unknown parameter: {name}")
            return self.settings

    # ------------------------------------------------------------------ booking

    def _transaction(
        self,
        *,
        kind: str,
        category: str,
        amount: int,
        fee_details: list[dict[str, Any]],
        source: str | None,
        description: str | None,
        exchange_rate: float | None = None,
    ) -> dict[str, Any]:
        created = self.now()
        fee = sum(int(f["amount"]) for f in fee_details)
        txn: dict[str, Any] = {
            "id": self._new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": created,
            "created": created,
            "currency": self.currency,
            "description": description,
            "exchange_rate": exchange_rate,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "available",
            "type": kind,
            "balance_type": "payments",
        }
        self.transactions[txn["id"]] = txn
        return txn

    def _fee(self, amount: int, description: str, kind: str = "stripe_fee") -> dict[str, Any]:
        return {
            "amount": amount,
            "application": None,
            "currency": self.currency,
            "description": description,
            "type": kind,
        }

    def _settled(self, amount: int, rate: float | None) -> int:
        if rate is None:
            return amount
        converted = Decimal(amount) * Decimal(str(rate))
        return int(converted.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def create_charge(self, body: dict[str, Any]) -> dict[str, Any]:
        """A succeeded card charge: ``amount`` (minor unit), ``currency``, ``order_id``,
        ``order_number``, ``transaction_id`` (the charge id to use), ``payment_intent``,
        ``fee``, ``application_fee``, ``exchange_rate`` (required when the currency is not the
        account's), ``description``."""
        with self.lock:
            amount = _positive(body.get("amount"), "amount")
            currency = str(body.get("currency") or self.currency).lower()
            if len(currency) != 3 or not currency.isalpha():
                raise invalid("currency", f"Invalid currency: {currency}")
            rate: float | None = None
            if currency != self.currency:
                try:
                    rate = float(body["exchange_rate"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise invalid(
                        "exchange_rate",
                        f"a charge in {currency} settles in {self.currency}: give exchange_rate",
                    ) from exc
                if rate <= 0:
                    raise invalid("exchange_rate", "exchange_rate must be positive")
            charge_id = str(body.get("transaction_id") or "") or self._new_id("ch")
            if not charge_id.startswith(("ch_", "py_")):
                raise invalid("transaction_id", "a charge id starts with ch_")
            if charge_id in self.charges:
                raise invalid("transaction_id", f"charge {charge_id} exists already")
            if charge_id not in self.order:  # an id given by the caller
                self.order[charge_id] = self._bump()
            settled = self._settled(amount, rate)
            fee_amount = body.get("fee")
            fee = (
                _whole(fee_amount, "fee")
                if fee_amount is not None
                else int(
                    (settled * DEFAULT_FEE[0]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
                    + DEFAULT_FEE[1]
                )
            )
            fees = [self._fee(fee, "Stripe processing fees")]
            if body.get("application_fee") is not None:
                fees.append(
                    self._fee(
                        _whole(body["application_fee"], "application_fee"),
                        "Application fee",
                        "application_fee",
                    )
                )
            description = _text(body.get("description"))
            txn = self._transaction(
                kind="charge", category="charge", amount=settled, fee_details=fees,
                source=charge_id, description=description, exchange_rate=rate,
            )  # fmt: skip
            metadata = {
                key: str(body[key])
                for key in ("order_id", "order_number")
                if body.get(key) not in (None, "")
            }
            charge = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "application": None,
                "application_fee": None,
                "application_fee_amount": None,
                "balance_transaction": txn["id"],
                "billing_details": {
                    "address": None,
                    "email": _text(body.get("email")),
                    "name": _text(body.get("name")),
                    "phone": None,
                },
                "calculated_statement_descriptor": "LEDGERBRIDGE",
                "captured": True,
                "created": txn["created"],
                "currency": currency,
                "customer": None,
                "description": description,
                "disputed": False,
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "fraud_details": {},
                "livemode": False,
                "metadata": metadata,
                "on_behalf_of": None,
                "outcome": None,
                "paid": True,
                "payment_intent": str(body.get("payment_intent") or "") or self._new_id("pi"),
                "payment_method": None,
                "payment_method_details": None,
                "receipt_email": None,
                "receipt_number": None,
                "receipt_url": None,
                "refunded": False,
                "refunds": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "url": f"/v1/charges/{charge_id}/refunds",
                },
                "review": None,
                "shipping": None,
                "source_transfer": None,
                "statement_descriptor": None,
                "statement_descriptor_suffix": None,
                "status": "succeeded",
                "transfer_data": None,
                "transfer_group": None,
            }
            self.charges[charge_id] = charge
            return charge

    def _bump(self) -> int:
        self._sequence += 1
        return self._sequence

    def _charge(self, charge_id: str) -> dict[str, Any]:
        charge = self.charges.get(charge_id)
        if charge is None:
            raise missing("charge", charge_id, "charge")
        return charge

    def refund(self, charge_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A refund of ``amount`` (default: what is left) of a charge, booked at the charge's
        exchange rate; Stripe keeps its fee."""
        with self.lock:
            charge = self._charge(charge_id)
            left = charge["amount"] - charge["amount_refunded"]
            amount = _positive(body.get("amount", left), "amount")
            if amount > left:
                raise StripeError(
                    400,
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({left})",
                    code="amount_too_large",
                    param="amount",
                )
            rate = self.transactions[charge["balance_transaction"]]["exchange_rate"]
            refund_id = self._new_id("re")
            txn = self._transaction(
                kind="refund", category="refund", amount=-self._settled(amount, rate),
                fee_details=[], source=refund_id, description="REFUND FOR CHARGE",
                exchange_rate=rate,
            )  # fmt: skip
            refund = {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "balance_transaction": txn["id"],
                "charge": charge_id,
                "created": txn["created"],
                "currency": charge["currency"],
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": _text(body.get("reason")),
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            self.refunds[refund_id] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            charge["refunds"]["data"].insert(0, refund)
            return refund

    def dispute(self, charge_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The cardholder disputes a charge: its amount is withdrawn with a dispute fee (a
        balance transaction of type ``adjustment``)."""
        with self.lock:
            charge = self._charge(charge_id)
            if charge["disputed"]:
                raise invalid("charge", f"charge {charge_id} is disputed already")
            booked = self.transactions[charge["balance_transaction"]]
            fee = _whole(body.get("fee", DISPUTE_FEE), "fee")
            dispute_id = self._new_id("dp")
            txn = self._transaction(
                kind="adjustment", category="dispute", amount=-int(booked["amount"]),
                fee_details=[self._fee(fee, "Dispute fee")], source=dispute_id,
                description=f"Chargeback withdrawal for {charge_id}",
                exchange_rate=booked["exchange_rate"],
            )  # fmt: skip
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": charge["amount"],
                "balance_transactions": [txn],
                "charge": charge_id,
                "created": txn["created"],
                "currency": charge["currency"],
                "evidence": {},
                "evidence_details": {
                    "due_by": txn["created"] + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": str(body.get("reason") or "fraudulent"),
                "status": "needs_response",
            }
            self.disputes[dispute_id] = dispute
            charge["disputed"] = True
            return dispute

    def add_fee(self, body: dict[str, Any]) -> dict[str, Any]:
        """A fee of its own (``type=stripe_fee``: Radar, a billing fee): a withdrawal."""
        with self.lock:
            amount = _positive(body.get("amount"), "amount")
            return self._transaction(
                kind="stripe_fee", category="fee", amount=-amount, fee_details=[], source=None,
                description=_text(body.get("description")) or "Stripe fee",
            )  # fmt: skip

    # ------------------------------------------------------------------ payouts

    def unpaid(self) -> list[dict[str, Any]]:
        """Balance transactions no payout has taken yet, oldest first."""
        return [
            t
            for t in self.transactions.values()
            if t["id"] not in self.paid_out and t["type"] != "payout"
        ]

    def balance(self) -> int:
        with self.lock:
            return sum(int(t["net"]) for t in self.unpaid())

    def create_payout(self, body: dict[str, Any]) -> dict[str, Any]:
        """A payout of the whole available balance: ``automatic`` (the schedule's, which can be
        itemised) or manual (``automatic: false``, which cannot)."""
        with self.lock:
            automatic = _flag(body.get("automatic", True), "automatic")
            taken = self.unpaid()
            total = sum(int(t["net"]) for t in taken)
            if total <= 0:
                raise StripeError(
                    400,
                    "You have insufficient funds in your Stripe account for this transfer.",
                    code="balance_insufficient",
                )
            payout_id = self._new_id("po")
            created = self.now()
            arrival = datetime.fromtimestamp(created, UTC).replace(
                hour=0, minute=0, second=0
            ) + timedelta(days=PAYOUT_DAYS)
            txn = self._transaction(
                kind="payout", category="payout", amount=-total, fee_details=[],
                source=payout_id, description="STRIPE PAYOUT",
            )  # fmt: skip
            payout = {
                "id": payout_id,
                "object": "payout",
                "amount": total,
                "application_fee": None,
                "application_fee_amount": None,
                "arrival_date": int(arrival.timestamp()),
                "automatic": automatic,
                "balance_transaction": txn["id"],
                "created": created,
                "currency": self.currency,
                "description": "STRIPE PAYOUT",
                "destination": "ba_1SandboxBankAccount0001",
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "original_payout": None,
                "reconciliation_status": "in_progress" if automatic else "not_applicable",
                "reversed_by": None,
                "source_type": "card",
                "statement_descriptor": _text(body.get("statement_descriptor")),
                "status": "pending",
                "type": "bank_account",
            }
            self.payouts[payout_id] = payout
            for row in [*taken, txn]:
                self.paid_out[row["id"]] = payout_id
            self._emit("payout.created", payout)
            status = str(body.get("status") or "pending")
            if status != "pending":
                self.set_payout_status(payout_id, {"status": status})
            return payout

    def set_payout_status(self, payout_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move a payout on: ``in_transit``, ``paid``, ``failed`` (also after ``paid``, as
        Stripe warns), ``canceled``. Each move raises ``payout.updated`` and its own event;
        an automatic payout paid is reconciled (``payout.reconciliation_completed``)."""
        with self.lock:
            payout = self.payouts.get(payout_id)
            if payout is None:
                raise missing("payout", payout_id)
            status = str(body.get("status") or "")
            if status not in TRANSITIONS.get(payout["status"], set()):
                raise invalid(
                    "status", f"a {payout['status']} payout cannot become {status or 'nothing'}"
                )
            previous = {"status": payout["status"]}
            payout["status"] = status
            if status in NO_MORE:
                kind = "payout_failure" if status == "failed" else "payout_cancel"
                txn = self._transaction(
                    kind=kind, category="payout_reversal", amount=int(payout["amount"]),
                    fee_details=[], source=payout_id,
                    description="Payout failure" if status == "failed" else "Payout cancel",
                )  # fmt: skip
                payout["failure_balance_transaction"] = txn["id"]
                if status == "failed":
                    payout["failure_code"] = str(body.get("failure_code") or "account_closed")
                    payout["failure_message"] = "The bank account has been closed."
            self._emit("payout.updated", payout, previous)
            if status in ("paid", "failed", "canceled"):
                self._emit(f"payout.{status}", payout)
            if status == "paid" and payout["reconciliation_status"] == "in_progress":
                payout["reconciliation_status"] = "completed"
                self._emit("payout.reconciliation_completed", payout)
            return payout

    def payout_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """What an automatic payout paid out, its own ``type=payout`` transaction included."""
        return [t for t in self.transactions.values() if self.paid_out.get(t["id"]) == payout_id]

    # ------------------------------------------------------------------ events

    def _emit(
        self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": _copy(obj)}
        if previous:
            data["previous_attributes"] = previous
        event: dict[str, Any] = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self.events[event["id"]] = event
        listening = [
            e
            for e in self.endpoints.values()
            if e.status == "enabled" and (kind in e.enabled_events or "*" in e.enabled_events)
        ]
        event["pending_webhooks"] = len(listening)
        body = event_body(event)
        for endpoint in listening:
            if self._random.random() < self.settings.miss_rate:
                self.hooks.record_miss(endpoint.id, event["id"], kind)
                continue
            low, high = self.settings.repeats
            for copy in range(1, self._random.randint(low, high) + 1):
                self.hooks.submit(Job(endpoint.id, event["id"], kind, body, copy))
        return event

    def resend(self, event_id: str) -> dict[str, Any]:
        """Deliver an event again to every endpoint listening (as the Dashboard's "Resend",
        or Stripe's own retry of an answer it did not see): the same event id and body."""
        with self.lock:
            event = self.events.get(event_id)
            if event is None:
                raise missing("event", event_id)
            body = event_body(event)
            sent = 0
            for endpoint in self.endpoints.values():
                kinds = endpoint.enabled_events
                if endpoint.status == "enabled" and (event["type"] in kinds or "*" in kinds):
                    self.hooks.submit(Job(endpoint.id, event_id, event["type"], body, 2))
                    sent += 1
            return {"id": event_id, "deliveries": sent}

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        self.hooks.wait(timeout)

    def _target(self, endpoint_id: str) -> Target | None:
        with self.lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return None
            return Target(endpoint.url, endpoint.secret, endpoint.status == "enabled")

    def create_endpoint(self, url: str, events: Iterable[str], description: str | None) -> Endpoint:
        with self.lock:
            enabled = list(dict.fromkeys(events))
            if not url.startswith(("http://", "https://")):
                raise invalid("url", "Invalid URL: must be an http or https URL")
            if not enabled:
                raise StripeError(400, "Missing required param: enabled_events.",
                                  code="parameter_missing", param="enabled_events")  # fmt: skip
            endpoint = Endpoint(
                self._new_id("we"), url, "whsec_" + self._token(32), enabled, description,
                self.now(),
            )  # fmt: skip
            self.endpoints[endpoint.id] = endpoint
            return endpoint

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "currency": self.currency,
                "keys": sorted(self.keys),
                "charges": len(self.charges),
                "refunds": len(self.refunds),
                "disputes": len(self.disputes),
                "balance_transactions": len(self.transactions),
                "payouts": {p["id"]: p["status"] for p in self.payouts.values()},
                "balance": self.balance(),
                "webhook_endpoints": [e.to_json() for e in self.endpoints.values()],
                "settings": self.settings.to_json(),
            }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _whole(value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise invalid(param, f"Invalid integer: {value}")
    try:
        number = int(str(value))
    except (TypeError, ValueError) as exc:
        raise invalid(param, f"Invalid integer: {value}") from exc
    if number < 0:
        raise invalid(param, f"{param} must be at least 0")
    if number >= 10**11:
        raise invalid(param, f"{param} must be less than 100000000000")
    return number


def _positive(value: Any, param: str) -> int:
    number = _whole(value, param)
    if number < 1:
        raise invalid(param, f"{param} must be at least 1")
    return number


def _flag(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise invalid(param, f"Invalid boolean: {value}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    found = str(value).strip()
    return found[:5000] or None
