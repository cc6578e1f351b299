"""Which connections a hub change is pushed to.

Without routes a tenant keeps the original rule: a change goes to every active, imported
connection whose system carries the entity, except the one it came from. That is right for
one accounting system and an app, and wrong as soon as a tenant has a shop and two accounting
systems (each order would be booked twice). Once a tenant has a route, routes alone decide: a
change goes to a connection only when a route from the change's origin to it covers the
entity, and a record a flow derived (origin ``flow:<route id>``) goes to that route's target
only.

``push_targets`` is the one decision, pure and table-tested; the fan-out (which push jobs to
queue) and the push itself (which changes to send) both ask it, so a connection never receives
what it would not have been queued for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.hub import API_ORIGIN, connection_origin
from ledgerbridge.store.tables.flows import Route
from ledgerbridge.store.tables.tenancy import Connection

APP_SOURCE = "app"
"""A route's source for records written through the hub API (origin ``api``)."""
FLOW_PREFIX = "flow:"
JOURNAL_ENTITY = "journal_posting"
"""What a PayMatch route derives: a target must declare a stream of it (a cash journal)."""
NEVER_TO_APPS = frozenset({"invoice", "payment"})
"""Entities an app-side system (a shop) never receives: booked documents belong to the
accounting side; stock levels and products may go to a shop."""


def flow_origin(route_id: str) -> str:
    """The origin of the hub records a route's flow derives."""
    return f"{FLOW_PREFIX}{route_id}"


@dataclass(frozen=True)
class ConnectionFacts:
    """What routing needs to know about one connection of the tenant."""

    id: str
    entities: frozenset[str]
    """The canonical entities its system carries."""
    side: str = "accounting"
    active: bool = True
    imported: bool = True


@dataclass(frozen=True)
class RouteFacts:
    """One route, as routing reads it: ``source`` is a connection id or ``app``."""

    id: str
    source: str
    target: str
    entities: frozenset[str]
    active: bool = True


def source_origin(source: str) -> str:
    """The origin of the hub records a route's source writes (``source_of`` turned round)."""
    return API_ORIGIN if source == APP_SOURCE else connection_origin(source)


def source_of(origin: str) -> str | None:
    """The route source a change's origin stands for (None for a flow's or an unknown one)."""
    if origin == API_ORIGIN:
        return APP_SOURCE
    prefix = connection_origin("")
    if origin.startswith(prefix):
        return origin[len(prefix) :]
    return None


def push_targets(
    entity: str,
    origin: str,
    connections: Iterable[ConnectionFacts],
    routes: Iterable[RouteFacts],
) -> frozenset[str]:
    """The connections a change of ``entity`` made by ``origin`` is pushed to."""
    routes = list(routes)
    carriers = [
        c
        for c in connections
        if c.active and c.imported and entity in c.entities and connection_origin(c.id) != origin
    ]
    if not routes:
        return frozenset(c.id for c in carriers)  # the original fan-out
    eligible = {c.id for c in carriers if not (c.side == "app" and entity in NEVER_TO_APPS)}
    live = [route for route in routes if route.active]
    if origin.startswith(FLOW_PREFIX):
        route_id = origin[len(FLOW_PREFIX) :]
        route = next((r for r in live if r.id == route_id), None)
        if route is None or route.target not in eligible:
            return frozenset()
        return frozenset({route.target})
    source = source_of(origin)
    if source is None:
        return frozenset()
    return frozenset(
        route.target
        for route in live
        if route.source == source and entity in route.entities and route.target in eligible
    )


# ---------------------------------------------------------------------------- store side


def tenant_routes(session: Session, tenant_id: str) -> list[RouteFacts]:
    """The tenant's routes (paused ones included: a tenant with only paused routes still has
    routes, and sends nothing those routes would not)."""
    rows = session.scalars(sa.select(Route).where(Route.tenant_id == tenant_id))
    return [route_facts(row) for row in rows]


def route_facts(row: Route) -> RouteFacts:
    return RouteFacts(
        id=row.id,
        source=row.source_connection_id or APP_SOURCE,
        target=row.target_connection_id,
        entities=frozenset(row.entities or ()),
        active=row.active,
    )


def connection_facts(
    connection_id: str, system: str, *, active: bool = True, import_state: str = "done"
) -> ConnectionFacts:
    spec = SYSTEMS.get(system)
    entities = spec.entities if spec else frozenset()
    if spec is not None and spec.side == "app":
        # An app's inbound-only streams (a shop's orders) have nothing to send: a push there
        # would only read the feed. Accounting systems keep their read-only streams, whose
        # push tells the app why its change is not sent (``read_only_reason``).
        entities = frozenset(m.entity for m in spec.streams.values() if m.outbound)
    return ConnectionFacts(
        id=connection_id,
        entities=entities,
        side=spec.side if spec else "accounting",
        active=active,
        imported=import_state == "done",
    )


def tenant_connections(session: Session, tenant_id: str) -> list[ConnectionFacts]:
    rows = session.execute(
        sa.select(
            Connection.id, Connection.system, Connection.active, Connection.import_state
        ).where(Connection.tenant_id == tenant_id)
    ).all()
    return [
        connection_facts(cid, system, active=bool(active), import_state=state)
        for cid, system, active, state in rows
    ]


def routed_to(
    session: Session, tenant_id: str, connection_id: str, system: str
) -> Callable[[str, str], bool]:
    """For a push of one connection: whether a change (entity, origin) is its to send. The
    push runs only for an active, imported connection and reads only its own streams, so the
    origin and the routes decide."""
    routes = tenant_routes(session, tenant_id)
    if not routes:
        own = connection_origin(connection_id)
        return lambda _entity, origin: origin != own
    facts = connection_facts(connection_id, system)

    def accepts(entity: str, origin: str) -> bool:
        return connection_id in push_targets(entity, origin, [facts], routes)

    return accepts


# ---------------------------------------------------------------------------- checks


def route_problems(
    source: str,
    target: str,
    entities: Iterable[str],
    connections: Iterable[ConnectionFacts],
    *,
    commerce: bool = False,
    paymatch: bool = False,
) -> list[tuple[str, str]]:
    """Why a route makes no sense, as (field, message) pairs; empty when it is fine."""
    known = {c.id: c for c in connections}
    problems: list[tuple[str, str]] = []
    source_facts = known.get(source)
    if source != APP_SOURCE and source_facts is None:
        problems.append(("source", f"no connection {source} in this tenant (or 'app')"))
    target_facts = known.get(target)
    if target_facts is None:
        problems.append(("target", f"no connection {target} in this tenant"))
        return problems
    if target == source:
        problems.append(("target", "a route cannot lead back to its own source"))
        return problems
    source_side = "app" if source == APP_SOURCE else (source_facts.side if source_facts else "")
    if target_facts.side == "app" and source_side == "app":
        problems.append(
            ("target", "both ends are on the app side: a route from an app goes to accounting")
        )
    if commerce and target_facts.side == "app":
        problems.append(("commerce", "invoices are derived for an accounting connection only"))
    if paymatch and JOURNAL_ENTITY not in target_facts.entities:
        problems.append(
            ("paymatch", "the target's system has no cash journal to post payouts in (Uniconta)")
        )
    for index, entity in enumerate(entities):
        if entity not in target_facts.entities:
            carried = ", ".join(sorted(target_facts.entities)) or "nothing"
            problems.append(
                (f"entities.{index}", f"the target's system does not carry {entity} ({carried})")
            )
        elif target_facts.side == "app" and entity in NEVER_TO_APPS:
            problems.append((f"entities.{index}", f"an app-side system never receives {entity}"))
    return problems
