"""The product as real processes, for tests that kill them: ``ledgerbridge serve`` started
with a test's settings, and waiting on what it does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ledgerbridge.settings import Settings

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def product_env(settings: Settings, lease_seconds: int) -> dict[str, str]:
    """The environment a ``serve`` or ``worker`` process reads the test's settings from."""
    return {
        **os.environ,
        "LEDGERBRIDGE_DATABASE_URL": settings.database_url,
        "LEDGERBRIDGE_SECRET_KEYS": settings.secret_keys or "",
        "LEDGERBRIDGE_PUBLIC_URL": settings.public_url,
        "LEDGERBRIDGE_POLL_INTERVAL": "0.05",
        "LEDGERBRIDGE_JOB_LEASE_SECONDS": str(lease_seconds),
        "LEDGERBRIDGE_LOG_LEVEL": "WARNING",
    }


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``ledgerbridge serve`` on ``port``, its output appended to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [LEDGERBRIDGE, "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out: {what}")
