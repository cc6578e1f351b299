"""Invoice mails a connection sends from the shop's own SMTP server (docs/invoice-mail.md):
the list with each mail's state and the server's answer, and a person's retry of a mail
whose delivery is unknown, refused or given up."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter(prefix="/connections", tags=["invoice mail"])

MailState = Literal["queued", "started", "retry", "sent", "refused", "unknown", "skipped", "failed"]


class InvoiceMailView(BaseModel):
    invoice_id: str
    recipient: str | None
    order_number: str | None
    state: str
    reason: str | None
    attempts: int
    reply: str | None
    last_error: str | None
    attachment: str | None
    message_id: str | None
    first_attempt_at: str | None
    next_attempt_at: str | None
    sent_at: str | None
    created_at: str | None


@router.get("/{connection_id}/invoice-mails", response_model=list[InvoiceMailView])
def invoice_mails(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    state: MailState | None = None,
    limit: int = Query(100, ge=1, le=1000),
    after: str | None = Query(
        None,
        max_length=36,
        description="The `invoice_id` of the last mail of the previous page: the next page, "
        "the mails made before it",
    ),
) -> Any:
    """Newest first, a page of `limit`. `skipped` mails say why (`mail_address_missing`,
    `mail_ean_customer`)."""
    return system.mail.list(principal, connection_id, state, limit, after)


@router.post("/{connection_id}/invoice-mails/{invoice_id}/retry", response_model=InvoiceMailView)
def retry_invoice_mail(
    connection_id: str, invoice_id: str, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Send again a mail that is `unknown` (check first that it did not arrive), `refused` or
    `failed`; a `queued` or `retry` one is tried now (after mail was off, or the connection
    paused). 409 for a mail `sent`, `started` or `skipped`."""
    return system.mail.retry(principal, connection_id, invoice_id)


class TestMailBody(BaseModel):
    recipient: str = Field(min_length=3, max_length=320, description="Where the test goes")


class TestMailAnswer(BaseModel):
    status: str = Field(description="sent, temporary, refused or unknown")
    reply: str = Field(description="The server's answer, or why there was none")
    stage: str = Field(description="Where it ended: connect, tls, auth, mail, rcpt, data, end")


@router.post("/{connection_id}/invoice-mails/test", response_model=TestMailAnswer)
def send_test_mail(
    connection_id: str, body: TestMailBody, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Send one plain mail with the saved SMTP settings (owner or admin), to check them
    before invoices go out. 409 while invoice mail is off."""
    return system.mail.send_test(principal, connection_id, body.recipient)
