"""Stripe sandbox over HTTP on loopback: auth, versions, paging and filters, balance
transactions of a payout with their sources, a payout paid then failed, webhook endpoints and
their signed deliveries (repeated, missed, resent), the control API and fault injection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.faults import FaultInjector, FaultKind, FaultPlan
from ledgerbridge.sandbox.stripe import StripeSandbox, create_app, seed_account
from ledgerbridge.sandbox.stripe.app import FAULTS
from tests.sandbox.live import SwitchServer, serve_switch

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def live_server() -> Iterator[SwitchServer]:
    yield from serve_switch()


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[SwitchServer]:
    yield from serve_switch()


Account = tuple[StripeSandbox, dict[str, Any], httpx.Client, FaultInjector]


@pytest.fixture
def account(live_server: SwitchServer) -> Iterator[Account]:
    """A seeded account behind its fault injector, and a client with its secret key."""
    clock = ManualClock(START)
    sandbox = StripeSandbox(clock=clock, seed=3)
    cases = seed_account(sandbox, seed=3, charges=10)
    faults = FaultInjector(FAULTS)
    live_server.switch.app = faults.wrap(create_app(sandbox))
    headers = {"Authorization": f"Bearer {sandbox.default_key}"}
    with httpx.Client(base_url=live_server.base_url, headers=headers) as client:
        yield sandbox, cases, client, faults
    sandbox.close()


class Receiver:
    """An endpoint on loopback that keeps each delivery and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self.received.append((dict(request.headers), await request.body()))
        await Response(b"", self.status)(scope, receive, send)


def test_the_secret_key_is_taken_as_bearer_or_basic_and_refused_in_stripes_words(
    account: Account,
) -> None:
    sandbox, _cases, client, _faults = account
    base = str(client.base_url)
    missing = httpx.get(base + "/v1/payouts")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in missing.json()["error"]["message"]
    wrong = httpx.get(base + "/v1/payouts", headers={"Authorization": "Bearer sk_test_nope12345"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"].startswith("Invalid API Key provided: sk_test_")
    assert "nope12345" not in wrong.text, "the key is masked"
    basic = base64.b64encode(f"{sandbox.default_key}:".encode()).decode()
    assert httpx.get(base + "/v1/payouts", headers={"Authorization": f"Basic {basic}"}).is_success
    pinned = client.get("/v1/payouts", headers={"Stripe-Version": "2023-08-16"})
    assert pinned.headers["Stripe-Version"] == "2023-08-16"
    assert pinned.headers["Request-Id"].startswith("req_")
    bad = client.get("/v1/payouts", headers={"Stripe-Version": "yesterday"})
    assert bad.status_code == 400 and "Invalid Stripe API version" in bad.text
    unknown = client.get("/v1/payouts/po_nope")
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert (error["code"], error["param"]) == ("resource_missing", "id")
    assert error["message"] == "No such payout: 'po_nope'"
    assert client.get("/v1/customers").status_code == 404
    assert "Unrecognized request URL" in client.get("/v1/customers").text


def test_lists_are_newest_first_and_paged_with_starting_after(account: Account) -> None:
    sandbox, _cases, client, _faults = account
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"starting_after": after} if after else {})}
        page = client.get("/v1/charges", params=params).json()
        assert page["object"] == "list" and page["url"] == "/v1/charges"
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == list(reversed(sandbox.charges)), "every charge once, newest first"
    before = client.get("/v1/charges", params={"ending_before": seen[5], "limit": 2}).json()
    assert [c["id"] for c in before["data"]] == seen[3:5]
    for limit in (0, 101, "ten"):
        refused = client.get("/v1/charges", params={"limit": limit})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "limit"
    gone = client.get("/v1/charges", params={"starting_after": "ch_gone"})
    assert gone.status_code == 400 or gone.status_code == 404
    assert gone.json()["error"]["param"] == "starting_after"
    extra = client.get("/v1/payouts", params={"colour": "blue"})
    assert extra.status_code == 400
    assert extra.json()["error"]["message"] == "Received unknown parameter: colour"


def test_payouts_are_filtered_by_status_created_and_arrival_date(account: Account) -> None:
    sandbox, cases, client, _faults = account
    sandbox.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    sandbox.create_charge({"amount": 5000, "order_id": "late"})
    late = sandbox.create_payout({"automatic": True})
    assert late["status"] == "pending"
    paid = client.get("/v1/payouts", params={"status": "paid"}).json()["data"]
    assert {p["id"] for p in paid} == {cases["automatic_payout"], cases["manual_payout"]}
    stamp = int(START.timestamp())
    newer = client.get("/v1/payouts", params={"created[gt]": stamp}).json()["data"]
    assert [p["id"] for p in newer] == [late["id"]]
    arriving = client.get("/v1/payouts", params={"arrival_date[gte]": late["arrival_date"]}).json()[
        "data"
    ]
    assert [p["id"] for p in arriving] == [late["id"]]
    exact = client.get("/v1/payouts", params={"created": stamp}).json()["data"]
    assert len(exact) == 2
    assert client.get("/v1/payouts", params={"created[soon]": 1}).status_code == 400


