"""A VAT number without a recognised country prefix is checked as the party's country's, in
both directions: ``XX999`` on a Danish party is neither imported nor accepted by the hub."""

from __future__ import annotations

from ledgerbridge.runtime.system import System
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all


def test_a_danish_debtor_with_vat_number_xx999_is_skipped_with_a_clear_reason(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    uniconta.sandbox.insert(
        COMPANY, "DebtorClient",
        {"Account": "10001", "Name": "Fejl ApS", "Country": "Denmark", "VatNumber": "XX999"},
    )  # fmt: skip
    uniconta.sandbox.insert(
        COMPANY, "DebtorClient",
        {"Account": "10002", "Name": "Rigtig ApS", "Country": "Denmark",
         "VatNumber": "13585628"},
    )  # fmt: skip
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])

    [issue] = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert (issue["key"], issue["reason"]) == ("10001", "invalid_remote_data")
    assert "vat_number" in issue["message"] and "'XX999' for DK" in issue["message"]
    [party] = tenant.api.get("/parties").json()["items"]
    assert party["data"]["vat_number"] == "DK13585628"


def test_the_hub_refuses_vat_number_xx999_on_a_danish_party(tenant: Tenant) -> None:
    refused = tenant.api.post(
        "/parties",
        json={"name": "Fejl ApS", "is_customer": True, "vat_number": "XX999",
              "billing_address": {"country": "DK"}},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "vat_number" in refused.text and "'XX999' for DK" in refused.text
