"""Invoice mails: one row per (connection, invoice), the journal of its delivery.

Like a write intent, a mail is recorded before its SMTP transaction leaves: ``started`` (with
the attempt's token) is committed first, ``sent`` with the server's answer after. A row found
``started`` by a later run means a run died inside the transaction, so nobody knows whether
the server queued the mail: it becomes ``unknown`` with an open issue, never resent blindly.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, new_id

MAIL_STATES = ("queued", "started", "retry", "sent", "refused", "unknown", "skipped", "failed")
"""``queued`` and ``retry`` wait for a run (``retry`` not before ``next_attempt_at``);
``started`` is an attempt in flight; the rest are final until a person retries."""
WAITING = ("queued", "retry")


class MailIntent(Base):
    __tablename__ = "mail_intents"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "invoice_id", name="uq_mail_intents_invoice"),
        sa.Index("ix_mail_intents_due", "connection_id", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"))
    invoice_id: Mapped[str] = mapped_column(sa.String(36))
    """The hub invoice."""
    recipient: Mapped[str | None] = mapped_column(sa.String(320))
    order_number: Mapped[str | None] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(64))
    """Why it is skipped, refused, failed or unknown (the issue's reason code)."""
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    token: Mapped[str | None] = mapped_column(sa.String(36))
    """The attempt in flight: only the run that holds it may record its answer."""
    first_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    reply: Mapped[str | None] = mapped_column(sa.Text)
    """The server's answer: its queue id on success, its refusal otherwise."""
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    """The accounting system's own PDF, when its booking answered one."""
    attachment: Mapped[str | None] = mapped_column(sa.String(32))
    """Which layout was attached: ``uniconta``, ``standard`` or ``compact``."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
