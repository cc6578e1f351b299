"""Cron schedules per connection, evaluated in the connection's own time zone.

"Payment status daily at 03:00" means 03:00 on the wall clock in Copenhagen, every local day,
whatever daylight saving does. The rules:

- Cron fields are local wall-clock time in the schedule's IANA zone (croniter on timezone-aware
  datetimes).
- **Once per local slot.** A slot is a local wall-clock minute, ``YYYY-MM-DDTHH:MM``. On the
  autumn fall-back day the hour 02:00-02:59 happens twice; a slot in it fires at its first
  occurrence (summer time) and its repetition is skipped because its slot is not later than
  ``last_slot``. An hourly schedule therefore runs 24 times on that 25-hour day.
- **Skipped hour.** On the spring-forward day 02:00-02:59 does not exist. croniter moves a slot
  in it to the first instant after the gap, 03:00 local, and that run is recorded as slot 03:00:
  ``30 2 * * *`` runs once, at 03:00 summer time. Slots that land on the same instant run once
  (``0 2,3 * * *`` runs once that day, at 03:00).
- **Missed slots run once.** After downtime, the next tick fires one job for everything missed,
  labelled with the newest missed slot, and ``next_run_at`` moves to the first slot after now.
- **One enqueue per slot across processes.** Each tick advances ``next_run_at`` with a
  conditional UPDATE (``WHERE next_run_at = :seen``) in the same transaction as the enqueue, so
  of several workers ticking at once exactly one fires; the job's dedupe key
  (``"{kind}:{connection_id}"``) is the second guard. The job is deferred through the job
  port in that same transaction, on either backend.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import CroniterBadDateError, croniter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue.port import Command, JobBackend
from ledgerbridge.store.base import UTCDateTime
from ledgerbridge.store.tables.runtime import Schedule

logger = logging.getLogger(__name__)

_SLOT_FORMAT = "%Y-%m-%dT%H:%M"
# Slots repeated by a fall-back hour that ``next_run_at`` may have to step over: at most one per
# minute of that hour (the generous bound also covers 2-hour shifts in historical zones).
_MAX_REPEATED_SLOTS = 240
# A catch-up only needs the newest missed slot; looking back one day (plus any DST shift)
# finds it without walking weeks of per-minute slots after a long outage.
_CATCH_UP_WINDOW = timedelta(hours=26)


# Built once: ticks run every few seconds in every worker process.
_DUE = (
    sa.select(Schedule)
    .where(
        Schedule.enabled.is_(True),
        Schedule.next_run_at <= sa.bindparam("now", type_=UTCDateTime()),
    )
    .order_by(Schedule.next_run_at, Schedule.id)
)


@dataclass(frozen=True)
class ScheduleInfo:
    id: str
    connection_id: str
    tenant_id: str | None
    kind: str
    cron: str
    timezone: str
    payload: dict[str, Any]
    enabled: bool
    next_run_at: datetime
    last_slot: str | None
    created_at: datetime
    updated_at: datetime


def _info(row: Schedule) -> ScheduleInfo:
    return ScheduleInfo(
        id=row.id,
        connection_id=row.connection_id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        cron=row.cron,
        timezone=row.timezone,
        payload=dict(row.payload or {}),
        enabled=row.enabled,
        next_run_at=row.next_run_at,
        last_slot=row.last_slot,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"timezone: {name!r} is not an IANA time zone") from error


def _check_cron(expression: str) -> None:
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"cron: {expression!r} is not a 5-field cron expression")


def _slot(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime(_SLOT_FORMAT)


def _instants_after(expression: str, zone: ZoneInfo, start: datetime) -> Iterator[datetime]:
    """Firing instants strictly after ``start``, in UTC."""
    schedule = croniter(expression, start.astimezone(zone))
    while True:
        yield schedule.get_next(datetime).astimezone(UTC)


def _next_run(expression: str, zone: ZoneInfo, after: datetime, last_slot: str | None) -> datetime:
    """The first firing instant after ``after`` whose local slot is later than ``last_slot``."""
    try:
        for count, instant in enumerate(_instants_after(expression, zone, after)):
            if last_slot is None or _slot(instant, zone) > last_slot:
                return instant
            if count >= _MAX_REPEATED_SLOTS:
                break
    except CroniterBadDateError as error:
        raise ValueError(f"cron: {expression!r} never matches a date") from error
    raise ValueError(f"cron: {expression!r} finds no slot after {last_slot}")


def _newest_slot(expression: str, zone: ZoneInfo, due: datetime, now: datetime) -> str:
    """The latest local slot among the instants from ``due`` to ``now`` (the catch-up label).

    The maximum of the labels, not the label of the last instant: within a repeated fall-back
    hour a later instant can carry an earlier wall-clock time.
    """

    def slots_since(start: datetime) -> list[str]:
        instants = _instants_after(expression, zone, start)
        return [_slot(instant, zone) for instant in takewhile(lambda i: i <= now, instants)]

    window_start = max(due, now - _CATCH_UP_WINDOW)
    found = slots_since(window_start)
    if not found and window_start > due:
        found = slots_since(due)
    return max([_slot(due, zone), *found])


class Scheduler:
    """Keeps per-connection cron schedules and turns due slots into queued jobs."""

    def __init__(
        self, session_factory: sessionmaker[Session], jobs: JobBackend, clock: Clock
    ) -> None:
        self._session_factory = session_factory
        self._jobs = jobs
        self._clock = clock

    def set(
        self,
        connection_id: str,
        kind: str,
        cron: str,
        timezone: str,
        *,
        tenant_id: str | None = None,
        payload: dict[str, Any] | None = None,
        enabled: bool = True,
    ) -> None:
        """Create or replace the schedule of ``kind`` for a connection.

        Raises ValueError naming ``cron`` or ``timezone`` when one is invalid. ``next_run_at``
        is computed from now for a new schedule, a changed cron or zone, or a re-enabled one;
        setting the same rule again (configuration applied at every start-up) keeps it, so a
        slot missed while the process was down still runs.
        """
        _check_cron(cron)
        zone = _zone(timezone)
        now = self._clock.now()
        fresh_next = _next_run(cron, zone, now, None)
        for attempt in range(2):
            try:
                with self._session_factory.begin() as session:
                    row = session.scalars(
                        sa.select(Schedule)
                        .where(Schedule.connection_id == connection_id, Schedule.kind == kind)
                        .with_for_update()
                    ).first()
                    if row is None:
                        row = Schedule(
                            connection_id=connection_id,
                            kind=kind,
                            created_at=now,
                            next_run_at=fresh_next,
                            last_slot=None,
                        )
                        session.add(row)
                    elif row.timezone != timezone:
                        # Slots of another zone are not comparable with ours.
                        row.next_run_at, row.last_slot = fresh_next, None
                    elif row.cron != cron or (enabled and not row.enabled):
                        row.next_run_at = _next_run(cron, zone, now, row.last_slot)
                    row.tenant_id = tenant_id
                    row.cron = cron
                    row.timezone = timezone
                    row.payload = dict(payload or {})
                    row.enabled = enabled
                    row.updated_at = now
                return
            except IntegrityError:
                # Another process created the same schedule just now: update theirs instead.
                if attempt == 1:
                    raise

    def remove(self, connection_id: str, kind: str | None = None) -> int:
        """Delete a connection's schedule of ``kind``, or all of them; returns how many."""
        query = sa.delete(Schedule).where(Schedule.connection_id == connection_id)
        if kind is not None:
            query = query.where(Schedule.kind == kind)
        with self._session_factory.begin() as session:
            return int(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def list(self, connection_id: str) -> builtins.list[ScheduleInfo]:
        query = (
            sa.select(Schedule)
            .where(Schedule.connection_id == connection_id)
            .order_by(Schedule.kind)
        )
        with self._session_factory() as session:
            return [_info(row) for row in session.scalars(query)]

    def tick(self) -> builtins.list[str]:
        """Enqueue a job for every enabled schedule that is due; return the job ids.

        An id may be that of a job already waiting with the same dedupe key, which then does
        the work of this slot too. A schedule that cannot be evaluated is logged and skipped
        so that it does not hold up the others.
        """
        now = self._clock.now()
        with self._session_factory() as session:
            due = session.scalars(_DUE, {"now": now}).all()
        job_ids = []
        for row in due:
            try:
                job_id = self._fire(row, now)
            except Exception:
                logger.exception("schedule %s (%s) could not fire", row.id, row.kind)
                continue
            if job_id is not None:
                job_ids.append(job_id)
        return job_ids

    def _fire(self, row: Schedule, now: datetime) -> str | None:
        zone = _zone(row.timezone)
        slot = _newest_slot(row.cron, zone, row.next_run_at, now)
        fires = row.last_slot is None or slot > row.last_slot
        last_slot = slot if fires else row.last_slot
        next_run = _next_run(row.cron, zone, now, last_slot)
        with self._session_factory.begin() as session:
            advanced = session.execute(
                sa.update(Schedule)
                .where(
                    Schedule.id == row.id,
                    Schedule.enabled.is_(True),
                    Schedule.next_run_at == row.next_run_at,
                )
                .values(next_run_at=next_run, last_slot=last_slot, updated_at=now)
            )
            if advanced.rowcount != 1 or not fires:  # type: ignore[attr-defined]
                return None
            return self._jobs.enqueue(
                Command(
                    row.kind,
                    connection_id=row.connection_id,
                    tenant_id=row.tenant_id,
                    payload={**(row.payload or {}), "slot": slot},
                    dedupe_key=f"{row.kind}:{row.connection_id}",
                ),
                session=session,
            )
