"""Schedules in local time: once per local slot across daylight-saving changes, catch-up after
downtime, and one enqueue per slot when several processes tick at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import JobContext
from ledgerbridge.runtime.schedules import Scheduler
from ledgerbridge.runtime.worker import Worker
from ledgerbridge.store.db import create_db_engine, create_session_factory
from ledgerbridge.store.tables.runtime import Schedule

CPH = ZoneInfo("Europe/Copenhagen")
# The EU changes clocks at 01:00 UTC: 02:00 → 03:00 on 29 March, 03:00 → 02:00 on 25 October.
SPRING = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
AUTUMN = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Run:
    connection_id: str
    slot: str
    at: datetime  # the clock when the job ran: the tick that fired it, in these tests


class Harness:
    """A scheduler, a queue and a worker that records every run, on one manual clock."""

    def __init__(self, session_factory: sessionmaker[Session], start: datetime) -> None:
        self.clock = ManualClock(start)
        self.jobs = EmbeddedBackend(session_factory, self.clock, lease_seconds=60)
        self.queue = self.jobs.queue
        self.scheduler = Scheduler(session_factory, self.jobs, self.clock)
        self.runs: list[Run] = []
        self.worker = Worker(self.queue, {"pull": self._record, "status": self._record})

    def _record(self, ctx: JobContext) -> None:
        connection_id = ctx.job.connection_id or ""
        self.runs.append(Run(connection_id, ctx.job.payload["slot"], ctx.clock.now()))

    def drive(self, until: datetime, step: Callable[[datetime], timedelta]) -> None:
        """Tick, run what was enqueued, move the clock; until ``until``."""
        while self.clock.now() < until:
            if self.scheduler.tick():
                self.worker.run_until_idle()
            self.clock.advance(step(self.clock.now()))

    def slots(self, connection_id: str) -> list[str]:
        return [run.slot for run in self.runs if run.connection_id == connection_id]


def every(minutes: int) -> Callable[[datetime], timedelta]:
    return lambda _now: timedelta(minutes=minutes)


def near_dst(now: datetime) -> bool:
    return any(abs(now - change) < timedelta(days=3) for change in (SPRING, AUTUMN))


def fine_near_dst(now: datetime) -> timedelta:
    """15-minute steps for three days around each change, hourly elsewhere (the year stays
    fast to test and every tick still lands at a different local time of day)."""
    return timedelta(minutes=15 if near_dst(now) else 60)


def local_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_daily_0300_and_0500_run_once_per_local_day_for_a_whole_year(
    session_factory: sessionmaker[Session],
) -> None:
    # Ticks at 7 past: the first tick after each slot fires it, as a real tick loop would.
    h = Harness(session_factory, datetime(2026, 1, 1, 0, 7, tzinfo=UTC))
    h.scheduler.set("at3", "pull", "0 3 * * *", "Europe/Copenhagen")
    h.scheduler.set("at5", "pull", "0 5 * * *", "Europe/Copenhagen")
    h.drive(datetime(2027, 1, 1, tzinfo=UTC), fine_near_dst)

    days = local_days(date(2026, 1, 1), date(2026, 12, 31))
    for connection_id, hour in (("at3", 3), ("at5", 5)):
        assert h.slots(connection_id) == [f"{day}T{hour:02}:00" for day in days]
        for run in (r for r in h.runs if r.connection_id == connection_id):
            ran_at = run.at.astimezone(CPH).replace(tzinfo=None)
            lag = ran_at - datetime.fromisoformat(run.slot)
            step = timedelta(minutes=15) if near_dst(run.at) else timedelta(hours=1)
            assert timedelta(0) <= lag < step, run


@pytest.mark.parametrize("zone", ["Europe/Copenhagen", "Europe/Amsterdam", "Europe/Oslo"])
def test_daily_0300_and_0500_across_both_changes(
    session_factory: sessionmaker[Session], zone: str
) -> None:
    tz = ZoneInfo(zone)
    h = Harness(session_factory, SPRING)
    for change in (SPRING, AUTUMN):
        start = change.replace(hour=0) - timedelta(days=3)
        end = start + timedelta(days=6)
        h.clock.set(start)
        h.scheduler.set("at3", "pull", "0 3 * * *", zone)
        h.scheduler.set("at5", "pull", "0 5 * * *", zone)
        h.runs.clear()
        h.drive(end, every(15))
        days = local_days(start.date(), (end - timedelta(days=1)).date())
        for connection_id, hour in (("at3", 3), ("at5", 5)):
            assert h.slots(connection_id) == [f"{day}T{hour:02}:00" for day in days]
            for run in (r for r in h.runs if r.connection_id == connection_id):
                local = run.at.astimezone(tz)
                assert (local.hour, local.minute) == (hour, 0), run  # 15-minute ticks hit it
        h.scheduler.remove("at3")
        h.scheduler.remove("at5")


def test_0230_runs_once_on_both_change_days(session_factory: sessionmaker[Session]) -> None:
    """Spring: 02:30 does not exist and the run moves to 03:00 summer time, recorded as slot
    03:00. Autumn: 02:30 happens twice and runs only at its first (summer-time) occurrence."""
    h = Harness(session_factory, datetime(2026, 3, 27, tzinfo=UTC))
    h.scheduler.set("c", "pull", "30 2 * * *", "Europe/Copenhagen")
    h.drive(datetime(2026, 3, 31, tzinfo=UTC), every(5))
    h.scheduler.remove("c")
    h.clock.set(datetime(2026, 10, 23, tzinfo=UTC))
    h.scheduler.set("c", "pull", "30 2 * * *", "Europe/Copenhagen")
    h.drive(datetime(2026, 10, 27, tzinfo=UTC), every(5))

    assert [(run.slot, run.at) for run in h.runs] == [
        ("2026-03-27T02:30", datetime(2026, 3, 27, 1, 30, tzinfo=UTC)),
        ("2026-03-28T02:30", datetime(2026, 3, 28, 1, 30, tzinfo=UTC)),
        ("2026-03-29T03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # 03:00 CEST
        ("2026-03-30T02:30", datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
        ("2026-10-23T02:30", datetime(2026, 10, 23, 0, 30, tzinfo=UTC)),
        ("2026-10-24T02:30", datetime(2026, 10, 24, 0, 30, tzinfo=UTC)),
        ("2026-10-25T02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # not at 01:30 UTC
        ("2026-10-26T02:30", datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ]


def test_hourly_runs_once_per_distinct_local_hour(session_factory: sessionmaker[Session]) -> None:
    """The fall-back day has 25 hours but 24 distinct local hours: 24 runs, the repeated 02:00
    runs once. The spring-forward day has 23 local hours: 23 runs."""
    h = Harness(session_factory, datetime(2026, 3, 28, 12, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 * * * *", "Europe/Copenhagen")
    h.drive(datetime(2026, 3, 30, 12, tzinfo=UTC), every(5))
    h.scheduler.remove("c")
    h.clock.set(datetime(2026, 10, 24, 12, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 * * * *", "Europe/Copenhagen")
    h.drive(datetime(2026, 10, 26, 12, tzinfo=UTC), every(5))

    per_day = Counter(slot[:10] for slot in h.slots("c"))
    assert per_day["2026-03-29"] == 23
    assert per_day["2026-10-25"] == 24
    autumn = [slot[11:] for slot in h.slots("c") if slot.startswith("2026-10-25")]
    assert autumn == [f"{hour:02}:00" for hour in range(24)]
    spring = [slot[11:] for slot in h.slots("c") if slot.startswith("2026-03-29")]
    assert spring == [f"{hour:02}:00" for hour in range(24) if hour != 2]
    assert len(h.slots("c")) == len(set(h.slots("c")))


def test_missed_slots_run_once(session_factory: sessionmaker[Session]) -> None:
    h = Harness(session_factory, datetime(2026, 5, 4, 8, 10, tzinfo=UTC))
    h.scheduler.set("hourly", "pull", "0 * * * *", "Europe/Copenhagen")
    h.scheduler.set("daily", "pull", "0 3 * * *", "Europe/Copenhagen")

    h.clock.advance(timedelta(days=3))  # the process was down
    assert len(h.scheduler.tick()) == 2
    h.worker.run_until_idle()
    assert h.slots("hourly") == ["2026-05-07T10:00"]  # the newest missed slot
    assert h.slots("daily") == ["2026-05-07T03:00"]
    assert h.scheduler.tick() == []
    (hourly,) = h.scheduler.list("hourly")
    assert hourly.next_run_at == datetime(2026, 5, 7, 9, 0, tzinfo=UTC)
    assert hourly.last_slot == "2026-05-07T10:00"


def test_catch_up_inside_the_repeated_hour_does_not_repeat_a_slot(
    session_factory: sessionmaker[Session],
) -> None:
    """Down from 01:50 summer time to 02:20 winter time: the missed 02:00 and 02:30 (summer)
    run as one catch-up labelled 02:30, so the winter-time 02:30 does not run again."""
    h = Harness(session_factory, datetime(2026, 10, 24, 23, 50, tzinfo=UTC))
    h.scheduler.set("c", "pull", "*/30 * * * *", "Europe/Copenhagen")
    h.clock.set(datetime(2026, 10, 25, 1, 20, tzinfo=UTC))
    h.drive(datetime(2026, 10, 25, 2, 40, tzinfo=UTC), every(5))
    assert [(run.slot, run.at.strftime("%H:%M")) for run in h.runs] == [
        ("2026-10-25T02:30", "01:20"),
        ("2026-10-25T03:00", "02:00"),
        ("2026-10-25T03:30", "02:30"),
    ]


def test_concurrent_ticks_enqueue_once(db_url: str) -> None:
    """Two schedulers with engines of their own, as two worker processes would have, tick at
    the same instant every hour for a day: one job per slot, from one of them."""
    engines = [create_db_engine(db_url) for _ in range(2)]
    try:
        clock = ManualClock(datetime(2026, 6, 1, 0, 30, tzinfo=UTC))
        factories = [create_session_factory(engine) for engine in engines]
        backends = [EmbeddedBackend(f, clock, lease_seconds=60) for f in factories]
        queues = [backend.queue for backend in backends]
        schedulers = [Scheduler(f, b, clock) for f, b in zip(factories, backends, strict=True)]
        schedulers[0].set("c", "pull", "0 * * * *", "Europe/Oslo", payload={"full": False})
        barrier = threading.Barrier(2, timeout=10)
        for _ in range(24):
            clock.advance(timedelta(hours=1))
            results: list[list[str]] = [[], []]

            def tick(n: int, results: list[list[str]] = results) -> None:
                barrier.wait()
                results[n] = schedulers[n].tick()

            threads = [threading.Thread(target=tick, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(results[0] + results[1]) == 1
            job = queues[0].claim("w")
            assert job is not None and queues[0].claim("w") is None
            queues[0].complete(job)
        jobs = queues[0].list(limit=100)
        assert len(jobs) == 24
        assert len({job.payload["slot"] for job in jobs}) == 24
    finally:
        for engine in engines:
            engine.dispose()


def test_job_carries_payload_slot_tenant_and_dedupe_key(
    session_factory: sessionmaker[Session],
) -> None:
    h = Harness(session_factory, datetime(2026, 2, 2, 1, 59, tzinfo=UTC))
    h.scheduler.set("c1", "status", "0 3 * * *", "Europe/Oslo", tenant_id="t1", payload={"a": 1})
    assert h.scheduler.tick() == []
    h.clock.advance(timedelta(minutes=1))
    (job_id,) = h.scheduler.tick()
    job = h.queue.get(job_id)
    assert job is not None
    assert (job.kind, job.connection_id, job.tenant_id) == ("status", "c1", "t1")
    assert job.payload == {"a": 1, "slot": "2026-02-02T03:00"}
    assert job.dedupe_key == "status:c1"


def test_a_queued_job_absorbs_the_next_slot(session_factory: sessionmaker[Session]) -> None:
    """If the previous slot's job still waits (workers busy), the next slot coalesces into it."""
    h = Harness(session_factory, datetime(2026, 2, 2, 0, 0, tzinfo=UTC))
    h.scheduler.set("c1", "pull", "0 * * * *", "UTC")
    h.clock.advance(timedelta(hours=1))
    first = h.scheduler.tick()
    h.clock.advance(timedelta(hours=1))
    assert h.scheduler.tick() == first
    assert len(h.queue.list()) == 1


