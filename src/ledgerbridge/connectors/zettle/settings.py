"""A Zettle connection's settings and secrets."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text
from ledgerbridge.model.common import Email


class ZettleSettings(ConnectionSettings):
    """``base_url`` (inherited) points every Zettle host (OAuth, Purchase, Finance, Pusher) at
    one root, as the sandbox serves them; empty: Zettle's own hosts."""

    learned: ClassVar[frozenset[str]] = frozenset({"organization_uuid"})

    start_date: date | None = Field(
        None,
        description="Sales and payouts from this day (UTC) are read; empty: 31 days back "
        "from the first import",
    )
    tip_item: Text | None = Field(
        None,
        description="The accounting system's item a tip is booked on (a line without "
        "VAT); empty: a line without an item",
    )
    service_charge_item: Text | None = Field(
        None, description="The item a service charge is booked on; empty: a line without an item"
    )
    contact_email: Email | None = Field(
        None, description="Where Zettle writes when webhook deliveries keep failing"
    )
    organization_uuid: str | None = None


class ZettleSecrets(Strict):
    """An API key made at my.zettle.com/apps/api-keys with the scopes READ:PURCHASE and
    READ:FINANCE; the client id is read from the key itself."""

    api_key: str = Field(min_length=20, max_length=8000, description="The API key (a JWT)")
