"""PayMatch: an acquirer's payout becomes one balanced voucher in the cash journal.

Each payment the payout settles is matched to the invoice it pays (by the order number the
acquirer carries, else by the payment id the shop stored as the order's transaction id) and
credited to the acquirer's receivable account, where the invoice's card payment was
registered when it was booked; fees go to the fee account, the deposit to the bank account,
and whatever cannot be placed (a payment of no known order, an invoice not booked in time, a
payment of an invoice an earlier payout settled already, a difference between the deposit and
its lines) to the error account with a reason. A line put
on the error account is moved to the receivable by a second posting once its invoice is
booked (a late match).

The same shape as Uniconta's own import of acquirer settlements (one line per transaction to
the card-claims account, one per deduction to the fees account, one for the payout to the
bank). Pure: the runtime (``runtime/paymatch.py``) reads the hub, calls these functions and
writes their answer with the derived-record rows that make it exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.connectors.base import NamedCode
from ledgerbridge.model.common import Canonical
from ledgerbridge.model.journal import JournalLine, JournalPosting
from ledgerbridge.model.payout import Payout, PayoutLine

__all__ = [
    "LATE_MATCHABLE",
    "InvoiceFact",
    "KnownInvoices",
    "LateMatch",
    "LateOutcomes",
    "PayMatchPolicy",
    "PayoutDecision",
    "SettledEarlier",
    "late_outcomes",
    "payout_changes",
    "payout_digest",
    "payout_digests",
    "post_payout",
    "readdressed",
]

JSON = dict[str, Any]
ZERO = Decimal(0)

MATCHED_TYPES = frozenset({"charge", "refund"})
"""Line types matched to an invoice; fees go to the fee account, the rest to the error
account for a person (a chargeback, a reserve or an adjustment is not a payment)."""
ACCOUNTS = ("receivable_account", "fee_account", "bank_account", "error_account")
"""The block's accounts, one per line role (``<role>_account``)."""
LATE_MATCHABLE = frozenset({"no_match", "invoice_not_booked", "order_not_invoiced"})
"""Error-account reasons a later match can resolve (the line is a payment of an order)."""

MESSAGES: dict[str, str] = {
    "no_match": "no order with number {order_ref} or payment {psp_ref}",
    "invoice_not_booked": "order {order} has an invoice that was not booked within {hours} hours",
    "order_not_invoiced": "order {order} has no invoice after {hours} hours",
    "already_settled": "invoice {invoice} of order {order} was settled by {earlier} already",
    "unmatched_line_type": "a {type} is not matched automatically: a person places it",
    "payout_difference": "the payout's net {net} differs from its lines' {lines} by {difference}",
    "payout_not_itemised": "the acquirer does not say which payments the payout holds",
}


class PayMatchPolicy(Canonical):
    """A route's ``paymatch`` block: where a payout's lines are posted in Uniconta."""

    journal: str = Field(min_length=1, max_length=50)
    """The GL daily journal (cash journal) the lines are inserted in, e.g. ``PAYMATCH``."""
    receivable_account: str = Field(min_length=1, max_length=50)
    """The acquirer's receivable: where the card payments were registered at booking (the
    account of the credit-card payment term)."""
    fee_account: str = Field(min_length=1, max_length=50)
    bank_account: str = Field(min_length=1, max_length=50)
    error_account: str = Field(min_length=1, max_length=50)
    group_lines: bool = False
    """One receivable line and one fee line per payout for all matched payments, instead of
    one per payment (the invoice numbers are then in the log only)."""
    start_date: dt.date = Field(default=None, validate_default=True)
    """Payouts arriving before this day are not posted (``before_start_date``); required
    (``_a_start_is_chosen``)."""
    wait_for_invoice_hours: int = Field(default=24, ge=0, le=24 * 60)
    """How long a payout waits for an order's invoice that exists but is not booked yet,
    before that line goes to the error account (from which a late match moves it)."""

    @field_validator("start_date", mode="before")
    @classmethod
    def _a_start_is_chosen(cls, given: Any) -> Any:
        """No default start: every payout the acquirer still lists would be posted, those a
        person booked by hand before the route too, which books them twice. Checked here, not
        as a bare missing field, so the refusal says what the day is for, beside the block's
        other refusals."""
        if given is None:
            raise PydanticCustomError(
                "start_date_missing",
                "Field required: the first day whose payouts are posted; payouts that arrived "
                "before it are not, so give the day after the last payout booked by hand",
            )
        return given

    def named_codes(self) -> list[NamedCode]:
        """The journal and the accounts the block names, with their paths under
        ``paymatch``: each must exist in the accounting system."""
        accounts = [
            NamedCode(f"paymatch.{name}", "account", getattr(self, name)) for name in ACCOUNTS
        ]
        return [NamedCode("paymatch.journal", "journal", self.journal), *accounts]

    def account(self, role: str) -> str:
        """The account a line of ``role`` (receivable, fee, bank, error) is posted on."""
        return str(getattr(self, f"{role}_account"))


