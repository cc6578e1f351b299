"""A Yuki connection's settings and secrets."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text

ContactDirection = Literal["both", "inbound", "outbound", "none"]
PaymentMethod = Literal[
    "Unspecified", "ElectronicTransfer", "DirectCollection", "CreditCard", "DebitCard", "Cash",
    "iDeal", "Online", "ToSettle",
]  # fmt: skip
"""The values of the ``PaymentMethod`` enumeration of Yuki's SalesInvoices schema (as known from
third-party clients; the sandbox checks the same). Yuki refuses a whole ProcessSalesInvoices
call with any other, so a wrong one is refused when saved, not on every invoice sent."""


def _vat_type(value: str) -> str:
    """A Yuki VAT type is the number ``ActiveVATCodesList`` gives as ``type``, an ``xs:int`` in
    the SalesInvoices schema: Yuki refuses a whole ProcessSalesInvoices call with anything else."""
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValueError("must be a Yuki VAT type, a number such as 1 (high) or 2 (low)")
    return value


VatType = Annotated[str, AfterValidator(_vat_type)]


class DebtorNumbers(Strict):
    """The hub hands out debtor numbers, which become Yuki relationship codes."""

    next: int = Field(ge=0, description="The next number handed out")
    prefix: str = Field("", max_length=20, description="Put before every number")


class ContactTypes(Strict):
    organisation: ContactDirection = "both"
    person: ContactDirection = "both"


class YukiNamed(Strict):
    id: str
    name: str | None = None


class YukiSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"yuki_domain", "yuki_administration"})

    domain_id: Text = Field(description="The Yuki domain (setup login lists them)")
    administration_id: Text = Field(description="The administration within the domain")
    debtor_numbers: DebtorNumbers | None = Field(
        None, description='Needed before activating, e.g. {"next": 10000, "prefix": ""}'
    )
    contact_types: ContactTypes | None = Field(
        None, description="Which contact types are imported and exported"
    )
    import_suppliers: bool = Field(False, description="Also read suppliers from Yuki")
    payment_method: PaymentMethod = Field(
        "ElectronicTransfer", description="Yuki payment method of invoices sent"
    )
    vat_mapping: dict[Text, VatType] = Field(
        default_factory=dict,
        description="Hub VAT code → Yuki VAT type (its number, e.g. 1 high, 2 low)",
    )
    yuki_domain: YukiNamed | None = None
    yuki_administration: YukiNamed | None = None


class YukiSecrets(Strict):
    access_key: Text = Field(description="A Yuki web service access key")
