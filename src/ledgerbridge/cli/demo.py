"""``ledgerbridge demo``: the product on one machine, with no account anywhere.

It plays both users: the app's (through the hub REST API, as any app would) and the Uniconta
user's (editing a debtor in the sandbox, as in Uniconta's own screens).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import (
    UnicontaSandbox,
    create_booking_app,
    seed_contacts,
    seed_creditors,
    seed_debtors,
    seed_invoices,
    seed_products,
)
from ledgerbridge.sandbox.uniconta import create_app as sandbox_app
from ledgerbridge.settings import Settings

DB_FILE = "ledgerbridge-demo.db"
KEY_FILE = "ledgerbridge-demo.key"
COMPANY_ID = 48213
STREAMS = (
    "customers", "suppliers", "contacts", "products", "stock_levels", "invoices",
    "payment_status",
)  # fmt: skip
USER, PASSWORD = "ledgerbridge", "demo-password"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The first true value of ``condition``, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def hub_port(port: int, console: Console) -> int:
    """The port asked for, or a free one when it is taken (or 0 was asked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        taken = port != 0 and sock.connect_ex(("127.0.0.1", port)) == 0
    if taken:
        console.print(f"Port {port} is taken; using a free one instead.")
    return free_port() if port == 0 or taken else port


def default_data_dir() -> Path:
    """Where the demo keeps its database and key when not told: the user's data directory
    (``$XDG_DATA_HOME/ledgerbridge/demo``, else ``~/.local/share/ledgerbridge/demo``), never
    the working directory, which may be a checkout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ledgerbridge" / "demo"


def fresh_files(workdir: Path) -> None:
    """The demo owns these files; each run starts from an empty database."""
    workdir.mkdir(parents=True, exist_ok=True)
    for path in workdir.glob(f"{DB_FILE}*"):
        path.unlink()


def run_demo(*, once: bool, port: int, debtors: int, data_dir: Path | None = None) -> int:
    console = Console(soft_wrap=True)
    workdir = (data_dir or default_data_dir()).resolve()
    fresh_files(workdir)

    sandbox = UnicontaSandbox()
    sandbox.add_company(company_id=COMPANY_ID, name="Nordlys Handel ApS")
    # The rest of a small Danish trading company: suppliers, contact persons, items in
    # stock and a year of posted invoices (seeded after the debtors they refer to).
    sandbox.add_user(COMPANY_ID, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_debtors(sandbox, COMPANY_ID, count=debtors, seed=7)
    seed_creditors(sandbox, COMPANY_ID, count=max(1, debtors // 10), seed=7)
    seed_contacts(sandbox, COMPANY_ID, count=debtors, seed=7)
    seed_products(sandbox, COMPANY_ID, count=max(1, debtors // 5), seed=7)
    seed_invoices(sandbox, COMPANY_ID, count=debtors, lines=3, seed=7)
    uniconta = ServerThread(sandbox_app(sandbox)).start()
    booking = ServerThread(create_booking_app(sandbox)).start()

    port = hub_port(port, console)
    hub_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite:///{workdir / DB_FILE}",
        secret_key_file=workdir / KEY_FILE,
        public_url=hub_url,
        poll_interval=0.2,
    )
    system = System(settings)
    system.start_background()
    server = ServerThread(create_app(system), port=port).start()
    console.print(
        f"[bold]ledgerbridge[/] embedded server on {hub_url} (SQLite: {workdir / DB_FILE})"
    )
    console.print(f"Uniconta sandbox on {uniconta.url}, company {COMPANY_ID}, {debtors} debtors")

    try:
        issued = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example")
        api = httpx.Client(
            base_url=f"{hub_url}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=30,
        )
        connection = (
            api.post(
                "/connections",
                json={
                    "system": "uniconta",
                    "name": "Uniconta (sandbox)",
                    "timezone": "Europe/Copenhagen",
                    "settings": {
                        "company_id": COMPANY_ID,
                        "username": USER,
                        "base_url": uniconta.url,
                        "entities": {stream: {"enabled": True} for stream in STREAMS},
                        "post_invoices": True,
                        "booking_url": booking.url,
                    },
                    "secrets": {"password": PASSWORD},
                },
            )
            .raise_for_status()
            .json()
        )
        cid = connection["id"]
        tested = api.post(f"/connections/{cid}/test").json()
        console.print(f"Connection test: {tested.get('description') or tested.get('error')}")
        # What a Uniconta user does in Company › Maintenance: point the Change URL at us.
        sandbox.set_change_url(COMPANY_ID, connection["change_url"])
        # Map Uniconta's VAT codes to the app's; one is left unmapped on purpose, to show a
        # skip with its reason.
        codes = api.get(f"/connections/{cid}/mappings", params={"remote": "true"}).json()
        vat = {c["code"]: f"DK-{c['code']}" for c in codes["remote_vat_codes"]}
        vat.pop("X99", None)
        api.put(f"/connections/{cid}/mappings", json={"vat": vat}).raise_for_status()

        started = api.post(f"/connections/{cid}/import").raise_for_status().json()
        for warning in started["warnings"]:
            console.print(f"[yellow]Note:[/] {warning}")
        with Progress(
            TextColumn("Initial import"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("import", total=None)
            while True:
                status = api.get(f"/connections/{cid}").json()
                report = status["import_progress"] or {}
                progress.update(
                    task, completed=report.get("records_done", 0),
                    total=report.get("records_total"),
                )  # fmt: skip
                if status["import_state"] == "done":
                    break
                if report.get("status") == "failed":
                    console.print(f"[red]Import failed:[/] {status['last_error']}")
                    return 1
                time.sleep(0.2)
        for stream, counts in report["streams"].items():
            outcome = ", ".join(f"{n} {k}" for k, n in counts.items() if k != "total" and n)
            console.print(f"  {stream:<15} {outcome or 'nothing'}")
        console.print(
            f"Initial import done using {status['calls_used_today']} of "
            f"{status['daily_call_limit']} Uniconta calls today; open issues: "
            f"{status['open_issues'] or 'none'}"
        )
        # The user maps the missing VAT code: the records that waited for it sync by themselves.
        api.put(f"/connections/{cid}/mappings", json={"vat": {"X99": "DK-X99"}})
        issues = wait_for(
            lambda: (lambda s: s if "vat_code_unmapped" not in s["open_issues"] else None)(
                api.get(f"/connections/{cid}").json()
            ),
            60, "the records waiting for the VAT code to sync",
        )["open_issues"]  # fmt: skip
        console.print(f"Mapped X99: its records synced by themselves; open issues: {issues}")
        parties = [
            p for p in api.get("/parties", params={"limit": 1000}).json()["items"]
            if p["data"].get("debtor_number")
        ]  # fmt: skip

        # One change on the hub side…
        party = parties[0]
        account = party["data"]["debtor_number"]
        new_email = f"bogholderi@{account}.example.dk"
        api.patch(f"/parties/{party['id']}", json={"email": new_email}).raise_for_status()
        wait_for(
            lambda: (sandbox.get(COMPANY_ID, "DebtorClient", account) or {}).get("ContactEmail")
            == new_email,
            30, "the hub change to reach Uniconta",
        )  # fmt: skip
        console.print(f"App → Uniconta: debtor {account} now has ContactEmail {new_email}")

        # …and one on the Uniconta side, as a user would edit it there.
        other = parties[1]["data"]["debtor_number"]
        sandbox.update(COMPANY_ID, "DebtorClient", other, {"City": "Skagen", "ZipCode": "9990"})
        moved = wait_for(
            lambda: next(
                (
                    p for p in api.get("/parties", params={"limit": 1000}).json()["items"]
                    if p["data"]["debtor_number"] == other
                    and (p["data"].get("billing_address") or {}).get("city") == "Skagen"
                ),
                None,
            ),
            30, "the Uniconta change to reach the hub",
        )  # fmt: skip
        console.print(f"Uniconta → app: party {moved['id']} moved to Skagen (debtor {other})")

        time.sleep(1.0)  # let the callback of our own write come back and be recognised
        system.run_until_idle()
        echoes = api.get(
            f"/connections/{cid}/sync-log", params={"outcome": "unchanged", "reason": "echo"}
        ).json()
        console.print(f"Echoes recognised and not sent back: {len(echoes)}")
        console.print()
        login = system.sign_in.login_link(issued.tenant_id)
        console.print(f"Web UI:     {hub_url}/ui/login/{login}  (one-time sign-in link)")
        console.print(f"API docs:   {hub_url}/docs")
        console.print(f"Sync log:   {hub_url}/api/v1/connections/{cid}/sync-log")
        console.print(f"Status:     {hub_url}/api/v1/connections/{cid}")
        console.print(f"API key:    {issued.api_key}")
        console.print(
            f"Try:        curl -H 'Authorization: Bearer {issued.api_key}' {hub_url}/api/v1/parties"
        )
        if once:
            return 0
        console.print("\nServing; press Ctrl-C to stop.")
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            console.print("stopping")
        return 0
    finally:
        server.stop()
        system.close()
        booking.stop()
        uniconta.stop()
