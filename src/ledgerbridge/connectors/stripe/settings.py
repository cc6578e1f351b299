"""A Stripe connection's settings and secrets."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text
from ledgerbridge.model.common import CurrencyCode


class StripeSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"key_fingerprint"})

    account_currency: CurrencyCode | None = Field(
        None,
        description="Read only payouts in this currency (DKK): one connection per bank account "
        "when the account settles in several currencies; empty: every payout",
    )
    import_from: dt.date | None = Field(
        None, description="Payouts created before this day are not read; empty: all of them"
    )
    key_fingerprint: str | None = Field(
        None,
        description="What the call budget is counted against: a digest of the secret key "
        "(never the key), stored when the key is checked",
    )


class StripeSecrets(Strict):
    """A secret key (Dashboard → Developers → API keys), or a restricted key that may read
    payouts, balance transactions, charges, refunds and disputes and write webhook
    endpoints."""

    secret_key: Text = Field(description="sk_live_… or rk_live_… (sk_test_… in test mode)")
    webhook_secret: Text | None = Field(
        None,
        description="whsec_…: only for an endpoint made by hand in the Dashboard (a restricted "
        "key without webhook rights); otherwise the hub makes the endpoint and keeps its secret",
    )
