"""The accounting systems' set-up steps, Entities and Import pages over plain HTTP: refusals
land on their input, the OAuth login returns to the page that started it (and stays JSON for
API callers), the import's progress polls until done and says when a spent budget resumes, and
a member sees everything and changes nothing."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer
from ledgerbridge.sandbox.yuki import SandboxServer as YukiServer
from ledgerbridge.sandbox.yuki import YukiSandbox, seed_demo
from ledgerbridge.sandbox.yuki.seed import SeededDomain
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    seed,
)
from tests.integration.ui.conftest import Web, sign_in, text_of

CLIENT_ID = "ledgerbridge"
CLIENT_SECRET = "ledgerbridge-secret-0123456789"


def test_the_uniconta_login_lists_companies_and_says_what_the_user_lacks(
    web: Web, uniconta: Uniconta
) -> None:
    start = web.get("/ui/connections/new/uniconta")
    assert 'action="/ui/connections/new/uniconta/login"' in start.text
    assert "Company ID" not in text_of(start.text), "the company comes from the login"
    assert "Company ID" in text_of(web.get("/ui/connections/new/uniconta?form=1").text)

    login = {"settings.username": USER, "settings.base_url": uniconta.url}
    refused = web.post("/ui/connections/new/uniconta/login", {**login, "secrets.password": "x"})
    assert refused.status_code == 422
    assert 'id="secrets-password" name="secrets.password"' in refused.text
    assert 'aria-invalid="true" aria-describedby="secrets-password-help' in refused.text
    assert f'value="{USER}"' in refused.text, "what was typed stays, but not the password"

    uniconta.sandbox.add_user(COMPANY, "clerk", PASSWORD, user_type="Standard", roles=())
    clerk = {**login, "settings.username": "clerk", "secrets.password": PASSWORD}
    standard = web.post("/ui/connections/new/uniconta/login", clerk)
    assert standard.status_code == 422
    assert "Integrations need a user of type Server" in text_of(standard.text)

    uniconta.sandbox.add_user(COMPANY, "server2", PASSWORD, user_type="Server", roles=())
    found = web.post(
        "/ui/connections/new/uniconta/login",
        {**login, "settings.username": "server2", "secrets.password": PASSWORD},
    )
    assert found.status_code == 200, text_of(found.text)
    assert found.headers["cache-control"] == "no-store", "the password is carried in the form"
    assert f'<option value="{COMPANY}"' in found.text
    assert "lacks the Reseller role" in text_of(found.text)


def test_a_saved_connection_goes_on_to_its_entities(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    saved = web.post(
        "/ui/connections/new/uniconta",
        {
            "name": "Uniconta",
            "settings.company_id": str(COMPANY),
            "settings.username": USER,
            "settings.base_url": uniconta.url,
            "secrets.password": PASSWORD,
        },
    )
    assert saved.status_code == 303, text_of(saved.text)
    [connection] = tenant.api.get("/connections").json()
    assert saved.headers["location"] == f"/ui/connections/{connection['id']}/entities"


def test_the_yuki_key_is_asked_first(web: Web) -> None:
    empty = web.post("/ui/connections/new/yuki/login", {"secrets.access_key": " "})
    assert empty.status_code == 422
    assert 'aria-invalid="true" aria-describedby="secrets-access_key-help' in empty.text
    assert "paste the API key" in text_of(empty.text)
    assert web.post("/ui/connections/new/tripletex/login", {}).status_code == 422


def test_a_refused_nested_setting_lands_on_its_input(web: Web, tenant: Tenant) -> None:
    form = {"settings.domain_id": "d", "settings.administration_id": "a", "secrets.access_key": "k"}
    described = (
        'aria-describedby="settings-debtor_numbers-next-help settings-debtor_numbers-next-error"'
    )
    missing = web.post("/ui/connections/new/yuki", form)
    assert missing.status_code == 422
    assert "automatic debtor-number generation" in text_of(missing.text)
    assert "Give the next debtor number to hand out" in text_of(missing.text)
    assert "before activating the connection" not in text_of(missing.text)
    assert described in missing.text, "settings.debtor_numbers goes on its first input"
    partial = web.post(
        "/ui/connections/new/yuki", {**form, "settings.debtor_numbers.prefix": "NL-"}
    )
    assert partial.status_code == 422
    assert "settings.debtor_numbers.next: required" in text_of(partial.text)
    assert described in partial.text and 'value="NL-"' in partial.text
    assert tenant.api.get("/connections").json() == []


@pytest.fixture
def yuki() -> Iterator[tuple[SeededDomain, str]]:
    sandbox = YukiSandbox()
    seeded = seed_demo(sandbox, contacts=2, seed=7)
    server = YukiServer(sandbox)
    server.start()
    yield seeded, server.base_url
    server.stop()


def test_a_refused_save_keeps_the_key_the_first_step_was_given(
    web: Web, tenant: Tenant, yuki: tuple[SeededDomain, str]
) -> None:
    """Yuki's key is pasted once, on the first step: a refusal of another field (the debtor
    number) keeps carrying it, so the form sent again is saved without pasting it again; a
    refusal of the key itself asks for it anew."""
    sandbox, url = yuki
    found = web.post(
        "/ui/connections/new/yuki/login",
        {"secrets.access_key": sandbox.access_key, "settings.base_url": url},
    )
    assert found.status_code == 200, text_of(found.text)
    chosen = {
        "name": "Yuki",
        "settings.base_url": url,
        "settings.domain_id": sandbox.domain_id,
        "settings.administration_id": sandbox.administration_id,
        "secrets.access_key": sandbox.access_key,
    }
    refused = web.post("/ui/connections/new/yuki", {**chosen, "settings.debtor_numbers.next": ""})
    assert refused.status_code == 422
    carried = f'<input type="hidden" name="secrets.access_key" value="{sandbox.access_key}">'
    assert carried in refused.text
    assert 'id="secrets-access_key"' not in refused.text, "not asked again"
    assert refused.headers["cache-control"] == "no-store"

    wrong = web.post(
        "/ui/connections/new/yuki",
        {
            **chosen,
            "settings.debtor_numbers.next": "10000",
            "secrets.access_key": "not-the-key-0815",
        },
    )
    assert wrong.status_code == 422
    assert 'id="secrets-access_key"' in wrong.text and "not-the-key-0815" not in wrong.text
    assert tenant.api.get("/connections").json() == []


# --- Entities --------------------------------------------------------------------------------


def test_entities_save_streams_directions_options_schedules_and_the_zone(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    path = f"/ui/connections/{connection['id']}/entities"
    page = web.get(path)
    assert page.status_code == 200
    text = text_of(page.text)
    for label in ("Customers", "Stock levels", "Payment status", "Post invoices"):
        assert label in text
    assert 'name="settings.entities.products.direction"' not in page.text, "inbound only"
    form = {
        "settings.entities.customers.enabled": "on",
        "settings.entities.customers.direction": "inbound",
        "settings.entities.suppliers.enabled": "on",
        "settings.entities.suppliers.direction": "both",
        "settings.entities.products.enabled": "on",
        "settings.post_invoices": "on",
        "settings.products_master": "uniconta",
        "settings.schedules.pull": "0 */6 * * *",
        "settings.schedules.products": "15 2 * * *",
        "timezone": "Europe/Oslo",
    }
    saved = web.post(path, form)
    assert saved.status_code == 303, text_of(saved.text)
    assert saved.headers["location"].endswith("/import")
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    settings = status["settings"]
    assert settings["entities"]["customers"] == {"enabled": True, "direction": "inbound"}
    assert settings["entities"]["contacts"] == {"enabled": False, "direction": "both"}
    assert settings["entities"]["products"]["enabled"] is True
    assert settings["post_invoices"] is True
    assert settings["schedules"] == {"products": "15 2 * * *"}, "the default is not stored"
    assert status["timezone"] == "Europe/Oslo"
    products = next(s for s in status["schedules"] if s["kind"] == "products")
    assert products["cron"] == "15 2 * * *" and products["next_run_at"].endswith("+01:00")

    back = web.post(path, {**form, "settings.schedules.products": ""})
    assert back.status_code == 303
    settings = tenant.api.get(f"/connections/{connection['id']}").json()["settings"]
    assert settings.get("schedules", {}) == {}, "emptied: the default again"


def test_entities_refusals_land_on_their_input(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    uniconta.sandbox.add_user(COMPANY, "noreseller", PASSWORD, user_type="Server", roles=())
    connection = connect(tenant, uniconta, settings={"username": "noreseller"})
    path = f"/ui/connections/{connection['id']}/entities"
    bad_cron = web.post(path, {"settings.schedules.pull": "every hour"})
    assert bad_cron.status_code == 422
    assert 'value="every hour"' in bad_cron.text, "what was typed stays"
    assert "settings-schedules-pull-error" in bad_cron.text
    assert "5-field cron expression" in text_of(bad_cron.text)

    invoices = web.post(path, {"settings.entities.invoices.enabled": "on"})
    assert invoices.status_code == 422
    assert 'aria-describedby="settings-entities-invoices-enabled-error"' in invoices.text
    assert "lacks the Reseller role" in text_of(invoices.text)
    settings = tenant.api.get(f"/connections/{connection['id']}").json()["settings"]
    assert "invoices" not in settings["entities"], "nothing saved"

    edited = web.post(path, {"settings.products_master": "shop"})
    assert edited.status_code == 422
    assert 'id="settings-products_master-error"' in edited.text
    assert (
        "Products master: 'shop' is not one of the choices (uniconta, app); choose one from "
        "the list"
    ) in html.unescape(text_of(edited.text))


# --- Import ----------------------------------------------------------------------------------


def test_import_warns_first_then_polls_until_done(
    system: System, web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 5)
    both = {"customers": {"enabled": True}, "products": {"enabled": True}}
    connection = connect(tenant, uniconta, settings={"entities": both})
    path = f"/ui/connections/{connection['id']}/import"
    before = text_of(web.get(path).text)
    assert "Before you start" in before and "are not mapped" in before
    [unmapped] = tenant.api.get(f"/connections/{connection['id']}/preflight").json()["warnings"]
    assert unmapped in before, "the page shows what the API answers"
    started = web.post(path)
    assert started.status_code == 303
    running = web.get(f"{path}/progress")
    assert 'hx-trigger="every 2s"' in running.text
    assert "Waiting for a worker" in text_of(running.text)
    system.run_until_idle()
    done = web.get(f"{path}/progress")
    assert "hx-trigger" not in done.text
    assert "The initial import is done: 5 records synced" in text_of(done.text)
    assert "<progress" in done.text and 'scope="row">Customers' in done.text


def test_a_spent_budget_says_when_the_import_resumes(
    system: System, web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 30)
    connection = connect(tenant, uniconta, settings={"daily_call_limit": 6, "page_size": 5})
    assert web.post(f"/ui/connections/{connection['id']}/import").status_code == 303
    system.run_until_idle()
    waiting = text_of(web.get(f"/ui/connections/{connection['id']}/import/progress").text)
    assert "The day's call budget is spent: the import resumes at" in waiting
    assert "00:00 (Europe/Copenhagen)" in waiting
    progress = tenant.api.get(f"/connections/{connection['id']}").json()["import_progress"]
    assert progress["status"] == "deferred" and progress["resumes_at"]


def test_a_member_sees_the_pages_and_changes_nothing(
    system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    member = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    base = f"/ui/connections/{connection['id']}"
    entities = member.get(f"{base}/entities")
    assert entities.status_code == 200
    assert "<fieldset" in entities.text and "disabled>" in entities.text
    assert ">Save</button>" not in entities.text
    page = member.get(f"{base}/import")
    assert page.status_code == 200 and "Start initial import" not in page.text
    refused = member.post(f"{base}/entities", {"settings.entities.invoices.enabled": "on"})
    assert refused.status_code == 403
    assert member.post(f"{base}/import").status_code == 403
    assert member.get("/ui/connections/new/uniconta").status_code == 403
    member.client.close()


# --- The Qonto login -------------------------------------------------------------------------


@pytest.fixture
def qonto(hub_port: int) -> Iterator[tuple[QontoSandbox, str]]:
    sandbox = QontoSandbox(seed=4)
    sandbox.add_oauth_app(
        CLIENT_ID, CLIENT_SECRET, [f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback"]
    )
    with SandboxServer(sandbox) as server:
        yield sandbox, server.base_url
    sandbox.close()


def qonto_connection(web: Web, tenant: Tenant, url: str) -> dict[str, Any]:
    saved = web.post(
        "/ui/connections/new/qonto",
        {
            "name": "Qonto",
            "settings.base_url": url,
            "settings.oauth_url": url,
            "settings.oauth_client_id": CLIENT_ID,
            "secrets.oauth_client_secret": CLIENT_SECRET,
        },
    )
    assert saved.status_code == 303, text_of(saved.text)
    [connection] = tenant.api.get("/connections").json()
    assert saved.headers["location"] == f"/ui/connections/{connection['id']}/login"
    assert connection["logged_in"] is False
    return dict(connection)


def test_a_qonto_set_up_without_its_app_says_what_to_give_on_the_field(
    web: Web, tenant: Tenant, qonto: tuple[QontoSandbox, str]
) -> None:
    """Neither the OAuth app nor an API key, or a client ID without its secret: refused on
    the field to fill, not saved to fail at the login; once saved, the notice speaks of the
    page's button, not of the API."""
    _sandbox, url = qonto
    form = {"name": "Qonto", "settings.base_url": url, "settings.oauth_url": url}
    page = web.get("/ui/connections/new/qonto").text
    assert "OAuth client ID" in text_of(page) and "Oauth" not in text_of(page)

    bare = web.post("/ui/connections/new/qonto", form)
    assert bare.status_code == 422
    assert "give the OAuth client ID and client secret of your Qonto app" in text_of(bare.text)
    assert 'aria-invalid="true"' in bare.text.split('id="settings-oauth_client_id"')[1][:300]

    half = web.post("/ui/connections/new/qonto", {**form, "settings.oauth_client_id": CLIENT_ID})
    assert half.status_code == 422
    assert "give the OAuth client secret Qonto issued" in text_of(half.text)
    assert 'aria-invalid="true"' in half.text.split('id="secrets-oauth_client_secret"')[1][:300]
    assert tenant.api.get("/connections").json() == []

    saved = web.post(
        "/ui/connections/new/qonto",
        {
            **form,
            "settings.oauth_client_id": CLIENT_ID,
            "secrets.oauth_client_secret": CLIENT_SECRET,
        },
    )
    assert saved.status_code == 303
    notice = text_of(web.get(saved.headers["location"]).text)
    assert "Qonto is saved. Next: log in to Qonto" in notice, "not connected before the login"
    assert "POST /connections" not in notice


