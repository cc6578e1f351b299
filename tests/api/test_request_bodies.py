"""Request bodies are bounded, and a callback's token is checked before its body is read.

The app is called as the ASGI server calls it, with a body handed over in chunks on demand,
so each test can count how much of a 200 MB body the hub asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta, connect

CHUNK = 64 * 1024
HUGE = 200 * 1024 * 1024


@dataclass
class Answer:
    status: int
    chunks_read: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def call(
    system: System,
    method: str,
    path: str,
    *,
    size: int,
    declared: bool,
    content_type: str = "application/json",
    payload: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Answer:
    """One request of ``size`` bytes (or ``payload``), sent chunk by chunk when asked for."""
    app = create_app(system)
    data = payload if payload is not None else None
    total = len(data) if data is not None else size
    sent = {"chunks": 0, "bytes": 0}
    raw = [(b"content-type", content_type.encode()), *(headers or [])]
    if declared:
        raw.append((b"content-length", str(total).encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": raw, "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000), "app": app,
    }  # fmt: skip
    answer = Answer(0, 0)

    async def receive() -> dict[str, Any]:
        if sent["bytes"] >= total and sent["chunks"]:
            await asyncio.sleep(3600)  # the client waits for the answer
        piece = (
            data[sent["bytes"] : sent["bytes"] + CHUNK]
            if data is not None
            else b"x" * min(CHUNK, total - sent["bytes"])
        )
        sent["chunks"] += 1
        sent["bytes"] += len(piece)
        return {"type": "http.request", "body": piece, "more_body": sent["bytes"] < total}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    answer.chunks_read = sent["chunks"]
    return answer


@pytest.fixture
def callback(tenant: Tenant, uniconta: Uniconta) -> Iterator[str]:
    """The path of a Uniconta connection's Change URL."""
    connection = connect(tenant, uniconta)
    url = str(connection["change_url"])
    yield url[url.index("/api/v1/inbound/") :]


@pytest.mark.parametrize("declared", [True, False])
def test_an_unknown_callback_url_is_refused_before_its_body_is_read(
    system: System, callback: str, declared: bool
) -> None:
    wrong_token = callback.rsplit("/", 1)[0] + "/not-the-token"
    for path in (wrong_token, "/api/v1/inbound/no-such-connection/token"):
        answer = call(system, "POST", path, size=HUGE, declared=declared)
        assert (answer.status, answer.chunks_read) == (404, 0)


def test_a_callback_body_over_the_limit_is_refused_by_its_declared_length(
    system: System, callback: str
) -> None:
    answer = call(system, "POST", callback, size=HUGE, declared=True)
    assert (answer.status, answer.chunks_read) == (413, 0)
    assert b"LEDGERBRIDGE_MAX_BODY_BYTES" in answer.body


def test_a_chunked_callback_body_is_read_only_up_to_the_limit(
    system: System, callback: str
) -> None:
    answer = call(system, "POST", callback, size=HUGE, declared=False)
    assert answer.status == 413
    assert answer.chunks_read <= system.settings.max_body_bytes // CHUNK + 1


def test_a_callback_within_the_limit_is_stored(system: System, callback: str) -> None:
    body = b'{"Table": "DebtorClient", "Key": "10001"}' + b" " * (1024 * 1024)
    answer = call(system, "POST", callback, size=0, declared=False, payload=body)
    assert answer.status == 200, answer.body


def test_a_callback_body_with_a_nul_is_refused(system: System, callback: str) -> None:
    answer = call(
        system,
        "POST",
        callback,
        size=0,
        declared=True,
        payload=b"Key=1\x00",
        content_type="text/plain",
    )
    assert answer.status == 422


def test_an_api_body_over_the_limit_is_refused_before_it_is_read(
    system: System, tenant: Tenant
) -> None:
    headers = [(b"authorization", f"Bearer {tenant.api_key}".encode())]
    declared = call(system, "POST", "/api/v1/parties", size=HUGE, declared=True, headers=headers)
    assert (declared.status, declared.chunks_read) == (413, 0)
    chunked = call(system, "POST", "/api/v1/parties", size=HUGE, declared=False, headers=headers)
    assert chunked.status == 413
    assert chunked.chunks_read <= system.settings.max_body_bytes // CHUNK + 1
