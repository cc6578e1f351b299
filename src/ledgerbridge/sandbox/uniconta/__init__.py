"""Uniconta sandbox: a loopback HTTP simulator of Uniconta's OData/REST API, and of the
booking service (UnicontaRest) that posts invoices beside it.

The engine's Uniconta client is tested against this over real HTTP, so the package deliberately
shares no code with ``ledgerbridge.connectors`` or ``ledgerbridge.engine``. See
``docs/sandbox-uniconta.md`` for what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.uniconta.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.uniconta.booking import BookingServer, create_booking_app
from ledgerbridge.sandbox.uniconta.entities import CATALOGUE, ENTITIES, EntityDef
from ledgerbridge.sandbox.uniconta.seed import seed_creditors, seed_debtors
from ledgerbridge.sandbox.uniconta.seed_commerce import seed_paymatch, seed_webshop
from ledgerbridge.sandbox.uniconta.seed_trade import seed_contacts, seed_invoices, seed_products
from ledgerbridge.sandbox.uniconta.state import Company, SandboxError, UnicontaSandbox, User

__all__ = [
    "CATALOGUE",
    "ENTITIES",
    "BookingServer",
    "Company",
    "EntityDef",
    "SandboxError",
    "SandboxServer",
    "UnicontaSandbox",
    "User",
    "create_app",
    "create_booking_app",
    "seed_contacts",
    "seed_creditors",
    "seed_debtors",
    "seed_invoices",
    "seed_paymatch",
    "seed_products",
    "seed_webshop",
    "serve",
]
