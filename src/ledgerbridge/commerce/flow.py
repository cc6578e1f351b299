"""The commerce flow: a shop's order becomes a customer and an invoice, a refund a credit note.

Flows produce derived hub records rather than transforming at push time, so intents, issues
and references keep working unchanged and each policy stays a table-tested function. This
module is that function, pure: given an order (or a refund), the route's policy and mapping
rules, what the hub already has and what earlier runs derived, it says what to write. The
runtime (``runtime/flows.py``) reads the store, calls it and writes the result in one fenced
transaction with the derived-record rows that make it exactly once.

Every outcome carries a stable reason code, the same ones the policies give, so an order that
is not booked or stays a draft always says why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, cast
from zoneinfo import ZoneInfo

from ledgerbridge.commerce.config import CommercePolicy, MatchField
from ledgerbridge.commerce.mapping import FieldChange, MappingRules, apply_mapping
from ledgerbridge.commerce.policies import (
    DELETED_IN_SHOP,
    FINAL,
    CustomerDecision,
    DateRange,
    PaymentDecision,
    TotalsCheck,
    booked_rate,
    check_totals,
    credit_note_lines,
    decide_booking,
    decide_customer,
    decide_payment,
    ended_unpaid,
    line_item,
    line_vat_code,
    match_key,
    negative_sale,
    order_day,
    refund_payment_term,
    state_action,
    withdraws,
)
from ledgerbridge.commerce.territories import vat_country
from ledgerbridge.model.commerce import CustomerKind, Order, Refund
from ledgerbridge.model.invoice import InvoiceLine

__all__ = [
    "BOOKED_STATES",
    "RAISED_AFTER_BOOKING",
    "Credited",
    "Known",
    "KnownRecords",
    "OrderResult",
    "PartyPlan",
    "PartyUpdate",
    "Prior",
    "RefundResult",
    "credit_note_waits",
    "match_key",
    "new_party_data",
    "order_flow",
    "party_update",
    "refund_flow",
    "source_hash",
]

JSON = dict[str, Any]
InvoiceState = Literal["draft", "booked", "paid"]
BOOKED_STATES: frozenset[str] = frozenset({"booked", "paid"})
"""A derived invoice in one of these states is never rewritten."""
RAISED_AFTER_BOOKING = frozenset({"order_changed_after_booking", "deleted_in_shop_after_booking"})
"""Changes in the shop to an order whose invoice is booked that a person must settle in the
accounting system: each is the order's issue, since a log line alone would go unseen."""

OPEN_DRAFT_REASONS = frozenset({"totals_mismatch", "rounding_account_missing"})
"""Drafts that stay an issue until the cause is fixed (the other drafts were asked for)."""

