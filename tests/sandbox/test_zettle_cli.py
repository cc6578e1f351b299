"""``ledgerbridge sandbox zettle`` as a user runs it: a real process on a real port with its
sales rung up, reachable with a key the control API makes, and a bad option refused."""

from __future__ import annotations

import httpx

from tests.sandbox.commands import refusal, serving


def test_sandbox_command_serves_a_merchant_with_its_sales() -> None:
    with serving("zettle", "--sales", "5") as (base, state):
        assert state["purchases"] == 5
        key = httpx.post(base + "/_sandbox/keys", json={}).json()
        token = httpx.post(base + "/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": key["client_id"], "assertion": key["api_key"]}).json()  # fmt: skip
        page = httpx.get(base + "/purchases/v2",
                         headers={"Authorization": f"Bearer {token['access_token']}"})  # fmt: skip
        assert len(page.json()["purchases"]) == 5


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = refusal("zettle", "--sales", "5000")
    assert result.returncode == 2 and "--sales" in result.stderr
