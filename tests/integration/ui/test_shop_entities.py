"""A webshop's Entities page over plain HTTP: which records sync and which way, and the shop's
options (service items, the stock warehouse, each VAT code's tax class as ``key = value``
lines), saved as the API saves them; a line or a class the shop does not have is refused on
its input, with what was typed kept."""

from __future__ import annotations

import html
from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.woocommerce import WooSandbox
from tests.integration.conftest import Tenant
from tests.integration.ui.commerce_fixtures import form_of
from tests.integration.ui.conftest import Web, browser_sign_in, text_of
from tests.integration.webshop_fixtures import woo

__all__ = ["woo"]


def shop_connection(tenant: Tenant, woo: tuple[WooSandbox, str]) -> str:
    shop, url = woo
    key = shop.default_key
    made = tenant.api.post("/connections", json={
        "system": "woocommerce", "name": "Webshop", "settings": {"base_url": url},
        "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def settings_of(tenant: Tenant, cid: str) -> dict[str, Any]:
    return dict(tenant.api.get(f"/connections/{cid}").json()["settings"])


def test_a_shop_owner_chooses_what_syncs_and_maps_vat_codes_to_tax_classes(
    web: Web, tenant: Tenant, woo: tuple[WooSandbox, str]
) -> None:
    cid = shop_connection(tenant, woo)
    path = f"/ui/connections/{cid}/entities"
    page = web.get(path)
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    for label in ("Products", "Stock", "Orders", "Refunds", "Send service items",
                  "Stock warehouse", "Tax classes"):  # fmt: skip
        assert label in text, label
    assert f'href="/ui/connections/{cid}/entities"' in page.text, "the tab is there"
    form = form_of(page.text, path)
    assert form["settings.entities.products.enabled"] == "on", "on by default"
    form.update({
        "settings.entities.products.direction": "outbound",
        "settings.entities.stock.enabled": "",
        "settings.tax_classes": "U0 = zero-rate\r\n\r\nUEU = zero-rate",
        "settings.stock_warehouse": "Lager",
    })  # fmt: skip
    form = {k: v for k, v in form.items() if v != ""}
    saved = web.post(path, form)
    assert saved.status_code == 303, text_of(saved.text)
    assert saved.headers["location"] == path
    settings = settings_of(tenant, cid)
    assert settings["tax_classes"] == {"U0": "zero-rate", "UEU": "zero-rate"}
    assert settings["stock_warehouse"] == "Lager"
    assert settings["entities"]["products"] == {"enabled": True, "direction": "outbound"}
    assert settings["entities"]["stock"]["enabled"] is False
    again = web.get(path).text
    assert "U0 = zero-rate\nUEU = zero-rate</textarea>" in again, "the map as it was typed"

    not_a_line = web.post(path, {**form, "settings.tax_classes": "U0 zero-rate"})
    assert not_a_line.status_code == 422
    assert 'aria-describedby="settings-tax_classes-help settings-tax_classes-error"' in (
        not_a_line.text
    )
    said = html.unescape(text_of(not_a_line.text))
    assert "Tax classes, line 1 ('U0 zero-rate'): write it as key = value" in said
    assert "U0 zero-rate</textarea>" in not_a_line.text, "what was typed stays"

    unknown = web.post(path, {**form, "settings.tax_classes": "U0 = zero"})
    assert unknown.status_code == 422
    assert "settings-tax_classes-error" in unknown.text
    assert "the shop has no tax class zero" in text_of(unknown.text)
    assert settings_of(tenant, cid)["tax_classes"] == {"U0": "zero-rate", "UEU": "zero-rate"}

    emptied = web.post(path, {**form, "settings.tax_classes": ""})
    assert emptied.status_code == 303
    assert settings_of(tenant, cid).get("tax_classes") is None, "emptied: no map"


def test_a_direction_edited_in_the_page_is_refused_with_the_choices_the_list_shows(
    web: Web, tenant: Tenant, woo: tuple[WooSandbox, str]
) -> None:
    """A select's value changed in the page's HTML: the field is named as the page labels it,
    with its choices as the list shows them, not the validation's internal values."""
    cid = shop_connection(tenant, woo)
    path = f"/ui/connections/{cid}/entities"
    form = form_of(web.get(path).text, path)
    refused = web.post(path, {**form, "settings.entities.products.direction": "sideways"})
    assert refused.status_code == 422
    assert (
        "Direction of Products: 'sideways' is not one of the choices (Both ways, From "
        "WooCommerce only, To WooCommerce only); choose one from the list"
    ) in html.unescape(text_of(refused.text))
    assert "entities" not in settings_of(tenant, cid), "nothing saved"


def test_a_refused_form_names_each_field_by_its_label_in_the_summary(
    page: Any, system: System, ui_url: str, tenant: Tenant, woo: tuple[WooSandbox, str]
) -> None:
    """In the browser: the line at the top of a refused form names the field as the page
    labels it, never the settings' internal path, for a value typed (a schedule) as for a
    select edited in the page's HTML."""
    cid = shop_connection(tenant, woo)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/entities")
    page.locator("#settings-schedules-products").fill("every hour")
    page.get_by_role("button", name="Save").click()
    summary = page.locator("p.error[role=alert]")
    assert summary.inner_text() == (
        "Schedule of Products: must be a 5-field cron expression, e.g. '0 */6 * * *'"
    )
    assert page.locator("#settings-schedules-products-error").inner_text() == summary.inner_text()

    page.locator("#settings-schedules-products").fill("")
    page.locator("#settings-entities-products-direction").evaluate(
        "select => { select.add(new Option('Sideways', 'sideways')); select.value = 'sideways' }"
    )
    page.get_by_role("button", name="Save").click()
    said = summary.inner_text()
    assert "settings." not in said
    assert said == (
        "Direction of Products: 'sideways' is not one of the choices (Both ways, From "
        "WooCommerce only, To WooCommerce only); choose one from the list"
    )
    assert "entities" not in settings_of(tenant, cid), "nothing saved"
