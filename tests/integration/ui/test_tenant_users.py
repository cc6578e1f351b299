"""The Users & API keys page: users with roles, a user added with a key shown once, keys
listed with when they were last used, a key for oneself, revocation by the service's rules
(the API beside it: ``tests/integration/test_api_keys.py``)."""

from __future__ import annotations

import re
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    text_of,
)

KEY = re.compile(r'value="(lb_[^"]+)"')


def test_adding_a_user_shows_the_key_once_and_refusals_name_the_field(web: Web) -> None:
    page = web.get("/ui/settings/users")
    assert page.status_code == 200
    assert "owner@nordlyshandel.example" in text_of(page.text)
    added = web.post("/ui/settings/users", {"email": "Kari@Nordlys.example", "role": "member"})
    assert added.status_code == 200, text_of(added.text)
    key = KEY.search(added.text)
    assert key is not None and 'data-copy="issued-key"' in added.text
    assert "shown only once" in text_of(added.text)
    again = web.get("/ui/settings/users")
    assert key.group(1) not in again.text, "the key is never shown again"
    assert "kari@nordlys.example" in text_of(again.text)
    twice = web.post("/ui/settings/users", {"email": "kari@nordlys.example", "role": "member"})
    assert twice.status_code == 409
    assert 'id="email" name="email"' in twice.text and 'aria-invalid="true"' in twice.text
    assert "already exists" in text_of(twice.text)
    bad = web.post("/ui/settings/users", {"email": "no-at-sign", "role": "member"})
    assert bad.status_code == 422 and "is not an email address" in text_of(bad.text)


def test_a_key_for_oneself_then_revoked(web: Web) -> None:
    made = web.post("/ui/settings/api-keys", {"name": "Nightly export"})
    assert made.status_code == 200
    assert KEY.search(made.text) is not None
    unnamed = web.post("/ui/settings/api-keys", {"name": "  "})
    assert unnamed.status_code == 422 and "give the key a name" in text_of(unnamed.text)
    key_id = re.search(r'/ui/settings/api-keys/([^/]+)/revoke"[^>]*>\s*<input[^>]*>\s*'
                       r"<p><small>Apps using this key stop working", made.text)  # fmt: skip
    assert key_id is not None
    revoked = web.post(f"/ui/settings/api-keys/{key_id.group(1)}/revoke")
    assert revoked.status_code == 303
    page = text_of(web.get(revoked.headers["location"]).text)
    assert "API key revoked" in page and "Revoked" in page
    missing = web.post("/ui/settings/api-keys/nosuch/revoke")
    assert missing.status_code == 404 and "This API key does not exist" in text_of(missing.text)


def test_users_and_keys_in_a_browser(
    page: Any, system: System, ui_url: str, tenant: Tenant
) -> None:
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.get_by_role("link", name="Users & keys").click()
    page.get_by_role("heading", name="Users & API keys").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_text("Add a user").click()
    page.get_by_label("Email").fill("ola@nordlys.example")
    page.get_by_label("Role").select_option("admin")
    page.get_by_role("button", name="Add user").click()
    page.get_by_role("heading", name="New API key for ola@nordlys.example").wait_for()
    key = page.get_by_role("textbox", name="API key").input_value()
    assert key.startswith("lb_")
    assert page.get_by_role("button", name="Copy").is_visible()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "users")
    page.get_by_role("button", name="Revoke admin key of ola@nordlys.example").click()
    page.get_by_role("button", name="Yes, revoke admin key").click()
    page.get_by_text("API key revoked").wait_for()
    keys = [k for k in tenant.api.get("/api-keys").json() if k["email"] == "ola@nordlys.example"]
    assert keys and all(k["revoked_at"] for k in keys)
