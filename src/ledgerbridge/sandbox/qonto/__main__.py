"""Run a seeded Qonto sandbox from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.qonto --port 8766 --clients 200 --invoices 600``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.qonto.app import serve
from ledgerbridge.sandbox.qonto.seed import seed_organization
from ledgerbridge.sandbox.qonto.state import QontoSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, create the organization, one OAuth app and seeded data, then serve."""
    parser = argparse.ArgumentParser(description="Qonto Business API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client-id", default="ledgerbridge-sandbox")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument("--redirect-uri", action="append", default=None)
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)

    sandbox = QontoSandbox(seed=args.seed)
    redirect_uris = args.redirect_uri or ["http://127.0.0.1:8000/api/v1/oauth/callback"]
    sandbox.add_oauth_app(args.client_id, args.client_secret, redirect_uris)
    seed_organization(sandbox, clients=args.clients, invoices=args.invoices, seed=args.seed)
    base = f"http://{args.host}:{args.port}"
    print(
        f"Qonto sandbox on {base}: {args.clients} clients, {args.invoices} invoices\n"
        f"  API key:   Authorization: {sandbox.api_key}\n"
        f"  OAuth app: client_id={args.client_id} client_secret={args.client_secret}\n"
        f"  Authorize: {base}/oauth2/auth  Token: {base}/oauth2/token"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
