"""``ledgerbridge serve`` in several processes on PostgreSQL, its jobs left to a worker process
(``--processes 2 --no-jobs``), and refused on SQLite, whose writes are one process's."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from tests.integration.conftest import COMPANY, PASSWORD, USER, Uniconta, seed
from tests.integration.processes import LEDGERBRIDGE, product_env, wait_until

ON_POSTGRESQL = os.environ.get("LEDGERBRIDGE_TEST_DATABASE", "sqlite").startswith("postgresql")


@pytest.mark.parametrize("options", [["--processes", "2"], ["--no-jobs"]])
def test_serve_refuses_several_processes_or_no_jobs_on_sqlite(
    options: list[str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    env["LEDGERBRIDGE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'hub.db'}"
    refused = subprocess.run(
        [LEDGERBRIDGE, "serve", "--port", str(free_port()), *options],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "need PostgreSQL" in refused.stderr
    assert not (tmp_path / "hub.db").exists()  # refused before anything was set up


def _api_processes(pid: int) -> list[int]:
    """serve's children that answer the API (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.skipif(not ON_POSTGRESQL, reason="several serve processes need PostgreSQL")
def test_two_api_processes_answer_and_a_worker_runs_their_jobs(
    settings: Settings, uniconta: Uniconta, tmp_path: Path
) -> None:
    seed(uniconta, 3)
    system = System(settings)
    issued = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")
    system.close()
    env = product_env(settings, lease_seconds=10)
    port = free_port()
    log = tmp_path / "children.log"
    with log.open("ab") as sink:
        serve = subprocess.Popen(
            [LEDGERBRIDGE, "serve", "--port", str(port), "--processes", "2", "--no-jobs"],
            env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        headers={"Authorization": f"Bearer {issued.api_key}"},
        timeout=30,
    )
    try:

        def answers() -> bool:
            try:
                return api.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, 60, f"serve answering: {log.read_text()}")
        wait_until(lambda: len(_api_processes(serve.pid)) == 2, 60, "two API processes")
        created = api.post("/connections", json={
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": COMPANY, "username": USER, "base_url": uniconta.url,
                         "entities": {"customers": {"enabled": True}}},
            "secrets": {"password": PASSWORD},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        connection = created.json()["id"]
        calls = uniconta.calls()  # creating it checked the credentials
        # Requests spread over both processes; every one answers from the shared database.
        for _ in range(10):
            assert api.get(f"/connections/{connection}").status_code == 200
        assert api.post(f"/connections/{connection}/import").status_code == 202

        def import_state() -> str:
            return str(api.get(f"/connections/{connection}").json()["import_state"])

        # No process of serve runs jobs: the import waits for a worker (polling every 50 ms).
        for _ in range(20):
            assert import_state() != "done"
        assert uniconta.calls() == calls
        with log.open("ab") as sink:
            worker = subprocess.Popen([LEDGERBRIDGE, "worker"], env=env, stdout=sink, stderr=sink)
        wait_until(lambda: import_state() == "done", 60, f"the import: {log.read_text()}")
        parties = api.get("/parties").json()["items"]
        assert len(parties) == 3
    finally:
        api.close()
        children = _api_processes(serve.pid)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    assert children and not any(Path(f"/proc/{child}").exists() for child in children)
