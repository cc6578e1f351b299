"""The Tripletex integration end to end: the hub API, a real database and the Tripletex sandbox
served over loopback, with a controllable clock for token expiry. One test per behaviour of the
integration's description (connect, troubleshooting cases, rotation, clients, products, VAT)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.tripletex.setup import NO_CLIENT_LINKED, NO_FIELD_MAPPED
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.tripletex import SandboxServer, TripletexSandbox, seed_accounting_firm
from ledgerbridge.sandbox.tripletex.seed import SeededFirm
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Run
from ledgerbridge.store.tables.tenancy import Connection, WebhookDelivery
from tests.integration.conftest import Tenant, Uniconta, hub_settings, new_tenant, reconciled
from tests.integration.conftest import connect as connect_uniconta

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Tripletex:
    sandbox: TripletexSandbox
    firm: SeededFirm
    server: SandboxServer

    @property
    def base_urls(self) -> dict[str, str]:
        return {env: self.server.url(env) for env in ("production", "test")}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def serve_firm(clock: ManualClock, *, clients: int, months: int) -> Iterator[Tripletex]:
    """A seeded accounting firm in the sandbox, served on loopback until the test ends."""
    sandbox = TripletexSandbox(clock=clock, seed=3)
    firm = seed_accounting_firm(sandbox, clients=clients, seed=3, months=months, token_days=40)
    server = SandboxServer(sandbox)
    server.start()
    yield Tripletex(sandbox, firm, server)
    server.stop()
    sandbox.close()


@pytest.fixture
def tripletex(clock: ManualClock) -> Iterator[Tripletex]:
    yield from serve_firm(clock, clients=3, months=2)


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


def body(
    tripletex: Tripletex, token: str | None = None, name: str = "Tripletex", **settings: Any
) -> dict[str, Any]:
    return {
        "system": "tripletex",
        "name": name,
        "timezone": "Europe/Oslo",
        "settings": {
            "environment": "production",
            "base_urls": tripletex.base_urls,
            "employee_token_expires_on": tripletex.firm.token_expires.isoformat(),
            **settings,
        },
        "secrets": {"employee_token": token or tripletex.firm.employee_token},
    }


def connect(
    tenant: Tenant, tripletex: Tripletex, name: str = "Tripletex", **settings: Any
) -> dict[str, Any]:
    response = tenant.api.post("/connections", json=body(tripletex, name=name, **settings))
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


def refused(response: httpx.Response) -> tuple[str, str]:
    """(field, message) of a 422."""
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    return ".".join(error["loc"][1:]), str(error["msg"])


def activate(system: System, tenant: Tenant, cid: str) -> dict[str, Any]:
    assert tenant.api.post(f"/connections/{cid}/import").status_code == 202
    system.run_until_idle()
    status: dict[str, Any] = tenant.api.get(f"/connections/{cid}").json()
    assert status["import_state"] == "done", status
    return status


def pull(system: System, tenant: Tenant, cid: str) -> None:
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()


def all_of(tenant: Tenant, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"after": after} if after else {})}
        page = tenant.api.get(path, params=params).json()
        items.extend(page["items"])
        after = page["next"]
        if after is None:
            return items


def party_of(tenant: Tenant, customer: dict[str, Any]) -> dict[str, Any]:
    """The hub party of a Tripletex customer, by its customer number."""
    number = str(customer["customerNumber"])
    return next(p for p in all_of(tenant, "/parties") if p["data"]["debtor_number"] == number)


# ------------------------------------------------------------------ connecting


def test_connect_answers_with_the_company_name_and_never_stores_the_consumer_token(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    company = tripletex.sandbox.shared["Company"][tripletex.firm.firm_id]
    assert connection["settings"]["tripletex_company"]["name"] == company["name"]
    assert connection["warnings"] == [NO_FIELD_MAPPED, NO_CLIENT_LINKED], "summaries to set up"
    tested = tenant.api.post(f"/connections/{connection['id']}/test").json()
    assert tested["ok"] and company["name"] in tested["description"]
    with system.sessions() as session:
        stored = system.box.open(session.get_one(Connection, connection["id"]).secrets)
    assert "consumer_token" not in stored


def test_whitespace_around_the_token_is_trimmed_with_a_warning(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    response = tenant.api.post(
        "/connections", json=body(tripletex, f"  {tripletex.firm.employee_token}\n")
    )
    assert response.status_code == 201, response.text
    assert any("whitespace" in w and "trimmed" in w for w in response.json()["warnings"])
    tested = tenant.api.post(f"/connections/{response.json()['id']}/test").json()
    assert tested["ok"], tested


def test_a_second_accounting_system_in_one_account_is_warned_about_matching(
    tenant: Tenant, tripletex: Tripletex, uniconta: Uniconta
) -> None:
    """A Norwegian firm's Tripletex added where a Danish company's Uniconta is connected
    would match their customers by number and update one with the other: saying so on
    create, before the import, names the way out (an account of its own)."""
    alone = connect(tenant, tripletex)
    assert not [w for w in alone["warnings"] if "already has the accounting" in w]
    assert tenant.api.delete(f"/connections/{alone['id']}").status_code == 200
    connect_uniconta(tenant, uniconta, name="Danish books")

    beside = connect(tenant, tripletex)
    books = [w for w in beside["warnings"] if "already has the accounting" in w]
    assert len(books) == 1, beside["warnings"]
    assert "Danish books (Uniconta)" in books[0] and "ledgerbridge tenant create" in books[0]
    status = tenant.api.get(f"/connections/{beside['id']}").json()
    assert not [w for w in status["warnings"] if "already has the accounting" in w]


def test_a_rotated_token_pasted_with_whitespace_is_trimmed_with_a_warning(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    """Rotation is where a token is pasted again: the warning the set-up gives is given
    when a new token is saved too, and the trimmed token is the one used."""
    connection = connect(tenant, tripletex)
    fresh = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2027, 11, 20)
    )
    saved = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"secrets": {"employee_token": f" {fresh.token}\n"}},
    )
    assert saved.status_code == 200, saved.text
    assert any("whitespace" in w and "trimmed" in w for w in saved.json()["warnings"])
    tripletex.sandbox.revoke_employee_token(tripletex.firm.employee_token)
    assert tenant.api.post(f"/connections/{connection['id']}/test").json()["ok"]


def test_an_expired_token_is_refused_with_its_date(
    tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    expired = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2026, 11, 20)
    )
    field, message = refused(tenant.api.post("/connections", json=body(tripletex, expired.token)))
    assert field == "secrets.employee_token"
    assert "expired on 2026-11-20" in message and "generate a new employee token" in message


def test_a_token_of_the_other_environment_is_refused_naming_the_environment(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    field, message = refused(
        tenant.api.post("/connections", json=body(tripletex, environment="test"))
    )
    assert field == "settings.environment"
    assert "belongs to the Tripletex production environment" in message
    assert "test is selected" in message


def test_an_unknown_token_is_refused_with_what_to_check(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    field, message = refused(tenant.api.post("/connections", json=body(tripletex, "bm9wZQ==")))
    assert field == "secrets.employee_token"
    assert "does not know this employee token" in message and "environment" in message


def test_a_deactivated_employee_is_refused_and_stops_the_sync_with_the_reason(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    tripletex.sandbox.set_employee_active(tripletex.firm.employee_id, False)
    again = body(tripletex, name="Tripletex again")
    field, message = refused(tenant.api.post("/connections", json=again))
    assert "deactivated" in message and field == "secrets.employee_token"
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert "deactivated" in status["last_error"]
    tested = tenant.api.post(f"/connections/{connection['id']}/test").json()
    assert not tested["ok"] and "deactivated" in tested["error"]


def test_settings_are_checked(tenant: Tenant, tripletex: Tripletex) -> None:
    assert (
        refused(tenant.api.post("/connections", json=body(tripletex, environment="staging")))[0]
        == "settings.environment"
    )
    assert (
        refused(
            tenant.api.post("/connections", json=body(tripletex, employee_token_expires_on="soon"))
        )[0]
        == "settings.employee_token_expires_on"
    )


def test_without_an_installation_consumer_token_nothing_connects(
    settings: Settings, clock: ManualClock, hub_port: int, tripletex: Tripletex
) -> None:
    bare = System(settings.model_copy(update={"tripletex_consumer_token": None}), clock=clock)
    server = ServerThread(create_app(bare), port=hub_port).start()
    try:
        tenant = new_tenant(bare, f"{server.url}/api/v1")
        field, message = refused(tenant.api.post("/connections", json=body(tripletex)))
        assert field == "secrets.consumer_token"
        assert "LEDGERBRIDGE_TRIPLETEX_CONSUMER_TOKEN" in message
    finally:
        server.stop()
        bare.close()


def test_a_test_connection_works_next_to_a_production_one_with_each_environments_token(
    settings: Settings, clock: ManualClock, hub_port: int, tripletex: Tripletex
) -> None:
    """Tripletex issues a consumer token per environment: the installation holds both."""
    sandbox_firm = seed_accounting_firm(
        tripletex.sandbox, clients=1, seed=5, environment="test", months=1, token_days=40
    )
    both = System(
        settings.model_copy(update={"tripletex_test_consumer_token": sandbox_firm.consumer_token}),
        clock=clock,
    )
    server = ServerThread(create_app(both), port=hub_port).start()
    try:
        tenant = new_tenant(both, f"{server.url}/api/v1")
        production = tenant.api.post("/connections", json=body(tripletex))
        assert production.status_code == 201, production.text
        test = tenant.api.post(
            "/connections",
            json={**body(tripletex, sandbox_firm.employee_token, environment="test",
                         employee_token_expires_on=sandbox_firm.token_expires.isoformat()),
                  "name": "Tripletex test"},
        )  # fmt: skip
        assert test.status_code == 201, test.text
        for connection in (production.json(), test.json()):
            tested = tenant.api.post(f"/connections/{connection['id']}/test").json()
            assert tested["ok"], tested
        assert test.json()["settings"]["tripletex_company"]["id"] == sandbox_firm.firm_id
    finally:
        server.stop()
        both.close()


def test_only_owner_and_admin_may_connect_or_configure(
    hub: str, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    added = tenant.api.post("/users", json={"email": "member@uku.example", "role": "member"})
    member = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    )
    for response in (
        member.post("/connections", json=body(tripletex)),
        member.patch(f"/connections/{connection['id']}", json={"active": True}),
        member.patch(
            f"/connections/{connection['id']}",
            json={"secrets": {"employee_token": tripletex.firm.employee_token}},
        ),
        member.post(f"/connections/{connection['id']}/import"),
    ):
        assert response.status_code == 403, response.text
    admin_key = tenant.api.post(
        "/users", json={"email": "admin@uku.example", "role": "admin"}
    ).json()["api_key"]
    admin = httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {admin_key}"})
    assert admin.post("/connections", json=body(tripletex, name="By admin")).status_code == 201


# ------------------------------------------------------------------ token expiry and rotation


def test_expiry_warning_in_status_and_once_a_day_as_a_webhook(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    tenant.api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    connection = connect(
        tenant, tripletex, token_warning_days=10,
        entities={"period_statistics": {"enabled": False}},
    )  # fmt: skip
    cid = connection["id"]
    assert tenant.api.get(f"/connections/{cid}").json()["warnings"] == []
    expires = tripletex.firm.token_expires
    clock.set(datetime.combine(expires - timedelta(days=3), datetime.min.time(), UTC))
    system.run_until_idle()
    warnings = tenant.api.get(f"/connections/{cid}").json()["warnings"]
    assert len(warnings) == 1 and f"expires on {expires.isoformat()} (in 3 days)" in warnings[0]
    for hour in range(1, 32):
        clock.set(datetime.combine(expires - timedelta(days=3), datetime.min.time(), UTC)
                  + timedelta(hours=hour))  # fmt: skip
        system.run_until_idle()
    with system.sessions() as session:
        sent = session.scalars(
            sa.select(WebhookDelivery.payload).where(
                WebhookDelivery.event_type == "connection.warning"
            )
        ).all()
    # The slot missed while the clock jumped runs once, then one at 07:00 Oslo each day.
    assert len(sent) == 3
    assert all(p["connection_id"] == cid and "expires on" in p["message"] for p in sent)


def test_rotation_checks_the_new_token_before_saving_it(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    connection = connect(tenant, tripletex)
    cid = connection["id"]
    expired = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2026, 11, 20)
    )
    bad = tenant.api.patch(
        f"/connections/{cid}", json={"secrets": {"employee_token": expired.token}}
    )
    field, message = refused(bad)
    assert field == "secrets.employee_token" and "expired on" in message
    assert tenant.api.post(f"/connections/{cid}/test").json()["ok"], "old token still in use"
    fresh = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2027, 11, 20)
    )
    saved = tenant.api.patch(
        f"/connections/{cid}",
        json={"secrets": {"employee_token": fresh.token},
              "settings": {"employee_token_expires_on": "2027-11-20"}},
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    tripletex.sandbox.revoke_employee_token(tripletex.firm.employee_token)
    assert tenant.api.post(f"/connections/{cid}/test").json()["ok"]


def test_a_deactivated_token_owner_stops_the_sync_with_what_to_do_about_it(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """The troubleshooting case "the employee account that owns the token has been
    deactivated": the advice is to reactivate it or use an active user's token, not to
    grant a permission."""
    connection = connect(tenant, tripletex)
    activate(system, tenant, connection["id"])
    tripletex.sandbox.set_employee_active(tripletex.firm.employee_id, False)
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert "deactivated" in status["last_error"]
    fix = status["last_error_fix"]
    assert fix["page"] == "credentials" and "reactivate" in fix["text"], fix
    assert "permission" not in fix["text"]


def test_a_new_token_without_its_date_drops_the_old_tokens_expiry_and_says_so(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """Rotating the token alone must not leave the old token's date in force: the warning
    would come on the old date while the new token expires unannounced."""
    connection = connect(tenant, tripletex)
    cid = connection["id"]
    old_date = tripletex.firm.token_expires.isoformat()
    # The same token saved again (to retry its webhooks) keeps its date.
    again = tenant.api.patch(
        f"/connections/{cid}", json={"secrets": {"employee_token": tripletex.firm.employee_token}}
    )
    assert again.status_code == 200, again.text
    assert again.json()["settings"]["employee_token_expires_on"] == old_date
    fresh = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2026, 11, 25)
    )
    tested = tenant.api.post(
        f"/connections/{cid}/credentials/check", json={"secrets": {"employee_token": fresh.token}}
    )
    assert tested.status_code == 200, tested.text
    assert any(f"({old_date})" in w for w in tested.json()["warnings"]), "said before saving"
    saved = tenant.api.patch(
        f"/connections/{cid}", json={"secrets": {"employee_token": fresh.token}}
    )
    assert saved.status_code == 200, saved.text
    answer = saved.json()
    assert "employee_token_expires_on" not in answer["settings"]
    assert any(
        f"settings.employee_token_expires_on ({old_date})" in w and "give the new one's date" in w
        for w in answer["warnings"]
    ), answer["warnings"]
    dated = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"employee_token_expires_on": "2026-11-25"}}
    )
    assert dated.status_code == 200, dated.text
    assert any("expires on 2026-11-25" in w for w in dated.json()["warnings"])
    # A new token given with its date keeps that date, and nothing is said about it.
    newer = tripletex.sandbox.issue_employee_token(
        tripletex.firm.employee_id, tripletex.firm.consumer_token, date(2027, 11, 20)
    )
    both = tenant.api.patch(
        f"/connections/{cid}",
        json={"secrets": {"employee_token": newer.token},
              "settings": {"employee_token_expires_on": "2027-11-20"}},
    )  # fmt: skip
    assert both.status_code == 200, both.text
    assert both.json()["settings"]["employee_token_expires_on"] == "2027-11-20"
    assert not any("previous employee token" in w for w in both.json()["warnings"])


def test_a_token_that_expires_stops_the_sync_on_that_date_with_the_reason(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    connection = connect(tenant, tripletex)
    activate(system, tenant, connection["id"])
    clock.set(datetime.combine(tripletex.firm.token_expires, datetime.min.time(), UTC)
              + timedelta(hours=2))  # fmt: skip
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    expiry = tripletex.firm.token_expires.isoformat()
    assert f"expired on {expiry}" in status["last_error"]
    assert any(f"expired on {expiry}" in w for w in status["warnings"])


# ------------------------------------------------------------------ inbound data


def test_import_brings_clients_products_and_vat_codes(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    activate(system, tenant, connection["id"])
    firm = tripletex.firm.firm_id
    parties = {p["data"]["debtor_number"]: p["data"] for p in all_of(tenant, "/parties")}
    customers = tripletex.sandbox.all(firm, "Customer")
    assert len(parties) == len(customers)
    first = customers[0]
    party = parties[str(first["customerNumber"])]
    assert party["name"] == first["name"] and party["is_customer"]
    assert party["organisation_number"] == first.get("organizationNumber")
    assert party["postal_address"]["city"]
    # The address's country comes in the same call (an expansion of its id), and with it the
    # organisation numbers are checked as Norwegian: every seeded customer still imports.
    assert {p["postal_address"]["country"] for p in parties.values()} == {"NO"}
    assert all(
        p["organisation_number"] == c.get("organizationNumber")
        for c in customers
        for p in [parties[str(c["customerNumber"])]]
    )
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []
    vat = {v["data"]["code"]: v["data"] for v in all_of(tenant, "/vat-codes")}
    assert vat["3"]["direction"] == "sales" and Decimal(vat["3"]["rate"]) == 25
    assert vat["1"]["direction"] == "purchase"
    products = {p["data"]["sku"]: p["data"] for p in all_of(tenant, "/products")}
    assert len(products) == len(tripletex.sandbox.all(firm, "Product"))
    assert products["100"]["vat_code"] == "3" and Decimal(products["100"]["sales_price"]) == 4500


def test_a_clients_country_comes_with_its_address_and_its_number_is_checked_for_it(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """The address's country is an id in Tripletex: its ISO code is asked for in the same
    call, and the organisation number is then checked as that country's (a Swedish one as
    Swedish, a Norwegian one that fails its check is skipped saying so)."""
    firm = tripletex.firm.firm_id
    stockholm = {"addressLine1": "Drottninggatan 1", "postalCode": "111 51", "city": "Stockholm",
                 "country": {"id": 206}}  # fmt: skip
    bergen = {"addressLine1": "Bryggen 1", "postalCode": "5003", "city": "Bergen"}
    with tripletex.sandbox.lock:
        book = tripletex.sandbox.book(firm)
        swedish = book.create_customer({
            "name": "Svensk AB", "organizationNumber": "556036-0793", "postalAddress": stockholm,
        }, None)  # fmt: skip
        mistyped = book.create_customer({
            "name": "Feilskrevet AS", "organizationNumber": "865823478", "postalAddress": bergen,
        }, None)  # fmt: skip
    cid = connect(tenant, tripletex)["id"]
    activate(system, tenant, cid)

    parties = {p["data"]["debtor_number"]: p["data"] for p in all_of(tenant, "/parties")}
    party = parties[str(swedish["customerNumber"])]
    assert party["postal_address"]["country"] == "SE"
    assert party["organisation_number"] == "5560360793"
    assert str(mistyped["customerNumber"]) not in parties
    [skipped] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert skipped["key"] == str(mistyped["id"])
    assert "organisation_number" in skipped["message"] and "for NO" in skipped["message"], skipped
    assert len(parties) == len(tripletex.sandbox.all(firm, "Customer")) - 1


def test_import_recognises_clients_the_app_has_by_organisation_number_then_e_mail(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    firm = tripletex.firm.firm_id
    by_org, by_email, shared = [
        c for c in tripletex.sandbox.all(firm, "Customer")
        if c.get("organizationNumber") and c.get("email")
    ][:3]  # fmt: skip
    known = {
        "org": tenant.api.post("/parties", json={
            "name": "Kjent via org.nr.", "organisation_number": by_org["organizationNumber"]}),
        "email": tenant.api.post("/parties", json={
            "name": "Kjent via e-post", "email": by_email["email"].upper()}),
        "twin_1": tenant.api.post("/parties", json={
            "name": "Tvilling 1", "organisation_number": shared["organizationNumber"]}),
        "twin_2": tenant.api.post("/parties", json={
            "name": "Tvilling 2", "organisation_number": shared["organizationNumber"]}),
    }  # fmt: skip
    ids = {key: response.json()["id"] for key, response in known.items()}
    cid = connect(tenant, tripletex)["id"]
    activate(system, tenant, cid)

    parties = all_of(tenant, "/parties")
    assert len(parties) == len(tripletex.sandbox.all(firm, "Customer")) + 2  # the twins
    for key, customer in (("org", by_org), ("email", by_email)):
        record = tenant.api.get(f"/parties/{ids[key]}").json()
        assert record["sync"][0]["remote_id"] == str(customer["id"]), key
        assert record["data"]["debtor_number"] == str(customer["customerNumber"])
        assert record["data"]["name"] == customer["name"]  # Tripletex is master
    [ambiguous] = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": "match_ambiguous"}
    ).json()
    assert ambiguous["key"] == str(shared["id"])
    assert ids["twin_1"] in ambiguous["message"] and ids["twin_2"] in ambiguous["message"]
    assert "merge" in ambiguous["message"]


def test_pull_reads_only_customers_changed_since_the_last_one(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    connection = connect(tenant, tripletex)
    cid = connection["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    customer = tripletex.sandbox.all(firm, "Customer")[0]
    clock.advance(timedelta(hours=2))
    pull(system, tenant, cid)  # overlaps the import by a minute: everything once more
    clock.advance(timedelta(hours=2))
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"email": "ny@eksempel.no"})
    clock.advance(timedelta(minutes=5))
    pull(system, tenant, cid)
    runs = tenant.api.get(f"/connections/{cid}").json()["recent_runs"]
    run = next(r for r in runs if r["kind"] == "pull")
    assert run["kind"] == "pull" and run["status"] == "succeeded"
    assert sum(run["counts"].values()) == 1, run
    party = party_of(tenant, customer)
    assert party["data"]["email"] == "ny@eksempel.no"


def test_clients_are_read_only_with_a_reason(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex)
    activate(system, tenant, connection["id"])
    party = all_of(tenant, "/parties")[0]
    changed = tenant.api.patch(f"/parties/{party['id']}", json={"name": "Renamed in the app"})
    assert changed.status_code == 200
    system.run_until_idle()
    firm = tripletex.firm.firm_id
    assert all(c["name"] != "Renamed in the app" for c in tripletex.sandbox.all(firm, "Customer"))


# ------------------------------------------------------------------ linking clients


def test_clients_are_linked_to_tripletex_customers_picked_from_the_saved_token(
    system: System, hub: str, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    listed = tenant.api.get(f"/connections/{cid}/lists/customers")
    assert listed.status_code == 200, listed.text
    customers = listed.json()
    firm = tripletex.firm.firm_id
    assert {c["id"] for c in customers} == {
        str(c["id"]) for c in tripletex.sandbox.all(firm, "Customer")
    }
    client = tenant.api.post("/parties", json={"name": customers[0]["name"]}).json()
    linked = tenant.api.patch(
        f"/connections/{cid}",
        json={"settings": {"client_links": {client["id"]: customers[1]["id"]}}},
    )
    assert linked.status_code == 200, linked.text
    relinked = tenant.api.patch(
        f"/connections/{cid}",
        json={"settings": {"client_links": {client["id"]: customers[0]["id"]}}},
    )
    assert relinked.json()["settings"]["client_links"] == {client["id"]: customers[0]["id"]}
    wrong = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"client_links": {client["id"]: "Fjord AS"}}}
    )
    assert refused(wrong)[0] == "settings.client_links"
    assert tenant.api.get(f"/connections/{cid}/lists/nope").status_code == 404
    added = tenant.api.post("/users", json={"email": "member@uku.example", "role": "member"})
    member = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    )
    link = {"settings": {"client_links": {client["id"]: customers[1]["id"]}}}
    assert member.patch(f"/connections/{cid}", json=link).status_code == 403


# ------------------------------------------------------------------ invoices


ALL_STREAMS = {s: {"enabled": True} for s in ("vat_codes", "customers", "products", "invoices")}


def issue(tenant: Tenant, party_id: str, **fields: Any) -> dict[str, Any]:
    invoice = {
        "party_id": party_id, "date": "2026-11-20", "due_date": "2026-12-04",
        "currency": "NOK", "status": "sent",
        "lines": [{"description": "Regnskapsføring november", "quantity": "1",
                   "unit_price": "4500", "vat_code": "3"}],
        **fields,
    }  # fmt: skip
    created = tenant.api.post("/invoices", json=invoice)
    assert created.status_code == 201, created.text
    record: dict[str, Any] = created.json()
    return record


def test_issued_invoices_and_credit_notes_are_charged_in_tripletex(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    customer = tripletex.sandbox.all(firm, "Customer")[0]
    party = party_of(tenant, customer)
    draft = issue(tenant, party["id"], status="draft")
    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    charged = tripletex.sandbox.all(firm, "Invoice")
    assert len(charged) == 1, "drafts stay in the app"
    assert charged[0]["customer"]["id"] == customer["id"]
    assert charged[0]["amount"] == Decimal("5625.00")  # 4,500 + 25 % VAT
    hub = tenant.api.get(f"/invoices/{invoice['id']}").json()["data"]
    assert hub["number"] == str(charged[0]["invoiceNumber"])
    assert tenant.api.get(f"/invoices/{draft['id']}").json()["data"]["number"] is None

    credit = issue(
        tenant, party["id"], kind="credit_note", credits_invoice_id=invoice["id"],
        lines=[{"description": "Kreditert", "quantity": "-1", "unit_price": "4500",
                "vat_code": "3"}],
    )  # fmt: skip
    system.run_until_idle()
    notes = [i for i in tripletex.sandbox.all(firm, "Invoice") if i.get("isCreditNote")]
    assert len(notes) == 1 and notes[0]["amount"] == Decimal("-5625.00")
    assert tenant.api.get(f"/invoices/{credit['id']}").json()["data"]["number"] == str(
        notes[0]["invoiceNumber"]
    )
    changed = tenant.api.patch(f"/invoices/{invoice['id']}", json={"date": "2026-11-21"})
    assert changed.status_code == 200
    system.run_until_idle()
    assert len(tripletex.sandbox.all(firm, "Invoice")) == 2
    readonly = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": "invoice_lines_readonly_after_posting"}
    ).json()
    assert [i["key"] for i in readonly] == [invoice["id"]]


def test_an_invoice_with_an_unknown_vat_code_waits_with_the_reason(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    line = {"description": "x", "quantity": "1", "unit_price": "10", "vat_code": "99"}
    waiting = issue(tenant, party["id"], lines=[line])
    system.run_until_idle()
    found = tenant.api.get(f"/connections/{cid}/issues", params={"reason": "vat_code_unmapped"})
    assert len(found.json()) == 1 and "99" in found.json()[0]["message"]
    # The record says where it is stuck, naming the system as a linked record does.
    sync = tenant.api.get(f"/invoices/{waiting['id']}").json()["sync"]
    assert [(s["system"], s["issue"]["reason"]) for s in sync] == [
        ("tripletex", "vat_code_unmapped")
    ]


def test_payments_of_issued_invoices_are_registered_once(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    streams = {**ALL_STREAMS, "payments": {"enabled": True}}
    cid = connect(tenant, tripletex, entities=streams)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    for amount in ("2000.00", "3625.00"):
        paid = tenant.api.post(
            "/payments",
            json={"invoice_id": invoice["id"], "date": "2026-11-25", "amount": amount,
                  "currency": "NOK"},
        )  # fmt: skip
        assert paid.status_code == 201, paid.text
        system.run_until_idle()
    charged = tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")[0]
    assert charged["amountOutstanding"] == Decimal("0.00")
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()
    charged = tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")[0]
    assert charged["amountOutstanding"] == Decimal("0.00"), "a payment is never sent twice"
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_a_payment_or_credit_note_of_a_draft_waits_saying_the_invoice_must_be_issued(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    streams = {**ALL_STREAMS, "payments": {"enabled": True}}
    cid = connect(tenant, tripletex, entities=streams)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    draft = issue(tenant, party["id"], status="draft")
    paid = tenant.api.post(
        "/payments",
        json={"invoice_id": draft["id"], "date": "2026-11-25", "amount": "100.00",
              "currency": "NOK"},
    )  # fmt: skip
    assert paid.status_code == 201, paid.text
    issue(
        tenant, party["id"], kind="credit_note", credits_invoice_id=draft["id"],
        lines=[{"description": "Kreditert", "quantity": "-1", "unit_price": "4500",
                "vat_code": "3"}],
    )  # fmt: skip
    system.run_until_idle()
    listed = tenant.api.get(f"/connections/{cid}/issues").json()
    issues = {i["reason"]: i["message"] for i in listed}
    for reason in ("payment_invoice_pending", "credited_invoice_pending"):
        assert "it is draft" in issues[reason], issues
        assert "once issued: status sent, booked or paid" in issues[reason], issues
        assert "roles" not in issues[reason], issues
    assert tenant.api.patch(f"/invoices/{draft['id']}", json={"status": "sent"}).status_code == 200
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    charged = tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")
    assert sorted(bool(i.get("isCreditNote")) for i in charged) == [False, True]


def test_an_issued_invoice_without_lines_is_skipped_before_anything_is_written(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    empty = issue(tenant, party["id"], lines=[])
    system.run_until_idle()
    [skipped] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (skipped["reason"], skipped["key"]) == ("invoice_without_lines", empty["id"])
    assert "add them in the app" in skipped["message"]
    firm = tripletex.firm.firm_id
    assert tripletex.sandbox.all(firm, "Order") == []
    lines = [{"description": "Årsoppgjør", "quantity": "1", "unit_price": "800", "vat_code": "3"}]
    assert tenant.api.patch(f"/invoices/{empty['id']}", json={"lines": lines}).is_success
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    [charged] = tripletex.sandbox.all(firm, "Invoice")
    assert charged["amount"] == Decimal("1000.00")


def test_preview_of_a_push_of_invoices_decides_as_the_push_with_the_vat_types(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """The push reads the VAT types to find the type of a line's VAT number; its preview
    reads them too, so an invoice it would charge is not shown as ``vat_code_unmapped``."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    sent = issue(tenant, party["id"])
    issue(tenant, party["id"], lines=[{"description": "x", "quantity": "1",
                                       "unit_price": "10", "vat_code": "99"}])  # fmt: skip
    preview = tenant.api.post(f"/connections/{cid}/preview", json={"kind": "push"}).json()
    invoices = preview["streams"]["invoices"]
    assert (invoices["create"], invoices["skip"]) == (1, 1), invoices
    assert invoices["examples"]["create"] == [sent["id"]]
    assert [s["reason"] for s in invoices["skips"]] == ["vat_code_unmapped"]
    assert preview["calls"]["preview"] == 1, "one read of the VAT types, no write"
    assert tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice") == []

    system.run_until_idle()
    [charged] = tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")
    assert tenant.api.get(f"/invoices/{sent['id']}").json()["data"]["number"] == str(
        charged["invoiceNumber"]
    )


