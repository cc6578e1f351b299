"""The Tripletex wire: session tokens made from the consumer and employee tokens, HTTP Basic
``<company id or 0>:<session token>``, offset paging, and errors a user can act on.

Every request is announced to the call meter first. Tripletex limits calls per employee and
consumer and says how many are left in ``X-Rate-Limit-*`` headers: a 429 is retried later.
Session tokens are secrets: they never appear in log lines or error messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from hashlib import sha256
from json import dumps
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.connectors.base import (
    JSON,
    AuthenticationFailed,
    CallMeter,
    RemoteRejected,
)
from ledgerbridge.connectors.kit.http import (
    decoded,
    error_json,
    httpx_failure,
    status_failure,
    with_retries,
)
from ledgerbridge.connectors.kit.kept import KeptReads

log = logging.getLogger(__name__)

ENVIRONMENTS: dict[str, str] = {
    "production": "https://tripletex.no/v2",
    "test": "https://api-test.tripletex.tech/v2",
}
CONSUMER_SETTINGS: dict[str, str] = {
    "production": "LEDGERBRIDGE_TRIPLETEX_CONSUMER_TOKEN",
    "test": "LEDGERBRIDGE_TRIPLETEX_TEST_CONSUMER_TOKEN",
}
"""The installation setting holding each environment's consumer token: Tripletex issues a
consumer token for one environment. The test environment falls back on the production
setting, the one token an installation had before."""
OSLO = ZoneInfo("Europe/Oslo")
SESSION_DAYS = 2
"""A session is asked for this many days; it is renewed one day before its expiration date,
because the cut-off time on that date is not documented."""
SESSIONS = KeptReads(max_age=timedelta(days=SESSION_DAYS - 1))
"""Session tokens by address and tokens, kept by the process: every job of a connection (and
of others with the same tokens) uses one session instead of creating its own. A session
Tripletex refuses is created again at once."""
PAGE = 1000
JSON_BODY = "application/json; charset=utf-8"
ROTATE = "generate a new employee token in Tripletex (Selskap → API-tilgang) and paste it"


class TokenRefused(AuthenticationFailed):
    """Tripletex refused a token; ``field`` names the setting or secret the user must fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class StaleVersion(RemoteRejected):
    """A write sent a ``version`` that is no longer current (409, code 8000)."""


def base_url(settings: Any, environment: str | None = None) -> str:
    """The API root of the chosen environment (``base_urls`` overrides, for sandboxes)."""
    env = environment or str(settings.get("environment") or "production")
    overrides = settings.get("base_urls") or {}
    return str(overrides.get(env) or ENVIRONMENTS[env]).rstrip("/")


def explain(message: str, environment: str) -> tuple[str, str]:
    """A Tripletex authentication message → (what to do, which field to fix)."""
    lowered = message.lower()
    if "expired" in lowered and "employee token" in lowered:
        return (
            f"Tripletex says: {message} The token has expired: {ROTATE}.",
            "secrets.employee_token",
        )
    if "deactivated" in lowered:
        return (
            f"Tripletex says: {message} The employee account that owns the token has been "
            "deactivated in Tripletex: reactivate it, or create a token for an integration user "
            "that stays active.",
            "secrets.employee_token",
        )
    if "consumer token" in lowered:
        return (
            f"Tripletex refused this installation's consumer token in the {environment} "
            f"environment: set {CONSUMER_SETTINGS[environment]} to the consumer token "
            "Tripletex issued for that environment.",
            "settings.environment",
        )
    return (
        f"Tripletex does not know this employee token in the {environment} environment. Check "
        "that the environment matches the token (test tokens only work against the test "
        "environment, production tokens only against production) and that it was copied whole "
        f"from Tripletex's API-tilgang panel; if it was revoked, {ROTATE}.",
        "secrets.employee_token",
    )


