"""PayMatch with two tills booking into one Uniconta company: the Zettle sandboxes (a Danish
and a Swedish till, each numbering its sales from 1) and the Uniconta sandbox on loopback, the
hub over a real database. A payout is matched to its own till's sales only, and an invoice a
payout settled is not settled again by another acquirer's payout."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.zettle import SandboxServer, ZettleSandbox
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_acquirers_paymatch import PAYMATCH, all_lines, payout_issues, pull
from tests.integration.test_zettle import POLICY as POS_POLICY
from tests.integration.test_zettle import prepare_uniconta


@pytest.fixture
def tills() -> Iterator[list[tuple[ZettleSandbox, str]]]:
    sandboxes = [ZettleSandbox(seed=seed, webhook_timeout=5.0) for seed in (11, 12)]
    servers = [SandboxServer(sandbox) for sandbox in sandboxes]
    for server in servers:
        server.start()
    yield [(sandbox, server.base_url) for sandbox, server in zip(sandboxes, servers, strict=True)]
    for server, sandbox in zip(servers, sandboxes, strict=True):
        server.stop()
        sandbox.close()


def rows_of(uniconta: Uniconta, reference: str) -> list[dict[str, Any]]:
    return [r for r in all_lines(uniconta) if r.get("ReferenceNumber") == reference]


def test_a_payout_is_matched_to_its_own_till_and_an_invoice_is_settled_once(
    system: System, tenant: Tenant, uniconta: Uniconta, tills: list[tuple[ZettleSandbox, str]]
) -> None:
    prepare_uniconta(uniconta)
    streams = ("customers", "invoices", "payment_status", "cash_journal")
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True, "entities": {s: {"enabled": True} for s in streams}})  # fmt: skip
    uid = accounting["id"]
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    ids = []
    for (sandbox, url), name in zip(tills, ("København", "Malmö"), strict=True):
        made = tenant.api.post("/connections", json={
            "system": "zettle", "name": name,
            "settings": {"base_url": url, "contact_email": "kasse@example.dk"},
            "secrets": {"api_key": sandbox.default_key.key}})  # fmt: skip
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        route = tenant.api.post("/routes", json={
            "source": ids[-1], "target": uid, "entities": [], "paymatch": PAYMATCH,
            "commerce": {"policy": POS_POLICY, "rules": {}}})  # fmt: skip
        assert route.status_code == 201, route.text
    for cid in (uid, *ids):
        import_all(system, tenant, cid)

    def settle() -> None:
        for _ in range(3):
            for sandbox, _url in tills:
                sandbox.wait_for_webhooks(timeout=30)
            system.run_until_idle()

    card = [{"type": "IZETTLE_CARD"}]
    coffee = [{"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 2}]
    book = [{"sku": "BOG-01", "name": "Kogebog", "unit_price": 24900, "vat_percentage": 0}]
    dk = tills[0][0].ring_up({"products": coffee, "payments": card})
    settle()
    se = tills[1][0].ring_up({"products": book, "payments": card})
    settle()
    assert dk["globalPurchaseNumber"] == se["globalPurchaseNumber"], "both tills' sale 1"
    by_total = {Decimal(str(r["TotalAmount"])): str(r["InvoiceNumber"])
                for r in uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")}  # fmt: skip
    dk_invoice, se_invoice = by_total[Decimal("84.00")], by_total[Decimal("249.00")]

    payout = tills[1][0].payout({})
    pull(system, tenant, ids[1], "payouts")
    settle()
    receivable = [r for r in rows_of(uniconta, str(payout["originatingTransactionUuid"]))
                  if r["Account"] == "5820"]  # fmt: skip
    assert [(str(r["Invoice"]), f"{Decimal(str(r['Amount'])):.2f}") for r in receivable] == [
        (se_invoice, "-249.00")
    ], "Malmö's sale 1 is Malmö's invoice, not København's"

    payout = tills[0][0].payout({})
    pull(system, tenant, ids[0], "payouts")
    settle()
    dk_reference = str(payout["originatingTransactionUuid"])
    receivable = [r for r in rows_of(uniconta, dk_reference) if r["Account"] == "5820"]
    assert [str(r["Invoice"]) for r in receivable] == [dk_invoice]

    # Another acquirer's payout (written by the app) names the payment København settled.
    route = tenant.api.post("/routes", json={
        "source": "app", "target": uid, "entities": [], "paymatch": PAYMATCH})  # fmt: skip
    assert route.status_code == 201, route.text
    uuid = dk["payments"][0]["uuid"]
    line = {"line_id": "n1", "type": "charge", "gross": "84.00", "fee": "1.00", "net": "83.00",
            "order_ref": str(dk["globalPurchaseNumber"]), "psp_ref": uuid}  # fmt: skip
    nets = {"provider": "nets", "source_id": "NETS-002", "status": "paid",
            "arrival_date": "2026-12-02", "currency": "DKK", "gross": "84.00", "fees": "1.00",
            "net": "83.00", "lines": [line]}  # fmt: skip
    assert tenant.api.post("/payouts", json=nets).status_code == 201
    system.run_until_idle()
    rows = rows_of(uniconta, "NETS-002")
    assert not [r for r in rows if r["Account"] == "5820"], "not taken off the receivable again"
    (error,) = [r for r in rows if r["Account"] == "5990"]
    assert Decimal(str(error["Amount"])) == Decimal("-84.00")
    assert f"already_settled: invoice {dk_invoice} " in error["Text"]
    assert f"settled by zettle payout {dk_reference} already" in error["Text"]
    log = tenant.api.get(f"/connections/{uid}/sync-log", params={"stream": "payouts"}).json()
    assert any("already settled" in (e["message"] or "") and dk_invoice in e["message"]
               for e in log), log  # fmt: skip

    # Read again: still one error line, no second posting.
    system.run_until_idle()
    assert len(rows_of(uniconta, "NETS-002")) == len(rows)
    assert payout_issues(tenant, uid) == {}
