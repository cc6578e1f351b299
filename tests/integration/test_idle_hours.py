"""An idle hour against each system's real sandbox on loopback, on the manual clock: after the
initial import nothing changes anywhere, and the hour's scheduled work may cost at most one call
per stream without a webhook (a webhook-fed stream: one per run of its safety-net pull). The
harness is the benchmark's (``benchmarks/bench_idle.py``)."""

from __future__ import annotations

import pytest
from benchmarks.bench_idle import measure_one

FORCED = {"uniconta": 0, "yuki": 0, "qonto": 0, "tripletex": 0, "woocommerce": 0, "stripe": 0,
          "zettle": 0, "vipps_mobilepay": 1}  # fmt: skip
"""Systems whose idle hour fits the allowance job by job, with the session or token calls
their APIs force in an hour (Vipps MobilePay's access token lives an hour)."""


@pytest.mark.parametrize("system", sorted(FORCED))
def test_an_idle_hour_costs_at_most_a_call_per_stream(db_url: str, system: str) -> None:
    found = measure_one(system, db_url)
    assert found["within"], found["jobs"]
    assert found["forced"] <= FORCED[system], found["requests"]
    assert found.get("sandbox_calls", found["calls"]) == found["calls"], "the counts agree"
