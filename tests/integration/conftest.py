"""Real servers on loopback: the Uniconta sandbox and the hub API, over a real database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.http import ServerThread, free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, create_booking_app, seed_debtors
from ledgerbridge.sandbox.uniconta import create_app as sandbox_app
from ledgerbridge.sandbox.zettle import SandboxServer as ZettleServer
from ledgerbridge.sandbox.zettle import ZettleSandbox
from ledgerbridge.settings import Settings

COMPANY = 48213
USER = "ledgerbridge"
PASSWORD = "s3cret-Pa55word"


@dataclass
class Uniconta:
    sandbox: UnicontaSandbox
    url: str
    booking_url: str
    """The booking service (UnicontaRest's contract) over the same companies."""

    def debtor(self, account: str) -> dict[str, Any] | None:
        return self.sandbox.get(COMPANY, "DebtorClient", account)

    def calls(self) -> int:
        return self.sandbox.total_calls(COMPANY, USER)


@pytest.fixture
def uniconta() -> Iterator[Uniconta]:
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    server = ServerThread(sandbox_app(sandbox)).start()
    booking = ServerThread(create_booking_app(sandbox)).start()
    yield Uniconta(sandbox, server.url, booking.url)
    booking.stop()
    server.stop()
    sandbox.close()


@pytest.fixture
def zettle() -> Iterator[tuple[ZettleSandbox, str]]:
    """A Zettle organisation on loopback (its webhooks given five seconds each)."""
    sandbox = ZettleSandbox(seed=11, webhook_timeout=5.0)
    server = ZettleServer(sandbox)
    server.start()
    yield sandbox, server.base_url
    server.stop()
    sandbox.close()


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def hub_port() -> int:
    return free_port()


def hub_settings(
    db_url: str, secret_key: str, hub_port: int, tmp_path: Path, **installation: Any
) -> Settings:
    """Settings of a hub on loopback that polls fast; ``installation``: e.g. a consumer token."""
    return Settings(
        database_url=db_url,
        secret_keys=secret_key,
        secret_key_file=tmp_path / "unused.key",
        public_url=f"http://127.0.0.1:{hub_port}",
        poll_interval=0.05,
        worker_concurrency=1,
        **installation,
    )


@pytest.fixture
def settings(db_url: str, secret_key: str, hub_port: int, tmp_path: Path) -> Settings:
    return hub_settings(db_url, secret_key, hub_port, tmp_path)


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    built = System(settings)
    yield built
    built.close()


@pytest.fixture
def hub(system: System, hub_port: int) -> Iterator[str]:
    server = ServerThread(create_app(system), port=hub_port).start()
    yield f"{server.url}/api/v1"
    server.stop()


@dataclass
class Tenant:
    api: httpx.Client
    tenant_id: str
    api_key: str


def new_tenant(system: System, hub: str, name: str = "Nordlys Handel") -> Tenant:
    issued = system.tenancy.create_tenant(name, f"owner@{name.lower().replace(' ', '')}.example")
    client = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {issued.api_key}"}, timeout=30
    )
    return Tenant(client, issued.tenant_id, issued.api_key)


@pytest.fixture
def tenant(system: System, hub: str) -> Iterator[Tenant]:
    created = new_tenant(system, hub)
    yield created
    created.api.close()


def connect(
    tenant: Tenant,
    uniconta: Uniconta,
    *,
    settings: dict[str, Any] | None = None,
    name: str = "Uniconta",
) -> dict[str, Any]:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "uniconta",
            "name": name,
            "timezone": "Europe/Copenhagen",
            "settings": {
                "company_id": COMPANY,
                "username": USER,
                "base_url": uniconta.url,
                "booking_url": uniconta.booking_url,
                # customers only: Uniconta's suppliers and contacts are on by default
                "entities": {
                    "customers": {"enabled": True},
                    "suppliers": {"enabled": False},
                    "contacts": {"enabled": False},
                },
                **(settings or {}),
            },
            "secrets": {"password": PASSWORD},
        },
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


def import_all(system: System, tenant: Tenant, connection_id: str) -> dict[str, Any]:
    """Start the initial import through the API and run jobs until it is done."""
    assert tenant.api.post(f"/connections/{connection_id}/import").status_code == 202
    system.run_until_idle()
    status: dict[str, Any] = tenant.api.get(f"/connections/{connection_id}").json()
    assert status["import_state"] == "done", status
    return status


def latest_run(tenant: Tenant, connection_id: str, kind: str) -> dict[str, Any]:
    """The connection's latest run of one kind. Not simply the latest run: a push or an inbox
    run queued by an earlier job may start after the run a test asked for."""
    runs = tenant.api.get(f"/connections/{connection_id}").json()["recent_runs"]
    found: dict[str, Any] = next((r for r in runs if r["kind"] == kind), {})
    assert found, (kind, runs)
    return found


def reconciled(system: System, tenant: Tenant, cid: str, period: str) -> dict[str, Any]:
    """The reconciliation report of a month, asked through the API and run to its end."""
    started = tenant.api.post(f"/connections/{cid}/reconciliations", json={"period": period})
    assert started.status_code == 202, started.text
    system.run_until_idle()
    report: dict[str, Any] = tenant.api.get(
        f"/connections/{cid}/reconciliations/{started.json()['id']}"
    ).json()
    assert report["status"] == "done", report
    return report


def seed(uniconta: Uniconta, count: int) -> list[str]:
    accounts: list[str] = seed_debtors(uniconta.sandbox, COMPANY, count=count, seed=3)
    return accounts
