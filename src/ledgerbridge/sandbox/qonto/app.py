"""HTTP surface of the sandbox: Qonto's OAuth server, its Business API v2 and admin endpoints.

Production splits these over ``oauth.qonto.com`` (``/oauth2/...``) and ``thirdparty.qonto.com``
(``/v2/...``); the sandbox serves both from one port. Everything under ``/_sandbox/`` is
sandbox-only tooling (no auth, not counted) for tests and the demo.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.qonto.core import (
    OAuthError,
    QontoError,
    dumps,
    format_timestamp,
    parse_timestamp,
    validation,
)
from ledgerbridge.sandbox.qonto.oauth import Principal
from ledgerbridge.sandbox.qonto.state import ApiCall, Page, QontoSandbox, paginate
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
IDEMPOTENCY_HEADER = "x-qonto-idempotency-key"
STAGING_HEADER = "x-qonto-staging-token"
TRACE_HEADER = "X-Tyk-Trace-Id"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# OAuth scopes accepted per route; a token needs one of them.
ORGANIZATION_READ = ("organization.read",)
CLIENT_READ = ("client.read",)
CLIENT_WRITE = ("client.write",)
INVOICE_READ = ("client_invoices.read",)
INVOICE_WRITE = ("client_invoice.write",)
# The "Create a credit note" page prints client_invoices.write; the rest of the docs use
# client_invoice.write. Either is accepted.
CREDIT_NOTE_WRITE = ("client_invoice.write", "client_invoices.write")
PRODUCT_READ = ("product.read",)
PRODUCT_WRITE = ("product.write",)
WEBHOOK = ("webhook",)

Handler = Callable[[Principal, Any], tuple[int, Any]]
_STAGING_PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Qonto</title></head>'
    b"<body><p>Sign in to continue to the Qonto sandbox.</p></body></html>"
)


def _trace_id() -> str:
    """A fresh trace id, also sent as ``X-Tyk-Trace-Id``."""
    return uuid.uuid4().hex


def _error_response(exc: QontoError, headers: Mapping[str, str] | None = None) -> Response:
    """JSON:API error body ``{"errors": [...], "trace_id"}``."""
    trace = _trace_id()
    body = {"errors": [exc.error_object()], "trace_id": trace}
    return Response(
        dumps(body),
        exc.status,
        headers={TRACE_HEADER: trace, **(headers or {})},
        media_type=JSON_MEDIA_TYPE,
    )


def _oauth_error(exc: OAuthError) -> Response:
    """RFC 6749 error body ``{"error", "error_description"}``."""
    return Response(
        dumps({"error": exc.error, "error_description": exc.description}),
        exc.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        media_type=JSON_MEDIA_TYPE,
    )


def _query(request: Request) -> dict[str, str]:
    """Query parameters, last value winning."""
    return dict(request.query_params)


def _page_body(name: str, page: Page) -> bytes:
    """``{"<plural>": [...], "meta": {...}}``, already encoded."""
    return page.encode(name)


def _unwrap(payload: Any, name: str) -> Any:
    """Accept ``{"<name>": {...}}`` as well as the bare object (clients differ on this)."""
    if isinstance(payload, dict) and len(payload) == 1 and isinstance(payload.get(name), dict):
        return payload[name]
    return payload


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """``client_secret_basic`` credentials from the Authorization header, if any."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, or ``invalid_request``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            400,
            "invalid_request",
            "The request is missing a required parameter, includes an invalid parameter value, "
            "includes a parameter more than once, or is otherwise malformed. Content type must "
            "be application/x-www-form-urlencoded.",
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def _paid_at(body: Any, today: date) -> date | datetime | None:
    """``paid_at`` of ``mark_as_paid``: a date or date-time, never in the future."""
    if not isinstance(body, dict) or body.get("paid_at") is None:
        return None
    value = body["paid_at"]
    if not isinstance(value, str):
        raise validation("must be a date in the format YYYY-MM-DD", "/paid_at")
    try:
        moment: date | datetime = date.fromisoformat(value)
    except ValueError:
        try:
            moment = parse_timestamp(value, "paid_at")
        except QontoError as exc:
            raise validation(exc.detail, "/paid_at") from exc
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    if day > today:
        raise validation("cannot be in the future", "/paid_at", "less_than_or_equal_to")
    return moment


