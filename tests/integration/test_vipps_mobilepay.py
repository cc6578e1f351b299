"""Vipps MobilePay end to end: the Report API sandbox on loopback, a hub on loopback over a
real database, the connection saved and pulled through the API and the real ``System``.
Payouts arrive as hub ``payout`` records once, whatever is read again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer, VippsSandbox, worked_example
from tests.integration.conftest import Tenant, import_all, latest_run

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def acquirer() -> Iterator[tuple[VippsSandbox, ManualClock, str]]:
    clock = ManualClock(START)
    sandbox = VippsSandbox(clock=clock)
    with SandboxServer(sandbox) as server:
        yield sandbox, clock, server.base_url


def connect(tenant: Tenant, url: str) -> dict[str, Any]:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "vipps_mobilepay",
            "name": "Vipps MobilePay",
            "settings": {"base_url": url, "client_id": "vipps-client-1"},
            "secrets": {"client_secret": "vipps-secret-1", "subscription_key": "vipps-sub-key-1"},
        },
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


def pull(system: System, tenant: Tenant, cid: str) -> dict[str, Any]:
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    run = latest_run(tenant, cid, "pull")
    assert run["status"] == "succeeded", run
    return run


def payouts(tenant: Tenant) -> dict[str, dict[str, Any]]:
    page = tenant.api.get("/payouts", params={"limit": 1000}).json()
    found = {record["data"]["source_id"]: record for record in page["items"]}
    assert len(found) == len(page["items"]), "a payout stored twice"
    return found


def test_payouts_arrive_once_and_a_second_read_changes_nothing(
    system: System, tenant: Tenant, acquirer: tuple[VippsSandbox, ManualClock, str]
) -> None:
    sandbox, _clock, url = acquirer
    sandbox.page_limit = 2  # the example's six funds entries come in three pages
    example = worked_example(sandbox)
    connection = connect(tenant, url)
    assert connection["settings"]["ledger_id"] == "302321"
    import_all(system, tenant, connection["id"])
    (payout,) = payouts(tenant).values()
    data = payout["data"]
    assert data["source_id"] == f"302321:{example['payout']['pspReference']}"
    assert data["provider"] == "vipps_mobilepay" and data["status"] == "paid"
    assert data["bank_reference"] == example["payout"]["reference"]
    assert (data["gross"], data["fees"], data["net"]) == ("300", "12", "288")
    assert [(line["order_ref"], line["gross"], line["fee"]) for line in data["lines"]] == [
        ("order-1001", "100", "4"), ("order-1002", "100", "4"), ("order-1003", "200", "4"),
        ("order-1003", "-100", "0"),
    ]  # fmt: skip
    captures = [e for e in sandbox.ledger("302321").entries["funds"] if e["entryType"] == "capture"]
    assert [line["psp_ref"] for line in data["lines"][:3]] == [e["pspReference"] for e in captures]

    run = pull(system, tenant, connection["id"])
    assert not any(key.endswith((".created", ".updated")) for key in run["counts"]), run
    assert payouts(tenant)[data["source_id"]]["version"] == payout["version"]


def test_a_later_payout_comes_with_the_next_pull_after_the_token_expired(
    system: System, tenant: Tenant, acquirer: tuple[VippsSandbox, ManualClock, str]
) -> None:
    sandbox, clock, url = acquirer
    worked_example(sandbox)
    sandbox.capture("302321", "order-2001", 5000, fee=150)
    cid = connect(tenant, url)["id"]
    import_all(system, tenant, cid)
    assert len(payouts(tenant)) == 1
    clock.advance(timedelta(days=1))
    sandbox.expire_tokens()
    sandbox.capture("302321", "order-2002", 7000, fee=170)
    sandbox.schedule_payout("302321")
    issued = sandbox.tokens_issued
    pull(system, tenant, cid)
    assert sandbox.tokens_issued > issued
    found = payouts(tenant)
    assert len(found) == 2
    (later,) = [p["data"] for p in found.values() if p["data"]["net"] != "288"]
    assert [line["order_ref"] for line in later["lines"]] == ["order-2001", "order-2002"]
    assert (later["gross"], later["fees"], later["net"]) == ("120", "3.2", "116.8")
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
