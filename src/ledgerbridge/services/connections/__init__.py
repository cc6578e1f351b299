"""Connections: one service for the API and the CLI, in parts by concern — set-up and change
(``configure``), what a connection shows (``status``), code mappings and the system's lists
(``codes``), jobs a user runs now (``actions``), the sync log and issues (``activity``), the
callbacks systems send (``callbacks``), and client links and reloads (``links``). What differs
between systems comes from their ``SystemSpec``; no part names a system."""

from __future__ import annotations

from ledgerbridge.services.connections.actions import Actions
from ledgerbridge.services.connections.activity import Activity
from ledgerbridge.services.connections.callbacks import Callbacks
from ledgerbridge.services.connections.configure import Configure
from ledgerbridge.services.connections.links import Links


class ConnectionService(Links, Configure, Actions, Activity, Callbacks):
    """Create, configure, test, import, status, sync log, issues, jobs, callbacks, client
    links and reloads."""


__all__ = ["ConnectionService"]
