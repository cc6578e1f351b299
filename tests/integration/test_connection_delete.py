"""Deleting a connection through the API, and checking new credentials before saving them:
what goes with a deleted connection and what stays, and that a check saves nothing."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import Link, SyncLogEntry
from tests.integration.conftest import PASSWORD, Tenant, Uniconta, connect, import_all, seed


def test_deleting_a_connection_keeps_the_hub_records_and_ends_its_queued_jobs(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 4)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    as_member = {"Authorization": f"Bearer {member.json()['api_key']}"}
    assert tenant.api.delete(f"/connections/{cid}", headers=as_member).status_code == 403

    deleted = tenant.api.delete(f"/connections/{cid}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": cid, "name": "Uniconta", "warnings": []}
    assert tenant.api.get(f"/connections/{cid}").status_code == 404
    assert tenant.api.delete(f"/connections/{cid}").status_code == 404
    assert system.scheduler.list(cid) == []
    with system.sessions() as session:
        for table in (Link, SyncLogEntry):
            left = session.scalar(
                sa.select(sa.func.count()).select_from(table).where(table.connection_id == cid)
            )
            assert left == 0, table.__tablename__
    system.run_until_idle()
    jobs = system.queue.list(connection_id=cid)
    assert jobs and all(j.status == "done" for j in jobs)
    parties = tenant.api.get("/parties", params={"limit": 100}).json()["items"]
    assert sorted(p["data"]["debtor_number"] for p in parties) == sorted(accounts)


def test_new_credentials_are_checked_with_the_system_and_nothing_is_saved(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connect(tenant, uniconta)["id"]
    before = tenant.api.get(f"/connections/{cid}").json()
    wrong = tenant.api.post(
        f"/connections/{cid}/credentials/check", json={"secrets": {"password": "nope"}}
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["detail"][0]["loc"][1] == "secrets"
    unknown = tenant.api.post(
        f"/connections/{cid}/credentials/check", json={"secrets": {"pin": "1"}}
    )
    assert unknown.status_code == 422 and "takes no such secret" in unknown.text
    right = tenant.api.post(
        f"/connections/{cid}/credentials/check", json={"secrets": {"password": PASSWORD}}
    )
    assert right.status_code == 200, right.text
    assert right.json()["ok"] is True and right.json()["description"].startswith(
        "Uniconta accepted"
    )
    assert tenant.api.get(f"/connections/{cid}").json()["settings"] == before["settings"]
    assert tenant.api.post(f"/connections/{cid}/test").json()["ok"]
