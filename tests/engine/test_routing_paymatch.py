"""Routing of PayMatch: a paymatch block needs a target with a cash journal, and the postings
its flow derives go to the route's target only."""

from __future__ import annotations

from ledgerbridge.engine.routing import (
    ConnectionFacts,
    RouteFacts,
    connection_facts,
    flow_origin,
    push_targets,
    route_problems,
)

UNICONTA = connection_facts("uniconta", "uniconta")
QONTO = connection_facts("qonto", "qonto")
ACQUIRER = ConnectionFacts("stripe", frozenset(), side="app")


def test_the_target_must_have_a_cash_journal() -> None:
    assert "journal_posting" in UNICONTA.entities
    assert route_problems("stripe", "uniconta", [], [UNICONTA, ACQUIRER], paymatch=True) == []
    assert route_problems("app", "qonto", [], [QONTO], paymatch=True) == [
        ("paymatch", "the target's system has no cash journal to post payouts in (Uniconta)")
    ]


def test_postings_go_to_the_route_s_target_only() -> None:
    route = RouteFacts("r1", "stripe", "uniconta", frozenset())
    other = RouteFacts("r2", "app", "qonto", frozenset({"party"}))
    origin = flow_origin("r1")
    tenant = [UNICONTA, QONTO, ACQUIRER]
    assert push_targets("journal_posting", origin, tenant, [route, other]) == {"uniconta"}
    assert push_targets("journal_posting", "api", tenant, [route, other]) == frozenset()
