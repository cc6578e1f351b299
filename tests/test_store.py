"""Store helpers on the real backend (SQLite file or PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.store import db
from ledgerbridge.store.db import FEW_ROWS, insert_new, insert_rows, write_turns
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.sync import QuotaUsage
from ledgerbridge.store.tables.tenancy import Tenant
from ledgerbridge.store.write_turns import WriteTurns, urgent_writes

ROW = {"credential_key": "host:api.example", "day": "2026-11-21", "used": 0, "limit": 10}
KEYS = ["credential_key", "day"]


def test_insert_new_inserts_once_and_then_reports_the_row_exists(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assert insert_new(session, QuotaUsage, ROW, KEYS) is True
    with session_factory.begin() as session:
        assert insert_new(session, QuotaUsage, {**ROW, "used": 5}, KEYS) is False
    with session_factory() as session:
        assert session.scalars(sa.select(QuotaUsage.used)).all() == [0]


def test_a_racing_insert_of_the_same_key_waits_and_stores_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    """The second writer starts while the first one's row is not yet committed (the case a
    read-then-insert gets wrong: both read nothing, the second insert fails on the unique
    index). The pause only lets the second writer reach its insert; nothing asserts time."""
    results: list[bool | BaseException] = []

    def second_writer() -> None:
        try:
            with session_factory.begin() as session:
                results.append(insert_new(session, QuotaUsage, {**ROW, "used": 7}, KEYS))
        except BaseException as exc:  # reported through results, asserted below
            results.append(exc)

    with session_factory.begin() as first:
        assert insert_new(first, QuotaUsage, ROW, KEYS) is True
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
    thread.join(timeout=30)
    assert results == [False]
    with session_factory() as session:
        assert session.scalars(sa.select(QuotaUsage.used)).all() == [0]


AT = datetime(2026, 12, 4, 23, 5, 7, tzinfo=ZoneInfo("Europe/Copenhagen"))


def stored(session: Session, table: str, key: str, value: object) -> dict[str, object]:
    """A row as the database holds it (the driver's values, before any result processing)."""
    result = session.execute(
        sa.text(f'SELECT * FROM "{table}" WHERE "{key}" = :value'), {"value": value}
    )
    return dict(result.mappings().one())


@pytest.mark.parametrize("few_rows", [FEW_ROWS, 0], ids=["one-insert", "copy"])
def test_insert_rows_stores_what_sqlalchemy_would(
    session_factory: sessionmaker[Session], few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver-level insert (executemany on SQLite; on PostgreSQL one INSERT for a few rows,
    else a COPY) stores each value as SQLAlchemy's own INSERT does: UTC datetimes from another
    zone, whole-second and not, JSON documents and JSON null, defaults for the columns left
    out, integers and text."""
    monkeypatch.setattr(db, "FEW_ROWS", few_rows)
    with session_factory.begin() as session:
        tenant = {"id": "t-1", "name": "Bageriet", "created_at": AT}
        session.execute(sa.insert(Tenant), [tenant])
        records = [
            {"id": f"r-{i}", "tenant_id": "t-1", "entity": "party", "content_hash": "h",
             "data": {"name": "Æbleø", "n": i % 2, "amount": "12.50", "tags": [1, None]},
             "origin": "app", "created_at": AT + timedelta(microseconds=i % 2 * 250),
             "updated_at": AT}
            for i in range(4)
        ]  # fmt: skip
        session.execute(sa.insert(HubRecord), records[:2])
        insert_rows(session, HubRecord, records[2:])
        changes = [
            {"tenant_id": "t-1", "position": i, "entity": "party", "record_id": f"r-{i}",
             "version": 1, "operation": "create", "origin": "app", "at": AT, "actor": None,
             "run_id": None, "diff": {"name": [None, "x"]} if i % 2 else None}
            for i in range(4)
        ]  # fmt: skip
        session.execute(sa.insert(Change), changes[:2])
        insert_rows(session, Change, changes[2:])
    with session_factory() as session:
        for by_orm, by_driver in ((0, 2), (1, 3)):
            orm_row = stored(session, "hub_records", "id", f"r-{by_orm}")
            driver_row = stored(session, "hub_records", "id", f"r-{by_driver}")
            assert {**orm_row, "id": None} == {**driver_row, "id": None}
            orm_change = stored(session, "changes", "position", by_orm)
            driver_change = stored(session, "changes", "position", by_driver)
            ignore = {"seq": None, "position": None, "record_id": None}
            assert {**orm_change, **ignore} == {**driver_change, **ignore}
        loaded = {r.id: r for r in session.scalars(sa.select(HubRecord))}
        assert loaded["r-3"].data == records[3]["data"]
        assert loaded["r-3"].created_at == AT + timedelta(microseconds=250)
        assert loaded["r-2"].created_at == AT
        assert loaded["r-2"].version == 1 and loaded["r-2"].deleted is False, "defaults"


def test_sqlite_writers_take_turns_and_an_urgent_one_goes_first(
    engine: sa.Engine, session_factory: sessionmaker[Session]
) -> None:
    """A writer waiting for the write lock is not left to SQLite's busy handler: writers queue
    in the order they came, and a callback's acknowledgement (urgent) goes before them."""
    turns = write_turns(engine)
    if turns is None:
        pytest.skip("PostgreSQL has no single write lock: its writers do not queue")
    order: list[str] = []
    release = threading.Event()

    def write(name: str, *, urgent: bool = False, hold: threading.Event | None = None) -> None:
        with urgent_writes() if urgent else nullcontext(), session_factory.begin() as session:
            insert_new(session, QuotaUsage, {**ROW, "credential_key": name}, KEYS)
            order.append(name)
            if hold is not None:
                hold.wait(timeout=30)

    def until_waiting(expected: tuple[int, int]) -> None:
        for _ in range(3000):  # polled, not timed: each step only lets a thread reach the queue
            if turns.waiting() == expected:
                return
            time.sleep(0.01)
        raise AssertionError(f"waiting {turns.waiting()}, expected {expected}")

    threads = [threading.Thread(target=write, args=("first",), kwargs={"hold": release})]
    threads[0].start()
    while not order:
        time.sleep(0.01)
    threads.append(threading.Thread(target=write, args=("api write",)))
    threads[1].start()
    until_waiting((0, 1))
    threads.append(threading.Thread(target=write, args=("callback",), kwargs={"urgent": True}))
    threads[2].start()
    until_waiting((1, 1))
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert order == ["first", "callback", "api write"]
    assert turns.waiting() == (0, 0)


def test_a_turn_not_given_in_time_fails_as_sqlite_would() -> None:
    turns = WriteTurns(timeout_s=0.2)
    holder, other = object(), object()
    turns.take(holder)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        turns.take(other)
    assert turns.waiting() == (0, 0)
    turns.give_back(other)  # not its turn: nothing changes
    turns.give_back(holder)
    turns.take(other)
