"""A Uniconta connection's settings and secrets."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text, Url

DEFAULT_DEBTOR_NEXT = 100000
"""Where a webshop's customers start: above the debtor numbers a company usually has."""


class UnicontaUser(Strict):
    """Who the saved user is, as Uniconta said when the credentials were checked."""

    type: str | None = Field(None, description="Uniconta user type (Server for integrations)")
    roles: list[str] = Field(default_factory=list, description="Invoices need Reseller")


class DebtorNumbers(Strict):
    """Debtor numbers the hub hands out to parties that come without one (a webshop's
    customers); debtors imported from Uniconta keep theirs."""

    next: int = Field(ge=1, description="The next number handed out")
    prefix: str = Field("", max_length=20, description="Put before every number")


class UnicontaSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"uniconta_user"})

    company_id: int = Field(
        ge=1, description="The company the user reaches (setup login lists them)"
    )
    username: Text = Field(description="A Uniconta user of type Server")
    post_invoices: bool = Field(
        False, description="Post invoices the app marks ready; otherwise they go in as orders"
    )
    booking_url: Url | None = Field(
        None,
        description="The booking service (UnicontaRest) that posts invoices; without it "
        "invoices to post are left as orders ready to book in Uniconta",
    )
    debtor_numbers: DebtorNumbers | None = Field(
        None, description='Numbers for customers sent without one, default {"next": 100000}'
    )
    products_master: Literal["uniconta", "app"] = Field(
        "uniconta",
        description="uniconta: items are read from Uniconta only; app: the hub's products "
        "(from the shop, by SKU) are created and updated in Uniconta",
    )
    item_group: Text | None = Field(
        None, description="Uniconta item group of items created from the hub's products"
    )
    vat_mapping: dict[str, str] = Field(
        default_factory=dict, description="Uniconta VAT code → hub VAT code"
    )
    unit_mapping: dict[str, str] = Field(
        default_factory=dict, description="Uniconta unit → hub unit, added to the common ones"
    )
    payment_terms: dict[str, Annotated[int, Field(ge=0, le=3650)]] = Field(
        default_factory=dict, description="Uniconta payment term code → days"
    )
    uniconta_user: UnicontaUser | None = None

    @model_validator(mode="after")
    def _numbers(self) -> Self:
        """Stored explicitly (the stored settings keep only what was given): the hub's number
        sequence reads it from there."""
        if self.debtor_numbers is None:
            self.debtor_numbers = DebtorNumbers(next=DEFAULT_DEBTOR_NEXT, prefix="")
        return self


class UnicontaSecrets(Strict):
    password: Text = Field(description="The Uniconta user's password")
