"""Webhook deliveries are queued when one is due, never by the minute: an idle installation
adds no job, and a retry whose backoff has passed still goes out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.tenancy import WebhookDelivery


class FlakyReceiver:
    """A real HTTP endpoint for the app: answers 500 to the first post, 204 after."""

    def __init__(self) -> None:
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                self.send_response(500 if receiver.posts == 1 else 204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def system(db_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[System]:
    settings = Settings(
        database_url=db_url,
        secret_keys=Fernet.generate_key().decode(),
        secret_key_file=tmp_path / "unused.key",
        worker_concurrency=1,
    )
    built = System(settings, clock=clock)
    yield built
    built.close()


def delivery_jobs(system: System) -> list[str]:
    return [job.status for job in system.queue.list(limit=1000) if job.kind == "deliver_webhooks"]


def test_an_idle_installation_queues_no_delivery_job(system: System, clock: ManualClock) -> None:
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        system.run_until_idle()
    assert delivery_jobs(system) == []
    assert [s.kind for s in system.scheduler.list("system")] == ["retention"]


def test_a_due_retry_is_queued_and_delivered(system: System, clock: ManualClock) -> None:
    receiver = FlakyReceiver()
    try:
        issued = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        system.webhooks.subscribe(principal, receiver.url, ["party.created"])
        system.records.create(principal, "party", {"name": "Hook ApS"})
        system.run_until_idle()
        assert receiver.posts == 1  # refused: the delivery waits for its retry
        assert delivery_jobs(system) == ["done"]

        clock.advance(timedelta(seconds=10))  # the backoff (30 s) has not passed
        system.run_until_idle()
        assert delivery_jobs(system) == ["done"]

        clock.advance(timedelta(seconds=25))
        system.run_until_idle()
        assert receiver.posts == 2
        assert delivery_jobs(system) == ["done", "done"]
        with system.sessions() as session:
            assert [row.status for row in session.query(WebhookDelivery)] == ["delivered"]
    finally:
        receiver.server.shutdown()


def test_a_delivery_whose_job_was_lost_is_found_by_the_tick(system: System) -> None:
    """A crash between the delivery's commit and its job's enqueue loses no delivery: the
    next tick sees it due."""
    receiver = FlakyReceiver()
    receiver.posts = 1  # answers 204 from now on
    try:
        issued = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        system.webhooks.subscribe(principal, receiver.url, ["party.created"])
        system.webhooks.on_pending = lambda: None  # the enqueue after commit never happens
        system.records.create(principal, "party", {"name": "Hook ApS"})
        assert delivery_jobs(system) == []
        system.run_until_idle()
        assert receiver.posts == 2
    finally:
        receiver.server.shutdown()
