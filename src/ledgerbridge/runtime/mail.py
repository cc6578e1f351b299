"""Invoice mail: a booked invoice goes to the customer from the shop's own SMTP server, once.

**Trigger.** The Uniconta push books an invoice, links it and takes its number into the hub
in one transaction: the transaction that completes its create (its last write step
confirmed), or, for a draft booked later, the one that confirms the update that posted its
order (``engine.outbound.moved_by_update``). A hub listener sees that change (origin the
connection, status booked or paid, a number, booked in this very transaction) and, when the
connection's ``invoice_mail`` is on and the invoice was derived by a commerce route whose
policy has ``email_invoices``, adds the invoice's ``mail_intents`` row and queues the
connection's ``invoice_mail`` job in that same transaction: no booked invoice without its
mail row, and never two rows for one invoice (unique per connection and invoice). The PDF
Uniconta's booking answered (``layout: uniconta``) is copied from the write journal into the
row there too (a create's booking only: an update's answers none). An invoice without an
address (a POS sale, a guest without e-mail) or for an EAN customer gets a ``skipped`` row
with its reason.

**Once.** Each attempt is journaled like a write step: ``started`` (with a fresh token) is
committed before the SMTP transaction, the outcome after it, and only by the holder of the
token. A run that finds a row ``started`` knows a run died inside the transaction, so it
cannot know whether the server queued the mail: the row becomes ``unknown`` with the issue
``mail_delivery_unknown``, which a person resolves (``POST
/connections/{id}/invoice-mails/{invoice_id}/retry``) rather than risking a second mail.

**Retries.** A temporary failure (a 4xx reply, a refused, reset or timed-out connection, a drop
before the message's end) is tried again with backoff (1 min doubling to 30 min) until
``give_up_after_hours`` (48 h) after the first attempt; the row keeps its own due time and the
job queues its successor for the earliest one. A refusal (5xx) is final: the issue
``mail_refused`` on the invoice, with the server's reply.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, SessionTransaction, object_session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.commerce.config import CommercePolicy
from ledgerbridge.connectors.registry import ConnectorHandle
from ledgerbridge.engine.outbound import moved_by_update
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.mail import pdf, render, smtp
from ledgerbridge.model.commerce import Order
from ledgerbridge.model.invoice import Invoice, VatRounding
from ledgerbridge.runtime.flowkit import finish_run, start_run
from ledgerbridge.runtime.jobqueue.port import (
    Command,
    Handler,
    JobBackend,
    JobContext,
    LeaseLost,
)
from ledgerbridge.runtime.jobs import failure_message
from ledgerbridge.store.base import new_id
from ledgerbridge.store.tables.flows import DerivedRecord, Route
from ledgerbridge.store.tables.hub import ChangeRow, HubRecord
from ledgerbridge.store.tables.mail import WAITING, MailIntent
from ledgerbridge.store.tables.sync import WriteIntent
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

JSON = dict[str, Any]
KIND = "invoice_mail"
STREAM = "invoices"
DIRECTION = "mail"
"""Mail outcomes are logged and raised as issues on the invoice, in their own direction."""
BOOKED = ("booked", "paid")
FIRST_RETRY = timedelta(minutes=1)
TEST_TIMEOUT = 15.0
"""Seconds a test mail waits for the server: a person is waiting for the answer."""
LONGEST_RETRY = timedelta(minutes=30)
PRIORITY = 45

ISSUES = {
    "mail_refused": "the SMTP server refused the invoice mail",
    "mail_delivery_unknown": "the invoice mail was being sent when its run stopped; whether "
    "the server took it is unknown, so it is not sent again by itself: check the mailbox "
    "(or the server's log) and retry it if it did not arrive",
    "mail_delivery_failed": "the SMTP server could not be reached",
    "mail_render_failed": "the invoice mail could not be made",
}


class Handles(Protocol):
    """How the job reads a connection's settings and secrets (the connection service)."""

    def handle(self, connection_id: str) -> ConnectorHandle: ...


