"""Routes between a tenant's connections, their commerce settings and historical imports.

A route is checked when saved: its ends must be the tenant's (or ``app``, the hub API), lead
somewhere else, not join two app-side systems, and name only entities its target carries
(``engine.routing.route_problems``). A commerce route's policy and mapping rules are validated
as the flow reads them, each refusal naming its path (``commerce.policy.vat.oss_codes``);
mapping rules that change get the next version. The accounting codes a route names (a payment
term, a journal, an account) are looked up in the target system, where it checks them
(``SystemSpec.checked_codes``): one read per kind of code a save names; so are the rates of
the VAT codes it names, which must be the rates they are named for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.commerce.config import CommercePolicy, named_codes, named_vat_codes
from ledgerbridge.commerce.flow import match_key, new_party_data
from ledgerbridge.commerce.mapping import MappingRules, apply_mapping
from ledgerbridge.commerce.paymatch import PayMatchPolicy
from ledgerbridge.commerce.policies import (
    CustomerDecision,
    DateRange,
    line_vat_code,
    paid_time_unmapped,
    plan_historical_import,
)
from ledgerbridge.connectors.base import Connector, ConnectorError, NamedCode
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.context import stream_enabled
from ledgerbridge.engine.quota import QuotaExhausted
from ledgerbridge.engine.routing import (
    APP_SOURCE,
    JOURNAL_ENTITY,
    route_problems,
    tenant_connections,
)
from ledgerbridge.model.commerce import Order
from ledgerbridge.model.reasons import describe_validation_error, in_words
from ledgerbridge.runtime.flowkit import WITHDRAWN
from ledgerbridge.runtime.flows import CommerceFlows, source_orders
from ledgerbridge.runtime.jobqueue.port import JobBackend
from ledgerbridge.runtime.mail import mail_enabled
from ledgerbridge.runtime.paymatch import PayMatchFlows
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.flows import DerivedRecord, Route
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Run
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]


@dataclass(frozen=True)
class RouteInput:
    source: str
    target: str
    entities: list[str]
    commerce: JSON | None
    active: bool = True
    paymatch: JSON | None = None


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _problems(exc: ValidationError, where: tuple[str, ...]) -> list[Invalid]:
    """Every setting a block refuses, each at its path, so one answer names them all."""
    return [
        Invalid(in_words(error), field=_path((*where, *error["loc"])))
        for error in exc.errors(include_url=False)
    ]


def _validated(commerce: JSON | None, current: JSON | None) -> JSON | None:
    """The commerce block as stored: the policy and rules validated, the rules versioned
    against the current ones."""
    if commerce is None:
        return None
    unknown = sorted(set(commerce) - {"policy", "rules"})
    if unknown:
        raise Invalid(
            f"unknown field '{unknown[0]}' (policy, rules)", field=f"commerce.{unknown[0]}"
        )
    if isinstance(commerce.get("rules"), dict):
        # The rules' hash is derived, as a route's view shows it: the one sent back is not kept.
        rules_given = {k: v for k, v in commerce["rules"].items() if k != "content_hash"}
        commerce = {**commerce, "rules": rules_given}
    problems: list[Invalid] = []
    for part, model in (("policy", CommercePolicy), ("rules", MappingRules)):
        try:
            model.model_validate(commerce.get(part) or {})
        except ValidationError as exc:
            problems += _problems(exc, ("commerce", part))
    if problems:
        raise Invalid(problems[0].message, field=problems[0].field, also=problems[1:])
    policy = CommercePolicy.model_validate(commerce.get("policy") or {})
    rules = MappingRules.model_validate(commerce.get("rules") or {})
    if current and current.get("rules"):
        rules = MappingRules.model_validate(current["rules"]).revise(
            rules.model_copy(update={"version": 1})
        )
    return {"policy": policy.model_dump(mode="json"), "rules": rules.model_dump(mode="json")}


def _customer_problem(order: Order, decision: CustomerDecision) -> str | None:
    """Why the customer an order's import would create cannot be, as the flow finds it."""
    try:
        validate("party", new_party_data(order, decision))
    except ValidationError as exc:
        return describe_validation_error(exc)
    return None


