"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

The backend is chosen by ``LEDGERBRIDGE_TEST_DATABASE``: unset or ``sqlite`` for a file in the
test's temporary directory, or a PostgreSQL URL (``postgresql+psycopg://postgres@127.0.0.1/postgres``)
on which every test gets a database of its own, created from a migrated template.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import stamina
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.connectors.kit.kept import forget_kept_reads
from ledgerbridge.store.db import create_db_engine, create_session_factory, migrate

TEST_DATABASE = os.environ.get("LEDGERBRIDGE_TEST_DATABASE", "sqlite")


def _pg_admin_url() -> sa.URL:
    return sa.make_url(TEST_DATABASE)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database that lives for one test."""
    if TEST_DATABASE == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledgerbridge.db'}"
        engine = create_db_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    admin_url = _pg_admin_url()
    name = f"lbtest_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return create_session_factory(engine)


@pytest.fixture(autouse=True)
def nothing_kept() -> None:
    """Each test starts with no reads kept by the process (sessions, VAT codes): its sandboxes
    may sit at addresses an earlier test's used."""
    forget_kept_reads()


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """Calls repeated in place after a transient failure (stamina) do not wait in tests; a
    test about the retries themselves sets its own number of attempts."""
    with stamina.set_testing(True, attempts=3):
        yield
