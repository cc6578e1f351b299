"""A journal posting is read only through the API: its lines are in the cash journal, and
it is what a person re-enters deleted lines from."""

from __future__ import annotations

from typing import Any

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


def test_a_posting_is_neither_changed_nor_deleted(tenant: Tenant) -> None:
    created = tenant.api.post("/journal-postings", json=POSTING)
    assert created.status_code == 201, created.text
    path = f"/journal-postings/{created.json()['id']}"

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
        assert "never changed nor deleted" in refused.json()["detail"]
    kept = tenant.api.get(path)
    assert kept.status_code == 200
    assert kept.json()["data"]["journal"] == "PAYMTCH"
    assert kept.json()["version"] == created.json()["version"]
    assert tenant.api.patch("/journal-postings/nope", json={"journal": "X"}).status_code == 404
    assert tenant.api.put("/journal-postings/nope", json={"journal": "X"}).status_code == 404
