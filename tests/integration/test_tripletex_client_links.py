"""Client links changed one at a time (``PUT``/``DELETE …/client-links/{party}``), each
checked on both sides, and "Reload data" as one call whose job is followed until done. The
hub API, a real database and the Tripletex sandbox over loopback (fixtures shared with
``test_tripletex.py``)."""

from __future__ import annotations

import httpx

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    all_of,
    clock,
    settings,
    system,
    tripletex,
)
from tests.integration.ui.test_tenant_tripletex import client_of, imported

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used below


def test_links_change_one_at_a_time_and_are_checked_on_both_sides(
    system: System, tenant: Tenant, tripletex: Tripletex, hub: str
) -> None:
    cid = imported(system, tenant, tripletex)
    (first, first_customer), (second, second_customer) = (
        client_of(tenant, tripletex, 0), client_of(tenant, tripletex, 1),
    )  # fmt: skip
    url = f"/connections/{cid}/client-links"
    linked = tenant.api.put(f"{url}/{first['id']}", json={"customer_id": first_customer})
    assert linked.status_code == 200, linked.text
    both = tenant.api.put(f"{url}/{second['id']}", json={"customer_id": second_customer}).json()
    assert both["client_links"] == {first["id"]: first_customer, second["id"]: second_customer}
    stored = tenant.api.get(f"/connections/{cid}").json()["settings"]["client_links"]
    assert stored == both["client_links"], "the second link kept the first"

    shared = tenant.api.put(f"{url}/{second['id']}", json={"customer_id": first_customer})
    assert shared.status_code == 422 and "belong to one client" in shared.text
    unknown = tenant.api.put(f"{url}/{first['id']}", json={"customer_id": "999999"})
    assert unknown.status_code == 422 and "999999" in unknown.text
    no_party = tenant.api.put(f"{url}/no-such-party", json={"customer_id": first_customer})
    assert no_party.status_code == 422 and "no-such-party" in no_party.text

    left = tenant.api.delete(f"{url}/{second['id']}").json()["client_links"]
    assert left == {first["id"]: first_customer}
    assert tenant.api.delete(f"{url}/{second['id']}").status_code == 404
    member = tenant.api.post("/users", json={"email": "m@firm.example", "role": "member"})
    with httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {member.json()['api_key']}"}
    ) as as_member:
        refused = as_member.put(f"{url}/{second['id']}", json={"customer_id": second_customer})
        assert refused.status_code == 403


def test_reload_is_one_call_whose_job_is_followed_until_done(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = imported(system, tenant, tripletex, summary={**SUMMARY, "fields": {}})
    unmapped = tenant.api.post(f"/connections/{cid}/reload")
    assert unmapped.status_code == 422 and "map at least one data field" in unmapped.text
    tenant.api.patch(f"/connections/{cid}", json={"settings": {"summary": SUMMARY}})
    unlinked = tenant.api.post(f"/connections/{cid}/reload")
    assert unlinked.status_code == 422 and "link at least one client" in unlinked.text
    party, customer = client_of(tenant, tripletex, 0)
    tenant.api.put(f"/connections/{cid}/client-links/{party['id']}", json={"customer_id": customer})

    queued = tenant.api.post(f"/connections/{cid}/reload")
    assert queued.status_code == 202, queued.text
    job = queued.json()["job_id"]
    waiting = tenant.api.get(f"/connections/{cid}/reload/{job}").json()
    assert (waiting["status"], waiting["finished"], waiting["run"]) == ("queued", False, None)
    system.run_until_idle()
    done = tenant.api.get(f"/connections/{cid}/reload/{job}").json()
    assert done["finished"] and done["status"] == "done", done
    assert done["run"]["status"] == "succeeded"
    assert done["run"]["counts"]["period_statistics.created"] == 12
    assert len(all_of(tenant, "/period-statistics")) == 12
    assert tenant.api.get(f"/connections/{cid}/reload/nosuch").status_code == 404
