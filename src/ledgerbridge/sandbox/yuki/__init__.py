"""Yuki sandbox: a loopback SOAP simulator of Yuki's ASMX web services.

The engine's Yuki client is tested against this over real HTTP, so the package shares no code
with ``ledgerbridge.connectors`` or ``ledgerbridge.engine``. See ``docs/sandbox-yuki.md`` for
what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.yuki.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.yuki.model import (
    Administration,
    Contact,
    Domain,
    GlAccount,
    ImportResult,
    InvoiceResult,
    OutstandingItem,
    Product,
    SalesInvoice,
    VatCode,
)
from ledgerbridge.sandbox.yuki.seed import DEMO_ACCESS_KEY, SeededDomain, seed_contacts, seed_demo
from ledgerbridge.sandbox.yuki.state import YukiFault, YukiSandbox
from ledgerbridge.sandbox.yuki.wsdl import SERVICES

__all__ = [
    "DEMO_ACCESS_KEY",
    "SERVICES",
    "Administration",
    "Contact",
    "Domain",
    "GlAccount",
    "ImportResult",
    "InvoiceResult",
    "OutstandingItem",
    "Product",
    "SalesInvoice",
    "SandboxServer",
    "SeededDomain",
    "VatCode",
    "YukiFault",
    "YukiSandbox",
    "create_app",
    "seed_contacts",
    "seed_demo",
    "serve",
]