def _validated_paymatch(paymatch: JSON | None) -> JSON | None:
    """The paymatch block as stored, validated (a refusal names ``paymatch.<field>``)."""
    if paymatch is None:
        return None
    try:
        policy = PayMatchPolicy.model_validate(paymatch)
    except ValidationError as exc:
        [first, *also] = _problems(exc, ("paymatch",))
        raise Invalid(first.message, field=first.field, also=also) from None
    return policy.model_dump(mode="json")


def view(route: Route, source: Connection | None = None, target: Connection | None = None) -> JSON:
    """The route as stored, with a warning for each policy value a save now refuses (the flow
    reads it as ``CommercePolicy.saved`` says until the route is saved again), for order
    files from ``source``, its source connection, that never report a card order paid, and
    for split-sale payments ``target`` would not be sent."""
    commerce = None
    warnings: list[str] = []
    if route.commerce:
        stored = route.commerce.get("policy")
        warnings = CommercePolicy.saved_warnings(stored)
        warnings += _files_unpaid(stored, source)
        warnings += _payments_unsent(stored, target)
        warnings += _mail_off(stored, target)
        rules = MappingRules.model_validate(route.commerce.get("rules") or {})
        commerce = {
            "policy": route.commerce.get("policy"),
            "rules": {**rules.model_dump(mode="json"), "content_hash": rules.content_hash},
        }
    return {
        "id": route.id,
        "source": route.source_connection_id or APP_SOURCE,
        "target": route.target_connection_id,
        "entities": list(route.entities or []),
        "commerce": commerce,
        "paymatch": route.paymatch,
        "active": route.active,
        "created_at": route.created_at.isoformat(),
        "updated_at": route.updated_at.isoformat(),
        "warnings": warnings,
    }


def _files_unpaid(policy: JSON | None, source: Connection | None) -> list[str]:
    """The warning of a route from a files connection whose order files carry no paid time
    while the policy registers card payments as paid (``paid_time_unmapped``): shown with
    the route, so a mapping changed after the route was saved is named too."""
    if source is None or source.system != "files":
        return []
    mapping = ((source.settings or {}).get("file_mappings") or {}).get("orders") or {}
    warning = paid_time_unmapped(CommercePolicy.saved(policy), mapping.get("fields") or {})
    return [warning] if warning else []


def _payments_unsent(policy: JSON | None, target: Connection | None) -> list[str]:
    """The warning of a route whose payment methods name accounts (a split sale's payments
    are registered part by part) into a connection that does not send its cash journal: the
    payments would wait in the hub, unseen."""
    if target is None or not CommercePolicy.saved(policy).payment_journal:
        return []
    spec = SYSTEMS.get(target.system)
    if spec is None:
        return []
    streams = [name for name, mapping in spec.streams.items() if mapping.entity == JOURNAL_ENTITY]
    settings = target.settings or {}
    if not streams or any(stream_enabled(settings, spec.default_streams, s) for s in streams):
        return []
    return [
        f"commerce.policy.payment_methods name accounts, so a sale paid several ways is "
        f"registered part by part in the cash journal, but the target connection does not send "
        f"its {streams[0]} stream: the payments wait in the hub until it is switched on "
        f'(settings "entities": {{"{streams[0]}": {{"enabled": true}}}})'
    ]


def _mail_off(policy: JSON | None, target: Connection | None) -> list[str]:
    """The warning of a route whose policy mails booked invoices into a connection that
    does not: the target's ``invoice_mail`` decides how (the shop's SMTP server), and while
    it is off the invoices it books are not mailed, then or later, with nothing else to say
    so."""
    if target is None or not CommercePolicy.saved(policy).email_invoices:
        return []
    spec = SYSTEMS.get(target.system)
    if spec is None or mail_enabled(target.settings or {}):
        return []
    if "invoice_mail" not in spec.settings.model_fields:
        return [
            f"commerce.policy.email_invoices is on, but {spec.title} connections do not mail "
            "invoices: no invoice of this route is mailed"
        ]
    return [
        "commerce.policy.email_invoices is on, but the target connection's invoice mail is "
        "off: the invoices it books are not mailed, then or later, until settings.invoice_mail "
        'is enabled with the shop\'s SMTP server ("invoice_mail": {"enabled": true, '
        '"smtp_host": …}, docs/invoice-mail.md)'
    ]


def _source(session: Session, route: Route) -> Connection | None:
    """The connection a route's records come from; none for the hub API's (``app``)."""
    if route.source_connection_id is None:
        return None
    return session.get(Connection, route.source_connection_id)


