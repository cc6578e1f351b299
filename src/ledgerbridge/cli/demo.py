"""``ledgerbridge demo``: the product on one machine, with no account anywhere.

It plays both users: the app's (through the hub REST API, as any app would) and the Uniconta
user's (editing a debtor in the sandbox, as in Uniconta's own screens).
"""

from __future__ import annotations

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
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, seed_debtors
from ledgerbridge.sandbox.uniconta import create_app as sandbox_app
from ledgerbridge.settings import Settings

DB_FILE = "ledgerbridge-demo.db"
KEY_FILE = "ledgerbridge-demo.key"
COMPANY_ID = 48213
USER, PASSWORD = "ledgerbridge", "demo-password"


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _fresh_files(workdir: Path) -> None:
    """The demo owns these files; each run starts from an empty database."""
    for path in workdir.glob(f"{DB_FILE}*"):
        path.unlink()


def run_demo(*, once: bool, port: int, debtors: int) -> int:
    console = Console(soft_wrap=True)
    workdir = Path.cwd()
    _fresh_files(workdir)

    sandbox = UnicontaSandbox()
    sandbox.add_company(company_id=COMPANY_ID, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY_ID, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_debtors(sandbox, COMPANY_ID, count=debtors, seed=7)
    uniconta = ServerThread(sandbox_app(sandbox)).start()

    if port == 0 or not _port_free(port):
        if port:
            console.print(f"Port {port} is taken; using a free one instead.")
        port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite:///{workdir / DB_FILE}",
        secret_key_file=workdir / KEY_FILE,
        public_url=hub_url,
        poll_interval=0.2,
    )
    system = System(settings)
    system.start_background(recover=True)
    server = ServerThread(create_app(system), port=port).start()
    console.print(f"[bold]ledgerbridge[/] embedded server on {hub_url} (SQLite: {DB_FILE})")
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

        api.post(f"/connections/{cid}/import").raise_for_status()
        with Progress(
            TextColumn("Initial import"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("import", total=debtors)
            while True:
                status = api.get(f"/connections/{cid}").json()
                runs = [r for r in status["recent_runs"] if r["kind"] == "import"]
                done = sum(runs[0]["counts"].values()) if runs else 0
                progress.update(task, completed=min(done, debtors))
                if status["import_state"] == "done":
                    progress.update(task, completed=debtors)
                    break
                if status["last_error"] and runs and runs[0]["status"] == "failed":
                    console.print(f"[red]Import failed:[/] {status['last_error']}")
                    return 1
                time.sleep(0.2)
        parties = api.get("/parties", params={"limit": 1000}).json()["items"]
        console.print(
            f"Imported {len(parties)} customers using {status['calls_used_today']} of "
            f"{status['daily_call_limit']} Uniconta calls today"
        )

        # One change on the hub side…
        party = parties[0]
        account = party["data"]["debtor_number"]
        new_email = f"bogholderi@{account}.example.dk"
        api.patch(f"/parties/{party['id']}", json={"email": new_email}).raise_for_status()
        _wait(
            lambda: (sandbox.get(COMPANY_ID, "DebtorClient", account) or {}).get("ContactEmail")
            == new_email,
            30, "the hub change to reach Uniconta",
        )  # fmt: skip
        console.print(f"App → Uniconta: debtor {account} now has ContactEmail {new_email}")

        # …and one on the Uniconta side, as a user would edit it there.
        other = parties[1]["data"]["debtor_number"]
        sandbox.update(COMPANY_ID, "DebtorClient", other, {"City": "Skagen", "ZipCode": "9990"})
        moved = _wait(
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
        uniconta.stop()
