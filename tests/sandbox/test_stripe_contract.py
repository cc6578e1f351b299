"""Contract tests: the Stripe sandbox's answers, and the connector's requests, against the
official OpenAPI (``stripe/openapi`` 2023-08-16, the payouts subset in ``shared/specs/stripe``),
over HTTP on loopback.

Every request the connector makes (payout lists and reads, balance transactions with their
sources expanded, the balance, webhook endpoints made and deleted) is validated as a request of
the spec, and every answer, 2xx or error, against the operation's response schema. The sandbox
adds ``balance_type`` to balance transactions (a field of the 2026 fixtures the 2023 schema
does not list; its objects allow unknown properties).

Readings of the file made explicit for the validator, none a change of meaning: ``nullable``
admits null next to ``anyOf`` and ``enum``; ``deepObject`` query parameters are the bracketed
keys Stripe reads (``expand[]``, ``created[gte]``); a form body is decoded the same way and
checked against its schema here, since openapi-core cannot read those keys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_schema_validator import OAS30Validator

from ledgerbridge.clock import SystemClock
from ledgerbridge.connectors.stripe import webhooks
from ledgerbridge.connectors.stripe.connector import StripeConnector
from ledgerbridge.sandbox.stripe import SandboxServer, StripeSandbox, seed_account
from tests.openapi_wire import Recording, SpecRequest, SpecResponse
from tests.specs import spec_path

SPEC = spec_path("stripe/stripe-openapi-2023-08-16.payouts-subset.json")
HOST = "https://api.stripe.com"


def form_of(body: bytes) -> dict[str, Any]:
    """A form body as Stripe reads it: ``a[]=x`` a list, ``a[b]=x`` an object."""
    found: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        name, _, rest = key.partition("[")
        inner = rest.rstrip("]")
        if not rest:
            found[name] = value
        elif inner == "" or inner.isdigit():
            found.setdefault(name, []).append(value)
        else:
            found.setdefault(name, {})[inner] = value
    return found


def _null_allowed(node: Any) -> None:
    """``nullable`` admits null in OpenAPI 3.0, but the validator reads it only next to a
    ``type`` and never past an ``enum``: null is made one more choice of both."""
    if isinstance(node, dict):
        if node.get("nullable") and "anyOf" in node and "type" not in node:
            node["anyOf"].append({"type": "string", "nullable": True, "enum": [None]})
        if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        for value in node.values():
            _null_allowed(value)
    elif isinstance(node, list):
        for value in node:
            _null_allowed(value)


def _explicit(parameter: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``deepObject`` query parameter as the keys Stripe reads on the wire: an array as
    ``name[]``, a range (``anyOf`` integer or ``{gt, gte, lt, lte}``) as ``name`` and
    ``name[gt]``…; openapi-core deserialises ``deepObject`` only for plain objects."""
    schema = parameter.get("schema", {})
    if parameter.get("in") != "query" or parameter.get("style") != "deepObject":
        return [parameter]
    plain = {"in": "query", "required": False, "style": "form", "explode": True}
    if schema.get("type") == "array":
        return [{**plain, "name": f"{parameter['name']}[]", "schema": schema}]
    if "anyOf" not in schema:
        return [parameter]
    found: list[dict[str, Any]] = []
    for branch in schema["anyOf"]:
        if branch.get("type") == "object":
            for key, inner in branch.get("properties", {}).items():
                found.append({**plain, "name": f"{parameter['name']}[{key}]", "schema": inner})
        else:
            found.append({**plain, "name": parameter["name"], "schema": branch})
    return found


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"the Stripe spec is not available at {SPEC}")
    loaded: dict[str, Any] = json.loads(SPEC.read_text())
    return loaded


@pytest.fixture(scope="module")
def spec(document: dict[str, Any]) -> OpenAPI:
    document = copy.deepcopy(document)
    _null_allowed(document)
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = False  # checked by ``problems_of``
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [
                    p for parameter in operation["parameters"] for p in _explicit(parameter)
                ]
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@pytest.fixture
def account() -> Iterator[tuple[StripeSandbox, SandboxServer, dict[str, Any]]]:
    sandbox = StripeSandbox(seed=4)
    cases = seed_account(sandbox, seed=4, charges=8)
    server = SandboxServer(sandbox)
    server.start()
    yield sandbox, server, cases
    server.stop()
    sandbox.close()


def problems_of(spec: OpenAPI, recording: Recording, document: dict[str, Any]) -> list[str]:
    """Each request (a form body checked on its own: openapi-core cannot read Stripe's
    bracketed form keys) and each answer against the spec; every problem found."""
    found = []
    for request, response in recording.exchanges:
        form = request.method in ("POST", "DELETE") and bool(request.content)
        seen = httpx.Request(request.method, request.url, headers=request.headers)
        try:
            spec.validate_request(SpecRequest(seen if form else request, HOST))
        except Exception as exc:  # collect every problem, then report them together
            found.append(f"request {request.method} {request.url}: {exc!r}")
        if form:
            operation = document["paths"][request.url.path][request.method.lower()]
            schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
            for error in OAS30Validator(schema["schema"]).iter_errors(form_of(request.content)):
                found.append(f"form {request.method} {request.url}: {error.message}")
        try:
            spec.validate_response(SpecRequest(request, HOST), SpecResponse(response))
        except Exception as exc:
            detail = getattr(exc, "__cause__", None)
            found.append(f"response {request.method} {request.url}: {exc!r} {detail!r}")
    return found


