"""Qonto's OAuth 2.0 server (an Ory Hydra, judging by its ``ory_at_``/``ory_rt_`` tokens).

Authorization-code flow with auto-approved consent, access tokens valid one hour, refresh tokens
valid 90 days and rotated on every use with a 60-second grace period for the old one. Not
thread-safe on its own: the sandbox calls it while holding its lock.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from ledgerbridge.sandbox.qonto.core import OAuthError, QontoError

SCOPES = (
    "openid",
    "offline_access",
    "organization.read",
    "membership.read",
    "client.read",
    "client.write",
    "client_invoices.read",
    "client_invoice.write",
    "client_invoices.write",
    "product.read",
    "product.write",
    "supplier_invoice.read",
    "supplier_invoice.write",
    "attachment.read",
    "attachment.write",
    "webhook",
)
MIN_STATE_LENGTH = 8

# Descriptions are those of Ory's fosite library, which Hydra returns verbatim.
_INVALID_GRANT = (
    "The provided authorization grant (e.g., authorization code, resource owner credentials) or "
    "refresh token is invalid, expired, revoked, does not match the redirection URI used in the "
    "authorization request, or was issued to another client."
)
_INVALID_CLIENT = (
    "Client authentication failed (e.g., unknown client, no client authentication included, or "
    "unsupported authentication method)."
)
_INVALID_REQUEST = (
    "The request is missing a required parameter, includes an invalid parameter value, includes "
    "a parameter more than once, or is otherwise malformed."
)
_UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server."
_INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."
_ACCESS_DENIED = "The resource owner or authorization server denied the request."
_UNSUPPORTED_RESPONSE = (
    "The authorization server does not support obtaining a token using this method."
)
_INVALID_STATE = (
    f"The state is missing or has less than {MIN_STATE_LENGTH} characters and is therefore "
    "considered too weak."
)


def invalid_grant(hint: str) -> OAuthError:
    """400 ``invalid_grant`` with fosite's description and a hint saying which rule failed."""
    return OAuthError(400, "invalid_grant", f"{_INVALID_GRANT} {hint}")


def _token(prefix: str) -> str:
    """An opaque token shaped like Hydra's ``ory_xx_<key>.<signature>``."""
    return f"ory_{prefix}_{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class OAuthApp:
    """A registered partner application."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returns."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Body of a successful token response, in the documented field order."""
        body: dict[str, Any] = {"access_token": self.access_token, "expires_in": self.expires_in}
        if self.id_token is not None:
            body["id_token"] = self.id_token
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        body["token_type"] = "bearer"
        return body


@dataclass(frozen=True)
class Principal:
    """Who is calling the Business API: an OAuth token's grant or the organization's API key."""

    kind: str
    scopes: frozenset[str]
    client_id: str | None = None


@dataclass
class _Grant:
    """One consent: a user allowed one app; every token descends from it."""

    grant_id: int
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    redirect_uri: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: datetime
    revoked: bool = False


@dataclass
class _RefreshToken:
    grant: _Grant
    expires_at: datetime
    access_token: str
    used_at: datetime | None = None


