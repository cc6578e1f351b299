"""Benchmark: the hub API under 50 concurrent clients, and callback acknowledgements meanwhile.

The target: 50 concurrent clients writing parties and invoices, p95 latency and throughput on
SQLite and PostgreSQL; webhook and callback acknowledgement p99 under 50 ms under that load.

The product runs as in production: ``ledgerbridge serve`` (API, scheduler and worker in one
process) as a child, on a fresh SQLite file or on ``--database-url``. A tenant has a Uniconta
connection (a sandbox in another child, its debtors imported first) whose customers stream is
on, so the parties written are pushed while the load runs, as they would be. Then, for
``--duration`` seconds:

- ``--clients`` clients (asyncio, one connection each) each create a party, then an invoice
  of two lines for it, then the next party, and so on, as fast as the API answers;
- a separate process posts Uniconta Change URL callbacks (``GET <change url>?Table=Debtor&
  Key=…``, as Uniconta calls it) at ``--ack-rate`` per second and times each answer, so its
  figures do not wait for the writers' event loop.

Reported: requests, requests per second, p50/p95/p99 latency and errors of the writes (parties
and invoices apart and together), p50/p99/max of the acknowledgements.

    .venv/bin/python benchmarks/bench_hub_api.py
    .venv/bin/python benchmarks/bench_hub_api.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ledgerbridge_hub_bench
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from bench_uniconta_full import table
from cryptography.fernet import Fernet

from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

JSON = dict[str, Any]
COMPANY, USER, PASSWORD = 12345, "bench", "bench-password"
DEBTORS = 200
"""Debtors in the sandbox: the callbacks name them in turn."""
FIRST_ACCOUNT = 10000
"""The sandbox's first debtor account (``seed_debtors``)."""


def quantile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank), 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency(values: list[float], seconds: float, errors: int = 0) -> JSON:
    ms = [v * 1000 for v in values]
    return {
        "requests": len(values),
        "errors": errors,
        "per_s": round(len(values) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(quantile(ms, 0.50), 1),
        "p95_ms": round(quantile(ms, 0.95), 1),
        "p99_ms": round(quantile(ms, 0.99), 1),
        "max_ms": round(max(ms, default=0.0), 1),
    }


# ------------------------------------------------------------------ the callback sender


def send_callbacks(url: str, rate: float, duration: float) -> None:
    """Child process: Change URL callbacks at ``rate`` per second for ``duration`` seconds,
    each timed; prints the latencies (s) and the failures as JSON."""
    times: list[float] = []
    failures: list[str] = []
    accounts = itertools.cycle(range(FIRST_ACCOUNT, FIRST_ACCOUNT + DEBTORS))
    with httpx.Client(timeout=30) as client:
        start = time.perf_counter()
        for n in itertools.count():
            due = start + n / rate
            if due - start >= duration:
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            params = {"CompanyId": str(COMPANY), "Table": "Debtor",
                      "Key": str(next(accounts)), "Operation": "Update"}  # fmt: skip
            sent = time.perf_counter()
            try:
                response = client.get(url, params=params)
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
                continue
            if response.status_code != 200:
                failures.append(str(response.status_code))
                continue
            times.append(time.perf_counter() - sent)
    print(json.dumps({"times": times, "failures": failures}))


# ------------------------------------------------------------------ the writers


async def post(client: httpx.AsyncClient, path: str, body: JSON) -> httpx.Response | str:
    """The response, or the transport error's name when the connection failed (e.g. the
    server closed it after its keep-alive timeout while this client waited): counted as an
    error, and the client goes on."""
    try:
        return await client.post(path, json=body)
    except httpx.TransportError as exc:
        return type(exc).__name__


def described(response: httpx.Response | str) -> str:
    """A failed write as the bench's results name it."""
    if isinstance(response, str):
        return response
    return f"{response.status_code} {response.text[:200]}"


async def writer(
    client: httpx.AsyncClient,
    number: int,
    stop: float,
    samples: dict[str, list[float]],
    failures: list[str],
) -> dict[str, int]:
    """One client: party, invoice for it, next party… until ``stop``; counts its errors and
    says what they were in ``failures``."""
    errors = {"parties": 0, "invoices": 0}
    for n in itertools.count():
        if time.perf_counter() >= stop:
            break
        party = {"name": f"Load {number}-{n} ApS", "is_customer": True,
                 "debtor_number": f"7{number:02d}{n:05d}"}  # fmt: skip
        sent = time.perf_counter()
        response = await post(client, "/parties", party)
        if isinstance(response, str) or response.status_code != 201:
            errors["parties"] += 1
            failures.append(f"POST /parties: {described(response)}")
            continue
        samples["parties"].append(time.perf_counter() - sent)
        invoice = {
            "party_id": response.json()["id"], "date": "2026-11-20", "payment_term_days": 14,
            "currency": "DKK", "status": "sent",
            "lines": [
                {"description": "Consulting", "quantity": "3", "unit_price": "850",
                 "vat_code": "DK25"},
                {"description": "Travel", "quantity": "1", "unit_price": "250",
                 "vat_code": "DK25"},
            ],
        }  # fmt: skip
        sent = time.perf_counter()
        response = await post(client, "/invoices", invoice)
        if isinstance(response, str) or response.status_code != 201:
            errors["invoices"] += 1
            failures.append(f"POST /invoices: {described(response)}")
            continue
        samples["invoices"].append(time.perf_counter() - sent)
    return errors


async def write_load(base: str, api_key: str, clients: int, duration: float) -> JSON:
    samples: dict[str, list[float]] = {"parties": [], "invoices": []}
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    # A connection idle for the server's keep-alive timeout (uvicorn's 5 s, httpx's default
    # expiry too) may be closed by the server just as a request goes out on it: the client
    # lets its idle connections go a second earlier.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=4.0
    )
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1", headers=headers, timeout=120, limits=limits
    ) as client:
        start = time.perf_counter()
        stop = start + duration
        outcomes = await asyncio.gather(
            *(writer(client, n, stop, samples, failures) for n in range(clients))
        )
        seconds = time.perf_counter() - start
    errors = {k: sum(o[k] for o in outcomes) for k in samples}
    return {
        "seconds": round(seconds, 1),
        "parties": latency(samples["parties"], seconds, errors["parties"]),
        "invoices": latency(samples["invoices"], seconds, errors["invoices"]),
        "all writes": latency(
            samples["parties"] + samples["invoices"], seconds, sum(errors.values())
        ),
        "failures": failures[:20],
    }


