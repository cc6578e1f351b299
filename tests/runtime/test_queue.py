"""The job queue's rules, checked on the backend chosen by LEDGERBRIDGE_TEST_DATABASE."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import ManualClock, SystemClock
from ledgerbridge.runtime.queue import ClaimedJob, JobQueue, LeaseLost
from ledgerbridge.store.tables.runtime import Job

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def queue(session_factory: sessionmaker[Session], clock: ManualClock) -> JobQueue:
    return JobQueue(session_factory, clock, lease_seconds=60)


def claim(queue: JobQueue, worker: str = "w1") -> ClaimedJob:
    job = queue.claim(worker)
    assert job is not None
    return job


def status(queue: JobQueue, job_id: str) -> str:
    info = queue.get(job_id)
    assert info is not None
    return info.status


def test_enqueue_claim_complete(queue: JobQueue, clock: ManualClock) -> None:
    job_id = queue.enqueue("pull", connection_id="c1", tenant_id="t1", payload={"page": 1})

    job = claim(queue)
    assert (job.id, job.kind, job.connection_id, job.tenant_id) == (job_id, "pull", "c1", "t1")
    assert job.payload == {"page": 1}
    assert job.attempts == 1
    assert job.lease_owner.startswith("w1#")
    running = queue.get(job_id)
    assert running is not None
    assert running.status == "running"
    assert running.started_at == T0
    assert running.lease_until == T0 + timedelta(seconds=60)

    clock.advance(timedelta(seconds=5))
    queue.complete(job, {"pulled": 3})
    done = queue.get(job_id)
    assert done is not None
    assert (done.status, done.result, done.finished_at) == ("done", {"pulled": 3}, clock.now())
    assert (done.lease_owner, done.lease_until) == (None, None)
    assert queue.claim("w1") is None
    with pytest.raises(LeaseLost):
        queue.complete(job)


def test_priority_then_run_after_then_creation_order(queue: JobQueue, clock: ManualClock) -> None:
    late = queue.enqueue("a", run_after=T0 - timedelta(minutes=1))
    clock.advance(timedelta(seconds=1))
    first_of_equals = queue.enqueue("a", run_after=T0 - timedelta(minutes=5))
    clock.advance(timedelta(seconds=1))
    second_of_equals = queue.enqueue("a", run_after=T0 - timedelta(minutes=5))
    clock.advance(timedelta(seconds=1))
    urgent = queue.enqueue("a", priority=10)

    order = [claim(queue).id for _ in range(4)]
    assert order == [urgent, first_of_equals, second_of_equals, late]
    assert queue.claim("w1") is None


def test_job_due_later_is_not_claimed_until_then(queue: JobQueue, clock: ManualClock) -> None:
    job_id = queue.enqueue("pull", run_after=T0 + timedelta(minutes=10))
    assert queue.claim("w1") is None
    clock.advance(timedelta(minutes=10))
    assert claim(queue).id == job_id


def test_claim_only_takes_requested_kinds(queue: JobQueue) -> None:
    pull = queue.enqueue("pull", priority=1)
    push = queue.enqueue("push", priority=2)
    assert queue.claim("w1", kinds=[]) is None
    assert claim_kinds(queue, ["push"]).id == push
    assert claim_kinds(queue, ["push", "pull"]).id == pull


def claim_kinds(queue: JobQueue, kinds: list[str]) -> ClaimedJob:
    job = queue.claim("w1", kinds=kinds)
    assert job is not None
    return job


def test_dedupe_key_coalesces_a_burst(queue: JobQueue) -> None:
    ids = {queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1") for _ in range(50)}
    assert len(ids) == 1
    assert [job.id for job in queue.list(connection_id="c1")] == list(ids)


def test_running_job_does_not_block_a_new_queued_one(queue: JobQueue) -> None:
    first = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    claim(queue)
    second = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    assert second != first
    assert queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1") == second
    assert Counter(job.status for job in queue.list(connection_id="c1")) == {
        "running": 1,
        "queued": 1,
    }


def test_one_running_job_per_connection(queue: JobQueue, clock: ManualClock) -> None:
    a1 = queue.enqueue("pull", connection_id="a")
    a2 = queue.enqueue("push", connection_id="a")
    b1 = queue.enqueue("pull", connection_id="b")
    b2 = queue.enqueue("push", connection_id="b")

    first, second = claim(queue, "w1"), claim(queue, "w2")
    assert {first.id, second.id} == {a1, b1}
    assert queue.claim("w3") is None

    queue.complete(first if first.id == a1 else second)
    assert claim(queue, "w3").id == a2
    assert queue.claim("w4") is None
    queue.complete(second if second.id == b1 else first)
    assert claim(queue, "w4").id == b2


def test_kinds_filter_sees_the_head_of_its_own_kinds(queue: JobQueue) -> None:
    """A worker without an import handler still takes the connection's pull."""
    queue.enqueue("import", connection_id="c1", priority=10)
    pull = queue.enqueue("pull", connection_id="c1", priority=20)
    assert claim_kinds(queue, ["pull"]).id == pull
    assert queue.claim("w2") is None  # the connection is busy now


