"""A watched folder and an invoice logo are checked when they are saved: a folder outside the
installation's watch root, missing, of the wrong kind or not an image the PDF can use is
refused on the field with the path and the reason. One saved earlier that went missing since
keeps loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from ledgerbridge.connectors.kit.paths import folder_problem
from ledgerbridge.settings import Settings
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    hub_settings,
)


@pytest.fixture
def watch_root(tmp_path: Path) -> Path:
    root = tmp_path / "watched"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    db_url: str, secret_key: str, hub_port: int, tmp_path: Path, watch_root: Path
) -> Settings:
    return hub_settings(db_url, secret_key, hub_port, tmp_path, files_watch_root=watch_root)


def refusal(response: httpx.Response) -> tuple[list[Any], str]:
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    return error["loc"], error["msg"]


def files(tenant: Tenant, **settings: Any) -> httpx.Response:
    return tenant.api.post(
        "/connections", json={"system": "files", "name": "Shop files", "settings": settings}
    )


def test_a_watch_folder_is_checked_when_saved(tenant: Tenant, watch_root: Path) -> None:
    missing = watch_root / "drop"
    assert refusal(files(tenant, watch_folder=str(missing))) == (
        ["body", "settings", "watch_folder"],
        f"settings.watch_folder: {missing} does not exist on the hub's server",
    )
    a_file = watch_root / "orders.csv"
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


def test_a_watch_folder_outside_the_installations_root_is_refused_when_saved(
    tenant: Tenant, watch_root: Path, tmp_path: Path
) -> None:
    """Refused on the field with the allowed root, before anything is looked at outside it
    (a folder that exists there is refused alike); a link out of the root is outside too."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    link = watch_root / "shortcut"
    link.symlink_to(outside, target_is_directory=True)
    for given in (outside, tmp_path / "nowhere", link, Path("/etc")):
        assert refusal(files(tenant, watch_folder=str(given))) == (
            ["body", "settings", "watch_folder"],
            f"settings.watch_folder: {given} is not under {watch_root.resolve()}, the folder "
            "under which this installation lets connections watch a folder "
            "(LEDGERBRIDGE_FILES_WATCH_ROOT): give a folder under it",
        )
    assert tenant.api.get("/connections").json() == []
    inside = watch_root / "nordlys"
    inside.mkdir()
    created = files(tenant, watch_folder=str(inside))
    assert created.status_code == 201, created.text
    moved = tenant.api.patch(
        f"/connections/{created.json()['id']}", json={"settings": {"watch_folder": str(outside)}}
    )
    loc, message = refusal(moved)
    assert loc == ["body", "settings", "watch_folder"]
    assert message.startswith(
        f"settings.watch_folder: {outside} is not under {watch_root.resolve()}"
    )


def test_an_installation_without_a_watch_root_allows_no_watch_folder(tmp_path: Path) -> None:
    assert folder_problem(str(tmp_path), None) == (
        f"{tmp_path} cannot be watched: this installation allows no watch folders "
        "(LEDGERBRIDGE_FILES_WATCH_ROOT is not set); upload the files instead"
    )
    assert folder_problem(str(tmp_path), tmp_path) is None


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
