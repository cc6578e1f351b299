"""The Zettle sandbox over real HTTP on loopback: the assertion grant and its token expiry,
the Purchase API's hash paging, discounts, refunds and split payments, the Finance ledger and
payouts, Pusher deliveries to a real receiver (signed, test message first, repeats, retries
until the subscription is deleted), and 429 and 5xx through the fault kit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.zettle import SandboxServer, ZettleSandbox
from ledgerbridge.sandbox.zettle.pusher import RETRY_DELAYS
from tests.sandbox.receiver import Receiver, receiving

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
T_SHIRTS = {
    "products": [
        {"name": "T-shirt", "variant_name": "Small", "unit_price": 10000, "vat_percentage": 12,
         "discount": {"percentage": 20}},
        {"name": "T-shirt", "variant_name": "Large", "unit_price": 10000, "vat_percentage": 12,
         "discount": {"amount": 2000}},
    ],
    "discount": {"percentage": 5},
}  # fmt: skip
"""The documentation's "purchase with discounts" example."""


@dataclass
class Merchant:
    sandbox: ZettleSandbox
    url: str
    api: httpx.Client
    server: SandboxServer


@pytest.fixture
def merchant() -> Iterator[Merchant]:
    sandbox = ZettleSandbox(clock=ManualClock(START), seed=3, webhook_timeout=5.0)
    server = SandboxServer(sandbox)
    server.start()
    client = httpx.Client(base_url=server.base_url)
    token = grant(client, sandbox.default_key.key, sandbox.default_key.client_id)
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    yield Merchant(sandbox, server.base_url, client, server)
    client.close()
    server.stop()
    sandbox.close()


