"""Sending one message through the shop's own SMTP server (stdlib ``smtplib``), with an
outcome that says what is known about delivery rather than an exception.

The SMTP transaction is driven step by step (``MAIL``, ``RCPT``, ``DATA``, the message, the
final reply) so that a failure can be placed exactly:

- before the message's final ``.`` has been sent (refused connection, reset, timeout, a 4xx
  reply, a drop in the middle of the data), the server has taken nothing: the mail is
  ``temporary`` and safe to send again;
- a 5xx reply at any step is the server's refusal: ``refused``, with its reply;
- after the final ``.`` the server owns the outcome: a 250 is ``sent``; a connection closed, a
  timeout while waiting for that reply, or an answer that is not an SMTP reply (``_garbled``)
  is ``unknown`` (the server may have queued the mail), which is never resent blindly
  (RFC 1047's duplicate-message problem). A TCP reset there is
  the exception: a server that resets has left our data unread, so it never saw the end.

A server that cannot be reached (refused, name not found, timeout, TLS) or that refuses the
login is told in plain words, where, what happened and what to check, with the wording the
systems' HTTP clients use for the network part (``ledgerbridge.network``). A connection lost
partway through (``_lost``) says so too, and whether the mail may have been delivered.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Literal

from ledgerbridge.network import failed_connection

Security = Literal["none", "starttls", "tls"]
Status = Literal["sent", "temporary", "refused", "unknown"]

SECURE_CHECK = (
    "check that smtp_security suits the server and port: tls (usually port 465) for TLS from "
    "the first byte, starttls (587 or 25) to upgrade after connecting, none for neither"
)
"""What to check when TLS could not be set up with the mail server."""


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: the connection's ``invoice_mail`` settings and its
    ``smtp_password`` secret."""

    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    tls_verify: bool = True
    tls_ca_file: str | None = None
    local_hostname: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.tls_ca_file or None)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Outcome:
    status: Status
    reply: str
    code: int | None = None
    stage: str = ""
    """Where it ended: ``connect``, ``tls``, ``auth``, ``mail``, ``rcpt``, ``data``, ``end``."""
    worded: bool = False
    """The reply is already in plain words (where, what happened, what to check, with the
    server's own reply inside when there was one): shown as it is."""

    @property
    def description(self) -> str:
        if self.worded:
            return self.reply
        code = f"{self.code} " if self.code is not None else ""
        return f"{self.stage}: {code}{self.reply}".strip()


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())[:500]


def _by_code(code: int, reply: bytes | str, stage: str) -> Outcome | None:
    """None when the reply lets the transaction go on; else the outcome it means."""
    if 200 <= code < 400:
        return None
    if 400 <= code < 500 or code < 200:
        return Outcome("temporary", _text(reply), code, stage)
    return Outcome("refused", _text(reply), code, stage)


DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