@dataclass(frozen=True)
class InvoiceFact:
    """What the hub knows of the order a payout line names, and of its invoice."""

    order: str
    """The order's number (its shop id when it has none), for texts."""
    state: Literal["booked", "pending", "none"]
    """``booked``: its invoice is booked and numbered; ``pending``: an invoice is derived but
    not booked (or not numbered) yet; ``none``: no invoice derived from the order."""
    invoice_number: str | None = None
    transaction_id: str | None = None


class KnownInvoices(Protocol):
    """The hub's orders, by the references an acquirer carries."""

    def by_order_ref(self, ref: str) -> InvoiceFact | None:
        """The order whose number or shop id is ``ref``."""

    def by_psp_ref(self, ref: str) -> InvoiceFact | None:
        """The order whose transaction id is ``ref``."""

    def settled_by(self, invoice_number: str) -> str | None:
        """The earlier payout whose line settled this invoice's payment (``<provider> payout
        <id>``), or None: a payment is taken off the receivable once."""


@dataclass
class PayoutDecision:
    """What to do with a payout: ``post`` the posting, ``wait`` until ``wait_until`` for an
    invoice to be booked, or ``skip`` it with a reason."""

    outcome: Literal["post", "wait", "skip"]
    reason: str
    message: str
    posting: JSON | None = None
    wait_until: dt.datetime | None = None
    matched: int = 0
    unmatched: int = 0
    settled: list[str] = field(default_factory=list)
    """The invoices whose payments the posting takes off the receivable (grouped or not)."""


@dataclass
class LateMatch:
    """A posting that moves one payout line off the error account."""

    line_id: str
    posting: JSON
    invoice_number: str


@dataclass
class SettledEarlier:
    """A payment on the error account whose invoice, booked since, another payout settled in
    the meantime: it is not taken off the receivable a second time, and stays on the error
    account for a person (the customer paid twice, say, and is owed the money back)."""

    line_id: str
    invoice_number: str
    order: str
    earlier: str
    """The payout that settled the invoice (``<provider> payout <id>``)."""
    amount: Decimal
    """The payment's amount on the error account (negative: a credit)."""


@dataclass
class _Lines:
    lines: list[JournalLine] = field(default_factory=list)

    def add(self, **values: Any) -> None:
        if values["amount"] != 0:
            self.lines.append(JournalLine(**values))


def _message(reason: str, **values: Any) -> str:
    return MESSAGES[reason].format(**values)


def _match(line: PayoutLine, known: KnownInvoices) -> InvoiceFact | None:
    fact = known.by_order_ref(line.order_ref) if line.order_ref else None
    if fact is None and line.psp_ref:
        fact = known.by_psp_ref(line.psp_ref)
    return fact


def _refs(order: str | None, psp: str | None) -> str:
    parts = [f"order {order}" if order else "", f"payment {psp}" if psp else ""]
    return ", ".join(part for part in parts if part) or "no reference"


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


DIGEST_IGNORES = frozenset({"id", "bank_reference"})
"""What a payout may gain after it was posted without being another payout: the bank's text
(Stripe fills a payout's trace id in days after it is paid) is only in the bank line's text."""


def payout_digest(payout: Payout) -> str:
    """The hash of what a posting depends on: a payout read again with the same digest is
    the same payout."""
    data = payout.model_dump(mode="json", exclude=set(DIGEST_IGNORES))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def payout_digests(payout: Payout) -> set[str]:
    """The digests a posting of this payout may have been remembered with: today's, and the
    one of postings made before the bank reference was left out of it (the whole payout)."""
    whole = payout.model_dump(mode="json", exclude={"id"})
    legacy = hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()
    return {payout_digest(payout), legacy}


