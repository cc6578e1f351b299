"""A Uniconta connection's settings and secrets."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text


class UnicontaUser(Strict):
    """Who the saved user is, as Uniconta said when the credentials were checked."""

    type: str | None = Field(None, description="Uniconta user type (Server for integrations)")
    roles: list[str] = Field(default_factory=list, description="Invoices need Reseller")


class UnicontaSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"uniconta_user"})

    company_id: int = Field(
        ge=1, description="The company the user reaches (setup login lists them)"
    )
    username: Text = Field(description="A Uniconta user of type Server")
    post_invoices: bool = Field(
        False, description="Post invoices the app marks ready; otherwise they go in as orders"
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


class UnicontaSecrets(Strict):
    password: Text = Field(description="The Uniconta user's password")
