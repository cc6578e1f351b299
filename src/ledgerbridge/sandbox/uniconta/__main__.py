"""Run a seeded Uniconta sandbox from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.uniconta --port 8765 --debtors 300 --products 200 --invoices 500``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.uniconta.app import serve
from ledgerbridge.sandbox.uniconta.seed import seed_creditors, seed_debtors
from ledgerbridge.sandbox.uniconta.seed_trade import seed_contacts, seed_invoices, seed_products
from ledgerbridge.sandbox.uniconta.state import UnicontaSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, create one company with one API user and seeded data, then serve."""
    parser = argparse.ArgumentParser(description="Uniconta OData/REST sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--company-id", type=int, default=12345)
    parser.add_argument("--company-name", default="Demo ApS")
    parser.add_argument("--user", default="apiuser")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--debtors", type=int, default=300)
    parser.add_argument("--creditors", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--products", type=int, default=0)
    parser.add_argument("--invoices", type=int, default=0, help="needs --products")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--daily-call-limit", type=int, default=5000)
    parser.add_argument("--throttle-delay", type=float, default=1.0)
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)

    sandbox = UnicontaSandbox(
        daily_call_limit=args.daily_call_limit, throttle_delay=args.throttle_delay
    )
    sandbox.add_company(args.company_id, args.company_name)
    sandbox.add_user(
        args.company_id, args.user, args.password, user_type="Server", roles=("Reseller",)
    )
    seed_debtors(sandbox, args.company_id, count=args.debtors, seed=args.seed)
    seed_creditors(sandbox, args.company_id, count=args.creditors, seed=args.seed)
    seed_contacts(sandbox, args.company_id, count=args.contacts, seed=args.seed)
    if args.products:
        seed_products(sandbox, args.company_id, count=args.products, seed=args.seed)
    if args.invoices:
        seed_invoices(sandbox, args.company_id, count=args.invoices, seed=args.seed)
    print(
        f"Uniconta sandbox: company {args.company_id}, login "
        f"00{args.company_id}/{args.user}, {args.debtors} debtors, "
        f"http://{args.host}:{args.port}/odata/{args.company_id}/DebtorClient"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
