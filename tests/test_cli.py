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
    assert "customers       120 created" in out
    assert "Initial import done" in out
    assert "Mapped X99: its records synced by themselves" in out
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


def _serving(args: list[str], url: str, **request: object) -> httpx.Response:
    """Start a sandbox command, make one request once it listens, stop it."""
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(150):
            try:
                return httpx.get(url, **request)  # type: ignore[arg-type]
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{args[0]} sandbox did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sandbox_command_serves_the_uniconta_api() -> None:
    port = free_port()
    response = _serving(
        ["uniconta", "--port", str(port), "--debtors", "5", "--password", "pw"],
        f"http://127.0.0.1:{port}/odata/12345/DebtorClient",
        auth=("0012345/apiuser", "pw"),
    )
    assert response.status_code == 200
    assert len(response.json()["value"]) == 5


def test_sandbox_commands_serve_tripletex_qonto_and_yuki() -> None:
    for name, path in (
        ("tripletex", "/production/v2/token/session/>whoAmI"),
        ("qonto", "/v2/organization"),
        ("yuki", "/ws/Contact.asmx?WSDL"),
    ):
        port = free_port()
        response = _serving([name, "--port", str(port)], f"http://127.0.0.1:{port}{path}")
        # Served, and the API's own answer to an unauthenticated call or the WSDL.
        assert response.status_code in (200, 401, 403), (name, response.status_code)
