"""Preview in the UI: next to "Start initial import" and "Send changes now", the answer as a
table (counts per stream, skips with reasons and examples, calls); nothing written; a member
gets no button and a refused request is a page, never a traceback."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    sign_in,
    text_of,
)


def _hub_rows(system: System) -> tuple[int, int]:
    with system.sessions() as session:
        records = session.scalar(sa.select(sa.func.count()).select_from(HubRecord)) or 0
        links = session.scalar(sa.select(sa.func.count()).select_from(Link)) or 0
    return int(records), int(links)


def _prepared(uniconta: Uniconta, tenant: Tenant) -> tuple[str, list[str]]:
    """A connection not imported yet; one of its 40 debtors has an impossible VAT number."""
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=40, seed=6)
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[7], {"VatNumber": "DK11111111"})
    return connect(tenant, uniconta)["id"], accounts


def test_preview_of_the_import_is_a_table_and_writes_nothing(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, accounts = _prepared(uniconta, tenant)
    page = web.get(f"/ui/connections/{cid}/import")
    assert 'name="kind" value="import"' in page.text and "Preview" in text_of(page.text)
    before = _hub_rows(system)
    answer = web.post(f"/ui/connections/{cid}/preview", {"kind": "import"})
    assert answer.status_code == 200, answer.text
    shown = text_of(answer.text)
    assert "Nothing was written" in shown
    assert "create 39, update 0, leave 0 unchanged and skip 1 records" in shown
    assert "invalid_remote_data" in shown and accounts[7] in shown
    assert "This preview made 2 calls" in shown and "The run would make 2," in shown
    assert "Start initial import" in shown
    assert _hub_rows(system) == before

    refused = web.post(f"/ui/connections/{cid}/preview", {"kind": "push"})
    assert refused.status_code == 422 and "initial import" in text_of(refused.text)
    unknown = web.post(f"/ui/connections/{cid}/preview", {"kind": "everything"})
    assert unknown.status_code == 422 and "Traceback" not in unknown.text


def test_preview_of_pending_changes_on_the_overview(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web, ui_url: str
) -> None:
    cid, _ = _prepared(uniconta, tenant)
    import_all(system, tenant, cid)
    created = tenant.api.post(
        "/parties",
        json={"name": "Ny Kunde ApS", "is_customer": True, "debtor_number": "77002",
              "billing_address": {"country": "DK"}},
    )  # fmt: skip
    assert created.status_code == 201
    overview = web.get(f"/ui/connections/{cid}/")
    assert "Preview changes" in text_of(overview.text)
    answer = web.post(f"/ui/connections/{cid}/preview", {"kind": "push"})
    shown = text_of(answer.text)
    assert "create 1, update 0" in shown and created.json()["id"] in shown
    assert "This preview made 0 calls" in shown and "The run would make 1" in shown
    assert "Send changes now" in shown
    assert uniconta.debtor("77002") is None

    tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    member = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    assert "Preview changes" not in text_of(member.get(f"/ui/connections/{cid}/").text)
    assert member.post(f"/ui/connections/{cid}/preview", {"kind": "push"}).status_code == 403


def test_preview_then_import_in_the_browser(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    cid, accounts = _prepared(uniconta, tenant)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/import")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview: initial import")).to_be_visible()
    row = page.get_by_role("row", name="Customers")
    expect(row.get_by_role("cell").first).to_have_text("39")
    skips = page.get_by_role("region", name="Skipped customers")
    expect(skips.get_by_text(accounts[7])).to_be_visible()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "preview-import")

    page.get_by_role("button", name="Start initial import").click()
    expect(page.get_by_text("The initial import has started.")).to_be_visible()
    system.run_until_idle()
    page.reload()
    expect(page.get_by_text("The initial import is done")).to_be_visible()
