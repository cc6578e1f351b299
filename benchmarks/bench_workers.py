"""Benchmark: job throughput of `ledgerbridge worker` processes on PostgreSQL (procrastinate).

1,000 Uniconta connections (one sandbox serving 1,000 companies, a user of its own for each,
so no two connections share a quota counter) each get the hourly invoice pull, as the
schedule tick queues it at the top of the hour. Then 1, 2 and 4 worker processes run the
1,000 jobs, one round each, and the script prints jobs per second (first job started to last
job finished, from procrastinate's event log, so process start-up is left out), the ratio to
one worker, and where the CPU time went: the worker processes, the sandbox (this process) and
the rest of the machine (PostgreSQL, and anything else running), read from /proc. The rounds
include each worker's start-up CPU (about 2 s); the rates do not.

    .venv/bin/python benchmarks/bench_workers.py
    .venv/bin/python benchmarks/bench_workers.py --connections 200 --workers 1 2

It creates a database of its own on the server in --admin-url and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.connectors.registry import SYSTEMS, streams_only
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import UnicontaSandbox
from ledgerbridge.sandbox.uniconta import create_app as sandbox_app
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.runtime import Schedule
from ledgerbridge.store.tables.tenancy import Connection

PASSWORD = "s3cret-Pa55word"
KIND = "invoices"
"""Uniconta's hourly pull (new posted invoices)."""
CONNECTIONS_PER_TENANT = 10
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_cpu() -> float:
    """Busy CPU time of the whole machine so far. PostgreSQL's backends come and go (their
    time vanishes from /proc when they exit), so their share is what is left of the machine's
    time after ours; on a shared machine that also holds everyone else's work."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass
class Round:
    workers: int
    jobs: int
    seconds: float
    worker_cpu: float
    sandbox_cpu: float
    machine_cpu: float
    load: float
    """The machine's 1-minute load average at the end: other work shares the cores."""

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