def test_an_automatic_payout_lists_its_transactions_with_sources_and_a_manual_one_cannot(
    account: Account,
) -> None:
    sandbox, cases, client, _faults = account
    payout = client.get(f"/v1/payouts/{cases['automatic_payout']}").json()
    listed = client.get(
        "/v1/balance_transactions",
        params=[("payout", payout["id"]), ("expand[]", "data.source"),
                ("expand[]", "data.source.charge"), ("limit", "100")],
    ).json()  # fmt: skip
    rows = listed["data"]
    assert not listed["has_more"]
    (own,) = [t for t in rows if t["type"] == "payout"]
    assert own["id"] == payout["balance_transaction"] and own["amount"] == -payout["amount"]
    assert sum(t["net"] for t in rows if t["type"] != "payout") == payout["amount"]
    by_type = {t["type"]: t for t in rows}
    assert {"charge", "refund", "adjustment", "stripe_fee"} <= set(by_type)
    refund = by_type["refund"]
    assert refund["amount"] < 0 and refund["source"]["object"] == "refund"
    assert refund["source"]["charge"]["metadata"]["order_id"] == "1001"
    dispute = by_type["adjustment"]
    assert dispute["reporting_category"] == "dispute" and dispute["fee"] == 1500
    assert dispute["source"]["charge"]["id"] == cases["disputed_charge"]
    euro = next(t for t in rows if t["source"] and t["source"].get("id") == cases["eur_charge"])
    assert euro["exchange_rate"] == 7.4603 and euro["currency"] == "dkk"
    assert euro["source"]["currency"] == "eur"
    assert euro["amount"] == round(euro["source"]["amount"] * 7.4603)
    charge = next(t for t in rows if t["type"] == "charge" and t["fee_details"][1:])
    assert {f["type"] for f in charge["fee_details"]} == {"stripe_fee", "application_fee"}
    assert charge["fee"] == sum(f["amount"] for f in charge["fee_details"])
    plain = client.get("/v1/balance_transactions", params={"payout": payout["id"]}).json()
    assert isinstance(plain["data"][0]["source"], str), "sources are ids unless expanded"
    manual = client.get("/v1/balance_transactions", params={"payout": cases["manual_payout"]})
    assert manual.status_code == 400
    assert "only be filtered on automatic" in manual.json()["error"]["message"]
    deep = client.get("/v1/balance_transactions", params={"expand[]": "data.source.customer"})
    assert deep.status_code == 400 and "cannot be expanded" in deep.text
    one = client.get(f"/v1/balance_transactions/{own['id']}", params={"expand[]": "source"})
    assert one.json()["source"]["id"] == payout["id"]
    balance = client.get("/v1/balance").json()
    assert balance["available"][0]["amount"] == sandbox.balance() > 0


