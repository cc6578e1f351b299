"""What every page shares: templates, the signed-in person, CSRF, notices and errors.

Pages are server-rendered and call the services as the API does. A form posts normally and the
page answers with a redirect (303) and a notice, or renders the form again with each field's
error (422). htmx only swaps fragments (progress, inline actions), so every page also works
without JavaScript and with the keyboard alone.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.routing import Match
from starlette.types import Scope

from ledgerbridge.model.reasons import in_words
from ledgerbridge.model.validation import NUL, NUL_MESSAGE
from ledgerbridge.runtime.system import System
from ledgerbridge.services.errors import Forbidden, NotFound, ServiceError
from ledgerbridge.services.sign_in import Signed

HERE = Path(__file__).parent
SESSION_COOKIE = "lb_session"
NOTICE_COOKIE = "lb_notice"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

templates = Jinja2Templates(directory=HERE / "templates")


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in page and back."""


def system_of(request: Request) -> System:
    system: System = request.app.state.system
    return system


def signed_in(request: Request) -> Signed:
    token = request.cookies.get(SESSION_COOKIE)
    signed = system_of(request).sign_in.resume(token) if token else None
    if signed is None:
        raise SignInRequired
    return signed


async def checked(request: Request, signed: Annotated[Signed, Depends(signed_in)]) -> Signed:
    """A change: only from our own pages (Origin or Sec-Fetch-Site), with the session's CSRF
    token in the ``X-CSRF-Token`` header (htmx) or the form's ``csrf_token`` field."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site not in (None, "same-origin", "none") or (
        origin and urlsplit(origin).netloc != request.url.netloc
    ):
        raise Forbidden("this request came from another site and was refused")
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await request.form()  # cached: the page's own Form() fields read it again
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if token is None or not secrets.compare_digest(token, signed.csrf_token):
        raise Forbidden(
            "this form has expired (the session changed): reload the page and try again"
        )
    return signed


SignedDep = Annotated[Signed, Depends(signed_in)]
"""A page that reads."""
ChangeDep = Annotated[Signed, Depends(checked)]
"""A page that changes something: CSRF-checked."""


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    signed: Signed | None = None,
) -> HTMLResponse:
    """A page or a fragment; the notice a redirect left is shown once, then cleared."""
    notice = request.cookies.get(NOTICE_COOKIE)
    response = templates.TemplateResponse(
        request,
        template,
        {"signed": signed, "notice": notice, **(context or {})},
        status_code=status_code,
    )
    if notice:
        response.delete_cookie(NOTICE_COOKIE, path="/ui")
    if request.method in ("GET", "HEAD"):
        # Not kept by the browser: Back after Sign out (a shared computer) asks the server
        # again, which answers with the sign-in page. A page answering a form stays
        # cacheable, so that Back to it does not ask to send the form again.
        response.headers.setdefault("cache-control", "no-store")
    return response


def redirect(url: str, notice: str | None = None) -> Response:
    """After a change: to the page that shows it (303, so a reload does not post again)."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        response.set_cookie(NOTICE_COOKIE, quote(notice), path="/ui", httponly=True)
    return response


def field_errors(exc: ServiceError) -> dict[str, str]:
    """A service's refusal as ``{field: message}``; ``_`` when it names no field."""
    return {exc.field or "_": exc.message}


def csrf_field(signed: Signed | None) -> Markup:
    if signed is None:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, signed.csrf_token
    )


def local_time(value: str | datetime | None, zone: str = "UTC") -> str:
    """An ISO timestamp as a person reads it, in the connection's zone: 2026-12-03 14:05."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-%d %H:%M")


def number(value: float | int | None) -> str:
    return "—" if value is None else f"{value:,}"


def as_json(value: Any) -> Markup:
    """Data for a page's script, in a ``<script type="application/json">`` (no inline code,
    so the CSP needs no ``unsafe-inline``)."""
    text = json.dumps(value, default=str).replace("<", "\\u003c")
    return Markup(text)


def unknown_choice(label: str, given: Any, choices: Mapping[str, str] | list[str]) -> str | None:
    """A select's refused value that is none of its choices (the page's HTML edited, or a
    list changed since the page was opened), said with the field's label and the choices as
    the list shows them; None for any other refusal, whose own reason stands."""
    shown = (
        dict(choices) if isinstance(choices, Mapping) else {c: c.replace("_", " ") for c in choices}
    )
    if given in (None, "") or str(given) in map(str, shown):
        return None
    return (
        f"{label}: {str(given)!r} is not one of the choices ({', '.join(shown.values())}); "
        "choose one from the list"
    )


def named_by_label(message: str, field: str, label: str) -> str:
    """A service's refusal as a page says it: the path it begins with (``settings.entities.
    customers.direction: …``, ``settings.vat_groups[0].rate: …``) becomes the label the page
    shows its input under, a line of a list input named by its number. A message that begins
    otherwise (already in words, or about more than this input) is kept as it is."""
    path, sep, reason = message.partition(": ")
    dotted = re.sub(r"\[(\d+)\]", r".\1", path)
    if not sep or " " in path or not (dotted == field or dotted.startswith(field + ".")):
        return message
    inner = dotted.removeprefix(field).split(".")
    where = [f"line {int(p) + 1}" if p.isdigit() else p for p in inner if p]
    return f"{', '.join([label, *where])}: {reason}"


templates.env.globals.update(
    csrf_field=csrf_field, CSRF_HEADER=CSRF_HEADER, unknown_choice=unknown_choice
)
templates.env.filters.update(
    local_time=local_time, number=number, as_json=as_json, urldecode=unquote
)


class UiRoute(APIRoute):
    """A page route: a service's refusal or a bad parameter becomes an error page with the
    reason (never JSON, never a traceback), and a missing session the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            field = await _field_with_nul(request)
            if field is not None:
                return _error_page(request, 422, f"{field}: {NUL_MESSAGE}")
            try:
                return await handler(request)
            except SignInRequired:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/ui/login"})
                target = _back_after_sign_in(request)
                return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
            except NotFound as exc:
                return _error_page(request, exc.status, gone_in_words(exc.message))
            except ServiceError as exc:
                return _error_page(request, exc.status, exc.message)
            except RequestValidationError as exc:
                reasons = "; ".join(_parameter_in_words(e) for e in exc.errors())
                return _error_page(request, 422, reasons)

        return handle


