"""Serving a sandbox with uvicorn on a background thread, for tests, benchmarks and the demo.

Shared by every vendor's sandbox (never by the clients): only the app and a name differ.
A server given a ``FaultInjector`` serves its app behind it (see ``faults``).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn

from ledgerbridge.sandbox.faults import FaultInjector


def serve_forever(app: Any, faults: FaultInjector, host: str, port: int) -> None:
    """Run a sandbox's app with uvicorn until interrupted (blocking), behind its fault
    injection: what ``ledgerbridge sandbox <system>`` does."""
    uvicorn.run(faults.wrap(app), host=host, port=port, log_level="info")


class LoopbackServer:
    """An ASGI app on ``host:port`` (``port=0`` picks a free one; ``base_url`` tells where it
    landed), started and stopped from Python or as a ``with`` block."""

    name = "sandbox"
    """Shown in the thread's name and in a failure to start."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, faults: FaultInjector | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.faults = faults
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> Any:
        """The ASGI app to serve."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Bind, start serving on a daemon thread and wait until uvicorn accepts requests."""
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on TCP-proto sockets, and
        # without it every response waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app = self.app()
        config = uvicorn.Config(
            app if self.faults is None else self.faults.wrap(app),
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        """Start on entering a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving the ``with`` block."""
        self.stop()