def follow_login(web: Web, connection_id: str) -> httpx.Response:
    """The button, the link to Qonto, Qonto's redirect back to the callback."""
    started = web.post(f"/ui/connections/{connection_id}/login")
    assert started.status_code == 200
    assert started.headers["cache-control"] == "no-store"
    link = next(
        part.split('"')[1] for part in started.text.split("<a href=")[1:] if "oauth2/auth" in part
    )
    consent = httpx.get(link.replace("&amp;", "&"))
    assert consent.status_code == 302
    return web.get(consent.headers["location"])


def test_the_login_started_from_the_ui_comes_back_to_it(
    web: Web, tenant: Tenant, qonto: tuple[QontoSandbox, str]
) -> None:
    sandbox, url = qonto
    connection = qonto_connection(web, tenant, url)
    overview = f"/ui/connections/{connection['id']}/"
    assert "Not logged in to Qonto" in text_of(web.get(overview).text)
    back = follow_login(web, connection["id"])
    assert back.status_code == 303
    assert back.headers["location"] == f"/ui/connections/{connection['id']}/login?login=ok"
    done = web.get(back.headers["location"])
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/connections/{connection['id']}/entities"
    assert tenant.api.get(f"/connections/{connection['id']}").json()["logged_in"] is True
    again = web.get(f"/ui/connections/{connection['id']}/login")
    assert "Log in to Qonto again" in again.text

    sandbox.set_consent(False)
    refused = follow_login(web, connection["id"])
    assert refused.headers["location"].endswith("/login?login=failed")
    page = web.get(refused.headers["location"])
    assert page.status_code == 422
    assert "access_denied" in text_of(page.text)
    assert "Log in to Qonto again" in text_of(web.get(overview).text), "the way back in"

    api_started = tenant.api.post(f"/connections/{connection['id']}/oauth/authorize").json()
    sandbox.set_consent(True)
    consent = httpx.get(api_started["authorize_url"])
    answer = httpx.get(consent.headers["location"])
    assert answer.status_code == 200, "an API caller still gets JSON"
    assert answer.json() == {"status": "connected", "connection_id": connection["id"]}


