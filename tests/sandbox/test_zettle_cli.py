"""``ledgerbridge sandbox zettle`` as a user runs it: a real process on a real port with its
sales rung up, reachable with a key the control API makes, and a bad option refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def test_sandbox_command_serves_a_merchant_with_its_sales() -> None:
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "zettle", "--port", str(port), "--sales", "5"],
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
            raise AssertionError("zettle sandbox did not start")
        assert state["purchases"] == 5
        key = httpx.post(base + "/_sandbox/keys", json={}).json()
        token = httpx.post(base + "/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": key["client_id"], "assertion": key["api_key"]}).json()  # fmt: skip
        page = httpx.get(base + "/purchases/v2",
                         headers={"Authorization": f"Bearer {token['access_token']}"})  # fmt: skip
        assert len(page.json()["purchases"]) == 5
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "zettle", "--sales", "5000"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "--sales" in result.stderr
