"""Creating and changing connections: settings and secrets checked, credentials verified with
the system before they are saved, webhooks and schedules set up."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import AuthenticationFailed, ConnectorError, SetupRefused
from ledgerbridge.connectors.kit.http import Unreachable
from ledgerbridge.connectors.registry import (
    ConnectorHandle,
    SystemSpec,
    conflict_fields,
    daily_call_limit,
)
from ledgerbridge.engine.inbound import pull_cursor
from ledgerbridge.engine.quota import QuotaExhausted
from ledgerbridge.services.connections.base import (
    JSON,
    RELEASED_BY,
    system_spec,
    token_hash,
)
from ledgerbridge.services.connections.settings import (
    check_timezone,
    checked_secrets,
    checked_settings,
    drop_stale_expiry,
    merge,
    refuse_learned,
    refuse_past_expiry,
    refuse_unusable_paths,
)
from ledgerbridge.services.connections.status import Status
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Cursor, Link
from ledgerbridge.store.tables.tenancy import Connection

log = logging.getLogger(__name__)

NOTICES_CRON = "0 7 * * *"
"""Once per local day: the app hears of a token about to expire before it stops."""
PUSH_CRON = "*/5 * * * *"
"""Pushes follow hub changes at once; this catches one whose enqueue was lost in a crash."""
RECONCILE_CRON = "0 6 2 * *"
"""Monthly, once the month has closed (the 2nd at 06:00 local): the reconciliation report of
the month before, for accounting connections."""


def schedules(spec: SystemSpec, settings: JSON) -> dict[str, str]:
    """Job kind → cron of a connection's scheduled jobs (``settings.schedules`` overrides the
    system's defaults)."""
    chosen = settings.get("schedules") or {}
    crons = {kind: str(chosen.get(kind) or pull.cron) for kind, pull in spec.pulls.items()}
    if spec.status_warnings is not None:
        crons["notices"] = NOTICES_CRON
    if spec.pushes:
        crons["push"] = PUSH_CRON
    if spec.side == "accounting":
        crons["reconcile"] = RECONCILE_CRON
    return crons


