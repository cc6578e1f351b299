"""One delivery attempt against a real SMTP server on loopback, for each way it can end."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ledgerbridge.mail import smtp
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.mail import backoff
from ledgerbridge.sandbox.smtp import SmtpSink, list_messages
from tests.integration.test_invoice_mail import _self_signed


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "mail").start()
    yield server
    server.stop()


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@example.com", "jane@example.com", "Hi"
    mail.set_content("Line one\n.a line starting with a dot\n" * 20)
    mail.add_attachment(b"%PDF-1.4 " * 500, maintype="application", subtype="pdf",
                        filename="invoice.pdf")  # fmt: skip
    return mail


def send(sink: SmtpSink) -> smtp.Outcome:
    server = smtp.SmtpServer("127.0.0.1", sink.port, security="none", timeout=5)
    return smtp.send(server, message(), "shop@example.com", ["jane@example.com"])


def test_sent_with_the_servers_answer_and_dots_kept(sink: SmtpSink) -> None:
    outcome = send(sink)
    assert (outcome.status, outcome.code, outcome.stage) == ("sent", 250, "end")
    assert "queued as" in outcome.reply
    ((path, received),) = list_messages(sink.directory)
    assert path.suffix == ".eml"
    body = received.get_body(("plain",))
    assert body is not None and ".a line starting with a dot" in body.get_content()
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_content() == b"%PDF-1.4 " * 500


@pytest.mark.parametrize(
    ("fault", "status", "stage", "kept"),
    [
        ("refuse", "refused", "rcpt", 0),
        ("tempfail", "temporary", "end", 0),
        ("drop_mid_data", "temporary", "data", 0),
        ("drop_after_data", "unknown", "end", 1),
    ],
)
def test_faults_are_told_apart(
    sink: SmtpSink, fault: str, status: str, stage: str, kept: int
) -> None:
    sink.faults.arm(fault)
    outcome = send(sink)
    assert (outcome.status, outcome.stage) == (status, stage), outcome
    assert len(sink.received()) == kept


def test_a_server_that_is_down_is_temporary_and_back_is_sent(sink: SmtpSink) -> None:
    sink.stop()
    outcome = send(sink)
    assert (outcome.status, outcome.stage) == ("temporary", "connect")
    sink.start()
    assert send(sink).status == "sent"


def test_starttls_asked_of_a_server_without_it_is_refused(sink: SmtpSink) -> None:
    server = smtp.SmtpServer("127.0.0.1", sink.port, security="starttls", timeout=5)
    outcome = smtp.send(server, message(), "shop@example.com", ["jane@example.com"])
    assert (outcome.status, outcome.stage) == ("refused", "tls")
    assert sink.received() == []


def test_backoff_grows_to_half_an_hour() -> None:
    minutes = [backoff(n).total_seconds() / 60 for n in range(1, 9)]
    assert minutes == [1, 2, 4, 8, 16, 30, 30, 30]


def test_an_address_beyond_ascii_goes_with_smtputf8_where_the_server_offers_it(
    sink: SmtpSink, tmp_path: Path
) -> None:
    mail = message()
    mail.replace_header("To", "jürgen@example.de")
    server = smtp.SmtpServer("127.0.0.1", sink.port, security="none", timeout=5)
    outcome = smtp.send(server, mail, "shop@example.com", ["jürgen@example.de"])
    assert outcome.status == "sent", outcome
    assert sink.received()[0].rcpt_to == ["jürgen@example.de"]

    # A server without SMTPUTF8 cannot take it: refused, never a crash of the job.
    plain = SmtpSink(tmp_path / "plain")
    plain.utf8 = False
    plain.start()
    try:
        server = smtp.SmtpServer("127.0.0.1", plain.port, security="none", timeout=5)
        refused = smtp.send(server, mail, "shop@example.com", ["jürgen@example.de"])
    finally:
        plain.stop()
    assert (refused.status, refused.stage) == ("refused", "mail")
    assert "SMTPUTF8" in refused.reply
    assert plain.received() == []


RAW = (
    "Errno", "ConnectionRefusedError", "gaierror", "SSLError", "_ssl.c", "timed out",
    "SMTPServerDisconnected", "unexpectedly", "ConnectionResetError",
)  # fmt: skip


def plain(outcome: smtp.Outcome) -> str:
    """The outcome's wording as the mail's log, issue and API show it: never the socket's."""
    assert outcome.worded and outcome.description == outcome.reply, outcome
    assert not any(raw in outcome.reply for raw in RAW), outcome.reply
    return outcome.reply


def attempt(port: int, host: str = "127.0.0.1", **server: Any) -> smtp.Outcome:
    settings: dict[str, Any] = {"security": "none", "timeout": 5, **server}
    return smtp.send(
        smtp.SmtpServer(host, port, **settings), message(), "shop@example.com", ["j@example.com"]
    )


def test_a_closed_port_says_where_what_and_what_to_check() -> None:
    port = free_port()
    outcome = attempt(port)
    assert (outcome.status, outcome.stage, outcome.code) == ("temporary", "connect", None)
    assert plain(outcome) == (
        f"could not reach the mail server at 127.0.0.1:{port}: the connection was refused "
        "(nothing answers on that port); check the address and port, and that the service is "
        "running"
    )


def test_a_mail_server_name_that_does_not_resolve() -> None:
    outcome = attempt(25, host="smtp.shop.invalid")
    assert (outcome.status, outcome.stage) == ("temporary", "connect")
    assert plain(outcome) == (
        "could not reach the mail server at smtp.shop.invalid:25: the name smtp.shop.invalid "
        "was not found; check the address for typing errors"
    )


