"""Per-client links to the system's records, and the reload of the figures they bring.

A link is changed one at a time, in one transaction that locks the connection, so two people
linking two clients at once both keep their link (a ``PATCH`` of ``settings.client_links``
resends the whole map and the later one wins). A reload is one call: it asks the summary pull
to read the last months again and queues it, returning the job to follow."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.registry import SystemSpec
from ledgerbridge.runtime.jobqueue.port import FINISHED_JOB_STATUSES
from ledgerbridge.services.connections.actions import Actions
from ledgerbridge.services.connections.base import JSON, Opener, iso, summary_pull, system_spec
from ledgerbridge.services.connections.configure import Configure
from ledgerbridge.services.connections.settings import checked_settings
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import Run, SyncIssue
from ledgerbridge.store.tables.tenancy import Connection

LINKS = "client_links"
"""The setting that links the app's clients (hub parties) to the system's customers."""
CHOICES_SHOWN = 200
"""Customers offered at once in the link picker; a search narrows the rest."""


class Links(Configure, Actions):
    def set_client_link(
        self, principal: Principal, connection_id: str, party_id: str, customer_id: str
    ) -> JSON:
        """Link one client to the system's customer (or relink it). The party must be a live
        hub client of the tenant and the customer one the system has: both are checked
        before anything is saved."""
        principal.require_admin("linking a client")
        customer_id = str(customer_id).strip()
        if not customer_id:
            raise Invalid("pick the customer to link this client to", field="customer_id")
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = _linking(row.system)
            settings = dict(row.settings)
            secrets_ = self._with_installation(spec, self._box.open(row.secrets))
        one = {**settings, LINKS: {party_id: customer_id}}
        checked_settings(spec, one)
        self._check_links(principal, spec, one, {**settings, LINKS: {}}, secrets_)
        with self._sessions.begin() as session:
            row = self._locked(session, principal, connection_id)
            links = {**(row.settings.get(LINKS) or {}), party_id: customer_id}
            row.settings = checked_settings(spec, {**row.settings, LINKS: links})
            row.updated_at = self._clock.now()
            tenant_id = row.tenant_id
        self._relinked(spec, connection_id, tenant_id)
        return {"party_id": party_id, "customer_id": customer_id, LINKS: links}

    def remove_client_link(self, principal: Principal, connection_id: str, party_id: str) -> JSON:
        """Unlink one client: its figures are no longer imported."""
        principal.require_admin("unlinking a client")
        with self._sessions.begin() as session:
            row = self._locked(session, principal, connection_id)
            spec = _linking(row.system)
            links = dict(row.settings.get(LINKS) or {})
            if links.pop(party_id, None) is None:
                raise NotFound(f"client {party_id} is not linked in this connection")
            row.settings = checked_settings(spec, {**row.settings, LINKS: links})
            row.updated_at = self._clock.now()
            tenant_id = row.tenant_id
        self._relinked(spec, connection_id, tenant_id)
        return {LINKS: links}

    def clients(self, principal: Principal, connection_id: str, search: str = "") -> list[JSON]:
        """The app's clients (hub parties that are customers, or already linked) by name, each
        with the customer it is linked to and, when its figures are held back, the open issue
        that says why (``problem``: a customer without a client company the token reaches
        imports nothing, though the link looks fine); ``search`` keeps those whose name or
        organisation number holds it."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            _linking(row.system)
            links = dict(row.settings.get(LINKS) or {})
            held = _held_customers(session, connection_id)
            parties = session.scalars(
                sa.select(HubRecord).where(
                    HubRecord.tenant_id == principal.tenant_id,
                    HubRecord.entity == "party",
                    HubRecord.deleted.is_(False),
                )
            )
            found = [
                {
                    "party_id": p.id,
                    "name": str(p.data.get("name") or ""),
                    "organisation_number": p.data.get("organisation_number"),
                    "customer_id": links.get(p.id),
                    "problem": held.get(str(links.get(p.id))) if p.id in links else None,
                }
                for p in parties
                if p.data.get("is_customer") or p.id in links
            ]
        wanted = search.strip().lower()
        if wanted:
            found = [
                c
                for c in found
                if wanted in str(c["name"]).lower() or wanted in str(c["organisation_number"] or "")
            ]
        return sorted(found, key=lambda c: (str(c["name"]).lower(), str(c["party_id"])))

    def link_choices(
        self,
        principal: Principal,
        connection_id: str,
        party_id: str,
        opener: Opener,
        search: str = "",
    ) -> JSON:
        """What the link picker of one client offers: the system's customers with the same
        organisation number first (suggested), then those matching ``search`` by name,
        number or organisation number (at most ``CHOICES_SHOWN``)."""
        principal.require_admin("reading the system's customers (API calls)")
        client = next(
            (c for c in self.clients(principal, connection_id) if c["party_id"] == party_id),
            None,
        )
        if client is None:
            raise NotFound(f"client {party_id} not found")
        customers = self.remote_list(principal, connection_id, "customers", opener)
        org = str(client["organisation_number"] or "").replace(" ", "")
        suggested = [c for c in customers if org and str(c.get("organisation_number")) == org]
        wanted = search.strip().lower()
        matching = [
            c
            for c in customers
            if c not in suggested
            and (
                not wanted
                or any(
                    wanted in str(c.get(k) or "").lower()
                    for k in ("name", "number", "organisation_number")
                )
            )
        ]
        return {
            "client": client,
            "suggested": suggested,
            "customers": matching[:CHOICES_SHOWN],
            "more": max(len(matching) - CHOICES_SHOWN, 0),
            "linked": next((c for c in customers if c["id"] == client["customer_id"]), None),
        }

    def reload(self, principal: Principal, connection_id: str) -> JSON:
        """Re-import the figures of every linked client (the last 12 months, overwriting the
        app's values) in the background; the answer names the job whose run to follow
        (``reload_state``). Refused, with what to do, when nothing would be imported."""
        principal.require_admin("reloading data (it spends API calls)")
        system, settings = self.settings_of(principal, connection_id)
        spec = system_spec(system)
        kind = summary_pull(spec)
        summary = settings.get("summary") or {}
        if not any((summary.get("fields") or {}).values()):
            raise Invalid(
                "map at least one data field to a custom field first: a reload imports only "
                "mapped fields",
                field="summary.fields",
            )
        if not settings.get(LINKS):
            raise Invalid(
                f"link at least one client to its {spec.title} customer first: a reload reads "
                "the figures of linked clients",
                field=LINKS,
            )
        requested = self._clock.now().isoformat()
        self.configure(
            principal, connection_id, settings={"summary": {"reload_requested_at": requested}}
        )
        queued = self.request(principal, connection_id, kind)
        return {"job_id": queued["job_id"], "status": "queued", "requested_at": requested}

    def reload_state(self, principal: Principal, connection_id: str, job_id: str) -> JSON:
        """Where a reload stands: its job's state and, once it ran, the run's counts."""
        with self._sessions() as session:
            self._load(session, principal, connection_id)
            job = self._queue.get(job_id)
            if job is None or job.connection_id != connection_id:
                raise NotFound(f"job {job_id} not found for this connection")
            run = session.scalars(
                sa.select(Run)
                .where(Run.connection_id == connection_id, Run.job_id == job_id)
                .order_by(Run.started_at.desc())
                .limit(1)
            ).first()
            ran: dict[str, Any] | None = None
            if run is not None:
                ran = {
                    "id": run.id, "kind": run.kind, "status": run.status,
                    "counts": dict(run.counts), "calls": run.calls, "message": run.message,
                    "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
                }  # fmt: skip
        return {
            "job_id": job_id,
            "status": job.status,
            "finished": job.status in FINISHED_JOB_STATUSES,
            "error": job.last_error,
            "run": ran,
        }

    def _locked(self, session: Any, principal: Principal, connection_id: str) -> Connection:
        row = session.get(Connection, connection_id, with_for_update=True)
        if row is None or row.tenant_id != principal.tenant_id:
            raise NotFound(f"connection {connection_id} not found")
        return row


def _linking(system: str) -> SystemSpec:
    spec = system_spec(system)
    if LINKS not in spec.linked_records:
        raise NotFound(f"{spec.title} does not link clients to its own customers")
    return spec


def _held_customers(session: Session, connection_id: str) -> dict[str, str]:
    """Customer id → the message of the latest open issue of its monthly figures (keyed
    ``<customer id>:<YYYY-MM>``), for the customers whose figures are held back."""
    rows = session.execute(
        sa.select(SyncIssue.key, SyncIssue.message)
        .where(
            SyncIssue.connection_id == connection_id,
            SyncIssue.stream == "period_statistics",
        )
        .order_by(SyncIssue.last_seen_at)
    )
    return {key.partition(":")[0]: message for key, message in rows}