GONE = re.compile(r"^(?P<kind>[\w ]+?) \S+ not found$")


def gone_in_words(message: str) -> str:
    """A service's "connection 3f2a… not found" as a person reads it on a page: the thing
    was deleted meanwhile (in another tab, by someone else) or the address is wrong; the
    page's own link leads back."""
    found = GONE.match(message)
    if found is None:
        return message
    return (
        f"This {found['kind']} does not exist (any more): it was deleted meanwhile, perhaps "
        "in another tab or by someone else, or the address is mistyped."
    )


def _parameter_in_words(error: Mapping[str, Any]) -> str:
    """A refused query parameter or form field, named as the person meets it: a value in the
    address (edited by hand, or from an old bookmark) or a form's field."""
    where, *names = [str(p) for p in error.get("loc", ())]
    name = ".".join(names) or where
    if where in ("query", "path"):
        given = str(error.get("input", ""))
        given = given if len(given) <= 40 else given[:40] + "…"
        return (
            f"the address's {name} cannot be {given!r}: open the page from its link rather "
            "than an edited address"
        )
    return f"{name}: {in_words(error)}"


async def _field_with_nul(request: Request) -> str | None:
    """The first query parameter or form field holding a NUL character, which PostgreSQL
    cannot store (the API refuses one before any handler, ``api/input.py``); an uploaded
    file's own bytes are the file's business."""
    fields: list[tuple[str, Any]] = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached: the page reads the same form again
        fields += form.multi_items()
    for name, value in fields:
        if NUL in name or (isinstance(value, str) and NUL in value):
            return name.replace(NUL, "\\u0000")
    return None


def not_a_page(request: Request) -> Response:
    """Any other address under /ui (routed after every page and the static files). One that
    takes only a form leads to the nearest page above it: a preview, a refusal or a set-up
    step is shown at the form's address, and opened again from the address bar, a bookmark
    or after signing in it would otherwise be refused. Any other is a page saying there is
    none, with the way back."""
    scope = request.scope
    if any(route.matches(scope)[0] == Match.PARTIAL for route in scope["router"].routes):
        page = _page_above(scope)
        if page is not None:
            return RedirectResponse(page, status_code=303)
    return _error_page(request, 404, "There is no page at this address.")


def _page_above(scope: Scope) -> str | None:
    """The nearest address above the request's that a page answers, with its trailing slash
    first (``/ui/connections/ID/`` is the connection's overview), else without."""
    parts = scope["path"].rstrip("/").split("/")
    while len(parts) > 2:
        parts.pop()
        base = "/".join(parts)
        for path in (base + "/", base):
            probe = {**scope, "path": path, "method": "GET"}
            if any(
                r.matches(probe)[0] == Match.FULL and getattr(r, "endpoint", None) is not not_a_page
                for r in scope["router"].routes
            ):
                return path
    return None


def _back_after_sign_in(request: Request) -> str:
    """Where signing in leads: the page asked for; for a form sent after the session ended,
    the page of ours the form was on (the form's own address takes only the form)."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/ui/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/ui/"


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE)
    signed = system_of(request).sign_in.resume(token) if token else None
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input"}
    response = render(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, "Refused"), "message": message},
        status_code=status,
        signed=signed,
    )
    if request.headers.get("hx-request"):
        # A button that updates part of a page (Test connection, Retry): the refusal
        # replaces the whole page, as a form's would, instead of going unseen.
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML"
    return response
