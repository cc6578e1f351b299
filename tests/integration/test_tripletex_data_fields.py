"""The data-field mapping screen for Tripletex summaries: the figures offered (common ones
first, the rest behind "Show more"), "New custom field" creating and mapping one in a step, and
the summary record carrying the figures under the app's custom fields. Hub API, a real
database and the Tripletex sandbox over loopback (fixtures shared with ``test_tripletex.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    all_of,
    clock,
    connect,
    link_first_client,
    settings,
    system,
    tripletex,
)

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used below


def test_the_mapping_screen_lists_common_figures_first_and_the_rest_behind_show_more(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex, summary=SUMMARY)["id"]
    screen = tenant.api.get(f"/connections/{cid}/data-fields").json()
    common = [f["statistic"] for f in screen["fields"] if f["common"]]
    assert common == ["sale_entries", "purchase_entries", "bank_transactions", "documents"]
    by_name = {f["statistic"]: f for f in screen["fields"]}
    assert by_name["sale_entries"]["custom_field"] == "Salgsbilag"
    assert by_name["postings"]["custom_field"] is None, "blank: not imported"
    assert by_name["sales_amount"] | {"definition": ""} == {
        "statistic": "sales_amount", "label": "Sales amount", "unit": "amount",
        "definition": "", "common": False, "custom_field": None,
    }  # fmt: skip
    assert {"vat_returns", "documents_waiting", "bank_outflow"} <= set(by_name)
    assert screen["custom_fields"] == []


def test_new_custom_field_creates_it_maps_it_and_the_summary_fills_it(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock, hub: str
) -> None:
    cid, _, _ = link_first_client(system, tenant, tripletex, SUMMARY)

    made = tenant.api.post(
        f"/connections/{cid}/data-fields/sales_amount/custom-field", json={"label": "Omsetning"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["custom_field"] | {"id": ""} == {
        "id": "", "key": "omsetning", "label": "Omsetning", "value_type": "amount",
        "applies_to": "summary_task",
    }  # fmt: skip
    assert made.json()["fields"]["sales_amount"] == "omsetning"
    [listed] = all_of(tenant, "/custom-fields")
    assert listed["data"]["key"] == "omsetning"
    changes = tenant.api.get("/changes", params={"limit": 1000}).json()["items"]
    assert any(c["entity"] == "custom_field" for c in changes), "the app hears of the new field"
    screen = tenant.api.get(f"/connections/{cid}/data-fields").json()
    assert {f["statistic"]: f["custom_field"] for f in screen["fields"]}["sales_amount"] == (
        "omsetning"
    )
    assert [c["key"] for c in screen["custom_fields"]] == ["omsetning"]

    clock.set(datetime(2026, 12, 3, 5, 30, tzinfo=UTC))  # the import day (the 3rd), 06:30 Oslo
    system.run_until_idle()
    [summary] = [s["data"] for s in all_of(tenant, "/period-statistics")]
    assert (summary["title"], summary["topic"]) == (SUMMARY["title"], SUMMARY["topic"])
    assert set(summary["fields"]) == {
        "Salgsbilag", "Kjøpsbilag", "Banktransaksjoner", "Dokumenter", "omsetning",
    }  # fmt: skip
    assert Decimal(summary["fields"]["omsetning"]) == Decimal(summary["metrics"]["sales_amount"])
    assert summary["fields"]["Salgsbilag"] == summary["metrics"]["sale_entries"]


def test_the_mapping_screen_refuses_what_it_cannot_do(
    tenant: Tenant, tripletex: Tripletex, hub: str
) -> None:
    cid = connect(tenant, tripletex, summary=SUMMARY)["id"]
    url = f"/connections/{cid}/data-fields"
    unknown = tenant.api.post(f"{url}/coffee/custom-field", json={"label": "Kaffe"})
    assert unknown.status_code == 404 and "sale_entries" in unknown.text
    blank = tenant.api.post(f"{url}/postings/custom-field", json={"label": " - "})
    assert blank.status_code == 422 and "label" in blank.text
    assert tenant.api.post(f"{url}/postings/custom-field", json={"label": "Posts"}).is_success
    again = tenant.api.post(f"{url}/vouchers/custom-field", json={"label": "Posts"})
    assert again.status_code == 409 and "key" in again.text
    shared = {"summary": {**SUMMARY, "fields": {"vouchers": "Salgsbilag", **SUMMARY["fields"]}}}
    refused = tenant.api.patch(f"/connections/{cid}", json={"settings": shared})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "settings", "summary", "fields"]
    assert "more than one statistic" in refused.text

    added = tenant.api.post("/users", json={"email": "member@firm.example", "role": "member"})
    with httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    ) as member:
        assert member.get(url).status_code == 200
        assert member.post(f"{url}/documents/custom-field", json={"label": "D"}).status_code == (
            403
        )
