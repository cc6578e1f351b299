"""Conflict rules: which side wins a field both sides changed between two syncs.

A conflict is a field whose hub value and remote value both differ from the link's ``synced``
state (the base of the three-way merge) and from each other. Without a rule the engine keeps
its historical behaviour: an inbound read takes the remote value, a push sends the hub's. A
connection's ``settings.conflicts.<entity>.<field | *>`` names a rule instead:

- ``accounting``: the accounting system's value wins on both paths;
- ``app``: the hub's value wins on both paths;
- ``latest``: the later change wins: the hub's by its record's last change, the system's by
  when the hub learned of it (a callback's arrival, else the read that found it), since most
  systems do not stamp when a record changed;
- ``hold``: neither side is written for that field; an issue ``conflict_held`` (direction
  ``conflict``, keyed by the hub record) keeps the hub value, the remote value and the base
  until a person keeps one of them. While held, the field is neither sent nor taken; the
  values shown follow later changes on either side, and the hold ends by itself when both
  sides come to agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.store.tables.sync import SyncIssue

ACCOUNTING, APP, LATEST, HOLD = "accounting", "app", "latest", "hold"
RULES = (ACCOUNTING, APP, LATEST, HOLD)
Rule = Literal["accounting", "app", "latest", "hold"]
KEEPS = (ACCOUNTING, APP)
"""What a person may keep when resolving a held conflict."""

CONFLICT = "conflict"
"""The direction of a held conflict's issue: neither inbound nor outbound, so no sync of the
record in either direction clears it; only agreement or a person's choice does."""
CONFLICT_HELD = "conflict_held"


def rule_for(settings: dict[str, Any], entity: str, name: str) -> str | None:
    """The connection's rule for one field (the field's own, else the entity's ``*``)."""
    per_entity = (settings.get("conflicts") or {}).get(entity) or {}
    rule = per_entity.get(name) or per_entity.get("*")
    return rule if rule in RULES else None


def has_rules(settings: dict[str, Any], entity: str) -> bool:
    return bool((settings.get("conflicts") or {}).get(entity))


@dataclass
class Verdict:
    """What one sync does with a record's fields both sides touched."""

    remote: set[str] = field(default_factory=set)
    """Fields whose remote value is taken (inbound) or kept (outbound: not overwritten)."""
    hub: set[str] = field(default_factory=set)
    """Fields whose hub value stays (inbound) or is sent (outbound)."""
    held: dict[str, JSON] = field(default_factory=dict)
    """Fields waiting for a person: {field: {"app", "accounting", "base"}}."""
    changed: bool = False
    """Whether the held fields differ from what the open issue showed."""


def decide(
    settings: dict[str, Any],
    entity: str,
    fields: list[str],
    *,
    hub: JSON,
    base: JSON,
    remote: JSON,
    hub_changed_at: datetime,
    remote_seen_at: datetime,
    held: dict[str, JSON],
) -> Verdict:
    """The verdict for one record, given its hub projection, the base, the remote projection
    and the fields an open issue holds. Fields not named are left to the default merge."""
    verdict = Verdict()
    for name in fields:
        mine, theirs, was = hub.get(name), remote.get(name), base.get(name)
        if name in held:
            if mine == theirs:
                verdict.changed = True  # both sides agree now: the hold ends
                continue
            shown = {"app": mine, "accounting": theirs, "base": held[name].get("base")}
            verdict.held[name] = shown
            verdict.changed = verdict.changed or shown != held[name]
            continue
        if mine in (was, theirs) or theirs == was:
            continue
        rule = rule_for(settings, entity, name)
        if rule == ACCOUNTING or (rule == LATEST and remote_seen_at >= hub_changed_at):
            verdict.remote.add(name)
        elif rule in (APP, LATEST):
            verdict.hub.add(name)
        elif rule == HOLD:
            verdict.held[name] = {"app": mine, "accounting": theirs, "base": was}
            verdict.changed = True
    return verdict


def held_fields(
    session: Session, connection_id: str, stream: str, record_ids: list[str]
) -> dict[str, JSON]:
    """Open holds of these hub records: record id → {field: values}."""
    if not record_ids:
        return {}
    rows = session.execute(
        sa.select(SyncIssue.key, SyncIssue.payload).where(
            SyncIssue.connection_id == connection_id,
            SyncIssue.stream == stream,
            SyncIssue.direction == CONFLICT,
            SyncIssue.key.in_(record_ids),
        )
    )
    return {key: dict((payload or {}).get("fields") or {}) for key, payload in rows}


def record_verdict(
    session: Session,
    recorder: SyncRecorder,
    *,
    stream: str,
    entity: str,
    remote_name: str,
    record_id: str,
    remote_id: str | None,
    verdict: Verdict,
) -> None:
    """Open, update or close the record's hold so that it shows what is held now."""
    if not verdict.changed:
        return
    if not verdict.held:
        recorder.resolve(session, stream, CONFLICT, [record_id])
        return
    names = ", ".join(sorted(verdict.held))
    recorder.issue(
        session, stream=stream, direction=CONFLICT, key=record_id, reason=CONFLICT_HELD,
        record_id=record_id, remote_id=remote_id,
        message=f"{names} changed both in the app and in the {remote_name} {remote_id} since the "
        "last sync; the conflict rule holds it until a person keeps one value",
        payload={"entity": entity, "fields": verdict.held},
    )  # fmt: skip
