"""The sandbox's cash journals over real HTTP: lines inserted with InsertList into a journal
that exists, on accounts that exist, found by ``Name=&Value=``, and never posted."""

from __future__ import annotations

import httpx

from ledgerbridge.sandbox.uniconta import UnicontaSandbox, seed_paymatch
from tests.sandbox.uniconta.conftest import COMPANY

LINE = "GLDailyJournalLineClient"


def _line(account: str, debit: float = 0, credit: float = 0, **extra: object) -> dict[str, object]:
    return {"Journal": "PAYMATCH", "Date": "2026-12-02", "AccountType": "Finans",
            "Account": account, "Debit": debit, "Credit": credit, "Text": "Payout po_1",
            "ReferenceNumber": "po_1", **extra}  # fmt: skip


def test_insert_list_stores_all_lines_or_none_and_finds_them_by_reference(
    client: httpx.Client, sandbox: UnicontaSandbox
) -> None:
    seed_paymatch(sandbox, COMPANY)
    lines = [_line("5820", credit=100, Invoice="5001"), _line("5900", debit=100)]
    stored = client.post(f"/api/Entities/InsertList/{LINE}", json=lines)
    assert stored.status_code == 200, stored.text
    assert [(r["Account"], r["Amount"], r.get("Invoice")) for r in stored.json()] == [
        ("5820", -100, "5001"),
        ("5900", 100, None),
    ]
    found = client.get(f"/api/Entities/{LINE}", params={"Name": "ReferenceNumber",
                                                         "Value": "po_1"})  # fmt: skip
    assert len(found.json()) == 2
    journal = client.get("/api/Entities/GLDailyJournalClient").json()
    assert journal[0]["NumberOfLines"] == 2

    refused = client.post(f"/api/Entities/InsertList/{LINE}",
                          json=[_line("5900", debit=5), _line("4242", credit=5)])  # fmt: skip
    assert refused.status_code == 400
    assert "GLAccountClient with Account '4242' does not exist" in refused.json()["Message"]
    no_journal = client.post(f"/api/Entities/InsertList/{LINE}",
                             json=[_line("5900", debit=5, Journal="NOPE")])  # fmt: skip
    assert "GLDailyJournalClient with Journal 'NOPE' does not exist" in no_journal.text
    assert len(sandbox.all(COMPANY, LINE)) == 2, "a refused list stores nothing"


def test_other_currency_amounts_and_debtor_accounts(
    client: httpx.Client, sandbox: UnicontaSandbox
) -> None:
    seed_paymatch(sandbox, COMPANY)
    sandbox.load(COMPANY, "DebtorClient", [{"Account": "10001", "Name": "Kunde"}])
    rows = [
        _line("5900", Currency="EUR", DebitCur=10.5),
        _line("10001", AccountType="Debtor", Currency="EUR", CreditCur=10.5),
    ]
    stored = client.post(f"/api/Entities/InsertList/{LINE}", json=rows).json()
    assert [(r["AmountCur"], r["Amount"]) for r in stored] == [(10.5, 0), (-10.5, 0)]
