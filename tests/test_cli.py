"""The command line as a user runs it: real processes, real ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def _run(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    return subprocess.run(
        [LEDGERBRIDGE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_help_explains_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in ("demo", "serve", "worker", "sandbox", "tenant", "migrate"):
        assert command in result.stdout


def test_demo_once_runs_the_whole_flow_and_exits_0(tmp_path: Path) -> None:
    result = _run("demo", "--once", "--port", "0", "--debtors", "120", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Imported 120 customers" in out
    assert "App → Uniconta" in out
    assert "Uniconta → app" in out
    assert "Echoes recognised and not sent back: 1" in out
    assert "/docs" in out and "/sync-log" in out
    assert (tmp_path / "ledgerbridge-demo.db").exists()
    assert "Traceback" not in result.stderr


def test_worker_refuses_sqlite_with_a_reason(tmp_path: Path) -> None:
    result = _run("worker", cwd=tmp_path)
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr


def test_sandbox_command_serves_the_uniconta_api() -> None:
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "uniconta", "--port", str(port), "--debtors", "5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/odata/12345/DebtorClient"
        for _ in range(100):
            try:
                response = httpx.get(url, auth=("0012345/apiuser", "sandbox"))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 200
        assert len(response.json()["value"]) == 5
    finally:
        process.terminate()
        process.wait(timeout=10)
