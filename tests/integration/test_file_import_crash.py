"""A hub killed with SIGKILL in the middle of importing a file: the next one finishes the
import, and every order of the file is in the hub once, linked once, logged once.

The server runs as a real child process (``ledgerbridge serve``) on the test's database.
"""

from __future__ import annotations

import signal
from pathlib import Path

import sqlalchemy as sa

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.files import CommerceFile
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, SyncLogEntry
from tests.integration.processes import product_env, serve, wait_until

ORDERS = 6000
MAPPING = {
    "format": {"type": "csv", "delimiter": ","},
    "fields": {
        "order.number": "number",
        "order.created_at": "created",
        "order.state": {"value": "processing"},
        "order.currency": {"value": "EUR"},
        "line.sku": "sku",
        "line.quantity": "qty",
        "line.unit_price": "price",
        "line.tax_rate": "vat",
    },
}


def test_sigkill_while_a_file_is_imported(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    system = System(settings)
    issued = system.tenancy.create_tenant("Nordlys", "owner@nordlys.example")
    principal = system.tenancy.authenticate(issued.api_key)
    assert principal is not None
    connection = system.connections.create(
        principal, system="files", name="Shop files", timezone=None,
        settings={"page_size": 10}, secrets_={},
    )  # fmt: skip
    connection_id = connection["id"]
    system.files.save_mapping(principal, connection_id, "orders", MAPPING)
    rows = "".join(
        f"S-{n:05d},2026-11-30T10:00:00+01:00,SKU-{n % 7},{n % 3 + 1},{n % 50 + 1}.25,25\n"
        for n in range(ORDERS)
    )
    content = ("number,created,sku,qty,price,vat\n" + rows).encode()
    stored, duplicate = system.files.upload(principal, connection_id, "orders.csv", content)
    assert not duplicate

    def linked() -> int:
        with system.sessions() as session:
            count = session.scalar(
                sa.select(sa.func.count())
                .select_from(Link)
                .where(Link.connection_id == connection_id)
            )
            return int(count or 0)

    def status() -> str:
        with system.sessions() as session:
            row = session.get(CommerceFile, stored["id"])
            assert row is not None
            return row.status

    env = product_env(settings, lease_seconds=10)
    port = free_port()
    first = serve(env, port, log)
    try:
        wait_until(lambda: linked() >= 200, 120, "the import to get going")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    partial = linked()
    assert 200 <= partial < ORDERS, "the kill should land mid-import"
    assert status() == "importing"

    second = serve(env, port, log)
    try:
        wait_until(lambda: status() == "imported", 300, "the import to finish after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]

    with system.sessions() as session:
        numbers = session.scalars(
            sa.select(HubRecord.data["source_id"].as_string()).where(
                HubRecord.tenant_id == principal.tenant_id, HubRecord.entity == "order"
            )
        ).all()
        logged = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncLogEntry)
            .where(SyncLogEntry.connection_id == connection_id, SyncLogEntry.outcome == "created")
        )
        row = session.get(CommerceFile, stored["id"])
        assert row is not None
        counts, done = dict(row.counts), row.records_done
    assert len(numbers) == len(set(numbers)) == ORDERS
    assert linked() == ORDERS
    assert logged == ORDERS
    assert (done, counts["records"], counts["created"], counts["problems"]) == (
        ORDERS, ORDERS, ORDERS, 0
    )  # fmt: skip
    system.close()
