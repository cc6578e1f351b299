"""The reconciliation report on a PayMatch route's payouts: a payout that changed or failed
after its posting is listed with its reason, and the postings' amounts are what is booked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta
from tests.integration.test_paymatch import TOTAL, charge, journal, pay_out, place, shop  # noqa: F401
from tests.integration.test_reconciliation import _report as reconcile
from tests.integration.test_reconciliation import sales


def test_the_reconciliation_lists_payouts_changed_or_failed_after_posting(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],  # noqa: F811
) -> None:
    place(system, tenant, shop, "6090")
    kept = pay_out(tenant, "po_k", charge("t1", TOTAL, "4.48", order_ref="6090"))
    lower = pay_out(tenant, "po_l", charge("t1", TOTAL, "4.48", order_ref="6090"))
    failed = pay_out(tenant, "po_f", charge("t1", TOTAL, "4.48", order_ref="6090"))
    system.run_until_idle()
    assert all(journal(uniconta, ref) for ref in ("po_k", "po_l", "po_f"))
    posted = lower["data"]["net"]
    less = str(Decimal(posted) - 5)
    changed = tenant.api.patch(f"/payouts/{lower['id']}", json={
        "net": less, "lines": [charge("t1", TOTAL, "9.48", order_ref="6090")],
        "fees": "9.48"})  # fmt: skip
    assert changed.status_code == 200, changed.text
    gone = tenant.api.patch(f"/payouts/{failed['id']}", json={"status": "failed"})
    assert gone.status_code == 200, gone.text
    system.run_until_idle()

    report = reconcile(system, tenant, shop["cid"], "2026-12")
    payouts = sales(report, "payouts")
    assert (payouts["count"], payouts["booked"]) == (3, 3)
    assert payouts["amounts"]["DKK"] == {
        "source": str(3 * Decimal(posted) - 5), "booked": str(3 * Decimal(posted))}  # fmt: skip
    listed = {d["record_id"]: d for d in report["differences"] if d["stream"] == "payouts"}
    assert set(listed) == {lower["id"], failed["id"]}, kept["id"]
    assert listed[lower["id"]]["reason"] == listed[failed["id"]]["reason"] == "payout_inconsistent"
    assert f"net {posted} → {less}" in listed[lower["id"]]["message"]
    assert "status paid → failed" in listed[failed["id"]]["message"]
