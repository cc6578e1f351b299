"""Connections: create, configure, test, import, status, sync log, issues, retries, and the
inbound callback endpoint that accounting systems call."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    AuthenticationFailed,
    Connector,
    ConnectorError,
    SetupRefused,
)
from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec
from ledgerbridge.connectors.uniconta.mapping import COMMON_UNITS, DEFAULT_PAYMENT_TERMS
from ledgerbridge.engine.quota import QuotaExhausted, QuotaLedger
from ledgerbridge.runtime.jobqueue.port import Command, JobBackend
from ledgerbridge.runtime.schedules import Scheduler
from ledgerbridge.services.errors import Invalid, NotFound, ServiceError
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.db import insert_new
from ledgerbridge.store.secrets import SecretBox
from ledgerbridge.store.tables.sync import InboxEvent, Run, SyncIssue, SyncLogEntry
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Opener = Callable[[str], AbstractContextManager[Connector]]
"""Opens a connection's connector (metered), for set-up steps that ask the system."""
DIRECTIONS = ("both", "inbound", "outbound")
VAT_STREAMS = ("products", "invoices")
UNMAPPED_REASONS = ("vat_code_unmapped", "unit_unmapped", "payment_term_unmapped")
DEFAULT_UNITS = dict(COMMON_UNITS)
DEFAULT_TERMS = dict(DEFAULT_PAYMENT_TERMS)


@dataclass(frozen=True)
class ConnectorHandle:
    """What the runtime needs to open a connector for a connection."""

    connection_id: str
    tenant_id: str
    system: SystemSpec
    settings: JSON
    secrets: JSON
    timezone: str
    credential_key: str


