"""Benchmark: a WooCommerce shop booked into Uniconta, a historical import then a day of orders.

The shop holds 20,000 orders of 3 lines from the last 90 days (5 % of them partly refunded).
The route's commerce policy starts today, so those orders are booked only by the historical
import (``POST /routes/{id}/historical-import``, its dry run first). Then a day of 2,000 new
orders (and ~100 refunds) arrives by webhook, spread over 24 hours. For each phase this
measures the API calls on each side (WooCommerce, Uniconta's REST API, the booking service)
per order against the fewest the APIs allow, wall time, orders per second and peak memory, and
how many orders a day fit in Uniconta's 5,000 calls per user.

The shop, Uniconta and the booking service run in a child process (this script with
``--serve-sandbox``) so the figures are the engine's own; the shop's clock is moved by the
benchmark, in step with the engine's manual clock: frozen at today 00:00:30 during the
imports, then moved through the day in 5-minute steps so the schedules (the shop's safety-net
pull every 15 minutes, Uniconta's pulls) fire as in production.

    .venv/bin/python benchmarks/bench_commerce.py --scale 0.1
    .venv/bin/python benchmarks/bench_commerce.py
    .venv/bin/python benchmarks/bench_commerce.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ledgerbridge_bench
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import Request

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_uniconta_full import (
    JobMeter,
    Peaks,
    _vm_hwm_mb,
    kind_rows,
    profiled,
    run_until_idle,
    table,
)

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

JSON = dict[str, Any]

COMPANY, USER, PASSWORD = 48213, "bench", "bench-password"
WAREHOUSE = "01"
DAILY_BUDGET = 5000
"""Uniconta's included calls per user per day (the booking service's calls count too)."""
WOO_PAGE = 100
"""WooCommerce's largest ``per_page``."""
UNICONTA_BATCH = 100
"""Rows per Uniconta insert call."""
BASE = {"orders": 20_000, "day_orders": 2_000, "day_refunds": 100}
LINES = 3
REFUND_SHARE = 0.05
HISTORY_DAYS = 90
ZONE = ZoneInfo("Europe/Copenhagen")
STEP = timedelta(minutes=5)
POLICY: JSON = {"rounding_account": "AFRUND", "refund_item": "REFUSION"}
MIN_FORMULA = (
    f"WooCommerce: ceil(n/{WOO_PAGE}) pages per stream read (orders, refunds, products, "
    "customers as the connector reads them) + 4 webhook subscriptions at set-up; in the day "
    "webhooks carry the orders, so only the safety-net pulls cost calls (1 page per stream "
    f"per run). Uniconta: ceil(new debtors/{UNICONTA_BATCH}) + ceil(orders and credit-note "
    f"orders/{UNICONTA_BATCH}) + ceil(their lines/{UNICONTA_BATCH}) inserts + 1 booking call "
    "per invoice or credit note booked; in the day the same over the day's totals, a lower "
    "bound (per 5-minute burst it is about 3 inserts + the bookings)"
)


def scaled(scale: float, day_scale: float | None = None) -> dict[str, int]:
    """Record counts: the history at ``scale``, the day at ``day_scale`` (default the same)."""
    day = scale if day_scale is None else day_scale
    return {
        name: max(1, round(count * (day if name.startswith("day_") else scale)))
        for name, count in BASE.items()
    }


# ------------------------------------------------------------------ the sandbox process


