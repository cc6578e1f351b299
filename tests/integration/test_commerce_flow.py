"""Orders written through the hub API, a route to Uniconta, and the flow between: parties and
invoices in the hub, then debtors and orders or invoices in the Uniconta sandbox on loopback,
on the real System and database."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.commerce.config import CommercePolicy
from ledgerbridge.engine.fence import RunFenced, begin_fenced_run, fenced
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.runtime.flows import FlowRun
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import QontoSandbox
from ledgerbridge.sandbox.uniconta import seed_products
from ledgerbridge.sandbox.uniconta.seed_commerce import WEBSHOP_PAYMENT_TERMS
from ledgerbridge.store.tables.flows import DerivedRecord, FlowCursor, Route
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_file_import import ORDERS_MAPPING, files_connection, save_mapping
from tests.integration.test_qonto import Qonto, start
from tests.integration.test_qonto import connect as connect_qonto
from tests.integration.test_qonto import import_all as import_qonto

VAT = {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25", "K25": "DK25K", "X99": "X"}
STREAMS = ("customers", "products", "invoices")
POLICY = {"refund_item": None, "payment_methods": {"stripe": {"payment_term": "Kort",
          "registered_as_paid": True}, "bacs": {"payment_term": "Netto 8"}}}  # fmt: skip


def with_card_term(uniconta: Uniconta) -> None:
    """The card payment term ``POLICY`` names, which a new company lacks: a route naming a
    term Uniconta does not have is refused when saved."""
    uniconta.sandbox.load(COMPANY, "PaymentTermClient", WEBSHOP_PAYMENT_TERMS[:1])


@pytest.fixture
def qonto() -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=4))


@pytest.fixture
def shop(system: System, tenant: Tenant, uniconta: Uniconta) -> dict[str, Any]:
    """Uniconta with products, the card payment term the policy names and France's OSS code,
    imported, and a route from the hub API (the shop app) to it."""
    items = seed_products(uniconta.sandbox, COMPANY, count=4, seed=5)
    with_card_term(uniconta)
    uniconta.sandbox.load(COMPANY, "GLVatClient", [
        {"Vat": "U_FR20", "Name": "OSS Frankrig 20%", "VatType": "Sales", "Rate": 20,
         "VatCountry": "France", "MOSSType": "OSS"}])  # fmt: skip
    item = next(
        i for i in uniconta.sandbox.all(COMPANY, "InvItemClient")
        if i["Item"] in items and i.get("Vat") == "S25"
    )  # fmt: skip
    connection = connect(tenant, uniconta, settings={
        "entities": {s: {"enabled": True} for s in STREAMS}, "vat_mapping": VAT,
        "post_invoices": True})  # fmt: skip
    import_all(system, tenant, connection["id"])
    route = tenant.api.post(
        "/routes",
        json={"source": "app", "target": connection["id"], "entities": ["party"],
              "commerce": {"policy": POLICY, "rules": {}}},
    )  # fmt: skip
    assert route.status_code == 201, route.text
    return {"connection": connection, "route": route.json(), "sku": item["Item"]}


def order_body(sku: str, **fields: Any) -> dict[str, Any]:
    """A paid card order of one item and shipping to a Danish consumer."""
    return {
        "source_id": "5001",
        "number": "5001",
        "state": "processing",
        "created_at": "2026-11-20T10:00:00+01:00",
        "paid_at": "2026-11-20T10:01:00+01:00",
        "currency": "DKK",
        "lines": [
            {"source_id": "1", "kind": "item", "sku": sku, "description": "Kaffekrus",
             "quantity": "2", "unit_price": "100.00", "tax_rate": "25",
             "net_amount": "200.00", "tax_amount": "50.00"},
            {"source_id": "2", "kind": "shipping", "description": "GLS",
             "quantity": "1", "unit_price": "39.00", "tax_rate": "25",
             "net_amount": "39.00", "tax_amount": "9.75"},
        ],
        "total": "298.75",
        "total_tax": "59.75",
        "payment_method": {"code": "stripe", "title": "Kort"},
        "billing_address": {"line1": "Havnegade 1", "postal_code": "8000", "city": "Aarhus C",
                            "country": "DK"},
        "customer": {"email": "karen@kunde.dk", "name": "Karen Kunde"},
        **fields,
    }  # fmt: skip


def items(tenant: Tenant, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(path, params={"limit": 1000}).json()["items"]
    return found


def derived(system: System, tenant: Tenant, route_id: str) -> list[dict[str, Any]]:
    """The invoices and credit notes the route's flow made, as the hub API shows them (their
    origin becomes Uniconta's once it answers with the booked invoice's number)."""
    with system.sessions() as session:
        ids = set(
            session.scalars(
                sa.select(DerivedRecord.derived_record_id).where(
                    DerivedRecord.route_id == route_id,
                    DerivedRecord.role.in_(("invoice", "credit_note")),
                )
            )
        )
    return [r for r in items(tenant, "/invoices") if r["id"] in ids]


def uniconta_documents(uniconta: Uniconta) -> list[dict[str, Any]]:
    """The order's trace in Uniconta: posted invoices and orders not posted (yet)."""
    return [
        *uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient"),
        *uniconta.sandbox.all(COMPANY, "DebtorOrderClient"),
    ]


