"""Turns at SQLite's write lock: arrival order, an urgent write (a callback's store) first,
re-entry by the holder, and no wait beyond the busy timeout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.runtime.system import System
from ledgerbridge.runtime.writegate import GatedSessions, WriteGate, first
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.tenancy import Tenant


def _waiters(gate: WriteGate, count: int) -> None:
    """Until ``count`` threads wait at the gate (its queue and urgent count are its state)."""
    deadline = time.monotonic() + 10
    while len(gate._queue) + gate._urgent < count:
        assert time.monotonic() < deadline, "the writers did not reach the gate"
        time.sleep(0.005)


def test_turns_go_in_arrival_order_and_an_urgent_write_first() -> None:
    gate = WriteGate()
    order: list[str] = []

    def write(name: str) -> None:
        with gate.turn():
            order.append(name)

    threads = []
    with gate.turn():
        for n in range(3):
            threads.append(threading.Thread(target=write, args=(f"write {n}",)))
            threads[-1].start()
            _waiters(gate, n + 1)
        threads.append(threading.Thread(target=first, args=(write, "callback")))
        threads[-1].start()
        _waiters(gate, 4)
    for thread in threads:
        thread.join(timeout=10)

    assert order == ["callback", "write 0", "write 1", "write 2"]


def test_the_holder_enters_again_and_a_turn_is_taken_after_the_timeout() -> None:
    gate = WriteGate(timeout=0.2)
    entered: list[float] = []

    def late() -> None:
        start = time.monotonic()
        with gate.turn():
            entered.append(time.monotonic() - start)

    with gate.turn(), gate.turn():
        thread = threading.Thread(target=late)
        thread.start()
        thread.join(timeout=10)
    with gate.turn():  # free again once the holder left both blocks
        pass

    assert len(entered) == 1 and 0.2 <= entered[0] < 5


def test_writes_through_the_system_sessions(db_url: str, tmp_path: Path) -> None:
    """On SQLite the system's writes take turns at the gate; PostgreSQL locks rows, so its
    writers need none. A read during a write does not wait for a turn."""
    system = System(
        Settings(
            database_url=db_url,
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=tmp_path / "unused.key",
        )
    )
    try:
        gated = isinstance(system.sessions, GatedSessions)
        assert gated == (system.db.dialect.name == "sqlite")
        issued = system.tenancy.create_tenant("Gate", "owner@gate.example")
        with system.sessions.begin() as session:
            session.execute(
                sa.update(Tenant).where(Tenant.id == issued.tenant_id).values(name="Gated")
            )
            with system.sessions() as reader:
                assert reader.get(Tenant, issued.tenant_id) is not None
        with system.sessions() as session:
            assert session.get(Tenant, issued.tenant_id).name == "Gated"  # type: ignore[union-attr]
    finally:
        system.close()
