"""What a failed network connection came to, in plain words, for the person who set the address
up: the host, what happened (refused, name not found, timed out, a TLS problem) and what to
check. One wording for every way the hub reaches out: the systems' HTTP clients
(``connectors.kit.http.in_plain_words``), webhook deliveries and the invoice mail's SMTP
server. Free of any client library, and below every layer (``mail`` sits below
``connectors``): each caller finds its own host and says what its own timeouts and TLS
settings look like.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def failed_connection(
    exc: BaseException,
    host: str,
    *,
    secure_check: str,
    timed_out: bool = False,
    cut_off: bool = False,
) -> str:
    """`` at <host>: <what>; <check>`` for a connection that failed with ``exc`` (the
    socket's error is looked for under the client library's wrappers). ``secure_check`` is
    what to check when TLS could not be set up (an https:// address, an SMTP security mode);
    ``timed_out`` and ``cut_off`` are the caller's library saying so in its own exceptions."""
    at = f" at {host}" if host else ""
    name = host.rsplit(":", 1)[0] if host else "the host"
    causes = list(_causes(exc))
    certificate = _first(causes, ssl.SSLCertVerificationError)
    if certificate is not None:
        why = certificate.verify_message or "it is not trusted"
        return (
            f"{at}: its TLS certificate could not be verified ({why}); check that the address "
            "is the system's own, or give the CA bundle of a server with its own certificate"
        )
    if _first(causes, ssl.SSLError) is not None:
        return f"{at}: the secure (TLS) connection could not be set up; {secure_check}"
    if _first(causes, socket.gaierror) is not None:
        return f"{at}: the name {name} was not found; check the address for typing errors"
    if _first(causes, ConnectionRefusedError) is not None:
        return (
            f"{at}: the connection was refused (nothing answers on that port); check the "
            "address and port, and that the service is running"
        )
    if timed_out or _first(causes, TimeoutError) is not None:
        return (
            f"{at}: it did not answer in time; check the address, and that a firewall or "
            "proxy lets this server reach it"
        )
    if cut_off or _first(causes, ConnectionResetError) is not None:
        return f"{at}: the connection was cut off before an answer came; it is tried again"
    return f"{at}: the connection failed; check the address and this server's network"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every one under it: its cause and context, a wrapper's ``reason``
    (urllib3) and the exceptions it was given as arguments (requests)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        under = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        under.extend(current.args)
        todo.extend(e for e in under if isinstance(e, BaseException))


def _first(causes: list[BaseException], kind: type[E]) -> E | None:
    return next((e for e in causes if isinstance(e, kind)), None)
