"""Commerce records: a shop's orders, the refunds against them, and the payments taken for them.

They carry what the shop said, as the shop said it: its state word, its own totals and tax
lines, its rounding. The policies that turn them into invoices and credit notes compare their
own arithmetic with these figures (the shop's totals are the evidence, not something derived
here), so the records keep them as given.

Amounts on lines are excluding VAT, as webshops store them even when their prices are shown
including VAT; ``unit_price`` is the line's price per unit after discounts. A coupon is either
already inside the item lines (WooCommerce) or a line of kind ``discount`` with a negative
amount, never both.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledgerbridge.model.common import (
    Address,
    Canonical,
    CountryCode,
    CurrencyCode,
    Email,
    Gln,
    Record,
    field_error,
)
from ledgerbridge.model.numbers import PRICE_EXTRA_PLACES, Amount, Price, Quantity, refuse_imprecise
from ledgerbridge.model.validation import normalize_vat_number, vat_number_country

__all__ = [
    "CUSTOMER_KINDS",
    "CommerceCustomer",
    "CustomerKind",
    "LineKind",
    "Order",
    "OrderLine",
    "OrderPayment",
    "PaymentMethod",
    "Refund",
    "RefundLine",
    "TaxLine",
    "Tender",
]

LineKind = Literal["item", "shipping", "fee", "discount"]
CustomerKind = Literal["b2c", "b2b", "ean"]
CUSTOMER_KINDS: tuple[CustomerKind, ...] = ("b2c", "b2b", "ean")


class PaymentMethod(Canonical):
    """How the customer paid, as the shop names it: ``code`` is the gateway's stable id
    (``stripe``, ``bacs``), which payment rules are keyed on; ``title`` is what the customer saw."""

    code: str = Field(min_length=1, max_length=100)
    title: str | None = None


class Tender(PaymentMethod):
    """One of the payments of a sale paid several ways (part card, part cash at a till): its
    method and the amount it paid, tip included."""

    amount: Amount


class OrderLine(Canonical):
    """One line of an order: a product sold, shipping, a fee or a discount.

    ``net_amount`` and ``tax_amount`` are the shop's own figures for the line (its rounding);
    ``quantity × unit_price`` at ``tax_rate`` is what an accounting system books.
    """

    source_id: str | None = None
    """The shop's id of the line, which its refunds point at."""
    kind: LineKind = "item"
    sku: str | None = None
    description: str | None = None
    quantity: Quantity = Decimal(1)
    unit_price: Price
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, le=100)
    net_amount: Amount
    tax_amount: Amount = Decimal(0)

    @model_validator(mode="after")
    def _discount_is_not_a_sale(self) -> OrderLine:
        """A discount line that adds to the total is a data error in the shop's export, and
        booking it would invoice the customer for a discount."""
        if self.kind == "discount" and max(self.net_amount, self.quantity * self.unit_price) > 0:
            raise PydanticCustomError(
                "discount_positive",
                "a discount line's net amount and quantity × unit price must be zero or less; "
                "they are {amount} and {quantity} × {price}",
                {
                    "amount": str(self.net_amount),
                    "quantity": str(self.quantity),
                    "price": str(self.unit_price),
                },
            )
        return self

    @field_validator("quantity")
    @classmethod
    def _quantity_not_zero(cls, value: Decimal) -> Decimal:
        """A line of no units sells nothing; refused on the quantity itself, so a file's
        problem names the quantity's column."""
        if value == 0:
            raise PydanticCustomError("quantity_zero", "a line's quantity must not be zero")
        return value


class TaxLine(Canonical):
    """One VAT rate the shop charged on the order, with the VAT it summed for it."""

    rate_code: str | None = None
    """The shop's name of the rate (WooCommerce ``DE-MWST-1``)."""
    label: str | None = None
    rate: Decimal = Field(default=Decimal(0), ge=0, le=100)
    tax_total: Amount = Decimal(0)
    shipping_tax_total: Amount = Decimal(0)