def test_a_payout_paid_then_failed_raises_its_events_and_books_the_reversal(
    account: Account, receiver_server: SwitchServer
) -> None:
    sandbox, _cases, client, _faults = account
    receiver = Receiver()
    receiver_server.switch.app = receiver
    made = client.post(
        "/v1/webhook_endpoints",
        data={"url": receiver_server.base_url + "/hook", "enabled_events[]": ["payout.paid",
              "payout.failed", "payout.updated", "payout.reconciliation_completed"]},
    )  # fmt: skip
    assert made.status_code == 200, made.text
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    listed = client.get("/v1/webhook_endpoints").json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    payout = sandbox.create_payout({"automatic": True, "status": "paid"})
    sandbox.set_payout_status(payout["id"], {"status": "failed"})
    sandbox.wait_for_webhooks(10)
    kinds = [json.loads(body)["type"] for _headers, body in receiver.received]
    assert kinds == [
        "payout.updated",
        "payout.paid",
        "payout.reconciliation_completed",
        "payout.updated",
        "payout.failed",
    ], "payout.created is not subscribed"
    for headers, body in receiver.received:
        stamp, mac = (part.split("=", 1)[1] for part in headers["stripe-signature"].split(","))
        expected = hmac.new(endpoint["secret"].encode(), f"{stamp}.".encode() + body,
                            hashlib.sha256).hexdigest()  # fmt: skip
        assert mac == expected
    failed = json.loads(receiver.received[-1][1])["data"]["object"]
    assert failed["status"] == "failed" and failed["failure_code"] == "account_closed"
    reversal = client.get(f"/v1/balance_transactions/{failed['failure_balance_transaction']}")
    assert reversal.json()["type"] == "payout_failure"
    assert reversal.json()["amount"] == payout["amount"]
    assert client.get(f"/v1/payouts/{payout['id']}").json()["status"] == "failed"
    refused = sandbox_post(client, f"/_sandbox/payouts/{payout['id']}/status", {"status": "paid"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "status"
    events = client.get("/v1/events", params={"type": "payout.*", "limit": 100}).json()["data"]
    assert {e["type"] for e in events} >= {"payout.created", "payout.failed"}
    gone = client.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
    assert gone.json() == {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
    assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404


def sandbox_post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """A call of the control API (JSON, no key needed)."""
    return client.post(path, json=body)


def test_deliveries_are_repeated_missed_and_resent_as_set(
    account: Account, receiver_server: SwitchServer
) -> None:
    sandbox, _cases, client, _faults = account
    receiver = Receiver()
    receiver_server.switch.app = receiver
    endpoint = sandbox.create_endpoint(receiver_server.base_url, ["payout.paid"], None)
    assert client.put("/_sandbox/settings", json={"webhook_repeats": "2-2"}).is_success
    sandbox.create_charge({"amount": 1000})
    first = sandbox.create_payout({"status": "paid"})
    sandbox.wait_for_webhooks(10)
    ids = [json.loads(body)["id"] for _h, body in receiver.received]
    assert len(ids) == 2 and len(set(ids)) == 1, "two copies of one event"
    assert client.put("/_sandbox/settings", json={"webhook_miss_rate": 1}).is_success
    sandbox.create_charge({"amount": 1000})
    sandbox.create_payout({"status": "paid"})
    sandbox.wait_for_webhooks(10)
    assert len(receiver.received) == 2
    (missed,) = client.get("/_sandbox/webhooks/missed").json()
    assert missed["endpoint_id"] == endpoint.id and missed["event_type"] == "payout.paid"
    resent = sandbox_post(client, f"/_sandbox/events/{ids[0]}/resend", {})
    assert resent.json() == {"id": ids[0], "deliveries": 1}
    sandbox.wait_for_webhooks(10)
    assert json.loads(receiver.received[-1][1])["data"]["object"]["id"] == first["id"]
    receiver.status = 500
    sandbox_post(client, f"/_sandbox/events/{ids[0]}/resend", {})
    sandbox.wait_for_webhooks(10)
    log = client.get("/_sandbox/webhooks/deliveries").json()
    assert log[-1]["ok"] is False and log[-1]["status_code"] == 500
    for bad in ({"webhook_repeats": "5-1"}, {"webhook_miss_rate": 2}, {"colour": "red"}):
        assert client.put("/_sandbox/settings", json=bad).status_code == 400


def test_the_control_api_books_what_a_test_needs_and_refuses_nonsense(account: Account) -> None:
    sandbox, _cases, client, _faults = account
    made = sandbox_post(
        client, "/_sandbox/charges",
        {"amount": 12500, "currency": "eur", "exchange_rate": 7.46, "order_id": "77",
         "transaction_id": "ch_shop77", "fee": 300},
    ).json()  # fmt: skip
    assert made["id"] == "ch_shop77" and made["metadata"] == {"order_id": "77"}
    assert made["payment_intent"].startswith("pi_")
    booked = sandbox.transactions[made["balance_transaction"]]
    assert (booked["amount"], booked["fee"], booked["currency"]) == (93250, 300, "dkk")
    refusals = [
        ("/_sandbox/charges", {"amount": -5}),
        ("/_sandbox/charges", {"amount": 100, "currency": "eur"}),
        ("/_sandbox/charges", {"amount": 100, "transaction_id": "ch_shop77"}),
        ("/_sandbox/charges/ch_shop77/refunds", {"amount": 99999}),
        ("/_sandbox/charges/ch_nope/disputes", {}),
        ("/_sandbox/fees", {"amount": "lots"}),
    ]
    for path, body in refusals:
        answer = sandbox_post(client, path, body)
        assert 400 <= answer.status_code < 500, (path, answer.text)
        assert answer.json()["error"]["message"]
    assert sandbox_post(client, "/_sandbox/charges", [1]).status_code == 400
    state = client.get("/_sandbox/state").json()
    assert state["keys"] == [sandbox.default_key] and state["currency"] == "dkk"
    sandbox_post(client, "/_sandbox/reset", {})
    assert sandbox_post(client, "/_sandbox/payouts", {}).json()["error"]["code"] == (
        "balance_insufficient"
    )
    seeded = sandbox_post(client, "/_sandbox/seed", {"charges": 5}).json()
    assert seeded["automatic_payout"].startswith("po_")


def test_faults_answer_in_stripes_shape(account: Account) -> None:
    _sandbox, _cases, client, faults = account
    faults.configure(FaultPlan(rate=1.0, kinds=(FaultKind.THROTTLE,), retry_after=2))
    throttled = client.get("/v1/payouts")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limit"
    assert throttled.headers["Retry-After"] == "2"
    faults.configure(FaultPlan(rate=1.0, kinds=(FaultKind.ERROR,)))
    failed = client.get("/v1/payouts")
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert client.get("/_sandbox/health").json() == {"status": "ok"}, "control is never faulted"
