"""Acquirer payouts: the batches in which Stripe, Vipps MobilePay or Zettle pay a shop's card
payments out to its bank, minus their fees.

Every acquirer's report is read into this one shape, so matching and posting are written
once. Signs follow the money as the shop sees it: a charge is positive, a refund or a
chargeback negative; ``fee`` is what the acquirer kept (positive; negative when a fee is given
back on a refund); ``net = gross - fee`` on every line. The payout's ``net`` is what reached
the bank. Lines need not add up to it: a report that does not is exactly what PayMatch puts on
the error account, so the record keeps the acquirer's figures as given.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledgerbridge.model.common import Canonical, CurrencyCode, Record
from ledgerbridge.model.numbers import Amount, refuse_imprecise

__all__ = ["Payout", "PayoutLine", "PayoutLineType", "PayoutStatus"]

PayoutStatus = Literal["pending", "in_transit", "paid", "failed", "canceled"]
PayoutLineType = Literal[
    "charge",
    "refund",
    "fee",
    "chargeback",
    "chargeback_reversal",
    "adjustment",
    "reserve",
    "payout_reversal",
    "other",
]


class PayoutLine(Canonical):
    """One movement inside a payout, with the references it is matched to an invoice by."""

    line_id: str = Field(min_length=1)
    """The acquirer's id of the movement (Stripe ``txn_…``, Vipps' pspReference and entry
    type, Zettle's transaction uuid): unique within the payout."""
    type: PayoutLineType
    occurred_at: AwareDatetime | None = None
    gross: Amount
    fee: Amount = Decimal(0)
    net: Amount
    original_currency: CurrencyCode | None = None
    """The currency the customer paid in, when the acquirer converted it."""
    original_amount: Amount | None = None
    order_ref: str | None = None
    """The shop's order number or id, as the acquirer carries it (metadata, reference)."""
    psp_ref: str | None = None
    """The payment's id at the acquirer (charge, payment intent, pspReference, payment uuid):
    what the shop stored as the order's transaction id."""
    description: str | None = None


class Payout(Record):
    """One payout to the bank and the movements it pays out."""

    provider: str = Field(min_length=1, max_length=50)
    """The acquirer's system name: ``stripe``, ``vipps_mobilepay``, ``zettle``."""
    source_id: str = Field(min_length=1)
    """The acquirer's payout id (Stripe ``po_…``; Vipps and Zettle, which have none, the
    ledger and date or the payout entry's id)."""
    status: PayoutStatus
    arrival_date: dt.date
    created_at: AwareDatetime | None = None
    currency: CurrencyCode
    gross: Amount
    fees: Amount = Decimal(0)
    net: Amount
    bank_reference: str | None = None
    """The text the bank statement shows for the deposit."""
    lines: list[PayoutLine] = Field(default_factory=list)
    itemised: bool = True
    """False when the acquirer cannot say which payments a payout holds (Stripe's manual
    payouts): the whole amount is then unmatched."""

    @model_validator(mode="after")
    def _consistent_lines(self) -> Payout:
        values: list[tuple[tuple[str | int, ...], Decimal | None, int]] = [
            (("gross",), self.gross, 0),
            (("fees",), self.fees, 0),
            (("net",), self.net, 0),
        ]
        for index, line in enumerate(self.lines):
            values += [
                (("lines", index, "gross"), line.gross, 0),
                (("lines", index, "fee"), line.fee, 0),
                (("lines", index, "net"), line.net, 0),
            ]
        refuse_imprecise("Payout", self.currency, values)
        errors: list[InitErrorDetails] = []
        seen: set[str] = set()
        for index, line in enumerate(self.lines):
            if line.gross - line.fee != line.net:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "payout_line_net",
                            "net {net} is not gross {gross} minus fee {fee}",
                            {"net": str(line.net), "gross": str(line.gross), "fee": str(line.fee)},
                        ),
                        loc=("lines", index, "net"),
                        input=str(line.net),
                    )
                )
            if line.line_id in seen:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "payout_line_repeated",
                            "line id {line_id} appears twice in the payout",
                            {"line_id": line.line_id},
                        ),
                        loc=("lines", index, "line_id"),
                        input=line.line_id,
                    )
                )
            seen.add(line.line_id)
        if errors:
            raise ValidationError.from_exception_data("Payout", errors)
        return self

    @property
    def difference(self) -> Decimal:
        """What the bank received beyond the lines' net (negative: less than the lines say)."""
        return self.net - sum((line.net for line in self.lines), Decimal(0))
