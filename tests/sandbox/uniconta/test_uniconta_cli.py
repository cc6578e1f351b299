"""``ledgerbridge sandbox uniconta`` creates the users a connection's set-up checks: a Standard
user, and a Server user without the Reseller role, next to the usual API user."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from ledgerbridge.runtime.http import free_port
from ledgerbridge.sandbox.uniconta import SandboxServer
from ledgerbridge.sandbox.uniconta.__main__ import banner, build, parser

COMPANY = 12345


def users(argv: list[str]) -> dict[str, dict[str, object]]:
    """Each login's own ``UserClient`` row, read over HTTP from a sandbox built from argv."""
    args = parser().parse_args(["--debtors", "0", "--throttle-delay", "0", *argv])
    logins = [(args.user, args.password)] + [(n, p) for n, p, _, _ in args.extra_user]
    sandbox = build(args)
    try:
        with SandboxServer(sandbox) as server:
            return {
                name: httpx.get(
                    f"{server.base_url}/odata/{COMPANY}/UserClient",
                    auth=(f"00{COMPANY}/{name}", password),
                ).json()["value"][0]
                for name, password in logins
            }
    finally:
        sandbox.close()


def test_the_default_user_is_a_server_user_with_the_reseller_role() -> None:
    [user] = users([]).values()
    assert (user["UserType"], user["Roles"]) == ("Server", ["Reseller"])


def test_the_api_user_can_be_a_standard_user_or_have_no_role() -> None:
    [standard] = users(["--user-type", "Standard"]).values()
    assert (standard["UserType"], standard["Roles"]) == ("Standard", ["Reseller"])
    [bare] = users(["--roles", ""]).values()
    assert (bare["UserType"], bare["Roles"]) == ("Server", [])


def test_extra_users_give_every_kind_of_user_in_one_sandbox() -> None:
    found = users(
        ["--extra-user", "standard:pw1:Standard", "--extra-user", "noreseller:pw2",
         "--extra-user", "both:pw3:Server:Reseller,Accountant"]
    )  # fmt: skip
    assert {name: (u["UserType"], u["Roles"]) for name, u in found.items()} == {
        "apiuser": ("Server", ["Reseller"]),
        "standard": ("Standard", []),
        "noreseller": ("Server", []),
        "both": ("Server", ["Reseller", "Accountant"]),
    }


@pytest.mark.parametrize("value", ["nopassword", "x:pw:Admin"])
def test_a_malformed_extra_user_is_refused_with_the_expected_form(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--extra-user", value])
    assert exit_.value.code == 2
    assert "--extra-user" in capsys.readouterr().err


def test_the_command_serves_the_booking_service_on_its_own_port_over_the_same_company() -> None:
    """``--booking-port`` starts the booking service beside the OData/REST API (a real process,
    two real ports); ``--webshop`` gives the company a webshop's card term and OSS codes."""
    port, booking_port = free_port(), free_port()
    command = [sys.executable, "-m", "ledgerbridge.sandbox.uniconta", "--port", str(port),
               "--booking-port", str(booking_port), "--webshop", "--debtors", "1",
               "--throttle-delay", "0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        api, booking = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{booking_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{api}/_sandbox/health").raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.2)
        login = (f"00{COMPANY}/apiuser", "secret")
        codes = httpx.get(f"{api}/odata/{COMPANY}/GLVatClient", auth=login).json()["value"]
        assert {"U_DE19", "UEUV"} <= {code["Vat"] for code in codes}
        account = httpx.get(f"{api}/odata/{COMPANY}/DebtorClient", auth=login).json()["value"]
        header = {"Account": account[0]["Account"], "Payment": "Kort"}
        insert = f"{api}/api/Entities/Insert/DebtorOrderClient"
        order = httpx.post(insert, auth=login, json=header).json()
        path = f"/Companies/{COMPANY}/Invoice/DebtorOrders/{order['OrderNumber']}"
        assert httpx.post(booking + path).status_code == 401
        refused = httpx.post(booking + path, auth=("apiuser", "secret"))
        assert (refused.status_code, refused.json()) == (500, "NoLinesToInvoice")
        assert httpx.post(f"{api}/Companies/{COMPANY}/Invoice/DebtorOrders/1").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_start_up_line_names_the_plain_username_and_password_a_connection_takes() -> None:
    args = parser().parse_args(["--extra-user", "standard:pw:Standard"])
    assert banner(args).startswith(
        "Uniconta sandbox: company_id 12345, username 'apiuser' password 'secret' (login "
        "0012345/apiuser; Server, roles: Reseller); username 'standard' password 'pw' (login "
        "0012345/standard; Standard, roles: none), 300 debtors"
    )


@pytest.mark.parametrize("products", ["0", "3"])
def test_a_webshop_company_has_a_warehouse_to_count_stock_in(products: str) -> None:
    """A shop's items (its products written to Uniconta) can be counted at once with the
    control API, with seeded items or without."""
    args = parser().parse_args(
        ["--debtors", "0", "--throttle-delay", "0", "--webshop", "--products", products]
    )
    sandbox = build(args)
    try:
        sandbox.load(COMPANY, "InvItemClient", [{"Item": "KAF-500", "Name": "Kaffe"}])
        with SandboxServer(sandbox) as server:
            counted = httpx.put(
                f"{server.base_url}/_sandbox/companies/{COMPANY}/stock",
                json={"item": "KAF-500", "warehouse": "Hoved", "qty": 17},
            )
        assert counted.status_code == 200, counted.text
        assert counted.json()["Qty"] == 17
    finally:
        sandbox.close()
