"""What a user asks a connection to do now: test the credentials, start the import, run a job,
dismiss an issue. Each spends the system's calls or changes what needs attention, so each
needs the owner or admin role."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import ConnectorError
from ledgerbridge.connectors.registry import SystemSpec
from ledgerbridge.engine.conflicts import CONFLICT_HELD, KEEPS
from ledgerbridge.engine.context import reads_something
from ledgerbridge.engine.outbound import MAKES_AGAIN
from ledgerbridge.engine.quota import QuotaExhausted
from ledgerbridge.engine.recorder import DISMISSED, FLOW, SyncRecorder
from ledgerbridge.runtime.flows import flow_command
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.services.connections.activity import linked_ids
from ledgerbridge.services.connections.base import (
    JSON,
    Opener,
    is_admin,
    summary_pull,
    system_spec,
)
from ledgerbridge.services.connections.codes import Codes
from ledgerbridge.services.errors import Conflict, Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.flows import Route
from ledgerbridge.store.tables.sync import SyncIssue
from ledgerbridge.store.tables.tenancy import User

PREVIEW_KINDS = ("import", "reload", "push")
FLOW_STREAMS = ("orders", "refunds")
"""The streams of a commerce route's held records, which its flow takes up again."""


def _require_open_reason(session: Session, connection_id: str, reason: str) -> None:
    """A retry of one reason that no open issue has would queue a job that does nothing (a
    mistyped code, or issues that cleared meanwhile): say so, with the reasons that are open."""
    counts = dict(
        session.execute(
            sa.select(SyncIssue.reason_code, sa.func.count())
            .where(SyncIssue.connection_id == connection_id)
            .group_by(SyncIssue.reason_code)
        ).all()
    )
    if reason in counts:
        return
    open_now = ", ".join(f"{code} ({n})" for code, n in sorted(counts.items()))
    raise Invalid(
        f"no open issue has the reason '{reason}' (they may have cleared); "
        + (f"the open issues' reasons: {open_now}" if open_now else "there are no open issues"),
        field="reason",
    )


def _who(session: Session, principal: Principal) -> str:
    """The person a dismissal is attributed to in the sync log: their email address."""
    user = session.get(User, principal.user_id)
    return user.email if user is not None else principal.actor


Previewer = Callable[[str, str, list[str] | None], JSON]
"""(connection id, kind, streams: None for all) → what that run would do (the runtime's
``SyncJobs.preview``)."""


