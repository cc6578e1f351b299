"""Benchmark: the Uniconta integration at acceptance scale, an initial import then a steady day.

The acceptance asks for an initial import of 20,000 debtors, 2,000 creditors, 30,000 contacts,
5,000 items (with their stock) and 50,000 posted invoices of 3 lines (with their open items),
then a day of 1 % changes, within Uniconta's 5,000 calls per user per day. This measures each
phase: API calls (counted by the sandbox, by the engine's quota ledger and per entity by an
HTTP transport), the fewest calls the API's page and batch sizes allow, wall time, records per
second and peak memory, and says how many days of budget each phase needs.

The sandbox runs in a child process (this script with ``--serve-sandbox``) so the figures are
the engine's own. The engine runs on a manual clock: frozen during the import, then moved
through one day in 5-minute steps so every schedule fires as it would in production (pulls
every 6 hours, products every 6 hours, invoices hourly, payments 03:00, stock 05:00, pushes);
the Change URL points at the hub API served in this process, so callbacks arrive for real.

    .venv/bin/python benchmarks/bench_uniconta_full.py --scale 0.1
    .venv/bin/python benchmarks/bench_uniconta_full.py
    .venv/bin/python benchmarks/bench_uniconta_full.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ledgerbridge_bench
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.connectors.uniconta.connector import KEYSETS, MAX_FILTER_KEYS
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.jobqueue.port import Handler, JobContext, JobRunner
from ledgerbridge.runtime.system import System
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Link, QuotaUsage

JSON = dict[str, Any]

COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"
DAILY_BUDGET = 5000
"""Uniconta's included calls per user per day."""
SPEC = SYSTEMS["uniconta"]
PAGE = SPEC.page_size
"""Rows per OData page (Uniconta's and the sandbox's maximum)."""
WRITE_BATCH = SPEC.write_batch_size
KEYS_PER_FILTER = MAX_FILTER_KEYS
"""Keys per ``Key eq … or …`` lookup (URL length), the batch size of reads by key."""
BASE = {
    "debtors": 20_000,
    "creditors": 2_000,
    "contacts": 30_000,
    "products": 5_000,
    "invoices": 50_000,
}
LINES_PER_INVOICE = 3
STREAMS = tuple(KEYSETS)
VAT = {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25", "K25": "DK25K", "X99": "X"}
ROW_ENTITIES = (
    "DebtorClient",
    "CreditorClient",
    "ContactClient",
    "InvItemClient",
    "InvItemStorageClient",
    "DebtorInvoiceClient",
    "DebtorInvoiceLines",
    "DebtorTransOpenClient",
)
ZONE = ZoneInfo("Europe/Copenhagen")
DAY_START = clock_time(7, 0, 30)
"""Local time the import runs at and the simulated day starts from."""
BUSINESS_HOURS = range(8, 17)
"""The day's changes are spread over these hours, one slice at the top of each."""
STEP = timedelta(minutes=5)
"""Clock step of the simulated day: the push schedule's period."""
MIN_FORMULA = (
    f"pages(n) = ceil(n/{PAGE}) + 1 when n is a multiple of {PAGE} (a full last page cannot "
    "tell that nothing follows, so a closing empty page is read); import = 2 verification "
    "calls (UserClient, CompanyClient) + 1 $count per stream + 1 VAT-rate read + pages(rows) "
    f"per stream + ceil(invoice lines/{PAGE}) for the lines read in bulk; steady day = per "
    "scheduled run pages(rows) of what it scans (pull: debtors+creditors+contacts, products, "
    "stock, payments), invoices read incrementally (1 page after the cursor per run + "
    f"ceil(new lines/{PAGE})), callbacks ceil(changed/{KEYS_PER_FILTER}) reads per stream per "
    f"burst, pushes ceil(n/{KEYS_PER_FILTER}) reads of the current record (Update replaces "
    f"the whole entity) + ceil(n/{WRITE_BATCH}) batched writes per stream per burst; echo "
    "callbacks of our own writes are not counted (the Change URL's Post option makes them free)"
)


def scaled(scale: float) -> dict[str, int]:
    """Record counts for a scale (at least one of each)."""
    return {name: max(1, round(count * scale)) for name, count in BASE.items()}


def pages(rows: int) -> int:
    """OData pages a keyset scan of ``rows`` rows needs, closing page included."""
    return math.ceil(rows / PAGE) + (1 if rows % PAGE == 0 else 0)


def one_percent(rows: int) -> int:
    return max(1, round(rows / 100))


def spread(items: list[Any], count: int, offset: int) -> list[Any]:
    """``count`` items evenly spread over the list, starting near ``offset`` (deterministic)."""
    if not items or count <= 0:
        return []
    stride = max(1, len(items) // count)
    return [items[(offset + i * stride) % len(items)] for i in range(min(count, len(items)))]


# ------------------------------------------------------------------ the sandbox process


def serve_sandbox(port: int, scale: float, seed: int, ready: Path) -> None:
    """Child process: seed the whole company, tell the parent what it holds, then serve.

    Throttling is off (``throttle_delay=0`` and a huge limit) so Uniconta's slow-down does not
    distort timings; the engine's own quota ledger still counts every call."""
    from ledgerbridge.sandbox.uniconta import (
        UnicontaSandbox,
        seed_contacts,
        seed_creditors,
        seed_debtors,
        seed_invoices,
        seed_products,
        serve,
    )

    sizes = scaled(scale)
    sandbox = UnicontaSandbox(daily_call_limit=10**9, throttle_delay=0)
    sandbox.add_company(COMPANY, "Benchmark Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    start = time.perf_counter()
    debtors = seed_debtors(sandbox, COMPANY, count=sizes["debtors"], seed=seed)
    creditors = seed_creditors(sandbox, COMPANY, count=sizes["creditors"], seed=seed)
    contacts = seed_contacts(sandbox, COMPANY, count=sizes["contacts"], seed=seed)
    items = seed_products(sandbox, COMPANY, count=sizes["products"], seed=seed)
    seed_invoices(sandbox, COMPANY, count=sizes["invoices"], lines=LINES_PER_INVOICE, seed=seed)
    seconds = time.perf_counter() - start
    rows = {entity: len(sandbox.snapshot(COMPANY, entity)) for entity in ROW_ENTITIES}
    catalogue = sandbox.snapshot(COMPANY, "InvItemClient")
    facts = {
        "seed_s": round(seconds, 2),
        "rows": rows,
        "debtors": debtors,
        "creditors": creditors,
        "contacts": contacts,
        "items": items,
        "sellable": [
            r["Item"] for r in catalogue if not r.get("Blocked") and r.get("Vat") != "X99"
        ],
        "stock": [
            [r["Item"], r["Warehouse"]] for r in sandbox.snapshot(COMPANY, "InvItemStorageClient")
        ],
        "open_invoices": [
            int(r["Invoice"])
            for r in sandbox.snapshot(COMPANY, "DebtorTransOpenClient")
            if r.get("AmountOpen") and r["AmountOpen"] > 1
        ],
    }
    temporary = ready.with_suffix(".tmp")
    temporary.write_text(json.dumps(facts))
    temporary.replace(ready)
    serve(sandbox, port=port)


@contextmanager
def sandbox_process(
    scale: float, seed: int, workdir: Path
) -> Iterator[tuple[str, JSON, subprocess.Popen[bytes]]]:
    """Start the sandbox child, wait until it is seeded and answering, stop it afterwards."""
    port = free_port()
    ready = workdir / "sandbox.json"
    log = (workdir / "sandbox.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-sandbox",
            str(port),
            "--scale",
            str(scale),
            "--seed",
            str(seed),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 1800
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start; see {workdir / 'sandbox.log'}")
            time.sleep(0.2)
        while True:
            try:
                httpx.get(f"{url}/_sandbox/health").raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, json.loads(ready.read_text()), process
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


# ------------------------------------------------------------------ measuring


def _vm_hwm_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Peaks:
    """Peak RSS (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``) and, when tracing,
    the Python heap peak, per phase and per job, folding each reset into the phase's peak."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.resettable = _vm_hwm_mb() is not None
        self.phase_rss = 0.0
        self.phase_heap = 0.0

    def _rss(self) -> float:
        value = _vm_hwm_mb()
        if value is None:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return value

    def reset(self) -> None:
        self.fold()
        if self.resettable:
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                self.resettable = False
        if self.trace:
            tracemalloc.reset_peak()

    def fold(self) -> tuple[float, float]:
        """Current peaks (since the last reset), folded into the phase's."""
        rss = self._rss()
        heap = tracemalloc.get_traced_memory()[1] / 2**20 if self.trace else 0.0
        self.phase_rss = max(self.phase_rss, rss)
        self.phase_heap = max(self.phase_heap, heap)
        return rss, heap

    def start_phase(self) -> None:
        self.reset()
        self.phase_rss = 0.0
        self.phase_heap = 0.0
        self.reset()


class CountingTransport(httpx.BaseTransport):
    """Counts and times every request to Uniconta by what it asks for and by the job making
    it (the sandbox only counts totals), so calls can be set against the minimum per entity.

    Each connector closes its client after a job; production then opens a fresh connection
    pool, and so does this."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.kind = "setup"
        self.calls: Counter[tuple[str, str]] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        label = request_label(request)
        start = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            with self._lock:
                self.calls[(self.kind, label)] += 1
                self.seconds[self.kind] += time.perf_counter() - start

    def close(self) -> None:
        with self._lock:
            inner, self._inner = self._inner, httpx.HTTPTransport()
        inner.close()

    def by_label(self, kinds: set[str]) -> Counter[str]:
        found: Counter[str] = Counter()
        for (kind, label), count in self.calls.items():
            if kind.split(":")[0] in kinds:
                found[label] += count
        return found


def request_label(request: httpx.Request) -> str:
    """``DebtorClient``, ``DebtorClient $count``, ``Update DebtorClient``, ``PostInvoice``."""
    parts = request.url.path.strip("/").split("/")
    if parts[0] == "odata":
        entity = parts[-1]
        if entity.isdigit():
            return "service document"
        return f"{entity} $count" if "$count" in request.url.params else entity
    if parts[:2] == ["api", "Entities"] and len(parts) >= 4:
        return f"{parts[2]} {parts[3]}"
    return parts[-1]


@dataclass
class KindStats:
    """What the runs of one job kind cost."""

    runs: int = 0
    calls: int = 0
    records: int = 0
    seconds: float = 0.0
    api_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    heap_peak_mb: float = 0.0
    failures: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class JobMeter:
    """Wraps the engine's job handlers to time each run, take its calls and record counts
    from its result, and attribute its HTTP requests to its kind."""

    def __init__(self, transport: CountingTransport, peaks: Peaks) -> None:
        self.transport = transport
        self.peaks = peaks
        self.stats: defaultdict[str, KindStats] = defaultdict(KindStats)
        self.phase = "setup"

    def wrap(self, kind: str, handler: Handler) -> Handler:
        def run(job: JobContext) -> JSON | None:
            stats = self.stats[kind]
            self.transport.kind = kind
            api_before = sum(self.transport.seconds.values())
            self.peaks.reset()
            start = time.perf_counter()
            result: JSON | None = None
            try:
                result = handler(job)
            except Exception:
                stats.failures += 1
                raise
            finally:
                stats.runs += 1
                stats.seconds += time.perf_counter() - start
                stats.api_seconds += sum(self.transport.seconds.values()) - api_before
                rss, heap = self.peaks.fold()
                stats.peak_rss_mb = max(stats.peak_rss_mb, rss)
                stats.heap_peak_mb = max(stats.heap_peak_mb, heap)
                self.transport.kind = self.phase
                if result:
                    stats.calls += int(result.get("calls", 0))
                    counts = result.get("counts") or {}
                    stats.counts.update(counts)
                    stats.records += sum(int(v) for v in counts.values())
            return result

        return run

    def take(self) -> dict[str, KindStats]:
        taken = dict(self.stats)
        self.stats = defaultdict(KindStats)
        return taken


def run_until_idle(system: System, worker: JobRunner, max_rounds: int = 100) -> int:
    """``System.run_until_idle`` with the instrumented worker."""
    total = 0
    for _ in range(max_rounds):
        system.tick()
        ran = worker.run_until_idle()
        total += ran
        if ran == 0:
            break
    return total


@dataclass
class Phase:
    """One row of the phase table."""

    name: str
    records: int
    calls: int
    ledger_calls: int
    minimum: int
    wall_s: float
    api_wait_s: float
    peak_rss_mb: float
    heap_peak_mb: float | None
    note: str = ""

    @property
    def calls_per_record(self) -> float:
        return self.calls / self.records if self.records else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0

    def as_json(self) -> JSON:
        return {
            **asdict(self),
            "calls_per_record": round(self.calls_per_record, 5),
            "records_per_s": round(self.records_per_s, 1),
            "wall_s": round(self.wall_s, 2),
            "api_wait_s": round(self.api_wait_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "heap_peak_mb": None if self.heap_peak_mb is None else round(self.heap_peak_mb, 1),
        }


class Bench:
    """The engine under test and what is needed to read its figures."""

    def __init__(self, args: argparse.Namespace, url: str, facts: JSON, workdir: Path) -> None:
        self.args = args
        self.url = url
        self.facts = facts
        self.admin = httpx.Client(base_url=url, timeout=60)
        start_day = datetime.now(ZONE).date()
        self.day_start = datetime.combine(start_day, DAY_START, ZONE)
        self.clock = ManualClock(self.day_start)
        self.transport = CountingTransport()
        self.peaks = Peaks(args.tracemalloc)
        hub_port = free_port()
        self.settings = Settings(
            database_url=args.database_url or f"sqlite:///{workdir / 'bench.db'}",
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=workdir / "unused.key",
            public_url=f"http://127.0.0.1:{hub_port}",
            worker_concurrency=1,
        )
        self.system = System(self.settings, clock=self.clock, transport=self.transport)
        self.meter = JobMeter(self.transport, self.peaks)
        self.scans: defaultdict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._time_scans()
        handlers = {k: self.meter.wrap(k, h) for k, h in self.system.jobs.handlers().items()}
        self.worker = self.system.queue.runner(handlers, concurrency=1, poll_interval=1.0)
        self.server = ServerThread(create_app(self.system), port=hub_port).start()
        issued = self.system.tenancy.create_tenant("Bench", "owner@bench.example")
        principal = self.system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        self.principal: Principal = principal
        self.connection_id = ""
        self.credential_key = ""
        self.callbacks_seen = 0

    def _time_scans(self) -> None:
        """Time each stream's keyset scan (import and pulls) and file its HTTP requests under
        ``<job>:<stream>``: the import is one job, and this splits it by stream."""
        inbound = self.system.engine.inbound
        scan = inbound.scan
        transport = self.transport

        def timed(ctx: Any, stream: str, cursor: str, *, restart: bool) -> None:
            job = transport.kind
            transport.kind = f"{job}:{stream}"
            api = transport.seconds[transport.kind]
            start = time.perf_counter()
            try:
                scan(ctx, stream, cursor, restart=restart)
            finally:
                entry = self.scans[(job, stream)]
                entry[0] += 1
                entry[1] += time.perf_counter() - start
                entry[2] += transport.seconds[transport.kind] - api
                transport.kind = job

        inbound.scan = timed  # type: ignore[method-assign]

    @staticmethod
    def scan_rows(
        requests: Counter[tuple[str, str]],
        scans: dict[tuple[str, str], list[float]],
        jobs: dict[str, KindStats],
        minimum: dict[str, int],
    ) -> tuple[str, JSON]:
        """Per stream of each scanning job: runs, records, calls, minimum, wall time, rate."""
        calls: Counter[tuple[str, str]] = Counter()
        for (kind, _), count in requests.items():
            if ":" in kind:
                job, stream = kind.split(":", 1)
                calls[(job, stream)] += count
        rows, data = [], {}
        for (job, stream), (runs, seconds, api) in sorted(scans.items()):
            counts = jobs[job].counts if job in jobs else Counter()
            records = sum(v for k, v in counts.items() if k.split(".")[0] == stream)
            rate = records / seconds if seconds else 0.0
            key = f"{job}:{stream}"
            rows.append(
                [
                    key,
                    int(runs),
                    records,
                    calls[(job, stream)],
                    minimum.get(key, 0),
                    f"{seconds:.1f}",
                    f"{api:.1f}",
                    f"{rate:.0f}",
                ]
            )
            data[key] = {
                "runs": int(runs),
                "records": records,
                "calls": calls[(job, stream)],
                "minimum": minimum.get(key, 0),
                "wall_s": round(seconds, 2),
                "api_wait_s": round(api, 2),
                "records_per_s": round(rate, 1),
            }
        headers = [
            "job:stream",
            "runs",
            "records",
            "calls",
            "minimum",
            "wall s",
            "api wait s",
            "rec/s",
        ]
        return table(headers, rows), data

    def take_requests(self) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], list[float]]]:
        """HTTP requests and scan timings since the last call (one phase's)."""
        calls, scans = self.transport.calls, dict(self.scans)
        self.transport.calls = Counter()
        self.scans.clear()
        return calls, scans

    def close(self) -> None:
        self.server.stop()
        self.system.close()
        self.admin.close()
        self.transport.close()

    # -------------------------------------------------------------- counters

    def sandbox_calls(self) -> int:
        report = self.admin.get(f"/_sandbox/companies/{COMPANY}/calls").json()
        return int(report["users"].get(USER, {}).get("total", 0))

    def ledger_calls(self) -> int:
        """Calls booked in the engine's quota ledger for the credential, all days."""
        with self.system.sessions() as session:
            used = session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(QuotaUsage.used), 0)).where(
                    QuotaUsage.credential_key == self.credential_key
                )
            )
        return int(used or 0)

    @contextmanager
    def phase(self, name: str) -> Iterator[JSON]:
        """Calls, ledger calls, wall time, API wait and peaks around one phase."""
        self.meter.phase = name
        self.transport.kind = name
        calls, ledger = self.sandbox_calls(), self.ledger_calls()
        api = sum(self.transport.seconds.values())
        self.peaks.start_phase()
        box: JSON = {}
        start = time.perf_counter()
        yield box
        box["wall_s"] = time.perf_counter() - start
        self.peaks.fold()
        box["rss"], box["heap"] = self.peaks.phase_rss, self.peaks.phase_heap
        box["calls"] = self.sandbox_calls() - calls
        box["ledger"] = self.ledger_calls() - ledger if self.credential_key else box["calls"]
        box["api_wait_s"] = sum(self.transport.seconds.values()) - api

    def row(self, name: str, box: JSON, records: int, minimum: int, note: str = "") -> Phase:
        return Phase(
            name=name,
            records=records,
            calls=box["calls"],
            ledger_calls=box["ledger"],
            minimum=minimum,
            wall_s=float(box.get("engine_s") or box["wall_s"]),
            api_wait_s=box["api_wait_s"],
            peak_rss_mb=box["rss"],
            heap_peak_mb=box["heap"] if self.args.tracemalloc else None,
            note=note,
        )

    # -------------------------------------------------------------- set-up and import

    def create_connection(self) -> None:
        settings = {
            "company_id": COMPANY,
            "username": USER,
            "base_url": self.url,
            "page_size": PAGE,
            "daily_call_limit": 10**6,
            "entities": {s: {"enabled": True} for s in STREAMS},
            "vat_mapping": VAT,
        }
        connection = self.system.connections.create(
            self.principal,
            system="uniconta",
            name="Uniconta",
            timezone="Europe/Copenhagen",
            settings=settings,
            secrets_={"password": PASSWORD},
        )
        self.connection_id = connection["id"]
        self.credential_key = SPEC.credential_key(connection["settings"])

    def run_import(self) -> None:
        """As ``POST /connections/{id}/import`` does it (VAT warning check included), then
        every job that follows until the queue is idle."""
        self.system.connections.start_import(
            self.principal, self.connection_id, self.system.connector
        )
        run_until_idle(self.system, self.worker)
        status = self.system.connections.status(self.principal, self.connection_id)
        if status["import_state"] != "done":
            raise RuntimeError(f"import did not finish: {status['recent_runs'][:2]}")

    def import_minimum(self) -> dict[str, int]:
        rows = self.facts["rows"]
        minimum = {f"{KEYSETS[s].entity} $count": 1 for s in STREAMS}
        minimum["GLVatClient"] = 1
        for stream in STREAMS:
            minimum[KEYSETS[stream].entity] = pages(rows[KEYSETS[stream].entity])
        minimum["DebtorInvoiceLines"] = math.ceil(rows["DebtorInvoiceLines"] / PAGE)
        return minimum

    # -------------------------------------------------------------- the steady day

    def plan_day(self) -> list[JSON]:
        """1 % changes on each side, in one slice per business hour. Uniconta side (as UI
        users, through the sandbox's admin endpoints: no API calls counted for the engine's
        user): debtors, creditors, contacts and items edited, stock counted, invoices posted
        from new orders, payments registered. Hub side (records service): customers,
        suppliers, contacts, products (read-only: noted, never sent) and invoices (payment
        term) patched."""
        facts, sizes = self.facts, scaled(self.args.scale)
        remote = {
            "debtors": spread(facts["debtors"], one_percent(sizes["debtors"]), 0),
            "creditors": spread(facts["creditors"], one_percent(sizes["creditors"]), 0),
            "contacts": spread(facts["contacts"], one_percent(sizes["contacts"]), 0),
            "items": spread(facts["items"], one_percent(sizes["products"]), 0),
            "stock": spread(facts["stock"], one_percent(len(facts["stock"])), 0),
            "orders": list(range(one_percent(sizes["invoices"]))),
            "payments": spread(facts["open_invoices"], one_percent(sizes["invoices"]), 0),
        }
        hub = {
            stream: spread(self.linked(stream), one_percent(sizes[size]), 50)
            for stream, size in (
                ("customers", "debtors"),
                ("suppliers", "creditors"),
                ("contacts", "contacts"),
                ("products", "products"),
                ("invoices", "invoices"),
            )
        }
        slices = len(BUSINESS_HOURS)
        return [
            {
                "remote": {k: v[n::slices] for k, v in remote.items()},
                "hub": {k: v[n::slices] for k, v in hub.items()},
            }
            for n in range(slices)
        ]

    def linked(self, stream: str) -> list[str]:
        with self.system.sessions() as session:
            return list(
                session.scalars(
                    sa.select(Link.record_id)
                    .where(Link.connection_id == self.connection_id, Link.stream == stream)
                    .order_by(Link.remote_id)
                )
            )

    def apply_remote(self, changes: JSON, hour: int) -> int:
        """Edits made in Uniconta by its users; returns the Change URL callbacks they fire."""
        base = f"/_sandbox/companies/{COMPANY}"
        sellable, debtors = self.facts["sellable"], self.facts["debtors"]

        def call(method: str, path: str, body: JSON) -> JSON:
            response = self.admin.request(method, f"{base}{path}", json=body)
            if response.status_code != 200:
                raise RuntimeError(f"sandbox {method} {path}: {response.text[:300]}")
            answer: JSON = response.json()
            return answer

        for n, account in enumerate(changes["debtors"]):
            call("POST", f"/DebtorClient/{account}", {"Phone": f"+45 33 {hour:02d} {n:04d}"})
        for n, account in enumerate(changes["creditors"]):
            call("POST", f"/CreditorClient/{account}", {"Phone": f"+45 35 {hour:02d} {n:04d}"})
        for row_id in changes["contacts"]:
            call("POST", f"/ContactClient/{row_id}", {"Title": f"Kontaktansvarlig {hour}"})
        for item in changes["items"]:
            call("POST", f"/InvItemClient/{item}", {"Name": f"Vare {item} ({hour}:00)"})
        for n, (item, warehouse) in enumerate(changes["stock"]):
            call("PUT", "/stock", {"item": item, "warehouse": warehouse, "qty": 900 + n})
        for n in changes["orders"]:
            account = debtors[(n * 37) % len(debtors)]
            order = call("POST", "/DebtorOrderClient", {"Account": account})
            number = order["OrderNumber"]
            for line in range(1, LINES_PER_INVOICE + 1):
                item = sellable[(n * 7 + line) % len(sellable)]
                call(
                    "POST",
                    "/DebtorOrderLineClient",
                    {
                        "OrderNumber": number,
                        "LineNumber": line,
                        "Item": item,
                        "Qty": line,
                        "Price": 100 + n,
                    },
                )
            call("POST", f"/orders/{number}/post", {})
        for invoice in changes["payments"]:
            call("POST", "/payments", {"invoice": invoice, "amount": 1})
        return sum(len(changes[k]) for k in ("debtors", "creditors", "contacts", "items", "stock"))

    def apply_hub(self, changes: JSON, hour: int) -> int:
        """Edits made by the app through the records service (what ``PATCH /parties/{id}``
        and friends call); each queues a push."""
        records = self.system.records
        principal = self.principal
        for n, rid in enumerate(changes["customers"]):
            records.patch(principal, "party", rid, {"phone": f"+45 70 {hour:02d} {n:04d}"})
        for n, rid in enumerate(changes["suppliers"]):
            records.patch(principal, "party", rid, {"phone": f"+45 72 {hour:02d} {n:04d}"})
        for rid in changes["contacts"]:
            records.patch(principal, "contact_person", rid, {"job_title": f"Indkøber {hour}"})
        for rid in changes["products"]:
            records.patch(principal, "product", rid, {"name": f"Omdøbt i appen {hour}"})
        for rid in changes["invoices"]:
            current = records.get(principal, "invoice", rid).data.get("payment_term_days")
            records.patch(
                principal, "invoice", rid, {"payment_term_days": 14 if current == 30 else 30}
            )
        return sum(len(v) for v in changes.values())

    def wait_for_callbacks(self, target: int, timeout: float = 300.0) -> JSON:
        """Until the sandbox has delivered (or dropped) ``target`` callbacks and no more come."""
        deadline = time.monotonic() + timeout
        last, quiet = -1, 0
        while True:
            stats: JSON = self.admin.get("/_sandbox/health").json()["callbacks"]
            done = int(stats["delivered"]) + int(stats["dropped"])
            quiet = quiet + 1 if done == last and done >= target else 0
            if quiet >= 3:
                self.callbacks_seen = done
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"callbacks: {done} of {target} after {timeout} s")
            last = done
            time.sleep(0.05)

    def run_day(self, slices: list[JSON]) -> JSON:
        """Move the clock through 24 hours in 5-minute steps: at the top of each business
        hour one slice of changes is made on both sides, then whatever is due runs."""
        change_url = self.system.connections.status(self.principal, self.connection_id)[
            "change_url"
        ]
        self.admin.put(
            f"/_sandbox/companies/{COMPANY}/change-url",
            json={"url": change_url, "post_body": self.args.callback_body},
        ).raise_for_status()
        times: defaultdict[str, float] = defaultdict(float)
        end = self.day_start + timedelta(days=1)
        applied: set[int] = set()
        while self.clock.now() < end:
            self.clock.advance(STEP)
            hour = self.clock.now().astimezone(ZONE).hour
            if hour in BUSINESS_HOURS and hour not in applied:
                applied.add(hour)
                changes = slices[hour - BUSINESS_HOURS.start]
                start = time.perf_counter()
                expected = self.apply_remote(changes["remote"], hour)
                times["uniconta_edits_s"] += time.perf_counter() - start
                start = time.perf_counter()
                self.apply_hub(changes["hub"], hour)
                times["hub_patches_s"] += time.perf_counter() - start
                start = time.perf_counter()
                self.wait_for_callbacks(self.callbacks_seen + expected)
                times["callback_wait_s"] += time.perf_counter() - start
            start = time.perf_counter()
            run_until_idle(self.system, self.worker)
            times["jobs_s"] += time.perf_counter() - start
        for _ in range(20):  # echoes of the last pushes, then nothing more
            start = time.perf_counter()
            stats = self.wait_for_callbacks(self.callbacks_seen)
            times["callback_wait_s"] += time.perf_counter() - start
            start = time.perf_counter()
            ran = run_until_idle(self.system, self.worker)
            times["jobs_s"] += time.perf_counter() - start
            if ran == 0:
                break
        return {"times": dict(times), "callbacks": stats}

    def day_minimum(self, slices: list[JSON], runs: dict[str, int]) -> dict[str, int]:
        rows = self.facts["rows"]
        open_items = rows["DebtorTransOpenClient"] + sum(len(s["remote"]["orders"]) for s in slices)
        minimum = {
            "pull": runs.get("pull", 0)
            * sum(pages(rows[KEYSETS[s].entity]) for s in ("customers", "suppliers", "contacts")),
            "products": runs.get("products", 0) * pages(rows["InvItemClient"]),
            "stock": runs.get("stock", 0) * pages(rows["InvItemStorageClient"]),
            "payments": runs.get("payments", 0) * pages(open_items),
            "invoices": runs.get("invoices", 0)
            + sum(math.ceil(len(s["remote"]["orders"]) * LINES_PER_INVOICE / PAGE) for s in slices),
            "inbox": 0
            if self.args.callback_body
            else sum(
                math.ceil(len(s["remote"][k]) / KEYS_PER_FILTER)
                for s in slices
                for k in ("debtors", "creditors", "contacts", "items")
            ),
            "push": sum(
                math.ceil(len(s["hub"][k]) / KEYS_PER_FILTER)
                + math.ceil(len(s["hub"][k]) / WRITE_BATCH)
                for s in slices
                for k in ("customers", "suppliers", "contacts", "invoices")
            ),
        }
        return minimum

    def hub_counts(self) -> JSON:
        from ledgerbridge.store.tables.hub import HubRecord

        with self.system.sessions() as session:
            rows = session.execute(
                sa.select(HubRecord.entity, sa.func.count()).group_by(HubRecord.entity)
            ).all()
        status = self.system.connections.status(self.principal, self.connection_id)
        return {"records": {e: int(c) for e, c in rows}, "open_issues": status["open_issues"]}


# ------------------------------------------------------------------ reporting


@contextmanager
def profiled(target: Path | None, name: str) -> Iterator[None]:
    """cProfile around a phase when ``--profile`` names a folder (stats written there)."""
    if target is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        target.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(target / f"{name}.prof"))
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        (target / f"{name}.txt").write_text(text.getvalue())


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def phase_rows(phases: list[Phase]) -> str:
    heap = any(p.heap_peak_mb is not None for p in phases)
    headers = [
        "phase",
        "records",
        "calls",
        "ledger",
        "minimum",
        "calls/rec",
        "wall s",
        "api wait s",
        "rec/s",
        "peak RSS MB",
    ] + (["heap MB"] if heap else [])
    rows = [
        [
            p.name,
            p.records,
            p.calls,
            p.ledger_calls,
            p.minimum,
            f"{p.calls_per_record:.4f}",
            f"{p.wall_s:.1f}",
            f"{p.api_wait_s:.1f}",
            f"{p.records_per_s:.0f}",
            f"{p.peak_rss_mb:.0f}",
        ]
        + ([f"{p.heap_peak_mb or 0:.0f}"] if heap else [])
        for p in phases
    ]
    return table(headers, rows)