def test_a_login_qonto_refuses_for_the_app_s_secret_says_what_to_check_in_words(
    web: Web, tenant: Tenant, qonto: tuple[QontoSandbox, str]
) -> None:
    _sandbox, url = qonto
    saved = web.post(
        "/ui/connections/new/qonto",
        {"name": "Qonto", "settings.base_url": url, "settings.oauth_url": url,
         "settings.oauth_client_id": CLIENT_ID, "secrets.oauth_client_secret": "not-the-secret"},
    )  # fmt: skip
    assert saved.status_code == 303
    [connection] = tenant.api.get("/connections").json()
    back = follow_login(web, connection["id"])
    page = text_of(web.get(back.headers["location"]).text)
    assert "refused the app&#39;s OAuth client ID or client secret" in page
    assert "a new secret goes on Credentials" in page
    assert "settings.oauth_client_id" not in page


def test_a_return_from_qonto_opened_again_leads_to_the_login_page_saying_so(
    web: Web, tenant: Tenant, qonto: tuple[QontoSandbox, str]
) -> None:
    """The browser's back button or a reload opens the callback a second time: its login is
    spent, so the person lands on the connection's login page, still logged in, not on a
    bare JSON refusal; an API caller keeps the JSON 404."""
    _sandbox, url = qonto
    connection = qonto_connection(web, tenant, url)
    started = web.post(f"/ui/connections/{connection['id']}/login")
    link = next(
        part.split('"')[1] for part in started.text.split("<a href=")[1:] if "oauth2/auth" in part
    )
    callback = httpx.get(link.replace("&amp;", "&")).headers["location"]
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    assert web.get(callback, headers=browser).headers["location"].endswith("?login=ok")

    again = web.get(callback, headers=browser)
    assert again.status_code == 303
    assert again.headers["location"] == f"/ui/connections/{connection['id']}/login?login=spent"
    page = web.get(again.headers["location"])
    assert page.status_code == 200
    assert "used already or has expired" in text_of(page.text)
    assert "Logged in" in text_of(page.text)
    assert tenant.api.get(f"/connections/{connection['id']}").json()["logged_in"] is True
    api = httpx.get(callback)
    assert api.status_code == 404
    assert api.json() == {"detail": "unknown or expired login; start the login again"}


