"""Benchmark: initial import of Uniconta debtors, a second (no-change) run, and 1% changes.

The Uniconta sandbox runs as a separate process (``ledgerbridge sandbox uniconta``) so the
figures for this process are the engine's own: API calls (counted by the sandbox, per user),
calls per record, wall time, records per second and peak memory (max RSS, and the Python heap
peak of each phase from tracemalloc). A plain httpx read of the same pages (``raw_read``) is
timed in the same run: the import's ratio to it is the engine's own cost.

tracemalloc slows Python code several times over, so ``--no-heap`` leaves it off when the
figure wanted is the throughput.

    .venv/bin/python benchmarks/bench_uniconta_customers.py --debtors 1000
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from uniconta_bench import save, uniconta_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--no-heap", action="store_true", help="no tracemalloc: throughput figures, no heap peaks"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the sandbox answers each call this much later"
    )
    args = parser.parse_args()

    with uniconta_bench(
        args.debtors, args.database_url, args.latency_ms, page_size=args.page_size
    ) as bench:
        system, principal, cid = bench.system, bench.principal, bench.connection_id
        results: dict[str, Any] = {"debtors": args.debtors, "page_size": args.page_size,
                                   "latency_ms": args.latency_ms,
                                   "database": bench.database}  # fmt: skip
        if not args.no_heap:
            tracemalloc.start()
        raw_rows = bench.phase(
            "raw_read", results, lambda: bench.raw_read("customers", args.page_size)
        )

        def initial_import() -> None:
            system.connections.start_import(principal, cid)
            system.run_until_idle()

        bench.phase("initial_import", results, initial_import)

        def second_run() -> None:
            system.connections.request(principal, cid, "pull")
            system.run_until_idle()

        bench.phase("second_run", results, second_run)

        changes = max(1, args.debtors // 100)
        views = system.records.list_page(principal, "party", limit=changes, after=None)

        def hub_changes() -> None:
            for view in views:
                system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
            system.run_until_idle()

        bench.phase("push_1_percent", results, hub_changes)
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
            ratio_to_raw_read=round(imp["wall_s"] / results["raw_read"]["wall_s"], 1),
        )
        results["raw_read"].update(
            rows=raw_rows, records_per_s=round(raw_rows / results["raw_read"]["wall_s"], 1)
        )
        results["push_1_percent"]["records"] = changes
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    save(results, args.out, f"uniconta_customers_{args.debtors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
