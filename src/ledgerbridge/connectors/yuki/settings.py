"""A Yuki connection's settings and secrets."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text

ContactDirection = Literal["both", "inbound", "outbound", "none"]


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
    payment_method: Text = Field(
        "ElectronicTransfer", description="Yuki payment method of invoices sent"
    )
    vat_mapping: dict[str, str] = Field(
        default_factory=dict, description="Hub VAT code → Yuki VAT type"
    )
    yuki_domain: YukiNamed | None = None
    yuki_administration: YukiNamed | None = None


class YukiSecrets(Strict):
    access_key: Text = Field(description="A Yuki web service access key")
