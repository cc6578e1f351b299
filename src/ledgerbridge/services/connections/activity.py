"""What a connection did: its runs, its sync log, the records that are skipped or failed now,
and its use of the system's calls and records per day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.registry import daily_call_limit
from ledgerbridge.engine.conflicts import CONFLICT_HELD
from ledgerbridge.services.connections.base import JSON, Part, system_spec
from ledgerbridge.services.connections.status import run_view
from ledgerbridge.services.errors import NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.sync import Link, QuotaUsage, Run, SyncIssue, SyncLogEntry

INBOUND = "inbound"


class Activity(Part):
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
        direction: str | None = None,
        run_id: str | None = None,
        after: int | None = None,
    ) -> list[JSON]:
        """Newest first; ``before`` pages back, ``after`` gives only entries newer than an id
        (the live tail)."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            query = sa.select(SyncLogEntry).where(SyncLogEntry.connection_id == connection_id)
            filters = {
                SyncLogEntry.outcome: outcome,
                SyncLogEntry.reason_code: reason,
                SyncLogEntry.stream: stream,
                SyncLogEntry.direction: direction,
                SyncLogEntry.run_id: run_id,
            }
            for column, value in filters.items():
                if value:
                    query = query.where(column == value)
            if before:
                query = query.where(SyncLogEntry.id < before)
            if after is not None:
                query = query.where(SyncLogEntry.id > after)
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

    def issues(
        self,
        principal: Principal,
        connection_id: str,
        reason: str | None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JSON]:
        """Open issues, oldest first, each with the hub record it concerns (when the hub has
        it) and the record's page in the system's own app (when the system has one)."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            query = sa.select(SyncIssue).where(SyncIssue.connection_id == connection_id)
            if reason:
                query = query.where(SyncIssue.reason_code == reason)
            query = query.order_by(SyncIssue.first_seen_at, SyncIssue.id).offset(offset)
            if limit is not None:
                query = query.limit(limit)
            found = list(session.scalars(query))
            ids = linked_ids(session, connection_id, found)
            views = []
            for i in found:
                record_id, remote_id = ids.get(i.id, (None, None))
                url = None
                if remote_id and spec.record_url is not None:
                    url = spec.record_url(row.settings or {}, i.stream, remote_id)
                views.append(
                    {
                        "id": i.id,
                        "stream": i.stream,
                        "direction": i.direction,
                        "key": i.key,
                        "outcome": i.outcome,
                        "reason": i.reason_code,
                        "message": i.message,
                        "first_seen_at": i.first_seen_at.isoformat(),
                        "last_seen_at": i.last_seen_at.isoformat(),
                        "attempts": i.attempts,
                        "record_id": record_id,
                        "remote_id": remote_id,
                        "url": url,
                        "held": (i.payload or {}).get("fields")
                        if i.reason_code == CONFLICT_HELD
                        else None,
                    }
                )
            return views

    def runs(
        self,
        principal: Principal,
        connection_id: str,
        *,
        kind: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JSON]:
        """The connection's runs, newest first, each with its duration."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            query = sa.select(Run).where(Run.connection_id == connection_id)
            if kind:
                query = query.where(Run.kind == kind)
            if status:
                query = query.where(Run.status == status)
            rows = session.scalars(
                query.order_by(Run.started_at.desc(), Run.id).offset(offset).limit(limit)
            )
            return [self._run_detail(r) for r in rows]

    def run(self, principal: Principal, connection_id: str, run_id: str) -> JSON:
        """One run with its counts per outcome and its sync log's reasons. A run of another
        connection that logged records of this one (a route's flow, run under its target,
        logs the source's orders) is shown too, with the reasons of this connection's entries:
        the sync log links it."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            found = session.get(Run, run_id)
            logged_here = sa.and_(
                SyncLogEntry.run_id == run_id, SyncLogEntry.connection_id == connection_id
            )
            if found is None or (
                found.connection_id != connection_id
                and session.scalar(sa.select(SyncLogEntry.id).where(logged_here).limit(1)) is None
            ):
                raise NotFound(f"run {run_id} not found")
            mine = SyncLogEntry.run_id == run_id
            if found.connection_id != connection_id:
                mine = logged_here
            reasons = session.execute(
                sa.select(SyncLogEntry.reason_code, sa.func.count())
                .where(mine, SyncLogEntry.reason_code.is_not(None))
                .group_by(SyncLogEntry.reason_code)
            ).all()
            return {
                **self._run_detail(found),
                "totals": found.totals,
                "reasons": {reason: int(count) for reason, count in reasons},
            }

    def _run_detail(self, run: Run) -> JSON:
        end = run.finished_at or (self._clock.now() if run.status == "running" else None)
        duration = round((end - run.started_at).total_seconds(), 1) if end else None
        return {**run_view(run), "job_id": run.job_id, "duration_seconds": duration}

    def usage(self, principal: Principal, connection_id: str, days: int) -> JSON:
        """Calls per quota day (the vendor's day) over the last ``days`` days against the
        limit, from the quota ledger; a day without calls is 0. The ledger counts per
        credential, so connections sharing a login share these numbers."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            today = date.fromisoformat(self._ledger.day(spec.quota_timezone))
            first = today - timedelta(days=days - 1)
            ledger = dict(
                session.execute(
                    sa.select(QuotaUsage.day, QuotaUsage.used).where(
                        QuotaUsage.credential_key == row.credential_key,
                        QuotaUsage.day >= first.isoformat(),
                    )
                ).all()
            )
            limit = daily_call_limit(spec, row.settings)
        return {
            "timezone": spec.quota_timezone,
            "limit": limit,
            "days": [
                {"day": d.isoformat(), "calls": int(ledger.get(d.isoformat(), 0)), "limit": limit}
                for d in (first + timedelta(days=n) for n in range(days))
            ],
        }

    def stats(self, principal: Principal, connection_id: str, days: int) -> JSON:
        """Records synced per day (UTC) by outcome, stream and direction over the last
        ``days`` days, from the sync log."""
        today = self._clock.now().date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time(0), self._clock.now().tzinfo)
        day = sa.func.date(SyncLogEntry.at)
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            rows = session.execute(
                sa.select(
                    day,
                    SyncLogEntry.outcome,
                    SyncLogEntry.stream,
                    SyncLogEntry.direction,
                    sa.func.count(),
                )
                .where(SyncLogEntry.connection_id == connection_id, SyncLogEntry.at >= since)
                .group_by(day, SyncLogEntry.outcome, SyncLogEntry.stream, SyncLogEntry.direction)
            ).all()
        per_day: dict[str, dict[str, int]] = {
            (first + timedelta(days=n)).isoformat(): {} for n in range(days)
        }
        groups: list[JSON] = []
        for at, outcome, stream, direction, count in rows:
            key = _day_text(at)
            outcomes = per_day.setdefault(key, {})
            outcomes[outcome] = outcomes.get(outcome, 0) + int(count)
            groups.append(
                {
                    "day": key,
                    "outcome": outcome,
                    "stream": stream,
                    "direction": direction,
                    "records": int(count),
                }
            )
        return {
            "bucket": "day",
            "days": [{"day": d, "outcomes": per_day[d]} for d in sorted(per_day)],
            "groups": sorted(groups, key=lambda g: (g["day"], g["stream"], g["outcome"])),
        }

    def latest_log_id(self, principal: Principal, connection_id: str) -> int:
        """Where a live tail starts: the newest sync-log entry now (0 when there is none)."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            newest = session.scalar(
                sa.select(sa.func.max(SyncLogEntry.id)).where(
                    SyncLogEntry.connection_id == connection_id
                )
            )
            return int(newest or 0)


def _day_text(value: Any) -> str:
    """``date()`` answers a string on SQLite and a date on PostgreSQL."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def linked_ids(
    session: Session, connection_id: str, issues: list[SyncIssue]
) -> dict[str, tuple[str | None, str | None]]:
    """Per issue: (hub record id, remote id). An outbound issue's key is the hub record (a
    flow's keyed by a source's own id names it in its payload) and an inbound one's the remote
    record; the link, when there is one, gives the other."""
    hub_ids = {i.id: (i.payload or {}).get("record_id") or i.key for i in issues}
    wanted_remote = [(i.stream, i.key) for i in issues if i.direction == INBOUND]
    wanted_record = [(i.stream, hub_ids[i.id]) for i in issues if i.direction != INBOUND]
    by_remote: dict[tuple[str, str], str] = {}
    by_record: dict[tuple[str, str], str] = {}
    if wanted_remote:
        for stream, remote_id, record_id in session.execute(
            sa.select(Link.stream, Link.remote_id, Link.record_id).where(
                Link.connection_id == connection_id,
                Link.remote_id.in_([k for _s, k in wanted_remote]),
            )
        ):
            by_remote[(stream, remote_id)] = record_id
    if wanted_record:
        for stream, record_id, remote_id in session.execute(
            sa.select(Link.stream, Link.record_id, Link.remote_id).where(
                Link.connection_id == connection_id,
                Link.record_id.in_([k for _s, k in wanted_record]),
            )
        ):
            by_record[(stream, record_id)] = remote_id
    result: dict[str, tuple[str | None, str | None]] = {}
    for i in issues:
        if i.direction == INBOUND:
            result[i.id] = (by_remote.get((i.stream, i.key)), i.key)
        else:
            result[i.id] = (hub_ids[i.id], by_record.get((i.stream, hub_ids[i.id])))
    return result