def test_api_order_becomes_party_and_invoice_in_the_hub_and_in_uniconta(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    posted = tenant.api.post("/orders", json=order_body(shop["sku"]))
    assert posted.status_code == 201, posted.text
    system.run_until_idle()

    invoices = derived(system, tenant, shop["route"]["id"])
    assert len(invoices) == 1
    invoice = invoices[0]["data"]
    assert invoice["reference"] == "5001"
    assert invoice["payment_term"] == "Kort"
    assert [line["vat_code"] for line in invoice["lines"]] == ["U25", "U25"]
    party = tenant.api.get(f"/parties/{invoice['party_id']}").json()
    assert party["origin"] in (
        f"flow:{shop['route']['id']}",
        f"connection:{shop['connection']['id']}",
    )
    assert party["data"]["email"] == "karen@kunde.dk"
    assert party["data"]["customer_group"] == "PRIV"

    debtors = [
        d for d in uniconta.sandbox.all(COMPANY, "DebtorClient") if d.get("Name") == "Karen Kunde"
    ]
    assert len(debtors) == 1
    documents = uniconta_documents(uniconta)
    assert len(documents) == 1
    assert documents[0]["Account"] == debtors[0]["Account"]


def test_same_order_posted_again_and_updated_five_times_is_one_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    body = order_body(shop["sku"], state="pending", paid_at=None)
    record = tenant.api.post("/orders", json=body).json()
    system.run_until_idle()
    assert derived(system, tenant, shop["route"]["id"]) == []
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i["reason"] for i in issues if i["stream"] == "orders"] == ["state_not_triggering"]
    # Keyed by the order number, the issue names (and the web UI links) the hub order.
    [waiting] = [i for i in issues if i["stream"] == "orders"]
    assert (waiting["key"], waiting["record_id"]) == ("5001", record["id"])

    for state in ("on-hold", "processing", "completed", "completed", "processing"):
        changed = order_body(shop["sku"], state=state, note=f"now {state}")
        if state != "on-hold":
            changed["paid_at"] = "2026-11-20T10:30:00+01:00"
        else:
            changed["paid_at"] = None
        response = tenant.api.put(f"/orders/{record['id']}", json=changed)
        assert response.status_code == 200, response.text
        system.run_until_idle()
    again = tenant.api.post("/orders", json=order_body(shop["sku"]))
    assert again.status_code == 201, again.text
    system.run_until_idle()

    invoices = derived(system, tenant, shop["route"]["id"])
    assert len(invoices) == 1
    assert invoices[0]["data"]["notes"] == "now processing"  # booked at its first paid state
    assert len(uniconta_documents(uniconta)) == 1
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []
    with system.sessions() as session:
        rows = session.query(DerivedRecord).filter_by(role="invoice").all()
        assert [(row.source_record_id, row.state) for row in rows] == [("order:5001", "paid")]


