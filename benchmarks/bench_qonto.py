"""Benchmark: Qonto initial sync of clients, invoices and credit notes, then webhook events.

The Qonto sandbox runs as a separate process (``python -m ledgerbridge.sandbox.qonto``), so
the memory figures are the engine's and the hub API's own. The connection logs in with OAuth
through the hub's login endpoints (which also subscribe it to invoice webhooks), imports
everything, then the benchmark changes invoices in Qonto (paid → unpaid through the API) so
that Qonto sends one webhook each. Reported: API calls (counted by the sandbox), wall time,
records per second, webhook acknowledgement latency (time the hub takes to answer each
delivery: verify the signature, store the event, queue its job; p50 and p99), the time to
apply the events, and peak RSS.

    .venv/bin/python benchmarks/bench_qonto.py --clients 10000 --invoices 30000 --events 1000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-bench", "bench-secret-0123456789abcdef"
PAGE = 100
"""Qonto's largest ``per_page``."""
MIN_FORMULA = (
    f"initial sync: ceil(clients/{PAGE}) + ceil(invoices/{PAGE}) + ceil(credit notes/{PAGE}) "
    "list pages (a page says whether another follows)"
)
VAT_GROUPS = [
    {"code": code, "rate": rate, "country": country}
    for code, rate, country in (
        ("FR20", "20", "FR"), ("FR10", "10", "FR"), ("FR5.5", "5.5", "FR"),
        ("FR2.1", "2.1", "FR"), ("NL-RC", "0", "NL"), ("BE-RC", "0", "BE"),
    )
]  # fmt: skip


class AckTimer:
    """ASGI wrapper timing the hub's answers to inbound callbacks, request to last byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seconds: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "/inbound/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.seconds.append(time.perf_counter() - start)


def calls(url: str) -> int:
    return len(httpx.get(f"{url}/_sandbox/calls", timeout=60).json())


def deliveries(url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = httpx.get(f"{url}/_sandbox/webhooks/deliveries", timeout=60).json()
    return rows


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--invoices", type=int, default=30000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    qonto_port, hub_port = free_port(), free_port()
    url = f"http://127.0.0.1:{qonto_port}"
    callback = f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.sandbox.qonto", "--port", str(qonto_port),
         "--clients", str(args.clients), "--invoices", str(args.invoices),
         "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--redirect-uri", callback],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    server: ServerThread | None = None
    try:
        for _ in range(1200):
            try:
                httpx.get(f"{url}/_sandbox/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        settings = Settings(
            database_url=args.database_url or f"sqlite:///{workdir / 'bench.db'}",
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=workdir / "unused.key",
            public_url=f"http://127.0.0.1:{hub_port}",
        )
        system = System(settings)
        timer = AckTimer(create_app(system))
        server = ServerThread(timer, port=hub_port).start()
        issued = system.tenancy.create_tenant("Bench", "owner@bench.example")
        api = httpx.Client(
            base_url=f"{server.url}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=120,
        )
        connection = api.post(
            "/connections",
            json={
                "system": "qonto", "name": "bench", "timezone": "Europe/Paris",
                "settings": {
                    "base_url": url, "oauth_url": url, "oauth_client_id": CLIENT_ID,
                    "vat_groups": VAT_GROUPS,
                    "entities": {"customers": {"enabled": True}, "invoices": {"enabled": True},
                                 "credit_notes": {"enabled": True}},
                },
                "secrets": {"oauth_client_secret": CLIENT_SECRET},
            },
        ).json()  # fmt: skip
        cid = connection["id"]
        login = api.post(f"/connections/{cid}/oauth/authorize").json()
        with httpx.Client(timeout=60) as browser:
            back = browser.get(login["authorize_url"]).headers["location"]
            assert browser.get(back).status_code == 200, "login failed"
        results: dict[str, Any] = {
            "clients": args.clients,
            "invoices": args.invoices,
            "database": settings.database_url.split(":")[0],
        }

        before, start = calls(url), time.perf_counter()
        api.post(f"/connections/{cid}/import")
        system.run_until_idle(max_rounds=1000)
        elapsed = time.perf_counter() - start
        status = api.get(f"/connections/{cid}").json()
        run = next(r for r in status["recent_runs"] if r["kind"] == "import")
        records = sum(int(v) for v in run["counts"].values())
        per_stream: dict[str, int] = {}
        for key, n in run["counts"].items():
            per_stream[key.split(".")[0]] = per_stream.get(key.split(".")[0], 0) + int(n)
        minimum = sum(-(-n // PAGE) for n in per_stream.values())
        results["initial_sync"] = {
            "wall_s": round(elapsed, 2),
            "api_calls": calls(url) - before,
            "minimum": minimum,
            "minimum_formula": MIN_FORMULA,
            "counts": run["counts"],
            "records_per_s": round(records / elapsed, 1),
            "import_state": status["import_state"],
        }

        token = system.connections.handle(cid).secrets["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        paid: list[str] = []
        page = 1
        with httpx.Client(base_url=url, headers=headers, timeout=60) as qonto:
            while len(paid) < args.events:
                body = qonto.get(
                    "/v2/client_invoices",
                    params={"filter[status]": "paid", "page": page, "per_page": 100},
                ).json()
                paid.extend(i["id"] for i in body["client_invoices"])
                if not body["meta"]["next_page"]:
                    break
                page = body["meta"]["next_page"]
            paid = paid[: args.events]
            timer.seconds.clear()
            start = time.perf_counter()
            for invoice_id in paid:
                while True:
                    answer = qonto.post(f"/v2/client_invoices/{invoice_id}/unmark_as_paid")
                    if answer.status_code != 429:
                        break
                    # Qonto's 1,000 calls per 10 seconds per IP: wait as it says.
                    time.sleep(float(answer.headers.get("Retry-After", "1")))
        events = len(httpx.get(f"{url}/_sandbox/webhooks/events", timeout=60).json())
        for _ in range(1200):
            delivered = [d for d in deliveries(url) if d["status_code"] == 200]
            if len(delivered) >= events:
                break
            time.sleep(0.1)
        sent = time.perf_counter() - start
        before, start = calls(url), time.perf_counter()
        system.run_until_idle(max_rounds=1000)
        applied = time.perf_counter() - start
        latencies = [s * 1000 for s in timer.seconds]
        results["webhooks"] = {
            "events": events,
            "acknowledged": len(latencies),
            "ack_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
            "ack_ms_p99": round(percentile(latencies, 0.99), 2) if latencies else None,
            "ack_ms_max": round(max(latencies), 2) if latencies else None,
            "send_and_ack_wall_s": round(sent, 2),
            "apply_wall_s": round(applied, 2),
            "apply_api_calls": calls(url) - before,
        }
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        api.close()
        server.stop()
        server = None
        system.close()
    finally:
        if server is not None:
            server.stop()
        sandbox.terminate()
        sandbox.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"qonto_{args.clients}_{args.invoices}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
