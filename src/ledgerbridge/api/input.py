"""Input refused before it reaches a handler or the database, with a 422 naming where it is.

- A NUL character in the path, a query parameter or anywhere in a JSON body: PostgreSQL cannot
  store it in text or JSON (SQLite can), so without this check one database would answer 500
  and the other store it. Canonical records refuse it in their own validation as well, so a
  record an accounting system sends back with one is skipped, not stored.
- Integer query parameters are bounded by the columns they are compared with, so a cursor
  such as ``after=2^70`` is a 422 instead of a database overflow.
- Booleans and integers are taken only as JSON booleans and integers, as the OpenAPI says
  (``strict_scalars``): ``"active": 0`` or ``"payment_term_days": "14"`` is a 422, not a
  guess. Other types keep their JSON forms (dates and amounts as strings).
- A body larger than ``LEDGERBRIDGE_MAX_BODY_BYTES`` is a 413: refused from its declared length
  before any of it is read, or as soon as a chunked body passes the limit, so no request can
  make the hub hold more than that in memory. Callbacks read their own body, after their
  token is checked (``api/inbound.py``).
- A client that hangs up before its whole body arrived is not served: the handler never sees
  a cut body, nothing is written, and no error is logged (the sender retries or not; no one
  is left to read an answer).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import AsyncIterator, Iterable
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qsl

import httpx
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt, create_model
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.model.validation import NUL, NUL_MESSAGE, nul_location

INTEGER_MAX = 2**31 - 1
"""Largest value of an INTEGER column (record versions)."""
BIGINT_MAX = 2**63 - 1
"""Largest value of a BIGINT column (change-feed positions, sync-log ids)."""


def _http_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http(s) URL with a host, e.g. https://api.example.com")
    return value


HttpUrlText = Annotated[str, Field(pattern=r"^https?://[^\s/]+"), AfterValidator(_http_url)]
"""A base URL a user gives for an accounting system's API: http(s), with a host; kept as
written."""
PrintableText = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""A key or id that goes into a header or an XML message, where control characters cannot."""


@cache
def strict_scalars(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` as a request body: the same fields, validators and schema, but its booleans
    and integers (nested models' too) refuse what is not a JSON boolean or integer. The model
    itself when it has none."""
    changed = {
        name: (strict, field)
        for name, field in model.model_fields.items()
        if (strict := strict_type(field.annotation)) is not field.annotation
    }
    if not changed:
        return model
    # Same name: the OpenAPI shows the model the API documents.
    return create_model(  # type: ignore[call-overload]
        model.__name__,
        __base__=model,
        __module__=model.__module__,
        __doc__=model.__doc__,
        **changed,
    )


def strict_type(annotation: Any) -> Any:
    """``annotation`` with ``bool`` and ``int`` made strict, through unions, lists, dicts,
    ``Annotated`` and nested models; the same object when nothing changes."""
    if annotation is bool:
        return StrictBool
    if annotation is int:
        return StrictInt
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return strict_scalars(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin is Annotated:
        inner = strict_type(args[0])
        return annotation if inner is args[0] else Annotated[(inner, *annotation.__metadata__)]
    new = tuple(strict_type(arg) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return annotation
    if origin is types.UnionType or origin is typing.Union:
        return typing.Union[new]  # noqa: UP007
    return origin[new]


class BodyTooLarge(Exception):
    """A request body is larger than the installation accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body is larger than {limit} bytes (LEDGERBRIDGE_MAX_BODY_BYTES)"
        )


def check_declared_length(headers: Iterable[tuple[bytes, bytes]], limit: int) -> None:
    """Refuse a body whose ``Content-Length`` is over the limit, before reading any of it."""
    for name, value in headers:
        if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > limit:
            raise BodyTooLarge(limit)


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, read chunk by chunk; ``BodyTooLarge`` once it passes ``limit``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def too_large(exc: BodyTooLarge) -> JSONResponse:
    return JSONResponse(status_code=413, content={"detail": str(exc)})


class RefuseNul:
    """ASGI middleware: a request carrying a NUL character in its path, query or JSON body
    is answered 422 with the location of the first one, like a validation error; a body over
    ``max_body`` bytes is answered 413. Paths under ``own_body`` (callbacks) read their body
    themselves, so only their path and query are looked at here. Paths under ``pages`` (the
    web UI) answer a NUL in a form or a query with a page of their own, so only their body's
    size is checked here."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        own_body: tuple[str, ...] = (),
        pages: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.own_body = own_body
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope["path"].startswith(self.pages)
        location = None if page else _in_target(scope)
        if location is None and not scope["path"].startswith(self.own_body):
            try:
                check_declared_length(scope.get("headers", []), self.max_body)
                body = await read_limited(_chunks(receive), self.max_body)
            except BodyTooLarge as exc:
                await too_large(exc)(scope, receive, send)
                return
            except ClientDisconnect:
                return
            receive = _replay(body, receive)
            if page:
                await self.app(scope, receive, send)
                return
            if _is_json(scope) and not _is_utf8(body):
                refused = _invalid(["body"], "a JSON body must be UTF-8 text", "json_invalid")
                await refused(scope, receive, send)
                return
            location = _in_body(body) if _is_json(scope) else None
        if location is None:
            await self.app(scope, receive, send)
            return
        await _invalid(location, NUL_MESSAGE, "nul_character")(scope, receive, send)


def _invalid(location: list[str | int], message: str, kind: str) -> JSONResponse:
    """A 422 shaped like FastAPI's own validation errors."""
    detail = [{"loc": location, "msg": message, "type": kind}]
    return JSONResponse(status_code=422, content={"detail": detail})


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as the server hands them over; ``ClientDisconnect`` if the
    client hangs up before the last one."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already read body to the app again."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
