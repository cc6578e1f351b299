"""A client that hangs up before its whole body arrived is not served: the handler never sees
the cut body (which may still parse as JSON), nothing is stored, and the server raises no
error. A webhook sender does this when its own timeout passes; it sends the event again.

The requests are written by hand on a socket, as only that can send part of a body."""

from __future__ import annotations

import queue
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import InboxEvent
from tests.integration.conftest import Tenant, Uniconta, connect, new_tenant

Finished = queue.Queue[tuple[str, BaseException | None]]


class Served:
    """The product's app, reporting each request it finished and what it raised, if anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.finished: Finished = queue.Queue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.finished.put((scope["path"], exc))
            raise
        self.finished.put((scope["path"], None))

    def outcome(self, path: str) -> BaseException | None:
        """What the next request to ``path`` to finish raised (earlier ones are passed over)."""
        while True:
            finished, raised = self.finished.get(timeout=10)
            if finished == path:
                return raised


@pytest.fixture
def served(system: System, hub_port: int) -> Iterator[tuple[Served, str]]:
    app = Served(create_app(system))
    server = ServerThread(app, port=hub_port).start()
    yield app, server.url
    server.stop()


def hang_up(url: str, headers: dict[str, str], sent: bytes, declared: int) -> None:
    """POST ``sent`` while declaring ``declared`` bytes, then close the connection."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + sent
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)


def parties(tenant: Tenant) -> list[object]:
    return list(tenant.api.get("/parties").json()["items"])


def test_a_cut_api_body_that_parses_as_json_stores_nothing(
    system: System, served: tuple[Served, str]
) -> None:
    app, url = served
    tenant = new_tenant(system, f"{url}/api/v1")
    headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}
    whole = b'{"name": "Nordlys Handel ApS"}'
    hang_up(f"{url}/api/v1/parties", headers, whole, declared=len(whole) + 40)

    assert app.outcome("/api/v1/parties") is None
    assert parties(tenant) == []
    tenant.api.close()


def test_a_callback_cut_short_stores_nothing_and_raises_nothing(
    system: System, uniconta: Uniconta, served: tuple[Served, str]
) -> None:
    app, url = served
    tenant = new_tenant(system, f"{url}/api/v1")
    connection = connect(tenant, uniconta)
    change_url = tenant.api.get(f"/connections/{connection['id']}").json()["change_url"]
    hang_up(change_url, {"Content-Type": "application/json"}, b'{"Table": "Deb', declared=200)

    assert app.outcome(urlsplit(change_url).path) is None
    with system.sessions() as session:
        stored = session.scalar(
            sa.select(sa.func.count())
            .select_from(InboxEvent)
            .where(InboxEvent.connection_id == connection["id"])
        )
    assert stored == 0
    tenant.api.close()
