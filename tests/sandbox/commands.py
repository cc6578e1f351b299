"""``ledgerbridge sandbox <system>`` run as a user runs it, for the sandbox CLI tests: a real
process on a free loopback port, waited for until its control API answers, and stopped after.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


@contextmanager
def serving(system: str, *options: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The sandbox's base URL and its first ``/_sandbox/state``, once it answers (15 s)."""
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", system, "--port", str(port), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                state = httpx.get(base + "/_sandbox/state").json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"{system} sandbox did not start")
        yield base, state
    finally:
        process.terminate()
        process.wait(timeout=10)


def refusal(system: str, *options: str) -> subprocess.CompletedProcess[str]:
    """The finished command, for a call whose options should be refused."""
    return subprocess.run(
        [LEDGERBRIDGE, "sandbox", system, *options],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
