"""The Credentials tab: a token rotated through the UI (tested, then saved; a refused token
never replaces the working one), the name, pause and resume, and deleting a connection behind
its confirmation step. Tripletex's sandbox over loopback, on a controllable clock."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from tests.integration.conftest import Tenant, hub_settings
from tests.integration.test_file_import import files_connection
from tests.integration.test_tripletex import START, Tripletex, connect, serve_firm
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    sign_in,
    text_of,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def tripletex(clock: ManualClock) -> Iterator[Tripletex]:
    yield from serve_firm(clock, clients=1, months=1)


@pytest.fixture
def settings(
    db_url: str, secret_key: str, hub_port: int, tmp_path: Path, tripletex: Tripletex
) -> Settings:
    return hub_settings(
        db_url, secret_key, hub_port, tmp_path,
        tripletex_consumer_token=tripletex.firm.consumer_token,
    )  # fmt: skip


@pytest.fixture
def system(settings: Settings, clock: ManualClock) -> Iterator[System]:
    built = System(settings, clock=clock)
    yield built
    built.close()


def token(tripletex: Tripletex, expires: date) -> str:
    issued = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, expires
    )
    return str(issued.token)


def company(connection: dict[str, Any]) -> str:
    """The firm's name, as Tripletex told it when the connection was saved."""
    return str(connection["settings"]["tripletex_company"]["name"])


def works(tenant: Tenant, cid: str) -> bool:
    return bool(tenant.api.post(f"/connections/{cid}/test").json()["ok"])


