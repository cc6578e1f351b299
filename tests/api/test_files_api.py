"""The file integration's API: mappings refused with the path of each problem, the preview
before a mapping is saved, who may save and upload, and the body limit on uploads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_file_import import (
    HEADER,
    ORDERS_CSV,
    ORDERS_MAPPING,
    by_number,
    file_of,
    files_connection,
    save_mapping,
    upload,
)

SAMPLES = Path(__file__).parents[1] / "commerce" / "files"


def _put(tenant: Tenant, connection_id: str, mapping: Any, kind: str = "orders") -> httpx.Response:
    return tenant.api.put(f"/connections/{connection_id}/file-mappings/{kind}", json=mapping)


def _locs(response: httpx.Response) -> list[tuple[str, ...]]:
    assert response.status_code == 422, response.text
    return [tuple(item["loc"]) for item in response.json()["detail"]]


def test_a_mapping_is_refused_naming_the_path_of_each_problem(tenant: Tenant) -> None:
    connection_id = files_connection(tenant)

    unknown = copy.deepcopy(ORDERS_MAPPING)
    unknown["fields"]["order.nummer"] = "Nr"
    unknown["fields"]["line.colour"] = "Farve"
    answer = _put(tenant, connection_id, unknown)
    assert _locs(answer) == [("body", "fields", "line.colour"), ("body", "fields", "order.nummer")]
    assert answer.json()["detail"][0]["type"] == "mapping_field_unknown"

    missing = copy.deepcopy(ORDERS_MAPPING)
    del missing["fields"]["order.created_at"]
    del missing["fields"]["line.unit_price"]
    answer = _put(tenant, connection_id, missing)
    assert _locs(answer) == [
        ("body", "fields", "order.created_at"), ("body", "fields", "line.unit_price")
    ]  # fmt: skip
    assert {item["type"] for item in answer.json()["detail"]} == {"mapping_field_missing"}

    for delimiter in (";;", '"', "\n"):
        bad = copy.deepcopy(ORDERS_MAPPING)
        bad["format"]["delimiter"] = delimiter
        assert _locs(_put(tenant, connection_id, bad)) == [("body", "format", "delimiter")]
    same = {**ORDERS_MAPPING, "thousands_separator": ","}
    assert _locs(_put(tenant, connection_id, same)) == [("body", "thousands_separator")]
    xml = {**ORDERS_MAPPING, "format": {"type": "xml", "records": "Orders/Order"}}
    xml["fields"] = {**ORDERS_MAPPING["fields"], "order.number": "Order/../@id"}
    assert _locs(_put(tenant, connection_id, xml)) == [("body", "fields", "order.number")]

    other_kind = {**ORDERS_MAPPING, "kind": "refunds"}
    assert _locs(_put(tenant, connection_id, other_kind)) == [("body", "kind")]
    assert _locs(_put(tenant, connection_id, ["not", "a", "mapping"])) == [("body",)]
    not_json = tenant.api.put(
        f"/connections/{connection_id}/file-mappings/orders",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert _locs(not_json) == [("body",)]
    assert tenant.api.get(f"/connections/{connection_id}/file-mappings/orders").status_code == 404
    assert _put(tenant, connection_id, ORDERS_MAPPING, kind="invoices").status_code == 422


def test_a_saved_mapping_reads_back_and_a_new_one_replaces_it(tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    saved = tenant.api.get(f"/connections/{connection_id}/file-mappings/orders").json()
    assert saved["kind"] == "orders"
    assert saved["fields"]["order.number"] == {"column": "Ordrenr", "values": {}}
    assert saved["decimal_separator"] == ","

    fewer = copy.deepcopy(ORDERS_MAPPING)
    del fewer["fields"]["customer.email"]
    fewer["format"] = {"type": "csv"}
    save_mapping(tenant, connection_id, "orders", fewer)
    saved = tenant.api.get(f"/connections/{connection_id}/file-mappings/orders").json()
    assert "customer.email" not in saved["fields"]
    assert saved["format"] == {"type": "csv", "quote": '"', "header_line": 1}


def test_the_preview_of_a_danish_csv_with_decimal_commas_stores_nothing(
    tenant: Tenant,
) -> None:
    connection_id = files_connection(tenant)
    answer = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        json={"content": ORDERS_CSV, "mapping": ORDERS_MAPPING},
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["columns"] == HEADER.strip().split(";")
    assert shown["problems"] == []
    first = shown["rows"][0]
    assert first["line"] == 2
    assert first["values"]["order.created_at"] == "2026-11-30T14:05:00+01:00"
    assert first["values"]["order.state"] == "processing"
    assert [row["lines"][0]["line.unit_price"] for row in shown["rows"]] == [
        "49.95", "1234.50", "49.95"
    ]  # fmt: skip
    assert shown["suggestion"]["fields"]["order.number"] == "Ordrenr"
    assert shown["suggestion"]["fields"]["line.quantity"] == "Antal"

    # The file alone (text/csv): its format and columns are suggested; no column holds the
    # currency, so that is what a mapping must still say before rows can be read.
    raw = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        content=ORDERS_CSV.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert raw.status_code == 200, raw.text
    suggested = raw.json()
    assert suggested["suggestion"]["fields"]["line.unit_price"] == "Stykpris"
    assert suggested["suggestion"]["missing"] == ["order.currency"]
    assert (suggested["mapping"], suggested["rows"]) == (None, [])
    assert [(p["field"], p["code"]) for p in suggested["problems"]] == [
        ("order.currency", "column_not_found")
    ]

    # With the currency the suggestion reads: read with it as it is.
    with_currency = (
        HEADER.replace("\n", ";Valuta\n") + "1001;2026-11-30;Betalt;a@b.dk;S;K;1;5;25;DKK\n"
    )
    raw = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        content=with_currency.encode(),
        headers={"Content-Type": "text/csv"},
    )
    suggested = raw.json()
    assert suggested["mapping"]["fields"]["order.currency"]["column"] == "Valuta"
    assert suggested["rows"][0]["values"]["order.currency"] == "DKK"

    bad_mapping = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        json={"content": ORDERS_CSV, "mapping": {**ORDERS_MAPPING, "timezone": "Mars/Olympus"}},
    )
    assert _locs(bad_mapping) == [("body", "mapping", "timezone")]
    assert tenant.api.get(f"/connections/{connection_id}/file-mappings/orders").status_code == 404
    assert tenant.api.get(f"/connections/{connection_id}/files").json() == []


def test_a_member_key_may_look_but_not_save_or_upload(system: System, tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    added = tenant.api.post("/users", json={"email": "member@nordlys.example", "role": "member"})
    assert added.status_code == 201, added.text
    member = {"Authorization": f"Bearer {added.json()['api_key']}"}
    base = f"/connections/{connection_id}"

    refused = tenant.api.put(f"{base}/file-mappings/orders", json=ORDERS_MAPPING, headers=member)
    assert refused.status_code == 403
    assert "member" in refused.json()["detail"]
    upload = tenant.api.post(
        f"{base}/files", params={"name": "orders.csv"}, content=ORDERS_CSV.encode(),
        headers={**member, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert upload.status_code == 403
    assert tenant.api.get(f"{base}/files", headers=member).json() == []
    assert tenant.api.get(f"{base}/file-mappings/orders", headers=member).status_code == 200


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(system: System, tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    row = "1001;30-11-2026 14:05;Betalt;kunde@example.dk;SKU-1;Kaffe;2;49,95;25\n"
    big = (HEADER + row * (6 * 1024 * 1024 // len(row) + 1)).encode()
    assert len(big) > 6 * 1024 * 1024
    answer = tenant.api.post(
        f"/connections/{connection_id}/files",
        params={"name": "orders.csv"},
        content=big,
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 413
    assert tenant.api.get(f"/connections/{connection_id}/files").json() == []


def test_uploads_that_cannot_be_imported_are_refused_with_the_reason(tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    base = f"/connections/{connection_id}/files"

    def post(content: bytes, **params: str) -> httpx.Response:
        return tenant.api.post(
            base, params=params, content=content, headers={"Content-Type": "text/csv"}
        )

    no_mapping = post(ORDERS_CSV.encode(), name="orders.csv")
    assert no_mapping.status_code == 422
    assert no_mapping.json()["detail"][0]["msg"] == (
        "no mapping is saved for orders files: on the connection's Files tab, choose a sample "
        "file under Column mapping, click Map its columns and save the mapping (API: PUT "
        f"/connections/{connection_id}/file-mappings/orders)"
    )
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    assert post(b"", name="orders.csv").status_code == 422
    assert post(ORDERS_CSV.encode()).status_code == 422
    assert post(ORDERS_CSV.encode(), name="orders.csv", kind="invoices").status_code == 422
    uploaded = post(ORDERS_CSV.encode(), name="../../etc/orders.csv")
    assert uploaded.status_code == 202
    assert uploaded.json()["name"] == "orders.csv"
    assert tenant.api.get(f"{base}/unknown-file").status_code == 404


def _preview_raw(tenant: Tenant, connection_id: str, content: bytes) -> dict[str, Any]:
    answer = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        content=content,
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def test_the_suggested_mapping_is_saved_as_it_is_and_reads_a_danish_export(
    system: System, tenant: Tenant
) -> None:
    """The preview finds the layout, number and date formats of the file, says that its
    state word (Danish ``Betalt``) is none a route books, and the mapping it read with, that
    word translated, is saved and imports the file."""
    connection_id = files_connection(tenant)
    content = (SAMPLES / "ordrer_eksport_cp1252.csv").read_bytes()
    shown = _preview_raw(tenant, connection_id, content)
    [unknown] = shown["problems"]
    assert {k: unknown[k] for k in ("line", "column", "field", "record", "code", "value")} == {
        "line": 5, "column": "Status", "field": "order.state", "record": "2001",
        "code": "state_unknown", "value": "Betalt",
    }  # fmt: skip
    assert "books completed, processing" in unknown["message"]
    assert '"values": {"Betalt": "processing"}' in unknown["message"]
    mapping = shown["mapping"]
    mapping["fields"]["order.state"]["values"] = {"Betalt": "processing"}
    shown = tenant.api.post(
        f"/connections/{connection_id}/file-mappings/orders/preview",
        json={"content": content.decode("cp1252"), "mapping": mapping},
    ).json()
    assert shown["problems"] == []
    assert {row["values"]["order.state"] for row in shown["rows"]} == {"processing"}
    assert mapping["format"] == {
        "type": "csv", "delimiter": ";", "quote": '"', "encoding": "cp1252", "header_line": 4
    }  # fmt: skip
    assert (mapping["layout"], mapping["decimal_separator"], mapping["thousands_separator"]) == (
        "line_per_row", ",", "."
    )  # fmt: skip
    assert mapping["date_format"] == "%d-%m-%Y"
    assert shown["suggestion"]["doubts"] == []
    assert [row["line"] for row in shown["rows"]] == [5, 6, 7]
    assert [row["lines"][0]["line.unit_price"] for row in shown["rows"]] == [
        "79.95", "1234.50", "45.00"
    ]  # fmt: skip

    save_mapping(tenant, connection_id, "orders", mapping)
    _, uploaded = upload(tenant, connection_id, "ordrer.csv", content)
    system.run_until_idle()
    assert file_of(tenant, connection_id, uploaded["id"])["counts"]["problems"] == 0
    orders = by_number(tenant)
    assert sorted(orders) == ["2001", "2002"]
    lines = orders["2001"]["data"]["lines"]
    assert [(line["description"], line["unit_price"]) for line in lines] == [
        ("Krus; blå", "79.95"), ("Kaffe, mørk", "1234.50")
    ]  # fmt: skip


def test_the_preview_says_what_the_file_leaves_open(tenant: Tenant) -> None:
    """Day or month first, a decimal point or a thousands separator: each is a problem of
    the file naming the setting to give, not a silent guess."""
    connection_id = files_connection(tenant)
    shown = _preview_raw(tenant, connection_id, (SAMPLES / "orders_ambiguous.csv").read_bytes())
    problems = {p["code"]: p for p in shown["problems"]}
    assert set(problems) == {"decimal_separator_ambiguous", "date_format_ambiguous"}
    assert problems["date_format_ambiguous"]["column"] == "Date"
    assert problems["date_format_ambiguous"]["value"] == "01/02/2026"
    assert "%d/%m/%Y" in problems["date_format_ambiguous"]["message"]
    assert "give decimal_separator" in problems["decimal_separator_ambiguous"]["message"]
    assert "date_format" not in shown["mapping"]
    assert shown["suggestion"]["decimal_separator"] is None
    doubts = {d["setting"]: d["choices"] for d in shown["suggestion"]["doubts"]}
    assert doubts == {"date_format": ["%d/%m/%Y", "%m/%d/%Y"], "decimal_separator": [".", ","]}