def _reference(payout: Payout) -> str:
    """The posting's key: the payout id, shortened with a digest when too long."""
    ref = payout.source_id
    return ref if len(ref) <= 40 else f"{ref[:27]}~{_short(ref)}"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def post_payout(
    payout: Payout,
    policy: PayMatchPolicy,
    known: KnownInvoices,
    *,
    seen_at: dt.datetime,
    now: dt.datetime,
) -> PayoutDecision:
    """The posting of one payout (first seen by the hub at ``seen_at``), or why not yet."""
    if payout.status != "paid":
        return PayoutDecision(
            "skip", "payout_not_paid",
            f"the payout is {payout.status}: only paid payouts are posted",
        )  # fmt: skip
    if payout.arrival_date < policy.start_date:
        return PayoutDecision(
            "skip", "before_start_date",
            f"the payout arrived {payout.arrival_date}, before the start date "
            f"{policy.start_date}",
        )  # fmt: skip
    deadline = seen_at + dt.timedelta(hours=policy.wait_for_invoice_hours)
    expired = now >= deadline
    head = f"Payout {payout.source_id}"
    out = _Lines()
    grouped_receivable = ZERO
    grouped_fees = ZERO
    matched = unmatched = 0
    waiting: list[str] = []
    settled_twice: list[str] = []
    settled: list[str] = []
    if not payout.itemised:
        out.add(role="bank", account=policy.bank_account, amount=payout.net,
                text=_clip(f"{head} {payout.bank_reference or ''}".strip()))  # fmt: skip
        detail = _message("payout_not_itemised")
        text = _clip(f"{head}: payout_not_itemised: {detail}")
        out.add(role="error", account=policy.error_account, amount=-payout.net,
                reason="payout_not_itemised", text=text)  # fmt: skip
        return _decision(payout, policy, out.lines, 0, 1)
    for line in payout.lines:
        fact = _match(line, known) if line.type in MATCHED_TYPES else None
        refs = {"payout_line_id": line.line_id, "order_ref": line.order_ref,
                "psp_ref": line.psp_ref}  # fmt: skip
        what = "refund" if line.type == "refund" else "payment"
        if line.type == "fee":
            text = _clip(f"{head}: {line.description or 'fee'} {line.line_id}")
            out.add(role="fee", account=policy.fee_account, amount=-line.net, text=text, **refs)
            continue
        if line.type not in MATCHED_TYPES:
            reason = "unmatched_line_type"
            detail = _message(reason, type=line.type.replace("_", " "))
            out.add(role="error", account=policy.error_account, amount=-line.gross,
                    reason=reason, text=_clip(f"{head}: {reason}: {detail} ({line.line_id})"),
                    **refs)  # fmt: skip
            unmatched += 1
        elif (
            fact is not None
            and fact.state == "booked"
            and line.type == "charge"
            and (earlier := known.settled_by(str(fact.invoice_number))) is not None
        ):
            reason = "already_settled"
            detail = _message(reason, invoice=fact.invoice_number, order=fact.order,
                              earlier=earlier)  # fmt: skip
            settled_twice.append(f"invoice {fact.invoice_number} ({earlier})")
            unmatched += 1
            out.add(role="error", account=policy.error_account, amount=-line.gross,
                    reason=reason, text=_clip(f"{head}: {reason}: {detail}"), **refs)  # fmt: skip
        elif fact is not None and fact.state == "booked":
            matched += 1
            if line.type == "charge":
                settled.append(str(fact.invoice_number))
            if policy.group_lines:
                grouped_receivable -= line.gross
            else:
                out.add(role="receivable", account=policy.receivable_account,
                        amount=-line.gross, invoice=fact.invoice_number,
                        text=_clip(f"{head}: {what} {_refs(fact.order, line.psp_ref)}, "
                                   f"invoice {fact.invoice_number}"), **refs)  # fmt: skip
        else:
            if fact is None:
                reason = "no_match"
                detail = _message(reason, order_ref=line.order_ref or "–",
                                  psp_ref=line.psp_ref or "–")  # fmt: skip
            else:
                if not expired:
                    waiting.append(fact.order)
                    continue
                reason = "invoice_not_booked" if fact.state == "pending" else "order_not_invoiced"
                detail = _message(reason, order=fact.order, hours=policy.wait_for_invoice_hours)
            unmatched += 1
            out.add(role="error", account=policy.error_account, amount=-line.gross,
                    reason=reason, text=_clip(f"{head}: {reason}: {detail}"), **refs)  # fmt: skip
        if line.fee != 0:
            if policy.group_lines:
                grouped_fees += line.fee
            else:
                out.add(role="fee", account=policy.fee_account, amount=line.fee,
                        text=_clip(f"{head}: fee on {what} {_refs(line.order_ref, line.psp_ref)}"),
                        **refs)  # fmt: skip
    if waiting:
        orders = ", ".join(sorted(set(waiting)))
        return PayoutDecision(
            "wait", "waiting_for_invoice",
            f"the invoices of orders {orders} are not booked yet; the payout waits until "
            f"{deadline.isoformat(timespec='minutes')}, then posts them to the error account",
            wait_until=deadline,
        )  # fmt: skip
    if policy.group_lines:
        out.add(role="receivable", account=policy.receivable_account, amount=grouped_receivable,
                text=_clip(f"{head}: {matched} matched payments"))  # fmt: skip
        out.add(role="fee", account=policy.fee_account, amount=grouped_fees,
                text=_clip(f"{head}: fees"))  # fmt: skip
    difference = payout.difference
    if difference != 0:
        lines_net = payout.net - difference
        detail = _message("payout_difference", net=payout.net, lines=lines_net,
                          difference=difference)  # fmt: skip
        text = _clip(f"{head}: payout_difference: {detail}")
        out.add(role="error", account=policy.error_account, amount=-difference,
                reason="payout_difference", text=text)  # fmt: skip
        unmatched += 1
    out.add(role="bank", account=policy.bank_account, amount=payout.net,
            text=_clip(f"{head} {payout.bank_reference or ''}".strip()))  # fmt: skip
    decision = _decision(payout, policy, out.lines, matched, unmatched, settled_twice)
    decision.settled = settled
    return decision


