"""``ledgerbridge sandbox vipps-mobilepay`` as a user runs it: a real process on a real port,
a seeded ledger whose feed a token reads, and a bad option refused with its name."""

from __future__ import annotations

import httpx

from tests.sandbox.commands import refusal, serving


def test_sandbox_command_serves_a_seeded_ledger() -> None:
    options = ("--days", "2", "--payments", "5", "--currency", "NOK")
    with serving("vipps-mobilepay", *options) as (base, state):
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


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = refusal("vipps-mobilepay", "--days", "999")
    assert result.returncode == 2
    assert "--days" in result.stderr and "Traceback" not in result.stderr
