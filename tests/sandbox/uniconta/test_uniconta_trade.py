"""Uniconta sandbox over real HTTP: login listings, VAT, stock, orders, posting, payments, seeds.

The server, the per-test sandbox and the callback receiver are fixtures in ``conftest.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from ledgerbridge.sandbox.uniconta import (
    SandboxError,
    UnicontaSandbox,
    seed_contacts,
    seed_creditors,
    seed_debtors,
    seed_invoices,
    seed_products,
)
from ledgerbridge.sandbox.uniconta.posting import PostingRefused
from tests.sandbox.uniconta.conftest import COMPANY, OTHER_COMPANY, PASSWORD, USER, Receiver


def _value(response: httpx.Response) -> list[dict[str, Any]]:
    """``value`` of a successful OData response."""
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def _ok(response: httpx.Response) -> Any:
    """Body of a 200 REST response."""
    assert response.status_code == 200, response.text
    return response.json()


def _error(response: httpx.Response, code: str, *fragments: str) -> None:
    """Assert a 400 REST error with ``code`` whose message names every fragment."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ErrorCode"] == code, body
    for fragment in fragments:
        assert fragment in body["Message"], (fragment, body["Message"])


def _setup_trade(sandbox: UnicontaSandbox) -> None:
    """Two debtors, a warehouse and three items with different VAT codes and units."""
    for account, name, payment, currency in (
        ("10000", "Hansen & Søn ApS", "Netto 8", "DKK"),
        ("10001", "Nordisk Træ A/S", "Lb. md. + 30", "EUR"),
    ):
        sandbox.insert(
            COMPANY,
            "DebtorClient",
            {"Account": account, "Name": name, "Payment": payment, "Currency": currency},
        )
    sandbox.insert(COMPANY, "InvWarehouseClient", {"Warehouse": "Hoved", "Name": "Hovedlager"})
    for item, name, vat, unit, price in (
        ("P1", "Skrue 5x50", "S25", "Box", 89.95),
        ("P2", "Avisabonnement", "S0", "Month", 249),
        ("P3", "Konsulenttime", None, "Hours", 950),
    ):
        sandbox.insert(
            COMPANY,
            "InvItemClient",
            {"Item": item, "Name": name, "Vat": vat, "Unit": unit, "SalesPrice1": price},
        )


def _order(client: httpx.Client, account: str = "10000", **extra: Any) -> dict[str, Any]:
    """Insert an order over REST and return it."""
    order: dict[str, Any] = _ok(
        client.post("/api/Entities/Insert/DebtorOrderClient", json={"Account": account, **extra})
    )
    return order


