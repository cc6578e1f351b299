"""Qonto's VAT groups on the connection's Entities page over plain HTTP: invoices need one per
VAT rate and country (seed: "If no matching VAT group exists, invoice sync will fail"), so a
person sets them where the invoices are switched on, a group per line, saved as the API
saves ``settings.vat_groups``; a line that is not a group is refused on its input."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from ledgerbridge.sandbox.qonto import QontoSandbox
from tests.integration.conftest import Tenant
from tests.integration.test_qonto import Qonto, start
from tests.integration.ui.commerce_fixtures import form_of
from tests.integration.ui.conftest import Web, text_of
from tests.integration.ui.test_credentials_qonto import qonto_connection


@pytest.fixture
def qonto(hub_port: int) -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=4), f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback")


def settings_of(tenant: Tenant, cid: str) -> dict[str, Any]:
    return dict(tenant.api.get(f"/connections/{cid}").json()["settings"])


def test_vat_groups_are_set_on_the_entities_page_a_group_per_line(
    web: Web, tenant: Tenant, qonto: Qonto
) -> None:
    cid = qonto_connection(tenant, qonto)
    path = f"/ui/connections/{cid}/entities"
    page = web.get(path)
    assert page.status_code == 200, page.text
    assert "Vat groups" in text_of(page.text) or "VAT groups" in text_of(page.text)
    assert "One per line: code, rate, country" in html.unescape(text_of(page.text))
    form = {k: v for k, v in form_of(page.text, path).items() if v != ""}
    form["settings.vat_groups"] = "FR20, 20, FR\r\n\r\nFR55, 5.5, FR\r\nNL0, 0, NL"
    saved = web.post(path, form)
    assert saved.status_code == 303, text_of(saved.text)
    groups = settings_of(tenant, cid)["vat_groups"]
    assert [(g["code"], str(g["rate"]), g["country"]) for g in groups] == [
        ("FR20", "20", "FR"), ("FR55", "5.5", "FR"), ("NL0", "0", "NL"),
    ]  # fmt: skip
    again = web.get(path).text
    assert "FR20, 20, FR\nFR55, 5.5, FR\nNL0, 0, NL</textarea>" in again, "as they were typed"

    not_a_group = web.post(path, {**form, "settings.vat_groups": "FR20 20 FR"})
    assert not_a_group.status_code == 422
    assert "settings-vat_groups-error" in not_a_group.text
    said = html.unescape(text_of(not_a_group.text))
    assert "line 1 ('FR20 20 FR'): write it as code, rate, country" in said
    assert "FR20 20 FR</textarea>" in not_a_group.text, "what was typed stays"
    assert len(settings_of(tenant, cid)["vat_groups"]) == 3

    bad_rate = web.post(path, {**form, "settings.vat_groups": "FR20, twenty, FR"})
    assert bad_rate.status_code == 422
    assert "vat_groups[0].rate" in html.unescape(text_of(bad_rate.text))
    assert len(settings_of(tenant, cid)["vat_groups"]) == 3

    emptied = web.post(path, {**form, "settings.vat_groups": ""})
    assert emptied.status_code == 303, text_of(emptied.text)
    assert settings_of(tenant, cid).get("vat_groups") in (None, [])
