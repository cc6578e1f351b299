"""The quota ledger counts what the vendor counts: one budget per real credential, however each
connection spells its address, across connections and tenants; calls counted before the keys
were normalised keep counting; and a throttled system's "come back later" is honoured without
failing the run's records or using up the job's attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.kit import http as http_kit
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.faults import FaultPlan
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, create_booking_app, seed_debtors
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from ledgerbridge.settings import Settings
from ledgerbridge.store.db import alembic_config
from ledgerbridge.store.tables.sync import QuotaUsage
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    new_tenant,
)

LIMIT = 60
QUOTA_ZONE = "Europe/Copenhagen"


@pytest.fixture
def clock() -> ManualClock:
    """Now, held still: on PostgreSQL the job queue schedules by the database's clock, so a
    job postponed to the next quota day must be in the real future."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def served() -> Iterator[SandboxServer]:
    """The Uniconta sandbox behind its fault injection (off until a test sets a plan)."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    server = SandboxServer(sandbox)
    server.start()
    yield server
    server.stop()
    sandbox.close()


@pytest.fixture
def uniconta(served: SandboxServer) -> Iterator[Uniconta]:
    booking = ServerThread(create_booking_app(served.sandbox)).start()
    yield Uniconta(served.sandbox, served.base_url, booking.url)
    booking.stop()


@pytest.fixture
def timed(settings: Settings, clock: ManualClock) -> Iterator[System]:
    built = System(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def hub_url(timed: System, hub_port: int) -> Iterator[str]:
    server = ServerThread(create_app(timed), port=hub_port).start()
    yield f"{server.url}/api/v1"
    server.stop()


@pytest.fixture
def first(timed: System, hub_url: str) -> Iterator[Tenant]:
    created = new_tenant(timed, hub_url, "Nordlys Handel")
    yield created
    created.api.close()


@pytest.fixture
def second(timed: System, hub_url: str) -> Iterator[Tenant]:
    created = new_tenant(timed, hub_url, "Fjord Kaffe")
    yield created
    created.api.close()


def throttled(served: SandboxServer) -> int:
    """429s the sandbox has answered."""
    assert served.faults is not None
    return int(served.faults.counters()["injected"]["429"])


def status(tenant: Tenant, connection_id: str) -> dict[str, object]:
    body: dict[str, object] = tenant.api.get(f"/connections/{connection_id}").json()
    return body


def test_one_user_behind_two_spellings_and_two_tenants_has_one_budget(
    timed: System, first: Tenant, second: Tenant, uniconta: Uniconta
) -> None:
    """The measured bug: two connections of one Uniconta user, one with a trailing slash in
    its base URL, each counted a budget of its own (86 calls against a limit of 60)."""
    seed_debtors(uniconta.sandbox, COMPANY, count=40, seed=3)
    plain = connect(first, uniconta, settings={"daily_call_limit": LIMIT, "page_size": 1})
    other_spelling = uniconta.url.replace("http://", "HTTP://") + "/"
    slashed = connect(second, uniconta, settings={
        "daily_call_limit": LIMIT, "page_size": 1, "base_url": other_spelling})  # fmt: skip
    assert first.api.post(f"/connections/{plain['id']}/import").status_code == 202
    assert second.api.post(f"/connections/{slashed['id']}/import").status_code == 202
    timed.run_until_idle()

    assert uniconta.calls() == LIMIT  # not one call more than the user's budget
    for tenant, connection in ((first, plain), (second, slashed)):
        assert status(tenant, connection["id"])["calls_used_today"] == LIMIT
    deferred = [
        run
        for tenant, connection in ((first, plain), (second, slashed))
        for run in status(tenant, connection["id"])["recent_runs"]  # type: ignore[attr-defined]
        if run["status"] == "deferred"
    ]
    assert deferred and all(f"quota of {LIMIT} calls used up" in r["message"] for r in deferred)


def test_calls_counted_under_the_old_keys_keep_counting_after_the_upgrade(
    timed: System, first: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(first, uniconta)
    key = SYSTEMS["uniconta"].credential_key({"base_url": uniconta.url, "username": USER})
    day = timed.ledger.day(QUOTA_ZONE)
    # As the previous release stored them: the settings as typed, one budget per spelling.
    old_keys = (f"uniconta:{uniconta.url}:{USER}", f"uniconta:{uniconta.url}/:{USER}")
    with timed.sessions.begin() as session:
        session.execute(sa.delete(QuotaUsage))
        row = session.get(Connection, connection["id"])
        assert row is not None and row.credential_key == key
        row.credential_key = old_keys[0]
        for old, used in zip(old_keys, (30, 12), strict=True):
            session.add(QuotaUsage(credential_key=old, day=day, used=used, limit=5000))
        session.add(QuotaUsage(credential_key=old_keys[0], day="2020-01-01", used=7, limit=5000))
    # The second spelling belonged to a connection since removed: its key is re-read from
    # the one left, so only the first spelling's calls are moved.
    with timed.db.connect() as db:
        command.downgrade(alembic_config(db), "0004")
        command.upgrade(alembic_config(db), "head")
        db.commit()

    with timed.sessions() as session:
        row = session.get(Connection, connection["id"])
        assert row is not None and row.credential_key == key
        counted = {
            (u.credential_key, u.day): u.used for u in session.scalars(sa.select(QuotaUsage))
        }
    assert counted == {(key, day): 30, (key, "2020-01-01"): 7, (old_keys[1], day): 12}
    assert status(first, connection["id"])["calls_used_today"] == 30


def test_two_old_spellings_of_one_user_are_added_up(
    timed: System, first: Tenant, second: Tenant, uniconta: Uniconta
) -> None:
    one = connect(first, uniconta)
    two = connect(second, uniconta, settings={"base_url": uniconta.url + "/"})
    key = SYSTEMS["uniconta"].credential_key({"base_url": uniconta.url, "username": USER})
    day = timed.ledger.day(QUOTA_ZONE)
    old_keys = {one["id"]: f"uniconta:{uniconta.url}:{USER}",
                two["id"]: f"uniconta:{uniconta.url}/:{USER}"}  # fmt: skip
    with timed.sessions.begin() as session:
        session.execute(sa.delete(QuotaUsage))
        for connection_id, old in old_keys.items():
            row = session.get(Connection, connection_id)
            assert row is not None
            row.credential_key = old
            session.add(QuotaUsage(credential_key=old, day=day, used=40, limit=5000))
    with timed.db.connect() as db:
        command.downgrade(alembic_config(db), "0004")
        command.upgrade(alembic_config(db), "head")
        db.commit()
    with timed.sessions() as session:
        counted = {u.credential_key: u.used for u in session.scalars(sa.select(QuotaUsage))}
    assert counted == {key: 80}
    assert status(second, two["id"])["calls_used_today"] == 80


@pytest.mark.parametrize(
    ("system", "settings_a", "settings_b", "same"),
    [
        ("uniconta", {"base_url": "https://odata.uniconta.com/", "username": "Bob"},
         {"username": "bob "}, True),
        ("uniconta", {"username": "bob"}, {"username": "alice"}, False),
        ("yuki", {"domain_id": "D-1", "administration_id": "A-1"},
         {"domain_id": "d-1", "administration_id": "A-2", "base_url": "https://api.yukiworks.nl"},
         True),
        ("yuki", {"domain_id": "D-1"}, {"domain_id": "D-2"}, False),
        ("qonto", {}, {"base_url": "https://thirdparty.qonto.com:443/"}, True),
        ("tripletex", {"environment": "production", "tripletex_employee_id": 7},
         {"environment": "production", "tripletex_employee_id": "7"}, True),
        ("tripletex", {"environment": "production", "tripletex_employee_id": 7},
         {"environment": "test", "tripletex_employee_id": 7}, False),
    ],
)  # fmt: skip
def test_each_system_counts_what_its_vendor_counts(
    system: str, settings_a: dict[str, object], settings_b: dict[str, object], same: bool
) -> None:
    spec = SYSTEMS[system]
    assert (spec.credential_key(settings_a) == spec.credential_key(settings_b)) is same


def test_a_throttled_import_waits_as_asked_without_failing_or_using_attempts(
    system: System,
    tenant: Tenant,
    served: SandboxServer,
    uniconta: Uniconta,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Uniconta's gateway answers 429 with a Retry-After longer than a call waits in place:
    the run stops, the job comes back after the asked delay, again and again (more times than
    a job has attempts), and the import finishes once the throttling ends, with no issue.

    The longest wait in place is lowered to nothing so that a one-second Retry-After already
    goes up to the job (the real threshold, 30 s, would make the test wait for minutes)."""
    monkeypatch.setattr(http_kit, "LONGEST_WAIT_IN_PLACE", 0.0)
    seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=3)
    connection = connect(tenant, uniconta)
    assert served.faults is not None
    served.faults.configure(FaultPlan.from_mapping(
        {"rate": 1.0, "kinds": ["429"], "retry_after": 1, "path": "DebtorClient"}))  # fmt: skip
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    rounds = 7  # more than the 5 attempts a job has
    for round_ in range(rounds):
        # Each run stops at its first refused call; the job is not run again until the
        # asked second has passed, however often the worker looks.
        deadline = time.monotonic() + 10
        while throttled(served) == round_ and time.monotonic() < deadline:
            system.run_until_idle()
            time.sleep(0.1)
        assert throttled(served) == round_ + 1
        state = status(tenant, connection["id"])
        assert state["import_state"] == "running"
        assert "rate limiting" in str(state["last_error"])
    runs = status(tenant, connection["id"])["recent_runs"]
    assert {r["status"] for r in runs} == {"deferred"}  # type: ignore[attr-defined]
    assert throttled(served) == rounds

    served.faults.configure(FaultPlan())
    deadline = time.monotonic() + 10
    while status(tenant, connection["id"])["import_state"] != "done":
        assert time.monotonic() < deadline, "the import did not resume after the delay"
        system.run_until_idle()
        time.sleep(0.1)
    assert len(tenant.api.get("/parties").json()["items"]) == 5
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []
