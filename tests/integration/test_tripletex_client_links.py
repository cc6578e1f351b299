"""Client links changed one at a time (``PUT``/``DELETE …/client-links/{party}``), each
checked on both sides, and "Reload data" as one call whose job is followed until done. The
hub API, a real database and the Tripletex sandbox over loopback (fixtures shared with
``test_tripletex.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from ledgerbridge.clock import ManualClock
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


def _summaries(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """The live monthly summaries by client (party id)."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    for summary in all_of(tenant, "/period-statistics"):
        by_client.setdefault(summary["data"]["party_id"], []).append(summary)
    return by_client


def _customers_of(summaries: list[dict[str, Any]]) -> set[str]:
    """The Tripletex customers the summaries came from (their remote id's first part)."""
    return {link["remote_id"].split(":")[0] for s in summaries for link in s["sync"]}


def _changes_after(tenant: Tenant, after: int) -> tuple[list[dict[str, Any]], int]:
    """The change feed after ``after``, every page, and where it ends."""
    items: list[dict[str, Any]] = []
    while True:
        page = tenant.api.get("/changes", params={"after": after, "limit": 1000}).json()
        items.extend(page["items"])
        if not page["items"]:
            return items, after
        after = page["next"]


def _reload(system: System, tenant: Tenant, cid: str, clock: ManualClock) -> None:
    """A reload asked for a minute after anything before (each is one request time)."""
    clock.set(clock.now() + timedelta(minutes=1))
    assert tenant.api.post(f"/connections/{cid}/reload").status_code == 202
    system.run_until_idle()


def test_a_relinked_client_keeps_only_the_new_customers_figures(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """Relinking (one link's PUT, or the whole map's PATCH) drops the old customer's months
    from the hub at once, the app hears of each as deleted, and the reload brings the new
    customer's only; the old customer's months come again, as new records, for the client it
    is linked to next."""
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    (first, first_customer), (second, second_customer) = (
        client_of(tenant, tripletex, 0), client_of(tenant, tripletex, 1),
    )  # fmt: skip
    url = f"/connections/{cid}/client-links"
    tenant.api.put(f"{url}/{first['id']}", json={"customer_id": first_customer})
    _reload(system, tenant, cid, clock)
    old = _summaries(tenant)[first["id"]]
    assert len(old) == 12 and _customers_of(old) == {first_customer}
    _, before = _changes_after(tenant, 0)

    relinked = tenant.api.put(f"{url}/{first['id']}", json={"customer_id": second_customer})
    assert relinked.status_code == 200, relinked.text
    system.run_until_idle()
    assert _summaries(tenant) == {}, "the old customer's months are gone without a reload"
    changes, _ = _changes_after(tenant, before)
    deleted = {c["record_id"] for c in changes if c["operation"] == "deleted"}
    assert deleted == {s["id"] for s in old}, "the app hears of each month dropped"
    log = tenant.api.get(f"/connections/{cid}/sync-log", params={"reason": "relinked"}).json()
    assert len(log) == 12 and f"to {first_customer}," in log[0]["message"]

    _reload(system, tenant, cid, clock)
    new = _summaries(tenant)[first["id"]]
    assert len(new) == 12 and _customers_of(new) == {second_customer}
    assert not {s["id"] for s in new} & {s["id"] for s in old}

    # The map saved with PATCH: the first customer, free now, goes to the second client.
    swapped = {first["id"]: second_customer, second["id"]: first_customer}
    patched = tenant.api.patch(f"/connections/{cid}", json={"settings": {"client_links": swapped}})
    assert patched.status_code == 200, patched.text
    _reload(system, tenant, cid, clock)
    clients = _summaries(tenant)
    assert _customers_of(clients[first["id"]]) == {second_customer}
    assert _customers_of(clients[second["id"]]) == {first_customer}
    assert len(clients[second["id"]]) == 12
    assert not {s["id"] for s in clients[second["id"]]} & {s["id"] for s in old}
