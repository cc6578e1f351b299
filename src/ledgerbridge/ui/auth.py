"""Signing in and out: an API key pasted in a form, or a one-time link from
``ledgerbridge ui-link``; either opens a session whose id alone the cookie holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.errors import Invalid
from ledgerbridge.services.sign_in import SESSION_LIFETIME, OpenSession
from ledgerbridge.ui.web import (
    SESSION_COOKIE,
    ChangeDep,
    UiRoute,
    field_errors,
    redirect,
    render,
    system_of,
)

router = APIRouter(route_class=UiRoute)


def _safe_next(target: str | None) -> str:
    """Only a path of ours: a sign-in link must not send anyone to another site."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/"


def _signed_in(request: Request, opened: OpenSession, target: str | None) -> Response:
    response = redirect(_safe_next(target))
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=system_of(request).settings.public_url.startswith("https://"),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "errors": {}})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Same-site only by the cookie's SameSite=Lax; there is no session yet to hold a CSRF
    token, and a forged sign-in would only sign the victim in as the forger's key's holder,
    which the page header shows."""
    try:
        opened = system_of(request).sign_in.open_with_key(api_key)
    except Invalid as exc:
        context = {"next": _safe_next(next), "errors": field_errors(exc)}
        return render(request, "login.html", context, status_code=422)
    return _signed_in(request, opened, next)


@router.get("/login/{token}", response_class=HTMLResponse)
def login_link(request: Request, token: str, next: str | None = None) -> Response:
    try:
        opened = system_of(request).sign_in.open_with_link(token)
    except Invalid as exc:
        context = {"next": _safe_next(next), "errors": {"_": exc.message}}
        return render(request, "login.html", context, status_code=422)
    return _signed_in(request, opened, next)


@router.post("/logout")
def logout(request: Request, _signed: ChangeDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        system_of(request).sign_in.close(token)
    response = redirect("/ui/login", "Signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
