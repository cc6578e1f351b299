"""A run whose worker died is closed as interrupted when its job is recovered, so that the
connection's recent runs never show it running for good (embedded mode; worker processes on
PostgreSQL are tested in tests/integration/test_worker_processes.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Run, WriteIntent
from ledgerbridge.store.tables.tenancy import Connection, Tenant
from tests.conftest import TEST_DATABASE

pytestmark = pytest.mark.skipif(
    TEST_DATABASE != "sqlite", reason="the embedded backend is the one System uses on SQLite"
)
EARLIER = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_recovering_a_dead_processs_job_closes_its_run(db_url: str, tmp_path: Path) -> None:
    system = System(
        Settings(
            database_url=db_url,
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=tmp_path / "unused.key",
        )
    )
    try:
        assert isinstance(system.queue, EmbeddedBackend)
        with system.sessions.begin() as session:
            session.add(Tenant(id="t1", name="Firm", created_at=EARLIER))
            session.flush()
            session.add(
                Connection(
                    id="c1", tenant_id="t1", system="uniconta", name="Firm", timezone="UTC",
                    settings={}, secrets="", credential_key="k", inbound_token_hash="x",
                    created_at=EARLIER, updated_at=EARLIER,
                )
            )  # fmt: skip
        system.queue.enqueue(Command("import", connection_id="c1", tenant_id="t1"))
        held = system.queue.queue.claim("killed-process")
        assert held is not None
        with system.sessions.begin() as session:
            session.add(
                Run(id="r1", connection_id="c1", kind="import", job_id=held.id,
                    status="running", counts={}, calls=3, started_at=EARLIER)
            )  # fmt: skip

        assert system.queue.recover_at_start() == 1

        with system.sessions() as session:
            run = session.get_one(Run, "r1")
            assert run.status == "interrupted"
            assert run.finished_at is not None
        job = system.queue.get(held.id)
        assert job is not None and job.status == "queued"
    finally:
        system.close()


LATER = "2026-12-01T09:05:00+00:00"


@pytest.mark.parametrize(
    ("intent_status", "steps", "progressed"),
    [
        ("done", None, True),
        ("recovered", None, True),
        ("pending", None, False),
        ("pending", {"order": {"state": "started"}}, False),
        (
            "pending",
            {"order": {"state": "done", "result": {}, "at": LATER}, "lines": {"state": "started"}},
            True,
        ),
        ("pending", {"order": {"state": "done", "result": {}}}, False),
    ],
)
def test_a_dead_run_that_completed_a_write_or_a_step_of_one_made_progress(
    db_url: str, tmp_path: Path, intent_status: str, steps: dict | None, progressed: bool
) -> None:
    """A run killed before it logged a record may still have completed a create an earlier
    run had begun, or confirmed a step of one (an order's header before its lines); a create
    or step only started does not count, nor a step confirmed before the run began."""
    system = System(
        Settings(
            database_url=db_url,
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=tmp_path / "unused.key",
        )
    )
    try:
        later = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
        with system.sessions.begin() as session:
            session.add(Tenant(id="t1", name="Firm", created_at=EARLIER))
            session.flush()
            session.add(
                Connection(
                    id="c1", tenant_id="t1", system="uniconta", name="Firm", timezone="UTC",
                    settings={}, secrets="", credential_key="k", inbound_token_hash="x",
                    created_at=EARLIER, updated_at=EARLIER,
                )
            )  # fmt: skip
            session.flush()
            session.add(
                Run(id="r1", connection_id="c1", kind="push", job_id="j1",
                    status="running", counts={}, calls=2, started_at=EARLIER)
            )  # fmt: skip
            session.add(
                WriteIntent(
                    connection_id="c1", stream="invoices", record_id="inv1", operation="create",
                    business_key="LB-inv1", status=intent_status, created_at=EARLIER,
                    updated_at=later, steps=steps,
                )
            )  # fmt: skip
        probe = system.queue.progressed
        assert probe is not None
        with system.sessions() as session:
            assert probe(session, "j1") is progressed
    finally:
        system.close()
