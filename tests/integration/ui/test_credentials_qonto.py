"""Qonto's "Log in to Qonto again": the Credentials tab starts the OAuth login and links to
Qonto's consent page, whose answer gives the connection a new login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox
from tests.integration.conftest import Tenant
from tests.integration.test_qonto import CLIENT_ID, CLIENT_SECRET, Qonto, start
from tests.integration.ui.conftest import Web, text_of


@pytest.fixture
def qonto(hub_port: int) -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=4), f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback")


def test_log_in_to_qonto_again_leads_to_the_consent_and_stores_the_new_login(
    web: Web, system: System, tenant: Tenant, qonto: Qonto
) -> None:
    created = tenant.api.post(
        "/connections",
        json={
            "system": "qonto", "name": "Qonto", "secrets": {"oauth_client_secret": CLIENT_SECRET},
            "settings": {"base_url": qonto.url, "oauth_url": qonto.url,
                         "oauth_client_id": CLIENT_ID},
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
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