def test_a_locked_head_job_makes_claims_pass_over_its_connection(
    db_url: str, queue: JobQueue, session_factory: sessionmaker[Session]
) -> None:
    """While another worker is claiming a connection's first job (row locked), a claim moves on
    to other connections instead of taking that connection's second job."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's; SQLite serializes claims")
    a1 = queue.enqueue("pull", connection_id="a")
    queue.enqueue("push", connection_id="a")
    b1 = queue.enqueue("pull", connection_id="b")
    with session_factory.begin() as other:
        other.execute(sa.select(Job).where(Job.id == a1).with_for_update())
        assert claim(queue).id == b1
        assert queue.claim("w2") is None
    assert claim(queue, "w3").id == a1


def test_database_enforces_the_queue_rules(session_factory: sessionmaker[Session]) -> None:
    """The partial unique indexes hold even against writes that bypass the queue."""

    def row(**values: object) -> dict[str, object]:
        return {"kind": "pull", "run_after": T0, "created_at": T0, "seq": 1, **values}

    with session_factory.begin() as session:
        session.execute(sa.insert(Job).values(row(connection_id="c1", status="running")))
        session.execute(sa.insert(Job).values(row(connection_id="c1", status="queued")))
        session.execute(sa.insert(Job).values(row(dedupe_key="k", status="queued")))
        session.execute(sa.insert(Job).values(row(dedupe_key="k", status="running")))
    for duplicate in (
        row(connection_id="c1", status="running"),
        row(dedupe_key="k", status="queued"),
        row(status="sleeping"),
    ):
        with pytest.raises(IntegrityError), session_factory.begin() as session:
            session.execute(sa.insert(Job).values(duplicate))


def test_threads_never_overlap_jobs_of_one_connection(
    session_factory: sessionmaker[Session],
) -> None:
    queue = JobQueue(session_factory, SystemClock(), lease_seconds=60)
    for n in range(40):
        queue.enqueue("sync", connection_id=f"c{n % 4}", payload={"n": n})
    runs: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def hammer(worker: str) -> None:
        try:
            idle_since = time.monotonic()
            while time.monotonic() - idle_since < 0.5:
                job = queue.claim(worker)
                if job is None:
                    time.sleep(0.001)
                    continue
                start = time.monotonic()
                time.sleep(0.002)
                end = time.monotonic()
                with lock:
                    runs.append((job.id, job.connection_id or "", start, end))
                queue.complete(job)
                idle_since = time.monotonic()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_serial_and_once(queue, runs, expected=40)


def assert_serial_and_once(
    queue: JobQueue, runs: list[tuple[str, str, float, float]], *, expected: int
) -> None:
    assert len(runs) == expected
    assert len({job_id for job_id, *_ in runs}) == expected
    by_connection: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _job_id, connection_id, start, end in runs:
        by_connection[connection_id].append((start, end))
    for intervals in by_connection.values():
        intervals.sort()
        for (_, end), (next_start, _) in pairwise(intervals):
            assert end <= next_start
    assert {job.status for job in queue.list(limit=1000)} == {"done"}
    assert {job.attempts for job in queue.list(limit=1000)} == {1}


CLAIMER = textwrap.dedent(
    """
    import json, sys, threading, time
    from ledgerbridge.clock import SystemClock
    from ledgerbridge.runtime.queue import JobQueue
    from ledgerbridge.store.db import create_db_engine, create_session_factory

    url, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
    engine = create_db_engine(url)
    queue = JobQueue(create_session_factory(engine), SystemClock(), lease_seconds=60)
    runs, lock = [], threading.Lock()

    def hammer(worker):
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            job = queue.claim(worker)
            if job is None:
                time.sleep(0.001)
                continue
            start = time.monotonic()
            time.sleep(0.002)
            end = time.monotonic()
            with lock:
                runs.append([job.id, job.connection_id, start, end])
            queue.complete(job)
            idle_since = time.monotonic()

    threads = [threading.Thread(target=hammer, args=(f"{name}-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(out, "w") as file:
        json.dump(runs, file)
    """
)


def test_processes_never_overlap_jobs_of_one_connection(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Two worker processes (two threads each) on one database; CLOCK_MONOTONIC is shared by
    the processes of one machine, so their intervals can be compared."""
    queue = JobQueue(session_factory, SystemClock())
    for n in range(40):
        queue.enqueue("sync", connection_id=f"c{n % 4}")
    outputs = [tmp_path / f"runs-{n}.json" for n in range(2)]
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, db_url, f"p{n}", str(out)])
        for n, out in enumerate(outputs)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    runs = [
        (job_id, connection_id, start, end)
        for out in outputs
        for job_id, connection_id, start, end in json.loads(out.read_text())
    ]
    assert_serial_and_once(queue, runs, expected=40)


def test_expired_lease_is_recovered_and_the_old_holder_loses_it(
    queue: JobQueue, clock: ManualClock
) -> None:
    job_id = queue.enqueue("import", connection_id="c1")
    held = claim(queue, "w1")
    clock.advance(timedelta(seconds=30))
    queue.heartbeat(held)
    clock.advance(timedelta(seconds=59))
    assert queue.recover_expired() == 0  # the heartbeat extended the lease

    clock.advance(timedelta(seconds=2))
    assert queue.recover_expired() == 1
    info = queue.get(job_id)
    assert info is not None
    assert (info.status, info.attempts, info.lease_owner) == ("queued", 1, None)
    assert info.last_error is not None and "lease" in info.last_error

    taken = claim(queue, "w2")
    assert (taken.id, taken.attempts) == (job_id, 2)
    with pytest.raises(LeaseLost):
        queue.heartbeat(held)
    with pytest.raises(LeaseLost):
        queue.complete(held, {"stale": True})
    queue.heartbeat(taken)
    queue.complete(taken, {"fresh": True})
    done = queue.get(job_id)
    assert done is not None and done.result == {"fresh": True}


def test_a_claim_takes_over_a_connection_whose_job_lost_its_lease(
    queue: JobQueue, clock: ManualClock
) -> None:
    """A dead worker blocks its connection for one lease at most, and its job keeps its place
    ahead of younger jobs of the connection."""
    crashed = queue.enqueue("pull", connection_id="c1")
    younger = queue.enqueue("push", connection_id="c1")
    stale = claim(queue, "dead")
    assert queue.claim("w2") is None

    clock.advance(timedelta(seconds=61))
    retaken = claim(queue, "w2")
    assert (retaken.id, retaken.attempts) == (crashed, 2)
    with pytest.raises(LeaseLost):
        queue.heartbeat(stale)
    queue.complete(retaken)
    assert claim(queue, "w2").id == younger


def test_same_worker_cannot_settle_an_earlier_claim(queue: JobQueue, clock: ManualClock) -> None:
    queue.enqueue("pull")
    first = claim(queue, "w1")
    clock.advance(timedelta(seconds=61))
    second = claim(queue, "w1")
    assert second.id == first.id
    with pytest.raises(LeaseLost):
        queue.complete(first)
    queue.complete(second)


def test_expired_job_without_attempts_left_fails(queue: JobQueue, clock: ManualClock) -> None:
    job_id = queue.enqueue("pull", max_attempts=1)
    claim(queue)
    clock.advance(timedelta(minutes=2))
    assert queue.recover_expired() == 1
    assert status(queue, job_id) == "failed"


def test_expired_job_without_attempts_left_is_merged_into_its_waiting_twin(
    queue: JobQueue, clock: ManualClock
) -> None:
    """A dead worker's job whose twin waits is folded into it, on its last attempt too: the
    twin does its work, so it has not failed (as on procrastinate, whose contract is the same)."""
    job_id = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1", max_attempts=1)
    claim(queue)
    twin = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    clock.advance(timedelta(minutes=2))
    assert queue.recover_expired() == 1
    info = queue.get(job_id)
    assert info is not None
    assert (info.status, info.merged_into) == ("merged", twin)
    assert queue.list(statuses=["failed"]) == []
    assert status(queue, twin) == "queued"


def test_recover_all_running_after_a_crash(queue: JobQueue) -> None:
    ids = [queue.enqueue("pull", connection_id=c) for c in ("a", "b")]
    queued = queue.enqueue("pull", connection_id="c", run_after=T0 + timedelta(hours=1))
    claim(queue, "w1")
    claim(queue, "w2")
    assert queue.recover_all_running() == 2
    assert [status(queue, job_id) for job_id in [*ids, queued]] == ["queued"] * 3
    assert queue.recover_all_running() == 0


def test_fail_retries_until_attempts_run_out(queue: JobQueue, clock: ManualClock) -> None:
    job_id = queue.enqueue("pull", max_attempts=2)
    queue.fail(claim(queue), "RemoteUnavailable: 503", retry_in=timedelta(minutes=1))
    info = queue.get(job_id)
    assert info is not None
    assert (info.status, info.attempts, info.last_error) == ("queued", 1, "RemoteUnavailable: 503")
    assert info.run_after == T0 + timedelta(minutes=1)
    assert queue.claim("w1") is None

    clock.advance(timedelta(minutes=1))
    queue.fail(claim(queue), "RemoteUnavailable: 502", retry_in=timedelta(minutes=1))
    info = queue.get(job_id)
    assert info is not None
    assert (info.status, info.attempts, info.last_error) == ("failed", 2, "RemoteUnavailable: 502")
    assert info.finished_at == clock.now()


def test_fail_without_retry_is_final(queue: JobQueue) -> None:
    job_id = queue.enqueue("pull")
    queue.fail(claim(queue), "AuthenticationFailed: bad key")
    assert status(queue, job_id) == "failed"


def test_release_does_not_count_an_attempt(queue: JobQueue, clock: ManualClock) -> None:
    job_id = queue.enqueue("pull", max_attempts=1)
    tomorrow = T0 + timedelta(days=1)
    for _ in range(3):
        job = claim(queue)
        assert job.attempts == 1
        queue.release(job, run_after=tomorrow)
        info = queue.get(job_id)
        assert info is not None
        assert (info.status, info.attempts, info.run_after) == ("queued", 0, tomorrow)
        assert queue.claim("w1") is None
        clock.set(tomorrow)
        tomorrow += timedelta(days=1)


def test_retry_coalesces_into_a_job_already_waiting(queue: JobQueue) -> None:
    """A failed run's retry and a newer queued run of the same key are one job: the queued."""
    running_id = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    job = claim(queue)
    waiting_id = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    queue.fail(job, "Timeout", retry_in=timedelta(seconds=5))
    info = queue.get(running_id)
    assert info is not None
    assert (info.status, info.merged_into) == ("merged", waiting_id)
    assert info.last_error == f"Timeout; folded into queued job {waiting_id}, which does its work"
    assert status(queue, waiting_id) == "queued"
    assert [j.id for j in queue.list(statuses=["merged"])] == [running_id]
    assert queue.list(statuses=["failed", "cancelled"]) == []


def test_a_cancelled_job_of_an_older_version_reads_as_it_was(
    queue: JobQueue, session_factory: sessionmaker[Session]
) -> None:
    """Rows written before folded jobs were told apart keep their state."""
    job_id = queue.enqueue("pull", connection_id="c1", dedupe_key="pull:c1")
    with session_factory.begin() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(status="cancelled", result=None, last_error="coalesced into queued job x")
        )
    info = queue.get(job_id)
    assert info is not None and (info.status, info.merged_into) == ("cancelled", None)
    assert [j.id for j in queue.list(statuses=["cancelled"])] == [job_id]
    assert queue.list(statuses=["merged"]) == []


