"""The sandbox's memory: API keys and their access tokens, ledgers, and each ledger's two
append-only topics of entries (``funds`` and ``fees``), as the Report API describes them.

Facts simulated (``shared/research/api-acquirers.md`` §3 and the official OpenAPI):

* amounts are integers in minor units, signed as they move the ledger's balance, and every
  entry carries ``balanceBefore``/``balanceAfter`` of its topic;
* a capture adds to the funds balance; its fee is a ``capture-fee`` in the fees topic with the
  capture's ``pspReference``; a refund takes from the funds balance;
* a payout (net settlement) first moves the fees owed from funds to fees (``fees-retained`` in
  both topics), then empties the funds balance (``payout-scheduled``, whose ``reference`` is the
  text on the bank line); in gross settlement the fees are invoiced instead
  (``fees-invoiced`` in the fees topic) and the whole balance is paid out;
* entries never change: a correction is a new entry (``correction``);
* an entry becomes visible only ``lag`` seconds after it happened (the API trails the
  payment APIs).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ledgerbridge.clock import Clock, SystemClock

CURRENCIES = {"DKK": "DK", "NOK": "NO", "EUR": "FI"}
"""The ledger currencies and the country whose sales units settle in them."""
TOPICS = ("funds", "fees")
PAGE_LIMIT = 1000
"""Entries one page holds at most (the guide's page size)."""
TEST_TOKEN_SECONDS = 3600
"""An access token lives 1 hour in the test environment (24 hours in production)."""


class VippsError(Exception):
    """A refusal the API answers with ``status`` and a problem body."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


@dataclass
class ApiKeys:
    """One set of keys from the portal: what ``POST /accesstoken/get`` takes."""

    client_id: str
    client_secret: str
    subscription_key: str
    ledgers: set[str] | None = None
    """Ledgers the keys reach (None: every ledger, as a partner's keys after consent)."""


@dataclass
class Ledger:
    ledger_id: str
    currency: str
    msn: str
    """The sales unit (merchant serial number) it settles for: ``api:<msn>``."""
    bank_account: str
    org_number: str
    settlement: str = "net"
    """``net``: fees are retained from the payout; ``gross``: fees are invoiced."""
    timezone: str = "Europe/Copenhagen"
    entries: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {topic: [] for topic in TOPICS}
    )
    payouts: int = 0

    def balance(self, topic: str) -> int:
        rows = self.entries[topic]
        return int(rows[-1]["balanceAfter"]) if rows else 0

    def json(self) -> dict[str, Any]:
        country = CURRENCIES[self.currency]
        scheme = {"DK": "business:DK:CVR", "NO": "business:NO:ORG", "FI": "business:FI:Y-tunnus"}
        return {
            "ledgerId": self.ledger_id,
            "currency": self.currency,
            "payoutBankAccount": {"scheme": f"BBAN:{country}", "id": self.bank_account},
            "owner": {"scheme": scheme[country], "id": self.org_number},
            "settlesForRecipientHandles": [f"api:{self.msn}"],
        }


class VippsSandbox:
    """Everything the sandbox serves, behind one lock (uvicorn answers on one thread, tests
    and the control API change state from others)."""

    def __init__(self, clock: Clock | None = None, seed: int = 1) -> None:
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.seed = seed
        self.token_seconds = TEST_TOKEN_SECONDS
        self.lag_seconds = 0
        self.page_limit = PAGE_LIMIT
        self.keys: dict[str, ApiKeys] = {}
        self.tokens: dict[str, tuple[str, datetime]] = {}
        """Access token → (client id, expiry)."""
        self.ledgers: dict[str, Ledger] = {}
        self.tokens_issued = 0
        self._psp = 3343121300 + seed * 1000
        self._payout_number = 2000022
        """Payout numbers, sandbox-wide (the guide's example is 2000023)."""
        self.default_keys = self.add_keys("vipps-client-1", "vipps-secret-1", "vipps-sub-key-1")

    # ------------------------------------------------------------------ keys and tokens

    def add_keys(
        self,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        ledgers: set[str] | None = None,
    ) -> ApiKeys:
        with self.lock:
            keys = ApiKeys(client_id, client_secret, subscription_key, ledgers)
            self.keys[client_id] = keys
            return keys

    def issue_token(
        self, client_id: str, client_secret: str, subscription_key: str
    ) -> dict[str, str]:
        """``POST /accesstoken/get``: the token answer (every value a string, as Vipps
        sends it)."""
        with self.lock:
            keys = self.keys.get(client_id)
            if (
                keys is None
                or not secrets.compare_digest(keys.client_secret, client_secret)
                or not secrets.compare_digest(keys.subscription_key, subscription_key)
            ):
                raise VippsError(
                    401, "Unauthorized", "Invalid client_id, client_secret or subscription key"
                )
            now = self.clock.now()
            expires = now + timedelta(seconds=self.token_seconds)
            token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(24)
            self.tokens[token] = (client_id, expires)
            self.tokens_issued += 1
            return {
                "token_type": "Bearer",
                "expires_in": str(self.token_seconds),
                "ext_expires_in": str(self.token_seconds),
                "expires_on": str(int(expires.timestamp())),
                "not_before": str(int(now.timestamp())),
                "resource": "00000002-0000-0000-c000-000000000000",
                "access_token": token,
            }

    def authorize(self, authorization: str, subscription_key: str) -> ApiKeys:
        """The keys behind a ``Bearer`` token; 401 for a missing, unknown or expired one, or a
        subscription key that is not the token's."""
        with self.lock:
            scheme, _, token = authorization.partition(" ")
            found = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                raise VippsError(401, "Unauthorized", "Please check your API keys")
            client_id, expires = found
            if self.clock.now() >= expires:
                raise VippsError(401, "Unauthorized", "The access token has expired")
            keys = self.keys[client_id]
            if not secrets.compare_digest(keys.subscription_key, subscription_key):
                raise VippsError(401, "Unauthorized", "Invalid Ocp-Apim-Subscription-Key")
            return keys

    def expire_tokens(self) -> int:
        """Make every issued token expired (what an hour's wait does)."""
        with self.lock:
            past = self.clock.now() - timedelta(seconds=1)
            for token, (client_id, _expiry) in list(self.tokens.items()):
                self.tokens[token] = (client_id, past)
            return len(self.tokens)

    # ------------------------------------------------------------------ ledgers and entries

    def add_ledger(
        self,
        ledger_id: str,
        currency: str = "DKK",
        *,
        msn: str | None = None,
        settlement: str = "net",
        timezone: str | None = None,
    ) -> Ledger:
        with self.lock:
            if currency not in CURRENCIES:
                raise VippsError(
                    400, "Bad Request", f"currency must be one of {sorted(CURRENCIES)}"
                )
            if settlement not in ("net", "gross"):
                raise VippsError(400, "Bad Request", "settlement must be net or gross")
            if ledger_id in self.ledgers:
                raise VippsError(409, "Conflict", f"ledger {ledger_id} exists")
            zone = timezone or {"DKK": "Europe/Copenhagen", "NOK": "Europe/Oslo"}.get(
                currency, "Europe/Helsinki"
            )
            ledger = Ledger(
                ledger_id,
                currency,
                msn or str(100000 + len(self.ledgers) + 23455),
                bank_account=str(86011117947 + len(self.ledgers)),
                org_number=str(987654321 - len(self.ledgers)),
                settlement=settlement,
                timezone=zone,
            )
            self.ledgers[ledger_id] = ledger
            return ledger

    def ledger(self, ledger_id: str) -> Ledger:
        found = self.ledgers.get(ledger_id)
        if found is None:
            raise VippsError(404, "Not Found", f"ledger {ledger_id} does not exist")
        return found

    def _next_psp(self) -> str:
        self._psp += 1
        return str(self._psp)

    def _append(
        self,
        ledger: Ledger,
        topic: str,
        entry_type: str,
        amount: int,
        *,
        psp: str,
        reference: str,
        at: datetime,
    ) -> dict[str, Any]:
        before = ledger.balance(topic)
        entry = {
            "pspReference": psp,
            "time": at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "ledgerDate": at.astimezone(ZoneInfo(ledger.timezone)).date().isoformat(),
            "entryType": entry_type,
            "reference": reference,
            "currency": ledger.currency,
            "amount": amount,
            "balanceBefore": before,
            "balanceAfter": before + amount,
            "recipientHandle": f"{CURRENCIES[ledger.currency]}:{ledger.msn}",
            "_at": at,
        }
        ledger.entries[topic].append(entry)
        return entry

    def _checked(self, ledger_id: str, currency: str | None, amount: Any) -> tuple[Ledger, int]:
        ledger = self.ledger(ledger_id)
        if currency is not None and currency != ledger.currency:
            raise VippsError(
                400,
                "Bad Request",
                f"ledger {ledger_id} settles {ledger.currency}, not {currency}",
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise VippsError(400, "Bad Request", "amount must be a positive integer (minor units)")
        return ledger, amount

    def capture(
        self,
        ledger_id: str,
        order_id: str,
        amount: int,
        *,
        currency: str | None = None,
        fee: int | None = None,
        psp_reference: str | None = None,
    ) -> dict[str, Any]:
        """A captured payment: ``capture`` in funds and its ``capture-fee`` in fees (by
        default 1 % plus 1.00, the order of Vipps' card prices), both with one pspReference."""
        with self.lock:
            ledger, amount = self._checked(ledger_id, currency, amount)
            if fee is None:
                fee = round(amount / 100) + 100
            if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
                raise VippsError(400, "Bad Request", "fee must be a non-negative integer")
            psp = psp_reference or self._next_psp()
            now = self.clock.now()
            entry = self._append(
                ledger, "funds", "capture", amount, psp=psp, reference=order_id, at=now
            )
            if fee:
                self._append(ledger, "fees", "capture-fee", -fee, psp=psp, reference=order_id,
                             at=now)  # fmt: skip
            return public(entry)

    def refund(
        self, ledger_id: str, order_id: str, amount: int, *, currency: str | None = None
    ) -> dict[str, Any]:
        """A refund of (part of) an order's payment: a new pspReference, the same reference."""
        with self.lock:
            ledger, amount = self._checked(ledger_id, currency, amount)
            captured = sum(
                e["amount"]
                for e in ledger.entries["funds"]
                if e["reference"] == order_id and e["entryType"] in ("capture", "refund")
            )
            if amount > captured:
                raise VippsError(
                    400, "Bad Request", f"order {order_id} has {captured} left to refund"
                )
            entry = self._append(
                ledger, "funds", "refund", -amount, psp=self._next_psp(), reference=order_id,
                at=self.clock.now(),
            )  # fmt: skip
            return public(entry)

    def correction(self, ledger_id: str, amount: int, text: str) -> dict[str, Any]:
        """A correction of earlier entries, as a new entry (signed: negative takes back)."""
        with self.lock:
            ledger = self.ledger(ledger_id)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
                raise VippsError(400, "Bad Request", "amount must be a non-zero integer")
            entry = self._append(
                ledger, "funds", "correction", amount, psp=self._next_psp(), reference=text,
                at=self.clock.now(),
            )  # fmt: skip
            return public(entry)

    def schedule_payout(self, ledger_id: str) -> dict[str, Any]:
        """Pay out the funds balance: fees retained first (net settlement) or invoiced (gross),
        then ``payout-scheduled`` with the bank line's text as its reference."""
        with self.lock:
            ledger = self.ledger(ledger_id)
            now = self.clock.now()
            owed = -ledger.balance("fees")
            if owed > 0:
                kind = "fees-retained" if ledger.settlement == "net" else "fees-invoiced"
                psp = self._next_psp()
                if kind == "fees-retained":
                    self._append(ledger, "funds", kind, -owed, psp=psp, reference=psp, at=now)
                self._append(ledger, "fees", kind, owed, psp=psp, reference=psp, at=now)
            amount = ledger.balance("funds")
            if amount <= 0:
                raise VippsError(409, "Conflict", f"ledger {ledger_id} has nothing to pay out")
            ledger.payouts += 1
            self._payout_number += 1
            number = str(self._payout_number)
            text = f"Vipps utbet. {number} Vippsnr {ledger.msn}"
            entry = self._append(
                ledger, "funds", "payout-scheduled", -amount, psp=number, reference=text, at=now
            )
            return public(entry)

    # ------------------------------------------------------------------ reading

    def visible(self, ledger: Ledger, topic: str) -> list[dict[str, Any]]:
        """The topic's entries the API shows now (those older than the lag)."""
        horizon = self.clock.now() - timedelta(seconds=self.lag_seconds)
        rows = ledger.entries[topic]
        count = 0
        while count < len(rows) and rows[count]["_at"] <= horizon:
            count += 1
        return rows[:count]

    def ledger_date(self, ledger: Ledger) -> str:
        """Today's ledger date in the merchant's time zone (midnight cut-off)."""
        return self.clock.now().astimezone(ZoneInfo(ledger.timezone)).date().isoformat()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "keys": [
                    {"client_id": k.client_id, "ledgers": sorted(k.ledgers or [])}
                    for k in self.keys.values()
                ],
                "tokens_issued": self.tokens_issued,
                "settings": self.settings(),
                "ledgers": [
                    {
                        **ledger.json(),
                        "settlement": ledger.settlement,
                        "balances": {topic: ledger.balance(topic) for topic in TOPICS},
                        "entries": {topic: len(ledger.entries[topic]) for topic in TOPICS},
                    }
                    for ledger in self.ledgers.values()
                ],
            }

    def settings(self) -> dict[str, Any]:
        return {
            "token_seconds": self.token_seconds,
            "lag_seconds": self.lag_seconds,
            "page_limit": self.page_limit,
        }

    def apply_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        """``token_seconds`` (≥ 1), ``lag_seconds`` (≥ 0), ``page_limit`` (1 to 1000)."""
        bounds = {"token_seconds": (1, 86400), "lag_seconds": (0, 86400), "page_limit": (1, 1000)}
        with self.lock:
            for name, value in values.items():
                if name not in bounds:
                    raise VippsError(400, "Bad Request", f"unknown setting {name!r}")
                low, high = bounds[name]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not low <= value <= high
                ):
                    raise VippsError(400, "Bad Request", f"{name} must be from {low} to {high}")
            for name, value in values.items():
                setattr(self, name, value)
            return self.settings()


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the API shows it (without the sandbox's own keys)."""
    return {key: value for key, value in entry.items() if not key.startswith("_")}


def worked_example(sandbox: VippsSandbox, ledger_id: str = "302321") -> dict[str, Any]:
    """The guide's example on a new DKK ledger: captures of 100, 100 and 200 kr with a 4 kr
    fee each, a refund of 100, then the payout: 12 retained, 288 paid out, balance 0."""
    with sandbox.lock:
        ledger = sandbox.add_ledger(ledger_id, "DKK", msn="123455")
        captures = [
            sandbox.capture(ledger_id, f"order-{n}", amount, fee=400)
            for n, amount in ((1001, 10000), (1002, 10000), (1003, 20000))
        ]
        refund = sandbox.refund(ledger_id, "order-1003", 10000)
        payout = sandbox.schedule_payout(ledger_id)
        return {
            "ledger": ledger.json(),
            "captures": captures,
            "refund": refund,
            "payout": payout,
        }
