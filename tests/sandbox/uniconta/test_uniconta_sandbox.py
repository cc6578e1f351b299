"""Uniconta sandbox over real HTTP: auth, OData queries, REST writes, quota, Change URL.

The server, the per-test sandbox and the callback receiver are fixtures in ``conftest.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from stdnum import vatin
from stdnum.dk import cvr

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.uniconta import (
    SandboxServer,
    UnicontaSandbox,
    create_app,
    seed_debtors,
)
from tests.sandbox.live import SwitchServer
from tests.sandbox.uniconta.conftest import (
    COMPANY,
    OTHER_COMPANY,
    PASSWORD,
    USER,
    Receiver,
)


def _rows(response: httpx.Response) -> list[dict[str, Any]]:
    """``value`` of a successful OData response."""
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def _odata(client: httpx.Client, **options: str) -> httpx.Response:
    """GET DebtorClient with ``$``-prefixed query options given as keyword arguments."""
    params = {f"${name}": value for name, value in options.items()}
    return client.get(f"/odata/{COMPANY}/DebtorClient", params=params)


def _no_nulls(value: Any) -> bool:
    """True when no property anywhere in a JSON document is null."""
    if isinstance(value, dict):
        return all(v is not None and _no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nulls(v) for v in value)
    return True


# ------------------------------------------------------------------------------------ auth


def test_good_credentials_read_company_data(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    seed_debtors(sandbox, COMPANY, count=5)
    response = client.get(f"/odata/{COMPANY}/DebtorClient")
    assert response.headers["OData-Version"] == "4.0"
    body = response.json()
    assert body["@odata.context"].endswith("/odata/$metadata#DebtorClient")
    assert [row["Account"] for row in body["value"]] == [
        "10000",
        "10001",
        "10002",
        "10003",
        "10004",
    ]


def test_bad_or_missing_credentials_get_401_with_basic_challenge(
    sandbox: UnicontaSandbox, base_url: str
) -> None:
    attempts = [
        {"auth": (f"00{COMPANY}/{USER}", "wrong")},
        {"auth": (f"00{COMPANY}/nobody", PASSWORD)},
        {},
        {"headers": {"Authorization": "Basic !!!not-base64"}},
    ]
    for kwargs in attempts:
        for path in (f"/odata/{COMPANY}/DebtorClient", "/api/Entities/DebtorClient"):
            response = httpx.get(base_url + path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 401, (kwargs, path)
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert sandbox.total_calls(COMPANY, USER) == 0


def test_company_without_rights_gets_403(sandbox: UnicontaSandbox, base_url: str) -> None:
    wrong_prefix = httpx.get(
        f"{base_url}/api/Entities/DebtorClient", auth=(f"00{OTHER_COMPANY}/{USER}", PASSWORD)
    )
    assert wrong_prefix.status_code == 403
    assert str(OTHER_COMPANY) in wrong_prefix.json()["Message"]
    wrong_path = httpx.get(
        f"{base_url}/odata/{OTHER_COMPANY}/DebtorClient", auth=(f"00{COMPANY}/{USER}", PASSWORD)
    )
    assert wrong_path.status_code == 403
    assert wrong_path.json()["error"]["code"] == "Forbidden"
    unknown = httpx.get(f"{base_url}/odata/99999/DebtorClient", auth=(USER, PASSWORD))
    assert unknown.status_code == 403


def test_login_without_prefix_uses_the_standard_company(
    sandbox: UnicontaSandbox, base_url: str
) -> None:
    sandbox.add_user(OTHER_COMPANY, "multi", "pw")
    sandbox.add_user(COMPANY, "multi", "pw")
    sandbox.insert(OTHER_COMPANY, "DebtorClient", {"Account": "1", "Name": "Standard A/S"})
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "2", "Name": "Second ApS"})

    rest = httpx.get(f"{base_url}/api/Entities/DebtorClient", auth=("multi", "pw"))
    assert [row["Name"] for row in rest.json()] == ["Standard A/S"]
    odata = httpx.get(f"{base_url}/odata/DebtorClient", auth=("multi", "pw"))
    assert [row["Name"] for row in _rows(odata)] == ["Standard A/S"]
    prefixed = httpx.get(f"{base_url}/api/Entities/DebtorClient", auth=(f"00{COMPANY}/multi", "pw"))
    assert [row["Name"] for row in prefixed.json()] == ["Second ApS"]
    assert sandbox.calls_today(OTHER_COMPANY, "multi") == 2
    assert sandbox.calls_today(COMPANY, "multi") == 1


# ----------------------------------------------------------------------------------- OData


def test_service_document_and_metadata(client: httpx.Client) -> None:
    service = client.get(f"/odata/{COMPANY}").json()
    names = [entry["name"] for entry in service["value"]]
    assert names == [
        "DebtorClient",
        "CreditorClient",
        "ContactClient",
        "GLVatClient",
        "PaymentTermClient",
        "DebtorGroupClient",
        "InvWarehouseClient",
        "InvItemClient",
        "InvItemStorageClient",
        "DebtorOrderClient",
        "DebtorOrderLineClient",
        "DebtorInvoiceClient",
        "DebtorInvoiceLines",
        "DebtorTransOpenClient",
        "GLAccountClient",
        "GLDailyJournalClient",
        "GLDailyJournalLineClient",
        "CompanyClient",
        "UserClient",
    ]
    assert service["value"][0] == {
        "name": "DebtorClient",
        "kind": "EntitySet",
        "url": "DebtorClient",
    }
    metadata = client.get("/odata/$metadata")
    assert metadata.status_code == 200
    assert '<EntityType Name="DebtorClient">' in metadata.text
    assert '<PropertyRef Name="Account"/>' in metadata.text
    assert '<Member Name="UnitedKingdom"' in metadata.text


def test_filter_operators_match_python_evaluation(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    seed_debtors(sandbox, COMPANY, count=400, seed=7)
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "20000", "Name": "Bager's Brød ApS"})
    everything = sandbox.all(COMPANY, "DebtorClient")

    cases: list[tuple[str, Any]] = [
        ("City eq 'Aarhus C'", lambda r: r.get("City") == "Aarhus C"),
        ("City ne 'Aarhus C'", lambda r: r.get("City") != "Aarhus C"),
        ("Account gt '10390'", lambda r: r["Account"] > "10390"),
        ("Account le '10003'", lambda r: r["Account"] <= "10003"),
        ("CreditMax ge 50000", lambda r: r["CreditMax"] >= 50000),
        ("CurBalance gt 1000.5 and CurBalance lt 20000",
         lambda r: 1000.5 < r["CurBalance"] < 20000),
        ("Blocked eq true", lambda r: r["Blocked"] is True),
        ("Blocked", lambda r: r["Blocked"] is True),
        ("not Blocked", lambda r: r["Blocked"] is False),
        ("Address2 eq null", lambda r: "Address2" not in r),
        ("Address2 ne null", lambda r: "Address2" in r),
        ("Country eq 'Sweden' or Country eq 'Norway'",
         lambda r: r.get("Country") in ("Sweden", "Norway")),
        ("Country eq Uniconta.Common.CountryCode'Germany'",
         lambda r: r.get("Country") == "Germany"),
        ("contains(Name,'ApS')", lambda r: "ApS" in r["Name"]),
        ("startswith(Name,'Nord') and not endswith(Name,'A/S')",
         lambda r: r["Name"].startswith("Nord") and not r["Name"].endswith("A/S")),
        ("(ZipCode eq '8000' or ZipCode eq '9000') and CreditMax eq 0",
         lambda r: r.get("ZipCode") in ("8000", "9000") and r["CreditMax"] == 0),
        ("Created gt 2022-01-01T00:00:00Z", lambda r: r["Created"] > "2022-01-01T00:00:00"),
        ("Created lt 2019-06-01", lambda r: r["Created"] < "2019-06-01"),
        ("Name eq 'Bager''s Brød ApS'", lambda r: r["Name"] == "Bager's Brød ApS"),
        ("tolower(City) eq 'odense c'", lambda r: r.get("City") == "Odense C"),
    ]  # fmt: skip
    for expression, predicate in cases:
        expected = [r["Account"] for r in everything if predicate(r)]
        got = [r["Account"] for r in _rows(_odata(client, filter=expression, top="1000"))]
        assert got == expected, expression
        assert expected or expression.startswith("Blocked"), f"case matches nothing: {expression}"


def test_orderby_top_skip_select(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    seed_debtors(sandbox, COMPANY, count=60, seed=3)
    everything = sandbox.all(COMPANY, "DebtorClient")
    expected = sorted(everything, key=lambda r: r["Account"], reverse=True)
    expected = sorted(expected, key=lambda r: r["City"])
    got = _rows(_odata(client, orderby="City asc, Account desc", skip="5", top="10"))
    assert [r["Account"] for r in got] == [r["Account"] for r in expected[5:15]]

    by_balance = _rows(_odata(client, orderby="CurBalance desc", top="3"))
    top3 = sorted((r["CurBalance"] for r in everything), reverse=True)[:3]
    assert [r["CurBalance"] for r in by_balance] == top3

    selected = _odata(client, select="Account,Name,Address2", top="20")
    body = selected.json()
    assert body["@odata.context"].endswith("#DebtorClient(Account,Name,Address2)")
    for row in body["value"]:
        assert set(row) <= {"Account", "Name", "Address2"}
        assert {"Account", "Name"} <= set(row)
    counted = _odata(client, count="true", top="2", filter="Country eq 'Denmark'").json()
    assert counted["@odata.count"] == sum(r["Country"] == "Denmark" for r in everything)
    assert len(counted["value"]) == 2


def test_keyset_paging_over_1200_rows(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    accounts = seed_debtors(sandbox, COMPANY, count=1200, seed=1)
    seen: list[str] = []
    last = ""
    pages = 0
    while True:
        page = _rows(_odata(client, filter=f"Account gt '{last}'", orderby="Account", top="500"))
        if not page:
            break
        pages += 1
        seen.extend(row["Account"] for row in page)
        last = page[-1]["Account"]
    assert pages == 3
    assert seen == sorted(accounts)
    assert len(set(seen)) == 1200


def test_top_is_capped_at_1000_with_next_link(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    seed_debtors(sandbox, COMPANY, count=1200, seed=1)
    first = client.get(f"/odata/{COMPANY}/DebtorClient", params={"$top": "5000"}).json()
    assert len(first["value"]) == 1000
    second = client.get(first["@odata.nextLink"]).json()
    assert len(second["value"]) == 200
    assert "@odata.nextLink" not in second
    unbounded = client.get(f"/odata/{COMPANY}/DebtorClient").json()
    assert len(unbounded["value"]) == 1000 and "$skip=1000" in unbounded["@odata.nextLink"]
    exact = client.get(f"/odata/{COMPANY}/DebtorClient", params={"$top": "1000"}).json()
    assert "@odata.nextLink" not in exact


def test_invalid_queries_get_400_saying_what_is_wrong(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    cases = {
        "filter": [
            ("Foo eq 1", "Foo"),
            ("Name eq", "ends unexpectedly"),
            ("Name eq 'unterminated", "position"),
            ("(Name eq 'x'", "expected ')'"),
            ("Name eq 5", "cannot compare"),
            ("Country eq 'Denmrak'", "Denmrak"),
            ("Name", "boolean"),
            ("frobnicate(Name)", "frobnicate"),
            ("Name eq 'a' && City eq 'b'", "position"),
        ],
        "orderby": [("Nmae desc", "Nmae"), ("Name sideways", "sideways")],
        "select": [("Account,Bogus", "Bogus")],
        "top": [("-1", "$top"), ("ten", "$top")],
        "skip": [("x", "$skip")],
    }
    for option, items in cases.items():
        for value, fragment in items:
            response = _odata(client, **{option: value})
            assert response.status_code == 400, (option, value)
            error = response.json()["error"]
            assert error["code"] == "InvalidQuery"
            assert fragment in error["message"], (option, value, error["message"])
    expand = client.get(f"/odata/{COMPANY}/DebtorClient", params={"$expand": "Contacts"})
    assert expand.status_code == 400 and "$expand" in expand.json()["error"]["message"]
    missing = client.get(f"/odata/{COMPANY}/NoSuchClient")
    assert missing.status_code == 404 and "NoSuchClient" in missing.json()["error"]["message"]


def test_reads_never_contain_nulls(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    seed_debtors(sandbox, COMPANY, count=100)
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "1", "Name": "Tom", "City": None})
    rest = client.get("/api/Entities/DebtorClient").json()
    odata = _rows(_odata(client, select="Account,Address2,Address3,EAN"))
    assert _no_nulls(rest) and _no_nulls(odata)
    assert "City" not in next(r for r in rest if r["Account"] == "1")
    assert any("Address2" not in row for row in rest)


# ------------------------------------------------------------------------------------ REST


def test_insert_single_returns_the_stored_row(
    sandbox: UnicontaSandbox, client: httpx.Client, clock: ManualClock
) -> None:
    response = client.post(
        "/api/Entities/Insert/DebtorClient",
        json={
            "Account": "90001",
            "Name": "Ny Kunde ApS",
            "Country": "UnitedKingdom",
            "Currency": "GBP",
            "CreditMax": 12500.5,
            "CurBalance": 999,
        },
    )
    assert response.status_code == 200, response.text
    row = response.json()
    assert row["Account"] == "90001" and row["Country"] == "UnitedKingdom"
    assert isinstance(row["RowId"], int)
    assert row["Created"] == "2026-03-10T09:00:00.000Z"
    assert row["CreditMax"] == 12500.5 and row["CurBalance"] == 0
    assert row["Blocked"] is False
    assert sandbox.get(COMPANY, "DebtorClient", "90001") == row


def test_insert_batch_and_all_or_nothing(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    batch = [{"Account": f"9000{i}", "Name": f"Kunde {i}"} for i in range(3)]
    response = client.post("/api/Entities/Insert/DebtorClient", json=batch)
    assert response.status_code == 200
    stored = response.json()
    assert [row["Account"] for row in stored] == ["90000", "90001", "90002"]
    assert len({row["RowId"] for row in stored}) == 3

    clash_existing = [{"Account": "80000", "Name": "Ny"}, {"Account": "90001", "Name": "Dublet"}]
    response = client.post("/api/Entities/Insert/DebtorClient", json=clash_existing)
    assert response.status_code == 400
    error = response.json()
    assert error["ErrorCode"] == "RecordExists"
    assert "DebtorClient" in error["Message"] and "90001" in error["Message"]
    assert sandbox.get(COMPANY, "DebtorClient", "80000") is None

    clash_within = [{"Account": "80001", "Name": "A"}, {"Account": "80001", "Name": "B"}]
    response = client.post("/api/Entities/Insert/DebtorClient", json=clash_within)
    assert response.json()["ErrorCode"] == "RecordExists"
    assert len(sandbox.all(COMPANY, "DebtorClient")) == 3

    no_key = client.post("/api/Entities/Insert/DebtorClient", json={"Name": "Uden nummer"})
    assert no_key.status_code == 400 and no_key.json()["ErrorCode"] == "KeyIsEmpty"


def test_update_replaces_the_whole_entity(
    sandbox: UnicontaSandbox, client: httpx.Client, clock: ManualClock
) -> None:
    sandbox.insert(
        COMPANY,
        "DebtorClient",
        {"Account": "50", "Name": "Gammel ApS", "City": "Aarhus C", "Phone": "+45 86 00 00 00",
         "Blocked": True, "CreditMax": 5000},
    )  # fmt: skip
    as_read = client.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "50"})
    entity = as_read.json()[0]
    entity["Name"] = "Ny ApS"
    del entity["City"]
    del entity["Blocked"]
    entity["CurBalance"] = 123456
    entity["Created"] = "2001-01-01T00:00:00Z"
    clock.advance(timedelta(hours=1))
    response = client.put("/api/Entities/Update/DebtorClient", json=entity)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["Name"] == "Ny ApS"
    assert "City" not in updated
    assert updated["Blocked"] is False
    assert updated["Phone"] == "+45 86 00 00 00"
    assert updated["CurBalance"] == 0
    assert updated["Created"] == "2026-03-10T09:00:00.000Z"
    assert updated["RowId"] == as_read.json()[0]["RowId"]
    assert sandbox.get(COMPANY, "DebtorClient", "50") == updated


def test_update_errors_and_batch_all_or_nothing(
    sandbox: UnicontaSandbox, client: httpx.Client
) -> None:
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "1", "Name": "En"})
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "2", "Name": "To"})
    missing = client.put("/api/Entities/Update/DebtorClient", json={"Account": "3", "Name": "?"})
    assert missing.status_code == 400
    assert missing.json()["ErrorCode"] == "RecordNotFound" and "'3'" in missing.json()["Message"]

    batch = [{"Account": "1", "Name": "Et"}, {"Account": "2", "Name": "To", "CreditMax": "mange"}]
    response = client.put("/api/Entities/Update/DebtorClient", json=batch)
    assert response.status_code == 400
    error = response.json()
    assert error["ErrorCode"] == "InvalidValue"
    assert "CreditMax" in error["Message"] and "'2'" in error["Message"]
    assert sandbox.get(COMPANY, "DebtorClient", "1")["Name"] == "En"  # type: ignore[index]

    ok = client.put(
        "/api/Entities/Update/DebtorClient",
        json=[{"Account": "1", "Name": "Et"}, {"Account": "2", "Name": "Tu"}],
    )
    assert [row["Name"] for row in ok.json()] == ["Et", "Tu"]


def test_delete_single_batch_and_missing(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    for account in ("1", "2", "3"):
        sandbox.insert(COMPANY, "DebtorClient", {"Account": account, "Name": f"K{account}"})
    single = client.request("DELETE", "/api/Entities/Delete/DebtorClient", json={"Account": "1"})
    assert single.status_code == 200 and single.json()["Account"] == "1"
    missing = client.request(
        "DELETE", "/api/Entities/Delete/DebtorClient", json=[{"Account": "2"}, {"Account": "1"}]
    )
    assert missing.status_code == 400 and missing.json()["ErrorCode"] == "RecordNotFound"
    assert sandbox.get(COMPANY, "DebtorClient", "2") is not None
    batch = client.request(
        "DELETE", "/api/Entities/Delete/DebtorClient", json=[{"Account": "2"}, {"Account": "3"}]
    )
    assert batch.status_code == 200 and len(batch.json()) == 2
    assert sandbox.all(COMPANY, "DebtorClient") == []


def test_unknown_property_wrong_type_and_bad_enum_are_400(client: httpx.Client) -> None:
    cases = [
        ({"Account": "7", "Name": "X", "Colour": "red"}, "FieldNotFound", "Colour"),
        ({"Account": "7", "Name": "X", "CreditMax": "1000"}, "InvalidValue", "CreditMax"),
        ({"Account": "7", "Name": "X", "Blocked": "no"}, "InvalidValue", "Blocked"),
        ({"Account": "7", "Name": 42}, "InvalidValue", "Name"),
        ({"Account": "7", "Name": "X", "Country": "Danmark"}, "InvalidValue", "Danmark"),
        ({"Account": "7", "Name": "X", "Currency": "XYZ"}, "InvalidValue", "Currency"),
        ({"Account": "7", "Name": "X", "CreditMax": None}, "InvalidValue", "CreditMax"),
    ]
    for body, code, fragment in cases:
        response = client.post("/api/Entities/Insert/DebtorClient", json=body)
        assert response.status_code == 400, body
        error = response.json()
        assert error["ErrorCode"] == code, body
        assert fragment in error["Message"] and "DebtorClient" in error["Message"], error
    not_json = client.post(
        "/api/Entities/Insert/DebtorClient",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["ErrorCode"] == "InvalidRequest"
    unknown_entity = client.post("/api/Entities/Insert/NoSuchClient", json={"A": 1})
    assert unknown_entity.status_code == 404


def test_country_names_are_uniconta_own(client: httpx.Client) -> None:
    """Uniconta-Pages parses its EU country names into CountryCode: CzechRepublic, not
    Czechia; Liechtenstein and Türkiye are members as well."""
    for account, country in (("7", "CzechRepublic"), ("8", "Liechtenstein"), ("9", "Türkiye")):
        body = {"Account": account, "Name": "X", "Country": country}
        stored = client.post("/api/Entities/Insert/DebtorClient", json=body)
        assert stored.status_code == 200 and stored.json()["Country"] == country, stored.text
    czechia = {"Account": "10", "Name": "X", "Country": "Czechia"}
    refused = client.post("/api/Entities/Insert/DebtorClient", json=czechia)
    assert refused.status_code == 400
    message = refused.json()["Message"]
    assert "'Czechia' is not a member name of enum Uniconta.Common.CountryCode" in message


def test_rest_get_with_name_value_filter(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    seed_debtors(sandbox, COMPANY, count=200, seed=2)
    everything = sandbox.all(COMPANY, "DebtorClient")
    aalborg = client.get("/api/Entities/DebtorClient", params={"Name": "City", "Value": "Aalborg"})
    assert [r["Account"] for r in aalborg.json()] == [
        r["Account"] for r in everything if r.get("City") == "Aalborg"
    ]
    blocked = client.get(
        "/api/Entities/Read/DebtorClient", params={"Name": "Blocked", "Value": "true"}
    )
    assert [r["Account"] for r in blocked.json()] == [
        r["Account"] for r in everything if r["Blocked"]
    ]
    bad = client.get("/api/Entities/DebtorClient", params={"Name": "Town", "Value": "Aalborg"})
    assert bad.status_code == 400 and "Town" in bad.json()["Message"]


def test_other_catalogue_entities(sandbox: UnicontaSandbox, client: httpx.Client) -> None:
    creditor = client.post(
        "/api/Entities/Insert/CreditorClient",
        json={"Account": "70000", "Name": "Leverandør A/S", "Country": "Netherlands"},
    )
    assert creditor.status_code == 200 and creditor.json()["Country"] == "Netherlands"
    contacts = client.post(
        "/api/Entities/Insert/ContactClient",
        json=[
            {"DCType": "Debtor", "DCAccount": "10000", "Name": "Anne Jensen", "Email": "a@x.dk"},
            {"DCType": "Creditor", "DCAccount": "70000", "Name": "Bo Holm", "RowId": 999},
        ],
    ).json()
    # RowId is one series per company: the five VAT codes, the four payment terms and the
    # creditor came first.
    assert [c["RowId"] for c in contacts] == [11, 12]
    update = dict(contacts[0], Title="Bogholder")
    assert (
        client.put("/api/Entities/Update/ContactClient", json=update).json()["Title"] == "Bogholder"
    )
    item = client.post(
        "/api/Entities/Insert/InvItemClient",
        json={"Item": "SKU-1", "Name": "Skrue", "SalesPrice1": 2.5, "Unit": "Piece",
              "QtyOnStock": 50},
    ).json()  # fmt: skip
    assert item["SalesPrice1"] == 2.5 and item["QtyOnStock"] == 0
    filtered = client.get(
        f"/odata/{COMPANY}/ContactClient", params={"$filter": "DCType eq 'Creditor'"}
    )
    assert [c["Name"] for c in _rows(filtered)] == ["Bo Holm"]
    deleted = client.request("DELETE", "/api/Entities/Delete/ContactClient", json={"RowId": 12})
    assert deleted.status_code == 200
    assert [c["RowId"] for c in sandbox.all(COMPANY, "ContactClient")] == [11]


# ------------------------------------------------------------------------------ call quota


def test_every_authenticated_call_counts(
    sandbox: UnicontaSandbox, client: httpx.Client, base_url: str
) -> None:
    for _ in range(3):
        client.get(f"/odata/{COMPANY}/DebtorClient")
    client.post("/api/Entities/Insert/DebtorClient", json={"Account": "1", "Name": "X"})
    client.post("/api/Entities/Insert/DebtorClient", json={"Account": "1", "Name": "X"})  # 400
    httpx.get(f"{base_url}/odata/{COMPANY}/DebtorClient", auth=(f"00{COMPANY}/{USER}", "bad"))
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "2", "Name": "UI"})
    assert sandbox.calls_today(COMPANY, USER) == 5
    assert sandbox.total_calls(COMPANY, USER) == 5
    report = httpx.get(f"{base_url}/_sandbox/companies/{COMPANY}/calls").json()
    assert report["users"][USER]["today"] == 5 and report["users"][USER]["total"] == 5
    assert report["day"] == "2026-03-10"


def test_count_resets_at_copenhagen_midnight(
    sandbox: UnicontaSandbox, client: httpx.Client, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 10, 22, 30, tzinfo=UTC))  # 23:30 in Copenhagen (CET)
    for _ in range(3):
        client.get(f"/odata/{COMPANY}")
    assert sandbox.calls_today(COMPANY, USER) == 3
    clock.set(datetime(2026, 3, 10, 23, 10, tzinfo=UTC))  # 00:10 next day, same UTC date
    assert sandbox.calls_today(COMPANY, USER) == 0
    client.get(f"/odata/{COMPANY}")
    assert sandbox.calls_today(COMPANY, USER) == 1
    assert sandbox.total_calls(COMPANY, USER) == 4
    clock.set(datetime(2026, 7, 1, 21, 59, tzinfo=UTC))  # 23:59 summer time (CEST)
    client.get(f"/odata/{COMPANY}")
    assert sandbox.calls_today(COMPANY, USER) == 1
    clock.advance(timedelta(minutes=2))
    assert sandbox.calls_today(COMPANY, USER) == 0


def test_throttling_beyond_the_limit_lasts_24_hours(
    clock: ManualClock, live_server: SwitchServer
) -> None:
    box = UnicontaSandbox(daily_call_limit=3, throttle_delay=0.25, clock=clock)
    box.add_company(COMPANY, "Demo ApS")
    box.add_user(COMPANY, USER, PASSWORD)
    live_server.switch.app = create_app(box)
    clock.set(datetime(2026, 3, 10, 20, 0, tzinfo=UTC))  # 21:00 Copenhagen

    def timed_call(http: httpx.Client) -> float:
        started = time.perf_counter()
        assert http.get(f"/odata/{COMPANY}").status_code == 200
        return time.perf_counter() - started

    with httpx.Client(
        base_url=live_server.base_url, auth=(f"00{COMPANY}/{USER}", PASSWORD)
    ) as http:
        assert all(timed_call(http) < 0.2 for _ in range(3))
        assert box.throttle(COMPANY, USER)[0] == 0.25
        assert timed_call(http) >= 0.25
        clock.advance(timedelta(hours=4))  # past midnight: count reset, delay continues
        assert box.calls_today(COMPANY, USER) == 0
        assert timed_call(http) >= 0.25
        delay, until = box.throttle(COMPANY, USER)
        assert delay == 0.25 and until == datetime(2026, 3, 11, 20, 0, tzinfo=UTC)
        clock.set(datetime(2026, 3, 11, 20, 0, 1, tzinfo=UTC))
        assert box.throttle(COMPANY, USER) == (0.0, None)
        assert timed_call(http) < 0.2
    box.close()


# ------------------------------------------------------------------------------ Change URL


def test_change_url_get_callbacks_for_api_writes(
    sandbox: UnicontaSandbox, client: httpx.Client, receiver: Receiver
) -> None:
    sandbox.set_change_url(COMPANY, receiver.url)
    inserted = client.post(
        "/api/Entities/Insert/DebtorClient", json={"Account": "4711", "Name": "Kølnervand ApS"}
    ).json()
    client.put("/api/Entities/Update/DebtorClient", json=dict(inserted, City="Køge"))
    client.request("DELETE", "/api/Entities/Delete/DebtorClient", json={"Account": "4711"})
    sandbox.wait_for_callbacks(timeout=5)
    assert [(r.method, r.query["Operation"]) for r in receiver.requests] == [
        ("GET", "Insert"),
        ("GET", "Update"),
        ("GET", "Delete"),
    ]
    for request in receiver.requests:
        assert request.path == "/uniconta/hook"
        assert request.query["CompanyId"] == str(COMPANY)
        assert request.query["Table"] == "Debtor"
        assert request.query["Key"] == "4711"
        assert request.query["RowId"] == str(inserted["RowId"])
        assert request.body is None


def test_change_url_post_option_sends_the_record(
    sandbox: UnicontaSandbox, base_url: str, receiver: Receiver
) -> None:
    set_url = httpx.put(
        f"{base_url}/_sandbox/companies/{COMPANY}/change-url",
        json={"url": receiver.url, "post_body": True},
    )
    assert set_url.json() == {"company_id": COMPANY, "url": receiver.url, "post_body": True}
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "90001", "Name": "Ny Kunde ApS"})
    sandbox.update(COMPANY, "DebtorClient", "90001", {"City": "Aarhus"})
    ui_edit = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/DebtorClient/90001", json={"ZipCode": "8000"}
    )
    assert ui_edit.status_code == 200 and ui_edit.json()["City"] == "Aarhus"
    sandbox.wait_for_callbacks(timeout=5)
    assert [r.method for r in receiver.requests] == ["POST", "POST", "POST"]
    assert [r.query["Operation"] for r in receiver.requests] == ["Insert", "Update", "Update"]
    assert receiver.requests[0].body["Name"] == "Ny Kunde ApS"
    assert receiver.requests[1].body["City"] == "Aarhus"
    assert receiver.requests[2].body["ZipCode"] == "8000"
    assert _no_nulls([r.body for r in receiver.requests])
    assert sandbox.calls_today(COMPANY, USER) == 0


def test_change_url_tables_for_every_entity_and_switching_off(
    sandbox: UnicontaSandbox, receiver: Receiver
) -> None:
    sandbox.set_change_url(COMPANY, receiver.url + "?secret=abc")
    sandbox.insert(COMPANY, "CreditorClient", {"Account": "K1", "Name": "Lev"})
    contact = sandbox.insert(COMPANY, "ContactClient", {"Name": "Kim", "DCType": "Creditor"})
    sandbox.insert(COMPANY, "InvItemClient", {"Item": "A-1", "Name": "Vare"})
    sandbox.delete(COMPANY, "ContactClient", contact["RowId"])
    sandbox.wait_for_callbacks(timeout=5)
    seen = [(r.query["Table"], r.query["Key"], r.query["Operation"]) for r in receiver.requests]
    assert seen == [
        ("Creditor", "K1", "Insert"),
        ("Contact", str(contact["RowId"]), "Insert"),
        ("InvItem", "A-1", "Insert"),
        ("Contact", str(contact["RowId"]), "Delete"),
    ]
    assert all(r.query["secret"] == "abc" for r in receiver.requests)
    sandbox.set_change_url(COMPANY, None)
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "1", "Name": "Stille"})
    sandbox.wait_for_callbacks(timeout=5)
    assert len(receiver.requests) == 4


def test_failed_callbacks_are_retried_then_dropped(
    sandbox: UnicontaSandbox, receiver: Receiver
) -> None:
    sandbox.set_change_url(COMPANY, receiver.url)
    receiver.fail_first = 2
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "1", "Name": "Vedholdende"})
    sandbox.wait_for_callbacks(timeout=5)
    assert [r.query["Key"] for r in receiver.requests] == ["1"]
    receiver.always_fail = True
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "2", "Name": "Opgivet"})
    sandbox.wait_for_callbacks(timeout=5)
    assert sandbox.callback_stats() == {"delivered": 1, "dropped": 1}
    receiver.always_fail = False
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "3", "Name": "Igen"})
    sandbox.wait_for_callbacks(timeout=5)
    assert [r.query["Key"] for r in receiver.requests] == ["1", "3"]


# ----------------------------------------------------------------------- admin and seeding


def test_admin_endpoints(sandbox: UnicontaSandbox, base_url: str) -> None:
    health = httpx.get(f"{base_url}/_sandbox/health").json()
    assert health["status"] == "ok" and health["companies"] == [COMPANY, OTHER_COMPANY]
    created = httpx.post(
        f"{base_url}/_sandbox/companies/{COMPANY}/DebtorClient",
        json={"Account": "5", "Name": "Via UI"},
    )
    assert created.status_code == 200
    got = httpx.get(f"{base_url}/_sandbox/companies/{COMPANY}/DebtorClient/5").json()
    assert got["Name"] == "Via UI"
    bad = httpx.post(f"{base_url}/_sandbox/companies/{COMPANY}/DebtorClient/6", json={"Name": "?"})
    assert bad.status_code == 400 and bad.json()["ErrorCode"] == "RecordNotFound"
    gone = httpx.delete(f"{base_url}/_sandbox/companies/{COMPANY}/DebtorClient/5")
    assert gone.status_code == 200 and sandbox.get(COMPANY, "DebtorClient", "5") is None
    assert httpx.get(f"{base_url}/_sandbox/companies/999/calls").status_code == 404


def test_sandbox_server_helper_serves_on_a_free_port() -> None:
    box = UnicontaSandbox()
    box.add_company(1, "Et ApS")
    box.add_user(1, "u", "p")
    with SandboxServer(box) as server:
        response = httpx.get(f"{server.base_url}/api/Entities/DebtorClient", auth=("001/u", "p"))
        assert response.status_code == 200 and response.json() == []
    box.close()


def test_seed_is_deterministic_and_realistic(sandbox: UnicontaSandbox) -> None:
    accounts = seed_debtors(sandbox, COMPANY, count=300, seed=1)
    assert accounts == [str(n) for n in range(10000, 10300)]
    again = UnicontaSandbox(clock=sandbox.clock)
    again.add_company(1, "Kopi")
    seed_debtors(again, 1, count=300, seed=1)
    rows = sandbox.all(COMPANY, "DebtorClient")
    assert again.all(1, "DebtorClient") == rows
    different = UnicontaSandbox(clock=sandbox.clock)
    different.add_company(1, "Anden")
    seed_debtors(different, 1, count=300, seed=2)
    assert different.all(1, "DebtorClient") != rows

    towns = {"1050": "København K", "8000": "Aarhus C", "5000": "Odense C", "9000": "Aalborg"}
    for row in rows:
        assert vatin.is_valid(row["VatNumber"]), row
        if row["Country"] == "Denmark":
            assert cvr.is_valid(row["CompanyRegNo"]) and len(row["CompanyRegNo"]) == 8
            assert row["VatNumber"] == "DK" + row["CompanyRegNo"]
            assert row["Currency"] == "DKK"
            assert row["Phone"].startswith("+45 ")
            assert towns.get(row["ZipCode"], row["City"]) == row["City"]
        assert row["ContactEmail"].split("@")[1] in row["Www"]
    assert len({row["CompanyRegNo"] for row in rows}) == 300
    assert {"Sweden", "Norway", "Germany"} & {row["Country"] for row in rows}
    assert any(row["ZipCode"] < "2500" for row in rows)
    more = seed_debtors(sandbox, COMPANY, count=2, seed=5)
    assert more == ["10300", "10301"]


def test_seed_scales_to_20000_debtors(sandbox: UnicontaSandbox) -> None:
    accounts = seed_debtors(sandbox, COMPANY, count=20_000, seed=11)
    assert len(accounts) == 20_000 and accounts[-1] == "29999"
