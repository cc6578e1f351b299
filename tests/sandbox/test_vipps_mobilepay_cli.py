"""``ledgerbridge sandbox vipps-mobilepay`` as a user runs it: a real process on a real port,
a seeded ledger whose feed a token reads, and a bad option refused with its name."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def test_sandbox_command_serves_a_seeded_ledger() -> None:
    port = free_port()
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "vipps-mobilepay", "--port", str(port), "--days", "2",
         "--payments", "5", "--currency", "NOK"],
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
            raise AssertionError("vipps-mobilepay sandbox did not start")
        (ledger,) = state["ledgers"]
        assert ledger["currency"] == "NOK" and ledger["balances"] == {"funds": 0, "fees": 0}
        keys = {
            "client_id": "vipps-client-1",
            "client_secret": "vipps-secret-1",
            "Ocp-Apim-Subscription-Key": "vipps-sub-key-1",
        }
        token = httpx.post(base + "/accesstoken/get", headers=keys).json()["access_token"]
        feed = httpx.get(
            f"{base}/report/v2/ledgers/{ledger['ledgerId']}/funds/feed",
            headers={"Authorization": f"Bearer {token}", **keys},
        ).json()
        kinds = [entry["entryType"] for entry in feed["items"]]
        assert kinds.count("payout-scheduled") == 2 and kinds.count("capture") == 10
        assert kinds[-1] == "payout-scheduled"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "vipps-mobilepay", "--days", "999"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--days" in result.stderr and "Traceback" not in result.stderr
