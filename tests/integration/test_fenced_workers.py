"""Two ``ledgerbridge worker`` processes on PostgreSQL: the one holding a push is frozen
(SIGSTOP) past its lease, the other takes the job over, then the first is resumed (SIGCONT).
Nothing is sent twice and the frozen run's late writes are refused."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.clock import SystemClock
from ledgerbridge.connectors.uniconta.mapping import INVOICE_REF_PREFIX
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import (
    BookingServer,
    UnicontaSandbox,
    seed_debtors,
    seed_products,
)
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, Run, SyncIssue, SyncLogEntry
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import COMPANY, PASSWORD, USER

pytestmark = pytest.mark.skipif(
    not os.environ.get("LEDGERBRIDGE_TEST_DATABASE", "sqlite").startswith("postgresql"),
    reason="worker processes run against PostgreSQL only; SQLite runs its worker inside serve",
)

INVOICES = 8
LEASE_SECONDS = 2


@pytest.fixture
def slow_uniconta() -> Iterator[tuple[UnicontaSandbox, str, str]]:
    """The Uniconta sandbox behind its fault injector, so answers can be slowed down, and
    the booking service that books its invoices."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    with SandboxServer(sandbox) as server, BookingServer(sandbox) as booking:
        yield sandbox, server.base_url, booking.base_url
    sandbox.close()


def _wait(
    what: str, done: Callable[[], bool], timeout: float = 60, state: Callable[[], Any] = list
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state()}")
        time.sleep(0.1)


def _invoice(party_id: str, sku: str, n: int) -> dict[str, Any]:
    return {
        "party_id": party_id, "date": "2026-11-20", "payment_term_days": 14,
        "currency": "DKK", "status": "sent",
        "lines": [
            {"sku": sku, "description": f"Konsulenttimer {n}", "quantity": "3",
             "unit_price": "850", "vat_code": "DK25"},
            {"description": "Kørsel", "quantity": "1", "unit_price": "250", "vat_code": "DK25"},
        ],
    }  # fmt: skip


def _by_hub_id(rows: list[dict[str, Any]]) -> collections.Counter[str]:
    """Documents per hub invoice: orders made from the hub carry its id in ``OurRef``."""
    refs = (str(row.get("OurRef") or "") for row in rows)
    return collections.Counter(
        r[len(INVOICE_REF_PREFIX) :] for r in refs if r.startswith(INVOICE_REF_PREFIX)
    )


