"""``GET /metrics``: the installation's figures in Prometheus' text format.

The API and the workers are separate processes (on other machines, too), so nothing is counted
in memory: a collector reads the figures from the database at each scrape, whichever process
answers it. Labels carry ids only (tenant, connection, system, job kind), never a name, an
e-mail address or a credential: a tenant's or a connection's name may be a person's.

The figures span every tenant, so no tenant's API key opens them: the scrape sends
``Authorization: Bearer <LEDGERBRIDGE_METRICS_TOKEN>``, and with no token set the route
answers 404.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from ledgerbridge.connectors.registry import SYSTEMS, daily_call_limit
from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.sync import QuotaUsage, Run, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection, WebhookDelivery

router = APIRouter(tags=["system"])

CONNECTION = ["tenant_id", "connection_id", "system"]


def _seconds(instant: datetime) -> float:
    return instant.timestamp()


class InstallationCollector(Collector):
    """Every figure, read afresh from the database at each scrape."""

    def __init__(self, system: System) -> None:
        self._system = system

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        with self._system.sessions() as session:
            connections = session.execute(
                sa.select(
                    Connection.id, Connection.tenant_id, Connection.system,
                    Connection.credential_key, Connection.settings, Connection.active,
                ).order_by(Connection.id)
            ).all()  # fmt: skip
            systems = {row.id: row.system for row in connections}
            tenants = {row.id: row.tenant_id for row in connections}
            yield from self._quota(session, connections)
            yield from self._issues(session, systems, tenants)
            yield from self._last_success(session, systems, tenants)
            yield from self._webhooks(session)

    def _jobs(self) -> Iterator[Metric]:
        tally = self._system.queue.tally()
        jobs = GaugeMetricFamily(
            "ledgerbridge_jobs",
            "Jobs in the queue's table per kind and state (finished ones until retention "
            "deletes them; merged: folded into a waiting job of the same work, no failure)",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(tally.jobs.items()):
            jobs.add_metric([kind, state], count)
        yield jobs
        yield GaugeMetricFamily(
            "ledgerbridge_jobs_due",
            "Queued jobs due now that no worker has taken yet (the queue's depth)",
            value=tally.due,
        )
        oldest = 0.0
        if tally.oldest_due_at is not None:
            waited = self._system.clock.now() - tally.oldest_due_at
            oldest = max(waited.total_seconds(), 0.0)
        yield GaugeMetricFamily(
            "ledgerbridge_jobs_oldest_due_age_seconds",
            "How long the longest-waiting due job has waited (0 when none waits)",
            value=oldest,
        )

    def _quota(self, session: Session, connections: Sequence[sa.Row[Any]]) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "ledgerbridge_api_calls_used",
            "Calls made today to the accounting or commerce system, in its own quota day "
            "(connections sharing a credential share the count)",
            labels=CONNECTION,
        )
        limit = GaugeMetricFamily(
            "ledgerbridge_api_calls_limit",
            "The connection's daily call limit",
            labels=CONNECTION,
        )
        days = {
            name: self._system.ledger.day(spec.quota_timezone) for name, spec in SYSTEMS.items()
        }
        keys = {row.credential_key for row in connections}
        counted = {
            (row.credential_key, row.day): row.used
            for row in session.execute(
                sa.select(QuotaUsage.credential_key, QuotaUsage.day, QuotaUsage.used).where(
                    QuotaUsage.credential_key.in_(keys), QuotaUsage.day.in_(set(days.values()))
                )
            )
        }
        for row in connections:
            spec = SYSTEMS.get(row.system)
            if spec is None:  # a system this version no longer knows: nothing to count by
                continue
            labels = [row.tenant_id, row.id, row.system]
            used.add_metric(labels, counted.get((row.credential_key, days[row.system]), 0))
            try:
                allowed = daily_call_limit(spec, row.settings or {})
            except (TypeError, ValueError):  # a stored value no longer read: the system's
                allowed = spec.daily_call_limit
            limit.add_metric(labels, allowed)
        yield used
        yield limit

    def _issues(
        self, session: Session, systems: dict[str, str], tenants: dict[str, str]
    ) -> Iterator[Metric]:
        issues = GaugeMetricFamily(
            "ledgerbridge_open_issues",
            "Records held back (skipped) or failed, still open, per connection",
            labels=[*CONNECTION, "outcome"],
        )
        for connection_id, outcome, count in session.execute(
            sa.select(SyncIssue.connection_id, SyncIssue.outcome, sa.func.count())
            .group_by(SyncIssue.connection_id, SyncIssue.outcome)
            .order_by(SyncIssue.connection_id, SyncIssue.outcome)
        ):
            if connection_id in systems:
                labels = [tenants[connection_id], connection_id, systems[connection_id], outcome]
                issues.add_metric(labels, count)
        yield issues

    def _last_success(
        self, session: Session, systems: dict[str, str], tenants: dict[str, str]
    ) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "ledgerbridge_last_success_timestamp_seconds",
            "When the connection's last successful run of each kind (import, pull, push, a "
            "scheduled read) ended, as a Unix time",
            labels=[*CONNECTION, "kind"],
        )
        for connection_id, kind, finished in session.execute(
            sa.select(Run.connection_id, Run.kind, sa.func.max(Run.finished_at))
            .where(Run.status == "succeeded")
            .group_by(Run.connection_id, Run.kind)
            .order_by(Run.connection_id, Run.kind)
        ):
            if connection_id in systems and finished is not None:
                labels = [tenants[connection_id], connection_id, systems[connection_id], kind]
                last.add_metric(labels, _seconds(finished))
        yield last

    def _webhooks(self, session: Session) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "ledgerbridge_webhook_deliveries",
            "Webhook deliveries not delivered, per tenant: pending (first try or waiting for "
            "a retry) and failed (attempts used up)",
            labels=["tenant_id", "state"],
        )
        for tenant_id, state, count in session.execute(
            sa.select(WebhookDelivery.tenant_id, WebhookDelivery.status, sa.func.count())
            .where(WebhookDelivery.status.in_(("pending", "failed")))
            .group_by(WebhookDelivery.tenant_id, WebhookDelivery.status)
            .order_by(WebhookDelivery.tenant_id, WebhookDelivery.status)
        ):
            deliveries.add_metric([tenant_id, state], count)
        yield deliveries
        due = session.scalar(
            sa.select(sa.func.count()).where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= self._system.clock.now(),
            )
        )
        yield GaugeMetricFamily(
            "ledgerbridge_webhook_deliveries_due",
            "Pending webhook deliveries whose time has come",
            value=int(due or 0),
        )


def registry(system: System) -> CollectorRegistry:
    """A registry of our own with only the installation's figures: the process's own (its
    memory, its threads) say nothing of the installation, and each process would differ."""
    made = CollectorRegistry(auto_describe=False)
    made.register(InstallationCollector(system))
    return made


def _authorized(request: Request, token: str) -> bool:
    """Compared as bytes, in constant time: the header as sent (the server hands it on as
    Latin-1 text) against the token's UTF-8, so a token or a header outside ASCII is a plain
    match or refusal (``compare_digest`` refuses text outside ASCII with an error)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    sent = given.strip().encode("latin-1")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent, token.encode("utf-8"))


# Not in the OpenAPI: that describes the API a tenant's key opens, and this is the operator's
# (README, "Running it on PostgreSQL").
@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request) -> Response:
    """The installation's figures for Prometheus, read from the database at each scrape: jobs
    per kind and state, the queue's depth and its oldest due job's wait, API calls used and
    the daily limit per connection, open issues, each connection's last successful run per
    kind, and webhook deliveries not delivered. Needs `Authorization: Bearer
    <LEDGERBRIDGE_METRICS_TOKEN>`; 404 while that setting is unset."""
    system: System = request.app.state.system
    token = system.settings.metrics_token
    if not token:
        raise HTTPException(
            404, "metrics are off: set LEDGERBRIDGE_METRICS_TOKEN and scrape with that token"
        )
    if not _authorized(request, token):
        raise HTTPException(
            401,
            "GET /metrics needs Authorization: Bearer <LEDGERBRIDGE_METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
