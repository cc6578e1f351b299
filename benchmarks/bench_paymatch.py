"""Benchmark: PayMatch for a shop taking 2,000 card payments a day, 30 days of daily payouts.

Each day's payout holds the day's card payments (each with its fee) and is posted in
Uniconta's PAYMATCH cash journal: a receivable line per payment with its invoice number, a fee
line per payment, the bank line. One payment in a hundred names an order the hub does not know
(the error account). Measured: Uniconta calls per payout and per journal line against the
fewest the API allows (one InsertList per payout of up to 5,000 lines, plus one read of the
company's currency per push), wall time of the PayMatch flow and the push, peak memory, and
the share of payments matched automatically.

Fast set-up path: the orders and their booked invoices (with Uniconta's invoice numbers) are
written straight into the hub's tables together with the commerce flow's derived-record rows,
as the commerce flow and the invoice push would have left them, without change-feed rows (so
they trigger no flow and no push); booking 60,000 invoices through Uniconta is what
bench_commerce.py measures. The payouts then go through the product's own path: the hub
service that ``POST /api/v1/payouts`` calls, the ``paymatch_flow`` job and the push to the
Uniconta sandbox on loopback (in this process: the peak memory includes the sandbox's).

    .venv/bin/python benchmarks/bench_paymatch.py --days 3
    .venv/bin/python benchmarks/bench_paymatch.py
    .venv/bin/python benchmarks/bench_paymatch.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ledgerbridge_bench
    .venv/bin/python benchmarks/bench_paymatch.py --acquirer stripe
    .venv/bin/python benchmarks/bench_paymatch.py --acquirer vipps_mobilepay

With ``--acquirer stripe`` the payouts come from the Stripe sandbox on loopback through a
Stripe connection instead of the hub API: each day the day's charges are made in the sandbox
(half with the order number in their metadata, half known by the charge id the order stored as
its transaction id, one in a hundred for an unknown order), the day's automatic payout is paid,
and the connection's pull reads it (the sandbox, the hub and the connector share a manual clock
that moves a day per payout; webhooks are switched off, so the pull is the only reader).
Measured besides: Stripe calls (the connection's runs' meter) per payout and per line against
the fewest the API allows: one list call and ``ceil(transactions / 100)`` calls for the payout's
balance transactions (its charges and its own ``payout`` transaction), per payout.
``--acquirer vipps_mobilepay`` does the same with the Vipps MobilePay Report API sandbox: the
day's captures name the shop's order id (one in a hundred an unknown one), the payout retains
the fees; the fewest calls are the pages of the ``funds`` and ``fees`` feeds (1,000 entries a
page) the payout's entries fill.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.clock import ManualClock
from ledgerbridge.engine.canonical import content_hash
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.stripe import SandboxServer as StripeServer
from ledgerbridge.sandbox.stripe import StripeSandbox
from ledgerbridge.sandbox.uniconta import SandboxServer, UnicontaSandbox, seed_webshop
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer as VippsServer
from ledgerbridge.sandbox.vipps_mobilepay import VippsSandbox
from ledgerbridge.services.routes import RouteInput
from ledgerbridge.settings import Settings
from ledgerbridge.store.base import new_id
from ledgerbridge.store.tables.flows import DerivedRecord
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Run

COMPANY = 48213
USER, PASSWORD = "bench", "bench-Pa55word"
PAYMATCH: dict[str, Any] = {
    "journal": "PAYMATCH", "receivable_account": "5820", "fee_account": "7220",
    "bank_account": "5900", "error_account": "5990", "start_date": "2026-01-01",
    "wait_for_invoice_hours": 0,
}  # fmt: skip
UNKNOWN_EVERY = 100
"""One payment in this many names no order the hub knows."""
START = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
"""The shared clock's first day when the payouts come from an acquirer's sandbox."""


def order(number: str) -> dict[str, Any]:
    return {
        "source_id": number, "number": number, "state": "completed",
        "created_at": "2026-11-01T10:00:00+01:00", "currency": "DKK",
        "transaction_id": f"ch_{number}",
        "lines": [{"kind": "item", "sku": "KRUS", "description": "Krus", "quantity": "1",
                   "unit_price": "100.00", "tax_rate": "25"}],
        "total": "125.00", "total_tax": "25.00",
    }  # fmt: skip


def prepare(system: System, tenant_id: str, route_id: str, days: int, per_day: int) -> None:
    """The fast set-up path: orders, booked invoices and derived rows straight into the hub."""
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    derived: list[dict[str, Any]] = []

    def flush() -> None:
        with system.sessions.begin() as session:
            session.execute(sa.insert(HubRecord), rows)
            session.execute(sa.insert(DerivedRecord), derived)
        rows.clear()
        derived.clear()

    for n in range(days * per_day):
        number = str(100000 + n)
        data = order(number)
        invoice = {"kind": "invoice", "number": str(500000 + n), "party_id": "p",
                   "date": "2026-11-01", "currency": "DKK", "status": "paid",
                   "reference": number}  # fmt: skip
        invoice_id = new_id()
        for rid, entity, body, origin in (
            (new_id(), "order", data, "api"),
            (invoice_id, "invoice", invoice, f"flow:{route_id}"),
        ):
            rows.append({"id": rid, "tenant_id": tenant_id, "entity": entity, "data": body,
                         "content_hash": content_hash(body), "version": 1, "origin": origin,
                         "deleted": False, "created_at": now, "updated_at": now})  # fmt: skip
        derived.append({"id": new_id(), "tenant_id": tenant_id, "route_id": route_id,
                        "source_record_id": f"order:{number}", "role": "invoice",
                        "derived_record_id": invoice_id, "state": "paid", "source_hash": None,
                        "created_at": now, "updated_at": now})  # fmt: skip
        if len(derived) >= 5000:
            flush()
    if derived:
        flush()


def payout(day: int, per_day: int) -> dict[str, Any]:
    lines = []
    for k in range(per_day):
        n = day * per_day + k
        ref: dict[str, str] = (
            {"order_ref": f"X{n}"} if k % UNKNOWN_EVERY == UNKNOWN_EVERY - 1
            else {"order_ref": str(100000 + n)} if k % 2 else {"psp_ref": f"ch_{100000 + n}"}
        )  # fmt: skip
        lines.append({"line_id": f"txn_{n}", "type": "charge", "gross": "125.00",
                      "fee": "1.88", "net": "123.12", **ref})  # fmt: skip
    net = Decimal("123.12") * per_day
    return {
        "provider": "stripe", "source_id": f"po_{day:03d}", "status": "paid",
        "arrival_date": (dt.date(2026, 11, 2) + dt.timedelta(days=day)).isoformat(),
        "currency": "DKK", "gross": str(Decimal("125.00") * per_day),
        "fees": str(Decimal("1.88") * per_day), "net": str(net),
        "bank_reference": f"STRIPE PAYOUT {day}", "lines": lines,
    }  # fmt: skip


class StripeAcquirer:
    """The Stripe sandbox on loopback: a day's charges, then its automatic payout, paid."""

    name = "Stripe"
    system = "stripe"

    def __init__(self, clock: ManualClock) -> None:
        self.sandbox = StripeSandbox(clock=clock, seed=3)
        self.sandbox.apply_settings({"webhook_miss_rate": 1.0})
        self.server = StripeServer(self.sandbox)
        self.server.start()

    def connection(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {"base_url": self.server.base_url}, {"secret_key": self.sandbox.default_key}

    def day(self, day: int, per_day: int) -> None:
        """The day's charges as the shop's Stripe plugin makes them (the same references as
        ``payout`` gives its lines), then the payout of the balance."""
        for k in range(per_day):
            n = day * per_day + k
            ref: dict[str, str] = (
                {"order_id": f"X{n}"} if k % UNKNOWN_EVERY == UNKNOWN_EVERY - 1
                else {"order_id": str(100000 + n)} if k % 2
                else {"transaction_id": f"ch_{100000 + n}"}
            )  # fmt: skip
            self.sandbox.create_charge({"amount": 12500, "fee": 188, **ref})
        made = self.sandbox.create_payout({})
        self.sandbox.set_payout_status(made["id"], {"status": "in_transit"})
        self.sandbox.set_payout_status(made["id"], {"status": "paid"})

    def minimum(self, days: int, per_day: int) -> tuple[int, str]:
        listed = per_day + 1
        return days * (1 + -(-listed // 100)), f"1 list + ceil({listed} / 100) per payout"

    def stop(self) -> None:
        self.server.stop()
        self.sandbox.close()


class VippsAcquirer:
    """The Vipps MobilePay Report API sandbox on loopback: a day's captures (each naming the
    shop's order id), then the payout, fees retained."""

    name = "Vipps MobilePay"
    system = "vipps_mobilepay"
    ledger = "302321"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sandbox = VippsSandbox(clock=clock)
        self.sandbox.add_ledger(self.ledger, "DKK", msn="123455")
        self.server = VippsServer(self.sandbox)
        self.server.start()

    def connection(self) -> tuple[dict[str, Any], dict[str, str]]:
        return (
            {"base_url": self.server.base_url, "client_id": "vipps-client-1"},
            {"client_secret": "vipps-secret-1", "subscription_key": "vipps-sub-key-1"},
        )

    def day(self, day: int, per_day: int) -> None:
        for k in range(per_day):
            n = day * per_day + k
            order_id = f"X{n}" if k % UNKNOWN_EVERY == UNKNOWN_EVERY - 1 else str(100000 + n)
            self.sandbox.capture(self.ledger, order_id, 12500, fee=188)
        self.sandbox.schedule_payout(self.ledger)
        self.clock.advance(dt.timedelta(seconds=1))

    def minimum(self, days: int, per_day: int) -> tuple[int, str]:
        funds, fees = per_day + 2, per_day + 1
        pages = -(-funds // 1000) + -(-fees // 1000)
        return (
            days * pages,
            f"ceil({funds} / 1000) funds + ceil({fees} / 1000) fees pages per payout",
        )

    def stop(self) -> None:
        self.server.stop()


ACQUIRERS: dict[str, type[StripeAcquirer | VippsAcquirer]] = {
    "stripe": StripeAcquirer,
    "vipps_mobilepay": VippsAcquirer,
}


def acquirer_calls(system: System, connection_id: str) -> tuple[int, int, int]:
    """(calls, pulls, payouts read again unchanged) of a connection's runs so far, as its call
    meter and its counts have them."""
    with system.sessions() as session:
        runs = session.execute(
            sa.select(Run.kind, Run.calls, Run.counts).where(Run.connection_id == connection_id)
        ).all()
    calls = sum(run.calls for run in runs)
    pulls = sum(1 for run in runs if run.kind == "pull")
    again = sum(int((run.counts or {}).get("payouts.unchanged", 0)) for run in runs)
    return calls, pulls, again


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--payments", type=int, default=2000, help="card payments a day")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--acquirer", choices=("api", *ACQUIRERS), default="api",
        help="where the payouts come from: the hub API, or the acquirer's sandbox through a "
        "connection to it",
    )  # fmt: skip
    args = parser.parse_args(argv)
    clock = ManualClock(START) if args.acquirer in ACQUIRERS else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-paymatch-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    sandbox = UnicontaSandbox(throttle_delay=0.0, daily_call_limit=10**9)
    sandbox.add_company(COMPANY, "Kortbutikken ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_webshop(sandbox, COMPANY)
    settings = Settings(database_url=url, secret_keys=Fernet.generate_key().decode(),
                        secret_key_file=workdir / "unused.key",
                        public_url="http://127.0.0.1:9")  # fmt: skip
    acquirer = ACQUIRERS[args.acquirer](clock) if clock else None
    with SandboxServer(sandbox) as server:
        system = System(settings, clock=clock)
        issued = system.tenancy.create_tenant("Kortbutikken", "owner@kort.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        connection = system.connections.create(
            principal, system="uniconta", name="Uniconta", timezone="Europe/Copenhagen",
            settings={"company_id": COMPANY, "username": USER, "base_url": server.base_url,
                      "entities": {"customers": {"enabled": False},
                                   "suppliers": {"enabled": False},
                                   "contacts": {"enabled": False},
                                   "cash_journal": {"enabled": True}}},
            secrets_={"password": PASSWORD},
        )  # fmt: skip
        system.connections.start_import(principal, connection["id"])
        system.run_until_idle()
        source = "app"
        if acquirer:
            acquirer_settings, acquirer_secrets = acquirer.connection()
            made = system.connections.create(
                principal, system=acquirer.system, name=acquirer.name,
                timezone="Europe/Copenhagen", settings=acquirer_settings,
                secrets_=acquirer_secrets,
            )  # fmt: skip
            source = made["id"]
            system.connections.start_import(principal, source)
            system.run_until_idle()
        route = system.routes.create(
            principal, RouteInput(source, connection["id"], [], None, True, PAYMATCH)
        )
        started = time.monotonic()
        prepare(system, principal.tenant_id, route["id"], args.days, args.payments)
        setup_seconds = time.monotonic() - started
        calls_before = sandbox.total_calls(COMPANY, USER)
        acquirer_before = acquirer_calls(system, source) if acquirer else (0, 0, 0)
        charging = 0.0
        started = time.monotonic()
        for day in range(args.days):
            if acquirer and clock:
                clock.advance(dt.timedelta(days=1))
                began = time.monotonic()
                acquirer.day(day, args.payments)
                charging += time.monotonic() - began
                system.connections.request(principal, source, "pull")
            else:
                system.records.create(principal, "payout", payout(day, args.payments))
            system.run_until_idle()
        seconds = time.monotonic() - started - charging
        after = acquirer_calls(system, source) if acquirer else (0, 0, 0)
        acquirer_calls_made, pulls, read_again = (
            a - b for a, b in zip(after, acquirer_before, strict=True)
        )
        calls = sandbox.total_calls(COMPANY, USER) - calls_before
        journal = sandbox.all(COMPANY, "GLDailyJournalLineClient")
        matched = sum(1 for row in journal if row["Account"] == "5820" and row.get("Invoice"))
        unmatched = sum(1 for row in journal if row["Account"] == "5990")
        system.close()
    if acquirer:
        acquirer.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payments = args.days * args.payments
    lines = len(journal)
    minimum = args.days * (1 + -(-(2 * args.payments + 1) // 5000))
    print(f"database: {url.split(':', 1)[0]}")
    print(f"set-up (fast path, {payments} orders and booked invoices): {setup_seconds:.1f} s")
    print("| payouts | payments | journal lines | Uniconta calls | minimum | calls/payout "
          "| calls/line | seconds | s/payout | peak RSS MB | matched |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.days} | {payments} | {lines} | {calls} | {minimum} "
          f"| {calls / args.days:.2f} | {calls / max(1, lines):.5f} | {seconds:.1f} "
          f"| {seconds / args.days:.2f} | {peak_mb:.0f} "
          f"| {matched / payments:.1%} ({unmatched} on the error account) |")  # fmt: skip
    if acquirer:
        least, how = acquirer.minimum(args.days, args.payments)
        print(f"{acquirer.name}: {pulls} pulls, {acquirer_calls_made} calls, minimum {least} "
              f"({how}), {acquirer_calls_made / args.days:.2f} calls/payout, "
              f"{acquirer_calls_made / payments:.5f} calls/line, {read_again} payouts read "
              f"again unchanged; payments made in the sandbox: "
              f"{charging:.1f} s (not in seconds)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
