"""The merchant behind the sandbox: API keys and access tokens, the POS's purchases and
refunds, the Finance ledger (PRELIMINARY and LIQUID accounts) and the Pusher subscriptions, in
memory behind one lock. Every read returns fresh dicts.

Card payments (``IZETTLE_CARD``, ``IZETTLE_CARD_ONLINE``) enter the PRELIMINARY account at the
sale as a ``PAYMENT`` and its ``PAYMENT_FEE``; a settlement moves them to LIQUID; a payout
empties LIQUID with one negative ``PAYOUT``. A refund of a card payment is a negative
``PAYMENT`` with the fee given back. Cash and every other type never reach the Finance API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets as secrets_module
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.sandbox.zettle.pusher import Message, Pusher, Target
from ledgerbridge.sandbox.zettle.sales import (
    CARD_TYPES,
    PAYMENT_TYPES,
    Row,
    ZettleError,
    bad_request,
    grouped,
    half_up,
    integer,
    millis,
    percent,
    product_json,
    quantity,
    read_row,
    short_uuid,
    spread,
    stamp,
    vat_number,
)

TOKEN_LIFETIME = 7200
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = ("READ:PURCHASE", "READ:FINANCE", "READ:PRODUCT", "WRITE:PRODUCT", "READ:USERINFO")
ACCOUNTS = ("PRELIMINARY", "LIQUID")
TRANSACTION_TYPES = (
    "ADJUSTMENT", "ADVANCE", "ADVANCE_DOWNPAYMENT", "ADVANCE_FEE_DOWNPAYMENT", "CASHBACK",
    "FAILED_PAYOUT", "FROZEN_FUNDS", "INVOICE_PAYMENT", "INVOICE_PAYMENT_FEE", "PAYMENT",
    "PAYMENT_FEE", "PAYMENT_PAYOUT", "PAYOUT",
)  # fmt: skip
EVENTS = (
    "PurchaseCreated", "ProductCreated", "ProductUpdated", "ProductDeleted",
    "InventoryBalanceChanged", "InventoryTrackingStarted", "InventoryTrackingStopped",
    "OrganizationUpdated", "ApplicationConnectionRemoved", "PersonalAssertionDeleted",
)  # fmt: skip
FINANCE_SHAPES = ("guide", "openapi")
"""``guide``: ``{"data": [...]}`` with integer amounts and ``originatingTransactionUuid``, as
the user guide shows; ``openapi``: a bare array with string amounts and
``originatorTransactionUuid``, as the official OpenAPI file says."""


@dataclass
class ApiKey:
    """A merchant's API key (a JWT carrying the client id) for the assertion grant."""

    key: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class Token:
    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime


@dataclass
class Entry:
    """One Finance ledger transaction."""

    account: str
    timestamp: datetime
    amount: int
    kind: str
    uuid: str

    def to_json(self, shape: str) -> dict[str, Any]:
        if shape == "openapi":
            return {
                "timestamp": self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "amount": str(self.amount),
                "originatorTransactionType": self.kind,
                "originatorTransactionUuid": self.uuid,
            }
        return {
            "timestamp": stamp(self.timestamp),
            "amount": self.amount,
            "originatorTransactionType": self.kind,
            "originatingTransactionUuid": self.uuid,
        }


@dataclass
class Settings:
    """Behaviour a test or demo switches (``PUT /_sandbox/settings``)."""

    finance_shape: str = "guide"
    card_fee_percent: Decimal = Decimal("1.75")
    seconds_per_request: int = 0
    """The sandbox clock moves this much with every API request (a token expires mid-run)."""
    webhook_repeats: int = 1
    """Copies of each message delivered (at-least-once delivery)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "finance_shape": self.finance_shape,
            "card_fee_percent": str(self.card_fee_percent),
            "seconds_per_request": self.seconds_per_request,
            "webhook_repeats": self.webhook_repeats,
        }


@dataclass
class Subscription:
    uuid: str
    transport: str
    events: list[str]
    destination: str
    contact_email: str | None
    signing_key: str
    updated: datetime
    status: str = "ACTIVE"
    tested: bool = False

    def to_json(self, with_key: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "uuid": self.uuid,
            "transportName": self.transport,
            "eventNames": list(self.events),
            "updated": self.updated.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "destination": self.destination,
            "contactEmail": self.contact_email,
            "status": self.status,
        }
        if with_key:
            data["signingKey"] = self.signing_key
        return data


@dataclass
class Merchant:
    organization_uuid: str
    user_uuid: str
    user_display_name: str
    country: str
    currency: str


@dataclass
class State:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[tuple[int, str]] = field(default_factory=list)
    """(timestamp ms, purchaseUUID1) in time order: the hash cursor's sequence."""
    ledger: list[Entry] = field(default_factory=list)
    unsettled: list[Entry] = field(default_factory=list)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    number: int = 0
    requests: int = 0


