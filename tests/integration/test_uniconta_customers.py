"""Customers both ways between the hub and the Uniconta sandbox, over real HTTP and a real DB."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Link, Run
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, seed


def _parties(tenant: Tenant) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        page = tenant.api.get("/parties", params=params).json()
        items.extend(page["items"])
        after = page["next"]
        if after is None:
            return items


def _last_run(system: System, connection_id: str, kind: str) -> Run:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == connection_id, Run.kind == kind)
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        return run


def test_initial_import_of_1000_debtors_then_a_second_run_changes_nothing(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 1000)
    connection = connect(tenant, uniconta)
    before = uniconta.calls()
    import_all(system, tenant, connection["id"])

    parties = _parties(tenant)
    assert len(parties) == 1000
    assert sorted(p["data"]["debtor_number"] for p in parties) == sorted(accounts)
    first = next(p for p in parties if p["data"]["debtor_number"] == accounts[0])
    debtor = uniconta.debtor(accounts[0])
    assert debtor is not None
    assert first["data"]["name"] == debtor["Name"]
    assert first["data"]["is_customer"] is True
    assert first["data"]["vat_number"] == debtor["VatNumber"]
    assert first["data"]["billing_address"]["city"] == debtor["City"]
    assert first["data"]["billing_address"]["country"] == "DK"
    run = _last_run(system, connection["id"], "import")
    assert run.counts == {"customers.created": 1000}
    progress = tenant.api.get(f"/connections/{connection['id']}").json()["import_progress"]
    assert progress["streams"] == {"customers": {"created": 1000, "total": 1000}}
    assert (progress["records_done"], progress["records_total"]) == (1000, 1000)
    assert progress["status"] == "succeeded" and progress["eta_seconds"] is None
    # A count for the progress bar, then 1,000 rows in pages of 1,000: one full page and one
    # empty page that ends the scan.
    assert run.calls == 3
    assert uniconta.calls() - before == 3

    second_before = uniconta.calls()
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()
    pull = _last_run(system, connection["id"], "pull")
    assert pull.status == "succeeded"
    assert pull.counts == {"customers.unchanged": 1000}
    assert pull.calls == 2
    assert uniconta.calls() - second_before == 2
    assert len(_parties(tenant)) == 1000


def test_hub_change_reaches_uniconta_in_one_job_and_does_not_echo(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 20)
    connection = connect(tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    import_all(system, tenant, connection["id"])
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[5])
    untouched = uniconta.debtor(accounts[5])
    assert untouched is not None

    changed = tenant.api.patch(
        f"/parties/{party['id']}",
        json={"phone": "+45 70 20 30 40", "website": "https://nordlys.example"},
    )
    assert changed.status_code == 200, changed.text
    version = changed.json()["version"]

    queued = [j.kind for j in system.queue.list(statuses=["queued"])]
    assert queued == ["push"]
    assert system.worker.run_once()  # one job: the push
    debtor = uniconta.debtor(accounts[5])
    assert debtor is not None
    assert debtor["Phone"] == "+45 70 20 30 40"
    assert debtor["Www"] == "https://nordlys.example"
    # Fields the hub does not carry survived the full-entity update.
    for field in ("Group", "Payment", "PriceGroup", "VatZone"):
        assert debtor.get(field) == untouched.get(field)

    # Uniconta calls back for our own write: recognised as an echo, nothing changes.
    uniconta.sandbox.wait_for_callbacks()
    assert [j.kind for j in system.queue.list(statuses=["queued"])] == ["inbox"]
    calls = uniconta.calls()
    system.run_until_idle()
    after = tenant.api.get(f"/parties/{party['id']}").json()
    assert after["version"] == version
    echoes = tenant.api.get(
        f"/connections/{connection['id']}/sync-log",
        params={"outcome": "unchanged", "reason": "echo"},
    ).json()
    assert [e["remote_id"] for e in echoes] == [accounts[5]]
    assert uniconta.calls() - calls == 1  # the callback's one read, and no write


def test_uniconta_change_arrives_through_the_change_url_and_does_not_echo(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 20)
    connection = connect(tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    import_all(system, tenant, connection["id"])

    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[3], {"City": "Skagen"})
    uniconta.sandbox.wait_for_callbacks()
    calls = uniconta.calls()
    system.run_until_idle()

    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[3])
    assert party["data"]["billing_address"]["city"] == "Skagen"
    assert party["origin"] == f"connection:{connection['id']}"
    # One read for the callback; the hub change it caused is not pushed back.
    assert uniconta.calls() - calls == 1
    log = tenant.api.get(
        f"/connections/{connection['id']}/sync-log", params={"outcome": "updated"}
    ).json()
    assert [(e["direction"], e["remote_id"]) for e in log] == [("inbound", accounts[3])]


def test_uniconta_change_with_post_body_needs_no_read(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 5)
    connection = connect(tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"], post_body=True)
    import_all(system, tenant, connection["id"])

    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[0], {"Name": "Nordlys Træ A/S"})
    uniconta.sandbox.wait_for_callbacks()
    calls = uniconta.calls()
    system.run_until_idle()
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[0])
    assert party["data"]["name"] == "Nordlys Træ A/S"
    assert uniconta.calls() == calls


def test_uniconta_change_arrives_through_the_pull_when_callbacks_are_off(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 30)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[7], {"ContactEmail": "ny@kunde.dk"})
    uniconta.sandbox.insert(
        COMPANY, "DebtorClient", {"Account": "99001", "Name": "Ny Kunde ApS", "Country": "Denmark"}
    )

    tenant.api.post(f"/connections/{connection['id']}/jobs/pull")
    calls = uniconta.calls()
    system.run_until_idle()
    by_number = {p["data"]["debtor_number"]: p for p in _parties(tenant)}
    assert by_number[accounts[7]]["data"]["email"] == "ny@kunde.dk"
    assert by_number["99001"]["data"]["name"] == "Ny Kunde ApS"
    assert len(by_number) == 31
    assert uniconta.calls() - calls == 1  # 31 rows fit one page; the pull writes nothing


def test_new_hub_customer_is_created_in_uniconta_and_supplier_only_party_is_not(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    customer = tenant.api.post(
        "/parties",
        json={
            "name": "Fjordbyen Bageri ApS",
            "is_customer": True,
            "debtor_number": "70001",
            "vat_number": "DK13585628",
            "billing_address": {
                "line1": "Havnegade 4",
                "postal_code": "5000",
                "city": "Odense",
                "country": "DK",
            },
        },
    )
    assert customer.status_code == 201, customer.text
    supplier = tenant.api.post("/parties", json={"name": "Papir A/S", "is_supplier": True})
    assert supplier.status_code == 201
    system.run_until_idle()

    debtor = uniconta.debtor("70001")
    assert debtor is not None
    assert debtor["Name"] == "Fjordbyen Bageri ApS"
    assert debtor["VatNumber"] == "DK13585628"
    assert debtor["Country"] == "Denmark"
    assert len(uniconta.sandbox.all(COMPANY, "DebtorClient")) == 4
    record = tenant.api.get(f"/parties/{customer.json()['id']}").json()
    assert record["sync"] == [
        {
            "connection_id": connection["id"],
            "system": "uniconta",
            "stream": "customers",
            "remote_id": "70001",
            "url": None,
            "issue": None,
        }
    ]


def test_customers_without_a_debtor_number_get_the_next_ones_imported_keep_theirs(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A webshop's customers come without a number: the hub hands out 100000, 100001, … from
    settings.debtor_numbers; debtors imported from Uniconta keep theirs."""
    accounts = seed(uniconta, 2)
    connection = connect(tenant, uniconta)
    assert connection["settings"]["debtor_numbers"] == {"next": 100000, "prefix": ""}
    import_all(system, tenant, connection["id"])
    ids = [
        tenant.api.post("/parties", json={"name": name, "is_customer": True}).json()["id"]
        for name in ("Webkunde Et", "Webkunde To")
    ]
    system.run_until_idle()

    numbers = [tenant.api.get(f"/parties/{i}").json()["data"]["debtor_number"] for i in ids]
    assert numbers == ["100000", "100001"]
    assert [uniconta.debtor(n)["Name"] for n in numbers] == ["Webkunde Et", "Webkunde To"]  # type: ignore[index]
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["settings"]["debtor_numbers"] == {"next": 100002, "prefix": ""}
    imported = {p["data"]["debtor_number"] for p in _parties(tenant)} - set(numbers)
    assert imported == set(accounts)


