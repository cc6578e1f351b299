"""Reconciliation reports of an accounting connection (docs/trust.md): both sides of a month
side by side and every record that differs, with its reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter(prefix="/connections", tags=["reconciliations"])


class ReconciliationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str | None = Field(
        default=None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="The month, `YYYY-MM`, in the connection's time zone; this month if absent.",
    )


@router.post("/{connection_id}/reconciliations", status_code=202, response_model=dict[str, Any])
def start(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    body: ReconciliationRequest | None = None,
) -> Any:
    """Queue a report (a `reconcile` job, its calls counted against the day's budget); read
    it with `GET …/reconciliations/{id}` once its `status` is `done`."""
    period = body.period if body is not None else None
    return system.reconciliations.start(principal, connection_id, period)


@router.get("/{connection_id}/reconciliations", response_model=list[dict[str, Any]])
def list_reports(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    """Newest first, each with its counts of differences by kind (no differences)."""
    return system.reconciliations.list(principal, connection_id, limit)


@router.get(
    "/{connection_id}/reconciliations/{report_id}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def download(
    connection_id: str, report_id: str, principal: PrincipalDep, system: SystemDep
) -> Response:
    """One row per difference, then a totals section (hub and accounting system)."""
    body = system.reconciliations.csv(principal, connection_id, report_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{report_id}.csv"'},
    )


@router.get("/{connection_id}/reconciliations/{report_id}", response_model=dict[str, Any])
def read(connection_id: str, report_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """`totals`: per side (`hub`, `remote`) counts, net/VAT/gross per currency and VAT code
    and the open amount per currency; `differences`: one per record, `kind` `skipped`,
    `pending`, `changed_remote`, `missing_remote`, `missing_hub` or `differs`, with `reason`,
    `message`, `fields` and `url` (the remote record in the system's own app, where it has
    one)."""
    return system.reconciliations.get(principal, connection_id, report_id)
