"""Shared fixtures of the Uniconta sandbox tests: one uvicorn per module, a sandbox per test.

Starting uvicorn costs about 0.2 s, so one server runs per module and an ASGI switch routes each
test's requests to the app of that test's own sandbox. Callback receivers are real
``http.server``s on loopback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, create_app
from tests.sandbox.live import SwitchServer, serve_switch

COMPANY = 12345
OTHER_COMPANY = 22222
USER = "apiuser"
PASSWORD = "secret"
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


live_server = pytest.fixture(scope="module")(serve_switch)


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock at a Tuesday morning in March 2026."""
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[UnicontaSandbox]:
    """Sandbox with company 12345 (user apiuser) and company 22222 (user other)."""
    box = UnicontaSandbox(daily_call_limit=5000, throttle_delay=0.2, clock=clock)
    box.add_company(COMPANY, "Demo ApS")
    box.add_company(OTHER_COMPANY, "Anden Virksomhed A/S")
    box.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    box.add_user(OTHER_COMPANY, "other", "pw2", user_type="Standard")
    yield box
    box.close()


@pytest.fixture
def base_url(live_server: SwitchServer, sandbox: UnicontaSandbox) -> str:
    """URL of the live server, now serving this test's sandbox."""
    live_server.switch.app = create_app(sandbox)
    return live_server.base_url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """HTTP client logged in as ``0012345/apiuser``."""
    with httpx.Client(base_url=base_url, auth=(f"00{COMPANY}/{USER}", PASSWORD)) as http:
        yield http


@dataclass
class Received:
    """One request seen by the callback receiver."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A tiny real HTTP server that records Change URL callbacks."""

    url: str
    requests: list[Received] = field(default_factory=list)
    fail_first: int = 0
    always_fail: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start an ``http.server`` on a free port that answers 200 (or 500 when told to fail)."""
    lock = threading.Lock()
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with lock:
                failing = state.always_fail or state.fail_first > 0
                if state.fail_first > 0:
                    state.fail_first -= 1
                if not failing:
                    state.requests.append(
                        Received(
                            self.command,
                            parts.path,
                            {k: v[0] for k, v in parse_qs(parts.query).items()},
                            json.loads(raw) if raw else None,
                        )
                    )
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/uniconta/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
