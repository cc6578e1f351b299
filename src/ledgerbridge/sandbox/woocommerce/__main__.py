"""Run a seeded WooCommerce shop from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.woocommerce --port 8768 --orders 300``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.woocommerce.app import SEED_LIMIT, serve
from ledgerbridge.sandbox.woocommerce.core import WooError
from ledgerbridge.sandbox.woocommerce.seed import seed_shop
from ledgerbridge.sandbox.woocommerce.state import WooSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, seed the shop, print its key and serve."""
    parser = argparse.ArgumentParser(description="WooCommerce REST API v3 sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--webhook-repeats",
        default="2-9",
        help="deliveries of order.updated per save, a range (1-1 turns the defect off)",
    )
    parser.add_argument(
        "--webhook-miss-rate",
        type=float,
        default=0.02,
        help="probability that a save's webhook delivery never happens",
    )
    parser.add_argument(
        "--round-at-subtotal",
        action="store_true",
        help='the shop option "round tax at subtotal level"',
    )
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)
    if not 8 <= args.customers <= SEED_LIMIT:
        parser.error(f"--customers: from 8 to {SEED_LIMIT}")
    if not 0 <= args.orders <= SEED_LIMIT:
        parser.error(f"--orders: from 0 to {SEED_LIMIT}")

    sandbox = WooSandbox(seed=args.seed)
    try:
        sandbox.apply_settings(
            {
                "webhook_repeats": args.webhook_repeats,
                "webhook_miss_rate": args.webhook_miss_rate,
                "round_at_subtotal": args.round_at_subtotal,
            }
        )
    except WooError as exc:
        parser.error(f"{next(iter(exc.params or {'settings': ''}))}: {exc.message}")
    seed_shop(sandbox, seed=args.seed, orders=args.orders, customers=args.customers)
    key = sandbox.default_key
    base = f"http://{args.host}:{args.port}/wp-json/wc/v3"
    print(
        f"WooCommerce sandbox at {base}: {args.orders} orders, {args.customers} customers\n"
        f"  consumer key     {key.consumer_key}\n"
        f"  consumer secret  {key.consumer_secret}\n"
        f"  control API      http://{args.host}:{args.port}/_sandbox/state"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
