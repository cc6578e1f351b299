"""Tripletex summary tasks and client links: the task settings, the data fields ("Show more",
"New custom field…"), Reload data followed until done, and each client linked to its
Tripletex customer from a searchable list, one link at a time. The Tripletex sandbox on
loopback, a real database and the hub (fixtures shared with ``test_tripletex.py``)."""

from __future__ import annotations

import re
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    activate,
    all_of,
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
    screenshot,
    text_of,
)

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used below


def client_of(tenant: Tenant, tripletex: Tripletex, index: int) -> tuple[dict[str, Any], str]:
    """The hub party of the firm's client company ``index`` and its Tripletex customer id."""
    firm, sandbox = tripletex.firm, tripletex.sandbox
    org = sandbox.shared["Company"][firm.client_ids[index]]["organizationNumber"]
    customer = next(
        c for c in sandbox.all(firm.firm_id, "Customer") if c.get("organizationNumber") == org
    )
    party = next(p for p in all_of(tenant, "/parties") if p["data"]["organisation_number"] == org)
    return party, str(customer["id"])


def imported(system: System, tenant: Tenant, tripletex: Tripletex, **settings: Any) -> str:
    cid: str = connect(tenant, tripletex, **settings)["id"]
    activate(system, tenant, cid)
    return cid


