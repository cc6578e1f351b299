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
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import Change
from ledgerbridge.store.tables.sync import SyncLogEntry

COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"


def _sandbox_calls(url: str) -> int:
    report = httpx.get(f"{url}/_sandbox/companies/{COMPANY}/calls").json()
    return int(report["users"].get(USER, {}).get("total", 0))


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
        system.connections.start_import(principal, cid)
        system.run_until_idle()
        changed = max(1, args.debtors // 100)
        views = system.records.list_page(principal, "party", limit=changed, after=None)
        for view in views:
            system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
        system.run_until_idle()

        statements: list[str] = []

        def count(*_args: Any) -> None:
            statements.append("x")

        engine = system.db
        sa.event.listen(engine, "before_cursor_execute", count)
        calls = _sandbox_calls(url)
        start = time.perf_counter()
        found = system.history.history(principal, "party", views[0].id)
        elapsed = time.perf_counter() - start
        sa.event.remove(engine, "before_cursor_execute", count)
        results: dict[str, Any] = {
            "debtors": args.debtors,
            "database": settings.database_url.split(":")[0],
            "changed_through_api": changed,
            "storage": _bytes_per_change(system),
            "history_read": {
                "versions": len(found.versions),
                "writes": len(found.writes),
                "sql_statements": len(statements),
                "ms": round(elapsed * 1000, 1),
                "remote_api_calls": _sandbox_calls(url) - calls,
            },
        }
        system.close()
    finally:
        sandbox.terminate()
        sandbox.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"history_{results['database']}_{args.debtors}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
