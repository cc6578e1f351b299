"""Qonto's "Log in to Qonto again": the Credentials tab starts the OAuth login and links to
Qonto's consent page, whose answer gives the connection a new login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox
from tests.integration.conftest import Tenant
from tests.integration.test_qonto import CLIENT_ID, CLIENT_SECRET, Qonto, start
from tests.integration.ui.conftest import Web, assert_accessible, browser_sign_in, text_of


@pytest.fixture
def qonto(hub_port: int) -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=4), f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback")


def qonto_connection(tenant: Tenant, qonto: Qonto) -> str:
    """A Qonto connection saved with its OAuth app, before its login: its id."""
    created = tenant.api.post(
        "/connections",
        json={
            "system": "qonto", "name": "Qonto", "secrets": {"oauth_client_secret": CLIENT_SECRET},
            "settings": {"base_url": qonto.url, "oauth_url": qonto.url,
                         "oauth_client_id": CLIENT_ID},
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_log_in_to_qonto_again_leads_to_the_consent_and_stores_the_new_login(
    web: Web, system: System, tenant: Tenant, qonto: Qonto
) -> None:
    cid = qonto_connection(tenant, qonto)
    page = web.get(f"/ui/connections/{cid}/credentials")
    assert "Log in to Qonto again" in page.text
    assert 'name="secrets.oauth_client_secret"' in page.text
    for handed_out in ("access_token", "refresh_token", "webhook_secret"):
        assert f'name="secrets.{handed_out}"' not in page.text, "the login sets it"

    started = web.post(f"/ui/connections/{cid}/credentials/login")
    assert started.status_code == 200, text_of(started.text)
    link = re.search(r'<a href="([^"]+)" role="button">Continue to Qonto', started.text)
    assert link is not None and unescape(link.group(1)).startswith(qonto.url)
    assert "access_token" not in system.connections.handle(cid).secrets
    with httpx.Client(timeout=30) as browser:
        consent = browser.get(unescape(link.group(1)))
        assert consent.status_code == 302, consent.text
        assert browser.get(consent.headers["location"]).status_code < 400
    assert system.connections.handle(cid).secrets.get("access_token")


def test_the_oauth_client_id_is_changed_on_the_credentials_tab_keeping_the_secret(
    system: System, tenant: Tenant, qonto: Qonto, ui_url: str, page: Any
) -> None:
    """A new Qonto app (a new client ID, the same secret): the Credentials tab shows the saved
    client ID in its field; saving a new one with the secret left empty keeps the secret, and
    the next login goes to Qonto with the new client ID."""
    from playwright.sync_api import expect

    qonto.sandbox.add_oauth_app(
        "ledgerbridge-2026", CLIENT_SECRET, [f"{ui_url.rsplit('/ui', 1)[0]}/api/v1/oauth/callback"]
    )
    cid = qonto_connection(tenant, qonto)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/credentials")
    client_id = page.locator("#settings-oauth_client_id")
    expect(client_id).to_have_value(CLIENT_ID)
    expect(page.locator("#secrets-oauth_client_secret")).to_have_value("")
    client_id.fill("ledgerbridge-2026")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("The new credentials work and are saved.")).to_be_visible()
    expect(page.locator("#settings-oauth_client_id")).to_have_value("ledgerbridge-2026")
    assert_accessible(page)

    handle = system.connections.handle(cid)
    assert handle.settings["oauth_client_id"] == "ledgerbridge-2026"
    assert handle.secrets["oauth_client_secret"] == CLIENT_SECRET, "left empty: kept"
    started = tenant.api.post(f"/connections/{cid}/oauth/authorize")
    assert started.status_code == 200, started.text
    assert "client_id=ledgerbridge-2026" in started.json()["authorize_url"]
