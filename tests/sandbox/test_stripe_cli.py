"""``ledgerbridge sandbox stripe`` as a user runs it: a real process on a real port, seeded,
its key shown by the control API, and a bad option refused with its name."""

from __future__ import annotations

import httpx

from tests.sandbox.commands import refusal, serving


def test_sandbox_command_serves_a_seeded_account() -> None:
    options = ("--charges", "6", "--currency", "eur", "--webhook-repeats", "1-2")
    with serving("stripe", *options) as (base, state):
        key = state["keys"][0]
        payouts = httpx.get(base + "/v1/payouts", headers={"Authorization": f"Bearer {key}"})
        assert payouts.status_code == 200
        assert {p["currency"] for p in payouts.json()["data"]} == {"eur"}
        assert len(payouts.json()["data"]) == len(state["payouts"]) == 2
        assert state["settings"]["webhook_repeats"] == "1-2"


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = refusal("stripe", "--webhook-repeats", "9-2")
    assert result.returncode == 2
    assert "webhook_repeats" in result.stderr and "Traceback" not in result.stderr
    result = refusal("stripe", "--charges", "1")
    assert result.returncode == 2 and "--charges: from 3 to 5000" in result.stderr