class ConnectionService:
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

    # ------------------------------------------------------------- lifecycle

    def create(
        self,
        principal: Principal,
        *,
        system: str,
        name: str,
        timezone: str,
        settings: JSON,
        secrets_: JSON,
    ) -> JSON:
        principal.require_admin("creating a connection")
        spec = _system(system)
        _check_timezone(timezone)
        settings = _check_settings(spec, settings)
        _check_secrets(spec, secrets_)
        settings, warnings = self._verify(spec, settings, self._with_installation(spec, secrets_))
        warnings.extend(self._shared_credentials(spec.credential_key(settings), None))
        token = secrets.token_urlsafe(24)
        now = self._clock.now()
        with self._sessions.begin() as session:
            row = Connection(
                tenant_id=principal.tenant_id,
                system=spec.name,
                name=name.strip() or spec.name,
                timezone=timezone,
                settings=settings,
                secrets=self._box.seal({**secrets_, "inbound_token": token}),
                credential_key=spec.credential_key(settings),
                inbound_token_hash=_hash(token),
                active=True,
                import_state="not_started",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            connection_id = row.id
        stored = self._with_installation(spec, {**secrets_, "inbound_token": token})
        warnings.extend(self._subscribe(connection_id, spec, settings, stored))
        self._schedule(connection_id, principal.tenant_id, spec, timezone, settings)
        status = self.status(principal, connection_id)
        return {**status, "warnings": [*warnings, *status["warnings"]]}

    def _with_installation(self, spec: SystemSpec, secrets_: JSON) -> JSON:
        """A connection's secrets plus the installation's own for its system (never stored
        with the connection; the installation's value wins)."""
        added = {
            name: self._installation[setting]
            for name, setting in spec.installation_secrets.items()
            if self._installation.get(setting)
        }
        return {**secrets_, **added}

    def _verify(self, spec: SystemSpec, settings: JSON, secrets_: JSON) -> tuple[JSON, list[str]]:
        """The system's own set-up checks, made with the credentials (metered calls)."""
        if spec.verify is None:
            return settings, []
        try:
            verified = spec.verify(settings, secrets_, self._meter(spec, settings), self.transport)
        except SetupRefused as exc:
            raise Invalid(exc.message, field=exc.field) from exc
        except AuthenticationFailed as exc:
            raise Invalid(str(exc), field="secrets") from exc
        except ConnectorError as exc:
            raise Invalid(f"could not reach {spec.name}: {exc}", field="settings") from exc
        return {**settings, **verified.settings}, list(verified.warnings)

    def _meter(self, spec: SystemSpec, settings: JSON) -> Callable[[int], None]:
        """Counts set-up calls against the connection's call budget."""
        limit = int(settings.get("daily_call_limit", spec.daily_call_limit))
        key = spec.credential_key(settings)

        def meter(calls: int) -> None:
            self._ledger.consume(key, limit, spec.quota_timezone, calls)

        return meter

    def _subscribe(
        self,
        connection_id: str,
        spec: SystemSpec,
        settings: JSON,
        secrets_: JSON,
        previous: tuple[JSON, JSON] | None = None,
    ) -> list[str]:
        """Set up the system's webhooks (``SystemSpec.webhooks``) to this connection's
        callback URL and seal what they need into it; those of the ``previous`` (settings,
        secrets) are removed first. A failure is a warning: the scheduled pulls still bring
        every change."""
        if spec.webhooks is None:
            return []
        if previous is not None:
            old_settings, old_secrets = previous
            try:
                spec.webhooks.unsubscribe(
                    old_settings, old_secrets, self._meter(spec, old_settings),
                    self.transport, self._clock,
                )  # fmt: skip
            except (ConnectorError, SetupRefused, QuotaExhausted) as exc:
                # Old credentials that no longer work: their subscriptions fail the new
                # secret's check, and the system disables them.
                log.info("the %s webhooks of the previous credentials stay: %s", spec.name, exc)
        url = self._callback_url(connection_id, str(secrets_.get("inbound_token") or ""))
        try:
            added = spec.webhooks.subscribe(
                settings, secrets_, url, self._meter(spec, settings), self.transport, self._clock
            )
        except (ConnectorError, SetupRefused, QuotaExhausted) as exc:
            return [
                f"the {spec.name} webhooks could not be set up ({exc}): changes arrive with "
                "the scheduled pulls only; save the credentials again to retry"
            ]
        self.store_secrets(connection_id, added)
        return []

    def _callback_url(self, connection_id: str, token: str) -> str:
        return f"{self.public_url}/api/v1/inbound/{connection_id}/{token}"

    def _shared_credentials(self, credential_key: str, connection_id: str | None) -> list[str]:
        """The same user in two connections: Uniconta hands out one API session per user, so
        the two may sign each other out. Worth a warning, not a refusal."""
        with self._sessions() as session:
            others = session.scalars(
                sa.select(Connection.name).where(
                    Connection.credential_key == credential_key,
                    Connection.id != (connection_id or ""),
                )
            ).all()
        if not others:
            return []
        return [
            "these credentials are already used by another connection "
            f"({', '.join(others)}); a dedicated user per integration avoids token conflicts"
        ]

    def configure(
        self,
        principal: Principal,
        connection_id: str,
        *,
        name: str | None = None,
        timezone: str | None = None,
        settings: JSON | None = None,
        secrets_: JSON | None = None,
        active: bool | None = None,
    ) -> JSON:
        principal.require_admin("changing a connection")
        if timezone is not None:
            _check_timezone(timezone)
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = _system(row.system)
            previous = dict(row.settings)
            merged = _check_settings(spec, {**previous, **(settings or {})})
            current = self._box.open(row.secrets)
        credentials_changed = bool(secrets_) or any(
            key in (settings or {}) for key in (*spec.required_settings, "base_url")
        )
        if credentials_changed:
            # Checked with the system before anything is saved: bad credentials never replace
            # working ones.
            merged, _ = self._verify(
                spec, merged, self._with_installation(spec, {**current, **(secrets_ or {})})
            )
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            if name is not None:
                row.name = name.strip() or row.name
            if timezone is not None:
                row.timezone = timezone
            if settings is not None or credentials_changed:
                row.settings = merged
                row.credential_key = spec.credential_key(row.settings)
            if secrets_:
                row.secrets = self._box.seal({**current, **secrets_})
            if active is not None:
                row.active = active
            row.updated_at = self._clock.now()
            state = (row.tenant_id, spec, row.timezone, dict(row.settings), row.active)
        tenant_id, spec, tz, merged_settings, is_active = state
        warnings: list[str] = []
        if credentials_changed:
            warnings = self._subscribe(
                connection_id, spec, merged_settings,
                self._with_installation(spec, {**current, **(secrets_ or {})}),
                previous=(previous, self._with_installation(spec, current)),
            )  # fmt: skip
        if is_active:
            self._schedule(connection_id, tenant_id, spec, tz, merged_settings)
        else:
            self._scheduler.remove(connection_id)
        status = self.status(principal, connection_id)
        return {**status, "warnings": [*warnings, *status["warnings"]]}

    def _schedule(
        self, connection_id: str, tenant_id: str, spec: SystemSpec, timezone: str, settings: JSON
    ) -> None:
        chosen = settings.get("schedules", {})
        for kind, pull in spec.pulls.items():
            cron = str(chosen.get(kind) or pull.cron)
            self._scheduler.set(connection_id, kind, cron, timezone, tenant_id=tenant_id)
        if spec.status_warnings is not None:
            # Once per local day: the app hears of a token about to expire before it stops.
            self._scheduler.set(
                connection_id, "notices", "0 7 * * *", timezone, tenant_id=tenant_id
            )
        # Pushes follow hub changes at once; this catches one whose enqueue was lost in a crash.
        self._scheduler.set(connection_id, "push", "*/5 * * * *", timezone, tenant_id=tenant_id)

    def handle(self, connection_id: str) -> ConnectorHandle:
        """Decrypted settings for the runtime; never returned through the API."""
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None:
                raise NotFound(f"connection {connection_id} not found")
            return ConnectorHandle(
                connection_id=row.id,
                tenant_id=row.tenant_id,
                system=_system(row.system),
                settings=dict(row.settings),
                secrets=self._with_installation(_system(row.system), self._box.open(row.secrets)),
                timezone=row.timezone,
                credential_key=row.credential_key,
            )

    def store_secrets(self, connection_id: str, changed: JSON) -> None:
        """Seal secrets a connector changed while it ran (a rotated OAuth refresh token) into
        the connection at once, in their own transaction: a run that fails later keeps them."""
        with self._sessions.begin() as session:
            row = session.get(Connection, connection_id, with_for_update=True)
            if row is not None:
                row.secrets = self._box.seal({**self._box.open(row.secrets), **changed})

    def test(self, principal: Principal, connection_id: str, opener: Any) -> JSON:
        """Call the system once with the stored credentials; says what it reached or why not."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
        try:
            with opener(connection_id) as connector:
                description = connector.test()
        except QuotaExhausted as exc:
            return {"ok": False, "error": str(exc)}
        except ConnectorError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "description": description}

    def start_import(
        self, principal: Principal, connection_id: str, opener: Opener | None = None
    ) -> JSON:
        """Queue the initial import. Codes that are not mapped yet do not stop it: the
        records using them are skipped (not lost) and sync once the codes are mapped; the
        answer says which."""
        principal.require_admin("starting an import")
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            if not row.active:
                raise Invalid("the connection is paused; activate it first", field="active")
            if row.import_state != "done":
                row.import_state = "running"
            tenant_id = row.tenant_id
            settings = dict(row.settings)
        warnings = self._unmapped_warnings(connection_id, settings, opener)
        job_id = self._queue.enqueue(Command(
            "import", connection_id=connection_id, tenant_id=tenant_id,
            dedupe_key=f"import:{connection_id}", priority=50,
        ))  # fmt: skip
        return {"job_id": job_id, "status": "queued", "warnings": warnings}

    def _unmapped_warnings(
        self, connection_id: str, settings: JSON, opener: Opener | None
    ) -> list[str]:
        entities = settings.get("entities") or {}
        needs_vat = any((entities.get(s) or {}).get("enabled") for s in VAT_STREAMS)
        if not needs_vat or opener is None:
            return []
        with opener(connection_id) as connector:
            codes = [c["code"] for c in connector.code_lists().get("vat", [])]
        unmapped = [c for c in codes if c not in (settings.get("vat_mapping") or {})]
        if not unmapped:
            return []
        return [
            f"VAT codes {', '.join(unmapped)} are not mapped: products and invoices using them "
            "are skipped (not lost) and sync by themselves once the codes are mapped"
        ]

    def mappings(
        self, principal: Principal, connection_id: str, opener: Opener | None = None
    ) -> JSON:
        """The code mappings (VAT codes, units, payment terms), with the system's own VAT
        codes and which of them are unmapped when ``opener`` lets us ask the system."""
        _, settings = self.settings_of(principal, connection_id)
        view: JSON = {
            "vat": dict(settings.get("vat_mapping") or {}),
            "units": {**DEFAULT_UNITS, **(settings.get("unit_mapping") or {})},
            "payment_terms": {**DEFAULT_TERMS, **(settings.get("payment_terms") or {})},
        }
        if opener is not None:
            with opener(connection_id) as connector:
                remote = connector.code_lists().get("vat", [])
            view["remote_vat_codes"] = remote
            view["unmapped_vat_codes"] = [c["code"] for c in remote if c["code"] not in view["vat"]]
        return view

    def settings_of(self, principal: Principal, connection_id: str) -> tuple[str, JSON]:
        """A connection's system and settings, for the screens built on them (no secrets)."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            return row.system, dict(row.settings)

    def remote_list(
        self, principal: Principal, connection_id: str, name: str, opener: Opener
    ) -> list[JSON]:
        """One of the system's own lists (``Connector.code_lists``), read with the saved
        credentials: what the app shows a user to pick from."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
        with opener(connection_id) as connector:
            lists = connector.code_lists()
        if name not in lists:
            raise NotFound(f"no list '{name}'; this system has: {', '.join(sorted(lists))}")
        return lists[name]

    def set_mappings(
        self,
        principal: Principal,
        connection_id: str,
        *,
        vat: dict[str, str] | None,
        units: dict[str, str] | None,
        payment_terms: dict[str, int] | None,
    ) -> JSON:
        """Save mappings; records skipped for a missing mapping then sync by themselves."""
        principal.require_admin("changing mappings")
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            settings = dict(row.settings)
            for key, given in (("vat_mapping", vat), ("unit_mapping", units),
                               ("payment_terms", payment_terms)):  # fmt: skip
                if given is not None:
                    settings[key] = {**(settings.get(key) or {}), **given}
            row.settings = settings
            row.updated_at = self._clock.now()
            tenant_id, ready = row.tenant_id, row.import_state == "done"
        if ready:
            self._queue.enqueue(Command(
                "reapply", connection_id=connection_id, tenant_id=tenant_id,
                payload={"reasons": list(UNMAPPED_REASONS)},
                dedupe_key=f"reapply:{connection_id}", priority=40,
            ))  # fmt: skip
        return self.mappings(principal, connection_id)

    def request(self, principal: Principal, connection_id: str, kind: str) -> JSON:
        """Queue a pull, push or retry now instead of waiting for its schedule."""
        with self._sessions() as session:
            spec = _system(self._load(session, principal, connection_id).system)
        if kind not in ("push", "retry", *spec.pulls):
            raise Invalid(f"unknown job kind {kind}", field="kind")
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            tenant_id = row.tenant_id
        job_id = self._queue.enqueue(Command(
            kind, connection_id=connection_id, tenant_id=tenant_id,
            dedupe_key=f"{kind}:{connection_id}",
        ))  # fmt: skip
        return {"job_id": job_id, "status": "queued"}

    # ------------------------------------------------------------- reading

    def list_connections(self, principal: Principal) -> list[JSON]:
        with self._sessions() as session:
            ids = session.scalars(
                sa.select(Connection.id)
                .where(Connection.tenant_id == principal.tenant_id)
                .order_by(Connection.created_at)
            ).all()
        return [self.status(principal, cid) for cid in ids]

    def status(self, principal: Principal, connection_id: str) -> JSON:
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = _system(row.system)
            token = self._box.open(row.secrets).get("inbound_token", "")
            runs = session.scalars(
                sa.select(Run)
                .where(Run.connection_id == row.id)
                .order_by(Run.started_at.desc())
                .limit(5)
            ).all()
            issues = session.execute(
                sa.select(SyncIssue.reason_code, sa.func.count())
                .where(SyncIssue.connection_id == row.id)
                .group_by(SyncIssue.reason_code)
            ).all()
            pending = session.scalar(
                sa.select(sa.func.count())
                .select_from(InboxEvent)
                .where(InboxEvent.connection_id == row.id, InboxEvent.processed_at.is_(None))
            )
            return {
                "id": row.id,
                "system": row.system,
                "name": row.name,
                "timezone": row.timezone,
                "active": row.active,
                "settings": row.settings,
                "import_state": row.import_state,
                "last_success_at": _iso(row.last_success_at),
                "last_error_at": _iso(row.last_error_at),
                "last_error": row.last_error,
                "calls_used_today": self._ledger.used(row.credential_key, spec.quota_timezone),
                "daily_call_limit": int(
                    row.settings.get("daily_call_limit", spec.daily_call_limit)
                ),
                "quota_day": self._ledger.day(spec.quota_timezone),
                "change_url": self._callback_url(row.id, token),
                "open_issues": {reason: count for reason, count in issues},
                "pending_callbacks": int(pending or 0),
                "recent_runs": [_run_view(r) for r in runs],
                "import_progress": self._import_progress(session, row.id),
                "warnings": self._warnings(spec, row.settings, row.timezone),
            }

    def _warnings(self, spec: SystemSpec, settings: JSON, timezone: str) -> list[str]:
        """The system's warnings about the settings, as of today in the connection's zone."""
        if spec.status_warnings is None:
            return []
        today = self._clock.now().astimezone(ZoneInfo(timezone)).date()
        return spec.status_warnings(settings, today)

    def warnings(self, connection_id: str) -> tuple[str, list[str]]:
        """(tenant id, current warnings) of a connection, for the daily notice job."""
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None:
                raise NotFound(f"connection {connection_id} not found")
            return row.tenant_id, self._warnings(_system(row.system), row.settings, row.timezone)

    def _import_progress(self, session: Session, connection_id: str) -> JSON | None:
        """Counts per stream, calls used and, when the totals are known, an ETA."""
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == connection_id, Run.kind == "import")
            .order_by(Run.started_at.desc())
            .limit(1)
        ).first()
        if run is None:
            return None
        per_stream: dict[str, dict[str, int]] = {}
        for key, count in run.counts.items():
            stream, _, outcome = key.partition(".")
            per_stream.setdefault(stream, {})[outcome] = int(count)
        totals = run.totals or {}
        done = sum(sum(v.values()) for v in per_stream.values())
        total = sum(totals.values()) if totals else None
        end = run.finished_at or self._clock.now()
        elapsed = (end - run.started_at).total_seconds()
        eta = None
        if run.status == "running" and total and done:
            eta = round(elapsed / done * max(total - done, 0), 1)
        return {
            "status": run.status,
            "streams": {
                s: {**per_stream.get(s, {}), "total": totals.get(s)}
                for s in sorted(set(per_stream) | set(totals))
            },
            "records_done": done,
            "records_total": total,
            "calls": run.calls,
            "elapsed_seconds": round(elapsed, 1),
            "eta_seconds": eta,
            "message": run.message,
        }

    def sync_log(
        self,
        principal: Principal,
        connection_id: str,
        *,
        outcome: str | None,
        reason: str | None,
        stream: str | None,
        before: int | None,
        limit: int,
    ) -> list[JSON]:
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            query = sa.select(SyncLogEntry).where(SyncLogEntry.connection_id == connection_id)
            if outcome:
                query = query.where(SyncLogEntry.outcome == outcome)
            if reason:
                query = query.where(SyncLogEntry.reason_code == reason)
            if stream:
                query = query.where(SyncLogEntry.stream == stream)
            if before:
                query = query.where(SyncLogEntry.id < before)
            rows = session.scalars(query.order_by(SyncLogEntry.id.desc()).limit(limit))
            return [
                {
                    "id": r.id,
                    "at": r.at.isoformat(),
                    "run_id": r.run_id,
                    "stream": r.stream,
                    "direction": r.direction,
                    "record_id": r.record_id,
                    "remote_id": r.remote_id,
                    "outcome": r.outcome,
                    "reason": r.reason_code,
                    "message": r.message,
                }
                for r in rows
            ]

    def issues(self, principal: Principal, connection_id: str, reason: str | None) -> list[JSON]:
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            query = sa.select(SyncIssue).where(SyncIssue.connection_id == connection_id)
            if reason:
                query = query.where(SyncIssue.reason_code == reason)
            return [
                {
                    "stream": i.stream,
                    "direction": i.direction,
                    "key": i.key,
                    "outcome": i.outcome,
                    "reason": i.reason_code,
                    "message": i.message,
                    "first_seen_at": i.first_seen_at.isoformat(),
                    "last_seen_at": i.last_seen_at.isoformat(),
                    "attempts": i.attempts,
                }
                for i in session.scalars(query.order_by(SyncIssue.first_seen_at))
            ]

    # ------------------------------------------------------------- inbound callbacks

    def receive(
        self,
        connection_id: str,
        token: str,
        query: Mapping[str, str],
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Store an inbound callback, then queue its processing. False if the token is wrong
        (the caller answers 404, revealing nothing). A system that signs its callbacks has
        them checked first (``CallbackRefused``: nothing stored), and an event it sends
        again under the same id is stored only once."""
        with self._sessions.begin() as session:
            row = session.get(Connection, connection_id)
            if row is None or not hmac.compare_digest(row.inbound_token_hash, _hash(token)):
                return False
            check = _system(row.system).callback_check
            event_key = None
            if check is not None:
                event_key = check(
                    self._box.open(row.secrets), headers or {}, body, self._clock.now()
                )
            # One atomic insert: a duplicate delivery, even one racing this one, stores nothing.
            inserted = insert_new(
                session,
                InboxEvent,
                {
                    "connection_id": connection_id,
                    "event_key": event_key or secrets.token_hex(16),
                    "payload": {"query": dict(query), "body": body.decode("utf-8", "replace")},
                    "received_at": self._clock.now(),
                },
                ["connection_id", "event_key"],
            )
            if not inserted:
                return True
            # In the same transaction: the event and the job that processes it commit together.
            self._queue.enqueue(
                Command(
                    "inbox",
                    connection_id=connection_id,
                    tenant_id=row.tenant_id,
                    dedupe_key=f"inbox:{connection_id}",
                    priority=20,
                ),
                session=session,
            )
        return True

    def _load(self, session: Session, principal: Principal, connection_id: str) -> Connection:
        row = session.get(Connection, connection_id)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"connection {connection_id} not found")
        return row


