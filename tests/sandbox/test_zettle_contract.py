"""The Zettle sandbox and connector against Zettle's own documents.

* Finance API: every request the connector makes to the Finance API, and every answer of the
  sandbox in the OpenAPI file's shape (``finance_shape: openapi``), validated with openapi-core
  against the official ``zettle-finance-api-v2.openapi.yaml``.
* Shapes: each documented example payload (purchases with discounts, with a partial refund, a
  single purchase, the payment types, the Finance guide's transactions and payout info, the
  Pusher subscription and ``PurchaseCreated`` envelope) has every one of its keys in what the
  sandbox answers for the same kind of sale, with a value of the same JSON type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.zettle.connector import ZettleConnector
from ledgerbridge.sandbox.zettle import SandboxServer, ZettleSandbox
from tests.openapi_wire import Recording, SpecRequest, SpecResponse
from tests.sandbox.receiver import Receiver, receiving
from tests.specs import spec_path

SPEC = spec_path("zettle/zettle-finance-api-v2.openapi.yaml")
EXAMPLES = spec_path("zettle/examples")
HOST = "https://finance.izettle.com"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OPTIONAL = frozenset({"comment", "gpsCoordinates"})
"""Keys an example shows that a sale carries only sometimes: a note the cashier typed, the
till's position (other examples show ``{}``)."""
KEYED_BY_DATA = frozenset({"groupedVatAmounts"})
"""Objects whose keys are data (VAT rates), compared as objects only."""

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"Zettle documents not found at {SPEC}")


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def missing(documented: Any, served: Any, path: str = "$") -> list[str]:
    """Where ``served`` lacks a key of ``documented`` or has another JSON type."""
    if documented is None:
        return []
    if kind(documented) != kind(served):
        return [f"{path}: {kind(served)} instead of {kind(documented)}"]
    if isinstance(documented, dict):
        gaps = []
        for key, value in documented.items():
            if key in OPTIONAL or (key in KEYED_BY_DATA and isinstance(served.get(key), dict)):
                continue
            if key not in served:
                gaps.append(f"{path}.{key}: missing")
            else:
                gaps += missing(value, served[key], f"{path}.{key}")
        return gaps
    if isinstance(documented, list) and documented and served:
        return missing(documented[0], served[0], f"{path}[0]")
    return []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def served() -> Iterator[tuple[ZettleSandbox, httpx.Client]]:
    sandbox = ZettleSandbox(clock=ManualClock(START), seed=9, webhook_timeout=5.0)
    with SandboxServer(sandbox) as server:
        client = httpx.Client(base_url=server.base_url)
        key = sandbox.default_key
        token = client.post("/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": key.client_id, "assertion": key.key}).json()  # fmt: skip
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield sandbox, client
        client.close()
    sandbox.close()


def test_purchases_have_every_documented_field(served: tuple[ZettleSandbox, httpx.Client]) -> None:
    sandbox, api = served
    discounted = api.post("/_sandbox/sales", json={
        "products": [
            {"name": "T-shirt", "description": "Cool T-shirt", "variant_name": "Small",
             "unit_price": 10000, "vat_percentage": 12, "discount": {"percentage": 20}},
            {"name": "T-shirt", "description": "Cool T-shirt", "variant_name": "Large",
             "unit_price": 10000, "vat_percentage": 12, "discount": {"amount": 2000}}],
        "discount": {"percentage": 5}}).json()  # fmt: skip
    documented = example("purchase-purchase-with-discounts")["purchases"][0]
    assert missing(documented, discounted) == []
    sale = api.post("/_sandbox/sales", json={"products": [
        {"name": "T-shirt", "variant_name": "Small", "unit_price": 10000, "vat_percentage": 12},
        {"name": "T-shirt", "variant_name": "Medium", "unit_price": 10000,
         "vat_percentage": 12}], "payments": [{"type": "IZETTLE_CASH"}]}).json()  # fmt: skip
    refund = api.post(f"/_sandbox/purchases/{sale['purchaseUUID1']}/refunds",
                      json={"rows": [{"index": 0}]}).json()  # fmt: skip
    page = api.get("/purchases/v2", params={"descending": "true", "limit": 2}).json()
    documented_page = example("purchase-purchases-with-partial-refund")
    assert missing({k: v for k, v in documented_page.items() if k != "purchases"}, page) == []
    refund_doc, original_doc = documented_page["purchases"]
    assert missing(refund_doc, page["purchases"][0]) == []
    assert page["purchases"][0] == refund
    assert missing(original_doc, page["purchases"][1]) == []
    single = api.get(f"/purchase/v2/{sale['purchaseUUID1']}").json()
    assert missing(example("purchase-fetch-a-specific-purchase"), single) == [] or (
        # The documented single purchase was paid by Swish; ours by cash: same fields.
        missing({**example("purchase-fetch-a-specific-purchase"), "payments": []}, single) == []
    )
    envelope = example("purchase-fetch-all-purchases-for-a-merchant")
    empty = api.get("/purchases/v2", params={"lastPurchaseHash": page["firstPurchaseHash"]})
    assert missing(envelope, empty.json()) == []
    assert sandbox.state.purchases