MESSAGES: dict[str, str] = {
    "before_start_date": "the order was created before the route's start date; a historical "
    "import for its date range books it",
    "state_not_triggering": "the order's state '{state}' does not trigger booking "
    "(policy.states); it is booked once it reaches one that does",
    "final_state_not_triggering": "the order was paid and is now '{state}', a state it does "
    "not leave and that does not trigger booking (policy.states), so it is not booked and its "
    "refunds wait: to book it with its credit note, set policy.states.{state} to "
    "create_invoice",
    "ended_unpaid": "the order is '{state}' in the shop and was never paid: there is "
    "nothing to book",
    "mapping_filter": "skipped by the mapping rules' {rule}: {detail}",
    "mapping_template_failed": "the mapping rules' {rule} could not render: {detail}",
    "mapping_result_invalid": "the order as the mapping rules adjust it is invalid: {detail}",
    "negative_sale": "order {order} {detail}: a sale below zero is a refund, and booked it "
    "would be a negative invoice that credits no sale. Make it a refund in the shop (or a "
    "refunds file) of the order the goods were sold on, which books a credit note against "
    "that order's invoice, and correct or cancel this order (it flows again once it "
    "changes); or dismiss this issue and credit the sale by hand in the accounting system",
    "customer_email_missing": "the customer has no e-mail address to be matched by",
    "customer_phone_missing": "the customer has no phone number to be matched by",
    "customer_vat_number_missing": "the customer has no VAT number to be matched by",
    "customer_ean_missing": "the customer has no EAN number to be matched by",
    "shared_customer_missing": "the shared B2C account {account} is no customer in the hub "
    "(no party with that debtor number): read it from the accounting system (its "
    "connection's customers, at the next pull or with a pull run now), then retry this "
    "issue; or fix policy.customers.shared_b2c_account",
    "vat_code_missing": "no VAT code for line {line} at {rate}% (policy.vat.domestic_codes)",
    "vat_charged_on_export": "line {line} is charged {rate}% VAT on a sale to {country}, "
    "outside the EU, where a sale is an export without VAT: if the shop is registered for "
    "VAT in {country} (Norway's VOEC, say), name the VAT code of that rate in "
    'policy.vat.oss_codes as "{country}:{rate}" (saving the route takes the order up again); '
    "else correct the order's VAT in the shop (it flows again once it changes)",
    "vat_zero_on_eu_consumer_sale": "line {line} is charged 0% VAT on a sale to a consumer in "
    "{country}, which owes {country}'s VAT under One Stop Shop (policy.vat.oss): booked on the "
    "home zero-rate code it would be declared exempt at home and missing from the OSS return. "
    "Add {country}'s VAT rate in the shop and correct the order there (it flows again once it "
    "changes); if the line is really zero-rated in {country}, name its VAT code in "
    'policy.vat.oss_codes as "{country}:0"',
    "vat_zero_without_eu_vat_number": "line {line} is charged 0% VAT on a sale to a "
    "business in {country} whose VAT number {vat_number} is not of another EU country than "
    "{home}: a sale without VAT to a business in the EU (reverse charge) needs the buyer's "
    "VAT number from another member state, so it is not booked as one. Correct the "
    "customer's VAT number, or charge VAT in the shop, and correct the order there (it "
    "flows again once it changes)",
    "totals_mismatch": "the shop's total {shop_total} differs from the booked "
    "{booked_total} by more than the tolerance (VAT: shop {shop_tax}, booked "
    "{booked_tax}): the invoice stays a draft",
    "rounding_account_missing": "a rounding gap of {gap} and no policy.rounding_account to "
    "book it on: the invoice stays a draft",
    "order_not_paid": "invoice {state} with payment term {term}, not registered as paid: "
    "'{method}' is registered as paid by the route's policy, but the shop does not report the "
    "order paid (it gives no paid time, order.paid_at; orders from a file whose mapping has "
    "no order.paid_at never have one), so its payment is not registered (PayMatch would "
    "credit the card receivable for a payment never registered there); register the payment "
    "in the accounting system once it is in, and for such files map order.paid_at",
    "payment_method_unknown": "the shop reports the order paid with '{method}', a payment "
    "method the route's policy has no rule for: the invoice is {state} with payment term "
    "{term} and not registered as paid, so it stays open on {customer}; add a payment rule "
    "for '{method}' to the route's policy (policy.payment_methods) and settle this invoice's "
    "open balance in the accounting system",
    "payment_split": "the sale was paid several ways ({tenders}): an invoice's payment term "
    "registers one payment, which would book every part on one method's account, so the "
    "invoice is {state} with payment term {term} and not registered as paid, and stays open "
    "on {customer}; register each part in the accounting system (the card part against the "
    "acquirer's receivable, which its payout clears; the cash against the till), then dismiss "
    "this issue",
    "payment_split_registered": "invoice {state} with payment term {term}; the sale was paid "
    "several ways, and each part is registered as a payment against the invoice in cash "
    "journal {journal} ({parts}): the lines wait there for a person to approve and book them, "
    "which settles the invoice",
    "payment_split_unregistered": "; to have such parts registered by themselves, give "
    "{missing} an account in policy.payment_methods (and the policy a payment_journal)",
    "invoice_booked": "the order's invoice is booked: later changes do not rewrite it",
    "order_withdrawn": "the order is '{state}' in the shop and was not booked: its draft "
    "invoice is deleted, and with it the order in the accounting system (and the stock it "
    "reserved); should the order reach a state that books it, it is made afresh",
    "deleted_in_shop_after_booking": "the order was moved to the trash or deleted in the shop "
    "after its invoice was booked: booked invoices are never deleted, so the invoice "
    "stays in the accounting system; credit it there by hand if the sale is really undone (or "
    "restore the order in the shop and refund it, which books a credit note)",
    "order_changed_after_booking": "the order now totals {order_total} {currency}, and its "
    "booked invoice {booked_total}: a booked invoice is never rewritten, so correct it in the "
    "accounting system (a credit note, or a new invoice for what was added), or refund the "
    "difference in the shop, which books a credit note",
    "refund_order_missing": "the refunded order {order} is not in the hub yet; the refund "
    "follows it by itself",
    "refund_waiting_for_invoice": "the refunded order {order} has no booked invoice yet; the "
    "credit note is made once it has",
    "refund_of_unbooked_final_order": "the refunded order {order} is '{state}' in the shop, a "
    "state it does not leave and that does not trigger booking (policy.states), so it has no "
    "invoice for this refund to credit: to book the sale and its credit note, set "
    "policy.states.{state} to create_invoice; if the sale is not to be booked at all, dismiss "
    "this issue and the order's",
    "refund_order_mismatch": "the refund names another order than the one found",
    "refund_line_unknown": "a refunded line names no line of order {order}",
    "refund_currency_mismatch": "the refund is in {refund_currency} and order {order} in "
    "{currency}: a credit note is made in the currency of the invoice it credits, so correct "
    "the refund's currency in the shop or its file (the refund flows again once it changes), "
    "or book its credit note by hand in the accounting system",
    "refund_exceeds_order": "the refund of {amount} {currency} is more than order {order} "
    "totals ({order_total} {currency}), and a credit note never credits more than its "
    "invoice: correct the refund's amount in the shop or its file (a number read with the "
    "wrong decimal separator, say; the refund flows again once it changes), or book the "
    "credit note by hand in the accounting system",
    "refunds_exceed_order": "the refund of {amount} {currency} would credit order {order} "
    "for {after} {currency} in all, more than it totals ({order_total} {currency}): its "
    "credit notes credit {credited} {currency} already ({notes}), so at most {left} "
    "{currency} is left to refund. Correct this refund's amount in the shop or its file (it "
    "flows again once it changes), or, when an earlier refund was the wrong one, correct "
    "that one, or book this credit note by hand in the accounting system and dismiss this "
    "issue",
    "refund_item_missing": "the refund pays a free amount and the policy has no refund_item",
    "refund_rate_ambiguous": "the refund pays a free amount and order {order} has item lines "
    "at several VAT rates, so the VAT of that amount cannot be told: make the refund in the "
    "shop against the refunded lines (their quantities or amounts) instead of as a free "
    "amount (the issue closes once the refund flows), or book its credit note by hand in the "
    "accounting system",
    "credit_note_booked": "the refund's credit note is booked: later changes do not rewrite it",
    "credit_note_waits": "credit note {state} in the hub against invoice {invoice}, which the "
    "accounting system does not have yet{refused}: the credit note is sent once the invoice "
    "is booked there (until then it waits with credited_invoice_pending)",
}


