"""A connection's usage: calls per quota day against the daily limit, and records synced per
day by outcome, over 30 days; each chart has a table with the same numbers for screen
readers and for reading exact values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import SignedDep, UiRoute, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Usage", "usage", 80)

OUTCOMES = ("created", "updated", "deleted", "unchanged", "skipped", "failed")


def _epoch(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


@router.get("/connections/{connection_id}/usage", response_class=HTMLResponse)
def usage_page(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    days: int = Query(30, ge=7, le=90),
) -> Any:
    context = connection_context(request, signed, connection_id, "usage")
    connections = system_of(request).connections
    usage = connections.usage(signed.principal, connection_id, days)
    stats = connections.stats(signed.principal, connection_id, days)
    calls_chart = {
        "title": f"Calls per day (limit {usage['limit']:,})",
        "x": [_epoch(d["day"]) for d in usage["days"]],
        "series": [
            {"label": "Calls", "values": [d["calls"] for d in usage["days"]]},
            {"label": "Limit", "values": [d["limit"] for d in usage["days"]], "dash": True},
        ],
    }
    shown = [o for o in OUTCOMES if any(d["outcomes"].get(o) for d in stats["days"])]
    records_chart = {
        "title": "Records per day by outcome",
        "x": [_epoch(d["day"]) for d in stats["days"]],
        "series": [
            {"label": o, "values": [d["outcomes"].get(o, 0) for d in stats["days"]]} for o in shown
        ],
    }
    return render(
        request,
        "connection/usage.html",
        {
            **context,
            "days": days,
            "usage": usage,
            "stats": stats,
            "outcomes": shown,
            "calls_chart": calls_chart,
            "records_chart": records_chart,
            "total_calls": sum(d["calls"] for d in usage["days"]),
            "busiest": max((d["calls"] for d in usage["days"]), default=0),
        },
        signed=signed,
    )
