"""Stripe sandbox: a loopback HTTP simulator of the Stripe API a payout reconciliation reads
(payouts, balance transactions with their sources, charges, refunds, disputes, events, webhook
endpoints) and of Stripe's signed webhook deliveries.

Shares no code with ``ledgerbridge.connectors``; see ``docs/connector-stripe.md`` for what is
simulated and how faithfully.
"""

from ledgerbridge.sandbox.stripe.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.stripe.seed import seed_account
from ledgerbridge.sandbox.stripe.state import StripeError, StripeSandbox
from ledgerbridge.sandbox.stripe.webhooks import signature

__all__ = [
    "SandboxServer",
    "StripeError",
    "StripeSandbox",
    "create_app",
    "seed_account",
    "serve",
    "signature",
]
