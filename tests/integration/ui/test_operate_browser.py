"""Operating a connection in a real browser: a failed run shown with what to do and where,
Sync now queuing a run that Activity shows (and the live tail), issues retried until they
clear or dismissed by hand, the usage chart with its table, and the records; axe and a 360 px
screen on every page of the area."""

from __future__ import annotations

import re
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta
from tests.integration.ui.conftest import (
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
)
from tests.integration.ui.test_operate import _with_an_issue


def _check(page: Any, name: str | None = None) -> None:
    assert_accessible(page)
    assert_fits_360(page)
    if name:
        screenshot(page, name)


def test_operate_a_connection_in_the_browser(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    cid, accounts = _with_an_issue(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    _check(page, "connections")

    # Sync now: the run is queued, and Activity shows it once it ran.
    page.get_by_role("link", name="Uniconta").first.click()
    page.get_by_role("button", name="Read pull now").click()
    expect(page.get_by_role("status").filter(has_text="queued")).to_be_visible()
    system.run_until_idle()
    page.reload()
    runs = page.get_by_role("region", name="Runs")
    expect(runs.get_by_role("row").filter(has_text="pull").first).to_be_visible()
    _check(page, "activity")
    runs.get_by_role("row").filter(has_text="pull").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Run: pull"))).to_be_visible()
    _check(page)

    # A password changed in Uniconta: the next run fails, the overview says what to do.
    uniconta.sandbox.add_user(COMPANY, USER, "changed-in-uniconta")
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Read pull now").click()
    system.run_until_idle()
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Last error")).to_be_visible()
    expect(page.get_by_text("Uniconta refused the credentials").first).to_be_visible()
    expect(page.get_by_text("What to do:")).to_be_visible()
    fix = page.get_by_role("link", name="Update the credentials")
    assert fix.get_attribute("href") == f"/ui/connections/{cid}/credentials"
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result").get_by_text("Test failed.")).to_be_visible()
    _check(page, "overview")
    fix.click()
    expect(page.get_by_role("link", name="Credentials")).to_have_attribute("aria-current", "page")
    uniconta.sandbox.add_user(COMPANY, USER, PASSWORD)

    # Issues: the reason, its records, a retry that clears the one fixed in Uniconta; the
    # live tail on Activity shows the record syncing.
    page.get_by_role("link", name="Issues").click()
    page.get_by_role("link", name="invalid_remote_data").click()
    expect(page.get_by_role("row").filter(has_text=accounts[1])).to_be_visible()
    expect(page.get_by_role("link", name=f"Open record {accounts[1]}")).to_be_visible()
    _check(page, "issues")
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK13585628"})
    page.get_by_role("button", name=f"Retry {accounts[1]}").click()
    queued = page.get_by_role("status").filter(has_text="Retry of this record queued")
    expect(queued).to_be_visible()
    page.get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Live")).to_be_visible()
    page.wait_for_function("document.querySelector('[sse-connect]')['htmx-internal-data']")
    system.run_until_idle()
    expect(page.locator("#live-log li").filter(has_text=accounts[1]).first).to_be_visible()
    page.get_by_role("link", name="Issues").click()
    expect(page.get_by_text("No open issue")).to_be_visible()

    # Usage: the chart is drawn, and its table lists the days.
    page.get_by_role("link", name="Usage").click()
    expect(page.locator(".chart canvas").first).to_be_attached()
    page.get_by_text("Calls per day as a table").click()
    table = page.get_by_role("table", name="Calls per quota day against the daily limit")
    expect(table.get_by_role("row")).to_have_count(31)
    _check(page, "usage")

    # Records: search, the sync state, the record's page.
    page.get_by_role("link", name="Records").click()
    page.get_by_label("Search parties").fill(accounts[1])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Linked")).to_have_count(1)
    _check(page, "records")
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Fields")).to_be_visible()
    _check(page)


def test_dismiss_an_issue_in_the_browser(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    cid, accounts = _with_an_issue(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/issues")
    row = page.get_by_role("row").filter(has_text=accounts[1])
    expect(row).to_be_visible()

    # Dismiss asks first, saying what it does; the issue leaves the list once confirmed.
    row.get_by_role("button", name=f"Dismiss {accounts[1]}").click()
    expect(row.get_by_text("the activity log keeps it as dismissed")).to_be_visible()
    _check(page, "issues-dismiss")
    row.get_by_role("button", name="Yes, dismiss").click()
    expect(page.get_by_role("status").filter(has_text="Issue dismissed")).to_be_visible()
    expect(page.get_by_text("No open issue")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=accounts[1])).to_have_count(0)

    page.get_by_role("link", name="Activity").click()
    page.get_by_label("Outcome").select_option("dismissed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("dismissed by owner@nordlyshandel.example").first).to_be_visible()


def test_a_long_reason_fits_a_phone(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    """A reason's code is one long word (``refund_waiting_for_invoice``); in the list's heading
    it wraps at 360 px instead of widening the page past the screen."""
    from playwright.sync_api import expect

    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{ui_url}/connections/{cid}/issues?reason=refund_waiting_for_invoice")
    expect(
        page.get_by_role("heading", name="Open issues: refund_waiting_for_invoice")
    ).to_be_visible()
    assert_fits_360(page)


FOCUS_RING = """() => { const s = getComputedStyle(document.activeElement);
  return s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none'; }"""


def test_the_change_url_shows_where_the_keyboard_is(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    """A read-only field (the Change URL, to copy) is reached with Tab like any other, so it
    shows the focus ring as the rest do (Pico leaves read-only fields without one)."""
    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "change-url-value":
            break
    else:
        raise AssertionError("Tab never reaches the Change URL")
    assert page.evaluate(FOCUS_RING), "the focused Change URL shows no focus ring"


def test_a_connection_named_by_its_address_fits_a_phone(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    """A name without spaces (a shop's domain) wraps in the breadcrumb and the heading of
    every tab instead of widening the page past a 360 px screen."""
    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    name = "kaffeklubbenwebshopproduktion.nordlyshandel.example.dk"
    assert tenant.api.patch(f"/connections/{cid}", json={"name": name}).status_code == 200
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    for tab in ("", "issues", "credentials", "delete"):
        page.goto(f"{ui_url}/connections/{cid}/{tab}")
        assert_fits_360(page)


def test_a_button_on_a_connection_deleted_meanwhile_says_so(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    """Test connection (it updates part of the page) on a connection deleted in another tab:
    the refusal is shown, not dropped with nothing happening; a server that does not answer
    at all is said where the answer would have appeared."""
    from playwright.sync_api import expect

    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/")
    page.route("**/test", lambda route: route.abort("connectionrefused"))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result").get_by_role("alert")).to_contain_text(
        "The server did not answer"
    )
    page.unroute("**/test")

    assert tenant.api.delete(f"/connections/{cid}").status_code == 200
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("alert")).to_contain_text("This connection does not exist (any more)")
    expect(page.get_by_role("link", name="Back to the connections")).to_be_visible()
