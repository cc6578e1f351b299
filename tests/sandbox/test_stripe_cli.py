"""``ledgerbridge sandbox stripe`` as a user runs it: a real process on a real port, seeded,
its key shown by the control API, and a bad option refused with its name."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def test_sandbox_command_serves_a_seeded_account() -> None:
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "stripe", "--port", str(port), "--charges", "6",
         "--currency", "eur", "--webhook-repeats", "1-2"],
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
            raise AssertionError("stripe sandbox did not start")
        key = state["keys"][0]
        payouts = httpx.get(base + "/v1/payouts", headers={"Authorization": f"Bearer {key}"})
        assert payouts.status_code == 200
        assert {p["currency"] for p in payouts.json()["data"]} == {"eur"}
        assert len(payouts.json()["data"]) == len(state["payouts"]) == 2
        assert state["settings"]["webhook_repeats"] == "1-2"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "stripe", "--webhook-repeats", "9-2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "webhook_repeats" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "stripe", "--charges", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "--charges: from 3 to 5000" in result.stderr
