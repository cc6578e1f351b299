"""Run a Zettle merchant from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.zettle --port 8771 --sales 20``
"""

from __future__ import annotations

import argparse
import random

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.zettle.app import serve
from ledgerbridge.sandbox.zettle.state import ZettleSandbox

CATALOGUE = (
    ("KAF-01", "Cappuccino", 4200, 25),
    ("KAF-02", "Caffè latte", 4500, 25),
    ("BAG-01", "Kanelsnegl", 3200, 25),
    ("BOG-01", "Kogebog", 24900, 0),
)
"""SKU, name, price with VAT in minor units, VAT rate."""


def main(argv: list[str] | None = None) -> None:
    """Parse options, ring up some sales, print the API key and serve."""
    parser = argparse.ArgumentParser(
        description="Zettle OAuth, Purchase, Finance and Pusher sandbox"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--sales", type=int, default=20, help="sales rung up at start (0-1000)")
    parser.add_argument("--currency", default="DKK")
    parser.add_argument("--country", default="DK")
    parser.add_argument("--seed", type=int, default=1)
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)
    if not 0 <= args.sales <= 1000:
        parser.error("--sales: from 0 to 1000")
    sandbox = ZettleSandbox(seed=args.seed, currency=args.currency, country=args.country)
    rng = random.Random(args.seed)
    for _ in range(args.sales):
        rows = [
            {"sku": sku, "name": name, "unit_price": price, "vat_percentage": vat,
             "quantity": rng.randint(1, 3)}
            for sku, name, price, vat in rng.sample(CATALOGUE, rng.randint(1, 3))
        ]  # fmt: skip
        kind = rng.choice(["IZETTLE_CARD", "IZETTLE_CARD", "IZETTLE_CASH"])
        sandbox.ring_up({"products": rows, "payments": [{"type": kind}]})
    root = f"http://{args.host}:{args.port}"
    print(
        f"Zettle sandbox at {root} (every API host): {args.sales} sales\n"
        f"  API key    {sandbox.default_key.key}\n"
        f"  client id  {sandbox.default_key.client_id}\n"
        f"  control    {root}/_sandbox/state"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