def test_list_get_and_purge(queue: JobQueue, clock: ManualClock) -> None:
    old = queue.enqueue("pull", connection_id="c1")
    queue.complete(claim(queue))
    clock.advance(timedelta(days=10))
    recent = queue.enqueue("push", connection_id="c1")
    queue.complete(claim(queue))
    waiting = queue.enqueue("pull", connection_id="c2")
    assert queue.get("no-such-job") is None

    assert [job.id for job in queue.list()] == [waiting, recent, old]
    assert [job.id for job in queue.list(connection_id="c1", limit=1)] == [recent]
    assert [job.id for job in queue.list(statuses=["queued"])] == [waiting]

    assert queue.purge_finished(timedelta(days=7)) == 1
    assert [job.id for job in queue.list()] == [waiting, recent]


def test_on_enqueue_fires_after_commit_for_new_jobs_only(
    queue: JobQueue, session_factory: sessionmaker[Session]
) -> None:
    calls: list[str] = []
    queue.on_enqueue = lambda: calls.append("wake")
    queue.enqueue("pull", dedupe_key="k")
    queue.enqueue("pull", dedupe_key="k")
    assert calls == ["wake"]

    with session_factory.begin() as session:
        job_id = queue.enqueue("push", session=session)
        assert calls == ["wake"]
    assert calls == ["wake", "wake"]
    assert status(queue, job_id) == "queued"

    with pytest.raises(RuntimeError), session_factory.begin() as session:
        rolled_back = queue.enqueue("push", session=session)
        raise RuntimeError("caller fails")
    assert queue.get(rolled_back) is None
