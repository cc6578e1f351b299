"""Pushes to Uniconta build their whole-entity Update on the row kept from the last read,
callback or write, without reading it again, unless something says the record changed since."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ledgerbridge.engine import remote_rows
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import InboxEvent, RemoteRow, Run
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, seed


def _party(tenant: Tenant, account: str) -> dict[str, Any]:
    page = tenant.api.get("/parties", params={"limit": 1000}).json()
    return next(p for p in page["items"] if p["data"]["debtor_number"] == account)


def _push_calls(system: System, connection_id: str) -> int:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == connection_id, Run.kind == "push")
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        return run.calls


def _live_change_url(system: System, tenant: Tenant, uniconta: Uniconta) -> tuple[str, list[str]]:
    """A connection whose Change URL has delivered a callback since its import."""
    accounts = seed(uniconta, 10)
    connection = connect(tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, connection["change_url"])
    import_all(system, tenant, connection["id"])
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[9], {"City": "Skagen"})
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    return connection["id"], accounts


def test_push_after_import_and_callbacks_updates_without_a_read(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid, accounts = _live_change_url(system, tenant, uniconta)
    before = uniconta.debtor(accounts[2])
    party = _party(tenant, accounts[2])
    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "+45 70 20 30 40"})
    calls = uniconta.calls()
    assert system.worker.run_once()  # the push
    assert uniconta.calls() - calls == 1  # the Update alone
    assert _push_calls(system, cid) == 1
    debtor = uniconta.debtor(accounts[2])
    assert debtor is not None and before is not None
    assert debtor["Phone"] == "+45 70 20 30 40"
    # The kept row is the whole entity: fields the hub does not carry are sent unchanged.
    for field in ("Group", "Payment", "PriceGroup", "VatZone", "City"):
        assert debtor.get(field) == before.get(field)

    # The Update's answer is kept in turn: after its echo, a second change needs no read.
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[8], {"City": "Ribe"})
    uniconta.sandbox.wait_for_callbacks()
    system.run_until_idle()
    tenant.api.patch(f"/parties/{party['id']}", json={"email": "faktura@example.dk"})
    system.run_until_idle()
    assert _push_calls(system, cid) == 1
    debtor = uniconta.debtor(accounts[2])
    assert debtor is not None
    assert (debtor["Phone"], debtor["ContactEmail"]) == ("+45 70 20 30 40", "faktura@example.dk")


def test_callback_in_between_makes_the_push_read_and_merge_the_uniconta_change(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid, accounts = _live_change_url(system, tenant, uniconta)
    party = _party(tenant, accounts[4])
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[4], {"Phone": "+45 11 22 33 44"})
    uniconta.sandbox.wait_for_callbacks()  # stored, not processed yet
    tenant.api.patch(f"/parties/{party['id']}", json={"email": "faktura@example.dk"})
    system.run_until_idle()

    assert _push_calls(system, cid) == 2  # a read of the record, then the Update
    debtor = uniconta.debtor(accounts[4])
    assert debtor is not None
    assert debtor["Phone"] == "+45 11 22 33 44"
    assert debtor["ContactEmail"] == "faktura@example.dk"
    record = tenant.api.get(f"/parties/{party['id']}").json()
    assert record["data"]["phone"] == "+45 11 22 33 44"
    assert record["data"]["email"] == "faktura@example.dk"


def test_without_callbacks_every_push_reads_first(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    with system.sessions() as session:
        kept = session.scalar(sa.select(sa.func.count()).select_from(RemoteRow))
    assert kept == 3  # kept, but a Change URL that never called cannot vouch for them

    # Changed in Uniconta with nothing to tell us: the read before the Update merges it.
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"Phone": "+45 11 22 33 44"})
    party = _party(tenant, accounts[1])
    tenant.api.patch(f"/parties/{party['id']}", json={"email": "faktura@example.dk"})
    system.run_until_idle()
    assert _push_calls(system, connection["id"]) == 2
    debtor = uniconta.debtor(accounts[1])
    assert debtor is not None
    assert (debtor["Phone"], debtor["ContactEmail"]) == ("+45 11 22 33 44", "faktura@example.dk")


def test_a_change_url_quiet_for_an_hour_no_longer_vouches_for_the_kept_rows(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """The Change URL removed in Uniconta says nothing: once the last callback is over an hour
    old, a push reads the record first, and a change made in Uniconta meanwhile is kept."""
    cid, accounts = _live_change_url(system, tenant, uniconta)
    uniconta.sandbox.set_change_url(COMPANY, None)
    # An hour and a bit passes: the rows were kept, and the last callback came, that long ago.
    earlier = remote_rows.QUIET_LIMIT + timedelta(minutes=5)
    with system.sessions.begin() as session:
        for event in session.scalars(sa.select(InboxEvent)):
            event.received_at -= earlier
        for row in session.scalars(sa.select(RemoteRow)):
            row.stored_at -= earlier
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[3], {"Phone": "+45 11 22 33 44"})
    party = _party(tenant, accounts[3])
    tenant.api.patch(f"/parties/{party['id']}", json={"email": "faktura@example.dk"})
    system.run_until_idle()

    assert _push_calls(system, cid) == 2  # a read of the record, then the Update
    debtor = uniconta.debtor(accounts[3])
    assert debtor is not None
    assert (debtor["Phone"], debtor["ContactEmail"]) == ("+45 11 22 33 44", "faktura@example.dk")