def test_existing_hub_customer_is_linked_by_debtor_number_not_duplicated(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 10)
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[2], {"Www": None})
    existing = tenant.api.post(
        "/parties",
        json={
            "name": "Old CRM name",
            "is_customer": True,
            "debtor_number": accounts[2],
            "website": "https://crm-only.example",
        },
    ).json()
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    system.run_until_idle()

    parties = _parties(tenant)
    assert len(parties) == 10
    merged = next(p for p in parties if p["id"] == existing["id"])
    debtor = uniconta.debtor(accounts[2])
    assert debtor is not None
    assert merged["data"]["name"] == debtor["Name"]
    assert len(uniconta.sandbox.all(COMPANY, "DebtorClient")) == 10
    # On first match Uniconta's values win where it has one; the CRM's website, which
    # Uniconta lacked, goes out on the first push.
    assert debtor["Www"] == "https://crm-only.example"


def test_concurrent_changes_on_both_sides_merge_field_by_field(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[1])

    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"Phone": "+45 11 22 33 44"})
    tenant.api.patch(f"/parties/{party['id']}", json={"email": "faktura@example.dk"})
    system.run_until_idle()

    debtor = uniconta.debtor(accounts[1])
    assert debtor is not None
    assert debtor["ContactEmail"] == "faktura@example.dk"
    assert debtor["Phone"] == "+45 11 22 33 44"
    record = tenant.api.get(f"/parties/{party['id']}").json()
    assert record["data"]["phone"] == "+45 11 22 33 44"
    assert record["data"]["email"] == "faktura@example.dk"


