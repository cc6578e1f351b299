"""The history of one hub record, for an accountant who wants to check a sync: each version
with what changed field by field and who changed it, and each write to (or read from) each
connected system with its run, outcome, remote id and reason.

Nothing here is kept for the history alone except what a change row carries (its actor, run
and diff, written with the change): versions come from the change feed, writes and skips from
the sync log, multi-step creates from their write intents, a flow's source from the flow's log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.connectors.base import step_label
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.hub import API_ORIGIN
from ledgerbridge.engine.routing import FLOW_PREFIX
from ledgerbridge.services.errors import NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.sync import Run, SyncLogEntry, WriteIntent
from ledgerbridge.store.tables.tenancy import ApiKey, Connection, User

JSON = dict[str, Any]
CONNECTION_PREFIX = "connection:"
LIMIT = 500
"""The most recent versions and log rows shown; a record's creation is shown too."""


@dataclass(frozen=True)
class RecordHistory:
    record_id: str
    entity: str
    version: int
    deleted: bool
    versions: list[JSON]
    """Oldest first: version, operation, at, by (who), changes (field, before, after)."""
    writes: list[JSON]
    """Oldest first: each sync-log row about the record (written, read, skipped, failed)."""
    creates: list[JSON]
    """Each create sent to a system as journaled steps, with the state of each step (by
    name: the order of the steps is the connector's plan, e.g. order, lines, post, read) and
    what each step does in the system's users' words (``step_labels``, by name)."""


class HistoryService:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def history(self, principal: Principal, entity: str | None, record_id: str) -> RecordHistory:
        """The record's history; ``entity`` None finds the record whatever its entity. A
        deleted record keeps its history."""
        with self._sessions() as session:
            record = session.get(HubRecord, record_id)
            if (
                record is None
                or record.tenant_id != principal.tenant_id
                or (entity is not None and record.entity != entity)
            ):
                name = (entity or "record").replace("_", " ")
                raise NotFound(f"{name} {record_id} not found")
            connections = {
                c.id: c
                for c in session.scalars(
                    sa.select(Connection).where(Connection.tenant_id == principal.tenant_id)
                )
            }
            changes = list(
                session.scalars(
                    sa.select(Change)
                    .where(Change.record_id == record_id, Change.tenant_id == record.tenant_id)
                    .order_by(Change.version.desc(), Change.seq.desc())
                    .limit(LIMIT)
                )
            )[::-1]
            if changes and changes[0].operation != "created":
                # More versions than shown: the creation still opens the history.
                changes[:0] = session.scalars(
                    sa.select(Change).where(
                        Change.record_id == record_id,
                        Change.tenant_id == record.tenant_id,
                        Change.operation == "created",
                    )
                )
            actors = _actors(session, principal.tenant_id, changes)
            run_ids = {c.run_id for c in changes if c.run_id}
            runs_on = (
                dict(
                    session.execute(
                        sa.select(Run.id, Run.connection_id).where(
                            Run.id.in_(run_ids), Run.connection_id.in_(list(connections))
                        )
                    ).all()
                )
                if run_ids
                else {}
            )
            versions = [_version(c, actors, connections, runs_on) for c in changes]
            writes = self._writes(session, record_id, changes, connections)
            creates = [
                {
                    "connection_id": i.connection_id,
                    "connection": connections[i.connection_id].name,
                    "stream": i.stream,
                    "status": i.status,
                    "remote_id": i.remote_id,
                    "error": i.error,
                    "steps": {
                        name: (step or {}).get("state") for name, step in (i.steps or {}).items()
                    },
                    "step_labels": _step_labels(
                        connections[i.connection_id].system, i.stream, list(i.steps or {})
                    ),
                    "created_at": i.created_at,
                    "updated_at": i.updated_at,
                }
                for i in session.scalars(
                    sa.select(WriteIntent)
                    .where(
                        WriteIntent.connection_id.in_(list(connections)),
                        WriteIntent.record_id == record_id,
                    )
                    .order_by(WriteIntent.created_at)
                )
            ]
            return RecordHistory(
                record_id=record.id,
                entity=record.entity,
                version=record.version,
                deleted=record.deleted,
                versions=versions,
                writes=writes,
                creates=creates,
            )

    def _writes(
        self,
        session: Session,
        record_id: str,
        changes: list[Change],
        connections: dict[str, Connection],
    ) -> list[JSON]:
        """The sync log about the record: its own rows, and the rows of the flow runs that
        derived it (an order's row names the invoice it became)."""
        flow_runs = [c.run_id for c in changes if c.origin.startswith(FLOW_PREFIX) and c.run_id]
        about = SyncLogEntry.record_id == record_id
        if flow_runs:
            about = sa.or_(
                about,
                sa.and_(
                    SyncLogEntry.run_id.in_(flow_runs),
                    SyncLogEntry.direction == "flow",
                    SyncLogEntry.remote_id == record_id,
                ),
            )
        rows = session.execute(
            sa.select(SyncLogEntry, Run.kind)
            .outerjoin(Run, Run.id == SyncLogEntry.run_id)
            .where(SyncLogEntry.connection_id.in_(list(connections)), about)
            .order_by(SyncLogEntry.id.desc())
            .limit(LIMIT)
        ).all()
        writes = []
        for entry, run_kind in reversed(rows):
            connection = connections[entry.connection_id]
            write: JSON = {
                "at": entry.at,
                "connection_id": entry.connection_id,
                "connection": connection.name,
                "system": connection.system,
                "timezone": connection.timezone,
                "stream": entry.stream,
                "direction": entry.direction,
                "outcome": entry.outcome,
                "reason": entry.reason_code,
                "message": entry.message,
                "run_id": entry.run_id,
                "run_kind": run_kind,
                "remote_id": entry.remote_id,
                "url": None,
                "source_record_id": None,
                "derived_record_id": None,
            }
            if entry.direction == "flow":
                # A flow's row names the source record and, as its remote id, the hub record
                # it derived: either side of the pair can be this record.
                write["remote_id"] = None
                if entry.record_id == record_id:
                    write["derived_record_id"] = entry.remote_id
                else:
                    write["source_record_id"] = entry.record_id
            elif entry.remote_id:
                spec = SYSTEMS.get(connection.system)
                if spec is not None and spec.record_url is not None:
                    write["url"] = spec.record_url(
                        connection.settings or {}, entry.stream, entry.remote_id
                    )
            writes.append(write)
        return writes


