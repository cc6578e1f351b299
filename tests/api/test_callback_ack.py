"""A callback is acknowledged while every thread the API shares is busy: its store runs on
threads of its own, so Uniconta is answered at once instead of after the writes queued ahead.
And the shared threads are sized to the database's pool, not to anyio's default."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import sqlalchemy as sa
from anyio.to_thread import current_default_thread_limiter
from fastapi import FastAPI

from ledgerbridge.api.app import API_THREADS, create_app
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import InboxEvent
from tests.integration.conftest import COMPANY, Uniconta, connect, new_tenant, seed

SHARED_THREADS = 2


@pytest.fixture
def blocking_app(system: System) -> Iterator[tuple[FastAPI, threading.Event, threading.Semaphore]]:
    """The product's app with two routes for the test: one shrinks the shared thread pool,
    one holds a shared thread until released."""
    app = create_app(system)
    release, entered = threading.Event(), threading.Semaphore(0)

    @app.post("/_test/shared-threads")
    async def shrink() -> None:
        current_default_thread_limiter().total_tokens = SHARED_THREADS

    @app.get("/_test/hold")
    def hold() -> None:
        entered.release()
        release.wait(30)

    yield app, release, entered
    release.set()


def test_callback_acknowledged_while_shared_threads_are_busy(
    system: System,
    uniconta: Uniconta,
    hub_port: int,
    blocking_app: tuple[FastAPI, threading.Event, threading.Semaphore],
    tmp_path: Path,
) -> None:
    app, release, entered = blocking_app
    server = ServerThread(app, port=hub_port).start()
    tenant = new_tenant(system, f"{server.url}/api/v1")
    holders: list[threading.Thread] = []
    try:
        account = seed(uniconta, 1)[0]
        connection = connect(tenant, uniconta)
        change_url = tenant.api.get(f"/connections/{connection['id']}").json()["change_url"]
        httpx.post(f"{server.url}/_test/shared-threads").raise_for_status()
        holders = [
            threading.Thread(
                target=httpx.get, args=(f"{server.url}/_test/hold",), kwargs={"timeout": 60}
            )
            for _ in range(SHARED_THREADS)
        ]
        for holder in holders:
            holder.start()
        for _ in holders:
            assert entered.acquire(timeout=10), "the shared threads were not taken"

        answer = httpx.get(
            change_url,
            params={"CompanyId": str(COMPANY), "Table": "Debtor", "Key": account},
            timeout=5,
        )

        assert answer.status_code == 200, answer.text
        with system.sessions() as session:
            stored = session.scalars(
                sa.select(InboxEvent.payload).where(InboxEvent.connection_id == connection["id"])
            ).all()
        assert [event["query"]["Key"] for event in stored] == [account]
    finally:
        release.set()
        for holder in holders:
            holder.join(timeout=30)
        tenant.api.close()
        server.stop()


def test_the_served_app_shares_fewer_threads_than_anyio_gives(system: System) -> None:
    """At start-up (its lifespan, which ``serve`` runs) the app sizes the shared thread pool
    (``API_THREADS``, not anyio's 40): more threads than pooled connections would only wait."""
    app = create_app(system)

    async def started() -> float:
        async with app.router.lifespan_context(app):
            return current_default_thread_limiter().total_tokens

    assert anyio.run(started) == API_THREADS


def test_a_url_known_lately_skips_its_read_and_is_still_checked_when_stored(
    system: System, uniconta: Uniconta, hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system calling again within a minute is not looked up before its body is read (a
    spy counts the look-ups); the store still checks the URL, so a deleted connection's
    callbacks are refused at once."""
    tenant = new_tenant(system, hub)
    account = seed(uniconta, 1)[0]
    connection = connect(tenant, uniconta)
    change_url = tenant.api.get(f"/connections/{connection['id']}").json()["change_url"]
    looked_up: list[str] = []
    knows = system.connections.knows

    def counted(connection_id: str, token: str) -> bool:
        looked_up.append(connection_id)
        return knows(connection_id, token)

    monkeypatch.setattr(system.connections, "knows", counted)
    params = {"CompanyId": str(COMPANY), "Table": "Debtor", "Key": account}
    for _ in range(3):
        assert httpx.get(change_url, params=params, timeout=10).status_code == 200
    assert looked_up == [connection["id"]]

    assert tenant.api.delete(f"/connections/{connection['id']}").status_code == 200
    refused = httpx.get(change_url, params=params, timeout=10)
    assert refused.status_code == 404 and refused.json()["detail"] == "unknown callback URL"
    with system.sessions() as session:
        stored = session.scalar(
            sa.select(sa.func.count())
            .select_from(InboxEvent)
            .where(InboxEvent.connection_id == connection["id"])
        )
    assert stored == 0  # the deleted connection's events went with it, and none came after
    tenant.api.close()
