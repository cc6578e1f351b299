"""Run a seeded Stripe account from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.stripe --port 12111 --charges 40``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.stripe.app import serve
from ledgerbridge.sandbox.stripe.seed import seed_account
from ledgerbridge.sandbox.stripe.state import StripeError, StripeSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, seed the account, print its key and serve."""
    parser = argparse.ArgumentParser(description="Stripe API sandbox (payouts and webhooks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--charges", type=int, default=12)
    parser.add_argument("--currency", default="dkk", help="the account's settlement currency")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--webhook-repeats", default="1-1", help="copies of each event delivered, a range"
    )
    parser.add_argument(
        "--webhook-miss-rate", type=float, default=0.0,
        help="probability that an event is never delivered",
    )  # fmt: skip
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)
    if not 3 <= args.charges <= 5000:
        parser.error("--charges: from 3 to 5000")
    if len(args.currency) != 3 or not args.currency.isalpha():
        parser.error("--currency: a three-letter ISO code")
    sandbox = StripeSandbox(currency=args.currency, seed=args.seed)
    try:
        sandbox.apply_settings(
            {"webhook_repeats": args.webhook_repeats, "webhook_miss_rate": args.webhook_miss_rate}
        )
    except StripeError as exc:
        parser.error(f"{exc.param}: {exc.message}")
    cases = seed_account(sandbox, seed=args.seed, charges=args.charges)
    base = f"http://{args.host}:{args.port}"
    print(
        f"Stripe sandbox at {base}/v1: {len(cases['charges'])} charges, payouts "
        f"{cases['automatic_payout']} (automatic) and {cases['manual_payout']} (manual)\n"
        f"  secret key   {sandbox.default_key}\n"
        f"  control API  {base}/_sandbox/state"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
