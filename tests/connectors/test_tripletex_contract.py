"""Every request the Tripletex client makes validates against Tripletex's official OpenAPI
spec (the sync subset of 2.74.00), checked with openapi-core while the connector runs against
the sandbox over loopback. The sandbox and the spec are independent of the client, so a
parameter name, a body field or a content type that drifts from the spec fails here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.configurations import Config

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import RemoteRejected
from ledgerbridge.connectors.tripletex import webhooks
from ledgerbridge.connectors.tripletex.connector import TripletexConnector
from ledgerbridge.sandbox.tripletex import SandboxServer, TripletexSandbox, seed_accounting_firm
from tests.openapi_wire import SpecRequest
from tests.specs import spec_path

SPEC = spec_path("tripletex/tripletex-openapi-2.74.00.sync-subset.json")


class TripletexRequest(SpecRequest):
    """A request re-rooted at the spec's server (``https://tripletex.no/v2``) instead of the
    sandbox's ``/<environment>/v2``."""

    def __init__(self, request: httpx.Request) -> None:
        super().__init__(request, "https://tripletex.no")

    @property
    def path(self) -> str:
        return "/v2" + self.request.url.path.split("/v2", 1)[1]

    @property
    def content_type(self) -> str:
        """The whole header: the spec names its media types with their ``charset``."""
        return self.request.headers.get("content-type", "").lower()


