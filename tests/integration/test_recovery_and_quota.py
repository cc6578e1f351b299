"""Exactly-once creates after a lost answer, and the daily call budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from tests.integration.conftest import (
    COMPANY,
    Tenant,
    Uniconta,
    connect,
    import_all,
    new_tenant,
    seed,
)


class LoseFirstInsertAnswer(httpx.BaseTransport):
    """The Insert really reaches the Uniconta sandbox and is applied; only its answer is lost,
    as when a connection drops after the request left. (A lost answer cannot be produced on
    demand by a real network on loopback, so this transport drops it.)"""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.inserts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "/api/Entities/Insert/" in request.url.path:
            self.inserts += 1
            if self.inserts == 1:
                response.read()
                response.close()
                raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


@pytest.fixture
def lossy() -> LoseFirstInsertAnswer:
    return LoseFirstInsertAnswer()


@pytest.fixture
def manual_system(
    settings: Settings, clock: ManualClock, lossy: LoseFirstInsertAnswer
) -> Iterator[System]:
    built = System(settings, clock=clock, transport=lossy)
    yield built
    built.close()


@pytest.fixture
def manual_tenant(manual_system: System, hub_port: int) -> Iterator[Tenant]:
    server = ServerThread(create_app(manual_system), port=hub_port).start()
    created = new_tenant(manual_system, f"{server.url}/api/v1")
    yield created
    server.stop()


def test_create_whose_answer_was_lost_is_found_not_duplicated(
    manual_system: System,
    manual_tenant: Tenant,
    uniconta: Uniconta,
    clock: ManualClock,
    lossy: LoseFirstInsertAnswer,
) -> None:
    seed(uniconta, 3)
    connection = connect(manual_tenant, uniconta)
    import_all(manual_system, manual_tenant, connection["id"])
    created = manual_tenant.api.post(
        "/parties", json={"name": "Kvist ApS", "is_customer": True, "debtor_number": "70001"}
    )
    manual_system.run_until_idle()
    assert lossy.inserts == 1
    assert uniconta.debtor("70001") is not None  # it did arrive
    failed = manual_tenant.api.get(f"/connections/{connection['id']}").json()
    assert "did not answer in time" in failed["last_error"]

    clock.advance(timedelta(minutes=1))  # the retry is due
    manual_system.run_until_idle()
    assert lossy.inserts == 1  # never sent again
    assert [d["Account"] for d in uniconta.sandbox.all(COMPANY, "DebtorClient")].count("70001") == 1
    recovered = manual_tenant.api.get(
        f"/connections/{connection['id']}/sync-log",
        params={"reason": "recovered_after_ambiguous_write"},
    ).json()
    assert [e["record_id"] for e in recovered] == [created.json()["id"]]
    record = manual_tenant.api.get(f"/parties/{created.json()['id']}").json()
    assert record["sync"][0]["remote_id"] == "70001"


def test_spent_quota_postpones_the_import_to_the_next_quota_day(
    manual_system: System, manual_tenant: Tenant, uniconta: Uniconta, clock: ManualClock
) -> None:
    seed(uniconta, 45)
    # Saving the connection checks the user and its companies (2 calls); the import counts
    # the debtors (1 call) and reads two pages before the budget is spent.
    connection = connect(manual_tenant, uniconta, settings={"daily_call_limit": 5, "page_size": 10})
    manual_tenant.api.post(f"/connections/{connection['id']}/import")
    manual_system.run_until_idle()

    status = manual_tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["import_state"] == "running"
    assert status["calls_used_today"] == 5
    assert "quota of 5 calls used up" in status["last_error"]
    assert status["recent_runs"][0]["status"] == "deferred"
    assert len(manual_tenant.api.get("/parties").json()["items"]) == 20
    assert uniconta.calls() == 5  # the ledger stopped us before a sixth call

    clock.set(datetime(2026, 11, 20, 23, 0, 30, tzinfo=UTC))  # 00:00:30 in Copenhagen
    manual_system.run_until_idle()
    status = manual_tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["import_state"] == "done"
    assert status["quota_day"] == "2026-11-21"
    resumed = next(r for r in status["recent_runs"] if r["kind"] == "import")
    assert resumed["status"] == "succeeded"
    assert resumed["calls"] == 4  # a count, then pages 3 to 5 from its cursor
    assert len(manual_tenant.api.get("/parties", params={"limit": 100}).json()["items"]) == 45


def test_raising_the_daily_call_limit_runs_the_held_work_at_once(
    manual_system: System, manual_tenant: Tenant, uniconta: Uniconta
) -> None:
    """The quota error's fix says "or raise the daily call limit": a request meanwhile says
    how long its job waits, and raising the limit runs the held import the same day."""
    seed(uniconta, 45)
    connection = connect(manual_tenant, uniconta, settings={"daily_call_limit": 5, "page_size": 10})
    url = f"/connections/{connection['id']}"
    manual_tenant.api.post(f"{url}/import")
    manual_system.run_until_idle()
    assert manual_tenant.api.get(url).json()["import_state"] == "running"

    asked = manual_tenant.api.post(f"{url}/import")
    assert asked.status_code == 202, asked.text
    raised = manual_tenant.api.patch(url, json={"settings": {"daily_call_limit": 100}})
    assert raised.status_code == 200, raised.text
    manual_system.run_until_idle()
    status = manual_tenant.api.get(url).json()
    assert status["import_state"] == "done"
    assert status["quota_day"] == "2026-11-20"  # the same day: the clock did not move
    assert len(manual_tenant.api.get("/parties", params={"limit": 100}).json()["items"]) == 45


def test_a_push_asked_for_while_the_quota_is_spent_says_when_it_runs(
    manual_system: System, manual_tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 45)
    connection = connect(manual_tenant, uniconta, settings={"daily_call_limit": 5, "page_size": 10})
    url = f"/connections/{connection['id']}"
    manual_tenant.api.post(f"{url}/import")
    manual_system.run_until_idle()
    manual_tenant.api.post(f"{url}/jobs/pull")
    manual_system.run_until_idle()
    asked = manual_tenant.api.post(f"{url}/jobs/pull").json()
    assert asked["status"] == "queued"
    assert len(asked["warnings"]) == 1
    assert "import waits for the next quota day, 2026-11-21T00:00:00+01:00" in asked["warnings"][0]
    assert "quota of 5 calls used up" in asked["warnings"][0]


def test_the_status_warns_once_most_of_the_days_calls_are_made(
    manual_system: System, manual_tenant: Tenant, uniconta: Uniconta
) -> None:
    """ "If syncing stalls unexpectedly, the daily limit may be the cause": the status says so
    before the budget is spent, not only once a run was deferred."""
    seed(uniconta, 3)
    connection = connect(manual_tenant, uniconta, settings={"daily_call_limit": 100})
    url = f"/connections/{connection['id']}"
    status = manual_tenant.api.get(url).json()
    used = status["calls_used_today"]
    assert 0 < used < 90
    assert not any("calls are made" in w for w in status["warnings"])
    lowered = manual_tenant.api.patch(url, json={"settings": {"daily_call_limit": used}})
    assert lowered.status_code == 200, lowered.text
    warnings = manual_tenant.api.get(url).json()["warnings"]
    assert any(
        f"{used} of the day's {used} calls are made" in w and "may stall" in w for w in warnings
    ), warnings
