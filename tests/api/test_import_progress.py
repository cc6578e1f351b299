"""An import's progress as the connection's status shows it: records done never above the
total, and no total where one is not known."""

from __future__ import annotations

from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import Run
from tests.integration.conftest import Tenant, Uniconta, connect


def progress_of(
    system: System, tenant: Tenant, cid: str, counts: dict[str, int], totals: dict[str, int]
) -> dict[str, Any]:
    """The progress shown for an import run that has got this far."""
    with system.sessions.begin() as session:
        session.add(
            Run(connection_id=cid, kind="import", status="running", counts=counts,
                totals=totals, calls=12, started_at=system.clock.now())
        )  # fmt: skip
    progress: dict[str, Any] = tenant.api.get(f"/connections/{cid}").json()["import_progress"]
    return progress


def test_records_read_beyond_their_count_raise_the_total_and_other_counts_are_no_records(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connect(tenant, uniconta)["id"]
    # 80 customers counted when the import began; 2 more were made meanwhile and read too,
    # and the connector did something besides records (switched a webhook on again).
    progress = progress_of(
        system, tenant, cid,
        {"customers.created": 78, "customers.unchanged": 4, "webhooks.revived": 1},
        {"customers": 80, "products": 30},
    )  # fmt: skip
    assert progress["streams"] == {
        "customers": {"created": 78, "unchanged": 4, "total": 82},
        "products": {"total": 30},
    }
    assert (progress["records_done"], progress["records_total"]) == (82, 112)
    assert progress["eta_seconds"] is not None


def test_a_stream_read_without_a_count_leaves_the_total_unknown(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connect(tenant, uniconta)["id"]
    progress = progress_of(
        system, tenant, cid, {"customers.created": 80, "invoices.created": 5}, {"customers": 80}
    )
    assert progress["streams"]["invoices"] == {"created": 5, "total": None}
    assert (progress["records_done"], progress["records_total"]) == (85, None)
    assert progress["eta_seconds"] is None
