"""What every part of the connection service shares: its collaborators, loading a tenant's
connection, and the few facts derived from a connection's system."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import Connector
from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec, daily_call_limit
from ledgerbridge.engine.quota import QuotaLedger
from ledgerbridge.runtime.jobqueue.port import Command, JobBackend
from ledgerbridge.runtime.schedules import Scheduler
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import ADMIN_ROLES, Principal
from ledgerbridge.store.secrets import SecretBox
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
Opener = Callable[[str], AbstractContextManager[Connector]]
"""Opens a connection's connector (metered), for steps that ask the system."""


UNMAPPED_REASONS = (
    "vat_code_unmapped", "unit_unmapped", "payment_term_unmapped", "vat_group_missing",
)  # fmt: skip
"""Skips a code mapping clears (Qonto's VAT groups map VAT rates: ``vat_group_missing``)."""
MAPPING_SETTINGS = ("vat_mapping", "unit_mapping", "payment_terms", "vat_groups")
"""The settings holding those mappings, in the same order."""
RELEASED_BY = {
    **dict(zip(MAPPING_SETTINGS, UNMAPPED_REASONS, strict=True)),
    "country_mapping": "country_unmapped",
}
"""Each setting whose change lets the records skipped for its reason sync (Uniconta's
``country_mapping`` names countries, not codes, so its skips are not counted per code)."""


class Part:
    """State shared by the parts of ``ConnectionService``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        queue: JobBackend,
        scheduler: Scheduler,
        ledger: QuotaLedger,
        clock: Clock,
        public_url: str,
        transport: httpx.BaseTransport | None = None,
        installation: Mapping[str, Any] | None = None,
    ) -> None:
        self.transport = transport
        self._installation = dict(installation or {})
        self._sessions = session_factory
        self._box = box
        self._queue = queue
        self._scheduler = scheduler
        self._ledger = ledger
        self._clock = clock
        self.public_url = public_url.rstrip("/")
        self._known_urls: dict[tuple[str, str], float] = {}
        """Callback URLs (connection id, token hash) ``knows`` found lately: until when."""

    def _load(self, session: Session, principal: Principal, connection_id: str) -> Connection:
        row = session.get(Connection, connection_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"connection {connection_id} not found")
        return row

    def _reapply_unmapped(self, connection_id: str, tenant_id: str) -> None:
        """Records skipped for a code or country that had no mapping are applied again (a
        mapping was saved, through the mappings screen or the settings alike)."""
        self._queue.enqueue(Command(
            "reapply", connection_id=connection_id, tenant_id=tenant_id,
            payload={"reasons": list(RELEASED_BY.values())},
            dedupe_key=f"reapply:{connection_id}", priority=40,
        ))  # fmt: skip

    def _relinked(self, spec: SystemSpec, connection_id: str, tenant_id: str) -> None:
        """A setting that links hub records to the system's changed: the pulls of the streams
        whose records come through those links run now, so what came through a link that no
        longer holds leaves the hub at once (``engine.relinks``), not at the next schedule."""
        for kind, pull in spec.pulls.items():
            if any(spec.streams[stream].linked_by is not None for stream in pull.streams):
                self._queue.enqueue(Command(
                    kind, connection_id=connection_id, tenant_id=tenant_id,
                    dedupe_key=f"{kind}:{connection_id}",
                ))  # fmt: skip

    def settings_of(self, principal: Principal, connection_id: str) -> tuple[str, JSON]:
        """A connection's system and settings, for the screens built on them (no secrets)."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            return row.system, dict(row.settings)

    def _warnings(self, spec: SystemSpec, settings: JSON, timezone: str) -> list[str]:
        """The system's warnings about the settings, as of today in the connection's zone."""
        if spec.status_warnings is None:
            return []
        return spec.status_warnings(settings, self._today(timezone))

    def _today(self, timezone: str) -> date:
        """The connection's local day: a credential's expiry date is a day in its zone."""
        return self._clock.now().astimezone(ZoneInfo(timezone)).date()

    def _shared_credentials(
        self, tenant_id: str, credential_key: str, own_id: str | None = None
    ) -> list[str]:
        """The same user in two connections of a system with one API session per user: the
        two may sign each other out. Worth a warning (on create, and in each one's status as
        long as it lasts), not a refusal; another account's connection is never named."""
        with self._sessions() as session:
            others = session.execute(
                sa.select(Connection.name, Connection.tenant_id).where(
                    Connection.credential_key == credential_key, Connection.id != own_id
                )
            ).all()
        if not others:
            return []
        own = sorted(name for name, tenant in others if tenant == tenant_id)
        which = [f"another connection ({', '.join(own)})"] if own else []
        if len(own) < len(others):
            which.append("another connection of another account")
        return [
            f"these credentials are already used by {' and by '.join(which)}; a dedicated "
            "user per integration avoids token conflicts"
        ]

    def _callback_url(self, connection_id: str, token: str) -> str:
        return f"{self.public_url}/api/v1/inbound/{connection_id}/{token}"

    def installation_lacks(self, system: str) -> list[str]:
        """The settings the system needs from the installation (Tripletex's consumer token)
        when none of them is set, as their environment variables: a set-up form names them
        before anything is typed, as no connection of the system can be saved without."""
        wanted = system_spec(system).installation_secrets.values()
        if any(self._installation.get(setting) for setting in wanted):
            return []
        return [f"LEDGERBRIDGE_{setting.upper()}" for setting in wanted]

    def _watch_root(self) -> Path | None:
        """The installation's ``files_watch_root``: a watched folder must lie under it."""
        root = self._installation.get("files_watch_root")
        return None if root is None else Path(root)

    def _with_installation(self, spec: SystemSpec, secrets_: JSON) -> JSON:
        """A connection's secrets plus the installation's own for its system (never stored
        with the connection; the installation's value wins)."""
        added = {
            name: self._installation[setting]
            for name, setting in spec.installation_secrets.items()
            if self._installation.get(setting)
        }
        return {**secrets_, **added}

    def _meter(self, spec: SystemSpec, settings: JSON) -> Callable[[int], None]:
        """Counts set-up calls against the connection's call budget."""
        limit = daily_call_limit(spec, settings)
        key = spec.credential_key(settings)

        def meter(calls: int) -> None:
            self._ledger.consume(key, limit, spec.quota_timezone, calls)

        return meter


def system_spec(name: str) -> SystemSpec:
    spec = SYSTEMS.get(name)
    if spec is None:
        raise Invalid(
            f"unknown system '{name}'; supported: {', '.join(sorted(SYSTEMS))}", field="system"
        )
    return spec


def is_admin(principal: Principal) -> bool:
    return principal.role in ADMIN_ROLES


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_pull(spec: SystemSpec) -> str:
    """The scheduled read that imports the figures mapped to the app's custom fields."""
    for kind, pull in spec.pulls.items():
        if "period_statistics" in pull.streams:
            return kind
    raise NotFound(f"{spec.title} has no figures to reload")
