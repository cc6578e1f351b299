"""Logging a connection in to its system with OAuth 2.0 (authorization code).

The hub hands out the system's authorize URL with a one-time ``state`` bound to the connection;
the system redirects the user's browser to the hub's callback with a code, which is exchanged
for tokens that are sealed into the connection's secrets. Tokens never leave the service and
are never logged. With the tokens, the system's set-up checks run as when a connection is saved
with credentials, and what they learn goes into the settings (Qonto's organisation slug, which
the records' links to the Qonto app need).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import JSON, ConnectorError, OAuthFlow, SetupRefused
from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec, daily_call_limit
from ledgerbridge.engine.quota import QuotaExhausted, QuotaLedger
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.secrets import SecretBox
from ledgerbridge.store.tables.tenancy import Connection

CALLBACK_PATH = "/api/v1/oauth/callback"
STATE_LIFETIME = timedelta(minutes=15)
"""How long a login may take between the authorize URL and the callback."""
STATE_SECRETS = ("oauth_state_hash", "oauth_state_expires_at", "oauth_return_to")
UI_PREFIX = "/ui/"


class LoginFailed(Invalid):
    """The login came back refused or unusable; ``return_to`` is the page of ours that started
    it (None for an API caller), where the browser is sent to read why."""

    def __init__(self, message: str, return_to: str | None) -> None:
        super().__init__(message, field="code")
        self.return_to = return_to


class OAuthService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        clock: Clock,
        public_url: str,
        ledger: QuotaLedger,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._sessions = session_factory
        self._box = box
        self._clock = clock
        self._ledger = ledger
        self._public_url = public_url.rstrip("/")
        self.redirect_uri = self._public_url + CALLBACK_PATH
        self._transport = transport

    def authorize(
        self, principal: Principal, connection_id: str, return_to: str | None = None
    ) -> JSON:
        """The URL where the user logs in; its ``state`` is good for one callback.
        ``return_to`` (a page of the web UI) is where the callback sends the browser back,
        instead of answering JSON: a person who started the login from a page returns there."""
        principal.require_admin("logging a connection in")
        if return_to is not None and (
            not return_to.startswith(UI_PREFIX) or "//" in return_to or "\\" in return_to
        ):
            raise Invalid("return_to must be a page of the web UI (/ui/…)", field="return_to")
        state = f"{connection_id}.{secrets.token_urlsafe(24)}"
        with self._sessions.begin() as session:
            row = session.get(Connection, connection_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"connection {connection_id} not found")
            flow = _flow(row.system)
            stored = self._box.open(row.secrets)
            try:
                url = flow.authorize_url(row.settings, stored, state, self.redirect_uri)
            except ConnectorError as exc:
                raise Invalid(str(exc), field="settings") from exc
            expires = self._clock.now() + STATE_LIFETIME
            row.secrets = self._box.seal(
                {
                    **stored,
                    "oauth_state_hash": _hash(state),
                    "oauth_state_expires_at": expires.isoformat(),
                    "oauth_return_to": return_to,
                }
            )
        return {"authorize_url": url, "state": state, "redirect_uri": self.redirect_uri}

    def callback(self, state: str, code: str | None, error: str | None) -> JSON:
        """Exchange the code for tokens and store them; an unknown, used or expired ``state``
        changes nothing. The answer carries ``return_to`` when a page of ours started the
        login; a refusal then raises ``LoginFailed`` with it."""
        connection_id = state.split(".", 1)[0]
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            stored = self._box.open(row.secrets) if row is not None else {}
            system, settings = (row.system, dict(row.settings)) if row is not None else ("", {})
        expected = str(stored.get("oauth_state_hash") or "")
        expires = stored.get("oauth_state_expires_at")
        if (
            row is None
            or not expected
            or not hmac.compare_digest(expected, _hash(state))
            or not expires
            or datetime.fromisoformat(str(expires)) < self._clock.now()
        ):
            raise NotFound("unknown or expired login; start the login again")
        return_to = str(stored["oauth_return_to"]) if stored.get("oauth_return_to") else None
        if error or not code:
            self._finish(connection_id, {}, f"the login was not completed: {error or 'no code'}")
            raise LoginFailed(f"the login was not completed: {error or 'no code'}", return_to)
        flow = _flow(system)
        try:
            tokens = flow.exchange_code(
                settings, stored, code, self.redirect_uri, self._transport, self._clock
            )
        except ConnectorError as exc:
            self._finish(connection_id, {}, str(exc))
            raise LoginFailed(str(exc), return_to) from exc
        learned, problem = self._verify(SYSTEMS[system], settings, {**stored, **tokens})
        settings.update(learned)
        if problem is None and flow.after_login is not None:
            callback = f"{self._public_url}/api/v1/inbound/{connection_id}/"
            callback += str(stored.get("inbound_token") or "")
            try:
                tokens = {
                    **tokens,
                    **flow.after_login(
                        settings, {**stored, **tokens}, callback, self._transport, self._clock
                    ),
                }
            except ConnectorError as exc:
                problem = f"logged in, but the {system} set-up that follows failed: {exc}"
        self._finish(connection_id, tokens, problem, learned)
        answer: JSON = {"status": "connected", "connection_id": connection_id}
        if return_to is not None:
            answer["return_to"] = return_to
        return answer

    def _verify(self, spec: SystemSpec, settings: JSON, secrets_: JSON) -> tuple[JSON, str | None]:
        """The system's set-up checks with the new tokens (metered): the settings they learn,
        or why they could not run."""
        if spec.verify is None:
            return {}, None
        limit = daily_call_limit(spec, settings)
        key = spec.credential_key(settings)

        def meter(calls: int) -> None:
            self._ledger.consume(key, limit, spec.quota_timezone, calls)

        try:
            verified = spec.verify(settings, secrets_, meter, self._transport)
        except (ConnectorError, SetupRefused, QuotaExhausted) as exc:
            return {}, f"logged in, but {spec.name} could not be read with the login: {exc}"
        return dict(verified.settings), None

    def _finish(
        self, connection_id: str, tokens: JSON, problem: str | None, learned: JSON | None = None
    ) -> None:
        """Store the tokens (or the reason there are none) and what the login learned, and
        spend the state."""
        with self._sessions.begin() as session:
            row = session.get(Connection, connection_id, with_for_update=True)
            if row is None:
                return
            stored = {
                k: v for k, v in self._box.open(row.secrets).items() if k not in STATE_SECRETS
            }
            row.secrets = self._box.seal({**stored, **tokens})
            if learned:
                row.settings = {**row.settings, **learned}
            row.last_error = problem
            row.last_error_at = self._clock.now() if problem else None
            row.updated_at = self._clock.now()


def _flow(system: str) -> OAuthFlow:
    spec = SYSTEMS.get(system)
    if spec is None or spec.oauth is None:
        raise Invalid(f"{system} connections do not log in with OAuth", field="system")
    return spec.oauth


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
