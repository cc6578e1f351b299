"""One contract for both job backends: the embedded queue (SQLite or PostgreSQL) and
procrastinate (PostgreSQL). Every test drives the backend only through the job port, with
real databases and the real clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import SystemClock
from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import (
    Command,
    Handler,
    JobBackend,
    JobContext,
    JobRunner,
    Postpone,
    RetryableError,
    WorkerStopping,
)
from ledgerbridge.runtime.jobqueue.procrastinate import ProcrastinateBackend, ProcrastinateRunner
from tests.conftest import TEST_DATABASE

LEASE = 1.0


@dataclass
class Harness:
    backend: JobBackend
    sessions: sessionmaker[Session]
    ran: list[tuple[str, str | None, str]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    abandon: Callable[[], str] = lambda: ""
    """Let a worker take the next job and die with it; returns the job id."""
    recover: Callable[[JobRunner], int] = lambda runner: 0
    """What the backend does about dead workers (at start-up, or by their heartbeats)."""

    def runner(self, handlers: dict[str, Handler]) -> JobRunner:
        return self.backend.runner(handlers, concurrency=1, poll_interval=0.05)

    def recording(self, name: str) -> Handler:
        def handler(ctx: JobContext) -> dict[str, Any]:
            self.ran.append((name, ctx.job.connection_id, ctx.job.payload.get("n", "")))
            return {"ok": True}

        return handler


def _embedded(sessions: sessionmaker[Session]) -> Harness:
    backend = EmbeddedBackend(sessions, SystemClock(), lease_seconds=LEASE)
    harness = Harness(backend, sessions)

    def abandon() -> str:
        job = backend.queue.claim("dead-worker")
        assert job is not None
        return job.id

    harness.abandon = abandon
    harness.recover = lambda runner: backend.recover_at_start()
    return harness


def _procrastinate(sessions: sessionmaker[Session], url: str) -> Harness:
    backend = ProcrastinateBackend(sessions, SystemClock(), url, lease_seconds=LEASE)
    harness = Harness(backend, sessions)

    def abandon() -> str:
        """What a worker killed with ``kill -9`` leaves: a job in 'doing' held by a worker
        whose heartbeat stopped."""
        with sessions.begin() as session:
            worker = session.scalar(sa.text("SELECT procrastinate_register_worker_v1()"))
            job = session.execute(
                sa.text("SELECT id FROM procrastinate_fetch_job_v2(NULL, :w)"), {"w": worker}
            ).scalar()
            session.execute(
                sa.text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                    " WHERE id = :w"
                ),
                {"w": worker},
            )
        assert job is not None
        return str(job)

    def recover(runner: JobRunner) -> int:
        assert isinstance(runner, ProcrastinateRunner)
        return runner.recover_stalled()

    harness.abandon = abandon
    harness.recover = recover
    return harness


BACKENDS = ["embedded", "procrastinate"]


@pytest.fixture(params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, db_url: str, session_factory: sessionmaker[Session]
) -> Iterator[Harness]:
    if request.param == "procrastinate":
        if TEST_DATABASE == "sqlite":
            pytest.skip("procrastinate runs on PostgreSQL only")
        made = _procrastinate(session_factory, db_url)
    else:
        made = _embedded(session_factory)
    made.backend.on_recovered = made.recovered.extend
    yield made
    made.backend.close()


def test_jobs_of_one_connection_run_in_order(harness: Harness) -> None:
    for n in range(4):
        harness.backend.enqueue(Command("pull", connection_id="a", payload={"n": str(n)}))
    harness.backend.enqueue(Command("pull", connection_id="b", payload={"n": "b"}))
    runner = harness.runner({"pull": harness.recording("pull")})
    assert runner.run_until_idle() == 5
    assert [n for _, c, n in harness.ran if c == "a"] == ["0", "1", "2", "3"]


def test_a_second_waiting_command_is_folded_into_the_first(harness: Harness) -> None:
    ids = {
        harness.backend.enqueue(Command("push", connection_id="a", dedupe_key="push:a"))
        for _ in range(3)
    }
    assert len(ids) == 1
    (job_id,) = ids
    info = harness.backend.get(job_id)
    assert info is not None and (info.status, info.dedupe_key) == ("queued", "push:a")
    assert harness.runner({"push": harness.recording("push")}).run_until_idle() == 1
    # Once it ran, the key is free again.
    again = harness.backend.enqueue(Command("push", connection_id="a", dedupe_key="push:a"))
    assert again != job_id


def test_jobs_are_read_by_their_ids_at_once(harness: Harness) -> None:
    """A page of runs reads its jobs in one query: those that exist, by id, as ``get`` has
    them; an id no job has is left out."""
    ids = [
        harness.backend.enqueue(Command("pull", connection_id="a", payload={"n": str(n)}))
        for n in range(3)
    ]
    found = harness.backend.get_many([*ids, "999999999", "not-a-job"])
    assert found == {job_id: harness.backend.get(job_id) for job_id in ids}
    assert harness.backend.get_many([]) == {}


def test_lower_priority_numbers_run_first(harness: Harness) -> None:
    harness.backend.enqueue(Command("low", connection_id="a", priority=200))
    harness.backend.enqueue(Command("high", connection_id="b", priority=10))
    harness.backend.enqueue(Command("middle", connection_id="a", priority=50))
    handlers = {kind: harness.recording(kind) for kind in ("low", "high", "middle")}
    assert harness.runner(handlers).run_until_idle() == 3
    assert [kind for kind, _, _ in harness.ran] == ["high", "middle", "low"]


def test_a_postponed_job_does_not_hold_up_its_connection(harness: Harness) -> None:
    resumes = datetime.now(UTC) + timedelta(hours=1)

    def quota_spent(ctx: JobContext) -> None:
        harness.ran.append(("pull", ctx.job.connection_id, "postponed"))
        raise Postpone(resumes, "quota spent")

    pull = harness.backend.enqueue(Command("pull", connection_id="a"))
    harness.backend.enqueue(Command("push", connection_id="a"))
    harness.backend.enqueue(Command("push", connection_id="b"))
    runner = harness.runner({"pull": quota_spent, "push": harness.recording("push")})
    assert runner.run_until_idle() == 3
    assert harness.ran == [
        ("pull", "a", "postponed"),
        ("push", "a", ""),
        ("push", "b", ""),
    ]
    waiting = harness.backend.get(pull)
    assert waiting is not None and waiting.status == "queued"
    assert waiting.run_after is not None and abs(waiting.run_after - resumes) < timedelta(seconds=1)
    # Later work of the connection passes the postponed job too.
    harness.backend.enqueue(Command("push", connection_id="a", payload={"n": "later"}))
    assert runner.run_until_idle() == 1
    assert harness.ran[-1] == ("push", "a", "later")


def test_a_failed_attempt_is_retried_after_its_backoff(harness: Harness) -> None:
    attempts: list[int] = []

    def flaky(ctx: JobContext) -> dict[str, Any]:
        attempts.append(ctx.job.attempts)
        if len(attempts) == 1:
            raise RetryableError("503 from the remote API", retry_in=timedelta(seconds=1))
        return {"ok": True}

    job_id = harness.backend.enqueue(Command("pull", connection_id="a"))
    runner = harness.runner({"pull": flaky})
    assert runner.run_until_idle() == 1
    waiting = harness.backend.get(job_id)
    assert waiting is not None and waiting.status == "queued"
    assert runner.run_until_idle() == 0  # not before its backoff
    time.sleep(1.2)
    assert runner.run_until_idle() == 1
    done = harness.backend.get(job_id)
    assert done is not None and done.status == "done"
    assert attempts == [1, 2]


def test_a_retry_folded_into_its_waiting_twin_is_merged_not_failed(harness: Harness) -> None:
    def flaky(ctx: JobContext) -> dict[str, Any]:
        if ctx.job.payload.get("n") == "first":
            # Meanwhile the same work was asked for again: its job waits.
            harness.backend.enqueue(Command("pull", connection_id="a", dedupe_key="pull:a"))
            raise RetryableError("503 from the remote API", retry_in=timedelta(seconds=1))
        return {"ok": True}

    first = harness.backend.enqueue(
        Command("pull", connection_id="a", dedupe_key="pull:a", payload={"n": "first"})
    )
    runner = harness.runner({"pull": flaky})
    assert runner.run_until_idle() == 2
    folded = harness.backend.get(first)
    assert folded is not None
    twin = [job.id for job in harness.backend.list() if job.id != first]
    assert (folded.status, [folded.merged_into]) == ("merged", twin)
    assert [job.id for job in harness.backend.list(statuses=["merged"])] == [first]
    assert harness.backend.list(statuses=["failed"]) == []
    assert [job.id for job in harness.backend.list(statuses=["done"])] == twin
    tally = harness.backend.tally()
    assert tally.jobs == {("pull", "merged"): 1, ("pull", "done"): 1}
    assert (tally.due, tally.oldest_due_at) == (0, None)


def test_the_tally_counts_jobs_due_and_the_oldest_due(harness: Harness) -> None:
    before = datetime.now(UTC)
    harness.backend.enqueue(Command("pull", connection_id="a"))
    harness.backend.enqueue(Command("push", connection_id="b"))
    later = datetime.now(UTC) + timedelta(hours=1)
    harness.backend.enqueue(Command("pull", connection_id="c", run_after=later))
    tally = harness.backend.tally()
    assert tally.jobs == {("pull", "queued"): 2, ("push", "queued"): 1}
    assert tally.due == 2
    assert tally.oldest_due_at is not None
    assert before - timedelta(seconds=5) <= tally.oldest_due_at <= datetime.now(UTC)


def test_a_dead_workers_job_with_a_waiting_twin_is_merged_not_failed(harness: Harness) -> None:
    left = harness.backend.enqueue(Command("pull", connection_id="a", dedupe_key="pull:a"))
    assert harness.abandon() == left
    twin = harness.backend.enqueue(Command("pull", connection_id="a", dedupe_key="pull:a"))
    runner = harness.runner({"pull": harness.recording("pull")})
    time.sleep(LEASE + 0.5)
    assert harness.recover(runner) == 1
    folded = harness.backend.get(left)
    assert folded is not None
    assert (folded.status, folded.merged_into) == ("merged", twin)
    assert harness.backend.list(statuses=["failed", "cancelled"]) == []
    assert runner.run_until_idle() == 1


def test_a_dead_workers_job_runs_again(harness: Harness) -> None:
    first = harness.backend.enqueue(Command("import", connection_id="a"))
    harness.backend.enqueue(Command("push", connection_id="a"))
    assert harness.abandon() == first
    runner = harness.runner(
        {"import": harness.recording("import"), "push": harness.recording("push")}
    )
    assert runner.run_until_idle() == 0  # the connection is held by the dead worker's job
    time.sleep(LEASE + 0.5)
    assert harness.recover(runner) == 1
    assert harness.recovered == [first]
    assert runner.run_until_idle() == 2
    assert [kind for kind, _, _ in harness.ran] == ["import", "push"]
    done = harness.backend.get(first)
    assert done is not None and done.status == "done"


@pytest.mark.parametrize("progressed", [True, False], ids=["wrote-records", "no-progress"])
def test_a_dead_run_that_wrote_records_starts_the_count_of_attempts_afresh(
    harness: Harness, progressed: bool
) -> None:
    """Six workers die in turn holding the job (more than its five attempts). If each of them
    got records through, the job still runs, as its first counted attempt; if none did, it has
    failed, so a job that kills its worker again and again cannot loop forever."""
    asked: list[str] = []

    def probe(session: Session, job_id: str) -> bool:
        asked.append(job_id)
        return progressed

    harness.backend.progressed = probe
    job_id = harness.backend.enqueue(Command("push", connection_id="a"))
    attempts: list[int] = []

    def push(ctx: JobContext) -> dict[str, Any]:
        attempts.append(ctx.job.attempts)
        return {"ok": True}

    runner = harness.runner({"push": push})
    for _ in range(6):
        info = harness.backend.get(job_id)
        assert info is not None
        if info.status != "queued":
            break
        assert harness.abandon() == job_id
        time.sleep(LEASE + 0.2)
        assert harness.recover(runner) == 1
    assert set(asked) == {job_id}
    runner.run_until_idle()
    info = harness.backend.get(job_id)
    assert info is not None
    if progressed:
        assert len(asked) == 6
        assert (info.status, attempts) == ("done", [1])
    else:
        assert (info.status, attempts) == ("failed", [])


def test_postponements_do_not_use_up_attempts(harness: Harness) -> None:
    """Throttling, a spent quota or faults after progress postpone a job many times a day;
    its attempts are left for real failures."""
    seen: list[int] = []

    def throttled(ctx: JobContext) -> dict[str, Any]:
        seen.append(ctx.job.attempts)
        if len(seen) <= 6:
            raise Postpone(datetime.now(UTC), "429: Retry-After 0")
        return {"ok": True}

    job_id = harness.backend.enqueue(Command("push", connection_id="a"))
    runner = harness.runner({"push": throttled})
    while len(seen) < 7 and runner.run_until_idle():
        pass
    info = harness.backend.get(job_id)
    assert info is not None and info.status == "done"
    assert seen == [1] * 7


def test_a_job_enqueued_in_a_rolled_back_transaction_does_not_exist(harness: Harness) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), harness.sessions.begin() as session:
        harness.backend.enqueue(Command("inbox", connection_id="a"), session=session)
        raise Abort
    assert harness.backend.list() == []
    with harness.sessions.begin() as session:
        kept = harness.backend.enqueue(Command("inbox", connection_id="a"), session=session)
    assert [job.id for job in harness.backend.list()] == [kept]


def test_finished_jobs_are_purged_after_the_retention_age(harness: Harness) -> None:
    done = harness.backend.enqueue(Command("pull", connection_id="a"))
    assert harness.runner({"pull": harness.recording("pull")}).run_until_idle() == 1
    waiting = harness.backend.enqueue(
        Command("pull", connection_id="b", run_after=datetime.now(UTC) + timedelta(days=90))
    )
    assert harness.backend.purge_finished(timedelta(days=1)) == 0
    time.sleep(0.2)
    assert harness.backend.purge_finished(timedelta(seconds=0.1)) == 1
    assert harness.backend.get(done) is None
    assert harness.backend.get(waiting) is not None


def test_a_stalled_job_taken_up_meanwhile_is_left_to_its_new_worker(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    """Every live process looks for stalled jobs: the one that finds a job second, after a
    live worker has picked it up, must not send it back to the queue (two runs of it)."""
    if TEST_DATABASE == "sqlite":
        pytest.skip("procrastinate runs on PostgreSQL only")
    harness = _procrastinate(session_factory, db_url)
    backend = harness.backend
    assert isinstance(backend, ProcrastinateBackend)
    try:
        backend.enqueue(Command("pull", connection_id="a"))
        job_id = int(harness.abandon())
        with session_factory() as session:
            dead = session.scalar(
                sa.text("SELECT worker_id FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
        with session_factory.begin() as session:
            live = session.scalar(sa.text("SELECT procrastinate_register_worker_v1()"))
            session.execute(
                sa.text("UPDATE procrastinate_jobs SET worker_id = :w WHERE id = :id"),
                {"w": live, "id": job_id},
            )
        assert not backend.take_stalled(job_id, dead, fail=False, progressed=False)
        assert backend.holds(job_id, live)
        # While the dead worker still holds it, the job goes back to the queue, once.
        with session_factory.begin() as session:
            session.execute(
                sa.text("UPDATE procrastinate_jobs SET worker_id = :w WHERE id = :id"),
                {"w": dead, "id": job_id},
            )
        assert backend.take_stalled(job_id, dead, fail=False, progressed=False)
        assert not backend.take_stalled(job_id, dead, fail=False, progressed=False)
        info = backend.get(str(job_id))
        assert info is not None and info.status == "queued"
    finally:
        backend.close()


def test_a_job_running_past_a_stop_keeps_its_worker_alive_until_it_ends(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    """SIGTERM lets running jobs finish: while one does, for longer than a lease, its worker
    still beats, so no other worker takes it for a dead one's and runs it a second time."""
    if TEST_DATABASE == "sqlite":
        pytest.skip("procrastinate runs on PostgreSQL only")
    harness = _procrastinate(session_factory, db_url)
    backend = harness.backend
    assert isinstance(backend, ProcrastinateBackend)
    started = threading.Event()
    runs: list[str] = []

    def slow(ctx: JobContext) -> dict[str, Any]:
        runs.append(ctx.job.id)
        started.set()
        time.sleep(4 * LEASE)
        return {"ok": True}

    try:
        job_id = backend.enqueue(Command("pull", connection_id="a"))
        stop = threading.Event()
        worker = threading.Thread(
            target=harness.runner({"pull": slow}).run_forever, args=(stop,), daemon=True
        )
        worker.start()
        assert started.wait(10)
        stop.set()
        time.sleep(2 * LEASE)
        other_process = _procrastinate(session_factory, db_url)
        try:
            assert other_process.recover(other_process.runner({"pull": slow})) == 0
        finally:
            other_process.backend.close()
        worker.join(10)
        assert not worker.is_alive()
        info = backend.get(job_id)
        assert info is not None and info.status == "done"
        assert runs == [job_id]
    finally:
        backend.close()


