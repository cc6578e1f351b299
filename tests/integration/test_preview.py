"""A preview answers what a run would do and writes nothing; the run that follows does just that."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.sync import Link, Run, SyncIssue, SyncLogEntry
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_commerce_flow import POLICY, derived, order_body, shop  # noqa: F401


def _written(system: System) -> tuple[int, ...]:
    """Row counts of everything a run writes in the hub."""
    with system.sessions() as session:
        return tuple(
            int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for table in (HubRecord, Change, Link, SyncIssue, SyncLogEntry, Run)
        )


def _last_run(system: System, connection_id: str, kind: str) -> Run:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == connection_id, Run.kind == kind)
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        return run


def _as_counts(preview: dict[str, Any]) -> dict[str, int]:
    """A preview's numbers spelled as a run's counts (``<stream>.<outcome>``)."""
    outcomes = {"create": "created", "update": "updated", "unchanged": "unchanged"}
    counts: dict[str, int] = {}
    for stream, entry in preview["streams"].items():
        for action, outcome in outcomes.items():
            if entry[action]:
                counts[f"{stream}.{outcome}"] = entry[action]
        if entry["skip"]:
            counts[f"{stream}.skipped"] = entry["skip"]
    return counts


def test_preview_of_a_10000_debtor_import_matches_the_import(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    # 20 customers are in the hub already (an earlier connection, since removed): 5 of them
    # have changed in Uniconta since, 15 have not. 3 of the new debtors carry a VAT number
    # that cannot be right.
    known = seed_debtors(uniconta.sandbox, COMPANY, count=20, seed=3)
    earlier = connect(tenant, uniconta)
    import_all(system, tenant, earlier["id"])
    assert tenant.api.delete(f"/connections/{earlier['id']}").status_code in (200, 204)
    fresh = seed_debtors(uniconta.sandbox, COMPANY, count=9980, seed=4)
    for account in known[:5]:
        uniconta.sandbox.update(COMPANY, "DebtorClient", account, {"Name": f"Ny {account} A/S"})
    invalid = fresh[100:103]
    for account in invalid:
        uniconta.sandbox.update(COMPANY, "DebtorClient", account, {"VatNumber": "DK11111111"})
    connection = connect(tenant, uniconta)
    system.run_until_idle()

    written = _written(system)
    before = uniconta.calls()
    answer = tenant.api.post(
        f"/connections/{connection['id']}/preview", json={"kind": "import"}, timeout=300
    )  # 10,000 records decided in one answer: allow for a loaded CI machine
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert _written(system) == written  # nothing in the hub, no link, no issue, no log, no run
    assert uniconta.calls() - before == preview["calls"]["preview"]

    customers = preview["streams"]["customers"]
    assert (customers["create"], customers["update"], customers["unchanged"]) == (9977, 5, 15)
    assert customers["skip"] == 3
    [skip] = customers["skips"]
    assert skip["reason"] == "invalid_remote_data" and skip["count"] == 3
    assert [e["key"] for e in skip["examples"]] == invalid
    assert "vat_number" in skip["examples"][0]["message"]
    assert sorted(customers["examples"]["update"]) == sorted(known[:5])
    assert len(customers["examples"]["create"]) == 5
    assert preview["totals"] == {
        "create": 9977,
        "update": 5,
        "delete": 0,
        "unchanged": 15,
        "skip": 3,
    }
    calls = preview["calls"]
    # One count, ten pages of 1,000 and the empty page that ends the scan; the run reads the
    # same and writes nothing to Uniconta.
    assert calls["preview"] == calls["run"] == 12
    assert calls["days"] == 1 and calls["remaining_today"] == calls["limit"] - calls["used_today"]

    import_all(system, tenant, connection["id"])
    run = _last_run(system, connection["id"], "import")
    assert run.counts == _as_counts(preview)
    assert run.calls == calls["run"]


def test_preview_of_a_push_matches_the_push(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=30, seed=5)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    system.run_until_idle()
    parties = {p["data"]["debtor_number"]: p for p in tenant.api.get("/parties").json()["items"]}
    for account in accounts[:2]:
        party = parties[account]
        changed = tenant.api.patch(f"/parties/{party['id']}", json={"name": f"Omdøbt {account}"})
        assert changed.status_code == 200, changed.text
    created = tenant.api.post(
        "/parties",
        json={"name": "Ny Kunde ApS", "is_customer": True, "debtor_number": "77001",
              "billing_address": {"country": "DK"}},
    )  # fmt: skip
    assert created.status_code == 201, created.text

    written = _written(system)
    before = uniconta.calls()
    preview = tenant.api.post(
        f"/connections/{connection['id']}/preview", json={"kind": "push"}
    ).json()
    assert _written(system) == written
    assert uniconta.calls() == before
    customers = preview["streams"]["customers"]
    assert (customers["create"], customers["update"], customers["skip"]) == (1, 2, 0)
    assert customers["examples"]["create"] == [created.json()["id"]]
    # The updates: one batched read (for the three-way merge) and one batched write; the
    # create: one batched insert.
    assert preview["calls"] == {**preview["calls"], "preview": 0, "run": 3}

    system.run_until_idle()
    run = _last_run(system, connection["id"], "push")
    assert run.counts == _as_counts(preview)
    assert run.calls == preview["calls"]["run"]
    assert uniconta.debtor("77001") is not None


def test_preview_refuses_what_it_cannot_answer(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    path = f"/connections/{connection['id']}/preview"
    assert tenant.api.post(path, json={"kind": "delete"}).status_code == 422
    refused = tenant.api.post(path, json={"kind": "push"})
    assert refused.status_code == 422 and "initial import" in refused.text
    assert tenant.api.post("/connections/nope/preview", json={"kind": "import"}).status_code == 404


def test_preview_of_a_routes_historical_import_matches_the_import(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],  # noqa: F811 (the fixture)
) -> None:
    route = shop["route"]
    policy = {**POLICY, "start_date": "2026-11-01"}
    body = {"source": "app", "target": route["target"], "entities": ["party"],
            "commerce": {"policy": policy, "rules": {}}}  # fmt: skip
    assert tenant.api.put(f"/routes/{route['id']}", json=body).status_code == 200
    for number, day, state in (
        ("4001", "2026-10-05", "processing"),
        ("4002", "2026-10-06", "completed"),
        ("4003", "2026-10-07", "pending"),  # not paid: no invoice yet
        ("4004", "2026-09-01", "processing"),  # outside the range
    ):
        old = order_body(shop["sku"], source_id=number, number=number, state=state,
                         created_at=f"{day}T10:00:00+02:00", paid_at=f"{day}T10:01:00+02:00",
                         customer={"email": f"c{number}@kunde.dk"})  # fmt: skip
        assert tenant.api.post("/orders", json=old).status_code == 201
    system.run_until_idle()

    window = {"from": "2026-10-01", "to": "2026-10-31"}
    written = _written(system)
    calls = uniconta.calls()
    answer = tenant.api.post(f"/routes/{route['id']}/preview", json=window)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert _written(system) == written
    assert derived(system, tenant, route["id"]) == []
    orders = preview["streams"]["orders"]
    assert (orders["create"], orders["update"], orders["unchanged"]) == (2, 0, 0)
    assert orders["skip"] == 1 and orders["skips"][0]["examples"][0]["key"] == "4003"
    assert preview["plan"]["orders"] == 2 and preview["plan"]["vat_codes_checked"] is True
    # The plan reads Uniconta's VAT codes (the hub holds none) unless they are kept already.
    assert preview["calls"] == {"preview": uniconta.calls() - calls, "run": 0}
    assert preview["calls"]["preview"] <= 1

    started = tenant.api.post(
        f"/routes/{route['id']}/historical-import", json={**window, "dry_run": False}
    )
    system.run_until_idle()
    state = tenant.api.get(
        f"/routes/{route['id']}/historical-import/{started.json()['job_id']}"
    ).json()
    assert state["status"] == "done", state
    assert state["counts"] == _as_counts(preview)
