"""A job folded into its waiting twin reads as merged, not failed, on the activity page and
the run's page: its attempt's run failed, the job's work is done by the twin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import Run
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed
from tests.integration.ui.conftest import Web, text_of
from tests.statements import statements


def test_a_folded_job_shows_as_merged_on_the_activity_page(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    seed(uniconta, 1)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    backend = system.queue
    if not isinstance(backend, EmbeddedBackend):
        pytest.skip(
            "folds a job by hand through the embedded queue (the contract tests fold "
            "one on procrastinate)"
        )
    pull = Command("pull", connection_id=cid, tenant_id=tenant.tenant_id, dedupe_key=f"pull:{cid}")
    first = backend.enqueue(pull)
    job = backend.queue.claim("worker-1", kinds=["pull"])
    assert job is not None and job.id == first
    # The attempt's run as the pull job leaves it when the system is unreachable (written
    # here: the sandbox cannot be made to drop connections for one attempt only).
    now = system.clock.now()
    with system.sessions.begin() as session:
        run = Run(
            connection_id=cid, kind="pull", job_id=first, status="failed", counts={}, calls=1,
            started_at=now, finished_at=now, message="Uniconta is unreachable",
        )  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
    twin = backend.enqueue(pull)  # asked for again while it ran
    backend.queue.fail(job, "RemoteUnavailable: 503", retry_in=timedelta(seconds=2))

    info = backend.get(first)
    assert info is not None and (info.status, info.merged_into) == ("merged", twin)
    activity = text_of(web.get(f"/ui/connections/{cid}/activity").text)
    assert f"merged its job was folded into job {twin}, which does its work" in activity
    detail = text_of(web.get(f"/ui/connections/{cid}/activity/runs/{run_id}").text)
    assert f"merged Its job was folded into job {twin}" in detail


def test_the_activity_page_reads_its_runs_jobs_in_one_query(
    system: System, tenant: Tenant, web: Web
) -> None:
    """Whether each run's job was folded is read for the whole page at once: the page makes
    as many statements for 20 runs as for one."""
    created = tenant.api.post("/connections", json={"system": "files", "name": "Shop files"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]

    def add_runs(count: int) -> None:
        now = system.clock.now()
        jobs = [
            system.queue.enqueue(Command("file_scan", connection_id=cid, payload={"n": n}))
            for n in range(count)
        ]
        with system.sessions.begin() as session:
            session.add_all(
                Run(
                    connection_id=cid,
                    kind="file_scan",
                    job_id=job,
                    status="done",
                    counts={},
                    calls=0,
                    started_at=now,
                    finished_at=now,
                )
                for job in jobs
            )

    def shown() -> int:
        with statements(system.db) as seen:
            page = web.get(f"/ui/connections/{cid}/activity")
        assert page.status_code == 200, page.text
        return len(seen)

    add_runs(1)
    one = shown()
    add_runs(19)
    twenty = shown()
    assert twenty == one, f"{one} statements for 1 run, {twenty} for 20"
