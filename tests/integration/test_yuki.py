"""The Yuki integration end to end: the hub API, a real database and the Yuki sandbox served
over loopback SOAP. One test per behaviour of the integration's description."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import AmbiguousWrite
from ledgerbridge.connectors.yuki.client import CONTACT_NS, YukiClient
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.yuki import SandboxServer, YukiSandbox, seed_demo
from ledgerbridge.sandbox.yuki.model import Contact
from ledgerbridge.sandbox.yuki.seed import SeededDomain
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import Link, Run
from tests.integration.conftest import Tenant, new_tenant, reconciled


@dataclass
class Yuki:
    sandbox: YukiSandbox
    seeded: SeededDomain
    url: str

    @property
    def domain(self) -> str:
        return self.seeded.domain_id

    def calls(self) -> int:
        return self.sandbox.total_calls(self.domain)


@pytest.fixture
def yuki() -> Iterator[Yuki]:
    sandbox = YukiSandbox()
    seeded = seed_demo(sandbox, contacts=0, seed=7)
    server = SandboxServer(sandbox)
    server.start()
    yield Yuki(sandbox, seeded, server.base_url)
    server.stop()


def settings_for(yuki: Yuki, **extra: Any) -> dict[str, Any]:
    return {
        "domain_id": yuki.domain,
        "administration_id": yuki.seeded.administration_id,
        "base_url": yuki.url,
        "debtor_numbers": {"next": 20000, "prefix": ""},
        **extra,
    }


def connect(tenant: Tenant, yuki: Yuki, name: str = "Yuki", **extra: Any) -> dict[str, Any]:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "yuki",
            "name": name,
            "timezone": "Europe/Amsterdam",
            "settings": settings_for(yuki, **extra),
            "secrets": {"access_key": yuki.seeded.access_key},
        },
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


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


def issues(tenant: Tenant, cid: str, reason: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": reason} if reason else {}
    ).json()
    return found


def log(tenant: Tenant, cid: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(
        f"/connections/{cid}/sync-log", params=params
    ).json()
    return found


def by_number(tenant: Tenant, number: str) -> dict[str, Any]:
    return next(p for p in all_of(tenant, "/parties") if p["data"].get("debtor_number") == number)


def add_company(yuki: Yuki, code: str, name: str, **fields: Any) -> str:
    contact = yuki.sandbox.add_contact(
        yuki.domain, "Company", is_customer=fields.pop("is_customer", True),
        code=code, full_name=name, **fields,
    )  # fmt: skip
    return contact.id


def last_run(system: System, cid: str, kind: str) -> Run:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == cid, Run.kind == kind)
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        return run


# ------------------------------------------------------------------ activation


def test_activation_is_refused_without_debtor_number_generation(tenant: Tenant, yuki: Yuki) -> None:
    settings = settings_for(yuki)
    del settings["debtor_numbers"]
    response = tenant.api.post(
        "/connections",
        json={"system": "yuki", "name": "Yuki", "timezone": "Europe/Amsterdam",
              "settings": settings, "secrets": {"access_key": yuki.seeded.access_key}},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    body = response.text
    assert '"debtor_numbers"' in body
    assert "leading system for debtor numbers" in body


def test_set_up_checks_the_key_the_domain_and_the_administration(
    tenant: Tenant, yuki: Yuki
) -> None:
    def attempt(settings: dict[str, Any], key: str) -> Any:
        return tenant.api.post(
            "/connections",
            json={"system": "yuki", "name": "Yuki", "timezone": "Europe/Amsterdam",
                  "settings": settings, "secrets": {"access_key": key}},
        )  # fmt: skip

    wrong_key = attempt(settings_for(yuki), "not-a-key")
    assert wrong_key.status_code == 422 and "secrets" in wrong_key.text
    other = yuki.sandbox.add_domain("elsewhere")
    wrong_domain = attempt({**settings_for(yuki), "domain_id": other.id}, yuki.seeded.access_key)
    assert wrong_domain.status_code == 422
    assert '"domain_id"' in wrong_domain.text and "ledgerbridge-demo" in wrong_domain.text
    wrong_admin = attempt(
        {**settings_for(yuki), "administration_id": "nope"}, yuki.seeded.access_key
    )
    assert wrong_admin.status_code == 422
    assert '"administration_id"' in wrong_admin.text
    assert "Demo Handelsonderneming" in wrong_admin.text
    good = attempt(settings_for(yuki), yuki.seeded.access_key)
    assert good.status_code == 201, good.text
    assert good.json()["settings"]["yuki_domain"]["name"] == "ledgerbridge-demo"


def test_set_up_login_lists_the_keys_domains_and_administrations_before_connecting(
    tenant: Tenant, yuki: Yuki
) -> None:
    second = yuki.sandbox.add_domain("Tweede Domein")
    yuki.sandbox.add_administration(second.id, "Tweede Administratie")
    yuki.sandbox.add_access_key(yuki.seeded.access_key, [yuki.domain, second.id])
    login = tenant.api.post(
        "/setup/yuki/login", json={"access_key": yuki.seeded.access_key, "base_url": yuki.url}
    )
    assert login.status_code == 200, login.text
    domains = {d["domain_id"]: d for d in login.json()["domains"]}
    assert set(domains) == {yuki.domain, second.id}
    assert domains[yuki.domain]["name"] == "ledgerbridge-demo"
    assert [a["administration_id"] for a in domains[yuki.domain]["administrations"]] == [
        yuki.seeded.administration_id
    ]
    assert [a["name"] for a in domains[second.id]["administrations"]] == ["Tweede Administratie"]

    one = tenant.api.post(
        "/setup/yuki/login",
        json={"access_key": yuki.seeded.access_key, "base_url": yuki.url, "domain_id": second.id},
    )
    assert [d["domain_id"] for d in one.json()["domains"]] == [second.id]
    unknown = tenant.api.post(
        "/setup/yuki/login",
        json={"access_key": yuki.seeded.access_key, "base_url": yuki.url, "domain_id": "nope"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "domain_id"]
    assert "ledgerbridge-demo" in unknown.text
    wrong_key = tenant.api.post(
        "/setup/yuki/login", json={"access_key": "not-a-key", "base_url": yuki.url}
    )
    assert wrong_key.status_code == 422
    assert wrong_key.json()["detail"][0]["loc"] == ["body", "access_key"]
    said = wrong_key.json()["detail"][0]["msg"]
    assert said.endswith("not valid; copy the key from Yuki (Settings › Integrations › Webservice)")


def test_the_payment_method_and_vat_types_are_checked_when_saved(
    tenant: Tenant, yuki: Yuki
) -> None:
    def attempt(**extra: Any) -> Any:
        return tenant.api.post(
            "/connections",
            json={"system": "yuki", "name": "Yuki", "timezone": "Europe/Amsterdam",
                  "settings": settings_for(yuki, **extra),
                  "secrets": {"access_key": yuki.seeded.access_key}},
        )  # fmt: skip

    calls = yuki.calls()
    bitcoin = attempt(payment_method="Bitcoin")
    assert bitcoin.status_code == 422
    assert bitcoin.json()["detail"][0]["loc"] == ["body", "settings", "payment_method"]
    assert "'ElectronicTransfer'" in bitcoin.json()["detail"][0]["msg"]
    named = attempt(vat_mapping={"NL21": "high"})
    assert named.status_code == 422
    assert named.json()["detail"][0]["loc"] == ["body", "settings", "vat_mapping", "NL21"]
    assert "must be a Yuki VAT type" in named.json()["detail"][0]["msg"]
    assert yuki.calls() == calls  # refused before Yuki is asked anything

    good = attempt(payment_method="iDeal", vat_mapping={"NL21": 1, "NL9": "2"})
    assert good.status_code == 201, good.text
    assert good.json()["settings"]["vat_mapping"] == {"NL21": "1", "NL9": "2"}
    mapped = tenant.api.put(
        f"/connections/{good.json()['id']}/mappings", json={"vat": {"NL0": "zero"}}
    )
    assert mapped.status_code == 422
    assert "vat_mapping.NL0: must be a Yuki VAT type" in mapped.text


# ------------------------------------------------------------------ contacts


def test_initial_import_brings_customers_skips_inactive_and_suppliers_only_when_chosen(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.", city="Utrecht")
    yuki.sandbox.add_contact(
        yuki.domain, "Person", is_customer=True, code="10002", full_name="Jan de Boer",
        first_name="Jan", last_name="de Boer", email_home="jan@example.nl",
    )  # fmt: skip
    add_company(yuki, "10003", "Oude Klant B.V.", active=False)
    add_company(yuki, "10004", "Leverancier B.V.", is_customer=False, is_supplier=True)
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])

    parties = {p["data"]["debtor_number"]: p["data"] for p in all_of(tenant, "/parties")}
    assert sorted(parties) == ["10001", "10002"]
    assert parties["10001"]["kind"] == "organisation" and parties["10001"]["is_customer"]
    assert parties["10002"]["kind"] == "person"
    assert parties["10002"]["first_name"] == "Jan"
    skipped = issues(tenant, connection["id"], "contact_inactive")
    assert [i["key"] for i in skipped] == ["10003"]
    assert "inactive" in skipped[0]["message"]

    with_suppliers = connect(tenant, yuki, "Yuki with suppliers", import_suppliers=True)
    activate(system, tenant, with_suppliers["id"])
    supplier = by_number(tenant, "10004")
    assert supplier["data"]["is_supplier"] and not supplier["data"]["is_customer"]
    assert len(all_of(tenant, "/parties")) == 3  # matched by debtor number, not duplicated


def test_suppliers_and_contact_types_chosen_after_activation_are_read_by_the_next_pull(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    """Seed: suppliers are retrieved "if enabled", and the contact types reviewed, in the
    settings. Enabled after the initial import, the contacts Yuki has not changed since are
    still brought in: the next pull reads the contacts from the start once."""
    long_ago = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # not read again as recent changes
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.", created=long_ago)
    add_company(
        yuki, "10004", "Leverancier B.V.", is_customer=False, is_supplier=True, created=long_ago
    )
    yuki.sandbox.add_contact(
        yuki.domain, "Person", is_customer=True, code="10002", full_name="Jan de Boer",
        created=long_ago,
    )  # fmt: skip
    connection = connect(tenant, yuki, contact_types={"person": "none"})
    cid = connection["id"]
    activate(system, tenant, cid)
    pull(system, tenant, cid)
    assert last_run(system, cid, "pull").counts == {}  # nothing changed: nothing read again
    assert [p["data"]["debtor_number"] for p in all_of(tenant, "/parties")] == ["10001"]

    changed = tenant.api.patch(
        f"/connections/{cid}",
        json={"settings": {"import_suppliers": True, "contact_types": {"person": "both"}}},
    )
    assert changed.status_code == 200, changed.text
    pull(system, tenant, cid)
    parties = {p["data"]["debtor_number"]: p["data"] for p in all_of(tenant, "/parties")}
    assert sorted(parties) == ["10001", "10002", "10004"]
    assert parties["10004"]["is_supplier"] and parties["10002"]["kind"] == "person"
    assert issues(tenant, cid, "contact_type_excluded") == []
    before = yuki.calls()
    pull(system, tenant, cid)
    assert yuki.calls() - before == 2  # read from the start once, then incremental again


def test_changes_in_yuki_are_pulled_incrementally_and_deactivation_is_not_reflected(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    contact = add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.", city="Utrecht")
    add_company(yuki, "10002", "Hollandse Houthandel V.O.F.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    calls = yuki.calls()
    pull(system, tenant, connection["id"])
    # Nothing changed: one page of contacts with a box ticked (the customers among them
    # taken from it) and one of contacts without.
    assert yuki.calls() - calls == 2
    assert last_run(system, connection["id"], "pull").counts.get("contacts.updated", 0) == 0

    yuki.sandbox.edit_contact(yuki.domain, contact, city="Amersfoort", website="www.devries.nl")
    pull(system, tenant, connection["id"])
    party = by_number(tenant, "10001")
    assert party["data"]["billing_address"]["city"] == "Amersfoort"
    assert party["data"]["website"] == "www.devries.nl"

    yuki.sandbox.set_active(yuki.domain, contact, False)
    pull(system, tenant, connection["id"])
    assert by_number(tenant, "10001")["data"]["active"] is True
    assert len(all_of(tenant, "/parties")) == 2


def test_hub_changes_are_pushed_with_update_contact_and_do_not_echo(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.", city="Utrecht", phone_home="030-1")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    party = by_number(tenant, "10001")
    changed = tenant.api.patch(
        f"/parties/{party['id']}", json={"phone": "030-2345678", "email": "info@devries.nl"}
    )
    assert changed.status_code == 200, changed.text
    calls = yuki.calls()
    system.run_until_idle()
    stored = yuki.sandbox.get_contact(yuki.domain, "10001")
    assert stored is not None
    assert (stored.phone_home, stored.email_work, stored.city) == (
        "030-2345678", "info@devries.nl", "Utrecht",
    )  # fmt: skip
    assert yuki.calls() - calls == 2  # the contact read by its code, then UpdateContact
    version = tenant.api.get(f"/parties/{party['id']}").json()["version"]
    pull(system, tenant, connection["id"])
    assert tenant.api.get(f"/parties/{party['id']}").json()["version"] == version
    assert len(yuki.sandbox.contacts(yuki.domain)) == 1


def test_a_contact_created_in_the_hub_gets_the_next_debtor_number_and_a_notice(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "20000", "Bestaande Klant B.V.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    created = tenant.api.post(
        "/parties",
        json={"name": "Nieuwe Klant B.V.", "is_customer": True, "email": "info@nieuw.nl",
              "billing_address": {"line1": "Kerkstraat 1", "postal_code": "3511 AB",
                                  "city": "Utrecht", "country": "NL"}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    person = tenant.api.post(
        "/parties",
        json={"kind": "person", "name": "Anna Jansen", "first_name": "Anna",
              "last_name": "Jansen", "is_customer": True, "mobile_phone": "06-12345678"},
    )  # fmt: skip
    system.run_until_idle()

    # 20000 is taken already: the sequence skips it.
    numbers = {p["data"]["name"]: p["data"]["debtor_number"] for p in all_of(tenant, "/parties")}
    assert numbers["Nieuwe Klant B.V."] == "20001"
    assert numbers["Anna Jansen"] == "20002"
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["settings"]["debtor_numbers"]["next"] == 20003
    company = yuki.sandbox.get_contact(yuki.domain, "20001")
    assert company is not None and company.type == "Company"
    assert (company.full_name, company.email_work, company.postcode) == (
        "Nieuwe Klant B.V.", "info@nieuw.nl", "3511 AB",
    )  # fmt: skip
    assert not company.is_customer and not company.is_supplier
    anna = yuki.sandbox.get_contact(yuki.domain, "20002")
    assert anna is not None and anna.type == "Person" and anna.mobile_home == "06-12345678"

    assert status["open_issues"] == {"yuki_contact_type_manual": 2}
    notices = log(tenant, connection["id"], reason="yuki_contact_type_manual")
    assert {n["remote_id"] for n in notices} == {"20001", "20002"}
    assert all(n["outcome"] == "created" for n in notices)
    assert "Tick Customer" in notices[0]["message"]

    yuki.sandbox.mark_as_customer(yuki.domain, "20001")
    pull(system, tenant, connection["id"])
    left = issues(tenant, connection["id"], "yuki_contact_type_manual")
    assert [i["key"] for i in left] == [person.json()["id"]]
    assert len(yuki.sandbox.contacts(yuki.domain)) == 3


def test_edits_in_yuki_to_a_contact_made_by_the_hub_are_pulled_before_its_box_is_ticked(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "30001", "Leverancier B.V.", is_customer=False)
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    created = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V.", "is_customer": True})
    system.run_until_idle()
    party = tenant.api.get(f"/parties/{created.json()['id']}").json()
    number = party["data"]["debtor_number"]
    contact = yuki.sandbox.get_contact(yuki.domain, number)
    assert contact is not None and not contact.is_customer

    yuki.sandbox.edit_contact(yuki.domain, contact.id, city="Zwolle", website="www.nieuw.nl")
    pull(system, tenant, connection["id"])
    data = tenant.api.get(f"/parties/{party['id']}").json()["data"]
    assert data["billing_address"]["city"] == "Zwolle"
    assert data["website"] == "www.nieuw.nl"
    # A contact Yuki holds without either box and the hub never linked is still not imported.
    assert [p["data"]["name"] for p in all_of(tenant, "/parties")] == ["Nieuwe Klant B.V."]
    assert issues(tenant, connection["id"], "yuki_contact_type_manual") != []


def add_unimported(yuki: Yuki, code: str, name: str, **flags: bool) -> Contact:
    """A contact with neither box ticked (or only Supplier, ``is_supplier``): not imported."""
    return yuki.sandbox.add_contact(
        yuki.domain, "Company", code=code, full_name=name, city="Gouda",
        vat_number="NL820471616B01", created=datetime(2018, 3, 1, tzinfo=UTC), **flags,
    )  # fmt: skip


def test_the_sequence_skips_the_numbers_of_contacts_the_hub_reads_but_does_not_import(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    supplier = add_unimported(yuki, "20000", "Leverancier B.V.", is_supplier=True)
    unflagged = add_unimported(yuki, "20001", "Oude Relatie B.V.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    assert all_of(tenant, "/parties") == [] and issues(tenant, connection["id"]) == []

    # Read by the import (to follow linked records), their codes are known: the party takes
    # the next free number at the cost of any create, a search and UpdateContact.
    calls = yuki.calls()
    first = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V."}).json()
    system.run_until_idle()
    assert by_number(tenant, "20002")["id"] == first["id"]
    assert yuki.calls() - calls == 2
    assert issues(tenant, connection["id"], "debtor_number_taken") == []
    assert yuki.sandbox.get_contact(yuki.domain, "20000") == supplier
    assert yuki.sandbox.get_contact(yuki.domain, "20001") == unflagged

    # A supplier made in Yuki later is known from the next pull, which costs what it did.
    calls = yuki.calls()
    pull(system, tenant, connection["id"])
    idle = yuki.calls() - calls
    assert idle == 2  # contacts with a box ticked (the customers cut from them), then none
    later = yuki.sandbox.add_contact(
        yuki.domain, "Company", code="20003", full_name="Nieuwe Leverancier B.V.",
        is_supplier=True,
    )  # fmt: skip
    calls = yuki.calls()
    pull(system, tenant, connection["id"])
    assert yuki.calls() - calls == idle
    calls = yuki.calls()
    second = tenant.api.post("/parties", json={"name": "Tweede Klant B.V."}).json()
    system.run_until_idle()
    assert by_number(tenant, "20004")["id"] == second["id"]
    assert yuki.calls() - calls == 2
    assert yuki.sandbox.get_contact(yuki.domain, "20003") == later
    assert issues(tenant, connection["id"], "debtor_number_taken") == []


def test_a_new_party_never_takes_over_a_yuki_contact_the_hub_has_not_read_yet(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    connection = connect(tenant, yuki, debtor_numbers={"next": 10001})
    activate(system, tenant, connection["id"])
    old = add_unimported(yuki, "10002", "Oude Relatie B.V.")
    calls = yuki.calls()
    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V."})
    system.run_until_idle()

    # The hub skipped 10001 (its own) but not 10002, made in Yuki since the hub last read its
    # contacts: the create is refused after one search, and the look-up that follows a
    # refusal costs nothing.
    record = tenant.api.get(f"/parties/{party.json()['id']}").json()
    assert record["data"]["debtor_number"] == "10002"
    assert [s["remote_id"] for s in record["sync"]] == [None]  # its issue, no link
    assert yuki.sandbox.get_contact(yuki.domain, "10002") == old
    assert len(yuki.sandbox.contacts(yuki.domain)) == 2
    assert yuki.calls() - calls == 1
    [refused] = issues(tenant, connection["id"], "debtor_number_taken")
    assert refused["key"] == party.json()["id"]
    assert "'Oude Relatie B.V.' (relationship code 10002)" in refused["message"]
    assert "another debtor number" in refused["message"]
    assert "tick Customer for 10002" in refused["message"]
    assert log(tenant, connection["id"], outcome="created", direction="outbound") == []

    # Given another number, it is created under it (a search, then UpdateContact).
    calls = yuki.calls()
    tenant.api.patch(f"/parties/{party.json()['id']}", json={"debtor_number": "10050"})
    system.run_until_idle()
    created = yuki.sandbox.get_contact(yuki.domain, "10050")
    assert created is not None and created.full_name == "Nieuwe Klant B.V."
    assert yuki.sandbox.get_contact(yuki.domain, "10002") == old
    assert yuki.calls() - calls == 2
    assert issues(tenant, connection["id"], "debtor_number_taken") == []


def test_the_sequence_skips_the_numbers_of_contacts_the_hub_skipped(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "20000", "Bestaande Klant B.V.")
    inactive = add_company(yuki, "20001", "Oude Klant B.V.", active=False)
    connection = connect(tenant, yuki, contact_types={"person": "none"})
    yuki.sandbox.add_contact(
        yuki.domain, "Person", is_customer=True, code="20002", full_name="Jan de Boer"
    )
    activate(system, tenant, connection["id"])
    assert {i["key"] for i in issues(tenant, connection["id"])} == {"20001", "20002"}

    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V.", "is_customer": True})
    system.run_until_idle()
    # 20001 (inactive) and 20002 (a person, not imported) are Yuki's: the next free one is used.
    record = tenant.api.get(f"/parties/{party.json()['id']}").json()
    assert record["data"]["debtor_number"] == "20003"
    assert [s["remote_id"] for s in record["sync"] if s["remote_id"]] == ["20003"]
    assert yuki.sandbox.get_contact(yuki.domain, "20001").id == inactive
    assert issues(tenant, connection["id"], "debtor_number_taken") == []


def test_a_party_refused_for_a_taken_number_is_linked_once_that_contact_is_a_customer(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    old = add_unimported(yuki, "20000", "Oude Relatie B.V.")
    party = tenant.api.post("/parties", json={"name": "Oude Relatie B.V."})
    system.run_until_idle()
    assert [i["key"] for i in issues(tenant, connection["id"], "debtor_number_taken")] == [
        party.json()["id"]
    ]

    # It is the same relationship: the user ticks Customer in Yuki, as the issue says.
    yuki.sandbox.mark_as_customer(yuki.domain, "20000")
    pull(system, tenant, connection["id"])
    record = tenant.api.get(f"/parties/{party.json()['id']}").json()
    assert issues(tenant, connection["id"]) == []  # the refusal closed with the link
    assert {s["stream"]: s["remote_id"] for s in record["sync"]} == {
        "contacts": "20000", "customers": "20000",
    }  # fmt: skip
    assert len(all_of(tenant, "/parties")) == 1
    kept = yuki.sandbox.get_contact(yuki.domain, "20000")
    assert kept is not None and (kept.city, kept.vat_number) == (old.city, old.vat_number)


def test_a_yuki_contact_without_a_code_is_not_given_one_another_contact_holds(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    contact = add_company(yuki, "", "Zonder Code B.V.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    old = add_unimported(yuki, "20000", "Oude Relatie B.V.")
    [party] = all_of(tenant, "/parties")
    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "015-1234567"})
    system.run_until_idle()

    [refused] = issues(tenant, connection["id"], "debtor_number_taken")
    assert refused["key"] == party["id"]
    assert "two contacts with that code" in refused["message"]
    stored = yuki.sandbox.get_contact(yuki.domain, contact)
    assert stored is not None and (stored.code, stored.phone_home) == ("", "")
    assert yuki.sandbox.get_contact(yuki.domain, "20000") == old


# ------------------------------------------------------------------ invoices


def invoice_body(party_id: str, number: str, status: str = "sent") -> dict[str, Any]:
    return {
        "party_id": party_id,
        "number": number,
        "date": "2026-11-02",
        "payment_term_days": 14,
        "currency": "EUR",
        "status": status,
        "notes": "Thank you",
        "lines": [
            {"sku": "ADV-1", "description": "Advies", "quantity": "3", "unit_price": "95.00",
             "vat_code": "1", "vat_rate": "21"},
            {"description": "Reiskosten", "quantity": "1", "unit_price": "40.50",
             "discount_percent": "10", "vat_code": "1", "vat_rate": "21"},
        ],
    }  # fmt: skip


def one_customer_synced(
    system: System, tenant: Tenant, yuki: Yuki
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A connection whose import brought one customer, 10001 (the connection, the party)."""
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    return connection, by_number(tenant, "10001")