# ------------------------------------------------------------------ the product


@contextmanager
def child(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Any, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {seconds} s")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--ack-rate", type=float, default=20.0, help="callbacks per second")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--processes", type=int, default=1, help="serve --processes (PostgreSQL only)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run jobs in this many `ledgerbridge worker` processes, serve --no-jobs "
        "(PostgreSQL only; default: serve runs them)",
    )
    parser.add_argument("--send-callbacks", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send_callbacks:
        send_callbacks(args.send_callbacks, args.ack_rate, args.duration)
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    database = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    try:
        results = run(args, workdir, database)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"hub_api_{database}.json"
    out.write_text(json.dumps(results, indent=2))
    rows = [
        [name, r["requests"], r["errors"], r["per_s"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
         r["max_ms"]]
        for name, r in [*results["writes"].items(), ("callback acks", results["acks"])]
        if isinstance(r, dict)
    ]  # fmt: skip
    print(f"\n=== hub API, {args.clients} clients, {args.duration:g} s, {database} ===")
    print(table(["requests", "count", "errors", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                rows))  # fmt: skip
    print(f"JSON: {out}")
    return 0


def run(args: argparse.Namespace, workdir: Path, database: str) -> JSON:
    bin_dir = Path(sys.executable).parent
    sandbox_port, hub_port = free_port(), free_port()
    sandbox_url, hub = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{hub_port}"
    database_url = args.database_url or f"sqlite:///{workdir / 'hub.db'}"
    settings = Settings(
        database_url=database_url,
        secret_keys=Fernet.generate_key().decode(),
        secret_key_file=workdir / "unused.key",
        public_url=hub,
    )
    system = System(settings)  # migrates the database, as serve would
    issued = system.tenancy.create_tenant("Load", "owner@load.example")
    system.close()
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_PUBLIC_URL": hub,
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
    }
    sandbox = [str(bin_dir / "ledgerbridge"), "sandbox", "uniconta", "--port", str(sandbox_port),
               "--company-id", str(COMPANY), "--user", USER, "--password", PASSWORD,
               "--debtors", str(DEBTORS), "--throttle-delay", "0"]  # fmt: skip
    serve = [str(bin_dir / "ledgerbridge"), "serve", "--port", str(hub_port),
             "--processes", str(args.processes)]  # fmt: skip
    if args.workers:
        serve.append("--no-jobs")
    log = workdir / "children.log"
    with ExitStack() as children:
        for command in [
            sandbox,
            serve,
            *[[str(bin_dir / "ledgerbridge"), "worker"]] * args.workers,
        ]:
            children.enter_context(child(command, log, env))
        api = httpx.Client(
            base_url=f"{hub}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=60,
        )
        try:
            wait_until(lambda: httpx.get(f"{sandbox_url}/_sandbox/health").is_success, "sandbox")
            wait_until(lambda: api.get("/connections").status_code == 200, "the hub API")
            created = api.post("/connections", json={
                "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
                "settings": {"company_id": COMPANY, "username": USER, "base_url": sandbox_url,
                             "vat_mapping": {"S25": "DK25"},
                             "entities": streams_only("uniconta", "customers")},
                "secrets": {"password": PASSWORD},
            })  # fmt: skip
            if created.status_code != 201:
                raise RuntimeError(f"connection refused: {created.text}")
            cid = created.json()["id"]
            api.post(f"/connections/{cid}/import").raise_for_status()
            wait_until(
                lambda: api.get(f"/connections/{cid}").json()["import_state"] == "done", "import"
            )
            change_url = api.get(f"/connections/{cid}").json()["change_url"]
            sender = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--send-callbacks", change_url,
                 "--ack-rate", str(args.ack_rate), "--duration", str(args.duration)],
                stdout=subprocess.PIPE,
            )  # fmt: skip
            writes = asyncio.run(write_load(hub, issued.api_key, args.clients, args.duration))
            out, _ = sender.communicate(timeout=args.duration + 300)
            acks = json.loads(out)
            status = api.get(f"/connections/{cid}").json()
        finally:
            api.close()
    ack = latency(acks["times"], args.duration, len(acks["failures"]))
    return {
        "database": database,
        "processes": args.processes,
        "workers": args.workers,
        "clients": args.clients,
        "duration_s": args.duration,
        "ack_rate_per_s": args.ack_rate,
        "writes": writes,
        "acks": ack,
        "ack_failures": acks["failures"][:20],
        "connection_after": {k: status.get(k) for k in ("open_issues", "import_state")},
    }


if __name__ == "__main__":
    sys.exit(main())
