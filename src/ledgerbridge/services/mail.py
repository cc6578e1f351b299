"""Invoice mails of a connection: what was sent, skipped or needs a person, and a person's
retry of a mail whose delivery is unknown, refused or given up (docs/invoice-mail.md)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.runtime.mail import InvoiceMails
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.mail import MAIL_STATES, WAITING, MailIntent
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
RETRYABLE = ("unknown", "refused", "failed")


def view(intent: MailIntent) -> JSON:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "invoice_id": intent.invoice_id,
        "recipient": intent.recipient,
        "order_number": intent.order_number,
        "state": intent.state,
        "reason": intent.reason,
        "attempts": intent.attempts,
        "reply": intent.reply,
        "last_error": intent.last_error,
        "attachment": intent.attachment,
        "message_id": intent.message_id,
        "first_attempt_at": iso(intent.first_attempt_at),
        "next_attempt_at": iso(intent.next_attempt_at),
        "sent_at": iso(intent.sent_at),
        "created_at": iso(intent.created_at),
    }


class MailService:
    def __init__(self, session_factory: sessionmaker[Session], mails: InvoiceMails) -> None:
        self._sessions = session_factory
        self._mails = mails

    def _connection(self, session: Session, principal: Principal, connection_id: str) -> None:
        row = session.get(Connection, connection_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"connection {connection_id} not found")

    def list(
        self,
        principal: Principal,
        connection_id: str,
        state: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[JSON]:
        """Newest first; ``after`` (the ``invoice_id`` of the last mail of the previous page)
        gives the page of the mails made before it, so that every mail can be listed."""
        with self._sessions() as session:
            self._connection(session, principal, connection_id)
            query = sa.select(MailIntent).where(MailIntent.connection_id == connection_id)
            if state is not None:
                if state not in MAIL_STATES:
                    return []
                query = query.where(MailIntent.state == state)
            if after is not None:
                last = session.scalar(
                    sa.select(MailIntent).where(
                        MailIntent.connection_id == connection_id, MailIntent.invoice_id == after
                    )
                )
                if last is None:
                    raise NotFound(f"no invoice mail for invoice {after} on this connection")
                query = query.where(
                    sa.or_(
                        MailIntent.created_at < last.created_at,
                        sa.and_(MailIntent.created_at == last.created_at, MailIntent.id > last.id),
                    )
                )
            rows = session.scalars(
                query.order_by(MailIntent.created_at.desc(), MailIntent.id).limit(limit)
            )
            return [view(row) for row in rows]

    def retry(self, principal: Principal, connection_id: str, invoice_id: str) -> JSON:
        """Owners and admins only: it sends a customer a mail."""
        principal.require_admin("sending an invoice mail again")
        with self._sessions.begin() as session:
            self._connection(session, principal, connection_id)
            intent = session.scalar(
                sa.select(MailIntent)
                .where(
                    MailIntent.connection_id == connection_id,
                    MailIntent.invoice_id == invoice_id,
                )
                .with_for_update()
            )
            if intent is None:
                raise NotFound(f"no invoice mail for invoice {invoice_id} on this connection")
            if intent.state in WAITING:
                # Waiting (mail was off, the connection paused, a retry not due yet): now.
                intent.next_attempt_at = None
                self._mails.queue_run(session, connection_id, intent.tenant_id)
                return view(intent)
            if intent.state not in RETRYABLE:
                raise Conflict(
                    f"the mail is {intent.state}; only a mail that is "
                    f"{', '.join((*RETRYABLE, *WAITING))} can be retried"
                )
            self._mails.retry(session, intent)
            return view(intent)

    def send_test(self, principal: Principal, connection_id: str, recipient: str) -> JSON:
        """A test mail with the saved SMTP settings (owners and admins: it sends a mail): the
        server's answer as ``status`` (sent, temporary, refused, unknown) and ``reply``."""
        principal.require_admin("sending a test mail")
        address = recipient.strip()
        if not address or "@" not in address or any(c.isspace() for c in address):
            raise Invalid("give an e-mail address to send the test mail to", field="recipient")
        with self._sessions() as session:
            self._connection(session, principal, connection_id)
        outcome = self._mails.send_test(connection_id, address)
        if outcome is None:
            raise Conflict(
                "invoice mail is off: save the SMTP settings with Enabled ticked first",
                field="enabled",
            )
        return {"status": outcome.status, "reply": outcome.reply, "stage": outcome.stage}
