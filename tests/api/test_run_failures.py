"""A run that fails unexpectedly says so briefly; the detail goes to the log, never the API."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import Run
from tests.integration.conftest import Tenant, Uniconta, connect, seed


def test_a_database_error_is_no_raw_sql_in_the_status(
    system: System, tenant: Tenant, uniconta: Uniconta, caplog: pytest.LogCaptureFixture
) -> None:
    seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    # A damaged database: the table of the streams' cursors is gone.
    with system.sessions.begin() as session:
        session.execute(sa.text("ALTER TABLE cursors RENAME TO cursors_lost"))
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    with caplog.at_level(logging.ERROR, logger="ledgerbridge.runtime.jobs"):
        system.run_until_idle()

    with system.sessions() as session:
        [run] = session.scalars(sa.select(Run).where(Run.connection_id == connection["id"]))
    assert (run.status, run.message) == ("failed", "database error (see the log)")
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["last_error"] == "database error (see the log)"
    assert "cursors" not in str(status) and "SELECT" not in str(status).upper()
    # The operator still finds what went wrong, with the run it belongs to.
    logged = [r for r in caplog.records if r.name == "ledgerbridge.runtime.jobs"]
    assert any(run.id in r.getMessage() and "cursors" in str(r.exc_info[1]) for r in logged)