def _lines(client: httpx.Client, order: int, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    """Insert lines (a batch) on an order over REST."""
    body = [{"OrderNumber": order, **line} for line in lines]
    stored: list[dict[str, Any]] = _ok(
        client.post("/api/Entities/Insert/DebtorOrderLineClient", json=body)
    )
    return stored


def _post(
    sandbox: UnicontaSandbox,
    OrderNumber: int,
    Date: str | None = None,
    InvoiceNumber: int = 0,
    Simulate: bool = False,
) -> dict[str, Any]:
    """Post as ``InvoiceAPI.PostInvoice`` does, on a chosen date: the posting effects. The
    booking service's HTTP contract is tested in ``test_uniconta_booking``."""
    try:
        result = sandbox.book_order(
            COMPANY, OrderNumber, simulate=Simulate, invoice_date=Date,
            invoice_number=InvoiceNumber,
        )  # fmt: skip
    except PostingRefused as exc:
        return {"Err": exc.code, "Message": exc.message}
    return {k: v for k, v in result.items() if k not in ("Header", "OrderDeleted", "DocumentType")}


# ------------------------------------------------------------------- login listings


def test_company_list_for_plain_and_prefixed_logins(
    sandbox: UnicontaSandbox, base_url: str
) -> None:
    sandbox.add_company(33333, "Tredje ApS", country="Sweden", currency="SEK")
    sandbox.add_user(33333, USER, PASSWORD)
    expected = [
        {"CompanyId": COMPANY, "Name": "Demo ApS", "Country": "Denmark", "CurrencyId": "DKK"},
        {"CompanyId": 33333, "Name": "Tredje ApS", "Country": "Sweden", "CurrencyId": "SEK"},
    ]
    plain = httpx.get(f"{base_url}/odata/CompanyClient", auth=(USER, PASSWORD))
    assert _value(plain) == expected
    assert plain.json()["@odata.context"].endswith("/odata/$metadata#CompanyClient")
    prefixed = httpx.get(f"{base_url}/odata/CompanyClient", auth=(f"0033333/{USER}", PASSWORD))
    assert _value(prefixed) == expected
    filtered = httpx.get(
        f"{base_url}/odata/CompanyClient",
        params={"$filter": "CurrencyId eq 'SEK'", "$select": "CompanyId"},
        auth=(USER, PASSWORD),
    )
    assert _value(filtered) == [{"CompanyId": 33333}]
    assert sandbox.calls_today(COMPANY, USER) == 2  # standard company: the first one
    assert sandbox.calls_today(33333, USER) == 1
    other = httpx.get(f"{base_url}/odata/CompanyClient", auth=("other", "pw2"))
    assert [c["CompanyId"] for c in _value(other)] == [OTHER_COMPANY]


def test_user_client_shows_only_the_login(sandbox: UnicontaSandbox, base_url: str) -> None:
    sandbox.add_user(COMPANY, "bo", "pw3", user_type="Standard", name="Bo Holm")
    server = httpx.get(f"{base_url}/odata/UserClient", auth=(f"00{COMPANY}/{USER}", PASSWORD))
    assert _value(server) == [
        {"LoginId": USER, "Name": USER, "UserType": "Server", "Roles": ["Reseller"]}
    ]
    standard = httpx.get(f"{base_url}/odata/{COMPANY}/UserClient", auth=("bo", "pw3"))
    assert _value(standard) == [
        {"LoginId": "bo", "Name": "Bo Holm", "UserType": "Standard", "Roles": []}
    ]
    sandbox.add_user(OTHER_COMPANY, USER, PASSWORD, roles=("Accountant",))
    both = httpx.get(f"{base_url}/odata/UserClient", auth=(USER, PASSWORD))
    assert _value(both)[0]["Roles"] == ["Reseller", "Accountant"]
    companies = httpx.get(f"{base_url}/odata/CompanyClient", auth=(USER, PASSWORD))
    assert [c["CompanyId"] for c in _value(companies)] == [COMPANY, OTHER_COMPANY]
    assert httpx.get(f"{base_url}/odata/UserClient", auth=(USER, "bad")).status_code == 401
    write = httpx.post(
        f"{base_url}/api/Entities/Insert/UserClient", json={"LoginId": "x"}, auth=(USER, PASSWORD)
    )
    _error(write, "NotAllowed", "UserClient")
    bad_order = httpx.get(
        f"{base_url}/odata/UserClient", params={"$orderby": "Roles"}, auth=(USER, PASSWORD)
    )
    assert bad_order.status_code == 400 and "Roles" in bad_order.json()["error"]["message"]


def test_every_company_starts_with_danish_vat_codes(client: httpx.Client) -> None:
    codes = _value(client.get(f"/odata/{COMPANY}/GLVatClient", params={"$orderby": "RowId"}))
    assert [(c["Vat"], c["Name"], c["VatType"], c["Rate"]) for c in codes] == [
        ("S25", "Salg 25%", "Sales", 25),
        ("K25", "Køb 25%", "Purchase", 25),
        ("S0", "Momsfritt salg", "Sales", 0),
        ("EU0", "EU salg", "Sales", 0),
        ("U25", "Udland 25", "Sales", 25),
    ]
    assert all(c["Blocked"] is False for c in codes)
    sales = _value(client.get(f"/odata/{COMPANY}/GLVatClient?$filter=VatType eq 'Purchase'"))
    assert [c["Vat"] for c in sales] == ["K25"]
    metadata = client.get("/odata/$metadata").text
    assert '<Key><PropertyRef Name="Item"/><PropertyRef Name="Warehouse"/></Key>' in metadata
    assert '<Property Name="Date" Type="Edm.Date" Nullable="true"/>' in metadata
    assert '<EnumType Name="GLVatSaleBuy">' in metadata


# ----------------------------------------------------------------------- stock


def test_stock_writes_roll_up_to_the_item_and_call_back(
    sandbox: UnicontaSandbox, client: httpx.Client, receiver: Receiver
) -> None:
    _setup_trade(sandbox)
    sandbox.insert(COMPANY, "InvWarehouseClient", {"Warehouse": "Aarhus", "Name": "Lager Aarhus"})
    sandbox.set_change_url(COMPANY, receiver.url)
    inserted = _ok(
        client.post(
            "/api/Entities/Insert/InvItemStorageClient",
            json=[
                {"Item": "P1", "Warehouse": "Hoved", "Qty": 40, "QtyReserved": 5, "Available": 1},
                {"Item": "P1", "Warehouse": "Aarhus", "Qty": 12.5, "QtyOrdered": 100},
            ],
        )
    )
    assert [row["Available"] for row in inserted] == [35, 12.5]
    item = sandbox.get(COMPANY, "InvItemClient", "P1")
    assert item is not None
    assert (item["QtyOnStock"], item["QtyReserved"], item["QtyOrdered"], item["Available"]) == (
        52.5,
        5,
        100,
        47.5,
    )
    updated = _ok(
        client.put("/api/Entities/Update/InvItemStorageClient", json=dict(inserted[0], Qty=10))
    )
    assert updated["Available"] == 5 and updated["RowId"] == inserted[0]["RowId"]
    sandbox.set_stock(COMPANY, "P1", "Aarhus", 0)
    sandbox.set_stock(COMPANY, "P2", "Hoved", 7)
    assert sandbox.get(COMPANY, "InvItemClient", "P1")["QtyOnStock"] == 10  # type: ignore[index]
    assert sandbox.get(COMPANY, "InvItemStorageClient", "P2,Hoved")["Qty"] == 7  # type: ignore[index]
    _error(
        client.post(
            "/api/Entities/Insert/InvItemStorageClient", json={"Item": "P1", "Warehouse": "Odense"}
        ),
        "InvalidValue",
        "Warehouse",
        "Odense",
    )
    _error(
        client.post("/api/Entities/Insert/InvItemStorageClient", json={"Item": "P1"}),
        "KeyIsEmpty",
        "Warehouse",
    )
    sandbox.wait_for_callbacks(timeout=5)
    seen = [(r.query["Table"], r.query["Key"], r.query["Operation"]) for r in receiver.requests]
    assert seen == [
        ("InvItemStorage", "P1", "Insert"),
        ("InvItemStorage", "P1", "Insert"),
        ("InvItemStorage", "P1", "Update"),
        ("InvItemStorage", "P1", "Update"),
        ("InvItemStorage", "P2", "Insert"),
    ]
    assert receiver.requests[2].query["RowId"] == str(inserted[0]["RowId"])


def test_master_data_calls_back_and_transactions_do_not(
    sandbox: UnicontaSandbox, client: httpx.Client, receiver: Receiver
) -> None:
    _setup_trade(sandbox)
    sandbox.set_change_url(COMPANY, receiver.url)
    client.post("/api/Entities/Insert/GLVatClient", json={"Vat": "S12", "Rate": 12.5})
    client.post("/api/Entities/Insert/InvWarehouseClient", json={"Warehouse": "Vejle"})
    order = _order(client)
    _lines(client, order["OrderNumber"], {"Item": "P1", "Qty": 1, "Price": 10})
    _post(sandbox, OrderNumber=order["OrderNumber"], Date="2026-03-10")
    sandbox.register_payment(COMPANY, 5000, 12.5)
    sandbox.wait_for_callbacks(timeout=5)
    assert [(r.query["Table"], r.query["Key"]) for r in receiver.requests] == [
        ("GLVat", "S12"),
        ("InvWarehouse", "Vejle"),
    ]


# ---------------------------------------------------------------------- orders


def test_orders_get_server_numbers_and_debtor_names(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)
    first = _order(client, YourRef="Tilbud 17", InvoiceDate="2026-03-12")
    assert first["OrderNumber"] == 1000
    assert first["Name"] == "Hansen & Søn ApS"
    assert first["InvoiceDate"] == "2026-03-12"
    assert first["UpdatedAt"] == first["Created"] == "2026-03-10T09:00:00.000Z"
    assert (first["OrderTotal"], first["NoLines"]) == (0, 0)
    assert _order(client, OrderNumber=0, Name="Eget navn")["Name"] == "Eget navn"
    assert _order(client, OrderNumber=1002)["OrderNumber"] == 1002
    batch = _ok(
        client.post(
            "/api/Entities/Insert/DebtorOrderClient",
            json=[{"Account": "10000"}, {"Account": "10001", "OrderNumber": 0}],
        )
    )
    assert [o["OrderNumber"] for o in batch] == [1003, 1004]  # 1002 was taken: skipped
    _error(
        client.post("/api/Entities/Insert/DebtorOrderClient", json={"Account": "99999"}),
        "InvalidValue",
        "Account",
        "99999",
    )
    duplicate = {"OrderNumber": 1000, "Account": "10000"}
    _error(
        client.post("/api/Entities/Insert/DebtorOrderClient", json=duplicate),
        "RecordExists",
        "1000",
    )
    numbers = [o["OrderNumber"] for o in sandbox.all(COMPANY, "DebtorOrderClient")]
    assert numbers == [1000, 1001, 1002, 1003, 1004]
    assert _order(client)["OrderNumber"] == 1005  # a refused insert used no number
    rows = [r["RowId"] for r in sandbox.all(COMPANY, "DebtorOrderClient")]
    assert rows == sorted(rows) and len(set(rows)) == len(rows)


def test_order_lines_are_numbered_and_totalled(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)
    number = _order(client)["OrderNumber"]
    other = _order(client)["OrderNumber"]
    lines = _lines(
        client,
        number,
        {"Item": "P1", "Qty": 3, "Price": 89.95, "DiscountPct": 10, "Total": 1},
        {"Text": "Fragt", "Qty": 1, "Price": 125},
        {"Item": "P3", "Qty": 2.5, "Price": 950, "Unit": "Hours", "Vat": "S25"},
    )
    assert [line["LineNumber"] for line in lines] == [1, 2, 3]
    assert [line["Total"] for line in lines] == [242.87, 125, 2375]  # 242.865 rounds up
    assert _lines(client, other, {"Text": "Anden ordre", "Qty": 1})[0]["LineNumber"] == 1
    order = sandbox.get(COMPANY, "DebtorOrderClient", number)
    assert order is not None and (order["OrderTotal"], order["NoLines"]) == (2742.87, 3)

    only_mine = _value(
        client.get(
            f"/odata/{COMPANY}/DebtorOrderLineClient",
            params={"$filter": f"OrderNumber eq {number}"},
        )
    )
    assert [(line["OrderNumber"], line["LineNumber"]) for line in only_mine] == [
        (number, 1),
        (number, 2),
        (number, 3),
    ]
    changed = _ok(
        client.put("/api/Entities/Update/DebtorOrderLineClient", json=dict(lines[1], Qty=2))
    )
    assert changed["Total"] == 250
    deleted = client.request(
        "DELETE",
        "/api/Entities/Delete/DebtorOrderLineClient",
        json={"OrderNumber": number, "LineNumber": 1},
    )
    assert _ok(deleted)["Item"] == "P1"
    order = sandbox.get(COMPANY, "DebtorOrderClient", number)
    assert order is not None and (order["OrderTotal"], order["NoLines"]) == (2625, 2)
    assert _lines(client, number, {"Text": "Efter sletning"})[0]["LineNumber"] == 4

    # A batch with one bad line stores none of it and hands out no line numbers.
    bad = client.post(
        "/api/Entities/Insert/DebtorOrderLineClient",
        json=[{"OrderNumber": number, "Text": "ok"}, {"OrderNumber": number, "Item": "NOPE"}],
    )
    _error(bad, "InvalidValue", "item 1", "Item", "NOPE")
    _error(
        client.post("/api/Entities/Insert/DebtorOrderLineClient", json={"OrderNumber": 4242}),
        "InvalidValue",
        "OrderNumber",
        "4242",
    )
    _error(
        client.post("/api/Entities/Insert/DebtorOrderLineClient", json={"Text": "løs"}),
        "KeyIsEmpty",
        "OrderNumber",
    )
    _error(
        client.post(
            "/api/Entities/Insert/DebtorOrderLineClient", json={"OrderNumber": number, "Vat": "Q1"}
        ),
        "InvalidValue",
        "Vat",
    )
    assert sandbox.get(COMPANY, "DebtorOrderClient", number)["NoLines"] == 3  # type: ignore[index]
    assert _lines(client, number, {"Text": "Næste"})[0]["LineNumber"] == 5

    client.request("DELETE", "/api/Entities/Delete/DebtorOrderClient", json={"OrderNumber": number})
    remaining = sandbox.all(COMPANY, "DebtorOrderLineClient")
    assert [line["OrderNumber"] for line in remaining] == [other]


# --------------------------------------------------------------------- posting


def test_posting_turns_an_order_into_an_invoice(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)
    order = _order(client, YourRef="PO-77", OurRef="CRM-123")
    number = order["OrderNumber"]
    _lines(
        client,
        number,
        {"Item": "P1", "Qty": 3, "Price": 89.95, "DiscountPct": 10},  # item VAT S25
        {"Item": "P2", "Qty": 1, "Price": 249},  # item VAT S0
        {"Item": "P3", "Qty": 2, "Price": 950, "Vat": "S0"},  # line VAT wins over the item's
        {"Text": "Fragt", "Qty": 1, "Price": 100},  # no item, no VAT: S25
    )
    simulated = _post(sandbox, OrderNumber=number, Date="2026-03-20", Simulate=True)
    assert simulated == {
        "Err": "Succes",
        "InvoiceNumber": 5000,
        "Date": "2026-03-20",
        "NetAmount": 2491.87,
        "VatAmount": 85.72,
        "TotalAmount": 2577.59,
    }
    assert sandbox.all(COMPANY, "DebtorInvoiceClient") == []
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is not None

    posted = _post(sandbox, OrderNumber=number, Date="2026-03-20", InvoiceNumber=0)
    assert posted == simulated

    invoice = sandbox.get(COMPANY, "DebtorInvoiceClient", 5000)
    assert invoice is not None
    assert {k: v for k, v in invoice.items() if k not in ("RowId", "Created")} == {
        "InvoiceNumber": 5000,
        "Account": "10000",
        "Name": "Hansen & Søn ApS",
        "Date": "2026-03-20",
        "DueDate": "2026-03-28",  # Netto 8, from the debtor
        "Payment": "Netto 8",
        "Currency": "DKK",
        "NetAmount": 2491.87,
        "VatAmount": 85.72,
        "TotalAmount": 2577.59,
        "OrderNumber": number,
        "YourRef": "PO-77",
        "OurRef": "CRM-123",
    }
    lines = _value(client.get(f"/odata/{COMPANY}/DebtorInvoiceLines?$filter=InvoiceNumber eq 5000"))
    assert [(line["LineNumber"], line.get("Item"), line["Vat"]) for line in lines] == [
        (1, "P1", "S25"),
        (2, "P2", "S0"),
        (3, "P3", "S0"),
        (4, None, "S25"),
    ]
    assert lines[0] == {
        "InvoiceNumber": 5000,
        "LineNumber": 1,
        "Item": "P1",
        "Text": "Skrue 5x50",
        "InvoiceQty": 3,
        "Unit": "Box",
        "SalesPrice": 89.95,
        "DiscountPct": 10,
        "NetAmount": 242.87,
        "Vat": "S25",
        "Currency": "DKK",
        "RowId": lines[0]["RowId"],
    }
    assert lines[2]["Unit"] == "Hours" and lines[3]["Text"] == "Fragt"
    open_items = _value(client.get(f"/odata/{COMPANY}/DebtorTransOpenClient"))
    assert [{k: v for k, v in row.items() if k != "RowId"} for row in open_items] == [
        {
            "Account": "10000",
            "Invoice": 5000,
            "Date": "2026-03-20",
            "DueDate": "2026-03-28",
            "Amount": 2577.59,
            "AmountOpen": 2577.59,
            "Paid": False,
            "Currency": "DKK",
        }
    ]
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is None
    assert sandbox.all(COMPANY, "DebtorOrderLineClient") == []
    assert invoice["RowId"] < lines[0]["RowId"] < open_items[0]["RowId"]


def test_invoice_numbers_due_dates_and_posting_errors(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)

    def order_with_line(account: str = "10000", **extra: Any) -> int:
        number: int = _order(client, account, **extra)["OrderNumber"]
        _lines(client, number, {"Item": "P2", "Qty": 1, "Price": 100})
        return number

    eom = order_with_line("10001")
    assert _post(sandbox, OrderNumber=eom, Date="2026-02-10")["InvoiceNumber"] == 5000
    invoice = sandbox.get(COMPANY, "DebtorInvoiceClient", 5000)
    assert invoice is not None
    assert (invoice["DueDate"], invoice["Currency"]) == ("2026-03-30", "EUR")  # Feb 28 + 30
    chosen = order_with_line(Payment="Netto 30")
    assert _post(sandbox, OrderNumber=chosen, Date="2026-03-01", InvoiceNumber=7000) == {
        "Err": "Succes",
        "InvoiceNumber": 7000,
        "Date": "2026-03-01",
        "NetAmount": 100,
        "VatAmount": 0,
        "TotalAmount": 100,
    }
    assert sandbox.get(COMPANY, "DebtorInvoiceClient", 7000)["DueDate"] == "2026-03-31"  # type: ignore[index]
    unknown_term = order_with_line(Payment="Kontant")
    assert _post(sandbox, OrderNumber=unknown_term)["InvoiceNumber"] == 5001
    assert sandbox.get(COMPANY, "DebtorInvoiceClient", 5001)["DueDate"] == "2026-03-24"  # type: ignore[index]

    taken = order_with_line()
    assert _post(sandbox, OrderNumber=taken, InvoiceNumber=7000)["Err"] == "RecordExists"
    missing = _post(sandbox, OrderNumber=4711)
    assert missing["Err"] == "RecordNotFound" and "4711" in missing["Message"]
    empty = _order(client)["OrderNumber"]
    no_lines = _post(sandbox, OrderNumber=empty)
    assert no_lines["Err"] == "NoLinesToInvoice" and str(empty) in no_lines["Message"]
    assert sandbox.get(COMPANY, "DebtorOrderClient", taken) is not None
    assert sandbox.post_order(COMPANY, taken, "2026-03-10")["InvoiceNumber"] == 5002
    with pytest.raises(SandboxError) as refused:
        sandbox.post_order(COMPANY, empty)
    assert refused.value.code == "NoLinesToInvoice"

    # A refusal found half way (a VAT code deleted since the line was written) uses no number.
    sandbox.insert(COMPANY, "GLVatClient", {"Vat": "S12", "Rate": 12})
    vat_gone = _order(client)["OrderNumber"]
    line = _lines(client, vat_gone, {"Text": "Rest", "Qty": 1, "Price": 10, "Vat": "S12"})[0]
    sandbox.delete(COMPANY, "GLVatClient", "S12")
    refused_vat = _post(sandbox, OrderNumber=vat_gone)
    assert refused_vat["Err"] == "RecordNotFound" and "S12" in refused_vat["Message"]
    client.put("/api/Entities/Update/DebtorOrderLineClient", json=dict(line, Vat="S25"))
    assert _post(sandbox, OrderNumber=vat_gone)["InvoiceNumber"] == 5003


def test_credit_note_settles_against_the_original_invoice(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)
    original = _order(client)["OrderNumber"]
    _lines(client, original, {"Item": "P3", "Qty": 4, "Price": 950})
    assert _post(sandbox, OrderNumber=original, Date="2026-03-01")["TotalAmount"] == 4750

    wrong = _order(client, Settlements="9999")["OrderNumber"]
    _lines(client, wrong, {"Item": "P3", "Qty": -1, "Price": 950})
    refused = _post(sandbox, OrderNumber=wrong)
    assert refused["Err"] == "InvoiceNotFound" and "9999" in refused["Message"]

    credit = _order(client, Settlements="5000")["OrderNumber"]
    _lines(client, credit, {"Item": "P3", "Qty": -1, "Price": 950})
    posted = _post(sandbox, OrderNumber=credit, Date="2026-03-05")
    assert (posted["InvoiceNumber"], posted["NetAmount"], posted["TotalAmount"]) == (
        5001,
        -950,
        -1187.5,
    )
    invoice = sandbox.get(COMPANY, "DebtorInvoiceClient", 5001)
    assert invoice is not None and invoice["VatAmount"] == -237.5
    lines = sandbox.all(COMPANY, "DebtorInvoiceLines")
    assert [line["InvoiceQty"] for line in lines if line["InvoiceNumber"] == 5001] == [-1]
    items = {row["Invoice"]: row for row in sandbox.all(COMPANY, "DebtorTransOpenClient")}
    assert (items[5000]["AmountOpen"], items[5000]["Paid"]) == (3562.5, False)
    assert (items[5001]["Amount"], items[5001]["AmountOpen"], items[5001]["Paid"]) == (
        -1187.5,
        0,
        True,
    )

    # A credit larger than what is still open closes the original and never goes below zero.
    sandbox.register_payment(COMPANY, 5000, 3000)
    big = _order(client, Settlements="5000")["OrderNumber"]
    _lines(client, big, {"Item": "P3", "Qty": -2, "Price": 950})
    assert _post(sandbox, OrderNumber=big)["Err"] == "Succes"
    items = {row["Invoice"]: row for row in sandbox.all(COMPANY, "DebtorTransOpenClient")}
    assert (items[5000]["AmountOpen"], items[5000]["Paid"]) == (0, True)
    assert items[5002]["Paid"] is True


def test_posted_invoice_allows_only_date_and_payment_term_changes(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    _setup_trade(sandbox)
    number = _order(client)["OrderNumber"]
    _lines(client, number, {"Item": "P1", "Qty": 1, "Price": 100})
    _post(sandbox, OrderNumber=number, Date="2026-03-02")
    invoice = _ok(client.get("/api/Entities/DebtorInvoiceClient"))[0]
    assert invoice["DueDate"] == "2026-03-10"

    moved = _ok(
        client.put(
            "/api/Entities/Update/DebtorInvoiceClient",
            json=dict(invoice, Date="2026-03-04", Payment="Netto 14"),
        )
    )
    assert (moved["Date"], moved["DueDate"], moved["Payment"]) == (
        "2026-03-04",
        "2026-03-18",  # worked out again: DueDate was sent unchanged
        "Netto 14",
    )
    explicit = _ok(
        client.put(
            "/api/Entities/Update/DebtorInvoiceClient",
            json={"InvoiceNumber": 5000, "DueDate": "2026-04-01", "Name": moved["Name"]},
        )
    )
    assert (explicit["DueDate"], explicit["TotalAmount"]) == ("2026-04-01", 125)
    open_item = sandbox.all(COMPANY, "DebtorTransOpenClient")[0]
    assert (open_item["Date"], open_item["DueDate"]) == ("2026-03-04", "2026-04-01")

    for name, value in (("TotalAmount", 1), ("Name", "Andet navn"), ("Account", "10001")):
        response = client.put(
            "/api/Entities/Update/DebtorInvoiceClient", json=dict(explicit, **{name: value})
        )
        _error(response, "FieldReadOnly", name, "5000")
    _error(
        client.post("/api/Entities/Insert/DebtorInvoiceClient", json={"InvoiceNumber": 6000}),
        "NotAllowed",
        "booking service",
    )
    _error(
        client.request(
            "DELETE", "/api/Entities/Delete/DebtorInvoiceClient", json={"InvoiceNumber": 5000}
        ),
        "NotAllowed",
    )
    line = _ok(client.get("/api/Entities/DebtorInvoiceLines"))[0]
    for method, path in (
        ("POST", "/api/Entities/Insert/DebtorInvoiceLines"),
        ("PUT", "/api/Entities/Update/DebtorInvoiceLines"),
        ("DELETE", "/api/Entities/Delete/DebtorInvoiceLines"),
        ("PUT", "/api/Entities/Update/DebtorTransOpenClient"),
    ):
        _error(client.request(method, path, json=dict(line, InvoiceQty=5)), "NotAllowed")
    with pytest.raises(SandboxError) as ui_edit:
        sandbox.update(COMPANY, "DebtorInvoiceLines", (5000, 1), {"InvoiceQty": 2})
    assert ui_edit.value.code == "NotAllowed"
    assert sandbox.update(COMPANY, "DebtorInvoiceClient", 5000, {"Payment": "Netto 30"})[
        "DueDate"
    ] == ("2026-04-03")


# -------------------------------------------------------------- test controls


def test_register_payment_marks_invoices_paid(
    sandbox: UnicontaSandbox, client: httpx.Client, base_url: str
) -> None:
    _setup_trade(sandbox)
    number = _order(client)["OrderNumber"]
    _lines(client, number, {"Item": "P1", "Qty": 2, "Price": 400})
    _post(sandbox, OrderNumber=number)
    partly = sandbox.register_payment(COMPANY, 5000, Decimal("600.50"), "2026-03-12")
    assert (partly["AmountOpen"], partly["Paid"]) == (399.5, False)
    done = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/payments",
        json={"invoice": 5000, "amount": 500},
    )
    assert (done.json()["AmountOpen"], done.json()["Paid"]) == (0, True)
    paid = _value(client.get(f"/odata/{COMPANY}/DebtorTransOpenClient?$filter=Paid"))
    assert [row["Invoice"] for row in paid] == [5000]
    assert sandbox.payments(COMPANY) == [
        {"Invoice": 5000, "Amount": 600.5, "Date": "2026-03-12"},
        {"Invoice": 5000, "Amount": 500, "Date": "2026-03-10"},
    ]
    with pytest.raises(SandboxError):
        sandbox.register_payment(COMPANY, 5000, 0)
    missing = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/payments", json={"invoice": 1, "amount": 5}
    )
    assert missing.status_code == 404


