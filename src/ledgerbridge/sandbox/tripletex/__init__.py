"""Tripletex sandbox: a loopback HTTP simulator of Tripletex API v2, faithful to the official
OpenAPI file (2.74.00).

The engine's Tripletex client is tested against this over real HTTP, so the package deliberately
shares no code with ``ledgerbridge.connectors`` or ``ledgerbridge.engine``. See
``docs/sandbox-tripletex.md`` for what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.tripletex.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.tripletex.errors import TripletexError
from ledgerbridge.sandbox.tripletex.seed import (
    ACCOUNTING_SERVICES,
    SeededFirm,
    seed_accounting_firm,
    seed_customers,
    seed_products,
    seed_work_statistics,
)
from ledgerbridge.sandbox.tripletex.state import (
    ENVIRONMENTS,
    EVENTS,
    Auth,
    Company,
    ConsumerToken,
    Employee,
    EmployeeToken,
    Session,
    TripletexSandbox,
)
from ledgerbridge.sandbox.tripletex.webhooks import DeliveryRecord, sign

__all__ = [
    "ACCOUNTING_SERVICES",
    "ENVIRONMENTS",
    "EVENTS",
    "Auth",
    "Company",
    "ConsumerToken",
    "DeliveryRecord",
    "Employee",
    "EmployeeToken",
    "SandboxServer",
    "SeededFirm",
    "Session",
    "TripletexError",
    "TripletexSandbox",
    "create_app",
    "seed_accounting_firm",
    "seed_customers",
    "seed_products",
    "seed_work_statistics",
    "serve",
    "sign",
]