class Bench:
    def __init__(self, admin_url: str, connections: int, concurrency: int, workdir: Path) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"lbbench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = sa.make_url(admin_url).set(database=self.name).render_as_string(False)
        self.connections = connections
        self.concurrency = concurrency
        self.settings = Settings(
            database_url=self.url,
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=workdir / "unused.key",
            log_level="WARNING",
        )
        self.sandbox = UnicontaSandbox(throttle_delay=0.0)
        self.server = ServerThread(sandbox_app(self.sandbox)).start()
        self.system = System(self.settings)
        self.targets: list[tuple[str, str]] = []

    def set_up(self) -> None:
        """Companies, users and connections. The first connection is made through the
        service (credentials checked with the sandbox, settings completed); the others are
        copies of its row with their own company, user and sealed password, in one insert,
        so that setting up 1,000 takes seconds instead of minutes."""
        started = time.monotonic()
        tenants = []
        for n in range(0, self.connections, CONNECTIONS_PER_TENANT):
            issued = self.system.tenancy.create_tenant(f"Firm {n}", f"owner{n}@bench.example")
            principal = self.system.tenancy.authenticate(issued.api_key)
            assert principal is not None
            tenants.append(principal)
        for n in range(self.connections):
            company = 70000 + n
            self.sandbox.add_company(company_id=company, name=f"Company {n}")
            self.sandbox.add_user(company, f"bench{n}", PASSWORD, roles=("Reseller",))
        first = self.system.connections.create(
            tenants[0], system="uniconta", name="Company 0", timezone="Europe/Copenhagen",
            settings={"company_id": 70000, "username": "bench0", "base_url": self.server.url,
                      "entities": streams_only("uniconta", "invoices")},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        spec = SYSTEMS["uniconta"]
        with self.system.sessions.begin() as session:
            template = session.get_one(Connection, first["id"])
            rows = []
            for n in range(1, self.connections):
                tenant_id = tenants[n // CONNECTIONS_PER_TENANT].tenant_id
                settings = {**template.settings, "company_id": 70000 + n, "username": f"bench{n}"}
                rows.append(
                    Connection(
                        tenant_id=tenant_id, system="uniconta", name=f"Company {n}",
                        timezone=template.timezone, settings=settings,
                        secrets=self.system.box.seal({"password": PASSWORD, "inbound_token": "x"}),
                        credential_key=spec.credential_key(settings),
                        inbound_token_hash=template.inbound_token_hash,
                        created_at=template.created_at, updated_at=template.updated_at,
                    )
                )  # fmt: skip
            session.add_all(rows)
            session.flush()
            # As after the initial import; schedules stay off so that only the measured jobs
            # run (the rounds queue the hourly pull themselves).
            session.execute(sa.update(Connection).values(import_state="done"))
            session.execute(sa.update(Schedule).values(enabled=False))
            self.targets = [
                (row.id, row.tenant_id)
                for row in session.scalars(sa.select(Connection).order_by(Connection.name))
            ]
        print(f"set-up: {self.connections} connections in {time.monotonic() - started:.1f} s")

    def queue_pulls(self) -> None:
        """What the tick does at the top of the hour: one pull per connection."""
        for connection_id, tenant_id in self.targets:
            self.system.queue.enqueue(
                Command(KIND, connection_id=connection_id, tenant_id=tenant_id,
                        dedupe_key=f"{KIND}:{connection_id}", payload={"slot": "bench"})
            )  # fmt: skip

    def _finished(self) -> int:
        with self.system.sessions() as session:
            return int(
                session.scalar(
                    sa.text(
                        "SELECT count(*) FROM procrastinate_jobs"
                        " WHERE status IN ('succeeded', 'failed')"
                    )
                )
                or 0
            )

    def _span(self, since: int) -> float:
        with self.system.sessions() as session:
            first, last = session.execute(
                sa.text(
                    "SELECT min(at) FILTER (WHERE type = 'started'),"
                    " max(at) FILTER (WHERE type IN ('succeeded', 'failed'))"
                    " FROM procrastinate_events WHERE job_id > :since"
                ),
                {"since": since},
            ).one()
        return float((last - first).total_seconds())

    def _failed(self, since: int) -> int:
        with self.system.sessions() as session:
            return int(
                session.scalar(
                    sa.text(
                        "SELECT count(*) FROM procrastinate_jobs"
                        " WHERE status = 'failed' AND id > :since"
                    ),
                    {"since": since},
                )
                or 0
            )

    def round(self, workers: int) -> Round:
        with self.system.sessions() as session:
            since = int(
                session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")) or 0
            )
        done_before = self._finished()
        self.queue_pulls()
        env = {
            **os.environ,
            "LEDGERBRIDGE_DATABASE_URL": self.url,
            "LEDGERBRIDGE_SECRET_KEYS": self.settings.secret_keys or "",
            "LEDGERBRIDGE_WORKER_CONCURRENCY": str(self.concurrency),
            "LEDGERBRIDGE_POLL_INTERVAL": "0.2",
            "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
        }
        executable = str(Path(sys.executable).parent / "ledgerbridge")
        sandbox_before, machine_before = time.process_time(), machine_cpu()
        processes = [
            subprocess.Popen([executable, "worker"], env=env, stdout=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        worker_cpu = 0.0
        try:
            deadline = time.monotonic() + 300
            while self._finished() - done_before < len(self.targets):
                if time.monotonic() > deadline:
                    raise RuntimeError("the round did not finish within 5 minutes")
                time.sleep(0.2)
            worker_cpu = sum(cpu_seconds(p.pid) for p in processes)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
        failed = self._failed(since)
        if failed:
            print(f"  warning: {failed} job(s) failed")
        sandbox_cpu = time.process_time() - sandbox_before
        busy = machine_cpu() - machine_before
        return Round(
            workers, len(self.targets), self._span(since), worker_cpu, sandbox_cpu, busy,
            os.getloadavg()[0],
        )  # fmt: skip

    def close(self) -> None:
        self.system.close()
        self.server.stop()
        self.sandbox.close()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--concurrency", type=int, default=1, help="jobs at once per worker process"
    )
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    bench = Bench(args.admin_url, args.connections, args.concurrency, workdir)
    try:
        bench.set_up()
        rounds = [bench.round(n) for n in args.workers]
    finally:
        bench.close()
    base = rounds[0].rate
    print(
        f"\n{args.connections} hourly pulls per round, {args.concurrency} job(s) at once per "
        f"process, {os.cpu_count()} cores"
    )
    print("workers  jobs/s  vs 1  seconds  CPU s: workers  sandbox  rest of machine  load")
    for r in rounds:
        rest = r.machine_cpu - r.worker_cpu - r.sandbox_cpu
        print(
            f"{r.workers:>7}  {r.rate:6.1f}  {r.rate / base:4.2f}  {r.seconds:7.1f}"
            f"  {r.worker_cpu:14.1f}  {r.sandbox_cpu:7.1f}  {rest:15.1f}  {r.load:4.1f}"
        )
    for r in rounds:
        print(
            f"{r.workers} worker(s), per job: {1000 * r.worker_cpu / r.jobs:.1f} ms CPU in the "
            f"workers, {1000 * r.sandbox_cpu / r.jobs:.1f} ms in the sandbox, "
            f"{1000 * r.seconds / r.jobs:.1f} ms wall; the machine was busy "
            f"{100 * r.machine_cpu / (r.seconds * (os.cpu_count() or 1)):.0f} % of the round"
        )


if __name__ == "__main__":
    main()
