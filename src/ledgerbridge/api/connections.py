"""Connections to accounting systems: set up, test, import, watch, retry."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.api.input import BIGINT_MAX

router = APIRouter(prefix="/connections", tags=["connections"])


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str = Field(description="Accounting system, e.g. `uniconta`")
    name: str = ""
    timezone: str = Field("Europe/Copenhagen", description="IANA zone the schedules run in")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="For uniconta: company_id, username, optional base_url, entities, pull_cron",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict, description="For uniconta: password. Stored encrypted, never shown"
    )


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    timezone: str | None = None
    settings: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    active: bool | None = None


@router.post("", status_code=201)
def create(body: ConnectionCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.create(
        principal, system=body.system, name=body.name, timezone=body.timezone,
        settings=body.settings, secrets_=body.secrets,
    )  # fmt: skip


@router.get("")
def list_(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.list_connections(principal)


@router.get("/{connection_id}")
def status(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.status(principal, connection_id)


@router.patch("/{connection_id}")
def configure(
    connection_id: str, body: ConnectionUpdate, principal: PrincipalDep, system: SystemDep
) -> Any:
    return system.connections.configure(
        principal, connection_id, name=body.name, timezone=body.timezone,
        settings=body.settings, secrets_=body.secrets, active=body.active,
    )  # fmt: skip


@router.post("/{connection_id}/test")
def test(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return system.connections.test(principal, connection_id, system.connector)


@router.post("/{connection_id}/import", status_code=202)
def start_import(connection_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Start the initial import; `warnings` names codes not mapped yet (their records are
    skipped, not lost, and sync once mapped). Follow it in the status's `import_progress`."""
    return system.connections.start_import(principal, connection_id, system.connector)


class MappingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vat: dict[str, str] | None = Field(None, description="Accounting VAT code → hub VAT code")
    units: dict[str, str] | None = Field(None, description="Accounting unit → hub unit code")
    payment_terms: dict[str, int] | None = Field(None, description="Payment term code → days")


@router.get("/{connection_id}/mappings")
def mappings(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    remote: bool = Query(False, description="Also list the system's VAT codes (one API call)"),
) -> Any:
    opener = system.connector if remote else None
    return system.connections.mappings(principal, connection_id, opener)


@router.get("/{connection_id}/lists/{name}")
def remote_list(connection_id: str, name: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """One of the system's own lists, read with the saved credentials (e.g. Tripletex
    customers to link a client to)."""
    return system.connections.remote_list(principal, connection_id, name, system.connector)


@router.put("/{connection_id}/mappings")
def set_mappings(
    connection_id: str, body: MappingsUpdate, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Save code mappings; records skipped for a missing mapping then sync by themselves."""
    return system.connections.set_mappings(
        principal, connection_id, vat=body.vat, units=body.units,
        payment_terms=body.payment_terms,
    )  # fmt: skip


@router.get("/{connection_id}/data-fields")
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


@router.post("/{connection_id}/data-fields/{statistic}/custom-field", status_code=201)
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


@router.post("/{connection_id}/jobs/{kind}", status_code=202)
def request_job(
    connection_id: str,
    kind: str,
    principal: PrincipalDep,
    system: SystemDep,
) -> Any:
    """Run a job now: `push`, `retry` (every skipped and failed record), or one of the
    system's scheduled reads (Uniconta: `pull`, `products`, `invoices`, `stock`, `payments`)."""
    return system.connections.request(principal, connection_id, kind)


@router.get("/{connection_id}/sync-log")
def sync_log(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    outcome: Literal["created", "updated", "unchanged", "skipped", "failed"] | None = None,
    reason: str | None = Query(None, description="Reason code, e.g. debtor_number_missing"),
    stream: str | None = Query(None, description="customers, suppliers, contacts, …"),
    before: int | None = Query(
        None, ge=0, le=BIGINT_MAX, description="Entries older than this id (paging)"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    return system.connections.sync_log(
        principal, connection_id, outcome=outcome, reason=reason, stream=stream,
        before=before, limit=limit,
    )  # fmt: skip


@router.get("/{connection_id}/issues")
def issues(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    reason: str | None = None,
) -> Any:
    """Records that are skipped or failed now; each clears itself once it syncs."""
    return system.connections.issues(principal, connection_id, reason)
