"""Hub records for the app: create, read, replace, patch, delete, and the change feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.hub import API_ORIGIN, HubStore
from ledgerbridge.model.references import references_of
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.hub import HubRecord, business_key_is, holds_word
from ledgerbridge.store.tables.sync import Link, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]

UNIQUE_FIELDS: dict[str, tuple[str, ...]] = {
    "party": ("debtor_number", "creditor_number"),
    "product": ("sku",),
    "invoice": ("number",),
    "custom_field": ("key",),
}
"""Business keys accounting systems enforce: two hub records must not claim the same one."""

SOURCE_KEYS: dict[str, tuple[str, ...]] = {"payout": ("provider", "source_id")}
"""Fields that together name a record at its source: an acquirer's payout written twice is
one payout (a second record would be posted a second time)."""

IMMUTABLE: dict[str, str] = {
    "journal_posting": (
        "journal_posting_immutable: a posting is made by PayMatch from an acquirer's payouts "
        "(a split sale's payments by its commerce route), its lines are in the accounting "
        "system's cash journal already, and it is what a person re-enters deleted lines from: "
        "it is never made, changed nor deleted here; correct the journal there"
    ),
}
"""Entities the app may read but not make nor change (the hub's flows make them): why, by
entity. Made through the API, a posting would be pushed into the cash journal beside
PayMatch's own."""


@dataclass(frozen=True)
class RecordView:
    id: str
    entity: str
    version: int
    origin: str
    deleted: bool
    created_at: datetime
    updated_at: datetime
    data: JSON
    sync: list[JSON]


class RecordService:
    def __init__(self, session_factory: sessionmaker[Session], hub: HubStore, clock: Clock) -> None:
        self._sessions = session_factory
        self._hub = hub
        self._clock = clock

    def create(self, principal: Principal, entity: str, data: JSON) -> RecordView:
        self._check_mutable(entity)
        clean = self._validate(entity, data)
        with self._sessions.begin() as session:
            self._check_references(session, principal.tenant_id, entity, clean)
            self._check_unique(session, principal.tenant_id, entity, clean, None)
            record = self._hub.create(
                session, principal.tenant_id, entity, clean, API_ORIGIN, actor=principal.actor
            )
            # Its id was made just now: no link or issue can name it yet (two reads saved).
            return self._view(session, record, sync=[])

    def get(self, principal: Principal, entity: str, record_id: str) -> RecordView:
        with self._sessions() as session:
            return self._view(session, self._load(session, principal, entity, record_id))

    def list_page(
        self,
        principal: Principal,
        entity: str,
        *,
        limit: int,
        after: str | None,
        where: dict[str, str] | None = None,
        search: str | None = None,
    ) -> list[RecordView]:
        """A page of live records in id order; ``where`` keeps those whose fields hold
        exactly these values (a stock level's ``product_id`` and ``warehouse``), ``search``
        those with the words in any field (a name, a number, an e-mail), any case."""
        with self._sessions() as session:
            query = (
                sa.select(HubRecord)
                .where(
                    HubRecord.tenant_id == principal.tenant_id,
                    HubRecord.entity == entity,
                    HubRecord.deleted.is_(False),
                )
                .order_by(HubRecord.id)
                .limit(limit)
            )
            if after:
                query = query.where(HubRecord.id > after)
            for field, value in (where or {}).items():
                query = query.where(HubRecord.data[field].as_string() == value)
            for word in (search or "").split():
                query = query.where(holds_word(word))
            records = list(session.scalars(query))
            sync = self._sync_state(session, [r.id for r in records])
            return [self._view(session, r, sync.get(r.id, [])) for r in records]

    def find(self, principal: Principal, record_id: str) -> RecordView:
        """A record by its id alone, whatever its entity (a link from an issue or the sync
        log names only the id)."""
        with self._sessions() as session:
            record = session.get(HubRecord, record_id)
            if record is None or record.tenant_id != principal.tenant_id or record.deleted:
                raise NotFound(f"record {record_id} not found")
            return self._view(session, record)

    def replace(
        self,
        principal: Principal,
        entity: str,
        record_id: str,
        data: JSON,
        *,
        if_version: int | None = None,
    ) -> RecordView:
        with self._sessions.begin() as session:
            record = self._load(session, principal, entity, record_id)
            self._check_mutable(entity)
            clean = self._validate(entity, data)
            if if_version is not None and record.version != if_version:
                raise Conflict(
                    f"record {record_id} is at version {record.version}, not {if_version}",
                    field="version",
                )
            self._check_references(session, principal.tenant_id, entity, clean)
            self._check_unique(session, principal.tenant_id, entity, clean, record_id)
            self._hub.update(session, record, clean, API_ORIGIN, actor=principal.actor)
            return self._view(session, record)

    def patch(self, principal: Principal, entity: str, record_id: str, changes: JSON) -> RecordView:
        with self._sessions() as session:
            record = self._load(session, principal, entity, record_id)
            self._check_mutable(entity)
            current, version = dict(record.data), record.version
        current.update(changes)
        return self.replace(principal, entity, record_id, current, if_version=version)

    def delete(self, principal: Principal, entity: str, record_id: str) -> None:
        with self._sessions.begin() as session:
            record = self._load(session, principal, entity, record_id)
            self._check_mutable(entity)
            self._hub.delete(session, record, API_ORIGIN, actor=principal.actor)

    def changes(self, principal: Principal, after: int, limit: int) -> tuple[list[JSON], int]:
        """A page of the change feed. Apps know a change's feed position as its ``seq``: the
        cursor they have always used, now numbered in commit order."""
        with self._sessions() as session:
            rows = self._hub.changes(session, principal.tenant_id, after, limit)
        items = [
            {
                "seq": c.position,
                "entity": c.entity,
                "record_id": c.record_id,
                "operation": c.operation,
                "version": c.version,
                "origin": c.origin,
                "at": c.at.isoformat(),
            }
            for c in rows
        ]
        return items, (rows[-1].position if rows else after)

    # ------------------------------------------------------------------

    def _validate(self, entity: str, data: JSON) -> JSON:
        try:
            return validate(entity, data)
        except ValidationError:
            raise
        except (TypeError, ValueError) as exc:
            raise Invalid(str(exc)) from exc

    @staticmethod
    def _check_mutable(entity: str) -> None:
        """Refused before the body is read (whatever it holds) and, for a record, after it is
        found, so that a wrong id is still a 404."""
        reason = IMMUTABLE.get(entity)
        if reason is not None:
            raise Conflict(reason)

    def _load(
        self, session: Session, principal: Principal, entity: str, record_id: str
    ) -> HubRecord:
        record = self._hub.get(session, principal.tenant_id, entity, record_id)
        if record is None or record.deleted:
            raise NotFound(f"{entity.replace('_', ' ')} {record_id} not found")
        return record

    def _check_references(self, session: Session, tenant_id: str, entity: str, data: JSON) -> None:
        """Each reference the model declares must name a live record of the same tenant."""
        for ref in references_of(entity):
            value = data.get(ref.field)
            if value is None:
                continue
            parent = self._hub.get(session, tenant_id, ref.target, str(value))
            if parent is None or parent.deleted:
                target = ref.target.replace("_", " ")
                raise Invalid(f"{ref.field}: no {target} {value}", field=ref.field)

    def _check_unique(
        self, session: Session, tenant_id: str, entity: str, data: JSON, record_id: str | None
    ) -> None:
        for field in UNIQUE_FIELDS.get(entity, ()):
            value = data.get(field)
            if value is None:
                continue
            dialect = session.get_bind().dialect.name
            query = sa.select(HubRecord.id).where(
                HubRecord.tenant_id == tenant_id,
                business_key_is(dialect, entity, field, str(value)),
                HubRecord.deleted.is_(False),
            )
            if record_id is not None:
                query = query.where(HubRecord.id != record_id)
            other = session.scalar(query.limit(1))
            if other is not None:
                raise Conflict(f"{field} {value} is already used by {other}", field=field)
        fields = SOURCE_KEYS.get(entity, ())
        if fields and all(data.get(f) is not None for f in fields):
            query = sa.select(HubRecord.id).where(
                HubRecord.tenant_id == tenant_id,
                HubRecord.entity == entity,
                HubRecord.deleted.is_(False),
                *(HubRecord.data[f].as_string() == str(data[f]) for f in fields),
            )
            if record_id is not None:
                query = query.where(HubRecord.id != record_id)
            other = session.scalar(query.limit(1))
            if other is not None:
                named = " ".join(f"{f} {data[f]}" for f in fields)
                raise Conflict(
                    f"{entity} with {named} is record {other} already: change that one "
                    f"(PUT or PATCH of {other}) instead of writing it again",
                    field=fields[-1],
                )

    def sync_states(self, principal: Principal, record_ids: list[str]) -> dict[str, list[JSON]]:
        """Where each of the tenant's records is linked (with the link into the system's own
        app) or stuck: for pages that list records another service found."""
        with self._sessions() as session:
            mine = (
                list(
                    session.scalars(
                        sa.select(HubRecord.id).where(
                            HubRecord.tenant_id == principal.tenant_id, HubRecord.id.in_(record_ids)
                        )
                    )
                )
                if record_ids
                else []
            )
            return self._sync_state(session, mine)

    def _sync_state(self, session: Session, record_ids: list[str]) -> dict[str, list[JSON]]:
        if not record_ids:
            return {}
        state: dict[str, list[JSON]] = {}
        links = session.execute(
            sa.select(
                Link.record_id,
                Link.connection_id,
                Link.stream,
                Link.remote_id,
                Connection.system,
                Connection.settings,
            )
            .join(Connection, Connection.id == Link.connection_id)
            .where(Link.record_id.in_(record_ids))
        )
        linked: dict[tuple[str, str, str], str] = {}
        for record_id, connection_id, stream, remote_id, system, settings in links:
            linked[(connection_id, stream, remote_id)] = record_id
            entry: JSON = {
                "connection_id": connection_id,
                "system": system,
                "stream": stream,
                "remote_id": remote_id,
            }
            spec = SYSTEMS.get(system)
            if spec is not None and spec.record_url is not None:
                # The navigation button: the record's page in the system's own app.
                entry["url"] = spec.record_url(settings or {}, stream, remote_id)
            state.setdefault(record_id, []).append(entry)
        # An outbound issue names the hub record; an inbound one the remote record, so it
        # belongs to the hub record linked to that (a record changed there that no longer
        # syncs).
        issues = list(
            session.scalars(
                sa.select(SyncIssue).where(
                    SyncIssue.key.in_(record_ids), SyncIssue.direction == "outbound"
                )
            )
        )
        if linked:
            issues += [
                i
                for i in session.scalars(
                    sa.select(SyncIssue).where(
                        SyncIssue.direction == "inbound",
                        SyncIssue.connection_id.in_({c for c, _s, _r in linked}),
                        SyncIssue.key.in_({r for _c, _s, r in linked}),
                    )
                )
                if (i.connection_id, i.stream, i.key) in linked
            ]
        systems: dict[str, str] = {
            connection_id: system
            for connection_id, system in session.execute(
                sa.select(Connection.id, Connection.system).where(
                    Connection.id.in_({i.connection_id for i in issues})
                )
            )
        }
        for issue in issues:
            owner = (
                issue.key
                if issue.direction == "outbound"
                else linked[(issue.connection_id, issue.stream, issue.key)]
            )
            state.setdefault(owner, []).append(
                {
                    "connection_id": issue.connection_id,
                    "system": systems.get(issue.connection_id),
                    "stream": issue.stream,
                    "issue": {"reason": issue.reason_code, "message": issue.message},
                }
            )
        return state

    def _view(
        self, session: Session, record: HubRecord, sync: list[JSON] | None = None
    ) -> RecordView:
        if sync is None:
            sync = self._sync_state(session, [record.id]).get(record.id, [])
        return RecordView(
            id=record.id,
            entity=record.entity,
            version=record.version,
            origin=record.origin,
            deleted=record.deleted,
            created_at=record.created_at,
            updated_at=record.updated_at,
            data=record.data,
            sync=sync,
        )
