"""The commerce flow's decisions, each a pure function of a record and a ``CommercePolicy``.

Every function answers with a small frozen result: what to do and a stable ``reason`` code, so
that an order that is not booked, or booked as a draft, always says why (the reason becomes the
record's issue). Nothing here reads the store or calls a system: routes and connectors call
these and carry the results out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Literal
from zoneinfo import ZoneInfo

from stdnum.eu import vat as eu_vat

from ledgerbridge.commerce.config import (
    CommercePolicy,
    MatchField,
    StateAction,
    oss_key,
)
from ledgerbridge.commerce.territories import EU_COUNTRIES, vat_country
from ledgerbridge.model.commerce import CustomerKind, Order, OrderLine, Refund
from ledgerbridge.model.invoice import InvoiceLine, vat_by_code
from ledgerbridge.model.numbers import PRICE_EXTRA_PLACES, currency_places

__all__ = [
    "EU_COUNTRIES",
    "BookingDecision",
    "CreditNoteDecision",
    "CustomerDecision",
    "DateRange",
    "HistoricalImportPlan",
    "ImportProblem",
    "PaymentDecision",
    "TotalsCheck",
    "VatDecision",
    "booked_gross",
    "booked_rate",
    "check_totals",
    "credit_note_lines",
    "decide_booking",
    "decide_customer",
    "decide_payment",
    "in_go_live",
    "line_item",
    "line_vat_code",
    "negative_sale",
    "order_day",
    "paid_time_unmapped",
    "plan_historical_import",
    "refund_payment_term",
    "state_action",
    "vat_zone",
    "withdraws",
]


@dataclass(frozen=True)
class DateRange:
    """Days from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the range ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


# ---------------------------------------------------------------------------- states, go-live


def state_action(order: Order, policy: CommercePolicy) -> StateAction:
    """What the order's state leads to; a state the policy does not name is ignored."""
    return policy.states.get(order.state, "ignore")


DELETED_IN_SHOP = "trash"
"""The state of an order the shop moved to its trash (WooCommerce's ``trash``)."""
WITHDRAWING = frozenset({"cancelled", "failed", DELETED_IN_SHOP})
"""Shop states that end a sale before it is paid for or delivered; an order moved to the trash
is ended as a cancelled one is."""


def withdraws(order: Order, policy: CommercePolicy) -> bool:
    """Whether an order taken in as an order or a draft, and not booked, is withdrawn: it is
    cancelled, failed or trashed in the shop, and the policy does not book that state. Left
    open, its order in the accounting system would reserve stock for a sale that will not
    happen."""
    return order.state in WITHDRAWING and state_action(order, policy) == "ignore"


