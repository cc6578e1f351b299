"""The payouts tab over HTTP, and ``GET /connections/{id}/payouts`` under it: a Stripe
sandbox payout read through its connection and posted by PayMatch in the Uniconta sandbox's
cash journal, each line matched to its invoice or left on the error account."""

from __future__ import annotations

from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.stripe import StripeSandbox
from tests.integration.conftest import Tenant, import_all
from tests.integration.test_acquirers_paymatch import (
    CENTS,
    journal,
    paymatch_route,
    place,
    shop,
    stripe,
)
from tests.integration.ui.conftest import Web, text_of

__all__ = ["shop", "stripe"]


def test_a_payout_shows_its_matched_and_unmatched_lines_and_its_posting(
    web: Web,
    system: System,
    tenant: Tenant,
    uniconta: Any,
    shop: dict[str, Any],
    stripe: tuple[StripeSandbox, str],
) -> None:
    sandbox, url = stripe
    invoice = place(system, tenant, shop, "7001", "ch_7001")
    made = tenant.api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    empty = web.get(f"/ui/connections/{cid}/payouts")
    assert empty.status_code == 200 and "No payout read yet" in text_of(empty.text)
    paymatch_route(tenant, cid, shop["cid"])
    import_all(system, tenant, cid)
    sandbox.create_charge({"amount": CENTS, "order_id": "7001", "fee": 448})
    sandbox.create_charge({"amount": 19900, "order_id": "99001", "fee": 300})
    payout = sandbox.create_payout({})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    assert len(journal(uniconta, payout["id"])) == 5

    (shown,) = tenant.api.get(f"/connections/{cid}/payouts").json()
    assert (shown["source_id"], shown["state"], shown["unmatched"]) == (
        payout["id"],
        "unmatched",
        1,
    )
    states = {ln["order_ref"]: (ln["state"], ln["invoice"], ln["reason"]) for ln in shown["lines"]}
    assert states == {"7001": ("matched", invoice, None), "99001": ("unmatched", None, "no_match")}
    (posting,) = shown["postings"]
    assert posting["journal"] == "PAYMATCH"
    assert [s["system"] for s in posting["sync"] if s.get("remote_id")] == ["uniconta"]

    page = web.get(f"/ui/connections/{cid}/payouts")
    words = text_of(page.text)
    assert "Unmatched lines" in words and f"invoice {invoice}" in words and "no match" in words
    assert f"Posting {payout['id']} in journal PAYMATCH" in words
    assert "In Uniconta journal PAYMATCH" in words
    assert f'href="/ui/connections/{cid}/payouts" aria-current="page"' in page.text
    uniconta_tabs = web.get(f"/ui/connections/{shop['cid']}/").text
    assert "/payouts" not in uniconta_tabs, "the tab is on acquirers only"
    assert tenant.api.get("/connections/nosuch/payouts").status_code == 404
