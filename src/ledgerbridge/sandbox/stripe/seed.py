"""A seeded account for demos and tests: card charges for webshop orders (one in EUR settled in
the account's DKK), a partial refund, a dispute, a fee of its own and an application fee, paid
out automatically; then a few more charges paid out manually; then charges still unpaid."""

from __future__ import annotations

import random
from typing import Any

from ledgerbridge.sandbox.stripe.state import StripeSandbox

FIRST_ORDER = 1001
EUR_RATE = 7.4603


def seed_account(sandbox: StripeSandbox, *, seed: int = 1, charges: int = 12) -> dict[str, Any]:
    """Book and pay out as described above; returns the ids a test or a demo refers to."""
    rng = random.Random(seed)
    order = FIRST_ORDER
    made: list[str] = []

    def charge(**extra: Any) -> str:
        nonlocal order
        body = {
            "amount": rng.randint(99, 2499) * 100,
            "currency": sandbox.currency,
            "order_id": str(order),
            "order_number": str(order),
            **extra,
        }
        order += 1
        found = sandbox.create_charge(body)
        made.append(found["id"])
        return str(found["id"])

    first = max(charges, 3)
    for index in range(first - 1):
        charge(**({"application_fee": 500} if index == 1 else {}))
    eur = charge(currency="eur", amount=rng.randint(20, 300) * 100, exchange_rate=EUR_RATE)
    refund = sandbox.refund(made[0], {"amount": sandbox.charges[made[0]]["amount"] // 2})
    dispute = sandbox.dispute(made[2], {})
    fee = sandbox.add_fee({"amount": 2500, "description": "Radar for Fraud Teams"})
    automatic = sandbox.create_payout({"automatic": True, "status": "paid"})
    later = [charge() for _ in range(3)]
    manual = sandbox.create_payout({"automatic": False, "status": "paid"})
    unpaid = [charge() for _ in range(2)]
    return {
        "charges": made,
        "eur_charge": eur,
        "refund": refund["id"],
        "refunded_charge": made[0],
        "dispute": dispute["id"],
        "disputed_charge": made[2],
        "fee": fee["id"],
        "automatic_payout": automatic["id"],
        "manual_payout": manual["id"],
        "manual_charges": later,
        "unpaid_charges": unpaid,
    }