def _system(name: str) -> SystemSpec:
    spec = SYSTEMS.get(name)
    if spec is None:
        raise Invalid(
            f"unknown system '{name}'; supported: {', '.join(sorted(SYSTEMS))}", field="system"
        )
    return spec


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone '{timezone}'", field="timezone") from None


def _check_settings(spec: SystemSpec, settings: JSON) -> JSON:
    if spec.check_settings is not None:
        try:
            spec.check_settings(settings)
        except SetupRefused as exc:
            raise Invalid(exc.message, field=exc.field) from exc
    for key in spec.required_settings:
        if settings.get(key) in (None, ""):
            raise Invalid(f"settings.{key} is required for {spec.name}", field=f"settings.{key}")
    entities = settings.get("entities", {})
    if not isinstance(entities, dict):
        raise Invalid("settings.entities must be an object", field="settings.entities")
    for entity, choice in entities.items():
        if not isinstance(choice, dict):
            raise Invalid(
                f"settings.entities.{entity} must be an object", field="settings.entities"
            )
        direction = choice.get("direction", "both")
        if direction not in DIRECTIONS:
            raise Invalid(
                f"settings.entities.{entity}.direction must be one of {', '.join(DIRECTIONS)}",
                field=f"settings.entities.{entity}.direction",
            )
    if spec.name == "uniconta":
        try:
            settings = {**settings, "company_id": int(settings["company_id"])}
        except (TypeError, ValueError):
            raise Invalid(
                "settings.company_id must be a number", field="settings.company_id"
            ) from None
    return settings


def _check_secrets(spec: SystemSpec, given: JSON) -> None:
    for key in spec.required_secrets:
        if not given.get(key):
            raise Invalid(f"secrets.{key} is required for {spec.name}", field=f"secrets.{key}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _run_view(run: Run) -> JSON:
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "counts": run.counts,
        "calls": run.calls,
        "message": run.message,
        "started_at": run.started_at.isoformat(),
        "finished_at": _iso(run.finished_at),
    }


__all__ = ["ConnectionService", "ConnectorHandle", "ServiceError"]
