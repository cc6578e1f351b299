"""The API's error answers, declared once for every route so that the OpenAPI lists every
status code a route can give: 401 (no valid key), 403 (the key's role may not act), 404 (not
found, or another tenant's), 409 (a business key taken, a stale version), 413 (a body over the
limit), 422 (invalid input, naming where), 503 (stored credentials cannot be decrypted, or the
database is unavailable). A
method a path does not have is a 405 whose ``Allow`` names the methods it has.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match


class Problem(BaseModel):
    """A refusal in words, with the field it is about when there is one."""

    detail: str
    field: str | None = None


class InvalidItem(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field path")
    msg: str
    type: str


class Invalid(BaseModel):
    """Invalid input: every problem found, each with where it is."""

    detail: list[InvalidItem]


def _problem(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    return {"model": model, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or an invalid or revoked one (`Authorization: Bearer lb_…`)"),
    403: _problem("The key's role may not do this"),
    404: _problem("Not found, or not the caller's tenant's"),
    409: _problem("A business key already taken, or a stale version"),
    413: _problem("The request body is larger than LEDGERBRIDGE_MAX_BODY_BYTES"),
    422: _problem("Invalid input; each item names where and why", Invalid),
    503: _problem(
        "The database is unavailable (try again), or stored credentials cannot be decrypted "
        "(check the secret keys)"
    ),
}
"""Declared on every route (``include_router(..., responses=RESPONSES)``)."""


def install(app: FastAPI) -> None:
    """A 405 names the methods its path has, across all the routes that share the path."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allowed = allowed_methods(app, request)
            return JSONResponse(
                status_code=405,
                content={
                    "detail": f"{request.method} is not allowed here; use {', '.join(allowed)}"
                },
                headers={"Allow": ", ".join(allowed)},
            )
        return await http_exception_handler(request, exc)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route of the request's path answers (several routes share a path)."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in app.router.routes
        )
    ]
