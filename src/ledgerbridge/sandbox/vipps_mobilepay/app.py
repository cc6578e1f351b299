"""HTTP surface of the sandbox: the Report API (``/settlement/v1/ledgers``,
``/report/v2/ledgers/{ledgerId}/{topic}/dates/{date}`` and ``…/feed``), the access token
service (``POST /accesstoken/get``) and the sandbox's control API under ``/_sandbox/``.

Every Report API call takes ``Authorization: Bearer <access token>`` and the
``Ocp-Apim-Subscription-Key`` header; a missing, wrong or expired token is a 401 with the
spec's ``{"code", "message"}`` body. Cursors are opaque (base64 of the sandbox's position) and
only valid for the path they came from.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults, header
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.vipps_mobilepay.state import (
    TOPICS,
    ApiKeys,
    VippsError,
    VippsSandbox,
    public,
    worked_example,
)

LEDGER_PAGE = 100
"""Ledgers one ``GET /settlement/v1/ledgers`` answers at most (the sandbox's choice)."""
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _problem(exc: VippsError) -> Response:
    """401 in the spec's ``{"code", "message"}`` shape; other refusals as problem+json."""
    if exc.status == 401:
        return JSONResponse({"code": exc.title, "message": exc.detail}, 401)
    return JSONResponse(
        {"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
        exc.status,
        media_type="application/problem+json",
    )


def _encode(position: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def _decode(cursor: str, expected: dict[str, Any]) -> int:
    """The offset a cursor names; 400 when it is not one of ours or is for another path."""
    try:
        position = json.loads(base64.b64decode(cursor, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise VippsError(400, "Bad Request", "the cursor is not valid") from exc
    if not isinstance(position, dict) or any(position.get(k) != v for k, v in expected.items()):
        raise VippsError(400, "Bad Request", "the cursor belongs to another request")
    offset = position.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise VippsError(400, "Bad Request", "the cursor is not valid")
    return offset


def create_app(sandbox: VippsSandbox) -> FastAPI:
    app = FastAPI(title="Vipps MobilePay Report API sandbox", docs_url="/_sandbox/docs")

    def authorized(request: Request) -> ApiKeys:
        return sandbox.authorize(
            request.headers.get("Authorization", ""),
            request.headers.get("Ocp-Apim-Subscription-Key", ""),
        )

    def reachable(keys: ApiKeys, ledger_id: str) -> None:
        sandbox.ledger(ledger_id)
        if keys.ledgers is not None and ledger_id not in keys.ledgers:
            raise VippsError(403, "Forbidden", f"no access to ledger {ledger_id}")

    def answer(handler: Callable[[], Any]) -> Response:
        try:
            with sandbox.lock:
                return JSONResponse(handler())
        except VippsError as exc:
            return _problem(exc)

    @app.post("/accesstoken/get")
    def access_token(request: Request) -> Response:
        """Client id, secret and subscription key as headers → a Bearer token."""
        return answer(
            lambda: sandbox.issue_token(
                request.headers.get("client_id", ""),
                request.headers.get("client_secret", ""),
                request.headers.get("Ocp-Apim-Subscription-Key", ""),
            )
        )

    @app.get("/settlement/v1/ledgers")
    def ledgers(request: Request) -> Response:
        def handle() -> Any:
            keys = authorized(request)
            cursor = request.query_params.get("cursor")
            handle_filter = request.query_params.get("settlesForRecipientHandles")
            if cursor:
                offset = _decode(cursor, {"what": "ledgers"})
                handle_filter = json.loads(base64.b64decode(cursor)).get("handle")
            else:
                offset = 0
            rows = [
                ledger.json()
                for ledger in sandbox.ledgers.values()
                if keys.ledgers is None or ledger.ledger_id in keys.ledgers
            ]
            if handle_filter is not None:
                rows = [row for row in rows if handle_filter in row["settlesForRecipientHandles"]]
            size = min(sandbox.page_limit, LEDGER_PAGE)
            page = rows[offset : offset + size]
            more = offset + size < len(rows)
            position = {"what": "ledgers", "offset": offset + size, "handle": handle_filter}
            return {"cursor": _encode(position) if more else "", "items": page}

        return answer(handle)

    @app.get("/report/v2/ledgers/{ledger_id}/{topic}/feed")
    def feed(request: Request, ledger_id: str, topic: str) -> Response:
        """Entries in the order they happened; the cursor always names the next position,
        and ``tryLater`` says the end is reached for now."""

        def handle() -> Any:
            keys = authorized(request)
            _topic(topic)
            reachable(keys, ledger_id)
            where = {"what": "feed", "ledger": ledger_id, "topic": topic}
            cursor = request.query_params.get("cursor")
            offset = _decode(cursor, where) if cursor else 0
            rows = sandbox.visible(sandbox.ledger(ledger_id), topic)
            page = rows[offset : offset + sandbox.page_limit]
            end = offset + len(page)
            return {
                "cursor": _encode({**where, "offset": end}),
                "tryLater": end >= len(rows),
                "items": [public(row) for row in page],
            }

        return answer(handle)

    @app.get("/report/v2/ledgers/{ledger_id}/{topic}/dates/{ledger_date}")
    def by_date(request: Request, ledger_id: str, topic: str, ledger_date: str) -> Response:
        """One ledger date's entries; 404 before the date has begun, ``tryLater`` while it is
        not closed (today, or entries of it still behind the lag)."""

        def handle() -> Any:
            keys = authorized(request)
            _topic(topic)
            if not DATE.match(ledger_date):
                raise VippsError(400, "Bad Request", "ledgerDate must be YYYY-MM-DD")
            reachable(keys, ledger_id)
            ledger = sandbox.ledger(ledger_id)
            today = sandbox.ledger_date(ledger)
            if ledger_date > today:
                raise VippsError(404, "Not Found", "The report for this date is not available yet")
            where = {"what": "dates", "ledger": ledger_id, "topic": topic, "date": ledger_date}
            cursor = request.query_params.get("cursor")
            offset = _decode(cursor, where) if cursor else 0
            visible = sandbox.visible(ledger, topic)
            rows = [row for row in visible if row["ledgerDate"] == ledger_date]
            hidden = len(visible) < len(ledger.entries[topic]) and any(
                row["ledgerDate"] == ledger_date for row in ledger.entries[topic][len(visible) :]
            )
            page = rows[offset : offset + sandbox.page_limit]
            more = offset + len(page) < len(rows)
            body: dict[str, Any] = {
                "hasMore": more,
                "tryLater": ledger_date == today or hidden,
                "items": [public(row) for row in page],
            }
            if more:
                body["cursor"] = _encode({**where, "offset": offset + len(page)})
            return body

        return answer(handle)

    _add_control_routes(app, sandbox)
    return app


def _topic(topic: str) -> None:
    if topic not in TOPICS:
        raise VippsError(400, "Bad Request", "topic must be funds or fees")


def _add_control_routes(app: FastAPI, sandbox: VippsSandbox) -> None:
    """``/_sandbox/``: state, reset, settings, keys, ledgers, captures, refunds, corrections,
    payouts, token expiry and the guide's worked example (faults: ``/_sandbox/faults``)."""

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise VippsError(400, "Bad Request", f"not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise VippsError(400, "Bad Request", "the body must be a JSON object")
        return body

    async def control(request: Request, handler: Callable[[dict[str, Any]], Any]) -> Response:
        try:
            body = await body_of(request)
            with sandbox.lock:
                return JSONResponse(handler(body))
        except VippsError as exc:
            return _problem(exc)

    def required(body: dict[str, Any], name: str) -> Any:
        if body.get(name) in (None, ""):
            raise VippsError(400, "Bad Request", f"{name} is required")
        return body[name]

    @app.get("/_sandbox/health")
    def health() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/_sandbox/state")
    def state() -> Response:
        return JSONResponse(sandbox.summary())

    @app.post("/_sandbox/reset")
    async def reset(request: Request) -> Response:
        """No ledgers (keys and settings stay)."""

        def handle(body: dict[str, Any]) -> Any:
            sandbox.ledgers.clear()
            return sandbox.summary()

        return await control(request, handle)

    @app.put("/_sandbox/settings")
    async def settings(request: Request) -> Response:
        return await control(request, sandbox.apply_settings)

    @app.post("/_sandbox/keys")
    async def keys(request: Request) -> Response:
        def handle(body: dict[str, Any]) -> Any:
            ledgers = body.get("ledgers")
            made = sandbox.add_keys(
                str(required(body, "client_id")),
                str(required(body, "client_secret")),
                str(required(body, "subscription_key")),
                set(map(str, ledgers)) if isinstance(ledgers, list) else None,
            )
            return {"client_id": made.client_id}

        return await control(request, handle)

    @app.post("/_sandbox/tokens/expire")
    async def expire(request: Request) -> Response:
        return await control(request, lambda body: {"expired": sandbox.expire_tokens()})

    @app.post("/_sandbox/ledgers")
    async def add_ledger(request: Request) -> Response:
        def handle(body: dict[str, Any]) -> Any:
            ledger = sandbox.add_ledger(
                str(required(body, "ledgerId")),
                str(body.get("currency") or "DKK"),
                msn=str(body["msn"]) if body.get("msn") else None,
                settlement=str(body.get("settlement") or "net"),
            )
            return ledger.json()

        return await control(request, handle)

    @app.post("/_sandbox/ledgers/{ledger_id}/captures")
    async def capture(request: Request, ledger_id: str) -> Response:
        def handle(body: dict[str, Any]) -> Any:
            return sandbox.capture(
                ledger_id,
                str(required(body, "orderId")),
                required(body, "amount"),
                currency=body.get("currency"),
                fee=body.get("fee"),
            )

        return await control(request, handle)

    @app.post("/_sandbox/ledgers/{ledger_id}/refunds")
    async def refund(request: Request, ledger_id: str) -> Response:
        def handle(body: dict[str, Any]) -> Any:
            return sandbox.refund(
                ledger_id,
                str(required(body, "orderId")),
                required(body, "amount"),
                currency=body.get("currency"),
            )

        return await control(request, handle)

    @app.post("/_sandbox/ledgers/{ledger_id}/corrections")
    async def correction(request: Request, ledger_id: str) -> Response:
        def handle(body: dict[str, Any]) -> Any:
            return sandbox.correction(
                ledger_id, required(body, "amount"), str(required(body, "text"))
            )

        return await control(request, handle)

    @app.post("/_sandbox/ledgers/{ledger_id}/payouts")
    async def payout(request: Request, ledger_id: str) -> Response:
        return await control(request, lambda body: sandbox.schedule_payout(ledger_id))

    @app.post("/_sandbox/worked-example")
    async def example(request: Request) -> Response:
        return await control(
            request, lambda body: worked_example(sandbox, str(body.get("ledgerId") or "302321"))
        )


def _server_error(scope: Scope) -> Response:
    """The spec's 500 body."""
    return JSONResponse(
        {
            "errorCode": 100001,
            "errorMessage": "An internal error occurred",
            "contextId": header(scope, "x-request-id") or "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        },
        500,
    )


def _throttled(scope: Scope, retry_after: int) -> Response:
    """API Management's 429, with ``Retry-After``."""
    return JSONResponse(
        {"statusCode": 429, "message": "Rate limit is exceeded. Try again later."},
        429,
        headers={"Retry-After": str(retry_after)},
    )


FAULTS = VendorFaults(
    error=_server_error,
    throttle=_throttled,
    is_session=lambda scope: scope["path"] == "/accesstoken/get",
)


def serve(
    sandbox: VippsSandbox,
    host: str = "127.0.0.1",
    port: int = 8771,
    faults: FaultPlan | None = None,
) -> None:
    """Run the sandbox with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """The sandbox served on a background thread, for tests and the demo."""

    name = "Vipps MobilePay sandbox"

    def __init__(
        self,
        sandbox: VippsSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox
        self._app: ASGIApp = create_app(sandbox)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def app(self) -> Any:
        return self._dispatch
