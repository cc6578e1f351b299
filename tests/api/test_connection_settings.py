"""Connection settings typed per system: validated on create and on every change, merged by
field, published by GET /systems; what a member key may not do; each system's own defaults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_products
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    import_all,
    new_tenant,
)
from tests.integration.test_qonto import Qonto, qonto
from tests.integration.test_qonto import connect as connect_qonto
from tests.integration.test_yuki import Yuki, yuki
from tests.integration.test_yuki import connect as connect_yuki

__all__ = ["qonto", "yuki"]


def refusal(response: httpx.Response) -> tuple[list[Any], str]:
    """(where, message) of a 422."""
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    return error["loc"], error["msg"]


def uniconta_body(uniconta: Uniconta, **settings: Any) -> dict[str, Any]:
    return {
        "system": "uniconta",
        "settings": {"company_id": COMPANY, "username": USER, "base_url": uniconta.url, **settings},
        "secrets": {"password": PASSWORD},
    }


# ------------------------------------------------------------------ validation


def test_an_invalid_qonto_vat_rate_is_refused_naming_its_path(tenant: Tenant, qonto: Qonto) -> None:
    connection = connect_qonto(tenant, qonto)
    groups = [{"code": "FR20", "rate": "20", "country": "FR"},
              {"code": "FR55", "rate": "abc", "country": "FR"}]  # fmt: skip
    changed = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"vat_groups": groups}}
    )
    loc, message = refusal(changed)
    assert loc == ["body", "settings", "vat_groups", "1", "rate"]
    assert message.startswith("settings.vat_groups[1].rate: ")
    assert "decimal" in message
    stored = tenant.api.get(f"/connections/{connection['id']}").json()["settings"]
    assert "vat_groups" not in stored


def test_unknown_settings_and_secrets_are_refused_naming_the_key(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    created = tenant.api.post("/connections", json=uniconta_body(uniconta, pull_cron="0 * * * *"))
    assert refusal(created) == (
        ["body", "settings", "pull_cron"],
        "settings.pull_cron: unknown setting",
    )
    wrong_secret = {**uniconta_body(uniconta), "secrets": {"password": PASSWORD, "pin": "1"}}
    assert refusal(tenant.api.post("/connections", json=wrong_secret))[0] == [
        "body", "secrets", "pin"
    ]  # fmt: skip
    connection = connect(tenant, uniconta)
    renamed = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"entities": {"debtors": {}}}}
    )
    loc, message = refusal(renamed)
    assert loc == ["body", "settings", "entities", "debtors"]
    assert "customers" in message  # the streams it does have


def test_a_one_way_stream_cannot_be_sent_the_other_way(tenant: Tenant, uniconta: Uniconta) -> None:
    connection = connect(tenant, uniconta)
    outbound = {"entities": {"products": {"enabled": True, "direction": "outbound"}}}
    loc, message = refusal(
        tenant.api.patch(f"/connections/{connection['id']}", json={"settings": outbound})
    )
    assert loc == ["body", "settings", "entities", "products", "direction"]
    assert "inbound only" in message


def test_what_the_credentials_check_learns_cannot_be_given(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    uniconta.sandbox.add_user(COMPANY, "integration", "pw2", user_type="Server", roles=())
    body = {**uniconta_body(uniconta, username="integration"), "secrets": {"password": "pw2"}}
    connection = tenant.api.post("/connections", json=body).json()
    forged = {"uniconta_user": {"type": "Server", "roles": ["Reseller"]},
              "entities": {"invoices": {"enabled": True}}}  # fmt: skip
    loc, _ = refusal(
        tenant.api.patch(f"/connections/{connection['id']}", json={"settings": forged})
    )
    assert loc == ["body", "settings", "uniconta_user"]


def test_nested_settings_are_merged_by_field(tenant: Tenant, uniconta: Uniconta) -> None:
    connection = connect(tenant, uniconta, settings={
        "entities": {"customers": {"enabled": True}, "suppliers": {"enabled": True}},
        "vat_mapping": {"S25": "DK25"}})  # fmt: skip
    url = f"/connections/{connection['id']}"
    changed = tenant.api.patch(
        url,
        json={
            "settings": {
                "entities": {"suppliers": {"direction": "inbound"}},
                "vat_mapping": {"S0": "DK0"},
            }
        },
    )
    assert changed.status_code == 200, changed.text
    settings = changed.json()["settings"]
    assert settings["entities"] == {
        "customers": {"enabled": True},
        "suppliers": {"enabled": True, "direction": "inbound"},
    }
    assert settings["vat_mapping"] == {"S25": "DK25", "S0": "DK0"}
    removed = tenant.api.patch(url, json={"settings": {"vat_mapping": {"S25": None}}}).json()
    assert removed["settings"]["vat_mapping"] == {"S0": "DK0"}


def test_every_wrong_setting_is_named_in_one_answer(tenant: Tenant, uniconta: Uniconta) -> None:
    connection = connect(tenant, uniconta)
    changed = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"daily_call_limit": "many", "page_size": -1, "timezone_x": 1}},
    )
    assert changed.status_code == 422, changed.text
    where = [problem["loc"] for problem in changed.json()["detail"]]
    assert ["body", "settings", "daily_call_limit"] in where
    assert ["body", "settings", "page_size"] in where
    assert ["body", "settings", "timezone_x"] in where
    assert all(p["msg"].startswith("settings.") for p in changed.json()["detail"])


def test_switching_one_stream_on_leaves_the_default_streams_on(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """The guides' "enable invoices in settings.entities": a stream switched on leaves the
    streams on by default on (here Uniconta's customers), as the web UI shows them; a default
    stream goes off only when it says ``enabled: false``."""
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=3)
    items = seed_products(uniconta.sandbox, COMPANY, count=4, seed=7)
    connection = tenant.api.post("/connections", json=uniconta_body(uniconta)).json()
    url = f"/connections/{connection['id']}"
    vat = {i["Vat"]: "DK25" for i in uniconta.sandbox.all(COMPANY, "InvItemClient")}
    switched = tenant.api.patch(url, json={"settings": {
        "entities": {"products": {"enabled": True}}, "vat_mapping": vat}})  # fmt: skip
    assert switched.status_code == 200, switched.text
    import_all(system, tenant, connection["id"])
    assert len(tenant.api.get("/parties").json()["items"]) == 3
    assert len(tenant.api.get("/products").json()["items"]) == len(items)

    tenant.api.patch(url, json={"settings": {"entities": {"customers": {"enabled": False}}}})
    seed_debtors(uniconta.sandbox, COMPANY, count=2, seed=4)
    assert tenant.api.post(f"{url}/jobs/pull").status_code == 202
    system.run_until_idle()
    assert len(tenant.api.get("/parties").json()["items"]) == 3

    off = {s: {"enabled": False} for s in ("suppliers", "contacts")}
    tenant.api.patch(url, json={"settings": {"entities": off}})
    loc, message = refusal(tenant.api.post(f"{url}/jobs/pull"))
    assert loc[-1] == "kind"
    assert "switched them off (settings.entities)" in message
    schedules = {s["kind"]: s["enabled"] for s in tenant.api.get(url).json()["schedules"]}
    assert schedules["pull"] is False and schedules["push"] is True


def test_a_vat_mapping_saved_in_the_settings_releases_its_skipped_records(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """The skip's message says "add one to settings.vat_mapping and the record syncs by
    itself": a PATCH of the settings does what the mappings screen does."""
    seed_products(uniconta.sandbox, COMPANY, count=30, seed=7)
    items = uniconta.sandbox.all(COMPANY, "InvItemClient")
    codes = sorted({i["Vat"] for i in items})
    assert len(codes) > 1
    mapped = {code: "DK25" for code in codes[1:]}
    connection = connect(tenant, uniconta, settings={
        "entities": {"products": {"enabled": True}}, "vat_mapping": mapped})  # fmt: skip
    import_all(system, tenant, connection["id"])
    waiting = [i for i in items if i["Vat"] == codes[0]]
    assert len(tenant.api.get("/products").json()["items"]) == len(items) - len(waiting)

    patched = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"vat_mapping": {codes[0]: "X"}}}
    )
    assert patched.status_code == 200, patched.text
    system.run_until_idle()
    assert len(tenant.api.get("/products").json()["items"]) == len(items)


