"""Invoices, credit notes and the payments made against them.

Amounts derived from lines (net amount, VAT, totals) are properties, not fields: they are never
accepted as input (``extra="forbid"`` rejects them), so a record cannot carry a total that
disagrees with its lines, and ``model_validate(model_dump())`` round-trips.

An invoice's document discount (``Invoice.discount_percent``) applies to every line on top of the
line's own discount: a line's discounted net is ``quantity × unit price × (1 − line %) ×
(1 − document %)``, rounded to cents once, and the totals add those up. Folding it into each
line's discount (:func:`combined_discount`) gives exactly the same amounts, which is how systems
without a document discount receive it. Systems that discount the sum of the lines instead
(Qonto) can differ from these totals by rounding: at most half a cent per line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.common import Address, Canonical, CurrencyCode, Record
from ledgerbridge.model.numbers import PRICE_EXTRA_PLACES, Amount, Price, Quantity, refuse_imprecise

__all__ = [
    "Invoice",
    "InvoiceLine",
    "Payment",
    "VatRounding",
    "combined_discount",
    "fold_document_discount",
    "round_money",
    "vat_by_code",
]

VatRounding = Literal["per_line", "per_code"]
"""How an accounting system rounds an invoice's VAT: on each line (the hub's own totals), or
once per VAT code on the code's net total (Uniconta)."""

_CENT = Decimal("0.01")
# Enough digits that a product of three 20-digit amounts is exact before it is rounded.
_PRECISION = 80


def round_money(amount: Decimal) -> Decimal:
    """Round to cents, halves away from zero, as invoices are printed and booked."""
    with localcontext() as context:
        context.prec = _PRECISION
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def combined_discount(line_percent: Decimal, document_percent: Decimal) -> Decimal:
    """The one percentage that discounts like ``line_percent`` then ``document_percent``
    (10 % then 5 % is 14.5 %): exact, in plain notation, so folded lines total as the invoice."""
    if not document_percent:
        return line_percent
    with localcontext() as context:
        context.prec = _PRECISION
        combined = 100 - (100 - line_percent) * (100 - document_percent) / 100
    return Decimal(f"{combined.normalize():f}")


def fold_document_discount(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A canonical invoice's JSON lines with its document discount folded into each line's
    ``discount_percent``: what a connector sends to a system that has no document discount,
    so that the invoice it books totals as the hub's. Without one the lines are returned as
    they are."""
    lines = [dict(line) for line in record.get("lines") or []]
    document = Decimal(str(record.get("discount_percent") or 0))
    if not document:
        return lines
    return [
        {
            **line,
            "discount_percent": str(
                combined_discount(Decimal(str(line.get("discount_percent") or 0)), document)
            ),
        }
        for line in lines
    ]


class InvoiceLine(Canonical):
    """One line of an invoice; part of the invoice, so it has no id of its own."""

    line_number: int | None = None
    product_id: str | None = None
    sku: str | None = None
    description: str | None = None
    extra_description: str | None = None
    """Further text under the line's description (Qonto's item description)."""
    quantity: Quantity
    unit: str | None = None
    unit_price: Price
    purchase_price: Price | None = Field(default=None, ge=0)
    """What one unit cost the seller (from the line's product), for margins; not invoiced."""
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    vat_code: str | None = None
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100)

    @property
    def net_amount(self) -> Decimal:
        """quantity × unit price less the discount, rounded to cents half-up."""
        with localcontext() as context:
            context.prec = _PRECISION
            gross = self.quantity * self.unit_price
            net = gross * (1 - self.discount_percent / 100)
        return round_money(net)

    @property
    def vat_amount(self) -> Decimal:
        """VAT on the rounded net amount, rounded per line; a line without a rate carries none.

        The rate is resolved from the VAT code by the connector mapping; until it is, the line
        contributes no VAT rather than a guessed one.
        """
        if self.vat_rate is None:
            return Decimal("0.00")
        with localcontext() as context:
            context.prec = _PRECISION
            vat = self.net_amount * self.vat_rate / 100
        return round_money(vat)

    def with_document_discount(self, percent: Decimal) -> InvoiceLine:
        """This line with an invoice's document discount folded into its own."""
        if not percent:
            return self
        combined = combined_discount(self.discount_percent, percent)
        return self.model_copy(update={"discount_percent": combined})


