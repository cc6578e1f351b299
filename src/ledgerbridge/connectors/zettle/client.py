"""The Zettle wire: four hosts (OAuth, Purchase, Finance, Pusher), a bearer token from the
OAuth assertion grant, JSON everywhere.

The assertion grant (``POST /token`` with the merchant's API key, a JWT that carries the client
id) gives an access token for 7200 s and no refresh token: the grant is simply made again,
a few minutes before the token expires, or when Zettle answers 401 (its ``WWW-Authenticate``
says ``ACCESS_TOKEN_EXPIRED``; a clock behind Zettle's must not stop a run). The token is
handed to ``on_token`` so that the next run reuses it instead of making a grant per run.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    AuthenticationFailed,
    CallMeter,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.http import (
    error_json,
    httpx_failure,
    json_body,
    status_failure,
    with_retries,
)

HOSTS = {
    "oauth": "https://oauth.zettle.com",
    "purchase": "https://purchase.izettle.com",
    "finance": "https://finance.izettle.com/v2",
    "pusher": "https://pusher.izettle.com",
}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RENEW_BEFORE = timedelta(minutes=5)
"""A token this close to its expiry is renewed before a call rather than refused during one."""
KEY_HINT = (
    "make a new API key at my.zettle.com/apps/api-keys with the scopes READ:PURCHASE and "
    "READ:FINANCE and save it on the connection"
)


class NotFound(Exception):
    """A read of something Zettle does not have (404)."""


def client_id_of(api_key: str) -> str:
    """The client id inside an API key (the JWT's ``client_id`` claim)."""
    parts = api_key.strip().split(".")
    if len(parts) != 3:
        raise AuthenticationFailed(f"the Zettle API key is not a JWT; {KEY_HINT}")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AuthenticationFailed(f"the Zettle API key cannot be read; {KEY_HINT}") from None
    client_id = claims.get("client_id") if isinstance(claims, dict) else None
    if not isinstance(client_id, str) or not client_id:
        raise AuthenticationFailed(f"the Zettle API key names no client id; {KEY_HINT}")
    return client_id


def hosts(settings: Mapping[str, Any]) -> dict[str, str]:
    """Each API's base URL: Zettle's own, or every one at ``base_url`` (the sandbox)."""
    root = settings.get("base_url")
    if not root:
        return dict(HOSTS)
    base = str(root).rstrip("/")
    return {"oauth": base, "purchase": base, "finance": base + "/v2", "pusher": base}


class ZettleClient:
    def __init__(
        self,
        *,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        meter: CallMeter,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
        on_token: Callable[[JSON], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._meter = meter
        self._clock = clock
        self._hosts = hosts(settings)
        self._api_key = str(secrets.get("api_key") or "")
        self.client_id = client_id_of(self._api_key)
        self.on_token = on_token
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime | None = None
        if secrets.get("access_token_client_id") == self.client_id and secrets.get("access_token"):
            self._token = str(secrets["access_token"])
            expires = secrets.get("access_token_expires_at")
            self._expires = datetime.fromisoformat(str(expires)) if expires else None
        self.grants = 0
        """Assertion grants made by this client (a run shows how often it renewed)."""
        self._http = httpx.Client(
            timeout=timeout, transport=transport, headers={"Accept": "application/json"}
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ token

    def _bearer(self) -> str:
        with self._lock:
            due = self._expires is None or self._expires - RENEW_BEFORE <= self._clock.now()
            if self._token is None or due:
                self._grant()
            return f"Bearer {self._token}"

    def renew(self) -> None:
        """Make the assertion grant again (Zettle refused the token)."""
        with self._lock:
            self._grant()

    def _grant(self) -> None:
        url = self._hosts["oauth"] + "/token"
        form = {"grant_type": JWT_BEARER, "client_id": self.client_id, "assertion": self._api_key}

        def attempt() -> httpx.Response:
            self._meter(1)
            try:
                response = self._http.post(url, data=form)
            except httpx.TransportError as exc:
                # The grant changes nothing at Zettle: it is safe to repeat, as a read is.
                raise httpx_failure("Zettle", "POST", "/token", exc, write=False) from exc
            failure = status_failure("Zettle", "POST", "/token", response.status_code,
                                     response.headers, write=False)  # fmt: skip
            if failure is not None:
                raise failure
            return response

        response = with_retries(attempt)
        body = error_json(response)
        if response.status_code >= 400:
            code = body.get("error") if isinstance(body, dict) else None
            raise AuthenticationFailed(
                f"Zettle refused the API key ({response.status_code} {code or response.text[:100]}"
                f"); it may have been revoked: {KEY_HINT}"
            )
        if not isinstance(body, dict) or not body.get("access_token"):
            raise RemoteUnavailable("Zettle answered POST /token without an access token")
        lifetime = int(body.get("expires_in") or 7200)
        self._token = str(body["access_token"])
        self._expires = self._clock.now() + timedelta(seconds=lifetime)
        self.grants += 1
        if self.on_token is not None:
            self.on_token({
                "access_token": self._token,
                "access_token_expires_at": self._expires.isoformat(),
                "access_token_client_id": self.client_id,
            })  # fmt: skip

    # ------------------------------------------------------------------ calls

    def get(self, host: str, path: str, params: Any = None) -> Any:
        """A read's JSON; ``NotFound`` on 404."""
        response = self._call("GET", host, path, params=params, write=False)
        if response.status_code == 404:
            raise NotFound(path)
        return self._body("GET", path, response)

    def send(self, method: str, host: str, path: str, payload: JSON | None = None) -> Any:
        """A write's JSON (the Pusher subscriptions)."""
        response = self._call(method, host, path, json=payload, write=True)
        if response.status_code == 404 and method == "DELETE":
            raise NotFound(path)
        return self._body(method, path, response)

    def _call(
        self, method: str, host: str, path: str, *, params: Any = None, json: Any = None,
        write: bool,
    ) -> httpx.Response:  # fmt: skip
        url = self._hosts[host] + path
        renewed = False
        while True:
            response = self._once(method, url, path, params, json, write)
            if response.status_code != 401:
                return response
            if renewed:
                raise AuthenticationFailed(
                    f"Zettle refused a fresh access token for {method} {path}; {KEY_HINT}"
                )
            # Expired (ACCESS_TOKEN_EXPIRED) or no longer known: the grant is made again and
            # the call repeated once; a refused call took no effect.
            self.renew()
            renewed = True

    def _once(self, method: str, url: str, path: str, params: Any, json: Any, write: bool
              ) -> httpx.Response:  # fmt: skip
        def attempt() -> httpx.Response:
            headers = {"Authorization": self._bearer()}
            self._meter(1)
            try:
                response = self._http.request(method, url, params=params, json=json,
                                              headers=headers)  # fmt: skip
            except httpx.TransportError as exc:
                raise httpx_failure("Zettle", method, path, exc, write=write) from exc
            if response.status_code == 403:
                raise AuthenticationFailed(
                    f"Zettle refused {method} {path} (403: {_message(response)}): the API key "
                    f"lacks the scope; {KEY_HINT}"
                )
            failure = status_failure(
                "Zettle", method, path, response.status_code, response.headers, write=write,
                detail=_message(response) if response.status_code >= 500 else "",
            )  # fmt: skip
            if failure is not None:
                raise failure
            return response

        return with_retries(attempt)

    def _body(self, method: str, path: str, response: httpx.Response) -> Any:
        return json_body(response, "Zettle", method, path, _message)


def _message(response: httpx.Response) -> str:
    body = error_json(response)
    if isinstance(body, dict):
        for key in ("developerMessage", "error_description", "error", "message"):
            if body.get(key):
                return f"{response.status_code} {body[key]}"
    return f"HTTP {response.status_code}: {response.text[:200]}"
