"""From an empty tenant to synced records, through the UI alone, in Debian's chromium: sign in
with a one-time link, add the connection with the system's own steps against its sandbox,
choose what syncs, start the initial import and watch it finish. The hub's worker runs in the
background, as under ``ledgerbridge serve``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer, seed_clients
from ledgerbridge.sandbox.tripletex import SandboxServer as TripletexServer
from ledgerbridge.sandbox.tripletex import TripletexSandbox, seed_accounting_firm
from ledgerbridge.sandbox.yuki import SandboxServer as YukiServer
from ledgerbridge.sandbox.yuki import YukiSandbox, seed_demo
from ledgerbridge.settings import Settings
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta, hub_settings
from tests.integration.conftest import seed as seed_debtors
from tests.integration.ui.conftest import (
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
)

QONTO_CLIENT = "ledgerbridge"
QONTO_SECRET = "ledgerbridge-secret-0123456789"


@pytest.fixture
def working(system: System, hub: str) -> Iterator[System]:
    """The worker and the scheduler in the background, as ``serve`` runs them."""
    system.start_background()
    yield system
    system.stop()


def checked(page: Any, screen: str | None = None) -> None:
    """axe and 360 px on the page as it stands; a screenshot of the main screens."""
    assert_accessible(page)
    assert_fits_360(page)
    if screen:
        screenshot(page, screen)


def add_connection(page: Any, ui_url: str, title: str, *, first: bool = False) -> None:
    page.goto(f"{ui_url}/")
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("heading", name="Add connection").wait_for()
    if first:
        checked(page, "setup-pick")
    page.get_by_role("button", name=title, exact=True).click()
    page.get_by_role("heading", name=f"Connect {title}").wait_for()
    checked(page)


def choose_entities(page: Any, *switch_on: str, shot: bool = False) -> None:
    """On the Entities page the set-up leads to: switch streams on and save."""
    page.get_by_role("heading", name="What syncs").wait_for()
    for label in switch_on:
        page.get_by_role("switch", name=label, exact=True).check()
    checked(page, "entities" if shot else None)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Initial import").wait_for()


def import_all(page: Any, *, shot: bool = False) -> int:
    """Start the initial import and watch the polled progress reach done; the records it
    says were synced."""
    checked(page)
    page.get_by_role("button", name="Start initial import").click()
    page.get_by_role("status").filter(has_text="initial import has started").wait_for()
    summary = page.locator(".import-summary")
    summary.filter(has_text="The initial import is done").wait_for(timeout=30_000)
    found = re.search(r"([\d,]+) records synced", summary.inner_text())
    assert found, summary.inner_text()
    checked(page, "import-progress" if shot else None)
    assert page.locator("#import-progress[hx-trigger]").count() == 0, "polling stops when done"
    return int(found.group(1).replace(",", ""))


def parties(tenant: Tenant) -> int:
    return len(tenant.api.get("/parties", params={"limit": 1000}).json()["items"])


def test_uniconta_from_an_empty_tenant_to_synced_records(
    page: Any, system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta, working: System
) -> None:
    seed_debtors(uniconta, 12)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    add_connection(page, ui_url, "Uniconta", first=True)

    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill("wrong")
    page.get_by_text("Advanced").click()
    page.get_by_label("Base URL").fill(uniconta.url)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="check the user name and password").wait_for()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    company = page.get_by_label("Company ID")
    company.wait_for()
    assert company.locator("option").all_inner_texts() == [f"Nordlys Handel ApS ({COMPANY})"]
    checked(page, "setup-uniconta-company")
    page.get_by_role("button", name="Save and check the connection").click()

    page.get_by_role("heading", name="What syncs").wait_for()
    assert page.get_by_role("switch", name="Customers").is_checked(), "the system's default"
    assert not page.get_by_role("switch", name="Invoices", exact=True).is_checked()
    choose_entities(page, "Products", shot=True)
    assert import_all(page, shot=True) == 12
    assert parties(tenant) == 12


# --- Yuki ------------------------------------------------------------------------------------


@pytest.fixture
def yuki() -> Iterator[tuple[YukiSandbox, str, str]]:
    sandbox = YukiSandbox()
    seeded = seed_demo(sandbox, contacts=8, seed=7)
    server = YukiServer(sandbox)
    server.start()
    yield sandbox, seeded.access_key, server.base_url
    server.stop()


def test_yuki_from_an_empty_tenant_to_synced_records(
    page: Any,
    system: System,
    ui_url: str,
    tenant: Tenant,
    yuki: tuple[YukiSandbox, str, str],
    working: System,
) -> None:
    _sandbox, access_key, url = yuki
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    add_connection(page, ui_url, "Yuki")
    page.get_by_label("Access key").fill(access_key)
    page.get_by_text("Advanced").click()
    page.get_by_label("Base URL").fill(url)
    page.get_by_role("button", name="Continue").click()

    administration = page.get_by_label("Administration ID")
    administration.wait_for()
    assert "Demo Handelsonderneming B.V." in administration.inner_text()
    assert page.get_by_label("Debtor numbers: next").input_value() == "10000"
    checked(page)
    page.get_by_role("button", name="Confirm administration").click()

    page.get_by_role("heading", name="What syncs").wait_for()
    page.get_by_label("Contact types: person").select_option("inbound")
    page.get_by_role("switch", name="Import suppliers").check()
    choose_entities(page)
    [connection] = tenant.api.get("/connections").json()
    assert connection["settings"]["contact_types"] == {"organisation": "both", "person": "inbound"}
    assert connection["settings"]["import_suppliers"] is True
    assert connection["settings"]["debtor_numbers"] == {"next": 10000}
    synced = import_all(page)
    assert synced == parties(tenant) > 0


# --- Tripletex -------------------------------------------------------------------------------


@pytest.fixture
def tripletex() -> Iterator[tuple[TripletexSandbox, Any, TripletexServer]]:
    sandbox = TripletexSandbox(seed=3)
    firm = seed_accounting_firm(sandbox, clients=3, seed=3, months=1, token_days=40)
    server = TripletexServer(sandbox)
    server.start()
    yield sandbox, firm, server
    server.stop()
    sandbox.close()


@pytest.fixture
def settings(
    db_url: str, secret_key: str, hub_port: int, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    """The hub's settings; with the Tripletex sandbox, its consumer token (an installation
    setting: tenants paste only their employee token)."""
    extra: dict[str, Any] = {}
    if "tripletex" in request.fixturenames:
        extra["tripletex_consumer_token"] = request.getfixturevalue("tripletex")[1].consumer_token
    return hub_settings(db_url, secret_key, hub_port, tmp_path, **extra)


def test_tripletex_from_an_empty_tenant_to_synced_records(
    page: Any,
    system: System,
    ui_url: str,
    tenant: Tenant,
    tripletex: tuple[TripletexSandbox, Any, TripletexServer],
    working: System,
) -> None:
    sandbox, firm, server = tripletex
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    add_connection(page, ui_url, "Tripletex")
    page.get_by_label("Environment").select_option("production")
    page.get_by_label("Employee token expires on").fill(firm.token_expires.isoformat())
    page.get_by_label(re.compile(r"^Employee token\W*$")).fill(firm.employee_token)
    page.get_by_text("Advanced").click()
    page.get_by_label("Base URLs: production").fill(server.url("production"))
    page.get_by_role("button", name="Save and check the connection").click()

    notice = page.get_by_role("status").filter(has_text="Tripletex company")
    notice.wait_for()
    assert sandbox.company(firm.firm_id).name in notice.inner_text()
    choose_entities(page)
    synced = import_all(page)
    assert synced > 0
    assert parties(tenant) == len(firm.customer_ids)


# --- Qonto -----------------------------------------------------------------------------------


@pytest.fixture
def qonto(hub_port: int) -> Iterator[tuple[QontoSandbox, str]]:
    sandbox = QontoSandbox(seed=4)
    sandbox.add_oauth_app(
        QONTO_CLIENT, QONTO_SECRET, [f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback"]
    )
    with SandboxServer(sandbox) as server:
        yield sandbox, server.base_url
    sandbox.close()


def test_qonto_from_an_empty_tenant_to_synced_records_with_the_oauth_login(
    page: Any,
    system: System,
    ui_url: str,
    tenant: Tenant,
    qonto: tuple[QontoSandbox, str],
    working: System,
) -> None:
    sandbox, url = qonto
    seed_clients(sandbox, count=5, seed=2)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    add_connection(page, ui_url, "Qonto")
    assert page.get_by_label("Access token").count() == 0, "tokens come from the login"
    page.get_by_label("OAuth client ID").fill(QONTO_CLIENT)
    page.get_by_label("OAuth client secret").fill(QONTO_SECRET)
    page.get_by_text("Advanced").click()
    page.get_by_label("Base URL", exact=True).fill(url)
    page.get_by_label("OAuth URL").fill(url)
    page.get_by_role("button", name="Save and check the connection").click()

    page.get_by_role("heading", name="Log in to Qonto").wait_for()
    checked(page)
    page.get_by_role("button", name="Log in to Qonto").click()
    page.get_by_role("button", name="Continue to Qonto").wait_for()
    checked(page)
    page.get_by_role("button", name="Continue to Qonto").click()
    page.get_by_role("status").filter(has_text="Logged in to Qonto").wait_for()
    choose_entities(page)
    assert import_all(page) == 5
    assert parties(tenant) == 5


def test_a_double_click_on_save_adds_the_connection_once(
    page: Any, system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/new/uniconta?form=1")
    page.get_by_label("Company ID").fill(str(COMPANY))
    page.get_by_label("Username").fill(USER)
    page.get_by_label(re.compile(r"^Password\W*$")).fill(PASSWORD)
    page.get_by_text("Advanced").click()
    page.get_by_label("Base URL", exact=True).fill(uniconta.url)
    save = page.get_by_role("button", name="Save and check the connection")
    save.evaluate("button => { button.click(); setTimeout(() => button.click(), 40); }")
    page.get_by_role("heading", name="What syncs").wait_for()
    page.wait_for_timeout(1000)  # a second save, were one sent, has landed by now
    assert len(tenant.api.get("/connections").json()) == 1
