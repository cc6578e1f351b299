"""Input refused before it reaches a handler or the database, with a 422 naming where it is.

- A NUL character in the path, a query parameter or anywhere in a JSON body: PostgreSQL cannot
  store it in text or JSON (SQLite can), so without this check one database would answer 500
  and the other store it. Canonical records refuse it in their own validation as well, so a
  record an accounting system sends back with one is skipped, not stored.
- Integer query parameters are bounded by the columns they are compared with, so a cursor
  such as ``after=2^70`` is a 422 instead of a database overflow.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.model.validation import NUL, nul_location

INTEGER_MAX = 2**31 - 1
"""Largest value of an INTEGER column (record versions)."""
BIGINT_MAX = 2**63 - 1
"""Largest value of a BIGINT column (change-feed positions, sync-log ids)."""
NUL_MESSAGE = "a NUL character (\\u0000) is not allowed in text"


class RefuseNul:
    """ASGI middleware: a request carrying a NUL character in its path, query or JSON body
    is answered 422 with the location of the first one, like a validation error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        location = _in_target(scope)
        if location is None and _is_json(scope):
            body, receive = await _buffered(receive)
            location = _in_body(body)
        if location is None:
            await self.app(scope, receive, send)
            return
        detail = [{"loc": location, "msg": NUL_MESSAGE, "type": "nul_character"}]
        await JSONResponse(status_code=422, content={"detail": detail})(scope, receive, send)


def _in_target(scope: Scope) -> list[str | int] | None:
    if NUL in scope["path"]:
        return ["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            return ["query", name]
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.decode("latin-1").split(";")[0].strip().lower()
            return media == "application/json" or media.endswith("+json")
    return False


def _in_body(body: bytes) -> list[str | int] | None:
    if NUL.encode() not in body and b"\\u0000" not in body:
        return None
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None  # not JSON: the handler's own validation answers
    where = nul_location(document)
    return None if where is None else ["body", *where]


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
