"""``ledgerbridge sandbox woocommerce`` as a user runs it: a real process on a real port,
seeded, with its key shown by the control API and a bad option refused with its name."""

from __future__ import annotations

import httpx

from tests.sandbox.commands import refusal, serving


def test_sandbox_command_serves_a_seeded_shop() -> None:
    options = ("--orders", "20", "--customers", "10", "--webhook-repeats", "1-1")
    with serving("woocommerce", *options) as (base, state):
        key = state["keys"][0]
        orders = httpx.get(
            base + "/wp-json/wc/v3/orders",
            auth=(key["consumer_key"], key["consumer_secret"]),
        )
        assert orders.status_code == 200
        assert int(orders.headers["X-WP-Total"]) == state["orders"]
        assert state["settings"]["webhook_repeats"] == [1, 1]


def test_a_bad_option_is_refused_with_its_name() -> None:
    result = refusal("woocommerce", "--webhook-repeats", "9-2", "--orders", "1")
    assert result.returncode == 2
    assert "webhook_repeats" in result.stderr and "Traceback" not in result.stderr


def test_a_seed_beyond_the_limit_is_refused() -> None:
    result = refusal("woocommerce", "--orders", "999999")
    assert result.returncode == 2 and "--orders: from 0 to 20000" in result.stderr
