"""Run a seeded Uniconta sandbox from the command line for demos and manual client testing.

``python -m ledgerbridge.sandbox.uniconta --port 8765 --debtors 300 --products 200 --invoices 500``

``--booking-port 8766`` also serves the booking service (UnicontaRest's contract) on its own
port, over the same companies; ``--webshop`` adds a webshop's payment terms, customer groups,
VAT and OSS codes and service items.

``--user-type Standard``, ``--roles ""`` and ``--extra-user`` create the users a connection's
set-up must refuse or warn about (a Standard user, a Server user without the Reseller role),
so those checks can be tried without Python.
"""

from __future__ import annotations

import argparse

from ledgerbridge.sandbox.faults import add_fault_options, fault_plan
from ledgerbridge.sandbox.uniconta.app import serve
from ledgerbridge.sandbox.uniconta.booking import BookingServer
from ledgerbridge.sandbox.uniconta.seed import seed_creditors, seed_debtors
from ledgerbridge.sandbox.uniconta.seed_commerce import seed_webshop
from ledgerbridge.sandbox.uniconta.seed_trade import (
    WAREHOUSE_NAMES,
    seed_contacts,
    seed_invoices,
    seed_products,
)
from ledgerbridge.sandbox.uniconta.state import USER_TYPES, UnicontaSandbox

WEBSHOP_WAREHOUSE = {"Warehouse": "Hoved", "Name": WAREHOUSE_NAMES["Hoved"]}
"""The warehouse ``--webshop`` adds, the first one ``--products`` seeds stock in."""


def _roles(value: str) -> tuple[str, ...]:
    """A comma-separated list of role names; empty for none."""
    return tuple(role.strip() for role in value.split(",") if role.strip())


def _extra_user(value: str) -> tuple[str, str, str, tuple[str, ...]]:
    """``NAME:PASSWORD[:TYPE[:ROLE,ROLE…]]``: type Server and no role unless given."""
    parts = value.split(":", 3)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected NAME:PASSWORD[:TYPE[:ROLES]], e.g. standard:secret:Standard"
        )
    user_type = parts[2] if len(parts) > 2 and parts[2] else "Server"
    if user_type not in USER_TYPES:
        raise argparse.ArgumentTypeError(
            f"{value!r}: user type {user_type!r} is not one of {', '.join(USER_TYPES)}"
        )
    return parts[0], parts[1], user_type, _roles(parts[3] if len(parts) > 3 else "")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Uniconta OData/REST sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--booking-port",
        type=int,
        default=None,
        help="also serve the booking service (POST /Companies/{id}/Invoice/DebtorOrders/{n}) "
        "on this port (0: a free one); none unless given",
    )
    parser.add_argument(
        "--webshop",
        action="store_true",
        help="add card/cash payment terms, groups PRIV/ERHVERV/EAN, VAT and OSS codes, "
        "service items (FRAGT, GEBYR, AFRUND, REFUSION) and the warehouse Hoved",
    )
    parser.add_argument("--company-id", type=int, default=12345)
    parser.add_argument("--company-name", default="Demo ApS")
    parser.add_argument("--user", default="apiuser")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--user-type", choices=USER_TYPES, default="Server", help="type of --user")
    parser.add_argument(
        "--roles",
        type=_roles,
        default=("Reseller",),
        help='roles of --user, comma-separated (default Reseller; "" for none)',
    )
    parser.add_argument(
        "--extra-user",
        type=_extra_user,
        action="append",
        default=[],
        metavar="NAME:PASSWORD[:TYPE[:ROLES]]",
        help="another user of the company (type Server and no role unless given); repeatable",
    )
    parser.add_argument("--debtors", type=int, default=300)
    parser.add_argument("--creditors", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--products", type=int, default=0)
    parser.add_argument("--invoices", type=int, default=0, help="needs --products")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--daily-call-limit", type=int, default=5000)
    parser.add_argument("--throttle-delay", type=float, default=1.0)
    add_fault_options(parser)
    return parser


def build(args: argparse.Namespace) -> UnicontaSandbox:
    """One company with its users and seeded data, as the options ask."""
    sandbox = UnicontaSandbox(
        daily_call_limit=args.daily_call_limit, throttle_delay=args.throttle_delay
    )
    sandbox.add_company(args.company_id, args.company_name)
    sandbox.add_user(
        args.company_id, args.user, args.password, user_type=args.user_type, roles=args.roles
    )
    for name, password, user_type, roles in args.extra_user:
        sandbox.add_user(args.company_id, name, password, user_type=user_type, roles=roles)
    seed_debtors(sandbox, args.company_id, count=args.debtors, seed=args.seed)
    seed_creditors(sandbox, args.company_id, count=args.creditors, seed=args.seed)
    seed_contacts(sandbox, args.company_id, count=args.contacts, seed=args.seed)
    if args.webshop:
        seed_webshop(sandbox, args.company_id)
        # A shop's stock is counted in a warehouse: without one, PUT /_sandbox/.../stock
        # could not count the items the shop's products become.
        sandbox.load(args.company_id, "InvWarehouseClient", [WEBSHOP_WAREHOUSE])
    if args.products:
        seed_products(sandbox, args.company_id, count=args.products, seed=args.seed)
    if args.invoices:
        seed_invoices(sandbox, args.company_id, count=args.invoices, seed=args.seed)
    return sandbox


def _login(
    company_id: int, user: str, password: str, user_type: str, roles: tuple[str, ...]
) -> str:
    """A user as a connection takes it (``username`` plain, beside ``company_id``, and the
    password the set-up's Log in asks), with the HTTP login that reaches the company."""
    kind = f"{user_type}, roles: {', '.join(roles) or 'none'}"
    return f"username {user!r} password {password!r} (login 00{company_id}/{user}; {kind})"


def banner(args: argparse.Namespace) -> str:
    """The start-up line: what to give a connection (``company_id``, ``username``) and more."""
    logins = [_login(args.company_id, args.user, args.password, args.user_type, args.roles)]
    logins += [_login(args.company_id, n, p, t, r) for n, p, t, r in args.extra_user]
    return (
        f"Uniconta sandbox: company_id {args.company_id}, {'; '.join(logins)}, "
        f"{args.debtors} debtors, "
        f"http://{args.host}:{args.port}/odata/{args.company_id}/DebtorClient"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse options, create the company, its users and seeded data, then serve."""
    options = parser()
    args = options.parse_args(argv)
    faults = fault_plan(options, args)
    sandbox = build(args)
    print(banner(args))
    booking = None
    if args.booking_port is not None:
        booking = BookingServer(sandbox, host=args.host, port=args.booking_port, faults=faults)
        booking.start()
        print(
            f"Booking service: {booking.base_url}/Companies/{args.company_id}"
            "/Invoice/DebtorOrders/<order number> (Basic: the user's name and password)"
        )
    try:
        serve(sandbox, host=args.host, port=args.port, faults=faults)
    finally:
        if booking is not None:
            booking.stop()


if __name__ == "__main__":
    main()
