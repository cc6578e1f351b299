"""The app learns of changes through the change feed and through signed webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.services.webhooks import SIGNATURE_HEADER, verify
from ledgerbridge.store.tables.tenancy import WebhookDelivery
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed


class Receiver:
    """A real HTTP endpoint standing in for the app; answers 500 to the first N posts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()


def test_change_feed_pages_through_every_change(tenant: Tenant) -> None:
    ids = [tenant.api.post("/parties", json={"name": f"P{n}"}).json()["id"] for n in range(5)]
    tenant.api.patch(f"/parties/{ids[0]}", json={"name": "P0 renamed"})
    tenant.api.delete(f"/parties/{ids[1]}")
    page = tenant.api.get("/changes", params={"after": 0, "limit": 4}).json()
    assert [c["operation"] for c in page["items"]] == ["created"] * 4
    rest = tenant.api.get("/changes", params={"after": page["next"]}).json()
    assert [(c["record_id"], c["operation"]) for c in rest["items"]] == [
        (ids[4], "created"), (ids[0], "updated"), (ids[1], "deleted"),
    ]  # fmt: skip
    assert tenant.api.get("/changes", params={"after": rest["next"]}).json()["items"] == []


def test_webhooks_are_signed_and_retried(
    system: System, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.fail_first = 1
    subscribed = tenant.api.post(
        "/webhooks", json={"url": receiver.url, "events": ["party.created"]}
    )
    assert subscribed.status_code == 201
    secret = subscribed.json()["secret"]
    party = tenant.api.post("/parties", json={"name": "Hook ApS"}).json()
    tenant.api.post("/products", json={"sku": "A-1", "name": "Not subscribed"})
    system.run_until_idle()
    assert receiver.received == []  # the first attempt got a 500

    system.webhooks.deliver_due(limit=10)  # not due yet: backoff
    assert receiver.received == []
    with system.sessions.begin() as session:
        for row in session.query(WebhookDelivery):
            row.next_attempt_at = system.clock.now()
    system.webhooks.deliver_due(limit=10)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify(secret, headers[SIGNATURE_HEADER], body, int(time.time()))
    assert not verify("whsec_wrong", headers[SIGNATURE_HEADER], body, int(time.time()))
    event = json.loads(body)
    assert event["event"] == "party.created"
    assert event["record_id"] == party["id"]
    assert event["data"]["name"] == "Hook ApS"


def test_import_completion_and_synced_changes_reach_the_app(
    system: System, tenant: Tenant, uniconta: Uniconta, receiver: Receiver
) -> None:
    seed(uniconta, 3)
    tenant.api.post("/webhooks", json={"url": receiver.url})
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    system.run_until_idle()
    events = [e["event"] for e in receiver.events()]
    assert events.count("party.created") == 3
    assert "connection.import_completed" in events
    origins = {e.get("origin") for e in receiver.events() if e["event"] == "party.created"}
    assert origins == {f"connection:{connection['id']}"}
