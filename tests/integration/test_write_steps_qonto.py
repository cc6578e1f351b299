"""Qonto invoices under faults: the "invoice created" webhook of a draft whose create answer was
lost never makes a second hub invoice, and a push under one fault per batch links each record
as soon as it is confirmed, so every record is linked after a few runs. The hub API, a real
database and the Qonto sandbox (with its webhooks) over loopback.

What is simulated: ``StepFaults`` (see the Uniconta step tests) loses answers, answers 500 or
429 on chosen calls; a real network on loopback cannot produce these at a precise call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_qonto import NEW_CUSTOMER, Qonto, invoices, qonto, webhook_setup
from tests.integration.test_write_steps_uniconta import (
    StepFaults,
    faults,
    push,
    settle,
    system,
    tenant,
)

__all__ = ["faults", "qonto", "system", "tenant"]  # fixtures shared with the other step tests

CREATE = "/v2/client_invoices"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def invoice_body(party_id: str, n: int) -> dict[str, Any]:
    return {
        "party_id": party_id, "date": "2026-11-20", "payment_term_days": 14,
        "currency": "EUR",
        "lines": [{"description": f"Audit {n}", "quantity": "2", "unit": "day",
                   "unit_price": "650", "vat_code": "FR20"}],
    }  # fmt: skip


def ready(system: System, tenant: Tenant, qonto: Qonto) -> tuple[str, str]:
    """A connection with invoices and webhooks, imported, and a customer of ours in Qonto."""
    connection, _ = webhook_setup(system, tenant, qonto)
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    push(system, tenant, connection["id"])
    return connection["id"], party["id"]


def linked(tenant: Tenant, record_id: str) -> str | None:
    sync = tenant.api.get(f"/invoices/{record_id}").json()["sync"]
    return str(sync[0]["remote_id"]) if sync and sync[0].get("remote_id") else None


def test_the_inbox_links_a_draft_whose_create_answer_was_lost_instead_of_importing_it(
    system: System, tenant: Tenant, qonto: Qonto, faults: StepFaults
) -> None:
    _, party_id = ready(system, tenant, qonto)
    before = len(invoices(tenant))
    faults.inject("POST", CREATE, "lose")
    created = tenant.api.post("/invoices", json=invoice_body(party_id, 1)).json()
    # The push sends the create; Qonto makes the draft and its webhook reaches the inbox,
    # but the answer is lost. The clock does not move: the push's retry is not due, so the
    # inbox job runs first (as after a restart).
    system.run_until_idle()
    qonto.sandbox.wait_for_webhooks()
    system.run_until_idle()
    drafts = [i for i in qonto.sandbox.invoices() if "Audit 1" in str(i)]
    assert len(drafts) == 1
    assert len(invoices(tenant)) == before + 1, "no second hub invoice"
    assert linked(tenant, created["id"]) == drafts[0]["id"]
    assert faults.count("POST", CREATE) == 1, "never sent again"


def test_a_webhook_for_a_create_not_resolved_yet_is_held_back_then_linked(
    system: System, tenant: Tenant, qonto: Qonto, faults: StepFaults, clock: ManualClock
) -> None:
    cid, party_id = ready(system, tenant, qonto)
    before = len(invoices(tenant))
    faults.inject("POST", CREATE, "lose")
    # The look-up of the lost create fails too (the client repeats a read four times).
    faults.inject("GET", CREATE, "500", times=4)
    created = tenant.api.post("/invoices", json=invoice_body(party_id, 2)).json()
    system.run_until_idle()
    qonto.sandbox.wait_for_webhooks()
    system.run_until_idle()
    assert len(invoices(tenant)) == before + 1, "the webhook's draft is not imported"
    held = tenant.api.get(
        f"/connections/{cid}/issues", params={"reason": "awaiting_create_recovery"}
    ).json()
    assert len(held) == 1 and created["id"] in held[0]["message"]
    settle(system, tenant, cid, clock, lambda: linked(tenant, created["id"]) is not None)
    [draft] = [i for i in qonto.sandbox.invoices() if "Audit 2" in str(i)]
    assert linked(tenant, created["id"]) == draft["id"]
    assert len(invoices(tenant)) == before + 1
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    assert faults.count("POST", CREATE) == 1


def test_one_fault_per_batch_still_links_every_invoice_after_a_few_runs(
    system: System, tenant: Tenant, qonto: Qonto, faults: StepFaults, clock: ManualClock
) -> None:
    cid, party_id = ready(system, tenant, qonto)
    drafts_before = len(qonto.sandbox.invoices())
    faults.inject("POST", CREATE, "lose", after=2)
    faults.inject("POST", CREATE, "500", after=2)
    faults.inject("POST", CREATE, "429", times=4, after=1)
    ids = [
        tenant.api.post("/invoices", json=invoice_body(party_id, 100 + n)).json()["id"]
        for n in range(10)
    ]
    push(system, tenant, cid)
    # The run ends at its first throttling or after its faults, but what it confirmed before
    # is linked at once (before, a batch linked nothing unless every call in it succeeded).
    assert sum(1 for i in ids if linked(tenant, i)) >= 1, "linked as each is confirmed"
    settle(system, tenant, cid, clock, lambda: all(linked(tenant, i) for i in ids))
    remote = {linked(tenant, i) for i in ids}
    assert len(remote) == 10
    assert len(qonto.sandbox.invoices()) == drafts_before + 10, "no duplicate draft"
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
