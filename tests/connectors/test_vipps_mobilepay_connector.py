"""The Vipps MobilePay connector against the sandbox on loopback: payouts assembled from the
feeds, resumed from the cursor without repeating or skipping, a payout across pages, a token
renewed when the API refuses it, throttling waited out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import AuthenticationFailed, SetupRefused
from ledgerbridge.connectors.vipps_mobilepay.connector import VippsConnector, verify
from ledgerbridge.model.payout import Payout
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.vipps_mobilepay import SandboxServer, VippsSandbox, worked_example

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> VippsSandbox:
    return VippsSandbox(clock=clock)


@pytest.fixture
def server(sandbox: VippsSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox) as served:
        yield served


def settings(server: SandboxServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "client_id": "vipps-client-1", **more}


SECRETS = {"client_secret": "vipps-secret-1", "subscription_key": "vipps-sub-key-1"}


def connector(server: SandboxServer, clock: ManualClock, calls: list[int] | None = None
              ) -> VippsConnector:  # fmt: skip
    meter = calls.append if calls is not None else (lambda n: None)
    return VippsConnector(settings(server, ledger_id="302321"), SECRETS, meter, clock=clock)


def pull(conn: VippsConnector, after: str | None) -> tuple[list[Payout], str | None]:
    """Every page of one pull, as the engine reads them: payouts and the cursor left."""
    payouts: list[Payout] = []
    mapping = conn.mappings["payouts"]
    more = True
    while more:
        page = conn.read_page("payouts", after, 1000)
        payouts += [Payout.model_validate(mapping.to_canonical(r, {})) for r in page.records]
        after, more = page.after, page.more
    return payouts, after


def test_the_worked_example_is_one_payout_of_288(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock
) -> None:
    worked_example(sandbox)
    calls: list[int] = []
    conn = connector(server, clock, calls)
    payouts, after = pull(conn, None)
    assert [(p.gross, p.fees, p.net) for p in payouts] == [
        (Decimal(300), Decimal(12), Decimal(288))
    ]
    assert [line.fee for line in payouts[0].lines] == [Decimal(4)] * 3 + [Decimal(0)]
    assert payouts[0].difference == 0
    # token, fees feed, funds feed
    assert sum(calls) == 3
    again, _ = pull(connector(server, clock), after)
    assert again == []


@pytest.mark.parametrize("page_limit", [1000, 2, 3])
def test_a_pull_resumes_inside_a_page_without_repeating_or_skipping(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock, page_limit: int
) -> None:
    sandbox.page_limit = page_limit
    worked_example(sandbox)
    sandbox.capture("302321", "order-2001", 5000, fee=150)
    first, after = pull(connector(server, clock), None)
    assert [p.net for p in first] == [Decimal(288)]
    clock.advance(timedelta(hours=1))
    sandbox.refund("302321", "order-2001", 1000)
    sandbox.schedule_payout("302321")
    second, after = pull(connector(server, clock), after)
    assert len(second) == 1
    payout = second[0]
    assert [(line.order_ref, line.gross, line.fee) for line in payout.lines] == [
        ("order-2001", Decimal(50), Decimal("1.5")),
        ("order-2001", Decimal(-10), Decimal(0)),
    ]
    assert payout.net == Decimal("38.5") and payout.difference == 0
    assert pull(connector(server, clock), after)[0] == []


@pytest.mark.parametrize("page_limit", [1, 2, 4])
def test_a_payout_split_over_feed_pages_is_assembled_whole(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock, page_limit: int
) -> None:
    sandbox.page_limit = page_limit
    worked_example(sandbox)
    payouts, after = pull(connector(server, clock), None)
    assert [(p.net, len(p.lines)) for p in payouts] == [(Decimal(288), 4)]
    assert [line.fee for line in payouts[0].lines] == [Decimal(4)] * 3 + [Decimal(0)]
    assert pull(connector(server, clock), after)[0] == []


def test_a_payout_not_complete_yet_is_read_again_once_it_is(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock
) -> None:
    sandbox.page_limit = 2
    sandbox.add_ledger("302321", "DKK")
    sandbox.capture("302321", "A", 10000, fee=100)
    sandbox.capture("302321", "B", 10000, fee=100)
    sandbox.capture("302321", "C", 10000, fee=100)
    payouts, after = pull(connector(server, clock), None)
    assert payouts == []
    sandbox.schedule_payout("302321")
    payouts, after = pull(connector(server, clock), after)
    assert [(p.net, [line.order_ref for line in p.lines]) for p in payouts] == [
        (Decimal(297), ["A", "B", "C"])
    ]


def test_an_expired_token_is_fetched_again(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock
) -> None:
    worked_example(sandbox)
    conn = connector(server, clock)
    assert conn.test().startswith("Vipps MobilePay ledger 302321 (DKK")
    sandbox.expire_tokens()
    payouts, _ = pull(conn, None)
    assert len(payouts) == 1 and conn.client.tokens_fetched == 2


def test_throttling_is_waited_out(
    sandbox: VippsSandbox, server: SandboxServer, clock: ManualClock
) -> None:
    worked_example(sandbox)
    assert server.faults is not None
    server.faults.configure(
        FaultPlan(rate=0.5, seed=3, kinds=(FaultKind.THROTTLE, FaultKind.ERROR), retry_after=0)
    )
    payouts, _ = pull(connector(server, clock), None)
    assert [p.net for p in payouts] == [Decimal(288)]
    assert server.faults.counters()["total"] > 0


def test_verify_learns_the_only_ledger_and_refuses_wrong_keys_or_an_unknown_ledger(
    sandbox: VippsSandbox, server: SandboxServer
) -> None:
    worked_example(sandbox)
    assert verify(settings(server), SECRETS, lambda n: None).settings == {"ledger_id": "302321"}
    sandbox.add_ledger("302322", "NOK", msn="777777")
    with pytest.raises(SetupRefused) as several:
        verify(settings(server), SECRETS, lambda n: None)
    assert "several ledgers" in several.value.message
    by_msn = verify(settings(server, msn="777777"), SECRETS, lambda n: None)
    assert by_msn.settings == {"ledger_id": "302322"}
    with pytest.raises(SetupRefused) as unknown:
        verify(settings(server, ledger_id="999"), SECRETS, lambda n: None)
    assert unknown.value.field == "ledger_id"
    with pytest.raises(AuthenticationFailed):
        verify(settings(server), {**SECRETS, "client_secret": "wrong"}, lambda n: None)
