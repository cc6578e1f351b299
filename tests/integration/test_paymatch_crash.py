"""A hub killed with SIGKILL after Uniconta stored a payout's journal lines and before the hub
heard so: the next process finds the lines by their reference number and links them, and
the cash journal holds them once.

The server runs as a real child process (``ledgerbridge serve``) on the test's database; the
Uniconta sandbox, in the test process, holds its answer to the insert until the kill.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Link, SyncLogEntry
from tests.integration.conftest import COMPANY, Tenant, Uniconta
from tests.integration.processes import product_env, serve, wait_until
from tests.integration.test_paymatch import TOTAL, charge, journal, pay_out, place, shop

__all__ = ["shop"]  # the fixture, shared with the scenarios

LINE = "GLDailyJournalLineClient"


def test_sigkill_between_the_insert_and_its_record_inserts_the_lines_once(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    number = place(system, tenant, shop, "6100")
    sandbox = uniconta.sandbox
    insert = sandbox.api_insert
    stored = threading.Event()
    release = threading.Event()

    def held(company_id: int, entity: str, items: Sequence[Mapping[str, Any]]) -> Any:
        """Store the lines, then keep the answer until the process that asked is dead."""
        rows = insert(company_id, entity, items)
        if entity == LINE and not release.is_set():
            stored.set()
            release.wait(60)
        return rows

    sandbox.api_insert = held  # type: ignore[method-assign]
    pay_out(tenant, "po_crash", charge("t1", TOTAL, "4.48", order_ref="6100"))

    def linked() -> int:
        with system.sessions() as session:
            count = session.scalar(
                sa.select(sa.func.count())
                .select_from(Link)
                .where(Link.connection_id == shop["cid"], Link.stream == "cash_journal")
            )
            return int(count or 0)

    log = tmp_path / "serve.log"
    env = product_env(settings, lease_seconds=2)
    port = free_port()
    first = serve(env, port, log)
    try:
        wait_until(stored.is_set, 120, "the journal lines to be stored in Uniconta")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        release.set()
    assert linked() == 0, "killed before the hub heard of the insert"
    assert len(journal(uniconta, "po_crash")) == 3

    second = serve(env, port, log)
    try:
        wait_until(lambda: linked() == 1, 120, "the posting to be linked after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
    assert journal(uniconta, "po_crash") == [
        ("5820", "-298.75", number),
        ("7220", "4.48", None),
        ("5900", "294.27", None),
    ]
    assert len(sandbox.all(COMPANY, LINE)) == 3
    with system.sessions() as session:
        recovered = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncLogEntry)
            .where(
                SyncLogEntry.connection_id == shop["cid"],
                SyncLogEntry.stream == "cash_journal",
                SyncLogEntry.reason_code == "recovered_after_ambiguous_write",
            )
        )
    assert recovered == 1
