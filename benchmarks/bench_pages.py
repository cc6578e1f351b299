"""Benchmark: how long the API's reads and the web UI's pages take once a connection holds many
records, so that what a person opens stays fast as the books grow.

An initial import of ``--debtors`` Uniconta debtors and a push of 1 % of them fill the hub, its
links, change feed and sync log; then the API and the UI are served on loopback (uvicorn, as
``serve`` does) and each page is asked for ``--repeat`` times after one warm-up request. Run it
at two sizes and compare: a page whose time grows with the records reads more than it shows.

    .venv/bin/python benchmarks/bench_pages.py --debtors 20000 [--database-url …]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from uniconta_bench import save, uniconta_bench

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.http import ServerThread


def pages(connection_id: str, record_id: str, name: str) -> list[tuple[str, str]]:
    """(label, path) of what a person or an app opens most."""
    c = f"/connections/{connection_id}"
    return [
        ("api: parties, first page", "/api/v1/parties?limit=100"),
        ("api: parties, a page further on", f"/api/v1/parties?limit=100&after={record_id}"),
        ("api: parties, search by name", f"/api/v1/parties?limit=100&q={name}"),
        ("api: one party", f"/api/v1/parties/{record_id}"),
        ("api: a party's history", f"/api/v1/parties/{record_id}/history"),
        ("api: change feed, first page", "/api/v1/changes?limit=100"),
        ("api: connection status", f"/api/v1{c}"),
        ("api: sync log", f"/api/v1{c}/sync-log?limit=100"),
        ("api: sync log, created only", f"/api/v1{c}/sync-log?limit=100&outcome=created"),
        ("api: issues", f"/api/v1{c}/issues"),
        ("api: runs", f"/api/v1{c}/runs"),
        ("api: usage, 30 days", f"/api/v1{c}/usage?days=30"),
        ("api: stats, 30 days", f"/api/v1{c}/stats?days=30"),
        ("ui: home", "/ui/"),
        ("ui: connection overview", f"/ui{c}"),
        ("ui: records", "/ui/records"),
        ("ui: records, search", f"/ui/records?q={name}"),
        ("ui: a record", f"/ui/records/{record_id}"),
        ("ui: activity", f"/ui{c}/activity"),
        ("ui: issues", f"/ui{c}/issues"),
        ("ui: usage", f"/ui{c}/usage"),
        ("ui: mappings", f"/ui{c}/mappings"),
        ("ui: entities", f"/ui{c}/entities"),
    ]


def timed(client: httpx.Client, path: str, repeat: int) -> dict[str, Any]:
    """Median and slowest of ``repeat`` requests after a warm-up one (ms)."""
    first = client.get(path)
    if first.status_code != 200:
        raise SystemExit(f"{path}: {first.status_code} {first.text[:300]}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    with uniconta_bench(args.debtors, args.database_url) as bench:
        system, principal, cid = bench.system, bench.principal, bench.connection_id
        bench.import_then_change(max(1, args.debtors // 100))
        views = system.records.list_page(principal, "party", limit=args.debtors, after=None)
        middle = views[len(views) // 2]
        name = str(middle.data.get("name", "")).split()[0]
        results: dict[str, Any] = {"debtors": args.debtors, "database": bench.database}
        with ServerThread(create_app(system)) as server:
            token = system.sign_in.login_link(principal.tenant_id)
            headers = {"Authorization": f"Bearer {bench.api_key}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
                client.get(f"/ui/login/{token}", follow_redirects=True).raise_for_status()
                for label, path in pages(cid, middle.id, name):
                    results[label] = timed(client, path, args.repeat)
    save(results, args.out, f"pages_{args.debtors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
