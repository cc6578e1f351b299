"""One delivery attempt against a real SMTP server on loopback, for each way it can end."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from ledgerbridge.mail import smtp
from ledgerbridge.runtime.mail import backoff
from ledgerbridge.sandbox.smtp import SmtpSink, list_messages


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