def test_a_frozen_worker_resumed_after_a_takeover_sends_nothing_twice_and_writes_nothing(
    settings: Settings, slow_uniconta: tuple[UnicontaSandbox, str, str], tmp_path: Path
) -> None:
    sandbox, url, booking_url = slow_uniconta
    system = System(settings)
    issued = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")
    principal = system.tenancy.authenticate(issued.api_key)
    assert isinstance(principal, Principal)
    accounts = seed_debtors(sandbox, COMPANY, count=3, seed=11)
    items = seed_products(sandbox, COMPANY, count=4, seed=11)
    streams = ("customers", "products", "invoices")
    created = system.connections.create(
        principal, system="uniconta", name="Uniconta", timezone="Europe/Copenhagen",
        settings={"company_id": COMPANY, "username": USER, "base_url": url,
                  "booking_url": booking_url,
                  "entities": {s: {"enabled": True} for s in streams}, "post_invoices": True,
                  "vat_mapping": {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25",
                                  "K25": "DK25K"}},
        secrets_={"password": PASSWORD},
    )  # fmt: skip
    connection_id = created["id"]
    system.connections.start_import(principal, connection_id)

    env = {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": settings.database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_POLL_INTERVAL": "0.05",
        "LEDGERBRIDGE_WORKER_CONCURRENCY": "1",
        "LEDGERBRIDGE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
    }
    executable = str(Path(sys.executable).parent / "ledgerbridge")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker(log: Path) -> None:
        with log.open("wb") as sink:
            workers.append(
                subprocess.Popen([executable, "worker"], env=env, stdout=sink, stderr=sink)
            )

    def one(query: sa.Select[Any]) -> Any:
        with system.sessions() as session:
            return session.execute(query).first()

    try:
        start_worker(logs[0])
        _wait(
            "the import",
            lambda: (
                one(sa.select(Connection.import_state).where(Connection.id == connection_id))[0]
                == "done"
            ),
        )
        with system.sessions() as session:
            party_id = session.scalars(
                sa.select(HubRecord.id).where(
                    HubRecord.entity == "party",
                    HubRecord.data["debtor_number"].as_string() == accounts[0],
                )
            ).one()
        sku = next(i["Item"] for i in sandbox.all(COMPANY, "InvItemClient")
                   if i["Item"] in items and i.get("Vat") == "S25")  # fmt: skip
        # Every answer now takes 300 ms: a push of a few invoices takes seconds.
        httpx.put(f"{url}/_sandbox/faults", json={"latency_ms": 300}).raise_for_status()
        hub_ids = [
            system.records.create(principal, "invoice", _invoice(party_id, sku, n)).id
            for n in range(INVOICES)
        ]

        # Freeze the first worker in the middle of the push, once a first order exists.
        _wait("the first order", lambda: len(sandbox.all(COMPANY, "DebtorOrderClient")) > 0)
        workers[0].send_signal(signal.SIGSTOP)
        frozen = one(
            sa.select(Run.id).where(
                Run.connection_id == connection_id, Run.kind == "push", Run.status == "running"
            )
        )
        assert frozen is not None
        frozen_run = frozen[0]

        # The second worker finds the first silent for a lease and runs the push again.
        start_worker(logs[1])

        def all_linked() -> bool:
            with system.sessions() as session:
                linked = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Link)
                    .where(Link.connection_id == connection_id, Link.record_id.in_(hub_ids))
                )
            return linked == INVOICES

        def progress() -> Any:
            with system.sessions() as session:
                runs = session.execute(sa.select(Run.id, Run.kind, Run.status, Run.message)).all()
                issues = session.execute(sa.select(SyncIssue.reason_code, SyncIssue.message)).all()
            # The workers' last words, kept in the failure: their logs go with the test's
            # temporary directory.
            tails = {log.name: log.read_text().splitlines()[-20:] for log in logs}
            return {"runs": runs, "issues": issues, "logs": tails}

        _wait("the second worker's push", all_linked, timeout=90, state=progress)
        resumed_at = SystemClock().now()
        workers[0].send_signal(signal.SIGCONT)
        _wait(
            "the frozen run to stop",
            lambda: one(sa.select(Run.status).where(Run.id == frozen_run))[0] != "running",
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)

    first_log = logs[0].read_text()
    assert "Traceback" not in logs[1].read_text()
    # The first worker stopped at its first check after the takeover, and nothing else failed.
    assert f"run {frozen_run} (epoch" in first_log and "was refused" in first_log
    raised = set(re.findall(r"^(ledgerbridge[\w.]+): ", first_log, re.MULTILINE))
    # RemoteRejected may appear as the context of RunFenced: a freeze in the instant between
    # the last fence check and its request lets that one call out, and Uniconta refuses lines
    # for an order the second worker has posted meanwhile; its outcome was refused.
    assert raised - {"ledgerbridge.connectors.base.RemoteRejected"} == {
        "ledgerbridge.engine.fence.RunFenced",
        "ledgerbridge.runtime.jobqueue.port.LeaseLost",
    }
    with system.sessions() as session:
        run = session.get(Run, frozen_run)
        assert run is not None and run.status == "superseded"
        late = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncLogEntry)
            .where(SyncLogEntry.run_id == frozen_run, SyncLogEntry.at >= resumed_at)
        )
        links = session.execute(
            sa.select(Link.record_id, Link.remote_id).where(Link.connection_id == connection_id)
        ).all()
    assert late == 0, "the frozen run wrote nothing after it was resumed"
    invoices = _by_hub_id(sandbox.all(COMPANY, "DebtorInvoiceClient"))
    orders = _by_hub_id(sandbox.all(COMPANY, "DebtorOrderClient"))
    assert {ref: invoices[ref] for ref in hub_ids} == dict.fromkeys(hub_ids, 1), "no duplicate"
    assert all(orders[ref] <= 1 for ref in hub_ids), "no second order"
    invoice_links = [remote for record, remote in links if record in hub_ids]
    assert len(invoice_links) == len(set(invoice_links)) == INVOICES
    system.close()
