"""A person checks an invoice's history in the browser: from Records to the invoice, its
timeline (created by the app's key, posted in Uniconta, re-dated and written again), the run
that posted it; axe and a 360 px screen on the record page."""

from __future__ import annotations

import re
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.ui.conftest import (
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
)
from tests.integration.ui.test_history import Books, books, new_invoice, push

__all__ = ["books"]


def test_an_invoices_history_in_the_browser(
    page: Any, system: System, ui_url: str, tenant: Tenant, books: Books
) -> None:
    from playwright.sync_api import expect

    record_id = new_invoice(tenant, books)
    push(system, tenant, books.cid)
    assert (
        tenant.api.patch(f"/invoices/{record_id}", json={"date": "2026-11-22"}).status_code == 200
    )
    push(system, tenant, books.cid)
    number = tenant.api.get(f"/invoices/{record_id}").json()["data"]["number"]

    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.get_by_role("link", name="Records").click()
    page.get_by_role("link", name="Invoices").click()
    page.get_by_role("link", name=number).click()
    history = page.get_by_role("region", name="History")
    expect(history.get_by_role("heading", name="History")).to_be_visible()
    expect(history.get_by_text("Version 1: Created")).to_be_visible()
    entries = history.get_by_role("listitem")
    expect(entries.filter(has_text=re.compile(r"by\s+API key .* of owner@"))).to_have_count(2)
    changed = history.get_by_role("table", name="Fields changed in version 3")
    row = changed.get_by_role("row", name=re.compile("Date"))
    expect(row.get_by_role("cell").nth(0)).to_have_text("2026-11-20")
    expect(row.get_by_role("cell").nth(1)).to_have_text("2026-11-22")
    expect(entries.filter(has_text=f"remote id {number}")).to_have_count(2)
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "records-history")

    history.get_by_role("link", name="push").first.click()
    expect(page.get_by_role("heading", name=re.compile("Run: push"))).to_be_visible()
