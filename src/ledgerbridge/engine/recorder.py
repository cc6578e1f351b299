"""The sync log and the open issues: every record's outcome, every skip with its reason.

An issue is keyed by (connection, stream, direction, record key) and is deleted as soon as the
record syncs, so "what needs attention" clears itself once the cause is fixed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.clock import Clock
from ledgerbridge.store.db import insert_rows
from ledgerbridge.store.tables.sync import SyncIssue, SyncLogEntry

FLOW = "flow"
"""The direction of what a route's flow derives (an order's invoice, a payout's posting):
its issues are keyed by the source's own id, not a hub record's."""

OUTCOMES = ("created", "updated", "deleted", "unchanged", "skipped", "failed")
DISMISSED = "dismissed"
"""The outcome logged when a person closes an open issue by hand: no run records it, so the
sync log keeps why the issue left the list."""


class Observer(Protocol):
    """Sees every outcome the recorder counts (a preview keeps examples of each)."""

    def note(
        self, stream: str, outcome: str, key: str | None, reason: str | None, message: str | None
    ) -> None: ...


class SyncRecorder:
    def __init__(
        self,
        clock: Clock,
        connection_id: str,
        run_id: str | None,
        counts: Counter[str],
        observer: Observer | None = None,
    ) -> None:
        self.clock = clock
        self.connection_id = connection_id
        self.run_id = run_id
        self.counts = counts
        self.observer = observer
        self._batch: list[dict[str, Any]] | None = None

    @contextmanager
    def batched(self, session: Session) -> Iterator[None]:
        """Log rows written inside go to the database in one INSERT when it ends (a page of
        an import): one ORM object per row would cost more than the row."""
        rows: list[dict[str, Any]] = []
        self._batch = rows
        try:
            yield
        finally:
            self._batch = None
        insert_rows(session, SyncLogEntry, rows)

    def log(
        self,
        session: Session,
        *,
        stream: str,
        direction: str,
        outcome: str,
        record_id: str | None = None,
        remote_id: str | None = None,
        reason: str | None = None,
        message: str | None = None,
        persist: bool = True,
        key: str | None = None,
    ) -> None:
        """Count the outcome; write a log row unless it is an unremarkable 'unchanged'.
        ``key``: how the observer names the record (an issue's key), else its remote id."""
        self.counts[f"{stream}.{outcome}"] += 1
        if self.observer is not None:
            self.observer.note(stream, outcome, key or remote_id or record_id, reason, message)
        if not persist:
            return
        row = {
            "connection_id": self.connection_id, "run_id": self.run_id, "stream": stream,
            "direction": direction, "record_id": record_id, "remote_id": remote_id,
            "outcome": outcome, "reason_code": reason, "message": message,
            "at": self.clock.now(),
        }  # fmt: skip
        if self._batch is not None:
            self._batch.append(row)
        else:
            session.add(SyncLogEntry(**row))

    def issue(
        self,
        session: Session,
        *,
        stream: str,
        direction: str,
        key: str,
        reason: str,
        message: str,
        outcome: str = "skipped",
        record_id: str | None = None,
        remote_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Log a skip or failure and keep it open until the record syncs. ``payload`` keeps
        an inbound record as received, so that retrying it needs no API call. An issue of a
        flow is keyed by its source's own id (an order number): it keeps its hub record's id
        in ``payload``, so the issue names and links the hub record."""
        if payload is None and direction == FLOW and record_id not in (None, key):
            payload = {"record_id": record_id}
        self.log(
            session,
            stream=stream,
            direction=direction,
            outcome=outcome,
            record_id=record_id,
            remote_id=remote_id,
            reason=reason,
            message=message,
            key=key,
        )
        now = self.clock.now()
        existing = session.scalar(
            sa.select(SyncIssue).where(
                SyncIssue.connection_id == self.connection_id,
                SyncIssue.stream == stream,
                SyncIssue.direction == direction,
                SyncIssue.key == key,
            )
        )
        if existing is None:
            session.add(
                SyncIssue(
                    connection_id=self.connection_id,
                    stream=stream,
                    direction=direction,
                    key=key,
                    outcome=outcome,
                    reason_code=reason,
                    message=message,
                    first_seen_at=now,
                    last_seen_at=now,
                    attempts=1,
                    payload=payload,
                )
            )
        else:
            existing.outcome = outcome
            existing.reason_code = reason
            existing.message = message
            existing.last_seen_at = now
            existing.attempts += 1
            existing.payload = payload
        session.flush()

    def open_issue_keys(
        self, session: Session, stream: str, direction: str, keys: Iterable[str]
    ) -> set[str]:
        wanted = list(set(keys))
        if not wanted:
            return set()
        return set(
            session.scalars(
                sa.select(SyncIssue.key).where(
                    SyncIssue.connection_id == self.connection_id,
                    SyncIssue.stream == stream,
                    SyncIssue.direction == direction,
                    SyncIssue.key.in_(wanted),
                )
            )
        )

    def resolve(
        self,
        session: Session,
        stream: str,
        direction: str,
        keys: Iterable[str],
        reasons: Iterable[str] | None = None,
    ) -> None:
        """Close the records' issues (only those with one of ``reasons``, when given)."""
        wanted = list(set(keys))
        if wanted:
            query = sa.delete(SyncIssue).where(
                SyncIssue.connection_id == self.connection_id,
                SyncIssue.stream == stream,
                SyncIssue.direction == direction,
                SyncIssue.key.in_(wanted),
            )
            if reasons is not None:
                query = query.where(SyncIssue.reason_code.in_(list(reasons)))
            session.execute(query)
