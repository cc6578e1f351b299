"""Writes made item by item (a batch's journals and links) commit in parts when a callback's
acknowledgement waits for SQLite's write lock, so it waits for one item, not the batch."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import SystemClock
from ledgerbridge.engine.hub import HubStore
from ledgerbridge.engine.state import SyncState
from ledgerbridge.store.db import insert_new, write_turns
from ledgerbridge.store.tables.sync import QuotaUsage
from ledgerbridge.store.write_turns import urgent_writes

CLOCK = SystemClock()
KEYS = ["credential_key", "day"]


def _row(name: str) -> dict[str, object]:
    return {"credential_key": name, "day": "2026-12-05", "used": 0, "limit": 10}


def test_a_waiting_acknowledgement_goes_in_between_two_items(
    engine: sa.Engine, session_factory: sessionmaker[Session]
) -> None:
    turns = write_turns(engine)
    if turns is None:
        pytest.skip("PostgreSQL has no single write lock: the items share one transaction")
    state = SyncState(session_factory, HubStore(CLOCK), CLOCK)
    order: list[str] = []
    transactions: dict[str, Session] = {}  # each part is a session of its own

    def acknowledge() -> None:
        with urgent_writes(), session_factory.begin() as session:
            insert_new(session, QuotaUsage, _row("callback"), KEYS)
            order.append("callback")

    callback = threading.Thread(target=acknowledge)

    def write(session: Session, name: str) -> None:
        insert_new(session, QuotaUsage, _row(name), KEYS)
        order.append(name)
        transactions[name] = session
        if name == "item 2":
            callback.start()
            for _ in range(3000):  # polled: each step only lets the thread reach the queue
                if turns.waiting() == (1, 0):
                    break
                time.sleep(0.01)

    state.in_parts(["item 1", "item 2", "item 3", "item 4"], write)
    callback.join(timeout=30)
    assert order == ["item 1", "item 2", "callback", "item 3", "item 4"]
    assert transactions["item 1"] is transactions["item 2"]
    assert transactions["item 3"] is transactions["item 4"]
    assert transactions["item 3"] is not transactions["item 2"]
    with session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(QuotaUsage)) == 5


def test_without_anybody_waiting_the_items_share_one_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    state = SyncState(session_factory, HubStore(CLOCK), CLOCK)
    transactions: list[Session] = []

    def write(session: Session, name: str) -> None:
        insert_new(session, QuotaUsage, _row(name), KEYS)
        transactions.append(session)

    state.in_parts([f"item {n}" for n in range(5)], write)
    assert all(session is transactions[0] for session in transactions)
    with pytest.raises(RuntimeError, match="item 2"):

        def refuse(session: Session, name: str) -> None:
            insert_new(session, QuotaUsage, _row(f"again {name}"), KEYS)
            if name == "item 2":
                raise RuntimeError(name)

        state.in_parts([f"item {n}" for n in range(5)], refuse)
    with session_factory() as session:  # the failed part rolled back whole
        assert session.scalar(sa.select(sa.func.count()).select_from(QuotaUsage)) == 5
