"""A member can look at everything and change nothing: the summary tasks, client links, users
& keys and webhooks pages, and the connection pages, show no change control to a member, and
a change posted anyway is the 403 page — adding a connection too."""

from __future__ import annotations

import re
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    activate,
    clock,
    connect,
    settings,
    system,
    tripletex,
)
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    sign_in,
    text_of,
)
from tests.integration.ui.test_tenant_tripletex import client_of

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used below

MEMBER = "member@nordlyshandel.example"
READING = {"Search"}
"""The only buttons a member may see besides signing out: they change nothing."""


def buttons(html: str) -> set[str]:
    """What each button and button-like control says (a summary styled as one included)."""
    found = re.findall(r"<button\b[^>]*>(.*?)</button>", html, re.S)
    found += re.findall(r'<summary role="button"[^>]*>(.*?)</summary>', html, re.S)
    return {text_of(b) for b in found if not text_of(b).startswith("Sign out")}


def setting_up(system: System, tenant: Tenant, tripletex: Tripletex) -> dict[str, str]:
    """A Tripletex connection with a linked client, a user, a webhook with a delivery: every
    page has something a member could try to change."""
    cid = connect(tenant, tripletex, summary=SUMMARY)["id"]
    activate(system, tenant, cid)
    party, customer = client_of(tenant, tripletex, 0)
    tenant.api.put(f"/connections/{cid}/client-links/{party['id']}", json={"customer_id": customer})
    tenant.api.post("/users", json={"email": MEMBER, "role": "member"})
    hook = tenant.api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()
    delivery = tenant.api.post(f"/webhooks/{hook['id']}/ping").json()
    key = next(k for k in tenant.api.get("/api-keys").json() if k["role"] == "owner")
    return {"cid": cid, "party": party["id"], "customer": customer, "hook": hook["id"],
            "delivery": delivery["id"], "key": key["id"]}  # fmt: skip


def pages(ids: dict[str, str]) -> list[str]:
    cid = ids["cid"]
    return [
        "/ui/", f"/ui/connections/{cid}", f"/ui/connections/{cid}/summary",
        f"/ui/connections/{cid}/clients", "/ui/settings/users", "/ui/settings/webhooks",
        f"/ui/settings/webhooks/{ids['hook']}",
    ]  # fmt: skip


def test_a_member_sees_no_change_control_and_a_change_posted_anyway_is_refused(
    system: System, tenant: Tenant, tripletex: Tripletex, ui_url: str
) -> None:
    ids = setting_up(system, tenant, tripletex)
    member: Web = sign_in(system, ui_url, tenant.tenant_id, MEMBER)
    for path in pages(ids):
        page = member.get(path)
        assert page.status_code == 200, (path, text_of(page.text))
        assert buttons(page.text) <= READING, (path, buttons(page.text))
        assert "hx-post" not in page.text and "New custom field" not in page.text, path
        assert "you can look at everything" in text_of(page.text), path
    summary = member.get(f"/ui/connections/{ids['cid']}/summary").text
    assert "<fieldset disabled>" in summary and "Configure data fields" in summary
    clients = text_of(member.get(f"/ui/connections/{ids['cid']}/clients").text)
    assert f"customer {ids['customer']}" in clients, "the links are shown, read only"

    cid, hook = ids["cid"], ids["hook"]
    changes = [
        (f"/ui/connections/{cid}/summary", {"title": "Mine"}),
        (f"/ui/connections/{cid}/summary/reload", {}),
        (f"/ui/connections/{cid}/summary/fields/postings/custom-field",
         {"new_label.postings": "Mine"}),
        (f"/ui/connections/{cid}/clients/{ids['party']}", {"customer_id": ids["customer"]}),
        (f"/ui/connections/{cid}/clients/{ids['party']}/unlink", {}),
        ("/ui/settings/users", {"email": "x@nordlyshandel.example", "role": "admin"}),
        ("/ui/settings/api-keys", {"name": "mine"}),
        (f"/ui/settings/api-keys/{ids['key']}/revoke", {}),
        ("/ui/settings/webhooks", {"url": "https://evil.example/hook"}),
        (f"/ui/settings/webhooks/{hook}/ping", {}),
        (f"/ui/settings/webhooks/{hook}/deliveries/{ids['delivery']}/redeliver", {}),
        (f"/ui/settings/webhooks/{hook}/delete", {}),
    ]  # fmt: skip
    for path, form in changes:
        refused = member.post(path, form)
        assert refused.status_code == 403, (path, refused.status_code, text_of(refused.text))
        assert "Not allowed" in text_of(refused.text) and "role" in text_of(refused.text), path
    creating = member.post("/ui/connections/new/tripletex", {"name": "Mine"})
    assert creating.status_code == 403 and "Not allowed" in text_of(creating.text)
    assert "needs the owner or admin role" in creating.text
    assert member.get("/ui/connections/new").status_code == 403
    assert member.get(f"/ui/connections/{cid}/clients/{ids['party']}").status_code == 403
    after = tenant.api.get(f"/connections/{cid}").json()["settings"]
    assert after["client_links"] == {ids["party"]: ids["customer"]}
    assert after["summary"]["title"] == SUMMARY["title"]
    assert len(tenant.api.get("/webhooks").json()) == 1
    member.client.close()


def test_a_member_in_a_browser(
    page: Any, system: System, tenant: Tenant, tripletex: Tripletex, ui_url: str
) -> None:
    ids = setting_up(system, tenant, tripletex)
    browser_sign_in(page, system, ui_url, tenant.tenant_id, email=MEMBER)
    page.get_by_role("heading", name="Connections").wait_for()
    for path in pages(ids)[1:]:
        page.goto(ui_url.removesuffix("/ui") + path)
        page.get_by_role("note").wait_for()
        names = {b.inner_text().strip() for b in page.get_by_role("button").all()}
        assert {n for n in names if not n.startswith("Sign out")} <= READING, (path, names)
        assert_accessible(page)
        assert_fits_360(page)
