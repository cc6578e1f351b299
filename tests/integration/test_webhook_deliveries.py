"""A subscription's deliveries log, a test ping through the normal outbox to a real receiver
on loopback (signed like any event), and redelivery of a failed delivery, over the API."""

from __future__ import annotations

import socket

from ledgerbridge.runtime.system import System
from ledgerbridge.services.webhooks import SIGNATURE_HEADER, verify
from tests.integration.conftest import Tenant
from tests.integration.ui.test_tenant_webhooks import use_up_attempts
from tests.sandbox.receiver import receiving


def test_a_ping_goes_through_the_outbox_signed_and_a_failed_one_is_redelivered(
    system: System, tenant: Tenant
) -> None:
    with receiving() as receiver:
        made = tenant.api.post(
            "/webhooks", json={"url": receiver.url, "events": ["invoice.created"]}
        )
        sub, secret = made.json()["id"], made.json()["secret"]
        queued = tenant.api.post(f"/webhooks/{sub}/ping")
        assert queued.status_code == 202, queued.text
        assert queued.json()["event"] == "ping" and queued.json()["status"] == "pending"
        system.run_until_idle()
        [seen] = receiver.seen
        assert seen.json()["event"] == "ping", "sent though the subscription chose other events"
        assert verify(
            secret, seen.headers[SIGNATURE_HEADER], seen.raw, int(system.clock.now().timestamp())
        )
        [done] = tenant.api.get(f"/webhooks/{sub}/deliveries").json()
        assert (done["status"], done["attempts"], done["last_status_code"]) == ("delivered", 1, 200)

        receiver.status = 500
        second = tenant.api.post(f"/webhooks/{sub}/ping").json()
        system.run_until_idle()
        failing = tenant.api.get(f"/webhooks/{sub}/deliveries").json()[0]
        assert failing["id"] == second["id"]
        assert (failing["status"], failing["last_status_code"]) == ("pending", 500)
        assert failing["last_error"] == "HTTP 500" and failing["next_attempt_at"]
        early = tenant.api.post(f"/webhooks/deliveries/{second['id']}/redeliver")
        assert early.status_code == 409 and "still being retried" in early.text
        use_up_attempts(system, second["id"])
        receiver.status = 200
        again = tenant.api.post(f"/webhooks/deliveries/{second['id']}/redeliver")
        assert again.status_code == 202 and again.json()["attempts"] == 0
        system.run_until_idle()
        latest = tenant.api.get(f"/webhooks/{sub}/deliveries").json()[0]
        assert latest["status"] == "delivered" and latest["delivered_at"]
    assert tenant.api.get("/webhooks/nosuch/deliveries").status_code == 404
    assert tenant.api.post("/webhooks/nosuch/ping").status_code == 404


def test_a_receiver_that_cannot_be_reached_is_said_in_plain_words(
    system: System, tenant: Tenant
) -> None:
    """The delivery log tells the subscriber's admin what happened and what to check, not the
    HTTP library's wording."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    made = tenant.api.post(
        "/webhooks", json={"url": f"http://127.0.0.1:{port}/hook", "events": ["invoice.created"]}
    )
    assert made.status_code == 201, made.text
    sub = made.json()["id"]
    assert tenant.api.post(f"/webhooks/{sub}/ping").status_code == 202
    system.run_until_idle()
    [failing] = tenant.api.get(f"/webhooks/{sub}/deliveries").json()
    assert failing["status"] == "pending" and failing["last_status_code"] is None
    assert failing["last_error"] == (
        f"could not deliver at 127.0.0.1:{port}: the connection was refused (nothing answers "
        "on that port); check the address and port, and that the service is running"
    )
