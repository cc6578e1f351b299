"""Zettle sandbox: a loopback HTTP simulator of Zettle's OAuth (assertion grant), Purchase API
v2, Finance API v2 and Pusher webhooks, built from Zettle's documentation.

Shares no code with ``ledgerbridge.connectors``; see ``docs/connector-zettle.md`` for what is
simulated and how faithfully.
"""

from ledgerbridge.sandbox.zettle.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.zettle.pusher import signature
from ledgerbridge.sandbox.zettle.sales import ZettleError
from ledgerbridge.sandbox.zettle.state import ApiKey, ZettleSandbox

__all__ = [
    "ApiKey",
    "SandboxServer",
    "ZettleError",
    "ZettleSandbox",
    "create_app",
    "serve",
    "signature",
]