class TripletexClient:
    def __init__(
        self,
        *,
        base_url: str,
        environment: str,
        consumer_token: str,
        employee_token: str,
        meter: CallMeter,
        clock: Clock | None = None,
        company_id: int = 0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.environment = environment
        self.company_id = company_id
        self._consumer = consumer_token.strip()
        # Pasted tokens often carry a stray space or newline; Tripletex compares exactly.
        self._employee = employee_token.strip()
        self._meter = meter
        self._clock = clock or SystemClock()
        self._renew = False
        # The tokens themselves stay out of the key: a digest names them.
        self._session_key = (
            base_url.rstrip("/"),
            sha256(f"{self._consumer}\n{self._employee}".encode()).hexdigest(),
        )
        self.rate_remaining: int | None = None
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def acting_as(self, company_id: int) -> Iterator[None]:
        """Calls made inside act in a client company (accountant login access): the same
        session, with the company id as the Basic user name."""
        previous, self.company_id = self.company_id, company_id
        try:
            yield
        finally:
            self.company_id = previous

    # ------------------------------------------------------------------ sessions

    def _today(self) -> date:
        return self._clock.now().astimezone(OSLO).date()

    def session_token(self) -> str:
        """A valid session token: the one this process keeps for these tokens (``SESSIONS``),
        else a new one, asked for ``SESSION_DAYS`` days and used until a day before its
        expiration date."""
        token: str
        token, _ = SESSIONS.get(
            self._session_key, self._clock.now(), self._create_session, fresh=self._renew
        )
        self._renew = False
        return token

    def _create_session(self) -> str:
        expires = self._today() + timedelta(days=SESSION_DAYS)
        self._meter(1)
        response = self._send(
            "POST",
            "/token/session/:create",
            json={
                "consumerToken": self._consumer,
                "employeeToken": self._employee,
                "expirationDate": expires.isoformat(),
            },
            write=False,
        )
        if response.status_code in (401, 403, 422):
            message, field = explain(_auth_message(response), self.environment)
            raise TokenRefused(message, field)
        body = self._body(response, "POST", "/token/session/:create", write=False)
        log.info("Tripletex session created, valid until %s", expires.isoformat())
        return str(body["value"]["token"])

    def who_am_i(self) -> JSON:
        body = self.request("GET", "/token/session/>whoAmI", params={"fields": "*,company(*)"})
        return dict(body.get("value") or {})

    # ------------------------------------------------------------------ requests

    def get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        return dict(self.request("GET", path, params=params) or {})

    def list_page(
        self, path: str, params: dict[str, Any] | None = None, start: int = 0, count: int = PAGE
    ) -> list[JSON]:
        """One page of a search endpoint (``from``/``count`` offset paging)."""
        body = self.request("GET", path, params={**(params or {}), "from": start, "count": count})
        return list((body or {}).get("values") or [])

    def list_all(self, path: str, params: dict[str, Any] | None = None) -> Iterator[JSON]:
        """Every value of a search endpoint, page by page until a short page."""
        start = 0
        while True:
            values = self.list_page(path, params, start)
            yield from values
            if len(values) < PAGE:
                return
            start += len(values)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content_type: str = JSON_BODY,
    ) -> Any:
        """An authenticated call; a session refused mid-run is created again once.
        ``content_type`` is the body's media type as the spec declares it for the operation
        (``application/json; charset=utf-8`` nearly everywhere)."""
        write = method != "GET"
        return with_retries(
            lambda: self._authenticated(method, path, params, json, content_type, write)
        )

    def _authenticated(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        content_type: str,
        write: bool,
    ) -> Any:
        for attempt in range(2):
            token = self.session_token()
            self._meter(1)
            response = self._send(
                method, path, params=params, json=json, write=write,
                auth=httpx.BasicAuth(str(self.company_id), token), content_type=content_type,
            )  # fmt: skip
            if response.status_code == 401:
                message = _auth_message(response)
                if attempt == 0 and "session token" in message.lower():
                    self._renew = True
                    continue
                text, field = explain(message, self.environment)
                raise TokenRefused(text, field)
            return self._body(response, method, path, write=write)
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        write: bool,
        auth: httpx.Auth | None = None,
        content_type: str = JSON_BODY,
    ) -> httpx.Response:
        content = None if json is None else dumps(json).encode("utf-8")
        headers = None if json is None else {"Content-Type": content_type}
        try:
            response = self._http.request(
                method, path, params=params, content=content, headers=headers, auth=auth
            )
        except httpx.TransportError as exc:
            raise httpx_failure("Tripletex", method, path, exc, write=write) from exc
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        if remaining is not None:
            self.rate_remaining = int(remaining)
            log.debug("Tripletex calls left in this period: %s", remaining)
        return response

    def _body(self, response: httpx.Response, method: str, path: str, *, write: bool) -> Any:
        status = response.status_code
        failure = status_failure("Tripletex", method, path, status, response.headers, write=write)
        if failure is not None:
            log.warning("%s", failure)
            raise failure
        if status == 403:
            raise AuthenticationFailed(
                f"the Tripletex employee token has no access to {path} "
                f"(company {self.company_id or 'own'}): {_error_text(response)}"
            )
        if status == 409 and _error_code(response) == 8000:
            raise StaleVersion(_error_text(response), reason="stale_version")
        return decoded(response, _error_text)


def _error_body(response: httpx.Response) -> JSON:
    body = error_json(response)
    return body if isinstance(body, dict) else {}


def _error_code(response: httpx.Response) -> int | None:
    code = _error_body(response).get("code")
    return int(code) if isinstance(code, int) else None


def _auth_message(response: httpx.Response) -> str:
    """The most specific text of an authentication refusal (validation message first)."""
    body = _error_body(response)
    for item in body.get("validationMessages") or []:
        if isinstance(item, dict) and item.get("message"):
            return str(item["message"])
    return str(body.get("message") or f"HTTP {response.status_code}")


def _error_text(response: httpx.Response) -> str:
    body = _error_body(response)
    if not body:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    details = "; ".join(
        f"{v.get('field')}: {v.get('message')}" if v.get("field") else str(v.get("message"))
        for v in body.get("validationMessages") or []
        if isinstance(v, dict)
    )
    message = str(body.get("message") or f"HTTP {response.status_code}")
    return f"{message} ({details})" if details else message