def credit_note_waits(state: str, invoice_id: str, refused: str | None) -> str:
    """What a credit note's log says while its invoice is not in the target yet (refused with
    ``refused``, or not sent yet): it is made in the hub, not booked in the target."""
    because = f" (refused there: {refused})" if refused else ""
    return _message("credit_note_waits", state=state, invoice=invoice_id, refused=because)


def _message(reason: str, **values: Any) -> str:
    template = MESSAGES.get(reason, reason.replace("_", " "))
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template


# ---------------------------------------------------------------------------- inputs


class Known(Protocol):
    """What the hub already has, as the flow asks for it."""

    def party_by(self, field: MatchField, key: str) -> str | None:
        """The party whose ``field`` has the match key (``match_key``)."""

    def party_by_debtor_number(self, account: str) -> str | None: ...

    def product_by_sku(self, sku: str) -> str | None: ...


@dataclass(frozen=True)
class KnownRecords:
    """``Known`` over plain maps (tests, dry runs)."""

    parties: Mapping[str, str] = field(default_factory=dict)
    """``<field>:<match key>`` → party id."""
    debtor_numbers: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, str] = field(default_factory=dict)

    def party_by(self, field: MatchField, key: str) -> str | None:
        return self.parties.get(f"{field}:{key}")

    def party_by_debtor_number(self, account: str) -> str | None:
        return self.debtor_numbers.get(account)

    def product_by_sku(self, sku: str) -> str | None:
        return self.products.get(sku)


@dataclass(frozen=True)
class Prior:
    """A record an earlier run derived: its hub id and state."""

    record_id: str
    state: str
    party_id: str | None = None
    payment_term: str | None = None
    """The invoice's payment term, which its credit notes carry: a refund goes back over the
    receivable the sale was booked on (card receivable, till), not the debtor's own term."""
    total: Decimal | None = None
    """The invoice's total with VAT, which a booked order's later total is compared with."""
    payments: bool = False
    """Whether the invoice's payments were derived with it (a split sale registered part by
    part): a booked split sale without them stays the order's issue."""


@dataclass(frozen=True)
class Credited:
    """A credit note that credits a refund's invoice already, as its issue names it."""

    label: str
    """Its number in the accounting system, else its hub id."""
    amount: Decimal
    """What it credits with VAT, positive."""