def test_a_sent_invoice_goes_to_yuki_with_all_lines_as_an_outstanding_item(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    draft = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-001", "draft"))
    assert draft.status_code == 201, draft.text
    system.run_until_idle()
    assert yuki.sandbox.sales_invoices(yuki.seeded.administration_id) == []

    calls = yuki.calls()
    sent = tenant.api.patch(f"/invoices/{draft.json()['id']}", json={"status": "sent"})
    assert sent.status_code == 200, sent.text
    system.run_until_idle()
    assert yuki.calls() - calls == 1  # one ProcessSalesInvoices call
    [booked] = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert booked.reference == "F2026-001" and booked.processed
    assert booked.due_date is not None and booked.due_date.isoformat() == "2026-11-16"
    assert [(line.description, line.quantity, line.sales_price, line.vat_type)
            for line in booked.lines] == [
        ("Advies", 3, 95, 1), ("Reiskosten", 1, Decimal("36.45"), 1),
    ]  # fmt: skip
    [item] = yuki.sandbox.outstanding_items(yuki.seeded.administration_id)
    assert item.reference == "F2026-001"
    assert item.open_amount == Decimal("388.95")  # (285 + 36.45) + 21 % VAT per line
    record = tenant.api.get(f"/invoices/{draft.json()['id']}").json()
    assert [s["remote_id"] for s in record["sync"]] == ["F2026-001"]

    # Payments are not synced back; a later hub change cannot alter the booked invoice.
    yuki.sandbox.register_payment(yuki.seeded.administration_id, "F2026-001", "388.95")
    pull(system, tenant, connection["id"])
    assert tenant.api.get(f"/invoices/{draft.json()['id']}").json()["data"]["status"] == "sent"
    tenant.api.patch(f"/invoices/{draft.json()['id']}", json={"notes": "changed"})
    system.run_until_idle()
    readonly = issues(tenant, connection["id"], "invoice_readonly_after_sending")
    assert [i["key"] for i in readonly] == [draft.json()["id"]]
    assert len(yuki.sandbox.sales_invoices(yuki.seeded.administration_id)) == 1


def test_invoices_wait_for_the_customer_box_and_follow_once_it_is_ticked(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V.", "is_customer": True})
    system.run_until_idle()
    number = tenant.api.get(f"/parties/{party.json()['id']}").json()["data"]["debtor_number"]
    invoice = tenant.api.post("/invoices", json=invoice_body(party.json()["id"], "F2026-002"))
    calls = yuki.calls()
    system.run_until_idle()
    assert yuki.calls() == calls  # nothing is sent that Yuki would refuse
    [waiting] = issues(tenant, connection["id"], "yuki_contact_not_customer")
    assert waiting["key"] == invoice.json()["id"]

    # Once the pull sees the box ticked, the invoice goes at once: the pull queues a push,
    # nothing waits for the next scheduled one.
    yuki.sandbox.mark_as_customer(yuki.domain, number)
    pull(system, tenant, connection["id"])
    [booked] = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert booked.reference == "F2026-002"
    assert issues(tenant, connection["id"]) == []


def test_an_invoice_yuki_refuses_gets_a_clear_reason_and_others_in_the_batch_go_through(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    add_company(yuki, "10002", "Hollandse Houthandel V.O.F.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    # The box is cleared in Yuki after the hub last saw it ticked.
    yuki.sandbox.mark_as_customer(yuki.domain, "10002", customer=False)
    first, second = by_number(tenant, "10001"), by_number(tenant, "10002")
    ok = tenant.api.post("/invoices", json=invoice_body(first["id"], "F2026-010"))
    refused = tenant.api.post("/invoices", json=invoice_body(second["id"], "F2026-011"))
    calls = yuki.calls()
    system.run_until_idle()
    references = [i.reference for i in yuki.sandbox.sales_invoices(yuki.seeded.administration_id)]
    assert references == ["F2026-010"]
    assert yuki.calls() - calls == 1  # the batch; the refusal is not sent twice
    [problem] = issues(tenant, connection["id"])
    assert problem["key"] == refused.json()["id"]
    assert problem["reason"] == "yuki_invoice_refused_not_customer"
    assert "not a customer" in problem["message"]
    assert ok.status_code == 201


def test_an_invoice_line_with_a_vat_code_but_no_rate_is_held_not_booked_without_vat(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    body = invoice_body(by_number(tenant, "10001")["id"], "F2026-040")
    del body["lines"][1]["vat_rate"]
    calls = yuki.calls()
    invoice = tenant.api.post("/invoices", json=body)
    system.run_until_idle()
    assert yuki.calls() == calls
    assert yuki.sandbox.sales_invoices(yuki.seeded.administration_id) == []
    [missing] = issues(tenant, connection["id"], "vat_rate_missing")
    assert missing["key"] == invoice.json()["id"]
    assert "'Reiskosten' has VAT code 1 but no VAT rate" in missing["message"]


# ------------------------------------------------------------------ numbers, types, deletes


def test_an_invoice_to_a_yuki_customer_without_a_code_says_how_it_gets_one(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    """A customer made in Yuki without a relationship code is imported without a debtor
    number; an invoice to it waits, and its issue says what gives it one."""
    add_company(yuki, "", "Zonder Code B.V.", city="Delft")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    [party] = all_of(tenant, "/parties")
    invoice = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-021"))
    system.run_until_idle()
    [waiting] = issues(tenant, connection["id"], "yuki_contact_not_customer")
    assert waiting["key"] == invoice.json()["id"]
    assert "any change to the customer in the app" in waiting["message"]
    assert "give it a debtor number" in waiting["message"]


def test_a_yuki_contact_without_a_code_gets_the_hubs_next_number_when_next_sent(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    contact = add_company(yuki, "", "Zonder Code B.V.", city="Delft")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    [party] = all_of(tenant, "/parties")
    assert party["data"]["debtor_number"] is None
    assert party["sync"][0]["remote_id"] == f"id:{contact}"
    invoice = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-020"))
    system.run_until_idle()
    assert [i["key"] for i in issues(tenant, connection["id"], "yuki_contact_not_customer")] == [
        invoice.json()["id"]
    ]

    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "015-1234567"})
    system.run_until_idle()
    stored = yuki.sandbox.get_contact(yuki.domain, contact)
    assert stored is not None and (stored.code, stored.phone_home) == ("20000", "015-1234567")
    assert stored.city == "Delft"
    record = tenant.api.get(f"/parties/{party['id']}").json()
    assert record["data"]["debtor_number"] == "20000"
    # The customer's link follows the code the hub gave it: the invoice needs no pull.
    assert {s["stream"]: s["remote_id"] for s in record["sync"]} == {
        "contacts": "20000", "customers": "20000",
    }  # fmt: skip
    [booked] = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert (booked.reference, booked.contact_id) == ("F2026-020", contact)
    assert issues(tenant, connection["id"]) == []
    pull(system, tenant, connection["id"])
    assert last_run(system, connection["id"], "pull").status == "succeeded"
    assert len(all_of(tenant, "/parties")) == 1
    assert len(yuki.sandbox.contacts(yuki.domain)) == 1


def test_a_customer_renumbered_in_the_hub_keeps_syncing_under_its_new_code(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    """A customer's debtor number changed in the app renames its relationship code in Yuki;
    the pulls after it follow the customer under the new code (its Customer box with it),
    and its invoices go to Yuki under that code."""
    connection, party = one_customer_synced(system, tenant, yuki)
    renamed = tenant.api.patch(f"/parties/{party['id']}", json={"debtor_number": "30000"})
    assert renamed.status_code == 200, renamed.text
    system.run_until_idle()
    contact = yuki.sandbox.get_contact(yuki.domain, "30000")
    assert contact is not None and contact.is_customer
    assert yuki.sandbox.get_contact(yuki.domain, "10001") is None

    # Invoiced before any pull: it goes to the contact under its new code.
    tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-030"))
    system.run_until_idle()
    [booked] = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert (booked.reference, booked.contact_id) == ("F2026-030", contact.id)

    pull(system, tenant, connection["id"])
    assert last_run(system, connection["id"], "pull").status == "succeeded"
    record = tenant.api.get(f"/parties/{party['id']}").json()
    assert {s["stream"]: s["remote_id"] for s in record["sync"]} == {
        "contacts": "30000", "customers": "30000",
    }  # fmt: skip
    assert issues(tenant, connection["id"]) == []
    assert len(all_of(tenant, "/parties")) == 1


def test_a_pull_moves_a_customer_link_left_under_the_code_it_had_before(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    """A customer renumbered while its customer link kept the old code (as a connection
    renumbered by an earlier version left it): the pull moves that link to the code Yuki
    now shows, instead of failing on a second link of the same customer."""
    connection, party = one_customer_synced(system, tenant, yuki)
    tenant.api.patch(f"/parties/{party['id']}", json={"debtor_number": "30000"})
    system.run_until_idle()
    with system.sessions() as session, session.begin():
        session.execute(
            sa.update(Link)
            .where(Link.connection_id == connection["id"], Link.stream == "customers")
            .values(remote_id="10001")
        )
    pull(system, tenant, connection["id"])
    assert last_run(system, connection["id"], "pull").status == "succeeded"
    record = tenant.api.get(f"/parties/{party['id']}").json()
    assert {s["stream"]: s["remote_id"] for s in record["sync"]} == {
        "contacts": "30000", "customers": "30000",
    }  # fmt: skip
    assert len(all_of(tenant, "/parties")) == 1


def test_contact_types_choose_what_is_imported_and_exported(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    yuki.sandbox.add_contact(
        yuki.domain, "Person", is_customer=True, code="10002", full_name="Jan de Boer"
    )
    connection = connect(tenant, yuki, contact_types={"person": "none"})
    activate(system, tenant, connection["id"])
    assert [p["data"]["debtor_number"] for p in all_of(tenant, "/parties")] == ["10001"]
    assert [i["key"] for i in issues(tenant, connection["id"], "contact_type_excluded")] == [
        "10002"
    ]
    tenant.api.post("/parties", json={"kind": "person", "name": "Piet Hein"})
    system.run_until_idle()
    assert len(yuki.sandbox.contacts(yuki.domain)) == 2  # the person stayed in the hub


def test_deletes_never_reach_the_other_side(system: System, tenant: Tenant, yuki: Yuki) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    assert tenant.api.delete(f"/parties/{party['id']}").status_code in (200, 204)
    system.run_until_idle()
    assert yuki.sandbox.get_contact(yuki.domain, "10001") is not None
    kept = log(tenant, connection["id"], reason="delete_not_propagated")
    assert [entry["record_id"] for entry in kept] == [party["id"]]


# ------------------------------------------------------------------ limits


def test_yukis_daily_limit_fault_postpones_the_run_to_the_next_amsterdam_day(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    for number in range(250):
        add_company(yuki, str(10001 + number), f"Klant {number}")
    connection = connect(tenant, yuki)
    yuki.sandbox.set_daily_call_limit(yuki.domain, yuki.sandbox.calls_today(yuki.domain) + 2)
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    system.run_until_idle()
    run = last_run(system, connection["id"], "import")
    assert run.status == "deferred"
    assert "daily call limit" in (run.message or "")
    assert "T00:00:00+01:00" in (run.message or "")
    assert len(all_of(tenant, "/parties")) == 200  # the pages read before the limit are kept


def test_the_engine_budgets_calls_per_domain_with_the_configured_limit(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    for number in range(250):
        add_company(yuki, str(10001 + number), f"Klant {number}")
    connection = connect(tenant, yuki, daily_call_limit=6)
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["daily_call_limit"] == 6
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["calls_used_today"] == 6
    assert last_run(system, connection["id"], "import").status == "deferred"
    assert yuki.sandbox.calls_today(yuki.domain) == 6  # nothing was sent over the budget


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


@pytest.fixture
def timed(settings: Settings, clock: ManualClock) -> Iterator[System]:
    built = System(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def timed_tenant(timed: System, hub_port: int) -> Iterator[Tenant]:
    server = ServerThread(create_app(timed), port=hub_port).start()
    created = new_tenant(timed, f"{server.url}/api/v1")
    yield created
    server.stop()


def test_an_invoice_whose_answer_was_lost_is_found_by_reference_not_sent_twice(
    timed: System,
    timed_tenant: Tenant,
    yuki: Yuki,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = timed_tenant
    connection, party = one_customer_synced(timed, tenant, yuki)
    sent = lose_first_answer(monkeypatch, "process_sales_invoices", lambda _document: "sent")
    invoice = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-030"))
    timed.run_until_idle()
    assert (
        "connection reset"
        in tenant.api.get(f"/connections/{connection['id']}").json()["last_error"]
    )
    clock.advance(timedelta(minutes=1))  # the retry is due
    timed.run_until_idle()
    assert len(sent) == 1  # never sent again
    assert [i.reference for i in yuki.sandbox.sales_invoices(yuki.seeded.administration_id)] == [
        "F2026-030"
    ]
    recovered = log(tenant, connection["id"], reason="recovered_after_ambiguous_write")
    assert [entry["record_id"] for entry in recovered] == [invoice.json()["id"]]
    assert issues(tenant, connection["id"]) == []


def lose_first_answer(
    monkeypatch: pytest.MonkeyPatch, method: str, label: Callable[[Any], str]
) -> list[str]:
    """The client's ``method`` takes effect in Yuki, but its first answer is lost on the way
    back (a lost answer cannot be made on demand on loopback, so the client is wrapped);
    answers what each call sent, as ``label`` names its document."""
    original = getattr(YukiClient, method)
    sent: list[str] = []

    def lost_answer(self: YukiClient, where: str, document: Any) -> Any:
        sent.append(label(document))
        answer = original(self, where, document)
        if len(sent) == 1:
            raise AmbiguousWrite("connection reset after the request was sent")
        return answer

    monkeypatch.setattr(YukiClient, method, lost_answer)
    return sent


def lose_first_contact_answer(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """UpdateContact takes effect in Yuki, but the first answer is lost on the way back."""
    return lose_first_answer(
        monkeypatch, "update_contact", lambda document: document.findtext(f"{{{CONTACT_NS}}}Code")
    )


def test_a_contact_whose_create_went_unanswered_is_linked_to_the_one_it_made(
    timed: System,
    timed_tenant: Tenant,
    yuki: Yuki,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = timed_tenant
    connection = connect(tenant, yuki)
    activate(timed, tenant, connection["id"])
    sent = lose_first_contact_answer(monkeypatch)
    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V."})
    timed.run_until_idle()
    clock.advance(timedelta(minutes=1))  # the retry is due
    timed.run_until_idle()

    # Its code is held in Yuki now, by the contact it made: found, not refused as taken.
    assert sent == ["20000"]
    record = tenant.api.get(f"/parties/{party.json()['id']}").json()
    assert [(s["stream"], s["remote_id"]) for s in record["sync"]] == [("contacts", "20000")]
    assert len(yuki.sandbox.contacts(yuki.domain)) == 1
    recovered = log(tenant, connection["id"], reason="recovered_after_ambiguous_write")
    assert [entry["record_id"] for entry in recovered] == [party.json()["id"]]
    assert issues(tenant, connection["id"], "debtor_number_taken") == []


def test_a_party_renumbered_after_a_refusal_is_looked_up_by_its_new_number(
    timed: System,
    timed_tenant: Tenant,
    yuki: Yuki,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = timed_tenant
    connection = connect(tenant, yuki)
    activate(timed, tenant, connection["id"])
    old = add_unimported(yuki, "20000", "Oude Relatie B.V.")
    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V."})
    timed.run_until_idle()
    assert issues(tenant, connection["id"], "debtor_number_taken") != []

    # Sent again under another number, and that answer is lost: the look-up must ask for the
    # number sent, not the one the party had first (another contact's).
    sent = lose_first_contact_answer(monkeypatch)
    tenant.api.patch(f"/parties/{party.json()['id']}", json={"debtor_number": "20050"})
    timed.run_until_idle()
    clock.advance(timedelta(minutes=1))
    timed.run_until_idle()

    assert sent == ["20050"]
    record = tenant.api.get(f"/parties/{party.json()['id']}").json()
    assert [(s["stream"], s["remote_id"]) for s in record["sync"]] == [("contacts", "20050")]
    assert yuki.sandbox.get_contact(yuki.domain, "20000") == old
    assert len(yuki.sandbox.contacts(yuki.domain)) == 2
    assert issues(tenant, connection["id"]) == []


def test_a_hub_change_leaves_the_yuki_fields_the_contact_kind_does_not_map(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(
        yuki, "10001", "Bouwbedrijf De Vries B.V.", mobile_home="06-11111111",
        email_home="eigenaar@devries.nl", first_name="Piet",
    )  # fmt: skip
    yuki.sandbox.add_contact(
        yuki.domain, "Person", is_customer=True, code="10002", full_name="Anna Jansen",
        first_name="Anna", last_name="Jansen", email_home="anna@example.nl",
        email_work="a.jansen@werk.nl", website="www.annajansen.nl", vat_number="NL001",
        coc_number="12345678", mail_city="Leiden",
    )  # fmt: skip
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    for code in ("10001", "10002"):
        party = by_number(tenant, code)
        changed = tenant.api.patch(f"/parties/{party['id']}", json={"phone": "030-2345678"})
        assert changed.status_code == 200, changed.text
    system.run_until_idle()
    company = yuki.sandbox.get_contact(yuki.domain, "10001")
    person = yuki.sandbox.get_contact(yuki.domain, "10002")
    assert company is not None and person is not None
    assert (company.phone_home, person.phone_home) == ("030-2345678", "030-2345678")
    # An organisation's mobile, private e-mail and first name are outside its table, as are a
    # person's work e-mail, website, VAT and CoC numbers and mail address: Yuki keeps them.
    assert (company.mobile_home, company.email_home, company.first_name) == (
        "06-11111111", "eigenaar@devries.nl", "Piet",
    )  # fmt: skip
    assert (person.email_work, person.website, person.vat_number, person.coc_number) == (
        "a.jansen@werk.nl", "www.annajansen.nl", "NL001", "12345678",
    )  # fmt: skip
    assert person.mail_city == "Leiden"
    assert person.email_home == "anna@example.nl"


def test_a_value_xml_cannot_carry_holds_back_its_record_only_and_says_which_field(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    add_company(yuki, "10002", "Hollandse Houthandel V.O.F.")
    connection = connect(tenant, yuki)
    activate(system, tenant, connection["id"])
    bad, good = by_number(tenant, "10001"), by_number(tenant, "10002")
    # A name pasted from another program with a vertical tab in it.
    tenant.api.patch(f"/parties/{bad['id']}", json={"name": "De Vries\x0b B.V."})
    tenant.api.patch(f"/parties/{good['id']}", json={"phone": "020-7654321"})
    body = invoice_body(good["id"], "F2026-007")
    body["lines"][0]["description"] = "Advies\x1f"
    assert tenant.api.post("/invoices", json=body).status_code == 201
    system.run_until_idle()

    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["last_error"] is None, status["last_error"]
    stored = yuki.sandbox.get_contact(yuki.domain, "10002")
    assert stored is not None and stored.phone_home == "020-7654321"
    held = {i["key"]: i["message"] for i in issues(tenant, connection["id"], "value_not_xml")}
    assert "the party's name holds the control character U+000B" in held[bad["id"]]
    [invoice_message] = [m for key, m in held.items() if key != bad["id"]]
    assert "line 1: description holds the control character U+001F" in invoice_message
    assert yuki.sandbox.sales_invoices(yuki.seeded.administration_id) == []

    tenant.api.patch(f"/parties/{bad['id']}", json={"name": "De Vries B.V."})
    system.run_until_idle()
    fixed = yuki.sandbox.get_contact(yuki.domain, "10001")
    assert fixed is not None and fixed.full_name == "De Vries B.V."
    assert bad["id"] not in {i["key"] for i in issues(tenant, connection["id"], "value_not_xml")}


def test_the_reconciliation_does_not_report_sent_invoices_missing_from_yuki(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    sent = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-001"))
    assert sent.status_code == 201, sent.text
    system.run_until_idle()
    assert len(yuki.sandbox.sales_invoices(yuki.seeded.administration_id)) == 1

    report = reconciled(system, tenant, connection["id"], "2026-11")
    # Yuki's API cannot read a booked sales invoice back: the invoice it accepted is not
    # "no longer in the accounting system", and the report says which side it did not read.
    assert report["differences"] == []
    assert report["totals"]["unread"] == ["invoices"]
    assert report["totals"]["hub"]["counts"] == {"invoices": 1}
    csv = tenant.api.get(f"/connections/{connection['id']}/reconciliations/{report['id']}.csv").text
    assert "totals,invoices (count),1,not read" in csv
    assert "totals,open amount (EUR),0,not read" in csv


def test_an_invoice_without_lines_is_held_before_any_call_and_the_others_go_in_one(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    empty = invoice_body(party["id"], "F2026-002")
    empty["lines"] = []
    for body in (invoice_body(party["id"], "F2026-001"), empty,
                 invoice_body(party["id"], "F2026-003")):  # fmt: skip
        assert tenant.api.post("/invoices", json=body).status_code == 201
    calls = yuki.calls()
    system.run_until_idle()

    # Yuki's schema refuses a whole ProcessSalesInvoices call holding an invoice without
    # lines: it is held before the call, so the other two go in one.
    assert yuki.calls() - calls == 1
    booked = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert sorted(b.reference for b in booked) == ["F2026-001", "F2026-003"]
    [held] = issues(tenant, connection["id"], "invoice_without_lines")
    assert "the invoice has no lines, and Yuki books" in held["message"]
    assert issues(tenant, connection["id"], "yuki_fault") == []


def test_the_domain_of_a_connection_with_synced_contacts_cannot_change(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    add_company(yuki, "10001", "Bouwbedrijf De Vries B.V.")
    other = yuki.sandbox.add_domain("Tweede Domein")
    second = yuki.sandbox.add_administration(other.id, "Tweede Administratie")
    yuki.sandbox.add_access_key(yuki.seeded.access_key, [yuki.domain, other.id])
    # The same relationship code is another company in the other domain.
    yuki.sandbox.add_contact(
        other.id, "Company", is_customer=True, code="10001", full_name="Andere Klant B.V."
    )
    connection = connect(tenant, yuki)
    # Before anything is synced, choosing another domain is a correction.
    moved = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"domain_id": other.id, "administration_id": second.id}},
    )
    assert moved.status_code == 200, moved.text
    back = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"domain_id": yuki.domain,
                           "administration_id": yuki.seeded.administration_id}},
    )  # fmt: skip
    assert back.status_code == 200, back.text
    activate(system, tenant, connection["id"])

    refused = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"domain_id": other.id, "administration_id": second.id}},
    )
    assert refused.status_code == 422, refused.text
    assert '"domain_id"' in refused.text and "Create another connection" in refused.text
    party = by_number(tenant, "10001")
    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "030-999"})
    system.run_until_idle()
    stranger = yuki.sandbox.get_contact(other.id, "10001")
    assert stranger is not None and stranger.phone_home != "030-999"
    mine = yuki.sandbox.get_contact(yuki.domain, "10001")
    assert mine is not None and mine.phone_home == "030-999"


def test_an_invoice_paid_before_it_was_pushed_is_still_booked_in_yuki(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    # Sent and paid at the counter: the hub records it as paid straight away.
    paid = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-010", "paid"))
    assert paid.status_code == 201, paid.text
    system.run_until_idle()
    [booked] = yuki.sandbox.sales_invoices(yuki.seeded.administration_id)
    assert booked.reference == "F2026-010"
    # An invoice sent first and marked paid in the hub afterwards changes nothing in Yuki.
    sent = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-011")).json()
    system.run_until_idle()
    tenant.api.patch(f"/invoices/{sent['id']}", json={"status": "paid"})
    system.run_until_idle()
    assert len(yuki.sandbox.sales_invoices(yuki.seeded.administration_id)) == 2
    assert issues(tenant, connection["id"]) == []


def test_an_invoice_cancelled_in_the_app_after_yuki_booked_it_says_to_credit_it(
    system: System, tenant: Tenant, yuki: Yuki
) -> None:
    connection, party = one_customer_synced(system, tenant, yuki)
    sent = tenant.api.post("/invoices", json=invoice_body(party["id"], "F2026-020")).json()
    system.run_until_idle()
    calls = yuki.calls()
    cancelled = tenant.api.patch(f"/invoices/{sent['id']}", json={"status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text
    system.run_until_idle()
    assert yuki.calls() == calls, "nothing is written"
    [held] = issues(tenant, connection["id"], "withdrawn_in_app_after_booking")
    assert held["key"] == sent["id"] and "credit it in Yuki" in held["message"]
