"""The hub API refuses a record whose reference, as the model declares it, names no live record
of the tenant: period statistics too, whose party was never checked before."""

from __future__ import annotations

import httpx

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant


def refused(response: httpx.Response) -> tuple[int, list[str]]:
    """The status and where the first error is."""
    return response.status_code, response.json()["detail"][0]["loc"]


def test_the_api_refuses_a_reference_to_no_live_record(system: System, tenant: Tenant) -> None:
    party = tenant.api.post("/parties", json={"kind": "organisation", "name": "Fjord AS"})
    assert party.status_code == 201, party.text
    missing = "no-such-record"
    contact = tenant.api.post("/contact-persons", json={"party_id": missing, "name": "Kari"})
    assert refused(contact) == (422, ["body", "party_id"])
    statistics = {"party_id": missing, "period_start": "2026-10-01", "period_end": "2026-10-31"}
    assert refused(tenant.api.post("/period-statistics", json=statistics)) == (
        422,
        ["body", "party_id"],
    )
    statistics["party_id"] = party.json()["id"]
    assert tenant.api.post("/period-statistics", json=statistics).status_code == 201


def test_a_list_keeps_the_records_of_the_reference_it_is_given(
    system: System, tenant: Tenant
) -> None:
    """``GET /period-statistics?party_id=`` reads one customer's figures (it read everyone's)."""
    ids = [
        tenant.api.post("/parties", json={"kind": "organisation", "name": name}).json()["id"]
        for name in ("Fjord AS", "Vik AS")
    ]
    for party_id in ids:
        for month in ("10", "11"):
            figures = {
                "party_id": party_id,
                "period_start": f"2026-{month}-01",
                "period_end": f"2026-{month}-28",
            }
            assert tenant.api.post("/period-statistics", json=figures).status_code == 201
    contact = tenant.api.post("/contact-persons", json={"party_id": ids[1], "name": "Kari"})
    assert contact.status_code == 201

    found = tenant.api.get("/period-statistics", params={"party_id": ids[0]}).json()["items"]
    assert [f["data"]["party_id"] for f in found] == [ids[0], ids[0]]
    assert len(tenant.api.get("/period-statistics").json()["items"]) == 4
    persons = tenant.api.get("/contact-persons", params={"party_id": ids[0]}).json()["items"]
    assert persons == []
    persons = tenant.api.get("/contact-persons", params={"party_id": ids[1]}).json()["items"]
    assert [p["id"] for p in persons] == [contact.json()["id"]]
    assert tenant.api.get("/period-statistics", params={"party_id": "x" * 201}).status_code == 422
