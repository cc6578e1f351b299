"""Production mode: separate ``ledgerbridge worker`` processes sharing one PostgreSQL database."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Run
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import PASSWORD, USER, Uniconta

pytestmark = pytest.mark.skipif(
    not os.environ.get("LEDGERBRIDGE_TEST_DATABASE", "sqlite").startswith("postgresql"),
    reason="worker processes run against PostgreSQL only; SQLite runs its worker inside serve",
)


def _worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": settings.database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_POLL_INTERVAL": "0.05",
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
        **extra,
    }


def _start_worker(env: dict[str, str], sink: Path) -> subprocess.Popen[bytes]:
    executable = str(Path(sys.executable).parent / "ledgerbridge")
    with sink.open("ab") as out:
        return subprocess.Popen([executable, "worker"], env=env, stdout=out, stderr=out)


def _wait_for(condition: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Importing:
    system: System
    principal: Principal
    connection_id: str

    def runs(self) -> list[Run]:
        with self.system.sessions() as session:
            return list(
                session.scalars(
                    sa.select(Run)
                    .where(Run.connection_id == self.connection_id, Run.kind == "import")
                    .order_by(Run.started_at)
                )
            )

    def records(self) -> int:
        with self.system.sessions() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(HubRecord)) or 0)


@pytest.fixture
def importing(settings: Settings, uniconta: Uniconta) -> Iterator[Importing]:
    """An import of 1,500 debtors in pages of 20, queued and not started."""
    system = System(settings)
    issued = system.tenancy.create_tenant("Firm", "owner@firm.example")
    principal = system.tenancy.authenticate(issued.api_key)
    assert principal is not None
    seed_debtors(uniconta.sandbox, 48213, count=1500, seed=7)
    created = system.connections.create(
        principal, system="uniconta", name="Firm", timezone="Europe/Oslo",
        settings={"company_id": 48213, "username": USER, "base_url": uniconta.url,
                  "page_size": 20},
        secrets_={"password": PASSWORD},
    )  # fmt: skip
    system.connections.start_import(principal, created["id"])
    yield Importing(system, principal, created["id"])
    system.close()


def test_a_killed_workers_import_is_finished_by_another_and_its_run_closed(
    settings: Settings, importing: Importing, tmp_path: Path
) -> None:
    """kill -9 in the middle of an import: once the dead worker's heartbeat is a lease old,
    the other worker runs the job again from its cursor; the killed run is shown as
    interrupted, not running, and no customer is lost or doubled."""
    env = _worker_env(settings, LEDGERBRIDGE_JOB_LEASE_SECONDS="3")
    log = tmp_path / "workers.log"
    doomed = _start_worker(env, log)
    try:
        _wait_for(lambda: importing.records() >= 200, "the import to be under way")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        assert [r.status for r in importing.runs()] == ["running"]
    finally:
        doomed.kill()
    survivor = _start_worker(env, log)
    try:
        _wait_for(lambda: [r.status for r in importing.runs()][-1:] == ["succeeded"], "import")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    assert [r.status for r in importing.runs()] == ["interrupted", "succeeded"]
    assert importing.records() == 1500
    status = importing.system.connections.status(importing.principal, importing.connection_id)
    assert "running" not in [r["status"] for r in status["recent_runs"]]
    assert "Traceback" not in log.read_text()


def test_sigterm_stops_a_worker_at_the_next_page_and_its_import_resumes_elsewhere(
    settings: Settings, importing: Importing, tmp_path: Path
) -> None:
    """SIGTERM in the middle of an import: the worker stops at the next page, at once rather
    than after the whole import; the job is given back without an attempt counted, and the
    next worker resumes it from its cursor, with no customer lost or doubled."""
    env = _worker_env(settings)
    log = tmp_path / "workers.log"
    stopping = _start_worker(env, log)
    try:
        _wait_for(lambda: importing.records() >= 200, "the import to be under way")
        stopping.send_signal(signal.SIGTERM)
        assert stopping.wait(timeout=15) == 0
    finally:
        stopping.kill()
    assert [r.status for r in importing.runs()] == ["interrupted"]
    assert importing.records() < 1500
    job = importing.system.queue.list(connection_id=importing.connection_id, statuses=["queued"])
    assert [(j.kind, j.attempts) for j in job] == [("import", 0)]
    survivor = _start_worker(env, log)
    try:
        _wait_for(lambda: [r.status for r in importing.runs()][-1:] == ["succeeded"], "import")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    assert [r.status for r in importing.runs()] == ["interrupted", "succeeded"]
    assert importing.records() == 1500
    assert "Traceback" not in log.read_text()


def test_a_frozen_worker_resumed_after_its_job_was_taken_over_changes_nothing(
    settings: Settings, importing: Importing, tmp_path: Path
) -> None:
    """SIGSTOP past the lease, another worker takes the job over, then SIGCONT: the frozen
    worker's late outcome is dropped and nothing is imported twice."""
    env = _worker_env(settings, LEDGERBRIDGE_JOB_LEASE_SECONDS="3")
    log = tmp_path / "workers.log"
    frozen = _start_worker(env, log)
    survivor = None
    try:
        _wait_for(lambda: importing.records() >= 200, "the import to be under way")
        frozen.send_signal(signal.SIGSTOP)
        survivor = _start_worker(env, log)
        _wait_for(lambda: len(importing.runs()) == 2, "the job to be taken over")
        frozen.send_signal(signal.SIGCONT)
        _wait_for(lambda: "succeeded" in [r.status for r in importing.runs()], "the import")
        time.sleep(2)  # the resumed worker's late writes, if any, would land now
    finally:
        frozen.send_signal(signal.SIGCONT)
        for process in (frozen, survivor):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    statuses = [r.status for r in importing.runs()]
    assert statuses[-1] == "succeeded" and "running" not in statuses
    assert importing.records() == 1500
    with importing.system.sessions() as session:
        state = session.scalar(
            sa.select(Connection.import_state).where(Connection.id == importing.connection_id)
        )
    assert state == "done"


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