def test_an_order_cancelled_before_it_was_paid_closes_its_waiting_issue(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """A pending order waits as an issue; cancelled unpaid, nothing will ever be booked, so the
    issue closes and the log says why (no one has anything to do)."""
    record = tenant.api.post("/orders", json=order_body(shop["sku"], state="pending",
                                                        paid_at=None)).json()  # fmt: skip
    system.run_until_idle()
    path = f"/connections/{shop['connection']['id']}/issues"
    assert [i["reason"] for i in tenant.api.get(path).json() if i["stream"] == "orders"] == [
        "state_not_triggering"
    ]
    cancelled = order_body(shop["sku"], state="cancelled", paid_at=None)
    assert tenant.api.put(f"/orders/{record['id']}", json=cancelled).status_code == 200
    system.run_until_idle()
    assert [i for i in tenant.api.get(path).json() if i["stream"] == "orders"] == []
    log = tenant.api.get(
        f"/connections/{shop['connection']['id']}/sync-log",
        params={"direction": "flow", "outcome": "skipped"},
    ).json()
    assert "was never paid: there is nothing to book" in log[0]["message"], log
    assert derived(system, tenant, shop["route"]["id"]) == []
    assert uniconta_documents(uniconta) == []


def test_a_booked_order_changed_in_the_shop_is_an_issue_not_a_silent_difference(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    record = tenant.api.post("/orders", json=order_body(shop["sku"])).json()
    system.run_until_idle()
    assert len(uniconta_documents(uniconta)) == 1
    more = order_body(shop["sku"])
    more["lines"][0].update(quantity="6", net_amount="600.00", tax_amount="150.00")
    more.update(total="798.75", total_tax="159.75")
    assert tenant.api.put(f"/orders/{record['id']}", json=more).status_code == 200
    system.run_until_idle()

    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    [changed] = [i for i in issues if i["stream"] == "orders"]
    assert changed["reason"] == "order_changed_after_booking", changed
    assert "now totals 798.75 DKK, and its booked invoice 298.75" in changed["message"]
    assert len(uniconta_documents(uniconta)) == 1  # the booked invoice is never rewritten

    # Put back as it was booked: the issue closes.
    assert (
        tenant.api.put(f"/orders/{record['id']}", json=order_body(shop["sku"])).status_code == 200
    )
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []


def test_a_customer_update_the_party_cannot_take_is_an_issue_and_the_order_books_anyway(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    start = dt.datetime.now(dt.UTC)

    def placed(number: str, minutes: int, **fields: Any) -> str:
        """An order of Karen's placed ``minutes`` from now (after her party's last change)."""
        at = (start + dt.timedelta(minutes=minutes)).isoformat()
        body = order_body(shop["sku"], source_id=number, number=number, created_at=at,
                          paid_at=at, **fields)  # fmt: skip
        posted = tenant.api.post("/orders", json=body)
        assert posted.status_code == 201, posted.text
        system.run_until_idle()
        (invoice,) = [r["data"] for r in derived(system, tenant, shop["route"]["id"])
                      if r["data"]["reference"] == number]  # fmt: skip
        return str(invoice["party_id"])

    def customer_issues() -> list[dict[str, Any]]:
        issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
        return [i for i in issues if i["stream"] == "customers" and i["direction"] == "flow"]

    party_id = placed("6001", 1)
    too_long = {"email": "karen@kunde.dk", "name": "Karen " + "K" * 300}
    assert placed("6002", 2, customer=too_long) == party_id, "booked on the party as it is"
    (issue,) = customer_issues()
    assert (issue["key"], issue["reason"]) == ("email:karen@kunde.dk", "invalid_customer_update")
    assert "not updated from order 6002 (its name): name: " in issue["message"], issue["message"]
    party = tenant.api.get(f"/parties/{party_id}").json()["data"]
    assert party["name"] == "Karen Kunde"
    assert [d["Account"] for d in uniconta.sandbox.all(COMPANY, "DebtorClient")
            if d.get("Name") == "Karen Kunde"] == [party["debtor_number"]]  # fmt: skip

    moved = {"line1": "Strandvejen 9", "postal_code": "2900", "city": "Hellerup", "country": "DK"}
    assert placed("6003", 3, billing_address=moved) == party_id
    assert customer_issues() == [], "the next update made: the issue closes"
    debtor = uniconta.debtor(party["debtor_number"]) or {}
    assert (debtor["Address1"], debtor["ZipCode"], debtor["City"]) == (
        "Strandvejen 9", "2900", "Hellerup")  # fmt: skip


def test_a_new_customer_the_hub_cannot_create_says_what_to_correct(
    system: System, tenant: Tenant, shop: dict[str, Any]
) -> None:
    """A new customer's name over a party's 255 characters: the order is not booked, and its
    issue names the field and what to do about it (a historical import's plan names it as
    well); corrected in the shop, the order books."""
    too_long = {"email": "ny@kunde.dk", "name": "Åse " + "Ø" * 300}
    posted = tenant.api.post("/orders", json=order_body(shop["sku"], customer=too_long))
    assert posted.status_code == 201, posted.text
    system.run_until_idle()
    assert derived(system, tenant, shop["route"]["id"]) == []
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    (issue,) = [i for i in issues if i["stream"] == "orders"]
    assert (issue["key"], issue["reason"]) == ("5001", "invalid_customer")
    assert issue["message"].startswith("the customer cannot be created: name: "), issue
    assert "correct the customer on the order in the shop" in issue["message"], issue
    # The dry run of a historical import finds it too, rather than planning it booked.
    plan = tenant.api.post(
        f"/routes/{shop['route']['id']}/historical-import",
        json={"from": "2026-11-01", "to": "2026-11-30", "dry_run": True},
    )
    assert plan.status_code == 200, plan.text
    assert [(p["order_source_id"], p["reason"]) for p in plan.json()["problems"]] == [
        ("5001", "invalid_customer")
    ], plan.json()
    assert plan.json()["problems"][0]["detail"].startswith("name: ")

    fixed = order_body(shop["sku"], customer={"email": "ny@kunde.dk", "name": "Åse Østergård"})
    assert tenant.api.post("/orders", json=fixed).status_code in (200, 201)
    system.run_until_idle()
    (invoice,) = derived(system, tenant, shop["route"]["id"])
    assert invoice["data"]["reference"] == "5001"
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []


def test_a_run_that_meets_a_new_customers_orders_in_any_order_ends_with_the_newest_address(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    def address(street: str) -> dict[str, str]:
        return {"line1": street, "postal_code": "8000", "city": "Aarhus C", "country": "DK"}

    orders = [  # (customer, order, placed, street), in the order they are written
        ("karen@kunde.dk", "7001", "2026-11-20T10:00:00+01:00", "Gammel Vej 1"),
        ("karen@kunde.dk", "7002", "2026-11-21T10:00:00+01:00", "Ny Vej 2"),
        ("ole@kunde.dk", "7003", "2026-11-21T11:00:00+01:00", "Ny Vej 3"),
        ("ole@kunde.dk", "7004", "2026-11-20T11:00:00+01:00", "Gammel Vej 4"),
    ]
    for email, number, placed, street in orders:  # all weeks old, all read in one run
        body = order_body(
            shop["sku"],
            source_id=number,
            number=number,
            created_at=placed,
            paid_at=placed,
            billing_address=address(street),
            customer={"email": email, "name": email.split("@")[0].title()},
        )
        assert tenant.api.post("/orders", json=body).status_code == 201  # fmt: skip
    system.run_until_idle()

    parties = {p["data"].get("email"): p["data"] for p in items(tenant, "/parties")}
    for email, street in (("karen@kunde.dk", "Ny Vej 2"), ("ole@kunde.dk", "Ny Vej 3")):
        assert parties[email]["billing_address"]["line1"] == street
        debtor = uniconta.debtor(parties[email]["debtor_number"]) or {}
        assert debtor["Address1"] == street
    assert len(derived(system, tenant, shop["route"]["id"])) == 4


def test_route_to_uniconta_only_leaves_qonto_without_anything(
    system: System, tenant: Tenant, uniconta: Uniconta, qonto: Qonto, shop: dict[str, Any]
) -> None:
    qonto_connection = connect_qonto(tenant, qonto)
    import_qonto(system, tenant, qonto_connection["id"])
    writes_before = qonto.writes()

    tenant.api.post("/orders", json=order_body(shop["sku"]))
    tenant.api.post("/parties", json={"name": "Via API ApS", "is_customer": True})
    system.run_until_idle()

    assert len(derived(system, tenant, shop["route"]["id"])) == 1
    assert len(uniconta_documents(uniconta)) == 1
    assert qonto.writes() == writes_before
    status = tenant.api.get(f"/connections/{qonto_connection['id']}").json()
    assert all(run["counts"].get("invoices.created", 0) == 0 for run in status["recent_runs"])


def test_refund_after_booking_is_one_credit_note(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    refund = {
        "source_id": "r-77", "order_source_id": "5001", "created_at": "2026-11-22T09:00:00+01:00",
        "currency": "DKK", "amount": "125.00", "reason": "Returneret",
        "lines": [{"order_line_id": "1", "quantity": "1", "net_amount": "100.00",
                   "tax_amount": "25.00"}],
    }  # fmt: skip
    # The refund arrives before its order: it waits, with its reason, and follows by itself.
    assert tenant.api.post("/refunds", json=refund).status_code == 201
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i["reason"] for i in issues if i["stream"] == "refunds"] == ["refund_order_missing"]

    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()
    assert tenant.api.post("/refunds", json=refund).status_code == 201  # delivered twice
    system.run_until_idle()

    documents = derived(system, tenant, shop["route"]["id"])
    notes = [d for d in documents if d["data"]["kind"] == "credit_note"]
    invoices = [d for d in documents if d["data"]["kind"] == "invoice"]
    assert len(invoices) == 1 and len(notes) == 1
    note = notes[0]["data"]
    assert note["credits_invoice_id"] == invoices[0]["id"]
    assert note["party_id"] == invoices[0]["data"]["party_id"]
    assert [
        (Decimal(line["quantity"]), Decimal(line["unit_price"]), line["vat_code"])
        for line in note["lines"]
    ] == [(Decimal(-1), Decimal(100), "U25")]
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "refunds"] == []


def test_a_sale_below_zero_is_held_until_corrected_never_a_negative_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    returned = order_body(shop["sku"], total="-125.00", total_tax="-25.00", lines=[
        {"source_id": "1", "kind": "item", "sku": shop["sku"], "description": "Kaffekrus",
         "quantity": "-1", "unit_price": "100.00", "tax_rate": "25", "net_amount": "-100.00",
         "tax_amount": "-25.00"}])  # fmt: skip
    assert tenant.api.post("/orders", json=returned).status_code == 201
    system.run_until_idle()
    assert derived(system, tenant, shop["route"]["id"]) == []
    assert uniconta_documents(uniconta) == []
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    (held,) = [i for i in issues if i["stream"] == "orders"]
    assert (held["key"], held["reason"]) == ("5001", "negative_sale")
    assert "a sale below zero is a refund" in held["message"]

    assert tenant.api.post("/orders", json=order_body(shop["sku"])).status_code == 201
    system.run_until_idle()
    (invoice,) = derived(system, tenant, shop["route"]["id"])
    assert invoice["data"]["status"] == "paid"
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []


def test_refunds_of_one_order_never_credit_more_than_its_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """Two refunds that each fit the order (298.75) but together credit 375.00: the second is
    held with what the first credited; corrected to what is left, it is credited."""
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()

    def refund(source_id: str, line_id: str, quantity: str, net: str, tax: str) -> None:
        amount = str(Decimal(net) + Decimal(tax))
        body = {
            "source_id": source_id, "order_source_id": "5001", "currency": "DKK",
            "created_at": "2026-11-22T09:00:00+01:00", "amount": amount, "reason": "Retur",
            "lines": [{"order_line_id": line_id, "quantity": quantity, "net_amount": net,
                       "tax_amount": tax}],
        }  # fmt: skip
        assert tenant.api.post("/refunds", json=body).status_code == 201
        system.run_until_idle()

    refund("r-1", "1", "2", "200.00", "50.00")
    refund("r-2", "1", "1", "100.00", "25.00")
    notes = [d for d in derived(system, tenant, shop["route"]["id"])
             if d["data"]["kind"] == "credit_note"]  # fmt: skip
    assert len(notes) == 1, "the second refund is not credited"
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    (held,) = [i for i in issues if i["stream"] == "refunds"]
    assert (held["key"], held["reason"]) == ("r-2", "refunds_exceed_order")
    assert "credit 250.00 DKK already" in held["message"]
    assert "at most 48.75 DKK is left to refund" in held["message"]

    refund("r-2", "2", "1", "39.00", "9.75")  # corrected in the shop: the shipping only
    notes = [d for d in derived(system, tenant, shop["route"]["id"])
             if d["data"]["kind"] == "credit_note"]  # fmt: skip
    assert len(notes) == 2
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "refunds"] == []


def test_a_refund_held_for_crediting_too_much_follows_once_an_earlier_draft_credits_less(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """The first refund's VAT disagrees with its lines, so its credit note is a draft of
    250.00; the second (125.00) would take the credit notes beyond the order's 298.75 and is
    held. The first corrected to one unit, its draft credits 125.00, and the second follows
    by itself."""
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()

    def refund(source_id: str, quantity: str, net: str, tax: str) -> None:
        body = {
            "source_id": source_id, "order_source_id": "5001", "currency": "DKK",
            "created_at": "2026-11-22T09:00:00+01:00", "amount": str(Decimal(net) + Decimal(tax)),
            "lines": [{"order_line_id": "1", "quantity": quantity, "net_amount": net,
                       "tax_amount": tax}],
        }  # fmt: skip
        assert tenant.api.post("/refunds", json=body).status_code == 201
        system.run_until_idle()

    def reasons() -> dict[str, str]:
        issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
        return {i["key"]: i["reason"] for i in issues if i["stream"] == "refunds"}

    refund("r-1", "2", "200.00", "60.00")
    refund("r-2", "1", "100.00", "25.00")
    assert reasons() == {"r-1": "totals_mismatch", "r-2": "refunds_exceed_order"}

    refund("r-1", "1", "100.00", "30.00")
    notes = [d["data"] for d in derived(system, tenant, shop["route"]["id"])
             if d["data"]["kind"] == "credit_note"]  # fmt: skip
    assert sorted(n["status"] for n in notes) == ["booked", "draft"]
    assert reasons() == {"r-1": "totals_mismatch"}


def test_routes_api_refuses_what_makes_no_sense(tenant: Tenant, shop: dict[str, Any]) -> None:
    target = shop["connection"]["id"]
    cases = [
        ({"source": "app", "target": target, "entities": ["order"]}, ["body", "entities", "0"]),
        ({"source": target, "target": target, "entities": ["party"]}, ["body", "target"]),
        ({"source": "nowhere", "target": target, "entities": ["party"]}, ["body", "source"]),
        ({"source": "app", "target": target, "entities": ["party"],
          "commerce": {"policy": {"vat": {"oss_codes": {"DE19": "X"}}}}},
         ["body", "commerce", "policy", "vat", "oss_codes"]),
        ({"source": "app", "target": target, "entities": ["party"],
          "commerce": {"policy": {"vat": {"oss_codes": {"NO:25": "U25", "DK:25": "U25"}}}}},
         ["body", "commerce", "policy", "vat", "oss_codes", "DK:25", "[key]"]),
        ({"source": "app", "target": target, "entities": [],
          "commerce": {"rules": {"filters": [{"field": "nope", "operator": "eq", "value": 1}]}}},
         ["body", "commerce", "rules", "filters", "0", "field"]),
    ]  # fmt: skip
    for body, loc in cases:
        response = tenant.api.post("/routes", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc, response.text
    # Every setting refused at once, policy and rules alike, each at its path.
    many = tenant.api.post("/routes", json={
        "source": "app", "target": target, "entities": [],
        "commerce": {"policy": {"states": {"processing": "book_it"}, "rounding_tolerance": "5",
                                "customers": {"profiles": {"b2c": {"match_by": "shoe_size"}}}},
                     "rules": {"filters": [{"field": "nope", "operator": "eq", "value": 1}]}},
        "paymatch": {"journal": "", "receivable_account": "5820", "fee_account": "7220",
                     "bank_account": "5900", "error_account": "", "start_date": "2026-12-01"},
    })  # fmt: skip
    assert many.status_code == 422, many.text
    assert sorted(".".join(d["loc"][1:]) for d in many.json()["detail"]) == [
        "commerce.policy.customers.profiles.b2c.debtor_group",
        "commerce.policy.customers.profiles.b2c.match_by",
        "commerce.policy.rounding_tolerance",
        "commerce.policy.states.processing",
        "commerce.rules.filters.0.field",
    ]  # fmt: skip
    fixed = tenant.api.post("/routes", json={
        "source": "app", "target": target, "entities": ["invoice"],
        "paymatch": {"journal": "", "receivable_account": "5820", "fee_account": "7220",
                     "bank_account": "5900", "error_account": "", "start_date": "2026-12-01"},
    })  # fmt: skip
    assert sorted(".".join(d["loc"][1:]) for d in fixed.json()["detail"]) == [
        "paymatch.error_account", "paymatch.journal"
    ]  # fmt: skip
    duplicate = tenant.api.post("/routes", json={"source": "app", "target": target,
                                                 "entities": ["party"]})  # fmt: skip
    assert duplicate.status_code == 409
    assert tenant.api.get("/routes/unknown").status_code == 404


def test_a_policy_value_typed_wrong_is_refused_in_the_words_of_the_person_who_typed_it(
    tenant: Tenant, shop: dict[str, Any]
) -> None:
    """A tolerance typed "abc" or with a comma, a yes/no typed "maybe", a day typed the
    European way: each refused at its path with what to type instead, never the validation
    library's "Input should be a valid decimal"."""
    target = shop["connection"]["id"]
    cases = [
        ({"rounding_tolerance": "abc"}, "commerce.policy.rounding_tolerance",
         "must be a number such as 0.50, with a point as decimal mark"),
        ({"rounding_tolerance": "1,5"}, "commerce.policy.rounding_tolerance",
         "must be a number such as 0.50, with a point as decimal mark"),
        ({"book": "maybe"}, "commerce.policy.book", "must be true or false"),
        ({"start_date": "31-12-2026"}, "commerce.policy.start_date",
         "must be a day of the calendar written year-month-day, such as 2026-01-31"),
        ({"customers": "b2c"}, "commerce.policy.customers", "must be an object of named values"),
    ]  # fmt: skip
    for given, path, reason in cases:
        response = tenant.api.post("/routes", json={
            "source": "app", "target": target, "entities": ["party"],
            "commerce": {"policy": {**POLICY, **given}, "rules": {}}})  # fmt: skip
        assert response.status_code == 422, (given, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", *path.split(".")], response.text
        assert problem["msg"] == reason, response.text
    hours = tenant.api.post("/routes", json={
        "source": "app", "target": target, "entities": ["invoice"],
        "paymatch": {"journal": "KASSE", "receivable_account": "5820", "fee_account": "7220",
                     "bank_account": "5900", "error_account": "5830", "start_date": "2026-12-01",
                     "wait_for_invoice_hours": "12.5"}})  # fmt: skip
    assert hours.status_code == 422, hours.text
    assert [(d["loc"], d["msg"]) for d in hours.json()["detail"]] == [
        (["body", "paymatch", "wait_for_invoice_hours"],
         "must be a whole number such as 3")
    ]  # fmt: skip


def test_changed_rules_get_the_next_version_and_the_route_can_be_removed(
    tenant: Tenant, shop: dict[str, Any]
) -> None:
    route = shop["route"]
    assert route["commerce"]["rules"]["version"] == 1
    body = {"source": "app", "target": route["target"], "entities": ["party"],
            "commerce": {"policy": POLICY, "rules": {"adjustments": [
                {"target": "note", "template": "Webordre {{ number }}"}]}}}  # fmt: skip
    changed = tenant.api.put(f"/routes/{route['id']}", json=body).json()
    assert changed["commerce"]["rules"]["version"] == 2
    same = tenant.api.put(f"/routes/{route['id']}", json=body).json()
    assert same["commerce"]["rules"]["version"] == 2
    assert [r["id"] for r in tenant.api.get("/routes").json()] == [route["id"]]
    assert tenant.api.delete(f"/routes/{route['id']}").status_code == 204
    assert tenant.api.get("/routes").json() == []


def test_historical_import_plans_then_books_the_orders_before_the_start_date(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    route = shop["route"]
    policy = {**POLICY, "start_date": "2026-11-01"}
    body = {"source": "app", "target": route["target"], "entities": ["party"],
            "commerce": {"policy": policy, "rules": {}}}  # fmt: skip
    assert tenant.api.put(f"/routes/{route['id']}", json=body).status_code == 200
    for number, day in (("4001", "2026-10-05"), ("4002", "2026-10-06"), ("4003", "2026-09-01")):
        old = order_body(shop["sku"], source_id=number, number=number,
                         created_at=f"{day}T10:00:00+02:00", paid_at=f"{day}T10:01:00+02:00",
                         customer={"email": f"c{number}@kunde.dk"})  # fmt: skip
        assert tenant.api.post("/orders", json=old).status_code == 201
    system.run_until_idle()
    assert derived(system, tenant, route["id"]) == []

    window = {"from": "2026-10-01", "to": "2026-10-31"}
    plan = tenant.api.post(f"/routes/{route['id']}/historical-import", json=window)
    assert plan.status_code == 200, plan.text
    answer = plan.json()
    assert answer["orders"] == 2 and answer["by_outcome"] == {"booked": 2}
    assert answer["vat_codes_checked"] is True, "Uniconta's VAT codes are read for the plan"
    assert Decimal(answer["totals"]["DKK"]) == Decimal("597.50")
    assert sorted(answer["customers_to_create"]) == ["email:c4001@kunde.dk", "email:c4002@kunde.dk"]
    assert derived(system, tenant, route["id"]) == []

    started = tenant.api.post(
        f"/routes/{route['id']}/historical-import", json={**window, "dry_run": False}
    )
    assert started.status_code == 202, started.text
    system.run_until_idle()
    state = tenant.api.get(
        f"/routes/{route['id']}/historical-import/{started.json()['job_id']}"
    ).json()
    assert state["status"] == "done", state
    assert state["counts"]["orders.created"] == 2
    assert sorted(i["data"]["reference"] for i in derived(system, tenant, route["id"])) == [
        "4001",
        "4002",
    ]
    assert len(uniconta_documents(uniconta)) == 2

    # Planned again: the booked orders are not counted as orders to book, nor their customers.
    again = tenant.api.post(f"/routes/{route['id']}/historical-import", json=window).json()
    assert again["orders"] == 0 and again["skipped"] == {"already_booked": 2}, again
    assert again["customers_to_create"] == []


def test_member_reads_routes_but_only_owners_and_admins_change_them(
    hub: str, tenant: Tenant, shop: dict[str, Any]
) -> None:
    added = tenant.api.post("/users", json={"email": "member@shop.example", "role": "member"})
    member = httpx.Client(
        base_url=hub, headers={"Authorization": f"Bearer {added.json()['api_key']}"}
    )
    route = shop["route"]
    body = {"source": "app", "target": route["target"], "entities": ["party"]}
    assert member.get(f"/routes/{route['id']}").status_code == 200
    window = {"from": "2026-10-01", "to": "2026-10-31"}
    for response in (
        member.post("/routes", json=body),
        member.put(f"/routes/{route['id']}", json=body),
        member.delete(f"/routes/{route['id']}"),
        member.post(f"/routes/{route['id']}/historical-import", json={**window, "dry_run": False}),
    ):
        assert response.status_code == 403, response.text
        assert "owner or admin" in response.json()["detail"]
    dry = member.post(f"/routes/{route['id']}/historical-import", json=window)
    assert dry.status_code == 200, dry.text
    member.close()


def test_a_rerun_from_an_older_cursor_makes_no_second_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """A crash after the invoice committed and before the cursor moved reads the order again."""
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()
    route_id = shop["route"]["id"]
    with system.sessions.begin() as session:
        session.execute(sa.delete(FlowCursor).where(FlowCursor.route_id == route_id))
    system.flows.queue_flow(None, route_id, shop["connection"]["id"], tenant.tenant_id)
    system.run_until_idle()
    assert len(derived(system, tenant, route_id)) == 1
    assert len(uniconta_documents(uniconta)) == 1


def test_a_superseded_flow_run_writes_nothing(
    system: System, tenant: Tenant, shop: dict[str, Any]
) -> None:
    route_id, target = shop["route"]["id"], shop["connection"]["id"]
    with system.sessions.begin() as session:
        route = session.get(Route, route_id)
        assert route is not None
        route.active = False  # the order waits in the hub, unread
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()
    stale = begin_fenced_run(system.sessions, system.clock, target, "stale-run")
    begin_fenced_run(system.sessions, system.clock, target, "newer-run")
    run = FlowRun(
        route_id=route_id, tenant_id=tenant.tenant_id, source="app", target_id=target,
        timezone="Europe/Copenhagen", policy=CommercePolicy.model_validate(POLICY), rules=None,
        recorder=SyncRecorder(system.clock, target, None, Counter()),
    )  # fmt: skip
    with pytest.raises(RunFenced), fenced(stale):
        system.flows.follow(run)
    assert derived(system, tenant, route_id) == []
    with system.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DerivedRecord)) == 0
        assert session.get(FlowCursor, route_id) is None


def test_a_fixed_policy_lets_skipped_orders_and_drafts_flow(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    route = shop["route"]

    def save(policy: dict[str, Any]) -> None:
        body = {"source": "app", "target": route["target"], "entities": ["party"],
                "commerce": {"policy": policy, "rules": {}}}  # fmt: skip
        assert tenant.api.put(f"/routes/{route['id']}", json=body).status_code == 200
        system.run_until_idle()

    save({**POLICY, "vat": {"domestic_codes": {"0": "U0"}}})
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    tenant.api.post("/orders", json=order_body(shop["sku"], source_id="5002", number="5002",
                                               customer={"email": "bo@kunde.dk"}))  # fmt: skip
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert sorted(i["reason"] for i in issues if i["stream"] == "orders") == [
        "vat_code_missing", "vat_code_missing"]  # fmt: skip
    assert "mapping rules v1" in issues[0]["message"]

    save({**POLICY, "book": False})  # the VAT codes are back; invoices stay drafts
    drafts = derived(system, tenant, route["id"])
    assert sorted(d["data"]["status"] for d in drafts) == ["draft", "draft"]
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []

    save(POLICY)  # booking switched on: the drafts are booked, still one invoice per order
    invoices = derived(system, tenant, route["id"])
    assert sorted(i["data"]["reference"] for i in invoices) == ["5001", "5002"]
    assert all(i["data"]["status"] in ("booked", "paid") for i in invoices)
    assert len(uniconta_documents(uniconta)) == 2


@pytest.mark.parametrize("retry", ["issue", "all"])
def test_a_held_order_is_taken_up_again_when_its_issue_is_retried(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any], retry: str
) -> None:
    """The till's shared debtor is created in Uniconta after the import: the order waits for
    it (shared_customer_missing). Once the debtor is read into the hub, retrying the issue
    books the order, as the issue asks, without the shop changing it."""
    route, cid = shop["route"], shop["connection"]["id"]
    uniconta.sandbox.load(COMPANY, "DebtorClient", [{"Account": "KASSE", "Name": "Kassesalg"}])
    policy = {**POLICY, "customers": {"shared_b2c_account": "KASSE"}}
    body = {"source": "app", "target": route["target"], "entities": ["party"],
            "commerce": {"policy": policy, "rules": {}}}  # fmt: skip
    assert tenant.api.put(f"/routes/{route['id']}", json=body).status_code == 200
    tenant.api.post("/orders", json=order_body(shop["sku"]))
    system.run_until_idle()
    [issue] = [i for i in tenant.api.get(f"/connections/{cid}/issues").json()
               if i["stream"] == "orders"]  # fmt: skip
    assert issue["reason"] == "shared_customer_missing"

    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    assert [p for p in items(tenant, "/parties") if p["data"].get("debtor_number") == "KASSE"]
    assert derived(system, tenant, route["id"]) == [], "the debtor's arrival alone books nothing"

    if retry == "issue":
        retried = tenant.api.post(
            f"/connections/{cid}/issues/retry", json={"issue_id": issue["id"]}
        )
    else:
        retried = tenant.api.post(f"/connections/{cid}/jobs/retry")
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    assert [i for i in tenant.api.get(f"/connections/{cid}/issues").json()
            if i["stream"] == "orders"] == []  # fmt: skip
    [invoice] = derived(system, tenant, route["id"])
    assert invoice["data"]["reference"] == "5001"
    assert invoice["data"]["status"] in ("booked", "paid")
    assert [d["Account"] for d in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")] == ["KASSE"]

    again = tenant.api.post(f"/connections/{cid}/jobs/retry")
    assert again.status_code == 202, again.text
    system.run_until_idle()
    assert len(derived(system, tenant, route["id"])) == 1, "a retry books no order twice"
    assert len(uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 1


def test_an_eu_consumer_charged_no_vat_is_an_issue_until_the_policy_says_it_is_zero_rated(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """An Italian consumer charged 0 % by a shop under One Stop Shop is not booked as exempt at
    home: the order waits with its reason until the policy names a code for IT at 0 %."""
    route = shop["route"]
    body = order_body(shop["sku"], shipping_address={"line1": "Via Roma 1", "city": "Milano",
                                                     "country": "IT"})  # fmt: skip
    for line in body["lines"]:
        line["tax_rate"], line["tax_amount"] = "0", "0.00"
    body.update(total="239.00", total_tax="0.00")
    assert tenant.api.post("/orders", json=body).status_code == 201
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    [waiting] = [i for i in issues if i["stream"] == "orders"]
    assert waiting["reason"] == "vat_zero_on_eu_consumer_sale", waiting
    assert "a consumer in IT" in waiting["message"]
    assert 'policy.vat.oss_codes as "IT:0"' in waiting["message"]
    assert derived(system, tenant, route["id"]) == [] and uniconta_documents(uniconta) == []

    policy = {**POLICY, "vat": {"oss_codes": {"IT:0": "S0"}}}
    saved = tenant.api.put(f"/routes/{route['id']}", json={
        "source": "app", "target": route["target"], "entities": ["party"],
        "commerce": {"policy": policy, "rules": {}}})  # fmt: skip
    assert saved.status_code == 200, saved.text
    system.run_until_idle()
    (invoice,) = derived(system, tenant, route["id"])
    (posted,) = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    assert posted["InvoiceNumber"] == int(invoice["data"]["number"])
    lines = uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
    assert [line["Vat"] for line in lines] == ["S0", "S0"]
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i for i in issues if i["stream"] == "orders"] == []


def route_body(route: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    return {"source": "app", "target": route["target"], "entities": ["party"],
            "commerce": {"policy": policy, "rules": {}}}  # fmt: skip


def store_policy(system: System, route_id: str, policy: dict[str, Any]) -> None:
    """The policy as a route saved before a value was refused holds it: written to the store
    directly, as no save accepts it any more."""
    with system.sessions() as session:
        route = session.get(Route, route_id)
        assert route is not None and route.commerce is not None
        route.commerce = {**route.commerce, "policy": policy}
        session.commit()


def test_a_rounding_tolerance_beyond_cents_is_refused_and_one_saved_runs_with_the_largest(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """A tolerance of 100.00 would book any mismatch (a line missing, a wrong price) on the
    rounding account: a save refuses it, naming the field; a route stored with it still runs,
    with 1.00, so a gap of 5.00 is held as a mismatch, and says so until it is saved again."""
    route = shop["route"]
    refused = tenant.api.put(
        f"/routes/{route['id']}", json=route_body(route, {**POLICY, "rounding_tolerance": "100"})
    )
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "commerce", "policy", "rounding_tolerance"]
    assert "at most 1.00" in problem["msg"]
    taken = tenant.api.put(
        f"/routes/{route['id']}", json=route_body(route, {**POLICY, "rounding_tolerance": "1.00"})
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["warnings"] == []

    store_policy(system, route["id"], {**POLICY, "rounding_tolerance": "100.00",
                                       "rounding_account": shop["sku"]})  # fmt: skip
    shown = tenant.api.get(f"/routes/{route['id']}")
    assert shown.status_code == 200, shown.text
    [warning] = shown.json()["warnings"]
    assert "rounding_tolerance is 100.00" in warning and "runs with 1.00" in warning
    off_by_five = order_body(shop["sku"], total="303.75")
    assert tenant.api.post("/orders", json=off_by_five).status_code == 201
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [i["reason"] for i in issues if i["stream"] == "orders"] == ["totals_mismatch"]
    (draft,) = derived(system, tenant, route["id"])
    assert draft["data"]["status"] == "draft"
    assert len(draft["data"]["lines"]) == 2  # the item and shipping, no rounding line


def test_an_order_to_monaco_is_booked_with_frances_oss_vat(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """Monaco is in France's VAT territory: a consumer there is charged French VAT, which One
    Stop Shop declares as France's, so the order is booked on the FR code, not held as an
    export charged VAT."""
    body = order_body(shop["sku"], shipping_address={
        "line1": "Boulevard des Moulins 1", "postal_code": "98000", "city": "Monaco",
        "country": "MC"})  # fmt: skip
    for line in body["lines"]:
        line["tax_rate"] = "20"
    body["lines"][0]["tax_amount"], body["lines"][1]["tax_amount"] = "40.00", "7.80"
    body.update(total="286.80", total_tax="47.80")
    assert tenant.api.post("/orders", json=body).status_code == 201
    system.run_until_idle()
    issues = tenant.api.get(f"/connections/{shop['connection']['id']}/issues").json()
    assert [(i["reason"], i["message"]) for i in issues] == []
    (invoice,) = derived(system, tenant, shop["route"]["id"])
    assert invoice["data"]["status"] == "paid"
    assert [line["vat_code"] for line in invoice["data"]["lines"]] == ["U_FR20", "U_FR20"]
    (posted,) = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    assert Decimal(str(posted["TotalAmount"])) == Decimal("286.80")
    lines = uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
    assert [line["Vat"] for line in lines] == ["U_FR20", "U_FR20"]
    party = tenant.api.get(f"/parties/{invoice['data']['party_id']}").json()
    assert party["data"]["vat_zone"] == "eu"


def test_a_route_from_order_files_without_a_paid_time_warns_that_card_orders_stay_open(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """Order files with a payment method and no paid time never report a card order paid:
    the route from them says so when saved and whenever it is shown, naming the column to
    map; mapped, it is quiet."""
    files = files_connection(tenant)
    fields = {**ORDERS_MAPPING["fields"], "order.payment_method": {"value": "stripe"}}
    save_mapping(tenant, files, "orders", {**ORDERS_MAPPING, "fields": fields})
    body = {"source": files, "target": shop["connection"]["id"], "entities": [],
            "commerce": {"policy": POLICY, "rules": {}}}  # fmt: skip
    created = tenant.api.post("/routes", json=body)
    assert created.status_code == 201, created.text
    [warning] = created.json()["warnings"]
    assert "map no paid time (order.paid_at)" in warning and "stripe" in warning

    save_mapping(tenant, files, "orders",
                 {**ORDERS_MAPPING, "fields": {**fields, "order.paid_at": "Dato"}})  # fmt: skip
    saved = tenant.api.put(f"/routes/{created.json()['id']}", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["warnings"] == []

    # The mapping changed back after the route was saved: the route shows it again.
    save_mapping(tenant, files, "orders", {**ORDERS_MAPPING, "fields": fields})
    [shown] = tenant.api.get(f"/routes/{created.json()['id']}").json()["warnings"]
    assert shown == warning
