"""The set-up form each system's typed settings generate: every system has one, a refusal
names its field, and nothing is saved until the system accepts the credentials."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.runtime.http import free_port
from ledgerbridge.sandbox.woocommerce.app import SandboxServer
from ledgerbridge.sandbox.woocommerce.state import WooSandbox
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta
from tests.integration.ui.conftest import Web, text_of


def test_the_picker_lists_every_system(web: Web) -> None:
    page = web.get("/ui/connections/new")
    assert page.status_code == 200
    for spec in SYSTEMS.values():
        assert f'href="/ui/connections/new/{spec.name}"' in page.text
        assert spec.title in page.text


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_each_system_has_a_form_from_its_settings(web: Web, name: str) -> None:
    page = web.get(f"/ui/connections/new/{name}?form=1")  # the whole form, no first step
    assert page.status_code == 200, page.text
    schema_required = SYSTEMS[name].settings.model_json_schema().get("required", [])
    for name in schema_required:
        assert f'name="settings.{name}"' in page.text
    assert "readOnly" not in page.text


def test_a_refused_login_names_the_field_and_saves_nothing(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    form = {
        "name": "Uniconta",
        "timezone": "Europe/Copenhagen",
        "settings.company_id": str(COMPANY),
        "settings.username": USER,
        "settings.base_url": uniconta.url,
        "secrets.password": "wrong",
    }
    refused = web.post("/ui/connections/new/uniconta", form)
    assert refused.status_code == 422
    assert "Uniconta refused the credentials" in text_of(refused.text)
    unnamed = web.post("/ui/connections/new/uniconta", {**form, "settings.username": ""})
    assert unnamed.status_code == 422
    assert 'id="settings-username" name="settings.username"' in unnamed.text
    assert 'aria-invalid="true" aria-describedby="settings-username-help' in unnamed.text
    assert tenant.api.get("/connections").json() == []
    saved = web.post("/ui/connections/new/uniconta", {**form, "secrets.password": PASSWORD})
    assert saved.status_code == 303, text_of(saved.text)
    connection = tenant.api.get("/connections").json()[0]
    assert saved.headers["location"] == f"/ui/connections/{connection['id']}/entities"
    entities = web.get(saved.headers["location"])
    assert "is connected" in text_of(entities.text)


def test_an_unknown_system_is_a_clear_404(web: Web) -> None:
    page = web.get("/ui/connections/new/nosuch")
    assert page.status_code == 404
    assert "there is no system" in page.text


def test_a_shop_added_with_the_form_learns_its_price_basis(web: Web, tenant: Tenant) -> None:
    """The form does not ask how the shop enters prices (an unticked box would say "without
    VAT" for every shop): the connection reads it from the shop."""
    sandbox = WooSandbox()
    server = SandboxServer(sandbox)
    server.start()
    try:
        key = sandbox.default_key
        page = web.get("/ui/connections/new/woocommerce?form=1")
        assert 'name="settings.prices_include_vat"' not in page.text
        saved = web.post(
            "/ui/connections/new/woocommerce",
            {"name": "Webshop", "timezone": "Europe/Copenhagen",
             "settings.base_url": server.base_url, "secrets.consumer_key": key.consumer_key,
             "secrets.consumer_secret": key.consumer_secret},
        )  # fmt: skip
        assert saved.status_code == 303, text_of(saved.text)
        settings = tenant.api.get("/connections").json()[0]["settings"]
        assert settings["prices_include_vat"] is True and settings["vat_rates"]["standard"] == "25"
    finally:
        server.stop()
        sandbox.close()


def test_a_name_too_long_is_refused_on_its_field_with_what_was_typed(
    web: Web, tenant: Tenant
) -> None:
    """The name is held to the 200 characters the API and the rename on Credentials allow;
    a longer one is refused on the field, the form kept, and nothing is saved."""
    page = web.get("/ui/connections/new/files?form=1")
    assert 'id="name" name="name"' in page.text and 'maxlength="200"' in page.text
    long_name = "Ordrefiler fra lageret " + "æ" * 200
    refused = web.post(
        "/ui/connections/new/files", {"name": long_name, "timezone": "Europe/Copenhagen"}
    )
    assert refused.status_code == 422, refused.text
    assert "name has at most 200 characters" in text_of(refused.text)
    assert 'maxlength="200" value="Ordrefiler fra lageret æææ' in refused.text
    assert 'aria-invalid="true"' in refused.text.split('id="name"', 1)[1].split(">", 1)[0]
    assert tenant.api.get("/connections").json() == []
    saved = web.post(
        "/ui/connections/new/files", {"name": long_name[:200], "timezone": "Europe/Copenhagen"}
    )
    assert saved.status_code == 303, text_of(saved.text)
    [made] = tenant.api.get("/connections").json()
    assert made["name"] == long_name[:200]


def test_a_nul_character_in_a_form_or_a_search_is_an_error_page_naming_the_field(
    web: Web, tenant: Tenant
) -> None:
    """PostgreSQL cannot store a NUL character: a form or a query carrying one is refused on a
    page naming the field (not JSON, not a 500), and nothing is saved."""
    refused = web.post(
        "/ui/connections/new/files", {"name": "Ordrer\x00", "timezone": "Europe/Copenhagen"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert "name: a NUL character (\\u0000) is not allowed in text" in text_of(refused.text)
    assert tenant.api.get("/connections").json() == []
    searched = web.get("/ui/records", params={"entity": "party", "q": "a\x00b"})
    assert searched.status_code == 422
    assert "q: a NUL character" in text_of(searched.text)
    api = tenant.api.get("/connections", params={"q": "a\x00b"})
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["query", "q"]


def test_a_required_address_is_asked_in_the_form_not_under_advanced(web: Web) -> None:
    """A WooCommerce shop's address is what the connection is: it is not a sandbox host."""
    page = web.get("/ui/connections/new/woocommerce").text
    shown, advanced = page.split("<details>", 1)
    assert 'name="settings.base_url"' in shown
    assert 'name="settings.base_url"' not in advanced
    uniconta = web.get("/ui/connections/new/uniconta?form=1").text
    assert 'name="settings.base_url"' in uniconta.split("<details>", 1)[1]


def test_a_refusal_under_advanced_opens_it_with_the_reason_on_the_field(
    web: Web, tenant: Tenant
) -> None:
    """A host that does not answer, or a time zone that does not exist, is marked on a field
    the page shows: the Advanced section opens, and the time zone says why beside it."""
    port = free_port()
    login = {
        "settings.username": USER,
        "secrets.password": PASSWORD,
        "settings.base_url": f"http://127.0.0.1:{port}",
    }
    unreachable = web.post("/ui/connections/new/uniconta/login", login)
    assert unreachable.status_code == 422
    # in plain words: the host, what happened, what to check; not the HTTP library's text
    assert (
        f"could not reach Uniconta at 127.0.0.1:{port}: the connection was refused (nothing "
        "answers on that port); check the address and port, and that the service is running"
    ) in text_of(unreachable.text)
    assert "Errno" not in unreachable.text
    assert "<details open>" in unreachable.text
    assert 'aria-invalid="true"' in unreachable.text.split('id="settings-base_url"')[1][:300]
    assert "<details>" in web.get("/ui/connections/new/uniconta").text, "closed until refused"

    zone = web.post("/ui/connections/new/files", {"name": "Files", "timezone": "Mars/Base"})
    assert zone.status_code == 422
    assert "<details open>" in zone.text
    assert 'aria-describedby="timezone-error"' in zone.text
    assert '<small id="timezone-error" class="error">unknown time zone' in zone.text
    assert tenant.api.get("/connections").json() == []


def test_a_set_up_form_sent_again_does_not_add_the_connection_twice(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    """The browser's back button, then Save again (or a reload that resends the form): the
    second is refused on the name, and there is one connection."""
    form = {
        "name": "Uniconta – Nordlys",
        "timezone": "Europe/Copenhagen",
        "settings.company_id": str(COMPANY),
        "settings.username": USER,
        "settings.base_url": uniconta.url,
        "secrets.password": PASSWORD,
    }
    assert web.post("/ui/connections/new/uniconta", form).status_code == 303
    again = web.post("/ui/connections/new/uniconta", {**form, "name": " uniconta – NORDLYS "})
    assert again.status_code == 409, text_of(again.text)
    assert "a connection named &#39;Uniconta – Nordlys&#39; exists already" in again.text
    assert 'aria-invalid="true"' in again.text.split('id="name"', 1)[1].split(">", 1)[0]
    assert len(tenant.api.get("/connections").json()) == 1
    other = web.post("/ui/connections/new/uniconta", {**form, "name": "Uniconta – second"})
    assert other.status_code == 303, text_of(other.text)
    assert len(tenant.api.get("/connections").json()) == 2


def test_a_rename_to_a_name_in_use_is_refused_on_the_name(web: Web, tenant: Tenant) -> None:
    """The Credentials tab's rename holds the same rule as the set-up: the refusal is on the
    name field, and the connection keeps its name."""
    for name in ("Shop files", "Till files"):
        assert web.post("/ui/connections/new/files", {"name": name}).status_code == 303
    till = next(c for c in tenant.api.get("/connections").json() if c["name"] == "Till files")
    renamed = web.post(f"/ui/connections/{till['id']}/name", {"name": "SHOP FILES"})
    assert renamed.status_code == 409, text_of(renamed.text)
    assert (
        '<small id="name-error" class="error">a connection named &#39;Shop files&#39; exists '
        "already (see Connections): choose a name no other connection has</small>"
    ) in renamed.text
    assert tenant.api.get(f"/connections/{till['id']}").json()["name"] == "Till files"


def test_the_tripletex_form_says_first_when_the_installation_lacks_its_consumer_token(
    web: Web,
) -> None:
    """The consumer token is the installation's: without it no Tripletex connection can be
    saved, so the form says so before a token is pasted, naming what the server needs."""
    page = text_of(web.get("/ui/connections/new/tripletex").text)
    assert "This installation is not set up for Tripletex yet" in page
    assert "LEDGERBRIDGE_TRIPLETEX_CONSUMER_TOKEN" in page
    assert "not set up for" not in text_of(web.get("/ui/connections/new/uniconta?form=1").text)


def test_a_refused_value_says_the_check_s_reason_in_plain_words(web: Web, tenant: Tenant) -> None:
    """A shop address without http(s):// is refused on its field with the reason alone, not
    the validator's "Value error," prefix."""
    refused = web.post(
        "/ui/connections/new/woocommerce",
        {
            "name": "Shop",
            "settings.base_url": "shop.example.dk",
            "secrets.consumer_key": "ck_1",
            "secrets.consumer_secret": "cs_1",
        },
    )
    assert refused.status_code == 422
    assert "settings.base_url: must be an http(s) URL" in text_of(refused.text)
    assert "Value error" not in refused.text
    assert 'aria-invalid="true"' in refused.text.split('id="settings-base_url"')[1][:300]
    assert tenant.api.get("/connections").json() == []


def test_a_zettle_contact_address_that_is_no_address_is_refused_on_its_field(
    web: Web, tenant: Tenant
) -> None:
    """Zettle writes there when webhook deliveries keep failing: a typo would mean no one
    hears of it, so it is checked as an address before anything is saved."""
    refused = web.post(
        "/ui/connections/new/zettle",
        {
            "name": "Zettle",
            "settings.contact_email": "kasse at butik.dk",
            "secrets.api_key": "a-zettle-api-key-of-some-length",
        },
    )
    assert refused.status_code == 422
    assert "settings.contact_email:" in text_of(refused.text)
    assert 'aria-invalid="true"' in refused.text.split('id="settings-contact_email"')[1][:300]
    assert tenant.api.get("/connections").json() == []


def test_a_files_connection_is_not_said_to_be_checked_for_a_password(web: Web) -> None:
    """Files have no login: the form does not speak of a wrong password or key."""
    files = text_of(web.get("/ui/connections/new/files").text)
    assert "wrong password or key" not in files
    assert "Each setting is checked before the connection is saved" in files
    assert "wrong password or key" in text_of(web.get("/ui/connections/new/zettle").text)


def test_the_smtp_password_is_described_in_words_not_by_its_setting(web: Web) -> None:
    page = text_of(web.get("/ui/connections/new/uniconta?form=1").text)
    assert "The password of the SMTP user that sends invoice mail" in page
    assert "invoice_mail" not in page


def test_a_shop_given_by_its_rest_api_address_is_connected_at_its_own(
    web: Web, tenant: Tenant
) -> None:
    """WooCommerce shows the REST API's address (…/wp-json/wc/v3) beside the key: pasted as
    the shop's address, it is taken as the shop, not refused as a route the shop lacks."""
    sandbox = WooSandbox()
    server = SandboxServer(sandbox)
    server.start()
    try:
        key = sandbox.default_key
        saved = web.post(
            "/ui/connections/new/woocommerce",
            {"name": "Webshop", "settings.base_url": f"{server.base_url}/wp-json/wc/v3/",
             "secrets.consumer_key": key.consumer_key,
             "secrets.consumer_secret": key.consumer_secret},
        )  # fmt: skip
        assert saved.status_code == 303, text_of(saved.text)
        [shop] = tenant.api.get("/connections").json()
        assert shop["settings"]["base_url"] == server.base_url
    finally:
        server.stop()
        sandbox.close()