def kind_rows(stats: dict[str, KindStats], minimum: dict[str, int]) -> tuple[str, JSON]:
    headers = [
        "job",
        "runs",
        "records",
        "calls",
        "minimum",
        "calls/rec",
        "wall s",
        "api wait s",
        "rec/s",
        "peak RSS MB",
    ]
    rows, data = [], {}
    for kind in sorted(stats, key=lambda k: -stats[k].calls):
        s = stats[kind]
        per = s.calls / s.records if s.records else 0.0
        rate = s.records / s.seconds if s.seconds else 0.0
        rows.append(
            [
                kind,
                s.runs,
                s.records,
                s.calls,
                minimum.get(kind, 0),
                f"{per:.4f}",
                f"{s.seconds:.1f}",
                f"{s.api_seconds:.1f}",
                f"{rate:.0f}",
                f"{s.peak_rss_mb:.0f}",
            ]
        )
        data[kind] = {
            "runs": s.runs,
            "records": s.records,
            "calls": s.calls,
            "minimum": minimum.get(kind, 0),
            "wall_s": round(s.seconds, 2),
            "api_wait_s": round(s.api_seconds, 2),
            "records_per_s": round(rate, 1),
            "peak_rss_mb": round(s.peak_rss_mb, 1),
            "failures": s.failures,
            "counts": dict(s.counts),
        }
        if s.heap_peak_mb:
            data[kind]["heap_peak_mb"] = round(s.heap_peak_mb, 1)
    return table(headers, rows), data


