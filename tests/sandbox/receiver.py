"""A real HTTP server on loopback that records the POSTs a sandbox delivers (webhooks, Pusher
events): what the webhook tests of the sandboxes receive with."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST seen by the receiver."""

    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """What the server has seen; ``status`` is what it answers (a test sets it to fail)."""

    url: str = ""
    status: int = 200
    seen: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def receiving(state: Receiver | None = None) -> Iterator[Receiver]:
    """A receiver at ``<state>.url`` (``…/hook``) until the block ends."""
    found = state if state is not None else Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with found.lock:
                found.seen.append(Received(dict(self.headers.items()), raw))
                status = found.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
