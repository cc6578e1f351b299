"""Run a seeded Yuki sandbox from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.yuki --port 8766 --contacts 300``
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.yuki.app import serve
from ledgerbridge.sandbox.yuki.seed import DEMO_ACCESS_KEY, seed_demo
from ledgerbridge.sandbox.yuki.state import YukiSandbox


def main(argv: list[str] | None = None) -> None:
    """Parse options, seed one domain with one administration, then serve."""
    parser = argparse.ArgumentParser(description="Yuki SOAP web-services sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--access-key", default=DEMO_ACCESS_KEY)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--daily-call-limit", type=int, default=1000)
    add_fault_options(parser)
    args = parser.parse_args(argv)
    faults = fault_plan(parser, args)

    sandbox = YukiSandbox(daily_call_limit=args.daily_call_limit)
    seeded = seed_demo(sandbox, contacts=args.contacts, seed=args.seed, access_key=args.access_key)
    print(
        f"Yuki sandbox on http://{args.host}:{args.port}/ws/Contact.asmx?WSDL  "
        f"access key {seeded.access_key}  domain {seeded.domain_id}  "
        f"administration {seeded.administration_id}  ({args.contacts} contacts)"
    )
    serve(sandbox, host=args.host, port=args.port, faults=faults)


if __name__ == "__main__":
    main()
