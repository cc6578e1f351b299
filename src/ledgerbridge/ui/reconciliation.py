"""An accounting connection's reconciliation reports: the list with a "Run for <month>" form,
and each report with both sides side by side and the records that differ (docs/trust.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ledgerbridge.services.errors import ServiceError
from ledgerbridge.services.reconciliations import KINDS, comparison
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import (
    ChangeDep,
    Signed,
    SignedDep,
    UiRoute,
    field_errors,
    redirect,
    render,
    system_of,
)

router = APIRouter(route_class=UiRoute)
tab("Reconciliation", "reconciliation", 85, applies=lambda spec: spec.side == "accounting")


def _list(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    period: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = connection_context(request, signed, connection_id, "reconciliation")
    service = system_of(request).reconciliations
    reports = service.list(signed.principal, connection_id)
    return render(
        request,
        "connection/reconciliations.html",
        {
            **context,
            "reports": reports,
            "period": period or service.current_month(signed.principal, connection_id),
            "errors": errors or {},
            "live": any(r["status"] in ("queued", "running") for r in reports),
        },
        status_code=status_code,
        signed=signed,
    )


@router.get("/connections/{connection_id}/reconciliation", response_class=HTMLResponse)
def reconciliation_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    return _list(request, signed, connection_id)


@router.get("/connections/{connection_id}/reconciliation/reports", response_class=HTMLResponse)
def reports_fragment(request: Request, connection_id: str, signed: SignedDep) -> Any:
    """The list alone, polled while a report is queued or running."""
    context = connection_context(request, signed, connection_id, "reconciliation")
    reports = system_of(request).reconciliations.list(signed.principal, connection_id)
    live = any(r["status"] in ("queued", "running") for r in reports)
    return render(
        request,
        "connection/_reconciliations.html",
        {**context, "reports": reports, "live": live},
        signed=signed,
    )


@router.post("/connections/{connection_id}/reconciliation")
def run_report(
    request: Request, connection_id: str, signed: ChangeDep, period: str = Form("")
) -> Response:
    try:
        started = system_of(request).reconciliations.start(
            signed.principal, connection_id, period.strip() or None
        )
    except ServiceError as exc:
        if exc.status == 422:
            return _list(
                request, signed, connection_id, period=period, errors=field_errors(exc),
                status_code=422,
            )  # fmt: skip
        raise
    return redirect(
        f"/ui/connections/{connection_id}/reconciliation",
        f"The reconciliation of {started['period']} has started.",
    )


@router.get("/connections/{connection_id}/reconciliation/{report_id}.csv")
def report_csv(request: Request, connection_id: str, report_id: str, signed: SignedDep) -> Any:
    body = system_of(request).reconciliations.csv(signed.principal, connection_id, report_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{report_id}.csv"'},
    )


@router.get("/connections/{connection_id}/reconciliation/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, connection_id: str, report_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "reconciliation")
    report = system_of(request).reconciliations.get(signed.principal, connection_id, report_id)
    return render(
        request,
        "connection/reconciliation.html",
        {
            **context,
            "report": report,
            "rows": comparison(report["totals"] or {}),
            "kinds": KINDS,
        },
        signed=signed,
    )