def source_hash(record: JSON, policy: CommercePolicy, rules: MappingRules | None) -> str:
    """What an earlier run saw: the source record, the policy and the rules. Equal hashes
    mean processing again would change nothing."""
    content = {
        "record": record,
        "policy": policy.model_dump(mode="json"),
        "rules": rules.content_hash if rules else None,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PartyPlan:
    """The invoice's customer: an existing party (``party_id``), or one to create (``data``,
    remembered under ``key``, the match field and key: ``email:karen@kunde.dk``)."""

    party_id: str | None = None
    data: JSON | None = None
    key: str | None = None
    update: JSON | None = None
    """For an existing party whose profile has ``update_existing``: the customer's fields as
    the order has them, which ``party_update`` compares with the party's."""
    as_of: datetime | None = None
    """When the order was placed: what the customer's fields are as of."""


@dataclass(frozen=True)
class PartyUpdate:
    """An existing party's data with the order's customer fields that differ (``changed``);
    ``stale`` when the party changed after the order was placed, so it must not be written."""

    data: JSON
    changed: tuple[str, ...]
    stale: bool


@dataclass(frozen=True)
class OrderResult:
    """What one order leads to.

    ``outcome``: ``invoice`` (write ``invoice`` for ``party``), ``skip`` (nothing to write;
    ``reason`` is the order's issue), ``unchanged`` (its invoice is booked already) or
    ``withdraw`` (delete its draft invoice: the sale ended before it was booked; ``reason``
    is ``order_cancelled`` or ``order_failed``).
    ``issue`` says whether ``reason`` stays open as the order's issue; for ``unchanged``,
    whether the booked invoice's ``payment_method_unknown`` or ``payment_split`` stays open.
    """

    outcome: Literal["invoice", "skip", "unchanged", "withdraw"]
    reason: str
    message: str
    issue: bool
    party: PartyPlan | None = None
    invoice: JSON | None = None
    """The invoice's canonical data, without ``party_id`` (the party may not exist yet)."""
    state: InvoiceState | None = None
    rules_version: int | None = None
    rules_hash: str | None = None
    changes: tuple[FieldChange, ...] = ()
    order: Order | None = None
    """The order as the rules adjusted it."""
    payments: JSON | None = None
    """For a booked sale paid several ways whose every method names an account: the payment
    posting (``journal_posting``) that registers each part against the invoice, without the
    invoice, customer and reference the runtime gives it."""


@dataclass(frozen=True)
class RefundResult:
    """What one refund leads to: ``credit_note`` (``credit_note`` for the order's invoice),
    ``wait`` (the order's invoice is not booked yet), ``skip`` or ``unchanged``."""

    outcome: Literal["credit_note", "wait", "skip", "unchanged"]
    reason: str
    message: str
    issue: bool
    credit_note: JSON | None = None
    state: InvoiceState | None = None


def _skip(reason: str, message: str, **extra: Any) -> OrderResult:
    return OrderResult("skip", reason, message, True, **extra)


# ---------------------------------------------------------------------------- orders


def _rounding_line(totals: TotalsCheck) -> InvoiceLine:
    """The gap a shop's per-line or subtotal rounding leaves, on the rounding account and
    without VAT, so the invoice totals what the customer paid."""
    return InvoiceLine(
        sku=totals.rounding_account,
        description="Rounding",
        quantity=Decimal(1),
        unit_price=totals.rounding_amount,
        vat_rate=Decimal(0),
    )


def _contact(order: Order, kind: CustomerKind) -> JSON:
    """What the order says of its customer that a party keeps and a later order may change:
    the name (the company's; a consumer's own name when there is none: a business is never
    renamed after a person), e-mail, phone and billing address. Only the values it has."""
    customer = order.customer
    billing = order.billing_address
    data: JSON = {
        "name": customer.company or (customer.name if kind == "b2c" else None),
        "email": customer.email,
        "phone": customer.phone,
        "billing_address": billing.model_dump(mode="json") if billing else None,
    }
    return {key: value for key, value in data.items() if value is not None}


def new_party_data(order: Order, decision: CustomerDecision) -> JSON:
    """A new customer with the profile's group, zone and the shop's identifiers."""
    customer = order.customer
    contact = _contact(order, decision.kind)
    is_person = decision.kind == "b2c" and not customer.company
    name = contact.get("name") or customer.name or customer.email or customer.phone
    data: JSON = {
        **contact,
        "kind": "person" if is_person else "organisation",
        "name": name or f"Customer of order {order.number or order.source_id}",
        "is_customer": True,
        "vat_number": customer.vat_number,
        "gln": customer.ean,
        "currency": order.currency,
        "customer_group": decision.debtor_group,
        "vat_zone": decision.vat_zone,
    }
    return {key: value for key, value in data.items() if value is not None}


def _update(
    order: Order, policy: CommercePolicy, decision: CustomerDecision, found: str, known: Known
) -> JSON | None:
    """What an order writes to the existing party it matched, if its profile says so. The
    shared B2C account (matched by a business's e-mail, say) is every consumer's, never one
    customer's to change. A subscription's renewal carries the address the subscription was
    taken out with, not one the customer just gave: it would undo every later move."""
    if not policy.customers.profiles[decision.kind].update_existing or order.renewal:
        return None
    shared = policy.customers.shared_b2c_account
    if shared and known.party_by_debtor_number(shared) == found:
        return None
    contact = _contact(order, decision.kind)
    # The value the party was found by stays as the party has it (e-mail case, phone format);
    # VAT and EAN numbers are not among the contact fields at all.
    contact.pop(str(decision.match_field), None)
    return contact


def _customer(order: Order, policy: CommercePolicy, known: Known) -> PartyPlan | OrderResult:
    decision = decide_customer(order, policy)
    if decision.action == "fail":
        return _skip(decision.reason, _message(decision.reason))
    if decision.action == "shared":
        account = decision.account or ""
        party_id = known.party_by_debtor_number(account)
        if party_id is None:
            return _skip(
                "shared_customer_missing", _message("shared_customer_missing", account=account)
            )
        return PartyPlan(party_id=party_id)
    assert decision.match_field is not None
    key = match_key(decision.match_field, decision.match_value)
    assert key is not None
    match = f"{decision.match_field}:{key}"
    found = known.party_by(decision.match_field, key)
    if found is not None:
        update = _update(order, policy, decision, found, known)
        return PartyPlan(party_id=found, key=match, update=update, as_of=order.created_at)
    return PartyPlan(data=new_party_data(order, decision), key=match, as_of=order.created_at)


ADDRESS_PARTS = ("line1", "line2", "line3", "postal_code", "city", "country")
"""What makes two addresses the same one: the parts every system keeps. A region or a street
split that one side keeps and the other does not is no move."""


def _differs(field: str, value: Any, current: Any) -> bool:
    """Whether the order's value of a contact field is news to the party: e-mail addresses
    and phone numbers as they are matched (case, spacing), addresses by their parts."""
    if field in ("email", "phone"):
        matched = cast(MatchField, field)
        return match_key(matched, value) != match_key(matched, current)
    if field == "billing_address":
        if not isinstance(current, Mapping):
            return True
        return any((value.get(p) or None) != (current.get(p) or None) for p in ADDRESS_PARTS)
    return bool(value != current)


def party_update(current: JSON, changed_at: datetime, plan: PartyPlan) -> PartyUpdate | None:
    """The existing party's data with the order's contact fields where they differ, or None
    when the order asks no update or has nothing new. ``stale`` when the party's last change
    (``changed_at``) is not older than the order: an order read again or imported from the
    past must not undo a newer address typed in the accounting system."""
    if plan.update is None or plan.as_of is None:
        return None
    changed = tuple(
        name for name, value in plan.update.items() if _differs(name, value, current.get(name))
    )
    if not changed:
        return None
    data = {**current, **{name: plan.update[name] for name in changed}}
    return PartyUpdate(data, changed, stale=plan.as_of <= changed_at)


def _local_date(order: Order, timezone: str) -> str:
    return order_day(order, timezone).isoformat()


def _rate_notes(order: Order, policy: CommercePolicy, code_rates: Mapping[str, Decimal]) -> str:
    """Why the booked VAT differs: the lines whose VAT code books another rate than the shop
    charged, and where to fix it."""
    notes: dict[str, None] = {}
    for line in order.lines:
        rate = booked_rate(order, line, policy, code_rates)
        if rate != line.tax_rate:
            code = line_vat_code(order, line, policy).code
            notes[
                f"VAT code {code} books {rate.normalize():f}%, the shop charged "
                f"{line.tax_rate.normalize():f}% on "
                f"{line.sku or line.description or 'a line'}"
            ] = None
    if not notes:
        return ""
    return (
        f" ({'; '.join(notes)}: name a code of the charged rate in policy.vat, or correct the "
        "code's rate in the accounting system)"
    )


def _paid_but_left_open(
    order: Order, policy: CommercePolicy, payment: PaymentDecision, registered: bool = False
) -> bool:
    """A paid order booked open, a balance (on the shared till debtor, say) that no payment
    will settle, is the order's issue, not a log line: a method without a rule, for a customer
    whose profile names no payment term either (a profile's own term, EAN customers' ``Netto
    30``, is an open balance on purpose), and a sale paid several ways (``payment_split``)
    whose payments were not ``registered`` part by part, which a person then registers."""
    if not order.is_paid:
        return False
    if payment.reason == "payment_split":
        return not registered
    profile = policy.customers.profiles[order.customer.customer_kind]
    return payment.reason == "payment_method_unknown" and profile.payment_term is None


def _tenders(order: Order) -> str:
    """A split sale's payments in words: ``Card 300.00 DKK, Cash 150.00 DKK``."""
    return ", ".join(f"{t.title or t.code} {t.amount} {order.currency}" for t in order.tenders)


def _unaccounted(order: Order, policy: CommercePolicy) -> list[str]:
    """A split sale's methods whose rule names no account (or that have no rule)."""
    missing = []
    for tender in order.tenders:
        rule = policy.payment_rule(tender.code)
        if (rule is None or rule.account is None) and tender.code not in missing:
            missing.append(tender.code)
    return missing


def _split_payments(order: Order, policy: CommercePolicy, timezone: str) -> JSON | None:
    """The posting that registers each part of a sale paid several ways against its invoice:
    per part, a credit of the invoice's debtor (with the invoice number, which settles it)
    and a debit of the part's method's account, in ``policy.payment_journal``. None when a
    method names no account (a person registers the parts, as the issue says)."""
    accounts = policy.split_accounts([t.code for t in order.tenders])
    if accounts is None:
        return None
    ref = order.number or order.source_id
    lines: list[JSON] = []
    for tender in order.tenders:
        if tender.amount == 0:
            continue
        what = f"{tender.title or tender.code} {tender.amount} {order.currency}"
        text = f"Order {ref}: payment {what}"[:200]
        lines.append({"role": "customer", "amount": str(-tender.amount), "text": text,
                      "method": tender.code, "order_ref": ref})  # fmt: skip
        lines.append({"role": "tender", "account": accounts[tender.code],
                      "amount": str(tender.amount), "text": text, "method": tender.code,
                      "order_ref": ref})  # fmt: skip
    return {
        "kind": "payment",
        "journal": policy.payment_journal,
        "date": _local_date(order, timezone),
        "currency": order.currency,
        "order_ref": ref,
        "lines": lines,
    }


def _parts(payments: JSON) -> str:
    """A payment posting's parts in words: ``Card (Zettle) 20.00 DKK on 5820, …``."""
    return ", ".join(
        f"{line['text'].partition(': payment ')[2]} on {line['account']}"
        for line in payments["lines"]
        if line["role"] == "tender"
    )


def order_flow(
    order: Order,
    policy: CommercePolicy,
    rules: MappingRules | None,
    known: Known,
    prior: Prior | None = None,
    *,
    timezone: str = "UTC",
    historical: DateRange | None = None,
    code_rates: Mapping[str, Decimal] | None = None,
) -> OrderResult:
    """The customer and invoice an order becomes, or why it does not become one.

    An order whose invoice is booked is left alone (refunds become credit notes instead).
    An order an earlier run took in (``prior``) stays the route's whatever its date, so a
    draft from a historical import is updated by the order's later changes, and withdrawn
    when the order is cancelled or fails (``withdraws``). ``code_rates`` are the target's
    rates of its VAT codes, which its totals are checked at.
    """
    if prior is not None and prior.state in BOOKED_STATES:
        if order.state == DELETED_IN_SHOP:
            # Books are never deleted: a person decides whether the sale is undone.
            message = _message("deleted_in_shop_after_booking")
            return OrderResult("unchanged", "deleted_in_shop_after_booking", message, True)
        if prior.total is not None and abs(order.total - prior.total) > policy.rounding_tolerance:
            # Changed in the shop after booking (a quantity raised): the books differ from the
            # shop, which a person must settle; the log line alone would go unseen.
            message = _message("order_changed_after_booking", order_total=order.total,
                               currency=order.currency, booked_total=prior.total)  # fmt: skip
            return OrderResult("unchanged", "order_changed_after_booking", message, True)
        # A booked invoice's open balance from a method without a rule stays the order's
        # issue until the policy has a rule for it; a split sale's until its parts are
        # registered (a person dismisses it once they registered them by hand).
        payment = decide_payment(order, policy)
        unknown = _paid_but_left_open(order, policy, payment, prior.payments)
        return OrderResult("unchanged", "invoice_booked", _message("invoice_booked"), unknown)
    mapped = apply_mapping(order, rules or MappingRules())

    def result(
        outcome: Literal["invoice", "skip", "withdraw"], reason: str, message: str, **extra: Any
    ) -> OrderResult:
        return OrderResult(
            outcome, reason, message, extra.pop("issue", True),
            rules_version=mapped.version, rules_hash=mapped.rules_hash,
            changes=mapped.changes, order=mapped.order, **extra,
        )  # fmt: skip

    if mapped.order is None:
        return result(
            "skip", mapped.reason, _message(mapped.reason, rule=mapped.rule, detail=mapped.detail)
        )
    order = mapped.order
    if prior is not None and withdraws(order, policy):
        message = _message("order_withdrawn", state=order.state)
        return result("withdraw", f"order_{order.state}", message, issue=False)
    if prior is not None and historical is None:
        day = order_day(order, timezone)
        historical = DateRange(day, day)
    booking = decide_booking(order, policy, historical, timezone, code_rates)
    if booking.action == "ignore":
        message = _message(booking.reason, state=order.state)
        if booking.reason == "state_not_triggering" and order.state in FINAL | {DELETED_IN_SHOP}:
            if ended_unpaid(order, policy):  # nothing to book, ever: no issue to clear
                return result("skip", booking.reason, _message("ended_unpaid", state=order.state),
                              issue=False)  # fmt: skip
            message = _message("final_state_not_triggering", state=order.state)
        return result("skip", booking.reason, message)
    negative = negative_sale(order)
    if negative is not None:
        message = _message("negative_sale", order=order.number or order.source_id, detail=negative)
        return result("skip", "negative_sale", message)
    customer = _customer(order, policy, known)
    if isinstance(customer, OrderResult):
        return result("skip", customer.reason, customer.message)
    lines: list[JSON] = []
    for number, line in enumerate(order.lines, start=1):
        vat = line_vat_code(order, line, policy)
        if vat.code is None:
            label = line.sku or line.description or str(number)
            message = _message(
                vat.reason, line=label, rate=line.tax_rate,
                country=vat_country(order.destination),  # the key to name: Monaco's is FR
                vat_number=order.customer.vat_number, home=policy.vat.home_country,
            )  # fmt: skip
            return result("skip", vat.reason, message)
        sku = line_item(line, policy)
        invoice_line = InvoiceLine(
            product_id=known.product_by_sku(sku) if sku else None,
            sku=sku,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            vat_code=vat.code,
            vat_rate=line.tax_rate,
        )
        lines.append(invoice_line.model_dump(mode="json", exclude_none=True))
    totals = booking.totals or check_totals(order, policy, code_rates)
    if totals.status == "rounding":
        lines.append(_rounding_line(totals).model_dump(mode="json", exclude_none=True))
    payment = decide_payment(order, policy)
    state: InvoiceState = "draft"
    if booking.book:
        state = "paid" if payment.registered_as_paid else "booked"
    invoice: JSON = {
        "kind": "invoice",
        "date": _local_date(order, timezone),
        "currency": order.currency,
        "status": state,
        "payment_term": payment.payment_term,
        "reference": order.number or order.source_id,
        "notes": order.note,
        "delivery_address": (
            order.shipping_address.model_dump(mode="json") if order.shipping_address else None
        ),
        "lines": lines,
    }
    reason = booking.reason
    issue = reason in OPEN_DRAFT_REASONS
    message = _message(
        reason,
        shop_total=totals.shop_total,
        booked_total=totals.booked_total,
        shop_tax=totals.shop_tax,
        booked_tax=totals.booked_tax,
        gap=totals.difference,
    )
    if reason == "totals_mismatch":
        message += _rate_notes(order, policy, code_rates or {})
    payments = None
    if not issue and state == "booked" and order.is_paid and payment.reason == "payment_split":
        payments = _split_payments(order, policy, timezone)
    if payments is not None:
        reason = "payment_split_registered"
        message = _message(reason, state=state, term=payment.payment_term,
                           journal=policy.payment_journal, parts=_parts(payments))  # fmt: skip
    elif not issue and _paid_but_left_open(order, policy, payment):
        reason, issue = payment.reason, True
        method = order.payment_method.code if order.payment_method else ""
        shared = decide_customer(order, policy).action == "shared"
        debtor = (
            f"the shared debtor {policy.customers.shared_b2c_account}" if shared else "its debtor"
        )
        message = _message(
            reason, state=state, term=payment.payment_term, method=method, customer=debtor,
            tenders=_tenders(order),
        )  # fmt: skip
        missing = ", ".join(f"'{code}'" for code in _unaccounted(order, policy))
        if reason == "payment_split" and missing:
            message += _message("payment_split_unregistered", missing=missing)
    elif not issue:
        message = f"invoice {state} ({reason}; payment: {payment.reason})"
    if not issue and payment.reason == "order_not_paid" and booking.book:
        # Registered as paid by its method, but never reported paid: the line says why.
        method = order.payment_method.code if order.payment_method else ""
        message = _message(payment.reason, state=state, term=payment.payment_term, method=method)
    return result(
        "invoice", reason, message, issue=issue, party=customer, invoice=invoice, state=state,
        payments=payments,
    )  # fmt: skip


# ---------------------------------------------------------------------------- refunds


def refund_flow(
    refund: Refund,
    order: Order | None,
    policy: CommercePolicy,
    invoice: Prior | None,
    prior: Prior | None = None,
    *,
    timezone: str = "UTC",
    credited: tuple[Credited, ...] = (),
) -> RefundResult:
    """The credit note a refund becomes against its order's booked invoice.

    A refund waits while its order has no booked invoice (the order is not in, or its invoice
    is a draft that may still change); it is made once the invoice is booked. ``credited``
    are the invoice's other credit notes, which this one must not take beyond the invoice.
    """
    if prior is not None and prior.state in BOOKED_STATES:
        return RefundResult(
            "unchanged", "credit_note_booked", _message("credit_note_booked"), False
        )
    ref = refund.order_source_id
    if order is None:
        return RefundResult(
            "wait", "refund_order_missing", _message("refund_order_missing", order=ref), True
        )
    if invoice is None or invoice.state not in BOOKED_STATES or invoice.party_id is None:
        # An order refunded or cancelled before it was booked waits for a person, not for time.
        final = invoice is None and order.state in FINAL and state_action(order, policy) == "ignore"
        waits = "refund_of_unbooked_final_order" if final else "refund_waiting_for_invoice"
        return RefundResult(
            "wait",
            "refund_waiting_for_invoice",
            _message(waits, order=order.number or ref, state=order.state),
            True,
        )
    already = sum((note.amount for note in credited), Decimal("0.00"))
    decision = credit_note_lines(refund, order, policy, already)
    if not decision.lines or decision.totals is None:
        message = _message(
            decision.reason,
            order=order.number or ref,
            currency=order.currency,
            order_total=order.total,
            refund_currency=refund.currency,
            amount=refund.amount,
            credited=already,
            after=already + refund.amount,
            left=max(order.total - already, Decimal("0.00")),
            notes=", ".join(f"credit note {note.label}: {note.amount}" for note in credited),
        )
        return RefundResult("skip", decision.reason, message, True)
    codes: dict[Decimal, str | None] = {}
    for line in order.lines:
        codes.setdefault(line.tax_rate, line_vat_code(order, line, policy).code)
    lines: list[JSON] = []
    for credit_line in decision.lines:
        code = codes.get(credit_line.vat_rate) if credit_line.vat_rate is not None else None
        if code is None:
            label = credit_line.sku or credit_line.description
            message = _message("vat_code_missing", line=label, rate=credit_line.vat_rate)
            return RefundResult("skip", "vat_code_missing", message, True)
        with_code = credit_line.model_copy(update={"vat_code": code})
        lines.append(with_code.model_dump(mode="json", exclude_none=True))
    totals = decision.totals
    if totals.status == "rounding":
        lines.append(_rounding_line(totals).model_dump(mode="json", exclude_none=True))
    draft = decision.reason in OPEN_DRAFT_REASONS or not policy.book
    state: InvoiceState = "draft" if draft else "booked"
    note: JSON = {
        "kind": "credit_note",
        "party_id": invoice.party_id,
        "credits_invoice_id": invoice.record_id,
        "date": refund.created_at.astimezone(ZoneInfo(timezone)).date().isoformat(),
        "currency": refund.currency,
        "status": state,
        "payment_term": refund_payment_term(refund, order, policy, invoice.payment_term),
        "reference": order.number or order.source_id,
        "notes": refund.reason,
        "lines": lines,
    }
    note = {key: value for key, value in note.items() if value is not None}
    issue = decision.reason in OPEN_DRAFT_REASONS
    message = (
        _message(
            decision.reason,
            shop_total=totals.shop_total,
            booked_total=totals.booked_total,
            shop_tax=totals.shop_tax,
            booked_tax=totals.booked_tax,
            gap=totals.difference,
        )
        if issue
        else f"credit note {state} against invoice {invoice.record_id}"
    )
    return RefundResult("credit_note", decision.reason, message, issue, note, state)
