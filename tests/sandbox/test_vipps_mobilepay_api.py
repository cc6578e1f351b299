"""The Vipps MobilePay sandbox over HTTP on loopback: access tokens and their expiry, the
guide's worked example, balances, immutable entries with corrections, the data lag, the
control API's refusals and injected faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer, VippsSandbox, worked_example

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class Api:
    def __init__(self, sandbox: VippsSandbox, clock: ManualClock, url: str) -> None:
        self.sandbox = sandbox
        self.clock = clock
        self.http = httpx.Client(base_url=url, timeout=10)
        keys = sandbox.default_keys
        self.keys = {
            "client_id": keys.client_id,
            "client_secret": keys.client_secret,
            "Ocp-Apim-Subscription-Key": keys.subscription_key,
        }

    def token(self) -> str:
        response = self.http.post("/accesstoken/get", headers=self.keys)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, token: str, **params: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Ocp-Apim-Subscription-Key": self.keys["Ocp-Apim-Subscription-Key"],
        }
        return self.http.get(path, headers=headers, params=params)

    def feed(self, ledger: str, topic: str) -> list[dict[str, Any]]:
        token = self.token()
        rows: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.get(f"/report/v2/ledgers/{ledger}/{topic}/feed", token,
                            **({"cursor": cursor} if cursor else {})).json()  # fmt: skip
            rows += page["items"]
            cursor = page["cursor"]
            if page["tryLater"] or not page["items"]:
                return rows


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock(START)
    sandbox = VippsSandbox(clock=clock)
    with SandboxServer(sandbox) as server:
        made = Api(sandbox, clock, server.base_url)
        yield made
        made.http.close()


def test_wrong_keys_get_no_token_and_an_expired_token_is_refused(api: Api) -> None:
    wrong = api.http.post("/accesstoken/get", headers={**api.keys, "client_secret": "nope"})
    assert wrong.status_code == 401
    token = api.token()
    api.sandbox.add_ledger("1", "DKK")
    assert api.get("/report/v2/ledgers/1/funds/feed", token).status_code == 200
    other_key = api.http.get(
        "/report/v2/ledgers/1/funds/feed",
        headers={"Authorization": f"Bearer {token}", "Ocp-Apim-Subscription-Key": "other"},
    )
    assert other_key.status_code == 401
    api.clock.advance(timedelta(hours=1))
    expired = api.get("/report/v2/ledgers/1/funds/feed", token)
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_the_worked_example_ends_at_balance_zero_with_a_payout_of_288(api: Api) -> None:
    worked_example(api.sandbox)
    funds = api.feed("302321", "funds")
    assert [(e["entryType"], e["amount"]) for e in funds] == [
        ("capture", 10000), ("capture", 10000), ("capture", 20000), ("refund", -10000),
        ("fees-retained", -1200), ("payout-scheduled", -28800),
    ]  # fmt: skip
    for before, after in pairwise(funds):
        assert after["balanceBefore"] == before["balanceAfter"]
    assert funds[-1]["balanceAfter"] == 0
    assert funds[-1]["reference"].startswith("Vipps utbet. ")
    fees = api.feed("302321", "fees")
    captures = [e["pspReference"] for e in funds if e["entryType"] == "capture"]
    assert [(e["entryType"], e["pspReference"], e["amount"]) for e in fees[:3]] == [
        ("capture-fee", psp, -400) for psp in captures
    ]
    assert fees[-1]["balanceAfter"] == 0
    assert [e["reference"] for e in funds[:3]] == ["order-1001", "order-1002", "order-1003"]


def test_entries_never_change_and_a_correction_is_a_new_entry(api: Api) -> None:
    worked_example(api.sandbox)
    before = api.feed("302321", "funds")
    response = api.http.post(
        "/_sandbox/ledgers/302321/corrections", json={"amount": -500, "text": "Correction"}
    )
    assert response.status_code == 200, response.text
    after = api.feed("302321", "funds")
    assert after[: len(before)] == before
    assert after[-1]["entryType"] == "correction" and after[-1]["balanceAfter"] == -500


def test_entries_appear_only_after_the_lag(api: Api) -> None:
    api.sandbox.add_ledger("1", "NOK")
    api.sandbox.lag_seconds = 600
    api.sandbox.capture("1", "A-1", 49900)
    assert api.feed("1", "funds") == []
    api.clock.advance(timedelta(minutes=10))
    assert [e["reference"] for e in api.feed("1", "funds")] == ["A-1"]


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/_sandbox/ledgers", {"ledgerId": "9", "currency": "SEK"}, "currency"),
        ("/_sandbox/ledgers/1/captures", {"orderId": "x", "amount": 1.5}, "amount"),
        ("/_sandbox/ledgers/1/captures", {"orderId": "x", "amount": 100, "currency": "EUR"},
         "settles DKK"),
        ("/_sandbox/ledgers/1/refunds", {"orderId": "x", "amount": 100}, "left to refund"),
        ("/_sandbox/ledgers/1/payouts", {}, "nothing to pay out"),
        ("/_sandbox/ledgers/404/captures", {"orderId": "x", "amount": 100}, "does not exist"),
    ],
)  # fmt: skip
def test_the_control_api_refuses_bad_input_with_a_clear_4xx(
    api: Api, path: str, body: dict[str, Any], words: str
) -> None:
    api.sandbox.add_ledger("1", "DKK")
    response = api.http.post(path, json=body)
    assert 400 <= response.status_code < 500 and words in response.json()["detail"]


def test_a_capture_refund_and_payout_through_the_control_api(api: Api) -> None:
    assert api.http.post("/_sandbox/ledgers", json={"ledgerId": "7", "currency": "EUR"}).is_success
    capture = api.http.post(
        "/_sandbox/ledgers/7/captures", json={"orderId": "F-1", "amount": 5000, "fee": 120}
    ).json()
    api.http.post("/_sandbox/ledgers/7/refunds", json={"orderId": "F-1", "amount": 1000})
    payout = api.http.post("/_sandbox/ledgers/7/payouts").json()
    assert payout["entryType"] == "payout-scheduled" and payout["amount"] == -(5000 - 1000 - 120)
    fees = api.feed("7", "fees")
    assert fees[0]["pspReference"] == capture["pspReference"] and fees[0]["amount"] == -120


def test_injected_throttling_answers_429_with_retry_after(api: Api) -> None:
    api.sandbox.add_ledger("1", "DKK")
    token = api.token()
    plan = {"rate": 1.0, "kinds": ["429"], "retry_after": 3}
    assert api.http.put("/_sandbox/faults", json=plan).status_code == 200
    response = api.get("/report/v2/ledgers/1/funds/feed", token)
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


def test_keys_reach_only_their_ledgers_and_a_foreign_cursor_is_refused(api: Api) -> None:
    api.sandbox.add_ledger("1", "DKK")
    api.sandbox.add_ledger("abc", "NOK")
    api.sandbox.capture("abc", "N-1", 10000)
    payout = api.sandbox.schedule_payout("abc")
    assert payout["reference"].startswith(f"Vipps utbet. {payout['pspReference']} ")
    api.sandbox.add_keys("narrow", "narrow-secret", "narrow-sub", ledgers={"1"})
    response = api.http.post(
        "/accesstoken/get",
        headers={
            "client_id": "narrow",
            "client_secret": "narrow-secret",
            "Ocp-Apim-Subscription-Key": "narrow-sub",
        },
    )
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Ocp-Apim-Subscription-Key": "narrow-sub"}
    listed = api.http.get("/settlement/v1/ledgers", headers=headers).json()
    assert [ledger["ledgerId"] for ledger in listed["items"]] == ["1"]
    assert api.http.get("/report/v2/ledgers/abc/funds/feed", headers=headers).status_code == 403
    own = api.http.get("/report/v2/ledgers/1/funds/feed", headers=headers).json()
    foreign = api.get("/report/v2/ledgers/abc/funds/feed", api.token(), cursor=own["cursor"])
    assert foreign.status_code == 400 and "another request" in foreign.json()["detail"]
    garbage = api.get("/report/v2/ledgers/abc/funds/feed", api.token(), cursor="%%%")
    assert garbage.status_code == 400
