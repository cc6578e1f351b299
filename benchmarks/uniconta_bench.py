"""What the Uniconta benchmarks share: a seeded sandbox in its own process, an installation on
a fresh database with a tenant and a customers connection to it, the sandbox's own call count,
and a timed phase (wall time, calls, heap peak)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.connectors.uniconta.connector import KEYSETS
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System, freeze_start_up_heap
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import Settings

COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"


@dataclass
class Bench:
    system: System
    principal: Principal
    connection_id: str
    url: str
    """The sandbox's address."""
    database: str
    """sqlite or postgresql: the results name it."""
    api_key: str
    """The tenant owner's key, for what a benchmark asks through the API."""

    def calls(self) -> int:
        """Calls the sandbox counted for the bench's user (its own count, not ours)."""
        report = httpx.get(f"{self.url}/_sandbox/companies/{COMPANY}/calls").json()
        return int(report["users"].get(USER, {}).get("total", 0))

    def raw_read(self, stream: str, page_size: int) -> int:
        """Reads a stream the way the connector pages it (same entity, keyset filter, order
        and page size) with plain httpx and nothing else: the floor an import cannot go
        below, to which its own time is compared. Answers the rows read."""
        keyset = KEYSETS[stream]
        auth = httpx.BasicAuth(f"00{COMPANY}/{USER}", PASSWORD)
        rows, after = 0, None
        with httpx.Client(base_url=self.url, auth=auth, timeout=60) as client:
            while True:
                params = {"$orderby": keyset.key, "$top": str(page_size)}
                if after is not None:
                    params["$filter"] = f"{keyset.key} gt {keyset.literal(after)}"
                response = client.get(f"/odata/{COMPANY}/{keyset.entity}", params=params)
                page = response.raise_for_status().json()["value"]
                rows += len(page)
                if len(page) < page_size:
                    return rows
                after = str(page[-1][keyset.key])

    def import_then_change(self, changes: int) -> None:
        """The initial import, then ``changes`` parties changed in the hub (their phone) and
        pushed: the connection as a first day leaves it."""
        system, principal = self.system, self.principal
        system.connections.start_import(principal, self.connection_id)
        system.run_until_idle()
        for view in system.records.list_page(principal, "party", limit=changes, after=None):
            system.records.patch(principal, "party", view.id, {"phone": "+45 70 70 70 70"})
        system.run_until_idle()

    def phase(self, name: str, results: dict[str, Any], action: Callable[[], Any]) -> Any:
        """Runs ``action``; records its wall time, the calls it made and, when tracemalloc
        is tracing, the heap's peak under ``results[name]``; answers what it answered."""
        calls = self.calls()
        tracemalloc.reset_peak()
        start = time.perf_counter()
        answer = action()
        elapsed = time.perf_counter() - start
        _, heap_peak = tracemalloc.get_traced_memory()
        results[name] = {"wall_s": round(elapsed, 3), "api_calls": self.calls() - calls}
        if tracemalloc.is_tracing():
            results[name]["heap_peak_mb"] = round(heap_peak / 2**20, 1)
        return answer


@contextmanager
def uniconta_bench(
    debtors: int, database_url: str | None = None, latency_ms: int = 0, **settings: Any
) -> Iterator[Bench]:
    """A sandbox seeded with ``debtors`` debtors and a connection syncing customers to it;
    ``latency_ms`` delays each of the sandbox's answers (a cloud API's round trip);
    ``settings`` are added to the connection's."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [str(Path(sys.executable).parent / "ledgerbridge"), "sandbox", "uniconta",
         "--port", str(port), "--company-id", str(COMPANY), "--user", USER,
         "--password", PASSWORD, "--debtors", str(debtors), "--throttle-delay", "0",
         "--latency-ms", str(latency_ms)],
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
        config = Settings(
            database_url=database_url or f"sqlite:///{workdir / 'bench.db'}",
            secret_keys=Fernet.generate_key().decode(),
            public_url="http://127.0.0.1:9",
        )
        system = System(config)
        freeze_start_up_heap()  # as serve and worker do
        try:
            issued = system.tenancy.create_tenant("Bench", "owner@bench.example")
            principal = system.tenancy.authenticate(issued.api_key)
            assert principal is not None
            connection = system.connections.create(
                principal, system="uniconta", name="bench", timezone="Europe/Copenhagen",
                settings={"company_id": COMPANY, "username": USER, "base_url": url,
                          "entities": streams_only("uniconta", "customers"), **settings},
                secrets_={"password": PASSWORD},
            )  # fmt: skip
            yield Bench(
                system, principal, connection["id"], url,
                config.database_url.split(":")[0], issued.api_key,
            )  # fmt: skip
        finally:
            system.close()
    finally:
        sandbox.terminate()
        sandbox.wait()
        shutil.rmtree(workdir, ignore_errors=True)  # a large run's database is hundreds of MB


def save(results: dict[str, Any], out: Path, name: str) -> None:
    """Writes the results as ``<out>/<name>.json`` and prints them."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
