"""Qonto sandbox webhooks: subscriptions over HTTP, signed deliveries to a real receiver on
loopback, retries, replays and bad signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer, sign

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
IBAN = "FR7616798000010000005663951"
SECRET = "whsec_test_0123456789abcdef0123456789abcdef"


@dataclass
class Delivery:
    """One POST seen by the receiver."""

    signature: str
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        """Parsed JSON body."""
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    def verified(self, secret: str) -> bool:
        """Check ``X-Qonto-Signature`` the way the docs describe."""
        parts = dict(part.split("=", 1) for part in self.signature.split(","))
        expected = hmac.new(
            secret.encode(), parts["t"].encode() + b"." + self.raw, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Receiver:
    """A real HTTP server recording webhook POSTs; it can fail the first few."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    fail_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        """Bodies received so far."""
        with self.lock:
            return [delivery.body for delivery in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """``http.server`` on a free loopback port answering 200 (or 500 while failing)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                failing = state.fail_first > 0
                if failing:
                    state.fail_first -= 1
                else:
                    state.deliveries.append(Delivery(self.headers["X-Qonto-Signature"], raw))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/qonto"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One loopback sandbox server for the module."""
    with SandboxServer(QontoSandbox()) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock on a Tuesday morning in March 2026."""
    return ManualClock(START)


@pytest.fixture
def sandbox(server: SandboxServer, clock: ManualClock) -> Iterator[QontoSandbox]:
    """A fresh sandbox with fast retries."""
    box = QontoSandbox(clock, webhook_backoff=0.01)
    box.add_oauth_app("crm-app", "crm-secret", ["https://crm.example/cb"])
    server.use(box)
    yield box
    box.close()


def token_for(sandbox: QontoSandbox, scope: str) -> str:
    """An access token with the given scopes, without the browser step."""
    code = sandbox.issue_code("crm-app", scope)
    tokens = sandbox.token_request(
        {
            "client_id": "crm-app",
            "client_secret": "crm-secret",
            "grant_type": "authorization_code",
            "code": code,
        }
    )
    return tokens.access_token


@pytest.fixture
def api(server: SandboxServer, sandbox: QontoSandbox) -> Iterator[httpx.Client]:
    """HTTP client whose token may subscribe to client and invoice events."""
    scope = "webhook organization.read client.write client_invoices.read client_invoice.write"
    headers = {"Authorization": f"Bearer {token_for(sandbox, scope)}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as client:
        yield client


def ready_client(sandbox: QontoSandbox) -> dict[str, Any]:
    """A client that can be invoiced, created as in the web app."""
    return sandbox.create_client(
        {
            "kind": "company",
            "name": "Bakker Installatietechniek B.V.",
            "vat_number": "NL004495445B01",
            "billing_address": {
                "street_address": "Keizersgracht 123-2",
                "city": "Amsterdam",
                "zip_code": "1015 CJ",
                "country_code": "NL",
            },
            "currency": "EUR",
            "locale": "nl",
        }
    )


def draft(sandbox: QontoSandbox, client_id: str) -> dict[str, Any]:
    """A one-line draft invoice."""
    return sandbox.create_invoice(
        {
            "client_id": client_id,
            "issue_date": "2026-03-10",
            "due_date": "2026-04-09",
            "payment_methods": {"iban": IBAN},
            "items": [
                {
                    "title": "Onderhoud",
                    "quantity": "2",
                    "unit": "hour",
                    "unit_price": {"value": "85.00", "currency": "EUR"},
                    "vat_rate": "0",
                    "vat_exemption_reason": "S283",
                }
            ],
        }
    )


def test_signature_matches_the_documented_example() -> None:
    header = sign("test-secret", 1704110400, b'{"test":"data"}')
    assert header == (
        "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
    )


def test_subscription_crud(api: httpx.Client, receiver: Receiver) -> None:
    created = api.post(
        "/v2/webhook_subscriptions",
        json={"callback_url": receiver.url, "types": ["v1/client-invoices"]},
    )
    assert created.status_code == 201
    subscription = created.json()
    assert list(subscription) == [
        "id",
        "organization_id",
        "membership_id",
        "callback_url",
        "types",
        "description",
        "created_at",
        "updated_at",
        "secret",
    ]
    assert subscription["secret"].startswith("whsec_")
    path = f"/v2/webhook_subscriptions/{subscription['id']}"
    assert api.get(path).json() == subscription
    listed = api.get("/v2/webhook_subscriptions").json()
    assert [s["id"] for s in listed["webhook_subscriptions"]] == [subscription["id"]]
    assert listed["meta"]["total_count"] == 1

    changed = api.patch(path, json={"types": ["v1/clients"], "description": "CRM"}).json()
    assert changed["types"] == ["v1/clients"]
    assert changed["description"] == "CRM"
    assert api.put(path, json={"secret": SECRET}).status_code == 422
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"callback_url": "ftp://x", "types": ["v1/clients"]}, "/callback_url"),
        ({"callback_url": "https://x.example", "types": []}, "/types"),
        ({"callback_url": "https://x.example", "types": ["v1/unknown"]}, "/types/0"),
        ({"callback_url": "https://x.example", "types": ["v1/clients"], "secret": "s"}, "/secret"),
    ],
)
def test_subscription_validation(api: httpx.Client, body: dict[str, Any], pointer: str) -> None:
    response = api.post("/v2/webhook_subscriptions", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


def test_subscribing_needs_the_resource_read_scope(
    server: SandboxServer, sandbox: QontoSandbox, receiver: Receiver
) -> None:
    headers = {"Authorization": f"Bearer {token_for(sandbox, 'webhook organization.read')}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as http:
        refused = http.post(
            "/v2/webhook_subscriptions",
            json={"callback_url": receiver.url, "types": ["v1/client-invoices"]},
        )
        assert refused.status_code == 403
        assert "client_invoices.read" in refused.json()["errors"][0]["detail"]
        allowed = http.post(
            "/v2/webhook_subscriptions",
            json={"callback_url": receiver.url, "types": ["v1/clients"]},
        )
        assert allowed.status_code == 201


def test_invoice_status_changes_are_delivered_signed_and_in_order(
    api: httpx.Client, sandbox: QontoSandbox, receiver: Receiver, clock: ManualClock
) -> None:
    subscription = api.post(
        "/v2/webhook_subscriptions",
        json={"callback_url": receiver.url, "types": ["v1/client-invoices"], "secret": SECRET},
    ).json()
    client = ready_client(sandbox)
    invoice = draft(sandbox, client["id"])
    finalized = api.post(f"/v2/client_invoices/{invoice['id']}/finalize")
    assert finalized.status_code == 200
    clock.advance(timedelta(minutes=3))
    sandbox.mark_invoice_paid(invoice["id"])
    sandbox.wait_for_webhooks()

    bodies = receiver.bodies()
    assert [(b["data"]["event"], b["data"]["status"]) for b in bodies] == [
        ("created", "draft"),
        ("updated", "unpaid"),
        ("updated", "paid"),
    ]
    first = bodies[0]
    assert list(first) == [
        "id",
        "subscription_id",
        "organization_id",
        "membership_id",
        "type",
        "created_at",
        "data",
    ]
    assert first["type"] == "v1/client-invoices"
    assert first["subscription_id"] == subscription["id"]
    assert first["organization_id"] == sandbox.organization_id
    assert bodies[2]["created_at"] == "2026-03-10T09:03:00.000Z"
    assert bodies[2]["data"]["paid_at"] == "2026-03-10T09:03:00.000Z"
    assert len({b["id"] for b in bodies}) == 3
    assert all(delivery.verified(SECRET) for delivery in receiver.deliveries)
    sent_at = int(receiver.deliveries[0].signature.split(",")[0].removeprefix("t="))
    assert int(START.timestamp()) <= sent_at <= int(START.timestamp()) + 180


def test_client_changes_in_the_web_app_are_delivered(
    sandbox: QontoSandbox, receiver: Receiver
) -> None:
    sandbox.subscribe_webhook(receiver.url, ["v1/clients"], secret=SECRET)
    client = ready_client(sandbox)
    sandbox.update_client(client["id"], {"email": "administratie@bakker.nl"})
    sandbox.delete_client(client["id"])
    sandbox.wait_for_webhooks()
    bodies = receiver.bodies()
    assert [(b["type"], b["data"]["event"]) for b in bodies] == [
        ("v1/clients", "created"),
        ("v1/clients", "updated"),
        ("v1/clients", "deleted"),
    ]
    assert bodies[1]["data"]["email"] == "administratie@bakker.nl"
    assert {b["data"]["id"] for b in bodies} == {client["id"]}


def test_events_go_only_to_matching_subscriptions(
    sandbox: QontoSandbox, receiver: Receiver
) -> None:
    sandbox.subscribe_webhook(receiver.url, ["v1/clients"], secret=SECRET)
    sandbox.subscribe_webhook(receiver.url, ["v1/transactions"], secret=SECRET)
    client = ready_client(sandbox)
    draft(sandbox, client["id"])
    sandbox.wait_for_webhooks()
    assert [b["type"] for b in receiver.bodies()] == ["v1/clients"]


def test_failed_deliveries_are_retried_with_the_same_event(
    sandbox: QontoSandbox, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    sandbox.subscribe_webhook(receiver.url, ["v1/clients"], secret=SECRET)
    ready_client(sandbox)
    sandbox.wait_for_webhooks()
    attempts = sandbox.webhook_deliveries()
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert len({a.event_id for a in attempts}) == 1
    assert len(receiver.deliveries) == 1


def test_replay_sends_the_same_event_again(sandbox: QontoSandbox, receiver: Receiver) -> None:
    sandbox.subscribe_webhook(receiver.url, ["v1/clients"], secret=SECRET)
    ready_client(sandbox)
    sandbox.wait_for_webhooks()
    (event,) = sandbox.webhook_events()
    sandbox.replay_webhook(event.event_id)
    sandbox.wait_for_webhooks()
    first, second = receiver.deliveries
    assert first.raw == second.raw == event.body
    assert second.body["id"] == event.event_id
    assert second.verified(SECRET)


def test_bad_signature_is_sent_once(
    sandbox: QontoSandbox, receiver: Receiver, server: SandboxServer
) -> None:
    sandbox.subscribe_webhook(receiver.url, ["v1/clients"], secret=SECRET)
    ready_client(sandbox)
    sandbox.wait_for_webhooks()
    (event,) = sandbox.webhook_events()
    sandbox.send_webhook_with_bad_signature(event.event_id)
    sandbox.wait_for_webhooks()
    good, bad = receiver.deliveries
    assert bad.raw == good.raw
    assert good.verified(SECRET)
    assert not bad.verified(SECRET)
    assert sandbox.webhook_deliveries()[-1].bad_signature is True

    with httpx.Client(base_url=server.base_url) as admin:
        again = admin.post(f"/_sandbox/webhooks/events/{event.event_id}/replay")
        assert again.json() == {"replayed": event.event_id}
        assert admin.post("/_sandbox/webhooks/events/nope/replay").status_code == 404
        sandbox.wait_for_webhooks()
        listed = admin.get("/_sandbox/webhooks/deliveries").json()
        assert [d["bad_signature"] for d in listed] == [False, True, False]
        events = admin.get("/_sandbox/webhooks/events").json()
        assert events[0]["event"] == "created"
    with pytest.raises(KeyError):
        sandbox.replay_webhook("unknown")


def test_bank_payment_through_the_admin_endpoint(
    sandbox: QontoSandbox, receiver: Receiver, server: SandboxServer
) -> None:
    sandbox.subscribe_webhook(receiver.url, ["v1/client-invoices"], secret=SECRET)
    client = ready_client(sandbox)
    invoice = draft(sandbox, client["id"])
    sandbox.finalize_invoice(invoice["id"])
    with httpx.Client(base_url=server.base_url) as admin:
        paid = admin.post(
            f"/_sandbox/client_invoices/{invoice['id']}/pay",
            json={"paid_at": "2026-03-09T15:30:00Z"},
        ).json()["client_invoice"]
        changed = admin.post(f"/_sandbox/clients/{client['id']}", json={"locale": "en"})
        assert changed.json()["client"]["locale"] == "en"
    assert paid["status"] == "paid"
    assert paid["paid_at"] == "2026-03-09T15:30:00.000Z"
    sandbox.wait_for_webhooks()
    assert receiver.bodies()[-1]["data"]["status"] == "paid"
