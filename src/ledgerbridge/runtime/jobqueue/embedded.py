"""The embedded backend: the durable queue in our own tables, run by threads of this process.

Used with SQLite (``ledgerbridge serve`` and ``demo``), where the one process is the only
worker: procrastinate has no SQLite connector, and its in-memory one loses every job on
``kill -9``. At start-up the jobs a killed process left running are run again at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.runtime.jobqueue.port import (
    Command,
    Handler,
    JobInfo,
    JobTally,
    ProgressProbe,
    RecoveredHook,
)
from ledgerbridge.runtime.queue import JobQueue
from ledgerbridge.runtime.worker import Worker


class EmbeddedBackend:
    """``JobBackend`` over ``JobQueue``."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Clock, *, lease_seconds: float
    ) -> None:
        self.queue = JobQueue(session_factory, clock, lease_seconds=lease_seconds)

    @property
    def on_recovered(self) -> RecoveredHook | None:
        return self.queue.on_recovered

    @on_recovered.setter
    def on_recovered(self, hook: RecoveredHook | None) -> None:
        self.queue.on_recovered = hook

    @property
    def progressed(self) -> ProgressProbe | None:
        return self.queue.progressed

    @progressed.setter
    def progressed(self, probe: ProgressProbe | None) -> None:
        self.queue.progressed = probe

    def enqueue(self, command: Command, *, session: Session | None = None) -> str:
        return self.queue.enqueue(
            command.kind,
            connection_id=command.connection_id,
            tenant_id=command.tenant_id,
            payload=command.payload,
            dedupe_key=command.dedupe_key,
            run_after=command.run_after,
            priority=command.priority,
            session=session,
        )

    def get(self, job_id: str) -> JobInfo | None:
        return self.queue.get(job_id)

    def get_many(self, job_ids: Collection[str]) -> dict[str, JobInfo]:
        return dict(self.queue.get_many(job_ids))

    def list(
        self,
        *,
        connection_id: str | None = None,
        statuses: Collection[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[JobInfo]:
        return list(self.queue.list(connection_id=connection_id, statuses=statuses, limit=limit))

    def purge_finished(self, older_than: timedelta) -> int:
        return self.queue.purge_finished(older_than)

    def tally(self) -> JobTally:
        return self.queue.tally()

    def hasten(self, connection_id: str, held_until: datetime) -> int:
        return self.queue.hasten(connection_id, held_until)

    def runner(
        self, handlers: Mapping[str, Handler], *, concurrency: int, poll_interval: float
    ) -> Worker:
        worker = Worker(self.queue, handlers, concurrency=concurrency, poll_interval=poll_interval)
        self.queue.on_enqueue = worker.wake
        return worker

    def recover_at_start(self) -> int:
        return self.queue.recover_all_running()

    def close(self) -> None:
        """Nothing to release: the queue uses the installation's sessions."""
