"""WooCommerce sandbox: a loopback HTTP simulator of WooCommerce's REST API v3 (with
WooCommerce Subscriptions' renewal orders) and of its webhooks.

Shares no code with ``ledgerbridge.connectors``; see ``docs/sandbox-woocommerce.md`` for what is
simulated and how faithfully.
"""

from ledgerbridge.sandbox.woocommerce.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.woocommerce.core import WooError
from ledgerbridge.sandbox.woocommerce.seed import seed_shop
from ledgerbridge.sandbox.woocommerce.state import ApiKey, Settings, WooSandbox
from ledgerbridge.sandbox.woocommerce.webhooks import sign

__all__ = [
    "ApiKey",
    "SandboxServer",
    "Settings",
    "WooError",
    "WooSandbox",
    "create_app",
    "seed_shop",
    "serve",
    "sign",
]
