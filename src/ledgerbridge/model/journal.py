"""Cash-journal postings: what PayMatch puts in the accounting system's cash journal for one
payout (or for a line matched later), derived by a route's flow from an acquirer's payout.

A posting is one voucher: its lines balance. Amounts are signed as the ledger sees them, a
debit positive and a credit negative, in the posting's currency; the accounting system
converts a currency other than its own at its rate. A posting is written once and never
changed: a correction is another posting (a late match moves a line off the error account).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledgerbridge.model.common import Canonical, CurrencyCode, Record
from ledgerbridge.model.numbers import Amount, refuse_imprecise

__all__ = ["JournalLine", "JournalLineRole", "JournalPosting"]

JournalLineRole = Literal["receivable", "fee", "bank", "error"]


class JournalLine(Canonical):
    """One line of a posting: an amount on one account, with what it settles and why."""

    role: JournalLineRole
    """What the line is: a payment settled on the receivable, a fee, the bank deposit, or an
    amount on the error account that a person (or a later match) has to place."""
    account: str = Field(min_length=1, max_length=50)
    amount: Amount
    """Debit positive, credit negative."""
    text: str = Field(min_length=1, max_length=200)
    invoice: str | None = Field(default=None, max_length=50)
    """The invoice number a receivable line settles."""
    reason: str | None = Field(default=None, max_length=50)
    """Why an error-account line is there (``no_match``, ``payout_difference`` …)."""
    payout_line_id: str | None = None
    order_ref: str | None = None
    psp_ref: str | None = None


class JournalPosting(Record):
    """One voucher of cash-journal lines for one payout, or one late match of a payout line."""

    kind: Literal["payout", "late_match"] = "payout"
    reference: str = Field(min_length=1, max_length=60)
    """The posting's own key in the accounting system (each line's reference number): the
    payout id, or the payout id and line for a late match. How the lines are found again."""
    journal: str = Field(min_length=1, max_length=50)
    provider: str = Field(min_length=1, max_length=50)
    payout_id: str = Field(min_length=1)
    """The acquirer's payout id (``Payout.source_id``)."""
    route_id: str | None = None
    """The PayMatch route that made it: its ``paymatch`` block sets the journal and the
    accounts, and a refusal names the route to correct."""
    date: dt.date
    currency: CurrencyCode
    lines: list[JournalLine] = Field(min_length=2)
    payout_status: str | None = None
    payout_net: Amount | None = None
    payout_lines: dict[str, Amount] = Field(default_factory=dict)
    """What the payout said when it was posted (its status, net and each line's net by line
    id): a payout that changes later is compared with it, and the change reported."""

    @model_validator(mode="after")
    def _balanced(self) -> JournalPosting:
        refuse_imprecise(
            "JournalPosting",
            self.currency,
            [(("lines", i, "amount"), line.amount, 0) for i, line in enumerate(self.lines)],
        )
        total = sum((line.amount for line in self.lines), Decimal(0))
        if total != 0:
            raise ValidationError.from_exception_data(
                "JournalPosting",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "posting_unbalanced",
                            "the lines add up to {total}, not 0: a voucher balances",
                            {"total": str(total)},
                        ),
                        loc=("lines",),
                        input=str(total),
                    )
                ],
            )
        return self
