"""A Vipps MobilePay connection's settings and secrets."""

from __future__ import annotations

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text


class VippsSettings(ConnectionSettings):
    client_id: Text = Field(
        description="The client_id of the API keys (portal.vippsmobilepay.com → Developer; an "
        "accounting partner's own keys once the merchant has given it access)"
    )
    ledger_id: Text | None = Field(
        None,
        description="The ledger whose payouts are read; empty: found when the connection is "
        "saved (the keys' only ledger, or the one that settles for msn)",
    )
    msn: Text | None = Field(
        None,
        description="The sales unit's merchant serial number, to pick its ledger when the keys "
        "reach several",
    )


class VippsSecrets(Strict):
    """The API keys from the portal."""

    client_secret: Text = Field(description="The client_secret of the API keys")
    subscription_key: Text = Field(description="Ocp-Apim-Subscription-Key (the primary key)")
