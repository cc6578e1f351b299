"""A journal posting is read only through the API: PayMatch makes it, its lines are in the
cash journal, and it is what a person re-enters deleted lines from."""

from __future__ import annotations

from typing import Any

from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.routing import flow_origin
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant

POSTING: dict[str, Any] = {
    "reference": "po_1001",
    "journal": "PAYMTCH",
    "provider": "zettle",
    "payout_id": "po_1001",
    "date": "2026-03-02",
    "currency": "DKK",
    "lines": [
        {"role": "bank", "account": "5820", "amount": "980.00", "text": "Payout po_1001"},
        {"role": "fee", "account": "7220", "amount": "20.00", "text": "Fees po_1001"},
        {
            "role": "receivable",
            "account": "5600",
            "amount": "-1000.00",
            "text": "Invoice 17",
            "invoice": "17",
        },
    ],
}


def made_by_paymatch(system: System, tenant: Tenant) -> str:
    """A posting as PayMatch's flow writes it into the hub."""
    with system.sessions.begin() as session:
        record = system.hub.create(
            session, tenant.tenant_id, "journal_posting", validate("journal_posting", POSTING),
            flow_origin("paymatch-route"),
        )  # fmt: skip
        return record.id


def test_a_posting_is_not_made_through_the_api(system: System, tenant: Tenant) -> None:
    """Made there, it would be pushed into the cash journal beside PayMatch's own postings:
    refused whatever the body, and nothing is made."""
    for body in (POSTING, {"journal": "OTHER"}, {}):
        refused = tenant.api.post("/journal-postings", json=body)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail.startswith("journal_posting_immutable: a posting is made by PayMatch")
        assert "never made, changed nor deleted here" in detail
    assert tenant.api.get("/journal-postings").json()["items"] == []
    with system.sessions() as session:
        assert system.hub.changes(session, tenant.tenant_id, 0, 10) == []


def test_a_posting_is_neither_changed_nor_deleted(system: System, tenant: Tenant) -> None:
    path = f"/journal-postings/{made_by_paymatch(system, tenant)}"
    created = tenant.api.get(path)
    assert created.status_code == 200, created.text

    refusals = [
        tenant.api.patch(path, json={"journal": "OTHER"}),
        tenant.api.put(path, json={**POSTING, "journal": "OTHER"}),
        # A body that is not a whole posting is refused for the same reason, not asked to be one.
        tenant.api.put(path, json={"journal": "OTHER"}),
        tenant.api.delete(path),
    ]

    for refused in refusals:
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].startswith("journal_posting_immutable: ")
        assert "never made, changed nor deleted" in refused.json()["detail"]
    kept = tenant.api.get(path)
    assert kept.status_code == 200
    assert kept.json()["data"]["journal"] == "PAYMTCH"
    assert kept.json()["version"] == created.json()["version"]
    assert tenant.api.patch("/journal-postings/nope", json={"journal": "X"}).status_code == 404
    assert tenant.api.put("/journal-postings/nope", json={"journal": "X"}).status_code == 404
