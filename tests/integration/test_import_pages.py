"""An import page's new records are written in bulk (one INSERT per table): each still has its
link, its log row, its change with its feed position and history, and its webhook outbox row,
in the page's transaction; reading the pages again writes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.sync import Cursor, Link, Run, SyncLogEntry
from ledgerbridge.store.tables.tenancy import WebhookDelivery
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed

DEBTORS, PAGE = 250, 100


def _count(system: System, model: type, *where: sa.ColumnElement[bool]) -> int:
    with system.sessions() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


def test_bulk_created_records_have_links_log_rows_changes_and_webhooks(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, DEBTORS)
    hook = tenant.api.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["party.created"]}
    )
    assert hook.status_code == 201, hook.text
    connection = connect(tenant, uniconta, settings={"page_size": PAGE})
    import_all(system, tenant, connection["id"])

    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run).where(Run.connection_id == connection["id"], Run.kind == "import")
        ).one()
        records = {
            r.id: r
            for r in session.scalars(sa.select(HubRecord).where(HubRecord.entity == "party"))
        }
        links = session.scalars(sa.select(Link).where(Link.connection_id == connection["id"]))
        by_record = {link.record_id: link for link in links}
        changes = list(
            session.scalars(
                sa.select(Change).where(Change.tenant_id == tenant.tenant_id).order_by(Change.seq)
            )
        )
        logged = session.execute(
            sa.select(SyncLogEntry.record_id, SyncLogEntry.remote_id, SyncLogEntry.run_id).where(
                SyncLogEntry.connection_id == connection["id"], SyncLogEntry.outcome == "created"
            )
        ).all()
        deliveries = list(session.scalars(sa.select(WebhookDelivery)))

    assert run.counts == {"customers.created": DEBTORS}
    assert sorted(r.data["debtor_number"] for r in records.values()) == sorted(accounts)
    assert set(by_record) == set(records)
    for record_id, link in by_record.items():
        assert link.hub_hash == records[record_id].content_hash
        assert records[record_id].version == 1 and not records[record_id].deleted
    # One change per record, numbered 1, 2, 3 … in the order written, with its history.
    assert [c.position for c in changes] == list(range(1, DEBTORS + 1))
    assert [c.record_id for c in changes if c.operation == "created"] == [
        c.record_id for c in changes
    ]
    for change in changes:
        data = records[change.record_id].data
        assert change.diff == {k: [None, v] for k, v in data.items() if v is not None}
        assert (change.version, change.run_id, change.actor) == (1, run.id, None)
        assert change.origin == f"connection:{connection['id']}"
    assert sorted(logged) == sorted(
        (link.record_id, link.remote_id, run.id) for link in by_record.values()
    )
    assert sorted(d.payload["record_id"] for d in deliveries) == sorted(records)
    assert {d.event_type for d in deliveries} == {"party.created"}
    assert sorted(d.payload["seq"] for d in deliveries) == list(range(1, DEBTORS + 1))


def test_pages_read_again_write_nothing(system: System, tenant: Tenant, uniconta: Uniconta) -> None:
    seed(uniconta, DEBTORS)
    connection = connect(tenant, uniconta, settings={"page_size": PAGE})
    import_all(system, tenant, connection["id"])
    tables = (HubRecord, Change, Link, SyncLogEntry)
    before = [_count(system, table) for table in tables]

    # As after a crash between a page's commit and the next: the import starts over from
    # the beginning and meets every record it already wrote.
    with system.sessions.begin() as session:
        session.execute(sa.delete(Cursor).where(Cursor.connection_id == connection["id"]))
    import_all(system, tenant, connection["id"])
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()

    assert [_count(system, table) for table in tables] == before
    with system.sessions() as session:
        counts = [
            (run.kind, run.counts)
            for run in session.scalars(
                sa.select(Run)
                .where(Run.connection_id == connection["id"], Run.kind.in_(("import", "pull")))
                .order_by(Run.started_at)
            )
        ]
    assert counts == [
        ("import", {"customers.created": DEBTORS}),
        ("import", {"customers.unchanged": DEBTORS}),
        ("pull", {"customers.unchanged": DEBTORS}),
    ]
