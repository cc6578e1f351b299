"""Vipps MobilePay sandbox: a loopback HTTP simulator of the Report API v2 (ledgers, the funds
and fees topics by date and as feeds) and of the access token service.

Shares no code with ``ledgerbridge.connectors``; see ``docs/connector-vipps-mobilepay.md`` for
what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.vipps_mobilepay.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.vipps_mobilepay.seed import seed_ledger
from ledgerbridge.sandbox.vipps_mobilepay.state import (
    ApiKeys,
    Ledger,
    VippsError,
    VippsSandbox,
    worked_example,
)

__all__ = [
    "ApiKeys",
    "Ledger",
    "SandboxServer",
    "VippsError",
    "VippsSandbox",
    "create_app",
    "seed_ledger",
    "serve",
    "worked_example",
]