def grant(client: httpx.Client, key: str, client_id: str) -> dict[str, Any]:
    answer = client.post(
        "/token", data={"grant_type": GRANT, "client_id": client_id, "assertion": key}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_assertion_grant_gives_a_two_hour_token_without_refresh_token(merchant: Merchant) -> None:
    key = merchant.sandbox.default_key
    body = grant(merchant.api, key.key, key.client_id)
    assert body["expires_in"] == 7200 and "refresh_token" not in body
    claims = json.loads(base64.urlsafe_b64decode(key.key.split(".")[1] + "==").decode())
    assert claims["client_id"] == key.client_id
    me = merchant.api.get("/users/self")
    assert me.json() == {
        "uuid": merchant.sandbox.merchant.user_uuid,
        "organizationUuid": merchant.sandbox.merchant.organization_uuid,
    }
    merchant.api.post("/_sandbox/clock", json={"advance_seconds": 7201})
    expired = merchant.api.get("/users/self")
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_request", error_description="ACCESS_TOKEN_EXPIRED"'
    )
    wrong = merchant.api.post("/token", data={"grant_type": "password", "client_id": "x"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "unsupported_grant_type")
    revoked = merchant.api.post(f"/_sandbox/keys/{key.client_id}/revoke")
    assert revoked.status_code == 200
    refused = merchant.api.post(
        "/token", data={"grant_type": GRANT, "client_id": key.client_id, "assertion": key.key}
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    anonymous = httpx.get(merchant.url + "/purchases/v2")
    assert anonymous.status_code == 401


def test_a_key_without_the_finance_scope_is_refused_the_finance_api(merchant: Merchant) -> None:
    made = merchant.api.post("/_sandbox/keys", json={"scopes": ["READ:PURCHASE"]}).json()
    token = grant(merchant.api, made["api_key"], made["client_id"])["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert merchant.api.get("/purchases/v2", headers=headers).status_code == 200
    assert merchant.api.get("/v2/payout-info", headers=headers).status_code == 403


def test_discounts_follow_the_documented_example(merchant: Merchant) -> None:
    sale = merchant.api.post("/_sandbox/sales", json=T_SHIRTS).json()
    assert (sale["amount"], sale["vatAmount"]) == (15200, 1628)
    assert [p["rowTaxableAmount"] for p in sale["products"]] == [6786, 6786]
    assert [p["discountValue"] for p in sale["products"]] == [2000, 2000]
    assert sale["discounts"] == [{"percentage": 5, "quantity": 1, "value": 800}]
    assert sale["groupedVatAmounts"] == {"12.0": 15200}
    assert all(isinstance(p["quantity"], str) for p in sale["products"])
    same = merchant.api.get(f"/purchase/v2/{sale['purchaseUUID1']}").json()
    assert same == sale
    assert merchant.api.get(f"/purchase/v2/{sale['purchaseUUID1'][:-1]}0").status_code == 404


def test_hash_paging_reads_every_purchase_once_until_a_page_is_empty(merchant: Merchant) -> None:
    clock = merchant.sandbox.clock
    assert isinstance(clock, ManualClock)
    made = []
    for n in range(7):
        clock.advance(timedelta(minutes=3))
        row = {"name": f"Kaffe {n}", "unit_price": 4000 + n, "quantity": "1.5"}
        made.append(merchant.api.post("/_sandbox/sales", json={"products": [row]}).json())
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = merchant.api.get("/purchases/v2", params=params).json()
        if not page["purchases"]:
            break
        assert page["linkUrls"][0].endswith('; rel="next"')
        assert f"lastPurchaseHash={page['lastPurchaseHash']}" in page["linkUrls"][0]
        seen += [p["purchaseUUID1"] for p in page["purchases"]]
        params = {"limit": 3, "lastPurchaseHash": page["lastPurchaseHash"]}
    assert seen == [p["purchaseUUID1"] for p in made]
    down = merchant.api.get("/purchases/v2", params={"descending": "true", "limit": 2}).json()
    assert [p["purchaseNumber"] for p in down["purchases"]] == [7, 6]
    window = {"startDate": made[2]["timestamp"][:19], "endDate": made[4]["timestamp"][:19]}
    inside = merchant.api.get("/purchases/v2", params=window).json()["purchases"]
    assert [p["purchaseNumber"] for p in inside] == [3, 4], "start inclusive, end exclusive"
    assert made[0]["products"][0]["quantity"] == "1.5"
    bad = merchant.api.get("/purchases/v2", params={"limit": 1001})
    assert bad.status_code == 400 and "limit" in bad.text


def test_a_partial_refund_is_a_negative_purchase_linked_both_ways(merchant: Merchant) -> None:
    sale = merchant.api.post("/_sandbox/sales", json={
        "products": [{"name": "T-shirt", "variant_name": "Small", "unit_price": 10000,
                      "vat_percentage": 12},
                     {"name": "T-shirt", "variant_name": "Medium", "unit_price": 10000,
                      "vat_percentage": 12}],
        "payments": [{"type": "IZETTLE_CASH"}]}).json()  # fmt: skip
    assert (sale["amount"], sale["vatAmount"]) == (20000, 2142)
    refund = merchant.api.post(
        f"/_sandbox/purchases/{sale['purchaseUUID1']}/refunds", json={"rows": [{"index": 0}]}
    ).json()
    assert refund["refund"] is True and refund["refundsPurchaseUUID1"] == sale["purchaseUUID1"]
    assert (refund["amount"], refund["vatAmount"]) == (-10000, -1071)
    (row,) = refund["products"]
    assert (row["quantity"], row["rowTaxableAmount"]) == ("-1", -8929)
    (payment,) = refund["payments"]
    assert payment["type"] == "IZETTLE_CASH" and payment["amount"] == -10000
    assert payment["references"] == {"refundsPayment": sale["payments"][0]["uuid"]}
    original = merchant.api.get(f"/purchase/v2/{sale['purchaseUUID1']}").json()
    assert original["refunded"] is True
    assert original["refundedByPurchaseUUIDs1"] == [refund["purchaseUUID1"]]
    again = merchant.api.post(
        f"/_sandbox/purchases/{sale['purchaseUUID1']}/refunds", json={"rows": [{"index": 0}]}
    )
    assert again.status_code == 400, "a row is refunded once"


def test_split_card_and_cash_reaches_finance_for_the_card_part_only(merchant: Merchant) -> None:
    sale = merchant.api.post("/_sandbox/sales", json={
        "products": [{"name": "Middag", "unit_price": 50000, "vat_percentage": 25}],
        "service_charge": {"amount": 5000, "title": "Service", "vat_percentage": 25},
        "payments": [{"type": "IZETTLE_CARD", "amount": 40000, "tip": 2000},
                     {"type": "IZETTLE_CASH"}]}).json()  # fmt: skip
    card, cash = sale["payments"]
    assert sale["amount"] == 55000 and sale["serviceCharge"]["amount"] == 5000
    assert (card["amount"], card["gratuityAmount"], cash["amount"]) == (42000, 2000, 15000)
    window = {"start": "2026-11-01T00:00:00", "end": "2026-11-03T00:00:00"}
    pending = merchant.api.get("/v2/accounts/PRELIMINARY/transactions", params=window).json()
    assert {(e["originatorTransactionType"], e["amount"]) for e in pending["data"]} == {
        ("PAYMENT", 42000), ("PAYMENT_FEE", -735)}  # fmt: skip
    assert {e["originatingTransactionUuid"] for e in pending["data"]} == {card["uuid"]}
    assert merchant.api.get("/v2/accounts/LIQUID/transactions", params=window).json() == {
        "data": []}  # fmt: skip
    payout = merchant.api.post("/_sandbox/payouts", json={}).json()
    assert payout["amount"] == -(42000 - 735)
    liquid = merchant.api.get("/v2/accounts/LIQUID/transactions", params=window).json()["data"]
    assert liquid[0]["originatorTransactionType"] == "PAYOUT", "newest first"
    only = merchant.api.get(
        "/v2/accounts/LIQUID/transactions",
        params={**window, "includeTransactionType": ["PAYMENT", "PAYMENT_FEE"]},
    ).json()["data"]
    assert {e["originatorTransactionType"] for e in only} == {"PAYMENT", "PAYMENT_FEE"}
    info = merchant.api.get("/v2/payout-info").json()["data"]
    assert info == {"totalBalance": 0, "currencyId": "DKK", "nextPayoutAmount": 0,
                    "discountRemaining": 0, "periodicity": "DAILY"}  # fmt: skip
    before = merchant.api.get("/v2/accounts/LIQUID/balance",
                              params={"at": "2026-11-02T08:00:00"}).json()  # fmt: skip
    assert before == {"data": {"totalBalance": 0, "currencyId": "DKK"}}
    missing = merchant.api.get("/v2/accounts/LIQUID/transactions", params={"start": "x"})
    assert missing.status_code == 400
    merchant.api.put("/_sandbox/settings", json={"finance_shape": "openapi"})
    bare = merchant.api.get("/v2/accounts/LIQUID/transactions", params=window).json()
    assert isinstance(bare, list) and isinstance(bare[0]["amount"], str)
    assert "originatorTransactionUuid" in bare[0] and len(bare[0]["timestamp"]) == 19


def test_a_card_refund_gives_the_fee_back(merchant: Merchant) -> None:
    sale = merchant.api.post("/_sandbox/sales", json={"products": [
        {"name": "Kop", "unit_price": 8000, "quantity": 2}]}).json()  # fmt: skip
    merchant.api.post(
        f"/_sandbox/purchases/{sale['purchaseUUID1']}/refunds",
        json={"rows": [{"index": 0, "quantity": 1}]},
    )
    merchant.api.post("/_sandbox/payouts", json={})
    window = {"start": "2026-11-01T00:00:00", "end": "2026-11-03T00:00:00"}
    liquid = merchant.api.get("/v2/accounts/LIQUID/transactions", params=window).json()["data"]
    amounts = sorted(e["amount"] for e in liquid)
    assert amounts == sorted([16000, -280, -8000, 140, -(16000 - 280 - 8000 + 140)])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def subscribe(merchant: Merchant, receiver: Receiver) -> dict[str, Any]:
    made = merchant.api.post("/organizations/self/subscriptions", json={
        "uuid": "f02f80f8-8f35-11eb-8dcd-0242ac130003", "transportName": "WEBHOOK",
        "eventNames": ["PurchaseCreated"], "destination": receiver.url,
        "contactEmail": "kasse@example.dk"})  # fmt: skip
    assert made.status_code == 200, made.text
    body: dict[str, Any] = made.json()
    return body


def test_pusher_signs_each_delivery_and_sends_a_test_message_first(
    merchant: Merchant, receiver: Receiver
) -> None:
    made = subscribe(merchant, receiver)
    assert made["status"] == "ACTIVE" and len(made["signingKey"]) >= 32
    merchant.api.put("/_sandbox/settings", json={"webhook_repeats": 2})
    sale = merchant.api.post("/_sandbox/sales", json=T_SHIRTS).json()
    merchant.sandbox.wait_for_webhooks()
    first, *rest = receiver.seen
    assert first.json()["eventName"] == "TestMessage"
    assert len(rest) == 2, "delivered twice (at least once)"
    assert rest[0].json()["messageUuid"] == rest[1].json()["messageUuid"]
    for delivery in receiver.seen:
        envelope = delivery.json()
        message = f"{envelope['timestamp']}.{envelope['payload']}".encode()
        expected = hmac.new(made["signingKey"].encode(), message, hashlib.sha256).hexdigest()
        assert delivery.headers["X-iZettle-Signature"] == expected
    envelope = rest[0].json()
    assert isinstance(envelope["payload"], str)
    payload = json.loads(envelope["payload"])
    assert payload["purchaseUuid"] == sale["purchaseUUID1"] and payload["amount"] == 15200
    assert envelope["organizationUuid"] == merchant.sandbox.merchant.organization_uuid
    listed = merchant.api.get("/organizations/self/subscriptions").json()
    assert [s["uuid"] for s in listed] == [made["uuid"]] and "signingKey" not in listed[0]
    assert merchant.api.delete(f"/organizations/self/subscriptions/{made['uuid']}"
                               ).status_code == 204  # fmt: skip


def test_failed_deliveries_are_retried_then_the_subscription_is_deleted(
    merchant: Merchant, receiver: Receiver
) -> None:
    made = subscribe(merchant, receiver)
    merchant.sandbox.wait_for_webhooks()
    receiver.status = 500
    merchant.api.post("/_sandbox/sales", json=T_SHIRTS)
    merchant.sandbox.wait_for_webhooks()
    listed = merchant.api.get("/organizations/self/subscriptions").json()
    assert listed[0]["status"] == "FAILING"
    assert merchant.api.post("/_sandbox/webhooks/retry").json() == {"queued": 0}, "not due yet"
    merchant.api.post("/_sandbox/clock", json={"advance_seconds": 61})
    assert merchant.api.post("/_sandbox/webhooks/retry").json() == {"queued": 1}
    merchant.sandbox.wait_for_webhooks()
    receiver.status = 200
    merchant.api.post("/_sandbox/clock", json={"advance_seconds": 61})
    merchant.api.post("/_sandbox/webhooks/retry")
    merchant.sandbox.wait_for_webhooks()
    assert merchant.api.get("/organizations/self/subscriptions").json()[0]["status"] == "ACTIVE"
    receiver.status = 503
    merchant.api.post("/_sandbox/sales", json=T_SHIRTS)
    merchant.sandbox.wait_for_webhooks()
    for delay in RETRY_DELAYS:
        merchant.api.post("/_sandbox/clock", json={"advance_seconds": delay.total_seconds()})
        merchant.api.post("/_sandbox/webhooks/retry")
        merchant.sandbox.wait_for_webhooks()
    key = merchant.sandbox.default_key
    fresh = grant(merchant.api, key.key, key.client_id)["access_token"]
    merchant.api.headers["Authorization"] = f"Bearer {fresh}"
    assert merchant.api.get("/organizations/self/subscriptions").json() == []
    tries = [r for r in receiver.seen if r.json()["eventName"] == "PurchaseCreated"]
    assert len(tries) == 3 + 1 + len(RETRY_DELAYS), "first sale: 3 tries; second: 1 + retries"
    assert made["uuid"]


def test_a_sale_rung_up_without_its_webhook_is_read_only_by_a_pull(
    merchant: Merchant, receiver: Receiver
) -> None:
    subscribe(merchant, receiver)
    sale = merchant.api.post("/_sandbox/sales", json={**T_SHIRTS, "webhook": False}).json()
    refund = merchant.api.post(f"/_sandbox/purchases/{sale['purchaseUUID1']}/refunds", json={})
    merchant.sandbox.wait_for_webhooks()
    told = [json.loads(r.json()["payload"])["purchaseUuid"] for r in receiver.seen
            if r.json()["eventName"] == "PurchaseCreated"]  # fmt: skip
    assert told == [refund.json()["purchaseUUID1"]], "the refund's delivery only"
    listed = merchant.api.get("/purchases/v2").json()["purchases"]
    assert [p["purchaseUUID1"] for p in listed] == [
        sale["purchaseUUID1"], refund.json()["purchaseUUID1"]]  # fmt: skip


def test_throttling_and_server_errors_come_from_the_fault_kit(merchant: Merchant) -> None:
    faults = merchant.server.faults
    assert faults is not None
    faults.configure(FaultPlan(rate=1.0, kinds=(FaultKind.THROTTLE,), retry_after=3))
    throttled = merchant.api.get("/purchases/v2")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    key = merchant.sandbox.default_key
    assert grant(merchant.api, key.key, key.client_id)["expires_in"] == 7200, "token spared"
    faults.configure(FaultPlan(rate=1.0, kinds=(FaultKind.ERROR,)))
    failed = merchant.api.get("/v2/payout-info")
    assert failed.status_code == 500 and failed.json()["errorType"] == "INTERNAL_SERVER_ERROR"
    faults.configure(FaultPlan())
    assert merchant.api.get("/purchases/v2").status_code == 200


def test_bad_control_input_is_a_clear_400(merchant: Merchant) -> None:
    bodies: list[dict[str, Any]] = [
        {"products": []},
        {"products": [{"name": "x", "unit_price": -1}]},
        {"products": [{"name": "x", "unit_price": 100, "quantity": "abc"}]},
        {"products": [{"name": "x", "unit_price": 100}], "payments": [{"type": "BITCOIN"}]},
        {"products": [{"name": "x", "unit_price": 100, "discount": {"percentage": 120}}]},
        {"products": [{"name": "x", "unit_price": 100}], "webhook": "no"},
    ]
    for body in bodies:
        answer = merchant.api.post("/_sandbox/sales", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["violations"][0]["propertyName"]
    assert merchant.api.post("/_sandbox/sales", content=b"{").status_code == 400
    assert merchant.api.put("/_sandbox/settings", json={"nope": 1}).status_code == 400