def test_a_login_returns_only_to_a_page_of_the_ui(
    system: System, tenant: Tenant, qonto: tuple[QontoSandbox, str], web: Web
) -> None:
    _sandbox, url = qonto
    connection = qonto_connection(web, tenant, url)
    principal = system.tenancy.authenticate(tenant.api_key)
    assert principal is not None
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/v1/parties"):
        with pytest.raises(Exception, match="page of the web UI"):
            system.oauth.authorize(principal, connection["id"], return_to=target)


def test_the_uniconta_login_names_an_empty_or_mistyped_field_before_asking_uniconta(
    web: Web, uniconta: Uniconta
) -> None:
    """An empty user name is not "refused credentials", and a host without http(s):// is not
    a failed request: each is named on its field."""
    login = {"settings.username": USER, "secrets.password": PASSWORD, "settings.base_url": ""}
    for given, field, reason in (
        ({"settings.username": " "}, "settings-username", "enter the Uniconta user&#39;s name"),
        ({"secrets.password": ""}, "secrets-password", "enter the Uniconta user&#39;s password"),
        ({"settings.base_url": "odata.example"}, "settings-base_url", "must be an http(s) URL"),
    ):
        refused = web.post("/ui/connections/new/uniconta/login", {**login, **given})
        assert refused.status_code == 422, given
        assert reason in refused.text, given
        assert "refused the credentials" not in refused.text and "missing an" not in refused.text
        assert 'aria-invalid="true"' in refused.text.split(f'id="{field}"')[1][:300], given