def test_mappings_are_checked_like_every_setting(tenant: Tenant, uniconta: Uniconta) -> None:
    connection = connect(tenant, uniconta)
    saved = tenant.api.put(
        f"/connections/{connection['id']}/mappings", json={"payment_terms": {"Netto 60": -60}}
    )
    loc, message = refusal(saved)
    assert loc == ["body", "settings", "payment_terms", "Netto 60"]
    assert message.startswith("settings.payment_terms.Netto 60: ")
    mappings = tenant.api.get(f"/connections/{connection['id']}/mappings").json()
    assert "Netto 60" not in mappings["payment_terms"]


def test_a_mapping_given_null_is_removed_and_the_others_are_kept(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    path = f"/connections/{connection['id']}/mappings"
    saved = tenant.api.put(path, json={"vat": {"S25": "S25", "S0": "S0"}, "units": {"Piece": "x"}})
    assert saved.status_code == 200, saved.text
    removed = tenant.api.put(path, json={"vat": {"S0": None}, "units": {"Piece": None}})
    assert removed.status_code == 200, removed.text
    assert removed.json()["vat"] == {"S25": "S25"}
    assert removed.json()["units"]["Piece"] == "pcs", "the common unit's default applies again"
    settings = tenant.api.get(f"/connections/{connection['id']}").json()["settings"]
    assert settings["vat_mapping"] == {"S25": "S25"} and "Piece" not in settings["unit_mapping"]


def test_a_mapping_with_an_empty_code_is_refused(tenant: Tenant, uniconta: Uniconta) -> None:
    """An empty code maps nothing (no record has it) and an empty hub code would blank the
    records' units or VAT codes: each is a 422 naming the mapping, and nothing is saved."""
    connection = connect(tenant, uniconta)
    path = f"/connections/{connection['id']}/mappings"
    for body, where in (
        ({"vat": {"": "S25"}}, "vat_mapping"),
        ({"vat": {"S25": ""}}, "vat_mapping"),
        ({"units": {"Piece": ""}}, "unit_mapping"),
        ({"payment_terms": {"": 30}}, "payment_terms"),
    ):
        loc, message = refusal(tenant.api.put(path, json=body))
        assert loc[:3] == ["body", "settings", where], (body, loc)
        assert "must not be empty" in message, message
    mappings = tenant.api.get(path).json()
    assert mappings["vat"] == {}
    assert mappings["units"]["Piece"] == "pcs"
    assert "" not in mappings["payment_terms"]


# ------------------------------------------------------------------ Uniconta's Reseller check


def test_invoices_need_the_reseller_role_on_create_as_on_change(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    uniconta.sandbox.add_user(COMPANY, "integration", "pw2", user_type="Server", roles=())
    body = {
        **uniconta_body(uniconta, username="integration",
                        entities={"invoices": {"enabled": True}}),
        "secrets": {"password": "pw2"},
    }  # fmt: skip
    created = tenant.api.post("/connections", json=body)
    loc, message = refusal(created)
    assert loc == ["body", "settings", "entities", "invoices"]
    assert "Reseller" in message
    assert tenant.api.get("/connections").json() == []

    without = tenant.api.post("/connections", json={**body, "settings": {
        **body["settings"], "entities": {"invoices": {"enabled": False}}}})  # fmt: skip
    assert without.status_code == 201, without.text
    resaved = tenant.api.patch(
        f"/connections/{without.json()['id']}", json={"settings": body["settings"]}
    )
    assert refusal(resaved)[0] == ["body", "settings", "entities", "invoices"]


# ------------------------------------------------------------------ each system's defaults


def test_yuki_and_qonto_have_their_own_zone_and_codes(
    tenant: Tenant, yuki: Yuki, qonto: Qonto
) -> None:
    yuki_connection = connect_yuki(tenant, yuki)
    assert yuki_connection["timezone"] == "Europe/Amsterdam"
    yuki_codes = tenant.api.get(f"/connections/{yuki_connection['id']}/mappings").json()
    assert yuki_codes == {
        "vat": {}, "units": {}, "payment_terms": {},
        "waiting": {"vat": {}, "units": {}, "payment_terms": {}, "vat_groups": {}},
    }  # fmt: skip
    units = tenant.api.put(
        f"/connections/{yuki_connection['id']}/mappings", json={"units": {"Stuk": "pcs"}}
    )
    assert refusal(units) == (["body", "units"], "Yuki maps no units")

    created = tenant.api.post("/connections", json={
        "system": "qonto", "settings": {"base_url": qonto.url},
        "secrets": {"access_token": qonto.access_token}})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["timezone"] == "Europe/Paris"
    qonto_codes = tenant.api.get(f"/connections/{created.json()['id']}/mappings").json()
    assert qonto_codes["units"]["piece"] == "pcs"
    assert "Piece" not in qonto_codes["units"]  # Uniconta's ItemUnit
    assert qonto_codes["payment_terms"] == {}


def test_lists_name_what_the_system_offers(tenant: Tenant, uniconta: Uniconta, yuki: Yuki) -> None:
    uniconta_connection = connect(tenant, uniconta)
    unknown = tenant.api.get(f"/connections/{uniconta_connection['id']}/lists/nope")
    assert unknown.status_code == 404
    assert unknown.json()["detail"].endswith("it has: vat")
    vat = tenant.api.get(f"/connections/{uniconta_connection['id']}/lists/vat")
    assert vat.status_code == 200 and vat.json()
    yuki_connection = connect_yuki(tenant, yuki)
    none = tenant.api.get(f"/connections/{yuki_connection['id']}/lists/customers")
    assert none.status_code == 404
    assert none.json()["detail"].endswith("it offers no lists")


def test_a_list_read_with_a_password_changed_since_says_what_to_check(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    uniconta.sandbox.add_user(COMPANY, USER, "changed-in-Uniconta", user_type="Server")
    loc, message = refusal(tenant.api.get(f"/connections/{connection['id']}/lists/vat"))
    assert (loc, message) == (
        ["body", "secrets"],
        "the saved credentials do not work: Uniconta refused the credentials: check the user "
        "name and password",
    )


def test_a_list_the_system_cannot_give_now_says_why(tenant: Tenant, uniconta: Uniconta) -> None:
    connection = connect(tenant, uniconta)
    used = connection["calls_used_today"]
    spent = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"daily_call_limit": used, "entities": {"products": {"enabled": True}}}},
    )
    assert spent.status_code == 200, spent.text
    for path in ("lists/vat", "mappings?remote=true"):
        loc, message = refusal(tenant.api.get(f"/connections/{connection['id']}/{path}"))
        assert loc == ["body", "settings"]
        assert message.startswith("could not read Uniconta's lists: ")
    started = tenant.api.post(f"/connections/{connection['id']}/import")
    assert started.status_code == 202, started.text
    assert started.json()["warnings"][0].startswith("unmapped VAT codes not checked: ")


