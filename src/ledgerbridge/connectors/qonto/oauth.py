"""Qonto's OAuth 2.0 login: the authorize URL, the code exchange, and access tokens renewed
before they expire.

Access tokens live one hour; refresh tokens 90 days, and every refresh hands out a new one
(the old one only works for 60 more seconds). So a renewed refresh token is handed to the
runtime at once, which seals it in the connection row before the run goes on: losing it would
lock the connection out. Tokens are never logged.
"""

from __future__ import annotations

import secrets as secrets_module
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import JSON, AuthenticationFailed, RemoteUnavailable
from ledgerbridge.connectors.kit.http import Unreachable, in_plain_words
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.qonto.client import DEFAULT_BASE_URL, LOGIN_AGAIN, QontoClient

DEFAULT_OAUTH_URL = "https://oauth.qonto.com"
SCOPES = (
    "offline_access organization.read client.read client.write client_invoices.read "
    "client_invoice.write product.read webhook"
)
RENEW_BEFORE = timedelta(minutes=5)
"""An access token this close to expiry is renewed before the next call."""
REFRESH_TOKEN_LIFETIME = timedelta(days=90)

SecretsSink = Callable[[JSON], None]
"""Receives changed secrets (a rotated refresh token) to be stored at once."""


def oauth_url(settings: Mapping[str, Any]) -> str:
    return str(settings.get("oauth_url") or DEFAULT_OAUTH_URL).rstrip("/")


def authorize_url(settings: Settings, secrets: Settings, state: str, redirect_uri: str) -> str:
    """Where the user logs in to Qonto and consents; Qonto redirects back with a code."""
    client_id = settings.get("oauth_client_id")
    if not client_id:
        raise AuthenticationFailed("settings.oauth_client_id is needed to log in to Qonto")
    query = {
        "client_id": str(client_id),
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": str(settings.get("oauth_scope") or SCOPES),
        "state": state,
    }
    return f"{oauth_url(settings)}/oauth2/auth?{urlencode(query)}"


def exchange_code(
    settings: Settings,
    secrets: Settings,
    code: str,
    redirect_uri: str,
    transport: Transport,
    clock: Clock,
) -> JSON:
    """The secrets a fresh login gives: access token, refresh token and their times."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
    }
    return _token_request(settings, secrets, form, transport, clock)


def _token_request(
    settings: Settings, secrets: Settings, form: dict[str, str], transport: Transport, clock: Clock
) -> JSON:
    form = {
        **form,
        "client_id": str(settings.get("oauth_client_id") or ""),
        "client_secret": str(secrets.get("oauth_client_secret") or ""),
    }
    headers = {"Accept": "application/json"}
    if secrets.get("staging_token"):
        headers["X-Qonto-Staging-Token"] = str(secrets["staging_token"])
    try:
        with httpx.Client(transport=transport, timeout=30.0, headers=headers) as http:
            response = http.post(f"{oauth_url(settings)}/oauth2/token", data=form)
    except httpx.TransportError as exc:
        raise Unreachable(f"could not reach Qonto's login server{in_plain_words(exc)}") from exc
    if response.status_code >= 500:
        raise RemoteUnavailable(f"Qonto's login server answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        error = body.get("error") or f"HTTP {response.status_code}"
        if error == "invalid_client":
            raise AuthenticationFailed(
                "Qonto refused the app's OAuth client ID or client secret (invalid_client): "
                "check both against your Qonto app (a new secret goes on Credentials)"
            )
        raise AuthenticationFailed(
            f"the Qonto login is no longer valid ({error}): it was revoked or has expired; "
            f"{LOGIN_AGAIN}"
        )
    now = clock.now()
    tokens: JSON = {
        "access_token": body["access_token"],
        "access_token_expires_at": (
            now + timedelta(seconds=int(body.get("expires_in") or 3600))
        ).isoformat(),
    }
    if body.get("refresh_token"):
        tokens["refresh_token"] = body["refresh_token"]
        tokens["refresh_token_issued_at"] = now.isoformat()
    return tokens


class TokenKeeper:
    """The ``Authorization`` header of an OAuth connection, renewing the access token when it
    is about to expire and handing every new token set to ``on_secrets`` at once."""

    def __init__(
        self,
        settings: Settings,
        secrets: Settings,
        clock: Clock,
        transport: Transport = None,
        on_secrets: SecretsSink | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = dict(secrets)
        self._clock = clock
        self._transport = transport
        self.on_secrets = on_secrets
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._due():
                self._refresh()
            return f"Bearer {self._secrets['access_token']}"

    def renew(self) -> bool:
        """Renew after Qonto refused the access token; False when there is nothing to renew
        with (an access token given without a refresh token)."""
        with self._lock:
            if not self._secrets.get("refresh_token"):
                return False
            self._refresh()
            return True

    def _due(self) -> bool:
        if not self._secrets.get("access_token"):
            return True
        expires = self._secrets.get("access_token_expires_at")
        if not expires or not self._secrets.get("refresh_token"):
            return False
        return datetime.fromisoformat(str(expires)) - RENEW_BEFORE <= self._clock.now()

    def _refresh(self) -> None:
        refresh_token = self._secrets.get("refresh_token")
        if not refresh_token:
            raise AuthenticationFailed(f"the connection is not logged in to Qonto; {LOGIN_AGAIN}")
        issued = self._secrets.get("refresh_token_issued_at")
        if issued and self._clock.now() - datetime.fromisoformat(str(issued)) >= (
            REFRESH_TOKEN_LIFETIME
        ):
            raise AuthenticationFailed(
                f"the Qonto login is older than 90 days and has expired; {LOGIN_AGAIN}"
            )
        tokens = _token_request(
            self._settings,
            self._secrets,
            {"grant_type": "refresh_token", "refresh_token": str(refresh_token)},
            self._transport,
            self._clock,
        )
        self._secrets.update(tokens)
        if self.on_secrets is not None:
            self.on_secrets(tokens)


WEBHOOK_TYPES = ("v1/client-invoices",)
"""Webhooks the integration listens to: invoices and their payment status. Customers and
credit notes are pulled periodically."""


def subscribe_webhooks(
    settings: Settings, secrets: Settings, callback_url: str, transport: Transport, clock: Clock
) -> JSON:
    """Subscribe the connection's callback URL to Qonto's invoice webhooks, with a secret of
    our own for the signatures (the subscriptions of an earlier login are removed first, so
    each event arrives once). The organization's slug, IBAN and country are learned by the
    set-up checks that run with the login (``setup.verify``)."""
    token = str(secrets["access_token"])
    client = QontoClient(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
        authorization=lambda: f"Bearer {token}",
        meter=lambda calls: None,
        staging_token=secrets.get("staging_token"),
        transport=transport,
    )
    secret = "whsec_" + secrets_module.token_urlsafe(48)
    try:
        for old in secrets.get("webhook_subscription_ids") or []:
            client.unsubscribe(str(old))
        ids = [str(client.subscribe(callback_url, kind, secret)["id"]) for kind in WEBHOOK_TYPES]
    finally:
        client.close()
    return {"webhook_secret": secret, "webhook_subscription_ids": ids}
