"""Store helpers on the real backend (SQLite file or PostgreSQL)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.store.db import insert_new
from ledgerbridge.store.tables.sync import QuotaUsage

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