SHOP_STATES = frozenset(
    {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed"}
    | {DELETED_IN_SHOP}
)
"""The states a shop's order passes through, in the words a policy's ``states`` are written
in (WooCommerce's); an order file's own words are translated to them by its mapping."""

FINAL = frozenset({"refunded", "cancelled"})
"""Shop states an order does not leave: a paid order in one that does not trigger booking is
never booked unless the policy says so."""


def ended_unpaid(order: Order, policy: CommercePolicy) -> bool:
    """Whether the shop ended the order (cancelled, refunded, trashed) without its ever being
    paid, in a state the policy does not book: nothing is due and nothing is ever booked."""
    return (
        order.state in FINAL | {DELETED_IN_SHOP}
        and not order.is_paid
        and state_action(order, policy) == "ignore"
    )


def order_day(order: Order, timezone: str = "UTC") -> dt.date:
    """The day an order was placed, where the business keeps its books (an order placed at
    00:30 in Copenhagen belongs to that day, not to the day before in UTC)."""
    return order.created_at.astimezone(ZoneInfo(timezone)).date()


def in_go_live(
    order: Order,
    policy: CommercePolicy,
    historical: DateRange | None = None,
    timezone: str = "UTC",
) -> bool:
    """Whether the order is the connection's to book: placed on or after its start date (in
    the connection's time zone), or inside the historical import asked for."""
    day = order_day(order, timezone)
    if historical is not None and day in historical:
        return True
    return policy.start_date is None or day >= policy.start_date


# ---------------------------------------------------------------------------- totals


TotalsStatus = Literal["match", "rounding", "totals_mismatch"]


@dataclass(frozen=True)
class TotalsCheck:
    """The shop's totals against what the accounting system will book from the lines.

    ``status``: ``match``; ``rounding`` (a gap within the tolerance, booked as a line of
    ``rounding_amount`` on ``rounding_account``); ``totals_mismatch`` (the gap is larger, or
    there is no rounding account: the invoice stays a draft with this issue).
    """

    status: TotalsStatus
    reason: str
    shop_total: Decimal
    booked_total: Decimal
    shop_tax: Decimal
    booked_tax: Decimal
    rounding_amount: Decimal = Decimal("0.00")
    rounding_account: str | None = None

    @property
    def difference(self) -> Decimal:
        return self.shop_total - self.booked_total


def _price(value: Decimal, currency: str) -> Decimal:
    """A unit price at the precision an invoice line takes in the currency."""
    precision = Decimal(1).scaleb(-(currency_places(currency) + PRICE_EXTRA_PLACES))
    return value.quantize(precision, rounding=ROUND_HALF_UP)


def line_item(line: OrderLine, policy: CommercePolicy) -> str | None:
    """The item a line is booked on: its own SKU, else the policy's service item for its kind
    (shipping on ``FRAGT``), so freight and fees reach the accounts their items post to."""
    if line.sku or line.kind == "item":
        return line.sku
    return policy.service_items.get(line.kind)


def _booked_line(line: OrderLine, rate: Decimal) -> InvoiceLine:
    """The invoice line an order line is booked as, at the rate its VAT code books; the
    invoice model's arithmetic (net and VAT rounded per line) makes these totals the ones the
    booked invoice has."""
    return InvoiceLine(
        sku=line.sku,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_rate=rate,
    )


def booked_rate(
    order: Order, line: OrderLine, policy: CommercePolicy, code_rates: Mapping[str, Decimal]
) -> Decimal:
    """The rate a line's VAT is booked at: its VAT code's in the accounting system, which
    computes the VAT from the code whatever rate the shop charged; the line's own rate when
    the system's rates are not known."""
    code = line_vat_code(order, line, policy).code
    rate = code_rates.get(code) if code is not None else None
    return line.tax_rate if rate is None else rate


def _compare(
    shop_total: Decimal, shop_tax: Decimal, booked: Iterable[InvoiceLine], policy: CommercePolicy
) -> TotalsCheck:
    """The shop's total against the booked lines' (net rounded per line, VAT as the policy
    says the accounting system rounds it), judged by the policy's tolerance: invoices and
    credit notes alike."""
    lines = list(booked)
    booked_tax = _booked_vat(lines, policy.vat.rounding)
    booked_total = booked_gross(lines, policy)
    gap = shop_total - booked_total

    def result(
        status: TotalsStatus, reason: str, rounding: Decimal = Decimal("0.00")
    ) -> TotalsCheck:
        return TotalsCheck(
            status,
            reason,
            shop_total=shop_total,
            booked_total=booked_total,
            shop_tax=shop_tax,
            booked_tax=booked_tax,
            rounding_amount=rounding,
            rounding_account=policy.rounding_account if rounding else None,
        )

    if gap == 0:
        return result("match", "totals_match")
    if abs(gap) > policy.rounding_tolerance:
        return result("totals_mismatch", "totals_mismatch")
    if policy.rounding_account is None:
        return result("totals_mismatch", "rounding_account_missing")
    return result("rounding", "rounding_within_tolerance", gap)


def _booked_vat(lines: list[InvoiceLine], rounding: str) -> Decimal:
    """The VAT an invoice of these lines is booked with: rounded on each line, or once per VAT
    code (``per_rate``: each code has one rate) on the code's net total."""
    by_code = vat_by_code(lines, "per_line" if rounding == "per_line" else "per_code")
    return sum((vat for _, vat in by_code.values()), Decimal("0.00"))


def booked_gross(lines: Iterable[InvoiceLine], policy: CommercePolicy) -> Decimal:
    """What an invoice or credit note of these lines totals with VAT as the accounting system
    books it (VAT rounded as ``vat.rounding`` says), which the hub record's per-line VAT can
    miss by a cent."""
    booked = list(lines)
    net = sum((line.net_amount for line in booked), Decimal("0.00"))
    return net + _booked_vat(booked, policy.vat.rounding)


def check_totals(
    order: Order, policy: CommercePolicy, code_rates: Mapping[str, Decimal] | None = None
) -> TotalsCheck:
    """Compare the shop's total and VAT with the booked invoice's (VAT at the rate of each
    line's VAT code in ``code_rates``, the accounting system's, and rounded as it does,
    ``vat.rounding``).

    A gap is judged on the total, which is what the customer paid; the VAT gap is reported
    beside it. Within ``rounding_tolerance`` it becomes a rounding line without VAT, so the
    invoice totals exactly what was paid. A VAT code whose rate is not the line's makes a gap
    that no rounding covers: the invoice stays a draft rather than be booked at a wrong total.
    """
    rates = code_rates or {}
    booked = (_booked_line(line, booked_rate(order, line, policy, rates)) for line in order.lines)
    return _compare(order.total, order.total_tax, booked, policy)


# ---------------------------------------------------------------------------- booking


def negative_sale(order: Order) -> str | None:
    """What makes the order a sale below zero (goods taken back at a negative quantity, or a
    negative total), or None. Such an order is a refund in disguise: booked, it would be a
    negative invoice that credits no sale and carries none of a credit note's references.
    Discount lines, and negative fees that shops use as discounts, lower a sale; they do not
    make one negative."""
    for number, line in enumerate(order.lines, start=1):
        if line.kind == "item" and line.quantity < 0:
            label = line.sku or line.description or str(number)
            return f"sells {label} at quantity {line.quantity.normalize():f}"
    if order.total < 0:
        return f"totals {order.total} {order.currency}"
    return None


@dataclass(frozen=True)
class BookingDecision:
    """Whether and how an order goes into the accounting system.

    ``action`` ``ignore`` carries the skip's reason; otherwise ``book`` says whether the
    invoice is posted or left a draft, and ``reason`` why (``totals_mismatch`` keeps it a
    draft with that issue). ``email_to`` is where the booked invoice is mailed, if anywhere.
    """

    action: StateAction
    book: bool
    reason: str
    totals: TotalsCheck | None = None
    email_to: str | None = None


def _invoice_email(order: Order, policy: CommercePolicy) -> str | None:
    """Only a booked invoice is mailed (a draft may still change), and never to an EAN
    customer: public bodies take invoices as e-invoices through their EAN, not by mail."""
    if not policy.email_invoices or order.customer.customer_kind == "ean":
        return None
    return order.customer.email


def decide_booking(
    order: Order,
    policy: CommercePolicy,
    historical: DateRange | None = None,
    timezone: str = "UTC",
    code_rates: Mapping[str, Decimal] | None = None,
) -> BookingDecision:
    """The order's fate: skipped before go-live or in a state that does not trigger; an order
    (stock reserved, never booked); or an invoice, booked unless the policy keeps drafts or
    its totals disagree with the shop's (at the rates of the VAT codes it is booked with,
    ``code_rates``)."""
    if not in_go_live(order, policy, historical, timezone):
        return BookingDecision("ignore", False, "before_start_date")
    action = state_action(order, policy)
    if action == "ignore":
        return BookingDecision("ignore", False, "state_not_triggering")
    totals = check_totals(order, policy, code_rates)
    if action == "create_order":
        return BookingDecision("create_order", False, "order_requested", totals)
    if totals.status == "totals_mismatch":
        return BookingDecision("create_invoice", False, totals.reason, totals)
    if not policy.book:
        return BookingDecision("create_invoice", False, "draft_requested", totals)
    return BookingDecision("create_invoice", True, "book", totals, _invoice_email(order, policy))


# ---------------------------------------------------------------------------- payment


@dataclass(frozen=True)
class PaymentDecision:
    """The invoice's payment term, and whether it is registered as paid at once."""

    payment_term: str
    registered_as_paid: bool
    reason: str


def _payment_term(code: str | None, order: Order, policy: CommercePolicy) -> str:
    """The term of money moved with method ``code`` for the order's customer: the method's
    rule's, the customer profile's, else the default."""
    rule = policy.payment_rule(code)
    profile = policy.customers.profiles[order.customer.customer_kind]
    term = (rule.payment_term if rule else None) or profile.payment_term
    return term or policy.default_payment_term


def _registration(code: str, order: Order, policy: CommercePolicy) -> tuple[str, bool] | None:
    """How money moved with method ``code`` is booked: its term and whether it registers the
    payment; None for a method without a rule (which says nothing of where the money is)."""
    rule = policy.payment_rule(code)
    return None if rule is None else (_payment_term(code, order, policy), rule.registered_as_paid)


def decide_payment(order: Order, policy: CommercePolicy) -> PaymentDecision:
    """The payment method's rule, the customer profile's term, else the default term.

    Only an order the shop reports paid is registered as paid: a renewal that is still
    pending or failed gets a payment term, whatever its method. A sale paid several ways
    (``tenders``: part card, part cash) whose methods' rules differ is not: an invoice's one
    payment term registers one payment, which would book the cash on the card's receivable; it
    gets the customer profile's term, else the default, and stays open for a person
    (``payment_split``). Methods whose rules agree (two card types on one term) are one;
    not so two on one term whose rules name different accounts (card and MobilePay both on
    ``Kort``, settled to two receivables): registered on the term, both would land on one.
    """
    registrations = {_registration(t.code, order, policy) for t in order.tenders}
    accounts = {rule.account for t in order.tenders if (rule := policy.payment_rule(t.code))}
    if len(registrations) > 1 or len(accounts - {None}) > 1:
        return PaymentDecision(_payment_term(None, order, policy), False, "payment_split")
    code = order.payment_method.code if order.payment_method else None
    rule = policy.payment_rule(code)
    term = _payment_term(code, order, policy)
    if rule is None:
        return PaymentDecision(term, False, "payment_method_unknown" if code else "no_method")
    if not rule.registered_as_paid:
        return PaymentDecision(term, False, "method_not_registered_as_paid")
    if not order.is_paid:
        return PaymentDecision(term, False, "order_not_paid")
    return PaymentDecision(term, True, "registered_as_paid")


def paid_time_unmapped(policy: CommercePolicy, fields: Mapping[str, object]) -> str | None:
    """Why the orders of a file read with these ``fields`` (a file mapping's) would be booked
    open though paid by card, or None. Without ``order.paid_at`` no order of the file is ever
    reported paid, so a method whose rule registers invoices as paid leaves each one open on
    its term, and PayMatch later credits the card receivable for a payment never registered
    there. Said when the route is saved, where a person can still map the column."""
    if "order.paid_at" in fields or "order.payment_method" not in fields:
        return None
    source = fields["order.payment_method"]
    constant = source.get("value") if isinstance(source, Mapping) else None
    if constant is not None:
        rule = policy.payment_rule(str(constant))
        methods = [str(constant)] if rule is not None and rule.registered_as_paid else []
    else:
        methods = [m for m, rule in policy.payment_methods.items() if rule.registered_as_paid]
    if not methods:
        return None
    return (
        "the source's order files map no paid time (order.paid_at), so no order of theirs is "
        f"reported paid: an order paid with {', '.join(methods)}, which policy.payment_methods "
        "registers as paid, is booked open on its payment term instead, and PayMatch would "
        "credit the card receivable for a payment never registered there. Map order.paid_at "
        "in the connection's orders file mapping (the order date's column, when a sale is paid "
        "as it is made)"
    )


def refund_payment_term(
    refund: Refund, order: Order, policy: CommercePolicy, invoice_term: str | None
) -> str:
    """A credit note's payment term: its invoice's (``invoice_term``, else the one the order's
    payment gives), so the refund goes back over the receivable the sale was booked on. A
    refund the shop says was paid back another way than the sale (a card sale refunded in
    cash) goes over that method's receivable instead, when the policy has a rule for it; a
    method without a rule says nothing about where the money went, so the invoice's stands."""
    sold = order.payment_method.code if order.payment_method else None
    back = refund.payment_method.code if refund.payment_method else None
    other = back is not None and back.casefold() != (sold or "").casefold()
    if other and policy.payment_rule(back) is not None:
        return _payment_term(back, order, policy)
    return invoice_term or decide_payment(order, policy).payment_term


# ---------------------------------------------------------------------------- customer


@dataclass(frozen=True)
class CustomerDecision:
    """Which debtor the order is booked on.

    ``action``: ``shared`` (the one shared account), ``match_or_create`` (look up a debtor
    whose ``match_field`` is ``match_value``; create one with the profile's settings if there
    is none), or ``fail`` (no value to match on: ``reason`` says which).
    """

    action: Literal["shared", "match_or_create", "fail"]
    reason: str
    kind: CustomerKind
    account: str | None = None
    match_field: MatchField | None = None
    match_value: str | None = None
    debtor_group: str | None = None
    vat_zone: Literal["domestic", "eu", "abroad"] | None = None
    payment_term: str | None = None


def vat_zone(country: str | None, policy: CommercePolicy) -> Literal["domestic", "eu", "abroad"]:
    """Home (or unknown: the shop's own market), the EU, or the rest of the world, by the VAT
    territory the country is in (Monaco is France's: home to a French shop, else the EU)."""
    country = vat_country(country)
    if country is None or country == vat_country(policy.vat.home_country):
        return "domestic"
    return "eu" if country in EU_COUNTRIES else "abroad"


def match_key(field: MatchField, value: str | None) -> str | None:
    """How a customer value is compared: e-mail without case, a phone number by its digits
    (``+45 11 22 33 44``, ``4511223344`` and ``0045 1122 3344`` are one number: the ``+`` and
    the international ``00`` are how it is dialled, not part of it), VAT and EAN numbers as
    the model normalised them."""
    if not value:
        return None
    if field == "email":
        return value.strip().lower()
    if field == "phone":
        digits = "".join(char for char in value if char.isdigit())
        if value.strip().startswith("00"):
            digits = digits[2:]
        return digits or None
    return value.strip().upper()


def _match_value(order: Order, match_field: MatchField) -> str | None:
    customer = order.customer
    value = {
        "email": customer.email,
        "phone": customer.phone,
        "vat_number": customer.vat_number,
        "ean": customer.ean,
    }[match_field]
    if match_field == "phone" and value:
        value = "".join(char for char in value if char.isdigit() or char == "+")
    return value or None


def decide_customer(order: Order, policy: CommercePolicy) -> CustomerDecision:
    """Match by the profile's field, or book a consumer on the shared account."""
    kind = order.customer.customer_kind
    if kind == "b2c" and policy.customers.shared_b2c_account:
        return CustomerDecision(
            "shared", "shared_customer", kind, account=policy.customers.shared_b2c_account
        )
    profile = policy.customers.profiles[kind]
    match_field = policy.customers.match_field(kind)
    value = _match_value(order, match_field)
    if value is None:
        return CustomerDecision(
            "fail", f"customer_{match_field}_missing", kind, match_field=match_field
        )
    return CustomerDecision(
        "match_or_create",
        "match_or_create",
        kind,
        match_field=match_field,
        match_value=value,
        debtor_group=profile.debtor_group,
        vat_zone=profile.vat_zone or vat_zone(order.destination, policy),
        payment_term=profile.payment_term,
    )


# ---------------------------------------------------------------------------- VAT


@dataclass(frozen=True)
class VatDecision:
    """A line's VAT code and the rule that chose it; ``code`` is None when no rule gives one
    (``reason`` says which is missing)."""

    code: str | None
    rule: Literal["domestic", "oss", "eu_business", "export"]
    reason: str


def _rate_text(rate: Decimal) -> str:
    """Two digits before the decimals, as Uniconta's OSS examples write rates: 7 → ``07``."""
    whole, _, decimals = f"{rate.normalize():f}".partition(".")
    return whole.zfill(2) + (f".{decimals}" if decimals else "")


def _domestic(rate: Decimal, policy: CommercePolicy) -> VatDecision:
    code = policy.vat.domestic_codes.get(rate)
    if code is None:
        return VatDecision(None, "domestic", "vat_code_missing")
    return VatDecision(code, "domestic", "domestic_rate")


REVERSE_CHARGE_PREFIXES: frozenset[str] = frozenset(
    {*(code.upper() for code in eu_vat.MEMBER_STATES), "EL"}
)
"""VAT number prefixes a supply of goods without VAT to a business in the EU can be made
against: the member states' (Greece's ``EL``) and Northern Ireland's ``XI``."""


def _other_eu_vat_number(number: str, policy: CommercePolicy) -> bool:
    """Whether a VAT number can carry a sale without VAT to a business in another EU country:
    one of another member state than the shop's own. A number without a country prefix is
    not judged here (its country is not known)."""
    prefix = number[:2].upper()
    if not prefix.isalpha():
        return True
    country = "GR" if prefix == "EL" else prefix
    home = vat_country(policy.vat.home_country.upper())  # a Monaco shop's number is French
    return prefix in REVERSE_CHARGE_PREFIXES and country != home


def line_vat_code(order: Order, line: OrderLine, policy: CommercePolicy) -> VatDecision:
    """The VAT code a line is booked with.

    Home country (or unknown destination): the domestic code of the line's rate. An EU
    business with a VAT number charged no VAT: reverse charge. An EU consumer: the OSS code
    of destination and rate when the shop uses One Stop Shop, else home VAT. Under OSS a
    consumer owes the destination's VAT, so a sale charged none (the shop lacks the country's
    rate) is a question for a person, like VAT charged on an export: booked on the home
    zero-rate code it would be declared as exempt at home and missing from the OSS return.
    Only a ``COUNTRY:0`` code in ``vat.oss_codes`` says such a line is zero-rated there. A
    line of no amount (free shipping) or a discount sells nothing and keeps the home code.
    Reverse charge needs the buyer's VAT number from another member state than the shop's: a
    business with a home or non-EU number charged no VAT is a question for a person too.
    Outside the EU: export, which carries no VAT; a line charged VAT there is booked on the
    code ``vat.oss_codes`` names for that country and rate (the shop is registered there),
    else a question for a person. The country is the VAT territory's (``vat_country``): an
    order to Monaco is booked as one to France.
    """
    country = vat_country(order.destination)
    zone = vat_zone(country, policy)
    rate = line.tax_rate
    if zone == "domestic":
        return _domestic(rate, policy)
    if zone == "abroad":
        if not rate:
            return VatDecision(policy.vat.export_code, "export", "export")
        # VAT charged outside the EU is the shop's own registration there (Norway's VOEC,
        # the UK), booked on the code the policy names for it; without one, a person looks.
        code = policy.vat.oss_codes.get(oss_key(country, rate)) if country else None
        if code is not None:
            return VatDecision(code, "export", "foreign_vat_registration")
        return VatDecision(None, "export", "vat_charged_on_export")
    assert country is not None
    if order.customer.vat_number and order.customer.customer_kind != "b2c" and not rate:
        sells = line.kind != "discount" and line.net_amount
        if sells and not _other_eu_vat_number(order.customer.vat_number, policy):
            return VatDecision(None, "eu_business", "vat_zero_without_eu_vat_number")
        return VatDecision(policy.vat.eu_business_code, "eu_business", "reverse_charge")
    if not policy.vat.oss:
        return _domestic(rate, policy)
    code = policy.vat.oss_codes.get(oss_key(country, rate))
    if code is not None:
        return VatDecision(code, "oss", "oss_destination_rate")
    if not rate:
        if line.kind != "discount" and line.net_amount:
            return VatDecision(None, "oss", "vat_zero_on_eu_consumer_sale")
        # Free shipping or a discount sells nothing at a rate: no VAT to declare anywhere.
        return _domestic(rate, policy)
    code = policy.vat.oss_code_pattern.format(country=country, rate=_rate_text(rate))
    return VatDecision(code, "oss", "oss_destination_rate")


# ---------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class CreditNoteDecision:
    """The credit note a refund becomes (lines with negative quantities) and its totals against
    the refund's, or why it cannot be made (``lines`` empty).

    ``reason``: ``credit_note``; ``totals_mismatch`` or ``rounding_account_missing`` (the
    credit note stays a draft with that issue, as an invoice would); or why there are no lines.
    """

    reason: str
    lines: tuple[InvoiceLine, ...] = ()
    totals: TotalsCheck | None = None


def _order_line(order: Order, line_id: str | None, sku: str | None) -> OrderLine | None:
    for line in order.lines:
        if line_id is not None and line.source_id == line_id:
            return line
    if line_id is None and sku is not None:
        for line in order.lines:
            if line.sku == sku:
                return line
    return None


def _single_rate(order: Order) -> Decimal | None:
    """The one VAT rate of the order's item lines, which a free amount is refunded at."""
    rates = {line.tax_rate for line in order.lines if line.kind == "item"}
    return rates.pop() if len(rates) == 1 else None


def credit_note_lines(
    refund: Refund, order: Order, policy: CommercePolicy, credited: Decimal = Decimal("0.00")
) -> CreditNoteDecision:
    """The credit note against the order's invoice: each refunded line at its order line's
    rate (the returned units, or one unit for money only), and what the refund pays beyond
    its lines on the refund item at the order's rate, so the credit note totals the refund.

    ``credited`` is what the invoice's other credit notes credit already: together they
    never credit more than the invoice (two refunds of the whole order, say)."""
    if refund.order_source_id != order.source_id:
        return CreditNoteDecision("refund_order_mismatch")
    # A credit note is in its invoice's currency and never credits more than the invoice: a
    # refund that says otherwise is a data error (a file's constant currency, a number read
    # with the wrong decimal separator) for a person to correct, not a credit note to book.
    if refund.currency != order.currency:
        return CreditNoteDecision("refund_currency_mismatch")
    if refund.amount > order.total:
        return CreditNoteDecision("refund_exceeds_order")
    if credited + refund.amount > order.total:
        return CreditNoteDecision("refunds_exceed_order")
    lines: list[InvoiceLine] = []
    for refunded in refund.lines:
        line = _order_line(order, refunded.order_line_id, refunded.sku)
        if line is None:
            return CreditNoteDecision("refund_line_unknown")
        units = refunded.quantity or Decimal(1)
        with localcontext() as context:
            context.prec = 40
            price = refunded.net_amount / units
        lines.append(
            InvoiceLine(
                sku=line_item(line, policy),
                description=refunded.description or line.description,
                quantity=-units,
                unit_price=_price(price, refund.currency),
                vat_rate=line.tax_rate,
            )
        )
    free = refund.free_amount
    if free:
        if policy.refund_item is None:
            return CreditNoteDecision("refund_item_missing")
        rate = _single_rate(order)
        if rate is None:
            return CreditNoteDecision("refund_rate_ambiguous")
        with localcontext() as context:
            context.prec = 40
            net = free * 100 / (100 + rate)
        lines.append(
            InvoiceLine(
                sku=policy.refund_item,
                description=refund.reason,
                quantity=Decimal(-1),
                unit_price=_price(net, refund.currency),
                vat_rate=rate,
            )
        )
    # The shop states the VAT of refunded lines; a free amount's VAT is the one booked for it.
    shop_tax = -sum((line.tax_amount for line in refund.lines), Decimal("0.00"))
    if free:
        shop_tax += lines[-1].vat_amount
    totals = _compare(-refund.amount, shop_tax, lines, policy)
    reason = totals.reason if totals.status == "totals_mismatch" else "credit_note"
    return CreditNoteDecision(reason, tuple(lines), totals)


# ---------------------------------------------------------------------------- historical import


@dataclass(frozen=True)
class ImportProblem:
    """Something that keeps an order of a historical import from being booked as planned."""

    order_source_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class HistoricalImportPlan:
    """What a historical import would create, computed without creating anything."""

    date_range: DateRange
    orders: int
    """Orders in the range that would be booked (as invoice or order)."""
    totals: dict[str, Decimal]
    """Their shop totals per currency."""
    customers_to_create: tuple[str, ...]
    """Match values (``email:…``, ``vat_number:…``) of customers not known yet, once each."""
    problems: tuple[ImportProblem, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    """Orders in the range that would not be booked, counted per reason."""
    by_outcome: dict[str, int] = field(default_factory=dict)
    """The orders counted in ``orders`` by what they become: ``booked`` (an invoice posted),
    ``draft`` (an invoice left for a person: a draft asked for, or totals that disagree) and
    ``order`` (an order in the accounting system, reserving stock, never booked)."""


def _order_problems(
    order: Order,
    policy: CommercePolicy,
    known_products: Collection[str],
    known_vat_codes: Collection[str],
) -> Iterable[ImportProblem]:
    source = order.source_id
    negative = negative_sale(order)
    if negative is not None:
        yield ImportProblem(source, "negative_sale", negative)
    for line in order.lines:
        # An item line without a SKU is allowed: it is booked as a line without an item.
        if line.kind == "item" and line.sku and line.sku not in known_products:
            yield ImportProblem(source, "product_missing", line.sku)
        vat = line_vat_code(order, line, policy)
        if vat.code is None:
            yield ImportProblem(source, vat.reason, f"{order.destination or ''} {line.tax_rate}%")
        elif vat.code not in known_vat_codes:
            yield ImportProblem(source, "vat_code_missing", vat.code)
    totals = check_totals(order, policy)
    if totals.status == "totals_mismatch":
        yield ImportProblem(
            source,
            totals.reason,
            f"shop {totals.shop_total}, booked {totals.booked_total} {order.currency}",
        )


def plan_historical_import(
    orders: Iterable[Order],
    date_range: DateRange,
    known_products: Collection[str],
    known_vat_codes: Collection[str],
    policy: CommercePolicy,
    known_customers: Collection[str] = (),
    timezone: str = "UTC",
    booked: Collection[str] = (),
    customer_problem: Callable[[Order, CustomerDecision], str | None] | None = None,
) -> HistoricalImportPlan:
    """What importing the orders created in ``date_range`` would do: how many are booked and
    for how much per currency, which customers are created (by their match value, against
    ``known_customers`` given as ``field:value``), and every problem (a missing product, VAT
    code or customer value, a totals mismatch) found on the way. Orders outside the range are
    not looked at; orders in it that would be skipped are counted per reason, those whose
    invoice the route made already (``booked``: their source ids) as ``already_booked``.
    ``customer_problem`` says why a customer to be created could not be (``invalid_customer``:
    a name longer than a customer takes), as the import would find it."""
    count = 0
    totals: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    new_customers: dict[str, None] = {}
    problems: list[ImportProblem] = []
    skipped: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for order in orders:
        if order_day(order, timezone) not in date_range:
            continue
        if order.source_id in booked:
            skipped["already_booked"] += 1
            continue
        decision = decide_booking(order, policy, date_range, timezone)
        if decision.action == "ignore":
            skipped[decision.reason] += 1
            continue
        count += 1
        totals[order.currency] += order.total
        found = list(_order_problems(order, policy, known_products, known_vat_codes))
        customer = decide_customer(order, policy)
        if customer.action == "fail":
            found.append(ImportProblem(order.source_id, customer.reason, ""))
        elif customer.action == "match_or_create" and customer.match_field is not None:
            # Compared as the run compares them (e-mail without case, phone by its digits).
            key = f"{customer.match_field}:{match_key(customer.match_field, customer.match_value)}"
            if key not in known_customers:
                new_customers[key] = None
                refused = customer_problem(order, customer) if customer_problem else None
                if refused:
                    found.append(ImportProblem(order.source_id, "invalid_customer", refused))
        problems.extend(found)
        # An order with a problem the run stops at is held with its issue, not booked; a
        # totals mismatch leaves a draft, as the plan's outcome says already.
        held = any(problem.reason != "totals_mismatch" for problem in found)
        outcomes["held" if held else _planned_outcome(decision)] += 1
    return HistoricalImportPlan(
        date_range=date_range,
        orders=count,
        totals=dict(totals),
        customers_to_create=tuple(new_customers),
        problems=tuple(problems),
        skipped=dict(skipped),
        by_outcome=dict(outcomes),
    )


def _planned_outcome(decision: BookingDecision) -> str:
    if decision.action == "create_order":
        return "order"
    return "booked" if decision.book else "draft"
