"""An idle hour against each system's real sandbox on loopback, on the manual clock: after the
initial import nothing changes anywhere, and the hour's scheduled work may cost at most one call
per stream without a webhook (a webhook-fed stream: one per run of its safety-net pull). The
harness is the benchmark's (``benchmarks/bench_idle.py``)."""

from __future__ import annotations

import pytest
from benchmarks.bench_idle import measure_one

WITHIN = ("yuki", "qonto", "woocommerce", "stripe", "zettle")
"""Systems whose idle hour fits the allowance job by job."""
API_FLOORS = {
    "tripletex": (2, 1),
    "vipps_mobilepay": (2, 1),
}
"""(calls, session or token calls) where the API itself asks for more than one call a
stream: Tripletex lists active customers unless asked for inactive ones (a changed-since scan
reads both), and the connector opens a session per job (one that would last days: the one call
here not forced by the API); Vipps MobilePay's payouts are two feeds (funds and fees), and its
access token lives an hour (forced)."""


@pytest.mark.parametrize("system", WITHIN)
def test_an_idle_hour_costs_at_most_a_call_per_stream(db_url: str, system: str) -> None:
    found = measure_one(system, db_url)
    assert found["within"], found["jobs"]
    assert found["forced"] == 0, found["requests"]
    assert found.get("sandbox_calls", found["calls"]) == found["calls"], "the counts agree"


@pytest.mark.parametrize("system", sorted(API_FLOORS))
def test_an_idle_hour_costs_no_more_than_the_api_asks(db_url: str, system: str) -> None:
    calls, forced = API_FLOORS[system]
    found = measure_one(system, db_url)
    assert found["counted"] <= calls, found["requests"]
    assert found["forced"] <= forced, found["requests"]
