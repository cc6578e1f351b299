"""What a connection shows: its settings and health, its schedules with their next and last
runs, the jobs a user may run, import progress, and the system's warnings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.registry import SystemSpec, daily_call_limit
from ledgerbridge.engine.context import reads_something
from ledgerbridge.engine.recorder import OUTCOMES
from ledgerbridge.runtime.schedules import ScheduleInfo
from ledgerbridge.services.connections.base import (
    JSON,
    Part,
    is_admin,
    iso,
    system_spec,
)
from ledgerbridge.services.connections.explain import fix_for
from ledgerbridge.services.errors import NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import public_url_warning
from ledgerbridge.store.tables.sync import InboxEvent, Run, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection


class Status(Part):
    def list_connections(self, principal: Principal) -> list[JSON]:
        with self._sessions() as session:
            ids = session.scalars(
                sa.select(Connection.id)
                .where(Connection.tenant_id == principal.tenant_id)
                .order_by(Connection.created_at)
            ).all()
        return [self.status(principal, cid) for cid in ids]

    def status(self, principal: Principal, connection_id: str) -> JSON:
        """The connection as its tenant sees it; the Change URL (it holds the callback token)
        only for owners and admins."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            change_url = None
            stored = self._box.open(row.secrets)
            if is_admin(principal):
                change_url = self._callback_url(row.id, stored.get("inbound_token", ""))
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
            used = self._ledger.used(row.credential_key, spec.quota_timezone)
            limit = daily_call_limit(spec, row.settings)
            return {
                "id": row.id,
                "system": row.system,
                "name": row.name,
                "timezone": row.timezone,
                "active": row.active,
                "settings": row.settings,
                "import_state": row.import_state,
                "last_success_at": iso(row.last_success_at),
                "last_error_at": iso(row.last_error_at),
                "last_error": row.last_error,
                "last_error_fix": _fix(row.last_error, row.last_error_at, row.last_success_at),
                "calls_used_today": used,
                "daily_call_limit": limit,
                "quota_day": self._ledger.day(spec.quota_timezone),
                "change_url": change_url,
                "change_url_warning": (
                    public_url_warning(self.public_url) if spec.receives_callbacks else None
                ),
                "open_issues": {reason: count for reason, count in issues},
                "pending_callbacks": int(pending or 0),
                "recent_runs": [run_view(r) for r in runs],
                "import_progress": self._import_progress(session, row.id),
                "schedules": self._schedules(session, row.id, row.timezone, spec, row.settings),
                "job_kinds": list(spec.job_kinds),
                "warnings": [
                    *([] if row.active else [_paused(spec, row.id, row.settings)]),
                    *self._warnings(spec, row.settings, row.timezone),
                    *_quota_warning(spec, used, limit),
                    *(
                        self._shared_credentials(row.tenant_id, row.credential_key, row.id)
                        if spec.one_session_per_user
                        else []
                    ),
                ],
                "logged_in": (
                    bool(stored.get("access_token") or stored.get("refresh_token"))
                    if spec.oauth is not None
                    else None
                ),
            }

    def _schedules(
        self,
        session: Session,
        connection_id: str,
        timezone: str,
        spec: SystemSpec,
        settings: JSON,
    ) -> list[JSON]:
        """Each scheduled job with its next run and its last one, in the connection's zone; a
        read whose streams are all switched off is not enabled (it would do nothing)."""

        def reads(kind: str) -> bool:
            pull = spec.pulls.get(kind)
            return pull is None or reads_something(settings, spec.default_streams, pull.streams)

        zone = ZoneInfo(timezone)
        last_runs = dict(
            session.execute(
                sa.select(Run.kind, sa.func.max(Run.started_at))
                .where(Run.connection_id == connection_id)
                .group_by(Run.kind)
            ).all()
        )
        return [
            {
                "kind": info.kind,
                "cron": info.cron,
                "timezone": info.timezone,
                "enabled": info.enabled and reads(info.kind),
                "next_run_at": _local(info.next_run_at, zone),
                "last_run_at": _local(last_runs.get(info.kind), zone) or _last_slot(info, zone),
            }
            for info in sorted(self._scheduler.list(connection_id), key=lambda i: i.kind)
        ]

    def warnings(self, connection_id: str) -> tuple[str, list[str]]:
        """(tenant id, current warnings) of a connection, for the daily notice job."""
        with self._sessions() as session:
            row = session.get(Connection, connection_id)
            if row is None:
                raise NotFound(f"connection {connection_id} not found")
            spec = system_spec(row.system)
            return row.tenant_id, self._warnings(spec, row.settings, row.timezone)

    def _import_progress(self, session: Session, connection_id: str) -> JSON | None:
        """Counts per stream, calls used and, when the totals are known, an ETA. Only records
        count as done (not what a connector did besides, such as webhooks switched on again);
        a stream's total is at least what it did (records made, or read again, after it was
        counted), and the whole total is known only when every stream with records has one."""
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
            if outcome in OUTCOMES:
                per_stream.setdefault(stream, {})[outcome] = int(count)
        done_in = {stream: sum(counts.values()) for stream, counts in per_stream.items()}
        totals = {s: max(int(n), done_in.get(s, 0)) for s, n in (run.totals or {}).items()}
        done = sum(done_in.values())
        total = sum(totals.values()) if totals and set(done_in) <= set(totals) else None
        end = run.finished_at or self._clock.now()
        elapsed = (end - run.started_at).total_seconds()
        eta = None
        if run.status == "running" and total and done:
            eta = round(elapsed / done * max(total - done, 0), 1)
        resumes_at = None
        if run.status == "deferred" and run.job_id:
            # The day's budget is spent: the job waits, unattempted, until the quota resets.
            job = self._queue.get(run.job_id)
            if job is not None and job.status == "queued" and job.run_after is not None:
                resumes_at = job.run_after.isoformat()
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
            "resumes_at": resumes_at,
        }


