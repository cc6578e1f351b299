"""The web UI (``/ui``): server-rendered pages for setting up and running connections, over
the same services as the API. See docs/ui.md."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.ui import (
    activity,
    auth,
    clients,
    conflicts,
    connections,
    credentials,
    entities,
    files,
    imports,
    issues,
    mail,
    mappings,
    overview,
    payouts,
    preview,
    reconciliation,
    records,
    routes,
    setup,
    setup_steps,
    summary,
    usage,
    users,
    webhooks,
)
from ledgerbridge.ui.web import HERE, not_a_page

PAGES = (
    auth,
    connections,
    setup_steps,
    setup,
    overview,
    entities,
    mappings,
    conflicts,
    imports,
    preview,
    credentials,
    summary,
    clients,
    issues,
    activity,
    usage,
    reconciliation,
    records,
    routes,
    payouts,
    mail,
    files,
    users,
    webhooks,
)
"""Page modules in routing order: a fixed path (``/connections/new``) before a pattern that
would take it (``/connections/{id}``)."""

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        b"base-uri 'self'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
"""Only our own scripts run (no inline code, no CDN); no other site may frame a page.
Inline styles stay allowed: htmx and uPlot set element styles."""


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every ``/ui`` response (plain ASGI: the live log's
    server-sent events stream through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def mount(app: FastAPI) -> None:
    """Adds the pages under ``/ui``, their static files, and ``/`` → ``/ui/``."""
    for page in PAGES:
        app.include_router(page.router, prefix="/ui", include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_api_route("/ui/{address:path}", not_a_page, methods=["GET"], include_in_schema=False)
    app.add_middleware(SecurityHeaders)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