class Configure(Status):
    def create(
        self,
        principal: Principal,
        *,
        system: str,
        name: str,
        timezone: str | None,
        settings: JSON,
        secrets_: JSON,
    ) -> JSON:
        principal.require_admin("creating a connection")
        spec = system_spec(system)
        if name.strip():
            self._refuse_taken_name(principal.tenant_id, name.strip())
        name = name.strip() or self._free_name(principal.tenant_id, spec.name)
        timezone = timezone or spec.timezone
        check_timezone(timezone)
        refuse_learned(spec, settings)
        settings = checked_settings(spec, settings)
        refuse_past_expiry(spec, settings, {}, self._today(timezone))
        refuse_unusable_paths(spec, settings, {}, self._watch_root())
        checked_secrets(spec, secrets_, partial=False)
        settings, warnings = self._verify(spec, settings, self._with_installation(spec, secrets_))
        self._check_links(principal, spec, settings, {}, self._with_installation(spec, secrets_))
        token = secrets.token_urlsafe(24)
        now = self._clock.now()
        with self._names_kept_apart(principal.tenant_id, name), self._sessions.begin() as session:
            row = Connection(
                tenant_id=principal.tenant_id,
                system=spec.name,
                name=name,
                timezone=timezone,
                settings=settings,
                secrets=self._box.seal({**secrets_, "inbound_token": token}),
                credential_key=spec.credential_key(settings),
                inbound_token_hash=token_hash(token),
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
        warnings.extend(self._other_books(principal.tenant_id, spec, connection_id))
        self._schedule(connection_id, principal.tenant_id, spec, timezone, settings)
        status = self.status(principal, connection_id)
        return {**status, "warnings": [*warnings, *status["warnings"]]}

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
        """Change a connection. ``settings`` is a JSON merge patch of the stored settings
        (nested objects merged by field, ``null`` removes a key)."""
        principal.require_admin("changing a connection")
        name = (name or "").strip() or None
        if name is not None:
            self._refuse_taken_name(principal.tenant_id, name, connection_id)
        if timezone is not None:
            check_timezone(timezone)
        spec, previous, merged, current = self._proposed(
            principal, connection_id, settings, secrets_ or {}
        )
        self._refuse_account_change(connection_id, spec, previous, merged)
        merged, expiry_warnings = drop_stale_expiry(
            previous, merged, settings, secrets_ or {}, current
        )
        credentials_changed = bool(secrets_) or any(
            merged.get(key) != previous.get(key) for key in spec.credential_settings
        )
        verify_warnings: list[str] = []
        if credentials_changed:
            # Checked with the system before anything is saved: bad credentials never replace
            # working ones.
            merged, verify_warnings = self._verify(
                spec, merged, self._with_installation(spec, {**current, **(secrets_ or {})})
            )
        self._check_links(
            principal, spec, merged, previous,
            self._with_installation(spec, {**current, **(secrets_ or {})}),
        )  # fmt: skip
        renamed = self._names_kept_apart(principal.tenant_id, name or "", connection_id)
        with renamed, self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            if name is not None:
                row.name = name
            if timezone is not None:
                row.timezone = timezone
            if settings is not None or credentials_changed:
                row.settings = merged
                row.credential_key = spec.credential_key(row.settings)
                _rescan(session, connection_id, spec, previous, merged)
            if secrets_:
                row.secrets = self._box.seal({**current, **secrets_})
            if active is not None:
                row.active = active
            row.updated_at = self._clock.now()
            state = (row.tenant_id, row.timezone, dict(row.settings), row.active)
            imported = row.import_state == "done"
        tenant_id, tz, merged_settings, is_active = state
        if imported and any(merged.get(k) != previous.get(k) for k in RELEASED_BY):
            self._reapply_unmapped(connection_id, tenant_id)
        if any(merged.get(name) != previous.get(name) for name in spec.linked_records):
            self._relinked(spec, connection_id, tenant_id)
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
        if daily_call_limit(spec, merged_settings) > daily_call_limit(spec, previous):
            # Jobs the spent quota held until its day ends run now, as the error's fix says.
            self._queue.hasten(connection_id, self._ledger.next_day_start(spec.quota_timezone))
        status = self.status(principal, connection_id)
        return {
            **status,
            "warnings": [*expiry_warnings, *verify_warnings, *warnings, *status["warnings"]],
        }

    def _names(self, tenant_id: str, but: str = "") -> list[str]:
        """The names of the tenant's connections, that of connection ``but`` aside."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    sa.select(Connection.name).where(
                        Connection.tenant_id == tenant_id, Connection.id != but
                    )
                )
            )

    def _free_name(self, tenant_id: str, system: str) -> str:
        """The name of a connection made without one: its system's (``uniconta``), else the
        first of ``uniconta (2)``, ``uniconta (3)`` … no connection of the tenant holds."""
        taken = {n.casefold() for n in self._names(tenant_id)}
        number = 1
        candidate = system
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{system} ({number})"
        return candidate

    def _other_books(self, tenant_id: str, spec: SystemSpec, connection_id: str) -> list[str]:
        """A second accounting connection in a tenant is the same business's books: its
        customers are matched with the first one's, and what one brings updates the other.
        Right for one business (Uniconta and its bank in Qonto), wrong for a second company
        (a Norwegian firm beside a Danish one), which belongs in a tenant of its own: said
        on create, before the first import matches anything."""
        if spec.side != "accounting":
            return []
        with self._sessions() as session:
            others = session.execute(
                sa.select(Connection.name, Connection.system).where(
                    Connection.tenant_id == tenant_id, Connection.id != connection_id
                )
            ).all()
        books = sorted(
            f"{name} ({system_spec(system).title})"
            for name, system in others
            if system_spec(system).side == "accounting"
        )
        if not books:
            return []
        return [
            f"this account already has the accounting connection {', '.join(books)}: the "
            f"customers {spec.title} brings are matched with its own (by customer number, "
            "organisation number, e-mail), and a match is updated in both. Keep it so for "
            "one business's books; another company's books belong in an account of their "
            "own (ledgerbridge tenant create), so delete this connection and add it there "
            "before importing"
        ]

    def _refuse_taken_name(self, tenant_id: str, name: str, connection_id: str = "") -> None:
        """A form sent again (the browser's back button, a reload) would add the same
        connection twice, listed twice under one name: a name the tenant's other connection
        holds, in any case of letters, is refused on the name."""
        names = self._names(tenant_id, connection_id)
        taken = next((n for n in names if n.casefold() == name.casefold()), None)
        if taken is not None:
            fix = (
                "choose a name no other connection has"
                if connection_id
                else "to add another, give it a name of its own"
            )
            raise Conflict(
                f"a connection named '{taken}' exists already (see Connections): {fix}",
                field="name",
            )

    @contextmanager
    def _names_kept_apart(
        self, tenant_id: str, name: str, connection_id: str = ""
    ) -> Iterator[None]:
        """Two saves within milliseconds both pass ``_refuse_taken_name``; the database's
        unique index (migration 0021) stops the second, refused as the check refuses it."""
        try:
            yield
        except sa.exc.IntegrityError:
            if name:
                self._refuse_taken_name(tenant_id, name, connection_id)
            raise

    def conflict_rules(self, principal: Principal, connection_id: str) -> JSON:
        """The connection's conflict rules as rows, and what a rule may name (the entities
        its system syncs both ways and their fields)."""
        system, settings = self.settings_of(principal, connection_id)
        rules = settings.get("conflicts") or {}
        return {
            "entities": conflict_fields(system_spec(system).streams),
            "rules": [
                {"entity": entity, "field": name, "rule": rule}
                for entity, per_field in sorted(rules.items())
                for name, rule in sorted(per_field.items())
            ],
        }

    def set_conflict_rules(
        self, principal: Principal, connection_id: str, rules: Sequence[Mapping[str, str]]
    ) -> JSON:
        """Replace the connection's conflict rules by these rows (entity, field or ``*``,
        rule); rules not given are removed. Checked like any settings change."""
        wanted: dict[str, dict[str, str]] = {}
        for row in rules:
            per_field = wanted.setdefault(row["entity"], {})
            if row["field"] in per_field:
                raise Invalid(
                    f"settings.conflicts.{row['entity']}.{row['field']}: two rules for one field",
                    field=f"settings.conflicts.{row['entity']}.{row['field']}",
                )
            per_field[row["field"]] = row["rule"]
        _system, settings = self.settings_of(principal, connection_id)
        current = settings.get("conflicts") or {}
        patch: dict[str, Any] = {}
        for entity in sorted(set(current) | set(wanted)):
            if entity not in wanted:
                patch[entity] = None
                continue
            gone = {name: None for name in current.get(entity, {}) if name not in wanted[entity]}
            patch[entity] = {**gone, **wanted[entity]}
        return self.configure(principal, connection_id, settings={"conflicts": patch})

    def _proposed(
        self, principal: Principal, connection_id: str, settings: JSON | None, secrets_: JSON
    ) -> tuple[SystemSpec, JSON, JSON, JSON]:
        """(spec, stored settings, settings after the merge patch, stored secrets), the patch
        and the new secrets checked against the system's schema."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            previous = dict(row.settings)
            current = self._box.open(row.secrets)
            timezone = row.timezone
        merged = previous
        if settings is not None:
            refuse_learned(spec, settings)
            merged = checked_settings(spec, merge(previous, settings))
            refuse_past_expiry(spec, merged, previous, self._today(timezone))
            refuse_unusable_paths(spec, merged, previous, self._watch_root())
        checked_secrets(spec, secrets_, partial=True)
        return spec, previous, merged, current

    def check_credentials(
        self,
        principal: Principal,
        connection_id: str,
        *,
        secrets_: JSON,
        settings: JSON | None = None,
    ) -> JSON:
        """ "Test" before "Save": the system's set-up checks with new secrets (and settings,
        a merge patch), saving nothing. A refusal is a 422 on the field to fix; an answer
        says what the credentials reached."""
        principal.require_admin("checking credentials (an API call)")
        spec, previous, merged, current = self._proposed(
            principal, connection_id, settings, secrets_
        )
        merged, expiry_warnings = drop_stale_expiry(previous, merged, settings, secrets_, current)
        verified, warnings = self._verify(
            spec, merged, self._with_installation(spec, {**current, **secrets_})
        )
        reached = [
            str(value["name"])
            for key in sorted(spec.settings.learned)
            if isinstance(value := verified.get(key), dict) and value.get("name")
        ]
        description = f"{spec.title} accepted the credentials"
        if reached:
            description += f": {', '.join(reached)}"
        return {"ok": True, "description": description, "warnings": [*expiry_warnings, *warnings]}

    def delete(self, principal: Principal, connection_id: str) -> JSON:
        """Remove a connection: its schedules, links, cursors, runs, sync log, issues and
        routes go with it; the hub's records stay (other connections and the app keep them);
        jobs still queued for it end without doing anything; the system's webhooks to it are
        removed when the system still accepts the credentials."""
        principal.require_admin("deleting a connection")
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            settings, stored, name = dict(row.settings), self._box.open(row.secrets), row.name
        self._scheduler.remove(connection_id)
        warnings: list[str] = []
        if spec.webhooks is not None:
            secrets_ = self._with_installation(spec, stored)
            try:
                spec.webhooks.unsubscribe(
                    settings, secrets_, self._meter(spec, settings), self.transport, self._clock
                )
            except (ConnectorError, SetupRefused, QuotaExhausted) as exc:
                warnings.append(
                    f"the {spec.name} webhooks to this connection could not be removed ({exc}): "
                    "their calls are refused from now on; remove them in the system"
                )
        with self._sessions.begin() as session:
            session.delete(self._load(session, principal, connection_id))
        return {"id": connection_id, "name": name, "warnings": warnings}

    def _refuse_account_change(
        self, connection_id: str, spec: SystemSpec, previous: JSON, merged: JSON
    ) -> None:
        """A connection whose records are linked stays with the account they are linked in:
        the links name that account's records, and the same ids in another account are other
        records (a Yuki relationship code in another domain is another contact)."""
        changed = [k for k in spec.account_settings if merged.get(k) != previous.get(k)]
        if not changed:
            return
        with self._sessions() as session:
            linked = session.scalar(
                sa.select(Link.id).where(Link.connection_id == connection_id).limit(1)
            )
        if linked is not None:
            raise Invalid(
                f"settings.{changed[0]} cannot change once this connection has synced records: "
                f"its links name records of the {spec.title} {changed[0].removesuffix('_id')} "
                "it synced with, and the same codes elsewhere are other records. Create "
                "another connection for the other one",
                field=f"settings.{changed[0]}",
            )

    def _verify(self, spec: SystemSpec, settings: JSON, secrets_: JSON) -> tuple[JSON, list[str]]:
        """The system's own set-up checks, made with the credentials (metered calls). What
        they learn (the user's roles) is checked with the settings again, the same way on
        create and on change."""
        if spec.verify is None:
            return settings, []
        with _refusals(spec):
            verified = spec.verify(settings, secrets_, self._meter(spec, settings), self.transport)
        learned = {**settings, **verified.settings}
        return checked_settings(spec, learned), list(verified.warnings)

    def _check_links(
        self,
        principal: Principal,
        spec: SystemSpec,
        settings: JSON,
        previous: Mapping[str, Any],
        secrets_: JSON,
    ) -> None:
        """A changed setting that links hub records to the system's (``linked_records``)
        names live hub records of the tenant, and records the system has."""
        changed = [n for n in spec.linked_records if settings.get(n) != previous.get(n)]
        if not changed:
            return
        with self._sessions() as session:
            for name in changed:
                entity = spec.linked_records[name]
                ids = sorted(str(key) for key in settings.get(name) or {})
                live = set(
                    session.scalars(
                        sa.select(HubRecord.id).where(
                            HubRecord.tenant_id == principal.tenant_id,
                            HubRecord.entity == entity,
                            HubRecord.id.in_(ids),
                            HubRecord.deleted.is_(False),
                        )
                    )
                )
                unknown = [i for i in ids if i not in live]
                if unknown:
                    raise Invalid(
                        f"settings.{name} links {entity} {', '.join(unknown)}, which the hub "
                        f"does not have (or was deleted): link existing {entity} records",
                        field=f"settings.{name}",
                    )
        if spec.check_links is not None:
            with _refusals(spec):
                spec.check_links(settings, secrets_, self._meter(spec, settings), self.transport)

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

    def _schedule(
        self, connection_id: str, tenant_id: str, spec: SystemSpec, timezone: str, settings: JSON
    ) -> None:
        for kind, cron in schedules(spec, settings).items():
            self._scheduler.set(connection_id, kind, cron, timezone, tenant_id=tenant_id)

    def handle(self, connection_id: str) -> ConnectorHandle:
        """Decrypted settings for the runtime; never returned through the API."""
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None:
                raise NotFound(f"connection {connection_id} not found")
            spec = system_spec(row.system)
            return ConnectorHandle(
                connection_id=row.id,
                tenant_id=row.tenant_id,
                system=spec,
                settings=dict(row.settings),
                secrets=self._with_installation(spec, self._box.open(row.secrets)),
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


@contextmanager
def _refusals(spec: SystemSpec) -> Iterator[None]:
    """A check made with the system: what it refuses is a 422 naming the field to fix."""
    try:
        yield
    except SetupRefused as exc:
        raise Invalid(exc.message, field=exc.field) from exc
    except AuthenticationFailed as exc:
        raise Invalid(str(exc), field="secrets") from exc
    except Unreachable as exc:
        raise Invalid(str(exc), field="settings") from exc
    except ConnectorError as exc:
        raise Invalid(f"could not reach {spec.title}: {exc}", field="settings") from exc


def _rescan(
    session: sa.orm.Session, connection_id: str, spec: SystemSpec, previous: JSON, merged: JSON
) -> None:
    """A changed setting that widens what a stream imports (``rescan_settings``): the next
    pull reads that stream from the start, in the transaction that saves the setting."""
    streams = {
        stream
        for name, widened in spec.rescan_settings.items()
        if merged.get(name) != previous.get(name)
        for stream in widened
    }
    if streams:
        session.execute(
            sa.delete(Cursor).where(
                Cursor.connection_id == connection_id,
                Cursor.name.in_([pull_cursor(stream) for stream in sorted(streams)]),
            )
        )