class Invoice(Record):
    """A sales invoice or credit note.

    ``kind`` is always explicit: a credit note is not inferred from negative lines, because
    some systems book corrections as invoices with negative lines and the two post differently.
    Credit notes carry negative amounts, and only they may name the invoice they credit.
    """

    kind: Literal["invoice", "credit_note"] = "invoice"
    number: str | None = None
    subject: str | None = None
    """The invoice's title as the app shows it (from Qonto: ``Invoice_<number>``)."""
    party_id: str = Field(min_length=1)
    date: dt.date
    due_date: dt.date | None = None
    payment_term_days: int | None = Field(default=None, ge=0, le=365)
    payment_term: str | None = Field(default=None, max_length=50)
    """The accounting system's own payment term code, when the app names one (a webshop's
    card term that registers the invoice as paid at booking): it wins over
    ``payment_term_days``."""
    currency: CurrencyCode
    status: Literal["draft", "sent", "booked", "paid", "cancelled"] = "draft"
    lines: list[InvoiceLine] = Field(default_factory=list)
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    """Document discount on every line, on top of the line's own (see the module docstring)."""
    credits_invoice_id: str | None = None
    reference: str | None = None
    notes: str | None = None
    delivery_address: Address | None = None
    """Where the goods go, when it is not the party's address (a webshop's shipping
    address)."""
    amount_open: Amount | None = None

    @field_validator("due_date")
    @classmethod
    def _due_not_before_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        invoice_date = info.data.get("date")
        if value is not None and invoice_date is not None and value < invoice_date:
            raise PydanticCustomError(
                "due_date_before_date",
                "due date {due_date} is before the invoice date {date}",
                {"due_date": value.isoformat(), "date": invoice_date.isoformat()},
            )
        return value

    @field_validator("lines")
    @classmethod
    def _credit_note_not_positive(
        cls, value: list[InvoiceLine], info: ValidationInfo
    ) -> list[InvoiceLine]:
        if info.data.get("kind") == "credit_note":
            net_total = sum((line.net_amount for line in value), Decimal(0))
            if net_total > 0:
                raise PydanticCustomError(
                    "credit_note_positive",
                    "a credit note's lines must total zero or less (negative quantities or "
                    "prices); their net total is {net_total}",
                    {"net_total": str(net_total)},
                )
        return value

    @field_validator("credits_invoice_id")
    @classmethod
    def _credits_only_on_credit_notes(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") == "invoice":
            raise PydanticCustomError(
                "credits_invoice_id_on_invoice",
                "only a credit note can credit another invoice",
            )
        return value

    @model_validator(mode="after")
    def _as_precise_as_the_currency(self) -> Invoice:
        refuse_imprecise(
            "Invoice",
            self.currency,
            [
                (("amount_open",), self.amount_open, 0),
                *(
                    (("lines", index, "unit_price"), line.unit_price, PRICE_EXTRA_PLACES)
                    for index, line in enumerate(self.lines)
                ),
            ],
        )
        return self

    def lines_with_document_discount(self) -> list[InvoiceLine]:
        """The lines with the document discount folded into their own: what the totals are
        made of, and what a system without a document discount books."""
        return [line.with_document_discount(self.discount_percent) for line in self.lines]

    @property
    def net_total(self) -> Decimal:
        """Sum of the lines' rounded net amounts after the document discount."""
        lines = self.lines_with_document_discount()
        return sum((line.net_amount for line in lines), Decimal("0.00"))

    @property
    def vat_total(self) -> Decimal:
        """Sum of the VAT rounded per line after the document discount (how Nordic and
        Benelux systems book it)."""
        lines = self.lines_with_document_discount()
        return sum((line.vat_amount for line in lines), Decimal("0.00"))

    @property
    def gross_total(self) -> Decimal:
        """Net total plus VAT total: the amount the party pays (or receives, for a credit)."""
        return self.net_total + self.vat_total

    def vat_by_code(self, rounding: VatRounding = "per_line") -> dict[str, tuple[Decimal, Decimal]]:
        """Net and VAT per VAT code, as :func:`vat_by_code` books this invoice's lines after
        its document discount."""
        return vat_by_code(self.lines_with_document_discount(), rounding)

    def booked_total(self, rounding: VatRounding = "per_line") -> Decimal:
        """The gross total the accounting system books, its VAT rounded as it does."""
        return sum((net + vat for net, vat in self.vat_by_code(rounding).values()), Decimal("0.00"))


class Payment(Record):
    """A payment received against an invoice; refunds are credit notes, not negative payments."""

    invoice_id: str = Field(min_length=1)
    date: dt.date
    amount: Amount = Field(gt=0)
    currency: CurrencyCode
    reference: str | None = None

    @model_validator(mode="after")
    def _as_precise_as_the_currency(self) -> Payment:
        refuse_imprecise("Payment", self.currency, [(("amount",), self.amount, 0)])
        return self


def vat_by_code(
    lines: Iterable[InvoiceLine], rounding: VatRounding = "per_line"
) -> dict[str, tuple[Decimal, Decimal]]:
    """Net and VAT per VAT code ("" for lines without one), the VAT rounded as the accounting
    system books it: what its books hold per code, and, added up, the total it books (a cent
    off the lines' own VAT when it rounds per code). The one place an invoice's booked VAT is
    worked out: the totals checked before booking, a refund's credited amount, the
    reconciliation and the mailed invoice all read it."""
    nets: dict[tuple[str, Decimal], Decimal] = {}
    vats: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.vat_code or "", line.vat_rate or Decimal(0))
        nets[key] = nets.get(key, Decimal("0.00")) + line.net_amount
        vats[key] = vats.get(key, Decimal("0.00")) + line.vat_amount
    if rounding == "per_code":
        vats = {(code, rate): round_money(net * rate / 100) for (code, rate), net in nets.items()}
    by_code: dict[str, tuple[Decimal, Decimal]] = {}
    for (code, rate), net in nets.items():
        known_net, known_vat = by_code.get(code, (Decimal("0.00"), Decimal("0.00")))
        by_code[code] = (known_net + net, known_vat + vats[(code, rate)])
    return by_code