def test_a_dead_workers_job_is_logged_with_its_kind_and_what_became_of_it(
    db_url: str, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reading the log learns which job a dead worker left and whether it runs
    again or a waiting twin does its work."""
    if TEST_DATABASE == "sqlite":
        pytest.skip("procrastinate runs on PostgreSQL only")
    harness = _procrastinate(session_factory, db_url)
    try:
        left = harness.backend.enqueue(Command("pull", connection_id="a", dedupe_key="pull:a"))
        assert harness.abandon() == left
        twin = harness.backend.enqueue(Command("pull", connection_id="a", dedupe_key="pull:a"))
        harness.backend.enqueue(Command("import", connection_id="b"))
        other = harness.abandon()
        time.sleep(LEASE + 0.5)
        caplog.set_level("WARNING", logger="ledgerbridge.runtime.jobqueue.procrastinate")
        assert harness.recover(harness.runner({})) == 2
        assert (
            f"job {left} (pull of connection a): its worker stopped; folded into its waiting "
            f"twin, job {twin}, which does its work" in caplog.text
        )
        assert f"job {other} (import of connection b): its worker stopped; run again" in (
            caplog.text
        )
    finally:
        harness.backend.close()


def test_a_postponement_is_logged_as_one_line_with_when_and_why(
    db_url: str, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """A spent quota is no error: the log says when the job runs again and why, without a
    traceback."""
    if TEST_DATABASE == "sqlite":
        pytest.skip("procrastinate runs on PostgreSQL only")
    harness = _procrastinate(session_factory, db_url)
    resumes = datetime(2031, 1, 2, tzinfo=UTC)

    def quota_spent(ctx: JobContext) -> None:
        raise Postpone(resumes, "daily API quota of 80 calls used up")

    try:
        harness.backend.enqueue(Command("pull", connection_id="a"))
        caplog.set_level("INFO")
        assert harness.runner({"pull": quota_spent}).run_until_idle() == 1
        outcome = [r for r in caplog.records if "pull" in r.getMessage() and "again" in r.message]
        assert len(outcome) == 1
        assert outcome[0].levelname == "INFO" and outcome[0].exc_info is None
        assert outcome[0].message.endswith(
            "runs again at 2031-01-02 00:00:00+00:00: daily API quota of 80 calls used up"
        )
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        harness.backend.close()


def test_a_job_ended_by_its_workers_stop_runs_again_without_an_attempt_counted(
    harness: Harness,
) -> None:
    """A handler that ends early because its worker stops gives its job back: due at once,
    for the next worker, with no attempt used."""
    stopped = threading.Event()

    def long_import(ctx: JobContext) -> dict[str, Any]:
        while not ctx.stop_requested:
            time.sleep(0.05)
        stopped.set()
        raise WorkerStopping("import stopped with its worker")

    job_id = harness.backend.enqueue(Command("import", connection_id="a"))
    stop = threading.Event()
    worker = threading.Thread(
        target=harness.runner({"import": long_import}).run_forever, args=(stop,), daemon=True
    )
    worker.start()
    deadline = time.monotonic() + 10
    while (info := harness.backend.get(job_id)) is not None and info.status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop.set()
    worker.join(10)
    assert stopped.is_set() and not worker.is_alive()
    waiting = harness.backend.get(job_id)
    assert waiting is not None and waiting.status == "queued" and waiting.attempts == 0
    assert harness.runner({"import": harness.recording("import")}).run_until_idle() == 1
    assert harness.ran == [("import", "a", "")]
