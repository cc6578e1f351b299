"""Benchmark: initial import of Uniconta debtors, a second (no-change) run, and 1% changes.

The Uniconta sandbox runs as a separate process (``ledgerbridge sandbox uniconta``) so the
figures for this process are the engine's own: API calls (counted by the sandbox, per user),
calls per record, wall time, records per second and peak memory (max RSS, and the Python heap
peak of each phase from tracemalloc).

    .venv/bin/python benchmarks/bench_uniconta_customers.py --debtors 1000
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"


def _sandbox_calls(url: str) -> int:
    report = httpx.get(f"{url}/_sandbox/companies/{COMPANY}/calls").json()
    return int(report["users"].get(USER, {}).get("total", 0))


def _phase(name: str, results: dict[str, Any], url: str, action: Any) -> None:
    calls = _sandbox_calls(url)
    tracemalloc.reset_peak()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    results[name] = {
        "wall_s": round(elapsed, 3),
        "api_calls": _sandbox_calls(url) - calls,
        "heap_peak_mb": round(heap_peak / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [str(Path(sys.executable).parent / "ledgerbridge"), "sandbox", "uniconta",
         "--port", str(port), "--company-id", str(COMPANY), "--user", USER,
         "--password", PASSWORD, "--debtors", str(args.debtors), "--throttle-delay", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/_sandbox/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        settings = Settings(
            database_url=args.database_url or f"sqlite:///{workdir / 'bench.db'}",
            secret_keys=Fernet.generate_key().decode(),
            public_url="http://127.0.0.1:9",
        )
        system = System(settings)
        issued = system.tenancy.create_tenant("Bench", "owner@bench.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        connection = system.connections.create(
            principal, system="uniconta", name="bench", timezone="Europe/Copenhagen",
            settings={"company_id": COMPANY, "username": USER, "base_url": url,
                      "page_size": args.page_size,
                      "entities": {"customers": {"enabled": True}}},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        cid = connection["id"]
        results: dict[str, Any] = {"debtors": args.debtors, "page_size": args.page_size,
                                   "database": settings.database_url.split(":")[0]}  # fmt: skip
        tracemalloc.start()

        def initial_import() -> None:
            system.connections.start_import(principal, cid)
            system.run_until_idle()

        _phase("initial_import", results, url, initial_import)

        def second_run() -> None:
            system.connections.request(principal, cid, "pull")
            system.run_until_idle()

        _phase("second_run", results, url, second_run)

        changes = max(1, args.debtors // 100)
        views = system.records.list_page(principal, "party", limit=changes, after=None)

        def hub_changes() -> None:
            for view in views:
                system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
            system.run_until_idle()

        _phase("push_1_percent", results, url, hub_changes)
        tracemalloc.stop()

        parties = len(
            system.records.list_page(principal, "party", limit=args.debtors + 10, after=None)
        )
        imp = results["initial_import"]
        minimum = math.ceil(args.debtors / args.page_size) + (args.debtors % args.page_size == 0)
        imp.update(
            parties=parties,
            calls_per_record=round(imp["api_calls"] / args.debtors, 4),
            minimum_calls=minimum,
            records_per_s=round(args.debtors / imp["wall_s"], 1),
        )
        results["push_1_percent"]["records"] = changes
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        system.close()
    finally:
        sandbox.terminate()
        sandbox.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"uniconta_customers_{args.debtors}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
