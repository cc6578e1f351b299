"""The quota count before each API call, shared by every worker using one credential."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import SystemClock
from ledgerbridge.engine.quota import QuotaLedger
from ledgerbridge.store import db
from tests.conftest import TEST_DATABASE

CLOCK = SystemClock()


@pytest.mark.skipif(
    not TEST_DATABASE.startswith("postgresql"),
    reason="row locks are PostgreSQL's; SQLite has one writer",
)
def test_a_worker_frozen_inside_its_count_does_not_hold_the_others_calls_back(
    engine: sa.Engine, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker 1 freezes between counting a call and committing the count, holding the day's
    row. The server ends its idle transaction, worker 2's count goes ahead, and worker 1's
    count is not stored. The freeze is a ``before_commit`` hook that sleeps: a thread cannot
    be stopped with SIGSTOP (the worker-process test does that with real processes)."""
    monkeypatch.setattr(db, "IDLE_LIMIT_MS", 300)
    frozen_engine = db.create_db_engine(engine.url.render_as_string(hide_password=False))
    counted = threading.Event()

    def freeze(connection: sa.Connection) -> None:
        counted.set()
        time.sleep(3.0)

    sa.event.listen(frozen_engine, "commit", freeze)
    frozen_sessions = db.create_session_factory(frozen_engine)
    outcome: list[BaseException] = []

    def frozen_worker() -> None:
        try:
            QuotaLedger(frozen_sessions, CLOCK).consume("uniconta:shared", 100, "Europe/Oslo")
        except BaseException as exc:  # reported to the test thread below
            outcome.append(exc)

    worker = threading.Thread(target=frozen_worker)
    worker.start()
    assert counted.wait(10)
    ledger = QuotaLedger(session_factory, CLOCK)
    started = time.monotonic()
    assert ledger.consume("uniconta:shared", 100, "Europe/Oslo") == 1
    assert time.monotonic() - started < 2.0, "the count waited for the frozen worker"
    worker.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.DBAPIError), outcome
    assert ledger.used("uniconta:shared", "Europe/Oslo") == 1
    frozen_engine.dispose()
