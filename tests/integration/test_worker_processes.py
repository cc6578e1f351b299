"""Production mode: separate ``ledgerbridge worker`` processes sharing one PostgreSQL database."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Run
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import PASSWORD, USER, Uniconta

pytestmark = pytest.mark.skipif(
    not os.environ.get("LEDGERBRIDGE_TEST_DATABASE", "sqlite").startswith("postgresql"),
    reason="worker processes run against PostgreSQL only; SQLite runs its worker inside serve",
)


def test_two_worker_processes_share_the_work_one_job_per_connection(
    settings: Settings, uniconta: Uniconta, tmp_path: Path
) -> None:
    system = System(settings)
    companies = [48213, 48214, 48215]
    connection_ids = []
    principals = []
    for company in companies[1:]:
        uniconta.sandbox.add_company(company_id=company, name=f"Company {company}")
        uniconta.sandbox.add_user(company, USER, PASSWORD)
    for company in companies:
        issued = system.tenancy.create_tenant(f"Firm {company}", f"owner@{company}.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        principals.append(principal)
        seed_debtors(uniconta.sandbox, company, count=400, seed=company)
        created = system.connections.create(
            principal, system="uniconta", name=str(company), timezone="Europe/Oslo",
            settings={"company_id": company, "username": USER, "base_url": uniconta.url,
                      "page_size": 40},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        connection_ids.append(created["id"])
        system.connections.start_import(principal, created["id"])
        system.connections.request(principal, created["id"], "pull")

    env = {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": settings.database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_POLL_INTERVAL": "0.05",
        "LEDGERBRIDGE_WORKER_CONCURRENCY": "3",
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
    }
    executable = str(Path(sys.executable).parent / "ledgerbridge")
    log = tmp_path / "workers.log"
    with log.open("wb") as sink:
        workers = [
            subprocess.Popen([executable, "worker"], env=env, stdout=sink, stderr=sink)
            for _ in range(2)
        ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with system.sessions() as session:
                states = session.scalars(sa.select(Connection.import_state)).all()
                pulls = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Run)
                    .where(Run.kind == "pull", Run.status == "succeeded")
                )
            if set(states) == {"done"} and pulls == len(companies):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"workers did not finish: {states}, {pulls} pulls")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    assert "Traceback" not in log.read_text()

    with system.sessions() as session:
        runs = session.scalars(sa.select(Run).order_by(Run.started_at)).all()
    for connection_id in connection_ids:
        mine = [r for r in runs if r.connection_id == connection_id]
        for earlier, later in itertools.pairwise(mine):
            assert earlier.finished_at is not None
            assert earlier.finished_at <= later.started_at, "two jobs of one connection overlapped"
    for principal, connection_id in zip(principals, connection_ids, strict=True):
        status = system.connections.status(principal, connection_id)
        imports = [r for r in status["recent_runs"] if r["kind"] == "import"]
        assert [r["counts"] for r in imports] == [{"customers.created": 400}]
    system.close()
