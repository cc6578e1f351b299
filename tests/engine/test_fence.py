"""Fenced runs: once a newer run of a connection has begun, an older one stores nothing more."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import SystemClock
from ledgerbridge.engine.fence import FenceToken, RunFenced, begin_fenced_run, fenced
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.state import SyncState
from ledgerbridge.store import db
from ledgerbridge.store.tables.hub import Change, FeedCounter, HubRecord
from ledgerbridge.store.tables.sync import Cursor
from ledgerbridge.store.tables.tenancy import Connection, Tenant
from tests.conftest import TEST_DATABASE

CLOCK = SystemClock()
ON_POSTGRES = TEST_DATABASE.startswith("postgresql")


def _connection(sessions: sessionmaker[Session]) -> tuple[str, str]:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    with sessions.begin() as session:
        tenant = Tenant(name="Nordlys Handel", created_at=now)
        session.add(tenant)
        session.flush()
        connection = Connection(
            tenant_id=tenant.id, system="uniconta", name="Uniconta", timezone="Europe/Oslo",
            settings={}, secrets="", credential_key="uniconta:test", inbound_token_hash="x",
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(connection)
        session.flush()
        return tenant.id, connection.id


@pytest.fixture
def state(session_factory: sessionmaker[Session]) -> SyncState:
    return SyncState(session_factory, HubStore(CLOCK), CLOCK)


def _write(state: SyncState, tenant_id: str, connection_id: str, name: str) -> None:
    """What an engine transaction of a run writes: a hub record (and its change) and a cursor."""
    with state.transaction() as session:
        state.hub.create(session, tenant_id, "party", {"name": name}, f"connection:{connection_id}")
        session.add(
            Cursor(connection_id=connection_id, name=name, value=name, updated_at=CLOCK.now())
        )


def _stored(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {
            "cursors": sorted(session.scalars(sa.select(Cursor.name))),
            "records": sorted(r.data["name"] for r in session.scalars(sa.select(HubRecord))),
            "changes": session.scalar(sa.select(sa.func.count()).select_from(Change)),
            "positions": list(session.scalars(sa.select(FeedCounter.last))),
        }


def test_a_superseded_run_has_its_next_write_refused_and_nothing_of_it_stored(
    session_factory: sessionmaker[Session], state: SyncState
) -> None:
    tenant_id, connection_id = _connection(session_factory)
    first = begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    with fenced(first):
        _write(state, tenant_id, connection_id, "before")

    second = begin_fenced_run(session_factory, CLOCK, connection_id, "run-2")
    assert second.epoch == first.epoch + 1
    second.ensure_current(session_factory)
    with pytest.raises(RunFenced):  # what the call meter asks before every API call
        first.ensure_current(session_factory)
    with fenced(first), pytest.raises(RunFenced, match="run-2 took over"):
        _write(state, tenant_id, connection_id, "late")
    assert _stored(session_factory) == {
        "cursors": ["before"], "records": ["before"], "changes": 1, "positions": [1],
    }  # fmt: skip

    with fenced(second):
        _write(state, tenant_id, connection_id, "newer")
    # Writes outside a run (the app through the API) are not fenced.
    _write(state, tenant_id, connection_id, "api")
    assert _stored(session_factory) == {
        "cursors": ["api", "before", "newer"], "records": ["api", "before", "newer"],
        "changes": 3, "positions": [3],
    }  # fmt: skip


def test_a_run_of_a_removed_connection_is_refused(
    session_factory: sessionmaker[Session], state: SyncState
) -> None:
    tenant_id, connection_id = _connection(session_factory)
    token = begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    with session_factory.begin() as session:
        session.execute(sa.delete(Connection).where(Connection.id == connection_id))
    with (
        fenced(token),
        pytest.raises(RunFenced, match="connection was removed"),
        state.transaction() as session,
    ):
        state.hub.create(session, tenant_id, "party", {"name": "x"}, "connection:gone")
    assert _stored(session_factory)["records"] == []


def test_a_fence_applies_only_inside_its_block(
    session_factory: sessionmaker[Session], state: SyncState
) -> None:
    tenant_id, connection_id = _connection(session_factory)
    stale = FenceToken(connection_id, epoch=0, run_id="never-began")
    begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    with fenced(stale), pytest.raises(RunFenced):
        _write(state, tenant_id, connection_id, "stale")
    _write(state, tenant_id, connection_id, "outside")
    assert _stored(session_factory)["cursors"] == ["outside"]


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks are PostgreSQL's; SQLite has one writer")
def test_a_takeover_waits_for_a_write_that_passed_its_check_and_refuses_the_next(
    session_factory: sessionmaker[Session], state: SyncState
) -> None:
    """Run 1 has checked its epoch and is about to commit when run 2 begins: the takeover
    waits for that commit (the FOR SHARE lock), so the write lands entirely before it."""
    tenant_id, connection_id = _connection(session_factory)
    first = begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    checked = threading.Event()
    commit_sent_at: list[float] = []
    failures: list[BaseException] = []

    def slow_commit(session: Session) -> None:
        checked.set()  # the fence was verified just before commit() was called
        time.sleep(1.0)
        commit_sent_at.append(time.monotonic())  # COMMIT goes to the server right after

    def run_one() -> None:
        try:
            with fenced(first), state.transaction() as session:
                sa.event.listen(session, "before_commit", slow_commit)
                state.hub.create(session, tenant_id, "party", {"name": "in flight"}, "c")
        except BaseException as exc:  # reported to the test thread below
            failures.append(exc)

    writer = threading.Thread(target=run_one)
    writer.start()
    assert checked.wait(10)
    second = begin_fenced_run(session_factory, CLOCK, connection_id, "run-2")
    began_at = time.monotonic()
    writer.join(10)
    assert failures == []
    # The takeover returned only after the writer's COMMIT was sent: it waited for the lock.
    # (The writer's own clock after commit() may read later than the takeover's: the lock is
    # released on the server before the writer's thread runs again.)
    assert commit_sent_at and commit_sent_at[0] <= began_at
    assert second.epoch == first.epoch + 1
    with fenced(first), pytest.raises(RunFenced):
        _write(state, tenant_id, connection_id, "after the takeover")
    assert _stored(session_factory)["records"] == ["in flight"]


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrent writers need PostgreSQL")
def test_two_runs_of_one_connection_interleaved_only_the_current_one_writes(
    session_factory: sessionmaker[Session], state: SyncState
) -> None:
    """Run 1 keeps writing (each transaction held open a while, as if waiting on an API);
    run 2 takes over in the middle. Every write of run 1 that committed did so before the
    takeover; the one in flight at the takeover and all later ones are refused."""
    tenant_id, connection_id = _connection(session_factory)
    first = begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    committed: list[tuple[str, float]] = []
    refused: list[str] = []
    takeover = threading.Event()

    def run_one() -> None:
        with fenced(first):
            for n in range(40):
                name = f"run1-{n:02d}"
                try:
                    with state.transaction() as session:
                        state.hub.create(session, tenant_id, "party", {"name": name}, "c")
                        time.sleep(0.05)
                        commit_sent_at = time.monotonic()  # COMMIT follows on leaving
                    committed.append((name, commit_sent_at))
                except RunFenced:
                    refused.append(name)
                    return
                if n == 5:
                    takeover.set()

    writer = threading.Thread(target=run_one)
    writer.start()
    assert takeover.wait(10)
    time.sleep(0.02)  # inside run 1's next transaction
    second = begin_fenced_run(session_factory, CLOCK, connection_id, "run-2")
    began_at = time.monotonic()
    with fenced(second):
        for n in range(3):
            _write(state, tenant_id, connection_id, f"run2-{n}")
    writer.join(10)

    assert len(refused) == 1, "run 1 stops at its first refused write"
    assert all(at <= began_at for _, at in committed)
    stored = _stored(session_factory)
    assert stored["records"] == sorted(
        [name for name, _ in committed] + ["run2-0", "run2-1", "run2-2"]
    )
    assert stored["changes"] == len(committed) + 3


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks are PostgreSQL's; SQLite has one writer")
def test_a_run_frozen_inside_a_transaction_does_not_hold_the_takeover_back(
    session_factory: sessionmaker[Session], state: SyncState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 freezes between its check and its commit, holding the fence row: the server ends
    its idle transaction, the takeover goes ahead, and run 1 learns on resuming that it was
    superseded, with nothing stored. The idle limit leaves the run's own statements room on a
    loaded machine (a first record's lazy imports between two statements took over 300 ms)."""
    monkeypatch.setattr(db, "IDLE_LIMIT_MS", 1000)
    tenant_id, connection_id = _connection(session_factory)
    first = begin_fenced_run(session_factory, CLOCK, connection_id, "run-1")
    checked = threading.Event()
    outcome: list[BaseException] = []

    def frozen(session: Session) -> None:
        checked.set()
        time.sleep(3.0)

    def run_one() -> None:
        try:
            with fenced(first), state.transaction() as session:
                sa.event.listen(session, "before_commit", frozen)
                state.hub.create(session, tenant_id, "party", {"name": "frozen"}, "c")
        except BaseException as exc:  # reported to the test thread below
            outcome.append(exc)

    writer = threading.Thread(target=run_one)
    writer.start()
    assert checked.wait(10), f"run 1 never reached its commit: {outcome}"
    started = time.monotonic()
    second = begin_fenced_run(session_factory, CLOCK, connection_id, "run-2")
    assert time.monotonic() - started < 2.7, "the takeover waited for the frozen run"
    writer.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], RunFenced), outcome
    assert second.epoch == first.epoch + 1
    assert _stored(session_factory)["records"] == []
