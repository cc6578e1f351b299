"""Benchmark: a 12-month statistics reload for an accounting firm with 200 linked clients.

The Tripletex sandbox runs as a separate process (``python -m ledgerbridge.sandbox.tripletex``)
so the memory figures are the engine's own. Phases: connect and import the firm's customers,
link every customer, then the reload (12 months x every linked client). Reported per phase:
API calls (booked by the engine before each call), wall time, and the Python heap peak
(tracemalloc); and the process's max RSS.

    .venv/bin/python benchmarks/bench_tripletex.py --clients 200
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ledgerbridge.api.app import create_app
from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.connectors.tripletex.statistics import METRICS
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

SUMMARY: dict[str, Any] = {
    "title": "Månedsoppsummering",
    "topic": "Regnskap",
    "recurrence": "monthly",
    "import_day": "last_work_day",
    "fields": {name: name.replace("_", " ").title() for name in METRICS},
}


def _start_sandbox(clients: int, port: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The sandbox process and the tokens it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.sandbox.tripletex", "--port", str(port),
         "--clients", str(clients), "--rate-limit", "100000000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    tokens: dict[str, str] = {}
    for line in process.stdout:
        parts = line.split()
        if parts and parts[0] in ("consumerToken", "employeeToken"):
            tokens[parts[0]] = parts[1]
        if len(tokens) == 2:
            break
    # Keep reading what it prints, or a full pipe would stall the sandbox.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/_sandbox/health").is_success:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return process, tokens


def _phase(
    name: str, results: dict[str, Any], calls: Callable[[], int], action: Callable[[], None]
) -> None:
    before = calls()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    results[name] = {
        "wall_s": round(elapsed, 2),
        "api_calls": calls() - before,
        "heap_peak_mb": round(heap_peak / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    port = free_port()
    process, tokens = _start_sandbox(args.clients, port)
    tracemalloc.start()
    results: dict[str, Any] = {"clients": args.clients, "months": 12}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=f"sqlite:///{tmp}/bench.db",
                secret_keys=Fernet.generate_key().decode(),
                secret_key_file=Path(tmp) / "unused.key",
                tripletex_consumer_token=tokens["consumerToken"],
                worker_concurrency=1,
            )
            system = System(settings)
            hub = ServerThread(create_app(system)).start()
            issued = system.tenancy.create_tenant("Bench Regnskap", "owner@bench.example")
            api = httpx.Client(
                base_url=f"{hub.url}/api/v1",
                headers={"Authorization": f"Bearer {issued.api_key}"},
                timeout=120,
            )
            connection: dict[str, Any] = {}

            def calls() -> int:
                if not connection:
                    return 0
                return int(api.get(f"/connections/{connection['id']}").json()["calls_used_today"])

            def connect_and_import() -> None:
                created = api.post("/connections", json={
                    "system": "tripletex", "name": "Tripletex", "timezone": "Europe/Oslo",
                    "settings": {
                        "environment": "production",
                        "base_urls": {"production": f"http://127.0.0.1:{port}/production/v2"},
                        "entities": streams_only("tripletex", "customers", "period_statistics"),
                        "summary": SUMMARY,
                    },
                    "secrets": {"employee_token": tokens["employeeToken"]},
                })  # fmt: skip
                assert created.status_code == 201, created.text
                connection.update(created.json())
                assert api.post(f"/connections/{connection['id']}/import").status_code == 202
                system.run_until_idle()

            def link_all() -> None:
                customers = api.get(f"/connections/{connection['id']}/lists/customers").json()
                parties = {}
                after = None
                while True:
                    page = api.get("/parties", params={"limit": 1000, **(
                        {"after": after} if after else {})}).json()  # fmt: skip
                    parties.update({p["data"]["debtor_number"]: p["id"] for p in page["items"]})
                    after = page["next"]
                    if after is None:
                        break
                links = {parties[str(c["number"])]: c["id"] for c in customers}
                results["linked_clients"] = len(links)
                patched = api.patch(
                    f"/connections/{connection['id']}",
                    json={"settings": {"client_links": links}},
                )
                assert patched.status_code == 200, patched.text

            def reload() -> None:
                summary = {**SUMMARY, "reload_requested_at": "bench"}
                api.patch(
                    f"/connections/{connection['id']}", json={"settings": {"summary": summary}}
                )
                assert api.post(f"/connections/{connection['id']}/jobs/statistics").is_success
                system.run_until_idle(max_rounds=1000)

            _phase("connect_and_import", results, calls, connect_and_import)
            _phase("link", results, calls, link_all)
            _phase("reload_12_months", results, calls, reload)
            status = api.get(f"/connections/{connection['id']}").json()
            run = next(r for r in status["recent_runs"] if r["kind"] == "statistics")
            results["reload_run"] = {"status": run["status"], "message": run["message"],
                                     "counts": run["counts"],
                                     "calls": run["calls"]}  # fmt: skip
            results["open_issues"] = status["open_issues"]
            hub.stop()
            system.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    results["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"tripletex_{args.clients}_clients.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
