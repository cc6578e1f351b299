"""Benchmark: a preview against the run it previews, on Uniconta debtors (import, then a push).

The Uniconta sandbox runs as a separate process (``ledgerbridge sandbox uniconta``); the
figures are API calls (counted by the sandbox), wall time and the Python heap peak of each
phase, and whether the preview's numbers equal the run's counts.

    .venv/bin/python benchmarks/bench_preview.py --debtors 10000
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from uniconta_bench import save, uniconta_bench

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import Run

OUTCOMES = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped"}


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

    with uniconta_bench(args.debtors, args.database_url) as bench:
        system, principal, cid = bench.system, bench.principal, bench.connection_id
        results: dict[str, Any] = {"debtors": args.debtors, "database": bench.database}
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

        seen = bench.phase("preview_import", results, preview("import"))
        bench.phase("import", results, run("import"))
        results["import_matches"] = _as_counts(seen) == _last_run(system, cid, "import").counts
        results["preview_import"]["calls_run_estimate"] = seen["calls"]["run"]

        changes = max(1, args.debtors // 100)
        views = system.records.list_page(principal, "party", limit=changes, after=None)
        for view in views:
            system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
        seen = bench.phase("preview_push", results, preview("push"))
        bench.phase("push", results, run("push"))
        results["push_matches"] = _as_counts(seen) == _last_run(system, cid, "push").counts
        results["preview_push"]["calls_run_estimate"] = seen["calls"]["run"]
        results["push"]["records"] = changes
        tracemalloc.stop()
    save(results, args.out, f"preview_{args.debtors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
