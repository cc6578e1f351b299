"""Hub records a remote keeps as one (``connectors.base.Gathering``): whichever member changed,
a push sends the group's whole state once, under the member that stands for the group."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON, EntityMapping
from ledgerbridge.engine.context import RunContext
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link


@dataclass
class Gathered:
    """What a push sends for some changed records of a gathering stream."""

    records: list[HubRecord] = field(default_factory=list)
    """The member standing for each group, then the changed records of groups without a live
    member in scope (deleted, out of scope), which the push handles as records of their own."""
    data: dict[str, JSON] = field(default_factory=dict)
    """The canonical record sent for each standing member, by its id."""
    covered: list[str] = field(default_factory=list)
    """The other members: the group's outcome is theirs, so their own open issues close."""


def gather(
    session: Session, ctx: RunContext, stream: str, mapping: EntityMapping, changed: list[HubRecord]
) -> Gathered:
    """The groups of the changed records, each with all its members (one query for the
    records, one for their links). The member standing for a group is the one holding its
    link, else the oldest; a link a former member holds (deleted, or out of scope since the
    settings changed) passes to it, so the remote record is updated, never created again."""
    assert mapping.gathering is not None
    name, combine = mapping.gathering.field, mapping.gathering.combine
    keys = list(dict.fromkeys(str(r.data[name]) for r in changed if r.data.get(name) is not None))
    value = HubRecord.data[name].as_string()
    everyone = (
        session.scalars(
            sa.select(HubRecord)
            .where(
                HubRecord.tenant_id == ctx.tenant_id,
                HubRecord.entity == mapping.entity,
                value.in_(keys),
            )
            .order_by(HubRecord.created_at, HubRecord.id)
        ).all()
        if keys
        else []
    )
    links = {
        link.record_id: link
        for link in session.scalars(
            sa.select(Link).where(
                Link.connection_id == ctx.connection_id,
                Link.stream == stream,
                Link.record_id.in_([r.id for r in everyone]),
            )
        )
    }
    groups: dict[str, list[HubRecord]] = {}
    for record in everyone:
        groups.setdefault(str(record.data[name]), []).append(record)
    found = Gathered()
    sent: set[str] = set()
    for key in keys:
        group = groups.get(key, [])
        members = [r for r in group if not r.deleted and mapping.in_scope(r.data)]
        if not members:
            continue
        linked = [r for r in members if r.id in links]
        standing = linked[0] if linked else members[0]
        former = None if linked else next((links[r.id] for r in group if r.id in links), None)
        if former is not None:
            former.record_id = standing.id
        found.records.append(standing)
        found.data[standing.id] = {**combine([r.data for r in members]), "id": standing.id}
        found.covered.extend(r.id for r in members if r is not standing)
        sent.add(key)
    found.records.extend(
        r for r in changed if r.data.get(name) is None or str(r.data[name]) not in sent
    )
    return found
