"""The Webhooks pages: subscriptions with their events, the secret shown once, the deliveries
log, and a test ping through the normal outbox to a real receiver on loopback (the API beside
them: ``tests/integration/test_webhook_deliveries.py``)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
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


def use_up_attempts(system: System, delivery_id: str) -> None:
    """As after the last of its retries: the delivery is failed."""
    with system.sessions.begin() as session:
        session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status="failed", attempts=8)
        )


def test_the_webhooks_page_adds_shows_the_secret_once_and_deletes(web: Web) -> None:
    empty = web.get("/ui/settings/webhooks")
    assert empty.status_code == 200 and "No webhook yet" in text_of(empty.text)
    bad = web.post("/ui/settings/webhooks", {"url": "ftp://x", "events": "*"})
    assert bad.status_code == 422
    assert 'id="url" name="url"' in bad.text and 'aria-invalid="true"' in bad.text
    unknown = web.post(
        "/ui/settings/webhooks", {"url": "https://app.example/hook", "events": "party.creatd"}
    )
    assert unknown.status_code == 422
    assert 'id="events" name="events" value="party.creatd"' in unknown.text
    assert 'id="events-error"' in unknown.text and "is not an event" in text_of(unknown.text)
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


def test_spaces_pasted_around_a_webhook_url_are_not_kept(web: Web, tenant: Tenant) -> None:
    """A URL copied with a space before or after it (the API, or a form that keeps them)
    is the URL without them: deliveries go to it, not to an address no server answers."""
    added = web.post("/ui/settings/webhooks", {"url": "  https://erp.example.dk/hook \t"})
    assert added.status_code == 200, text_of(added.text)
    api = tenant.api.post("/webhooks", json={"url": " https://crm.example.dk/in ", "events": []})
    assert api.status_code == 201, api.text
    assert api.json()["url"] == "https://crm.example.dk/in"
    urls = {w["url"] for w in tenant.api.get("/webhooks").json()}
    assert urls == {"https://erp.example.dk/hook", "https://crm.example.dk/in"}


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
        system.run_until_idle()  # the worker sends it; the page's live log shows it
        page.get_by_text("1 delivery.").wait_for()
        assert page.get_by_role("cell", name="HTTP 200").is_visible()
        assert [r.json()["event"] for r in receiver.seen] == ["ping"]
        assert_accessible(page)
        assert_fits_360(page)
        screenshot(page, "webhooks")


def test_a_failed_delivery_shows_its_answer_and_is_redelivered_from_the_log(
    system: System, web: Web, tenant: Tenant
) -> None:
    with receiving() as receiver:
        receiver.status = 503
        sub = tenant.api.post("/webhooks", json={"url": receiver.url}).json()["id"]
        assert web.post(f"/ui/settings/webhooks/{sub}/ping").status_code == 303
        system.run_until_idle()
        log = text_of(web.get(f"/ui/settings/webhooks/{sub}").text)
        assert "1 delivery, 1 pending" in log and "HTTP 503" in log and "next try" in log
        [delivery] = tenant.api.get(f"/webhooks/{sub}/deliveries").json()
        use_up_attempts(system, delivery["id"])
        failed = web.get(f"/ui/settings/webhooks/{sub}").text
        assert "Failed" in text_of(failed) and f"/deliveries/{delivery['id']}/redeliver" in failed
        receiver.status = 200
        again = web.post(f"/ui/settings/webhooks/{sub}/deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 303
        assert "Delivery queued again" in text_of(web.get(again.headers["location"]).text)
        system.run_until_idle()
        assert "Delivered" in text_of(web.get(f"/ui/settings/webhooks/{sub}").text)
        twice = web.post(f"/ui/settings/webhooks/{sub}/deliveries/{delivery['id']}/redeliver")
        assert twice.status_code == 409 and "only a failed delivery" in text_of(twice.text)
