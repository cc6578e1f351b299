"""The daily quota ledger: calls used per credential per vendor day, counted atomically.

Counting happens before each call, in a transaction of its own, so several workers sharing one
credential never overrun the budget between them. That transaction locks the day's row, so
PostgreSQL ends it if it sits idle (``end_when_idle``): a worker frozen in it would otherwise
stop every other worker's calls on the credential.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.store.db import end_when_idle, insert_new
from ledgerbridge.store.tables.sync import QuotaUsage


class QuotaExhausted(Exception):
    """The day's budget for a credential is spent; work resumes at ``resumes_at``."""

    def __init__(
        self, credential_key: str, limit: int, resumes_at: datetime, reason: str | None = None
    ) -> None:
        super().__init__(
            f"{reason or f'daily API quota of {limit} calls used up'}; "
            f"resumes at {resumes_at.isoformat()}"
        )
        self.credential_key = credential_key
        self.limit = limit
        self.resumes_at = resumes_at


class QuotaLedger:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = session_factory
        self._clock = clock

    def day(self, timezone: str) -> str:
        return self._clock.now().astimezone(ZoneInfo(timezone)).date().isoformat()

    def next_day_start(self, timezone: str) -> datetime:
        zone = ZoneInfo(timezone)
        local = self._clock.now().astimezone(zone)
        return datetime.combine(local.date() + timedelta(days=1), time(0), zone)

    def consume(self, credential_key: str, limit: int, timezone: str, calls: int = 1) -> int:
        """Record ``calls`` calls; raises ``QuotaExhausted`` (recording nothing) if they would
        exceed ``limit``. Returns the day's total."""
        day = self.day(timezone)
        with self._sessions.begin() as session:
            end_when_idle(session)
            insert_new(
                session,
                QuotaUsage,
                {"credential_key": credential_key, "day": day, "used": 0, "limit": limit},
                ["credential_key", "day"],
            )
            used = session.execute(
                sa.update(QuotaUsage)
                .where(
                    QuotaUsage.credential_key == credential_key,
                    QuotaUsage.day == day,
                    QuotaUsage.used + calls <= limit,
                )
                .values(used=QuotaUsage.used + calls, limit=limit)
                .returning(QuotaUsage.used)
            ).scalar_one_or_none()
        if used is None:
            raise QuotaExhausted(credential_key, limit, self.next_day_start(timezone))
        return int(used)

    def used(self, credential_key: str, timezone: str) -> int:
        with self._sessions() as session:
            value = session.scalar(
                sa.select(QuotaUsage.used).where(
                    QuotaUsage.credential_key == credential_key,
                    QuotaUsage.day == self.day(timezone),
                )
            )
        return int(value or 0)
