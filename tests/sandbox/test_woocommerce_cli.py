"""``ledgerbridge sandbox woocommerce`` as a user runs it: a real process on a real port,
seeded, with its key shown by the control API and a bad option refused with its name."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def test_sandbox_command_serves_a_seeded_shop() -> None:
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "woocommerce", "--port", str(port), "--orders", "20",
         "--customers", "10", "--webhook-repeats", "1-1"],
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
            raise AssertionError("woocommerce sandbox did not start")
        key = state["keys"][0]
        orders = httpx.get(
            base + "/wp-json/wc/v3/orders",
            auth=(key["consumer_key"], key["consumer_secret"]),
        )
        assert orders.status_code == 200
        assert int(orders.headers["X-WP-Total"]) == state["orders"]
        assert state["settings"]["webhook_repeats"] == [1, 1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "woocommerce", "--webhook-repeats", "9-2", "--orders", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "webhook_repeats" in result.stderr and "Traceback" not in result.stderr


def test_a_seed_beyond_the_limit_is_refused() -> None:
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "woocommerce", "--orders", "999999"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "--orders: from 0 to 20000" in result.stderr
