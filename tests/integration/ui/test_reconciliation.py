"""The Reconciliation tab: run a report for a month, read both sides and the records that
differ with links to them, download it as CSV; over HTTP and in a real browser."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_invoices, seed_products
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_uniconta_integration import full
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    text_of,
)

MONTH = "2026-10"


def _books(system: System, tenant: Tenant, uniconta: Uniconta) -> tuple[str, int]:
    """A connection whose October has six invoices, one of them changed in Uniconta since."""
    seed_debtors(uniconta.sandbox, COMPANY, count=4, seed=7)
    seed_products(uniconta.sandbox, COMPANY, count=4, seed=7)
    numbers = seed_invoices(
        uniconta.sandbox, COMPANY, count=6, lines=2, seed=7, first_date=date(2026, 10, 2), days=20
    )
    cid = connect(tenant, uniconta, settings=full())["id"]
    import_all(system, tenant, cid)
    uniconta.sandbox.update(COMPANY, "DebtorInvoiceClient", numbers[2], {"Date": "2026-10-28"})
    return cid, numbers[2]


def test_run_read_and_download_a_report(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, changed = _books(system, tenant, uniconta)
    page = web.get(f"/ui/connections/{cid}/reconciliation")
    assert page.status_code == 200
    assert "No report yet" in text_of(page.text)

    refused = web.post(f"/ui/connections/{cid}/reconciliation", {"period": "October"})
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text and "is not a month" in text_of(refused.text)

    started = web.post(f"/ui/connections/{cid}/reconciliation", {"period": MONTH})
    assert started.status_code == 303
    listed = web.get(f"/ui/connections/{cid}/reconciliation")
    assert f"The reconciliation of {MONTH} has started." in text_of(listed.text)
    assert 'hx-trigger="every 2s"' in listed.text  # live while queued
    system.run_until_idle()
    fragment = web.get(f"/ui/connections/{cid}/reconciliation/reports")
    assert "hx-trigger" not in fragment.text and "done" in text_of(fragment.text)

    [report] = tenant.api.get(f"/connections/{cid}/reconciliations").json()
    shown = web.get(f"/ui/connections/{cid}/reconciliation/{report['id']}")
    words = text_of(shown.text)
    assert "Changed in the accounting system only" in words and str(changed) in words
    assert "invoices (count) 6 6 yes" in words
    assert re.search(r'href="/ui/records/[0-9a-f-]{36}"', shown.text)

    download = web.get(f"/ui/connections/{cid}/reconciliation/{report['id']}.csv")
    assert download.status_code == 200, text_of(download.text)[:400]
    assert download.headers["content-type"].startswith("text/csv")
    assert "invoices,changed_remote,changed_in_system" in download.text
    assert web.get(f"/ui/connections/{cid}/reconciliation/unknown").status_code == 404


def test_reconcile_a_month_in_the_browser(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    cid, changed = _books(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}")
    page.get_by_role("link", name="Reconciliation").click()
    expect(page.get_by_role("heading", name="Reconciliation", exact=True)).to_be_visible()
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name=re.compile("Run for")).click()
    expect(page.get_by_text(f"The reconciliation of {MONTH} has started.")).to_be_visible()
    system.run_until_idle()
    expect(page.get_by_role("status").get_by_text("done")).to_be_visible()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "reconciliation-list")
    page.get_by_role("link", name=MONTH).click()
    expect(page.get_by_role("heading", name=f"Reconciliation of {MONTH}")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=str(changed))
    expect(row.get_by_text("Changed in the accounting system only")).to_be_visible()
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "reconciliation-report")
    row.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/ui/records/[0-9a-f-]{36}$"))
