"""Benchmark: what an idle hour costs in API calls, per system and stream.

For each accounting and commerce system it serves the vendor's sandbox on loopback (in this
process, on the engine's manual clock, so tokens expire as they would), connects through the
hub API as a user does (webhooks subscribed where the system has them), finishes the initial
import, then moves the clock through one hour in 1-minute steps with nothing changing
anywhere, running whatever is due (scheduled pulls, pushes, inboxes). The calls of that hour
are counted per request by a transport under the engine (and, where the sandbox keeps a
counter, by the sandbox too: the two must agree) and attributed to the streams they read.

**Allowance** (printed and kept in the JSON): 1 call per enabled stream that has no webhook;
a stream fed by webhooks (or Uniconta's Change URL) may cost its safety-net pull: 1 call per
run of that schedule in the hour. Calls that only keep the connection open (a session or an
access token the API lets expire within the hour) are counted apart as **forced** and are not
held against the allowance.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/bench_idle.py
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/bench_idle.py --systems yuki,qonto
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from croniter import croniter
from cryptography.fernet import Fernet

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.registry import SYSTEMS as SPECS
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

JSON = dict[str, Any]
START = datetime(2026, 11, 23, 8, 58, 30, tzinfo=UTC)
"""A Monday morning: no daily job (payments 03:00, stock 05:00, statistics 06:00) falls in
the hour, nor a 6-hourly one (00, 06, 12, 18), so the hour holds what every hour holds."""
IMPORTED = START - timedelta(hours=2)
"""The sandboxes are seeded and the import runs two hours before the hour: what was made then
is older than any pull's overlap window when the hour starts."""
HOUR = timedelta(hours=1)
STEP = timedelta(minutes=1)
SYSTEMS = (
    "uniconta", "yuki", "qonto", "tripletex", "woocommerce", "stripe", "vipps_mobilepay", "zettle",
)  # fmt: skip
FORCED = re.compile(r"(token|session|login|oauth|accesstoken)", re.IGNORECASE)
"""Requests that open a session or renew an access token."""


class CountingTransport(httpx.BaseTransport):
    """Counts every request of the engine by host and request, with the job making it."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.kind = "setup"
        self.calls: Counter[tuple[str, str, str]] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        label = f"{request.method} " + re.sub(r"/\d+|/[0-9a-f-]{20,}", "/{id}", request.url.path)
        with self._lock:
            self.calls[(f"{request.url.host}:{request.url.port}", self.kind, label)] += 1
        response = self._inner.handle_request(request)
        response.read()
        return response

    def take(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken

    def close(self) -> None:
        self._inner.close()


@dataclass
class Target:
    """A connection under test: where its API listens and what its sandbox counted."""

    system: str
    connection_id: str
    hosts: set[str]
    webhook_streams: frozenset[str]
    """Enabled streams fed by webhooks or change callbacks (their pulls are a safety net)."""
    sandbox_calls: Callable[[], int] | None = None
    settle: Callable[[], None] = lambda: None
    """Waits for the sandbox's webhook deliveries in flight."""


