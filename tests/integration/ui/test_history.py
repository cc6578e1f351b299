"""The history of a record, through ``GET /{records}/{id}/history`` and the record page: each
version with its field changes and who made it (the app's key, a connection's sync and run, a
route's flow), each write to each system with its run, outcome and remote id, and skips with
their reasons. The hub on loopback over a real database, the Uniconta sandbox and a WooCommerce
sandbox shop."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_debtors, seed_products
from ledgerbridge.services import history as history_service
from ledgerbridge.store.tables.hub import Change, HubRecord
from ledgerbridge.store.tables.tenancy import ApiKey
from tests.integration.conftest import (
    COMPANY,
    Tenant,
    Uniconta,
    connect,
    import_all,
    new_tenant,
)
from tests.integration.test_uniconta_integration import VAT, full, party_by_number
from tests.integration.ui.conftest import Web, text_of
from tests.integration.webshop_fixtures import Webshop, webshop, woo

__all__ = ["webshop", "woo"]


@dataclass
class Books:
    cid: str
    accounts: list[str]
    item: str


@pytest.fixture
def books(system: System, tenant: Tenant, uniconta: Uniconta) -> Books:
    """Uniconta connected and imported, invoices posted."""
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=21)
    seed_products(uniconta.sandbox, COMPANY, count=6, seed=21)
    connection = connect(tenant, uniconta, settings=full(post_invoices=True, vat_mapping=VAT))
    import_all(system, tenant, connection["id"])
    item = next(i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i.get("Vat") == "S25")
    return Books(connection["id"], accounts, item["Item"])


def words(page: httpx.Response) -> str:
    """What a person reads on the page, entities decoded."""
    assert page.status_code == 200, page.text
    return html.unescape(text_of(page.text))


def push(system: System, tenant: Tenant, cid: str) -> None:
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()


def history(tenant: Tenant, path: str) -> dict[str, Any]:
    response = tenant.api.get(f"{path}/history")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def key_id(system: System, tenant: Tenant) -> str:
    with system.sessions() as session:
        return session.scalars(
            sa.select(ApiKey.id).where(ApiKey.tenant_id == tenant.tenant_id)
        ).one()


def new_invoice(tenant: Tenant, books: Books) -> str:
    party = party_by_number(tenant, "debtor_number", books.accounts[0])
    body = {
        "party_id": party["id"], "date": "2026-11-20", "payment_term_days": 14,
        "currency": "DKK", "status": "sent",
        "lines": [{"sku": books.item, "description": "Timer", "quantity": "3",
                   "unit_price": "850", "vat_code": "DK25"}],
    }  # fmt: skip
    created = tenant.api.post("/invoices", json=body)
    assert created.status_code == 201, created.text
    record_id: str = created.json()["id"]
    return record_id


def test_a_customer_made_in_uniconta_names_its_one_step_as_uniconta_does(
    system: System, tenant: Tenant, books: Books
) -> None:
    """A one-step create is named after the record it writes: a debtor, not the stream."""
    body = {"kind": "organisation", "name": "Fjordlys ApS", "is_customer": True}
    made = tenant.api.post("/parties", json=body)
    assert made.status_code == 201, made.text
    push(system, tenant, books.cid)
    [create] = history(tenant, f"/parties/{made.json()['id']}")["creates"]
    assert create["status"] == "done", create
    assert set(create["step_labels"].values()) == {"debtor"}, create


def test_an_invoice_shows_its_creation_its_posting_and_a_later_date_change(
    system: System, tenant: Tenant, books: Books, web: Web
) -> None:
    record_id = new_invoice(tenant, books)
    push(system, tenant, books.cid)
    assert (
        tenant.api.patch(f"/invoices/{record_id}", json={"date": "2026-11-22"}).status_code == 200
    )
    push(system, tenant, books.cid)

    found = history(tenant, f"/invoices/{record_id}")
    number = tenant.api.get(f"/invoices/{record_id}").json()["data"]["number"]
    created, *later = found["versions"]
    by_key = f"key:{key_id(system, tenant)}"
    assert created["operation"] == "created" and created["version"] == 1
    assert created["by"]["kind"] == "app" and created["by"]["actor"] == by_key
    assert "owner@nordlyshandel.example" in created["by"]["name"]
    assert {"field": "date", "before": None, "after": "2026-11-20"} in created["changes"]
    # What Uniconta assigned on posting came back in by the push's run.
    assigned = next(v for v in later if v["by"]["kind"] == "connection")
    assert assigned["by"]["connection_id"] == books.cid and assigned["by"]["run_id"]
    assert {"field": "number", "before": None, "after": number} in assigned["changes"]
    # The date change: one field, before and after, by the app's key.
    [moved] = [v for v in later if any(c["field"] == "date" for c in v["changes"])]
    assert moved["by"]["actor"] == by_key
    assert moved["changes"] == [{"field": "date", "before": "2026-11-20", "after": "2026-11-22"}]

    outbound = [w for w in found["writes"] if w["direction"] == "outbound"]
    assert [(w["outcome"], w["remote_id"], w["run_kind"]) for w in outbound] == [
        ("created", number, "push"),
        ("updated", number, "push"),
    ]
    assert outbound[0]["run_id"] != outbound[1]["run_id"]
    assert outbound[1]["at"] >= moved["at"], "the date change was written after it was made"
    [create] = found["creates"]
    assert create["status"] == "done" and create["remote_id"] == number
    assert create["steps"] == {
        "items": "done",
        "order": "done",
        "lines": "done",
        "post": "done",
        "read": "done",
    }
    assert create["step_labels"] == {
        "items": "invoice's items",
        "order": "sales order",
        "lines": "order lines",
        "post": "invoicing of the sales order",
        "read": "reading of the posted invoice",
    }, "the words Uniconta's refusals of each step use"

    page = web.get(f"/ui/records/{record_id}")
    assert page.status_code == 200
    text = words(page)
    assert "Version 1: Created by API key" in text
    assert "Changed by Uniconta (sync from the system)" in text
    assert "Date 2026-11-20 2026-11-22" in text
    assert f"Created written to Uniconta invoices · push · remote id {number}" in text
    assert f"Updated written to Uniconta invoices · push · remote id {number}" in text
    assert f'/ui/connections/{books.cid}/activity/runs/{outbound[1]["run_id"]}"' in page.text
    for step in (
        "invoice's items", "sales order", "order lines", "invoicing of the sales order",
        "reading of the posted invoice",
    ):  # fmt: skip
        assert f"{step}: done" in text
    assert "post: done" not in text and "read: done" not in text, "no internal step names"


def test_a_party_changed_in_uniconta_is_attributed_to_the_connection(
    system: System, tenant: Tenant, books: Books, uniconta: Uniconta, web: Web
) -> None:
    party = party_by_number(tenant, "debtor_number", books.accounts[1])
    city = party["data"]["billing_address"]["city"]
    uniconta.sandbox.update(COMPANY, "DebtorClient", books.accounts[1], {"City": "Vejle"})
    assert tenant.api.post(f"/connections/{books.cid}/jobs/pull").status_code == 202
    system.run_until_idle()

    found = history(tenant, f"/parties/{party['id']}")
    imported, changed = found["versions"]
    assert imported["by"]["kind"] == changed["by"]["kind"] == "connection"
    assert changed["by"]["connection_id"] == books.cid and changed["by"]["name"] == "Uniconta"
    assert changed["changes"] == [
        {"field": "billing_address.city", "before": city, "after": "Vejle"}
    ]
    runs = {w["run_id"]: w for w in found["writes"] if w["direction"] == "inbound"}
    assert [w["outcome"] for w in runs.values()] == ["created", "updated"]
    assert runs[changed["by"]["run_id"]]["outcome"] == "updated", "the change names its run"
    assert runs[changed["by"]["run_id"]]["remote_id"] == books.accounts[1]

    text = words(web.get(f"/ui/records/{party['id']}"))
    assert "Version 2: Changed by Uniconta (sync from the system) · run" in text
    assert f"Billing address.city {city} Vejle" in text
    assert f"Updated read from Uniconta customers · pull · remote id {books.accounts[1]}" in text


def test_skips_show_with_their_reasons(
    system: System, tenant: Tenant, books: Books, uniconta: Uniconta, web: Web
) -> None:
    product = tenant.api.get("/products").json()["items"][0]
    assert (
        tenant.api.patch(f"/products/{product['id']}", json={"name": "Omdøbt"}).status_code == 200
    )
    push(system, tenant, books.cid)

    found = history(tenant, f"/products/{product['id']}")
    [skip] = [w for w in found["writes"] if w["outcome"] == "skipped"]
    assert skip["direction"] == "outbound" and skip["reason"] == "product_master_is_uniconta"
    assert skip["remote_id"] == product["sync"][0]["remote_id"] and skip["run_kind"] == "push"
    text = words(web.get(f"/ui/records/{product['id']}"))
    assert "Skipped written to Uniconta products" in text
    assert "product_master_is_uniconta Uniconta is master for this item" in text

    # A linked customer Uniconta now sends without a name: skipped on the way in.
    party = party_by_number(tenant, "debtor_number", books.accounts[2])
    uniconta.sandbox.update(COMPANY, "DebtorClient", books.accounts[2], {"Name": ""})
    assert tenant.api.post(f"/connections/{books.cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    found = history(tenant, f"/parties/{party['id']}")
    [inbound] = [w for w in found["writes"] if w["outcome"] == "skipped"]
    assert inbound["direction"] == "inbound" and inbound["reason"] == "name_missing"
    assert inbound["remote_id"] == books.accounts[2] and inbound["run_kind"] == "pull"
    assert len(found["versions"]) == 1, "nothing of the skipped change reached the hub"


def test_an_order_and_its_invoice_show_the_flow(webshop: Webshop, web: Web) -> None:
    tenant = webshop.tenant
    order = webshop.order("mette", [("KAF-500", 1)])
    webshop.settle()
    number = webshop.invoice(order)["InvoiceNumber"]
    [hub_order] = [
        o
        for o in tenant.api.get("/orders", params={"limit": 1000}).json()["items"]
        if o["data"]["number"] == order["number"]
    ]
    found = history(tenant, f"/orders/{hub_order['id']}")
    [flow] = [w for w in found["writes"] if w["direction"] == "flow"]
    invoice_id = flow["derived_record_id"]
    assert flow["outcome"] == "created" and invoice_id
    assert found["versions"][0]["by"]["connection_id"] == webshop.shop_id

    derived = history(tenant, f"/invoices/{invoice_id}")
    made = derived["versions"][0]
    assert made["by"]["kind"] == "flow" and made["by"]["route_id"] == webshop.route["id"]
    assert made["by"]["run_id"] == flow["run_id"]
    [source] = [w for w in derived["writes"] if w["direction"] == "flow"]
    assert source["source_record_id"] == hub_order["id"]
    posted = [w for w in derived["writes"] if w["direction"] == "outbound"]
    assert (posted[0]["outcome"], posted[0]["remote_id"]) == ("created", str(number))

    text = words(web.get(f"/ui/records/{invoice_id}"))
    assert "Version 1: Created by a route's flow · run" in text
    assert f"Created flow in Webshop orders · commerce flow · from record {hub_order['id']}" in text
    order_page = web.get(f"/ui/records/{hub_order['id']}").text
    assert f'href="/ui/records/{invoice_id}"' in order_page


def test_history_is_404_for_another_entity_or_tenant_and_outlives_a_delete(
    system: System, hub: str, tenant: Tenant, books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_id = new_invoice(tenant, books)
    for n in range(3):
        note = {"notes": f"note {n}"}
        assert tenant.api.patch(f"/invoices/{record_id}", json=note).status_code == 200
    monkeypatch.setattr(history_service, "LIMIT", 2)
    shown = history(tenant, f"/invoices/{record_id}")["versions"]
    assert [v["version"] for v in shown] == [1, 3, 4], "the creation, then the latest"
    assert tenant.api.get(f"/parties/{record_id}/history").status_code == 404
    other = new_tenant(system, hub, "Andet Firma")
    assert other.api.get(f"/invoices/{record_id}/history").status_code == 404
    other.api.close()
    assert tenant.api.get("/invoices/no-such-id/history").status_code == 404
    assert tenant.api.delete(f"/invoices/{record_id}").status_code == 204
    deleted = history(tenant, f"/invoices/{record_id}")
    assert deleted["deleted"] and deleted["versions"][-1]["operation"] == "deleted"
    with system.sessions() as session:
        diffs = session.scalars(sa.select(Change.diff).where(Change.record_id == record_id)).all()
    assert diffs[-1] is None, "a delete changes no field"


def test_a_record_of_a_kind_the_list_does_not_show_leads_back_to_records(
    system: System, webshop: Webshop, web: Web
) -> None:
    """Refunds (like payouts and stock levels) have a page but no list of their own: the
    breadcrumb leads to Records instead of a list that would be refused."""
    order = webshop.order("mette", [("KOP-01", 1)])
    webshop.settle()
    webshop.shop.create_refund(order["id"], {"amount": "50.00", "reason": "Forsinket"})
    webshop.settle()
    with system.sessions() as session:
        record_id = session.scalars(
            sa.select(HubRecord.id).where(
                HubRecord.tenant_id == webshop.tenant.tenant_id, HubRecord.entity == "refund"
            )
        ).first()
    assert record_id, "the refund is in the hub"
    page = web.get(f"/ui/records/{record_id}")
    assert page.status_code == 200
    crumbs = page.text.split('class="breadcrumb"', 1)[1].split("</nav>", 1)[0]
    links = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', crumbs)]
    assert links, "the breadcrumb links back"
    for link in links:
        assert web.get(link).status_code == 200, link
    assert "Refund" in crumbs
