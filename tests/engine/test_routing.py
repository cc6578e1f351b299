"""The routing decision as a table: which connections a hub change is pushed to."""

from __future__ import annotations

import pytest

from ledgerbridge.engine.routing import (
    ConnectionFacts,
    RouteFacts,
    flow_origin,
    push_targets,
    route_problems,
)

ACCOUNTING = frozenset({"party", "invoice", "product", "stock_level", "contact_person"})
QONTO_ENTITIES = frozenset({"party", "invoice"})
SHOP_ENTITIES = frozenset({"order", "refund", "product", "stock_level", "party"})

UNICONTA = ConnectionFacts("uniconta", ACCOUNTING)
QONTO = ConnectionFacts("qonto", QONTO_ENTITIES)
SHOP = ConnectionFacts("shop", SHOP_ENTITIES, side="app")
PAUSED = ConnectionFacts("paused", ACCOUNTING, active=False)
IMPORTING = ConnectionFacts("importing", ACCOUNTING, imported=False)
TENANT = [UNICONTA, QONTO, SHOP, PAUSED, IMPORTING]

SHOP_TO_UNICONTA = RouteFacts("r1", "shop", "uniconta", frozenset({"party", "product"}))
APP_TO_UNICONTA = RouteFacts("r2", "app", "uniconta", frozenset({"party"}))
STOCK_TO_SHOP = RouteFacts("r3", "uniconta", "shop", frozenset({"stock_level", "product"}))
PAUSED_ROUTE = RouteFacts("r4", "app", "qonto", frozenset({"party"}), active=False)


@pytest.mark.parametrize(
    ("entity", "origin", "routes", "expected"),
    [
        # No routes: today's fan-out, every other active imported carrier of the entity.
        ("party", "api", [], {"uniconta", "qonto", "shop"}),
        ("invoice", "api", [], {"uniconta", "qonto"}),
        ("party", "connection:uniconta", [], {"qonto", "shop"}),
        ("order", "connection:shop", [], set()),
        ("stock_level", "connection:uniconta", [], {"shop"}),
        # Shop → Uniconta only: a shop change goes to Uniconta, not to Qonto.
        ("party", "connection:shop", [SHOP_TO_UNICONTA], {"uniconta"}),
        ("invoice", "connection:shop", [SHOP_TO_UNICONTA], set()),
        ("party", "api", [SHOP_TO_UNICONTA], set()),
        ("party", "connection:qonto", [SHOP_TO_UNICONTA], set()),
        # Derived records go to their route's target only, whatever the route's entities.
        ("invoice", flow_origin("r1"), [SHOP_TO_UNICONTA], {"uniconta"}),
        ("party", flow_origin("r1"), [SHOP_TO_UNICONTA, PAUSED_ROUTE], {"uniconta"}),
        ("invoice", flow_origin("gone"), [SHOP_TO_UNICONTA], set()),
        # Uniconta stock and products → the shop; never invoices to the app side.
        ("stock_level", "connection:uniconta", [STOCK_TO_SHOP], {"shop"}),
        ("product", "connection:uniconta", [STOCK_TO_SHOP, SHOP_TO_UNICONTA], {"shop"}),
        ("invoice", "connection:uniconta", [STOCK_TO_SHOP], set()),
        # The hub API is the source `app`.
        ("party", "api", [APP_TO_UNICONTA], {"uniconta"}),
        ("invoice", "api", [APP_TO_UNICONTA], set()),
        # A paused route sends nothing, yet the tenant still has routes.
        ("party", "api", [PAUSED_ROUTE], set()),
        # An unknown origin goes nowhere once routes decide.
        ("party", "something", [APP_TO_UNICONTA], set()),
    ],
)
def test_push_targets(
    entity: str, origin: str, routes: list[RouteFacts], expected: set[str]
) -> None:
    assert push_targets(entity, origin, TENANT, routes) == expected


def test_a_route_to_a_paused_or_importing_connection_sends_nothing_yet() -> None:
    routes = [
        RouteFacts("a", "app", "paused", frozenset({"party"})),
        RouteFacts("b", "app", "importing", frozenset({"party"})),
    ]
    assert push_targets("party", "api", TENANT, routes) == frozenset()


def test_a_derived_invoice_never_reaches_an_app_side_target() -> None:
    to_shop = RouteFacts("x", "uniconta", "shop", frozenset({"product"}))
    assert push_targets("invoice", flow_origin("x"), TENANT, [to_shop]) == frozenset()
    assert push_targets("product", flow_origin("x"), TENANT, [to_shop]) == {"shop"}


@pytest.mark.parametrize(
    ("source", "target", "entities", "commerce", "expected"),
    [
        ("shop", "uniconta", ["party", "product"], True, []),
        ("app", "uniconta", [], True, []),
        ("uniconta", "shop", ["stock_level", "product"], False, []),
        ("uniconta", "uniconta", ["party"], False, [("target", "back to its own source")]),
        ("app", "shop", ["product"], False, [("target", "both ends are on the app side")]),
        ("shop", "shop2", ["product"], False, [("target", "both ends are on the app side")]),
        ("nowhere", "uniconta", ["party"], False, [("source", "no connection nowhere")]),
        ("app", "nowhere", ["party"], False, [("target", "no connection nowhere")]),
        ("app", "qonto", ["party", "stock_level"], False, [("entities.1", "does not carry")]),
        ("uniconta", "shop", ["invoice"], False, [("entities.0", "does not carry invoice")]),
        ("uniconta", "shop", ["product"], True, [("commerce", "accounting connection only")]),
    ],
)
def test_route_problems(
    source: str,
    target: str,
    entities: list[str],
    commerce: bool,
    expected: list[tuple[str, str]],
) -> None:
    shop2 = ConnectionFacts("shop2", SHOP_ENTITIES | {"invoice"}, side="app")
    problems = route_problems(source, target, entities, [*TENANT, shop2], commerce=commerce)
    assert [field for field, _ in problems] == [field for field, _ in expected]
    for (_, message), (_, words) in zip(problems, expected, strict=True):
        assert words in message
