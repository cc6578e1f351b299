"""A Uniconta user name given as the login prints it (``00<company>/<user>``): saved as the
plain name, so the runs' login carries the company once; a login of another company is
refused at save, naming the field and what to give."""

from __future__ import annotations

from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta, import_all, seed


def _save(tenant: Tenant, uniconta: Uniconta, username: str) -> Any:
    return tenant.api.post("/connections", json={
        "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
        "settings": {"company_id": COMPANY, "username": username, "base_url": uniconta.url,
                     "entities": {"suppliers": {"enabled": False},
                                  "contacts": {"enabled": False}}},
        "secrets": {"password": PASSWORD},
    })  # fmt: skip


def test_a_username_with_the_company_prefix_is_saved_plain_and_the_import_runs(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)

    saved = _save(tenant, uniconta, f"00{COMPANY}/{USER}")

    assert saved.status_code == 201, saved.text
    assert saved.json()["settings"]["username"] == USER
    status = import_all(system, tenant, saved.json()["id"])
    assert status["last_error"] is None
    parties = tenant.api.get("/parties", params={"limit": 100}).json()["items"]
    assert sorted(p["data"]["debtor_number"] for p in parties) == sorted(accounts)


def test_the_login_of_another_company_is_refused_at_save(
    tenant: Tenant, uniconta: Uniconta
) -> None:
    refused = _save(tenant, uniconta, f"0099/{USER}")

    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "settings", "username"]
    assert f"give the plain user name ('{USER}')" in problem["msg"]
    assert tenant.api.get("/connections").json() == []