def _step_labels(system: str, stream: str, steps: list[str]) -> dict[str, str]:
    """Each step of a create in the words a refusal of it uses (``CreatePlan.label``), read
    from the stream's mapping class, as no connector is at hand: a create whose mapping
    declares no labels is the single step that writes the record itself."""
    spec = SYSTEMS.get(system)
    mapping = spec.streams.get(stream) if spec is not None else None
    declared: Mapping[str, str] = mapping.step_labels if mapping is not None else {}
    # A mapping class that names no records of its own (one shape for several streams) leaves
    # the stream's name to say what the step writes.
    record = getattr(mapping, "remote_entity", None) or stream.replace("_", " ")
    return {name: step_label(declared.get(name), name, record, not declared) for name in steps}


def _actors(session: Session, tenant_id: str, changes: list[Change]) -> dict[str, str]:
    """A name for each actor of the changes: the key's name and its user's e-mail, or the
    user's e-mail (a key or user deleted since keeps its id)."""
    keys = {c.actor[4:] for c in changes if c.actor and c.actor.startswith("key:")}
    users = {c.actor[5:] for c in changes if c.actor and c.actor.startswith("user:")}
    names: dict[str, str] = {}
    if keys:
        for key_id, key_name, email in session.execute(
            sa.select(ApiKey.id, ApiKey.name, User.email)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.id.in_(keys), ApiKey.tenant_id == tenant_id)
        ):
            names[f"key:{key_id}"] = f"API key “{key_name}” of {email}"
    if users:
        for user_id, email in session.execute(
            sa.select(User.id, User.email).where(User.id.in_(users), User.tenant_id == tenant_id)
        ):
            names[f"user:{user_id}"] = email
    return names


def _version(
    change: Change,
    actors: dict[str, str],
    connections: dict[str, Connection],
    runs_on: dict[str, str],
) -> JSON:
    by = _who(change, actors, connections)
    if change.run_id in runs_on:
        by["run_connection_id"] = runs_on[change.run_id]
    return {
        "version": change.version,
        "operation": change.operation,
        "at": change.at,
        "by": by,
        "changes": [
            {"field": name, "before": pair[0], "after": pair[1]}
            for name, pair in (change.diff or {}).items()
        ],
    }


def _who(change: Change, actors: dict[str, str], connections: dict[str, Connection]) -> JSON:
    """Which side made a change: the app (its key or user), a connection's sync (and run),
    or a route's flow (and run, whose page is on ``run_connection_id``)."""
    origin = change.origin
    who: JSON = {"kind": "app", "name": "the app", "actor": change.actor, "run_id": change.run_id}
    if origin == API_ORIGIN:
        if change.actor:
            who["name"] = actors.get(change.actor, change.actor)
    elif origin.startswith(CONNECTION_PREFIX):
        connection_id = origin[len(CONNECTION_PREFIX) :]
        connection = connections.get(connection_id)
        who.update(
            kind="connection",
            connection_id=connection_id,
            name=connection.name if connection is not None else connection_id,
        )
    elif origin.startswith(FLOW_PREFIX):
        who.update(kind="flow", route_id=origin[len(FLOW_PREFIX) :], name="a route's flow")
    else:
        who.update(kind="other", name=origin)
    return who