def test_every_request_of_the_connector_and_every_answer_match_the_official_spec(
    spec: OpenAPI,
    document: dict[str, Any],
    account: tuple[StripeSandbox, SandboxServer, dict[str, Any]],
) -> None:
    sandbox, server, cases = account
    recording = Recording()
    settings = {"base_url": server.base_url}
    secrets = {"secret_key": sandbox.default_key}
    connector = StripeConnector(settings, secrets, lambda calls: None, recording)
    try:
        assert "DKK" in connector.test()
        page = connector.read_page("payouts", None, 1)
        assert page.more and len(page.records) == 1
        rest = connector.read_page("payouts", page.after, 100)
        ids = {r["id"] for r in [*page.records, *rest.records]}
        assert ids == {cases["automatic_payout"], cases["manual_payout"]}
        assert connector.fetch_many("payouts", sorted(ids)).keys() == ids
        assert connector.fetch_many("payouts", ["po_missing"]) == {}
    finally:
        connector.close()
    made = webhooks.subscribe(
        settings, secrets, "https://hub.example/api/v1/inbound/c/t", lambda calls: None,
        recording, SystemClock(),
    )  # fmt: skip
    webhooks.unsubscribe(settings, {**secrets, **made}, lambda calls: None, recording,
                         SystemClock())  # fmt: skip
    paths = {(r.method, r.url.path) for r, _ in recording.exchanges}
    assert {("GET", "/v1/balance"), ("GET", "/v1/payouts"), ("GET", "/v1/balance_transactions"),
            ("POST", "/v1/webhook_endpoints")} <= paths  # fmt: skip
    assert any(m == "GET" and p.startswith("/v1/payouts/po_") for m, p in paths)
    assert any(m == "DELETE" and p.startswith("/v1/webhook_endpoints/we_") for m, p in paths)
    assert problems_of(spec, recording, document) == []


def test_reads_errors_and_lists_of_every_served_operation_match_the_official_spec(
    spec: OpenAPI,
    document: dict[str, Any],
    account: tuple[StripeSandbox, SandboxServer, dict[str, Any]],
) -> None:
    sandbox, server, cases = account
    # A paid payout that failed after all: its failure fields and reversal are served too.
    sandbox.set_payout_status(cases["automatic_payout"], {"status": "failed"})
    recording = Recording()
    auth = {"Authorization": f"Bearer {sandbox.default_key}", "Stripe-Version": "2023-08-16"}
    eur_txn = sandbox.charges[cases["eur_charge"]]["balance_transaction"]
    with httpx.Client(base_url=server.base_url, transport=recording, headers=auth) as client:
        ok = [
            client.get("/v1/balance"),
            client.get("/v1/payouts", params={"status": "paid", "limit": 1}),
            client.get(f"/v1/payouts/{cases['automatic_payout']}"),
            client.get("/v1/balance_transactions", params={"type": "charge", "limit": 100}),
            client.get(
                "/v1/balance_transactions",
                params=[
                    ("payout", cases["automatic_payout"]),
                    ("expand[]", "data.source"),
                    ("expand[]", "data.source.charge"),
                    ("limit", "100"),
                ],
            ),
            client.get(
                f"/v1/balance_transactions/{eur_txn}",
                params={"expand[]": "source"},
            ),
            client.get("/v1/charges", params={"limit": 3}),
            client.get(f"/v1/charges/{cases['refunded_charge']}"),
            client.get(f"/v1/charges/{cases['disputed_charge']}"),
            client.get("/v1/refunds"),
            client.get(f"/v1/refunds/{cases['refund']}"),
            client.get(f"/v1/disputes/{cases['dispute']}"),
            client.get("/v1/events", params={"type": "payout.*"}),
            client.get("/v1/webhook_endpoints"),
        ]
        event = ok[-2].json()["data"][0]["id"]
        ok.append(client.get(f"/v1/events/{event}"))
        refused = [
            client.get("/v1/payouts/po_missing"),
            client.get("/v1/payouts", params={"limit": 500}),
            client.get("/v1/payouts", params={"colour": "blue"}),
            client.get("/v1/balance_transactions", params={"payout": cases["manual_payout"]}),
            client.get("/v1/payouts", headers={"Authorization": "Bearer sk_test_wrong_key_0000"}),
        ]
    assert [r.status_code for r in ok] == [200] * len(ok)
    assert [r.status_code for r in refused] == [404, 400, 400, 400, 401]
    assert problems_of(spec, recording, document) == []