class CommerceCustomer(Canonical):
    """Who ordered, as the shop knows them; matched to (or created as) a debtor by a policy.

    ``kind`` may be given by the shop; when it is not, it follows from the identifiers: an EAN
    (the GLN that Danish public bodies are invoiced through) makes an EAN customer, a VAT number
    a business. A company name alone does not make a business: a sale is only treated as
    business-to-business for VAT when the buyer's VAT number is known.
    """

    email: Email | None = None
    phone: str | None = None
    name: str | None = None
    company: str | None = None
    vat_number: str | None = None
    ean: Gln | None = None
    source_id: str | None = None
    """The shop's customer id; none for a guest checkout."""
    kind: CustomerKind | None = None

    @field_validator("vat_number")
    @classmethod
    def _normalise_vat_number(cls, value: str | None) -> str | None:
        """Checked against its prefix here; a number without one is checked against the
        order's billing country by the order."""
        if value is None:
            return None
        try:
            return normalize_vat_number(value)
        except ValueError as exc:
            raise field_error("vat_number", exc) from None

    @model_validator(mode="after")
    def _kind_has_its_identifier(self) -> CommerceCustomer:
        if self.kind == "ean" and self.ean is None:
            raise PydanticCustomError("ean_missing", "an EAN customer needs its EAN number")
        return self

    @property
    def customer_kind(self) -> CustomerKind:
        """The kind given, else the one its identifiers imply."""
        if self.kind is not None:
            return self.kind
        if self.ean is not None:
            return "ean"
        if self.vat_number is not None:
            return "b2b"
        return "b2c"


def _line_values(
    lines: Iterable[OrderLine | RefundLine], prefix: str = "lines"
) -> Iterable[tuple[tuple[str | int, ...], Decimal | None, int]]:
    for index, line in enumerate(lines):
        yield (prefix, index, "net_amount"), line.net_amount, 0
        yield (prefix, index, "tax_amount"), line.tax_amount, 0
        if isinstance(line, OrderLine):
            yield (prefix, index, "unit_price"), line.unit_price, PRICE_EXTRA_PLACES


class Order(Record):
    """An order as a shop (or a subscription platform, for a renewal) reports it.

    A customer's VAT number without a country prefix is checked as the billing country's,
    once the whole order is read, and its error is reported at ``customer.vat_number``.
    """

    source_id: str = Field(min_length=1)
    number: str | None = None
    state: str = Field(min_length=1, max_length=50)
    """The shop's own state word (``processing``, ``completed``), which booking rules key on."""
    created_at: AwareDatetime
    paid_at: AwareDatetime | None = None
    currency: CurrencyCode
    lines: list[OrderLine] = Field(min_length=1)
    total: Amount
    """The shop's total including VAT: what the customer was charged."""
    total_tax: Amount = Decimal(0)
    tax_lines: list[TaxLine] = Field(default_factory=list)
    payment_method: PaymentMethod | None = None
    transaction_id: str | None = None
    """The acquirer's reference of the charge, which payouts are matched on."""
    tenders: list[Tender] = Field(default_factory=list)
    """Each payment of a sale paid with more than one method; empty when ``payment_method``
    paid it all."""
    billing_address: Address | None = None
    shipping_address: Address | None = None
    customer: CommerceCustomer = Field(default_factory=CommerceCustomer)
    destination_country: CountryCode | None = None
    """Where the goods go, for VAT; when not given, the shipping country, else the billing one."""
    subscription_id: str | None = None
    """The subscription the order belongs to (its first order or a renewal)."""
    renewal: bool = False
    """Whether the order is a subscription's renewal rather than a customer's checkout."""
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        if self.renewal and not self.subscription_id:
            raise ValidationError.from_exception_data(
                "Order",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "subscription_missing", "a renewal names its subscription"
                        ),
                        loc=("subscription_id",),
                        input=None,
                    )
                ],
            )
        if self.paid_at is not None and self.paid_at < self.created_at:
            raise ValidationError.from_exception_data(
                "Order",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "paid_before_created",
                            "paid at {paid_at}, before the order was created at {created_at}",
                            {
                                "paid_at": self.paid_at.isoformat(),
                                "created_at": self.created_at.isoformat(),
                            },
                        ),
                        loc=("paid_at",),
                        input=self.paid_at.isoformat(),
                    )
                ],
            )
        self._check_bare_vat_number()
        refuse_imprecise(
            "Order",
            self.currency,
            [
                (("total",), self.total, 0),
                (("total_tax",), self.total_tax, 0),
                *_line_values(self.lines),
                *((("tenders", i, "amount"), t.amount, 0) for i, t in enumerate(self.tenders)),
                *(
                    value
                    for index, tax in enumerate(self.tax_lines)
                    for value in (
                        (("tax_lines", index, "tax_total"), tax.tax_total, 0),
                        (("tax_lines", index, "shipping_tax_total"), tax.shipping_tax_total, 0),
                    )
                ),
            ],
        )
        return self

    def _check_bare_vat_number(self) -> None:
        """A VAT number without a prefix is the billing country's, and checked as such."""
        number = self.customer.vat_number
        country = self.billing_address.country if self.billing_address else None
        if number is None or country is None or vat_number_country(number) is not None:
            return
        try:
            checked = normalize_vat_number(number, country)
        except ValueError as exc:
            raise ValidationError.from_exception_data(
                "Order",
                [
                    InitErrorDetails(
                        type=field_error("vat_number", exc),
                        loc=("customer", "vat_number"),
                        input=number,
                    )
                ],
            ) from None
        self.customer.vat_number = checked

    @property
    def destination(self) -> str | None:
        """The country the sale is taxed in: given, else shipping, else billing country."""
        for country in (
            self.destination_country,
            self.shipping_address.country if self.shipping_address else None,
            self.billing_address.country if self.billing_address else None,
        ):
            if country:
                return country
        return None

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None


