"""Run a seeded Report API from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.vipps_mobilepay --port 8771 --days 3 --payments 20``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.vipps_mobilepay.app import serve
from ledgerbridge.sandbox.vipps_mobilepay.seed import seed_ledger
from ledgerbridge.sandbox.vipps_mobilepay.state import CURRENCIES, VippsSandbox, worked_example


def main(argv: list[str] | None = None) -> None:
    """Parse options, seed a ledger, print the keys and serve."""
    parser = argparse.ArgumentParser(description="Vipps MobilePay Report API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--ledger", default="302321", help="the seeded ledger's id")
    parser.add_argument("--currency", default="DKK", choices=sorted(CURRENCIES))
    parser.add_argument("--days", type=int, default=3, help="days of sales with a payout each")
    parser.add_argument("--payments", type=int, default=20, help="captures a day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lag-seconds", type=int, default=0, help="how far the API trails")
    parser.add_argument(
        "--worked-example",
        action="store_true",
        help="serve the guide's example (captures 100+100+200, refund 100, payout 288) instead",
    )
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)
    if not 0 <= args.days <= 366:
        parser.error("--days: from 0 to 366")
    if not 0 <= args.payments <= 5000:
        parser.error("--payments: from 0 to 5000")
    if not 0 <= args.lag_seconds <= 86400:
        parser.error("--lag-seconds: from 0 to 86400")

    sandbox = VippsSandbox(seed=args.seed)
    sandbox.lag_seconds = args.lag_seconds
    if args.worked_example:
        worked_example(sandbox, args.ledger)
    else:
        seed_ledger(
            sandbox, ledger_id=args.ledger, currency=args.currency, days=args.days,
            payments=args.payments, seed=args.seed,
        )  # fmt: skip
    keys = sandbox.default_keys
    base = f"http://{args.host}:{args.port}"
    print(
        f"Vipps MobilePay Report API sandbox at {base}: ledger {args.ledger}\n"
        f"  client_id                  {keys.client_id}\n"
        f"  client_secret              {keys.client_secret}\n"
        f"  Ocp-Apim-Subscription-Key  {keys.subscription_key}\n"
        f"  control API                {base}/_sandbox/state"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
