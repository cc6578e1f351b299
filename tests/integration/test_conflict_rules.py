"""Conflict rules with Uniconta: a debtor's field changed both in the sandbox and in the hub
between two syncs, decided by each rule, through both paths (a push that finds the remote
change, a callback read before the hub's change is pushed), and a held conflict resolved both
ways, with the calls each costs."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, seed

HUB_PHONE = "+45 70 11 11 11"
REMOTE_PHONE = "+45 70 22 22 22"


def _setup(
    system: System, tenant: Tenant, uniconta: Uniconta, rules: dict[str, Any] | None, **kw: Any
) -> tuple[str, str, str]:
    """A connection with the given rules for parties, 3 imported debtors; returns (connection,
    account, hub record) of the one the tests change."""
    accounts = seed(uniconta, 3)
    settings = {"conflicts": {"party": rules}} if rules else {}
    connection = connect(tenant, uniconta, settings=settings)
    if kw.get("callbacks"):
        uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    import_all(system, tenant, connection["id"])
    parties = tenant.api.get("/parties", params={"limit": 10}).json()["items"]
    party = next(p for p in parties if p["data"]["debtor_number"] == accounts[1])
    return connection["id"], accounts[1], party["id"]


def _both_change(
    tenant: Tenant, uniconta: Uniconta, account: str, record_id: str, *, remote_first: bool
) -> None:
    def remote() -> None:
        uniconta.sandbox.update(COMPANY, "DebtorClient", account, {"Phone": REMOTE_PHONE})
        uniconta.sandbox.wait_for_callbacks()

    def hub() -> None:
        changed = tenant.api.patch(f"/parties/{record_id}", json={"phone": HUB_PHONE})
        assert changed.status_code == 200, changed.text

    first, second = (remote, hub) if remote_first else (hub, remote)
    first()
    second()


def _phones(tenant: Tenant, uniconta: Uniconta, account: str, record_id: str) -> tuple[str, str]:
    debtor = uniconta.debtor(account)
    assert debtor is not None
    return tenant.api.get(f"/parties/{record_id}").json()["data"]["phone"], debtor["Phone"]


def _held(tenant: Tenant, connection_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(
        f"/connections/{connection_id}/issues", params={"reason": "conflict_held"}
    ).json()
    return found


@pytest.mark.parametrize(
    ("rules", "winner"),
    [
        (None, HUB_PHONE),  # today's behaviour: a push sends the hub's change
        ({"phone": "app"}, HUB_PHONE),
        ({"phone": "accounting"}, REMOTE_PHONE),
        ({"*": "accounting"}, REMOTE_PHONE),
        ({"phone": "latest"}, REMOTE_PHONE),  # the push learns of Uniconta's change last
    ],
)
def test_a_push_that_finds_the_field_changed_in_uniconta_follows_the_rule(
    system: System, tenant: Tenant, uniconta: Uniconta, rules: Any, winner: str
) -> None:
    cid, account, record_id = _setup(system, tenant, uniconta, rules)
    _both_change(tenant, uniconta, account, record_id, remote_first=True)
    calls = uniconta.calls()
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (winner, winner)
    # One read; a write only when the hub's value goes out.
    assert uniconta.calls() - calls == (2 if winner == HUB_PHONE else 1)
    assert _held(tenant, cid) == []
    # Settled: a pull finds both sides agreeing and changes nothing.
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (winner, winner)


@pytest.mark.parametrize(
    ("rules", "remote_first", "winner"),
    [
        (None, True, REMOTE_PHONE),  # today: the callback's read takes Uniconta's value ...
        ({"phone": "accounting"}, True, REMOTE_PHONE),
        ({"phone": "app"}, True, HUB_PHONE),
        ({"phone": "latest"}, True, HUB_PHONE),  # the hub changed after the callback came
        ({"phone": "latest"}, False, REMOTE_PHONE),  # the callback came after the hub changed
    ],
)
def test_a_callback_read_before_the_hub_change_is_pushed_follows_the_rule(
    system: System, tenant: Tenant, uniconta: Uniconta, rules: Any, remote_first: bool, winner: str
) -> None:
    cid, account, record_id = _setup(system, tenant, uniconta, rules, callbacks=True)
    _both_change(tenant, uniconta, account, record_id, remote_first=remote_first)
    # The callback's job runs first (it has the higher priority).
    assert sorted(j.kind for j in system.queue.list(statuses=["queued"])) == ["inbox", "push"]
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (winner, winner)
    assert _held(tenant, cid) == []


def _hold(
    system: System, tenant: Tenant, uniconta: Uniconta, *, callbacks: bool
) -> tuple[str, str, str, dict[str, Any]]:
    cid, account, record_id = _setup(
        system, tenant, uniconta, {"phone": "hold"}, callbacks=callbacks
    )
    base = uniconta.debtor(account)
    assert base is not None
    _both_change(tenant, uniconta, account, record_id, remote_first=True)
    tenant.api.patch(f"/parties/{record_id}", json={"website": "https://nordlys.example"})
    system.run_until_idle()
    # Neither side is written for the held field; the other field the hub changed went out.
    assert _phones(tenant, uniconta, account, record_id) == (HUB_PHONE, REMOTE_PHONE)
    debtor = uniconta.debtor(account)
    assert debtor is not None and debtor["Www"] == "https://nordlys.example"
    (issue,) = _held(tenant, cid)
    assert issue["direction"] == "conflict" and issue["record_id"] == record_id
    assert issue["held"] == {
        "phone": {"app": HUB_PHONE, "accounting": REMOTE_PHONE, "base": base["Phone"]}
    }
    # Held stays held: another pull and push change nothing and write nothing.
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (HUB_PHONE, REMOTE_PHONE)
    assert len(_held(tenant, cid)) == 1
    return cid, account, record_id, issue


@pytest.mark.parametrize("callbacks", [False, True])
def test_a_held_conflict_kept_as_in_uniconta_brings_its_value_to_the_hub_at_no_call(
    system: System, tenant: Tenant, uniconta: Uniconta, callbacks: bool
) -> None:
    cid, account, record_id, issue = _hold(system, tenant, uniconta, callbacks=callbacks)
    version = tenant.api.get(f"/parties/{record_id}").json()["version"]
    calls = uniconta.calls()
    resolved = tenant.api.post(
        f"/connections/{cid}/conflicts/{issue['id']}/resolve",
        json={"keep": "accounting", "field": "phone"},
    )
    assert resolved.status_code == 202, resolved.text
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (REMOTE_PHONE, REMOTE_PHONE)
    assert tenant.api.get(f"/parties/{record_id}").json()["version"] == version + 1
    assert uniconta.calls() - calls == 0
    assert _held(tenant, cid) == []
    log = tenant.api.get(
        f"/connections/{cid}/sync-log", params={"reason": "conflict_resolved"}
    ).json()
    assert [e["record_id"] for e in log] == [record_id]


@pytest.mark.parametrize("callbacks", [False, True])
def test_a_held_conflict_kept_as_in_the_app_sends_the_hub_value_in_one_update(
    system: System, tenant: Tenant, uniconta: Uniconta, callbacks: bool
) -> None:
    cid, account, record_id, issue = _hold(system, tenant, uniconta, callbacks=callbacks)
    version = tenant.api.get(f"/parties/{record_id}").json()["version"]
    calls = uniconta.calls()
    resolved = tenant.api.post(
        f"/connections/{cid}/conflicts/{issue['id']}/resolve", json={"keep": "app"}
    )
    assert resolved.status_code == 202, resolved.text
    system.run_until_idle()
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (HUB_PHONE, HUB_PHONE)
    assert _held(tenant, cid) == []
    # One read and one write; its callback (when on) is an echo: one read, no write back.
    assert uniconta.calls() - calls == (3 if callbacks else 2)
    assert tenant.api.get(f"/parties/{record_id}").json()["version"] == version


def test_a_held_conflict_ends_by_itself_when_both_sides_agree(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid, account, record_id, _issue = _hold(system, tenant, uniconta, callbacks=False)
    tenant.api.patch(f"/parties/{record_id}", json={"phone": REMOTE_PHONE})
    system.run_until_idle()
    assert _phones(tenant, uniconta, account, record_id) == (REMOTE_PHONE, REMOTE_PHONE)
    assert _held(tenant, cid) == []


def test_resolving_is_checked_and_a_member_may_not(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid, _account, _record_id, issue = _hold(system, tenant, uniconta, callbacks=False)
    path = f"/connections/{cid}/conflicts/{issue['id']}/resolve"
    assert tenant.api.post(path, json={"keep": "both"}).status_code == 422
    wrong_field = tenant.api.post(path, json={"keep": "app", "field": "name"})
    assert wrong_field.status_code == 422 and "phone" in wrong_field.text
    missing = tenant.api.post(f"/connections/{cid}/conflicts/nope/resolve", json={"keep": "app"})
    assert missing.status_code == 404
    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    refused = tenant.api.post(
        path, json={"keep": "app"}, headers={"Authorization": f"Bearer {member.json()['api_key']}"}
    )
    assert refused.status_code == 403
    # Dismissing would only hold it again at the next sync: refused, pointing to resolve.
    dismissed = tenant.api.post(f"/connections/{cid}/issues/{issue['id']}/dismiss")
    assert dismissed.status_code == 409 and path in dismissed.json()["detail"]
    by_reason = tenant.api.post(
        f"/connections/{cid}/issues/dismiss", json={"reason": "conflict_held"}
    )
    assert by_reason.status_code == 409 and "resolve" in by_reason.json()["detail"]
    assert len(_held(tenant, cid)) == 1


def test_rules_are_validated_against_what_the_system_syncs_both_ways(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    base = {"company_id": COMPANY, "username": "ledgerbridge", "base_url": uniconta.url}
    for conflicts, path in [
        ({"party": {"phone": "newest"}}, "settings.conflicts.party.phone"),
        ({"party": {"colour": "app"}}, "settings.conflicts.party.colour"),
        ({"planet": {"*": "app"}}, "settings.conflicts.planet"),
    ]:
        response = tenant.api.post(
            "/connections",
            json={
                "system": "uniconta",
                "name": "U",
                "settings": {**base, "conflicts": conflicts},
                "secrets": {"password": "x"},
            },
        )
        assert response.status_code == 422, response.text
        assert path in response.text