class ShopBench:
    """The child's shop side: seeding history and the day's orders on a clock it is told."""

    def __init__(self, seed: int, start: datetime, repeats: tuple[int, int]) -> None:
        from ledgerbridge.sandbox.woocommerce import Settings as ShopSettings
        from ledgerbridge.sandbox.woocommerce import WooSandbox

        self.clock = ManualClock(start)
        self.rng = random.Random(seed)
        self.shop = WooSandbox(clock=self.clock, settings=ShopSettings(webhook_repeats=repeats))
        self.day_orders: list[int] = []
        self.lock = threading.Lock()

    def seed(self, orders: int, seed: int) -> JSON:
        from ledgerbridge.sandbox.woocommerce import seed_shop
        from ledgerbridge.sandbox.woocommerce.seed import refund_line

        shop = self.shop
        started = time.perf_counter()
        # Products, customers and the special cases (OSS, B2B, EAN, subscriptions); its
        # own random orders have 1–3 lines, so the bulk of orders is made here with 3.
        seed_shop(shop, seed=seed, orders=0, customers=max(12, orders // 4))
        self.products = [
            p["id"]
            for p in shop.products.values()
            if p.get("type") == "simple" and not str(p.get("sku", "")).startswith(("GVK", "ABO"))
        ]
        self.customers = [c for c in shop.customers.values() if c["billing"]["country"] == "DK"]
        today = self.clock.now()
        first = today - timedelta(days=HISTORY_DAYS)
        span = (today - first).total_seconds() - 6 * 3600
        refunds = 0
        for index in range(orders):
            when = first + timedelta(seconds=int(span * index / orders))
            order = self.order(index, when)
            if self.rng.random() < REFUND_SHARE:
                self.clock.set(when + timedelta(hours=2))
                shop.create_refund(
                    order["id"],
                    {"reason": "Knust", "line_items": [refund_line(order["line_items"][0], 1)]},
                )
                refunds += 1
        self.clock.set(today)
        return {
            "seed_s": round(time.perf_counter() - started, 2),
            "orders": len(shop.orders),
            "bulk_orders": orders,
            "bulk_refunds": refunds,
            "refunds": len(shop.refunds),
            "customers": len(shop.customers),
            "products": len(shop.products),
            "from": first.astimezone(ZONE).date().isoformat(),
        }

    def order(self, index: int, when: datetime) -> JSON:
        """A checkout of 3 products, paid at once (card or MobilePay) or by bank transfer."""
        shop, rng = self.shop, self.rng
        if index % 5 == 0:
            email = f"gaest{index}-{when:%j}@example.dk"
            address = {
                "first_name": "Gæst",
                "last_name": f"Nr {index}",
                "company": "",
                "address_1": "Hovedgaden 1",
                "address_2": "",
                "city": "Vejle",
                "state": "",
                "postcode": "7100",
                "country": "DK",
                "email": email,
                "phone": "+4512345678",
            }
            buyer: JSON = {"customer_id": 0, "billing": address, "shipping": address}
        else:
            customer = self.customers[rng.randrange(len(self.customers))]
            buyer = {
                "customer_id": customer["id"],
                "billing": customer["billing"],
                "shipping": customer["shipping"],
            }
        self.clock.set(when)
        order = shop.create_order(
            {
                **buyer,
                "payment_method": rng.choice(("quickpay",) * 6 + ("mobilepay",) * 3 + ("bacs",)),
                "line_items": [
                    {"product_id": p, "quantity": rng.randint(1, 3)}
                    for p in rng.sample(self.products, LINES)
                ],
            },
            created_via="checkout",
            when=when,
        )
        paid = when + timedelta(seconds=40)
        self.clock.set(paid)
        return shop.update_order(
            order["id"],
            {"status": "processing", "set_paid": True, "transaction_id": f"qp{order['id']}"},
            when=paid,
        )

    def step(self, at: str, orders: int, refunds: list[int], index: int) -> JSON:
        """One 5-minute step of the day: the clock moves, orders come, refunds are made."""
        from ledgerbridge.sandbox.woocommerce.seed import refund_line

        with self.lock:
            when = datetime.fromisoformat(at)
            made = []
            for n in range(orders):
                made.append(self.order(index + n, when + timedelta(seconds=n))["id"])
            self.day_orders.extend(made)
            for order_id in refunds:
                order = self.shop.order_json(order_id)
                self.shop.create_refund(
                    order_id,
                    {"reason": "Fortrudt", "line_items": [refund_line(order["line_items"][0], 1)]},
                )
            self.clock.set(when + timedelta(seconds=max(orders, 1) + 60))
        self.shop.wait_for_webhooks(timeout=120)
        return {"orders": made}


def serve_sandbox(
    ports: list[int], scale: float, seed: int, start: str, repeats: str, ready: Path
) -> None:
    """Child process: the shop (with the benchmark's control routes), Uniconta and its
    booking service; throttling off so Uniconta's slow-down does not distort timings."""
    from ledgerbridge.sandbox.uniconta import BookingServer, UnicontaSandbox, seed_webshop
    from ledgerbridge.sandbox.uniconta import SandboxServer as UnicontaServer
    from ledgerbridge.sandbox.woocommerce import SandboxServer as ShopServer

    low, _, high = repeats.partition("-")
    bench = ShopBench(seed, datetime.fromisoformat(start), (int(low), int(high or low)))
    facts = bench.seed(scaled(scale)["orders"], seed)

    class Shop(ShopServer):
        def app(self) -> Any:
            app: Any = self._app  # the shop's FastAPI app, behind the server's dispatch

            @app.post("/_bench/step")
            async def step(request: Request) -> JSON:
                body = await request.json()
                import asyncio

                return await asyncio.to_thread(
                    bench.step, body["at"], body["orders"], body["refunds"], body["index"]
                )

            # Ahead of the shop's catch-all route (WordPress's 404 for unknown paths).
            routes = app.router.routes
            routes[:] = routes[-1:] + routes[:-1]
            return super().app()

    shop_server = Shop(bench.shop, port=ports[0])
    shop_server.start()
    bench.shop.home_url = shop_server.base_url
    uniconta = UnicontaSandbox(daily_call_limit=10**9, throttle_delay=0)
    uniconta.add_company(company_id=COMPANY, name="Benchmark Kaffe ApS")
    uniconta.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_webshop(uniconta, COMPANY)
    uniconta.load(COMPANY, "InvWarehouseClient", [{"Warehouse": WAREHOUSE, "Name": "Lager"}])
    UnicontaServer(uniconta, port=ports[1]).start()
    BookingServer(uniconta, port=ports[2]).start()
    key = bench.shop.default_key
    facts["key"] = [key.consumer_key, key.consumer_secret]
    temporary = ready.with_suffix(".tmp")
    temporary.write_text(json.dumps(facts))
    temporary.replace(ready)
    threading.Event().wait()


@contextmanager
def sandbox_process(
    args: argparse.Namespace, start: datetime, workdir: Path
) -> Iterator[tuple[list[str], JSON, subprocess.Popen[bytes]]]:
    ports = [free_port(), free_port(), free_port()]
    ready = workdir / "sandbox.json"
    log = (workdir / "sandbox.log").open("wb")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-sandbox",
        ",".join(map(str, ports)),
        "--scale",
        str(args.scale),
        "--seed",
        str(args.seed),
        "--start",
        start.isoformat(),
        "--ready-file",
        str(ready),
        "--webhook-repeats",
        args.webhook_repeats,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 1800
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (workdir / "sandbox.log").read_text()
                raise RuntimeError(f"sandbox did not start: {log_text}")
            time.sleep(0.2)
        yield urls, json.loads(ready.read_text()), process
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


# ------------------------------------------------------------------ measuring


class SideTransport(httpx.BaseTransport):
    """Counts and times every request of the engine by side (shop, Uniconta, booking), what
    it asks for, and the job making it (``kind``, set by ``JobMeter``)."""

    def __init__(self, sides: dict[str, str]) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.sides = sides
        self.kind = "setup"
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        side = self.sides.get(f"{request.url.host}:{request.url.port}", "other")
        label = f"{request.method} " + re.sub(r"/\d+", "/{n}", request.url.path)
        label = label.replace("/wp-json/wc/v3", "").replace("/Companies/{n}", "")
        start = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            with self._lock:
                self.calls[(self.kind, side, label)] += 1
                self.seconds[self.kind] += time.perf_counter() - start

    def close(self) -> None:
        with self._lock:
            inner, self._inner = self._inner, httpx.HTTPTransport()
        inner.close()

    def take(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


def by_side(calls: Counter[tuple[str, str, str]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for (_, side, _), n in calls.items():
        found[side] += n
    return found


class Bench:
    """The engine under test (this process) and what it takes to read its figures."""

    def __init__(self, args: argparse.Namespace, urls: list[str], facts: JSON, start: datetime,
                 workdir: Path) -> None:  # fmt: skip
        self.args, self.facts, self.urls = args, facts, urls
        self.shop_url, self.uniconta_url, self.booking_url = urls
        self.admin = httpx.Client(timeout=600)
        self.clock = ManualClock(start)
        sides = dict(zip(("shop", "uniconta", "booking"), urls, strict=True))
        self.transport = SideTransport({u.split("//")[1]: s for s, u in sides.items()})
        self.peaks = Peaks(False)
        hub_port = free_port()
        self.system = System(
            Settings(
                database_url=args.database_url or f"sqlite:///{workdir / 'bench.db'}",
                secret_keys=Fernet.generate_key().decode(),
                secret_key_file=workdir / "unused.key",
                public_url=f"http://127.0.0.1:{hub_port}",
                worker_concurrency=1,
            ),
            clock=self.clock,
            transport=self.transport,
        )
        self.meter = JobMeter(self.transport, self.peaks)  # type: ignore[arg-type]
        system = self.system
        every = {
            **system.jobs.handlers(),
            **system.flows.handlers(),
            **system.file_jobs.handlers(),
            "notices": system._notices,
            "retention": system._retention,
        }  # as System builds its worker, each handler wrapped to be measured
        handlers = {k: self.meter.wrap(k, h) for k, h in every.items()}
        self.worker = self.system.queue.runner(handlers, concurrency=1, poll_interval=1.0)
        self.server = ServerThread(create_app(self.system), port=hub_port).start()
        issued = self.system.tenancy.create_tenant("Bench", "owner@bench.example")
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{hub_port}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=600,
        )

    def close(self) -> None:
        self.server.stop()
        self.system.close()
        self.api.close()
        self.admin.close()
        self.transport.close()

    def post(self, path: str, body: JSON) -> JSON:
        answer = self.api.post(path, json=body)
        if answer.is_error:
            raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
        result: JSON = answer.json()
        return result

    def uniconta_calls(self) -> int:
        """Calls Uniconta counted for the user (REST API and booking service)."""
        report = self.admin.get(f"{self.uniconta_url}/_sandbox/companies/{COMPANY}/calls").json()
        return int(report["users"].get(USER, {}).get("total", 0))

    @contextmanager
    def phase(self, name: str) -> Iterator[JSON]:
        self.meter.phase = name
        self.transport.kind = name
        authority = self.uniconta_calls()
        api = sum(self.transport.seconds.values())
        self.peaks.start_phase()
        box: JSON = {}
        start = time.perf_counter()
        yield box
        box["wall_s"] = time.perf_counter() - start
        self.peaks.fold()
        box["rss"] = self.peaks.phase_rss
        box["uniconta_authority"] = self.uniconta_calls() - authority
        box["api_wait_s"] = sum(self.transport.seconds.values()) - api
        box["requests"] = self.transport.take()
        box["jobs"] = self.meter.take()

    # -------------------------------------------------------------- set-up

    def connect(self) -> None:
        key, secret = self.facts["key"]
        shop = self.post("/connections", {
            "system": "woocommerce", "name": "Webshop",
            "settings": {"base_url": self.shop_url,
                         "entities": {"orders": {"enabled": True}, "refunds": {"enabled": True},
                                      "products": {"enabled": True, "direction": "inbound"},
                                      "stock": {"enabled": True}}},
            "secrets": {"consumer_key": key, "consumer_secret": secret},
        })  # fmt: skip
        uniconta = self.post("/connections", {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": COMPANY, "username": USER,
                         "base_url": self.uniconta_url, "booking_url": self.booking_url,
                         "post_invoices": True, "products_master": "app",
                         "daily_call_limit": 10**6,
                         "entities": streams_only("uniconta", "customers", "products",
                                                  "stock_levels", "invoices", "payment_status")},
            "secrets": {"password": PASSWORD},
        })  # fmt: skip
        self.shop_id, self.uniconta_id = shop["id"], uniconta["id"]
        self.admin.put(
            f"{self.uniconta_url}/_sandbox/companies/{COMPANY}/change-url",
            json={"url": uniconta["change_url"], "post_body": False},
        ).raise_for_status()
        policy = {**POLICY, "start_date": self.clock.now().astimezone(ZONE).date().isoformat()}
        route = self.post("/routes", {
            "source": self.shop_id, "target": self.uniconta_id, "entities": ["product"],
            "commerce": {"policy": policy,
                         "rules": {"adjustments": [
                             {"target": "note", "template": "Webordre {{ number }}"}]}},
        })  # fmt: skip
        self.route_id = route["id"]
        self.post("/routes", {"source": self.uniconta_id, "target": self.shop_id,
                              "entities": ["stock_level"]})  # fmt: skip

    def initial_imports(self) -> None:
        for cid in (self.uniconta_id, self.shop_id):
            self.api.post(f"/connections/{cid}/import").raise_for_status()
            run_until_idle(self.system, self.worker, max_rounds=1000)
            state = self.api.get(f"/connections/{cid}").json()["import_state"]
            if state != "done":
                raise RuntimeError(f"import of {cid} ended {state}")

    def historical(self, first: str, last: str, dry_run: bool) -> JSON:
        return self.post(
            f"/routes/{self.route_id}/historical-import",
            {"from": first, "to": last, "dry_run": dry_run},
        )

    def settle(self) -> None:
        for _ in range(5):
            if run_until_idle(self.system, self.worker, max_rounds=1000) == 0:
                break
            time.sleep(0.2)

    # -------------------------------------------------------------- the day

    def run_day(self, day_start: datetime) -> JSON:
        """24 hours in 5-minute steps: orders spread evenly, every 20th refunded 2 hours
        later (when still today), then whatever is due runs."""
        sizes = scaled(self.args.scale, self.args.day_scale)
        steps = int(timedelta(days=1) / STEP)
        per_step = [
            (n + 1) * sizes["day_orders"] // steps - n * sizes["day_orders"] // steps
            for n in range(steps)
        ]
        every = max(1, sizes["day_orders"] // sizes["day_refunds"])
        made: list[tuple[int, datetime]] = []
        refunded = 0
        times: defaultdict[str, float] = defaultdict(float)
        index = 1_000_000
        for n in range(steps):
            self.clock.set(day_start + n * STEP)
            now = self.clock.now()
            due = [
                order
                for k, (order, when) in enumerate(made)
                if k % every == every - 1 and now - STEP < when + timedelta(hours=2) <= now
            ]
            start = time.perf_counter()
            answer = self.admin.post(
                f"{self.shop_url}/_bench/step",
                json={"at": now.isoformat(), "orders": per_step[n], "refunds": due,
                      "index": index},
            )  # fmt: skip
            answer.raise_for_status()
            times["shop_s"] += time.perf_counter() - start
            index += per_step[n]
            refunded += len(due)
            made.extend((o, now) for o in answer.json()["orders"])
            start = time.perf_counter()
            run_until_idle(self.system, self.worker, max_rounds=1000)
            times["jobs_s"] += time.perf_counter() - start
        self.clock.set(day_start + timedelta(days=1))
        start = time.perf_counter()
        self.settle()
        times["jobs_s"] += time.perf_counter() - start
        return {"orders": len(made), "refunds": refunded, "times": dict(times),
                "per_step_max": max(per_step)}  # fmt: skip

    # -------------------------------------------------------------- what was made

    def hub_state(self) -> JSON:
        from ledgerbridge.store.tables.hub import HubRecord

        with self.system.sessions() as session:
            rows = session.execute(
                sa.select(HubRecord.entity, sa.func.count()).group_by(HubRecord.entity)
            ).all()
            invoices = session.scalars(
                sa.select(HubRecord.data).where(HubRecord.entity == "invoice")
            ).all()
        kinds = Counter(f"{i.get('kind')}/{i.get('status')}" for i in invoices)
        issues: Counter[str] = Counter()
        for cid in (self.shop_id, self.uniconta_id):
            for issue in self.api.get(f"/connections/{cid}/issues").json():
                issues[issue["reason"]] += 1
        return {
            "records": {e: int(c) for e, c in rows},
            "invoices": dict(kinds),
            "lines": sum(len(i.get("lines") or []) for i in invoices),
            "booked": sum(1 for i in invoices if i.get("status") in ("booked", "paid")),
            "issues": dict(issues),
        }


def delta(after: JSON, before: JSON) -> JSON:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if k != "issues"}


def uniconta_minimum(debtors: int, documents: int, lines: int, booked: int) -> int:
    return (
        math.ceil(debtors / UNICONTA_BATCH)
        + math.ceil(documents / UNICONTA_BATCH)
        + math.ceil(lines / UNICONTA_BATCH)
        + booked
    )


def request_rows(requests: Counter[tuple[str, str, str]]) -> str:
    found: Counter[tuple[str, str, str]] = Counter()
    for (kind, side, label), n in requests.items():
        found[(kind.split(":")[0], side, label)] += n
    rows = [[kind, side, label, n] for (kind, side, label), n in found.most_common()]
    return table(["job", "side", "request", "calls"], rows)


def job_side_rows(requests: Counter[tuple[str, str, str]]) -> str:
    found: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for (kind, side, _), n in requests.items():
        found[kind.split(":")[0]][side] += n
    rows = [
        [kind, c["shop"], c["uniconta"], c["booking"]]
        for kind, c in sorted(found.items(), key=lambda kv: -sum(kv[1].values()))
    ]
    return table(["job", "shop", "uniconta", "booking"], rows)


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 20,000 + 2,000 orders")
    parser.add_argument(
        "--day-scale",
        type=float,
        default=None,
        help="scale of the day alone (default: --scale), e.g. a full day after a small history",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--profile", type=Path, default=None, help="folder for cProfile stats")
    parser.add_argument(
        "--webhook-repeats",
        default="2-9",
        help="deliveries of one save, a range (WooCommerce repeats them 2-9 times; 1-1: off)",
    )
    parser.add_argument("--serve-sandbox", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox is not None:
        ports = [int(p) for p in args.serve_sandbox.split(",")]
        serve_sandbox(
            ports, args.scale, args.seed, args.start, args.webhook_repeats, args.ready_file
        )
        return 0
    if args.scale <= 0 or (args.day_scale is not None and args.day_scale <= 0):
        parser.error("--scale and --day-scale must be above 0")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-commerce-"))
    database = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    today = datetime.now(ZONE).date()
    start = datetime.combine(today, datetime.min.time(), ZONE) + timedelta(seconds=30)
    results: JSON = {
        "scale": args.scale,
        "database": database,
        "sizes": scaled(args.scale, args.day_scale),
        "day_scale": args.day_scale,
        "date": today.isoformat(),
        "minimum_formula": MIN_FORMULA,
    }
    try:
        with sandbox_process(args, start, workdir) as (urls, facts, process):
            results["shop"] = {k: v for k, v in facts.items() if k != "key"}
            print(f"shop seeded: {results['shop']}", flush=True)
            bench = Bench(args, urls, facts, start, workdir)
            try:
                report = run(bench, facts, today, results)
            finally:
                results["sandbox_peak_rss_mb"] = _vm_hwm_mb(process.pid)
                bench.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if database == "sqlite" else f"_{database}"
    day = "" if args.day_scale is None else f"_day{args.day_scale:g}"
    out = args.out / f"commerce_{args.scale:g}{day}{suffix}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(report)
    print(f"\nJSON: {out}")
    return 0


def run(bench: Bench, facts: JSON, today: date, results: JSON) -> str:
    """Set-up and imports, the dry run, the historical import, the day; then the tables."""
    phases: list[JSON] = []
    sections: list[str] = []

    def record(name: str, box: JSON, orders: int, minimum: JSON, extra: JSON) -> None:
        sides = by_side(box["requests"])
        row = {
            "phase": name,
            "orders": orders,
            "shop_calls": sides["shop"],
            "uniconta_calls": sides["uniconta"],
            "booking_calls": sides["booking"],
            "uniconta_authority": box["uniconta_authority"],
            "minimum": minimum,
            "wall_s": round(box["wall_s"], 2),
            "api_wait_s": round(box["api_wait_s"], 2),
            "orders_per_s": round(orders / box["wall_s"], 1) if orders and box["wall_s"] else 0,
            "peak_rss_mb": round(box["rss"], 1),
            **extra,
        }
        phases.append(row)
        jobs_table, jobs = kind_rows(box["jobs"], {})
        row["by_job"] = jobs
        row["by_request"] = {f"{s} {lb}": n for (_, s, lb), n in box["requests"].items()}
        sections.extend(
            [
                f"\n--- {name} ---",
                json.dumps({k: v for k, v in row.items() if k not in ("by_job", "by_request")}),
                "calls by job and side",
                job_side_rows(box["requests"]),
                "calls by request",
                request_rows(box["requests"]),
                "jobs",
                jobs_table,
            ]
        )
        print(sections[-8], sections[-7], flush=True)

    with bench.phase("setup") as box:
        bench.connect()
        bench.initial_imports()
    hub0 = bench.hub_state()
    shop_orders, shop_refunds = facts["orders"], facts["refunds"]
    shop_min = (
        math.ceil(shop_orders / WOO_PAGE)
        + math.ceil(shop_refunds / WOO_PAGE)
        + math.ceil(facts["products"] / WOO_PAGE)
        + 4
    )
    record(
        "set-up and initial imports",
        box,
        shop_orders,
        {"shop": shop_min},
        {"hub": hub0},
    )

    first = facts["from"]
    last = (today - timedelta(days=1)).isoformat()
    with bench.phase("dry run") as box:
        plan = bench.historical(first, last, dry_run=True)
    brief = {k: v for k, v in plan.items() if k not in ("problems", "customers_to_create")}
    brief["customers_to_create"] = len(plan.get("customers_to_create") or [])
    brief["problems"] = (plan.get("problems") or [])[:5]
    record("historical import, dry run", box, int(plan.get("orders", 0)), {}, {"plan": brief})

    with profiled(bench.args.profile, "history"), bench.phase("historical import") as box:
        job = bench.historical(first, last, dry_run=False)
        bench.settle()
    state = bench.api.get(f"/routes/{bench.route_id}/historical-import/{job['job_id']}").json()
    hub1 = bench.hub_state()
    made = delta(hub1["records"], hub0["records"])
    documents = sum(hub1["invoices"].values()) - sum(hub0["invoices"].values())
    booked = hub1["booked"] - hub0["booked"]
    lines = hub1["lines"] - hub0["lines"]
    history_min = uniconta_minimum(made.get("party", 0), documents, lines, booked)
    orders_done = int(plan.get("orders", 0))
    record(
        "historical import",
        box,
        orders_done,
        {"shop": 0, "uniconta": history_min},
        {"job": state, "hub": hub1, "made": made, "documents": documents, "booked": booked,
         "lines": lines},
    )  # fmt: skip

    day_start = datetime.combine(today, datetime.min.time(), ZONE)
    with profiled(bench.args.profile, "day"), bench.phase("day") as box:
        day = bench.run_day(day_start)
    box["wall_s"] = day["times"]["jobs_s"]
    hub2 = bench.hub_state()
    made = delta(hub2["records"], hub1["records"])
    documents = sum(hub2["invoices"].values()) - sum(hub1["invoices"].values())
    booked = hub2["booked"] - hub1["booked"]
    lines = hub2["lines"] - hub1["lines"]
    pulls = {k: s.runs for k, s in box["jobs"].items()}
    record(
        "day (webhooks, 5-minute steps)",
        box,
        day["orders"],
        {"shop": 2 * pulls.get("pull", 0),
         "uniconta_writes": uniconta_minimum(made.get("party", 0), documents, lines, booked)},
        {"day": day, "hub": hub2, "made": made, "documents": documents, "booked": booked,
         "lines": lines, "runs": pulls},
    )  # fmt: skip
    results["phases"] = phases

    summary = []
    for row in phases:
        n = row["orders"] or 1
        uni = row["uniconta_calls"] + row["booking_calls"]
        summary.append(
            [
                row["phase"],
                row["orders"],
                row["shop_calls"],
                f"{row['shop_calls'] / n:.3f}",
                uni,
                row["uniconta_authority"],
                f"{uni / n:.3f}",
                json.dumps(row["minimum"]),
                f"{row['wall_s']:.1f}",
                f"{row['orders_per_s']:.0f}",
                f"{row['peak_rss_mb']:.0f}",
            ]
        )
    day_row = phases[-1]
    orders = max(1, day_row["orders"])
    per_order = (day_row["uniconta_calls"] + day_row["booking_calls"]) / orders
    fit = math.floor(DAILY_BUDGET / per_order) if per_order else None
    # Scheduled scans cost about the same whatever the day's orders (the hourly invoice pull
    # reads back the invoices booked, so it grows a little); pushes, callbacks and bookings
    # grow with the orders.
    fixed = variable = 0
    for (kind, side, _), n in box["requests"].items():
        if side in ("uniconta", "booking"):
            if kind.split(":")[0] in ("push", "inbox", "commerce_flow"):
                variable += n
            else:
                fixed += n
    marginal = variable / orders
    fit_marginal = math.floor((DAILY_BUDGET - fixed) / marginal) if marginal else None
    results["budget"] = {
        "uniconta_calls_per_order_day": round(per_order, 3),
        "orders_per_day_in_budget": fit,
        "scheduled_calls_per_day": fixed,
        "order_driven_calls": variable,
        "order_driven_calls_per_order": round(marginal, 3),
        "orders_per_day_in_budget_after_scheduled": fit_marginal,
    }
    header = [
        "phase", "orders", "shop calls", "shop/order", "Uniconta calls (REST+booking)",
        "Uniconta counted", "Uniconta/order", "minimum", "wall s", "orders/s", "peak RSS MB",
    ]  # fmt: skip
    return "\n".join(
        [
            *sections,
            f"\n=== commerce benchmark, scale {bench.args.scale:g} (a day of "
            f"{results['sizes']['day_orders']} orders) on {results['database']} ===",
            f"minimum: {MIN_FORMULA}",
            "",
            table(header, summary),
            "",
            f"Uniconta calls per order in the day: {per_order:.3f} (all calls / orders); orders "
            f"per day in {DAILY_BUDGET} calls: {fit}",
            f"of which scheduled scans {fixed} calls a day and order-driven (pushes, callbacks, "
            f"bookings) {variable} = {marginal:.3f} per order; orders per day that fit beside "
            f"the scans: {fit_marginal}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
