"""Qonto sandbox: a loopback HTTP simulator of Qonto's Business API v2 and OAuth server.

The engine's Qonto client is tested against this over real HTTP, so the package deliberately
shares no code with ``ledgerbridge.connectors`` or ``ledgerbridge.engine``. See
``docs/sandbox-qonto.md`` for what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.qonto.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.qonto.core import Clock, OAuthError, QontoError, SystemClock
from ledgerbridge.sandbox.qonto.oauth import SCOPES, OAuthApp, Principal, TokenSet
from ledgerbridge.sandbox.qonto.seed import (
    seed_clients,
    seed_invoices,
    seed_organization,
    seed_products,
)
from ledgerbridge.sandbox.qonto.state import ApiCall, Page, QontoSandbox
from ledgerbridge.sandbox.qonto.webhooks import WebhookDelivery, WebhookEvent, sign

__all__ = [
    "SCOPES",
    "ApiCall",
    "Clock",
    "OAuthApp",
    "OAuthError",
    "Page",
    "Principal",
    "QontoError",
    "QontoSandbox",
    "SandboxServer",
    "SystemClock",
    "TokenSet",
    "WebhookDelivery",
    "WebhookEvent",
    "create_app",
    "seed_clients",
    "seed_invoices",
    "seed_organization",
    "seed_products",
    "serve",
    "sign",
]