def test_the_summary_page_saves_the_task_and_the_field_map(
    system: System, web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    page = web.get(f"/ui/connections/{cid}/summary")
    assert page.status_code == 200, text_of(page.text)
    shown = text_of(page.text)
    assert "Configure data fields" in shown and "Show more" in shown
    common, _, more = page.text.partition("<summary>Show more")
    assert 'name="field.sale_entries"' in common and 'name="field.sales_amount"' in more
    assert '<option value="Salgsbilag" selected>' in page.text
    saved = web.post(
        f"/ui/connections/{cid}/summary",
        {"title": "Monthly summary", "topic": "Accounting", "import_day": "last_calendar_day",
         "field.sale_entries": "", "field.purchase_entries": "Kjøpsbilag"},
    )  # fmt: skip
    assert saved.status_code == 303
    summary = tenant.api.get(f"/connections/{cid}").json()["settings"]["summary"]
    assert (summary["title"], summary["topic"], summary["import_day"]) == (
        "Monthly summary", "Accounting", "last_calendar_day",
    )  # fmt: skip
    assert summary["fields"].get("sale_entries") is None
    assert summary["fields"]["purchase_entries"] == "Kjøpsbilag"
    day = web.post(f"/ui/connections/{cid}/summary", {"import_day": "15"})
    assert day.status_code == 303
    summary = tenant.api.get(f"/connections/{cid}").json()["settings"]["summary"]
    assert summary["import_day"] == 15
    bad = web.post(f"/ui/connections/{cid}/summary", {"import_day": "31"})
    assert bad.status_code == 422
    assert 'aria-describedby="import-day-help import-day-error" aria-invalid="true"' in bad.text

    asked = web.post(f"/ui/connections/{cid}/summary", {"field.postings": "__new__"})
    assert asked.status_code == 303 and asked.headers["location"].endswith(
        "?new=postings#new-postings"
    )
    form = web.get(asked.headers["location"])
    assert 'name="new_label.postings"' in form.text
    made = web.post(
        f"/ui/connections/{cid}/summary/fields/postings/custom-field",
        {"new_label.postings": "Posteringer"},
    )
    assert made.status_code == 303
    assert "created and mapped" in text_of(web.get(made.headers["location"]).text)
    fields = tenant.api.get(f"/connections/{cid}/data-fields").json()
    assert {f["statistic"]: f["custom_field"] for f in fields["fields"]}[
        "postings"
    ] == "posteringer"


def test_new_custom_field_inline_answers_the_row_with_the_field_selected(
    system: System, web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    base = f"/ui/connections/{cid}/summary/fields/vouchers"
    closed = web.get(f"{base}/new", params={"field.vouchers": ""}, headers={"HX-Request": "true"})
    assert "new_label" not in closed.text
    opened = web.get(f"{base}/new", params={"field.vouchers": "__new__"})
    assert 'name="new_label.vouchers"' in opened.text and "data-focus" in opened.text
    row = web.fragment(f"{base}/custom-field", data={"new_label.vouchers": "Bilag totalt"})
    assert row.status_code == 200, row.text
    assert '<option value="bilag_totalt" selected>Bilag totalt</option>' in row.text
    assert 'id="row-vouchers"' in row.text and "created and mapped" in text_of(row.text)
    again = web.fragment(f"{base}/custom-field", data={"new_label.vouchers": "Bilag totalt"})
    assert again.status_code == 422
    assert 'aria-invalid="true" aria-describedby="new-error-vouchers"' in again.text
    assert web.get(f"/ui/connections/{cid}/summary/fields/coffee/new").status_code == 404


def test_the_client_links_page_links_relinks_and_unlinks(
    system: System, web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    party, customer = client_of(tenant, tripletex, 0)
    other_party, other_customer = client_of(tenant, tripletex, 1)
    page = web.get(f"/ui/connections/{cid}/clients")
    assert page.status_code == 200
    assert party["data"]["name"] in text_of(page.text) and "Not linked" in text_of(page.text)
    found = web.get(f"/ui/connections/{cid}/clients", params={"q": party["data"]["name"]})
    assert other_party["data"]["name"] not in text_of(found.text)

    editor = web.get(f"/ui/connections/{cid}/clients/{party['id']}")
    assert editor.status_code == 200
    group = r'<optgroup label="Suggested: same organisation number">(.*?)</optgroup>'
    suggested = re.search(group, editor.text, re.S)
    assert suggested is not None and f'<option value="{customer}" selected>' in suggested.group(1)
    linked = web.post(f"/ui/connections/{cid}/clients/{party['id']}", {"customer_id": customer})
    assert linked.status_code == 303
    listed = text_of(web.get(linked.headers["location"]).text)
    assert "Client linked" in listed and "Reload data" in listed
    relinked = web.post(
        f"/ui/connections/{cid}/clients/{other_party['id']}", {"customer_id": customer}
    )
    assert relinked.status_code == 422 and "belong to one client" in text_of(relinked.text)
    assert f'<option value="{customer}" selected>' in relinked.text, "the refused pick stays"
    assert f'<option value="{other_customer}" selected>' not in relinked.text
    web.post(f"/ui/connections/{cid}/clients/{other_party['id']}", {"customer_id": other_customer})
    links = tenant.api.get(f"/connections/{cid}").json()["settings"]["client_links"]
    assert links == {party["id"]: customer, other_party["id"]: other_customer}
    unlinked = web.post(f"/ui/connections/{cid}/clients/{party['id']}/unlink")
    assert unlinked.status_code == 303
    links = tenant.api.get(f"/connections/{cid}").json()["settings"]["client_links"]
    assert links == {other_party["id"]: other_customer}


def test_a_linked_client_whose_customer_has_no_client_company_says_why_it_has_no_figures(
    system: System, web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    """A link to a customer the token reaches no company of looks linked, but imports
    nothing: the client links page says so on that client's row, with the reason."""
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    party, customer = client_of(tenant, tripletex, 0)
    orgs = {
        tripletex.sandbox.shared["Company"][company]["organizationNumber"]
        for company in tripletex.firm.client_ids
    }
    stranger = next(
        str(c["id"])
        for c in tripletex.sandbox.all(tripletex.firm.firm_id, "Customer")
        if c.get("organizationNumber") not in orgs
    )
    other_party, _ = client_of(tenant, tripletex, 1)
    for client, linked_to in ((party["id"], customer), (other_party["id"], stranger)):
        saved = tenant.api.put(
            f"/connections/{cid}/client-links/{client}", json={"customer_id": linked_to}
        )
        assert saved.status_code == 200, saved.text
    assert tenant.api.post(f"/connections/{cid}/reload").status_code == 202
    system.run_until_idle()
    rows = re.findall(r"<tr>(.*?)</tr>", web.get(f"/ui/connections/{cid}/clients").text, re.S)
    held = next(text_of(r) for r in rows if other_party["data"]["name"] in text_of(r))
    fine = next(text_of(r) for r in rows if party["data"]["name"] in text_of(r))
    assert "No figures" in held and "login access" in held, held
    assert "No figures" not in fine


def test_summary_tasks_with_show_more_new_custom_field_and_reload_in_a_browser(
    page: Any, system: System, tenant: Tenant, tripletex: Tripletex, ui_url: str
) -> None:
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    party, customer = client_of(tenant, tripletex, 0)
    tenant.api.put(f"/connections/{cid}/client-links/{party['id']}", json={"customer_id": customer})
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.get_by_role("link", name="Tripletex").first.click()
    page.get_by_role("link", name="Summary tasks").click()
    page.get_by_role("heading", name="Configure data fields").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_label("Task title").fill("Månedsoppsummering")
    page.get_by_label("Import data").select_option("last_work_day")
    page.get_by_text("Show more").click()
    page.get_by_label("Sales amount").select_option("__new__")
    name = page.get_by_label("Name of the new custom field")
    name.wait_for()
    name.fill("Omsetning")
    page.get_by_role("button", name="Create field").click()
    page.get_by_text("Custom field “Omsetning” created and mapped.").wait_for()
    assert page.get_by_label("Sales amount").input_value() == "omsetning"
    assert_accessible(page)
    screenshot(page, "summary-tasks")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Summary task settings saved.").wait_for()
    summary = tenant.api.get(f"/connections/{cid}").json()["settings"]["summary"]
    assert summary["title"] == "Månedsoppsummering" and summary["import_day"] == "last_work_day"
    assert summary["fields"]["sales_amount"] == "omsetning"

    page.get_by_text("Reload data…").click()
    page.get_by_role("button", name="Yes, reload data").click()
    page.get_by_text("Reload queued").wait_for()
    system.run_until_idle()  # the worker reloads; the page's status follows it
    page.get_by_text("Reload finished: 12 created").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    assert len(all_of(tenant, "/period-statistics")) == 12


def test_linking_a_client_from_the_dropdown_in_a_browser(
    page: Any, system: System, tenant: Tenant, tripletex: Tripletex, ui_url: str
) -> None:  # fmt: skip
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    party, customer = client_of(tenant, tripletex, 1)
    name = party["data"]["name"]
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/clients")
    page.get_by_role("heading", name="Tripletex").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_role("link", name=f"Link {name}").click()
    page.get_by_role("heading", name=f"Link {name}").wait_for()
    listbox = page.get_by_label("Tripletex customer", exact=True)
    assert listbox.input_value() == customer, "suggested by organisation number"
    page.get_by_label("Search Tripletex customers").fill(name[:5])
    page.get_by_role("option", name=re.compile(re.escape(name))).first.wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    listbox.select_option(customer)
    page.get_by_role("button", name="Link client").click()
    page.get_by_text("Client linked. Use Reload data").wait_for()
    assert (
        page.get_by_role("row", name=re.compile(re.escape(name)))
        .get_by_text("Tripletex")
        .is_visible()
    )
    screenshot(page, "client-links")
    assert tenant.api.get(f"/connections/{cid}").json()["settings"]["client_links"] == {
        party["id"]: customer
    }
