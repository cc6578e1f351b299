"""HTTP surface of the Zettle sandbox and its control API under ``/_sandbox/`` (no auth).

Zettle serves its APIs from four hosts (``oauth.zettle.com``, ``purchase.izettle.com``,
``finance.izettle.com``, ``pusher.izettle.com``). Their paths do not overlap, so the sandbox
serves all four from one app at one root: ``/token`` and ``/users/self`` (OAuth),
``/purchases/v2`` and ``/purchase/v2/{uuid}`` (Purchase), ``/v2/accounts/…`` and
``/v2/payout-info`` (Finance, whose base URL carries ``/v2``) and
``/organizations/self/subscriptions`` (Pusher). A client points every host at that root.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.zettle.sales import ZettleError, bad_request
from ledgerbridge.sandbox.zettle.state import ZettleSandbox


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(payload, status, headers=dict(headers or {}))


def _error(exc: ZettleError) -> Response:
    return _json(exc.body, exc.status, exc.headers)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("body", "not valid JSON") from None


def create_app(sandbox: ZettleSandbox) -> FastAPI:
    """Build the ASGI app serving one merchant."""
    app = FastAPI(
        title="Zettle sandbox",
        description="Simulator of Zettle's OAuth, Purchase, Finance and Pusher APIs.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    def api(request: Request, scope: str | None, handler: Callable[[], Any]) -> Response:
        """One API request: the clock ticks, the bearer token is checked, and a refusal is
        Zettle's error body."""
        sandbox.tick()
        try:
            sandbox.authenticate(request.headers.get("authorization", ""), scope)
            return _json(handler())
        except ZettleError as exc:
            return _error(exc)

    @app.post("/token", tags=["oauth"])
    async def token(request: Request) -> Response:
        sandbox.tick()
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            return _json(sandbox.grant(form))
        except ZettleError as exc:
            return _error(exc)

    @app.get("/users/self", tags=["oauth"])
    def users_self(request: Request) -> Response:
        return api(request, None, sandbox.user)

    @app.get("/purchases/v2", tags=["purchase"])
    def purchases(request: Request) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}/purchases/v2"
        return api(request, "READ:PURCHASE",
                   lambda: sandbox.purchases(request.query_params, base))  # fmt: skip

    @app.get("/purchase/v2/{purchase_uuid}", tags=["purchase"])
    def purchase(request: Request, purchase_uuid: str) -> Response:
        return api(request, "READ:PURCHASE", lambda: sandbox.purchase(purchase_uuid))

    @app.get("/v2/accounts/{account}/transactions", tags=["finance"])
    def transactions(request: Request, account: str) -> Response:
        return api(request, "READ:FINANCE",
                   lambda: sandbox.transactions(account, request.query_params))  # fmt: skip

    @app.get("/v2/accounts/{account}/balance", tags=["finance"])
    def balance(request: Request, account: str) -> Response:
        return api(request, "READ:FINANCE", lambda: sandbox.balance(account, request.query_params))

    @app.get("/v2/payout-info", tags=["finance"])
    def payout_info(request: Request) -> Response:
        return api(request, "READ:FINANCE", lambda: sandbox.payout_info(request.query_params))

    @app.post("/organizations/{org}/subscriptions", tags=["pusher"])
    async def subscribe(request: Request, org: str) -> Response:
        try:
            body = await _json_body(request)
        except ZettleError as exc:
            return _error(exc)
        return api(request, None, lambda: sandbox.subscribe(body))

    @app.get("/organizations/{org}/subscriptions", tags=["pusher"])
    def subscriptions(request: Request, org: str) -> Response:
        return api(request, None, sandbox.subscriptions)

    @app.put("/organizations/{org}/subscriptions/{ident}", tags=["pusher"])
    async def update_subscription(request: Request, org: str, ident: str) -> Response:
        try:
            body = await _json_body(request)
        except ZettleError as exc:
            return _error(exc)
        return api(request, None, lambda: sandbox.update_subscription(ident, body))

    @app.delete("/organizations/{org}/subscriptions/{ident}", tags=["pusher"])
    def unsubscribe(request: Request, org: str, ident: str) -> Response:
        sandbox.tick()
        try:
            sandbox.authenticate(request.headers.get("authorization", ""), None)
            sandbox.unsubscribe(ident)
        except ZettleError as exc:
            return _error(exc)
        return Response(status_code=204)

    _add_control_routes(app, sandbox)
    return app


