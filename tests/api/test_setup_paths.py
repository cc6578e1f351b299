"""A watched folder and an invoice logo are checked when they are saved: missing, of the
wrong kind or not an image the PDF can use is refused on the field with the path and the
reason. One saved earlier that went missing since keeps loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta


def refusal(response: httpx.Response) -> tuple[list[Any], str]:
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    return error["loc"], error["msg"]


def files(tenant: Tenant, **settings: Any) -> httpx.Response:
    return tenant.api.post(
        "/connections", json={"system": "files", "name": "Shop files", "settings": settings}
    )


def test_a_watch_folder_is_checked_when_saved(tenant: Tenant, tmp_path: Path) -> None:
    missing = tmp_path / "drop"
    assert refusal(files(tenant, watch_folder=str(missing))) == (
        ["body", "settings", "watch_folder"],
        f"settings.watch_folder: {missing} does not exist on the hub's server",
    )
    a_file = tmp_path / "orders.csv"
    a_file.write_text("id\n")
    assert refusal(files(tenant, watch_folder=str(a_file)))[1] == (
        f"settings.watch_folder: {a_file} is a file, not a folder"
    )
    assert tenant.api.get("/connections").json() == []
    missing.mkdir()
    created = files(tenant, watch_folder=str(missing))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    moved = tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"watch_folder": str(a_file)}}
    )
    assert refusal(moved)[0] == ["body", "settings", "watch_folder"]

    missing.rmdir()  # gone after it was saved: the connection loads and can still change
    assert tenant.api.get(f"/connections/{cid}").status_code == 200
    changed = tenant.api.patch(f"/connections/{cid}", json={"settings": {"page_size": 50}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["watch_folder"] == str(missing)


def mail(logo: Path) -> dict[str, Any]:
    return {
        "enabled": False,
        "smtp_host": "127.0.0.1",
        "from_address": "faktura@nordlys.dk",
        "layout": "standard",
        "company": {"name": "Nordlys Handel ApS"},
        "logo_path": str(logo),
    }


def test_an_invoice_logo_is_checked_when_saved(
    tenant: Tenant, uniconta: Uniconta, tmp_path: Path
) -> None:
    created = tenant.api.post(
        "/connections",
        json={
            "system": "uniconta",
            "name": "Uniconta",
            "settings": {"company_id": COMPANY, "username": USER, "base_url": uniconta.url},
            "secrets": {"password": PASSWORD},
        },
    )
    assert created.status_code == 201, created.text
    url = f"/connections/{created.json()['id']}"

    def save(logo: Path) -> httpx.Response:
        return tenant.api.patch(url, json={"settings": {"invoice_mail": mail(logo)}})

    missing = tmp_path / "logo.png"
    field = ["body", "settings", "invoice_mail", "logo_path"]
    assert refusal(save(missing)) == (
        field, f"settings.invoice_mail.logo_path: {missing} does not exist on the hub's server"
    )  # fmt: skip
    assert refusal(save(tmp_path))[1].endswith(f"{tmp_path} is a folder, not an image file")
    not_an_image = tmp_path / "logo.txt"
    not_an_image.write_text("Nordlys")
    assert refusal(save(not_an_image)) == (
        field,
        f"settings.invoice_mail.logo_path: {not_an_image} is not an image the invoice PDF can "
        "use: give a PNG or JPEG file",
    )
    Image.new("RGB", (60, 20), (200, 30, 30)).save(missing)
    saved = save(missing)
    assert saved.status_code == 200, saved.text
    missing.unlink()  # gone since: a change of another mail setting is still saved
    changed = tenant.api.patch(
        url, json={"settings": {"invoice_mail": {"from_name": "Nordlys Handel"}}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["invoice_mail"]["logo_path"] == str(missing)
