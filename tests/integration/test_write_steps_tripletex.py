"""Tripletex invoices (``POST /order`` then ``:invoice``) under one fault per batch: each invoice
resumes from its last confirmed step and is linked as soon as it is charged, so every one is
charged exactly once after a few runs; an order Tripletex refuses to invoice fails alone. The
hub API, a real database and the Tripletex sandbox over loopback.

What is simulated: ``StepFaults`` (see the Uniconta step tests) loses answers, answers 500 or
429 on chosen calls; a real network on loopback cannot produce these at a precise call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import WriteIntent
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import START, Tripletex, issue, serve_firm, settings
from tests.integration.test_tripletex_recovery import ready
from tests.integration.test_write_steps_uniconta import StepFaults, faults, push, settle, system

__all__ = ["faults", "settings", "system"]  # fixtures: settings with this module's sandbox


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def tripletex(clock: ManualClock) -> Iterator[Tripletex]:
    yield from serve_firm(clock, clients=1, months=1)


def linked(tenant: Tenant, record_id: str) -> str | None:
    sync = tenant.api.get(f"/invoices/{record_id}").json()["sync"]
    return str(sync[0]["remote_id"]) if sync and sync[0].get("remote_id") else None


def charged(tripletex: Tripletex) -> list[dict[str, Any]]:
    return tripletex.sandbox.all(tripletex.firm.firm_id, "Invoice")


def test_one_fault_per_batch_still_charges_every_invoice_once_after_a_few_runs(
    system: System, tenant: Tenant, tripletex: Tripletex, faults: StepFaults, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    before = len(charged(tripletex))
    faults.inject("POST", "/v2/order", "lose", after=1)
    faults.inject("PUT", "/:invoice", "lose", after=2)
    faults.inject("PUT", "/:invoice", "500", after=2)
    faults.inject("POST", "/v2/order", "429", times=4, after=3)
    ids = [issue(tenant, party["id"], reference=f"Faktura {n}")["id"] for n in range(8)]
    push(system, tenant, cid)
    assert sum(1 for i in ids if linked(tenant, i)) >= 2, "linked as each is charged"
    settle(system, tenant, cid, clock, lambda: all(linked(tenant, i) for i in ids))
    invoices = charged(tripletex)
    assert len(invoices) == before + 8, "each charged once"
    assert {linked(tenant, i) for i in ids} == {str(i["id"]) for i in invoices[before:]}
    orders = tripletex.sandbox.all(tripletex.firm.firm_id, "Order")
    assert sorted(o["number"] for o in orders if o["number"] in ids) == sorted(ids)
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_an_order_refused_at_invoicing_fails_alone_and_starts_afresh_on_retry(
    system: System, tenant: Tenant, tripletex: Tripletex, faults: StepFaults, clock: ManualClock
) -> None:
    cid, party = ready(system, tenant, tripletex)
    before = len(charged(tripletex))
    # Tripletex refuses to invoice the second order (its answer says why); the order is
    # deleted by the connector, so the journal starts again from the order on retry.
    faults.inject("PUT", "/:invoice", "422", after=1)
    ids = [issue(tenant, party["id"], reference=f"Faktura {n}")["id"] for n in range(3)]
    push(system, tenant, cid)
    assert len(charged(tripletex)) == before + 2
    [refused] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert refused["key"] == ids[1]
    assert refused["message"].startswith("Tripletex refused the invoicing of the order: ")
    with system.sessions() as session:
        intent = session.query(WriteIntent).filter_by(record_id=ids[1]).one()
        assert (intent.status, intent.steps) == ("refused", {})
    assert tenant.api.post(f"/connections/{cid}/jobs/retry").status_code == 202
    settle(system, tenant, cid, clock, lambda: linked(tenant, ids[1]) is not None)
    assert len(charged(tripletex)) == before + 3
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_invoices_are_charged_in_the_order_they_were_made(
    system: System, tenant: Tenant, tripletex: Tripletex, faults: StepFaults, clock: ManualClock
) -> None:
    """A push sends its records in the change feed's order, not in that of their ids (random),
    in which the database may hand them back: Tripletex numbers invoices as it charges them."""
    cid, party = ready(system, tenant, tripletex)
    before = len(charged(tripletex))
    ids = [issue(tenant, party["id"], reference=f"Faktura {n}")["id"] for n in range(8)]
    push(system, tenant, cid)
    invoices = sorted(charged(tripletex)[before:], key=lambda invoice: int(invoice["id"]))
    assert [linked(tenant, i) for i in ids] == [str(invoice["id"]) for invoice in invoices]