def test_a_worker_whose_job_loop_dies_exits_for_its_supervisor(
    settings: Settings, importing: Importing, tmp_path: Path
) -> None:
    """Its registration gone (as when another worker pruned it while this one was frozen),
    the worker's next fetch of a job fails and its job loop ends: the process exits non-zero
    instead of lingering as a worker that runs nothing."""
    log = tmp_path / "worker.log"
    worker = _start_worker(_worker_env(settings), log)
    try:
        _wait_for(lambda: _registered(importing.system), "the worker to register")
        with importing.system.sessions.begin() as session:
            session.execute(sa.text("DELETE FROM procrastinate_workers"))
        assert worker.wait(timeout=60) == 1
    finally:
        worker.kill()
    assert "the job loop stopped on an error" in log.read_text()


def _registered(system: System) -> bool:
    with system.sessions() as session:
        count = session.scalar(sa.text("SELECT count(*) FROM procrastinate_workers"))
    return bool(count)


def test_serve_whose_job_loop_dies_exits_for_its_supervisor(
    settings: Settings, importing: Importing, tmp_path: Path
) -> None:
    """`serve` running the jobs itself: when its job loop ends on an error, it stops and exits
    non-zero, rather than answer requests while the jobs they queue never run."""
    log = tmp_path / "serve.log"
    executable = str(Path(sys.executable).parent / "ledgerbridge")
    with log.open("ab") as out:
        serve = subprocess.Popen(
            [executable, "serve", "--port", str(free_port())],
            env=_worker_env(settings), stdout=out, stderr=out,
        )  # fmt: skip
    try:
        _wait_for(lambda: _registered(importing.system), "serve's worker to register")
        with importing.system.sessions.begin() as session:
            session.execute(sa.text("DELETE FROM procrastinate_workers"))
        assert serve.wait(timeout=60) == 1
    finally:
        serve.kill()
    assert "the job loop stopped on an error" in log.read_text()