def create_app(sandbox: QontoSandbox) -> FastAPI:
    """Build the ASGI app serving one sandbox."""
    app = FastAPI(
        title="Qonto sandbox",
        description="Simulator of Qonto's Business API for ledgerbridge tests and demos.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    def staging_page() -> Response:
        """What the real sandbox answers without ``X-Qonto-Staging-Token``: HTML with a 200."""
        return Response(_STAGING_PAGE, 200, media_type="text/html; charset=utf-8")

    def staging_ok(request: Request) -> bool:
        """True when no staging token is configured or the right one was sent."""
        wanted = sandbox.staging_token
        return wanted is None or request.headers.get(STAGING_HEADER) == wanted

    def authorize(principal: Principal, route: str, scopes: tuple[str, ...]) -> None:
        """API keys may read (webhooks excepted) and make the writes allowed to them; tokens
        need one of the route's scopes.
        """
        method = route.split(" ", 1)[0]
        if principal.kind == "api_key":
            if scopes == WEBHOOK:
                raise QontoError(403, "forbidden", "Webhook subscriptions need OAuth 2.0")
            if method in WRITE_METHODS and route not in sandbox.api_key_write_routes:
                raise QontoError(
                    403,
                    "forbidden",
                    f"{route} needs an OAuth 2.0 access token; the API key is read-only here",
                )
            return
        if not any(scope in principal.scopes for scope in scopes):
            raise QontoError(
                403, "forbidden", f"The access token lacks the {' or '.join(scopes)} scope"
            )

    async def read_body(request: Request) -> Any:
        """The JSON body; an empty body reads as an empty object."""
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise QontoError(400, "invalid", f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise QontoError(400, "invalid", "Request body must be a JSON object")
        return payload

    async def call(
        request: Request, route: str, scopes: tuple[str, ...], handler: Handler
    ) -> Response:
        """One Business API request: staging token, rate limit, auth, scope, idempotency."""
        ip = request.client.host if request.client else "unknown"
        seen: list[Principal] = []

        async def respond() -> Response:
            if not staging_ok(request):
                return staging_page()
            throttled = sandbox.admit(ip)
            if throttled is not None:
                return _error_response(
                    QontoError(429, "too_many_requests", throttled.detail),
                    {"Retry-After": str(throttled.retry_after)},
                )
            try:
                try:
                    principal = sandbox.authenticate(request.headers.get("authorization"))
                except QontoError:
                    sandbox.record_unauthorized(ip)
                    raise
                seen.append(principal)
                authorize(principal, route, scopes)
                method = route.split(" ", 1)[0]
                body = await read_body(request) if method in WRITE_METHODS else None
                key = request.headers.get(IDEMPOTENCY_HEADER) if method in WRITE_METHODS else None

                def run() -> tuple[int, bytes]:
                    status, payload = handler(principal, body)
                    if payload is None:
                        return status, b""
                    return status, payload if isinstance(payload, bytes) else dumps(payload)

                status, content = sandbox.idempotent(key, run)
            except QontoError as exc:
                return _error_response(exc)
            headers = {TRACE_HEADER: _trace_id()}
            if status == 204:
                return Response(status_code=204, headers=headers)
            return Response(content, status, headers=headers, media_type=JSON_MEDIA_TYPE)

        status = 500
        try:
            response = await respond()
            status = response.status_code
            return response
        finally:
            principal = seen[0] if seen else None
            sandbox.record_call(
                ApiCall(
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query,
                    status=status,
                    auth=principal.kind if principal else None,
                    client_id=principal.client_id if principal else None,
                    ip=ip,
                    at=sandbox.clock.now(),
                )
            )

    _add_oauth_routes(app, sandbox, staging_ok, staging_page)

    # ------------------------------------------------------- organization

    @app.get("/v2/organization", tags=["Organization"])
    async def get_organization(request: Request) -> Response:
        """The authenticated organization and its bank accounts."""
        return await call(
            request,
            "GET /v2/organization",
            ORGANIZATION_READ,
            lambda _p, _b: (200, {"organization": sandbox.organization()}),
        )

    # ------------------------------------------------------------ clients

    @app.get("/v2/clients", tags=["Clients"])
    async def list_clients(request: Request) -> Response:
        """Clients, filtered by ``filter[tax_identification_number|vat_number|email|name]``."""
        query = _query(request)
        return await call(
            request,
            "GET /v2/clients",
            CLIENT_READ,
            lambda _p, _b: (200, _page_body("clients", sandbox.list_clients(query))),
        )

    @app.post("/v2/clients", tags=["Clients"])
    async def create_client(request: Request) -> Response:
        """Create a client; there is no uniqueness rule."""
        return await call(
            request,
            "POST /v2/clients",
            CLIENT_WRITE,
            lambda _p, body: (200, {"client": sandbox.create_client(_unwrap(body, "client"))}),
        )

    @app.get("/v2/clients/{client_id}", tags=["Clients"])
    async def get_client(request: Request, client_id: str) -> Response:
        """One client."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            client = sandbox.get_client(client_id)
            if client is None:
                raise QontoError(404, "not_found", "Client not found")
            return 200, {"client": client}

        return await call(request, "GET /v2/clients/{id}", CLIENT_READ, handle)

    @app.patch("/v2/clients/{client_id}", tags=["Clients"])
    async def update_client(request: Request, client_id: str) -> Response:
        """Change some properties of a client."""
        return await call(
            request,
            "PATCH /v2/clients/{id}",
            CLIENT_WRITE,
            lambda _p, body: (
                200,
                {"client": sandbox.update_client(client_id, _unwrap(body, "client"))},
            ),
        )

    @app.delete("/v2/clients/{client_id}", tags=["Clients"])
    async def delete_client(request: Request, client_id: str) -> Response:
        """Delete a client for good."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            sandbox.delete_client(client_id)
            return 204, None

        return await call(request, "DELETE /v2/clients/{id}", CLIENT_WRITE, handle)

    # ---------------------------------------------------- client invoices

    @app.get("/v2/client_invoices", tags=["Client invoices"])
    async def list_invoices(request: Request) -> Response:
        """Invoices, filtered by status, created/updated/due dates."""
        query = _query(request)
        return await call(
            request,
            "GET /v2/client_invoices",
            INVOICE_READ,
            lambda _p, _b: (200, _page_body("client_invoices", sandbox.list_invoices(query))),
        )

    @app.post("/v2/client_invoices", tags=["Client invoices"])
    async def create_invoice(request: Request) -> Response:
        """Create a draft invoice."""
        return await call(
            request,
            "POST /v2/client_invoices",
            INVOICE_WRITE,
            lambda _p, body: (
                200,
                {"client_invoice": sandbox.create_invoice(_unwrap(body, "client_invoice"))},
            ),
        )

    @app.get("/v2/client_invoices/{invoice_id}", tags=["Client invoices"])
    async def get_invoice(request: Request, invoice_id: str) -> Response:
        """One invoice."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            invoice = sandbox.get_invoice(invoice_id)
            if invoice is None:
                raise QontoError(404, "not_found", "Client invoice not found")
            return 200, {"client_invoice": invoice}

        return await call(request, "GET /v2/client_invoices/{id}", INVOICE_READ, handle)

    @app.patch("/v2/client_invoices/{invoice_id}", tags=["Client invoices"])
    async def update_invoice(request: Request, invoice_id: str) -> Response:
        """Change a draft invoice."""
        return await call(
            request,
            "PATCH /v2/client_invoices/{id}",
            INVOICE_WRITE,
            lambda _p, body: (
                200,
                {
                    "client_invoice": sandbox.update_invoice(
                        invoice_id, _unwrap(body, "client_invoice")
                    )
                },
            ),
        )

    @app.delete("/v2/client_invoices/{invoice_id}", tags=["Client invoices"])
    async def delete_invoice(request: Request, invoice_id: str) -> Response:
        """Delete a draft invoice."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            sandbox.delete_invoice(invoice_id)
            return 204, None

        return await call(request, "DELETE /v2/client_invoices/{id}", INVOICE_WRITE, handle)

    def invoice_action(
        action: str, apply: Callable[[str, Any], dict[str, Any]]
    ) -> Callable[[Request, str], Awaitable[Response]]:
        """``POST /v2/client_invoices/{id}/<action>`` returning the invoice."""

        async def endpoint(request: Request, invoice_id: str) -> Response:
            return await call(
                request,
                f"POST /v2/client_invoices/{{id}}/{action}",
                INVOICE_WRITE,
                lambda _p, body: (200, {"client_invoice": apply(invoice_id, body)}),
            )

        endpoint.__doc__ = f"Client invoice transition: {action}."
        return endpoint

    transitions: dict[str, Callable[[str, Any], dict[str, Any]]] = {
        "finalize": lambda invoice_id, _body: sandbox.finalize_invoice(invoice_id),
        "mark_as_paid": lambda invoice_id, body: sandbox.mark_invoice_paid(
            invoice_id, _paid_at(body, sandbox.clock.now().astimezone(UTC).date())
        ),
        "unmark_as_paid": lambda invoice_id, _body: sandbox.unmark_invoice_paid(invoice_id),
        "mark_as_canceled": lambda invoice_id, _body: sandbox.cancel_invoice(invoice_id),
    }
    for action, apply in transitions.items():
        app.add_api_route(
            f"/v2/client_invoices/{{invoice_id}}/{action}",
            invoice_action(action, apply),
            methods=["POST"],
            tags=["Client invoices"],
            name=f"client_invoice_{action}",
        )

    # -------------------------------------------------------- credit notes

    @app.get("/v2/credit_notes", tags=["Credit notes"])
    async def list_credit_notes(request: Request) -> Response:
        """Credit notes, filtered by creation time."""
        query = _query(request)
        return await call(
            request,
            "GET /v2/credit_notes",
            INVOICE_READ,
            lambda _p, _b: (200, _page_body("credit_notes", sandbox.list_credit_notes(query))),
        )

    @app.post("/v2/credit_notes", tags=["Credit notes"])
    async def create_credit_note(request: Request) -> Response:
        """Credit (part of) a finalised invoice."""
        return await call(
            request,
            "POST /v2/credit_notes",
            CREDIT_NOTE_WRITE,
            lambda _p, body: (
                200,
                {"credit_note": sandbox.create_credit_note(_unwrap(body, "credit_note"))},
            ),
        )

    @app.get("/v2/credit_notes/{credit_note_id}", tags=["Credit notes"])
    async def get_credit_note(request: Request, credit_note_id: str) -> Response:
        """One credit note."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            note = sandbox.get_credit_note(credit_note_id)
            if note is None:
                raise QontoError(404, "not_found", "Credit note not found")
            return 200, {"credit_note": note}

        return await call(request, "GET /v2/credit_notes/{id}", INVOICE_READ, handle)

    # ------------------------------------------------------------ products

    @app.get("/v2/products", tags=["Products"])
    async def list_products(request: Request) -> Response:
        """Catalogue products."""
        query = _query(request)
        return await call(
            request,
            "GET /v2/products",
            PRODUCT_READ,
            lambda _p, _b: (200, _page_body("products", sandbox.list_products(query))),
        )

    @app.post("/v2/products", tags=["Products"])
    async def create_product(request: Request) -> Response:
        """Add a product."""
        return await call(
            request,
            "POST /v2/products",
            PRODUCT_WRITE,
            lambda _p, body: (200, {"product": sandbox.create_product(_unwrap(body, "product"))}),
        )

    @app.get("/v2/products/{product_id}", tags=["Products"])
    async def get_product(request: Request, product_id: str) -> Response:
        """One product."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            product = sandbox.get_product(product_id)
            if product is None:
                raise QontoError(404, "not_found", "Product not found")
            return 200, {"product": product}

        return await call(request, "GET /v2/products/{id}", PRODUCT_READ, handle)

    # -------------------------------------------------- webhook subscriptions

    @app.get("/v2/webhook_subscriptions", tags=["Webhooks"])
    async def list_subscriptions(request: Request) -> Response:
        """The organization's webhook subscriptions."""
        query = _query(request)

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            rows, meta = paginate(sandbox.subscriptions(), query)
            return 200, {"webhook_subscriptions": list(rows), "meta": meta}

        return await call(request, "GET /v2/webhook_subscriptions", WEBHOOK, handle)

    @app.post("/v2/webhook_subscriptions", tags=["Webhooks"])
    async def create_subscription(request: Request) -> Response:
        """Subscribe ``callback_url`` to event ``types``; the response carries the secret."""
        return await call(
            request,
            "POST /v2/webhook_subscriptions",
            WEBHOOK,
            lambda principal, body: (
                201,
                sandbox.create_subscription(
                    _unwrap(body, "webhook_subscription"), principal.scopes
                ),
            ),
        )

    @app.get("/v2/webhook_subscriptions/{subscription_id}", tags=["Webhooks"])
    async def get_subscription(request: Request, subscription_id: str) -> Response:
        """One subscription."""
        return await call(
            request,
            "GET /v2/webhook_subscriptions/{id}",
            WEBHOOK,
            lambda _p, _b: (200, sandbox.get_subscription(subscription_id)),
        )

    async def change_subscription(request: Request, subscription_id: str) -> Response:
        """Change a subscription's URL, types or description."""
        return await call(
            request,
            f"{request.method} /v2/webhook_subscriptions/{{id}}",
            WEBHOOK,
            lambda principal, body: (
                200,
                sandbox.update_subscription(
                    subscription_id, _unwrap(body, "webhook_subscription"), principal.scopes
                ),
            ),
        )

    app.add_api_route(
        "/v2/webhook_subscriptions/{subscription_id}",
        change_subscription,
        methods=["PUT", "PATCH"],
        tags=["Webhooks"],
    )

    @app.delete("/v2/webhook_subscriptions/{subscription_id}", tags=["Webhooks"])
    async def delete_subscription(request: Request, subscription_id: str) -> Response:
        """Stop a subscription."""

        def handle(_p: Principal, _b: Any) -> tuple[int, Any]:
            sandbox.delete_subscription(subscription_id)
            return 204, None

        return await call(request, "DELETE /v2/webhook_subscriptions/{id}", WEBHOOK, handle)

    _add_admin_routes(app, sandbox)
    return app


def _add_oauth_routes(
    app: FastAPI,
    sandbox: QontoSandbox,
    staging_ok: Callable[[Request], bool],
    staging_page: Callable[[], Response],
) -> None:
    """``/oauth2/auth`` (auto-consent), ``/oauth2/token`` and ``/oauth2/revoke``."""

    @app.get("/oauth2/auth", tags=["OAuth"])
    def authorize(request: Request) -> Response:
        """Consent is given at once: redirect back with ``code``, ``scope`` and ``state``."""
        try:
            location = sandbox.authorization_redirect(_query(request))
        except OAuthError as exc:
            return _oauth_error(exc)
        return RedirectResponse(location, status_code=302)

    async def token(request: Request) -> Response:
        """Exchange a code or rotate a refresh token."""
        if not staging_ok(request):
            return staging_page()
        try:
            form = await _form(request)
            tokens = sandbox.token_request(form, _basic_credentials(request))
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(
            dumps(tokens.to_json()),
            200,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
            media_type=JSON_MEDIA_TYPE,
        )

    for path in ("/oauth2/token", "/v2/oauth2/token"):
        app.add_api_route(path, token, methods=["POST"], tags=["OAuth"])

    @app.post("/oauth2/revoke", tags=["OAuth"])
    async def revoke(request: Request) -> Response:
        """RFC 7009 token revocation."""
        try:
            form = await _form(request)
            sandbox.revoke_token_request(form, _basic_credentials(request))
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(status_code=200)


def _add_admin_routes(app: FastAPI, sandbox: QontoSandbox) -> None:
    """Sandbox-only endpoints (no auth, not counted): credentials, calls, web-app actions,
    webhook tooling.
    """

    def admin(handler: Callable[[], Any]) -> Response:
        """Run an admin action, answering its result as JSON or its refusal as an error."""
        try:
            return Response(dumps(handler()), 200, media_type=JSON_MEDIA_TYPE)
        except QontoError as exc:
            return _error_response(exc)
        except KeyError as exc:
            return _error_response(QontoError(404, "not_found", str(exc.args[0])))

    async def body_of(request: Request) -> Any:
        """Parsed JSON body, empty meaning ``{}``."""
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise QontoError(400, "invalid", f"Request body is not valid JSON: {exc}") from exc

    @app.get("/_sandbox/health", tags=["sandbox admin"])
    def health() -> Response:
        """Liveness plus sizes and webhook delivery counts."""

        def handle() -> dict[str, Any]:
            deliveries = sandbox.webhook_deliveries()
            return {
                "status": "ok",
                "organization_id": sandbox.organization_id,
                "clients": len(sandbox.clients()),
                "client_invoices": len(sandbox.invoices()),
                "credit_notes": len(sandbox.credit_notes()),
                "webhooks": {
                    "events": len(sandbox.webhook_events()),
                    "delivered": sum(1 for d in deliveries if d.ok),
                    "failed_attempts": sum(1 for d in deliveries if not d.ok),
                },
            }

        return admin(handle)

    @app.get("/_sandbox/credentials", tags=["sandbox admin"])
    def credentials() -> Response:
        """API key and registered OAuth apps, for demos and manual testing."""
        return admin(
            lambda: {
                "api_key": sandbox.api_key,
                "oauth_apps": [
                    {
                        "client_id": oauth_app.client_id,
                        "client_secret": oauth_app.client_secret,
                        "redirect_uris": list(oauth_app.redirect_uris),
                        "scopes": sorted(oauth_app.scopes),
                    }
                    for oauth_app in sandbox.oauth.apps.values()
                ],
            }
        )

    @app.get("/_sandbox/calls", tags=["sandbox admin"])
    def calls() -> Response:
        """Every Business API request so far."""
        return admin(lambda: [{**asdict(c), "at": format_timestamp(c.at)} for c in sandbox.calls()])

    @app.post("/_sandbox/clients/{client_id}", tags=["sandbox admin"])
    async def ui_update_client(request: Request, client_id: str) -> Response:
        """Change a client as a user in the Qonto web app (sends the webhook)."""
        try:
            body = await body_of(request)
        except QontoError as exc:
            return _error_response(exc)
        return admin(lambda: {"client": sandbox.update_client(client_id, body)})

    @app.post("/_sandbox/client_invoices/{invoice_id}/pay", tags=["sandbox admin"])
    async def ui_pay_invoice(request: Request, invoice_id: str) -> Response:
        """Record a bank payment matched to the invoice (optional ``paid_at``)."""
        try:
            body = await body_of(request)
            paid_at = parse_timestamp(body["paid_at"], "paid_at") if body.get("paid_at") else None
        except QontoError as exc:
            return _error_response(exc)
        return admin(lambda: {"client_invoice": sandbox.mark_invoice_paid(invoice_id, paid_at)})

    @app.get("/_sandbox/webhooks/events", tags=["sandbox admin"])
    def events() -> Response:
        """Every webhook event generated so far (without bodies)."""
        return admin(
            lambda: [
                {
                    "id": e.event_id,
                    "subscription_id": e.subscription_id,
                    "type": e.type,
                    "event": e.action,
                    "resource_id": e.resource_id,
                    "callback_url": e.callback_url,
                    "created_at": format_timestamp(e.created_at),
                }
                for e in sandbox.webhook_events()
            ]
        )

    @app.get("/_sandbox/webhooks/deliveries", tags=["sandbox admin"])
    def deliveries() -> Response:
        """Every delivery attempt so far."""
        return admin(
            lambda: [
                {**asdict(d), "ok": d.ok, "at": format_timestamp(d.at)}
                for d in sandbox.webhook_deliveries()
            ]
        )

    @app.post("/_sandbox/webhooks/events/{event_id}/replay", tags=["sandbox admin"])
    def replay(event_id: str) -> Response:
        """Send an event again with the same id and body."""
        return admin(lambda: {"replayed": sandbox.replay_webhook(event_id).event_id})

    @app.post("/_sandbox/webhooks/events/{event_id}/bad-signature", tags=["sandbox admin"])
    def bad_signature(event_id: str) -> Response:
        """Send an event once with a signature made with the wrong secret."""
        return admin(lambda: {"sent": sandbox.send_webhook_with_bad_signature(event_id).event_id})

    @app.post("/_sandbox/oauth/revoke", tags=["sandbox admin"])
    async def disconnect(request: Request) -> Response:
        """The user disconnects the app: body ``{"refresh_token": "..."}``."""
        try:
            body = await body_of(request)
        except QontoError as exc:
            return _error_response(exc)
        return admin(
            lambda: {"revoked": sandbox.revoke_refresh_token(str(body.get("refresh_token", "")))}
        )


FAULTS = VendorFaults(
    error=lambda scope: _error_response(
        QontoError(500, "internal_server_error", "An unexpected error occurred.")
    ),
    throttle=lambda scope, retry_after: _error_response(
        QontoError(429, "too_many_requests", "Rate limit exceeded."),
        {"Retry-After": str(retry_after)},
    ),
    is_session=lambda scope: str(scope["path"]).startswith("/oauth2/"),
)
"""Qonto's JSON:API errors; the OAuth endpoints keep the session alive."""


def serve(
    sandbox: QontoSandbox,
    host: str = "127.0.0.1",
    port: int = 8766,
    faults: FaultPlan | None = None,
) -> None:
    """Run the sandbox with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A sandbox served by uvicorn on a background thread, for tests and benchmarks.

    ``port=0`` picks a free port; ``base_url`` tells where it landed. ``use()`` swaps the
    sandbox being served without restarting, so a test module can share one server.
    """

    name = "Qonto sandbox"

    def __init__(
        self,
        sandbox: QontoSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox
        self._app: ASGIApp = create_app(sandbox)

    def use(self, sandbox: QontoSandbox) -> None:
        """Serve another sandbox from the next request on."""
        self.sandbox = sandbox
        self._app = create_app(sandbox)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point forwarding to the current sandbox's app."""
        await self._app(scope, receive, send)

    def app(self) -> Any:
        return self._dispatch
