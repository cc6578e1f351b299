"""The hub REST API (``/api/v1``): thin handlers over the services.

Errors are always JSON and name the field: 401 without a valid key, 403 for a role that may
not act, 404 for what the tenant cannot see (another tenant's record looks missing), 409 for a
business key already taken or a stale version, 413 for a body over the limit, 422 for invalid
input, 405 with ``Allow`` for a method a path does not have, 503 while the database is
unavailable. Every route declares them
(``api/errors.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from anyio.to_thread import current_default_thread_limiter
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ledgerbridge.api import (
    connections,
    errors,
    files,
    inbound,
    mail,
    metrics,
    oauth,
    payouts,
    reconciliations,
    records,
    routes,
    setup,
    systems,
    tenancy,
)
from ledgerbridge.api.input import RefuseNul
from ledgerbridge.model.reasons import in_words
from ledgerbridge.runtime.system import System
from ledgerbridge.services.errors import Invalid, ServiceError
from ledgerbridge.store.secrets import SecretsKeyError
from ledgerbridge.ui import mount as mount_ui

log = logging.getLogger(__name__)


API_THREADS = 12
"""Threads for the API's blocking work (callbacks have their own), instead of anyio's 40. More
threads than pooled database connections only wait for one; on SQLite, whose writes take
turns, they only compete for the interpreter lock with the thread whose turn it is."""


async def _stop_when_job_loop_dies(app: FastAPI, system: System) -> None:
    """A server whose in-process job loop died on an error (its database went away) would
    answer requests and run no job again: like a worker, it stops instead, and ``serve``
    exits non-zero for its supervisor to start it again."""
    while system.background_alive():
        await asyncio.sleep(1.0)
    log.error("the job loop stopped on an error (see the log above); stopping the server")
    app.state.job_loop_died = True
    app.state.stop_server()


def create_app(system: System, *, serving: bool = False) -> FastAPI:
    """The API and the UI over ``system``. ``serving``: the app is the process's own (``serve``):
    it starts the system's jobs and schedules with the server, unless the settings leave them
    to workers, and closes the system when the server stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current_default_thread_limiter().total_tokens = API_THREADS
        app.state.job_loop_died = False
        watching = None
        if serving and system.settings.serve_jobs:
            system.start_background()
            watching = asyncio.create_task(_stop_when_job_loop_dies(app, system))
        try:
            yield
        finally:
            if watching is not None:
                watching.cancel()
            if serving:
                system.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ledgerbridge",
        version="1",
        summary="Keeps a business app and its accounting system aligned.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        responses=errors.RESPONSES,
    )
    # ``serve`` stops its server itself, to exit non-zero; one of several processes is
    # signalled, as its parent stops it.
    app.state.stop_server = lambda: os.kill(os.getpid(), signal.SIGTERM)
    app.state.system = system
    inbound.reserve_threads(app)
    errors.install(app)
    # Callbacks read their own body, once their token is known to be good.
    app.add_middleware(
        RefuseNul,
        max_body=system.settings.max_body_bytes,
        own_body=("/api/v1/inbound/",),
        pages=("/ui/",),
    )
    app.include_router(records.router, prefix="/api/v1")
    app.include_router(connections.router, prefix="/api/v1")
    app.include_router(routes.router, prefix="/api/v1")
    app.include_router(files.router, prefix="/api/v1")
    app.include_router(mail.router, prefix="/api/v1")
    app.include_router(payouts.router, prefix="/api/v1")
    app.include_router(reconciliations.router, prefix="/api/v1")
    app.include_router(systems.router, prefix="/api/v1")
    app.include_router(tenancy.router, prefix="/api/v1")
    app.include_router(inbound.router, prefix="/api/v1")
    app.include_router(setup.router, prefix="/api/v1")
    app.include_router(oauth.router, prefix="/api/v1")
    app.include_router(metrics.router)
    app.state.metrics = metrics.registry(system)

    mount_ui(app)

    @app.get("/api/v1/health", tags=["system"])
    def health() -> dict[str, str]:
        """Answers once the database answers: a load balancer or supervisor asking while it
        is unreachable gets the 503 every other request would get."""
        with system.db.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    @app.exception_handler(ServiceError)
    def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        if exc.status == 422:
            problems = exc.problems if isinstance(exc, Invalid) else [exc]
            detail: Any = [
                {
                    "loc": ["body", *p.field.split(".")] if p.field else ["body"],
                    "msg": p.message,
                    "type": "invalid",
                }
                for p in problems
            ]
        else:
            detail = exc.message
        body: dict[str, Any] = {"detail": detail}
        if exc.field and exc.status != 422:
            body["field"] = exc.field
        return JSONResponse(status_code=exc.status, content=body)

    @app.exception_handler(ValidationError)
    def validation_error(_request: Request, exc: ValidationError) -> JSONResponse:
        errors = [
            {"loc": ["body", *e["loc"]], "msg": in_words(e), "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(RequestValidationError)
    def request_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": in_words(e), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content=jsonable_encoder({"detail": errors}))

    @app.exception_handler(SecretsKeyError)
    def secrets_error(_request: Request, exc: SecretsKeyError) -> JSONResponse:
        log.error("secrets key error: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "stored credentials cannot be decrypted: check the secret keys"},
        )

    @app.exception_handler(sa.exc.OperationalError)
    def database_unavailable(_request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        # The database went away (restart, failover, network) or is too busy to answer: a
        # passing state, so a JSON 503 to retry, and one log line rather than a traceback.
        log.error("database unavailable: %s", exc.orig)
        return JSONResponse(
            status_code=503,
            content={"detail": "the database is unavailable; try again shortly"},
            headers={"Retry-After": "5"},
        )

    return app
