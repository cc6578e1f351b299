"""Contract test: the Vipps MobilePay sandbox's requests and answers against the official
Report API OpenAPI (``vipps-mobilepay/vipps-report-api-v2.openapi.yaml``), checked with
openapi-core over HTTP on loopback: the ledgers list, both topics by date and as feeds, with
their cursors, and the refusals; and every Report API request the connector makes while it
reads payouts (the token request is another API's, outside this file).

One adjustment of the file, documented drift rather than a flaw of the sandbox
(``SOURCE.md``): the entry type ``scheduled-for-payout`` is now ``payout-scheduled`` and
``credit-note`` was added, so both join the ``entryType`` enum.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.vipps_mobilepay.connector import VippsConnector
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer, VippsSandbox, worked_example
from tests.openapi_wire import Recording, SpecRequest, SpecResponse
from tests.specs import spec_path

SPEC = spec_path("vipps-mobilepay/vipps-report-api-v2.openapi.yaml")
HOST = "https://api.vipps.no"
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"official spec not found at {SPEC}")


def _text_keys(node: Any) -> Any:
    """YAML reads the unquoted status codes (``200:``) as numbers; OpenAPI keys are text."""
    if isinstance(node, dict):
        return {str(key): _text_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_text_keys(value) for value in node]
    return node


def _spec() -> OpenAPI:
    document: dict[str, Any] = _text_keys(yaml.safe_load(SPEC.read_text()))
    types = document["components"]["schemas"]["Transaction"]["properties"]["entryType"]["enum"]
    types.extend(["payout-scheduled", "credit-note"])
    return OpenAPI.from_dict(document)


class World:
    def __init__(self, sandbox: VippsSandbox, client: httpx.Client) -> None:
        self.sandbox = sandbox
        self.client = client
        self.openapi = _spec()

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """A call whose request and answer the spec accepts."""
        response = self.client.get(path, params=params)
        self.openapi.validate_request(SpecRequest(response.request, HOST))
        self.openapi.validate_response(SpecRequest(response.request, HOST), SpecResponse(response))
        return response


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock(START)
    sandbox = VippsSandbox(clock=clock)
    worked_example(sandbox)
    sandbox.add_ledger("302322", "NOK")
    sandbox.capture("302322", "no-1", 49900)
    clock.advance(timedelta(days=1))
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url) as client:
        keys = sandbox.default_keys
        token = client.post(
            "/accesstoken/get",
            headers={
                "client_id": keys.client_id,
                "client_secret": keys.client_secret,
                "Ocp-Apim-Subscription-Key": keys.subscription_key,
            },
        ).json()["access_token"]
        client.headers.update(
            {"Authorization": f"Bearer {token}", "Ocp-Apim-Subscription-Key": keys.subscription_key}
        )
        yield World(sandbox, client)


def test_the_ledgers_list_pages_by_cursor_and_matches_the_spec(world: World) -> None:
    world.sandbox.page_limit = 1
    first = world.get("/settlement/v1/ledgers").json()
    assert len(first["items"]) == 1 and first["cursor"]
    second = world.get("/settlement/v1/ledgers", {"cursor": first["cursor"]}).json()
    assert [first["items"][0]["ledgerId"], second["items"][0]["ledgerId"]] == ["302321", "302322"]
    assert second["cursor"] == ""
    only = world.get("/settlement/v1/ledgers", {"settlesForRecipientHandles": "api:123455"})
    assert [ledger["ledgerId"] for ledger in only.json()["items"]] == ["302321"]


@pytest.mark.parametrize("topic", ["funds", "fees"])
def test_both_topics_by_date_and_as_a_feed_match_the_spec(world: World, topic: str) -> None:
    world.sandbox.page_limit = 2
    day = world.get(f"/report/v2/ledgers/302321/{topic}/dates/2026-03-10").json()
    items = day["items"]
    while day["hasMore"]:
        day = world.get(
            f"/report/v2/ledgers/302321/{topic}/dates/2026-03-10", {"cursor": day["cursor"]}
        ).json()
        items += day["items"]
    assert day["tryLater"] is False
    feed: list[dict[str, Any]] = []
    page = world.get(f"/report/v2/ledgers/302321/{topic}/feed").json()
    while page["items"]:
        feed += page["items"]
        page = world.get(
            f"/report/v2/ledgers/302321/{topic}/feed", {"cursor": page["cursor"]}
        ).json()
    assert page["tryLater"] is True and feed == items
    kinds = [entry["entryType"] for entry in feed]
    if topic == "funds":
        assert kinds == ["capture"] * 3 + ["refund", "fees-retained", "payout-scheduled"]
    else:
        assert kinds == ["capture-fee"] * 3 + ["fees-retained"]


def test_today_is_not_closed_and_a_future_date_is_not_there_yet(world: World) -> None:
    today = world.get("/report/v2/ledgers/302321/funds/dates/2026-03-11").json()
    assert today["tryLater"] is True and today["items"] == []
    future = world.get("/report/v2/ledgers/302321/funds/dates/2026-03-12")
    assert future.status_code == 404


def test_a_missing_token_is_a_401_in_the_specs_shape(world: World) -> None:
    del world.client.headers["Authorization"]
    response = world.get("/report/v2/ledgers/302321/funds/feed")
    assert response.status_code == 401 and response.json()["code"] == "Unauthorized"


def test_every_report_api_request_of_the_connector_matches_the_spec() -> None:
    clock = ManualClock(START)
    sandbox = VippsSandbox(clock=clock)
    sandbox.page_limit = 2
    worked_example(sandbox)
    recording = Recording()
    with SandboxServer(sandbox) as server:
        connector = VippsConnector(
            {"base_url": server.base_url, "client_id": "vipps-client-1"},
            {"client_secret": "vipps-secret-1", "subscription_key": "vipps-sub-key-1"},
            lambda calls: None,
            recording,
            clock,
        )
        try:
            assert connector.test().startswith("Vipps MobilePay ledger 302321")
            after: str | None = None
            more = True
            while more:
                page = connector.read_page("payouts", after, 1000)
                after, more = page.after, page.more
        finally:
            connector.close()
    openapi = _spec()
    checked = [
        (request, response)
        for request, response in recording.exchanges
        if request.url.path != "/accesstoken/get"
    ]
    paths = {request.url.path for request, _ in checked}
    assert paths == {
        "/settlement/v1/ledgers",
        "/report/v2/ledgers/302321/funds/feed",
        "/report/v2/ledgers/302321/fees/feed",
    }
    for request, response in checked:
        openapi.validate_request(SpecRequest(request, HOST))
        openapi.validate_response(SpecRequest(request, HOST), SpecResponse(response))
