"""Signing a person in to the web UI: with an API key, or with a one-time link printed by
``ledgerbridge ui-link`` (and the demo).

The browser keeps only a random session id in an HttpOnly cookie; the database keeps its
SHA-256. Each session carries its own CSRF token, which every form and htmx request sends back.
The role is read again on every request, so a changed role or a removed user takes effect at
once, and a session opened with an API key ends with that key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import KEY_PREFIX, Principal, hash_key
from ledgerbridge.store.tables.tenancy import ApiKey, Tenant, UiLoginLink, UiSession, User

LINK_LIFETIME = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class OpenSession:
    """What the browser is given: the cookie's value, once."""

    token: str
    csrf_token: str


@dataclass(frozen=True)
class Signed:
    """The person behind a session cookie."""

    principal: Principal
    email: str
    csrf_token: str

    @property
    def can_change(self) -> bool:
        return self.principal.role in ("owner", "admin")


class SignInService:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = session_factory
        self._clock = clock

    def login_link(self, tenant_id: str | None, email: str | None = None) -> str:
        """A one-time token for a tenant's user (its first owner when no email is given);
        the tenant may go unsaid when the installation has only one."""
        with self._sessions.begin() as session:
            if tenant_id is None:
                tenant_id = self._only_tenant(session)
            query = sa.select(User).where(User.tenant_id == tenant_id)
            if email:
                query = query.where(User.email == email.strip().lower())
            else:
                query = query.where(User.role == "owner").order_by(User.created_at)
            user = session.scalars(query.limit(1)).first()
            if user is None:
                raise NotFound(
                    f"no user {email} in tenant {tenant_id}"
                    if email
                    else f"tenant {tenant_id} has no owner"
                )
            token = secrets.token_urlsafe(32)
            now = self._clock.now()
            session.add(
                UiLoginLink(
                    token_hash=hash_key(token), tenant_id=tenant_id, user_id=user.id,
                    created_at=now, expires_at=now + LINK_LIFETIME,
                )
            )  # fmt: skip
            return token

    def _only_tenant(self, session: Session) -> str:
        tenants = session.execute(sa.select(Tenant.id, Tenant.name).limit(20)).all()
        if len(tenants) == 1:
            return str(tenants[0].id)
        if not tenants:
            raise NotFound("no tenant yet: create one with `ledgerbridge tenant create`")
        listed = ", ".join(f"{t.id} ({t.name})" for t in tenants)
        raise Invalid(f"several tenants: choose one with --tenant: {listed}", field="tenant")

    def open_with_link(self, token: str) -> OpenSession:
        now = self._clock.now()
        with self._sessions.begin() as session:
            link = session.get(UiLoginLink, hash_key(token), with_for_update=True)
            if link is None or link.used_at is not None or link.expires_at <= now:
                raise Invalid(
                    "this sign-in link is unknown, used or expired: run `ledgerbridge ui-link` "
                    "for a new one",
                    field="token",
                )
            link.used_at = now
            return self._open(session, link.tenant_id, link.user_id, None)

    def open_with_key(self, api_key: str) -> OpenSession:
        api_key = api_key.strip()
        if not api_key:
            raise Invalid(
                "paste an API key (ledgerbridge tenant create prints the owner's)", field="api_key"
            )
        if not api_key.startswith(KEY_PREFIX):
            raise Invalid(
                f"this is not a ledgerbridge API key: those start with {KEY_PREFIX}",
                field="api_key",
            )
        with self._sessions.begin() as session:
            key = session.scalars(
                sa.select(ApiKey).where(
                    ApiKey.key_hash == hash_key(api_key), ApiKey.revoked_at.is_(None)
                )
            ).first()
            if key is None:
                raise Invalid("this API key is unknown or revoked", field="api_key")
            key.last_used_at = self._clock.now()
            return self._open(session, key.tenant_id, key.user_id, key.id)

    def resume(self, token: str) -> Signed | None:
        """The person a cookie belongs to, or None when the session is over."""
        now = self._clock.now()
        with self._sessions() as session:
            row = session.execute(
                sa.select(UiSession, User)
                .join(User, User.id == UiSession.user_id)
                .outerjoin(ApiKey, ApiKey.id == UiSession.api_key_id)
                .where(
                    UiSession.id_hash == hash_key(token),
                    UiSession.expires_at > now,
                    sa.or_(UiSession.api_key_id.is_(None), ApiKey.revoked_at.is_(None)),
                )
            ).one_or_none()
            if row is None:
                return None
            ui_session, user = row
            principal = Principal(
                tenant_id=user.tenant_id,
                user_id=user.id,
                role=user.role,
                key_id=ui_session.api_key_id,
            )
            return Signed(principal, user.email, ui_session.csrf_token)

    def close(self, token: str) -> None:
        with self._sessions.begin() as session:
            session.execute(sa.delete(UiSession).where(UiSession.id_hash == hash_key(token)))

    def _open(
        self, session: Session, tenant_id: str, user_id: str, api_key_id: str | None
    ) -> OpenSession:
        now = self._clock.now()
        session.execute(sa.delete(UiSession).where(UiSession.expires_at <= now))
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        session.add(
            UiSession(
                id_hash=hash_key(token), tenant_id=tenant_id, user_id=user_id,
                api_key_id=api_key_id, csrf_token=csrf, created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )  # fmt: skip
        return OpenSession(token, csrf)
