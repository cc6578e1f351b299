"""A remote value no mapping can read (an amount that arrives as infinity, which JSON's 1e999999
becomes) skips only its own record with ``invalid_remote_data``; the rest of the page applies.

The Uniconta sandbox refuses to store such a value (as Uniconta does), so the rows are handed to
the engine directly, through the real connector's mapping, as a page read from a misbehaving
API would be. The page is applied both as a scan applies it (mapped and validated beforehand,
beside the last page's writes: ``InboundSync.prepare``) and as a callback's rows are (mapped
as they are applied): the outcome is the same.
"""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import Page
from ledgerbridge.engine.context import RunContext
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta, connect

VAT = {"S25": "DK25"}


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "mapped-in-place"])
def test_an_unreadable_amount_skips_its_record_and_the_page_goes_on(
    system: System, tenant: Tenant, uniconta: Uniconta, prepared: bool
) -> None:
    connection = connect(tenant, uniconta, settings={
        "entities": {"products": {"enabled": True}}, "vat_mapping": VAT})  # fmt: skip
    rows = [
        {"Item": "KAFFE-1", "Name": "Kaffe", "SalesPrice1": 49.5, "Vat": "S25"},
        {"Item": "KAFFE-2", "Name": "Kaffe stor", "SalesPrice1": float("inf"), "Vat": "S25"},
        {"Item": "KAFFE-3", "Name": "Kaffe lille", "SalesPrice1": 29, "Vat": "S25"},
    ]
    with system.connector(connection["id"]) as connector:
        ctx = RunContext(
            connection_id=connection["id"], tenant_id=tenant.tenant_id,
            settings={"vat_mapping": VAT, "entities": {"products": {"enabled": True}}},
            connector=connector, run_id=None, page_size=100, write_batch_size=100,
            system_title="Uniconta",
        )  # fmt: skip
        inbound = system.engine.inbound
        beforehand = inbound.prepare(ctx, "products", Page(rows, None, False))
        assert beforehand.validated is not None  # products have no references: all prepared
        with inbound.transaction() as session:
            inbound.apply(session, ctx, "products", rows, prepared=beforehand if prepared else None)

    products = tenant.api.get("/products").json()["items"]
    assert sorted(p["data"]["sku"] for p in products) == ["KAFFE-1", "KAFFE-3"]
    issues = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert [(i["key"], i["reason"]) for i in issues] == [("KAFFE-2", "invalid_remote_data")]
    assert "cannot be read" in issues[0]["message"]