def test_deleting_in_the_hub_never_deletes_in_uniconta(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[0])
    assert tenant.api.delete(f"/parties/{party['id']}").status_code == 204
    system.run_until_idle()
    assert uniconta.debtor(accounts[0]) is not None
    log = tenant.api.get(
        f"/connections/{connection['id']}/sync-log", params={"reason": "delete_not_propagated"}
    ).json()
    assert [e["record_id"] for e in log] == [party["id"]]
    with system.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Link)) == 3
        assert (
            session.scalar(sa.select(HubRecord.deleted).where(HubRecord.id == party["id"])) is True
        )


def test_invalid_remote_record_is_skipped_then_retried_on_request(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 4)
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK11111111"})
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])

    issues = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert [(i["key"], i["reason"]) for i in issues] == [(accounts[1], "invalid_remote_data")]
    assert "vat_number" in issues[0]["message"]
    assert len(_parties(tenant)) == 3

    # Fixed in Uniconta while nothing tells us (callbacks off); the user asks for a retry.
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK13585628"})
    retry = tenant.api.post(f"/connections/{connection['id']}/jobs/retry")
    assert retry.status_code == 202
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []
    assert len(_parties(tenant)) == 4


def test_inbound_only_direction_keeps_hub_changes_out_of_uniconta(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 2)
    connection = connect(
        tenant, uniconta, settings={"entities": {"customers": {"direction": "inbound"}}}
    )
    import_all(system, tenant, connection["id"])
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[0])
    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "+45 99 99 99 99"})
    calls = uniconta.calls()
    system.run_until_idle()
    debtor = uniconta.debtor(accounts[0])
    assert debtor is not None and debtor.get("Phone") != "+45 99 99 99 99"
    assert uniconta.calls() == calls
    bad = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"entities": {"customers": {"direction": "sideways"}}}},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == [
        "body",
        "settings",
        "entities",
        "customers",
        "direction",
    ]