def label_rows(measured: Counter[str], minimum: dict[str, int]) -> str:
    labels = sorted(set(measured) | set(minimum), key=lambda k: (-measured[k], k))
    rows = [[label, measured[label], minimum.get(label, 0)] for label in labels]
    rows.append(["total", sum(measured.values()), sum(minimum.values())])
    return table(["request", "calls", "minimum"], rows)


def budget_text(calls: int, what: str) -> tuple[str, JSON]:
    days = math.ceil(calls / DAILY_BUDGET) if calls else 0
    fits = calls <= DAILY_BUDGET
    if fits:
        text = f"{what}: {calls} calls, fits in one day of {DAILY_BUDGET}"
        text += f" ({calls / DAILY_BUDGET:.1%} of the budget)"
    else:
        text = f"{what}: {calls} calls, does NOT fit: needs {days} days of {DAILY_BUDGET} calls"
    return text, {
        "calls": calls,
        "days": days,
        "fits": fits,
        "share_of_budget": round(calls / DAILY_BUDGET, 4),
    }


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = acceptance scale")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace the Python heap peak per phase (slows the engine 4-6 times)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder for cProfile stats of the import and the day",
    )
    parser.add_argument(
        "--callback-body",
        action="store_true",
        help="Change URL with Uniconta's Post option (callbacks carry the record)",
    )
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox is not None:
        serve_sandbox(args.serve_sandbox, args.scale, args.seed, args.ready_file)
        return 0

    # A terminated run still stops its sandbox and removes its files (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    database = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    results: JSON = {
        "scale": args.scale,
        "database": database,
        "sizes": scaled(args.scale),
        "tracemalloc": args.tracemalloc,
        "callback_body": args.callback_body,
        "minimum_formula": MIN_FORMULA,
    }
    try:
        with sandbox_process(args.scale, args.seed, workdir) as (url, facts, process):
            results["sandbox"] = {"rows": facts["rows"], "seed_s": facts["seed_s"]}
            print(f"sandbox seeded in {facts['seed_s']} s: {facts['rows']}", flush=True)
            bench = Bench(args, url, facts, workdir)
            if args.tracemalloc:
                tracemalloc.start()
            try:
                report = run(bench, results)
            finally:
                results["sandbox"]["peak_rss_mb"] = _vm_hwm_mb(process.pid)
                bench.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if database == "sqlite" else f"_{database}"
    out = args.out / f"uniconta_full_{args.scale:g}{suffix}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(report)
    print(f"\nJSON: {out}")
    return 0


