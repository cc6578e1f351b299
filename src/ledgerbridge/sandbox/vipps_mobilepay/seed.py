"""A ledger with some days of sales for demos: captures, a few refunds and a payout a day,
made on a clock that walks through those days so that times and ledger dates are real."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from ledgerbridge.clock import Clock, ManualClock
from ledgerbridge.sandbox.vipps_mobilepay.state import VippsSandbox


def seed_ledger(
    sandbox: VippsSandbox,
    *,
    ledger_id: str = "302321",
    currency: str = "DKK",
    days: int = 3,
    payments: int = 20,
    seed: int = 1,
) -> dict[str, Any]:
    """``days`` days ending yesterday, ``payments`` captures a day (about one in ten refunded
    in part), a payout at the end of each day. Returns the orders made, by day."""
    rng = random.Random(seed)
    real: Clock = sandbox.clock
    start = real.now().replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=days)
    walker = ManualClock(start)
    sandbox.clock = walker
    made: dict[str, list[str]] = {}
    step = max(11, 12 * 3600 // max(payments, 1))
    """Seconds between payments at most, so that a day's sales fit in its business hours."""
    try:
        sandbox.add_ledger(ledger_id, currency)
        order = 10000
        for day in range(days):
            walker.set(max(walker.now(), start + timedelta(days=day)))
            orders = made.setdefault(sandbox.ledger_date(sandbox.ledger(ledger_id)), [])
            for _ in range(payments):
                walker.advance(timedelta(seconds=rng.randint(10, step)))
                order += 1
                amount = rng.randint(50, 2500) * 100
                sandbox.capture(ledger_id, str(order), amount)
                orders.append(str(order))
                if rng.random() < 0.1:
                    walker.advance(timedelta(minutes=3))
                    sandbox.refund(ledger_id, str(order), amount // 2)
            walker.advance(timedelta(minutes=30))
            sandbox.schedule_payout(ledger_id)
    finally:
        sandbox.clock = real
    return made
