"""Runs the embedded queue's jobs through handlers, in threads of this process.

A handler is a plain function of a ``JobContext``. The worker owns the bookkeeping: it claims,
records the result and turns exceptions into retries with backoff. While a handler runs, a
heartbeat thread renews the job's lease every third of it, whatever the handler's pace (a
slow remote API must not let another worker take the job over); when the lease is lost the
context's ``heartbeat`` raises ``LeaseLost`` so the handler stops at its next check. Claims and
results are short transactions of the queue; none is open while a handler runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue.port import (
    Handler,
    LeaseLost,
    Postpone,
    RetryableError,
    WorkerStopping,
    describe,
    exponential_backoff,
)
from ledgerbridge.runtime.queue import ClaimedJob, JobQueue

logger = logging.getLogger(__name__)


class EmbeddedJobContext:
    """The handler's view of a claimed job; ``lost`` is set by the heartbeat thread."""

    def __init__(self, queue: JobQueue, job: ClaimedJob, stopping: threading.Event) -> None:
        self.job: ClaimedJob = job
        self._queue = queue
        self._stopping = stopping
        self.lost = threading.Event()

    @property
    def clock(self) -> Clock:
        return self._queue.clock

    def heartbeat(self) -> None:
        """Raise LeaseLost once the lease could not be renewed (the job was taken over)."""
        if self.lost.is_set():
            raise LeaseLost(self.job.id)

    @property
    def stop_requested(self) -> bool:
        return self._stopping.is_set()


class _LeaseKeeper:
    """Renews a job's lease every third of it until stopped, from its own thread."""

    def __init__(self, queue: JobQueue, context: EmbeddedJobContext) -> None:
        self._queue = queue
        self._context = context
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{context.job.id[:8]}", daemon=True
        )

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        every = self._queue.lease_seconds / 3
        while not self._stop.wait(every):
            try:
                self._queue.heartbeat(self._context.job)
            except LeaseLost:
                self._context.lost.set()
                return
            except Exception:
                # The database may be briefly unreachable; the lease still has two thirds.
                logger.exception("renewing the lease of job %s failed", self._context.job.id)


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
        self._stopping = threading.Event()

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
        context = EmbeddedJobContext(self._queue, job, self._stopping)
        try:
            try:
                with _LeaseKeeper(self._queue, context):
                    result = handler(context)
            except LeaseLost:
                raise  # from the handler's heartbeat: not a failure of the job
            except Postpone as postpone:
                self._queue.release(job, run_after=postpone.run_after)
            except WorkerStopping:
                self._queue.release(job, run_after=self._queue.clock.now())
            except RetryableError as error:
                self._queue.fail(job, describe(error), retry_in=error.retry_in)
            except Exception as error:
                logger.exception("job %s (%s) attempt %d failed", job.id, job.kind, job.attempts)
                self._queue.fail(job, describe(error), retry_in=self._backoff(job.attempts))
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
        self._stopping.clear()
        threads = [
            threading.Thread(
                target=self._loop, args=(stop,), name=f"ledgerbridge-worker-{n}", daemon=True
            )
            for n in range(self._concurrency)
        ]
        for thread in threads:
            thread.start()
        stop.wait()
        self._stopping.set()
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
