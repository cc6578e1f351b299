"""A record held for a record it refers to says what really holds it: "it will follow by
itself" only when the referenced record exists and is on its way; otherwise what is wrong and
what to do, with the system's own hint where the connector declares one (Yuki's Customer box).
"""

from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_yuki import Yuki, activate, invoice_body, yuki  # noqa: F401
from tests.integration.test_yuki import connect as connect_yuki
from tests.integration.test_yuki import issues as yuki_issues

FOLLOWS = "it will follow by itself"
STREAMS = streams_only("uniconta", "customers", "contacts")


def issues(tenant: Tenant, cid: str, reason: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": reason} if reason else {}
    ).json()
    return found


def connected(system: System, tenant: Tenant, uniconta: Uniconta) -> str:
    seed_debtors(uniconta.sandbox, COMPANY, count=2, seed=5)
    connection = connect(tenant, uniconta, settings={"entities": STREAMS})
    import_all(system, tenant, connection["id"])
    return str(connection["id"])


def test_a_contact_whose_debtor_is_not_in_uniconta_is_not_promised_to_follow(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connected(system, tenant, uniconta)
    contact = uniconta.sandbox.insert(
        COMPANY, "ContactClient", {"DCType": "Debtor", "DCAccount": "77777", "Name": "Ole Berg"}
    )
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    [held] = issues(tenant, cid, "contact_parent_pending")
    assert held["key"] == str(contact["RowId"])
    assert FOLLOWS not in held["message"]
    assert "customers 77777" in held["message"] and "is not in the hub" in held["message"]
    assert "if it exists in Uniconta, it comes with the next pull" in held["message"]
    assert "if it does not (deleted there), give this record an existing party" in held["message"]


def test_a_contact_whose_parent_stream_is_not_read_says_to_switch_it_on(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connected(system, tenant, uniconta)
    uniconta.sandbox.insert(COMPANY, "CreditorClient", {"Account": "50001", "Name": "Lev A/S"})
    uniconta.sandbox.insert(
        COMPANY, "ContactClient", {"DCType": "Creditor", "DCAccount": "50001", "Name": "Eva Lund"}
    )
    tenant.api.post(f"/connections/{cid}/jobs/pull")
    system.run_until_idle()
    [held] = issues(tenant, cid, "contact_parent_pending")
    assert FOLLOWS not in held["message"]
    assert "this connection does not read suppliers; switch suppliers on" in held["message"]


def test_a_hub_contact_of_a_deleted_party_says_the_party_does_not_exist(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connected(system, tenant, uniconta)
    party = tenant.api.post("/parties", json={"name": "Kortlivet ApS", "is_customer": True})
    person = tenant.api.post(
        "/contact-persons", json={"party_id": party.json()["id"], "name": "Bo Holm"}
    )
    assert person.status_code == 201, person.text
    assert tenant.api.delete(f"/parties/{party.json()['id']}").status_code == 204
    system.run_until_idle()
    [held] = issues(tenant, cid, "contact_parent_missing")
    assert held["key"] == person.json()["id"]
    assert FOLLOWS not in held["message"]
    assert "does not exist in the hub (or was deleted)" in held["message"]


def test_a_hub_contact_of_a_party_that_cannot_sync_says_why(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connected(system, tenant, uniconta)
    # A customer without a debtor number gets the next one (a webshop's customers have
    # none); a party that is neither customer nor supplier is no debtor at all.
    party = tenant.api.post("/parties", json={"name": "Uden Nummer ApS", "is_customer": True})
    prospect = tenant.api.post("/parties", json={"name": "Emne ApS"})
    for parent in (party, prospect):
        tenant.api.post("/contact-persons", json={"party_id": parent.json()["id"], "name": "Al"})
    system.run_until_idle()
    held = {i["message"] for i in issues(tenant, cid, "contact_parent_pending")}
    assert len(held) == 1 and not any(FOLLOWS in message for message in held)
    assert any("is not one of the customers or suppliers" in message for message in held)
    numbered = uniconta.sandbox.get(COMPANY, "DebtorClient", "100000")
    assert numbered is not None and numbered["Name"] == "Uden Nummer ApS"
    contacts = uniconta.sandbox.all(COMPANY, "ContactClient")
    assert [c["DCAccount"] for c in contacts if c["Name"] == "Al"] == ["100000"]


def test_a_hub_contact_whose_party_is_on_its_way_follows_by_itself(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid = connected(system, tenant, uniconta)
    party = tenant.api.post(
        "/parties", json={"name": "Ny Kunde ApS", "is_customer": True, "debtor_number": "88001"}
    )
    tenant.api.post("/contact-persons", json={"party_id": party.json()["id"], "name": "Ida"})
    system.run_until_idle()
    assert issues(tenant, cid) == []
    [row] = [c for c in uniconta.sandbox.all(COMPANY, "ContactClient") if c["Name"] == "Ida"]
    assert row["DCAccount"] == "88001"


def test_an_invoice_held_for_yukis_customer_box_says_to_tick_it(
    system: System,
    tenant: Tenant,
    yuki: Yuki,  # noqa: F811
) -> None:
    connection = connect_yuki(tenant, yuki)
    activate(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json={"name": "Nieuwe Klant B.V.", "is_customer": True})
    system.run_until_idle()
    tenant.api.post("/invoices", json=invoice_body(party.json()["id"], "F2026-009"))
    system.run_until_idle()
    [waiting] = yuki_issues(tenant, connection["id"], "yuki_contact_not_customer")
    assert FOLLOWS not in waiting["message"]
    assert "tick Customer for it in Yuki" in waiting["message"]