def _paused(spec: SystemSpec, connection_id: str, settings: JSON) -> str:
    """A paused connection's data goes stale without an error: its status says so, naming
    the scheduled reads that no longer run (Uniconta's daily stock and payments)."""
    reads = [
        kind
        for kind, pull in spec.pulls.items()
        if reads_something(settings, spec.default_streams, pull.streams)
    ]
    stopped = f": its scheduled reads ({', '.join(reads)}) do not run" if reads else ""
    return (
        f"this connection is paused, so nothing syncs{stopped}; resume it with PATCH "
        f'/api/v1/connections/{connection_id} {{"active": true}}'
    )


QUOTA_WARNING_SHARE = 0.9
"""Share of the day's calls from which the status warns that the rest may not last."""


def _quota_warning(spec: SystemSpec, used: int, limit: int) -> list[str]:
    """Most of the day's calls made: work beyond the limit waits for the next quota day, which
    is what a sync that stalls unexpectedly most often is; said before it happens."""
    if limit <= 0 or used < limit * QUOTA_WARNING_SHARE:
        return []
    return [
        f"{used:,} of the day's {limit:,} calls are made: work beyond the limit waits for the "
        f"next quota day (from 00:00, {spec.quota_timezone}), so syncing may stall until "
        f"then; see the usage, or raise daily_call_limit if your {spec.title} subscription "
        "allows more calls"
    ]


def _fix(
    message: str | None, error_at: datetime | None, success_at: datetime | None
) -> JSON | None:
    """What to do about the last error, while it is the latest word (no success since)."""
    if error_at is None or (success_at is not None and success_at > error_at):
        return None
    fix = fix_for(message)
    return fix.view() if fix else None


def _local(instant: datetime | None, zone: ZoneInfo) -> str | None:
    return instant.astimezone(zone).isoformat() if instant is not None else None


def _last_slot(info: ScheduleInfo, zone: ZoneInfo) -> str | None:
    """A job that leaves no run behind (the daily notices): the slot it last fired for."""
    if info.last_slot is None:
        return None
    return datetime.fromisoformat(info.last_slot).replace(tzinfo=zone).isoformat()


def run_view(run: Run) -> JSON:
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "counts": run.counts,
        "calls": run.calls,
        "message": run.message,
        "started_at": run.started_at.isoformat(),
        "finished_at": iso(run.finished_at),
    }