def _add_control_routes(app: FastAPI, sandbox: ZettleSandbox) -> None:
    """``/_sandbox/``: ring up a sale, refund it, settle and pay out, keys, the clock,
    settings, and the webhook log (fault injection lives at ``/_sandbox/faults``)."""

    async def control(request: Request, handler: Callable[[Any], Any], status: int = 200
                      ) -> Response:  # fmt: skip
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise bad_request("body", "a JSON object")
            return _json(handler(body), status)
        except ZettleError as exc:
            return _error(exc)

    @app.get("/_sandbox/state", tags=["sandbox control"])
    def state() -> Response:
        return _json(sandbox.snapshot())

    @app.post("/_sandbox/sales", tags=["sandbox control"])
    async def sale(request: Request) -> Response:
        return await control(request, sandbox.ring_up, 201)

    @app.post("/_sandbox/purchases/{purchase_uuid}/refunds", tags=["sandbox control"])
    async def refund(request: Request, purchase_uuid: str) -> Response:
        return await control(request, lambda body: sandbox.refund(purchase_uuid, body), 201)

    @app.post("/_sandbox/settlements", tags=["sandbox control"])
    async def settle(request: Request) -> Response:
        return await control(request, lambda body: {"moved": sandbox.settle(body.get("at"))})

    @app.post("/_sandbox/payouts", tags=["sandbox control"])
    async def payout(request: Request) -> Response:
        return await control(request, sandbox.payout, 201)

    @app.post("/_sandbox/keys", tags=["sandbox control"])
    async def add_key(request: Request) -> Response:
        def handle(body: Any) -> Any:
            scopes = body.get("scopes", ["READ:PURCHASE", "READ:FINANCE"])
            if not isinstance(scopes, list):
                raise bad_request("scopes", "a list")
            key = sandbox.add_key(tuple(str(s) for s in scopes))
            return {"api_key": key.key, "client_id": key.client_id}

        return await control(request, handle, 201)

    @app.post("/_sandbox/keys/{client_id}/revoke", tags=["sandbox control"])
    async def revoke(request: Request, client_id: str) -> Response:
        def handle(body: Any) -> Any:
            sandbox.revoke_key(client_id)
            return {"client_id": client_id, "revoked": True}

        return await control(request, handle)

    @app.post("/_sandbox/clock", tags=["sandbox control"])
    async def clock(request: Request) -> Response:
        def handle(body: Any) -> Any:
            seconds = body.get("advance_seconds", 0)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise bad_request("advance_seconds", "a number")
            return {"now": sandbox.advance(float(seconds)).isoformat()}

        return await control(request, handle)

    @app.post("/_sandbox/tokens/expire", tags=["sandbox control"])
    async def expire(request: Request) -> Response:
        return await control(request, lambda body: {"expired": sandbox.expire_tokens()})

    @app.get("/_sandbox/settings", tags=["sandbox control"])
    def get_settings() -> Response:
        return _json(sandbox.settings.to_json())

    @app.put("/_sandbox/settings", tags=["sandbox control"])
    async def put_settings(request: Request) -> Response:
        return await control(request, sandbox.apply_settings)

    @app.get("/_sandbox/webhooks/deliveries", tags=["sandbox control"])
    def deliveries() -> Response:
        return _json([a.to_json() for a in sandbox.pusher.attempts()])

    @app.post("/_sandbox/webhooks/retry", tags=["sandbox control"])
    async def retry(request: Request) -> Response:
        return await control(request, lambda body: {"queued": sandbox.pusher.retry_due()})


FAULTS = VendorFaults(
    error=lambda scope: _json(
        {"errorType": "INTERNAL_SERVER_ERROR", "developerMessage": "Internal Server Error"}, 500
    ),
    throttle=lambda scope, retry_after: _json(
        {"errorType": "TOO_MANY_REQUESTS", "developerMessage": "Too Many Requests"},
        429,
        {"Retry-After": str(retry_after)},
    ),
    is_session=lambda scope: scope["path"] == "/token",
)
"""Zettle's error bodies are ``{errorType, developerMessage, violations}`` (inferred from the
product library's); a 429 names its wait in ``Retry-After`` (inferred: no numbers are
published)."""


def serve(
    sandbox: ZettleSandbox, host: str = "127.0.0.1", port: int = 8771,
    faults: FaultPlan | None = None,
) -> None:  # fmt: skip
    """Run the merchant with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A merchant served on a background thread, for tests and the demo."""

    name = "Zettle sandbox"

    def __init__(
        self, sandbox: ZettleSandbox, host: str = "127.0.0.1", port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:  # fmt: skip
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox
        self._app: ASGIApp = create_app(sandbox)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def app(self) -> Any:
        return self._dispatch
