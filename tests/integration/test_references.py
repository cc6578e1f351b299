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
