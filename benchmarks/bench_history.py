"""Benchmark: what a record's history costs. An initial import of Uniconta debtors (each a
creation in the change feed with its first values and run), then 1 % of them changed through
the API (a diff of one field, with the API key) and pushed; then the history of one of them
read. Reports the bytes the history columns of ``changes`` take per change (actor, run, diff),
the two indexes it reads by (per row, on PostgreSQL), the SQL statements and time of one
history read, and the remote API calls that read costs (none: it reads only the hub).

    .venv/bin/python benchmarks/bench_history.py --debtors 1000 [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from uniconta_bench import save, uniconta_bench

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.hub import Change
from ledgerbridge.store.tables.sync import SyncLogEntry


def _bytes_per_change(system: System) -> dict[str, Any]:
    """Average stored size of the history columns per change, per operation."""
    with system.sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            size = (
                sa.func.coalesce(sa.func.pg_column_size(Change.diff), 0)
                + sa.func.coalesce(sa.func.pg_column_size(Change.actor), 0)
                + sa.func.coalesce(sa.func.pg_column_size(Change.run_id), 0)
            )
        else:
            size = (
                sa.func.coalesce(sa.func.length(sa.cast(Change.diff, sa.Text)), 0)
                + sa.func.coalesce(sa.func.length(Change.actor), 0)
                + sa.func.coalesce(sa.func.length(Change.run_id), 0)
            )
        rows = session.execute(
            sa.select(Change.operation, sa.func.count(), sa.func.avg(size)).group_by(
                Change.operation
            )
        ).all()
        result: dict[str, Any] = {
            op: {"changes": n, "history_bytes_per_change": round(float(avg), 1)}
            for op, n, avg in rows
        }
        if postgres:
            for index, model in (
                ("ix_changes_record", Change),
                ("ix_sync_log_record", SyncLogEntry),
            ):
                total = session.scalar(sa.text(f"SELECT pg_relation_size('{index}')"))
                count = session.scalar(sa.select(sa.func.count()).select_from(model))
                result[index] = {
                    "bytes": int(total or 0),
                    "rows": int(count or 0),
                    "bytes_per_row": round(int(total or 0) / max(1, int(count or 0)), 1),
                }
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    with uniconta_bench(args.debtors, args.database_url) as bench:
        system, principal = bench.system, bench.principal
        changed = max(1, args.debtors // 100)
        bench.import_then_change(changed)
        views = system.records.list_page(principal, "party", limit=1, after=None)

        statements: list[str] = []

        def count(*_args: Any) -> None:
            statements.append("x")

        engine = system.db
        sa.event.listen(engine, "before_cursor_execute", count)
        calls = bench.calls()
        start = time.perf_counter()
        found = system.history.history(principal, "party", views[0].id)
        elapsed = time.perf_counter() - start
        sa.event.remove(engine, "before_cursor_execute", count)
        results: dict[str, Any] = {
            "debtors": args.debtors,
            "database": bench.database,
            "changed_through_api": changed,
            "storage": _bytes_per_change(system),
            "history_read": {
                "versions": len(found.versions),
                "writes": len(found.writes),
                "sql_statements": len(statements),
                "ms": round(elapsed * 1000, 1),
                "remote_api_calls": bench.calls() - calls,
            },
        }
    save(results, args.out, f"history_{results['database']}_{args.debtors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
