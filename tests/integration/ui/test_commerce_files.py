"""The files tab over HTTP: a sample CSV file's columns mapped (the suggestion preselected,
the rows read back), the mapping saved, a file uploaded and imported, and read again."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import httpx

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_file_import import ORDERS_CSV
from tests.integration.ui.commerce_fixtures import form_of
from tests.integration.ui.conftest import Web, text_of

SAMPLES = Path(__file__).parents[2] / "commerce" / "files"


def files_connection(tenant: Tenant) -> str:
    made = tenant.api.post("/connections", json={"system": "files", "name": "Filer",
                                                 "settings": {}, "secrets": {}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid: str = made.json()["id"]
    return cid


def post_file(
    web: Web, path: str, field: str, name: str, content: str, **data: str
) -> httpx.Response:
    files = {field: (name, content.encode(), "text/csv")}
    return web.post(path, data, files=files)


def test_a_sample_is_mapped_saved_and_a_file_uploaded_and_imported(
    web: Web, system: System, tenant: Tenant
) -> None:
    cid = files_connection(tenant)
    page = web.get(f"/ui/connections/{cid}/files")
    assert page.status_code == 200 and "no mapping yet" in text_of(page.text)
    unmapped = post_file(web, f"/ui/connections/{cid}/files/upload", "upload", "orders.csv",
                         ORDERS_CSV, kind="orders")  # fmt: skip
    assert unmapped.status_code == 422
    assert 'id="upload-kind-error"' in unmapped.text, text_of(unmapped.text)
    assert (
        "the columns of orders files are not mapped yet: choose a sample of one under Map its "
        "columns, save the mapping, then upload"
    ) in text_of(unmapped.text)
    assert "PUT /connections" not in unmapped.text, "the page names its own step, not the API's"

    mapped = post_file(web, f"/ui/connections/{cid}/files/map", "file", "orders.csv", ORDERS_CSV,
                       kind="orders")  # fmt: skip
    assert mapped.status_code == 200, text_of(mapped.text)
    form = form_of(mapped.text, f"/ui/connections/{cid}/files/map")
    assert form["fields.order.number"] == "Ordrenr", "the suggested column is chosen"
    assert form["fields.line.sku"] == "Varenr"

    missing = web.post(f"/ui/connections/{cid}/files/map",
                       {**form, "fields.order.number": "", "action": "save"})  # fmt: skip
    assert missing.status_code == 422
    assert 'id="fields-order-number-error"' in missing.text

    form.update({
        "layout": "line_per_row", "decimal_separator": ",", "thousands_separator": ".",
        "date_format": "%d-%m-%Y %H:%M", "fixed.order.currency": "DKK",
        "fields.order.currency": "",
    })  # fmt: skip
    preview = web.post(f"/ui/connections/{cid}/files/map", {**form, "action": "preview"})
    assert preview.status_code == 200
    assert "1001" in text_of(preview.text) and "1002" in text_of(preview.text)
    saved = web.post(f"/ui/connections/{cid}/files/map", {**form, "action": "save"})
    assert saved.status_code == 303, text_of(saved.text)
    mapping: dict[str, Any] = tenant.api.get(f"/connections/{cid}/file-mappings/orders").json()
    assert mapping["fields"]["order.currency"]["value"] == "DKK"
    assert mapping["layout"] == "line_per_row"
    assert "mapping saved" in text_of(web.get(f"/ui/connections/{cid}/files").text)

    uploaded = post_file(web, f"/ui/connections/{cid}/files/upload", "upload", "orders.csv",
                         ORDERS_CSV)  # fmt: skip
    assert uploaded.status_code == 303, text_of(uploaded.text)
    queued = web.get(uploaded.headers["location"])
    assert 'hx-trigger="every 2s"' in queued.text, "polls while the file is imported"
    system.run_until_idle()
    state = web.get(uploaded.headers["location"] + "/state")
    assert "hx-trigger" not in state.text
    words = text_of(state.text)
    assert "imported" in words and "Created 2" in words
    again = post_file(web, f"/ui/connections/{cid}/files/upload", "upload", "copy.csv", ORDERS_CSV)
    assert "was received before" in text_of(web.get(again.headers["location"]).text)
    reread = web.post(uploaded.headers["location"] + "/reimport")
    assert reread.status_code == 303
    system.run_until_idle()
    listed = text_of(web.get(f"/ui/connections/{cid}/files").text)
    assert "orders.csv" in listed and "imported" in listed


def test_the_map_form_starts_from_how_the_sample_is_written(
    web: Web, system: System, tenant: Tenant
) -> None:
    """A Windows-1252 export with title lines above its header and decimal commas: the form
    shows the line of the header, the separators and the date format found in it, and the
    mapping saved from it reads the file."""
    cid = files_connection(tenant)
    content = (SAMPLES / "ordrer_eksport_cp1252.csv").read_bytes()
    files = {"file": ("ordrer.csv", content, "text/csv")}
    mapped = web.post(f"/ui/connections/{cid}/files/map", {"kind": "orders"}, files=files)
    assert mapped.status_code == 200, text_of(mapped.text)
    form = form_of(mapped.text, f"/ui/connections/{cid}/files/map")
    assert (form["format.delimiter"], form["format.header_line"], form["format.encoding"]) == (
        ";", "4", "cp1252"
    )  # fmt: skip
    assert (form["decimal_separator"], form["thousands_separator"]) == (",", ".")
    assert (form["date_format"], form["layout"]) == ("%d-%m-%Y", "line_per_row")
    assert "2001" in text_of(mapped.text) and "Søren Ærø" in text_of(mapped.text)

    saved = web.post(f"/ui/connections/{cid}/files/map", {**form, "action": "save"})
    assert saved.status_code == 303, text_of(saved.text)
    mapping: dict[str, Any] = tenant.api.get(f"/connections/{cid}/file-mappings/orders").json()
    assert mapping["format"]["header_line"] == 4
    assert mapping["format"]["quote"] == '"'
    assert mapping["decimal_separator"] == ","
    uploaded = web.post(f"/ui/connections/{cid}/files/upload", {}, files={
        "upload": ("ordrer.csv", content, "text/csv")})  # fmt: skip
    assert uploaded.status_code == 303, text_of(uploaded.text)
    system.run_until_idle()
    assert "Created 2" in text_of(web.get(uploaded.headers["location"] + "/state").text)

    # A sample whose columns make no refund mapping (no credit note number): the form still
    # starts from how it is written.
    refunds = post_file(web, f"/ui/connections/{cid}/files/map", "file", "orders.csv",
                        ORDERS_CSV, kind="refunds")  # fmt: skip
    assert refunds.status_code == 200
    form = form_of(refunds.text, f"/ui/connections/{cid}/files/map")
    assert (form["decimal_separator"], form["thousands_separator"]) == (",", ".")
    assert form["date_format"] == "%d-%m-%Y %H:%M"


def test_the_map_page_says_what_the_sample_leaves_open(web: Web, tenant: Tenant) -> None:
    cid = files_connection(tenant)
    content = (SAMPLES / "orders_ambiguous.csv").read_bytes()
    files = {"file": ("orders.csv", content, "text/csv")}
    mapped = web.post(f"/ui/connections/{cid}/files/map", {"kind": "orders"}, files=files)
    assert mapped.status_code == 200
    words = text_of(mapped.text)
    assert "read day first (%d/%m/%Y) or month first (%m/%d/%Y); give date_format" in words
    assert "give decimal_separator" in words


def test_a_refused_upload_keeps_the_kind_it_was_given(web: Web, tenant: Tenant) -> None:
    """The file cannot be filled in again after a refusal, but the kind chosen for it stays
    chosen beside the reason; a kind edited in the page names the choices the list offers."""
    cid = files_connection(tenant)
    path = f"/ui/connections/{cid}/files/upload"
    unmapped = post_file(web, path, "upload", "returns.csv", ORDERS_CSV, kind="refunds")
    assert unmapped.status_code == 422
    assert '<option value="refunds" selected>' in unmapped.text, "the kind chosen stays"
    assert "refunds files are not mapped yet" in text_of(unmapped.text)
    empty = web.post(path, {"kind": "refunds"})
    assert empty.status_code == 422 and '<option value="refunds" selected>' in empty.text
    edited = post_file(web, path, "upload", "x.csv", ORDERS_CSV, kind="invoices")
    assert edited.status_code == 422, text_of(edited.text)
    assert (
        "The file holds: 'invoices' is not one of the choices (Orders, Refunds); choose one "
        "from the list"
    ) in html.unescape(text_of(edited.text))