class Hub:
    """The engine on a manual clock, its API on loopback, one tenant."""

    def __init__(
        self, workdir: Path, database_url: str | None, clock: ManualClock, **installation: Any
    ) -> None:
        self.clock = clock
        self.transport = CountingTransport()
        self.sandbox_counter: Callable[[], int] | None = None
        self.import_calls: Counter[str] = Counter()
        """The initial import's calls, by job and request."""
        self.by_sandbox: Counter[str] = Counter()
        """Calls the sandbox counted, per job kind (for a client that bypasses the engine's
        HTTP transport: Yuki's SOAP client)."""
        port = free_port()
        self.system = System(
            Settings(
                database_url=database_url or f"sqlite:///{workdir / 'idle.db'}",
                secret_keys=Fernet.generate_key().decode(),
                secret_key_file=workdir / "unused.key",
                public_url=f"http://127.0.0.1:{port}",
                worker_concurrency=1,
                **installation,
            ),
            clock=self.clock,
            transport=self.transport,
        )
        handlers = {
            **self.system.jobs.handlers(),
            **self.system.flows.handlers(),
            **self.system.file_jobs.handlers(),
        }
        self.worker = self.system.queue.runner(
            {kind: self._labelled(kind, handler) for kind, handler in handlers.items()},
            concurrency=1,
            poll_interval=1.0,
        )
        self.server = ServerThread(create_app(self.system), port=port).start()
        issued = self.system.tenancy.create_tenant("Idle", "owner@idle.example")
        self.api = httpx.Client(
            base_url=f"{self.server.url}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=120,
        )

    def _labelled(self, kind: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(job: Any) -> Any:
            self.transport.kind = kind
            before = self.sandbox_counter() if self.sandbox_counter else 0
            try:
                return handler(job)
            finally:
                self.transport.kind = "other"
                if self.sandbox_counter:
                    self.by_sandbox[kind] += self.sandbox_counter() - before

        return run

    def run_due(self, settle: Callable[[], None] = lambda: None) -> None:
        for _ in range(100):
            settle()
            self.system.tick()
            if self.worker.run_until_idle() == 0:
                return

    def connect(self, body: JSON) -> JSON:
        answer = self.api.post("/connections", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"connection refused: {answer.text}")
        made: JSON = answer.json()
        return made

    def import_all(self, cid: str, settle: Callable[[], None] = lambda: None) -> None:
        """The initial import, run to its end; its calls by request are kept in
        ``import_calls`` (what connecting cost before it is left out)."""
        self.transport.take()
        self.api.post(f"/connections/{cid}/import").raise_for_status()
        self.run_due(settle)
        self.import_calls = Counter(
            {f"{kind} {label}": n for (_, kind, label), n in self.transport.take().items()}
        )
        state = self.api.get(f"/connections/{cid}").json()["import_state"]
        if state != "done":
            raise RuntimeError(f"the import of {cid} ended {state}")

    def close(self) -> None:
        self.api.close()
        self.server.stop()
        self.system.close()
        self.transport.close()


def _host(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


# ------------------------------------------------------------------ one set-up per system


@contextmanager
def uniconta(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.uniconta import UnicontaSandbox, seed_debtors
    from ledgerbridge.sandbox.uniconta import create_app as sandbox_app

    company, user, password = 48213, "idle", "idle-Pa55word"
    sandbox = UnicontaSandbox(throttle_delay=0.0, clock=hub.clock)
    sandbox.add_company(company_id=company, name="Nordlys Handel ApS")
    sandbox.add_user(company, user, password, user_type="Server", roles=("Reseller",))
    seed_debtors(sandbox, company, count=50, seed=3)
    server = ServerThread(sandbox_app(sandbox)).start()
    try:
        streams = ("customers", "suppliers", "contacts", "products", "invoices")
        made = hub.connect({
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": company, "username": user, "base_url": server.url,
                         "entities": {s: {"enabled": True} for s in streams}},
            "secrets": {"password": password},
        })  # fmt: skip
        sandbox.set_change_url(company, made["change_url"])
        hub.import_all(made["id"])
        yield Target(
            "uniconta", made["id"], {_host(server.url)},
            frozenset({"customers", "suppliers", "contacts"}),
            lambda: sandbox.total_calls(company, user),
        )  # fmt: skip
    finally:
        server.stop()
        sandbox.close()


@contextmanager
def yuki(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.yuki import SandboxServer, YukiSandbox, seed_demo

    sandbox = YukiSandbox(clock=hub.clock)
    seeded = seed_demo(sandbox, contacts=50, seed=7)
    server = SandboxServer(sandbox)
    server.start()
    try:
        made = hub.connect({
            "system": "yuki", "name": "Yuki", "timezone": "Europe/Amsterdam",
            "settings": {"domain_id": seeded.domain_id,
                         "administration_id": seeded.administration_id,
                         "base_url": server.base_url,
                         "debtor_numbers": {"next": 20000, "prefix": ""}},
            "secrets": {"access_key": seeded.access_key},
        })  # fmt: skip
        hub.import_all(made["id"])
        yield Target(
            "yuki", made["id"], {_host(server.base_url)}, frozenset(),
            lambda: sandbox.total_calls(seeded.domain_id),
        )  # fmt: skip
    finally:
        server.stop()


@contextmanager
def qonto(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer, seed_organization

    client_id, client_secret = "ledgerbridge-idle", "idle-secret-0123456789abcdef"
    sandbox = QontoSandbox(clock=hub.clock, seed=4)
    seed_organization(sandbox, clients=50, invoices=100, seed=4)
    sandbox.add_oauth_app(
        client_id, client_secret, [f"{hub.system.settings.public_url}/api/v1/oauth/callback"]
    )
    with SandboxServer(sandbox) as server:
        url = server.base_url
        made = hub.connect({
            "system": "qonto", "name": "Qonto", "timezone": "Europe/Paris",
            "settings": {"base_url": url, "oauth_url": url, "oauth_client_id": client_id,
                         "entities": {s: {"enabled": True}
                                      for s in ("customers", "invoices", "credit_notes")}},
            "secrets": {"oauth_client_secret": client_secret},
        })  # fmt: skip
        login = hub.api.post(f"/connections/{made['id']}/oauth/authorize").json()
        with httpx.Client(timeout=60) as browser:
            back = browser.get(login["authorize_url"]).headers["location"]
            if browser.get(back).status_code != 200:
                raise RuntimeError("the Qonto login failed")
        hub.import_all(made["id"])
        yield Target(
            "qonto", made["id"], {_host(url)}, frozenset({"invoices"}),
            lambda: len(sandbox.calls()),
        )  # fmt: skip
    sandbox.close()


@contextmanager
def tripletex(hub: Hub, prepared: Any) -> Iterator[Target]:
    from ledgerbridge.sandbox.tripletex import SandboxServer

    sandbox, firm = prepared
    server = SandboxServer(sandbox)
    server.start()
    try:
        made = hub.connect({
            "system": "tripletex", "name": "Tripletex", "timezone": "Europe/Oslo",
            "settings": {"environment": "production",
                         "base_urls": {env: server.url(env) for env in ("production", "test")},
                         "employee_token_expires_on": firm.token_expires.isoformat()},
            "secrets": {"employee_token": firm.employee_token},
        })  # fmt: skip
        hub.import_all(made["id"])
        yield Target(
            "tripletex", made["id"], {_host(server.url(e)) for e in ("production", "test")},
            frozenset({"customers", "products"}),
        )  # fmt: skip
    finally:
        server.stop()


@contextmanager
def woocommerce(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.woocommerce.app import SandboxServer
    from ledgerbridge.sandbox.woocommerce.seed import seed_shop
    from ledgerbridge.sandbox.woocommerce.state import WooSandbox

    sandbox = WooSandbox(clock=hub.clock, webhook_timeout=5.0)
    seed_shop(sandbox, seed=1, orders=60, customers=12)
    server = SandboxServer(sandbox)
    server.start()
    try:
        key = sandbox.default_key
        made = hub.connect({
            "system": "woocommerce", "name": "Webshop",
            "settings": {"base_url": server.base_url},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        })  # fmt: skip
        hub.import_all(made["id"])
        yield Target(
            "woocommerce", made["id"], {_host(server.base_url)},
            frozenset({"orders", "refunds", "products"}),
        )  # fmt: skip
    finally:
        server.stop()
        sandbox.close()


@contextmanager
def stripe(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.stripe import SandboxServer, StripeSandbox

    sandbox = StripeSandbox(clock=hub.clock, webhook_timeout=5.0, seed=7)
    server = SandboxServer(sandbox)
    server.start()
    try:
        made = hub.connect({
            "system": "stripe", "name": "Stripe", "settings": {"base_url": server.base_url},
            "secrets": {"secret_key": sandbox.default_key},
        })  # fmt: skip
        hub.import_all(made["id"])
        yield Target("stripe", made["id"], {_host(server.base_url)}, frozenset({"payouts"}))
    finally:
        server.stop()
        sandbox.close()


@contextmanager
def vipps_mobilepay(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer, VippsSandbox, worked_example

    sandbox = VippsSandbox(clock=hub.clock)
    worked_example(sandbox)
    with SandboxServer(sandbox) as server:
        made = hub.connect({
            "system": "vipps_mobilepay", "name": "Vipps MobilePay",
            "settings": {"base_url": server.base_url, "client_id": "vipps-client-1"},
            "secrets": {"client_secret": "vipps-secret-1",
                        "subscription_key": "vipps-sub-key-1"},
        })  # fmt: skip
        hub.import_all(made["id"])
        yield Target("vipps_mobilepay", made["id"], {_host(server.base_url)}, frozenset())


@contextmanager
def zettle(hub: Hub) -> Iterator[Target]:
    from ledgerbridge.sandbox.zettle import SandboxServer, ZettleSandbox

    sandbox = ZettleSandbox(clock=hub.clock, seed=11, webhook_timeout=5.0)
    server = SandboxServer(sandbox)
    server.start()
    try:
        made = hub.connect({
            "system": "zettle", "name": "Zettle",
            "settings": {"base_url": server.base_url, "contact_email": "kasse@example.dk"},
            "secrets": {"api_key": sandbox.default_key.key},
        })  # fmt: skip
        hub.import_all(made["id"], lambda: sandbox.wait_for_webhooks(timeout=10))
        yield Target(
            "zettle", made["id"], {_host(server.base_url)}, frozenset({"purchases"}),
            settle=lambda: sandbox.wait_for_webhooks(timeout=10),
        )  # fmt: skip
    finally:
        server.stop()
        sandbox.close()


SET_UPS: dict[str, Callable[[Hub], Any]] = {
    "uniconta": uniconta, "yuki": yuki, "qonto": qonto, "tripletex": tripletex,
    "woocommerce": woocommerce, "stripe": stripe, "vipps_mobilepay": vipps_mobilepay,
    "zettle": zettle,
}  # fmt: skip


def prepare_tripletex(clock: ManualClock, stack: ExitStack) -> tuple[JSON, Any]:
    """The accounting firm exists before the engine starts: its consumer token is one of the
    installation's settings."""
    from ledgerbridge.sandbox.tripletex import TripletexSandbox, seed_accounting_firm

    sandbox = TripletexSandbox(clock=clock, seed=3)
    stack.callback(sandbox.close)
    firm = seed_accounting_firm(sandbox, clients=3, seed=3, months=2, token_days=40)
    return {"tripletex_consumer_token": firm.consumer_token}, (sandbox, firm)


PREPARE: dict[str, Callable[[ManualClock, ExitStack], tuple[JSON, Any]]] = {
    "tripletex": prepare_tripletex
}


# ------------------------------------------------------------------ the hour


def runs_in_hour(cron: str, zone: str) -> int:
    """How many times a schedule fires in the measured hour."""
    from zoneinfo import ZoneInfo

    it = croniter(cron, START.astimezone(ZoneInfo(zone)))
    count = 0
    while it.get_next(datetime).astimezone(UTC) <= START + HOUR:
        count += 1
    return count


def allowance(hub: Hub, target: Target) -> JSON:
    """1 call per enabled stream without a webhook; a webhook-fed stream may cost 1 call per
    run of its safety-net pull in the hour."""
    status = hub.api.get(f"/connections/{target.connection_id}").json()
    spec = SPECS[target.system]
    enabled = sorted(
        name
        for name, choice in (status.get("settings", {}).get("entities") or {}).items()
        if choice.get("enabled")
    ) or sorted(spec.default_streams)
    schedules = {s.kind: s for s in hub.system.scheduler.list(target.connection_id)}
    streams: JSON = {}
    for kind, pull in spec.pulls.items():
        for stream in pull.streams:
            if stream not in enabled:
                continue
            runs = (
                runs_in_hour(schedules[kind].cron, schedules[kind].timezone)
                if kind in schedules
                else 0
            )
            webhook = stream in target.webhook_streams
            streams[stream] = {
                "pull": kind,
                "runs_in_hour": runs,
                "webhook": webhook,
                "allowed": runs if webhook else 1,
            }
    pulls: JSON = {}
    for stream, found in streams.items():
        pulls.setdefault(found["pull"], {"streams": [], "allowed": 0})
        pulls[found["pull"]]["streams"].append(stream)
        pulls[found["pull"]]["allowed"] += found["allowed"]
    return {
        "streams": streams,
        "pulls": pulls,
        "allowed": sum(s["allowed"] for s in streams.values()),
    }


def by_job(hour: JSON, allowed: JSON) -> JSON:
    """Per job kind: its calls in the hour (forced ones apart) against what its streams are
    allowed (a job that reads no stream, such as a push, is allowed none)."""
    jobs: JSON = {}
    for request, n in hour["requests"].items():
        kind, label = request.split(" ", 1)
        job = jobs.setdefault(kind, {"calls": 0, "forced": 0})
        job["forced" if FORCED.search(label) else "calls"] += n
    for kind, job in jobs.items():
        job["allowed"] = allowed["pulls"].get(kind, {}).get("allowed", 0)
        job["within"] = job["calls"] <= job["allowed"]
    return jobs


def idle_hour(hub: Hub, target: Target) -> JSON:
    """The clock from START through one hour in 1-minute steps, running what is due."""
    hub.clock.set(START)
    hub.run_due(target.settle)
    hub.transport.take()
    sandbox_before = target.sandbox_calls() if target.sandbox_calls else None
    hub.sandbox_counter = target.sandbox_calls
    hub.by_sandbox.clear()
    moment = START
    while moment < START + HOUR:
        moment += STEP
        hub.clock.set(moment)
        hub.run_due(target.settle)
    calls = Counter(
        {(kind, label): n for (host, kind, label), n in hub.transport.take().items()
         if host in target.hosts}
    )  # fmt: skip
    if not calls:
        # The client bypasses the transport: the sandbox's count per job stands in.
        calls = Counter({(kind, "SOAP calls"): n for kind, n in hub.by_sandbox.items() if n})
    forced = sum(n for (_, label), n in calls.items() if FORCED.search(label))
    total = sum(calls.values())
    found: JSON = {
        "calls": total,
        "forced": forced,
        "counted": total - forced,
        "requests": {f"{kind} {label}": n for (kind, label), n in sorted(calls.items())},
    }
    if target.sandbox_calls is not None and sandbox_before is not None:
        found["sandbox_calls"] = target.sandbox_calls() - sandbox_before
    return found


def measure_one(name: str, database_url: str | None) -> JSON:
    """One system on an engine of its own: set up, import, then the idle hour."""
    with tempfile.TemporaryDirectory(prefix="ledgerbridge-idle-") as workdir, ExitStack() as stack:
        clock = ManualClock(IMPORTED)
        installed, prepared = PREPARE[name](clock, stack) if name in PREPARE else ({}, None)
        hub = Hub(Path(workdir), database_url, clock, **installed)
        stack.callback(hub.close)
        set_up = SET_UPS[name]
        target = stack.enter_context(set_up(hub, prepared) if name in PREPARE else set_up(hub))
        hour = idle_hour(hub, target)
        allowed = allowance(hub, target)
        jobs = by_job(hour, allowed)
        within = all(job["within"] for job in jobs.values())
        imported = dict(sorted(hub.import_calls.items()))
        return {**hour, **allowed, "jobs": jobs, "within": within, "import_requests": imported}


def measure(systems: list[str], database_url: str | None) -> JSON:
    results: JSON = {"start": START.isoformat(), "step_s": STEP.total_seconds(), "systems": {}}
    for name in systems:
        results["systems"][name] = measure_one(name, database_url)
    return results


def table(results: JSON) -> str:
    rows = [
        "| system | calls in the hour | forced (session/token) | counted | allowance | "
        "per job: calls/allowed | within |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, found in results["systems"].items():
        jobs = ", ".join(
            f"{kind} {job['calls']}/{job['allowed']}" for kind, job in found["jobs"].items()
        )
        rows.append(
            f"| {name} | {found['calls']} | {found['forced']} | {found['counted']} | "
            f"{found['allowed']} | {jobs or '–'} | {'yes' if found['within'] else 'NO'} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    results = measure(args.systems.split(","), args.database_url)
    results["allowance_formula"] = (
        "1 call per enabled stream without a webhook; a stream fed by webhooks or change "
        "callbacks: 1 call per run of its safety-net pull in the hour; session and token "
        "calls counted apart (forced)"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "idle.json").write_text(json.dumps(results, indent=2))
    for name, found in results["systems"].items():
        print(f"\n{name}: {json.dumps({k: v for k, v in found.items() if k != 'streams'})}")
        print(f"  streams: {json.dumps(found['streams'])}")
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
