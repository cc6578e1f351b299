"""Every row of the Uniconta integration's data table and each of its troubleshooting cases,
against the Uniconta sandbox over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.connectors.uniconta.mapping import INVOICE_REF_PREFIX
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import (
    seed_contacts,
    seed_creditors,
    seed_debtors,
    seed_invoices,
    seed_products,
)
from ledgerbridge.settings import Settings
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

ALL_STREAMS = (
    "customers", "suppliers", "contacts", "products", "stock_levels", "invoices",
    "payment_status",
)  # fmt: skip
VAT = {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25", "K25": "DK25K"}


def full(**extra: Any) -> dict[str, Any]:
    return {
        "entities": {s: {"enabled": True} for s in ALL_STREAMS},
        "vat_mapping": VAT,
        **extra,
    }


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


def party_by_number(tenant: Tenant, field: str, number: str) -> dict[str, Any]:
    return next(p for p in all_of(tenant, "/parties") if p["data"].get(field) == number)


# ------------------------------------------------------------------ customers and suppliers


def test_postgresql_plans_on_the_imported_tables_once_the_import_ends(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """The import fills the hub's tables in bulk; their planner statistics are taken at its
    end, not a minute or more later by autovacuum (queries planned on the empty tables'
    statistics read every record where an index would do)."""
    if system.db.dialect.name != "postgresql":
        pytest.skip("SQLite plans without statistics")
    seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=2)
    import_all(system, tenant, connect(tenant, uniconta)["id"])
    with system.db.connect() as db:
        analysed = dict(
            db.exec_driver_sql(
                "SELECT relname, last_analyze FROM pg_stat_user_tables "
                "WHERE relname IN ('hub_records', 'links')"
            ).all()
        )
    assert sorted(analysed) == ["hub_records", "links"]
    assert all(analysed.values()), analysed


def test_suppliers_are_imported_and_sync_both_ways(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=3, seed=2)
    creditors = seed_creditors(uniconta.sandbox, COMPANY, count=4, seed=2)
    connection = connect(
        tenant, uniconta,
        settings={"entities": {"customers": {"enabled": True}, "suppliers": {"enabled": True}}},
    )  # fmt: skip
    import_all(system, tenant, connection["id"])
    parties = all_of(tenant, "/parties")
    suppliers = [p for p in parties if p["data"]["is_supplier"]]
    assert sorted(p["data"]["creditor_number"] for p in suppliers) == sorted(creditors)
    assert all(not p["data"]["is_customer"] for p in suppliers)

    supplier = suppliers[0]
    tenant.api.patch(f"/parties/{supplier['id']}", json={"phone": "+45 40 40 40 40"})
    created = tenant.api.post(
        "/parties",
        json={"name": "Papir og Pap A/S", "is_supplier": True, "creditor_number": "59001"},
    )
    both = tenant.api.post(
        "/parties",
        json={"name": "Begge Veje ApS", "is_customer": True, "debtor_number": "79001",
              "is_supplier": True, "creditor_number": "59002"},
    )  # fmt: skip
    assert created.status_code == both.status_code == 201
    system.run_until_idle()
    creditor = uniconta.sandbox.get(COMPANY, "CreditorClient", supplier["data"]["creditor_number"])
    assert creditor is not None and creditor["Phone"] == "+45 40 40 40 40"
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59001")["Name"] == "Papir og Pap A/S"
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59002") is not None
    assert uniconta.sandbox.get(COMPANY, "DebtorClient", "79001") is not None
    record = tenant.api.get(f"/parties/{both.json()['id']}").json()
    assert sorted(s["stream"] for s in record["sync"]) == ["customers", "suppliers"]

    uniconta.sandbox.update(COMPANY, "CreditorClient", creditors[1], {"City": "Esbjerg"})
    tenant.api.post(f"/connections/{connection['id']}/jobs/pull")
    system.run_until_idle()
    moved = party_by_number(tenant, "creditor_number", creditors[1])
    assert moved["data"]["billing_address"]["city"] == "Esbjerg"


def test_records_made_while_a_stream_was_off_are_sent_once_it_is_switched_on(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    customers_only = {"entities": {"customers": {"enabled": True}, "suppliers": {"enabled": False}}}
    connection = connect(tenant, uniconta, settings=customers_only)
    url = f"/connections/{connection['id']}"
    import_all(system, tenant, connection["id"])
    supplier = {"name": "Papir og Pap A/S", "is_supplier": True, "creditor_number": "59001"}
    early = tenant.api.post("/parties", json=supplier)
    assert early.status_code == 201, early.text
    assert tenant.api.post(f"{url}/jobs/push").status_code == 202
    system.run_until_idle()
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59001") is None  # suppliers are off

    both = {"entities": {"customers": {"enabled": True}, "suppliers": {"enabled": True}}}
    assert tenant.api.patch(url, json={"settings": both}).status_code == 200
    assert tenant.api.post(f"{url}/jobs/push").status_code == 202
    system.run_until_idle()
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59001")["Name"] == "Papir og Pap A/S"

    # Off and on again: what was made meanwhile goes out; what was sent before costs no call.
    assert tenant.api.patch(url, json={"settings": customers_only}).status_code == 200
    later = tenant.api.post(
        "/parties", json={"name": "Karton ApS", "is_supplier": True, "creditor_number": "59002"}
    )
    assert later.status_code == 201, later.text
    assert tenant.api.post(f"{url}/jobs/push").status_code == 202
    system.run_until_idle()
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59002") is None
    assert tenant.api.patch(url, json={"settings": both}).status_code == 200
    assert tenant.api.post(f"{url}/jobs/push").status_code == 202
    system.run_until_idle()
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59002")["Name"] == "Karton ApS"
    creditors = uniconta.sandbox.all(COMPANY, "CreditorClient")
    assert sorted(r["Account"] for r in creditors) == ["59001", "59002"]  # none sent twice


# ------------------------------------------------------------------ contacts


def test_contacts_import_with_their_parents_and_orphans_are_skipped(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=20, seed=4)
    seed_creditors(uniconta.sandbox, COMPANY, count=3, seed=4)
    seed_contacts(uniconta.sandbox, COMPANY, count=300, seed=4)
    contacts = uniconta.sandbox.all(COMPANY, "ContactClient")
    orphans = [c for c in contacts if not c.get("DCAccount")]
    assert orphans, "the seed makes some orphan contacts"
    connection = connect(tenant, uniconta, settings={"entities": {
        "customers": {"enabled": True}, "suppliers": {"enabled": True},
        "contacts": {"enabled": True}}})  # fmt: skip
    import_all(system, tenant, connection["id"])

    persons = all_of(tenant, "/contact-persons")
    assert len(persons) == len(contacts) - len(orphans)
    parties = {p["id"]: p for p in all_of(tenant, "/parties")}
    sample = next(c for c in contacts if c.get("DCType") == "Debtor" and c.get("DCAccount"))
    person = next(p for p in persons if p["sync"][0]["remote_id"] == str(sample["RowId"]))
    assert parties[person["data"]["party_id"]]["data"]["debtor_number"] == sample["DCAccount"]
    skipped = issues(tenant, connection["id"], "contact_parent_missing")
    assert sorted(i["key"] for i in skipped) == sorted(str(o["RowId"]) for o in orphans)
    assert skipped[0]["message"] == (
        "The Uniconta contact has no party to belong to: give it one in Uniconta (one of its "
        "customers or suppliers), and it syncs with its next change there"
    )
    # Linked to a debtor in Uniconta, the contact comes with its change.
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    uniconta.sandbox.update(COMPANY, "ContactClient", orphans[0]["RowId"], {
        "DCType": "Debtor", "DCAccount": sample["DCAccount"]})  # fmt: skip
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    assert len(all_of(tenant, "/contact-persons")) == len(persons) + 1
    left = issues(tenant, connection["id"], "contact_parent_missing")
    assert str(orphans[0]["RowId"]) not in {i["key"] for i in left}


def test_contact_waits_for_its_parent_and_follows_without_manual_action(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=2, seed=5)
    connection = connect(tenant, uniconta, settings={"entities": {
        "customers": {"enabled": True}, "contacts": {"enabled": True}}})  # fmt: skip
    import_all(system, tenant, connection["id"])
    # A new customer and its contact, created while no callback came through.
    uniconta.sandbox.insert(COMPANY, "DebtorClient", {"Account": "99001", "Name": "Ny Kunde ApS"})
    contact = uniconta.sandbox.insert(
        COMPANY, "ContactClient", {"DCType": "Debtor", "DCAccount": "99001", "Name": "Ida Holm"}
    )
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    uniconta.sandbox.update(COMPANY, "ContactClient", contact["RowId"], {"Title": "Indkøber"})
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    waiting = issues(tenant, connection["id"], "contact_parent_pending")
    assert [i["key"] for i in waiting] == [str(contact["RowId"])]

    uniconta.sandbox.update(COMPANY, "DebtorClient", "99001", {"City": "Vejle"})
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    assert issues(tenant, connection["id"]) == []
    person = next(p for p in all_of(tenant, "/contact-persons") if p["data"]["name"] == "Ida Holm")
    assert person["data"]["job_title"] == "Indkøber"


def test_contact_created_in_the_hub_reaches_uniconta_under_its_customer(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=2, seed=6)
    connection = connect(tenant, uniconta, settings={"entities": {
        "customers": {"enabled": True}, "contacts": {"enabled": True}}})  # fmt: skip
    import_all(system, tenant, connection["id"])
    party = party_by_number(tenant, "debtor_number", accounts[1])
    created = tenant.api.post(
        "/contact-persons",
        json={"party_id": party["id"], "name": "Søren Dahl", "email": "sd@example.dk"},
    )
    assert created.status_code == 201
    system.run_until_idle()
    rows = [c for c in uniconta.sandbox.all(COMPANY, "ContactClient") if c["Name"] == "Søren Dahl"]
    assert len(rows) == 1
    assert (rows[0]["DCType"], rows[0]["DCAccount"]) == ("Debtor", accounts[1])
    assert rows[0]["Email"] == "sd@example.dk"


def test_contact_of_a_supplier_waits_saying_to_switch_suppliers_on(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=2, seed=6)
    connection = connect(tenant, uniconta, settings={"entities": {
        "customers": {"enabled": True}, "suppliers": {"enabled": False},
        "contacts": {"enabled": True}}})  # fmt: skip
    import_all(system, tenant, connection["id"])
    supplier = tenant.api.post(
        "/parties",
        json={"name": "Træleverandøren ApS", "is_supplier": True, "creditor_number": "50010"},
    ).json()
    person = tenant.api.post(
        "/contact-persons", json={"party_id": supplier["id"], "name": "Jens Lund"}
    ).json()
    system.run_until_idle()
    [waiting] = issues(tenant, connection["id"], "contact_parent_pending")
    assert waiting["key"] == person["id"]
    assert (
        "is not in Uniconta: it is one of the suppliers, and this connection does not send "
        "suppliers; switch it on"
    ) in waiting["message"]
    assert "roles" not in waiting["message"]

    switched = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"entities": {"suppliers": {"enabled": True}}}},
    )
    assert switched.status_code == 200, switched.text
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/push").status_code == 202
    system.run_until_idle()
    assert issues(tenant, connection["id"]) == []
    rows = [c for c in uniconta.sandbox.all(COMPANY, "ContactClient") if c["Name"] == "Jens Lund"]
    assert [(r["DCType"], r["DCAccount"]) for r in rows] == [("Creditor", "50010")]


# ------------------------------------------------------------------ products and stock


def test_products_sync_one_way_and_unmapped_vat_codes_clear_by_themselves(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    items = seed_products(uniconta.sandbox, COMPANY, count=150, seed=7)
    special = [i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i.get("Vat") == "X99"]
    assert special, "the seed gives some items the unmapped VAT code X99"
    connection = connect(tenant, uniconta, settings={
        "entities": {"products": {"enabled": True}}, "vat_mapping": VAT})  # fmt: skip
    started = tenant.api.post(f"/connections/{connection['id']}/import").json()
    assert any("X99" in w for w in started["warnings"])
    system.run_until_idle()

    products = all_of(tenant, "/products")
    assert len(products) == len(items) - len(special)
    item = next(i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i["Vat"] == "S25")
    product = next(p for p in products if p["data"]["sku"] == item["Item"])
    assert product["data"]["vat_code"] == "DK25"
    assert product["data"]["name"] == item["Name"]
    skipped = issues(tenant, connection["id"], "vat_code_unmapped")
    assert sorted(i["key"] for i in skipped) == sorted(i["Item"] for i in special)
    assert "X99" in skipped[0]["message"]

    calls = uniconta.calls()
    mapped = tenant.api.put(
        f"/connections/{connection['id']}/mappings", json={"vat": {"X99": "SPECIAL"}}
    )
    assert mapped.status_code == 200
    system.run_until_idle()
    assert uniconta.calls() == calls  # applied again from the copy kept with each issue
    assert len(all_of(tenant, "/products")) == len(items)
    assert issues(tenant, connection["id"]) == []


def test_product_edited_in_the_hub_is_not_sent_and_the_api_says_why(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed_products(uniconta.sandbox, COMPANY, count=5, seed=8)
    settings = {"entities": {"products": {"enabled": True}}, "vat_mapping": {**VAT, "X99": "X"}}
    connection = connect(tenant, uniconta, settings=settings)
    import_all(system, tenant, connection["id"])
    product = all_of(tenant, "/products")[0]
    before = uniconta.sandbox.get(COMPANY, "InvItemClient", product["data"]["sku"])
    tenant.api.patch(f"/products/{product['id']}", json={"name": "Renamed in the CRM"})
    system.run_until_idle()
    assert uniconta.sandbox.get(COMPANY, "InvItemClient", product["data"]["sku"]) == before
    record = tenant.api.get(f"/products/{product['id']}").json()
    notes = [s["issue"] for s in record["sync"] if s.get("issue")]
    assert notes[0]["reason"] == "product_master_is_uniconta"
    assert "not sent" in notes[0]["message"]


# ------------------------------------------------------------------ scheduled jobs


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))


@pytest.fixture
def timed(settings: Settings, clock: ManualClock) -> Iterator[System]:
    built = System(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def timed_tenant(timed: System, hub_port: int) -> Iterator[Tenant]:
    server = ServerThread(create_app(timed), port=hub_port).start()
    yield new_tenant(timed, f"{server.url}/api/v1")
    server.stop()


def _until(system: System, clock: ManualClock, when: datetime, step: timedelta) -> None:
    """Move the clock to ``when`` in steps, running whatever comes due (as the tick does)."""
    while clock.now() < when:
        clock.advance(min(step, when - clock.now()))
        system.run_until_idle()


def test_stock_levels_refresh_daily_at_0500_local_time(
    timed: System, timed_tenant: Tenant, uniconta: Uniconta, clock: ManualClock
) -> None:
    items = seed_products(uniconta.sandbox, COMPANY, count=10, seed=9)
    connection = connect(timed_tenant, uniconta, settings={"entities": {
        "products": {"enabled": True}, "stock_levels": {"enabled": True}},
        "vat_mapping": {**VAT, "X99": "X"}})  # fmt: skip
    import_all(timed, timed_tenant, connection["id"])
    stocked = next(
        i["Item"] for i in uniconta.sandbox.all(COMPANY, "InvItemStorageClient")
        if i["Item"] in items
    )  # fmt: skip
    uniconta.sandbox.set_stock(COMPANY, stocked, "Hoved", 777)

    def hub_qty() -> str | None:
        status = timed_tenant.api.get(f"/connections/{connection['id']}").json()
        assert status["import_state"] == "done"
        with timed.sessions() as session:
            from ledgerbridge.store.tables.hub import HubRecord

            rows = session.query(HubRecord).filter(HubRecord.entity == "stock_level").all()
            product_ids = {
                p["id"] for p in all_of(timed_tenant, "/products") if p["data"]["sku"] == stocked
            }
            for row in rows:
                if row.data["product_id"] in product_ids and row.data["warehouse"] == "Hoved":
                    return str(row.data["quantity"])
        return None

    assert hub_qty() != "777"
    # 04:59 Copenhagen on 21 November is 03:59 UTC: not yet.
    _until(timed, clock, datetime(2026, 11, 21, 3, 59, tzinfo=UTC), timedelta(minutes=30))
    assert hub_qty() != "777"
    _until(timed, clock, datetime(2026, 11, 21, 4, 1, tzinfo=UTC), timedelta(minutes=1))
    assert hub_qty() == "777"


def test_a_paused_connection_says_its_daily_stock_and_payment_reads_do_not_run(
    timed: System, timed_tenant: Tenant, uniconta: Uniconta, clock: ManualClock
) -> None:
    """Stock out of date after 05:00: the status of a paused connection says that nothing
    runs and how to resume it; resumed, the next 05:00 brings the stock."""
    item = seed_products(uniconta.sandbox, COMPANY, count=3, seed=9)[0]
    connection = connect(timed_tenant, uniconta, settings={"entities": {
        "products": {"enabled": True}, "stock_levels": {"enabled": True},
        "payment_status": {"enabled": True}}, "vat_mapping": {**VAT, "X99": "X"}})  # fmt: skip
    cid = connection["id"]
    import_all(timed, timed_tenant, cid)
    assert timed_tenant.api.get(f"/connections/{cid}").json()["warnings"] == []
    assert timed_tenant.api.patch(f"/connections/{cid}", json={"active": False}).is_success
    uniconta.sandbox.set_stock(COMPANY, item, "Hoved", 555)

    def counted() -> list[dict[str, Any]]:
        levels = all_of(timed_tenant, "/stock-levels")
        return [level for level in levels if float(level["data"]["quantity"]) == 555]

    status = timed_tenant.api.get(f"/connections/{cid}").json()
    (paused,) = status["warnings"]
    assert "paused" in paused and "nothing syncs" in paused
    assert "stock" in paused and "payments" in paused, "names the scheduled reads that stop"
    assert '{"active": true}' in paused
    _until(timed, clock, datetime(2026, 11, 21, 4, 30, tzinfo=UTC), timedelta(minutes=30))
    assert not counted()

    assert timed_tenant.api.patch(f"/connections/{cid}", json={"active": True}).is_success
    assert timed_tenant.api.get(f"/connections/{cid}").json()["warnings"] == []
    _until(timed, clock, datetime(2026, 11, 22, 4, 30, tzinfo=UTC), timedelta(hours=2))
    assert counted()


def test_payment_status_arrives_daily_at_0300_across_a_daylight_saving_change(
    settings: Settings, uniconta: Uniconta, hub_port: int
) -> None:
    clock = ManualClock(datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
    system = System(settings, clock=clock)
    server = ServerThread(create_app(system), port=hub_port).start()
    tenant = new_tenant(system, f"{server.url}/api/v1")
    try:
        seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=10)
        seed_products(uniconta.sandbox, COMPANY, count=5, seed=10)
        numbers = seed_invoices(uniconta.sandbox, COMPANY, count=6, lines=2, seed=10)
        connection = connect(tenant, uniconta, settings=full(vat_mapping={**VAT, "X99": "X"}))
        import_all(system, tenant, connection["id"])
        unpaid = [
            o for o in uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
            if not o.get("Paid") and int(o["Invoice"]) in numbers
        ]  # fmt: skip
        target = unpaid[0]
        uniconta.sandbox.register_payment(COMPANY, int(target["Invoice"]), target["AmountOpen"])

        def status_of(number: str) -> str:
            invoice = next(i for i in all_of(tenant, "/invoices") if i["data"]["number"] == number)
            return str(invoice["data"]["status"])

        payment_runs: list[datetime] = []
        # Sunday 25 October 2026: Copenhagen falls back from 03:00 CEST to 02:00 CET.
        end = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)
        while clock.now() < end:
            clock.advance(timedelta(minutes=15))
            system.run_until_idle()
            for job in system.queue.list(connection_id=connection["id"]):
                done = job.kind == "payments" and job.status == "done" and job.started_at
                if done and job.started_at not in payment_runs:
                    payment_runs.append(job.started_at)
        local = [t.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") for t in sorted(payment_runs)]
        assert [d[:10] for d in local] == ["2026-10-24", "2026-10-25", "2026-10-26"]
        assert all(d.endswith("03:00") for d in local)
        assert status_of(str(target["Invoice"])) == "paid"
    finally:
        server.stop()
        system.close()


# ------------------------------------------------------------------ invoices


@pytest.fixture
def trading(system: System, tenant: Tenant, uniconta: Uniconta) -> dict[str, Any]:
    """A company with customers and products, connected with every stream on."""
    accounts = seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=11)
    items = seed_products(uniconta.sandbox, COMPANY, count=8, seed=11)
    connection = connect(tenant, uniconta, settings=full(
        post_invoices=True, vat_mapping={**VAT, "X99": "X"}))  # fmt: skip
    import_all(system, tenant, connection["id"])
    party = party_by_number(tenant, "debtor_number", accounts[0])
    item = next(i for i in uniconta.sandbox.all(COMPANY, "InvItemClient") if i["Item"] in items
                and i.get("Vat") == "S25")  # fmt: skip
    return {"connection": connection, "party": party, "item": item, "accounts": accounts}


def _invoice_body(party_id: str, sku: str, **extra: Any) -> dict[str, Any]:
    return {
        "party_id": party_id,
        "date": "2026-11-20",
        "payment_term_days": 14,
        "currency": "DKK",
        "status": "sent",
        "lines": [
            {"sku": sku, "description": "Konsulenttimer", "quantity": "3", "unit_price": "850",
             "vat_code": "DK25"},
            {"description": "Kørsel", "quantity": "1", "unit_price": "250", "vat_code": "DK25"},
        ],
        **extra,
    }  # fmt: skip


def test_hub_invoice_becomes_a_posted_uniconta_invoice(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    )
    assert created.status_code == 201, created.text
    system.run_until_idle()
    record = tenant.api.get(f"/invoices/{created.json()['id']}").json()
    assert record["data"]["status"] == "booked"
    number = int(record["data"]["number"])
    invoice = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", number)
    assert invoice is not None
    assert invoice["Account"] == trading["accounts"][0]
    assert invoice["NetAmount"] == 2800
    lines = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
             if ln["InvoiceNumber"] == number]  # fmt: skip
    assert [(ln.get("Item"), ln["InvoiceQty"]) for ln in lines] == [
        (trading["item"]["Item"], 3), (None, 1)]  # fmt: skip
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    # The hourly pull recognises it: still one invoice in the hub.
    tenant.api.post(f"/connections/{trading['connection']['id']}/jobs/invoices")
    system.run_until_idle()
    assert len(all_of(tenant, "/invoices")) == 1


def test_an_invoice_to_a_debtor_deleted_in_uniconta_says_so_and_is_posted_once_made_again(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    """A debtor deleted in Uniconta by mistake: its next invoice is refused, the issue says
    what happened and offers Make again, which makes the debtor again under its number and
    then posts the invoice, once."""
    cid, account = trading["connection"]["id"], trading["accounts"][0]
    sku = trading["item"]["Item"]
    first = tenant.api.post("/invoices", json=_invoice_body(trading["party"]["id"], sku))
    assert first.status_code == 201, first.text
    system.run_until_idle()
    uniconta.sandbox.delete(COMPANY, "DebtorClient", account)

    second = tenant.api.post("/invoices", json=_invoice_body(trading["party"]["id"], sku))
    assert second.status_code == 201, second.text
    system.run_until_idle()
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    [issue] = issues(tenant, cid)
    assert (issue["reason"], issue["key"]) == ("reference_missing", second.json()["id"])
    assert "Uniconta no longer has the invoice's debtor" in issue["message"], issue["message"]
    assert "dismiss this issue" in issue["message"] and "Make again" in issue["message"]

    retried = tenant.api.post(
        f"/connections/{cid}/issues/retry", json={"issue_id": issue["id"], "recreate": True}
    )
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    debtors = [d for d in uniconta.sandbox.all(COMPANY, "DebtorClient") if d["Account"] == account]
    assert len(debtors) == 1
    posted = [i for i in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
              if i.get("OurRef") == INVOICE_REF_PREFIX + second.json()["id"]]  # fmt: skip
    assert [i["Account"] for i in posted] == [account]
    record = tenant.api.get(f"/invoices/{second.json()['id']}").json()
    assert record["data"]["number"] == str(posted[0]["InvoiceNumber"])
    assert issues(tenant, cid) == []


def test_unposted_order_is_linked_to_the_invoice_posted_later_in_uniconta(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    cid = trading["connection"]["id"]
    tenant.api.patch(f"/connections/{cid}", json={"settings": {"post_invoices": False}})
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    orders = uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
    assert len(orders) == 1
    assert tenant.api.get(f"/invoices/{created['id']}").json()["data"]["number"] is None

    posted = uniconta.sandbox.post_order(COMPANY, orders[0]["OrderNumber"], "2026-11-21")
    tenant.api.post(f"/connections/{cid}/jobs/invoices")
    system.run_until_idle()
    invoices = all_of(tenant, "/invoices")
    assert len(invoices) == 1
    assert invoices[0]["data"]["number"] == str(posted["InvoiceNumber"])
    assert invoices[0]["data"]["status"] == "booked"


def test_an_invoice_line_in_a_unit_not_mapped_waits_until_the_unit_mapping_names_it(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    """Units are pre-mapped for the common ones; a hub unit of the app's own is added to the
    unit mapping, and the invoice that waited for it goes by itself."""
    cid = trading["connection"]["id"]
    body = _invoice_body(trading["party"]["id"], trading["item"]["Item"])
    body["lines"][0]["unit"] = "plt"
    created = tenant.api.post("/invoices", json=body).json()
    system.run_until_idle()
    (waiting,) = issues(tenant, cid, "unit_unmapped")
    assert waiting["key"] == created["id"]
    assert "'plt'" in waiting["message"] and "settings.unit_mapping" in waiting["message"]
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    assert uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient") == []

    saved = tenant.api.put(f"/connections/{cid}/mappings", json={"units": {"Pallet": "plt"}})
    assert saved.is_success, saved.text
    system.run_until_idle()
    assert issues(tenant, cid) == []
    record = tenant.api.get(f"/invoices/{created['id']}").json()["data"]
    assert record["status"] == "booked"
    lines = uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
    assert any(line.get("Unit") == "Pallet" for line in lines), lines


def test_posted_invoice_lines_are_read_only_but_date_and_payment_term_sync(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    record = tenant.api.get(f"/invoices/{created['id']}").json()
    number = int(record["data"]["number"])

    lines = record["data"]["lines"]
    lines[0]["quantity"] = "5"
    tenant.api.patch(f"/invoices/{created['id']}", json={"lines": lines})
    system.run_until_idle()
    refused = issues(tenant, trading["connection"]["id"], "invoice_lines_readonly_after_posting")
    assert [i["key"] for i in refused] == [created["id"]]
    assert "put its lines back as posted" in refused[0]["message"]
    assert "credit note" in refused[0]["message"] and "new invoice" in refused[0]["message"]
    stored = [ln for ln in uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
              if ln["InvoiceNumber"] == number]  # fmt: skip
    assert stored[0]["InvoiceQty"] == 3

    lines[0]["quantity"] = "3"
    tenant.api.patch(
        f"/invoices/{created['id']}",
        json={"lines": lines, "date": "2026-11-25", "due_date": "2026-12-25",
              "payment_term_days": 30},
    )  # fmt: skip
    system.run_until_idle()
    invoice = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", number)
    assert invoice is not None
    assert invoice["Date"].startswith("2026-11-25")
    assert invoice["Payment"] == "Netto 30"
    assert issues(tenant, trading["connection"]["id"]) == []


def test_credit_note_negates_the_lines_and_settles_the_original(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    original = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    number = int(tenant.api.get(f"/invoices/{original['id']}").json()["data"]["number"])
    credit = tenant.api.post(
        "/invoices",
        json={
            "kind": "credit_note", "party_id": trading["party"]["id"], "date": "2026-11-22",
            "payment_term_days": 14, "currency": "DKK", "status": "sent",
            "credits_invoice_id": original["id"],
            "lines": [{"description": "Kørsel", "quantity": "-1", "unit_price": "250",
                       "vat_code": "DK25"}],
        },
    )  # fmt: skip
    assert credit.status_code == 201, credit.text
    system.run_until_idle()
    credit_number = int(tenant.api.get(f"/invoices/{credit.json()['id']}").json()["data"]["number"])
    posted = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", credit_number)
    assert posted is not None and posted["NetAmount"] == -250
    open_items = {
        int(o["Invoice"]): o for o in uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
    }
    assert open_items[number]["AmountOpen"] == open_items[number]["Amount"] - 312.5


def test_invoices_posted_in_uniconta_arrive_with_their_lines(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    numbers = seed_invoices(uniconta.sandbox, COMPANY, count=12, lines=3, seed=12)
    tenant.api.post(f"/connections/{trading['connection']['id']}/jobs/invoices")
    system.run_until_idle()
    invoices = {i["data"]["number"]: i for i in all_of(tenant, "/invoices")}
    assert sorted(invoices) == sorted(str(n) for n in numbers)
    sample = invoices[str(numbers[0])]
    assert len(sample["data"]["lines"]) == 3
    # The next hourly pull reads only what follows the last invoice seen: one empty page
    # (the first read every header, and the VAT rates it read are kept).
    before = uniconta.calls()
    tenant.api.post(f"/connections/{trading['connection']['id']}/jobs/invoices")
    system.run_until_idle()
    assert uniconta.calls() - before == 1
    source = uniconta.sandbox.get(COMPANY, "DebtorInvoiceClient", numbers[0])
    assert sample["data"]["party_id"] == party_by_number(
        tenant, "debtor_number", source["Account"])["id"]  # fmt: skip


def test_invoice_generation_failure_is_shown_on_the_invoice_and_can_be_retried(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    message = "Fakturanummerserien er ikke sat op"
    uniconta.sandbox.fail_next_postings(COMPANY, message)
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    record = tenant.api.get(f"/invoices/{created['id']}").json()
    failure = next(s["issue"] for s in record["sync"] if s.get("issue"))
    assert failure["reason"] == "invoice_generation_failed"
    # The booking service answers Uniconta's ErrorCodes value only, not its message.
    assert "InvoiceGenerationFailed" in failure["message"]
    assert len(uniconta.sandbox.all(COMPANY, "DebtorOrderClient")) == 1

    tenant.api.post(f"/connections/{trading['connection']['id']}/jobs/retry")
    system.run_until_idle()
    record = tenant.api.get(f"/invoices/{created['id']}").json()
    assert record["data"]["status"] == "booked"
    assert all(not s.get("issue") for s in record["sync"])
    assert uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []


def test_invoice_generation_that_keeps_failing_says_what_to_do_and_closes_once_booked_by_hand(
    system: System, tenant: Tenant, uniconta: Uniconta, trading: dict[str, Any]
) -> None:
    """Some companies' invoices cannot be generated through Uniconta's API at all: the issue
    says to retry, and when it keeps failing to book the order in Uniconta and ask Uniconta's
    support; the order booked by hand is linked by the invoices pull and the issue closes."""
    cid = trading["connection"]["id"]
    uniconta.sandbox.fail_next_postings(COMPANY, "Fakturanummerserien er ikke sat op", count=3)
    created = tenant.api.post(
        "/invoices", json=_invoice_body(trading["party"]["id"], trading["item"]["Item"])
    ).json()
    system.run_until_idle()
    tenant.api.post(f"/connections/{cid}/jobs/retry")
    system.run_until_idle()
    (failure,) = issues(tenant, cid, "invoice_generation_failed")
    assert failure["key"] == created["id"]
    (order,) = uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
    assert f"order {order['OrderNumber']} is kept in Uniconta" in failure["message"]
    assert "retry" in failure["message"]
    assert "book the order in Uniconta" in failure["message"]
    assert "Uniconta support" in failure["message"]

    booked = uniconta.sandbox.post_order(COMPANY, order["OrderNumber"], date="2026-11-20")
    tenant.api.post(f"/connections/{cid}/jobs/invoices")
    system.run_until_idle()
    data = tenant.api.get(f"/invoices/{created['id']}").json()["data"]
    assert (data["number"], data["status"]) == (str(booked["InvoiceNumber"]), "booked")
    assert issues(tenant, cid, "invoice_generation_failed") == []

    tenant.api.post(f"/connections/{cid}/jobs/retry")
    system.run_until_idle()
    assert len(uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 1, "booked once"


# ------------------------------------------------------------------ set-up and quota


def test_setup_refuses_a_standard_user_and_explains_the_reseller_role(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    uniconta.sandbox.add_user(COMPANY, "kontor", "pw", user_type="Standard")
    refused = tenant.api.post(
        "/setup/uniconta/login",
        json={"username": "kontor", "password": "pw", "base_url": uniconta.url},
    )
    assert refused.status_code == 422
    assert "type Server" in refused.json()["detail"][0]["msg"]

    uniconta.sandbox.add_user(COMPANY, "integration", "pw2", user_type="Server", roles=())
    login = tenant.api.post(
        "/setup/uniconta/login",
        json={"username": "integration", "password": "pw2", "base_url": uniconta.url},
    ).json()
    assert login["companies"][0]["company_id"] == COMPANY
    assert login["invoices_possible"] is False
    assert "Reseller" in login["warnings"][0]

    created = tenant.api.post(
        "/connections",
        json={"system": "uniconta", "settings": {"company_id": COMPANY, "username": "integration",
              "base_url": uniconta.url}, "secrets": {"password": "pw2"}},
    )  # fmt: skip
    assert created.status_code == 201
    assert any("Reseller" in w for w in created.json()["warnings"])
    enabling = tenant.api.patch(
        f"/connections/{created.json()['id']}",
        json={"settings": {"entities": {"invoices": {"enabled": True}}}},
    )
    assert enabling.status_code == 422
    assert enabling.json()["detail"][0]["loc"] == ["body", "settings", "entities", "invoices"]


def test_second_connection_with_the_same_user_is_warned_about_token_conflicts(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    first = connect(tenant, uniconta)
    assert first["warnings"] == []
    second = connect(tenant, uniconta, name="Uniconta, second")
    shared = [w for w in second["warnings"] if "already used by another connection" in w]
    assert len(shared) == 1
    # the status says so as long as it lasts, on both sides, not only in the create's answer
    for connection in (first, second):
        warnings = tenant.api.get(f"/connections/{connection['id']}").json()["warnings"]
        assert any("already used by another connection" in w for w in warnings)


def test_when_calls_run_short_products_wait_and_invoices_go_first(
    timed: System, timed_tenant: Tenant, uniconta: Uniconta, clock: ManualClock
) -> None:
    seed_debtors(uniconta.sandbox, COMPANY, count=5, seed=13)
    seed_products(uniconta.sandbox, COMPANY, count=5, seed=13)
    connection = connect(timed_tenant, uniconta, settings=full(
        daily_call_limit=40, vat_mapping={**VAT, "X99": "X"}))  # fmt: skip
    import_all(timed, timed_tenant, connection["id"])
    used = timed_tenant.api.get(f"/connections/{connection['id']}").json()["calls_used_today"]
    # Spend the day's budget down to the reserve kept for invoices and customers.
    key = SYSTEMS["uniconta"].credential_key({"base_url": uniconta.url, "username": USER})
    timed.ledger.consume(key, 40, "Europe/Copenhagen", 40 - 8 - used)
    cid = connection["id"]
    timed_tenant.api.post(f"/connections/{cid}/jobs/products")
    timed_tenant.api.post(f"/connections/{cid}/jobs/invoices")
    timed.run_until_idle()
    runs = timed_tenant.api.get(f"/connections/{cid}").json()["recent_runs"]
    latest = {r["kind"]: r for r in reversed(runs)}
    assert latest["products"]["status"] == "deferred"
    assert "kept for invoices and customers" in latest["products"]["message"]
    assert latest["invoices"]["status"] == "succeeded"
    assert PASSWORD not in str(runs)


ZONE = __import__("zoneinfo").ZoneInfo("Europe/Copenhagen")


def test_a_supplier_without_a_number_gets_one_once_creditor_numbers_is_set(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta, settings={
        "entities": {"customers": {"enabled": True}, "suppliers": {"enabled": True}}})  # fmt: skip
    import_all(system, tenant, connection["id"])
    made = tenant.api.post("/parties", json={"name": "Papir og Pap A/S", "is_supplier": True})
    assert made.status_code == 201, made.text
    system.run_until_idle()
    [waiting] = issues(tenant, connection["id"], "creditor_number_missing")
    assert "set creditor_numbers and retry" in waiting["message"]

    url = f"/connections/{connection['id']}"
    numbered = tenant.api.patch(url, json={"settings": {"creditor_numbers": {"next": 59500}}})
    assert numbered.status_code == 200, numbered.text
    assert tenant.api.post(f"{url}/issues/retry", json={}).status_code == 202
    system.run_until_idle()
    record = tenant.api.get(f"/parties/{made.json()['id']}").json()
    assert record["data"]["creditor_number"] == "59500"
    assert uniconta.sandbox.get(COMPANY, "CreditorClient", "59500")["Name"] == "Papir og Pap A/S"
    assert issues(tenant, connection["id"]) == []


def test_a_country_the_connector_does_not_know_syncs_once_country_mapping_names_it(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """Uniconta has a member for every country; one the connector has no name for skips its
    records with country_unmapped, saying to add it to country_mapping, and once it is there
    they sync both ways by themselves."""
    uniconta.sandbox.insert(COMPANY, "DebtorClient", {
        "Account": "30001", "Name": "Café do Brasil Ltda", "City": "São Paulo",
        "Country": "Brazil",
    })  # fmt: skip
    connection = connect(tenant, uniconta)
    cid, url = connection["id"], f"/connections/{connection['id']}"
    import_all(system, tenant, cid)
    made = tenant.api.post("/parties", json={
        "name": "Kyiv Tea LLC", "is_customer": True, "debtor_number": "30002",
        "billing_address": {"city": "Kyiv", "country": "UA"},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    system.run_until_idle()
    skipped = {i["key"]: i["message"] for i in issues(tenant, cid, "country_unmapped")}
    assert set(skipped) == {"30001", made.json()["id"]}
    assert "Uniconta country 'Brazil'" in skipped["30001"]
    assert all("add it to settings.country_mapping" in m for m in skipped.values())
    assert uniconta.sandbox.get(COMPANY, "DebtorClient", "30002") is None

    refused = tenant.api.patch(url, json={"settings": {"country_mapping": {
        "XX": "Atlantis", "UA": "", "SE": "Sverige", "GB": "United Kingdom",
    }}})  # fmt: skip
    assert refused.status_code == 422, refused.text
    problems = {tuple(p["loc"][1:]): p["msg"] for p in refused.json()["detail"]}
    assert sorted(problems) == [
        ("settings", "country_mapping", "GB"), ("settings", "country_mapping", "UA"),
        ("settings", "country_mapping", "XX"),
    ]  # fmt: skip
    assert "unknown country code 'XX'" in problems[("settings", "country_mapping", "XX")]
    assert "one word" in problems[("settings", "country_mapping", "GB")]
    taken = tenant.api.patch(url, json={"settings": {"country_mapping": {"AX": "Finland"}}})
    assert taken.status_code == 422
    assert "AX: 'Finland' is already the Uniconta country of FI" in taken.text

    mapped = tenant.api.patch(url, json={"settings": {"country_mapping": {
        "BR": "Brazil", "ua": "Ukraine"}}})  # fmt: skip
    assert mapped.status_code == 200, mapped.text
    system.run_until_idle()
    address = party_by_number(tenant, "debtor_number", "30001")["data"]["billing_address"]
    assert (address["city"], address["country"]) == ("São Paulo", "BR")
    assert uniconta.sandbox.get(COMPANY, "DebtorClient", "30002")["Country"] == "Ukraine"
    assert issues(tenant, cid) == []
