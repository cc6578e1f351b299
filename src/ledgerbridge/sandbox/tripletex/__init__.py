"""Tripletex sandbox: a loopback HTTP simulator of Tripletex API v2, faithful to the official
OpenAPI file (2.74.00).

The engine's Tripletex client is tested against this over real HTTP, so the package deliberately
shares no code with ``ledgerbridge.connectors`` or ``ledgerbridge.engine``. See
``docs/sandbox-tripletex.md`` for what is simulated and how faithfully.
"""

from ledgerbridge.sandbox.tripletex.app import SandboxServer, create_app, serve
from ledgerbridge.sandbox.tripletex.errors import TripletexError
from ledgerbridge.sandbox.tripletex.state import (
    ENVIRONMENTS,
    Auth,
    Company,
    ConsumerToken,
    Employee,
    EmployeeToken,
    Session,
    TripletexSandbox,
)

__all__ = [
    "ENVIRONMENTS",
    "Auth",
    "Company",
    "ConsumerToken",
    "Employee",
    "EmployeeToken",
    "SandboxServer",
    "Session",
    "TripletexError",
    "TripletexSandbox",
    "create_app",
    "serve",
]
