"""Tenants, users, roles and API keys.

An API key is ``lb_<random>``; only its SHA-256 is stored. Every request is scoped to the key's
tenant, and the key's user role decides what it may change.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.model.validation import normalize_email
from ledgerbridge.services.errors import Conflict, Forbidden, Invalid, NotFound
from ledgerbridge.store.tables.tenancy import ROLES, ApiKey, Tenant, User

KEY_PREFIX = "lb_"
ADMIN_ROLES = ("owner", "admin")
KEY_USE_RESOLUTION = timedelta(minutes=1)
"""A key's ``last_used_at`` moves at most this often: one write a minute, not one a request."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every query is scoped to, and the caller's role."""

    tenant_id: str
    user_id: str
    role: str
    key_id: str | None = None
    """The API key the call came with (directly, or through the UI session it opened)."""

    @property
    def actor(self) -> str:
        """Who a change is attributed to in a record's history: the key, else the user."""
        return f"key:{self.key_id}" if self.key_id else f"user:{self.user_id}"

    def require_admin(self, action: str) -> None:
        if self.role not in ADMIN_ROLES:
            raise Forbidden(
                f"{action} needs the owner or admin role; this key's role is {self.role}"
            )


@dataclass(frozen=True)
class IssuedKey:
    tenant_id: str
    user_id: str
    key_id: str
    api_key: str


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class TenancyService:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = session_factory
        self._clock = clock

    def create_tenant(self, name: str, owner_email: str) -> IssuedKey:
        """A new tenant with its owner and the owner's first API key."""
        if not name.strip():
            raise Invalid("tenant name must not be empty", field="name")
        if len(name.strip()) > 200:
            raise Invalid("a tenant's name has at most 200 characters", field="name")
        with self._sessions.begin() as session:
            tenant = Tenant(name=name.strip(), created_at=self._clock.now())
            session.add(tenant)
            session.flush()
            user = self._add_user(session, tenant.id, owner_email, "owner")
            key, key_id = self._issue(session, tenant.id, user.id, "owner key")
            return IssuedKey(tenant.id, user.id, key_id, key)

    def add_user(self, principal: Principal, email: str, role: str) -> IssuedKey:
        principal.require_admin("adding a user")
        if role == "owner" and principal.role != "owner":
            raise Forbidden("only an owner can add another owner")
        with self._sessions.begin() as session:
            user = self._add_user(session, principal.tenant_id, email, role)
            key, key_id = self._issue(session, principal.tenant_id, user.id, f"{role} key")
            return IssuedKey(principal.tenant_id, user.id, key_id, key)

    def list_users(self, principal: Principal) -> list[dict[str, str]]:
        with self._sessions() as session:
            users = session.scalars(
                sa.select(User).where(User.tenant_id == principal.tenant_id).order_by(User.email)
            )
            return [{"id": u.id, "email": u.email, "role": u.role} for u in users]

    def revoke_key(self, principal: Principal, key_id: str) -> None:
        """An owner may revoke any key of the tenant, an admin any but an owner's: an admin
        must not be able to lock the owners out."""
        principal.require_admin("revoking an API key")
        with self._sessions.begin() as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.tenant_id != principal.tenant_id:
                raise NotFound(f"API key {key_id} not found")
            holder = session.get(User, key.user_id)
            if holder is not None and holder.role == "owner" and principal.role != "owner":
                raise Forbidden("only an owner can revoke an owner's API key")
            key.revoked_at = self._clock.now()

    def list_keys(self, principal: Principal) -> list[dict[str, Any]]:
        """Every API key of the tenant with its holder, newest first; never the key itself
        (only its hash is kept)."""
        with self._sessions() as session:
            rows = session.execute(
                sa.select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.tenant_id == principal.tenant_id)
                .order_by(ApiKey.created_at.desc(), ApiKey.id)
            )
            return [
                {
                    "id": key.id,
                    "name": key.name,
                    "user_id": user.id,
                    "email": user.email,
                    "role": user.role,
                    "created_at": key.created_at.isoformat(),
                    "last_used_at": _iso(key.last_used_at),
                    "revoked_at": _iso(key.revoked_at),
                }
                for key, user in rows
            ]

    def create_key(self, principal: Principal, name: str) -> IssuedKey:
        """A new key for the caller (to rotate one: create, switch, revoke the old). Owners
        and admins only, as every other change: a member changes nothing."""
        principal.require_admin("creating an API key")
        name = name.strip()
        if not name:
            raise Invalid("give the key a name (where it is used)", field="name")
        if len(name) > 200:
            raise Invalid("a key's name has at most 200 characters", field="name")
        with self._sessions.begin() as session:
            key, key_id = self._issue(session, principal.tenant_id, principal.user_id, name)
            return IssuedKey(principal.tenant_id, principal.user_id, key_id, key)

    def authenticate(self, api_key: str) -> Principal | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        with self._sessions() as session:
            row = session.execute(
                sa.select(ApiKey, User.role)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == hash_key(api_key), ApiKey.revoked_at.is_(None))
            ).one_or_none()
            if row is None:
                return None
            key, role = row
            principal = Principal(
                tenant_id=key.tenant_id, user_id=key.user_id, role=role, key_id=key.id
            )
            last_used = key.last_used_at
        now = self._clock.now()
        if last_used is None or now - last_used >= KEY_USE_RESOLUTION:
            # A write transaction of its own: on SQLite a read turned into a write fails at
            # once ("database is locked") when another write committed since it began.
            with self._sessions.begin() as session:
                session.execute(
                    sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                )
        return principal

    def _add_user(self, session: Session, tenant_id: str, email: str, role: str) -> User:
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
        try:
            email = normalize_email(email).lower()
        except ValueError:
            raise Invalid(
                f"'{email.strip()[:320]}' is not an email address (name@example.com)",
                field="email",
            ) from None
        exists = session.scalar(
            sa.select(User.id).where(User.tenant_id == tenant_id, User.email == email)
        )
        if exists:
            raise Conflict(f"user {email} already exists", field="email")
        user = User(tenant_id=tenant_id, email=email, role=role, created_at=self._clock.now())
        session.add(user)
        session.flush()
        return user

    def _issue(self, session: Session, tenant_id: str, user_id: str, name: str) -> tuple[str, str]:
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            tenant_id=tenant_id,
            user_id=user_id,
            name=name,
            key_hash=hash_key(api_key),
            created_at=self._clock.now(),
        )
        session.add(row)
        session.flush()
        return api_key, row.id


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
