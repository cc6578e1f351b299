"""The Mappings tab: the system's VAT codes with the records waiting for each unmapped one,
units and payment terms with the common ones pre-mapped, and records that sync by themselves
once their code is mapped."""

from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox, seed_organization
from ledgerbridge.sandbox.uniconta import seed_products
from ledgerbridge.ui.mappings import _vat_rows
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect
from tests.integration.test_qonto import VAT_GROUPS, connect_invoices, import_all, start
from tests.integration.test_uniconta_integration import VAT
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
    sign_in,
    text_of,
)


def products_waiting_for_x99(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> tuple[dict[str, Any], int]:
    """A Uniconta connection imported with VAT code X99 unmapped: (connection, records
    skipped for it)."""
    seed_products(uniconta.sandbox, COMPANY, count=40, seed=7)
    special = [i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i.get("Vat") == "X99"]
    assert special, "the seed gives some items the unmapped VAT code X99"
    connection = connect(
        tenant, uniconta, settings={"entities": {"products": {"enabled": True}}, "vat_mapping": VAT}
    )
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{connection['id']}").json()["import_state"] == "done"
    return connection, len(special)


def test_an_unmapped_code_shows_its_waiting_records_and_mapping_it_clears_them(
    web: Web, system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection, skipped = products_waiting_for_x99(system, tenant, uniconta)
    path = f"/ui/connections/{connection['id']}/mappings"
    page = web.get(path)
    assert page.status_code == 200, page.text
    words = text_of(page.text)
    assert "X99 " in words and f"{skipped} record{'s' if skipped > 1 else ''} waiting" in words
    assert "1 VAT code not mapped" in words
    assert 'name="vat.S25" value="DK25"' in page.text
    api = tenant.api.get(f"/connections/{connection['id']}/mappings").json()
    assert api["waiting"]["vat"] == {"X99": skipped}

    saved = web.post(path, {"vat.X99": "SPECIAL", "vat.S25": "DK25"})
    assert saved.status_code == 303, text_of(saved.text)
    assert saved.headers["location"] == f"{path}?waiting={skipped}"
    following = web.get(saved.headers["location"])
    assert "waiting for these codes sync by themselves" in text_of(following.text)
    assert 'hx-trigger="every 2s"' in following.text

    system.run_until_idle()
    done = web.get(f"{path}/waiting", params={"of": skipped})
    assert f"All {skipped} records that waited for these codes have synced" in text_of(done.text)
    assert "hx-trigger" not in done.text
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []
    assert tenant.api.get(f"/connections/{connection['id']}").json()["open_issues"] == {}


def test_a_webshops_connection_is_not_told_its_own_vat_codes_need_mapping(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    """Invoices and the items written from a shop carry Uniconta's own codes: the page says
    they are used as they are, where a connection reading items says they are not mapped."""
    shop = {"products_master": "app",
            "entities": {"products": {"enabled": True}, "invoices": {"enabled": True}}}  # fmt: skip
    connection = connect(tenant, uniconta, settings=shop, name="Webshop books")
    words = text_of(web.get(f"/ui/connections/{connection['id']}/mappings").text)
    assert "VAT codes not mapped" not in words and "Not mapped" not in words
    assert "own VAT codes are used as they are by invoices" in words
    assert "S25 " in words and "Used as it is" in words

    reading = connect(tenant, uniconta, settings={"entities": {"products": {"enabled": True}}})
    words = text_of(web.get(f"/ui/connections/{reading['id']}/mappings").text)
    assert "VAT codes not mapped" in words and "Used as it is" not in words


def test_units_and_payment_terms_start_with_the_common_ones_and_take_the_companys_own(
    web: Web, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    path = f"/ui/connections/{connection['id']}/mappings"
    page = web.get(path)
    assert 'name="unit.Piece" value="pcs"' in page.text
    assert 'name="term.Netto 30" value="30"' in page.text
    assert "Common" in text_of(page.text)

    bad = web.post(path, {"new_term_code": "Netto 45", "new_term_days": "soon"})
    assert bad.status_code == 422
    assert "days must be a whole number" in text_of(bad.text)
    typed_again = 'name="new_term_days" value="soon" inputmode="numeric" aria-invalid="true"'
    assert typed_again in bad.text
    half = web.post(path, {"new_unit_code": "Carton"})
    assert half.status_code == 422 and "give both the unit" in text_of(half.text)

    saved = web.post(
        path,
        {"new_unit_code": "Carton", "new_unit_value": "ctn", "new_term_code": "Netto 45",
         "new_term_days": "45", "unit.Piece": "pcs"},
    )  # fmt: skip
    assert saved.status_code == 303, text_of(saved.text)
    assert saved.headers["location"] == path
    settings = tenant.api.get(f"/connections/{connection['id']}").json()["settings"]
    assert settings["unit_mapping"] == {"Carton": "ctn"}
    assert settings["payment_terms"] == {"Netto 45": 45}
    shown = web.get(path)
    assert 'name="unit.Carton" value="ctn"' in shown.text
    assert "Mappings saved." in text_of(shown.text)


def test_a_member_sees_the_mappings_but_cannot_change_them(
    system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta, settings={"vat_mapping": VAT})
    member = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    assert member.status_code == 201
    web = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    path = f"/ui/connections/{connection['id']}/mappings"
    page = web.get(path)
    assert page.status_code == 200
    assert "Save mappings" not in page.text
    assert 'name="vat.S25" value="DK25" list="hub-vat-codes" autocomplete="off" disabled' in (
        page.text
    )
    refused = web.post(path, {"vat.X99": "SPECIAL"})
    assert refused.status_code == 403
    web.client.close()


def test_a_system_without_codes_has_no_mappings_tab(web: Web, tenant: Tenant) -> None:
    created = tenant.api.post(
        "/connections", json={"system": "files", "name": "Files", "settings": {}}
    )
    assert created.status_code == 201, created.text
    overview = web.get(f"/ui/connections/{created.json()['id']}/")
    assert "/mappings" not in overview.text
    assert web.get(f"/ui/connections/{created.json()['id']}/mappings").status_code == 404


def test_mapping_a_code_in_the_browser_clears_its_skipped_records(
    page: Any, system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection, skipped = products_waiting_for_x99(system, tenant, uniconta)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{connection['id']}/")
    page.get_by_role("link", name="Mappings").click()
    row = page.get_by_role("row").filter(has_text="X99")
    row.get_by_text(f"{skipped} records waiting").wait_for()
    assert_accessible(page)
    assert_fits_360(page)
    screenshot(page, "mappings")

    page.get_by_label("X99").fill("SPECIAL")
    page.get_by_role("button", name="Save mappings").click()
    page.get_by_text("sync by themselves").wait_for()
    system.run_until_idle()
    page.get_by_text(f"All {skipped} records that waited for these codes have synced").wait_for()
    assert page.get_by_role("row").filter(has_text="X99").get_by_text("Mapped").count() == 1
    assert_accessible(page)
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []


def test_yuki_rows_are_the_hubs_codes_each_with_its_yuki_vat_type() -> None:
    """Yuki keeps its table the other way round (hub code → Yuki VAT type): its rows are the
    hub's VAT codes, the mapped ones and those outbound records wait for."""
    view = {"vat": {"DK25": "1", "OLD": "4"}, "waiting": {"vat": {"NL21": 3, "": 1}}}
    hub_codes = [{"code": "DK25", "name": "Danish 25 %", "rate": 25}, {"code": "NL9"}]
    rows = _vat_rows(SYSTEMS["yuki"], view, hub_codes)
    assert [(r["code"], r["value"], r["waiting"]) for r in rows] == [
        ("DK25", "1", 0), ("NL9", "", 0), ("OLD", "4", 0), ("NL21", "", 3),
    ]  # fmt: skip
    assert rows[0]["name"] == "Danish 25 %"
    uniconta = _vat_rows(SYSTEMS["uniconta"], {**view, "remote_vat_codes": [{"code": "S25"}]}, [])
    assert [r["code"] for r in uniconta] == ["S25", "DK25", "OLD", "NL21"]


def test_qonto_invoices_waiting_for_a_vat_group_are_shown_by_rate_and_country(
    web: Web, system: System, tenant: Tenant
) -> None:
    """Qonto maps no VAT codes: its invoices wait for a VAT group of a rate and country, and
    the Mappings tab names each with its count and where to add it, not an empty code."""
    for qonto in start(QontoSandbox(seed=4)):
        seed_organization(qonto.sandbox, clients=10, invoices=40, seed=2)
        groups = [g for g in VAT_GROUPS if g["code"] != "FR20"]
        connection = connect_invoices(tenant, qonto, groups)
        import_all(system, tenant, connection["id"])
    held = tenant.api.get(
        f"/connections/{connection['id']}/issues", params={"reason": "vat_group_missing"}
    ).json()
    assert held, "the seed has invoices at 20%"
    page = web.get(f"/ui/connections/{connection['id']}/mappings")
    assert page.status_code == 200, page.text
    words = text_of(page.text)
    count = len(held)
    assert f"{count} invoice{'s' if count != 1 else ''} waiting for a VAT group" in words
    assert f"20% FR : {count} waiting" in words
    assert f'href="/ui/connections/{connection["id"]}/entities"' in page.text
    assert "VAT codes" not in words, "Qonto has no VAT codes to map"