def test_an_invoice_cancelled_in_the_app_after_it_was_charged_says_to_credit_it(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """Tripletex charges an invoice as it is made and never deletes one: cancelling it in the
    app afterwards writes nothing and says to credit it. A draft cancelled was never sent."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    charged, draft = issue(tenant, party["id"]), issue(tenant, party["id"], status="draft")
    system.run_until_idle()
    firm = tripletex.firm.firm_id
    assert len(tripletex.sandbox.all(firm, "Invoice")) == 1
    for made in (charged, draft):
        patched = tenant.api.patch(f"/invoices/{made['id']}", json={"status": "cancelled"})
        assert patched.status_code == 200, patched.text
    system.run_until_idle()
    assert len(tripletex.sandbox.all(firm, "Invoice")) == 1, "nothing credited by itself"
    found = tenant.api.get(f"/connections/{cid}/issues").json()
    assert [(i["key"], i["reason"]) for i in found] == [
        (charged["id"], "withdrawn_in_app_after_booking")
    ], found
    assert "credit it in Tripletex" in found[0]["message"]


def test_reconciliation_finds_the_invoices_charged_in_tripletex(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """Invoices are only sent, never pulled: the report reads the month's charged invoices by
    id instead of calling each of them gone from Tripletex."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    charged = issue(tenant, party["id"])
    more = [issue(tenant, party["id"]) for _ in range(3)]
    issue(tenant, party["id"], date="2026-10-30", due_date="2026-11-13")
    refused = issue(tenant, party["id"], currency="EUR")
    system.run_until_idle()
    [october] = [
        i for i in tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")
        if i["invoiceDate"] == "2026-10-30"
    ]  # fmt: skip
    report = reconciled(system, tenant, cid, "2026-11")
    invoices = [d for d in report["differences"] if d["stream"] == "invoices"]
    assert [(d["kind"], d["record_id"], d["reason"]) for d in invoices] == [
        ("skipped", refused["id"], "currency_unsupported")
    ], invoices
    for made in (charged, *more):
        assert made["id"] not in {d["record_id"] for d in report["differences"]}
    assert str(october["id"]) not in {d["remote_id"] for d in report["differences"]}
    assert report["totals"]["remote"]["counts"]["invoices"] == 4
    assert report["calls"] <= 6, "the month's charged invoices are read by id in one call"


def test_an_invoice_to_a_client_tripletex_lacks_waits_saying_to_create_the_customer_there(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """Tripletex is master of clients: a client made in the app is never created there, so
    its invoice does not follow by itself; it goes once the customer made in Tripletex is
    pulled and matched (here on organisation number)."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    created = tenant.api.post(
        "/parties",
        json={"name": "Fjellbakeriet AS", "is_customer": True,
              "organisation_number": "923609016"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    invoice = issue(tenant, created.json()["id"])
    system.run_until_idle()
    [waiting] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (waiting["reason"], waiting["key"]) == ("invoice_customer_pending", invoice["id"])
    assert "create the customer in Tripletex" in waiting["message"], waiting
    assert "will follow by itself" not in waiting["message"]

    firm = tripletex.firm.firm_id
    tripletex.sandbox.insert(
        firm, "Customer", {"name": "Fjellbakeriet AS", "organizationNumber": "923609016",
                           "customerNumber": 90001, "isCustomer": True},
    )  # fmt: skip
    pull(system, tenant, cid)
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    [charged] = tripletex.sandbox.all(firm, "Invoice")
    assert tenant.api.get(f"/invoices/{invoice['id']}").json()["data"]["number"] == str(
        charged["invoiceNumber"]
    )


def test_an_invoice_to_a_customer_deleted_in_tripletex_says_so_and_goes_once_made_again(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """A customer deleted in Tripletex by mistake: its next invoice is refused, the issue says
    what happened and offers Make again, which unlinks the client; the customer made again in
    Tripletex (the app never creates one there) is linked by the next pull and the invoice
    is charged to it, once."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    customer = tripletex.sandbox.all(firm, "Customer")[0]
    party = party_of(tenant, customer)
    issue(tenant, party["id"])
    system.run_until_idle()
    tripletex.sandbox.delete(firm, "Customer", customer["id"])

    invoice = issue(tenant, party["id"])
    system.run_until_idle()
    [refused] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (refused["reason"], refused["key"]) == ("reference_missing", invoice["id"])
    assert "Tripletex no longer has the invoice's customer" in refused["message"], refused
    assert "dismiss this issue" in refused["message"] and "Make again" in refused["message"]

    retried = tenant.api.post(
        f"/connections/{cid}/issues/retry", json={"issue_id": refused["id"], "recreate": True}
    )
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    [waiting] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert (waiting["reason"], waiting["key"]) == ("invoice_customer_pending", invoice["id"])
    assert "create the customer in Tripletex" in waiting["message"], waiting

    again = tripletex.sandbox.insert(
        firm, "Customer", {"name": customer["name"], "isCustomer": True,
                           "customerNumber": customer["customerNumber"]},
    )  # fmt: skip
    pull(system, tenant, cid)
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    named = [c for c in tripletex.sandbox.all(firm, "Customer") if c["name"] == customer["name"]]
    assert [c["id"] for c in named] == [again["id"]]
    charged = [i for i in tripletex.sandbox.all(firm, "Invoice")
               if i["customer"]["id"] == again["id"]]  # fmt: skip
    assert len(charged) == 1
    assert tenant.api.get(f"/invoices/{invoice['id']}").json()["data"]["number"] == str(
        charged[0]["invoiceNumber"]
    )
    assert len(all_of(tenant, "/parties")) == len(tripletex.sandbox.all(firm, "Customer"))


# ------------------------------------------------------------------ work statistics


SUMMARY = {
    "title": "Månedsoppsummering", "topic": "Regnskap", "recurrence": "monthly",
    "import_day": 3,
    "fields": {"sale_entries": "Salgsbilag", "purchase_entries": "Kjøpsbilag",
               "bank_transactions": "Banktransaksjoner", "documents": "Dokumenter",
               "postings": ""},
}  # fmt: skip


def link_first_client(
    system: System, tenant: Tenant, tripletex: Tripletex, summary: dict[str, Any]
) -> tuple[str, dict[str, Any], int]:
    """A connection with these summary settings, imported, with the party of the firm's first
    client company linked to its Tripletex customer: (connection id, party, company id)."""
    firm, sandbox = tripletex.firm, tripletex.sandbox
    company = firm.client_ids[0]
    org = sandbox.shared["Company"][company]["organizationNumber"]
    customer = next(
        c for c in sandbox.all(firm.firm_id, "Customer") if c.get("organizationNumber") == org
    )
    cid = connect(tenant, tripletex, summary=summary)["id"]
    activate(system, tenant, cid)
    party = next(p for p in all_of(tenant, "/parties") if p["data"]["organisation_number"] == org)
    links = {"client_links": {party["id"]: str(customer["id"])}}
    assert tenant.api.patch(f"/connections/{cid}", json={"settings": links}).is_success
    return cid, party, company


def test_on_the_import_day_each_linked_client_gets_its_monthly_summary(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    firm = tripletex.firm
    customers = {
        c["organizationNumber"]: c for c in tripletex.sandbox.all(firm.firm_id, "Customer")
        if c.get("organizationNumber")
    }  # fmt: skip
    client_company = firm.client_ids[0]
    org = tripletex.sandbox.shared["Company"][client_company]["organizationNumber"]
    linked = customers[org]
    cid = connect(tenant, tripletex, summary=SUMMARY)["id"]
    activate(system, tenant, cid)
    party = next(p for p in all_of(tenant, "/parties") if p["data"]["organisation_number"] == org)
    unrelated = tenant.api.post("/parties", json={"name": "Not in Tripletex"}).json()
    links = {party["id"]: str(linked["id"]), unrelated["id"]: str(firm.customer_ids[-1])}
    assert (
        tenant.api.patch(
            f"/connections/{cid}", json={"settings": {"client_links": links}}
        ).status_code
        == 200
    )
    clock.set(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))  # the day before the import day
    system.run_until_idle()
    assert all_of(tenant, "/period-statistics") == []
    clock.set(datetime(2026, 12, 3, 5, 30, tzinfo=UTC))  # 06:30 in Oslo on the 3rd
    system.run_until_idle()
    summaries = all_of(tenant, "/period-statistics")
    assert len(summaries) == 1
    summary = summaries[0]["data"]
    assert summary["party_id"] == party["id"]
    assert (summary["period_start"], summary["period_end"]) == ("2026-11-01", "2026-11-30")
    assert set(summary["metrics"]) == {
        "sale_entries", "purchase_entries", "bank_transactions", "documents",
    }, "blank mappings are not imported"  # fmt: skip
    vouchers = [
        v for v in tripletex.sandbox.all(client_company, "Voucher")
        if "2026-11-01" <= v["date"] <= "2026-11-30"
    ]  # fmt: skip
    types = {t["id"]: t["name"] for t in tripletex.sandbox.all(client_company, "VoucherType")}
    sales = sum(1 for v in vouchers if types[v["voucherType"]["id"]] == "Utgående faktura")
    assert Decimal(summary["metrics"]["sale_entries"]) == sales > 0
    unreachable = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": "client_company_unreachable"}
    ).json()
    assert len(unreachable) == 1 and "login access" in unreachable[0]["message"]
    changes = tenant.api.get("/changes", params={"limit": 1000}).json()
    assert any(c["entity"] == "period_statistics" for c in changes["items"])


def test_a_connection_that_imports_no_summaries_says_what_is_missing(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """The test connection succeeds, yet no summary arrives: the status says what is still
    to do (map a data field, link the clients), until both are done."""
    cid = connect(tenant, tripletex, "Tripletex, nothing mapped")["id"]
    activate(system, tenant, cid)
    warnings = tenant.api.get(f"/connections/{cid}").json()["warnings"]
    assert len(warnings) == 2, warnings
    unmapped, unlinked = warnings
    assert "no work statistic is mapped to a custom task field" in unmapped
    assert "settings.summary.fields" in unmapped and "Reload data" in unmapped
    assert "no client is linked to its Tripletex customer" in unlinked
    assert "settings.client_links" in unlinked

    cid, _, _ = link_first_client(system, tenant, tripletex, SUMMARY)
    assert tenant.api.get(f"/connections/{cid}").json()["warnings"] == []
    switched_off = {"entities": {"period_statistics": {"enabled": False}}}
    other = connect(tenant, tripletex, "Tripletex, no summaries", **switched_off)["id"]
    assert tenant.api.get(f"/connections/{other}").json()["warnings"] == []


def test_a_link_to_a_client_or_customer_that_does_not_exist_is_refused(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = connect(tenant, tripletex)["id"]
    client = tenant.api.post("/parties", json={"name": "Fjord AS"}).json()
    customer = str(tripletex.firm.customer_ids[0])

    def link(links: dict[str, str]) -> httpx.Response:
        return tenant.api.patch(f"/connections/{cid}", json={"settings": {"client_links": links}})

    field, message = refused(link({"no-such-party": customer}))
    assert field == "settings.client_links" and "no-such-party" in message
    field, message = refused(link({client["id"]: "999999"}))
    assert field == "settings.client_links" and "999999" in message
    assert link({client["id"]: customer}).status_code == 200
    tenant.api.delete(f"/parties/{client['id']}")
    other = tenant.api.post("/parties", json={"name": "Havn AS"}).json()
    field, message = refused(link({client["id"]: customer, other["id"]: customer + "0"}))
    assert field == "settings.client_links" and client["id"] in message


def test_a_customer_is_linked_to_one_client_and_a_shared_link_stops_no_run(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    cid, party, _ = link_first_client(system, tenant, tripletex, SUMMARY)
    [customer] = tenant.api.get(f"/connections/{cid}").json()["settings"]["client_links"].values()
    twin = tenant.api.post("/parties", json={"name": "Same customer"}).json()
    shared = {party["id"]: customer, twin["id"]: customer}
    response = tenant.api.patch(f"/connections/{cid}", json={"settings": {"client_links": shared}})
    field, message = refused(response)
    assert field == "settings.client_links"
    assert f"Tripletex customer {customer}" in message and twin["id"] in message

    # Links saved before they were refused: the run goes on, and the status says why the
    # second client gets nothing.
    org = tripletex.sandbox.shared["Company"][tripletex.firm.client_ids[1]]["organizationNumber"]
    other = next(
        c["id"] for c in tripletex.sandbox.all(tripletex.firm.firm_id, "Customer")
        if c.get("organizationNumber") == org
    )  # fmt: skip
    third = tenant.api.post("/parties", json={"name": "Another client"}).json()
    with system.sessions.begin() as session:
        row = session.get(Connection, cid)
        assert row is not None
        row.settings = {**row.settings, "client_links": {**shared, third["id"]: str(other)}}
    clock.set(datetime(2026, 12, 3, 5, 30, tzinfo=UTC))  # the import day
    system.run_until_idle()
    summaries = {s["data"]["party_id"] for s in all_of(tenant, "/period-statistics")}
    assert summaries == {min(party["id"], twin["id"]), third["id"]}
    run = tenant.api.get(f"/connections/{cid}").json()
    assert any(f"Tripletex customer {customer}" in w and "only" in w for w in run["warnings"]), run[
        "warnings"
    ]
    with system.sessions() as session:
        statistics = session.scalars(
            sa.select(Run).where(Run.connection_id == cid, Run.kind == "statistics")
        ).all()
    assert statistics and all(r.status == "succeeded" for r in statistics)


def test_summary_settings_are_checked(tenant: Tenant, tripletex: Tripletex) -> None:
    for summary, field in (
        ({**SUMMARY, "import_day": 29}, "settings.summary.import_day"),
        ({**SUMMARY, "recurrence": "weekly"}, "settings.summary.recurrence"),
        ({**SUMMARY, "fields": {"coffee": "Kaffe"}}, "settings.summary.fields"),
    ):
        response = tenant.api.post("/connections", json=body(tripletex, summary=summary))
        assert refused(response)[0] == field


def test_reload_back_fills_twelve_months_overwriting_and_announces_completion(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    tenant.api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    firm = tripletex.firm
    org = tripletex.sandbox.shared["Company"][firm.client_ids[1]]["organizationNumber"]
    customer = next(
        c for c in tripletex.sandbox.all(firm.firm_id, "Customer")
        if c.get("organizationNumber") == org
    )  # fmt: skip
    cid = connect(tenant, tripletex, summary=SUMMARY)["id"]
    activate(system, tenant, cid)
    party = next(p for p in all_of(tenant, "/parties") if p["data"]["organisation_number"] == org)

    def reload(token: str) -> None:
        settings = {"client_links": {party["id"]: str(customer["id"])},
                    "summary": {**SUMMARY, "reload_requested_at": token}}  # fmt: skip
        assert tenant.api.patch(f"/connections/{cid}", json={"settings": settings}).is_success
        assert tenant.api.post(f"/connections/{cid}/jobs/statistics").status_code == 202
        system.run_until_idle()

    reload("2026-11-20T10:00:00Z")
    summaries = all_of(tenant, "/period-statistics")
    starts = sorted(s["data"]["period_start"] for s in summaries)
    assert len(starts) == 12 and starts[0] == "2025-11-01" and starts[-1] == "2026-10-01"
    with_sales = [s for s in summaries if Decimal(s["data"]["metrics"]["sale_entries"]) > 0]
    assert with_sales, "the seeded months have sales"
    # A figure changed in the app is overwritten by the reload, though Tripletex kept it.
    changed = with_sales[0]
    figures = {**changed["data"]["metrics"], "sale_entries": "999"}
    fields = {**changed["data"]["fields"], "Salgsbilag": "999"}
    patched = tenant.api.patch(
        f"/period-statistics/{changed['id']}", json={"metrics": figures, "fields": fields}
    )
    assert patched.status_code == 200, patched.text
    reload("2026-11-20T10:05:00Z")
    assert len(all_of(tenant, "/period-statistics")) == 12, "overwritten, not duplicated"
    after = tenant.api.get(f"/period-statistics/{changed['id']}").json()["data"]
    assert after["metrics"] == changed["data"]["metrics"]
    assert after["fields"] == changed["data"]["fields"]
    with system.sessions() as session:
        events = session.scalars(
            sa.select(WebhookDelivery.payload).where(
                WebhookDelivery.event_type == "connection.statistics_completed"
            )
        ).all()
    assert len(events) >= 2 and all(e["connection_id"] == cid for e in events)
    assert any(e["counts"].get("period_statistics.created") == 12 for e in events)


def test_a_field_that_shows_no_value_is_filled_in_existing_months_once_mapped_and_reloaded(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """The troubleshooting case "a field shows no value after sync": the statistic is not
    mapped; mapped, Reload data back-fills it into the months already imported."""
    cid, _, _ = link_first_client(system, tenant, tripletex, SUMMARY)

    def reload(token: str, fields: dict[str, str]) -> list[dict[str, Any]]:
        summary = {**SUMMARY, "fields": fields, "reload_requested_at": token}
        saved = tenant.api.patch(f"/connections/{cid}", json={"settings": {"summary": summary}})
        assert saved.is_success, saved.text
        assert tenant.api.post(f"/connections/{cid}/jobs/statistics").status_code == 202
        system.run_until_idle()
        return [s["data"] for s in all_of(tenant, "/period-statistics")]

    before = reload("2026-11-20T10:00:00Z", SUMMARY["fields"])
    assert len(before) == 12
    assert all("Posteringer" not in s["fields"] for s in before), "postings is left blank"
    after = reload("2026-11-20T10:05:00Z", {**SUMMARY["fields"], "postings": "Posteringer"})
    assert len(after) == 12, "the same months, filled in"
    assert all(s["fields"]["Posteringer"] == s["metrics"]["postings"] for s in after)
    assert any(Decimal(s["fields"]["Posteringer"]) > 0 for s in after)


def test_a_deactivation_whose_webhook_was_missed_arrives_with_the_days_first_scan(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    cid = connect(tenant, tripletex)["id"]
    activate(system, tenant, cid)
    firm = tripletex.firm.firm_id
    customer = tripletex.sandbox.all(firm, "Customer")[0]

    def party() -> dict[str, Any]:
        data: dict[str, Any] = party_of(tenant, customer)["data"]
        return data

    with tripletex.sandbox.lock:  # switched off by a user: the deactivation is not announced
        for row in tripletex.sandbox.book(firm).rows("Subscription"):
            row["status"] = "DISABLED" if row["event"] == "customer.update" else row["status"]
    clock.advance(timedelta(hours=2))
    tripletex.sandbox.update(firm, "Customer", customer["id"], {"isInactive": True})
    clock.advance(timedelta(minutes=5))
    pull(system, tenant, cid)  # 12:05 in Oslo: the hour's scan reads active customers only
    assert party()["active"] is True
    clock.advance(timedelta(hours=12))
    pull(system, tenant, cid)  # the day's first scan reads the inactive ones since yesterday
    assert party()["active"] is False


def test_reconciliation_sets_tripletex_vat_totals_against_the_hubs_and_not_its_open_amount(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """An invoice is read back by id with its lines, in the same call: the report sets what
    Tripletex booked per VAT type against the hub's, credit notes included. Without
    ``payment_status`` what is still owed is not kept by the hub's invoices, so Tripletex's
    side of it shows as not read, never as a difference against zero."""
    cid = connect(tenant, tripletex, entities=ALL_STREAMS)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    first = issue(tenant, party["id"])
    second = issue(tenant, party["id"], lines=[
        {"description": "Lønn", "quantity": "3", "unit_price": "333.33", "vat_code": "3",
         "discount_percent": "10"},
    ])  # fmt: skip
    credit = tenant.api.post("/invoices", json={
        "party_id": party["id"], "kind": "credit_note", "credits_invoice_id": first["id"],
        "date": "2026-11-25", "currency": "NOK", "status": "sent",
        "lines": [{"description": "Kreditnota", "quantity": "-1", "unit_price": "4500",
                   "vat_code": "3"}],
    })  # fmt: skip
    assert credit.status_code == 201, credit.text
    system.run_until_idle()
    assert len(tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")) == 3

    report = reconciled(system, tenant, cid, "2026-11")
    assert report["totals"]["amounts_unread"] == []
    assert report["totals"]["open_unread"] == ["invoices"]
    csv_text = tenant.api.get(f"/connections/{cid}/reconciliations/{report['id']}.csv").text
    assert "totals,invoices (count),2,2" in csv_text
    assert "totals,credit notes (count),1,1" in csv_text
    # The lines without a VAT rate are at their VAT type's rate, as Tripletex books them.
    assert "totals,net 3 (NOK),899.99,899.99" in csv_text
    assert "totals,vat 3 (NOK),225.00,225.00" in csv_text
    assert "totals,open amount (NOK),0,not read" in csv_text
    assert report["calls"] <= 6, "the invoices and their lines are read by id in one call"

    # An invoice changed in the app once charged keeps Tripletex's figures there: the
    # totals say by how much the two differ.
    changed = tenant.api.patch(f"/invoices/{second['id']}", json={"lines": [
        {"description": "Lønn", "quantity": "3", "unit_price": "333.33", "vat_code": "3"},
    ]})  # fmt: skip
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    again = reconciled(system, tenant, cid, "2026-11")
    rows = tenant.api.get(f"/connections/{cid}/reconciliations/{again['id']}.csv").text
    assert "totals,net 3 (NOK),999.99,899.99" in rows


def open_amounts(report: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(the hub's, Tripletex's) open amount in NOK of a report."""
    totals = report["totals"]
    return (
        Decimal(totals["hub"]["open_amount"].get("NOK", "0")),
        Decimal(totals["remote"]["open_amount"]["NOK"]),
    )


def run_job(system: System, tenant: Tenant, clock: ManualClock, cid: str, kind: str) -> Run:
    """Run a job now, a minute after the last one (so it is the latest), and answer its run."""
    clock.advance(timedelta(minutes=1))
    assert tenant.api.post(f"/connections/{cid}/jobs/{kind}").status_code == 202
    system.run_until_idle()
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == cid, Run.kind == kind)
            .order_by(Run.started_at.desc())
            .limit(1)
        ).one()
        session.expunge(run)
    return run


def test_payment_status_reads_what_is_still_owed_into_the_hub_and_the_report_compares_it(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """``payment_status`` reads each sent invoice's ``amountOutstanding`` by id into the hub
    invoice's ``amount_open``: paid, partly paid and unpaid alike, credit notes included. With
    it on, the report sets Tripletex's open amounts against the hub's instead of showing
    them as not read; a payment registered in Tripletex after the read is a difference of the
    open totals until the next read."""
    streams = {**ALL_STREAMS, "payments": {"enabled": True}, "payment_status": {"enabled": True}}
    cid = connect(tenant, tripletex, entities=streams)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    paid, partly, unpaid, credited = (issue(tenant, party["id"]) for _ in range(4))
    credit = issue(
        tenant, party["id"], kind="credit_note", credits_invoice_id=credited["id"],
        date="2026-11-21", lines=[{"description": "Kreditert", "quantity": "-1",
                                   "unit_price": "4500", "vat_code": "3"}],
    )  # fmt: skip
    system.run_until_idle()
    # Paid in full through the hub, partly paid in Tripletex (a bank payment matched there).
    payment = {"invoice_id": paid["id"], "date": "2026-11-25", "amount": "5625.00",
               "currency": "NOK"}  # fmt: skip
    assert tenant.api.post("/payments", json=payment).status_code == 201
    system.run_until_idle()
    firm = tripletex.firm.firm_id
    by_number = {str(i["invoiceNumber"]): i for i in tripletex.sandbox.all(firm, "Invoice")}

    def remote(record: dict[str, Any]) -> dict[str, Any]:
        number = tenant.api.get(f"/invoices/{record['id']}").json()["data"]["number"]
        return by_number[number]

    tripletex.sandbox.register_payment(firm, remote(partly)["id"], Decimal("1000.00"))

    before = reconciled(system, tenant, cid, "2026-11")
    assert before["totals"]["open_unread"] == []
    assert open_amounts(before) == (0, Decimal("10250")), "read from Tripletex, not in the hub"

    read = run_job(system, tenant, clock, cid, "payments")
    assert read.status == "succeeded"
    assert read.calls == 1, "five linked invoices: one GET /invoice?id=… with their ids"
    assert read.counts.get("payment_status.updated") == 5, read.counts

    def owed(record: dict[str, Any]) -> Decimal | None:
        value = tenant.api.get(f"/invoices/{record['id']}").json()["data"]["amount_open"]
        return None if value is None else Decimal(value)

    assert [owed(r) for r in (paid, partly, unpaid, credited, credit)] == [0, 4625, 5625, 0, 0]
    after = reconciled(system, tenant, cid, "2026-11")
    assert open_amounts(after) == (10250, 10250)
    assert after["differences"] == [], "open amounts read back are nothing to send"
    assert after["calls"] <= 7, "the invoices and their outstanding amounts: a call each"

    # A read changed only the connection's own copy: a push has nothing to send.
    assert run_job(system, tenant, clock, cid, "push").calls == 0
    assert len(tripletex.sandbox.all(firm, "Invoice")) == 5

    # Paid in Tripletex after the read: the open totals differ until the next read.
    tripletex.sandbox.register_payment(firm, remote(unpaid)["id"], Decimal("5625.00"))
    stale = reconciled(system, tenant, cid, "2026-11")
    assert open_amounts(stale) == (10250, 4625)
    csv_text = tenant.api.get(f"/connections/{cid}/reconciliations/{stale['id']}.csv").text
    assert "totals,open amount (NOK),10250,4625\r\n" in csv_text, csv_text
    again = run_job(system, tenant, clock, cid, "payments")
    assert owed(unpaid) == 0
    assert again.counts.get("payment_status.updated") == 1, "only the one that changed"
    assert open_amounts(reconciled(system, tenant, cid, "2026-11")) == (4625, 4625)


def test_an_outstanding_amount_tripletex_returns_unreadable_is_listed_and_not_counted_as_paid(
    system: System, tenant: Tenant, tripletex: Tripletex
) -> None:
    """An invoice read without its outstanding amount is not settled: the report lists it as
    skipped with the reason, counts it apart and leaves it out of Tripletex's open amount."""
    streams = {**ALL_STREAMS, "payment_status": {"enabled": True}}
    cid = connect(tenant, tripletex, entities=streams)["id"]
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    readable, unreadable = issue(tenant, party["id"]), issue(tenant, party["id"])
    system.run_until_idle()
    firm = tripletex.firm.firm_id
    number = tenant.api.get(f"/invoices/{unreadable['id']}").json()["data"]["number"]
    with tripletex.sandbox.lock:
        book = tripletex.sandbox.book(firm)
        row = next(r for r in book.rows("Invoice") if str(r["invoiceNumber"]) == number)
        row["amountOutstanding"] = None

    report = reconciled(system, tenant, cid, "2026-11")
    skipped = [d for d in report["differences"] if d["kind"] == "skipped"]
    assert [(d["record_id"], d["remote_id"], d["reason"]) for d in skipped] == [
        (unreadable["id"], str(row["id"]), "invalid_remote_data")
    ], report["differences"]
    assert "without its outstanding amount" in skipped[0]["message"]
    assert open_amounts(report)[1] == Decimal("5625"), "only the readable one's, not 0 for both"
    assert report["totals"]["remote"]["counts"]["open_amounts_unreadable"] == 1
    csv_text = tenant.api.get(f"/connections/{cid}/reconciliations/{report['id']}.csv").text
    assert "totals,open amounts unreadable (count),0,1\r\n" in csv_text, csv_text
    assert readable["id"] not in {d["record_id"] for d in report["differences"]}
    assert [d["kind"] for d in report["differences"] if d["record_id"] == unreadable["id"]] == [
        "skipped"
    ], "listed once, not also as a difference"


def test_payment_status_reads_a_hundred_invoices_a_call_a_page_of_links_at_a_time(
    system: System, tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """N linked invoices cost ceil(N / 100) calls: the links are read a page at a time (the
    connection's page size) and each page's invoices 100 ids a call, with only their
    outstanding amount. A smaller page costs a call per page and reads the same."""
    streams = {**ALL_STREAMS, "payment_status": {"enabled": True}}
    cid = connect(tenant, tripletex, entities=streams)["id"]
    # The import's preview reads the stream as the import does: by its links (none yet).
    preview = tenant.api.post(f"/connections/{cid}/preview", json={"kind": "import"})
    assert preview.status_code == 200, preview.text
    activate(system, tenant, cid)
    party = all_of(tenant, "/parties")[0]
    for _ in range(120):
        issue(tenant, party["id"])
    system.run_until_idle()
    charged = tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")
    assert len(charged) == 120
    tripletex.sandbox.register_payment(tripletex.firm.firm_id, charged[0]["id"], Decimal(625))

    read = run_job(system, tenant, clock, cid, "payments")
    assert read.calls == 2, "120 linked invoices: two GET /invoice?id=…, 100 ids then 20"
    assert read.counts.get("payment_status.updated") == 120, read.counts
    owed = sorted(Decimal(i["data"]["amount_open"]) for i in all_of(tenant, "/invoices"))
    assert owed == [5000] + [5625] * 119

    small = tenant.api.patch(f"/connections/{cid}", json={"settings": {"page_size": 50}})
    assert small.status_code == 200, small.text
    tripletex.sandbox.register_payment(tripletex.firm.firm_id, charged[-1]["id"], Decimal(5625))
    paged = run_job(system, tenant, clock, cid, "payments")
    assert paged.calls == 3, "pages of 50 links: 50, 50 and 20 ids"
    assert paged.counts.get("payment_status.updated") == 1, paged.counts
    owed = sorted(Decimal(i["data"]["amount_open"]) for i in all_of(tenant, "/invoices"))
    assert owed == [0, 5000] + [5625] * 118
