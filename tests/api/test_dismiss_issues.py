"""Dismissing open issues by hand: one issue or every issue of one reason, owner or admin only,
each kept in the sync log as `dismissed`; a record that fails again opens a new issue."""

from __future__ import annotations

from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, seed

INVALID_VAT_NUMBERS = ("DK11111111", "DK22222222")
"""Danish VAT numbers that fail the check digit: Uniconta keeps them, the hub refuses them."""


def _with_issues(system: System, tenant: Tenant, uniconta: Uniconta, count: int) -> str:
    """A Uniconta connection imported, then ``count`` debtors made invalid and read again:
    that many open ``invalid_remote_data`` issues."""
    accounts = seed(uniconta, 3)
    cid: str = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    for account, vat in zip(accounts[:count], INVALID_VAT_NUMBERS, strict=False):
        uniconta.sandbox.update(COMPANY, "DebtorClient", account, {"VatNumber": vat})
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    return cid


def _issues(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(f"/connections/{cid}/issues").json()
    return found


def test_one_issue_dismissed_is_logged_and_a_new_failure_opens_a_new_issue(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = _with_issues(system, tenant, uniconta, 1)
    [issue] = _issues(tenant, cid)
    assert issue["reason"] == "invalid_remote_data"

    dismissed = tenant.api.post(f"/connections/{cid}/issues/{issue['id']}/dismiss")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json() == {"dismissed": 1}
    assert _issues(tenant, cid) == []

    log = tenant.api.get(
        f"/connections/{cid}/sync-log",
        params={"outcome": "dismissed", "reason": "invalid_remote_data"},
    )
    assert log.status_code == 200, log.text
    [entry] = log.json()
    assert entry["outcome"] == "dismissed" and entry["run_id"] is None
    assert (entry["stream"], entry["direction"]) == (issue["stream"], issue["direction"])
    assert (entry["record_id"], entry["remote_id"]) == (issue["record_id"], issue["remote_id"])
    assert "dismissed by owner@nordlyshandel.example" in entry["message"]
    assert issue["message"] in entry["message"]

    again = tenant.api.post(f"/connections/{cid}/issues/{issue['id']}/dismiss")
    assert again.status_code == 404 and issue["id"] in again.json()["detail"]

    # The record changes in Uniconta and is still invalid: it fails again, as a new issue.
    uniconta.sandbox.update(COMPANY, "DebtorClient", issue["key"], {"VatNumber": "DK33333333"})
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    [reopened] = _issues(tenant, cid)
    assert reopened["key"] == issue["key"] and reopened["id"] != issue["id"]
    assert reopened["reason"] == "invalid_remote_data" and reopened["attempts"] == 1


def test_issues_dismissed_by_reason_are_counted_and_the_input_checked(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = _with_issues(system, tenant, uniconta, 2)
    assert len(_issues(tenant, cid)) == 2
    url = f"/connections/{cid}/issues/dismiss"

    # Nothing clears every issue by accident: the reason is required, and must be open.
    for body in ({}, {"reason": ""}, {"reason": "invalid_remote_data", "issue_id": "x"}):
        refused = tenant.api.post(url, json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert "reason" in tenant.api.post(url, json={}).text
    assert tenant.api.post(url).status_code == 422
    typo = tenant.api.post(url, json={"reason": "invalid_data"})
    assert typo.status_code == 422 and "invalid_remote_data (2)" in typo.text
    missing = tenant.api.post(f"/connections/{cid}/issues/nope/dismiss")
    assert missing.status_code == 404 and "issue nope not found" in missing.json()["detail"]
    elsewhere = tenant.api.post("/connections/nope/issues/dismiss", json={"reason": "x"})
    assert elsewhere.status_code == 404

    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    assert member.status_code == 201, member.text
    with httpx.Client(
        base_url=str(tenant.api.base_url),
        headers={"Authorization": f"Bearer {member.json()['api_key']}"},
        timeout=30,
    ) as as_member:
        [first, _second] = _issues(tenant, cid)
        by_reason = as_member.post(url, json={"reason": "invalid_remote_data"})
        one = as_member.post(f"/connections/{cid}/issues/{first['id']}/dismiss")
        assert by_reason.status_code == one.status_code == 403
        assert "owner or admin" in one.json()["detail"]
    assert len(_issues(tenant, cid)) == 2

    dismissed = tenant.api.post(url, json={"reason": "invalid_remote_data"})
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json() == {"dismissed": 2}
    assert _issues(tenant, cid) == []
    log = tenant.api.get(f"/connections/{cid}/sync-log", params={"outcome": "dismissed"}).json()
    assert len(log) == 2 and {e["reason"] for e in log} == {"invalid_remote_data"}
