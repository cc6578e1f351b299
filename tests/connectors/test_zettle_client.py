"""The Zettle client against the sandbox on loopback: the assertion grant made again before a
token expires (no refresh token exists) or when Zettle refuses it, a token kept for the next
run, a revoked key refused with what to do, a missing scope, and 429s waited out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import AuthenticationFailed, RemoteUnavailable
from ledgerbridge.connectors.zettle.client import ZettleClient
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.zettle import SandboxServer, ZettleSandbox

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def served() -> Iterator[tuple[ZettleSandbox, SandboxServer, ManualClock]]:
    clock = ManualClock(START)
    sandbox = ZettleSandbox(clock=clock, seed=2)
    with SandboxServer(sandbox) as server:
        yield sandbox, server, clock
    sandbox.close()


def client(server: SandboxServer, clock: ManualClock, secrets: dict[str, Any],
           kept: list[dict[str, Any]] | None = None) -> ZettleClient:  # fmt: skip
    return ZettleClient(
        settings={"base_url": server.base_url}, secrets=secrets, meter=lambda calls: None,
        clock=clock, on_token=kept.append if kept is not None else None,
    )  # fmt: skip


def test_the_grant_is_made_again_before_the_token_expires_and_kept(
    served: tuple[ZettleSandbox, SandboxServer, ManualClock],
) -> None:
    sandbox, server, clock = served
    kept: list[dict[str, Any]] = []
    zettle = client(server, clock, {"api_key": sandbox.default_key.key}, kept)
    zettle.get("oauth", "/users/self")
    zettle.get("purchase", "/purchases/v2")
    assert zettle.grants == 1 and len(kept) == 1
    assert kept[0]["access_token_client_id"] == sandbox.default_key.client_id
    clock.advance(timedelta(seconds=7200 - 200))
    zettle.get("purchase", "/purchases/v2")
    assert zettle.grants == 2, "renewed five minutes before expiry, not refused"
    zettle.close()
    # The next run starts with the kept token: no grant.
    again = client(server, clock, {"api_key": sandbox.default_key.key, **kept[-1]})
    again.get("oauth", "/users/self")
    assert again.grants == 0
    again.close()
    # A token kept for another key is not used.
    other = sandbox.add_key()
    third = client(server, clock, {"api_key": other.key, **kept[-1]})
    third.get("oauth", "/users/self")
    assert third.grants == 1
    third.close()


def test_a_token_refused_by_zettle_is_renewed_once(
    served: tuple[ZettleSandbox, SandboxServer, ManualClock],
) -> None:
    sandbox, server, clock = served
    zettle = client(server, clock, {"api_key": sandbox.default_key.key})
    zettle.get("oauth", "/users/self")
    sandbox.expire_tokens()
    assert zettle.get("oauth", "/users/self")["uuid"] == sandbox.merchant.user_uuid
    assert zettle.grants == 2
    sandbox.revoke_key(sandbox.default_key.client_id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        zettle.get("oauth", "/users/self")
    zettle.close()


def test_a_key_without_the_finance_scope_says_so(
    served: tuple[ZettleSandbox, SandboxServer, ManualClock],
) -> None:
    sandbox, server, clock = served
    key = sandbox.add_key(("READ:PURCHASE",))
    zettle = client(server, clock, {"api_key": key.key})
    with pytest.raises(AuthenticationFailed, match="scope"):
        zettle.get("finance", "/payout-info")
    zettle.close()


def test_throttled_calls_are_repeated_and_then_given_up(
    served: tuple[ZettleSandbox, SandboxServer, ManualClock],
) -> None:
    sandbox, server, clock = served
    assert server.faults is not None
    zettle = client(server, clock, {"api_key": sandbox.default_key.key})
    server.faults.configure(FaultPlan(rate=0.3, kinds=(FaultKind.THROTTLE,), seed=1,
                                      retry_after=0))  # fmt: skip
    for _ in range(5):
        assert "purchases" in zettle.get("purchase", "/purchases/v2")
    assert server.faults.counters()["injected"]["429"] >= 1, "some were throttled"
    server.faults.configure(FaultPlan(rate=1.0, kinds=(FaultKind.THROTTLE,), retry_after=0))
    with pytest.raises(RemoteUnavailable, match="429"):
        zettle.get("purchase", "/purchases/v2")
    assert server.faults.counters()["injected"]["429"] >= 3
    zettle.close()
