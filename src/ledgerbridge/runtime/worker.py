"""Runs queued jobs through handlers: in-process threads (embedded) or worker processes.

A handler is a plain function of a ``JobContext``. The worker owns the bookkeeping: it claims,
records the result and turns exceptions into retries with backoff. It does not renew leases by
itself: handlers call ``heartbeat`` between pages of long work, where they know they are making
progress, so a handler stuck for good loses its lease. Claims and results are short transactions
of the queue; none is open while a handler runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.queue import ClaimedJob, JobQueue, LeaseLost

logger = logging.getLogger(__name__)


class JobContext:
    """What a handler gets: its job, the clock, and a way to say "still alive"."""

    def __init__(self, queue: JobQueue, job: ClaimedJob) -> None:
        self.job = job
        self._queue = queue
        self._beat_every = timedelta(seconds=queue.lease_seconds / 3)
        self._last_beat = queue.clock.now()

    def heartbeat(self) -> None:
        """Renew the lease, at most about every third of it: handlers may call this per page
        or per record without a database write each time. Raises LeaseLost if the job was
        taken away, and the handler should then stop."""
        now = self._queue.clock.now()
        if now - self._last_beat < self._beat_every:
            return
        self._queue.heartbeat(self.job)
        self._last_beat = now

    @property
    def clock(self) -> Clock:
        return self._queue.clock


Handler = Callable[[JobContext], dict[str, Any] | None]


class RetryableError(Exception):
    """Raised by a handler to ask for another attempt after ``retry_in`` (for example the
    remote API answered 429 with Retry-After). Counts as an attempt."""

    def __init__(self, message: str, *, retry_in: timedelta) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class Postpone(Exception):
    """Raised by a handler to give the job back until ``run_after`` without counting an
    attempt (the daily call quota is spent: try after it resets)."""

    def __init__(self, run_after: datetime, reason: str = "") -> None:
        super().__init__(reason or f"postponed until {run_after.isoformat()}")
        self.run_after = run_after


def exponential_backoff(attempts: int) -> timedelta:
    """2 s after the first attempt, then 4 s, 8 s, … never more than 5 minutes."""
    return timedelta(seconds=min(2.0 ** max(attempts, 1), 300.0))


def _describe(error: BaseException) -> str:
    # Type and message only: a traceback may carry request bodies or tokens into the table.
    return f"{type(error).__name__}: {error}"


class Worker:
    """Claims jobs of the kinds it has handlers for and runs them."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        concurrency: int = 1,
        poll_interval: float = 1.0,
        retry_backoff: Callable[[int], timedelta] = exponential_backoff,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._queue = queue
        self._handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._backoff = retry_backoff
        self._wakeup = threading.Condition()
        self._wake_count = 0

    def run_once(self) -> bool:
        """Claim one job we have a handler for, run it and record the outcome; True if a job
        ran."""
        job = self._queue.claim(self.worker_id, self._handlers.keys())
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: ClaimedJob) -> None:
        handler = self._handlers[job.kind]
        try:
            try:
                result = handler(JobContext(self._queue, job))
            except LeaseLost:
                raise  # from the handler's heartbeat: not a failure of the job
            except Postpone as postpone:
                self._queue.release(job, run_after=postpone.run_after)
            except RetryableError as error:
                self._queue.fail(job, _describe(error), retry_in=error.retry_in)
            except Exception as error:
                logger.exception("job %s (%s) attempt %d failed", job.id, job.kind, job.attempts)
                self._queue.fail(job, _describe(error), retry_in=self._backoff(job.attempts))
            else:
                self._queue.complete(job, result)
        except LeaseLost:
            # Another worker owns the job now; whatever we did is superseded by its run.
            logger.warning("job %s (%s): lease lost, outcome discarded", job.id, job.kind)

    def run_until_idle(self, max_jobs: int | None = None) -> int:
        """Run jobs until none is due (or ``max_jobs`` ran); returns how many ran."""
        ran = 0
        while (max_jobs is None or ran < max_jobs) and self.run_once():
            ran += 1
        return ran

    def run_forever(self, stop: threading.Event) -> None:
        """Run ``concurrency`` threads that claim and run jobs until ``stop`` is set.

        Idle threads sleep ``poll_interval`` or until ``wake``. Crashed workers' jobs need no
        timer here: every claim first puts expired leases back in the queue.
        """
        threads = [
            threading.Thread(
                target=self._loop, args=(stop,), name=f"ledgerbridge-worker-{n}", daemon=True
            )
            for n in range(self._concurrency)
        ]
        for thread in threads:
            thread.start()
        stop.wait()
        self.wake()
        for thread in threads:
            thread.join()

    def wake(self) -> None:
        """Let idle threads look for work now (after an enqueue in this process)."""
        with self._wakeup:
            self._wake_count += 1
            self._wakeup.notify_all()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._wakeup:
                seen = self._wake_count
            try:
                ran = self.run_once()
            except Exception:
                # The database may be briefly unreachable; keep the thread alive and retry.
                logger.exception("worker %s: claiming or recording a job failed", self.worker_id)
                ran = False
            if ran:
                continue
            with self._wakeup:
                if self._wake_count == seen and not stop.is_set():
                    self._wakeup.wait(self._poll_interval)