def test_debtor_deleted_in_uniconta_stays_in_the_hub(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    import_all(system, tenant, connection["id"])
    uniconta.sandbox.delete(COMPANY, "DebtorClient", accounts[2])
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    assert len(_parties(tenant)) == 3
    log = tenant.api.get(
        f"/connections/{connection['id']}/sync-log", params={"reason": "delete_not_propagated"}
    ).json()
    assert [(e["direction"], e["remote_id"]) for e in log] == [("inbound", accounts[2])]


def test_callback_with_a_wrong_token_is_refused_and_stores_nothing(
    system: System, tenant: Tenant, uniconta: Uniconta, hub: str
) -> None:
    connection = connect(tenant, uniconta)
    wrong = connection["change_url"].rsplit("/", 1)[0] + "/not-the-token"
    response = httpx.get(wrong, params={"Table": "Debtor", "Key": "1", "Operation": "Insert"})
    assert response.status_code == 404
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert status["pending_callbacks"] == 0


def test_a_person_with_only_a_postal_address_reaches_the_debtor_and_comes_back_billing(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A person has one address, the hub's billing address; an app that gives it as the
    postal address (as Qonto's clients and some shops do) still has it on the debtor, and the
    debtor's address reads back as that one address, as Yuki's and Qonto's do."""
    seed(uniconta, 1)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    postal = {"line1": "Vestergade 12", "postal_code": "8000", "city": "Aarhus", "country": "DK"}
    person = tenant.api.post("/parties", json={
        "kind": "person", "name": "Jens Hansen", "first_name": "Jens", "last_name": "Hansen",
        "is_customer": True, "debtor_number": "71001", "postal_address": postal,
    })  # fmt: skip
    assert person.status_code == 201, person.text
    system.run_until_idle()

    debtor = uniconta.debtor("71001")
    assert debtor is not None
    got = {k: debtor.get(k) for k in ("Address1", "ZipCode", "City", "Country")}
    assert got == {"Address1": "Vestergade 12", "ZipCode": "8000", "City": "Aarhus",
                   "Country": "Denmark"}  # fmt: skip
    record = tenant.api.get(f"/parties/{person.json()['id']}").json()
    assert record["sync"][0]["issue"] is None

    # The person moves in Uniconta: the debtor's address comes back as the billing address,
    # the one every connector sends a person's address from.
    uniconta.sandbox.update(COMPANY, "DebtorClient", "71001", {
        "Address1": "Nørregade 3", "ZipCode": "7100", "City": "Vejle",
    })  # fmt: skip
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()
    data = tenant.api.get(f"/parties/{person.json()['id']}").json()["data"]
    assert data["kind"] == "person"
    assert {k: data["billing_address"][k] for k in ("line1", "postal_code", "city", "country")} == {
        "line1": "Nørregade 3",
        "postal_code": "7100",
        "city": "Vejle",
        "country": "DK",
    }

    # A later change in the hub sends the new address, not the postal one the app first gave.
    changed = tenant.api.patch(f"/parties/{person.json()['id']}", json={"phone": "+45 20 30 40 50"})
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    debtor = uniconta.debtor("71001")
    assert debtor is not None and debtor["Phone"] == "+45 20 30 40 50"
    assert (debtor["Address1"], debtor["City"]) == ("Nørregade 3", "Vejle")


def test_a_person_with_only_a_billing_address_reaches_the_debtor(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    billing = {"line1": "Algade 1", "postal_code": "4000", "city": "Roskilde", "country": "DK"}
    person = tenant.api.post("/parties", json={
        "kind": "person", "name": "Mette Holm", "is_customer": True, "debtor_number": "71002",
        "billing_address": billing,
    })  # fmt: skip
    assert person.status_code == 201, person.text
    system.run_until_idle()
    debtor = uniconta.debtor("71002")
    assert debtor is not None
    assert (debtor["Address1"], debtor["ZipCode"], debtor["City"], debtor["Country"]) == (
        "Algade 1", "4000", "Roskilde", "Denmark",
    )  # fmt: skip


def test_a_debtor_deleted_in_uniconta_is_not_recreated_and_the_issue_says_what_to_do(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A debtor deleted in Uniconta and then changed in the app: nothing is recreated, the
    issue says to dismiss it (deleted on purpose) or to make it again (by mistake); made
    again, the debtor is back under its number with the app's values."""
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    cid = connection["id"]
    import_all(system, tenant, cid)
    party = next(p for p in _parties(tenant) if p["data"]["debtor_number"] == accounts[1])
    deleted = uniconta.debtor(accounts[1])
    assert deleted is not None
    uniconta.sandbox.delete(COMPANY, "DebtorClient", accounts[1])

    changed = tenant.api.patch(f"/parties/{party['id']}", json={"phone": "+45 70 11 22 33"})
    assert changed.status_code == 200, changed.text
    system.run_until_idle()
    assert uniconta.debtor(accounts[1]) is None, "a deleted debtor is never recreated"
    issues = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": "remote_record_missing"}
    ).json()
    assert [i["record_id"] for i in issues] == [party["id"]]
    message = issues[0]["message"]
    assert f"Uniconta debtor {accounts[1]} no longer exists" in message
    assert "dismiss this issue" in message and "Make again" in message

    retried = tenant.api.post(
        f"/connections/{cid}/issues/retry",
        json={"reason": "remote_record_missing", "recreate": True},
    )
    assert retried.status_code in (200, 202), retried.text
    system.run_until_idle()
    again = uniconta.debtor(accounts[1])
    assert again is not None and again["Phone"] == "+45 70 11 22 33"
    assert again["Name"] == deleted["Name"]
    left = tenant.api.get(f"/connections/{cid}/issues").json()
    assert [i for i in left if i["reason"] == "remote_record_missing"] == []
