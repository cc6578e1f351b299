"""The Stripe connector's scans against the sandbox on loopback, on one manual clock: where a
scan starts, where the next one starts again, and what a connection's settings leave out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.kit.cursors import ChangedSince
from ledgerbridge.connectors.stripe.connector import ReadMemo, StripeConnector
from ledgerbridge.sandbox.stripe import SandboxServer, StripeSandbox

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)

World = tuple[StripeSandbox, SandboxServer, ManualClock]


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock(START)
    sandbox = StripeSandbox(clock=clock, seed=2)
    server = SandboxServer(sandbox)
    server.start()
    yield sandbox, server, clock
    server.stop()
    sandbox.close()


def connector(world: World, **settings: object) -> StripeConnector:
    sandbox, server, clock = world
    return StripeConnector(
        {"base_url": server.base_url, **settings},
        {"secret_key": sandbox.default_key},
        lambda calls: None,
        None,
        clock,
    )


def paid_out(sandbox: StripeSandbox, status: str = "paid") -> str:
    sandbox.create_charge({"amount": 10_000, "order_id": "1"})
    return str(sandbox.create_payout({"automatic": True, "status": status})["id"])


def since(after: str | None) -> int:
    """Where the next scan starts, from a cursor the connector returned."""
    return int(ChangedSince.parse(ReadMemo.split(after)[1]).since)


def test_a_scan_starts_again_at_the_oldest_payout_that_may_still_change(world: World) -> None:
    sandbox, _server, clock = world
    settling = paid_out(sandbox, "in_transit")
    clock.advance(timedelta(days=20))
    fresh = paid_out(sandbox)
    stripe = connector(world)
    try:
        page = stripe.read_page("payouts", None, 100)
        assert [r["id"] for r in page.records] == [fresh, settling] and not page.more
        assert since(page.after) == int(START.timestamp()), (
            "the payout still in transit is read again next time"
        )
        sandbox.set_payout_status(settling, {"status": "paid"})
        again = stripe.read_page("payouts", page.after, 100)
        assert [r["id"] for r in again.records] == [settling], "the fresh one is unchanged"
        # Paid long ago, it can no longer change: the next scan starts at the fresh one.
        clock.advance(timedelta(days=1))
        later = stripe.read_page("payouts", again.after, 100)
        fresh_created = sandbox.payouts[fresh]["created"]
        assert since(later.after) == fresh_created
        clock.advance(timedelta(days=10))
        quiet = stripe.read_page("payouts", later.after, 100)
        assert quiet.records == [], "listed again, unchanged: not handed over again"
        settled = stripe.read_page("payouts", quiet.after, 100)
        assert since(settled.after) == int((clock.now() - timedelta(minutes=5)).timestamp())
    finally:
        stripe.close()


def test_pages_resume_at_the_last_payout_read(world: World) -> None:
    sandbox, _server, clock = world
    made = []
    for _ in range(5):
        made.append(paid_out(sandbox))
        clock.advance(timedelta(seconds=30))
    stripe = connector(world)
    try:
        seen: list[str] = []
        after = None
        while True:
            page = stripe.read_page("payouts", after, 2)
            seen += [r["id"] for r in page.records]
            after = page.after
            if not page.more:
                break
        assert seen == list(reversed(made))
    finally:
        stripe.close()


def test_import_from_and_the_account_currency_leave_payouts_out(world: World) -> None:
    sandbox, _server, clock = world
    old = paid_out(sandbox)
    clock.advance(timedelta(days=40))
    new = paid_out(sandbox)
    day = clock.now().date().isoformat()
    stripe = connector(world, import_from=day, account_currency="EUR")
    try:
        page = stripe.read_page("payouts", None, 100)
        assert [r["id"] for r in page.records] == [new], f"{old} was made before {day}"
        assert page.records[0]["_transactions"] is None, "no lines read for a DKK payout"
        assert stripe.fetch_many("payouts", [new, "ch_not_a_payout", "po_gone"]).keys() == {new}
    finally:
        stripe.close()


def test_the_memo_of_payouts_read_stays_within_the_cursor_and_degrades_to_reading_again(
    world: World,
) -> None:
    sandbox, _server, clock = world
    made = []
    for _ in range(70):
        made.append(paid_out(sandbox, "in_transit"))
        clock.advance(timedelta(seconds=30))
    stripe = connector(world)
    try:
        first = stripe.read_page("payouts", None, 100)
        assert len(first.records) == 70 and not first.more
        assert first.after is not None and len(first.after) <= 500
        memo, _ = ReadMemo.split(first.after)
        assert 0 < len(memo.previous) < 70, "as many payouts as fit are remembered"
        again = stripe.read_page("payouts", first.after, 100)
        assert 0 < len(again.records) < 70, "those that did not fit are read again"
        assert again.after is not None and len(again.after) <= 500
        sandbox.set_payout_status(made[0], {"status": "paid"})
        # Page by page, a scan keeps what the previous one read until it is over.
        after, seen = again.after, []
        while True:
            page = stripe.read_page("payouts", after, 10)
            assert page.after is not None and len(page.after) <= 500
            seen += [r["id"] for r in page.records]
            after = page.after
            if not page.more:
                break
        assert made[0] in seen and len(seen) < 70
    finally:
        stripe.close()
