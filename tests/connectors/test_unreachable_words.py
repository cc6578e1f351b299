"""A connection that fails is told in plain words: the host, what happened and what to check,
never the HTTP library's text. Each case is a real failure on loopback (a closed port, a name
that cannot resolve, a server that never answers, one with a certificate nobody signed)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerbridge.connectors.kit.http import Unreachable, in_plain_words, transport_failure
from ledgerbridge.runtime.http import free_port

RAW = ("Errno", "ConnectError", "getaddrinfo", "_ssl.c", "Max retries", "HTTPConnectionPool")


def failure(url: str, timeout: float = 5.0) -> httpx.TransportError:
    with pytest.raises(httpx.TransportError) as caught:
        httpx.get(url, timeout=timeout)
    return caught.value


def plain(exc: BaseException) -> str:
    words = in_plain_words(exc)
    assert not any(raw in words for raw in RAW), words
    return words


def test_a_closed_port_is_refused() -> None:
    port = free_port()
    words = plain(failure(f"http://127.0.0.1:{port}/api"))
    assert words == (
        f" at 127.0.0.1:{port}: the connection was refused (nothing answers on that port); "
        "check the address and port, and that the service is running"
    )
    refused = transport_failure(
        "Uniconta", "GET", "/api", failure(f"http://127.0.0.1:{port}/api"), sent=False, write=False
    )
    assert isinstance(refused, Unreachable)
    assert str(refused) == f"could not reach Uniconta{words}"


def test_a_name_that_does_not_resolve() -> None:
    words = plain(failure("https://uniconta.invalid/api"))
    assert words == (
        " at uniconta.invalid: the name uniconta.invalid was not found; check the address for "
        "typing errors"
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


def test_a_server_that_never_answers_timed_out(silent_port: int) -> None:
    words = plain(failure(f"http://127.0.0.1:{silent_port}/", timeout=0.3))
    assert words.startswith(f" at 127.0.0.1:{silent_port}: it did not answer in time; ")


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[int]:
    """A TLS server on loopback whose certificate nobody signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()  # the client gave up on the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_a_certificate_nobody_signed(self_signed: int) -> None:
    words = plain(failure(f"https://127.0.0.1:{self_signed}/"))
    assert words.startswith(
        f" at 127.0.0.1:{self_signed}: its TLS certificate could not be verified ("
    )
    assert words.endswith(
        "); check that the address is the system's own, or give the CA bundle of a server "
        "with its own certificate"
    )


def test_requests_failures_read_the_same() -> None:
    """Yuki's SOAP client goes through requests, which words its failures its own way."""
    port = free_port()
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{port}/ws", timeout=5)
    assert plain(caught.value) == plain(failure(f"http://127.0.0.1:{port}/ws"))