class Actions(Codes):
    def test(self, principal: Principal, connection_id: str, opener: Opener) -> JSON:
        """Call the system once with the stored credentials; says what it reached or why not."""
        principal.require_admin("testing a connection (an API call)")
        with self._sessions() as session:
            self._load(session, principal, connection_id)
        try:
            with opener(connection_id) as connector:
                description = connector.test()
        except (QuotaExhausted, ConnectorError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "description": description}

    def start_import(
        self, principal: Principal, connection_id: str, opener: Opener | None = None
    ) -> JSON:
        """Queue the initial import. Codes that are not mapped yet do not stop it: the
        records using them are skipped (not lost) and sync once the codes are mapped; the
        answer says which."""
        principal.require_admin("starting an import")
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            if not row.active:
                raise Invalid("the connection is paused; activate it first", field="active")
            if row.import_state != "done":
                row.import_state = "running"
            tenant_id, system = row.tenant_id, row.system
            settings = dict(row.settings)
        warnings = self._unmapped_warnings(connection_id, system, settings, opener)
        job_id = self._queue.enqueue(Command(
            "import", connection_id=connection_id, tenant_id=tenant_id,
            dedupe_key=f"import:{connection_id}", priority=50,
        ))  # fmt: skip
        return {"job_id": job_id, "status": "queued", "warnings": warnings}

    def preflight(
        self, principal: Principal, connection_id: str, opener: Opener | None = None
    ) -> list[str]:
        """What to fix before the initial import: a paused connection, an OAuth system not
        logged in yet, the system's warnings, and (for an owner or admin, with ``opener``: one
        call to the system) VAT codes not mapped yet, whose records would be skipped."""
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            settings, timezone, active = dict(row.settings), row.timezone, row.active
            stored = self._box.open(row.secrets)
        found: list[str] = []
        if not active:
            found.append("the connection is paused: activate it before importing")
        logged_in = stored.get("access_token") or stored.get("refresh_token")
        if spec.oauth is not None and not logged_in and not stored.get("api_key"):
            found.append(f"the connection is not logged in to {spec.title} yet: log in first")
        found.extend(self._warnings(spec, settings, timezone))
        if opener is not None and is_admin(principal):
            found.extend(self._unmapped_warnings(connection_id, row.system, settings, opener))
        return found

    def request(self, principal: Principal, connection_id: str, kind: str) -> JSON:
        """Queue a pull, push or retry now instead of waiting for its schedule."""
        principal.require_admin("running a job (it spends API calls)")
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec, tenant_id, last_error = system_spec(row.system), row.tenant_id, row.last_error
            settings = dict(row.settings)
        if kind == "push" and not spec.pushes:
            raise no_push(spec)
        if kind not in spec.job_kinds:
            raise Invalid(
                f"unknown job kind '{kind}'; {spec.name} runs: {', '.join(spec.job_kinds)}",
                field="kind",
            )
        pull = spec.pulls.get(kind)
        if pull is not None and not reads_something(settings, spec.default_streams, pull.streams):
            # The job would end at once doing nothing: say why instead of "queued".
            raise Invalid(
                f"the {kind} job reads {', '.join(pull.streams)}, and this connection has "
                f"switched {'it' if len(pull.streams) == 1 else 'them'} off "
                "(settings.entities); switch one on to run it",
                field="kind",
            )
        if kind == "retry":
            with self._sessions.begin() as session:
                self._revisit_flows(session, connection_id, tenant_id, None, None)
        job_id = self._queue.enqueue(Command(
            kind, connection_id=connection_id, tenant_id=tenant_id,
            dedupe_key=f"{kind}:{connection_id}",
        ))  # fmt: skip
        return {
            "job_id": job_id,
            "status": "queued",
            "warnings": self._held(connection_id, spec, last_error),
        }

    def _held(self, connection_id: str, spec: SystemSpec, last_error: str | None) -> list[str]:
        """Work of the connection postponed to the next quota day (the day's calls are spent)
        is said, so that a "queued" that runs nothing until then does not mislead."""
        next_day = self._ledger.next_day_start(spec.quota_timezone)
        held = [
            job for job in self._queue.list(connection_id=connection_id, statuses=["queued"])
            if job.run_after == next_day
        ]  # fmt: skip
        if not held:
            return []
        why = f" (the connection's last error: {last_error})" if last_error else ""
        return [
            f"the connection's {', '.join(sorted({job.kind for job in held}))} waits for the "
            f"next quota day, {next_day.isoformat()}{why}; raising the daily call limit runs "
            "it at once"
        ]

    def retry(
        self,
        principal: Principal,
        connection_id: str,
        *,
        reason: str | None = None,
        issue_id: str | None = None,
        recreate: bool = False,
    ) -> JSON:
        """Queue a retry of the open issues: all, those of one reason, or one issue. Each
        filter is its own job, so retrying one issue never swallows a retry of all.
        ``recreate`` ("make it again"): for one issue, or one reason, whose record the system
        no longer has (``MAKES_AGAIN``); what is confirmed gone there is made anew."""
        principal.require_admin("retrying records (it spends API calls)")
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            tenant_id = row.tenant_id
            if issue_id is not None:
                issue = session.get(SyncIssue, issue_id)
                if issue is None or issue.connection_id != connection_id:
                    raise NotFound(f"issue {issue_id} not found (it may have cleared)")
                if recreate and issue.reason_code not in MAKES_AGAIN:
                    raise Invalid(
                        f"only a record the system no longer has can be made again "
                        f"({', '.join(sorted(MAKES_AGAIN))}); this issue is "
                        f"{issue.reason_code}: retry it without recreate",
                        field="recreate",
                    )
            elif reason is not None:
                _require_open_reason(session, connection_id, reason)
            if recreate and issue_id is None and reason not in MAKES_AGAIN:
                raise Invalid(
                    "make again one issue (issue_id), or the issues of one reason that means "
                    f"the system no longer has the record: {', '.join(sorted(MAKES_AGAIN))}",
                    field="recreate",
                )
            self._revisit_flows(session, connection_id, tenant_id, reason, issue_id)
        payload: JSON = {k: v for k, v in (("reason", reason), ("issue_id", issue_id)) if v}
        scope = issue_id or (f"reason={reason}" if reason else "all")
        if recreate:
            payload["recreate"], scope = True, f"{scope}:recreate"
        job_id = self._queue.enqueue(Command(
            "retry", connection_id=connection_id, tenant_id=tenant_id,
            dedupe_key=f"retry:{connection_id}:{scope}", payload=payload,
        ))  # fmt: skip
        return {"job_id": job_id, "status": "queued"}

    def _revisit_flows(
        self,
        session: Session,
        connection_id: str,
        tenant_id: str,
        reason: str | None,
        issue_id: str | None,
    ) -> None:
        """Orders and refunds a commerce route held (their issues are the shop's, or the
        target's for the hub API's orders) are decided again by the route's flow, as a saved
        policy does: what was fixed elsewhere (the shared debtor imported, an item created)
        is taken up without the shop changing the order."""
        query = sa.select(SyncIssue.id).where(
            SyncIssue.connection_id == connection_id,
            SyncIssue.direction == FLOW,
            SyncIssue.stream.in_(FLOW_STREAMS),
        )
        if reason is not None:
            query = query.where(SyncIssue.reason_code == reason)
        if issue_id is not None:
            query = query.where(SyncIssue.id == issue_id)
        if session.scalar(query.limit(1)) is None:
            return
        routes = session.scalars(
            sa.select(Route).where(
                Route.tenant_id == tenant_id,
                Route.active.is_(True),
                sa.or_(
                    Route.source_connection_id == connection_id,
                    sa.and_(
                        Route.source_connection_id.is_(None),
                        Route.target_connection_id == connection_id,
                    ),
                ),
            )
        )
        for route in routes:
            if route.commerce:
                command = flow_command(
                    route.id, route.target_connection_id, tenant_id, revisit=True
                )
                self._queue.enqueue(command, session=session)

    def dismiss(
        self,
        principal: Principal,
        connection_id: str,
        *,
        issue_id: str | None = None,
        reason: str | None = None,
    ) -> JSON:
        """Close open issues by hand: one issue, or every open issue of one reason. For what
        never clears by itself (an order withdrawn after it was posted, a skip handled in the
        system by hand). Each leaves a ``dismissed`` entry in the sync log, so the history
        keeps it; the record syncs as usual when it changes again, and a new failure opens a
        new issue. A held conflict is refused: dismissing it would only open it again at the
        next sync, so a person resolves it by keeping one value."""
        principal.require_admin("dismissing issues")
        if issue_id is None and not reason:
            raise Invalid("name the issue, or the reason of the issues to dismiss", field="reason")
        with self._sessions.begin() as session:
            self._load(session, principal, connection_id)
            query = sa.select(SyncIssue).where(SyncIssue.connection_id == connection_id)
            if issue_id is not None:
                query = query.where(SyncIssue.id == issue_id)
            else:
                _require_open_reason(session, connection_id, str(reason))
                query = query.where(SyncIssue.reason_code == reason)
            found = list(session.scalars(query.order_by(SyncIssue.first_seen_at).with_for_update()))
            if issue_id is not None and not found:
                raise NotFound(
                    f"issue {issue_id} not found (it may have cleared)", field="issue_id"
                )
            if any(i.reason_code == CONFLICT_HELD for i in found):
                which = issue_id or "{issue_id}"
                raise Conflict(
                    "a held conflict cannot be dismissed (the next sync would hold it again): "
                    "resolve it by keeping one value, POST "
                    f"/connections/{connection_id}/conflicts/{which}/resolve",
                    field="issue_id" if issue_id is not None else "reason",
                )
            who = _who(session, principal)
            ids = linked_ids(session, connection_id, found)
            recorder = SyncRecorder(self._clock, connection_id, None, Counter())
            for issue in found:
                record_id, remote_id = ids[issue.id]
                recorder.log(
                    session, stream=issue.stream, direction=issue.direction,
                    outcome=DISMISSED, record_id=record_id, remote_id=remote_id,
                    reason=issue.reason_code,
                    message=f"dismissed by {who}; the issue said: {issue.message}",
                )  # fmt: skip
                session.delete(issue)
        return {"dismissed": len(found)}

    def preview(
        self, principal: Principal, connection_id: str, kind: str, previewer: Previewer
    ) -> JSON:
        """What an import, a reload or a push would do now, without writing anywhere. It
        reads the system as the run would (those calls count), so it needs the owner or
        admin role; a refusal of the system is a 422 saying why."""
        principal.require_admin("previewing a run (it reads the system: API calls)")
        if kind not in PREVIEW_KINDS:
            raise Invalid(
                f"unknown preview kind '{kind}'; choose one of {', '.join(PREVIEW_KINDS)}",
                field="kind",
            )
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            if kind == "push" and not spec.pushes:
                raise no_push(spec)
            if kind != "import" and row.import_state != "done":
                raise Invalid(
                    f"a {kind} runs once the initial import is done; preview the import",
                    field="kind",
                )
        streams: list[str] | None = None
        if kind == "reload" and spec.data_fields:
            # "Reload data" of a system with figures for the app reads those figures only.
            streams = list(spec.pulls[summary_pull(spec)].streams)
        try:
            return previewer(connection_id, kind, streams)
        except (QuotaExhausted, ConnectorError) as exc:
            raise Invalid(f"the preview could not read the system: {exc}", field="kind") from exc

    def resolve_conflict(
        self,
        principal: Principal,
        connection_id: str,
        issue_id: str,
        *,
        keep: str,
        field: str | None = None,
    ) -> JSON:
        """Queue a person's choice for a held conflict: keep the accounting system's value
        (``accounting``) or the app's (``app``) of one field, or of every held field of the
        record. The choice runs in the connection's line, so it never races a sync."""
        principal.require_admin("resolving a conflict (it may write to the system)")
        if keep not in KEEPS:
            raise Invalid(f"keep must be one of {', '.join(KEEPS)}", field="keep")
        with self._sessions() as session:
            row = self._load(session, principal, connection_id)
            tenant_id = row.tenant_id
            issue = session.get(SyncIssue, issue_id)
            if issue is None or issue.connection_id != connection_id:
                raise NotFound(f"issue {issue_id} not found (it may have cleared)")
            if issue.reason_code != CONFLICT_HELD:
                raise Invalid(f"issue {issue_id} is not a held conflict", field="issue_id")
            held = (issue.payload or {}).get("fields") or {}
            if field is not None and field not in held:
                raise Invalid(
                    f"{field} is not held in this conflict; held: {', '.join(sorted(held))}",
                    field="field",
                )
        job_id = self._queue.enqueue(Command(
            "resolve_conflict", connection_id=connection_id, tenant_id=tenant_id,
            payload={"issue_id": issue_id, "field": field, "keep": keep},
        ))  # fmt: skip
        return {"job_id": job_id, "status": "queued"}


def no_push(spec: SystemSpec) -> Invalid:
    """The refusal of a push, run or previewed, of a system nothing is sent to."""
    return Invalid(
        f"{spec.title} is only read: nothing is sent to it, so it has no push; "
        f"it runs: {', '.join(spec.job_kinds)}",
        field="kind",
    )