def test_invalid_cron_or_timezone_names_the_field(session_factory: sessionmaker[Session]) -> None:
    h = Harness(session_factory, datetime(2026, 1, 1, tzinfo=UTC))
    for cron in ("61 * * * *", "0 3 * *", "0 0 3 * * * *", "every day", "0 0 31 2 *"):
        with pytest.raises(ValueError, match=r"^cron: "):
            h.scheduler.set("c", "pull", cron, "Europe/Copenhagen")
    for zone in ("Mars/Olympus_Mons", "", "../etc/passwd", "CET+1"):
        with pytest.raises(ValueError, match=r"^timezone: "):
            h.scheduler.set("c", "pull", "0 3 * * *", zone)
    assert h.scheduler.list("c") == []


def test_set_list_remove(session_factory: sessionmaker[Session]) -> None:
    h = Harness(session_factory, datetime(2026, 1, 1, 12, tzinfo=UTC))
    h.scheduler.set("c1", "pull", "0 3 * * *", "Europe/Copenhagen")
    h.scheduler.set("c1", "push", "*/5 * * * *", "Europe/Copenhagen")
    h.scheduler.set("c2", "pull", "0 3 * * *", "Europe/Copenhagen")
    pull, push = h.scheduler.list("c1")
    assert (pull.kind, pull.next_run_at) == ("pull", datetime(2026, 1, 2, 2, 0, tzinfo=UTC))
    assert (push.kind, push.next_run_at) == ("push", datetime(2026, 1, 1, 12, 5, tzinfo=UTC))
    assert (pull.enabled, pull.last_slot, pull.created_at) == (True, None, h.clock.now())

    assert h.scheduler.remove("c1", "push") == 1
    assert [s.kind for s in h.scheduler.list("c1")] == ["pull"]
    assert h.scheduler.remove("c1") == 1
    assert h.scheduler.remove("c1") == 0
    assert [s.connection_id for s in h.scheduler.list("c2")] == ["c2"]