def message_bytes(message: EmailMessage, utf8: bool = False) -> bytes:
    """The message as sent inside ``DATA``: CRLF line ends, leading dots doubled, ended by
    the lone dot; with ``utf8`` (a server that took SMTPUTF8) addresses stay as written."""
    raw = message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    raw = DOT_AT_LINE_START.sub(b"..", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw + b".\r\n"


def _unreachable(server: SmtpServer, exc: BaseException, status: Status, stage: str) -> Outcome:
    """The server could not be reached, or TLS not set up with it, in the wording of the
    systems' HTTP clients, never the socket's (``[Errno 111] Connection refused``)."""
    words = failed_connection(
        exc,
        server.address,
        secure_check=SECURE_CHECK,
        cut_off=isinstance(exc, smtplib.SMTPServerDisconnected),
    )
    return Outcome(status, f"could not reach the mail server{words}", None, stage, worded=True)


def _login_refused(server: SmtpServer, code: int, reply: bytes | str) -> Outcome:
    """A 5xx to the login (535: the user name or password is wrong) is final; a 4xx (454: the
    server cannot check it now) is tried again. Either says what to check."""
    said = f"{code} {_text(reply)}".strip()
    if code < 200 or 400 <= code < 500:
        return Outcome(
            "temporary", f"the mail server at {server.address} could not check the login of "
            f"{server.username} now ({said}); it is tried again", code, "auth", worded=True,
        )  # fmt: skip
    return Outcome(
        "refused", f"the mail server at {server.address} refused the login of "
        f"{server.username} ({said}); check the SMTP user (smtp_user) and its password (the "
        "secret smtp_password)", code, "auth", worded=True,
    )  # fmt: skip


def send(server: SmtpServer, message: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
    """One delivery attempt. Never raises for what the network or the server does."""
    stage = "connect"
    client: smtplib.SMTP | None = None
    try:
        if server.security == "tls":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout,
                context=server.tls_context(), local_hostname=server.local_hostname,
            )  # fmt: skip
        else:
            client = smtplib.SMTP(
                server.host, server.port, timeout=server.timeout,
                local_hostname=server.local_hostname,
            )  # fmt: skip
        client.ehlo_or_helo_if_needed()
        if server.security == "starttls":
            stage = "tls"
            if not client.has_extn("starttls"):
                return Outcome("refused", "the server does not offer STARTTLS", None, stage)
            code, reply = client.starttls(context=server.tls_context())
            if (problem := _by_code(code, reply, stage)) is not None:
                return problem
            client.ehlo()
        if server.username:
            stage = "auth"
            try:
                client.login(server.username, server.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                return _login_refused(server, exc.smtp_code, exc.smtp_error)
            except smtplib.SMTPNotSupportedError:
                return Outcome(
                    "refused", f"the mail server at {server.address} offers no login (AUTH), "
                    "but smtp_user is set; remove the user, or check that the server asks for "
                    "one (many offer it only with smtp_security starttls or tls)", None, stage,
                    worded=True,
                )  # fmt: skip
        stage = "mail"
        # An address with letters beyond ASCII (jürgen@…) needs the server's SMTPUTF8.
        utf8 = not all(address.isascii() for address in (sender, *recipients))
        if utf8 and not client.has_extn("smtputf8"):
            return Outcome(
                "refused", "the address is not plain ASCII and the server does not offer "
                "SMTPUTF8", None, stage,
            )  # fmt: skip
        code, reply = client.mail(sender, ["SMTPUTF8"] if utf8 else [])
        if (problem := _by_code(code, reply, stage)) is not None:
            return problem
        stage = "rcpt"
        for recipient in recipients:
            code, reply = client.rcpt(recipient)
            if (problem := _by_code(code, reply, stage)) is not None:
                return problem
        stage = "data"
        code, reply = client.docmd("DATA")
        if code != 354:
            return _by_code(code, reply, stage) or Outcome("temporary", _text(reply), code, stage)
        client.send(message_bytes(message, utf8))
        stage = "end"
        try:
            code, reply = client.getreply()
        except smtplib.SMTPResponseException:
            return _garbled(server, None)  # smtplib's "Line too long": no SMTP reply is
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            return _lost(server, exc, stage)
        if code // 100 not in (2, 4, 5):
            return _garbled(server, code)  # -1: smtplib found no number to read
        return _by_code(code, reply, stage) or Outcome("sent", _text(reply), code, stage)
    except ssl.SSLCertVerificationError as exc:
        return _unreachable(server, exc, "refused", "tls")
    except smtplib.SMTPResponseException as exc:
        return _by_code(exc.smtp_code, exc.smtp_error, stage) or Outcome(
            "temporary", _text(exc.smtp_error), exc.smtp_code, stage
        )
    except UnicodeError as exc:
        return Outcome("refused", f"the message cannot be encoded: {exc}", None, stage)
    except (smtplib.SMTPException, OSError) as exc:
        # Before the final dot: the server took nothing, so the mail may be sent again.
        if stage in ("connect", "tls"):
            return _unreachable(server, exc, "temporary", stage)
        if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
            return _lost(server, exc, stage)
        return Outcome("temporary", f"{type(exc).__name__}: {exc}", None, stage)
    finally:
        if client is not None:
            _close(client)


NOT_TAKEN = (
    "while the mail was being sent, before the server had taken it: the mail was not "
    "delivered, and is tried again"
)
MAY_BE_DELIVERED = (
    "after the whole mail was sent, without confirming it: the mail may have been delivered, so "
    "it is not sent again by itself; check the customer's mailbox or the mail server's log, and "
    "retry it only if it did not arrive"
)


def _garbled(server: SmtpServer, code: int | None) -> Outcome:
    """An answer to the message's end that is not an SMTP reply (no three-digit code, a code
    no final reply has, a line longer than any reply): the server may have kept the mail all
    the same, so it is ``unknown`` like a silence, but said apart from one."""
    number = code if code is not None and code >= 0 else None
    said = f" (code {number})" if number is not None else ""
    return Outcome(
        "unknown", f"the mail server at {server.address} answered with something that is not "
        f"an SMTP reply{said} {MAY_BE_DELIVERED}; if it happens again, check that nothing "
        "between ledgerbridge and the mail server (a proxy, a firewall or an antivirus that "
        "scans mail) answers in its place", number, "end", worded=True,
    )  # fmt: skip


def _lost(server: SmtpServer, exc: BaseException, stage: str) -> Outcome:
    """A connection lost after the server greeted, in words that say what happened and whether
    the mail may have been delivered, never the library's (``SMTPServerDisconnected: …``).
    Before the message's end was sent, or with a reset that left it unread, the server took
    nothing: ``temporary``. After it, a close or a silence leaves the server owning the mail:
    ``unknown``, never sent again by itself (see the module)."""
    at = f"the mail server at {server.address}"
    timed_out = _under(exc, TimeoutError)
    if stage == "end" and not _reset_by_peer(exc):
        what = f"did not answer in {server.timeout:g} s" if timed_out else "closed the connection"
        return Outcome("unknown", f"{at} {what} {MAY_BE_DELIVERED}", None, stage, worded=True)
    if stage == "end":
        # A reset instead of the final reply: our data was left unread (``_reset_by_peer``).
        return Outcome(
            "temporary", f"{at} reset the connection before reading the end of the mail, so it "
            "did not take it: the mail was not delivered, and is tried again", None, "data",
            worded=True,
        )  # fmt: skip
    if timed_out:
        what = f"{at} stopped answering (nothing in {server.timeout:g} s)"
    elif isinstance(exc, smtplib.SMTPServerDisconnected) and not _reset_by_peer(exc):
        what = f"{at} closed the connection"
    elif isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError)):
        what = f"the connection to {at} was cut off"
    else:
        what = f"the connection to {at} failed"
    return Outcome("temporary", f"{what} {NOT_TAKEN}", None, stage, worded=True)


def _reset_by_peer(exc: BaseException) -> bool:
    """A TCP reset instead of the final reply: the server closed with our data unread, so it
    never read the message's end and took nothing (a server that read the whole message and
    then died closes without unread data, which is a plain end of stream: ``unknown``).
    smtplib wraps the reset in ``SMTPServerDisconnected``; the reset is its context."""
    return _under(exc, ConnectionResetError)


def _under(exc: BaseException, kind: type[BaseException]) -> bool:
    """``exc`` is, or wraps, a ``kind``: smtplib turns the socket's error (a reset, a timeout)
    into ``SMTPServerDisconnected``, with the socket's error as its context."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