def test_fail_next_postings_refuses_without_posting(
    sandbox: UnicontaSandbox, client: httpx.Client, base_url: str
) -> None:
    _setup_trade(sandbox)
    number = _order(client)["OrderNumber"]
    _lines(client, number, {"Item": "P1", "Qty": 1, "Price": 10})
    sandbox.fail_next_postings(COMPANY, "Fakturering fejlede", count=1)
    armed = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/fail-postings", json={"message": "Igen"}
    )
    assert armed.status_code == 200
    assert _post(sandbox, OrderNumber=number) == {
        "Err": "InvoiceGenerationFailed",
        "Message": "Fakturering fejlede",
    }
    assert _post(sandbox, OrderNumber=number, Simulate=True) == {
        "Err": "InvoiceGenerationFailed",
        "Message": "Igen",
    }
    assert sandbox.all(COMPANY, "DebtorInvoiceClient") == []
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is not None
    assert _post(sandbox, OrderNumber=number)["Err"] == "Succes"

    ui_order = _order(client)["OrderNumber"]
    _lines(client, ui_order, {"Item": "P1", "Qty": 1, "Price": 10})
    sandbox.fail_next_postings(COMPANY, "Kun API'et")
    calls = sandbox.calls_today(COMPANY, USER)
    posted = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/orders/{ui_order}/post",
        json={"date": "2026-03-09"},
    )
    assert posted.json()["InvoiceNumber"] == 5001 and posted.json()["Date"] == "2026-03-09"
    assert sandbox.calls_today(COMPANY, USER) == calls
    assert _post(sandbox, OrderNumber=ui_order)["Err"] == "InvoiceGenerationFailed"


