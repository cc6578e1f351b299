"""File integration end to end: a files connection over the hub API on loopback, a real
database (SQLite or PostgreSQL), the job runtime and a real watched folder on disk.

Uploaded and dropped files become hub orders and refunds through the engine's inbound path
(links, sync log, updates instead of duplicates), each file once by its content, and every
bad line an open issue naming the file, the line and the column.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.engine.inbound import InboundSync
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from tests.integration.conftest import Tenant, hub_settings

ORDERS_MAPPING: dict[str, Any] = {
    "format": {"type": "csv", "delimiter": ";"},
    "layout": "line_per_row",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "date_format": "%d-%m-%Y %H:%M",
    "timezone": "Europe/Copenhagen",
    "fields": {
        "order.number": "Ordrenr",
        "order.created_at": "Dato",
        "order.state": {"column": "Status", "values": {"Betalt": "processing"}},
        "order.currency": {"value": "DKK"},
        "customer.email": "E-mail",
        "line.sku": "Varenr",
        "line.description": "Beskrivelse",
        "line.quantity": "Antal",
        "line.unit_price": "Stykpris",
        "line.tax_rate": {"column": "Moms %", "default": "25"},
    },
}
HEADER = "Ordrenr;Dato;Status;E-mail;Varenr;Beskrivelse;Antal;Stykpris;Moms %\n"
ORDERS_CSV = (
    HEADER
    + "1001;30-11-2026 14:05;Betalt;kunde@example.dk;SKU-1;Kaffe;2;49,95;25\n"
    + "1001;30-11-2026 14:05;Betalt;kunde@example.dk;SKU-2;Krus;1;1.234,50;25\n"
    + "1002;30-11-2026 15:10;Betalt;anden@example.dk;SKU-1;Kaffe;1;49,95;25\n"
)
XML_MAPPING: dict[str, Any] = {
    "format": {"type": "xml", "records": "Orders/Order", "lines": "Lines/Line"},
    "fields": {
        "order.number": "@number",
        "order.created_at": "Created",
        "order.state": "Status",
        "order.currency": "Currency",
        "customer.email": "Customer/Email",
        "line.sku": "Sku",
        "line.quantity": "Qty",
        "line.unit_price": "Price",
        "line.tax_rate": "VatRate",
    },
}
ORDERS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Orders xmlns="urn:example:shop">
  <Order number="W-7">
    <Created>2026-11-30T10:00:00+01:00</Created>
    <Status>completed</Status>
    <Currency>EUR</Currency>
    <Customer><Email>kaufer@example.de</Email></Customer>
    <Lines>
      <Line><Sku>TEA</Sku><Qty>3</Qty><Price>4.50</Price><VatRate>19</VatRate></Line>
      <Line><Sku>CUP</Sku><Qty>1</Qty><Price>12.00</Price><VatRate>19</VatRate></Line>
    </Lines>
  </Order>
  <Order number="W-8">
    <Created>2026-11-30T11:00:00+01:00</Created>
    <Status>processing</Status>
    <Currency>EUR</Currency>
    <Customer><Email>zweite@example.de</Email></Customer>
    <Lines><Line><Sku>TEA</Sku><Qty>1</Qty><Price>4.50</Price><VatRate>19</VatRate></Line></Lines>
  </Order>
</Orders>
"""
REFUNDS_MAPPING: dict[str, Any] = {
    "format": {"type": "csv", "delimiter": ";"},
    "decimal_separator": ",",
    "date_format": "%d-%m-%Y",
    "fields": {
        "refund.source_id": "Kreditnota",
        "refund.order_number": "Ordrenr",
        "refund.created_at": "Dato",
        "refund.currency": {"value": "DKK"},
        "refund.amount": "Beløb",
        "refund.reason": "Årsag",
    },
}
REFUNDS_CSV = "Kreditnota;Ordrenr;Dato;Beløb;Årsag\nK-1;1001;01-12-2026;49,95;Knust krus\n"