class ZettleSandbox:
    """One merchant's Zettle account."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 1,
        currency: str = "DKK",
        country: str = "DK",
        webhook_timeout: float = 10.0,
    ) -> None:
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self._offset = timedelta(0)
        self._secret = self._random.randbytes(32)
        self.settings = Settings()
        self.merchant = Merchant(
            organization_uuid=str(self._uuid1()),
            user_uuid=str(self._uuid1()),
            user_display_name="Sara Johansson",
            country=country,
            currency=currency,
        )
        self.state = State()
        self.pusher = Pusher(
            target=self._target, result=self._delivery_result, now=self.now,
            timeout=webhook_timeout,
        )  # fmt: skip
        self.default_key = self.add_key()

    # ------------------------------------------------------------------ time and ids

    def now(self) -> datetime:
        """The sandbox's clock: the given clock plus what the control API advanced."""
        with self.lock:
            return self.clock.now().astimezone(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock forward (tokens expire, retries fall due)."""
        if seconds < 0:
            raise bad_request("advance_seconds", "must not be negative")
        with self.lock:
            self._offset += timedelta(seconds=seconds)
            return self.now()

    def _uuid1(self) -> uuid.UUID:
        """A version-1 UUID from the seeded generator (Zettle's ids are UUIDv1)."""
        return uuid.uuid1(node=self._random.getrandbits(48), clock_seq=self._random.getrandbits(14))

    def close(self) -> None:
        self.pusher.close()

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        self.pusher.wait(timeout)

    def tick(self) -> None:
        """An API request went by: the clock moves by ``seconds_per_request``."""
        with self.lock:
            self.state.requests += 1
            if self.settings.seconds_per_request:
                self._offset += timedelta(seconds=self.settings.seconds_per_request)

    # ------------------------------------------------------------------ OAuth

    def add_key(self, scopes: tuple[str, ...] = ("READ:PURCHASE", "READ:FINANCE")) -> ApiKey:
        """A new API key, as my.zettle.com/apps/api-keys makes one: a signed JWT whose claims
        hold the client id and scopes."""
        for scope in scopes:
            if scope not in SCOPES:
                raise bad_request("scopes", f"unknown scope {scope!r}")
        with self.lock:
            client_id = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
            header = {"alg": "HS256", "typ": "JWT"}
            claims = {
                "iss": "iZettle", "client_id": client_id, "scopes": list(scopes),
                "sub": self.merchant.user_uuid, "jti": secrets_module.token_hex(8),
            }  # fmt: skip
            head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
            sig = _b64(hmac.new(self._secret, head.encode(), hashlib.sha256).digest())
            key = ApiKey(f"{head}.{sig}", client_id, tuple(scopes))
            self.state.keys[key.key] = key
            return key

    def revoke_key(self, client_id: str) -> None:
        with self.lock:
            found = [k for k in self.state.keys.values() if k.client_id == client_id]
            if not found:
                raise ZettleError(404, {"error": "not_found"})
            for key in found:
                key.revoked = True
            self.state.tokens = {
                t: tok for t, tok in self.state.tokens.items() if tok.client_id != client_id
            }

    def grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /token``: the assertion grant; no refresh token is issued."""
        if form.get("grant_type") != JWT_BEARER:
            raise ZettleError(400, {"error": "unsupported_grant_type",
                                    "error_description": "Unsupported grant type"})  # fmt: skip
        assertion = form.get("assertion") or ""
        client_id = form.get("client_id") or ""
        with self.lock:
            key = self.state.keys.get(assertion)
            if key is None or key.revoked or key.client_id != client_id:
                raise ZettleError(400, {"error": "invalid_grant",
                                        "error_description": "Invalid assertion"})  # fmt: skip
            token = "zsbx." + secrets_module.token_urlsafe(24)
            self.state.tokens[token] = Token(
                key.client_id, key.scopes, self.now() + timedelta(seconds=TOKEN_LIFETIME)
            )
        return {"access_token": token, "expires_in": TOKEN_LIFETIME}

    def authenticate(self, authorization: str, scope: str | None) -> Token:
        """The bearer token's grant, or the 401/403 Zettle answers."""
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            raise ZettleError(401, {"error": "invalid_request"},
                              {"WWW-Authenticate": 'Bearer realm="zettle"'})  # fmt: skip
        with self.lock:
            token = self.state.tokens.get(value.strip())
            if token is None:
                raise ZettleError(
                    401, {"error": "invalid_token"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token", '
                                         'error_description="INVALID_ACCESS_TOKEN"'},
                )  # fmt: skip
            if token.expires_at <= self.now():
                raise ZettleError(
                    401, {"error": "invalid_request"},
                    {"WWW-Authenticate": 'Bearer error="invalid_request", '
                                         'error_description="ACCESS_TOKEN_EXPIRED"'},
                )  # fmt: skip
            if scope is not None and scope not in token.scopes:
                raise ZettleError(403, {"error": "insufficient_scope",
                                        "error_description": f"{scope} is required"})  # fmt: skip
            return token

    def expire_tokens(self) -> int:
        """Every access token issued so far expires now."""
        with self.lock:
            for token in self.state.tokens.values():
                token.expires_at = self.now()
            return len(self.state.tokens)

    def user(self) -> dict[str, Any]:
        return {"uuid": self.merchant.user_uuid,
                "organizationUuid": self.merchant.organization_uuid}  # fmt: skip

    # ------------------------------------------------------------------ settings

    def apply_settings(self, data: Mapping[str, Any]) -> dict[str, Any]:
        known = set(Settings.__dataclass_fields__)
        for name in data:
            if name not in known:
                raise bad_request(str(name), f"unknown setting; known: {', '.join(sorted(known))}")
        with self.lock:
            if "finance_shape" in data:
                if data["finance_shape"] not in FINANCE_SHAPES:
                    raise bad_request("finance_shape", f"one of {', '.join(FINANCE_SHAPES)}")
                self.settings.finance_shape = data["finance_shape"]
            if "card_fee_percent" in data:
                self.settings.card_fee_percent = percent(
                    data["card_fee_percent"], "card_fee_percent"
                )
            if "seconds_per_request" in data:
                self.settings.seconds_per_request = integer(
                    data["seconds_per_request"], "seconds_per_request", low=0, high=86_400
                )
            if "webhook_repeats" in data:
                self.settings.webhook_repeats = integer(
                    data["webhook_repeats"], "webhook_repeats", low=1, high=10
                )
            return self.settings.to_json()

    # ------------------------------------------------------------------ sales

    def ring_up(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A sale at the till (control API): ``products`` rows, an optional purchase
        ``discount`` (``percentage`` or ``amount``), ``service_charge`` (``amount`` gross,
        ``title``, ``vat_percentage``), ``payments`` (``type``, ``amount``, ``tip``: the last
        payment takes what the others leave), ``at`` (ISO moment; default now) and ``webhook``
        (false: no ``PurchaseCreated`` for it, as when its delivery is lost on the way or
        Zettle gave up on it, so only a pull reads the sale)."""
        rows_in = body.get("products")
        if not isinstance(rows_in, list) or not rows_in:
            raise bad_request("products", "at least one product row")
        webhook = body.get("webhook", True)
        if not isinstance(webhook, bool):
            raise bad_request("webhook", "true or false")
        with self.lock:
            rows = [read_row(i, r, self._uuid1) for i, r in enumerate(rows_in)]
            gross = [row.gross for row in rows]
            discounts, purchase_discount = self._purchase_discount(body.get("discount"), gross)
            finals = [g - d for g, d in zip(gross, discounts, strict=True)]
            pairs = list(zip(rows, finals, strict=True))
            products = [product_json(i, row, f) for i, (row, f) in enumerate(pairs)]
            charge = self._service_charge(body.get("service_charge"))
            amount = sum(finals) + (charge["amount"] if charge else 0)
            taxable = sum(p["rowTaxableAmount"] for p in products)
            if charge:
                rate = Decimal(str(charge["vatPercentage"]))
                taxable += half_up(Decimal(charge["amount"]) * 100 / (100 + rate))
            when = self._moment(body.get("at"))
            payments = self._payments(body.get("payments"), amount)
            by_rate = [(row.vat, f) for row, f in zip(rows, finals, strict=True)]
            if charge:
                by_rate.append((Decimal(str(charge["vatPercentage"])), charge["amount"]))
            purchase = self._purchase(
                when, amount, amount - taxable, products, payments, grouped(by_rate)
            )
            purchase["discounts"] = [purchase_discount] if purchase_discount else []
            if charge:
                purchase["serviceCharge"] = charge
            self._store(purchase, publish=webhook)
            for payment in payments:
                if payment["type"] in CARD_TYPES:
                    self._capture(when, payment["uuid"], payment["amount"])
            return json.loads(json.dumps(purchase))

    def _purchase_discount(self, data: Any, gross: list[int]) -> tuple[list[int], dict[str, Any]]:
        if data is None:
            return [0] * len(gross), {}
        if not isinstance(data, dict) or ("percentage" in data) == ("amount" in data):
            raise bad_request("discount", "give either percentage or amount")
        total = sum(gross)
        if "percentage" in data:
            pct = percent(data["percentage"], "discount.percentage")
            value = half_up(Decimal(total) * pct / 100)
            shown: dict[str, Any] = {"percentage": vat_number(pct), "quantity": 1, "value": value}
        else:
            value = integer(data["amount"], "discount.amount", low=0)
            shown = {"amount": value, "quantity": 1, "value": value}
        if value > total:
            raise bad_request("discount", "larger than the purchase")
        return spread(value, gross), shown

    def _service_charge(self, data: Any) -> dict[str, Any] | None:
        if data is None:
            return None
        if not isinstance(data, dict):
            raise bad_request("service_charge", "must be an object")
        amount = integer(data.get("amount"), "service_charge.amount", low=1)
        title = data.get("title", "Service charge")
        rate = percent(data.get("vat_percentage", 25), "service_charge.vat_percentage")
        return {"amount": amount, "title": str(title), "vatPercentage": vat_number(rate),
                "quantity": 1}  # fmt: skip

    def _payments(self, data: Any, amount: int) -> list[dict[str, Any]]:
        """The payments of a sale; they cover ``amount`` plus tips (a tip is inside its
        payment's ``amount`` and in ``gratuityAmount``)."""
        given = data if data is not None else [{"type": "IZETTLE_CARD"}]
        if not isinstance(given, list) or not given:
            raise bad_request("payments", "at least one payment")
        left = amount
        payments: list[dict[str, Any]] = []
        for index, item in enumerate(given):
            where = f"payments[{index}]"
            if not isinstance(item, dict) or item.get("type") not in PAYMENT_TYPES:
                raise bad_request(f"{where}.type", f"one of {', '.join(PAYMENT_TYPES)}")
            last = index == len(given) - 1
            part = left if last and "amount" not in item else item.get("amount")
            part = integer(part, f"{where}.amount", low=1)
            if part > left:
                raise bad_request(f"{where}.amount", "more than is left to pay")
            left -= part
            tip = integer(item.get("tip", 0), f"{where}.tip", low=0)
            payments.append(self._payment(item["type"], part + tip, tip))
        if left:
            raise bad_request("payments", f"{left} left unpaid")
        return payments

    def _payment(self, kind: str, amount: int, tip: int) -> dict[str, Any]:
        payment: dict[str, Any] = {"uuid": str(self._uuid1()), "amount": amount, "type": kind}
        if kind in CARD_TYPES:
            payment["gratuityAmount"] = tip
            payment["attributes"] = {
                "maskedPan": "535583******" + f"{self._random.randrange(10_000):04d}",
                "cardType": "MASTERCARD",
                "cardPaymentEntryMode": "CONTACTLESS_EMV" if kind == "IZETTLE_CARD"
                else "ECOMMERCE",
                "referenceNumber": "".join(self._random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                                                                k=10)),
                "authorizationCode": f"{self._random.randrange(1_000_000):06d}",
            }  # fmt: skip
        elif kind == "IZETTLE_CASH":
            payment["attributes"] = {"handedAmount": amount, "changeAmount": 0}
        else:
            payment["attributes"] = {}
        return payment

    def _moment(self, value: Any) -> datetime:
        if value is None:
            return self.now()
        if not isinstance(value, str):
            raise bad_request("at", "an ISO 8601 moment")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request("at", "an ISO 8601 moment") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _purchase(
        self,
        when: datetime,
        amount: int,
        vat: int,
        products: list[dict[str, Any]],
        payments: list[dict[str, Any]],
        by_rate: dict[str, int],
    ) -> dict[str, Any]:
        self.state.number += 1
        ident = self._uuid1()
        while str(ident) in self.state.purchases:
            ident = self._uuid1()
        return {
            "source": "POS",
            "purchaseUUID": short_uuid(ident),
            "purchaseUUID1": str(ident),
            "amount": amount,
            "vatAmount": vat,
            "country": self.merchant.country,
            "currency": self.merchant.currency,
            "timestamp": stamp(when),
            "gpsCoordinates": {},
            "purchaseNumber": self.state.number,
            "globalPurchaseNumber": self.state.number,
            "userDisplayName": self.merchant.user_display_name,
            "userId": 11111,
            "organizationId": 11111,
            "products": products,
            "discounts": [],
            "payments": payments,
            "receiptCopyAllowed": True,
            "references": {"checkoutUUID": str(self._uuid1())},
            "created": stamp(when),
            "refunded": False,
            "groupedVatAmounts": by_rate,
            "refund": False,
        }

    def _store(self, purchase: dict[str, Any], *, publish: bool = True) -> None:
        """Keep a purchase in the hash cursor's order and tell the subscribers (unless its
        delivery is to be lost)."""
        key = (millis(_parse(purchase["timestamp"])), purchase["purchaseUUID1"])
        self.state.purchases[key[1]] = purchase
        self.state.order.append(key)
        self.state.order.sort()
        if publish:
            self._publish("PurchaseCreated", _event_payload(purchase, self.merchant))

    def _capture(self, when: datetime, payment_uuid: str, amount: int) -> None:
        """A card payment (or its refund) and its fee on the PRELIMINARY account."""
        fee = half_up(Decimal(abs(amount)) * self.settings.card_fee_percent / 100)
        sign = 1 if amount > 0 else -1
        later = when + timedelta(milliseconds=1)
        entries = [
            Entry("PRELIMINARY", when, amount, "PAYMENT", payment_uuid),
            Entry("PRELIMINARY", later, -fee * sign, "PAYMENT_FEE", payment_uuid),
        ]
        self.state.ledger.extend(entries)
        self.state.unsettled.extend(entries)

    def refund(self, purchase_uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A refund made in the app (the REST API cannot make one): ``rows`` (``index`` of
        the original row and ``quantity``; default every row in full) and ``at``. Money goes
        back to the original payments, the largest first."""
        with self.lock:
            original = self.state.purchases.get(purchase_uuid)
            if original is None or original["refund"]:
                raise ZettleError(404, {"error": "not_found",
                                        "developerMessage": "No such purchase"})  # fmt: skip
            wanted = body.get("rows")
            products = original["products"]
            if wanted is None:
                wanted = [{"index": i, "quantity": p["quantity"]} for i, p in enumerate(products)]
            if not isinstance(wanted, list) or not wanted:
                raise bad_request("rows", "at least one row")
            refunded = self._refunded_quantities(original)
            rows: list[dict[str, Any]] = []
            gross_back = 0
            row_gross = self._row_grosses(original)
            for n, item in enumerate(wanted):
                if not isinstance(item, dict):
                    raise bad_request(f"rows[{n}]", "must be an object")
                index = integer(item.get("index"), f"rows[{n}].index", low=0,
                                high=len(products) - 1)  # fmt: skip
                source = products[index]
                sold = Decimal(source["quantity"])
                qty = quantity(item.get("quantity", source["quantity"]), f"rows[{n}].quantity")
                if qty + refunded.get(index, Decimal(0)) > sold:
                    raise bad_request(f"rows[{n}].quantity", "more than is left to refund")
                share = qty / sold
                gross = half_up(row_gross[index] * share)
                gross_back += gross
                row = dict(source)
                row["quantity"] = f"-{qty.normalize():f}"
                row["rowTaxableAmount"] = -half_up(Decimal(source["rowTaxableAmount"]) * share)
                if "discountValue" in source:
                    row["discountValue"] = -half_up(Decimal(source["discountValue"]) * share)
                rows.append(row)
            when = self._moment(body.get("at"))
            payments = self._refund_payments(original, gross_back)
            taxable = -sum(r["rowTaxableAmount"] for r in rows)
            by_rate: dict[str, int] = {}
            for row in rows:
                key = f"{Decimal(str(row['vatPercentage'])).normalize():f}"
                key = key if "." in key else key + ".0"
                gross = half_up(Decimal(-row["rowTaxableAmount"])
                                * (100 + Decimal(str(row["vatPercentage"]))) / 100)  # fmt: skip
                by_rate[key] = by_rate.get(key, 0) - gross
            made = self._purchase(when, -gross_back, -(gross_back - taxable), rows, payments,
                                  by_rate)  # fmt: skip
            made["refund"] = True
            made["refundsPurchaseUUID"] = original["purchaseUUID"]
            made["refundsPurchaseUUID1"] = original["purchaseUUID1"]
            original["refunded"] = True
            original.setdefault("refundedByPurchaseUUIDs", []).append(made["purchaseUUID"])
            original.setdefault("refundedByPurchaseUUIDs1", []).append(made["purchaseUUID1"])
            made["_refunded_rows"] = [
                {"index": i["index"], "quantity": str(i.get("quantity", products[i["index"]]
                                                            ["quantity"]))}
                for i in wanted
            ]  # fmt: skip
            self._store(made)
            for payment in payments:
                if payment["type"] in CARD_TYPES:
                    self._capture(when, payment["uuid"], payment["amount"])
            return _public(made)

    def _row_grosses(self, purchase: Mapping[str, Any]) -> list[int]:
        """Each row's gross after every discount: the purchase's amount (less its service
        charge) spread by the rows' taxable amounts grossed up at their rates."""
        estimates = [
            half_up(Decimal(p["rowTaxableAmount"]) * (100 + Decimal(str(p["vatPercentage"]))) / 100)
            for p in purchase["products"]
        ]
        goods = purchase["amount"] - (purchase.get("serviceCharge") or {}).get("amount", 0)
        extra = spread(goods - sum(estimates), estimates)
        return [e + x for e, x in zip(estimates, extra, strict=True)]

    def _refunded_quantities(self, original: Mapping[str, Any]) -> dict[int, Decimal]:
        done: dict[int, Decimal] = {}
        for ref in original.get("refundedByPurchaseUUIDs1") or []:
            for row in self.state.purchases[ref].get("_refunded_rows") or []:
                done[row["index"]] = done.get(row["index"], Decimal(0)) + Decimal(row["quantity"])
        return done

    def _refund_payments(self, original: Mapping[str, Any], amount: int) -> list[dict[str, Any]]:
        left = amount
        made: list[dict[str, Any]] = []
        for payment in sorted(original["payments"], key=lambda p: -int(p["amount"])):
            if not left:
                break
            part = min(left, int(payment["amount"]) - int(payment.get("gratuityAmount") or 0))
            if part <= 0:
                continue
            left -= part
            back = self._payment(payment["type"], -part, 0)
            back.pop("gratuityAmount", None)
            back["references"] = {"refundsPayment": payment["uuid"]}
            if payment["type"] == "IZETTLE_CASH":
                back["attributes"] = {"handedAmount": -part}
            made.append(back)
        if left:
            raise bad_request("rows", "more than was paid")
        return made

    # ------------------------------------------------------------------ Purchase API

    def purchase(self, purchase_uuid: str) -> dict[str, Any]:
        with self.lock:
            found = self.state.purchases.get(purchase_uuid)
            if found is None:
                raise ZettleError(404, {"error": "not_found",
                                        "developerMessage": "Purchase not found"})  # fmt: skip
            return _public(found)

    def purchases(self, query: Mapping[str, str], base: str) -> dict[str, Any]:
        """``GET /purchases/v2``: a page after ``lastPurchaseHash`` (in the order asked),
        within ``startDate`` (inclusive) and ``endDate`` (exclusive)."""
        limit = _int_param(query, "limit", 1000, 1, 1000)
        descending = _bool_param(query, "descending")
        start = _date_param(query, "startDate")
        end = _date_param(query, "endDate")
        after = query.get("lastPurchaseHash")
        with self.lock:
            keys = list(reversed(self.state.order)) if descending else list(self.state.order)
            if start is not None:
                keys = [k for k in keys if k[0] >= millis(start)]
            if end is not None:
                keys = [k for k in keys if k[0] < millis(end)]
            if after:
                cursor = self._cursor(after)
                keys = [k for k in keys if (k < cursor if descending else k > cursor)]
            page = keys[:limit]
            items = [_public(self.state.purchases[k[1]]) for k in page]
            first = _hash(items[0]) if items else after
            last = _hash(items[-1]) if items else after
        body: dict[str, Any] = {
            "purchases": items,
            "firstPurchaseHash": first,
            "lastPurchaseHash": last,
            "linkUrls": [],
        }
        if items:
            params = [(k, v) for k, v in query.items() if k != "lastPurchaseHash"]
            params.append(("lastPurchaseHash", str(last)))
            link = base + "?" + "&".join(f"{k}={v}" for k, v in params)
            body["linkUrls"] = [f'<{link}>; rel="next"']
        return body

    def _cursor(self, value: str) -> tuple[int, str]:
        """A ``lastPurchaseHash`` (``<timestamp ms><purchaseUUID>``) as the sort key."""
        digits, rest = value[:13], value[13:]
        if not digits.isdigit() or not rest:
            raise bad_request("lastPurchaseHash", "not a purchase hash")
        for key in self.state.order:
            if key[0] == int(digits) and self.state.purchases[key[1]]["purchaseUUID"] == rest:
                return key
        try:
            ident = uuid.UUID(bytes=base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4)))
        except (ValueError, TypeError):
            raise bad_request("lastPurchaseHash", "not a purchase hash") from None
        return int(digits), str(ident)

    # ------------------------------------------------------------------ Finance API

    def settle(self, at: Any = None) -> int:
        """Captured card payments (and their fees) move from PRELIMINARY to LIQUID."""
        with self.lock:
            when = self._moment(at)
            moved = 0
            for offset, entry in enumerate(self.state.unsettled):
                self.state.ledger.append(
                    Entry("LIQUID", when + timedelta(milliseconds=offset), entry.amount,
                          entry.kind, entry.uuid)
                )  # fmt: skip
                moved += 1
            self.state.unsettled = []
            return moved

    def payout(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A payout run (control API): settles what is captured (unless ``settle`` is false),
        then pays the LIQUID balance out with one negative ``PAYOUT``."""
        with self.lock:
            when = self._moment(body.get("at"))
            if body.get("settle", True):
                self.settle(when.isoformat())
            latest = max((e.timestamp for e in self.state.ledger if e.account == "LIQUID"),
                         default=when)  # fmt: skip
            when = max(when, latest + timedelta(milliseconds=1))
            balance = self.balance_at("LIQUID", None)
            if balance <= 0:
                raise bad_request("payout", "nothing to pay out")
            entry = Entry("LIQUID", when, -balance, "PAYOUT", str(self._uuid1()))
            self.state.ledger.append(entry)
            return entry.to_json("guide")

    def balance_at(self, account: str, at: datetime | None) -> int:
        """LIQUID: every entry up to ``at``; PRELIMINARY: the captures not settled yet."""
        with self.lock:
            rows = (
                self.state.unsettled if account == "PRELIMINARY"
                else [e for e in self.state.ledger if e.account == account]
            )  # fmt: skip
            return sum(e.amount for e in rows if at is None or e.timestamp <= at)

    def transactions(self, account: str, query: Any) -> Any:
        if account not in ACCOUNTS:
            raise bad_request("accountTypeGroup", f"one of {', '.join(ACCOUNTS)}")
        start = _finance_time(query.get("start"), "start", required=True)
        end = _finance_time(query.get("end"), "end", required=True)
        assert start is not None and end is not None
        kinds = query.getlist("includeTransactionType") if hasattr(query, "getlist") else []
        for kind in kinds:
            if kind not in TRANSACTION_TYPES:
                raise bad_request("includeTransactionType", f"unknown type {kind!r}")
        limit = _int_param(query, "limit", 10_000, 1, 10_000)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        with self.lock:
            shape = self.settings.finance_shape
            rows = [
                e for e in self.state.ledger
                if e.account == account and start <= e.timestamp < end
                and (not kinds or e.kind in kinds)
            ]  # fmt: skip
            rows.sort(key=lambda e: e.timestamp, reverse=True)
            items = [e.to_json(shape) for e in rows[offset : offset + limit]]
        return items if shape == "openapi" else {"data": items}

    def balance(self, account: str, query: Any) -> Any:
        if account not in ACCOUNTS:
            raise bad_request("accountTypeGroup", f"one of {', '.join(ACCOUNTS)}")
        at = _finance_time(query.get("at"), "at", required=False)
        with self.lock:
            body = {"totalBalance": self.balance_at(account, at),
                    "currencyId": self.merchant.currency}  # fmt: skip
            return body if self.settings.finance_shape == "openapi" else {"data": body}

    def payout_info(self, query: Any) -> Any:
        at = _finance_time(query.get("at"), "at", required=False)
        with self.lock:
            balance = self.balance_at("LIQUID", at)
            body = {
                "totalBalance": balance, "currencyId": self.merchant.currency,
                "nextPayoutAmount": max(balance, 0), "discountRemaining": 0,
                "periodicity": "DAILY",
            }  # fmt: skip
            return body if self.settings.finance_shape == "openapi" else {"data": body}

    # ------------------------------------------------------------------ Pusher API

    def subscribe(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("body", "a JSON object")
        ident = body.get("uuid")
        try:
            parsed = uuid.UUID(str(ident))
        except ValueError:
            raise bad_request("uuid", "a version-1 UUID chosen by the client") from None
        if parsed.version != 1:
            raise bad_request("uuid", "a version-1 UUID chosen by the client")
        if body.get("transportName") != "WEBHOOK":
            raise bad_request("transportName", "WEBHOOK")
        destination = body.get("destination")
        if not isinstance(destination, str) or not destination.startswith(("http://", "https://")):
            raise bad_request("destination", "an http(s) URL")
        events = body.get("eventNames") or []
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise bad_request("eventNames", f"names among {', '.join(EVENTS)}")
        with self.lock:
            if str(parsed) in self.state.subscriptions:
                raise ZettleError(409, {"errorType": "CONFLICT",
                                        "developerMessage": "Subscription exists"})  # fmt: skip
            seen = {s.destination for s in self.state.subscriptions.values() if s.tested}
            made = Subscription(
                str(parsed), "WEBHOOK", list(events), destination,
                body.get("contactEmail"), secrets_module.token_urlsafe(48), self.now(),
            )  # fmt: skip
            self.state.subscriptions[made.uuid] = made
            if destination not in seen:
                made.tested = True
                self._send(made, "TestMessage", {"data": "payload"})
            return made.to_json(with_key=True)

    def subscriptions(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s.to_json() for s in self.state.subscriptions.values()]

    def unsubscribe(self, ident: str) -> None:
        with self.lock:
            if self.state.subscriptions.pop(ident, None) is None:
                raise ZettleError(404, {"errorType": "NOT_FOUND",
                                        "developerMessage": "No such subscription"})  # fmt: skip

    def update_subscription(self, ident: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("body", "a JSON object")
        with self.lock:
            found = self.state.subscriptions.get(ident)
            if found is None:
                raise ZettleError(404, {"errorType": "NOT_FOUND",
                                        "developerMessage": "No such subscription"})  # fmt: skip
            if "destination" in body:
                found.destination = str(body["destination"])
            if "eventNames" in body and isinstance(body["eventNames"], list):
                found.events = [str(e) for e in body["eventNames"]]
            if "contactEmail" in body:
                found.contact_email = body["contactEmail"]
            found.status = "ACTIVE"
            found.updated = self.now()
            return found.to_json()

    def _publish(self, event: str, payload: dict[str, Any]) -> None:
        for sub in list(self.state.subscriptions.values()):
            if not sub.events or event in sub.events:
                self._send(sub, event, payload)

    def _send(self, sub: Subscription, event: str, payload: dict[str, Any]) -> None:
        envelope = {
            "organizationUuid": self.merchant.organization_uuid,
            "messageUuid": str(self._uuid1()),
            "eventName": event,
            "messageId": str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            "payload": json.dumps(payload, separators=(",", ":")),
            "timestamp": self.now().isoformat().replace("+00:00", "Z"),
        }
        for _ in range(self.settings.webhook_repeats):
            self.pusher.submit(Message(sub.uuid, dict(envelope)))

    def _target(self, ident: str) -> Target | None:
        with self.lock:
            sub = self.state.subscriptions.get(ident)
            return None if sub is None else Target(sub.destination, sub.signing_key, True)

    def _delivery_result(self, ident: str, ok: bool, gave_up: bool) -> None:
        with self.lock:
            sub = self.state.subscriptions.get(ident)
            if sub is None:
                return
            if gave_up:
                del self.state.subscriptions[ident]
            else:
                sub.status = "ACTIVE" if ok else "FAILING"

    # ------------------------------------------------------------------ control

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "organizationUuid": self.merchant.organization_uuid,
                "now": self.now().isoformat(),
                "purchases": len(self.state.purchases),
                "ledger": len(self.state.ledger),
                "balances": {a: self.balance_at(a, None) for a in ACCOUNTS},
                "subscriptions": [s.to_json() for s in self.state.subscriptions.values()],
                "requests": self.state.requests,
                "settings": self.settings.to_json(),
                "keys": [{"client_id": k.client_id, "revoked": k.revoked}
                         for k in self.state.keys.values()],
            }  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def _hash(purchase: Mapping[str, Any]) -> str:
    """A purchase's place in the list: its time in ms and its short UUID."""
    return f"{millis(_parse(purchase['timestamp']))}{purchase['purchaseUUID']}"


def _public(purchase: Mapping[str, Any]) -> dict[str, Any]:
    """A purchase as the API shows it (without the sandbox's own bookkeeping)."""
    copied: dict[str, Any] = json.loads(json.dumps(purchase))
    copied.pop("_refunded_rows", None)
    return copied


def _event_payload(purchase: Mapping[str, Any], merchant: Merchant) -> dict[str, Any]:
    """``PurchaseCreated``'s payload, in the shape the event reference shows (a purchase
    with ``purchaseUuid``, epoch-millisecond ``timestamp``, ``taxRates`` per row)."""
    products = []
    for row in purchase["products"]:
        item = {k: v for k, v in row.items() if k not in ("rowTaxableAmount", "libraryProduct")}
        item["taxRates"] = [{"percentage": row["vatPercentage"]}]
        item["taxExempt"] = False
        item["details"] = {}
        products.append(item)
    payload: dict[str, Any] = {
        "purchaseUuid": purchase["purchaseUUID1"],
        "source": purchase["source"],
        "userUuid": merchant.user_uuid,
        "currency": purchase["currency"],
        "country": purchase["country"],
        "amount": purchase["amount"],
        "vatAmount": purchase["vatAmount"],
        "timestamp": millis(_parse(purchase["timestamp"])),
        "created": purchase["created"],
        "gpsCoordinates": {},
        "purchaseNumber": purchase["purchaseNumber"],
        "userDisplayName": purchase["userDisplayName"],
        "udid": hashlib.sha1(merchant.organization_uuid.encode()).hexdigest(),
        "organizationUuid": merchant.organization_uuid,
        "products": products,
        "discounts": purchase.get("discounts") or [],
        "payments": purchase["payments"],
        "references": purchase["references"],
        "taxationMode": "INCLUSIVE",
        "taxationType": "VAT",
    }
    if purchase.get("refund"):
        payload["refund"] = True
        payload["refundsPurchaseUuid"] = purchase.get("refundsPurchaseUUID1")
    return payload


def _int_param(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(name, "must be an integer") from None
    if not low <= value <= high:
        raise bad_request(name, f"must be between {low} and {high}")
    return value


def _bool_param(query: Any, name: str) -> bool:
    raw = str(query.get(name, "false")).lower()
    if raw not in ("true", "false"):
        raise bad_request(name, "true or false")
    return raw == "true"


def _date_param(query: Any, name: str) -> datetime | None:
    """A date or date-time in UTC (``2020-01-01``, ``2020-01-01T17:00``)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(name, "a date or date-time in UTC") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _finance_time(raw: Any, name: str, *, required: bool) -> datetime | None:
    """``YYYY-MM-DDThh:mm:ss`` in UTC (an offset or fraction is accepted, as the later
    documentation shows)."""
    if raw is None or raw == "":
        if required:
            raise bad_request(name, "is required")
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(name, "YYYY-MM-DDThh:mm:ss in UTC") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["ApiKey", "Row", "ZettleSandbox"]
