"""One loopback server per test module whose app each test installs: every test gets a fresh
sandbox without a new port or thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.server import LoopbackServer


class AppSwitch:
    """ASGI app that forwards to whichever app the current test installed."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward one ASGI call."""
        assert self.app is not None, "no sandbox installed for this test"
        await self.app(scope, receive, send)


class SwitchServer(LoopbackServer):
    """The shared server: ``base_url``, and ``switch`` selecting the sandbox app."""

    name = "test sandbox"

    def __init__(self) -> None:
        super().__init__()
        self.switch = AppSwitch()

    def app(self) -> Any:
        return self.switch


def serve_switch() -> Iterator[SwitchServer]:
    """Body of a module-scoped ``live_server`` fixture."""
    with SwitchServer() as server:
        yield server
