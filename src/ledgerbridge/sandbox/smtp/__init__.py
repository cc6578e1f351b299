"""A local SMTP server for the demo and the tests: every message it accepts is written as an
``.eml`` file into a directory, and it can be told to misbehave the way real servers do.

Built on aiosmtpd, on loopback. Security as a shop's server offers it: plain, STARTTLS
(``tls_context``) or implicit TLS (``implicit_tls``), optionally with a login. Faults, each
for the next N transactions (``SinkFaults``):

- ``refuse``: ``550 5.7.1`` to the recipient (a permanent refusal);
- ``tempfail``: ``451 4.3.0`` at the end of the data (the message is not kept);
- ``drop_mid_data``: the connection is reset after the first line of the data, before the
  message's end (nothing kept; the client's data is left unread, so the reset is a TCP RST);
- ``drop_after_data``: the message is kept, then the connection is closed without an answer
  (what a server crashing right after queueing looks like to its client).

Stopping the server and starting it again on the same port is a server that was down.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

FAULTS = ("refuse", "tempfail", "drop_mid_data", "drop_after_data")


@dataclass
class SinkFaults:
    """Faults armed for the next transactions, taken one per transaction."""

    armed: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, fault: str, times: int = 1) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self.armed[fault] += times

    def take(self, fault: str) -> bool:
        with self._lock:
            if self.armed[fault] <= 0:
                return False
            self.armed[fault] -= 1
            self.seen[fault] += 1
            return True

    def clear(self) -> None:
        with self._lock:
            self.armed.clear()


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Close with a TCP reset (linger 0), as a server process that goes away does."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()


class _FaultySMTP(SMTP):
    def __init__(self, handler: Any, faults: SinkFaults, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._faults = faults

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        if (
            envelope is not None
            and envelope.rcpt_tos
            and not arg
            and self._faults.take("drop_mid_data")
        ):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")
            _reset(self.transport)
            # Let the loss of the connection end this session before the lines the reader
            # holds already are taken for commands.
            await asyncio.sleep(0.05)
            return
        await super().smtp_DATA(arg)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._sink.faults.take("refuse"):
            return "550 5.7.1 Relaying denied: recipient refused by policy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._sink.faults.take("tempfail"):
            return "451 4.3.0 Temporary local problem, try again later"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        name = self._sink.keep(content, envelope.mail_from, list(envelope.rcpt_tos))
        if self._sink.faults.take("drop_after_data"):
            transport = server.transport
            if transport is not None:
                transport.close()  # a clean close after the data was read: no answer
            return "250 OK never heard"
        return f"250 2.0.0 Ok: queued as {name}"


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        self._sink = sink
        super().__init__(_Handler(sink), **kwargs)

    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, self._sink.faults, **self.SMTP_kwargs)


@dataclass(frozen=True)
class Received:
    """One message the sink kept."""

    path: Path
    mail_from: str
    rcpt_to: list[str]

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """The server. ``port=0`` picks a free port on the first start and keeps it, so a stop
    and a start is the same server coming back."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.faults = SinkFaults()
        self.utf8 = True
        """Whether the server offers SMTPUTF8 (addresses beyond ASCII), as most do."""
        self._tls = tls_context
        self._implicit = implicit_tls
        self._login = (username, password) if username else None
        self._controller: _Controller | None = None
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._count = 0

    def _free_port(self) -> int:
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            return int(sock.getsockname()[1])

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            self._login is not None
            and isinstance(data, LoginPassword)
            and data.login.decode() == self._login[0]
            and data.password.decode() == self._login[1]
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        if not self.port:
            self.port = self._free_port()
        kwargs: dict[str, Any] = {
            "hostname": self.host, "port": self.port, "enable_SMTPUTF8": self.utf8,
        }  # fmt: skip
        if self._implicit and self._tls is not None:
            kwargs["ssl_context"] = self._tls
        elif self._tls is not None:
            kwargs["tls_context"] = self._tls
        if self._login is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = self._tls is not None
        controller = _Controller(self, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def keep(self, content: bytes, mail_from: str | None, rcpt_to: list[str]) -> str:
        with self._lock:
            self._count += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            name = f"{stamp}-{self._count:05d}"
            path = self.directory / f"{name}.eml"
            path.write_bytes(content)
            self._received.append(Received(path, mail_from or "", rcpt_to))
            return name

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)


def list_messages(directory: Path) -> list[tuple[Path, EmailMessage]]:
    """The ``.eml`` files of a sink's directory, oldest first, parsed."""
    found = []
    for path in sorted(Path(directory).glob("*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append((path, parsed))
    return found
