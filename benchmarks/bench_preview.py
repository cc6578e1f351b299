"""Benchmark: a preview against the run it previews, on Uniconta debtors (import, then a push).

The Uniconta sandbox runs as a separate process (``ledgerbridge sandbox uniconta``); the
figures are API calls (counted by the sandbox), wall time and the Python heap peak of each
phase, and whether the preview's numbers equal the run's counts.

    .venv/bin/python benchmarks/bench_preview.py --debtors 10000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Run

COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"
OUTCOMES = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped"}


def _sandbox_calls(url: str) -> int:
    report = httpx.get(f"{url}/_sandbox/companies/{COMPANY}/calls").json()
    return int(report["users"].get(USER, {}).get("total", 0))


def _phase(name: str, results: dict[str, Any], url: str, action: Any) -> Any:
    calls = _sandbox_calls(url)
    tracemalloc.reset_peak()
    start = time.perf_counter()
    answer = action()
    elapsed = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    results[name] = {
        "wall_s": round(elapsed, 3),
        "api_calls": _sandbox_calls(url) - calls,
        "heap_peak_mb": round(heap_peak / 2**20, 1),
    }
    return answer


def _as_counts(preview: dict[str, Any]) -> dict[str, int]:
    return {
        f"{stream}.{outcome}": entry[action]
        for stream, entry in preview["streams"].items()
        for action, outcome in OUTCOMES.items()
        if entry[action]
    }


def _last_run(system: System, cid: str, kind: str) -> Run:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == cid, Run.kind == kind)
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        session.expunge(run)
        return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=10000)
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
                      "entities": {"customers": {"enabled": True}}},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        cid = connection["id"]
        results: dict[str, Any] = {"debtors": args.debtors,
                                   "database": settings.database_url.split(":")[0]}  # fmt: skip
        tracemalloc.start()

        def preview(kind: str) -> Any:
            return lambda: system.connections.preview(principal, cid, kind, system.jobs.preview)

        def run(kind: str) -> Any:
            def action() -> None:
                if kind == "import":
                    system.connections.start_import(principal, cid)
                else:
                    system.connections.request(principal, cid, kind)
                system.run_until_idle()

            return action

        seen = _phase("preview_import", results, url, preview("import"))
        _phase("import", results, url, run("import"))
        results["import_matches"] = _as_counts(seen) == _last_run(system, cid, "import").counts
        results["preview_import"]["calls_run_estimate"] = seen["calls"]["run"]

        changes = max(1, args.debtors // 100)
        views = system.records.list_page(principal, "party", limit=changes, after=None)
        for view in views:
            system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
        seen = _phase("preview_push", results, url, preview("push"))
        _phase("push", results, url, run("push"))
        results["push_matches"] = _as_counts(seen) == _last_run(system, cid, "push").counts
        results["preview_push"]["calls_run_estimate"] = seen["calls"]["run"]
        results["push"]["records"] = changes
        tracemalloc.stop()
        system.close()
    finally:
        sandbox.terminate()
        sandbox.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"preview_{args.debtors}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
