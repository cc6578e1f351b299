"""Outbound webhooks: subscriptions with their events, the secret shown once, the deliveries
log, a test ping through the normal outbox to a real receiver on loopback, redelivery of a
failed delivery; and the JSON endpoints beside them."""

from __future__ import annotations

import re
import threading
from typing import Any

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.services.webhooks import SIGNATURE_HEADER, verify
from ledgerbridge.store.tables.tenancy import WebhookDelivery
from tests.integration.conftest import Tenant
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    text_of,
)
from tests.sandbox.receiver import receiving


def work(system: System) -> None:
    """Runs the jobs due, as a worker does, in a thread of its own: on PostgreSQL the queue
    drives asyncio, and this thread's event loop belongs to Playwright once a browser ran."""
    worker = threading.Thread(target=system.run_until_idle)
    worker.start()
    worker.join()


def use_up_attempts(system: System, delivery_id: str) -> None:
    """As after the last of its retries: the delivery is failed."""
    with system.sessions.begin() as session:
        session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status="failed", attempts=8)
        )


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
        work(system)
        [seen] = receiver.seen
        assert seen.json()["event"] == "ping", "sent though the subscription chose other events"
        assert verify(
            secret, seen.headers[SIGNATURE_HEADER], seen.raw, int(system.clock.now().timestamp())
        )
        [done] = tenant.api.get(f"/webhooks/{sub}/deliveries").json()
        assert (done["status"], done["attempts"], done["last_status_code"]) == ("delivered", 1, 200)

        receiver.status = 500
        second = tenant.api.post(f"/webhooks/{sub}/ping").json()
        work(system)
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
        work(system)
        latest = tenant.api.get(f"/webhooks/{sub}/deliveries").json()[0]
        assert latest["status"] == "delivered" and latest["delivered_at"]
    assert tenant.api.get("/webhooks/nosuch/deliveries").status_code == 404
    assert tenant.api.post("/webhooks/nosuch/ping").status_code == 404


def test_the_webhooks_page_adds_shows_the_secret_once_and_deletes(web: Web) -> None:
    empty = web.get("/ui/settings/webhooks")
    assert empty.status_code == 200 and "No webhook yet" in text_of(empty.text)
    bad = web.post("/ui/settings/webhooks", {"url": "ftp://x", "events": "*"})
    assert bad.status_code == 422
    assert 'id="url" name="url"' in bad.text and 'aria-invalid="true"' in bad.text
    made = web.post(
        "/ui/settings/webhooks",
        {"url": "https://app.example/hook", "events": "party.created, invoice.updated"},
    )
    assert made.status_code == 200
    secret = re.search(r'id="secret" value="(whsec_[^"]+)"', made.text)
    assert secret is not None and "shown only once" in text_of(made.text)
    page = web.get("/ui/settings/webhooks")
    assert secret.group(1) not in page.text
    assert "party.created" in page.text and "invoice.updated" in page.text
    sub = re.search(r'href="/ui/settings/webhooks/([^"/]+)"', page.text)
    assert sub is not None
    log = web.get(f"/ui/settings/webhooks/{sub.group(1)}")
    assert log.status_code == 200 and "0 deliveries" in text_of(log.text)
    deleted = web.post(f"/ui/settings/webhooks/{sub.group(1)}/delete")
    assert deleted.status_code == 303
    assert "Webhook deleted" in text_of(web.get(deleted.headers["location"]).text)
    assert web.get(f"/ui/settings/webhooks/{sub.group(1)}").status_code == 404


def test_adding_a_webhook_and_pinging_it_in_a_browser(
    page: Any, system: System, ui_url: str, tenant: Tenant
) -> None:
    with receiving() as receiver:
        browser_sign_in(page, system, ui_url, tenant.tenant_id)
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
        assert_accessible(page)
        assert_fits_360(page)
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name="Add webhook").click()
        page.get_by_text("Copy the secret now").wait_for()
        assert page.get_by_role("textbox", name="Signing secret").input_value().startswith("whsec_")
        assert_accessible(page)
        page.get_by_role("link", name="Send a test ping to it").click()
        page.get_by_role("heading", name="Webhook deliveries").wait_for()
        page.get_by_role("button", name="Send test ping").click()
        page.get_by_text("1 delivery, 1 pending").wait_for()
        work(system)  # the worker sends it; the page's live log shows it
        page.get_by_text("1 delivery.").wait_for()
        assert page.get_by_role("cell", name="HTTP 200").is_visible()
        assert [r.json()["event"] for r in receiver.seen] == ["ping"]
        assert_accessible(page)
        assert_fits_360(page)
        screenshot(page, "webhooks")