def _decision(
    payout: Payout,
    policy: PayMatchPolicy,
    lines: list[JournalLine],
    matched: int,
    unmatched: int,
    settled_twice: Iterable[str] = (),
) -> PayoutDecision:
    if len(lines) < 2:
        return PayoutDecision("skip", "nothing_to_post", "the payout moves no money")
    posting = JournalPosting(
        kind="payout",
        reference=_reference(payout),
        journal=policy.journal,
        provider=payout.provider,
        payout_id=payout.source_id,
        date=payout.arrival_date,
        currency=payout.currency,
        lines=lines,
        payout_status=payout.status,
        payout_net=payout.net,
        payout_lines={line.line_id: line.net for line in payout.lines},
    )
    reason = "payout_matched" if unmatched == 0 else "payout_partly_matched"
    message = f"{matched} payments matched, {unmatched} lines on the error account"
    if twice := list(settled_twice):
        message += f"; already settled, not taken off the receivable again: {', '.join(twice)}"
    return PayoutDecision(
        "post", reason, message, posting.model_dump(mode="json", exclude={"id"}),
        matched=matched, unmatched=unmatched,
    )  # fmt: skip


@dataclass
class LateOutcomes:
    """What a recheck of a payout's error-account lines found: the postings that move lines
    to the receivable, and the payments that stay because another payout settled their
    invoice meanwhile."""

    moves: list[LateMatch] = field(default_factory=list)
    kept: list[SettledEarlier] = field(default_factory=list)


