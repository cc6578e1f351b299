"""The hub as ``ledgerbridge serve`` runs it, in one process or in several.

Several processes (``LEDGERBRIDGE_PROCESSES``, PostgreSQL only) each build their own system
from the environment (``app_from_environment``, uvicorn's factory in each child); they share
the port, the database and its job queue, and nothing else: every state an API request needs
is in the database. The parent migrates the schema and makes the key file before any child
starts (``cli.serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from ledgerbridge.api.app import create_app
from ledgerbridge.logs import configure
from ledgerbridge.runtime.system import System, freeze_start_up_heap
from ledgerbridge.settings import Settings


def serving_app(settings: Settings) -> FastAPI:
    """The process's own app: its system starts and stops with the server."""
    app = create_app(System(settings), serving=True)
    freeze_start_up_heap()
    return app


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each of serve's processes: the settings the parent exported."""
    settings = Settings()
    configure(settings.log_level)
    return serving_app(settings)