@pytest.fixture
def watch_root(tmp_path: Path) -> Path:
    root = tmp_path / "drop"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    db_url: str, secret_key: str, hub_port: int, tmp_path: Path, watch_root: Path
) -> Settings:
    return hub_settings(db_url, secret_key, hub_port, tmp_path, files_watch_root=watch_root)


def files_connection(tenant: Tenant, **settings: Any) -> str:
    response = tenant.api.post(
        "/connections", json={"system": "files", "name": "Webshop files", "settings": settings}
    )
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


def save_mapping(tenant: Tenant, connection_id: str, kind: str, mapping: dict[str, Any]) -> None:
    response = tenant.api.put(f"/connections/{connection_id}/file-mappings/{kind}", json=mapping)
    assert response.status_code == 200, response.text


def upload(
    tenant: Tenant, connection_id: str, name: str, content: str | bytes, **params: str
) -> tuple[int, dict[str, Any]]:
    body = content.encode() if isinstance(content, str) else content
    media = "application/xml" if name.endswith(".xml") else "text/csv"
    response = tenant.api.post(
        f"/connections/{connection_id}/files",
        params={"name": name, **params},
        content=body,
        headers={"Content-Type": media},
    )
    assert response.status_code in (200, 202), response.text
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


def file_of(tenant: Tenant, connection_id: str, file_id: str) -> dict[str, Any]:
    response = tenant.api.get(f"/connections/{connection_id}/files/{file_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def records(tenant: Tenant, path: str) -> list[dict[str, Any]]:
    response = tenant.api.get(f"/{path}", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def by_number(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return {o["data"]["source_id"]: o for o in records(tenant, "orders")}


def issues(tenant: Tenant, connection_id: str) -> list[dict[str, Any]]:
    response = tenant.api.get(f"/connections/{connection_id}/issues")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def sync_log(tenant: Tenant, connection_id: str, outcome: str) -> list[dict[str, Any]]:
    response = tenant.api.get(
        f"/connections/{connection_id}/sync-log", params={"outcome": outcome, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_an_uploaded_file_brings_orders_with_links_once_and_the_same_file_again_is_a_duplicate(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)

    status, first = upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    assert (status, first["status"], first["duplicate"]) == (202, "queued", False)
    system.run_until_idle()

    imported = file_of(tenant, connection_id, first["id"])
    assert imported["status"] == "imported"
    assert imported["counts"]["orders"] == 2
    assert imported["counts"]["created"] == 2
    assert imported["counts"]["problems"] == 0
    assert imported["problems"] == []
    orders = by_number(tenant)
    assert sorted(orders) == ["1001", "1002"]
    order = orders["1001"]["data"]
    assert [line["unit_price"] for line in order["lines"]] == ["49.95", "1234.50"]
    assert order["state"] == "processing"
    assert order["created_at"] == "2026-11-30T14:05:00+01:00"
    [link] = orders["1001"]["sync"]
    assert (link["connection_id"], link["system"], link["stream"], link["remote_id"]) == (
        connection_id, "files", "orders", "1001"
    )  # fmt: skip
    created = sync_log(tenant, connection_id, "created")
    assert sorted(row["remote_id"] for row in created) == ["1001", "1002"]

    # The same export saved on Windows by an editor that adds a byte order mark.
    again = b"\xef\xbb\xbf" + ORDERS_CSV.replace("\n", "\r\n").encode()
    status, second = upload(tenant, connection_id, "orders (1).csv", again)
    assert (status, second["duplicate"], second["id"]) == (200, True, first["id"])
    assert second["name"] == "orders.csv"
    system.run_until_idle()
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    listed = tenant.api.get(f"/connections/{connection_id}/files").json()
    assert [f["id"] for f in listed] == [first["id"]]


def test_a_corrected_file_updates_the_order_instead_of_adding_one(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    system.run_until_idle()
    record_id = by_number(tenant)["1001"]["id"]

    corrected = ORDERS_CSV.replace("SKU-2;Krus;1;", "SKU-2;Krus;3;")
    status, answer = upload(tenant, connection_id, "orders-corrected.csv", corrected)
    assert (status, answer["duplicate"]) == (202, False)
    system.run_until_idle()

    counts = file_of(tenant, connection_id, answer["id"])["counts"]
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 1, 1)
    orders = by_number(tenant)
    assert sorted(orders) == ["1001", "1002"]
    assert orders["1001"]["id"] == record_id
    assert [line["quantity"] for line in orders["1001"]["data"]["lines"]] == ["2", "3"]
    assert [r["remote_id"] for r in sync_log(tenant, connection_id, "updated")] == ["1001"]


def test_two_bad_lines_are_two_issues_naming_line_and_column_and_the_others_are_imported(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    bad = (
        ORDERS_CSV
        + "1003;30-11-2026 16:00;Betalt;tre@example.dk;SKU-1;Kaffe;12,5x;49,95;25\n"
        + "1004;31-11-2026 16:30;Betalt;fire@example.dk;SKU-1;Kaffe;1;49,95;25\n"
    )
    _, answer = upload(tenant, connection_id, "orders-2026-11-30.csv", bad)
    system.run_until_idle()

    imported = file_of(tenant, connection_id, answer["id"])
    assert imported["status"] == "imported"
    assert (imported["counts"]["orders"], imported["counts"]["problems"]) == (2, 2)
    assert [(p["line"], p["column"], p["field"], p["record"], p["code"], p["value"])
            for p in imported["problems"]] == [
        (5, "Antal", "line.quantity", "1003", "number_invalid", "12,5x"),
        (6, "Dato", "order.created_at", "1004", "date_invalid", "31-11-2026 16:30"),
    ]  # fmt: skip
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    open_issues = sorted(issues(tenant, connection_id), key=lambda i: i["message"])
    assert [(i["stream"], i["direction"], i["reason"]) for i in open_issues] == [
        ("orders", "inbound", "number_invalid"),
        ("orders", "inbound", "date_invalid"),
    ]
    assert open_issues[0]["message"].startswith("orders-2026-11-30.csv, line 5, column Antal: ")
    assert "'12,5x'" in open_issues[0]["message"]
    assert open_issues[1]["message"].startswith("orders-2026-11-30.csv, line 6, column Dato: ")

    # The shop sends the lines again, fixed: the orders come in and their issues close.
    fixed = HEADER + bad.splitlines(keepends=True)[5].replace("31-11", "30-11")
    fixed += bad.splitlines(keepends=True)[4].replace("12,5x", "12")
    upload(tenant, connection_id, "orders-fixed.csv", fixed)
    system.run_until_idle()
    assert sorted(by_number(tenant)) == ["1001", "1002", "1003", "1004"]
    assert issues(tenant, connection_id) == []


def test_an_xml_file_and_a_refund_file(system: System, tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", XML_MAPPING)
    save_mapping(tenant, connection_id, "refunds", REFUNDS_MAPPING)

    _, xml_file = upload(tenant, connection_id, "export.xml", ORDERS_XML, kind="orders")
    _, refund_file = upload(tenant, connection_id, "refunds.csv", REFUNDS_CSV)
    assert refund_file["kind"] == "refunds"
    system.run_until_idle()

    assert file_of(tenant, connection_id, xml_file["id"])["counts"]["orders"] == 2
    orders = by_number(tenant)
    assert sorted(orders) == ["W-7", "W-8"]
    assert [line["sku"] for line in orders["W-7"]["data"]["lines"]] == ["TEA", "CUP"]
    assert orders["W-7"]["data"]["customer"]["email"] == "kaufer@example.de"
    assert orders["W-7"]["sync"][0]["remote_id"] == "W-7"
    refunds = records(tenant, "refunds")
    assert [(r["data"]["source_id"], r["data"]["order_source_id"], r["data"]["amount"])
            for r in refunds] == [("K-1", "1001", "49.95")]  # fmt: skip
    assert refunds[0]["sync"][0]["stream"] == "refunds"


def test_an_import_cut_short_runs_again_and_writes_each_order_once(
    system: System, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One order per transaction; the second page fails once (the worker's transaction is
    lost): the job runs again, resumes after the page written, and nothing is doubled."""
    connection_id = files_connection(tenant, page_size=1)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    content = ORDERS_CSV + "1003;30-11-2026 16:00;Betalt;tre@example.dk;SKU-1;Kaffe;1;49,95;25\n"
    original: Callable[..., None] = InboundSync.apply
    pages: list[str] = []

    def failing_once(self: InboundSync, session: Any, ctx: Any, stream: str, rows: Any,
                     **kwargs: Any) -> None:  # fmt: skip
        original(self, session, ctx, stream, rows, **kwargs)
        pages.append(rows[0]["source_id"])
        if len(pages) == 2:
            raise RuntimeError("the worker died with the second page uncommitted")

    monkeypatch.setattr(InboundSync, "apply", failing_once)
    _, answer = upload(tenant, connection_id, "orders.csv", content)
    deadline = time.monotonic() + 30
    while file_of(tenant, connection_id, answer["id"])["status"] != "imported":
        assert time.monotonic() < deadline, file_of(tenant, connection_id, answer["id"])
        system.run_until_idle()
        time.sleep(0.2)

    assert pages == ["1001", "1002", "1002", "1003"]
    assert sorted(by_number(tenant)) == ["1001", "1002", "1003"]
    created = sync_log(tenant, connection_id, "created")
    assert sorted(r["remote_id"] for r in created) == ["1001", "1002", "1003"]
    counts = file_of(tenant, connection_id, answer["id"])["counts"]
    assert (counts["orders"], counts["created"]) == (3, 3)


def _drop(folder: Path, name: str, content: str, *, age: float = 60.0) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_watched_folder_imports_new_files_and_moves_them(
    system: System, tenant: Tenant, watch_root: Path
) -> None:
    folder = watch_root / "nordlys"
    folder.mkdir()
    connection_id = files_connection(tenant, watch_folder=str(folder))
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    _drop(folder, "orders-1.csv", ORDERS_CSV)
    bad = HEADER + "1005;30-11-2026 16:00;Betalt;fem@example.dk;SKU-1;Kaffe;1;49,95x;25\n"
    _drop(folder, "orders-2.csv", bad)
    _drop(folder, "still-writing.csv", HEADER + "1006;30-11-2026", age=0)
    _drop(folder, "notes.txt", "not an order file")

    assert tenant.api.post(f"/connections/{connection_id}/jobs/file_scan").status_code == 202
    system.run_until_idle()

    assert sorted(p.name for p in folder.iterdir()) == [
        "failed", "notes.txt", "processed", "still-writing.csv"
    ]  # fmt: skip
    assert [p.name for p in (folder / "processed").iterdir()] == ["orders-1.csv"]
    assert sorted(p.name for p in (folder / "failed").iterdir()) == [
        "orders-2.csv", "orders-2.csv.problems.json"
    ]  # fmt: skip
    problems = (folder / "failed" / "orders-2.csv.problems.json").read_text()
    assert '"column": "Stykpris"' in problems and '"line": 2' in problems
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    [issue] = issues(tenant, connection_id)
    assert issue["message"].startswith("orders-2.csv, line 2, column Stykpris: ")
    listed = tenant.api.get(f"/connections/{connection_id}/files").json()
    assert sorted((f["name"], f["source"], f["status"]) for f in listed) == [
        ("orders-1.csv", "folder", "imported"), ("orders-2.csv", "folder", "failed")
    ]  # fmt: skip
    failed = tenant.api.get(f"/connections/{connection_id}/files", params={"status": "failed"})
    assert [(f["name"], f["counts"]["problems"]) for f in failed.json()] == [("orders-2.csv", 1)]

    # The same export dropped again is moved without being imported twice; the file that
    # was being written is taken once it has settled.
    _drop(folder, "orders-1.csv", ORDERS_CSV)
    _drop(folder, "still-writing.csv", ORDERS_CSV.replace("1001", "1007").replace("1002", "1008"))
    assert tenant.api.post(f"/connections/{connection_id}/jobs/file_scan").status_code == 202
    system.run_until_idle()
    assert sorted(p.name for p in (folder / "processed").iterdir()) == [
        "orders-1.2.csv", "orders-1.csv", "still-writing.csv"
    ]  # fmt: skip
    assert sorted(by_number(tenant)) == ["1001", "1002", "1007", "1008"]
    assert len(tenant.api.get(f"/connections/{connection_id}/files").json()) == 3


def test_a_watched_folder_file_without_a_saved_mapping_says_where_to_save_one(
    system: System, tenant: Tenant, watch_root: Path
) -> None:
    """Worded as the upload's refusal: the Files tab's step, then the API's call."""
    folder = watch_root / "nordlys"
    folder.mkdir()
    connection_id = files_connection(tenant, watch_folder=str(folder))
    _drop(folder, "orders-1.csv", ORDERS_CSV)
    assert tenant.api.post(f"/connections/{connection_id}/jobs/file_scan").status_code == 202
    system.run_until_idle()

    [issue] = issues(tenant, connection_id)
    assert issue["reason"] == "mapping_missing"
    assert issue["message"] == (
        "orders-1.csv: no mapping is saved for orders files: on the connection's Files tab, "
        "choose a sample file under Column mapping, click Map its columns and save the "
        f"mapping (API: PUT /connections/{connection_id}/file-mappings/orders)"
    )
    refused = tenant.api.post(
        f"/connections/{connection_id}/files", params={"name": "orders-1.csv"},
        content=ORDERS_CSV.encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert issue["message"] == f"orders-1.csv: {refused.json()['detail'][0]['msg']}"


def test_a_watch_folder_led_out_of_the_installations_root_after_it_was_saved_is_not_scanned(
    system: System, tenant: Tenant, watch_root: Path, tmp_path: Path
) -> None:
    """A folder outside the root is refused when saved; one that was under it then (a link
    to a folder inside) and leads outside since (the link re-pointed) is refused by the
    scan, which follows the link again."""
    inside = watch_root / "nordlys-2026"
    inside.mkdir()
    link = watch_root / "nordlys"
    link.symlink_to(inside, target_is_directory=True)
    connection_id = files_connection(tenant, watch_folder=str(link))
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    dropped = _drop(outside, "orders.csv", ORDERS_CSV)
    link.unlink()
    link.symlink_to(outside, target_is_directory=True)

    assert tenant.api.post(f"/connections/{connection_id}/jobs/file_scan").status_code == 202
    system.run_until_idle()

    assert dropped.exists()
    assert records(tenant, "orders") == []
    [issue] = issues(tenant, connection_id)
    assert issue["reason"] == "watch_folder_refused"
    assert "is not under" in issue["message"]


def test_the_same_file_uploaded_at_the_same_moment_is_stored_and_imported_once(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    answers: list[tuple[int, dict[str, Any]]] = []

    def send() -> None:
        answers.append(upload(tenant, connection_id, "orders.csv", ORDERS_CSV))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    system.run_until_idle()

    assert sorted(status for status, _ in answers) == [200, 200, 200, 202]
    assert len({answer["id"] for _, answer in answers}) == 1
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    assert len(sync_log(tenant, connection_id, "created")) == 2


def test_a_nul_character_in_a_cell_is_a_problem_on_its_line_on_both_databases(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    content = ORDERS_CSV + "1009;30-11-2026 16:00;Betalt;ni@example.dk;SKU\x009;Kaffe;1;5;25\n"
    _, answer = upload(tenant, connection_id, "orders.csv", content)
    system.run_until_idle()

    imported = file_of(tenant, connection_id, answer["id"])
    assert imported["status"] == "imported"
    [problem] = imported["problems"]
    assert (problem["line"], problem["column"], problem["record"]) == (5, "Varenr", "1009")
    assert "\x00" not in str(problem)
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    [issue] = issues(tenant, connection_id)
    assert issue["message"].startswith("orders.csv, line 5, column Varenr: ")


def test_a_file_is_read_again_after_its_mapping_is_fixed(system: System, tenant: Tenant) -> None:
    connection_id = files_connection(tenant)
    untranslated = copy.deepcopy(ORDERS_MAPPING)
    untranslated["fields"]["order.state"] = "Status"
    save_mapping(tenant, connection_id, "orders", untranslated)
    _, answer = upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    busy = tenant.api.post(f"/connections/{connection_id}/files/{answer['id']}/import")
    assert busy.status_code == 409
    system.run_until_idle()
    before = by_number(tenant)
    assert before["1001"]["data"]["state"] == "Betalt"

    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    _, duplicate = upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    assert duplicate["duplicate"] is True
    again = tenant.api.post(f"/connections/{connection_id}/files/{answer['id']}/import")
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "queued"
    system.run_until_idle()

    after = by_number(tenant)
    assert {n: o["id"] for n, o in after.items()} == {n: o["id"] for n, o in before.items()}
    assert {o["data"]["state"] for o in after.values()} == {"processing"}
    counts = file_of(tenant, connection_id, answer["id"])["counts"]
    assert (counts["created"], counts["updated"]) == (0, 2)


def test_a_file_that_failed_as_a_whole_is_taken_again_once_its_mapping_reads(
    system: System, tenant: Tenant
) -> None:
    """A mapping changed through the generic settings patch is checked when a file is read:
    the file fails with ``mapping_invalid``, and the same file sent again after the mapping
    is saved properly is imported, not answered as a duplicate."""
    connection_id = files_connection(tenant)
    patched = tenant.api.patch(
        f"/connections/{connection_id}",
        json={"settings": {"file_mappings": {"orders": {"format": {"type": "csv"}}}}},
    )
    assert patched.status_code == 200, patched.text
    _, answer = upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    system.run_until_idle()
    failed = file_of(tenant, connection_id, answer["id"])
    assert failed["status"] == "failed"
    assert [p["code"] for p in failed["problems"]] == ["mapping_invalid"]
    [issue] = issues(tenant, connection_id)
    assert issue["reason"] == "mapping_invalid"
    assert issue["message"].startswith("orders.csv: the saved mapping for orders files does not")

    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    status, again = upload(tenant, connection_id, "orders.csv", ORDERS_CSV)
    assert (status, again["id"], again["duplicate"]) == (202, answer["id"], False)
    system.run_until_idle()
    assert file_of(tenant, connection_id, answer["id"])["status"] == "imported"
    assert sorted(by_number(tenant)) == ["1001", "1002"]
    assert issues(tenant, connection_id) == []


def test_files_that_are_not_order_files_fail_with_their_reason(
    system: System, tenant: Tenant
) -> None:
    connection_id = files_connection(tenant)
    save_mapping(tenant, connection_id, "orders", ORDERS_MAPPING)
    garbage = bytes(range(256)) * 8
    doctype = b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"
    header_nul = (
        HEADER.replace("Antal", "An\x00tal") + "1001;30-11-2026 14:05;Betalt;a@b.dk;S;K;1;5;25\n"
    )
    sent = {
        name: upload(tenant, connection_id, name, content)[1]["id"]
        for name, content in (
            ("garbage.csv", garbage), ("doctype.csv", doctype), ("nul.csv", header_nul.encode())
        )
    }  # fmt: skip
    system.run_until_idle()

    codes = {}
    for name, file_id in sent.items():
        found = file_of(tenant, connection_id, file_id)
        assert found["status"] == "failed", found
        codes[name] = [p["code"] for p in found["problems"]]
        assert "\x00" not in str(found)
    assert codes["nul.csv"] == ["column_missing"]
    assert all(codes.values())
    assert records(tenant, "orders") == []
    assert len(issues(tenant, connection_id)) == sum(len(c) for c in codes.values())
