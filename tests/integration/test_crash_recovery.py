"""A process killed with SIGKILL mid-import: the next one finishes, with no duplicate anywhere.

The server runs as a real child process (``ledgerbridge serve``); the Uniconta sandbox runs in
the test process and slows each call with its over-quota throttling so the kill lands mid-run.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, create_app, seed_debtors
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import COMPANY, PASSWORD, USER
from tests.integration.processes import product_env, serve, wait_until

DEBTORS = 2000
HUB_ONLY = 15


@pytest.fixture
def slow_uniconta() -> Iterator[tuple[UnicontaSandbox, str]]:
    sandbox = UnicontaSandbox(daily_call_limit=10, throttle_delay=0.05)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_debtors(sandbox, COMPANY, count=DEBTORS, seed=11)
    server = ServerThread(create_app(sandbox)).start()
    yield sandbox, server.url
    server.stop()
    sandbox.close()


def test_sigkill_during_initial_import(
    settings: Settings, slow_uniconta: tuple[UnicontaSandbox, str], tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    sandbox, url = slow_uniconta
    system = System(settings)
    issued = system.tenancy.create_tenant("Nordlys", "owner@nordlys.example")
    principal = system.tenancy.authenticate(issued.api_key)
    assert principal is not None
    for n in range(HUB_ONLY):
        system.records.create(
            principal, "party",
            {"name": f"CRM Kunde {n}", "is_customer": True, "debtor_number": f"8{n:04d}"},
        )  # fmt: skip
    connection = system.connections.create(
        principal, system="uniconta", name="Uniconta", timezone="Europe/Copenhagen",
        settings={"company_id": COMPANY, "username": USER, "base_url": url, "page_size": 50},
        secrets_={"password": PASSWORD},
    )  # fmt: skip
    system.connections.start_import(principal, connection["id"])

    def linked() -> int:
        with system.sessions() as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Link)
                    .where(Link.connection_id == connection["id"])
                )
                or 0
            )

    def import_state() -> str:
        with system.sessions() as session:
            row = session.get(Connection, connection["id"])
            assert row is not None
            return row.import_state

    env = product_env(settings, lease_seconds=2)
    port = free_port()
    first = serve(env, port, log)
    try:
        wait_until(lambda: linked() >= 300, 60, "the import to get going")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    partial = linked()
    assert 300 <= partial < DEBTORS, "the kill should land mid-import"
    assert import_state() != "done"

    second = serve(env, port, log)
    try:
        wait_until(lambda: import_state() == "done", 120, "the import to finish after restart")
        wait_until(
            lambda: len(sandbox.all(COMPANY, "DebtorClient")) == DEBTORS + HUB_ONLY,
            60, "hub-only customers to reach Uniconta",
        )  # fmt: skip
        # A create's link is stored just after Uniconta answers: wait for it, not only for
        # the account to appear there.
        wait_until(lambda: linked() == DEBTORS + HUB_ONLY, 30, "hub-only customers to be linked")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        output = log.read_text()
    assert "Traceback" not in output, output[-3000:]

    with system.sessions() as session:
        numbers = session.scalars(
            sa.select(HubRecord.data["debtor_number"].as_string()).where(
                HubRecord.entity == "party"
            )
        ).all()
        links = session.scalar(sa.select(sa.func.count()).select_from(Link))
    assert len(numbers) == DEBTORS + HUB_ONLY
    assert len(set(numbers)) == len(numbers)
    assert links == DEBTORS + HUB_ONLY
    accounts = [row["Account"] for row in sandbox.all(COMPANY, "DebtorClient")]
    assert len(accounts) == len(set(accounts)) == DEBTORS + HUB_ONLY
    system.close()
