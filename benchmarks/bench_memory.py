"""Benchmark: peak memory of an initial import as the number of records grows.

The target: a 1,000,000-record import (debtors and invoices) stays under 300 MB peak RSS, and
the peak does not grow with the number of records. A Uniconta sandbox in a child process (this
script with ``--serve-sandbox``) is seeded with ``--records`` records, a fifth debtors and the
rest posted invoices of ``--lines`` lines each (with their open items, and a small catalogue
the lines sell); the initial import of customers, products and invoices runs in this process,
as ``POST /connections/{id}/import`` queues it and the worker runs it. Reported per phase: peak
RSS (Linux ``VmHWM``, reset between phases), wall time, records per second; and the resident
set sampled during the import, so growth shows as a slope, not only as a peak.

``--tracemalloc`` compares two heap snapshots taken during the import (at a quarter and at
nine tenths of the records) and prints the allocation sites that grew most: what holds on to
memory per record. It slows the engine several times.

    .venv/bin/python benchmarks/bench_memory.py                      # 100,000 records
    nice .venv/bin/python benchmarks/bench_memory.py --records 1000000
    .venv/bin/python benchmarks/bench_memory.py --records 20000 --tracemalloc
    .venv/bin/python benchmarks/bench_memory.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ledgerbridge_bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from bench_uniconta_full import VAT, Peaks, table
from cryptography.fernet import Fernet

from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System, freeze_start_up_heap
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import HubRecord

JSON = dict[str, Any]
COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"
DEBTOR_SHARE = 5
"""One record in this many is a debtor; the others are invoices."""
PRODUCTS = 200
"""The catalogue the invoice lines sell (not counted in the records)."""
SAMPLE_S = 2.0
"""Period of the resident-set samples during the import."""


def sizes(records: int) -> tuple[int, int]:
    """Debtors and invoices making up ``records`` (at least one of each)."""
    debtors = max(1, records // DEBTOR_SHARE)
    return debtors, max(1, records - debtors)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ the sandbox process


def serve_sandbox(port: int, records: int, lines: int, ready: Path) -> None:
    """Child process: seed debtors, a catalogue and invoices, say what it holds, then serve
    (throttling off: the figures are the engine's)."""
    from ledgerbridge.sandbox.uniconta import (
        UnicontaSandbox,
        seed_debtors,
        seed_invoices,
        seed_products,
        serve,
    )

    debtors, invoices = sizes(records)
    sandbox = UnicontaSandbox(daily_call_limit=10**9, throttle_delay=0)
    sandbox.add_company(COMPANY, "Benchmark Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    start = time.perf_counter()
    seed_debtors(sandbox, COMPANY, count=debtors)
    seed_products(sandbox, COMPANY, count=PRODUCTS)
    seed_invoices(sandbox, COMPANY, count=invoices, lines=lines)
    entities = ("DebtorClient", "InvItemClient", "DebtorInvoiceClient", "DebtorInvoiceLines")
    facts = {
        "seed_s": round(time.perf_counter() - start, 1),
        "rows": {entity: len(sandbox.snapshot(COMPANY, entity)) for entity in entities},
    }
    temporary = ready.with_suffix(".tmp")
    temporary.write_text(json.dumps(facts))
    temporary.replace(ready)
    serve(sandbox, port=port)


@contextmanager
def sandbox_process(records: int, lines: int, workdir: Path) -> Iterator[tuple[str, JSON]]:
    """Start the sandbox child, wait until it is seeded and answering, stop it afterwards."""
    port = free_port()
    ready = workdir / "sandbox.json"
    log = (workdir / "sandbox.log").open("wb")
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-sandbox", str(port),
               "--records", str(records), "--lines", str(lines),
               "--ready-file", str(ready)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 3600
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start; see {workdir / 'sandbox.log'}")
            if ready.exists():
                try:
                    httpx.get(f"{url}/_sandbox/health").raise_for_status()
                    break
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        yield url, json.loads(ready.read_text())
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


# ------------------------------------------------------------------ measuring


class Sampler:
    """Samples the resident set and the hub's record count while the import runs; with
    tracemalloc on, takes a heap snapshot at a quarter and at nine tenths of ``expected``."""

    def __init__(self, system: System, expected: int, trace: bool) -> None:
        self.system = system
        self.expected = expected
        self.trace = trace
        self.samples: list[tuple[float, int, float]] = []
        self.snapshots: list[tuple[int, tracemalloc.Snapshot]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._start = 0.0

    def _records(self) -> int:
        with self.system.sessions() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(HubRecord)) or 0)

    def _run(self) -> None:
        marks = [self.expected // 4, self.expected * 9 // 10] if self.trace else []
        while not self._stop.wait(SAMPLE_S):
            records = self._records()
            self.samples.append((time.perf_counter() - self._start, records, rss_mb()))
            if marks and records >= marks[0]:
                marks.pop(0)
                self.snapshots.append((records, tracemalloc.take_snapshot()))

    def __enter__(self) -> Sampler:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth(self) -> JSON:
        """Resident set at the first sample past half the records and at the last sample, and
        the slope between them in MB per 100,000 records: the first half includes warming up
        (imports, caches, the first pages), the second shows whether memory grows with the
        records."""
        done = [s for s in self.samples if s[1] >= self.expected // 2]
        if len(done) < 2:
            return {}
        (_, first_n, first_mb), (_, last_n, last_mb) = done[0], done[-1]
        slope = (last_mb - first_mb) / (last_n - first_n) * 100_000 if last_n > first_n else 0.0
        return {
            "rss_at": {str(first_n): round(first_mb, 1), str(last_n): round(last_mb, 1)},
            "mb_per_100k_records": round(slope, 2),
        }

    def heap_growth(self, top: int = 20) -> str:
        """The allocation sites that grew most between the two snapshots."""
        if len(self.snapshots) < 2:
            return "(fewer than two heap snapshots: the import was shorter than two samples)"
        (n1, first), (n2, second) = self.snapshots
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = second.filter_traces(filters).compare_to(first.filter_traces(filters), "lineno")
        lines = [f"heap growth between {n1} and {n2} hub records (top {top} sites):"]
        lines += [str(stat) for stat in stats[:top]]
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="debtors + invoices")
    parser.add_argument("--lines", type=int, default=3, help="lines per invoice")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tracemalloc", action="store_true", help="compare heap snapshots")
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox is not None:
        serve_sandbox(args.serve_sandbox, args.records, args.lines, args.ready_file)
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    database = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    debtors, invoices = sizes(args.records)
    results: JSON = {
        "records": args.records,
        "debtors": debtors,
        "invoices": invoices,
        "lines_per_invoice": args.lines,
        "database": database,
        "tracemalloc": args.tracemalloc,
    }
    try:
        with sandbox_process(args.records, args.lines, workdir) as (url, facts):
            results["sandbox"] = facts
            print(f"sandbox seeded in {facts['seed_s']} s: {facts['rows']}", flush=True)
            run(args, url, workdir, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if database == "sqlite" else f"_{database}"
    out = args.out / f"memory_{args.records}{suffix}.json"
    out.write_text(json.dumps(results, indent=2))
    rows = [
        [name, p["records"], p["wall_s"], p["records_per_s"], p["peak_rss_mb"]]
        for name, p in results["phases"].items()
    ]
    print(table(["phase", "records", "wall s", "rec/s", "peak RSS MB"], rows))
    print(f"RSS during the import: {json.dumps(results['import_rss'])}")
    print(f"JSON: {out}")
    return 0


def run(args: argparse.Namespace, url: str, workdir: Path, results: JSON) -> None:
    """Set-up, then the import; fills ``results``."""
    if args.tracemalloc:
        tracemalloc.start()
    peaks = Peaks(args.tracemalloc)
    phases: JSON = {}
    results["phases"] = phases

    def close_phase(name: str, records: int, start: float) -> None:
        peaks.fold()
        wall = time.perf_counter() - start
        phases[name] = {
            "records": records,
            "wall_s": round(wall, 1),
            "records_per_s": round(records / wall) if records else 0,
            "peak_rss_mb": round(peaks.phase_rss, 1),
        }
        if args.tracemalloc:
            phases[name]["heap_peak_mb"] = round(peaks.phase_heap, 1)

    peaks.start_phase()
    start = time.perf_counter()
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{workdir / 'bench.db'}",
        secret_keys=Fernet.generate_key().decode(),
        secret_key_file=workdir / "unused.key",
        public_url="http://127.0.0.1:9",
        worker_concurrency=1,
    )
    system = System(settings)
    freeze_start_up_heap()  # as serve and worker do
    try:
        issued = system.tenancy.create_tenant("Bench", "owner@bench.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        connection = system.connections.create(
            principal, system="uniconta", name="Uniconta", timezone="Europe/Copenhagen",
            settings={"company_id": COMPANY, "username": USER, "base_url": url,
                      "daily_call_limit": 10**6, "vat_mapping": VAT,
                      "entities": streams_only("uniconta", "customers", "products", "invoices")},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        close_phase("setup (system + connection)", 0, start)

        expected = results["debtors"] + results["invoices"] + PRODUCTS
        peaks.start_phase()
        start = time.perf_counter()
        with Sampler(system, expected, args.tracemalloc) as sampler:
            system.connections.start_import(principal, connection["id"], system.connector)
            system.run_until_idle()
        status = system.connections.status(principal, connection["id"])
        if status["import_state"] != "done":
            raise RuntimeError(f"import did not finish: {status['recent_runs'][:2]}")
        with system.sessions() as session:
            counts = dict(
                session.execute(
                    sa.select(HubRecord.entity, sa.func.count()).group_by(HubRecord.entity)
                ).all()
            )
        close_phase("initial import", sum(counts.values()), start)
        results["hub_records"] = {entity: int(n) for entity, n in counts.items()}
        results["open_issues"] = status["open_issues"]
        results["import_rss"] = sampler.growth()
        results["import_samples"] = [[round(t, 1), n, round(mb, 1)] for t, n, mb in sampler.samples]
        if args.tracemalloc:
            report = sampler.heap_growth()
            results["heap_growth"] = report
            print(report)
    finally:
        system.close()


if __name__ == "__main__":
    sys.exit(main())
