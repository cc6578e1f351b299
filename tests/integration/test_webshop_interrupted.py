"""A create of a Uniconta order interrupted before its answer came (the answer lost on the
wire), whose shop order is cancelled before the create is resumed: the order Uniconta made is
finished, linked and withdrawn, not left behind reserving stock. The WooCommerce and Uniconta
sandboxes on loopback, the Uniconta one behind its fault injector (a real lost answer: the
request is applied, then the connection is reset). The answers to the order's insert and to
its lines' are lost, so neither the push nor Uniconta's callback confirms the create before
the order is cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.sandbox.faults import FaultPlan
from ledgerbridge.sandbox.uniconta import UnicontaSandbox, create_booking_app
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from tests.integration.conftest import COMPANY, PASSWORD, USER, Uniconta
from tests.integration.test_webshop_drafts import RESERVING, held, log, order_lines
from tests.integration.webshop_fixtures import Webshop, webshop, woo

__all__ = ["webshop", "woo"]


@pytest.fixture
def uniconta() -> Iterator[Uniconta]:
    """The Uniconta sandbox served behind its fault injector (no fault until one is set)."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    server = SandboxServer(sandbox, faults=FaultPlan())
    server.start()
    booking = ServerThread(create_booking_app(sandbox)).start()
    yield Uniconta(sandbox, server.base_url, booking.url)
    booking.stop()
    server.stop()
    sandbox.close()


def _orders(webshop: Webshop) -> list[dict[str, Any]]:
    return list(webshop.uniconta.sandbox.all(COMPANY, "DebtorOrderClient"))


def test_an_order_cancelled_while_its_uniconta_create_was_unanswered_is_withdrawn(
    webshop: Webshop,
) -> None:
    webshop.save_route(RESERVING)
    faults = f"{webshop.uniconta.url}/_sandbox/faults"
    lost = {"rate": 1.0, "kinds": ["lost"], "methods": ["POST"],
            "path": "/Entities/Insert(List)?/DebtorOrder"}  # fmt: skip
    assert httpx.put(faults, json=lost).status_code == 200
    before = len(_orders(webshop))
    placed = held(webshop)
    assert httpx.get(faults).json()["injected"]["lost"] >= 1
    made = [row for row in _orders(webshop) if str(row.get("YourRef")) == str(placed["number"])]
    assert len(_orders(webshop)) > before and made, "Uniconta applied the create"
    (hub_draft,) = webshop.hub_invoices(placed)
    assert hub_draft["status"] == "draft"

    # The shop cancels the order before the create is resumed; the answers come back.
    assert httpx.put(faults, json={}).status_code == 200
    webshop.shop.update_order(placed["id"], {"status": "cancelled"})
    webshop.settle()
    assert webshop.hub_invoices(placed) == []
    # The push after a fault waits out its back-off (real time) before it resumes the create.
    deadline = time.monotonic() + 30
    while webshop.drafts(placed) and time.monotonic() < deadline:
        time.sleep(0.5)
        webshop.settle()

    assert webshop.drafts(placed) == [], "the order Uniconta made is not left behind"
    assert len(_orders(webshop)) == before
    assert order_lines(webshop, made[0]) == [], "its lines go with it"
    assert webshop.invoices(placed) == []
    (deleted,) = log(webshop, webshop.uniconta_id, stream="invoices", outcome="deleted")
    assert deleted["reason"] == "draft_withdrawn"
    assert webshop.tenant.api.get(f"/connections/{webshop.uniconta_id}/issues").json() == []