def run(bench: Bench, results: JSON) -> str:
    """The three phases, then the tables; fills ``results`` as it goes."""
    args, facts = bench.args, bench.facts
    rows = facts["rows"]
    phases: list[Phase] = []

    with bench.phase("setup") as box:
        bench.create_connection()
    setup_calls, _ = bench.take_requests()
    phases.append(bench.row("setup (connection + checks)", box, 0, 2))

    import_records = sum(rows[KEYSETS[s].entity] for s in STREAMS)
    with profiled(args.profile, "import"), bench.phase("import") as box:
        bench.run_import()
    import_stats = bench.meter.take()
    import_min = bench.import_minimum()
    phases.append(bench.row("initial import", box, import_records, sum(import_min.values())))
    import_requests, import_scans = bench.take_requests()
    import_labels: Counter[str] = Counter()
    for (_, label), count in import_requests.items():
        import_labels[label] += count
    stream_min = {f"import:{s}": pages(rows[KEYSETS[s].entity]) for s in STREAMS}
    stream_min["import:invoices"] += math.ceil(rows["DebtorInvoiceLines"] / PAGE)
    import_streams, import_stream_data = bench.scan_rows(
        import_requests, import_scans, import_stats, stream_min
    )
    results["import"] = {
        "by_request": dict(import_labels),
        "minimum_by_request": import_min,
        "by_stream": import_stream_data,
    }
    results["hub_after_import"] = bench.hub_counts()
    print(phase_rows(phases), flush=True)

    slices = bench.plan_day()
    changed = sum(len(v) for s in slices for part in s.values() for v in part.values())
    with profiled(args.profile, "day"), bench.phase("day") as box:
        day = bench.run_day(slices)
    box["engine_s"] = day["times"]["jobs_s"] + day["times"]["hub_patches_s"]
    day_stats = bench.meter.take()
    runs = {kind: s.runs for kind, s in day_stats.items()}
    day_min = bench.day_minimum(slices, runs)
    day_requests, day_scans = bench.take_requests()
    scan_min = {
        f"{job}:{stream}": runs.get(job, 0) * pages(rows[KEYSETS[stream].entity])
        for job, streams in SPEC.pulls.items()
        for stream in streams.streams
        if stream != "invoices"
    }
    scan_min["invoices:invoices"] = day_min["invoices"]
    day_streams, day_stream_data = bench.scan_rows(day_requests, day_scans, day_stats, scan_min)
    phases.append(
        bench.row(
            "steady day (1 % changes)",
            box,
            changed,
            sum(day_min.values()),
            note="records = changed records; wall = jobs + hub patches",
        )
    )
    day_table, day_data = kind_rows(day_stats, day_min)
    import_table, import_data = kind_rows(import_stats, {"import": sum(import_min.values())})
    results["phases"] = [p.as_json() for p in phases]
    results["engine_peak_rss_mb"] = round(max(p.peak_rss_mb for p in phases), 1)
    results["import"]["by_job"] = import_data
    results["day"] = {
        "by_job": day_data,
        "minimum_by_job": day_min,
        "times": day["times"],
        "callbacks": day["callbacks"],
        "by_request": {f"{kind} {label}": n for (kind, label), n in day_requests.items()},
        "by_stream": day_stream_data,
        "changes": {
            side: {k: sum(len(s[side][k]) for s in slices) for k in slices[0][side]}
            for side in ("remote", "hub")
        },
        "invoices_full_scan_per_run": pages(rows["DebtorInvoiceClient"])
        + math.ceil(rows["DebtorInvoiceLines"] / PAGE),
    }
    results["hub_after_day"] = bench.hub_counts()
    import_calls = phases[0].calls + phases[1].calls
    import_text, results["budget_import"] = budget_text(import_calls, "import (setup included)")
    day_text, results["budget_steady_day"] = budget_text(phases[2].calls, "steady day")
    min_text = (
        f"minimum: import {phases[0].minimum + phases[1].minimum} calls, steady day "
        f"{phases[2].minimum} calls"
    )
    results["setup_by_request"] = {label: n for (_, label), n in setup_calls.items()}
    scale = f"scale {args.scale:g} on {results['database']}"
    trace = "on" if args.tracemalloc else "off (RSS only)"
    return "\n".join(
        [
            f"\n=== Uniconta full benchmark, {scale}, tracemalloc {trace} ===",
            f"minimum: {MIN_FORMULA}",
            "",
            phase_rows(phases),
            "",
            "initial import by request",
            label_rows(import_labels, import_min),
            "",
            "initial import by job",
            import_table,
            "",
            "initial import by stream",
            import_streams,
            "",
            "steady day by job (24 h: pulls, products, invoices hourly, stock 05:00, payments "
            "03:00, pushes, callbacks)",
            day_table,
            "",
            "steady day scans by stream",
            day_streams,
            "",
            f"day wall clock: {json.dumps({k: round(v, 1) for k, v in day['times'].items()})}; "
            f"callbacks {day['callbacks']}",
            f"hub after import: {results['hub_after_import']}",
            f"hub after day: {results['hub_after_day']}",
            "",
            f"budget ({DAILY_BUDGET} calls/day): {import_text}",
            f"budget: {day_text}",
            min_text,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