def test_unmapped_vat_codes_are_warned_about_only_where_they_skip_records(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    """Invoices and the items a shop's products are written to carry Uniconta's own VAT codes
    (U25, U_DE19), so a webshop's connection is not told to map them; only items read from
    Uniconta are skipped for an unmapped code, and the warning names them alone."""
    shop = {
        "products_master": "app",
        "entities": {"products": {"enabled": True}, "invoices": {"enabled": True}},
    }
    webshop = connect(tenant, uniconta, settings=shop, name="Webshop books")
    assert tenant.api.get(f"/connections/{webshop['id']}/preflight").json()["warnings"] == []
    started = tenant.api.post(f"/connections/{webshop['id']}/import")
    assert started.status_code == 202, started.text
    assert started.json()["warnings"] == []

    read = {"entities": {"products": {"enabled": True}, "invoices": {"enabled": True}}}
    crm = connect(tenant, uniconta, settings=read, name="CRM books")
    [warning] = tenant.api.get(f"/connections/{crm['id']}/preflight").json()["warnings"]
    assert warning.startswith("VAT codes ")
    assert warning.endswith(
        " are not mapped: products using them are skipped (not lost) and sync by themselves "
        "once the codes are mapped"
    )


# ------------------------------------------------------------------ jobs and schedules


def test_the_status_shows_each_schedule_with_its_next_and_last_run(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta, settings={"schedules": {"payments": "30 2 * * *"}})
    import_all(system, tenant, connection["id"])
    queued = tenant.api.post(f"/connections/{connection['id']}/jobs/pull")
    assert queued.status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["job_kinds"] == ["push", "retry", "pull", "products", "invoices", "stock",
                                   "payments"]  # fmt: skip
    schedules = {s["kind"]: s for s in status["schedules"]}
    assert set(schedules) == {
        "pull",
        "products",
        "invoices",
        "stock",
        "payments",
        "push",
        "notices",
        "reconcile",
    }
    payments = schedules["payments"]
    assert payments["cron"] == "30 2 * * *"
    assert payments["timezone"] == "Europe/Copenhagen"
    assert payments["next_run_at"].endswith(("+01:00", "+02:00"))
    assert "T02:30:00" in payments["next_run_at"]
    assert payments["last_run_at"] is None
    assert schedules["pull"]["last_run_at"].endswith(("+01:00", "+02:00"))

    unknown = tenant.api.post(f"/connections/{connection['id']}/jobs/everything")
    _, message = refusal(unknown)
    assert message == (
        "unknown job kind 'everything'; uniconta runs: push, retry, pull, products, invoices, "
        "stock, payments"
    )
    bad_cron = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"schedules": {"pull": "often"}}}
    )
    assert refusal(bad_cron)[0] == ["body", "settings", "schedules", "pull"]
    never = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"schedules": {"pull": "0 0 31 2 *"}}},
    )
    assert refusal(never) == (
        ["body", "settings", "schedules", "pull"],
        "settings.schedules.pull: never runs (no such date)",
    )
    zone = tenant.api.patch(f"/connections/{connection['id']}", json={"timezone": "Z" * 300})
    assert refusal(zone)[0] == ["body", "timezone"]