def test_a_mail_server_that_never_greets_timed_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        outcome = attempt(port, timeout=0.3)
    assert (outcome.status, outcome.stage) == ("temporary", "connect")
    assert plain(outcome).startswith(
        f"could not reach the mail server at 127.0.0.1:{port}: it did not answer in time; "
    )


def test_tls_asked_of_a_plain_server_names_the_security_setting(sink: SmtpSink) -> None:
    outcome = attempt(sink.port, security="tls")
    assert (outcome.status, outcome.stage) == ("temporary", "connect")
    assert plain(outcome) == (
        f"could not reach the mail server at 127.0.0.1:{sink.port}: the secure (TLS) "
        "connection could not be set up; check that smtp_security suits the server and port: "
        "tls (usually port 465) for TLS from the first byte, starttls (587 or 25) to upgrade "
        "after connecting, none for neither"
    )


def test_a_certificate_nobody_signed_is_refused_in_plain_words(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with SmtpSink(tmp_path / "secure", tls_context=context).start() as secure:
        outcome = attempt(secure.port, security="starttls")
    assert (outcome.status, outcome.stage) == ("refused", "tls")
    assert plain(outcome).startswith(
        f"could not reach the mail server at 127.0.0.1:{secure.port}: its TLS certificate "
        "could not be verified ("
    )
    assert outcome.reply.endswith("or give the CA bundle of a server with its own certificate")


def test_a_refused_login_names_the_user_and_what_to_check(tmp_path: Path) -> None:
    with SmtpSink(tmp_path / "login", username="shop", password="right").start() as guarded:
        outcome = attempt(guarded.port, username="shop", password="wrong")
        assert guarded.received() == []
    assert (outcome.status, outcome.stage, outcome.code) == ("refused", "auth", 535)
    assert plain(outcome).startswith(
        f"the mail server at 127.0.0.1:{guarded.port} refused the login of shop (535 "
    )
    assert outcome.reply.endswith(
        "); check the SMTP user (smtp_user) and its password (the secret smtp_password)"
    )


class Closes:
    """A server that closes the connection at one step, as a server process that stops does:
    at the recipient (before it has the mail) or once it has the whole mail (before it
    confirms it); or, ``silent``, that keeps the whole mail without a word for two seconds."""

    def __init__(self, at: str) -> None:
        self.at = at
        self.kept: list[bytes] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.at == "rcpt" and server.transport is not None:
            server.transport.close()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.kept.append(envelope.content)
        if self.at == "data" and server.transport is not None:
            server.transport.close()
        if self.at == "silent":
            await asyncio.sleep(2)
        return "250 OK never heard"


@pytest.mark.parametrize(
    ("at", "status", "stage", "kept", "words"),
    [
        ("rcpt", "temporary", "rcpt", 0, "closed the connection while the mail was being sent, "
         "before the server had taken it: the mail was not delivered, and is tried again"),
        ("data", "unknown", "end", 1, "closed the connection after the whole mail was sent, "
         "without confirming it: the mail may have been delivered, so it is not sent again by "
         "itself; check the customer's mailbox or the mail server's log, and retry it only if "
         "it did not arrive"),
        ("silent", "unknown", "end", 1, "did not answer in 1 s after the whole mail was sent, "
         "without confirming it: the mail may have been delivered"),
    ],
)  # fmt: skip
def test_a_server_that_closes_the_connection_says_whether_the_mail_may_have_arrived(
    at: str, status: str, stage: str, kept: int, words: str
) -> None:
    handler = Closes(at)
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        outcome = attempt(server.port, timeout=1)
    finally:
        server.stop()
    assert (outcome.status, outcome.stage) == (status, stage), outcome
    assert len(handler.kept) == kept
    assert plain(outcome).startswith(f"the mail server at 127.0.0.1:{server.port} {words}")


def test_a_connection_reset_in_the_middle_of_the_data_says_the_mail_was_not_taken(
    sink: SmtpSink,
) -> None:
    sink.faults.arm("drop_mid_data")
    outcome = send(sink)
    assert outcome.status == "temporary" and sink.received() == []
    assert plain(outcome).endswith("the mail was not delivered, and is tried again")
    assert f"the mail server at 127.0.0.1:{sink.port}" in outcome.reply


class Garbles:
    """A server that takes the whole mail, then answers its end with ``answer`` as it is:
    no SMTP reply (a proxy's or a broken server's words)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.kept: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.kept.append(envelope.content)
        return self.answer


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("Thanks, got it", ""),
        ("", ""),
        ("999 all good", " (code 999)"),
        ("354 go ahead", " (code 354)"),
        ("x" * 9000, ""),
    ],
    ids=["words", "empty line", "no such code", "not a final reply", "too long"],
)
def test_an_answer_after_the_mail_that_is_not_smtp_says_delivery_is_unknown(
    answer: str, said: str
) -> None:
    handler = Garbles(answer)
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        outcome = attempt(server.port, timeout=2)
    finally:
        server.stop()
    assert (outcome.status, outcome.stage) == ("unknown", "end"), outcome
    assert len(handler.kept) == 1, "the server has the mail: it must not be sent again"
    assert plain(outcome) == (
        f"the mail server at 127.0.0.1:{server.port} answered with something that is not an SMTP "
        f"reply{said} after the whole mail was sent, without confirming it: the mail may have "
        "been delivered, so it is not sent again by itself; check the customer's mailbox or the "
        "mail server's log, and retry it only if it did not arrive; if it happens again, check "
        "that nothing between ledgerbridge and the mail server (a proxy, a firewall or an "
        "antivirus that scans mail) answers in its place"
    )
    assert "no answer" not in outcome.reply
