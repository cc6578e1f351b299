"""Chaos: pushes of hub customers and invoices under mixed API faults and repeated ``kill -9``.

For each system and database: a sandbox serves the vendor's API on loopback from this process
(so its state can be read directly), the product runs as real child processes (``ledgerbridge
serve``, plus a ``ledgerbridge worker`` on PostgreSQL), and a tenant and a connection are set up
through the hub API. With the sandbox injecting faults (5xx, 429, resets, answers lost after
the write, slow answers), the hub API receives the customers and invoices; then an engine
process is killed with SIGKILL and restarted, ``--kills`` times, and the engine keeps going
until every record is linked or the time bound passes, faults still on. If the bound passes
first, the engine gets a grace period with faults off and no kills (records linked then are
*late*, not lost). Then the engine is stopped and the hub is compared with the sandbox:

- **lost**: a record created in the hub that has neither a link nor an open issue, or whose
  link points at nothing in the accounting system;
- **duplicated**: a hub record with more than one document in the accounting system (found by
  what each document carries: Uniconta's ``OurRef``, Tripletex's order number, Qonto's line
  titles, customer names), and hub records made twice (the same marker on two hub records);
- **damaged**: an invoice whose hub lines differ from the lines it was created with;
- **neither**: records with neither link nor issue (part of *lost*);
- **late**: records linked only during the grace period;
- **sync s**: time from the first record created to every record linked, under faults (empty
  when the bound passed first).

Systems: ``uniconta``, ``qonto``, ``tripletex``, ``yuki`` (customers and invoices pushed from
the hub); ``webshop`` (WooCommerce orders booked into Uniconta); ``paymatch`` (payouts posted
in Uniconta's cash journal); ``mail`` (booked invoices mailed through a faulty SMTP server);
``till`` (Zettle sales, most paid two or three ways, each booked open in Uniconta with one set
of payment lines in its cash journal: per part, its method's account, once; about one in eight
refunded at the till once booked and about one in six at once, before it is booked, in
full or in part, each refund one credit note settled against the sale's invoice). What each
checks is in benchmarks/README.md, "Chaos".

    .venv/bin/python benchmarks/chaos.py --systems uniconta,qonto,tripletex \\
        --databases sqlite,postgresql --records 300 --fault-rate 0.1 --kills 30

Exits 1 when any count that must be 0 is not, or a system did not finish syncing.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from starlette.requests import ClientDisconnect

from ledgerbridge.api.app import create_app
from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.qonto import QontoSandbox
from ledgerbridge.sandbox.qonto import SandboxServer as QontoServer
from ledgerbridge.sandbox.server import LoopbackServer
from ledgerbridge.sandbox.smtp import SmtpSink
from ledgerbridge.sandbox.tripletex import SandboxServer as TripletexServer
from ledgerbridge.sandbox.tripletex import TripletexSandbox, seed_accounting_firm
from ledgerbridge.sandbox.uniconta import (
    BookingServer,
    UnicontaSandbox,
    seed_products,
    seed_webshop,
)
from ledgerbridge.sandbox.uniconta import SandboxServer as UnicontaServer
from ledgerbridge.sandbox.woocommerce import SandboxServer as ShopServer
from ledgerbridge.sandbox.woocommerce import Settings as ShopSettings
from ledgerbridge.sandbox.woocommerce import WooSandbox
from ledgerbridge.sandbox.yuki import SandboxServer as YukiServer
from ledgerbridge.sandbox.yuki import YukiSandbox, seed_demo
from ledgerbridge.sandbox.zettle import SandboxServer as ZettleServer
from ledgerbridge.sandbox.zettle import ZettleSandbox
from ledgerbridge.settings import Settings

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MUST_BE_ZERO = ("lost", "duplicated_remote", "duplicated_hub", "damaged", "neither")
JSON = dict[str, Any]


# ------------------------------------------------------------------------------ systems


class Target:
    """One accounting system under test: its sandbox, how to connect, what records look like
    and how to find, in its state, the documents each hub record became."""

    name = ""
    streams: tuple[str, ...] = ()
    """Streams whose records are created in the hub and must reach the system."""
    server: LoopbackServer

    def env(self) -> dict[str, str]:
        """Installation settings the product needs for this system."""
        return {}

    def connection(self) -> JSON:
        """Body of ``POST /connections``."""
        raise NotImplementedError

    def connect(self, api: HubApi) -> str:
        """Create the connection as a user would; its id."""
        return str(api.create("/connections", self.connection())["id"])

    def customer(self, n: int, marker: str) -> JSON | None:
        """A hub customer to push, or None when customers come from the system."""
        raise NotImplementedError

    def invoice(self, party_id: str, marker: str) -> JSON:
        raise NotImplementedError

    def own_customers(self, api: HubApi) -> list[str]:
        """Hub ids of the system's own customers (imported), for systems whose customers are
        not pushed."""
        return [p["id"] for p in api.all("/parties") if p["data"].get("is_customer")]

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        """Per stream: the remote ids of the documents carrying each marker or hub id."""
        raise NotImplementedError

    def remote_ids(self) -> dict[str, set[str]]:
        """Per stream: every remote id a link may point at."""
        raise NotImplementedError

    def fault_servers(self) -> list[LoopbackServer]:
        """Servers that inject the run's faults (their counters add up in the report)."""
        return [self.server]

    def imports(self, cid: str) -> list[str]:
        """Connections whose initial import runs, in order, before the faults."""
        return [cid]

    def produce(self, api: HubApi, options: Options, created: dict[str, dict[str, JSON]]) -> None:
        """Create the run's records (all of them, before the kills begin)."""
        _create_records(api, self, options.records, created)

    def linked(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
        """How many of the records reached the system so far."""
        return _count_linked(api, created, cid)

    def synced(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> bool:
        """Every record made and reached the system."""
        return self.linked(api, created, cid) == sum(len(c) for c in created.values())

    def compare(
        self,
        report: Report,
        settings: Settings,
        api_key: str,
        created: dict[str, dict[str, JSON]],
    ) -> None:
        """The hub against the system, into the report's counts."""
        _compare(report, settings, api_key, self, created)

    def stop_producing(self) -> None:
        """Stop whatever ``produce`` left running (nothing, by default)."""

    def close(self) -> None:
        self.server.stop()


def _lines(marker: str, vat_code: str) -> list[JSON]:
    """Two lines whose descriptions carry the record's marker."""
    return [
        {"description": f"{marker} consulting", "quantity": "3", "unit_price": "850",
         "vat_code": vat_code},
        {"description": f"{marker} travel", "quantity": "1", "unit_price": "250",
         "vat_code": vat_code},
    ]  # fmt: skip


def _marker_of(text: str | None) -> str | None:
    """``CHAOS-<n>`` at the start of a name or line description."""
    if not text or not text.startswith("CHAOS-"):
        return None
    return text.split(" ", 1)[0]


class Uniconta(Target):
    name = "uniconta"
    streams = ("customers", "invoices")
    company = 48213
    user, password = "chaos", "chaos-Pa55word"

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox = UnicontaSandbox(throttle_delay=0.0, daily_call_limit=1_000_000)
        self.sandbox.add_company(self.company, "Kaos ApS")
        self.sandbox.add_user(
            self.company, self.user, self.password, user_type="Server", roles=("Reseller",)
        )
        self.server = UnicontaServer(self.sandbox, faults=plan)
        self.server.start()
        # Invoices are booked by the booking service, under the same faults.
        self.booking = BookingServer(self.sandbox, faults=plan)
        self.booking.start()

    def fault_servers(self) -> list[LoopbackServer]:
        return [self.server, self.booking]

    def connection(self) -> JSON:
        return {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {
                "company_id": self.company, "username": self.user,
                "base_url": self.server.base_url, "post_invoices": True,
                "booking_url": self.booking.base_url,
                "vat_mapping": {"S25": "DK25"},
                "entities": streams_only("uniconta", *self.streams),
            },
            "secrets": {"password": self.password},
        }  # fmt: skip

    def customer(self, n: int, marker: str) -> JSON | None:
        return {"name": f"{marker} Kunde", "is_customer": True, "debtor_number": f"9{n:05d}"}

    def invoice(self, party_id: str, marker: str) -> JSON:
        return {
            "party_id": party_id, "date": "2026-11-20", "payment_term_days": 14,
            "currency": "DKK", "status": "sent", "lines": _lines(marker, "DK25"),
        }  # fmt: skip

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        customers: dict[str, list[str]] = defaultdict(list)
        for row in self.sandbox.all(self.company, "DebtorClient"):
            marker = _marker_of(row.get("Name"))
            if marker:
                customers[marker].append(str(row["Account"]))
        invoices: dict[str, list[str]] = defaultdict(list)
        # Orders created from the hub carry "LB-<hub id>" in OurRef; posting keeps it.
        for row in self.sandbox.all(self.company, "DebtorOrderClient"):
            if str(row.get("OurRef") or "").startswith("LB-"):
                invoices[row["OurRef"][3:]].append(f"order:{row['OrderNumber']}")
        for row in self.sandbox.all(self.company, "DebtorInvoiceClient"):
            if str(row.get("OurRef") or "").startswith("LB-"):
                invoices[row["OurRef"][3:]].append(str(row["InvoiceNumber"]))
        return {"customers": customers, "invoices": invoices}

    def remote_ids(self) -> dict[str, set[str]]:
        rows = {
            entity: self.sandbox.all(self.company, entity)
            for entity in ("DebtorClient", "DebtorOrderClient", "DebtorInvoiceClient")
        }
        return {
            "customers": {str(r["Account"]) for r in rows["DebtorClient"]},
            "invoices": {
                *(f"order:{r['OrderNumber']}" for r in rows["DebtorOrderClient"]),
                *(str(r["InvoiceNumber"]) for r in rows["DebtorInvoiceClient"]),
            },
        }

    def close(self) -> None:
        self.booking.stop()
        super().close()
        self.sandbox.close()


class Qonto(Target):
    name = "qonto"
    streams = ("customers", "invoices")
    client_id, client_secret = "ledgerbridge-chaos", "chaos-secret-0123456789"

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox = QontoSandbox(seed=7)
        self.server = QontoServer(self.sandbox, faults=plan)
        self.server.start()

    def connection(self) -> JSON:
        url = self.server.base_url
        return {
            "system": "qonto", "name": "Qonto", "timezone": "Europe/Paris",
            "settings": {
                "base_url": url, "oauth_url": url, "oauth_client_id": self.client_id,
                "entities": streams_only("qonto", *self.streams),
                "vat_groups": [{"code": "FR20", "rate": "20", "country": "FR"}],
            },
            "secrets": {"oauth_client_secret": self.client_secret},
        }  # fmt: skip

    def connect(self, api: HubApi) -> str:
        """OAuth log-in through the hub, which also subscribes the connection to Qonto's
        invoice webhooks (their deliveries race the push, as in production)."""
        hub = str(api.client.base_url).rstrip("/")
        self.sandbox.add_oauth_app(self.client_id, self.client_secret, [f"{hub}/oauth/callback"])
        cid = super().connect(api)
        login = api.client.post(f"/connections/{cid}/oauth/authorize")
        login.raise_for_status()
        with httpx.Client(timeout=30) as browser:
            back = browser.get(login.json()["authorize_url"]).headers["location"]
            browser.get(back).raise_for_status()
        return cid

    def customer(self, n: int, marker: str) -> JSON | None:
        return {
            "name": f"{marker} SAS", "is_customer": True, "debtor_number": f"9{n:05d}",
            "currency": "EUR", "locale": "fr-FR",
            "email": f"{marker.lower()}@chaos.example",
            "billing_address": {"line1": f"{n} rue de la Paix", "postal_code": "75002",
                                "city": "Paris", "country": "FR"},
        }  # fmt: skip

    def invoice(self, party_id: str, marker: str) -> JSON:
        return {
            "party_id": party_id, "date": "2026-11-20", "payment_term_days": 30,
            "currency": "EUR", "lines": _lines(marker, "FR20"),
        }  # fmt: skip

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        customers: dict[str, list[str]] = defaultdict(list)
        for row in self.sandbox.clients():
            marker = _marker_of(row.get("name"))
            if marker:
                customers[marker].append(str(row["id"]))
        invoices: dict[str, list[str]] = defaultdict(list)
        for row in self.sandbox.invoices():
            markers = {_marker_of(item.get("title")) for item in row.get("items") or []}
            for marker in markers - {None}:
                invoices[str(marker)].append(str(row["id"]))
        return {"customers": customers, "invoices": invoices}

    def remote_ids(self) -> dict[str, set[str]]:
        return {
            "customers": {str(row["id"]) for row in self.sandbox.clients()},
            "invoices": {str(row["id"]) for row in self.sandbox.invoices()},
        }

    def close(self) -> None:
        super().close()
        self.sandbox.close()


class Tripletex(Target):
    """Customers are Tripletex's (one-way inbound): the push is of invoices to them."""

    name = "tripletex"
    streams = ("invoices",)

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox = TripletexSandbox(seed=3, rate_limit=1_000_000)
        self.firm = seed_accounting_firm(self.sandbox, clients=1, seed=3, months=1)
        self.tripletex = TripletexServer(self.sandbox, faults=plan)
        self.server = self.tripletex
        self.server.start()

    def env(self) -> dict[str, str]:
        return {"LEDGERBRIDGE_TRIPLETEX_CONSUMER_TOKEN": self.firm.consumer_token}

    def connection(self) -> JSON:
        return {
            "system": "tripletex", "name": "Tripletex", "timezone": "Europe/Oslo",
            "settings": {
                "environment": "production",
                "base_urls": {env: self.tripletex.url(env) for env in ("production", "test")},
                "employee_token_expires_on": self.firm.token_expires.isoformat(),
                "entities": streams_only("tripletex", "vat_codes", "customers", "invoices"),
            },
            "secrets": {"employee_token": self.firm.employee_token},
        }  # fmt: skip

    def customer(self, n: int, marker: str) -> JSON | None:
        return None

    def invoice(self, party_id: str, marker: str) -> JSON:
        return {
            "party_id": party_id, "date": "2026-11-20", "due_date": "2026-12-04",
            "currency": "NOK", "status": "sent", "lines": _lines(marker, "3"),
        }  # fmt: skip

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        # Each create is an order numbered with the hub id, then charged as an invoice.
        invoices: dict[str, list[str]] = defaultdict(list)
        for order in self.sandbox.all(self.firm.firm_id, "Order"):
            if order.get("number"):
                invoices[str(order["number"])].append(str(order["id"]))
        return {"invoices": invoices}

    def remote_ids(self) -> dict[str, set[str]]:
        return {
            "invoices": {str(row["id"]) for row in self.sandbox.all(self.firm.firm_id, "Invoice")}
        }

    def close(self) -> None:
        super().close()
        self.sandbox.close()


class Yuki(Target):
    """Contacts made from the hub only become Yuki customers by hand: the push is of invoices
    to Yuki's own customers, under the invoice number as Yuki's reference."""

    name = "yuki"
    streams = ("invoices",)

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox = YukiSandbox(daily_call_limit=1_000_000)
        self.seeded = seed_demo(self.sandbox, contacts=20, seed=7)
        self.server = YukiServer(self.sandbox, faults=plan)
        self.server.start()

    def connection(self) -> JSON:
        return {
            "system": "yuki", "name": "Yuki", "timezone": "Europe/Amsterdam",
            "settings": {
                "domain_id": self.seeded.domain_id,
                "administration_id": self.seeded.administration_id,
                "base_url": self.server.base_url,
                "debtor_numbers": {"next": 20000, "prefix": ""},
            },
            "secrets": {"access_key": self.seeded.access_key},
        }  # fmt: skip

    def customer(self, n: int, marker: str) -> JSON | None:
        return None

    def invoice(self, party_id: str, marker: str) -> JSON:
        lines = [{**line, "vat_rate": "21"} for line in _lines(marker, "1")]
        return {
            "party_id": party_id, "number": marker, "date": "2026-11-02",
            "payment_term_days": 14, "currency": "EUR", "status": "sent", "lines": lines,
        }  # fmt: skip

    def own_customers(self, api: HubApi) -> list[str]:
        """Only active contacts flagged as customers, with a relationship code, can be
        invoiced."""
        flagged = {
            contact.code
            for contact in self.sandbox.contacts(self.seeded.domain_id)
            if contact.is_customer and contact.active and contact.code
        }
        return [
            party["id"]
            for party in api.all("/parties")
            if any(link["remote_id"] in flagged for link in party.get("sync") or [])
        ]

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        invoices: dict[str, list[str]] = defaultdict(list)
        for invoice in self.sandbox.sales_invoices(self.seeded.administration_id):
            for marker in {_marker_of(line.description) for line in invoice.lines} - {None}:
                invoices[str(marker)].append(invoice.reference)
        return {"invoices": invoices}

    def remote_ids(self) -> dict[str, set[str]]:
        booked = self.sandbox.sales_invoices(self.seeded.administration_id)
        return {"invoices": {invoice.reference for invoice in booked}}


SHOP_PRODUCTS = (
    ("KAOS-ESP", "Espresso 500 g", "89.95"), ("KAOS-FLT", "Filtre nr. 4", "24.95"),
    ("KAOS-CHO", "Chokolade 70 %", "9.99"), ("KAOS-KOP", "Kop stentøj", "79.00"),
    ("KAOS-KAN", "Stempelkande", "249.00"), ("KAOS-KAG", "Småkager", "34.50"),
)  # fmt: skip
"""Prices whose per-line VAT rounding leaves the shop's 1-cent gaps now and then."""
TRIGGERING = frozenset({"processing", "completed", "refunded"})
"""Shop states of an order that must be booked (a refunded order was paid first)."""
TOLERANCE = Decimal("0.05")
"""The policy's default rounding tolerance: an invoice total this close to the order's is
the order's."""
PULL_EVERY = 10.0
"""Seconds between the shop's safety-net pulls (every 15 minutes in production; here
often enough that an order whose deliveries all missed is read within the run)."""


@dataclass
class ShopOrder:
    """What the harness made in the shop, to compare with Uniconta."""

    number: str
    email: str
    method: str
    items: Counter[str]
    """Quantity per SKU of the order's item lines."""
    total: Decimal
    triggers: bool = False
    refunds: list[Decimal] = field(default_factory=list)


class LiveShop(Target):
    """A shop booked into Uniconta through its booking service whose records are made in the
    background while the sync runs and the kills go on, and whose safety-net pull is asked for
    through the API every ``PULL_EVERY`` seconds (a killed ``serve`` just misses one). A shop
    declares its connections and makes its records (``_make``); what it made is counted when
    its invoices (by ``YourRef``) and their credit notes are in Uniconta."""

    company = 48213
    user, password = "chaos", "chaos-Pa55word"
    making = ""
    """What ``_make`` does, for the failure it reports (``making the shop's orders``)."""

    def __init__(self, plan: FaultPlan, company_name: str) -> None:
        self.sandbox, self.uniconta, self.booking = uniconta_company(
            plan, self.company, company_name, self.user, self.password
        )
        seed_webshop(self.sandbox, self.company)
        self.source_id = ""
        """The shop's connection in the hub."""
        self.lock = threading.Lock()
        self.stop_making = threading.Event()
        self.stop_pulling = threading.Event()
        self.making_done = threading.Event()
        self.threads: list[threading.Thread] = []
        self.failure: str | None = None

    def fault_servers(self) -> list[LoopbackServer]:
        return [self.server, self.uniconta, self.booking]

    def imports(self, cid: str) -> list[str]:
        return [cid, self.source_id]

    def customer(self, n: int, marker: str) -> JSON | None:
        return None

    def invoice(self, party_id: str, marker: str) -> JSON:
        raise NotImplementedError("the shop's invoices come from its own records")

    # ---------------------------------------------------------------- the shop's side

    def produce(self, api: HubApi, options: Options, created: dict[str, dict[str, JSON]]) -> None:
        """The records are made in the background, spread over about the time the kills
        take so that the kills land among them, while the pull is asked for."""
        self._ready(options)
        rng = random.Random(options.seed)
        spread = max(2.0, min(options.timeout / 3, options.kills * 2.5))
        pace = spread / max(1, options.records)
        maker = threading.Thread(
            target=self._maker, args=(options.records, pace, rng, created), daemon=True
        )
        puller = threading.Thread(
            target=self._pull, args=(api.client.base_url, api.client.headers), daemon=True
        )
        self.threads = [maker, puller]
        for thread in self.threads:
            thread.start()

    def _ready(self, options: Options) -> None:
        """Wait for what the records need in Uniconta (nothing, by default)."""

    def _maker(
        self, count: int, pace: float, rng: random.Random, created: dict[str, dict[str, JSON]]
    ) -> None:
        try:
            self._make(count, pace, rng, created)
        except Exception as exc:  # the shop refused a write: reported, never hidden
            self.failure = f"{self.making}: {type(exc).__name__}: {exc}"
        finally:
            self.making_done.set()

    def _make(
        self, count: int, pace: float, rng: random.Random, created: dict[str, dict[str, JSON]]
    ) -> None:
        """Make ``count`` records, one every ``pace`` seconds, and their follow-ups, until
        done or ``stop_making``."""
        raise NotImplementedError

    def _when_booked(self, waiting: dict[str, Callable[[], None]]) -> None:
        """Run each follow-up once the invoice of its record (by number) is booked, as a
        refund is made of a booked sale, until all ran or the making stops."""
        while waiting and not self.stop_making.is_set():
            self._run_booked(waiting)
            time.sleep(0.5)

    def _run_booked(self, waiting: dict[str, Callable[[], None]]) -> None:
        """Run, and drop from ``waiting``, the follow-ups whose record's invoice is booked."""
        booked = set(self._invoices()[0])
        for number in [n for n in waiting if n in booked]:
            waiting.pop(number)()

    def _pull(self, base_url: httpx.URL, headers: httpx.Headers) -> None:
        """The shop's scheduled safety-net pull, asked for through the API."""
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            while not self.stop_pulling.wait(PULL_EVERY):
                try:
                    client.post(f"/connections/{self.source_id}/jobs/pull")
                except httpx.TransportError:
                    continue

    def stop_producing(self) -> None:
        self.stop_making.set()

    # ---------------------------------------------------------------- Uniconta's side

    def _invoices(self) -> tuple[dict[str, list[JSON]], dict[str, list[JSON]]]:
        """Booked invoices by ``YourRef`` (the record's number), credit notes by the invoice
        they settle."""
        invoices: dict[str, list[JSON]] = defaultdict(list)
        credits: dict[str, list[JSON]] = defaultdict(list)
        for row in self.sandbox.all(self.company, "DebtorInvoiceClient"):
            if row.get("Settlements"):
                credits[str(row["Settlements"])].append(row)
            elif row.get("YourRef"):
                invoices[str(row["YourRef"])].append(row)
        return invoices, credits

    def expected(self) -> int:
        """How many documents the records made so far must become."""
        raise NotImplementedError

    def synced(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> bool:
        if self.failure:
            raise RuntimeError(self.failure)
        if not self.making_done.is_set():
            return False
        with self.lock:
            expected = self.expected()
        return self.linked(api, created, cid) == expected

    def compare(
        self,
        report: Report,
        settings: Settings,
        api_key: str,
        created: dict[str, dict[str, JSON]],
    ) -> None:
        """The hub through its API (no worker running) against Uniconta."""
        with served_hub(settings, api_key) as api:
            self._compare(report, api)
            report.error = report.error or self.failure

    def _compare(self, report: Report, api: HubApi) -> None:
        raise NotImplementedError

    @staticmethod
    def _check_refunds(
        report: Report, refunds: list[Decimal], notes: list[JSON], credited: list[int]
    ) -> None:
        """A record's refunds (their amounts) against the credit notes settling its invoice
        in Uniconta (``notes``) and, per hub invoice of the record, how many hub credit notes
        credit it (``credited``): one note per refund, for its amount."""
        report.duplicated_remote += max(0, len(notes) - len(refunds))
        report.lost += max(0, len(refunds) - len(notes))
        report.linked += min(len(notes), len(refunds))
        amounts = sorted(-Decimal(str(n["TotalAmount"])) for n in notes)
        if len(notes) == len(refunds) and amounts != sorted(refunds):
            report.damaged += 1
        report.duplicated_hub += sum(max(0, count - len(refunds)) for count in credited)

    def remote_ids(self) -> dict[str, set[str]]:
        rows = self.sandbox.all(self.company, "DebtorInvoiceClient")
        return {self.streams[0]: {str(r["InvoiceNumber"]) for r in rows}}

    def close(self) -> None:
        self.stop_making.set()
        self.stop_pulling.set()
        for thread in self.threads:
            thread.join(timeout=30)
        for server in self.fault_servers():
            server.stop()
        self.sandbox.close()


class Webshop(LiveShop):
    """A WooCommerce shop whose orders are booked into Uniconta through its booking service:
    the records are orders made in the shop during the run (paid by card, by bank transfer,
    some left unpaid, some refunded after booking), read by webhook (each save delivered 2–9
    times, some never) and by the safety-net pull."""

    name = "webshop"
    streams = ("orders", "refunds")
    making = "making the shop's orders"
    warehouse = "01"

    def __init__(self, plan: FaultPlan) -> None:
        super().__init__(plan, "Kaos Kaffe ApS")
        self.shop = WooSandbox(
            seed=5, settings=ShopSettings(webhook_repeats=(2, 9), webhook_miss_rate=0.05)
        )
        self.products = {
            sku: self.shop.create_product(
                {"name": name, "sku": sku, "regular_price": price, "manage_stock": True,
                 "stock_quantity": 100_000}
            )["id"]
            for sku, name, price in SHOP_PRODUCTS
        }  # fmt: skip
        self.server = ShopServer(self.shop, faults=plan)
        self.server.start()
        self.sandbox.load(
            self.company, "InvWarehouseClient", [{"Warehouse": self.warehouse, "Name": "Lager"}]
        )
        self.orders: dict[str, ShopOrder] = {}

    def connect(self, api: HubApi) -> str:
        """Both connections, the change callback and the two routes, as a user sets them
        up (docs/commerce.md, "The flow"); the id is Uniconta's connection."""
        key = self.shop.default_key
        shop = api.create("/connections", {
            "system": "woocommerce", "name": "Kaos webshop",
            "settings": {"base_url": self.server.base_url,
                         "entities": {"orders": {"enabled": True}, "refunds": {"enabled": True},
                                      "products": {"enabled": True, "direction": "inbound"},
                                      "stock": {"enabled": True}}},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        })  # fmt: skip
        accounting = api.create("/connections", {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": self.company, "username": self.user,
                         "base_url": self.uniconta.base_url, "booking_url": self.booking.base_url,
                         "post_invoices": True, "products_master": "app",
                         "entities": streams_only("uniconta", "customers", "products",
                                                  "stock_levels", "invoices", "payment_status")},
            "secrets": {"password": self.password},
        })  # fmt: skip
        self.source_id, uniconta_id = str(shop["id"]), str(accounting["id"])
        self.sandbox.set_change_url(self.company, accounting["change_url"])
        api.create("/routes", {
            "source": self.source_id, "target": uniconta_id, "entities": ["product"],
            "commerce": {"policy": {"rounding_account": "AFRUND", "refund_item": "REFUSION"}},
        })  # fmt: skip
        api.create("/routes", {"source": uniconta_id, "target": self.source_id,
                               "entities": ["stock_level"]})  # fmt: skip
        return uniconta_id

    # ---------------------------------------------------------------- the shop's side

    def _ready(self, options: Options) -> None:
        """The products must be in Uniconta first (the route sends them, under the faults
        already)."""
        skus = set(self.products)
        if not wait_for(
            lambda: skus <= {r["Item"] for r in self.sandbox.all(self.company, "InvItemClient")},
            time.monotonic() + options.setup_timeout,
        ):
            raise RuntimeError("the shop's products did not reach Uniconta")

    def _make(
        self, count: int, pace: float, rng: random.Random, created: dict[str, dict[str, JSON]]
    ) -> None:
        """Orders, then the follow-ups: bank transfers paid, card orders completed, refunds
        of booked invoices (each made once its invoice is booked)."""
        emails = [f"kunde{n}@kaos.example" for n in range(max(3, count // 3))]
        later: list[tuple[str, str]] = []
        for n in range(count):
            if self.stop_making.is_set():
                return
            number, action = self._order(n, rng, rng.choice(emails), created)
            if action:
                later.append((number, action))
            time.sleep(pace)
        for number, action in later:
            if self.stop_making.is_set():
                return
            if action == "pay":
                self._update(number, {"status": "processing", "set_paid": True})
            elif action == "complete":
                self._update(number, {"status": "completed"})
        self._when_booked({
            number: partial(self._refund, number, action, created)
            for number, action in later if action.startswith("refund")
        })  # fmt: skip

    def _order(
        self, n: int, rng: random.Random, email: str, created: dict[str, dict[str, JSON]]
    ) -> tuple[str, str]:
        """One order: card paid at checkout (some completed later, some refunded once
        booked), or bank transfer on hold (most paid later, some never)."""
        items = rng.sample(sorted(self.products), rng.randint(1, 3))
        quantities = {sku: rng.randint(1, 3) for sku in items}
        address = {"first_name": "Kunde", "last_name": email.split("@")[0], "address_1":
                   "Kaosvej 1", "city": "Vejle", "postcode": "7100", "country": "DK",
                   "email": email, "phone": "+4512345678"}  # fmt: skip
        bank = rng.random() < 0.25
        body: JSON = {
            "payment_method": "bacs" if bank else rng.choice(("quickpay", "mobilepay")),
            "billing": address,
            "shipping": {k: v for k, v in address.items() if k != "email"},
            "line_items": [{"product_id": self.products[s], "quantity": q}
                           for s, q in quantities.items()],
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "GLS",
                                "total": "31.20"}] if n % 3 else [],
        }  # fmt: skip
        if bank:
            body["status"] = "on-hold"
        else:
            body["set_paid"] = True
            body["transaction_id"] = f"ch_kaos_{n}"
        made = self.shop.create_order(body, created_via="checkout")
        number = str(made["number"])
        with self.lock:
            self.orders[number] = ShopOrder(
                number, email, body["payment_method"], Counter(quantities),
                Decimal(made["total"]), made["status"] in TRIGGERING,
            )  # fmt: skip
            created["orders"][number] = {"id": made["id"]}
        draw = rng.random()
        if bank:
            return number, "pay" if draw < 0.8 else ""
        if draw < 0.15:
            return number, rng.choice(("refund-full", "refund-line", "refund-amount"))
        return number, "complete" if draw < 0.5 else ""

    def _update(self, number: str, body: JSON) -> None:
        made = self.shop.update_order(int(number), body)
        with self.lock:
            self.orders[number].triggers |= made["status"] in TRIGGERING

    def _refund(self, number: str, kind: str, created: dict[str, dict[str, JSON]]) -> None:
        """In full (every line), one line in full, or an amount with no goods back."""
        order = self.shop.order_json(int(number))

        def line(item: JSON) -> JSON:
            return {"id": item["id"], "quantity": item["quantity"],
                    "refund_total": item["total"],
                    "refund_tax": [{"id": t["id"], "refund_total": t["total"]}
                                   for t in item["taxes"]]}  # fmt: skip

        if kind == "refund-full":
            body: JSON = {
                "amount": order["total"],
                "line_items": [line(i) for i in order["line_items"]],
            }
        elif kind == "refund-line":
            body = {"line_items": [line(order["line_items"][0])]}
        else:
            # At most half the order: a refund never exceeds what is left to refund.
            half = (Decimal(order["total"]) / 2).quantize(Decimal("0.01"))
            body = {"amount": str(min(Decimal("50.00"), half))}
        refund = self.shop.create_refund(int(number), {**body, "reason": "Kaos"})
        with self.lock:
            self.orders[number].refunds.append(Decimal(refund["amount"]))
            created["refunds"][str(refund["id"])] = {"order": number}

    def linked(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
        """Orders that trigger with a booked invoice, refunds with their credit note."""
        invoices, credits = self._invoices()
        with self.lock:
            orders = list(self.orders.values())
        done = 0
        for order in orders:
            booked = invoices.get(order.number, [])
            if order.triggers and booked:
                done += 1
                notes = credits.get(str(booked[0]["InvoiceNumber"]), [])
                done += min(len(notes), len(order.refunds))
        return done

    def expected(self) -> int:
        return sum(o.triggers + len(o.refunds) for o in self.orders.values())

    def _compare(self, report: Report, api: HubApi) -> None:
        """Each triggering order against its booked invoice, each refund against its credit
        note, each e-mail against its debtors."""
        issues = every_issue(api)
        report.issue_reasons = dict(Counter(i["reason"] for i in issues))
        hub_invoices = api.all("/invoices")
        numbers_of: dict[str, set[str]] = defaultdict(set)
        """Hub ids (of invoices and orders) to the shop's order numbers they stand for."""
        by_reference: dict[str, list[JSON]] = defaultdict(list)
        for record in hub_invoices:
            data = record["data"]
            reference = str(data.get("reference") or "")
            numbers_of[record["id"]].add(reference)
            if data.get("kind") != "credit_note":
                by_reference[reference].append(record)
        for record in api.all("/orders"):
            data = record["data"]
            for name in ("number", "reference", "source_id"):
                if data.get(name):
                    numbers_of[record["id"]].add(str(data[name]))
        with_issue = {n for i in issues for n in numbers_of.get(i["key"], set())}
        credited = Counter(
            r["data"].get("credits_invoice_id")
            for r in hub_invoices
            if r["data"].get("kind") == "credit_note"
        )
        invoices, credits = self._invoices()
        lines: dict[int, list[JSON]] = defaultdict(list)
        for row in self.sandbox.all(self.company, "DebtorInvoiceLines"):
            lines[int(row["InvoiceNumber"])].append(row)
        for order in self.orders.values():
            booked = invoices.get(order.number, [])
            hub = by_reference.get(order.number, [])
            report.duplicated_hub += max(0, len(hub) - 1)
            report.duplicated_remote += max(0, len(booked) - 1)
            if not order.triggers:
                report.unbooked += 1
                report.damaged += bool(booked)  # an order never paid is not booked
                continue
            if booked:
                report.linked += 1
            elif order.number in with_issue:
                report.with_issue += 1
            else:
                report.neither += 1
                report.lost += 1
            if booked and self._differs(order, booked[0], lines):
                report.damaged += 1
            notes = credits.get(str(booked[0]["InvoiceNumber"]), []) if booked else []
            self._check_refunds(report, order.refunds, notes, [credited[i["id"]] for i in hub])
        emails = {order.email for order in self.orders.values()}
        debtors = Counter(
            str(row.get("ContactEmail") or "").lower()
            for row in self.sandbox.all(self.company, "DebtorClient")
        )
        report.duplicated_remote += sum(max(0, debtors[email] - 1) for email in emails)
        booked_emails = {o.email for o in self.orders.values() if invoices.get(o.number)}
        if unseen := sorted(e for e in booked_emails if not debtors[e]):
            # The check would be blind: say so rather than count nothing.
            report.error = report.error or f"no debtor has the e-mail of an order: {unseen[:3]}"
        parties = Counter(str(p["data"].get("email") or "").lower() for p in api.all("/parties"))
        report.duplicated_hub += sum(max(0, parties[email] - 1) for email in emails)
        if unseen := sorted(e for e in booked_emails if not parties[e]):
            report.error = report.error or f"no hub party has the e-mail of an order: {unseen[:3]}"

    @staticmethod
    def _differs(order: ShopOrder, invoice: JSON, lines: dict[int, list[JSON]]) -> bool:
        """Item SKUs and quantities, and the total within the rounding tolerance."""
        items: Counter[str] = Counter()
        for row in lines[int(invoice["InvoiceNumber"])]:
            if str(row.get("Item") or "").startswith("KAOS-"):
                items[str(row["Item"])] += int(Decimal(str(row.get("InvoiceQty") or 0)))
        total = Decimal(str(invoice["TotalAmount"]))
        return items != order.items or abs(total - order.total) > TOLERANCE

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        invoices, _ = self._invoices()
        return {"orders": {n: [str(r["InvoiceNumber"]) for r in rows]
                           for n, rows in invoices.items()}}  # fmt: skip

    def close(self) -> None:
        super().close()
        self.shop.close()


def uniconta_company(
    plan: FaultPlan, company: int, name: str, user: str, password: str
) -> tuple[UnicontaSandbox, UnicontaServer, BookingServer]:
    """A Uniconta company with a server user, served with its booking service (which books
    the invoices), both under the plan's faults: the targets that book into Uniconta."""
    sandbox = UnicontaSandbox(throttle_delay=0.0, daily_call_limit=1_000_000)
    sandbox.add_company(company, name)
    sandbox.add_user(company, user, password, user_type="Server", roles=("Reseller",))
    server = UnicontaServer(sandbox, faults=plan)
    server.start()
    booking = BookingServer(sandbox, faults=plan)
    booking.start()
    return sandbox, server, booking


PAYOUT_LINES = 3
"""Charges per payout: one named by its order number, one by its payment id only, and one of
an order that is made only after its payout (the error account, then a late match)."""


class PayMatch(Target):
    """Acquirer payouts written through the hub API, each posted in Uniconta's PAYMATCH cash
    journal by a route app → Uniconta carrying a commerce and a paymatch block; the orders they
    pay are booked by the same route. Each payout must be one posting in the hub and its lines
    once in the journal; each line sent to the error account for an order made later, one
    late match."""

    name = "paymatch"
    streams = ("payouts",)
    company = 48213
    user, password = "chaos", "chaos-Pa55word"

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox, self.server, self.booking = uniconta_company(
            plan, self.company, "Kaos Betaling ApS", self.user, self.password
        )
        seed_webshop(self.sandbox, self.company)
        self.sandbox.load(self.company, "InvItemClient", [
            {"Item": "KAOS-KRUS", "Name": "Krus", "ItemType": "Item", "Vat": "U25",
             "SalesPrice1": 100, "Unit": "Piece"}])  # fmt: skip
        self.late_orders: list[JSON] = []
        self.expected_late: set[str] = set()

    def fault_servers(self) -> list[LoopbackServer]:
        return [self.server, self.booking]

    def connect(self, api: HubApi) -> str:
        accounting = api.create("/connections", {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": self.company, "username": self.user,
                         "base_url": self.server.base_url, "booking_url": self.booking.base_url,
                         "post_invoices": True, "vat_mapping": {"U25": "U25", "U0": "U0"},
                         "entities": streams_only("uniconta", "customers", "products",
                                                  "invoices", "cash_journal")},
            "secrets": {"password": self.password},
        })  # fmt: skip
        cid = str(accounting["id"])
        api.create("/routes", {
            "source": "app", "target": cid, "entities": ["party"],
            "commerce": {"policy": {"payment_methods": {"stripe": {
                "payment_term": "Kort", "registered_as_paid": True}}}},
            "paymatch": {"journal": "PAYMATCH", "receivable_account": "5820",
                         "fee_account": "7220", "bank_account": "5900", "error_account": "5990",
                         "start_date": "2026-01-01", "wait_for_invoice_hours": 0},
        })  # fmt: skip
        return cid

    def customer(self, n: int, marker: str) -> JSON | None:
        return None

    def invoice(self, party_id: str, marker: str) -> JSON:
        raise NotImplementedError("the invoices come from the orders")

    @staticmethod
    def _order(number: str) -> JSON:
        return {
            "source_id": number, "number": number, "state": "processing",
            "created_at": "2026-11-20T10:00:00+01:00", "paid_at": "2026-11-20T10:01:00+01:00",
            "currency": "DKK", "transaction_id": f"ch_{number}",
            "lines": [{"source_id": "1", "kind": "item", "sku": "KAOS-KRUS",
                       "description": "Krus", "quantity": "1", "unit_price": "100.00",
                       "tax_rate": "25", "net_amount": "100.00", "tax_amount": "25.00"}],
            "total": "125.00", "total_tax": "25.00",
            "payment_method": {"code": "stripe", "title": "Kort"},
            "customer": {"email": f"kunde{int(number) % 7}@kaos.example", "name": "Kunde"},
        }  # fmt: skip

    def produce(self, api: HubApi, options: Options, created: dict[str, dict[str, JSON]]) -> None:
        """Two orders per payout first, the payouts, then the orders their third lines pay."""
        for n in range(options.records):
            for k in (0, 1):
                api.create("/orders", self._order(f"{70000 + n * PAYOUT_LINES + k}"))
        for n in range(options.records):
            numbers = [f"{70000 + n * PAYOUT_LINES + k}" for k in range(PAYOUT_LINES)]
            lines = [
                {"line_id": "t0", "type": "charge", "gross": "125.00", "fee": "1.88",
                 "net": "123.12", "order_ref": numbers[0]},
                {"line_id": "t1", "type": "charge", "gross": "125.00", "fee": "1.88",
                 "net": "123.12", "psp_ref": f"ch_{numbers[1]}"},
                {"line_id": "t2", "type": "charge", "gross": "125.00", "fee": "1.88",
                 "net": "123.12", "order_ref": numbers[2]},
            ]  # fmt: skip
            source_id = f"po_kaos_{n:04d}"
            body = {
                "provider": "stripe", "source_id": source_id, "status": "paid",
                "arrival_date": "2026-12-02", "currency": "DKK", "gross": "375.00",
                "fees": "5.64", "net": "369.36", "bank_reference": f"STRIPE {source_id}",
                "lines": lines,
            }  # fmt: skip
            record = api.create("/payouts", body)
            created["payouts"][source_id] = {"id": record["id"], "lines": lines}
            self.late_orders.append(self._order(numbers[2]))
        for order in self.late_orders:
            api.create("/orders", order)

    def _journal(self) -> dict[str, list[JSON]]:
        lines: dict[str, list[JSON]] = defaultdict(list)
        for row in self.sandbox.all(self.company, "GLDailyJournalLineClient"):
            lines[str(row.get("ReferenceNumber"))].append(row)
        return lines

    def linked(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
        journal = self._journal()
        return sum(1 for source_id in created["payouts"] if source_id in journal)

    def synced(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> bool:
        """Every payout posted, and each of its lines that went to the error account for an
        order made later moved by its late match."""
        journal = self._journal()
        if any(source_id not in journal for source_id in created["payouts"]):
            return False
        wanted = {
            f"{source_id}/t2"
            for source_id in created["payouts"]
            if any(row.get("Account") == "5990" for row in journal[source_id])
        }
        return wanted <= set(journal)

    def compare(
        self,
        report: Report,
        settings: Settings,
        api_key: str,
        created: dict[str, dict[str, JSON]],
    ) -> None:
        """Each payout against its postings in the hub and their lines in the journal; the
        hub through its API (no worker running)."""
        with served_hub(settings, api_key) as api:
            self._compare(report, api, created)

    def _compare(self, report: Report, api: HubApi, created: dict[str, dict[str, JSON]]) -> None:
        issues = every_issue(api)
        report.issue_reasons = dict(Counter(i["reason"] for i in issues))
        with_issue = {i["key"] for i in issues if i["stream"] == "payouts"}
        postings = api.all("/journal-postings")
        by_reference: dict[str, list[JSON]] = defaultdict(list)
        for posting in postings:
            by_reference[posting["data"]["reference"]].append(posting["data"])
        report.duplicated_hub += sum(len(p) - 1 for p in by_reference.values())
        journal = self._journal()
        report.duplicated_remote += sum(1 for ref in journal if ref not in by_reference)
        for reference, found in by_reference.items():
            rows = journal.get(reference, [])
            wanted = sorted((ln["account"], Decimal(ln["amount"])) for ln in found[0]["lines"])
            got = sorted(
                (str(r["Account"]), Decimal(str(r["Debit"])) - Decimal(str(r["Credit"])))
                for r in rows
            )
            if len(rows) > len(wanted):
                report.duplicated_remote += 1
            elif rows and got != wanted:
                report.damaged += 1
        for source_id, made in created["payouts"].items():
            posted = by_reference.get(source_id, [])
            if posted and source_id in journal:
                report.linked += 1
            elif source_id in with_issue:
                report.with_issue += 1
            else:
                report.neither += 1
                report.lost += 1
            if posted:
                errors = [ln for ln in posted[0]["lines"] if ln["role"] == "error"]
                moved = f"{source_id}/t2"
                if errors and moved not in journal:
                    report.lost += 1
                gross = sum(Decimal(ln["gross"]) for ln in made["lines"])
                received = -sum(
                    Decimal(ln["amount"])
                    for ln in posted[0]["lines"]
                    if ln["role"] in ("receivable", "error")
                )
                report.damaged += received != gross

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        return {"payouts": {ref: [ref] for ref in self._journal()}}

    def remote_ids(self) -> dict[str, set[str]]:
        return {"payouts": set(self._journal())}

    def close(self) -> None:
        self.booking.stop()
        super().close()
        self.sandbox.close()


TILL_ITEMS = (
    ("KAF-01", "Cappuccino", 4200, 25), ("KAF-02", "Caffè latte", 4500, 25),
    ("BAG-01", "Kanelsnegl", 3250, 12), ("BAG-02", "Rugbrød", 4995, 12),
    ("BOG-01", "Kogebog", 24900, 0),
)  # fmt: skip
"""SKU, name, price with VAT in øre, VAT rate: three rates at one till."""
TILL_DEBTOR = "KASSE"
TILL_JOURNAL = "INDBETAL"
TILL_METHODS = {
    "IZETTLE_CARD": ("Kort", "5820"), "IZETTLE_CASH": ("Kontant", "5800"),
    "MOBILE_PAY": ("MobilePay", "5810"),
}  # fmt: skip
"""Each payment method's term and the ledger account its money lands on (the term's)."""
TILL_MIXES = (
    (("IZETTLE_CARD",), 2), (("IZETTLE_CASH",), 1), (("MOBILE_PAY",), 1),
    (("IZETTLE_CARD", "IZETTLE_CARD"), 1),
    (("IZETTLE_CARD", "IZETTLE_CASH"), 3), (("IZETTLE_CASH", "MOBILE_PAY"), 1),
    (("IZETTLE_CARD", "MOBILE_PAY"), 1), (("IZETTLE_CARD", "IZETTLE_CASH", "MOBILE_PAY"), 2),
)  # fmt: skip
"""How a sale is paid, with its weight: one method (two cards are one method), or split two
or three ways (more than half of the sales)."""
TILL_REFUND_EVERY = 8
"""About one sale in this many is refunded at the till once booked: in full, one unit of its
first row, or that unit and then the rest (two refunds of one sale)."""
TILL_EARLY_REFUND_EVERY = 6
"""About one sale in this many (of those not refunded once booked) is refunded the same way
at once, before it is booked. A third of those come in right behind their sale (its webhook,
its pull), so the credit note waits in the push for the sale's invoice in Uniconta
(``credited_invoice_pending``); the others are rung up with their webhook lost
(``TILL_WEBHOOK_LOST``), so when the refund's own webhook gets through (``serve`` is up) the
refund is read before its sale and waits in the hub (``refund_order_missing``, or
``refund_waiting_for_invoice`` when the sale is in but not booked yet) until the pull brings
the sale; when it does not, both come in the same pull."""
TILL_WEBHOOK_LOST = 2 / 3
"""The share of the sales refunded at once whose ``PurchaseCreated`` is lost."""
REFUND_WAITS = ("refund_order_missing", "refund_waiting_for_invoice")
"""The reasons a refund waits in the hub for its sale's booked invoice: neither may be left
open once the run is synced."""
CREDIT_NOTE_WAITS = ("credited_invoice_pending",)
"""The reason a credit note waits in the push for its invoice to be booked in Uniconta."""


@dataclass
class TillSale:
    """What the harness rang up at the till, to compare with Uniconta."""

    number: str
    uuid: str
    gross: Decimal
    """What the customer paid, tips included: the invoice's total."""
    parts: list[tuple[str, Decimal]]
    """Per payment of a split sale: the method's ledger account and the amount (none when one
    method paid it all)."""
    quantities: list[int]
    """Per row, the quantity sold."""
    refunds: list[Decimal] = field(default_factory=list)
    """The amount of each refund made at the till."""
    refund_uuids: list[str] = field(default_factory=list)
    """The till's uuid of each refund (its hub refund's ``source_id``, its issues' key)."""
    early: int = 0
    """How many of the refunds were made before the sale's invoice was in Uniconta."""
    webhook: bool = True
    """False when the sale's ``PurchaseCreated`` was lost (only the pull reads it)."""


class Till(LiveShop):
    """A Zettle till booked into Uniconta: sales rung up during the run, a good share paid two
    or three ways (card, cash, MobilePay), some refunded at the till once booked and some at
    once, before they are booked (in full or in part), read by webhook (each delivered twice,
    none while ``serve`` is down) and by the safety-net pull; the route's policy names each
    method's account and a payment journal, so each split sale is an open invoice plus one
    payment posting in Uniconta's cash journal (docs/commerce.md, "A sale paid several
    ways"), and each refund one credit note settled against its sale's invoice
    (docs/connector-zettle.md, "Refund → refund")."""

    name = "till"
    streams = ("sales", "refunds")
    making = "ringing up the till's sales"

    def __init__(self, plan: FaultPlan) -> None:
        super().__init__(plan, "Kaos Café ApS")
        self.zettle = ZettleSandbox(seed=11, webhook_timeout=5.0)
        self.zettle.apply_settings({"webhook_repeats": 2})
        self.server = ZettleServer(self.zettle, faults=plan)
        self.server.start()
        vat = {25: "U25", 12: "U12", 0: "U0"}
        self.sandbox.load(self.company, "GLVatClient", [
            {"Vat": "U12", "Name": "Salgsmoms 12%", "VatType": "Sales", "Rate": 12}])  # fmt: skip
        self.sandbox.load(self.company, "InvItemClient", [
            {"Item": sku, "Name": name, "ItemType": "Item", "Vat": vat[rate], "Unit": "Piece",
             "SalesPrice1": price / 100} for sku, name, price, rate in TILL_ITEMS])  # fmt: skip
        self.sandbox.load(self.company, "GLAccountClient", [
            {"Account": "5810", "Name": "Tilgodehavende MobilePay"}])  # fmt: skip
        self.sandbox.load(self.company, "PaymentTermClient", [
            {"Payment": "MobilePay", "Name": "MobilePay", "PaymentMethod": "Creditcard",
             "Days": 0, "Account": "5810", "PostOnDC": True}])  # fmt: skip
        self.sandbox.load(self.company, "GLDailyJournalClient", [
            {"Journal": TILL_JOURNAL, "Name": "Indbetalinger", "DefaultAccountType": "Finans",
             "GenerateVoucher": True}])  # fmt: skip
        self.sandbox.load(self.company, "DebtorClient", [
            {"Account": TILL_DEBTOR, "Name": "Kassesalg (Zettle)", "Group": "PRIV",
             "Country": "Denmark", "Currency": "DKK", "Payment": "Kontant"}])  # fmt: skip
        self.sales: dict[str, TillSale] = {}

    def connect(self, api: HubApi) -> str:
        """The Zettle connection (which subscribes its webhook), Uniconta's with its cash
        journal stream, and the route with the till's policy; the id is Uniconta's."""
        till = api.create("/connections", {
            "system": "zettle", "name": "Kaos café",
            "settings": {"base_url": self.server.base_url, "contact_email": "kasse@kaos.example"},
            "secrets": {"api_key": self.zettle.default_key.key},
        })  # fmt: skip
        accounting = api.create("/connections", {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": self.company, "username": self.user,
                         "base_url": self.uniconta.base_url, "booking_url": self.booking.base_url,
                         "post_invoices": True,
                         "entities": streams_only("uniconta", "customers", "invoices",
                                                  "payment_status", "cash_journal")},
            "secrets": {"password": self.password},
        })  # fmt: skip
        self.source_id, uniconta_id = str(till["id"]), str(accounting["id"])
        self.sandbox.set_change_url(self.company, accounting["change_url"])
        methods = {
            code: {"payment_term": term, "registered_as_paid": True, "account": account}
            for code, (term, account) in TILL_METHODS.items()
        }
        api.create("/routes", {
            "source": self.source_id, "target": uniconta_id, "entities": [],
            "commerce": {"rules": {}, "policy": {
                "states": {"completed": "create_invoice"}, "payment_methods": methods,
                "payment_journal": TILL_JOURNAL,
                "customers": {"shared_b2c_account": TILL_DEBTOR},
                "vat": {"domestic_codes": {"25": "U25", "12": "U12", "0": "U0"}},
                "rounding_account": "AFRUND", "refund_item": "REFUSION"}},
        })  # fmt: skip
        return uniconta_id

    # ---------------------------------------------------------------- the till's side

    def _make(
        self, count: int, pace: float, rng: random.Random, created: dict[str, dict[str, JSON]]
    ) -> None:
        """Sales, and the refunds of about one in ``TILL_REFUND_EVERY``, each made as soon as
        its sale is booked, among the sales still being rung up and after them, and of about
        one in ``TILL_EARLY_REFUND_EVERY`` of the others, made as soon as the sale is rung up
        (most of those sales with their webhook lost)."""
        refunds: dict[str, Callable[[], None]] = {}
        for _ in range(count):
            if self.stop_making.is_set():
                return
            later = rng.random() < 1 / TILL_REFUND_EVERY
            early = not later and rng.random() < 1 / TILL_EARLY_REFUND_EVERY
            lost = early and rng.random() < TILL_WEBHOOK_LOST
            sale = self._ring_up(rng, created, webhook=not lost)
            kind = rng.choice(("full", "part", "twice"))
            if later:
                refunds[sale.number] = partial(self._refunds, sale, kind, created)
            elif early:
                self._refunds(sale, kind, created)
            self._run_booked(refunds)
            time.sleep(pace)
        self._when_booked(refunds)

    def _refunds(self, sale: TillSale, kind: str, created: dict[str, dict[str, JSON]]) -> None:
        """Through the till's refund: every row in full, one unit of the first row, or that
        unit and then the rest of the sale."""
        one = [{"index": 0, "quantity": 1}]
        if kind == "full":
            self._refund(sale, None, created)
            return
        self._refund(sale, one, created)
        rest = [{"index": i, "quantity": q - (i == 0)} for i, q in enumerate(sale.quantities)]
        rest = [row for row in rest if row["quantity"]]
        if kind == "twice" and rest:
            self._refund(sale, rest, created)

    def _refund(
        self, sale: TillSale, rows: list[JSON] | None, created: dict[str, dict[str, JSON]]
    ) -> None:
        early = sale.number not in self._invoices()[0]
        made = self.zettle.refund(sale.uuid, {} if rows is None else {"rows": rows})
        with self.lock:
            sale.refunds.append(-Decimal(made["amount"]) / 100)
            sale.refund_uuids.append(str(made["purchaseUUID1"]))
            sale.early += early
            created["refunds"][str(made["purchaseUUID1"])] = {"sale": sale.number}

    def _ring_up(
        self, rng: random.Random, created: dict[str, dict[str, JSON]], *, webhook: bool
    ) -> TillSale:
        """One sale of 1–3 rows, paid by the drawn mix: each part but the last a whole number
        of kroner, a card part now and then with a tip; ``webhook`` false loses its
        ``PurchaseCreated``, so only the pull reads it."""
        rows = [
            {"sku": sku, "name": name, "unit_price": price, "vat_percentage": rate,
             "quantity": rng.choice((1, 1, 2, 3))}
            for sku, name, price, rate in rng.sample(TILL_ITEMS, rng.randint(1, 3))
        ]  # fmt: skip
        amount = sum(int(row["unit_price"]) * int(row["quantity"]) for row in rows)
        methods = rng.choices([m for m, _ in TILL_MIXES], [w for _, w in TILL_MIXES])[0]
        payments: list[JSON] = []
        left = amount
        for index, method in enumerate(methods):
            payment: JSON = {"type": method}
            if index < len(methods) - 1:
                share = rng.randint(1, max(1, left // 100 - (len(methods) - index)))
                payment["amount"] = share * 100
                left -= share * 100
            if method == "IZETTLE_CARD" and rng.random() < 0.2:
                payment["tip"] = rng.choice((500, 1000))
            payments.append(payment)
        sale = self.zettle.ring_up({"products": rows, "payments": payments, "webhook": webhook})
        paid = [(p["type"], Decimal(p["amount"]) / 100) for p in sale["payments"]]
        split = len({method for method, _ in paid}) > 1
        number = str(sale["globalPurchaseNumber"])
        made = TillSale(
            number, str(sale["purchaseUUID1"]), sum((a for _, a in paid), Decimal(0)),
            [(TILL_METHODS[m][1], a) for m, a in paid] if split else [],
            [int(row["quantity"]) for row in rows], webhook=webhook,
        )  # fmt: skip
        with self.lock:
            self.sales[number] = made
            created["sales"][number] = {"uuid": sale["purchaseUUID1"]}
        return made

    # ---------------------------------------------------------------- Uniconta's side

    def _payments(self) -> dict[str, dict[str, list[JSON]]]:
        """The cash journal's lines by sale number, then by reference (``PAY <number>
        <digest>``): one reference per split sale."""
        found: dict[str, dict[str, list[JSON]]] = defaultdict(lambda: defaultdict(list))
        for row in self.sandbox.all(self.company, "GLDailyJournalLineClient"):
            reference = str(row.get("ReferenceNumber") or "")
            if reference.startswith("PAY "):
                found[reference.split(" ")[1]][reference].append(row)
        return found

    @staticmethod
    def _done(sale: TillSale, invoices: dict[str, list[JSON]], payments: Any) -> bool:
        """Booked, and for a split sale its payment lines in the journal."""
        return bool(invoices.get(sale.number)) and (not sale.parts or sale.number in payments)

    def linked(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
        """Sales done, and refunds with their credit note."""
        (invoices, credits), payments = self._invoices(), self._payments()
        with self.lock:
            sales = [(sale, len(sale.refunds)) for sale in self.sales.values()]
        done = 0
        for sale, refunds in sales:
            done += self._done(sale, invoices, payments)
            if booked := invoices.get(sale.number):
                done += min(refunds, len(credits.get(str(booked[0]["InvoiceNumber"]), [])))
        return done

    def expected(self) -> int:
        return len(self.sales) + sum(len(sale.refunds) for sale in self.sales.values())

    def _compare(self, report: Report, api: HubApi) -> None:
        """Each sale against its invoice and, when split, its payment lines; its refunds
        against the credit notes settling that invoice, one each for the refund's amount, and
        none still waiting for its sale's invoice."""
        issues = every_issue(api)
        report.issue_reasons = dict(Counter(i["reason"] for i in issues))
        keys = {str(i["key"]) for i in issues}
        waiting = {str(i["key"]) for i in issues if i["reason"] in REFUND_WAITS}
        orders: dict[str, list[JSON]] = defaultdict(list)
        for record in api.all("/orders"):
            orders[str(record["data"].get("number"))].append(record)
        hub_invoices: dict[str, list[JSON]] = defaultdict(list)
        credited: Counter[str] = Counter()
        for record in api.all("/invoices"):
            if record["data"].get("kind") == "credit_note":
                credited[str(record["data"].get("credits_invoice_id"))] += 1
            else:
                hub_invoices[str(record["data"].get("reference") or "")].append(record)
        refunds = Counter(str(r["data"].get("source_id")) for r in api.all("/refunds"))
        report.duplicated_hub += sum(count - 1 for count in refunds.values())
        postings: dict[str, list[JSON]] = defaultdict(list)
        for record in api.all("/journal-postings"):
            postings[str(record["data"].get("order_ref"))].append(record)
        (invoices, credits), payments = self._invoices(), self._payments()
        for sale in self.sales.values():
            booked = invoices.get(sale.number, [])
            report.duplicated_remote += max(0, len(booked) - 1)
            report.duplicated_hub += max(0, len(orders[sale.number]) - 1)
            report.duplicated_hub += max(0, len(hub_invoices[sale.number]) - 1)
            report.duplicated_hub += max(0, len(postings[sale.number]) - (1 if sale.parts else 0))
            written = payments.get(sale.number, {})
            report.duplicated_remote += max(0, len(written) - 1)
            # A sale's records in the hub: an issue may be keyed by any of them.
            mine = {sale.uuid, sale.number} | {
                r["id"] for r in orders[sale.number] + hub_invoices[sale.number]
                + postings[sale.number]
            }  # fmt: skip
            if self._done(sale, invoices, payments):
                report.linked += 1
            elif mine & keys:
                report.with_issue += 1
            else:
                report.neither += 1
                report.lost += 1
            if booked and abs(Decimal(str(booked[0]["TotalAmount"])) - sale.gross) > TOLERANCE:
                report.damaged += 1
            notes = credits.get(str(booked[0]["InvoiceNumber"]), []) if booked else []
            hub = [credited[r["id"]] for r in hub_invoices[sale.number]]
            self._check_refunds(report, sale.refunds, notes, hub)
            # A refund still waiting once synced never got its credit note booked: lost,
            # whatever note Uniconta has for the sale.
            still = len(waiting.intersection(sale.refund_uuids))
            report.lost += max(0, still - max(0, len(sale.refunds) - len(notes)))
            if not sale.parts:
                report.damaged += bool(written)  # one method: no payment lines
                continue
            if booked and written:
                self._check_parts(report, sale, booked[0], next(iter(written.values())))
        report.detail = self._waits(api)

    def _waits(self, api: HubApi) -> str:
        """How many refunds were made before their sale was booked, and how many of them
        waited, by reason (the sync log's distinct records): that the run met the path."""
        early = [sale for sale in self.sales.values() if sale.early]
        made = sum(sale.early for sale in early)
        unheard = sum(not sale.webhook for sale in early)
        waited = ", ".join(
            f"{reason} {len({e['record_id'] for e in sync_log(api, reason)})}"
            for reason in REFUND_WAITS + CREDIT_NOTE_WAITS
        )
        return (
            f"{made} refunds of {len(early)} sales made before the sale was booked in "
            f"Uniconta ({unheard} of those sales with their webhook lost); refunds and credit "
            f"notes that waited: {waited}"
        )

    @staticmethod
    def _check_parts(report: Report, sale: TillSale, invoice: JSON, rows: list[JSON]) -> None:
        """Per part, one debit of its method's account and one credit of the till's debtor
        settling the invoice, for the part's amount: one too many is **dup remote**, one
        missing **lost**, a wrong account or amount **damaged**."""

        def amount(row: JSON) -> Decimal:
            return Decimal(str(row.get("Debit") or 0)) - Decimal(str(row.get("Credit") or 0))

        tendered = sorted((str(r["Account"]), amount(r)) for r in rows
                          if r.get("AccountType") != "Debtor")  # fmt: skip
        settled = [r for r in rows if r.get("AccountType") == "Debtor"]
        wanted = sorted(sale.parts)
        extra = max(0, len(tendered) - len(wanted)) + max(0, len(settled) - len(wanted))
        missing = max(0, len(wanted) - len(tendered)) + max(0, len(wanted) - len(settled))
        report.duplicated_remote += extra
        report.lost += missing
        if extra or missing:
            return
        number = str(invoice["InvoiceNumber"])
        credits = sorted(-amount(r) for r in settled)
        if (
            tendered != wanted
            or credits != sorted(a for _, a in wanted)
            or sum(credits) != sale.gross
            or any(str(r.get("Account")) != TILL_DEBTOR or str(r.get("Invoice")) != number
                   for r in settled)
        ):  # fmt: skip
            report.damaged += 1

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        return {"sales": {n: [str(r["InvoiceNumber"]) for r in rows]
                          for n, rows in self._invoices()[0].items()}}  # fmt: skip

    def close(self) -> None:
        super().close()
        self.zettle.close()


MAIL_VAT = {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25", "K25": "DK25K", "X99": "X"}
SMTP_FAULTS = (("tempfail", 4), ("drop_mid_data", 3), ("drop_after_data", 1), ("refuse", 1))
"""Faults the SMTP server is given during the run, with their weights."""
MAIL_FINAL = frozenset({"sent", "refused", "unknown", "failed", "skipped"})


class Mail(Target):
    """Invoice mail: orders through the hub API (a shop app), booked into Uniconta by its
    booking service under faults, each booked invoice mailed to its customer through an
    SMTP server on loopback that answers 4xx, drops connections in the middle of the data or
    after it, refuses now and then and is down for seconds at a time, while the engine is
    killed. Every order has its own customer address, so the mails each got are counted:
    **duplicated** a customer with two mails of one invoice, **lost** an order whose invoice
    was mailed to nobody and has no open mail issue (``mail_refused``,
    ``mail_delivery_unknown``, ``mail_delivery_failed``)."""

    name = "mail"
    streams = ("orders",)
    company = 48213
    user, password = "chaos", "chaos-Pa55word"

    def __init__(self, plan: FaultPlan) -> None:
        self.sandbox, self.server, self.booking = uniconta_company(
            plan, self.company, "Kaos Post ApS", self.user, self.password
        )
        items = seed_products(self.sandbox, self.company, count=4, seed=5)
        self.sku = next(
            str(i["Item"]) for i in self.sandbox.all(self.company, "InvItemClient")
            if i["Item"] in items and i.get("Vat") == "S25"
        )  # fmt: skip
        self.sink = SmtpSink(Path(tempfile.mkdtemp(prefix="ledgerbridge-chaos-mail-"))).start()
        self.smtp_faults: Counter[str] = Counter()
        self.stop_faults = threading.Event()
        self.thread: threading.Thread | None = None
        self.cid = ""

    def env(self) -> dict[str, str]:
        # Retries in seconds rather than minutes, so the run's bound covers several.
        return {"LEDGERBRIDGE_MAIL_FIRST_RETRY_SECONDS": "1"}

    def fault_servers(self) -> list[LoopbackServer]:
        return [self.server, self.booking]

    def connect(self, api: HubApi) -> str:
        connection = api.create("/connections", {
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {
                "company_id": self.company, "username": self.user,
                "base_url": self.server.base_url, "booking_url": self.booking.base_url,
                "post_invoices": True, "vat_mapping": MAIL_VAT,
                "entities": streams_only("uniconta", "customers", "products", "invoices"),
                "invoice_mail": {
                    "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": self.sink.port,
                    "smtp_security": "none", "from_address": "faktura@kaos.example",
                    "company": {"name": "Kaos Post ApS", "vat_number": "DK12345678"},
                },
            },
            "secrets": {"password": self.password},
        })  # fmt: skip
        self.cid = str(connection["id"])
        policy = {"email_invoices": True, "refund_item": None}
        api.create("/routes", {"source": "app", "target": self.cid, "entities": ["party"],
                               "commerce": {"policy": policy, "rules": {}}})  # fmt: skip
        return self.cid

    def customer(self, n: int, marker: str) -> JSON | None:
        return None

    def invoice(self, party_id: str, marker: str) -> JSON:
        raise NotImplementedError("the invoices come from orders")

    def produce(self, api: HubApi, options: Options, created: dict[str, dict[str, JSON]]) -> None:
        """The orders, then SMTP faults in the background until the run calms down."""
        for n in range(options.records):
            number = f"M{n:05d}"
            body = {
                "source_id": number, "number": number, "state": "processing",
                "created_at": "2026-11-20T10:00:00+01:00",
                "paid_at": "2026-11-20T10:01:00+01:00", "currency": "DKK",
                "lines": [{"source_id": "1", "kind": "item", "sku": self.sku,
                           "description": "Kaffekrus", "quantity": "2",
                           "unit_price": "100.00", "tax_rate": "25",
                           "net_amount": "200.00", "tax_amount": "50.00"}],
                "total": "250.00", "total_tax": "50.00",
                "payment_method": {"code": "stripe", "title": "Kort"},
                "customer": {"email": self._address(number), "name": f"Kunde {number}"},
            }  # fmt: skip
            api.create("/orders", body)
            created["orders"][number] = body
        self.thread = threading.Thread(
            target=self._misbehave, args=(random.Random(options.seed),), daemon=True
        )
        self.thread.start()

    @staticmethod
    def _address(number: str) -> str:
        return f"kunde-{number.lower()}@kaos.example"

    def _misbehave(self, rng: random.Random) -> None:
        kinds = [kind for kind, _ in SMTP_FAULTS]
        weights = [weight for _, weight in SMTP_FAULTS]
        while not self.stop_faults.wait(rng.uniform(0.2, 0.8)):
            if rng.random() < 0.08:
                self.sink.stop()
                self.smtp_faults["down"] += 1
                self.stop_faults.wait(rng.uniform(1.0, 4.0))
                self.sink.start()
                continue
            if rng.random() < 0.3:
                continue
            # Faults in the air for a second: they hit whatever mails go then, if any.
            for kind in rng.choices(kinds, weights, k=2):
                self.sink.faults.arm(kind)
            self.stop_faults.wait(1.0)
            self.sink.faults.clear()

    def stop_producing(self) -> None:
        self.stop_faults.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.sink.faults.clear()
        self.sink.start()

    def _mails(self, api: HubApi) -> dict[str, JSON]:
        """The connection's invoice mails by order number."""
        response = api.client.get(f"/connections/{self.cid}/invoice-mails", params={"limit": 1000})
        response.raise_for_status()
        return {str(m["order_number"]): m for m in response.json()}

    def linked(self, api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
        """Orders whose mail reached an end: sent, or an issue a person must look at."""
        mails = self._mails(api)
        return sum(1 for n in created["orders"] if mails.get(n, {}).get("state") in MAIL_FINAL)

    def compare(
        self,
        report: Report,
        settings: Settings,
        api_key: str,
        created: dict[str, dict[str, JSON]],
    ) -> None:
        with served_hub(settings, api_key) as api:
            mails = self._mails(api)
            issues = api.client.get(f"/connections/{self.cid}/issues").json()
            report.issue_reasons = dict(Counter(i["reason"] for i in issues))
            with_issue = {i["key"] for i in issues if i["direction"] == "mail"}
            received = Counter(r.rcpt_to[0] for r in self.sink.received() if r.rcpt_to)
            booked = {str(r.get("YourRef") or "") for r in
                      self.sandbox.all(self.company, "DebtorInvoiceClient")}  # fmt: skip
            for number in created["orders"]:
                got = received[self._address(number)]
                mail = mails.get(number)
                report.duplicated_remote += max(0, got - 1)
                if got:
                    report.linked += 1
                elif mail is not None and mail["invoice_id"] in with_issue:
                    report.with_issue += 1
                else:
                    report.neither += 1
                    report.lost += 1
                if number not in booked:
                    report.damaged += 1  # every order was paid: each must be booked
            seen = {**self.sink.faults.seen, "down": self.smtp_faults["down"]}
            report.faults = {**report.faults, **{f"smtp_{k}": v for k, v in seen.items()}}

    def remote_documents(self) -> dict[str, dict[str, list[str]]]:
        return {"orders": {}}

    def remote_ids(self) -> dict[str, set[str]]:
        return {"orders": set()}

    def close(self) -> None:
        self.stop_faults.set()
        self.sink.stop()
        self.booking.stop()
        self.server.stop()
        self.sandbox.close()


TARGETS: dict[str, Callable[[FaultPlan], Target]] = {
    "uniconta": Uniconta, "qonto": Qonto, "tripletex": Tripletex, "yuki": Yuki,
    "webshop": Webshop, "paymatch": PayMatch, "mail": Mail, "till": Till,
}  # fmt: skip
FAULT_SEQUENCES = (
    "qonto", "tripletex", "uniconta", "webshop", "yuki", "paymatch", "mail", "till",
)  # fmt: skip
"""Each target's place in the fault seeds: fixed, so adding a target never changes the faults
another one gets."""


# ---------------------------------------------------------------------------- databases


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """URL of an empty database of that kind, dropped afterwards (the product migrates it)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'chaos-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin_url = sa.make_url(os.environ.get("LEDGERBRIDGE_CHAOS_POSTGRES", POSTGRES_ADMIN_URL))
    name = f"chaos_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# ------------------------------------------------------------------------------ the engine


class Engine:
    """The product's processes: ``serve`` (API, schedules and a worker), and on PostgreSQL a
    separate ``worker``; each can be killed with SIGKILL and started again."""

    def __init__(self, env: dict[str, str], port: int, log: Path, postgres: bool) -> None:
        self.env = env
        self.port = port
        self.log = log
        executable = str(Path(sys.executable).parent / "ledgerbridge")
        self.commands = {"serve": [executable, "serve", "--port", str(port)]}
        if postgres:
            self.commands["worker"] = [executable, "worker"]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str | None = None) -> None:
        for role in [name] if name else list(self.commands):
            with self.log.open("ab") as sink:
                self.processes[role] = subprocess.Popen(
                    self.commands[role], env=self.env, stdout=sink, stderr=sink
                )

    def kill(self, role: str) -> None:
        """SIGKILL, as a crash: no clean-up of any kind."""
        process = self.processes[role]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for a process that does not stop within 15 s."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    @property
    def roles(self) -> list[str]:
        return list(self.commands)


def _quietly(condition: Callable[[], bool]) -> bool:
    """``condition()``, False while the API is unreachable."""
    try:
        return condition()
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], bool], deadline: float, step: float = 0.2) -> bool:
    """Poll until ``condition`` holds or the monotonic ``deadline`` passes; network errors
    while an engine process restarts count as "not yet"."""
    while True:
        if _quietly(condition):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# ------------------------------------------------------------------------------ a scenario


@dataclass
class Options:
    records: int = 300
    fault_rate: float = 0.10
    kills: int = 30
    seed: int = 1
    timeout: float = 300.0
    """Bound on the whole push, kills included, in seconds."""
    setup_timeout: float = 60.0
    """Bound on starting the engine, connecting and the initial import, in seconds."""
    lease_seconds: float = 5.0
    """Job lease of the engine's processes: how soon a killed worker's job is run again on
    PostgreSQL (renewed every third of it while the job runs)."""
    grace: float = 60.0
    """When the bound passes unsynced: how long the engine may go on with faults off and no
    kills before the comparison, so that late records are told from lost ones."""
    slow_ms: int = 1000
    kill_interval: tuple[float, float] = (0.3, 2.0)
    """A kill lands this long (a random pause, in seconds) after the restarted process is
    ready (``serve``: its API answers)."""


QUICK = Options(records=30, kills=2, timeout=45.0, setup_timeout=30.0, grace=15.0)
"""The short variant the test suite runs."""


@dataclass
class Report:
    system: str
    database: str
    records: int = 0
    kills: int = 0
    kills_in_push: int = 0
    """Kills that landed before every record was linked (the others hit an idle engine)."""
    calls: int = 0
    """API requests the faults could hit (the rate applies to these)."""
    faults: dict[str, int] = field(default_factory=dict)
    linked: int = 0
    with_issue: int = 0
    late: int = 0
    """Records linked only after the bound, with faults off (see ``Options.grace``)."""
    lost: int = 0
    duplicated_remote: int = 0
    duplicated_hub: int = 0
    damaged: int = 0
    neither: int = 0
    sync_seconds: float | None = None
    unbooked: int = 0
    """Records that must not reach the system (webshop: orders never paid)."""
    issue_reasons: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    """What the system's run met beyond the counts (till: refunds made before the sale was
    booked, and how many waited)."""
    error: str | None = None
    log_tail: str = ""

    @property
    def failures(self) -> list[str]:
        """What must be 0 and is not, and an unfinished sync."""
        found = [f"{name}={getattr(self, name)}" for name in MUST_BE_ZERO if getattr(self, name)]
        if self.sync_seconds is None:
            found.append("not synced in time")
        if self.error:
            found.append(self.error)
        return found


class HubApi:
    """The hub API as a tenant's app uses it."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )

    def all(self, path: str) -> list[JSON]:
        items: list[JSON] = []
        after = None
        while True:
            params: JSON = {"limit": 1000, **({"after": after} if after else {})}
            response = self.client.get(path, params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(page["items"])
            after = page["next"]
            if after is None:
                return items

    def create(self, path: str, body: JSON) -> JSON:
        response = self.client.post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
        created: JSON = response.json()
        return created

    def close(self) -> None:
        self.client.close()


@contextmanager
def served_hub(settings: Settings, api_key: str) -> Iterator[HubApi]:
    """The hub's API served in this process, with no worker running: what a comparison
    reads the hub through once the engine has stopped."""
    system = System(settings)
    server = ServerThread(create_app(system)).start()
    api = HubApi(server.url, api_key)
    try:
        yield api
    finally:
        api.close()
        server.stop()
        system.close()


def sync_log(api: HubApi, reason: str) -> list[JSON]:
    """The sync log's entries with this reason, on every connection of the tenant."""
    entries: list[JSON] = []
    for connection in api.client.get("/connections").json():
        before = None
        while True:
            params: JSON = {"reason": reason, "limit": 1000}
            if before is not None:
                params["before"] = before
            response = api.client.get(f"/connections/{connection['id']}/sync-log", params=params)
            response.raise_for_status()
            page = response.json()
            entries.extend(page)
            if len(page) < 1000:
                break
            before = min(entry["id"] for entry in page)
    return entries


def every_issue(api: HubApi) -> list[JSON]:
    """The open issues of every connection of the tenant (a route's shop and its books)."""
    connections = [c["id"] for c in api.client.get("/connections").json()]
    return [
        issue
        for cid in connections
        for issue in api.client.get(f"/connections/{cid}/issues").json()
    ]


PATHS = {"customers": "/parties", "invoices": "/invoices"}


def run_scenario(
    system: str,
    database_url: str,
    options: Options,
    workdir: Path,
    before_comparison: Callable[[Target], None] | None = None,
) -> Report:
    """One system on one database: set up, push under faults and kills, compare.
    ``before_comparison`` may alter the sandbox's state once the engine has stopped (a check
    of the comparison itself uses it to plant a duplicate)."""
    database = database_url.split(":", 1)[0].split("+", 1)[0]
    report = Report(system, database)
    rng = random.Random(options.seed)
    plan = FaultPlan(
        rate=options.fault_rate,
        # Each system gets its own (reproducible) sequence of faults.
        seed=options.seed * 1000 + FAULT_SEQUENCES.index(system),
        slow_ms=options.slow_ms,
        retry_after=1,
    )
    target = TARGETS[system](FaultPlan())
    hub_port = free_port()
    settings = Settings(
        database_url=database_url,
        secret_keys=Fernet.generate_key().decode(),
        secret_key_file=workdir / "unused.key",
        public_url=f"http://127.0.0.1:{hub_port}",
    )
    env = {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_PUBLIC_URL": settings.public_url,
        "LEDGERBRIDGE_POLL_INTERVAL": "0.05",
        "LEDGERBRIDGE_JOB_LEASE_SECONDS": str(options.lease_seconds),
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
        **target.env(),
    }
    log = workdir / f"engine-{system}-{database}.log"
    engine = Engine(env, hub_port, log, postgres=database == "postgresql")
    api: HubApi | None = None
    created: dict[str, dict[str, JSON]] = {stream: {} for stream in target.streams}
    hub_system = System(settings)
    issued = hub_system.tenancy.create_tenant("Chaos", "owner@chaos.example")
    hub_system.close()
    try:
        engine.start()
        api = HubApi(f"http://127.0.0.1:{hub_port}", issued.api_key)
        setup_deadline = time.monotonic() + options.setup_timeout
        if not wait_for(lambda: api.client.get("/connections").status_code == 200, setup_deadline):
            raise RuntimeError("the hub API did not come up")
        cid = target.connect(api)
        for imported in target.imports(cid):
            api.client.post(f"/connections/{imported}/import").raise_for_status()
            if not wait_for(
                partial(_imported, api, imported),
                setup_deadline,
            ):
                raise RuntimeError("the initial import did not finish")

        # Faults on from the first record created to the end of the push; a second server
        # (Uniconta's booking service, the shop) meets the same faults.
        for server in target.fault_servers():
            assert server.faults is not None
            server.faults.configure(plan)
        started = time.monotonic()
        target.produce(api, options, created)

        def total() -> int:
            return sum(len(c) for c in created.values())

        def synced() -> bool:
            return target.synced(api, created, cid)

        def api_up() -> bool:
            return api.client.get("/connections").status_code == 200

        deadline = started + options.timeout
        for trial in range(options.kills):
            pause = rng.uniform(*options.kill_interval)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
            role = engine.roles[trial % len(engine.roles)]
            pushing = not _quietly(synced)
            engine.kill(role)
            report.kills += 1
            report.kills_in_push += pushing
            engine.start(role)
            if role == "serve":
                wait_for(api_up, deadline, step=0.05)
        if wait_for(synced, deadline, step=0.5):
            report.sync_seconds = round(time.monotonic() - started, 1)
        else:
            # Calm: faults off, no kills. What syncs now was late, not lost.
            wait_for(api_up, time.monotonic() + options.setup_timeout, step=0.05)
            target.stop_producing()
            behind = total() - target.linked(api, created, cid)
            _stop_faults(target, report)
            wait_for(synced, time.monotonic() + options.grace, step=0.5)
            report.late = behind - (total() - target.linked(api, created, cid))
    except Exception as exc:  # reported with the counts, never hidden
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        target.stop_producing()
        engine.stop()
        _stop_faults(target, report)
        if api is not None:
            api.close()
    try:
        if before_comparison is not None:
            before_comparison(target)
        target.compare(report, settings, issued.api_key, created)
    except Exception as exc:
        report.error = report.error or f"comparison failed: {type(exc).__name__}: {exc}"
    finally:
        target.close()
    report.records = sum(len(c) for c in created.values())
    if log.exists():
        report.log_tail = log.read_text(errors="replace")[-2000:]
    return report


def _imported(api: HubApi, connection_id: str) -> bool:
    return bool(api.client.get(f"/connections/{connection_id}").json()["import_state"] == "done")


def _stop_faults(target: Target, report: Report) -> None:
    """Read the counters into the report (once) and turn faults off."""
    if report.faults:
        return
    injected: Counter[str] = Counter()
    for server in target.fault_servers():
        if server.faults is None:
            continue
        counters = server.faults.counters()
        report.calls += counters["in_scope"]
        injected.update({str(kind): count for kind, count in counters["injected"].items()})
        server.faults.configure(FaultPlan())
    report.faults = dict(injected)


def _create_records(
    api: HubApi,
    target: Target,
    count: int,
    created: dict[str, dict[str, JSON]],
) -> list[str]:
    """Half customers, half invoices (all invoices when customers come from the system);
    each invoice is for one of the customers, created in between as an app would."""
    customers = count // 2 if "customers" in target.streams else 0
    parties: list[str] = []
    for n in range(customers):
        marker = f"CHAOS-{n:04d}"
        body = target.customer(n, marker)
        assert body is not None
        record = api.create("/parties", body)
        created["customers"][record["id"]] = body
        parties.append(record["id"])
    if not parties:
        parties = target.own_customers(api)
    if not parties:
        raise RuntimeError("no customer to invoice")
    for n in range(customers, count):
        marker = f"CHAOS-{n:04d}"
        body = target.invoice(parties[n % len(parties)], marker)
        record = api.create("/invoices", body)
        created["invoices"][record["id"]] = body
    return parties


def _count_linked(api: HubApi, created: dict[str, dict[str, JSON]], cid: str) -> int:
    linked = 0
    for stream, records in created.items():
        for record in api.all(PATHS[stream]):
            if record["id"] in records and any(
                s["connection_id"] == cid and s["remote_id"] for s in record.get("sync") or []
            ):
                linked += 1
    return linked


def _compare(
    report: Report,
    settings: Settings,
    api_key: str,
    target: Target,
    created: dict[str, dict[str, JSON]],
) -> None:
    """The hub (through its API, served here with no worker running) against the sandbox."""
    with served_hub(settings, api_key) as api:
        [connection] = api.client.get("/connections").json()
        cid = connection["id"]
        issues = api.client.get(f"/connections/{cid}/issues").json()
        open_issues = {i["key"]: i["reason"] for i in issues if i["direction"] == "outbound"}
        report.issue_reasons = dict(Counter(open_issues.values()))
        documents = target.remote_documents()
        remote_ids = target.remote_ids()
        for stream, records in created.items():
            hub = api.all(PATHS[stream])
            by_marker: dict[str, list[str]] = defaultdict(list)
            for listed in hub:
                marker = _hub_marker(stream, listed["data"])
                if marker:
                    by_marker[marker].append(listed["id"])
            report.duplicated_hub += sum(len(ids) - 1 for ids in by_marker.values() if ids)
            current = {listed["id"]: listed for listed in hub}
            for record_id, body in records.items():
                record = current.get(record_id)
                sync = record.get("sync") if record else None
                links = [s for s in sync or [] if s["connection_id"] == cid and s["remote_id"]]
                if links:
                    report.linked += 1
                    if any(link["remote_id"] not in remote_ids[stream] for link in links):
                        report.lost += 1
                elif record_id in open_issues:
                    report.with_issue += 1
                else:
                    report.neither += 1
                    report.lost += 1
                if record is not None and stream == "invoices" and _lines_differ(body, record):
                    report.damaged += 1
                marker = _hub_marker(stream, body)
                found = documents[stream].get(record_id, []) + documents[stream].get(
                    marker or "", []
                )
                if len(set(found)) > 1:
                    report.duplicated_remote += 1


def _hub_marker(stream: str, data: JSON) -> str | None:
    if stream == "customers":
        return _marker_of(data.get("name"))
    lines = data.get("lines") or []
    return _marker_of(lines[0].get("description")) if lines else None


def _lines_differ(body: JSON, record: JSON) -> bool:
    """Lines created versus lines now in the hub: description, quantity and unit price."""

    def key(line: JSON) -> tuple[str, Decimal, Decimal]:
        return (
            str(line.get("description")),
            Decimal(str(line["quantity"])),
            Decimal(str(line["unit_price"])),
        )

    now = record["data"].get("lines") or []
    return sorted(map(key, body["lines"])) != sorted(map(key, now))


# ------------------------------------------------------------------------------ output


def table(reports: list[Report]) -> str:
    header = (
        "| system | database | records | kills (in push) | calls "
        "| faults (5xx/429/reset/lost/slow) | linked | late | issue | lost | dup remote "
        "| dup hub | damaged | neither | sync s |"
    )
    rows = [header, "|" + "---|" * 15]
    for r in reports:
        faults = "/".join(str(r.faults.get(str(kind), 0)) for kind in FaultKind)
        sync = "—" if r.sync_seconds is None else f"{r.sync_seconds:.1f}"
        rows.append(
            f"| {r.system} | {r.database} | {r.records} | {r.kills} ({r.kills_in_push}) "
            f"| {r.calls} | {faults} "
            f"| {r.linked} | {r.late} "
            f"| {r.with_issue} | {r.lost} | {r.duplicated_remote} | {r.duplicated_hub} "
            f"| {r.damaged} | {r.neither} | {sync} |"
        )
    return "\n".join(rows)


def run(systems: list[str], databases: list[str], options: Options, workdir: Path) -> list[Report]:
    reports = []
    for database in databases:
        for system in systems:
            with fresh_database(database, workdir) as url:
                reports.append(run_scenario(system, url, options, workdir))
            print(table(reports[-1:]).splitlines()[-1], flush=True)  # progress, row by row
    return reports


class _HideClientDisconnects(logging.Filter):
    """A killed engine process leaves requests half read; the sandbox logs each as an
    exception. Expected here, so dropped; every other sandbox error is still shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--systems",
        default="uniconta,qonto,tripletex",
        help=f"comma-separated, of: {', '.join(TARGETS)} (webshop: orders and their refunds; "
        "till: sales paid one to three ways, about one in eight refunded in full or in part once "
        "booked, one in six of the others before)",
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--records",
        type=int,
        default=300,
        help="records per system (webshop: orders, till: sales; their refunds come on top)",
    )
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--kills", type=int, default=30, help="kill -9 trials per system")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per system")
    parser.add_argument(
        "--quick", action="store_true", help="30 records, 2 kills, 45 s per system (as in CI)"
    )
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    for name in systems:
        if name not in TARGETS:
            parser.error(f"--systems: unknown system {name!r}; known: {', '.join(TARGETS)}")
    for name in databases:
        if name not in ("sqlite", "postgresql"):
            parser.error(f"--databases: unknown database {name!r}; known: sqlite, postgresql")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate: must be between 0 and 1")
    options = replace(
        QUICK if args.quick else Options(args.records, kills=args.kills, timeout=args.timeout),
        fault_rate=args.fault_rate,
        seed=args.seed,
    )
    logging.getLogger("uvicorn.error").addFilter(_HideClientDisconnects())
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-chaos-"))
    reports = run(systems, databases, options, workdir)
    print(table(reports))
    failed = False
    for report in reports:
        if report.failures:
            failed = True
            print(f"\n{report.system}/{report.database}: {', '.join(report.failures)}")
            if report.issue_reasons:
                print(f"  open issues: {report.issue_reasons}")
        if report.unbooked:
            name = f"{report.system}/{report.database}"
            print(f"\n{name}: {report.unbooked} orders never paid, rightly not booked")
        if report.detail:
            print(f"\n{report.system}/{report.database}: {report.detail}")
    print(f"\nengine logs: {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