def backoff(attempts: int, first: timedelta = FIRST_RETRY) -> timedelta:
    """After the n-th failed attempt: 1, 2, 4 … minutes (from ``first``), at most 30."""
    return min(first * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


@dataclass(frozen=True)
class MailConfig:
    """A connection's ``invoice_mail`` settings with its ``smtp_password``."""

    server: smtp.SmtpServer
    from_address: str
    from_name: str | None
    reply_to: str | None
    subject: str
    body: str
    layout: str
    company: JSON
    logo_path: str | None
    give_up: timedelta
    vat_rounding: VatRounding
    """How the system books an invoice's VAT: the mailed totals are the booked ones."""

    @classmethod
    def of(cls, handle: ConnectorHandle) -> MailConfig | None:
        settings, secrets = handle.settings, handle.secrets
        mail = settings.get("invoice_mail") or {}
        if not mail.get("enabled"):
            return None
        return cls(
            server=smtp.SmtpServer(
                host=str(mail["smtp_host"]),
                port=int(mail.get("smtp_port") or 587),
                security=mail.get("smtp_security") or "starttls",
                username=mail.get("smtp_user"),
                password=secrets.get("smtp_password"),
                tls_verify=bool(mail.get("tls_verify", True)),
                tls_ca_file=mail.get("tls_ca_file"),
            ),
            from_address=str(mail["from_address"]),
            # One line, as the From header takes it (a name saved with a line break before
            # such names were refused would fail every mail).
            from_name=" ".join(str(mail.get("from_name") or "").split()) or None,
            reply_to=mail.get("reply_to"),
            subject=str(mail.get("subject_template") or render.DEFAULT_SUBJECT),
            body=str(mail.get("body_template") or render.DEFAULT_BODY),
            layout=str(mail.get("layout") or "uniconta"),
            company=dict(mail.get("company") or {}),
            logo_path=mail.get("logo_path"),
            give_up=timedelta(hours=int(mail.get("give_up_after_hours") or 48)),
            vat_rounding=handle.system.streams["invoices"].vat_rounding,
        )


def mail_enabled(settings: JSON) -> bool:
    return bool((settings.get("invoice_mail") or {}).get("enabled"))


class InvoiceMails:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        queue: JobBackend,
        clock: Clock,
        connections: Handles,
        send: Callable[..., smtp.Outcome] = smtp.send,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        self._first_retry = first_retry
        self._sessions = session_factory
        self._queue = queue
        self._clock = clock
        self._connections = connections
        self._send = send

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self._job}

    # ------------------------------------------------------------------ trigger

    def on_changes(self, session: Session, changes: list[ChangeRow]) -> None:
        """Hub listener: a booked invoice the connection's push just numbered gets its mail
        row and job in the transaction that linked it."""
        enabled: dict[str, bool] = {}
        booked: dict[tuple[str, str], WriteIntent] | None = None
        moved: frozenset[tuple[str, str]] = frozenset()
        for change in changes:
            if change.entity != "invoice" or not change.origin.startswith("connection:"):
                continue
            connection_id = change.origin.removeprefix("connection:")
            if connection_id not in enabled:
                row = session.get(Connection, connection_id)
                enabled[connection_id] = row is not None and mail_enabled(row.settings)
            if not enabled[connection_id]:
                continue
            if booked is None:
                booked, moved = _completed_writes(session), moved_by_update(session)
            key = (connection_id, change.record_id)
            intent = booked.get(key)
            if intent is not None or key in moved:
                self._consider(session, connection_id, change, intent)

    def _consider(
        self, session: Session, connection_id: str, change: ChangeRow, write: WriteIntent | None
    ) -> None:
        record = session.get(HubRecord, change.record_id)
        if record is None or record.deleted:
            return
        data = record.data
        if data.get("kind") != "invoice" or data.get("status") not in BOOKED:
            return
        if not data.get("number"):
            return
        exists = session.scalar(
            sa.select(MailIntent.id).where(
                MailIntent.connection_id == connection_id, MailIntent.invoice_id == record.id
            )
        )
        if exists is not None:
            return
        wanted = self.recipient(session, record)
        if wanted is None:
            return  # not an invoice a route asked to mail
        recipient, order_number, reason = wanted
        now = self._clock.now()
        intent = MailIntent(
            tenant_id=record.tenant_id, connection_id=connection_id, invoice_id=record.id,
            recipient=recipient, order_number=order_number,
            state="skipped" if reason else "queued", reason=reason, attempts=0,
            created_at=now, updated_at=now,
        )  # fmt: skip
        intent.pdf = _booking_pdf(write) if write is not None else None
        session.add(intent)
        recorder = SyncRecorder(self._clock, connection_id, None, Counter())
        if reason:
            recorder.log(
                session, stream=STREAM, direction=DIRECTION, outcome="skipped",
                record_id=record.id, reason=reason, message=_skip_message(reason),
            )  # fmt: skip
            return
        self.queue_run(session, connection_id, record.tenant_id)

    def recipient(
        self, session: Session, record: HubRecord
    ) -> tuple[str | None, str | None, str | None] | None:
        """(address, order number, skip reason) for an invoice a commerce route with
        ``email_invoices`` derived; None for any other invoice. The address is the order's
        customer's, as ``commerce.policies.decide_booking`` answers it."""
        derived = session.scalar(
            sa.select(DerivedRecord).where(
                DerivedRecord.tenant_id == record.tenant_id,
                DerivedRecord.derived_record_id == record.id,
                DerivedRecord.role == "invoice",
            )
        )
        if derived is None:
            return None
        route = session.get(Route, derived.route_id)
        if route is None or not route.commerce:
            return None
        try:
            policy = CommercePolicy.saved(route.commerce.get("policy"))
        except ValidationError:
            return None
        if not policy.email_invoices:
            return None
        order = _order(session, record.tenant_id, derived.source_record_id.removeprefix("order:"))
        if order is None:
            return None, None, "mail_order_missing"
        number = order.number or order.source_id
        if order.customer.customer_kind == "ean":
            return None, number, "mail_ean_customer"
        if not order.customer.email:
            return None, number, "mail_address_missing"
        return order.customer.email, number, None

    def queue_run(
        self,
        session: Session | None,
        connection_id: str,
        tenant_id: str,
        run_after: datetime | None = None,
    ) -> str:
        """The connection's mail job: now (coalesced), or a retry at ``run_after`` (one per
        due time, so a retry never delays a new invoice's mail nor another's retry)."""
        key = f"{KIND}:{connection_id}"
        if run_after is not None:
            key = f"{KIND}_retry:{connection_id}:{int(run_after.timestamp())}"
        return self._queue.enqueue(
            Command(
                KIND, connection_id=connection_id, tenant_id=tenant_id, dedupe_key=key,
                priority=PRIORITY, run_after=run_after,
            ),
            session=session,
        )  # fmt: skip

    # ------------------------------------------------------------------ the job

    def _job(self, job: JobContext) -> JSON:
        connection_id = job.job.connection_id
        if connection_id is None:
            raise ValueError("invoice_mail job without a connection")
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None or not row.active:
                return {"skipped": "connection removed or paused"}
            tenant_id = row.tenant_id
        handle = self._connections.handle(connection_id)
        config = MailConfig.of(handle)
        if config is None:
            return {"skipped": "invoice mail is off"}
        counts: Counter[str] = Counter()
        run_id = self._start_run(connection_id, job.job.id)
        recorder = SyncRecorder(self._clock, connection_id, run_id, counts)
        try:
            self._settle_unknown(connection_id, recorder)
            down: datetime | None = None
            done: set[str] = set()
            while (intent_id := self._next_due(connection_id, done)) is not None:
                done.add(intent_id)
                job.heartbeat()
                if down is not None:
                    self._defer(intent_id, down)
                    continue
                outcome = self._attempt(intent_id, config, recorder)
                if (
                    outcome is not None
                    and outcome.status == "temporary"
                    and (outcome.stage in ("connect", "tls") and outcome.code is None)
                ):
                    # The server is not there: the others of this run wait with this one.
                    down = self._due_of(intent_id)
            self._schedule_next(connection_id, tenant_id)
        except LeaseLost:
            # Another worker runs the job now; an attempt in flight keeps its token.
            self._finish(run_id, "superseded", counts, "the job was taken over")
            raise
        except Exception as exc:
            log.error("invoice mail of connection %s failed", connection_id, exc_info=exc)
            self._finish(run_id, "failed", counts, failure_message(exc))
            raise
        self._finish(run_id, "succeeded", counts, None)
        return {"run_id": run_id, "counts": dict(counts)}

    def _start_run(self, connection_id: str, job_id: str) -> str:
        return start_run(self._sessions, self._clock, connection_id, KIND, job_id)

    def _finish(self, run_id: str, status: str, counts: Counter[str], message: str | None) -> None:
        finish_run(self._sessions, self._clock, run_id, status, counts, message)

    def _settle_unknown(self, connection_id: str, recorder: SyncRecorder) -> None:
        """Attempts a dead run left ``started``: their outcome is unknown (see the module)."""
        with self._sessions.begin() as session:
            rows = session.scalars(
                sa.select(MailIntent).where(
                    MailIntent.connection_id == connection_id, MailIntent.state == "started"
                )
            ).all()
            for intent in rows:
                intent.state, intent.reason = "unknown", "mail_delivery_unknown"
                intent.updated_at = self._clock.now()
                intent.last_error = "the run sending it stopped before the server's answer"
                self._issue(session, recorder, intent, "mail_delivery_unknown", intent.last_error)

    def _next_due(self, connection_id: str, done: set[str]) -> str | None:
        now = self._clock.now()
        with self._sessions() as session:
            query = (
                sa.select(MailIntent.id)
                .where(
                    MailIntent.connection_id == connection_id,
                    MailIntent.state.in_(WAITING),
                    sa.or_(MailIntent.next_attempt_at.is_(None), MailIntent.next_attempt_at <= now),
                )
                .order_by(MailIntent.created_at, MailIntent.id)
            )
            if done:
                query = query.where(MailIntent.id.not_in(done))
            return session.scalar(query.limit(1))

    def _due_of(self, intent_id: str) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(
                sa.select(MailIntent.next_attempt_at).where(MailIntent.id == intent_id)
            )

    def _defer(self, intent_id: str, until: datetime) -> None:
        """Not tried: the server was unreachable a moment ago in this run."""
        with self._sessions.begin() as session:
            session.execute(
                sa.update(MailIntent)
                .where(MailIntent.id == intent_id, MailIntent.state.in_(WAITING))
                .values(state="retry", next_attempt_at=until, updated_at=self._clock.now())
            )

    def _schedule_next(self, connection_id: str, tenant_id: str) -> None:
        with self._sessions.begin() as session:
            due = session.scalar(
                sa.select(sa.func.min(MailIntent.next_attempt_at)).where(
                    MailIntent.connection_id == connection_id, MailIntent.state == "retry"
                )
            )
            if due is not None:
                self.queue_run(session, connection_id, tenant_id, run_after=due)

    # ------------------------------------------------------------------ one attempt

    def _attempt(
        self, intent_id: str, config: MailConfig, recorder: SyncRecorder
    ) -> smtp.Outcome | None:
        try:
            message, attachment, recipient = self._message(intent_id, config)
        except (render.TemplateProblem, ValidationError, LookupError, ValueError) as exc:
            self._final(intent_id, "failed", "mail_render_failed", str(exc), recorder)
            return None
        token = new_id()
        now = self._clock.now()
        with self._sessions.begin() as session:
            taken = session.execute(
                sa.update(MailIntent)
                .where(MailIntent.id == intent_id, MailIntent.state.in_(WAITING))
                .values(
                    state="started",
                    token=token,
                    started_at=now,
                    updated_at=now,
                    attempts=MailIntent.attempts + 1,
                    attachment=attachment,
                    message_id=str(message["Message-ID"]),
                )
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another run has it
            session.execute(
                sa.update(MailIntent)
                .where(MailIntent.id == intent_id, MailIntent.first_attempt_at.is_(None))
                .values(first_attempt_at=now)
            )
        outcome = self._send(config.server, message, config.from_address, [recipient])
        self._record(intent_id, token, outcome, config, recorder)
        return outcome

    def send_test(self, connection_id: str, recipient: str) -> smtp.Outcome | None:
        """One plain mail to ``recipient`` with the connection's saved server and sender, so a
        person sees the server's answer before any invoice goes out; None when invoice mail
        is off. Nothing is recorded: no invoice is concerned."""
        handle = self._connections.handle(connection_id)
        config = MailConfig.of(handle)
        if config is None:
            return None
        message = EmailMessage()
        message["From"] = formataddr((config.from_name or "", config.from_address))
        message["To"] = recipient
        if config.reply_to:
            message["Reply-To"] = config.reply_to
        message["Subject"] = "Test mail: invoice mail is set up"
        message["Date"] = format_datetime(self._clock.now())
        message.set_content(
            "This test mail was sent with the SMTP settings of your accounting connection. "
            "Booked invoices will be mailed to customers the same way."
        )
        server = replace(config.server, timeout=TEST_TIMEOUT)
        return self._send(server, message, config.from_address, [recipient])

    def _message(self, intent_id: str, config: MailConfig) -> tuple[EmailMessage, str, str]:
        with self._sessions() as session:
            intent = session.get(MailIntent, intent_id)
            if intent is None or not intent.recipient:
                raise LookupError("the mail has no recipient")
            record = session.get(HubRecord, intent.invoice_id)
            if record is None or record.deleted:
                raise LookupError(f"invoice {intent.invoice_id} is gone from the hub")
            invoice = Invoice.model_validate(record.data)
            party = session.get(HubRecord, invoice.party_id)
            name = str((party.data.get("name") if party is not None else None) or "")
            context = render.invoice_context(
                invoice, number=str(invoice.number or ""), customer_name=name,
                customer_email=intent.recipient, order_number=intent.order_number,
                company=config.company, rounding=config.vat_rounding,
            )  # fmt: skip
            subject = " ".join(render.render(config.subject, context).split())
            body = render.render(config.body, context)
            document, attachment = intent.pdf, "uniconta"
            if document is None:
                layout: pdf.Layout = "compact" if config.layout == "compact" else "standard"
                document, attachment = pdf.invoice_pdf(context, layout, config.logo_path), layout
            recipient = intent.recipient
            domain = config.from_address.rpartition("@")[2] or "ledgerbridge.invalid"
            message_id = f"<invoice-{intent.id}@{domain}>"
        message = EmailMessage()
        message["From"] = formataddr((config.from_name or "", config.from_address))
        message["To"] = recipient
        if config.reply_to:
            message["Reply-To"] = config.reply_to
        message["Subject"] = subject
        message["Date"] = format_datetime(self._clock.now())
        # The same id on every attempt: a receiver that deduplicates by it keeps one copy.
        message["Message-ID"] = message_id
        message.set_content(body)
        message.add_attachment(
            document, maintype="application", subtype="pdf",
            filename=f"invoice-{context['number']}.pdf",
        )  # fmt: skip
        return message, attachment, recipient

    def _record(
        self,
        intent_id: str,
        token: str,
        outcome: smtp.Outcome,
        config: MailConfig,
        recorder: SyncRecorder,
    ) -> None:
        """The attempt's outcome, by the token's holder only (a run that was taken over and
        comes back late still records what the server said, over ``unknown``)."""
        now = self._clock.now()
        with self._sessions.begin() as session:
            intent = session.scalar(
                sa.select(MailIntent).where(
                    MailIntent.id == intent_id,
                    MailIntent.token == token,
                    MailIntent.state.in_(("started", "unknown")),
                )
            )
            if intent is None:
                return
            intent.updated_at = now
            if outcome.status == "sent":
                intent.state, intent.reason, intent.sent_at = "sent", None, now
                intent.reply, intent.last_error = outcome.description, None
                recorder.resolve(session, STREAM, DIRECTION, [intent.invoice_id])
                recorder.log(
                    session, stream=STREAM, direction=DIRECTION, outcome="created",
                    record_id=intent.invoice_id, reason="mail_sent",
                    message=f"mailed to {intent.recipient}: {outcome.description}",
                )  # fmt: skip
                return
            if outcome.status == "refused":
                intent.state, intent.reason, intent.reply = "refused", "mail_refused", None
                intent.last_error = outcome.description
                self._issue(session, recorder, intent, "mail_refused", outcome.description)
                return
            if outcome.status == "unknown":
                intent.state, intent.reason = "unknown", "mail_delivery_unknown"
                intent.last_error = outcome.description
                self._issue(session, recorder, intent, "mail_delivery_unknown", outcome.description)
                return
            first = intent.first_attempt_at or now
            intent.last_error = outcome.description
            if now - first >= config.give_up:
                intent.state, intent.reason = "failed", "mail_delivery_failed"
                self._issue(
                    session, recorder, intent, "mail_delivery_failed",
                    f"gave up after {intent.attempts} attempts since {first.isoformat()}: "
                    f"{outcome.description}",
                )  # fmt: skip
                return
            intent.state, intent.reason = "retry", None
            intent.next_attempt_at = now + backoff(intent.attempts, self._first_retry)
            recorder.log(
                session, stream=STREAM, direction=DIRECTION, outcome="skipped",
                record_id=intent.invoice_id, reason="mail_retry",
                message=f"attempt {intent.attempts} failed ({outcome.description}); "
                f"next at {intent.next_attempt_at.isoformat()}",
            )  # fmt: skip

    def _final(
        self,
        intent_id: str,
        state: str,
        reason: str,
        detail: str,
        recorder: SyncRecorder,
    ) -> None:
        with self._sessions.begin() as session:
            intent = session.get(MailIntent, intent_id)
            if intent is None or intent.state not in WAITING:
                return
            intent.state, intent.reason, intent.last_error = state, reason, detail
            intent.updated_at = self._clock.now()
            self._issue(session, recorder, intent, reason, detail)

    def _issue(
        self,
        session: Session,
        recorder: SyncRecorder,
        intent: MailIntent,
        reason: str,
        detail: str,
    ) -> None:
        recorder.issue(
            session, stream=STREAM, direction=DIRECTION, key=intent.invoice_id, reason=reason,
            message=f"{ISSUES[reason]} ({intent.recipient}): {detail}", outcome="failed",
            record_id=intent.invoice_id,
        )  # fmt: skip

    # ------------------------------------------------------------------ a person's retry

    def retry(self, session: Session, intent: MailIntent) -> None:
        """Send again a mail that ended ``unknown``, ``refused`` or ``failed``: a person
        decided so (for ``unknown``: the mail did not arrive). It goes to the address the
        order has now: a refusal of a misspelt address is fixed by correcting it in the shop."""
        record = session.get(HubRecord, intent.invoice_id)
        wanted = self.recipient(session, record) if record is not None else None
        if wanted is not None and wanted[0] and wanted[2] is None:
            intent.recipient = wanted[0]
        intent.state, intent.reason, intent.token = "queued", None, None
        intent.attempts, intent.first_attempt_at, intent.next_attempt_at = 0, None, None
        intent.updated_at = self._clock.now()
        SyncRecorder(self._clock, intent.connection_id, None, Counter()).resolve(
            session, STREAM, DIRECTION, [intent.invoice_id]
        )
        self.queue_run(session, intent.connection_id, intent.tenant_id)


_COMPLETED = "ledgerbridge.mail.completed_writes"


@sa.event.listens_for(WriteIntent.status, "set")
def _note_completed(target: WriteIntent, value: str, _old: Any, _initiator: Any) -> None:
    """Remember, for the transaction, the creates it completes (the push sets their status
    ``done`` or ``recovered`` in the transaction that links them)."""
    if value not in ("done", "recovered"):
        return
    session = object_session(target)
    if session is not None:
        completed = session.info.setdefault(_COMPLETED, {})
        completed[target.connection_id, target.record_id] = target


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_completed(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_COMPLETED, None)


def _completed_writes(session: Session) -> dict[tuple[str, str], WriteIntent]:
    """The creates this transaction completed: the push confirms a record's last step and
    links it in one transaction. Then, or in the update that posts a draft's order
    (``moved_by_update``), is a booked invoice new; any later change of it (a payment, a pull)
    does neither, so turning mail on never mails invoices booked before."""
    completed: dict[tuple[str, str], WriteIntent] = session.info.get(_COMPLETED, {})
    return completed


def _booking_pdf(write: WriteIntent) -> bytes | None:
    """The PDF the booking answered (``layout: uniconta``), from the ``post`` step's result."""
    post = ((write.steps or {}).get("post") or {}).get("result") or {}
    encoded = post.get("pdf")
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return None


def _skip_message(reason: str) -> str:
    return {
        "mail_ean_customer": "not mailed: an EAN customer takes invoices as e-invoices",
        "mail_address_missing": "not mailed: the order has no customer e-mail (a POS sale or "
        "a guest without one)",
        "mail_order_missing": "not mailed: the order the invoice came from is gone",
    }.get(reason, reason)


def _order(session: Session, tenant_id: str, source_id: str) -> Order | None:
    column = HubRecord.data["source_id"].as_string()
    record = session.scalar(
        sa.select(HubRecord)
        .where(
            HubRecord.tenant_id == tenant_id,
            HubRecord.entity == "order",
            HubRecord.deleted.is_(False),
            column == source_id,
        )
        .order_by(HubRecord.updated_at.desc(), HubRecord.id)
        .limit(1)
    )
    if record is None:
        return None
    try:
        return Order.model_validate(record.data)
    except ValidationError:
        return None