class Recording(httpx.HTTPTransport):
    """A real transport that keeps every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    if not SPEC.exists():
        pytest.skip("the Tripletex spec is not available")
    document = json.loads(SPEC.read_text())
    # The spec marks the whole ``Subscription`` schema readOnly although POST and PUT
    # /event/subscription take it as their body: its fields are checked, not that flag.
    document["components"]["schemas"]["Subscription"].pop("readOnly")
    # The spec fails strict validation (string defaults on integer parameters).
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@pytest.fixture
def recorded() -> Iterator[tuple[TripletexConnector, Recording, Any]]:
    clock = ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    sandbox = TripletexSandbox(clock=clock, seed=5)
    firm = seed_accounting_firm(sandbox, clients=2, seed=5, months=1)
    server = SandboxServer(sandbox)
    server.start()
    recording = Recording()
    settings = {"environment": "production", "base_urls": {"production": server.url("production")}}
    secrets = {"consumer_token": firm.consumer_token, "employee_token": firm.employee_token}
    connector = TripletexConnector(settings, secrets, lambda calls: None, recording, clock)
    # The webhook set-up runs with the connection's settings and secrets, outside a run.
    subscribed = webhooks.subscribe(
        settings, secrets, "https://hub.example/api/v1/inbound/c/t", lambda calls: None,
        recording, clock,
    )  # fmt: skip
    with sandbox.lock:
        for row in sandbox.book(firm.firm_id).rows("Subscription"):
            row["status"] = "DISABLED_TOO_MANY_ERRORS"
    ids = subscribed["webhook_subscription_ids"]
    assert sorted(webhooks.revive(connector.client, ids)) == sorted(ids)
    webhooks.unsubscribe(settings, {**secrets, **subscribed}, lambda calls: None, recording, clock)
    yield connector, recording, firm
    connector.close()
    server.stop()
    sandbox.close()


def test_every_request_of_the_connector_matches_the_official_spec(
    spec: OpenAPI, recorded: tuple[TripletexConnector, Recording, Any]
) -> None:
    connector, recording, _firm = recorded
    connector.test()
    streams = list(connector.mappings)
    connector.prepare(streams)
    # Streams read by link are read by id only, below.
    listed = [s for s, m in connector.mappings.items() if m.inbound and not m.read_by_link]
    for stream in listed:
        page = connector.read_page(stream, None, 5)
        ids = [connector.mappings[stream].remote_id(r) for r in page.records]
        assert connector.fetch_many(stream, ids).keys() == set(ids)
        connector.read_page(stream, page.after, 5)
    connector.find_by_business_key("customers", ["10000"])
    connector.find_by_business_key("products", ["100"])
    connector.find_by_business_key("vat_codes", ["3"])
    connector.code_lists()
    invoices = connector.mappings["invoices"]
    customer = connector.read_page("customers", None, 1).records[0]
    record = {
        "id": "hub-1", "kind": "invoice", "date": "2026-11-20", "due_date": "2026-12-04",
        "currency": "NOK", "status": "sent", "reference": "Uku 1",
        "lines": [{"description": "Rådgivning", "quantity": "2", "unit_price": "1200",
                   "discount_percent": "10", "vat_code": "3"}],
    }  # fmt: skip
    refs = {"party_id": ("customers", str(customer["id"])), "credits_invoice_id": None}
    charged = connector.create_many("invoices", [invoices.from_canonical(record, None, refs)])[0]
    payment = {"id": "hub-2", "date": "2026-11-25", "amount": "100.50", "currency": "NOK"}
    paid_ref = {"invoice_id": ("invoices", str(charged["id"]))}
    payments = connector.mappings["payments"]
    connector.create_many("payments", [payments.from_canonical(payment, None, paid_ref)])
    owed = connector.fetch_many("payment_status", [str(charged["id"])])
    left = Decimal(str(owed[str(charged["id"])]["amountOutstanding"]))
    assert left == Decimal(str(charged["amount"])) - Decimal("100.50")
    credit = {**record, "kind": "credit_note", "lines": []}
    credit_refs = {**refs, "credits_invoice_id": ("invoices", str(charged["id"]))}
    connector.create_many("invoices", [invoices.from_canonical(credit, None, credit_refs)])
    assert set(connector.fetch_many("invoices", [str(charged["id"])])) == {str(charged["id"])}
    # The look-ups after a create of unknown outcome, and an order left uninvoiced.
    order_key = invoices.payload_key(invoices.from_canonical(record, None, refs))
    credit_key = invoices.payload_key(invoices.from_canonical(credit, None, credit_refs))
    assert set(connector.find_by_business_key("invoices", [order_key, credit_key])) == {
        order_key, credit_key
    }  # fmt: skip
    paid_key = payments.payload_key(payments.from_canonical(payment, None, paid_ref))
    assert set(connector.find_by_business_key("payments", [paid_key])) == {paid_key}
    # Keys without that shape (intents recorded before invoices had one) find nothing.
    assert connector.find_by_business_key("invoices", ["hub-9"]) == {}
    assert connector.find_by_business_key("payments", ["hub-9"]) == {}
    left = {**record, "id": "hub-3"}
    connector.client.request(
        "POST", "/order", json=invoices.from_canonical(left, None, refs)["order"]
    )
    left_key = invoices.payload_key(invoices.from_canonical(left, None, refs))
    assert set(connector.find_by_business_key("invoices", [left_key])) == {left_key}
    # An order Tripletex refuses to charge (here: no lines, which the mapping never sends) is
    # deleted again.
    refused = invoices.from_canonical({**record, "id": "hub-4"}, None, refs)
    refused["order"]["orderLines"] = []
    with pytest.raises(RemoteRejected):
        connector.create_many("invoices", [refused])
    paths = {(r.method, r.url.path.split("/v2", 1)[1]) for r in recording.requests}
    assert ("POST", "/token/session/:create") in paths
    assert {p for _, p in paths} >= {"/customer", "/product", "/ledger/vatType", "/order"}
    assert ("GET", "/order") in paths
    assert ("POST", "/event/subscription") in paths
    assert any(m == "PUT" and p.startswith("/event/subscription/") for m, p in paths)
    assert any(m == "DELETE" and p.startswith("/event/subscription/") for m, p in paths)
    assert any(m == "DELETE" and p.startswith("/order/") for m, p in paths)
    problems = []
    for request in recording.requests:
        try:
            spec.validate_request(TripletexRequest(request))
        except Exception as exc:  # collect every problem, then report them together
            problems.append(f"{request.method} {request.url}: {exc!r}")
    assert problems == []