def _saved_view(session: Session, route: Route, warnings: list[str]) -> JSON:
    """A saved route's view with the save's own warnings after the stored policy's."""
    target = session.get(Connection, route.target_connection_id)
    shown = view(route, _source(session, route), target)
    return {**shown, "warnings": [*shown["warnings"], *warnings]}


def default_commerce() -> JSON:
    """The commerce block a route starts from: the policy's and the mapping rules' defaults
    (docs/commerce.md), for a form to show before a person changes them."""
    return {
        "policy": CommercePolicy().model_dump(mode="json"),
        "rules": MappingRules().model_dump(mode="json"),
    }


MeteredOpener = Callable[[str, Callable[[int], None] | None], AbstractContextManager[Connector]]
"""Opens a connection's connector, its every call booked in the quota ledger and, when given,
counted (``on_call``)."""


class RouteService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        flows: CommerceFlows,
        queue: JobBackend,
        clock: Clock,
    ) -> None:
        self._sessions = session_factory
        self._flows = flows
        self._queue = queue
        self._clock = clock
        self.paymatch: PayMatchFlows | None = None
        """Set by the runtime: queues a route's PayMatch flow when its block is saved."""
        self.opener: MeteredOpener | None = None
        """Set by the runtime: opens a connection's connector (its calls metered), with which
        the codes a route names are looked up in the target system."""

    def _load(self, session: Session, principal: Principal, route_id: str) -> Route:
        route = session.get(Route, route_id)
        if route is None or route.tenant_id != principal.tenant_id:
            raise NotFound(f"route {route_id} not found")
        return route

    def _check(
        self, session: Session, principal: Principal, body: RouteInput, route_id: str | None
    ) -> None:
        connections = tenant_connections(session, principal.tenant_id)
        problems = route_problems(
            body.source, body.target, body.entities, connections,
            commerce=body.commerce is not None, paymatch=body.paymatch is not None,
        )  # fmt: skip
        if problems:
            field, message = problems[0]
            raise Invalid(message, field=field)
        if not body.entities and body.commerce is None and body.paymatch is None:
            raise Invalid(
                "a route carries at least one entity, or has a commerce or paymatch block",
                field="entities",
            )
        source = None if body.source == APP_SOURCE else body.source
        clash = session.scalar(
            sa.select(Route.id).where(
                Route.tenant_id == principal.tenant_id,
                Route.source_connection_id.is_(None)
                if source is None
                else Route.source_connection_id == source,
                Route.target_connection_id == body.target,
                Route.id != (route_id or ""),
            )
        )
        if clash is not None:
            raise Conflict(
                f"route {clash} already leads from {body.source} to {body.target}: change it",
                field="target",
            )

    def _before_saving(
        self, principal: Principal, body: RouteInput, route_id: str | None
    ) -> list[str]:
        """The route checked before its transaction opens: its blocks and its ends, then the
        codes it names, looked up in the target (calls, so outside any transaction and only
        for a route that is otherwise fine). Returns the save's warnings."""
        kept: set[tuple[str, str]] = set()
        with self._sessions() as session:
            if route_id is not None:
                saved = self._load(session, principal, route_id)
                if saved.target_connection_id == body.target:
                    kept = _codes_in_force(saved)
            _validated(body.commerce, None)
            _validated_paymatch(body.paymatch)
            self._check(session, principal, body, route_id)
            target = session.get(Connection, body.target)
            system = target.system if target is not None else ""
        return self._check_codes(body, system, kept)

    def _check_codes(
        self, body: RouteInput, system: str, kept: Collection[tuple[str, str]] = ()
    ) -> list[str]:
        """The accounting codes the route names, looked up in its target: those it lacks are
        one 422 naming each field; a target that cannot be reached leaves them unchecked,
        with a warning. A code the saved route already books with at that setting (``kept``:
        a route read and sent back to pause it names its defaults too) is not looked up
        again: the route ran with it, and a default it never needed must not block it."""
        spec = SYSTEMS.get(system)
        if spec is None or self.opener is None:
            return []
        named: list[NamedCode] = []
        vat: list[tuple[str, str, Decimal]] = []
        if body.commerce is not None:
            named += named_codes(body.commerce.get("policy") or {})
            if spec.checked_codes:  # a system that checks codes also says its VAT rates
                vat = named_vat_codes(body.commerce.get("policy") or {})
        if body.paymatch is not None:
            named += PayMatchPolicy.model_validate(body.paymatch).named_codes()
        named = [
            code
            for code in named
            if code.kind in spec.checked_codes and (code.field, code.code) not in kept
        ]
        vat = [(field, code, rate) for field, code, rate in vat if (field, code) not in kept]
        if not named and not vat:
            return []
        try:
            with self.opener(body.target, None) as connector:
                missing = connector.missing_codes(named) if named else {}
                rates = connector.vat_rates() if vat else {}
        except (ConnectorError, QuotaExhausted) as exc:
            return [
                f"the codes the route names (journal, accounts, payment terms, VAT codes …) "
                f"were not checked: {spec.title} could not be reached ({exc}); the route is "
                "saved as given, and a code it lacks is named on the records it refuses"
            ]
        problems = [
            Invalid(f"{message}: name one the company has, or create it there", field=field)
            for field, message in missing.items()
        ]
        problems += [
            Invalid(
                f"VAT code '{code}' books {booked.normalize():f}% in {spec.title}, not "
                f"{rate.normalize():f}%: name a {rate.normalize():f}% code, or correct the "
                f"code's rate in {spec.title}",
                field=field,
            )
            for field, code, rate in vat
            if (booked := rates.get(code)) is not None and booked != rate
        ]
        if problems:
            raise Invalid(problems[0].message, field=problems[0].field, also=problems[1:])
        return []

    def list_routes(self, principal: Principal) -> list[JSON]:
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    sa.select(Route)
                    .where(Route.tenant_id == principal.tenant_id)
                    .order_by(Route.created_at, Route.id)
                )
            )
            # The source and target connections in one query, not two per route.
            ids = {row.source_connection_id for row in rows if row.source_connection_id}
            ids |= {row.target_connection_id for row in rows}
            by_id = sa.select(Connection).where(Connection.id.in_(ids))
            connections = {c.id: c for c in session.scalars(by_id)} if ids else {}
            return [
                view(
                    row,
                    connections.get(row.source_connection_id or ""),
                    connections.get(row.target_connection_id),
                )
                for row in rows
            ]

    def get(self, principal: Principal, route_id: str) -> JSON:
        with self._sessions() as session:
            route = self._load(session, principal, route_id)
            return view(
                route, _source(session, route), session.get(Connection, route.target_connection_id)
            )

    def create(self, principal: Principal, body: RouteInput) -> JSON:
        principal.require_admin("creating a route")
        warnings = self._before_saving(principal, body, None)
        commerce = _validated(body.commerce, None)
        paymatch = _validated_paymatch(body.paymatch)
        now = self._clock.now()
        with self._sessions.begin() as session:
            self._check(session, principal, body, None)
            route = Route(
                tenant_id=principal.tenant_id,
                source_connection_id=None if body.source == APP_SOURCE else body.source,
                target_connection_id=body.target,
                entities=sorted(set(body.entities)),
                commerce=commerce,
                paymatch=paymatch,
                active=body.active,
                created_at=now,
                updated_at=now,
            )
            session.add(route)
            session.flush()
            if paymatch is not None and body.active and self.paymatch is not None:
                # Payouts already in the hub are read too (the start date decides their fate).
                self.paymatch.queue_flow(session, route.id, body.target, principal.tenant_id)
            if commerce is not None and body.active:
                # Orders already in the hub are read too (the start date decides their fate).
                self._flows.queue_flow(session, route.id, body.target, principal.tenant_id)
            return _saved_view(session, route, warnings)

    def replace(self, principal: Principal, route_id: str, body: RouteInput) -> JSON:
        principal.require_admin("changing a route")
        warnings = self._before_saving(principal, body, route_id)
        with self._sessions.begin() as session:
            route = self._load(session, principal, route_id)
            commerce = _validated(body.commerce, route.commerce)
            paymatch = _validated_paymatch(body.paymatch)
            self._check(session, principal, body, route_id)
            route.source_connection_id = None if body.source == APP_SOURCE else body.source
            route.target_connection_id = body.target
            route.entities = sorted(set(body.entities))
            route.commerce = commerce
            route.paymatch = paymatch
            route.active = body.active
            route.updated_at = self._clock.now()
            if paymatch is not None and body.active and self.paymatch is not None:
                # Waiting payouts and unmatched lines are decided again under the new block,
                # and postings the target refused take its journal and accounts.
                self.paymatch.queue_flow(session, route.id, body.target, principal.tenant_id)
            if commerce is not None and body.active:
                # Drafts and skipped orders follow the new settings; booked invoices stay.
                self._flows.queue_flow(
                    session, route.id, body.target, principal.tenant_id, revisit=True
                )
            return _saved_view(session, route, warnings)

    def delete(self, principal: Principal, route_id: str) -> None:
        principal.require_admin("removing a route")
        with self._sessions.begin() as session:
            session.delete(self._load(session, principal, route_id))

    # ------------------------------------------------------------------ historical import

    def historical_import(
        self, principal: Principal, route_id: str, start: dt.date, end: dt.date, *, dry_run: bool
    ) -> JSON:
        """The plan of importing the source's orders created from ``start`` to ``end``, or
        the job that imports them."""
        if not dry_run:
            principal.require_admin("a historical import")
        date_range = _date_range(start, end)
        with self._sessions() as session:
            route = self._commerce_route(session, principal, route_id)
            if not dry_run:
                job_id = self._flows.queue_history(route, date_range)
                return {"job_id": job_id, "status": "queued"}
            return self._plan(session, route, date_range)[0]

    def preview(self, principal: Principal, route_id: str, start: dt.date, end: dt.date) -> JSON:
        """What a historical import would do, in the shape of a connection's preview: per
        stream the orders it books (invoices to create or update), leaves unchanged and skips
        with their reasons, decided by the import's own code and written nowhere; with the
        plan of the dry run (totals per currency, customers to create, problems). It reads
        only the hub, and the target's VAT codes when the hub holds none (one read at most,
        none while the connector keeps them); the invoices then go out with the target's
        push."""
        date_range = _date_range(start, end)
        with self._sessions() as session:
            route = self._commerce_route(session, principal, route_id)
            if not route.active:
                raise Invalid("the route is paused; activate it first", field="active")
            plan, calls = self._plan(session, route, date_range)
        tally = self._flows.preview_history(route_id, date_range)
        return {
            "kind": "historical_import",
            **tally.answer(),
            "calls": {"preview": calls, "run": 0},
            "plan": plan,
        }

    def _commerce_route(self, session: Session, principal: Principal, route_id: str) -> Route:
        """The tenant's route, refused when it books no orders (no commerce block)."""
        route = self._load(session, principal, route_id)
        if not route.commerce:
            raise Invalid("the route has no commerce block", field="route")
        return route

    def _plan(self, session: Session, route: Route, date_range: DateRange) -> tuple[JSON, int]:
        """The dry run's plan, and the calls it made (reading the target's VAT codes)."""
        assert route.commerce is not None
        policy = CommercePolicy.saved(route.commerce.get("policy"))
        rules = MappingRules.model_validate(route.commerce.get("rules") or {})
        source = route.source_connection_id or APP_SOURCE
        orders: list[Order] = []
        invalid: list[JSON] = []
        for record in source_orders(session, route.tenant_id, source):
            try:
                order = Order.model_validate(record.data)
            except ValidationError as exc:
                source_id = str(record.data.get("source_id"))
                detail = describe_validation_error(exc, "order")
                invalid.append(
                    {"order_source_id": source_id, "reason": "invalid_order", "detail": detail}
                )
                continue
            mapped = apply_mapping(order, rules)
            if mapped.order is not None:
                orders.append(mapped.order)
        products = set(self._values(session, route.tenant_id, "product", "sku"))
        vat_codes = set(self._values(session, route.tenant_id, "vat_code", "code"))
        calls = 0
        if not vat_codes and route.target_connection_id is not None:
            # Accounting systems keep their VAT codes to themselves (no hub records).
            target_codes, calls = self._target_vat_codes(route.target_connection_id)
            vat_codes = set(target_codes or ())
        checked = bool(vat_codes)
        if not checked:
            # The target keeps its VAT codes to itself: the plan cannot tell a missing one.
            vat_codes = {
                code
                for order in orders
                for line in order.lines
                if (code := line_vat_code(order, line, policy).code) is not None
            }
        customers = {
            f"{field}:{key}"
            for party_field, field in (
                ("email", "email"),
                ("phone", "phone"),
                ("vat_number", "vat_number"),
                ("gln", "ean"),
            )
            for value in self._values(session, route.tenant_id, "party", party_field)
            if (key := match_key(field, value)) is not None  # type: ignore[arg-type]
        }
        target = session.get(Connection, route.target_connection_id)
        booked = session.scalars(
            sa.select(DerivedRecord.source_record_id).where(
                DerivedRecord.route_id == route.id,
                DerivedRecord.role == "invoice",
                DerivedRecord.state != WITHDRAWN,
            )
        )
        plan = plan_historical_import(
            orders, date_range, products, vat_codes, policy, known_customers=customers,
            timezone=target.timezone if target is not None else "UTC",
            booked={key.removeprefix("order:") for key in booked},
            customer_problem=_customer_problem,
        )  # fmt: skip
        return {
            "from": date_range.start.isoformat(),
            "to": date_range.end.isoformat(),
            "orders": plan.orders,
            "by_outcome": dict(plan.by_outcome),
            "totals": {currency: _money(total) for currency, total in plan.totals.items()},
            "customers_to_create": list(plan.customers_to_create),
            "problems": [
                {"order_source_id": p.order_source_id, "reason": p.reason, "detail": p.detail}
                for p in plan.problems
            ]
            + invalid,
            "skipped": dict(plan.skipped),
            "vat_codes_checked": checked,
        }, calls

    def _target_vat_codes(self, connection_id: str) -> tuple[Collection[str] | None, int]:
        """The target's VAT codes (as the hub names them) and the calls reading them took;
        none when the system does not give them or cannot be reached now."""
        if self.opener is None:
            return None, 0
        calls = 0

        def on_call(n: int) -> None:
            nonlocal calls
            calls += n

        try:
            with self.opener(connection_id, on_call) as connector:
                return set(connector.vat_rates()), calls
        except (ConnectorError, QuotaExhausted):
            return None, calls

    @staticmethod
    def _values(session: Session, tenant_id: str, entity: str, field: str) -> list[str]:
        column = HubRecord.data[field].as_string()
        rows = session.scalars(
            sa.select(column).where(
                HubRecord.tenant_id == tenant_id,
                HubRecord.entity == entity,
                HubRecord.deleted.is_(False),
                column.is_not(None),
            )
        )
        return [str(value) for value in rows if value]

    def historical_job(self, principal: Principal, route_id: str, job_id: str) -> JSON:
        """A historical import's state and, once it ran, what it did (its run's counts per
        ``<stream>.<outcome>``)."""
        # Job ids are UUIDs or (procrastinate) 64-bit numbers: a longer number is no job's.
        info = None if job_id.isdigit() and len(job_id) > 18 else self._queue.get(job_id)
        with self._sessions() as session:
            self._load(session, principal, route_id)
            if (
                info is None
                or info.kind != "commerce_history"
                or (info.payload.get("route_id") != route_id)
            ):
                raise NotFound(f"historical import {job_id} not found")
            run = session.scalar(
                sa.select(Run).where(Run.job_id == job_id).order_by(Run.started_at.desc()).limit(1)
            )
            return {
                "job_id": info.id,
                "status": info.status,
                "from": info.payload.get("from"),
                "to": info.payload.get("to"),
                "run_status": run.status if run else None,
                "counts": dict(run.counts) if run else {},
                "message": (run.message if run else None) or info.last_error,
            }


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _date_range(start: dt.date, end: dt.date) -> DateRange:
    """The days of a historical import; an inverted or too long range is a 422 on ``to``."""
    try:
        return DateRange(start, end)
    except ValueError as exc:
        raise Invalid(str(exc), field="to") from None


def _codes_in_force(route: Route) -> set[tuple[str, str]]:
    """Each (setting, code) the saved route books with, its defaults included, read as its
    flow reads it (``CommercePolicy.saved``): what a save of the same route leaves as it is
    needs no new look-up. A stored block that does not read at all has none, so everything
    is looked up."""
    kept: set[tuple[str, str]] = set()
    policy = (route.commerce or {}).get("policy")
    if isinstance(policy, dict):
        try:
            full = CommercePolicy.saved(policy).model_dump(mode="json")
        except ValidationError:
            full = None
        if full is not None:
            kept.update((code.field, code.code) for code in named_codes(full))
            kept.update((field, code) for field, code, _ in named_vat_codes(full))
    if route.paymatch:
        try:
            paymatch = PayMatchPolicy.model_validate(route.paymatch)
        except ValidationError:
            paymatch = None
        if paymatch is not None:
            kept.update((code.field, code.code) for code in paymatch.named_codes())
    return kept