def test_payments_have_every_documented_field(served: tuple[ZettleSandbox, httpx.Client]) -> None:
    _sandbox, api = served
    documented = example("purchase-payment-types")
    for kind_name in ("IZETTLE_CARD", "IZETTLE_CARD_ONLINE", "IZETTLE_CASH"):
        sale = api.post("/_sandbox/sales", json={
            "products": [{"name": "Kop", "unit_price": 2000}],
            "payments": [{"type": kind_name}]}).json()  # fmt: skip
        gaps = missing(documented[kind_name], sale["payments"][0])
        # Card attributes beyond the four the sandbox makes are terminal details (AID, TVR).
        assert [g for g in gaps if ".attributes." not in g or "maskedPan" in g] == []


def test_finance_and_pusher_have_every_documented_field(
    served: tuple[ZettleSandbox, httpx.Client], receiver: Receiver
) -> None:
    sandbox, api = served
    url = receiver.url
    documented = example("pusher-create-subscription")
    made = api.post("/organizations/self/subscriptions",
                    json={**documented["request"], "destination": url,
                          "eventNames": ["PurchaseCreated"]})  # fmt: skip
    assert missing(documented["response"], made.json()) == []
    api.post("/_sandbox/sales", json={"products": [
        {"name": "testproduct", "sku": "987", "unit_price": 1200, "quantity": 2,
         "vat_percentage": 0}], "payments": [{"type": "IZETTLE_CASH"}]})  # fmt: skip
    api.post("/_sandbox/sales", json={"products": [{"name": "Kop", "unit_price": 3000}]})
    api.post("/_sandbox/payouts", json={})
    window = {"start": "2026-11-01T00:00:00", "end": "2026-11-03T00:00:00"}
    liquid = api.get("/v2/accounts/LIQUID/transactions", params=window).json()
    assert missing(example("finance-liquid-transactions-guide-example"), liquid) == []
    info = api.get("/v2/payout-info").json()
    assert missing(example("finance-payout-info-guide-example"), info) == []
    sandbox.wait_for_webhooks()
    test_message, purchase_created, *_ = (r.json() for r in receiver.seen)
    assert test_message["eventName"] == "TestMessage"
    event = example("pusher-PurchaseCreated")
    decoded = event.pop("payload_decoded")
    decoded["products"] = decoded["products"][:1]
    assert missing(event, purchase_created) == []
    assert missing(decoded, json.loads(purchase_created["payload"])) == []


def test_the_finance_api_matches_the_official_openapi_file() -> None:
    spec = OpenAPI.from_dict(yaml.safe_load(SPEC.read_text()))
    clock = ManualClock(START)
    sandbox = ZettleSandbox(clock=clock, seed=4)
    sandbox.apply_settings({"finance_shape": "openapi"})
    with SandboxServer(sandbox) as server:
        for n in range(3):
            sandbox.ring_up({"products": [{"name": f"Kop {n}", "unit_price": 3000 + n}]})
        sandbox.payout({})
        clock.advance(timedelta(hours=1))
        recording = Recording()
        connector = ZettleConnector(
            {"base_url": server.base_url, "start_date": "2026-11-01"},
            {"api_key": sandbox.default_key.key}, lambda calls: None, recording, clock,
        )  # fmt: skip
        page = connector.read_page("payouts", None, 100)
        assert len(page.records) == 1 and len(page.records[0]["entries"]) == 6
        connector.client.get("finance", "/accounts/PRELIMINARY/balance")
        connector.close()
    sandbox.close()
    finance = [(q, r) for q, r in recording.exchanges if q.url.path.startswith("/v2/")]
    assert {q.url.path for q, _ in finance} >= {
        "/v2/accounts/LIQUID/transactions",
        "/v2/accounts/LIQUID/balance",
        "/v2/payout-info",
    }
    problems = []
    for request, response in finance:
        try:
            spec.validate_request(SpecRequest(request, HOST))
            spec.validate_response(SpecRequest(request, HOST), SpecResponse(response))
        except Exception as exc:  # collect every problem, then report them together
            problems.append(f"{request.method} {request.url}: {exc!r}")
    assert problems == []


def test_an_answer_in_the_guide_shape_fails_the_openapi_file() -> None:
    """The two documented shapes differ (the research notes it): the guide's ``{"data": …}``
    is not what the OpenAPI file describes, so the check above would catch a wrong shape."""
    spec = OpenAPI.from_dict(yaml.safe_load(SPEC.read_text()))
    request = httpx.Request(
        "GET", "https://finance.izettle.com/v2/accounts/LIQUID/transactions",
        params={"start": "2026-11-01T00:00:00", "end": "2026-11-03T00:00:00"},
    )  # fmt: skip
    guide = httpx.Response(
        200, json=example("finance-liquid-transactions-guide-example"), request=request
    )
    with pytest.raises(Exception) as raised:
        spec.validate_response(SpecRequest(request, HOST), SpecResponse(guide))
    assert "InvalidData" in type(raised.value).__name__, repr(raised.value)
