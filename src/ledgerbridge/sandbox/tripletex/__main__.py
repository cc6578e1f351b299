"""Run a seeded Tripletex sandbox from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.tripletex --port 8766 --clients 10``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.tripletex.app import serve
from ledgerbridge.sandbox.tripletex.seed import seed_accounting_firm
from ledgerbridge.sandbox.tripletex.state import TripletexSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, seed an accounting firm with client companies, print credentials, serve."""
    parser = argparse.ArgumentParser(description="Tripletex API v2 sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--environment", choices=("production", "test"), default="production")
    parser.add_argument("--rate-limit", type=int, default=1000)
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)

    sandbox = TripletexSandbox(rate_limit=args.rate_limit, seed=args.seed)
    firm = seed_accounting_firm(
        sandbox,
        clients=args.clients,
        seed=args.seed,
        environment=args.environment,
        months=args.months,
    )
    root = f"http://{args.host}:{args.port}/{firm.environment}/v2"
    print(f"Tripletex sandbox at {root}")
    print(f"  consumerToken  {firm.consumer_token}")
    print(f"  employeeToken  {firm.employee_token} (expires {firm.token_expires})")
    print(f"  firm company   {firm.firm_id}, {len(firm.client_ids)} client companies")
    print(f"  session:  curl -X PUT '{root}/token/session/:create?consumerToken=...")
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
