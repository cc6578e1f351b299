"""Cash-journal postings: what PayMatch puts in the accounting system's cash journal for one
payout (or for a line matched later), derived by a route's flow from an acquirer's payout; and
the payments of a sale paid several ways (part card, part cash), one per part, against its
invoice, derived by a commerce route with the invoice.

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

JournalLineRole = Literal["receivable", "fee", "bank", "error", "customer", "tender"]
"""PayMatch's roles, and a split sale's: ``customer`` takes a part off the invoice's debtor
(settling the invoice), ``tender`` puts it on its payment method's account."""


class JournalLine(Canonical):
    """One line of a posting: an amount on one account, with what it settles and why."""

    role: JournalLineRole
    """What the line is: a payment settled on the receivable, a fee, the bank deposit, or an
    amount on the error account that a person (or a later match) has to place; for a split
    sale, the part taken off the customer or put on its method's account."""
    account: str | None = Field(default=None, min_length=1, max_length=50)
    """A ledger account; none on a ``customer`` line, which is on the invoice's debtor (the
    posting's ``party_id``, whose account the accounting system gave it)."""
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
    method: str | None = Field(default=None, max_length=100)
    """A split sale's line: the payment method of its part (whose rule names the account)."""

    @model_validator(mode="after")
    def _account_named(self) -> JournalLine:
        if (self.account is None) != (self.role == "customer"):
            raise PydanticCustomError(
                "journal_line_account",
                "a customer line is on the invoice's debtor and names no account; every other "
                "line names its ledger account",
            )
        return self


class JournalPosting(Record):
    """One voucher of cash-journal lines for one payout, one late match of a payout line, or
    the payments of one sale paid several ways."""

    kind: Literal["payout", "late_match", "payment"] = "payout"
    reference: str = Field(min_length=1, max_length=60)
    """The posting's own key in the accounting system (each line's reference number): the
    payout id, or the payout id and line for a late match, or the order's for payments. How
    the lines are found again."""
    journal: str = Field(min_length=1, max_length=50)
    provider: str | None = Field(default=None, min_length=1, max_length=50)
    """The acquirer (a payout's and a late match's)."""
    payout_id: str | None = Field(default=None, min_length=1)
    """The acquirer's payout id (``Payout.source_id``); none for payments."""
    invoice_id: str | None = None
    """The hub invoice whose open amount a payment posting settles: its number in the
    accounting system goes on each customer line."""
    party_id: str | None = None
    """The invoice's customer, whose debtor account the customer lines are on."""
    order_ref: str | None = None
    """A payment posting's order (its number, else its shop id), for texts and look-ups."""
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
    def _kind_complete(self) -> JournalPosting:
        """A payout's posting names its acquirer and payout; a payment posting its invoice
        and customer (where its customer lines go)."""
        wanted = ("invoice_id", "party_id") if self.kind == "payment" else ("provider", "payout_id")
        missing = [name for name in wanted if getattr(self, name) is None]
        if missing:
            raise ValidationError.from_exception_data(
                "JournalPosting",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "missing", "a {kind} posting names it", {"kind": self.kind}
                        ),
                        loc=(name,),
                        input=None,
                    )
                    for name in missing
                ],
            )
        return self

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
