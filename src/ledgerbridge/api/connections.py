"""Connections to accounting systems: set up, test, import, watch, retry, dismiss.

Four systems: Uniconta (`docs/connector-uniconta.md`), Yuki (`docs/connector-yuki.md`),
Tripletex (`docs/connector-tripletex.md`) and Qonto (`docs/connector-qonto.md`). What each
system's settings and secrets hold is published, as JSON Schema, by `GET /systems`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.api.input import BIGINT_MAX

router = APIRouter(prefix="/connections", tags=["connections"])

SYSTEMS_DOC = (
    "`uniconta` (docs/connector-uniconta.md), `yuki` (docs/connector-yuki.md), `tripletex` "
    "(docs/connector-tripletex.md) or `qonto` (docs/connector-qonto.md)"
)
SETTINGS_DOC = (
    "The system's settings; their JSON Schema is `settings_schema` of the system in "
    "`GET /systems`. Unknown keys and invalid values are refused with a 422 naming the path "
    "(e.g. `settings.vat_groups[0].rate`)."
)


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str = Field(description=f"Accounting system: {SYSTEMS_DOC}")
    name: str = ""
    timezone: str | None = Field(
        None,
        description="IANA zone the schedules run in; default: the system's own (Uniconta "
        "Europe/Copenhagen, Yuki Europe/Amsterdam, Tripletex Europe/Oslo, Qonto Europe/Paris)",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description=SETTINGS_DOC)
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="The system's secrets (`secrets_schema` in `GET /systems`). Stored "
        "encrypted, never shown",
    )


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    timezone: str | None = None
    settings: dict[str, Any] | None = Field(
        None,
        description="A JSON merge patch of the settings: nested objects are merged by field "
        '(`{"summary": {"reload_requested_at": …}}` keeps the summary\'s other fields), '
        "`null` removes a setting. " + SETTINGS_DOC,
    )
    secrets: dict[str, str] | None = Field(None, description="Secrets to replace")
    active: StrictBool | None = None


class RunView(BaseModel):
    id: str
    kind: str
    status: str
    counts: dict[str, Any]
    calls: int
    message: str | None
    started_at: str
    finished_at: str | None


class ImportProgress(BaseModel):
    status: str
    streams: dict[str, dict[str, int | None]] = Field(
        description="Per stream: records per outcome, and `total` when known"
    )
    records_done: int
    records_total: int | None
    calls: int
    elapsed_seconds: float
    eta_seconds: float | None
    message: str | None
    resumes_at: str | None = Field(
        None, description="A run waiting for the daily quota to reset: when it goes on"
    )


class ScheduleView(BaseModel):
    kind: str = Field(description="The job kind (`POST …/jobs/{kind}` runs it now)")
    cron: str = Field(description="In the schedule's time zone")
    timezone: str
    enabled: bool
    next_run_at: str | None = Field(description="ISO 8601 with the zone's offset")
    last_run_at: str | None = Field(description="ISO 8601 with the zone's offset")


class ErrorFix(BaseModel):
    text: str = Field(description="What to do, in one sentence")
    page: str = Field(
        description="Where it is done: credentials, mappings, issues, usage or activity "
        "(`/ui/connections/{id}/{page}`)"
    )
    action: str = Field(description="The words of a link to that page")


class ConnectionStatus(BaseModel):
    id: str
    system: str
    name: str
    timezone: str
    active: bool
    settings: dict[str, Any]
    import_state: str = Field(description="not_started, running or done")
    last_success_at: str | None
    last_error_at: str | None
    last_error: str | None
    last_error_fix: ErrorFix | None = Field(
        description="What to do about the last error while no run has succeeded since: a "
        "sentence and the page of the UI where it is done"
    )
    calls_used_today: int
    daily_call_limit: int
    quota_day: str = Field(description="The vendor's current quota day")
    change_url: str | None = Field(
        description="Where the system sends its callbacks (holds the connection's token: "
        "owners and admins only)"
    )
    change_url_warning: str | None = Field(
        description="Why the system cannot deliver its callbacks to that URL (it is on this "
        "machine only), or null"
    )
    open_issues: dict[str, int] = Field(description="Reason code → records")
    pending_callbacks: int
    recent_runs: list[RunView]
    import_progress: ImportProgress | None
    schedules: list[ScheduleView]
    job_kinds: list[str] = Field(description="Jobs a user may run now (`POST …/jobs/{kind}`)")
    warnings: list[str]
    logged_in: bool | None = Field(
        None,
        description="A system that logs in with OAuth: whether the connection holds a login "
        "(`POST …/oauth/authorize` starts one); null for other systems",
    )


class ConnectionDeleted(BaseModel):
    id: str
    name: str
    warnings: list[str]


class TestResult(BaseModel):
    ok: bool
    description: str | None = Field(None, description="What the credentials reached")
    error: str | None = None


class JobQueued(BaseModel):
    job_id: str
    status: Literal["queued"]
    warnings: list[str] = Field(default_factory=list)


class Mappings(BaseModel):
    vat: dict[str, str] = Field(description="VAT code mapping (`settings.vat_mapping`)")
    units: dict[str, str] = Field(description="The system's units → hub units, with defaults")
    payment_terms: dict[str, int] = Field(description="Payment term code → days, with defaults")
    remote_vat_codes: list[dict[str, Any]] | None = Field(
        None, description="With `remote=true`: the system's VAT codes"
    )
    unmapped_vat_codes: list[str] | None = None
    waiting: dict[str, dict[str, int]] = Field(
        description="Records skipped for a missing mapping, per kind (`vat`, `units`, "
        "`payment_terms`) and code: they sync by themselves once the code is mapped; "
        "`vat_groups`: Qonto invoices waiting for a VAT group, per rate and country "
        "(`21% NL`), which go once `settings.vat_groups` has it"
    )


class SyncLogEntry(BaseModel):
    id: int
    at: str
    run_id: str | None
    stream: str
    direction: str
    record_id: str | None
    remote_id: str | None
    outcome: str
    reason: str | None
    message: str | None


class HeldValues(BaseModel):
    app: Any = Field(description="The hub's (the app's) value")
    accounting: Any = Field(description="The accounting system's value")
    base: Any = Field(description="The value both sides had at the last sync")


class Issue(BaseModel):
    id: str = Field(
        description="Retry this one with `POST …/issues/retry` and `issue_id`; dismiss it with "
        "`POST …/issues/{id}/dismiss`"
    )
    stream: str
    direction: str
    key: str
    outcome: str
    reason: str
    message: str
    first_seen_at: str
    last_seen_at: str
    attempts: int
    record_id: str | None = Field(description="The hub record, when the hub has it")
    remote_id: str | None = Field(description="The system's record, when known")
    url: str | None = Field(description="The record's page in the system's own app")
    held: dict[str, HeldValues] | None = Field(
        None,
        description="A held conflict (`conflict_held`): per field, the app's value, the "
        "accounting system's and the value both had at the last sync",
    )


class RunDetail(RunView):
    job_id: str | None
    duration_seconds: float | None = Field(description="Until now while it runs")


class RunFull(RunDetail):
    totals: dict[str, Any] | None = Field(description="Records per stream, when counted")
    reasons: dict[str, int] = Field(description="Reason code → sync-log entries of this run")


class UsageDay(BaseModel):
    day: str = Field(description="The vendor's quota day")
    calls: int
    limit: int


class Usage(BaseModel):
    timezone: str = Field(description="The zone the vendor's quota day follows")
    limit: int
    days: list[UsageDay]


class StatsDay(BaseModel):
    day: str
    outcomes: dict[str, int] = Field(description="Outcome → records")


class StatsGroup(BaseModel):
    day: str
    outcome: str
    stream: str
    direction: str
    records: int


class Stats(BaseModel):
    bucket: Literal["day"]
    days: list[StatsDay]
    groups: list[StatsGroup] = Field(description="Per day, outcome, stream and direction")


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, description="Only the issues of this reason code")
    issue_id: str | None = Field(None, description="Only this issue")
    recreate: bool = Field(
        False,
        description="Make again what the system no longer has (deleted there): for one issue, "
        "or the issues of one reason, `remote_record_missing` or `reference_missing`. The "
        "records confirmed gone there (read now) are unlinked and created anew, or linked to "
        "one made there again by hand; a record still there keeps its link",
    )


class DismissRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1, max_length=64, description="Dismiss every open issue of this reason code"
    )


class Dismissed(BaseModel):
    dismissed: int = Field(description="Issues closed; each has a `dismissed` sync-log entry")


class DataFieldView(BaseModel):
    statistic: str
    label: str
    unit: str
    definition: str
    common: bool
    custom_field: str | None


class DataFields(BaseModel):
    fields: list[DataFieldView]
    custom_fields: list[dict[str, Any]]


class NewCustomFieldResult(BaseModel):
    custom_field: dict[str, Any]
    fields: dict[str, str | None]


@router.post("", status_code=201, response_model=ConnectionStatus)
def create(body: ConnectionCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """Create a connection; its credentials are checked with the system first."""
    return system.connections.create(
        principal, system=body.system, name=body.name, timezone=body.timezone,
        settings=body.settings, secrets_=body.secrets,
    )  # fmt: skip


@router.get("", response_model=list[ConnectionStatus])
def list_(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.list_connections(principal)


@router.get("/{connection_id}", response_model=ConnectionStatus)
def status(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.status(principal, connection_id)


@router.patch("/{connection_id}", response_model=ConnectionStatus)
def configure(
    connection_id: str, body: ConnectionUpdate, principal: PrincipalDep, system: SystemDep
) -> Any:
    return system.connections.configure(
        principal, connection_id, name=body.name, timezone=body.timezone,
        settings=body.settings, secrets_=body.secrets, active=body.active,
    )  # fmt: skip


@router.delete("/{connection_id}", status_code=200, response_model=ConnectionDeleted)
def delete(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Delete a connection (owner or admin): its schedules, links, sync log, issues and routes
    go with it; the hub's records stay; jobs still queued for it end without doing anything;
    the system's webhooks to it are removed (`warnings` says when they could not be)."""
    return system.connections.delete(principal, connection_id)


class CredentialsCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secrets: dict[str, str] = Field(description="The new secrets to check")
    settings: dict[str, Any] | None = Field(
        None, description="Settings to check them with, as a merge patch (a token's environment)"
    )


class CredentialsChecked(BaseModel):
    ok: bool
    description: str = Field(description="What the credentials reached")
    warnings: list[str]


@router.post("/{connection_id}/credentials/check", response_model=CredentialsChecked)
def check_credentials(
    connection_id: str, body: CredentialsCheck, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Check new credentials with the system before saving them (a rotated token): nothing is
    saved; a refusal is a 422 naming the field. `PATCH` with the same secrets saves them."""
    return system.connections.check_credentials(
        principal, connection_id, secrets_=body.secrets, settings=body.settings
    )


@router.post("/{connection_id}/test", response_model=TestResult)
def test(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Call the system once with the saved credentials (owner or admin)."""
    return system.connections.test(principal, connection_id, system.connector)


@router.post("/{connection_id}/import", status_code=202, response_model=JobQueued)
def start_import(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Start the initial import; `warnings` names codes not mapped yet (their records are
    skipped, not lost, and sync once mapped). Follow it in the status's `import_progress`."""
    return system.connections.start_import(principal, connection_id, system.connector)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["import", "reload", "push"] = Field(
        description="The run to preview: the initial import, a full re-read, or a push of "
        "the pending hub changes"
    )


class SkipReason(BaseModel):
    reason: str
    count: int
    examples: list[dict[str, Any]] = Field(description="Up to 5: the record's key and why")


class StreamPreview(BaseModel):
    create: int
    update: int
    delete: int = Field(0, description="Drafts deleted in the hub, to delete in the system")
    unchanged: int
    skip: int
    examples: dict[str, list[str]] = Field(description="Up to 5 keys per outcome")
    skips: list[SkipReason]


class PreviewCalls(BaseModel):
    preview: int = Field(description="Calls this preview made (reads, counted in the quota)")
    run: int = Field(description="Calls the run would make")
    limit: int | None = Field(None, description="The daily call limit")
    used_today: int | None = None
    remaining_today: int | None = None
    days: int | None = Field(None, description="Days the run needs at the daily limit (1: today)")


class Preview(BaseModel):
    kind: str
    streams: dict[str, StreamPreview]
    totals: dict[str, int]
    calls: PreviewCalls


@router.post("/{connection_id}/preview", response_model=Preview)
def preview(
    connection_id: str, body: PreviewRequest, principal: PrincipalDep, system: SystemDep
) -> Any:
    """What the run would do, written nowhere (neither the hub nor the system): per stream the
    records to create, update, leave unchanged and skip (reasons, examples), the calls it
    would spend and the days it would need. Reading the system costs calls (owner or admin)."""
    return system.connections.preview(principal, connection_id, body.kind, system.jobs.preview)


class Preflight(BaseModel):
    warnings: list[str] = Field(
        description="What to fix before the initial import (each says what to do)"
    )


@router.get("/{connection_id}/preflight", response_model=Preflight)
def preflight(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """What to fix before the initial import: a paused connection, a login still missing, the
    system's warnings, and for an owner or admin (one call to the system) the VAT codes not
    mapped yet, whose records would be skipped until they are."""
    return {"warnings": system.connections.preflight(principal, connection_id, system.connector)}


class MappingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vat: dict[str, str | None] | None = Field(
        None, description="VAT code mapping, added to the saved one; a code given null is removed"
    )
    units: dict[str, str | None] | None = Field(
        None, description="The system's unit → hub unit code; null removes a saved one"
    )
    payment_terms: dict[str, StrictInt | None] | None = Field(
        None, description="Payment term code → days; null removes a saved one"
    )


@router.get("/{connection_id}/mappings", response_model=Mappings, response_model_exclude_none=True)
def mappings(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    remote: bool = Query(
        False, description="Also list the system's VAT codes (an API call: owner or admin)"
    ),
) -> Any:
    opener = system.connector if remote else None
    return system.connections.mappings(principal, connection_id, opener)


@router.get("/{connection_id}/lists/{name}", response_model=list[dict[str, Any]])
def remote_list(connection_id: str, name: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """One of the system's own lists (`lists` in `GET /systems`), read with the saved
    credentials (e.g. Tripletex customers to link a client to; owner or admin)."""
    return system.connections.remote_list(principal, connection_id, name, system.connector)


@router.put("/{connection_id}/mappings", response_model=Mappings, response_model_exclude_none=True)
def set_mappings(
    connection_id: str, body: MappingsUpdate, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Save code mappings, added to the saved ones (a code given `null` is removed); records
    skipped for a missing mapping then sync by themselves."""
    return system.connections.set_mappings(
        principal, connection_id, vat=body.vat, units=body.units,
        payment_terms=body.payment_terms,
    )  # fmt: skip


@router.get("/{connection_id}/data-fields", response_model=DataFields)
def data_fields(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """The figures the system offers the app's custom fields (Tripletex: monthly statistics),
    each with its label, unit, definition, `common` (false: behind "Show more") and the
    custom field it fills (null: not imported), plus the app's custom fields to pick from.
    Map them with `PATCH` on `settings.summary.fields`."""
    return system.data_fields.catalogue(principal, connection_id)


class NewCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, description="Shown in the app")
    key: str | None = Field(None, description="The field's key; default: from the label")


@router.post(
    "/{connection_id}/data-fields/{statistic}/custom-field",
    status_code=201,
    response_model=NewCustomFieldResult,
)
def new_custom_field(
    connection_id: str,
    statistic: str,
    body: NewCustomField,
    principal: PrincipalDep,
    system: SystemDep,
) -> Any:
    """ "New custom field" in the mapping dropdown: create a summary-task custom field and map
    this figure to it in one step."""
    return system.data_fields.create_custom_field(
        principal, connection_id, statistic, label=body.label, key=body.key
    )


class ClientLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(
        min_length=1, max_length=50, description="The system's customer (`lists/customers`)"
    )


class ClientLinks(BaseModel):
    party_id: str | None = None
    customer_id: str | None = None
    client_links: dict[str, str] = Field(description="Every link now: hub party → customer")


class ReloadQueued(BaseModel):
    job_id: str = Field(description="Follow it with `GET …/reload/{job_id}`")
    status: Literal["queued"]
    requested_at: str


class ReloadState(BaseModel):
    job_id: str
    status: str = Field(
        description="queued, running, done, failed, cancelled or merged (folded into a "
        "waiting job of the same work, which does it: no failure)"
    )
    finished: bool
    error: str | None
    run: RunView | None = Field(description="The run, once the job started: counts and calls")


@router.put("/{connection_id}/client-links/{party_id}", response_model=ClientLinks)
def link_client(
    connection_id: str, party_id: str, body: ClientLink, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Link one client (hub party) to the system's customer, or relink it; the other links
    stay as they are (one transaction). Both sides are checked first. Then `POST …/reload`
    back-fills its figures."""
    return system.connections.set_client_link(principal, connection_id, party_id, body.customer_id)


@router.delete("/{connection_id}/client-links/{party_id}", response_model=ClientLinks)
def unlink_client(
    connection_id: str, party_id: str, principal: PrincipalDep, system: SystemDep
) -> Any:
    return system.connections.remove_client_link(principal, connection_id, party_id)


@router.post("/{connection_id}/reload", status_code=202, response_model=ReloadQueued)
def reload(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """ "Reload data": re-import the last 12 months of every linked client's figures in the
    background, overwriting the app's values (owner or admin: it spends API calls)."""
    return system.connections.reload(principal, connection_id)


@router.get("/{connection_id}/reload/{job_id}", response_model=ReloadState)
def reload_state(
    connection_id: str, job_id: str, principal: PrincipalDep, system: SystemDep
) -> Any:
    return system.connections.reload_state(principal, connection_id, job_id)


@router.post("/{connection_id}/jobs/{kind}", status_code=202, response_model=JobQueued)
def request_job(
    connection_id: str,
    kind: str,
    principal: PrincipalDep,
    system: SystemDep,
) -> Any:
    """Run a job now (owner or admin: it spends API calls): `push`, `retry` (every skipped
    and failed record), or one of the system's scheduled reads. The connection's `job_kinds`
    (and `GET /systems`) list them; another kind is a 422 naming the valid ones."""
    return system.connections.request(principal, connection_id, kind)


@router.get("/{connection_id}/sync-log", response_model=list[SyncLogEntry])
def sync_log(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    outcome: Literal["created", "updated", "deleted", "unchanged", "skipped", "failed", "dismissed"]
    | None = Query(None, description="`dismissed`: an issue a person closed by hand"),
    reason: str | None = Query(None, description="Reason code, e.g. debtor_number_missing"),
    stream: str | None = Query(None, description="customers, suppliers, contacts, …"),
    before: int | None = Query(
        None, ge=0, le=BIGINT_MAX, description="Entries older than this id (paging)"
    ),
    limit: int = Query(100, ge=1, le=1000),
    direction: Literal["inbound", "outbound", "flow", "mail", "conflict"] | None = Query(
        None,
        description="inbound (system → hub), outbound (hub → system), flow (what a route "
        "derived: an order's invoice, a customer), mail (invoice mail), conflict",
    ),
    run_id: str | None = Query(None, description="Only this run's entries"),
) -> Any:
    return system.connections.sync_log(
        principal, connection_id, outcome=outcome, reason=reason, stream=stream,
        before=before, limit=limit, direction=direction, run_id=run_id,
    )  # fmt: skip


@router.get("/{connection_id}/issues", response_model=list[Issue])
def issues(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    reason: str | None = None,
    limit: int | None = Query(None, ge=1, le=1000, description="Page size (default: all)"),
    offset: int = Query(0, ge=0, le=BIGINT_MAX, description="Issues to skip (paging)"),
) -> Any:
    """Records that are skipped or failed now, oldest first; each clears itself once it
    syncs. Each names its hub record and, where the system has one, its page there."""
    return system.connections.issues(principal, connection_id, reason, limit=limit, offset=offset)


@router.post("/{connection_id}/issues/retry", status_code=202, response_model=JobQueued)
def retry_issues(
    connection_id: str, body: RetryRequest, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Try open issues again now (owner or admin): all of them (an empty body), those of one
    `reason`, or one issue (`issue_id`)."""
    return system.connections.retry(
        principal, connection_id, reason=body.reason, issue_id=body.issue_id,
        recreate=body.recreate,
    )  # fmt: skip


@router.post("/{connection_id}/issues/dismiss", response_model=Dismissed)
def dismiss_issues(
    connection_id: str, body: DismissRequest, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Close every open issue of one `reason` by hand (owner or admin), for issues that never
    clear by themselves (`withdrawn_after_posting`, a skip handled in the system by hand).
    The reason is required, so that nothing clears every issue by accident. Each leaves a
    sync-log entry with the outcome `dismissed`; a record that fails again opens a new issue.
    Held conflicts are refused (409): resolve them."""
    return system.connections.dismiss(principal, connection_id, reason=body.reason)


@router.post("/{connection_id}/issues/{issue_id}/dismiss", response_model=Dismissed)
def dismiss_issue(
    connection_id: str, issue_id: str, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Close one open issue by hand (owner or admin); the sync log keeps it as `dismissed`.
    A held conflict is refused (409): resolve it."""
    return system.connections.dismiss(principal, connection_id, issue_id=issue_id)


class ResolveConflict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: Literal["accounting", "app"] = Field(
        description="Whose value to keep: the accounting system's or the app's"
    )
    field: str | None = Field(
        None, max_length=64, description="One held field; absent: every held field"
    )


@router.post(
    "/{connection_id}/conflicts/{issue_id}/resolve", status_code=202, response_model=JobQueued
)
def resolve_conflict(
    connection_id: str,
    issue_id: str,
    body: ResolveConflict,
    principal: PrincipalDep,
    system: SystemDep,
) -> Any:
    """Resolve a held conflict (owner or admin): the kept value is applied to the other side
    through the usual sync (keeping the accounting system's value costs no call; keeping the
    app's is one update: a read and a write) and the issue clears."""
    return system.connections.resolve_conflict(
        principal, connection_id, issue_id, keep=body.keep, field=body.field
    )


@router.get("/{connection_id}/runs", response_model=list[RunDetail])
def runs(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    kind: str | None = Query(None, description="import, push, retry, or a pull's kind"),
    status: str | None = Query(None, description="running, succeeded, failed, deferred, …"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=BIGINT_MAX),
) -> Any:
    """The connection's runs, newest first (a run is one job's work: its counts per
    `<stream>.<outcome>`, calls and duration)."""
    return system.connections.runs(
        principal, connection_id, kind=kind, status=status, limit=limit, offset=offset
    )


@router.get("/{connection_id}/runs/{run_id}", response_model=RunFull)
def run(connection_id: str, run_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """One run; its sync-log entries are `GET …/sync-log?run_id=`."""
    return system.connections.run(principal, connection_id, run_id)


@router.get("/{connection_id}/usage", response_model=Usage)
def usage(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    days: int = Query(30, ge=1, le=400),
) -> Any:
    """Calls per quota day against the daily limit, oldest first (a day without calls is
    0). The vendor counts per login, so connections sharing one share these numbers."""
    return system.connections.usage(principal, connection_id, days)


@router.get("/{connection_id}/stats", response_model=Stats)
def stats(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    days: int = Query(30, ge=1, le=400),
    bucket: Literal["day"] = "day",
) -> Any:
    """Records synced per day (UTC) by outcome, and per stream and direction, from the sync
    log (kept as long as the retention setting says)."""
    return system.connections.stats(principal, connection_id, days)