def _paid_back(given: object, *, zero: bool) -> object:
    """A refund's figures are what the customer got back: positive, as an export that writes
    its credit notes negative does not (``-125.00`` there is ``125.00`` here). Checked before
    the field's own bound, so the refusal says what to write; a value that is no number is
    left to the field."""
    try:
        value = Decimal(str(given)) if isinstance(given, str | int | float | Decimal) else None
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():
        return given
    if value < 0:
        raise PydanticCustomError(
            "greater_than_equal" if zero else "greater_than",
            "a refund's amounts and quantities are what the customer got back, so positive: "
            "write {value} as {positive} (a credit note's minus sign is not part of a refund)",
            {"value": str(given), "positive": str(-value)},
        )
    if value == 0 and not zero:
        raise PydanticCustomError(
            "greater_than", "a refund's amount is what the customer got back, so more than 0"
        )
    return given


class RefundLine(Canonical):
    """A refunded part of an order line: how many units and how much, both positive."""

    order_line_id: str | None = None
    """The order line's ``source_id``; when absent, the line is found by its SKU."""
    sku: str | None = None
    description: str | None = None
    quantity: Quantity = Field(default=Decimal(0), ge=0)
    """Units returned; 0 for a refund of money only (a price correction on the line)."""
    net_amount: Amount = Field(ge=0)
    tax_amount: Amount = Field(default=Decimal(0), ge=0)

    @field_validator("quantity", "net_amount", "tax_amount", mode="before")
    @classmethod
    def _not_negative(cls, value: object) -> object:
        return _paid_back(value, zero=True)

    @model_validator(mode="after")
    def _names_its_line(self) -> RefundLine:
        if self.order_line_id is None and self.sku is None:
            raise PydanticCustomError(
                "refund_line_unlinked", "a refund line names its order line or its SKU"
            )
        return self


class Refund(Record):
    """Money paid back on an order, with the lines it covers, or as a free amount.

    ``amount`` is the whole refund including VAT and positive, as the customer receives it.
    It may exceed what the lines add up to (a goodwill amount on top of returned items): the
    rest is credited as a free amount. Shops let ``amount`` win over the lines, so must we.
    """

    source_id: str = Field(min_length=1)
    order_source_id: str = Field(min_length=1)
    created_at: AwareDatetime
    currency: CurrencyCode
    amount: Amount = Field(gt=0)
    reason: str | None = None
    payment_method: PaymentMethod | None = None
    """How the money went back, when the shop says (a till's refund payment); none: the way
    the sale was paid, as far as anyone knows."""
    lines: list[RefundLine] = Field(default_factory=list)

    @field_validator("amount", mode="before")
    @classmethod
    def _positive(cls, value: object) -> object:
        return _paid_back(value, zero=False)

    @model_validator(mode="after")
    def _lines_within_amount(self) -> Refund:
        refuse_imprecise(
            "Refund", self.currency, [(("amount",), self.amount, 0), *_line_values(self.lines)]
        )
        covered = sum((line.net_amount + line.tax_amount for line in self.lines), Decimal(0))
        if covered > self.amount:
            raise ValidationError.from_exception_data(
                "Refund",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "refund_lines_exceed_amount",
                            "the refunded lines total {covered} including VAT, more than the "
                            "refund's amount {amount}",
                            {"covered": str(covered), "amount": str(self.amount)},
                        ),
                        loc=("lines",),
                        input=str(covered),
                    )
                ],
            )
        return self

    @property
    def free_amount(self) -> Decimal:
        """What the refund pays back beyond its lines, including VAT."""
        covered = sum((line.net_amount + line.tax_amount for line in self.lines), Decimal(0))
        return self.amount - covered


class OrderPayment(Record):
    """A payment taken for an order by an acquirer, with the reference payouts name it by."""

    order_source_id: str = Field(min_length=1)
    method: PaymentMethod
    amount: Amount = Field(gt=0)
    currency: CurrencyCode
    transaction_reference: str | None = None
    date: AwareDatetime

    @model_validator(mode="after")
    def _as_precise_as_the_currency(self) -> OrderPayment:
        refuse_imprecise("OrderPayment", self.currency, [(("amount",), self.amount, 0)])
        return self
