"""What a connection did: its sync log, and the records that are skipped or failed now."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.services.connections.base import JSON, Part
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.sync import SyncIssue, SyncLogEntry


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
