"""The change feed in commit order: no reader (the push, ``GET /changes``, outbound webhooks)
passes a change that commits late.

Writers hold their transactions open (before and after their feed positions are taken) while
readers poll, the situation in which an autoincrement cursor skips a change for good.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.hub import API_ORIGIN
from ledgerbridge.runtime.system import System
from ledgerbridge.store.db import alembic_config, create_db_engine
from ledgerbridge.store.hooks import after_commit
from ledgerbridge.store.tables.hub import Change, ChangeRow, FeedCounter
from ledgerbridge.store.tables.sync import Cursor, Link
from ledgerbridge.store.tables.tenancy import WebhookDelivery
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all

WRITERS = 4
RECORDS_EACH = 25


def _party(writer: int, n: int) -> dict[str, Any]:
    return validate(
        "party",
        {"name": f"Writer {writer} customer {n}", "is_customer": True,
         "debtor_number": f"{80000 + writer * 100 + n}"},
    )  # fmt: skip


def test_concurrent_writers_every_change_reaches_the_push_and_get_changes_once(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    hook = tenant.api.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["party.created"]}
    )
    assert hook.status_code == 201, hook.text
    rng = random.Random(10)

    def after_positions_taken(session: Session, changes: list[ChangeRow]) -> None:
        time.sleep(rng.uniform(0, 0.02))  # positions taken, commit still to come

    system.hub.listeners.append(after_positions_taken)
    writing = threading.Event()
    writing.set()
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for n in range(RECORDS_EACH):
                with system.sessions.begin() as session:
                    system.hub.create(
                        session, tenant.tenant_id, "party", _party(number, n), API_ORIGIN
                    )
                    time.sleep(rng.uniform(0, 0.03))  # row inserted, not yet numbered
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    seen: list[dict[str, Any]] = []

    def app_reader() -> None:
        """An app following GET /changes with its ``next`` cursor, polling fast."""
        cursor = 0
        while True:
            finished = not writing.is_set()
            page = tenant.api.get("/changes", params={"after": cursor, "limit": 7}).json()
            seen.extend(page["items"])
            cursor = page["next"]
            if finished and not page["items"]:
                return
            time.sleep(0.005)

    def pusher() -> None:
        """The worker: pushes start while the writers are still writing."""
        while writing.is_set():
            system.run_until_idle()
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    readers = [threading.Thread(target=app_reader), threading.Thread(target=pusher)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join(120)
    writing.clear()
    for thread in readers:
        thread.join(120)
    system.run_until_idle()
    assert failures == []

    total = WRITERS * RECORDS_EACH
    positions = [item["seq"] for item in seen]
    assert positions == list(range(1, total + 1)), "every change once, in commit order"
    assert len({item["record_id"] for item in seen}) == total

    numbers = sorted(
        _party(w, n)["debtor_number"] for w in range(WRITERS) for n in range(total // WRITERS)
    )
    debtors = sorted(d["Account"] for d in uniconta.sandbox.all(COMPANY, "DebtorClient"))
    assert debtors == numbers, "every change reached the push, none twice"
    with system.sessions() as session:
        webhooks = [
            d.payload["seq"]
            for d in session.scalars(sa.select(WebhookDelivery))
            if d.payload["event"] == "party.created"
        ]
        links = session.scalar(
            sa.select(sa.func.count())
            .select_from(Link)
            .where(Link.connection_id == connection["id"])
        )
        push_cursor = session.get(Cursor, (connection["id"], "push"))
    assert sorted(webhooks) == list(range(1, total + 1)), "one webhook per change, by position"
    assert links == total
    assert push_cursor is not None and push_cursor.value == str(total)


def test_positions_continue_from_the_cursors_handed_out_before(db_url: str) -> None:
    """Upgrading keeps every cursor valid: old changes get their ``seq`` as position, and
    each tenant's counter continues from its highest one."""
    engine = create_db_engine(db_url)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
        connection.execute(
            sa.text("INSERT INTO tenants (id, name, created_at) VALUES (:id, :id, :at)"),
            [{"id": t, "at": "2026-12-01 10:00:00"} for t in ("t1", "t2")],
        )
        for seq, tenant in enumerate(["t1", "t2", "t1", "t1", "t2"], start=1):
            connection.execute(
                sa.text(
                    "INSERT INTO changes (seq, tenant_id, entity, record_id, version, "
                    "operation, origin, at) VALUES (:seq, :tenant, 'party', :rid, 1, "
                    "'created', 'api', '2026-12-01 10:00:00')"
                ),
                {"seq": seq, "tenant": tenant, "rid": f"r{seq}"},
            )
        command.upgrade(alembic_config(connection), "head")
    with engine.connect() as connection:
        positions = connection.execute(
            sa.select(Change.seq, Change.position).order_by(Change.seq)
        ).all()
        counters = dict(
            connection.execute(sa.select(FeedCounter.tenant_id, FeedCounter.last)).all()
        )
    engine.dispose()
    assert [tuple(row) for row in positions] == [(s, s) for s in range(1, 6)]
    assert counters == {"t1": 4, "t2": 5}


def test_a_savepoint_neither_drops_nor_releases_what_waits_for_the_commit(
    system: System, tenant: Tenant
) -> None:
    """A savepoint inside a writing transaction (a job deferred in it, a race retried) is not
    the commit: the transaction's changes and its after-commit work wait for the real one."""
    released: list[int] = []
    with system.sessions.begin() as session:
        system.hub.create(session, tenant.tenant_id, "party", _party(0, 1), API_ORIGIN)
        after_commit(session, lambda: released.append(len(released)))
        with session.begin_nested():
            pass  # released
        assert released == []
        savepoint = session.begin_nested()
        system.hub.create(session, tenant.tenant_id, "party", _party(0, 2), API_ORIGIN)
        kept = system.hub.create(session, tenant.tenant_id, "party", _party(0, 3), API_ORIGIN)
        savepoint.rollback()
        assert released == []
        updated = system.hub.create(session, tenant.tenant_id, "party", _party(0, 4), API_ORIGIN)
        session.flush()
        savepoint = session.begin_nested()
        system.hub.update(session, updated, {**updated.data, "name": "Renamed"}, API_ORIGIN)
        savepoint.rollback()
        system.hub.update(session, updated, {**updated.data, "name": "Renamed again"}, API_ORIGIN)
    assert released == [0]
    assert kept not in session
    page = tenant.api.get("/changes").json()
    assert [(i["seq"], i["operation"], i["version"]) for i in page["items"]] == [
        (1, "created", 1), (2, "created", 1), (3, "updated", 2),
    ]  # fmt: skip