@dataclass
class OAuthServer:
    """Apps, codes and tokens, with the lifetimes Qonto documents."""

    membership_id: str
    access_ttl: timedelta = timedelta(hours=1)
    refresh_ttl: timedelta = timedelta(days=90)
    code_ttl: timedelta = timedelta(minutes=10)
    refresh_grace: timedelta = timedelta(seconds=60)
    approve: bool = True
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    _grants: list[_Grant] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, _AccessToken] = field(default_factory=dict)
    _refresh: dict[str, _RefreshToken] = field(default_factory=dict)

    # ---------------------------------------------------------------- apps

    def add_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        scopes: Iterable[str] = SCOPES,
    ) -> OAuthApp:
        """Register an application; scopes outside ``SCOPES`` are a setup error."""
        wanted = frozenset(scopes)
        unknown = wanted - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {sorted(unknown)}")
        uris = tuple(redirect_uris)
        if not uris:
            raise ValueError("an OAuth app needs at least one redirect URI")
        app = OAuthApp(client_id, client_secret, uris, wanted)
        self.apps[client_id] = app
        return app

    # ------------------------------------------------------------ authorize

    def authorize(self, params: Mapping[str, str], now: datetime) -> str:
        """Handle ``GET /oauth2/auth``; return the URL to redirect the browser to.

        Errors that cannot be trusted to the redirect URI (unknown client, unregistered URI) are
        raised; the others go back to the app as ``error`` and ``error_description`` parameters.
        """
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            raise OAuthError(401, "invalid_client", _INVALID_CLIENT)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            if len(app.redirect_uris) != 1:
                raise OAuthError(
                    400, "invalid_request", f"{_INVALID_REQUEST} redirect_uri is required."
                )
            target = app.redirect_uris[0]
        elif redirect_uri in app.redirect_uris:
            target = redirect_uri
        else:
            raise OAuthError(
                400,
                "invalid_request",
                f"{_INVALID_REQUEST} The 'redirect_uri' parameter does not match any of the "
                "OAuth 2.0 Client's pre-registered redirect urls.",
            )
        state = params.get("state")
        back: dict[str, str] = {}
        if params.get("response_type") != "code":
            back = {
                "error": "unsupported_response_type",
                "error_description": _UNSUPPORTED_RESPONSE,
            }
        elif state is None or len(state) < MIN_STATE_LENGTH:
            back = {"error": "invalid_state", "error_description": _INVALID_STATE}
        else:
            scopes = tuple(params.get("scope", "").split())
            if any(scope not in app.scopes for scope in scopes):
                back = {"error": "invalid_scope", "error_description": _INVALID_SCOPE}
            elif not self.approve:
                back = {"error": "access_denied", "error_description": _ACCESS_DENIED}
            else:
                code = self.issue_code(app.client_id, scopes, redirect_uri, now)
                back = {"code": code, "scope": " ".join(scopes)}
        if state is not None:
            back["state"] = state
        separator = "&" if urlsplit(target).query else "?"
        return f"{target}{separator}{urlencode(back)}"

    def issue_code(
        self, client_id: str, scopes: tuple[str, ...], redirect_uri: str | None, now: datetime
    ) -> str:
        """A fresh authorization code for a new consent."""
        grant = _Grant(len(self._grants) + 1, client_id, scopes)
        self._grants.append(grant)
        code = _token("ac")
        self._codes[code] = _Code(grant, redirect_uri, now + self.code_ttl)
        return code

    # ---------------------------------------------------------------- token

    def token(
        self, form: Mapping[str, str], basic: tuple[str, str] | None, now: datetime
    ) -> TokenSet:
        """Handle ``POST /oauth2/token`` (``authorization_code`` and ``refresh_token`` grants)."""
        app = self._client(form, basic)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", f"{_INVALID_REQUEST} grant_type is missing.")
        if grant_type == "authorization_code":
            return self._exchange_code(app, form, now)
        if grant_type == "refresh_token":
            return self._refresh_tokens(app, form, now)
        raise OAuthError(400, "unsupported_grant_type", _UNSUPPORTED_GRANT)

    def _client(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> OAuthApp:
        """Authenticate the app with ``client_secret_post`` or ``client_secret_basic``."""
        client_id, secret = basic if basic is not None else ("", "")
        if form.get("client_id"):
            client_id, secret = form["client_id"], form.get("client_secret", "")
        app = self.apps.get(client_id)
        if app is None or not hmac.compare_digest(app.client_secret, secret):
            raise OAuthError(401, "invalid_client", _INVALID_CLIENT)
        return app

    def _exchange_code(self, app: OAuthApp, form: Mapping[str, str], now: datetime) -> TokenSet:
        """Trade a code for tokens. Replaying a used code revokes everything issued from it."""
        code = self._codes.get(form.get("code", ""))
        if code is None:
            raise invalid_grant("The authorization code is unknown.")
        if code.grant.client_id != app.client_id:
            raise invalid_grant("The authorization code was issued to another client.")
        if code.used:
            code.grant.revoked = True
            raise invalid_grant("The authorization code has already been used.")
        if now >= code.expires_at:
            raise invalid_grant("The authorization code has expired.")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and code.redirect_uri not in (None, redirect_uri):
            raise invalid_grant("The redirect_uri does not match the authorization request.")
        if redirect_uri is None and len(app.redirect_uris) > 1:
            raise invalid_grant("The redirect_uri is required when several are registered.")
        code.used = True
        return self._issue(code.grant, now)

    def _refresh_tokens(self, app: OAuthApp, form: Mapping[str, str], now: datetime) -> TokenSet:
        """Rotate a refresh token.

        The presented token stays usable for ``refresh_grace`` after its first use; using it
        later is treated as theft and revokes the whole consent, as Hydra does.
        """
        presented = form.get("refresh_token", "")
        record = self._refresh.get(presented)
        if record is None:
            raise invalid_grant("The refresh token is unknown.")
        if record.grant.client_id != app.client_id:
            raise invalid_grant("The refresh token was issued to another client.")
        if record.grant.revoked:
            raise invalid_grant("The refresh token has been revoked.")
        if now >= record.expires_at:
            raise invalid_grant("The refresh token has expired.")
        if record.used_at is not None and now > record.used_at + self.refresh_grace:
            record.grant.revoked = True
            raise invalid_grant(
                "The refresh token has already been used and its grace period is over; every "
                "token of this consent has been revoked."
            )
        if record.used_at is None:
            record.used_at = now
        paired = self._access.get(record.access_token)
        if paired is not None:
            paired.revoked = True
        return self._issue(record.grant, now)

    def _issue(self, grant: _Grant, now: datetime) -> TokenSet:
        """A new access token, plus a refresh token with ``offline_access`` and an ID token
        with ``openid``.
        """
        access = _token("at")
        self._access[access] = _AccessToken(grant, now + self.access_ttl)
        refresh = None
        if "offline_access" in grant.scopes:
            refresh = _token("rt")
            self._refresh[refresh] = _RefreshToken(grant, now + self.refresh_ttl, access)
        id_token = self._id_token(grant, now) if "openid" in grant.scopes else None
        return TokenSet(
            access_token=access,
            expires_in=int(self.access_ttl.total_seconds()),
            scope=" ".join(grant.scopes),
            refresh_token=refresh,
            id_token=id_token,
        )

    def _id_token(self, grant: _Grant, now: datetime) -> str:
        """A JWT-shaped ID token. Its signature is random: the sandbox publishes no keys."""

        def part(payload: Mapping[str, Any]) -> str:
            raw = json.dumps(payload, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        issued = int(now.timestamp())
        claims = {
            "aud": [grant.client_id],
            "auth_time": issued,
            "exp": issued + int(self.access_ttl.total_seconds()),
            "iat": issued,
            "iss": "qonto-sandbox",
            "jti": secrets.token_hex(16),
            "sub": self.membership_id,
        }
        signature = base64.urlsafe_b64encode(secrets.token_bytes(256)).rstrip(b"=").decode()
        header = part({"alg": "RS256", "kid": "sandbox", "typ": "JWT"})
        return f"{header}.{part(claims)}.{signature}"

    # --------------------------------------------------------- using tokens

    def authenticate(self, token: str, now: datetime) -> Principal:
        """The principal behind a bearer token, or a 401."""
        record = self._access.get(token)
        if record is None:
            raise QontoError(401, "unauthorized", "The access token is invalid")
        if record.revoked or record.grant.revoked:
            raise QontoError(401, "unauthorized", "The access token has been revoked")
        if now >= record.expires_at:
            raise QontoError(401, "unauthorized", "The access token has expired")
        return Principal("oauth", frozenset(record.grant.scopes), record.grant.client_id)

    # ----------------------------------------------------------- revocation

    def revoke_refresh_token(self, token: str) -> bool:
        """Withdraw the consent a refresh token belongs to (the user disconnected the app)."""
        record = self._refresh.get(token)
        if record is None:
            return False
        record.grant.revoked = True
        return True

    def revoke_client(self, client_id: str) -> int:
        """Withdraw every consent given to an app; return how many there were."""
        count = 0
        for grant in self._grants:
            if grant.client_id == client_id and not grant.revoked:
                grant.revoked = True
                count += 1
        return count

    def revoke(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> None:
        """``POST /oauth2/revoke`` (RFC 7009): a refresh token ends its consent, an access
        token ends itself. Unknown tokens are ignored, as the RFC requires.
        """
        app = self._client(form, basic)
        token = form.get("token", "")
        refresh = self._refresh.get(token)
        if refresh is not None and refresh.grant.client_id == app.client_id:
            refresh.grant.revoked = True
            return
        access = self._access.get(token)
        if access is not None and access.grant.client_id == app.client_id:
            access.revoked = True
