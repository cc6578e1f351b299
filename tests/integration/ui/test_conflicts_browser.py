"""Conflict rules in a real browser: a rule set on the Conflict rules tab by keyboard and
selects, a debtor's phone changed in Uniconta and in the app, the held conflict shown on the
Issues tab with both values and resolved both ways; axe and a 360 px screen on each page."""

from __future__ import annotations

from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, seed
from tests.integration.ui.conftest import (
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
)


def _check(page: Any, name: str | None = None) -> None:
    assert_accessible(page)
    assert_fits_360(page)
    if name:
        screenshot(page, name)


def test_a_hold_rule_set_in_the_browser_and_its_conflicts_resolved_both_ways(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    accounts = seed(uniconta, 3)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    parties = tenant.api.get("/parties").json()["items"]
    ids = {p["data"]["debtor_number"]: p["id"] for p in parties}

    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}")
    page.get_by_role("link", name="Conflict rules").click()
    expect(page.get_by_role("heading", name="When both sides changed a field")).to_be_visible()
    _check(page, "conflicts-rules")
    page.get_by_label("Records of row 1").select_option("party")
    page.get_by_label("Field of row 1").select_option("phone")
    page.get_by_label("Rule of row 1").select_option("hold")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("Records of row 2").select_option("party")
    page.get_by_label("Field of row 2").select_option("email")
    page.get_by_label("Rule of row 2").select_option("hold")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_role("status").filter(has_text="Saved 2 conflict rules")).to_be_visible()
    assert tenant.api.get(f"/connections/{cid}").json()["settings"]["conflicts"] == {
        "party": {"phone": "hold", "email": "hold"}
    }

    for n, account in enumerate(accounts[:2]):
        phone = f"+45 70 00 00 0{n}"
        uniconta.sandbox.update(COMPANY, "DebtorClient", account, {"Phone": f"+45 33 00 00 0{n}"})
        tenant.api.patch(f"/parties/{ids[account]}", json={"phone": phone})
    system.run_until_idle()

    page.get_by_role("navigation", name="Connection pages").get_by_role(
        "link", name="Issues"
    ).click()
    held = page.get_by_role("region", name="Held conflicts")
    first = held.get_by_role("article").filter(has_text=accounts[0])
    expect(first.get_by_role("row").filter(has_text="+45 33 00 00 00")).to_contain_text(
        "+45 70 00 00 00"
    )
    _check(page, "conflicts-held")
    first.get_by_role("button", name="Keep Uniconta's").click()
    expect(page.get_by_role("status").filter(has_text="Keeping Uniconta's value")).to_be_visible()
    system.run_until_idle()
    second = held.get_by_role("article").filter(has_text=accounts[1])
    second.get_by_role("button", name="Keep the app's").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Keeping the app's value")).to_be_visible()
    system.run_until_idle()
    page.reload()
    expect(page.get_by_role("region", name="Held conflicts")).to_have_count(0)
    _check(page)

    kept_remote = tenant.api.get(f"/parties/{ids[accounts[0]]}").json()["data"]["phone"]
    assert kept_remote == "+45 33 00 00 00"
    debtor = uniconta.debtor(accounts[1])
    assert debtor is not None and debtor["Phone"] == "+45 70 00 00 01"