def late_outcomes(
    posting: JournalPosting,
    policy: PayMatchPolicy,
    known: KnownInvoices,
    done: Iterable[str] = (),
) -> LateOutcomes:
    """For each error-account line of a payout's posting that is a payment (or refund) of an
    order whose invoice is booked now, not dealt with already (``done`` line ids): the posting
    that moves it to the receivable with the invoice number, or, for a payment of an invoice
    another payout settled meanwhile, why it stays. One pass: each line is matched once."""
    found = LateOutcomes()
    seen = set(done)
    for line in posting.lines:
        if line.role != "error" or line.reason not in LATE_MATCHABLE or not line.payout_line_id:
            continue
        if line.payout_line_id in seen:
            continue
        probe = PayoutLine(line_id=line.payout_line_id, type="charge", gross=ZERO, net=ZERO,
                           order_ref=line.order_ref, psp_ref=line.psp_ref)  # fmt: skip
        fact = _match(probe, known)
        if fact is None or fact.state != "booked" or not fact.invoice_number:
            continue
        seen.add(line.payout_line_id)
        what = "refund" if line.amount > 0 else "payment"
        invoice = str(fact.invoice_number)
        earlier = known.settled_by(invoice) if what == "payment" else None
        if earlier is not None:
            found.kept.append(
                SettledEarlier(line.payout_line_id, invoice, fact.order, earlier, line.amount)
            )
        else:
            found.moves.append(_late_match(posting, policy, line, what, fact.order, invoice))
    return found


def _late_match(
    posting: JournalPosting,
    policy: PayMatchPolicy,
    line: JournalLine,
    what: str,
    order: str,
    invoice: str,
) -> LateMatch:
    """The posting that moves one error-account line to the receivable with its invoice."""
    assert line.payout_line_id is not None
    head = f"Payout {posting.payout_id}"
    refs = {"payout_line_id": line.payout_line_id, "order_ref": line.order_ref,
            "psp_ref": line.psp_ref}  # fmt: skip
    moved_lines = [
        # Off the account the line is on, which a route changed since may no longer name.
        JournalLine(role="error", account=line.account, amount=-line.amount,
                    reason="late_match",
                    text=_clip(f"{head}: late match of {what} "
                               f"{_refs(order, line.psp_ref)} from {line.reason}"),
                    **refs),
        JournalLine(role="receivable", account=policy.receivable_account,
                    amount=line.amount, invoice=invoice,
                    text=_clip(f"{head}: {what} {_refs(order, line.psp_ref)}, "
                               f"invoice {invoice}"), **refs),
    ]  # fmt: skip
    key = f"{posting.reference}/{line.payout_line_id}"
    reference = key if len(key) <= 60 else f"{posting.reference[:40]}/{_short(key)}"
    late = JournalPosting(
        kind="late_match", reference=reference, journal=policy.journal,
        provider=posting.provider, payout_id=posting.payout_id, date=posting.date,
        currency=posting.currency, lines=moved_lines,
    )  # fmt: skip
    return LateMatch(line.payout_line_id, late.model_dump(mode="json", exclude={"id"}), invoice)


def readdressed(
    posting: JSON, policy: PayMatchPolicy, route_id: str, moved_from: str | None = None
) -> JSON | None:
    """A posting (its canonical data) not in the accounting system yet, with the journal and
    the accounts its route names now (a route corrected after the system refused its
    postings); None when it has them already. Amounts, texts and the reference stay: it is
    the same posting. Plain data, so a run that looks at many postings validates only those
    it changes.

    A late match's error line takes the line it moves off the account that line is on
    (``moved_from``: the payout posting's error line as it stands, itself readdressed when it
    was not in the system either), not the route's error account of now."""

    def account(line: JSON) -> str:
        if posting.get("kind") == "late_match" and line["role"] == "error" and moved_from:
            return moved_from
        return policy.account(str(line["role"]))

    lines = [{**line, "account": account(line)} for line in posting["lines"]]
    moved = {**posting, "journal": policy.journal, "lines": lines, "route_id": route_id}
    return None if moved == posting else moved


def payout_changes(posting: JournalPosting, payout: Payout) -> list[str]:
    """What changed in a payout since it was posted, in words: status, net, lines."""
    changes: list[str] = []
    if posting.payout_status and posting.payout_status != payout.status:
        changes.append(f"status {posting.payout_status} → {payout.status}")
    if posting.payout_net is not None and posting.payout_net != payout.net:
        changes.append(f"net {posting.payout_net} → {payout.net}")
    now = {line.line_id: line.net for line in payout.lines}
    for line_id, net in posting.payout_lines.items():
        if line_id not in now:
            changes.append(f"line {line_id} removed")
        elif now[line_id] != net:
            changes.append(f"line {line_id} net {net} → {now[line_id]}")
    for line_id in now:
        if line_id not in posting.payout_lines:
            changes.append(f"line {line_id} added")
    return changes or ["details other than status, amounts and lines"]
