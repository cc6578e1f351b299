"""A connection's issues: the open skipped and failed records grouped by reason, each group
linking to its list (record, message, first and last seen, attempts, the hub record and the
record in the system), with Retry for all, one reason or one record, Dismiss for one
record, or every record of one reason, whose issue will not clear by itself, and Make again
for a record the accounting system no longer has."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.engine.conflicts import ACCOUNTING, CONFLICT_HELD
from ledgerbridge.engine.outbound import MAKES_AGAIN
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.ui.nav import connection_context, system_title, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Issues", "issues", 50)

PER_PAGE = 50


@router.get("/connections/{connection_id}/issues", response_class=HTMLResponse)
def issues_page(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    reason: str = Query("", max_length=64),
    page: int = Query(1, ge=1, le=100_000),
) -> Any:
    context = connection_context(request, signed, connection_id, "issues")
    reasons = sorted(context["connection"]["open_issues"].items(), key=lambda r: (-r[1], r[0]))
    held = []
    if CONFLICT_HELD in context["connection"]["open_issues"] and reason in ("", CONFLICT_HELD):
        held = system_of(request).connections.issues(
            signed.principal, connection_id, CONFLICT_HELD,
            limit=PER_PAGE, offset=(page - 1) * PER_PAGE,
        )  # fmt: skip
    found = system_of(request).connections.issues(
        signed.principal, connection_id, reason or None,
        limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE,
    )  # fmt: skip
    return render(
        request,
        "connection/issues.html",
        {
            **context,
            "reasons": reasons,
            "most": max((n for _r, n in reasons), default=0),
            "total": sum(n for _r, n in reasons),
            "reason": reason,
            "issues": found[:PER_PAGE],
            "makes_again": MAKES_AGAIN,
            "held": held,
            "page": page,
            "more": len(found) > PER_PAGE,
        },
        signed=signed,
    )


@router.post("/connections/{connection_id}/issues/retry")
def retry(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    reason: Annotated[str, Form(max_length=64)] = "",
    issue_id: Annotated[str, Form(max_length=36)] = "",
    recreate: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Queue a retry; the issues clear by themselves as their records sync. A reason whose
    issues cleared since the page was shown goes back to the list, saying so. ``recreate``:
    Make again, for a record the accounting system no longer has."""
    try:
        system_of(request).connections.retry(
            signed.principal, connection_id, reason=reason or None, issue_id=issue_id or None,
            recreate=bool(recreate),
        )  # fmt: skip
    except Invalid as exc:
        return redirect(f"/ui/connections/{connection_id}/issues", exc.message)
    what = "this record" if issue_id else (f"the {reason} issues" if reason else "every issue")
    back = f"/ui/connections/{connection_id}/issues"
    if reason:
        back += "?" + urlencode({"reason": reason})
    if recreate:
        return redirect(
            back,
            f"{what[0].upper()}{what[1:]} will be made again where the accounting system no "
            "longer has it: the issue leaves this list once it is created there.",
        )
    return redirect(back, f"Retry of {what} queued: fixed records leave this list as they sync.")


@router.post("/connections/{connection_id}/issues/dismiss")
def dismiss_reason(
    request: Request,
    connection_id: str,
    signed: ChangeDep,
    reason: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Close every open issue of one reason by hand (``withdrawn_after_posting`` once each is
    credited). Issues of the reason that cleared since the page was shown are said, not an
    error page."""
    back = f"/ui/connections/{connection_id}/issues"
    try:
        answer = system_of(request).connections.dismiss(
            signed.principal, connection_id, reason=reason
        )
    except Invalid as exc:
        return redirect(back, exc.message)
    n = answer["dismissed"]
    return redirect(
        back,
        f"{n} {reason} issue{'s' if n != 1 else ''} dismissed: the activity log keeps "
        f"{'them' if n != 1 else 'it'} as dismissed.",
    )


@router.post("/connections/{connection_id}/issues/{issue_id}/dismiss")
def dismiss(
    request: Request,
    connection_id: str,
    issue_id: str,
    signed: ChangeDep,
    reason: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Close one issue by hand; back to the list it was dismissed from. An issue that
    cleared since the page was shown is said, not an error page."""
    back = f"/ui/connections/{connection_id}/issues"
    if reason:
        back += "?" + urlencode({"reason": reason})
    try:
        system_of(request).connections.dismiss(signed.principal, connection_id, issue_id=issue_id)
    except NotFound as exc:
        if exc.field != "issue_id":
            raise
        return redirect(
            back, "That issue is no longer open: it cleared or was dismissed meanwhile."
        )
    return redirect(back, "Issue dismissed: the activity log keeps it as dismissed.")


@router.post("/connections/{connection_id}/issues/{issue_id}/resolve")
def resolve(
    request: Request,
    connection_id: str,
    issue_id: str,
    signed: ChangeDep,
    keep: Annotated[str, Form(max_length=16)],
    field: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A person's choice for a held conflict: queued in the connection's line; the issue
    clears once the kept value is applied."""
    system = system_of(request)
    system.connections.resolve_conflict(
        signed.principal, connection_id, issue_id, keep=keep, field=field or None
    )
    name, _settings = system.connections.settings_of(signed.principal, connection_id)
    whose = f"{system_title(name)}'s" if keep == ACCOUNTING else "the app's"
    what = field or "every held field"
    return redirect(
        f"/ui/connections/{connection_id}/issues",
        f"Keeping {whose} value of {what}: it is applied with the next job of this connection.",
    )