# ------------------------------------------------------------- paging and seeds


def test_keyset_paging_on_row_id(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    seed_debtors(sandbox, COMPANY, count=50, seed=2)
    seed_products(sandbox, COMPANY, count=60, seed=2)
    numbers = seed_invoices(sandbox, COMPANY, count=900, lines=3, seed=2)
    expected = [line["RowId"] for line in sandbox.all(COMPANY, "DebtorInvoiceLines")]
    assert len(expected) == 2700 and expected == sorted(expected)
    seen: list[int] = []
    last = 0
    while True:
        page = _value(
            client.get(
                f"/odata/{COMPANY}/DebtorInvoiceLines",
                params={"$filter": f"RowId gt {last}", "$orderby": "RowId", "$top": "1000"},
            )
        )
        if not page:
            break
        seen.extend(row["RowId"] for row in page)
        last = page[-1]["RowId"]
    assert seen == expected
    newer = _value(
        client.get(
            f"/odata/{COMPANY}/DebtorInvoiceClient",
            params={"$filter": f"InvoiceNumber gt {numbers[-5]}", "$select": "InvoiceNumber"},
        )
    )
    assert [row["InvoiceNumber"] for row in newer] == numbers[-4:]
    recent = _value(
        client.get(
            f"/odata/{COMPANY}/DebtorInvoiceClient",
            params={"$filter": "Date ge 2026-03-01 and Created lt 2026-03-11", "$count": "true"},
        )
    )
    assert recent and all(row["Date"] >= "2026-03-01" for row in recent)
    bad = client.get(
        f"/odata/{COMPANY}/DebtorInvoiceClient", params={"$filter": "Date gt 2026-03-01T00:00:00Z"}
    )
    assert bad.status_code == 400


def test_seeding_is_deterministic_realistic_and_fast(sandbox: UnicontaSandbox) -> None:
    seed_debtors(sandbox, COMPANY, count=500, seed=3)
    creditors = seed_creditors(sandbox, COMPANY, count=50, seed=3)
    contacts = seed_contacts(sandbox, COMPANY, count=1000, seed=3)
    items = seed_products(sandbox, COMPANY, count=500, seed=3)
    numbers = seed_invoices(sandbox, COMPANY, count=2000, lines=3, seed=3)
    assert creditors[0] == "50000" and items[0] == "P10000"
    assert numbers == list(range(5000, 7000))

    again = UnicontaSandbox(clock=sandbox.clock)
    again.add_company(1, "Kopi")
    seed_debtors(again, 1, count=500, seed=3)
    seed_creditors(again, 1, count=50, seed=3)
    seed_contacts(again, 1, count=1000, seed=3)
    seed_products(again, 1, count=500, seed=3)
    seed_invoices(again, 1, count=2000, lines=3, seed=3)
    for entity in ("ContactClient", "InvItemClient", "DebtorInvoiceClient", "DebtorInvoiceLines"):
        assert again.all(1, entity) == sandbox.all(COMPANY, entity), entity

    debtors = {row["Account"] for row in sandbox.all(COMPANY, "DebtorClient")}
    people = [sandbox.get(COMPANY, "ContactClient", key) for key in contacts]
    orphans = [p for p in people if p is not None and p.get("DCAccount") not in debtors]
    assert 0 < len(orphans) < 60
    assert any(p["DCType"] == "Creditor" for p in orphans)
    assert any("DCAccount" not in p for p in orphans)

    products = sandbox.all(COMPANY, "InvItemClient")
    vat = [p["Vat"] for p in products]
    assert 0 < vat.count("X99") < 30 and vat.count("S0") > 10
    assert sandbox.get(COMPANY, "GLVatClient", "X99")["Name"] == "Særlig moms"  # type: ignore[index]
    assert len({p["Unit"] for p in products}) >= 12
    stocked = next(p for p in products if p["UseStorage"])
    stock = [
        sandbox.get(COMPANY, "InvItemStorageClient", (stocked["Item"], warehouse))
        for warehouse in ("Hoved", "Aarhus")
    ]
    assert stocked["QtyOnStock"] == sum(s["Qty"] for s in stock if s is not None)

    open_items = sandbox.all(COMPANY, "DebtorTransOpenClient")
    assert len(open_items) == 2000
    paid = sum(row["Paid"] for row in open_items) / len(open_items)
    assert 0.5 < paid < 0.7
    invoice = sandbox.get(COMPANY, "DebtorInvoiceClient", numbers[0])
    assert invoice is not None
    lines = [
        line for line in sandbox.all(COMPANY, "DebtorInvoiceLines") if line["InvoiceNumber"] == 5000
    ]
    assert len(lines) == 3
    assert round(sum(line["NetAmount"] for line in lines), 2) == invoice["NetAmount"]

    # New orders and invoices continue after the seeded numbers.
    order = sandbox.insert(COMPANY, "DebtorOrderClient", {"Account": "10000"})
    seeded_orders = [i["OrderNumber"] for i in sandbox.all(COMPANY, "DebtorInvoiceClient")]
    assert order["OrderNumber"] == max(seeded_orders) + 1
    line = {"OrderNumber": order["OrderNumber"], "Item": items[0], "Qty": 1}
    sandbox.insert(COMPANY, "DebtorOrderLineClient", line)
    assert sandbox.post_order(COMPANY, order["OrderNumber"])["InvoiceNumber"] == 7000


def test_booking_a_cash_journal_pays_the_invoices_its_debtor_lines_name(
    sandbox: UnicontaSandbox, client: httpx.Client, base_url: str
) -> None:
    _setup_trade(sandbox)
    number = _order(client)["OrderNumber"]
    _lines(client, number, {"Item": "P1", "Qty": 2, "Price": 400})
    _post(sandbox, OrderNumber=number)
    debtor = sandbox.all(COMPANY, "DebtorInvoiceClient")[0]["Account"]
    sandbox.load(COMPANY, "GLAccountClient", [{"Account": "5820"}, {"Account": "5800"}])
    sandbox.load(COMPANY, "GLDailyJournalClient", [{"Journal": "INDBET"}])

    def line(kind: str, account: str, debit: float, credit: float) -> dict[str, Any]:
        row = {"Journal": "INDBET", "Date": "2026-03-10", "AccountType": kind,
               "Account": account, "Debit": debit, "Credit": credit, "Text": "Ordre 7"}  # fmt: skip
        return {**row, "Invoice": "5000"} if kind == "Debtor" else row

    sandbox.api_insert(COMPANY, "GLDailyJournalLineClient", [
        line("Debtor", debtor, 0, 250), line("Finans", "5820", 250, 0),
        line("Debtor", debtor, 0, 750)])  # fmt: skip
    with pytest.raises(SandboxError, match="add up to"):
        sandbox.book_journal(COMPANY, "INDBET")
    assert len(sandbox.all(COMPANY, "GLDailyJournalLineClient")) == 3, "nothing booked"
    sandbox.api_insert(COMPANY, "GLDailyJournalLineClient", [line("Finans", "5800", 750, 0)])
    booked = httpx.post(f"{base_url}/_sandbox/companies/{COMPANY}/journals/INDBET/book")
    assert booked.status_code == 200 and len(booked.json()) == 4
    (item,) = sandbox.all(COMPANY, "DebtorTransOpenClient")
    assert (item["AmountOpen"], item["Paid"]) == (0, True)
    assert [p["Amount"] for p in sandbox.payments(COMPANY, 5000)] == [250, 750]
    assert sandbox.all(COMPANY, "GLDailyJournalLineClient") == [], "booking empties the journal"