def test_setting_the_same_rule_again_keeps_a_missed_slot(
    session_factory: sessionmaker[Session],
) -> None:
    """Configuration re-applied at start-up must not skip what ran while the process was down;
    a changed rule starts from now."""
    h = Harness(session_factory, datetime(2026, 1, 1, 12, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 3 * * *", "Europe/Copenhagen")
    h.clock.set(datetime(2026, 1, 3, 12, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 3 * * *", "Europe/Copenhagen", payload={"v": 2})
    (same,) = h.scheduler.list("c")
    assert same.next_run_at == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert same.payload == {"v": 2}

    h.scheduler.set("c", "pull", "0 5 * * *", "Europe/Copenhagen")
    (changed,) = h.scheduler.list("c")
    assert changed.next_run_at == datetime(2026, 1, 4, 4, 0, tzinfo=UTC)


def test_disabled_schedule_does_not_fire_and_resumes_from_now(
    session_factory: sessionmaker[Session],
) -> None:
    h = Harness(session_factory, datetime(2026, 1, 1, 12, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 3 * * *", "Europe/Copenhagen", enabled=False)
    h.clock.set(datetime(2026, 1, 5, 12, tzinfo=UTC))
    assert h.scheduler.tick() == []
    h.scheduler.set("c", "pull", "0 3 * * *", "Europe/Copenhagen", enabled=True)
    assert h.scheduler.tick() == []
    (schedule,) = h.scheduler.list("c")
    assert schedule.next_run_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def test_a_broken_schedule_does_not_hold_up_the_others(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(session_factory, datetime(2026, 1, 1, 12, tzinfo=UTC))
    h.scheduler.set("bad", "pull", "0 * * * *", "UTC")
    h.scheduler.set("good", "pull", "0 * * * *", "UTC")
    with session_factory.begin() as session:
        session.execute(
            sa.update(Schedule)
            .where(Schedule.connection_id == "bad")
            .values(timezone="Atlantis/Capital")
        )
    h.clock.advance(timedelta(hours=1))
    (job_id,) = h.scheduler.tick()
    job = h.queue.get(job_id)
    assert job is not None and job.connection_id == "good"
    assert "could not fire" in caplog.text


def test_kinds_of_one_connection_have_their_own_schedules(
    session_factory: sessionmaker[Session],
) -> None:
    h = Harness(session_factory, datetime(2026, 1, 1, tzinfo=UTC))
    h.scheduler.set("c", "pull", "0 3 * * *", "Europe/Amsterdam")
    h.scheduler.set("c", "status", "0 3 * * *", "Europe/Amsterdam")
    h.drive(datetime(2026, 1, 4, tzinfo=UTC), every(60))
    assert Counter(job.kind for job in h.queue.list()) == {"pull": 3, "status": 3}