# ------------------------------------------------------------------ tenants and roles


def test_another_accounts_connection_is_never_named(
    system: System, hub: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    tenant.api.post("/connections", json={**uniconta_body(uniconta), "name": "Nordlys secret"})
    other = new_tenant(system, hub, name="Fjord Handel")
    created = other.api.post("/connections", json={**uniconta_body(uniconta), "name": "Mine"})
    assert created.status_code == 201, created.text
    warning = next(w for w in created.json()["warnings"] if "already used" in w)
    assert "Nordlys secret" not in warning
    assert "another connection of another account" in warning
    again = other.api.post("/connections", json={**uniconta_body(uniconta), "name": "Second"})
    warning = next(w for w in again.json()["warnings"] if "already used" in w)
    assert "(Mine)" in warning and "Nordlys" not in warning


def test_only_a_system_with_one_session_per_user_warns_of_shared_credentials(
    tenant: Tenant, qonto: Qonto
) -> None:
    connect_qonto(tenant, qonto)
    second = connect_qonto(tenant, qonto, name="Qonto 2")  # Qonto counts calls per host
    assert not any("already used" in w for w in second["warnings"])


def test_a_member_key_spends_no_calls_and_reads_no_callback_token(
    hub: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    assert connection["change_url"] is not None
    added = tenant.api.post("/users", json={"email": "member@nordlys.example", "role": "member"})
    member = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    )
    url = f"/connections/{connection['id']}"
    calls = uniconta.calls()
    for response in (
        member.post(f"{url}/test"),
        member.post(f"{url}/jobs/pull"),
        member.get(f"{url}/mappings", params={"remote": "true"}),
        member.get(f"{url}/lists/vat"),
    ):
        assert response.status_code == 403, response.text
        assert "owner or admin" in response.json()["detail"]
    assert uniconta.calls() == calls
    assert member.get(f"{url}/mappings").status_code == 200
    seen = member.get(url).json()
    assert seen["change_url"] is None
    assert all(seen["change_url"] is None for seen in member.get("/connections").json())


# ------------------------------------------------------------------ GET /systems, OpenAPI


def test_systems_publish_their_settings_streams_schedules_jobs_and_lists(tenant: Tenant) -> None:
    systems = {s["name"]: s for s in tenant.api.get("/systems").json()}
    accounting = {"uniconta", "yuki", "tripletex", "qonto"}
    assert accounting | {"files"} <= set(systems)
    zones = {name: s["timezone"] for name, s in systems.items() if name in accounting}
    assert zones == {"uniconta": "Europe/Copenhagen", "yuki": "Europe/Amsterdam",
                     "tripletex": "Europe/Oslo", "qonto": "Europe/Paris"}  # fmt: skip
    assert systems["files"]["job_kinds"] == ["retry", "file_scan"], "nothing to push"
    qonto_settings = systems["qonto"]["settings_schema"]
    assert qonto_settings["additionalProperties"] is False
    assert "vat_groups" in qonto_settings["properties"]
    assert qonto_settings["properties"]["organization_slug"]["readOnly"] is True
    assert systems["uniconta"]["secrets_schema"]["required"] == ["password"]
    streams = {s["name"]: s for s in systems["uniconta"]["streams"]}
    assert streams["products"]["directions"] == ["inbound"]
    assert streams["customers"]["directions"] == ["both", "inbound", "outbound"]
    assert streams["customers"]["enabled_by_default"] is True
    schedules = {s["kind"]: s for s in systems["tripletex"]["schedules"]}
    assert schedules["statistics"] == {"kind": "statistics", "cron": "0 6 * * *",
                                       "timezone": "Europe/Oslo"}  # fmt: skip
    assert schedules["payments"] == {"kind": "payments", "cron": "0 3 * * *",
                                     "timezone": "Europe/Oslo"}  # fmt: skip
    assert systems["tripletex"]["job_kinds"] == [
        "push", "retry", "pull", "products", "statistics", "payments"
    ]  # fmt: skip
    assert systems["tripletex"]["lists"] == ["vat", "customers"]
    assert systems["yuki"]["lists"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/connections"),
        ("get", "/api/v1/connections"),
        ("get", "/api/v1/connections/{connection_id}"),
        ("patch", "/api/v1/connections/{connection_id}"),
        ("post", "/api/v1/connections/{connection_id}/test"),
        ("post", "/api/v1/connections/{connection_id}/import"),
        ("get", "/api/v1/connections/{connection_id}/mappings"),
        ("put", "/api/v1/connections/{connection_id}/mappings"),
        ("get", "/api/v1/connections/{connection_id}/lists/{name}"),
        ("get", "/api/v1/connections/{connection_id}/data-fields"),
        ("post", "/api/v1/connections/{connection_id}/data-fields/{statistic}/custom-field"),
        ("post", "/api/v1/connections/{connection_id}/jobs/{kind}"),
        ("get", "/api/v1/connections/{connection_id}/sync-log"),
        ("get", "/api/v1/connections/{connection_id}/issues"),
        ("get", "/api/v1/systems"),
    ],
)
def test_every_connections_response_has_a_schema(hub: str, method: str, path: str) -> None:
    spec = httpx.get(hub.removesuffix("/api/v1") + "/openapi.json", timeout=60).json()
    responses = spec["paths"][path][method]["responses"]
    success = next(r for code, r in responses.items() if code.startswith("2"))
    schema = success["content"]["application/json"]["schema"]
    assert schema not in ({}, {"title": "Response"}), schema
    description = spec["paths"]["/api/v1/connections"]["post"]["requestBody"]
    assert description  # the systems and their docs are named in the request schema
    create = spec["components"]["schemas"]["ConnectionCreate"]["properties"]["system"]
    for system in ("uniconta", "yuki", "tripletex", "qonto"):
        assert f"docs/connector-{system}.md" in create["description"]


def test_the_status_warns_when_callbacks_cannot_reach_this_installation(
    tenant: Tenant, uniconta: Uniconta, yuki: Yuki
) -> None:
    """The suite's hub listens on 127.0.0.1: Uniconta's Change URL there is unreachable from
    outside, so the status says so; Yuki never calls back, so it has no such warning."""
    calling = connect(tenant, uniconta)
    status = tenant.api.get(f"/connections/{calling['id']}").json()
    assert "only this machine can reach" in status["change_url_warning"]
    assert "LEDGERBRIDGE_PUBLIC_URL" in status["change_url_warning"]
    silent = connect_yuki(tenant, yuki)
    assert tenant.api.get(f"/connections/{silent['id']}").json()["change_url_warning"] is None
