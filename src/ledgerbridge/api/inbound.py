"""Callbacks from accounting systems (Uniconta's Change URL, Qonto's webhooks). The secret
token in the path authenticates the caller, and a signed callback's signature is checked too;
the event is stored before the answer, then processed by a job.

Anyone can reach this endpoint, so the token is checked before the body is read (an unknown
URL costs one indexed read, whatever it sends; a URL found in the last minute is not read
again, see ``Callbacks.known_lately``), and the body is read in chunks up to
``LEDGERBRIDGE_MAX_BODY_BYTES``: 404 for an unknown URL, 413 for a body over the limit, 401
for a refused signature, 400 for a body that cannot be read (not JSON where the signature is
over fields inside it). A sender that hangs up before its body arrived (its own timeout) is
answered 499 into the void, with nothing stored: it sends the event again.

The acknowledgement runs on threads of its own (``CALLBACK_THREADS``), not on the thread pool
every other request shares: under a burst of API writes that pool is full, and a callback
queued behind it would be answered late, so its sender would retry or give up.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio.to_thread import run_sync
from fastapi import APIRouter, FastAPI, HTTPException, Request
from starlette.requests import ClientDisconnect

from ledgerbridge.api.deps import SystemDep
from ledgerbridge.api.input import BodyTooLarge, check_declared_length, read_limited
from ledgerbridge.connectors.base import CallbackMalformed, CallbackRefused
from ledgerbridge.model.validation import NUL

router = APIRouter(prefix="/inbound", tags=["inbound"])

UNKNOWN = "unknown callback URL"
HUNG_UP = 499
"""Client closed the request (a common non-standard code): nobody reads it, the log shows it."""
CALLBACK_THREADS = 4
"""Threads reserved for acknowledging callbacks (one indexed read, one short insert each)."""


def reserve_threads(app: FastAPI) -> None:
    """Give the app the callbacks' own thread limiter."""
    app.state.callback_threads = anyio.CapacityLimiter(CALLBACK_THREADS)


async def receive(
    connection_id: str, token: str, request: Request, system: SystemDep
) -> dict[str, str]:
    threads = request.app.state.callback_threads
    if not system.connections.known_lately(connection_id, token) and not await run_sync(
        system.connections.knows, connection_id, token, limiter=threads
    ):
        raise HTTPException(status_code=404, detail=UNKNOWN)
    limit = system.settings.max_body_bytes
    try:
        check_declared_length(request.headers.raw, limit)
        body = await read_limited(request.stream(), limit)
    except BodyTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from exc
    except ClientDisconnect as exc:
        raise HTTPException(status_code=HUNG_UP, detail="the sender hung up") from exc
    if NUL.encode() in body:
        # Stored as text: PostgreSQL cannot hold a NUL character in it.
        raise HTTPException(status_code=422, detail="a NUL character is not allowed in the body")
    try:
        stored = await run_sync(
            system.connections.receive,
            connection_id,
            token,
            dict(request.query_params),
            body,
            dict(request.headers),
            limiter=threads,
        )
    except CallbackMalformed as exc:
        raise HTTPException(status_code=400, detail=f"callback refused: {exc}") from exc
    except CallbackRefused as exc:
        raise HTTPException(status_code=401, detail=f"callback refused: {exc}") from exc
    if not stored:
        raise HTTPException(status_code=404, detail=UNKNOWN)
    return {"status": "accepted"}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not what the system sends (not JSON)"},
    401: {"description": "The callback's signature is refused"},
    404: {"description": "No connection has this callback URL"},
    413: {"description": "The body is larger than LEDGERBRIDGE_MAX_BODY_BYTES"},
}
# One route per method, each with its own operation id (Uniconta calls with GET, Qonto POSTs).
for _method in ("GET", "POST"):
    router.add_api_route(
        "/{connection_id}/{token}",
        receive,
        methods=[_method],
        responses=RESPONSES,
        operation_id=f"inbound_{_method.lower()}",
    )