def test_a_refused_token_is_named_and_never_replaces_the_working_one(
    web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    cid = connection["id"]
    path = f"/ui/connections/{cid}/credentials"
    page = web.get(path)
    assert page.status_code == 200
    assert 'name="secrets.employee_token" type="password"' in page.text
    assert f'value="{tripletex.firm.token_expires.isoformat()}"' in page.text
    expired = {"secrets.employee_token": token(tripletex, date(2026, 11, 20))}

    tested = web.fragment(f"{path}/check", data=expired)
    assert tested.status_code == 422
    assert "expired on" in text_of(tested.text) and "saved credentials stay in use" in tested.text
    saved = web.post(path, expired)
    assert saved.status_code == 422
    assert 'id="secrets-employee_token" name="secrets.employee_token" type="password"' in saved.text
    assert "expired on" in text_of(saved.text)
    empty = web.post(path, {"secrets.employee_token": ""})
    assert empty.status_code == 422 and "paste the new Tripletex credentials" in empty.text
    assert works(tenant, cid), "the old token is still in use"

    fresh = {"secrets.employee_token": token(tripletex, date(2027, 11, 20)),
             "settings.employee_token_expires_on": "2027-11-20"}  # fmt: skip
    tested = web.fragment(f"{path}/check", data=fresh)
    assert tested.status_code == 200
    assert f"Tripletex accepted the credentials: {company(connection)}" in text_of(tested.text)
    unsaved = tenant.api.get(f"/connections/{cid}").json()["settings"]
    assert unsaved["employee_token_expires_on"] == tripletex.firm.token_expires.isoformat()
    saved = web.post(path, fresh)
    assert saved.status_code == 303, text_of(saved.text)
    tripletex.sandbox.revoke_employee_token(tripletex.firm.employee_token)
    assert works(tenant, cid)
    shown = web.get(path)
    assert "The new credentials work and are saved." in text_of(shown.text)
    assert "Employee token expires on: 2027-11-20" in text_of(shown.text)


def test_a_refused_name_or_expiry_date_stays_in_its_field_beside_the_reason(
    web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    """A refused change comes back with what was typed, not the saved value, so the person
    sees what was refused and corrects it; the pasted token is never shown again."""
    cid = connect(tenant, tripletex)["id"]
    saved_name = tenant.api.get(f"/connections/{cid}").json()["name"]
    files_connection(tenant)
    path = f"/ui/connections/{cid}/credentials"

    taken = web.post(f"/ui/connections/{cid}/name", {"name": "webshop FILES"})
    assert taken.status_code == 409
    assert 'value="webshop FILES"' in taken.text and f'value="{saved_name}"' not in taken.text
    assert 'id="name-error"' in taken.text and "exists already" in text_of(taken.text)
    long = "Oslo " * 41
    too_long = web.post(f"/ui/connections/{cid}/name", {"name": long})
    assert too_long.status_code == 422
    assert f'value="{long}"' in too_long.text
    assert "at most 200 characters: this one has 205" in text_of(too_long.text)

    pasted = token(tripletex, date(2027, 11, 20))
    typed = {"secrets.employee_token": pasted, "settings.employee_token_expires_on": "20.11.2027"}
    for action in (path, f"{path}/check"):
        refused = web.post(action, typed)
        assert refused.status_code == 422, text_of(refused.text)
        field = 'id="settings-employee_token_expires_on"'
        assert field in refused.text and 'value="20.11.2027"' in refused.text
        assert 'id="settings-employee_token_expires_on-error"' in refused.text
        assert "year-month-day" in text_of(refused.text)
        assert "Input should" not in refused.text and pasted not in refused.text
    assert tenant.api.get(f"/connections/{cid}").json()["name"] == saved_name


def test_name_pause_resume_and_delete_with_confirmation(
    web: Web, system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    assert web.post(f"/ui/connections/{cid}/name", {"name": "  "}).status_code == 422
    assert web.post(f"/ui/connections/{cid}/name", {"name": "Oslo"}).status_code == 303
    assert tenant.api.get(f"/connections/{cid}").json()["name"] == "Oslo"

    paused = web.post(f"/ui/connections/{cid}/active", {"active": "false"})
    assert paused.status_code == 303
    status = tenant.api.get(f"/connections/{cid}").json()
    assert status["active"] is False and status["schedules"] == []
    page = web.get(f"/ui/connections/{cid}/credentials")
    assert "Resume the connection" in page.text
    assert web.post(f"/ui/connections/{cid}/active", {"active": "true"}).status_code == 303
    assert tenant.api.get(f"/connections/{cid}").json()["schedules"] != []
    assert web.post(f"/ui/connections/{cid}/active", {"active": "maybe"}).status_code == 422

    confirm = web.get(f"/ui/connections/{cid}/delete")
    assert "cannot be undone" in text_of(confirm.text)
    wrong = web.post(f"/ui/connections/{cid}/delete", {"confirm_name": "Tripletex"})
    assert wrong.status_code == 422
    assert 'value="Tripletex"' in wrong.text, "the name typed stays, to compare"
    assert tenant.api.get(f"/connections/{cid}").status_code == 200
    gone = web.post(f"/ui/connections/{cid}/delete", {"confirm_name": "Oslo"})
    assert gone.status_code == 303 and gone.headers["location"] == "/ui/"
    assert "Oslo is deleted." in text_of(web.get("/ui/").text)
    assert tenant.api.get(f"/connections/{cid}").status_code == 404
    assert web.get(f"/ui/connections/{cid}/credentials").status_code == 404


def test_a_connection_deleted_in_another_tab_is_said_in_plain_words(
    web: Web, system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """A tab still open on a deleted connection: its links and its forms say the connection
    is gone and why that can be, not the service's "connection <id> not found"."""
    cid = connect(tenant, tripletex)["id"]
    name = tenant.api.get(f"/connections/{cid}").json()["name"]
    assert web.post(f"/ui/connections/{cid}/delete", {"confirm_name": name}).status_code == 303
    for answer in (
        web.get(f"/ui/connections/{cid}/issues"),
        web.post(f"/ui/connections/{cid}/name", {"name": "Oslo"}),
    ):
        shown = text_of(answer.text)
        assert answer.status_code == 404, shown
        assert "This connection does not exist (any more): it was deleted meanwhile" in shown
        assert cid not in shown and "Back to the connections" in shown


def test_an_edited_address_names_the_value_without_a_validation_dump(web: Web) -> None:
    shown = html.unescape(text_of(web.get("/ui/records", params={"entity": "invoices!"}).text))
    assert "the address's entity cannot be 'invoices!'" in shown
    assert "Input should" not in shown and "query." not in shown


def test_a_member_sees_the_credentials_page_without_any_change_control(
    system: System, ui_url: str, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    assert tenant.api.post("/users", json={"email": "m@firm.example", "role": "member"}).is_success
    web = sign_in(system, ui_url, tenant.tenant_id, "m@firm.example")
    page = web.get(f"/ui/connections/{cid}/credentials")
    assert page.status_code == 200
    assert "<form" not in page.text.split("<main")[1].split("</main>")[0]
    assert "Stored encrypted; never shown." in page.text
    assert web.post(f"/ui/connections/{cid}/active", {"active": "false"}).status_code == 403
    assert web.get(f"/ui/connections/{cid}/delete").status_code == 403
    assert (
        web.post(f"/ui/connections/{cid}/delete", {"confirm_name": "Tripletex"}).status_code == 403
    )
    assert tenant.api.get(f"/connections/{cid}").json()["active"] is True
    web.client.close()


def test_rotating_a_token_pausing_and_deleting_in_the_browser(
    page: Any, system: System, ui_url: str, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    cid = connection["id"]
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/")
    page.get_by_role("link", name="Credentials").click()
    page.get_by_role("heading", name="Credentials").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "credentials")

    page.get_by_role("textbox", name="Employee token", exact=True).fill(
        token(tripletex, date(2026, 11, 20))
    )
    page.get_by_role("button", name="Test").click()
    page.get_by_text("The saved credentials stay in use").wait_for()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").filter(has_text="expired on").wait_for()
    assert_accessible(page)
    assert works(tenant, cid)

    page.get_by_role("textbox", name="Employee token", exact=True).fill(
        token(tripletex, date(2027, 11, 20))
    )
    page.get_by_label("Employee token expires on").fill("2027-11-20")
    page.get_by_role("button", name="Test").click()
    page.get_by_text(f"Tripletex accepted the credentials: {company(connection)}").wait_for()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("The new credentials work and are saved.").wait_for()
    tripletex.sandbox.revoke_employee_token(tripletex.firm.employee_token)
    assert works(tenant, cid)

    page.get_by_role("button", name="Pause the connection").click()
    page.get_by_text("The connection is paused").wait_for()
    assert tenant.api.get(f"/connections/{cid}").json()["active"] is False
    page.get_by_role("button", name="Resume the connection").click()
    page.get_by_text("The connection is active again").wait_for()

    page.get_by_role("link", name="Delete this connection…").click()
    assert_accessible(page)
    assert_fits_360(page)
    page.get_by_label("Type the connection's name").fill("Tripletex")
    page.get_by_role("button", name="Delete the connection").click()
    page.get_by_text("Tripletex is deleted.").wait_for()
    assert tenant.api.get(f"/connections/{cid}").status_code == 404


def test_the_tripletex_form_asks_nothing_of_the_installation_that_has_its_token(
    web: Web,
) -> None:
    page = text_of(web.get("/ui/connections/new/tripletex").text)
    assert "Employee token" in page
    assert "not set up for Tripletex" not in page


def test_a_refused_token_is_named_when_the_other_environment_cannot_be_reached(
    web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    """A token Tripletex does not know is tried in the other environment to say which it
    belongs to; when that one cannot be reached (a sandbox serving production only), the
    refusal of the token stands, not a message that Tripletex could not be reached."""
    refused = web.post(
        "/ui/connections/new/tripletex",
        {
            "name": "Tripletex",
            "settings.environment": "production",
            "settings.base_urls.production": tripletex.server.url("production"),
            "settings.base_urls.test": f"http://127.0.0.1:{free_port()}/test/v2",
            "secrets.employee_token": "not-a-token-of-this-firm",
        },
    )
    assert refused.status_code == 422
    assert "could not reach" not in text_of(refused.text)
    assert 'aria-invalid="true"' in refused.text.split('id="secrets-employee_token"')[1][:300]
    assert tenant.api.get("/connections").json() == []
