"""The worker: handlers, results, retries with backoff, postponing, leases and wake-ups."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import ManualClock, SystemClock
from ledgerbridge.runtime.jobqueue.port import (
    JobContext,
    LeaseLost,
    Postpone,
    RetryableError,
    RunningJob,
    exponential_backoff,
)
from ledgerbridge.runtime.queue import ClaimedJob, JobInfo, JobQueue
from ledgerbridge.runtime.worker import Worker
from ledgerbridge.store.tables.runtime import Job

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def queue(session_factory: sessionmaker[Session], clock: ManualClock) -> JobQueue:
    return JobQueue(session_factory, clock, lease_seconds=60)


def info(queue: JobQueue, job_id: str) -> JobInfo:
    found = queue.get(job_id)
    assert found is not None
    return found


def test_handler_result_is_stored(queue: JobQueue) -> None:
    seen: list[RunningJob] = []

    def pull(ctx: JobContext) -> dict[str, Any]:
        seen.append(ctx.job)
        return {"pulled": ctx.job.payload["n"] * 2}

    job_id = queue.enqueue("pull", connection_id="c1", payload={"n": 21})
    worker = Worker(queue, {"pull": pull}, worker_id="w1")
    assert worker.run_once() is True
    assert worker.run_once() is False
    assert [job.id for job in seen] == [job_id]
    done = info(queue, job_id)
    assert (done.status, done.result, done.attempts) == ("done", {"pulled": 42}, 1)


def test_unknown_kinds_are_never_claimed(queue: JobQueue) -> None:
    other = queue.enqueue("reconcile", priority=1)
    mine = queue.enqueue("pull", priority=2)
    worker = Worker(queue, {"pull": lambda ctx: None})
    assert worker.run_until_idle() == 1
    assert info(queue, mine).status == "done"
    assert info(queue, other).status == "queued"


def test_exception_retries_with_backoff_then_fails(
    queue: JobQueue, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: JobContext) -> None:
        raise ValueError(f"bad row on attempt {ctx.job.attempts}")

    job_id = queue.enqueue("pull", max_attempts=3)
    worker = Worker(queue, {"pull": broken})
    with caplog.at_level(logging.ERROR, logger="ledgerbridge.runtime.worker"):
        assert worker.run_until_idle() == 1
    first = info(queue, job_id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.run_after == T0 + timedelta(seconds=2)
    assert first.last_error == "ValueError: bad row on attempt 1"
    assert "Traceback" not in first.last_error
    assert caplog.records and caplog.records[0].exc_info is not None  # the traceback is logged

    assert worker.run_until_idle() == 0  # not due yet
    clock.advance(timedelta(seconds=2))
    assert worker.run_until_idle() == 1
    second = info(queue, job_id)
    assert (second.status, second.run_after) == ("queued", clock.now() + timedelta(seconds=4))

    clock.advance(timedelta(seconds=4))
    assert worker.run_until_idle() == 1
    last = info(queue, job_id)
    assert (last.status, last.attempts) == ("failed", 3)
    assert last.last_error == "ValueError: bad row on attempt 3"


def test_retryable_error_sets_its_own_delay(queue: JobQueue, clock: ManualClock) -> None:
    def limited(ctx: JobContext) -> None:
        raise RetryableError("429 Too Many Requests", retry_in=timedelta(minutes=10))

    job_id = queue.enqueue("pull", max_attempts=2)
    worker = Worker(queue, {"pull": limited})
    worker.run_until_idle()
    first = info(queue, job_id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.run_after == T0 + timedelta(minutes=10)
    assert first.last_error == "RetryableError: 429 Too Many Requests"

    clock.advance(timedelta(minutes=10))
    worker.run_until_idle()
    assert info(queue, job_id).status == "failed"


def test_postpone_releases_without_counting_an_attempt(queue: JobQueue, clock: ManualClock) -> None:
    resets = T0.replace(hour=23)
    calls: list[int] = []

    def quota_bound(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.job.attempts)
        if ctx.clock.now() < resets:
            raise Postpone(resets, "daily quota spent")
        return {"ok": True}

    job_id = queue.enqueue("pull", max_attempts=1)
    worker = Worker(queue, {"pull": quota_bound})
    assert worker.run_until_idle() == 1
    waiting = info(queue, job_id)
    assert (waiting.status, waiting.attempts, waiting.run_after) == ("queued", 0, resets)

    clock.set(resets)
    assert worker.run_until_idle() == 1
    assert calls == [1, 1]
    assert info(queue, job_id).status == "done"


def test_the_runtime_renews_the_lease_of_a_handler_that_never_checks_in(
    session_factory: sessionmaker[Session],
) -> None:
    """A handler stuck in one slow remote call for three leases keeps its job: the lease is
    renewed by the worker's heartbeat thread, not by the handler's pace."""
    queue = JobQueue(session_factory, SystemClock(), lease_seconds=0.6)
    renewals: list[float] = []
    original = queue.heartbeat

    def counting(job: ClaimedJob) -> None:
        renewals.append(time.monotonic())
        original(job)

    queue.heartbeat = counting  # type: ignore[method-assign]
    recovered: list[int] = []

    def slow_call(ctx: JobContext) -> None:
        for _ in range(6):
            time.sleep(0.3)
            recovered.append(queue.recover_expired())

    job_id = queue.enqueue("import")
    Worker(queue, {"import": slow_call}).run_until_idle()
    assert info(queue, job_id).status == "done"
    assert recovered == [0] * 6
    assert len(renewals) >= 6  # every 0.2 s over 1.8 s


def test_a_lost_lease_stops_the_handler_at_its_next_check(
    session_factory: sessionmaker[Session],
) -> None:
    queue = JobQueue(session_factory, SystemClock(), lease_seconds=0.3)
    checks: list[str] = []

    def handler(ctx: JobContext) -> None:
        taken = queue.claim("w2")  # nothing to take: the lease is being renewed
        assert taken is None
        with session_factory.begin() as session:  # another worker takes the job over
            session.execute(sa.update(Job).values(lease_owner="w2#stolen"))
        for _ in range(20):
            time.sleep(0.05)
            try:
                ctx.heartbeat()
            except LeaseLost:
                checks.append("stopped")
                raise
        checks.append("ran to the end")

    job_id = queue.enqueue("import")
    Worker(queue, {"import": handler}, worker_id="w1").run_once()
    assert checks == ["stopped"]
    assert info(queue, job_id).lease_owner == "w2#stolen"


def test_a_handler_that_lost_its_lease_records_nothing(
    queue: JobQueue, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    taken: list[ClaimedJob] = []

    def slow(ctx: JobContext) -> dict[str, Any]:
        clock.advance(timedelta(minutes=2))
        other = queue.claim("w2")
        assert other is not None
        taken.append(other)
        ctx.heartbeat()
        return {"stale": True}

    job_id = queue.enqueue("import")
    with caplog.at_level(logging.WARNING, logger="ledgerbridge.runtime.worker"):
        assert Worker(queue, {"import": slow}, worker_id="w1").run_once() is True
    assert "lease lost" in caplog.text
    current = info(queue, job_id)
    assert (current.status, current.result) == ("running", None)
    assert current.lease_owner == taken[0].lease_owner


def test_run_until_idle_respects_max_jobs(queue: JobQueue) -> None:
    for _ in range(3):
        queue.enqueue("pull")
    worker = Worker(queue, {"pull": lambda ctx: None})
    assert worker.run_until_idle(max_jobs=2) == 2
    assert worker.run_until_idle() == 1


def test_run_forever_wakes_on_enqueue_and_stops(queue: JobQueue) -> None:
    ran = threading.Event()

    def pull(ctx: JobContext) -> None:
        ran.set()

    worker = Worker(queue, {"pull": pull}, concurrency=2, poll_interval=30)
    queue.on_enqueue = worker.wake
    stop = threading.Event()
    runner = threading.Thread(target=worker.run_forever, args=(stop,))
    runner.start()
    try:
        time.sleep(0.05)  # both threads found nothing and wait up to 30 s
        started = time.monotonic()
        job_id = queue.enqueue("pull")
        assert ran.wait(5)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
    assert info(queue, job_id).status == "done"


def test_run_forever_runs_connections_in_parallel(queue: JobQueue) -> None:
    """Two threads, two connections: both jobs of the first round run at the same time."""
    barrier = threading.Barrier(2, timeout=5)

    def meet(ctx: JobContext) -> None:
        barrier.wait()

    for connection_id in ("a", "b"):
        queue.enqueue("pull", connection_id=connection_id)
    worker = Worker(queue, {"pull": meet}, concurrency=2, poll_interval=0.01)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run_forever, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while len(queue.list(statuses=["done"])) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        runner.join(5)
    assert {job.status for job in queue.list()} == {"done"}


def test_exponential_backoff() -> None:
    assert [exponential_backoff(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert exponential_backoff(20) == timedelta(minutes=5)
