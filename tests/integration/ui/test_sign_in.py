"""Signing in: a one-time link or an API key opens a session whose cookie holds no key;
forms without the session's CSRF token, or from another site, are refused."""

from __future__ import annotations

from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from ledgerbridge.ui.web import SESSION_COOKIE
from tests.integration.conftest import Tenant, Uniconta, connect
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    text_of,
)


def test_a_page_without_a_session_leads_to_the_sign_in_page(ui_url: str) -> None:
    with httpx.Client(base_url=ui_url) as client:
        response = client.get("/?state=error")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=/ui/%3Fstate%3Derror"
        page = client.get("/login")
        assert page.status_code == 200
        assert "API key" in page.text


def test_a_form_sent_after_the_session_ended_leads_back_to_its_page(
    ui_url: str, tenant: Tenant
) -> None:
    """The form's own address only takes a form: after signing in again the person is back
    on the page the form was on, not on a refusal of the address."""
    origin = ui_url.removesuffix("/ui")
    with httpx.Client(base_url=ui_url, headers={"Origin": origin}) as client:
        sent = client.post(
            "/settings/api-keys",
            data={"name": "Kasse 2"},
            headers={"Referer": f"{ui_url}/settings/users"},
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == "/ui/login?next=/ui/settings/users"
        again = client.post(
            "/login", data={"api_key": tenant.api_key, "next": "/ui/settings/users"}
        )
        assert again.headers["location"] == "/ui/settings/users"
        page = client.get("/settings/users")
        assert page.status_code == 200 and "Create a key" in text_of(page.text)
        elsewhere = httpx.post(
            f"{ui_url}/settings/api-keys",
            data={"name": "Kasse 2"},
            headers={"Origin": origin, "Referer": "https://example.com/ui/x"},
        )
        assert elsewhere.headers["location"] == "/ui/login?next=/ui/"
        unknown = httpx.post(f"{ui_url}/settings/api-keys", data={"name": "Kasse 2"})
        assert unknown.headers["location"] == "/ui/login?next=/ui/"


def test_an_api_key_signs_in_and_the_cookie_holds_only_a_session_id(
    ui_url: str, tenant: Tenant
) -> None:
    with httpx.Client(base_url=ui_url) as client:
        refused = client.post("/login", data={"api_key": "lb_not-a-key"})
        assert refused.status_code == 422
        assert "unknown or revoked" in refused.text
        empty = client.post("/login", data={"api_key": " "})
        assert empty.status_code == 422
        assert "paste an API key" in text_of(empty.text)
        pasted = client.post("/login", data={"api_key": "secret-uniconta-password"})
        assert pasted.status_code == 422
        assert "not a ledgerbridge API key: those start with lb_" in text_of(pasted.text)
        response = client.post("/login", data={"api_key": tenant.api_key, "next": "/ui/"})
        assert response.status_code == 303
        cookie = client.cookies[SESSION_COOKIE]
        assert tenant.api_key not in cookie and tenant.api_key[3:] not in cookie
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        home = client.get("/")
        assert home.status_code == 200
        assert "No connection yet" in text_of(home.text)


def test_a_sign_in_link_works_once(system: System, ui_url: str, tenant: Tenant) -> None:
    token = system.sign_in.login_link(tenant.tenant_id)
    with httpx.Client(base_url=ui_url) as first, httpx.Client(base_url=ui_url) as second:
        assert first.get(f"/login/{token}").status_code == 303
        again = second.get(f"/login/{token}")
        assert again.status_code == 422
        assert "unknown, used or expired" in again.text


def test_a_sign_in_link_never_leads_to_another_site(
    system: System, ui_url: str, tenant: Tenant
) -> None:
    token = system.sign_in.login_link(tenant.tenant_id)
    with httpx.Client(base_url=ui_url) as client:
        response = client.get(f"/login/{token}", params={"next": "//evil.example/"})
        assert response.headers["location"] == "/ui/"


def test_a_form_without_the_csrf_token_or_from_another_site_is_refused(web: Web) -> None:
    missing = web.client.post("/ui/logout", data={})
    assert missing.status_code == 403
    assert "expired" in missing.text
    foreign = web.client.post(
        "/ui/logout", data={"csrf_token": web.csrf}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert web.get("/ui/").status_code == 200, "a refused sign-out leaves the session open"
    assert web.post("/ui/logout").status_code == 303
    assert web.get("/ui/").status_code == 303


def test_revoking_the_key_ends_the_session_opened_with_it(
    system: System, ui_url: str, tenant: Tenant
) -> None:
    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    assert member.status_code == 201, member.text
    with httpx.Client(base_url=ui_url) as client:
        client.post("/login", data={"api_key": member.json()["api_key"]})
        assert client.get("/").status_code == 200
        revoked = tenant.api.delete(f"/api-keys/{member.json()['key_id']}")
        assert revoked.status_code == 204
        assert client.get("/").status_code == 303


def test_pages_carry_a_strict_content_security_policy(web: Web) -> None:
    csp = web.get("/ui/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_signing_in_in_a_browser(page: object, system: System, ui_url: str, tenant: Tenant) -> None:
    page.goto(f"{ui_url}/")  # type: ignore[attr-defined]
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_label("API key").fill(tenant.api_key)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Connections").wait_for()  # type: ignore[attr-defined]
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Sign in").wait_for()  # type: ignore[attr-defined]
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.get_by_role("heading", name="Connections").wait_for()  # type: ignore[attr-defined]


def test_back_after_signing_out_shows_no_page_of_the_session(
    page: Any, system: System, ui_url: str, tenant: Tenant
) -> None:
    """On a shared computer the next person presses Back after Sign out: the browser asks the
    server again (pages are not stored), which answers with the sign-in page."""
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/settings/users")
    page.get_by_role("heading", name="Users & API keys").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.go_back()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert "/ui/login?next=/ui/settings/users" in page.url
    assert page.get_by_role("heading", name="Users & API keys").count() == 0
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_a_page_asks_the_server_for_nothing_it_lacks(
    page: Any, system: System, ui_url: str, tenant: Tenant
) -> None:
    """Every request a page makes is answered: no browser console fills with a 404 for the
    site's icon on each page a person opens."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{ui_url}/login")
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.get_by_role("heading", name="Connections").wait_for()
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200
    assert failed == []


def test_an_address_that_takes_only_a_form_leads_to_the_page_above_it(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A page shown in answer to a form (a preview, a refusal, a set-up step) keeps the form's
    address: opening that address again, from the address bar, a bookmark or after signing
    in, leads to the nearest page above it instead of a refusal of the method."""
    cid = connect(tenant, uniconta)["id"]
    expected = {
        f"/ui/connections/{cid}/name": f"/ui/connections/{cid}/",
        f"/ui/connections/{cid}/preview": f"/ui/connections/{cid}/",
        f"/ui/connections/{cid}/jobs/push": f"/ui/connections/{cid}/",
        f"/ui/connections/{cid}/mail/test": f"/ui/connections/{cid}/mail",
        "/ui/connections/new/uniconta/login": "/ui/connections/new/uniconta",
    }
    for address, page in expected.items():
        opened = web.client.get(address, follow_redirects=False)
        assert (opened.status_code, opened.headers.get("location")) == (303, page), address
        assert web.get(page).status_code == 200, page
    assert web.post(f"/ui/connections/{cid}/name", {"name": ""}).status_code == 422
    assert web.client.delete(f"/ui/connections/{cid}/name").status_code == 405


def test_an_address_with_no_page_answers_with_a_page_that_leads_home(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A mistyped or outdated address under /ui is a page saying so with the way back, not
    a bare JSON answer; the UI's own files are still served."""
    cid = connect(tenant, uniconta)["id"]
    for address in ("/ui/nosuch", f"/ui/connections/{cid}/nosuch", f"/ui/connections/{cid}/a/b"):
        missing = web.get(address)
        assert missing.status_code == 404, address
        assert missing.headers["content-type"].startswith("text/html"), address
        assert "There is no page at this address" in text_of(missing.text)
        assert 'href="/ui/"' in missing.text
    assert web.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert web.client.get("/api/v1/nosuch").headers["content-type"] == "application/json"
