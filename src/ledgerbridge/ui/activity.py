"""A connection's activity: its runs (paged) and a run's detail, the sync log with filters
and paging, and a live tail of the sync log as server-sent events (cookie session: an
EventSource sends no other credentials)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import SignedDep, UiRoute, render, system_of, templates

router = APIRouter(route_class=UiRoute)
tab("Activity", "activity", 60)

RUNS_PER_PAGE = 20
LOG_PER_PAGE = 50
OUTCOMES = ("created", "updated", "deleted", "unchanged", "skipped", "failed", "dismissed")
TAIL_POLL_SECONDS = 1.0
TAIL_LIFETIME_SECONDS = 600.0
"""A tail ends after this long; the browser's EventSource connects again by itself, so an
idle tab does not hold a connection for ever."""


def run_records(counts: Mapping[str, Any]) -> int:
    """Records a run handled (its counts are ``<stream>.<outcome>``)."""
    return sum(int(n) for n in counts.values() if isinstance(n, int | float))


def run_duration(run: Mapping[str, Any]) -> str:
    seconds = run.get("duration_seconds")
    if seconds is None and run.get("finished_at"):
        end = datetime.fromisoformat(run["finished_at"])
        seconds = (end - datetime.fromisoformat(run["started_at"])).total_seconds()
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


templates.env.filters.update(run_records=run_records, run_duration=run_duration)


def folded_jobs(request: Request, runs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The runs' jobs that were folded into a waiting job of the same work (job id → the
    twin's id): their run may have failed, but the job did not, and the page says so."""
    jobs = system_of(request).queue.get_many({run["job_id"] for run in runs if run.get("job_id")})
    return {job_id: job.merged_into for job_id, job in jobs.items() if job.merged_into}


@router.get("/connections/{connection_id}/activity", response_class=HTMLResponse)
def activity_page(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    page: int = Query(1, ge=1, le=100_000),
    outcome: Literal[
        "", "created", "updated", "deleted", "unchanged", "skipped", "failed", "dismissed"
    ] = "",
    reason: str = Query("", max_length=64),
    stream: str = Query("", max_length=32),
    direction: Literal["", "inbound", "outbound"] = "",
    run: str = Query("", max_length=36),
    before: int | None = Query(None, ge=1, le=2**63 - 1),
) -> Any:
    context = connection_context(request, signed, connection_id, "activity")
    connections = system_of(request).connections
    runs = connections.runs(
        signed.principal, connection_id, limit=RUNS_PER_PAGE + 1, offset=(page - 1) * RUNS_PER_PAGE
    )
    filters = {
        "outcome": outcome,
        "reason": reason,
        "stream": stream,
        "direction": direction,
        "run": run,
    }
    log = connections.sync_log(
        signed.principal, connection_id, outcome=outcome or None, reason=reason or None,
        stream=stream or None, direction=direction or None, run_id=run or None,
        before=before, limit=LOG_PER_PAGE + 1,
    )  # fmt: skip
    return render(
        request,
        "connection/activity.html",
        {
            **context,
            "runs": runs[:RUNS_PER_PAGE],
            "folded": folded_jobs(request, runs[:RUNS_PER_PAGE]),
            "page": page,
            "more_runs": len(runs) > RUNS_PER_PAGE,
            "log": log[:LOG_PER_PAGE],
            "older": log[LOG_PER_PAGE - 1]["id"] if len(log) > LOG_PER_PAGE else None,
            "filters": filters,
            "filtered": any(filters.values()),
            "before": before,
            "outcomes": OUTCOMES,
            "streams": sorted(context["spec"].streams),
        },
        signed=signed,
    )


@router.get("/connections/{connection_id}/activity/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, connection_id: str, run_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "activity")
    connections = system_of(request).connections
    found = connections.run(signed.principal, connection_id, run_id)
    log = connections.sync_log(
        signed.principal, connection_id, outcome=None, reason=None, stream=None,
        before=None, limit=LOG_PER_PAGE, run_id=run_id,
    )  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for key, n in found["counts"].items():
        stream, _, outcome = key.partition(".")
        counts.setdefault(stream, {})[outcome or "records"] = int(n)
    return render(
        request,
        "connection/run.html",
        {
            **context,
            "run": found,
            "counts": counts,
            "log": log,
            "more": len(log) == LOG_PER_PAGE,
            "folded": folded_jobs(request, [found]),
        },
        signed=signed,
    )


@dataclass(frozen=True)
class Tail:
    timezone: str
    after: int
    """The newest entry already shown."""


def tail_start(request: Request, connection_id: str, signed: SignedDep) -> Tail:
    """Before the stream opens: the connection must be the tenant's (a refusal is a page,
    not a broken stream), and the tail starts after ``Last-Event-ID`` or at the newest entry."""
    connections = system_of(request).connections
    timezone = connections.status(signed.principal, connection_id)["timezone"]
    resume = request.headers.get("last-event-id", "")
    if resume.isdigit():
        return Tail(timezone, int(resume))
    return Tail(timezone, connections.latest_log_id(signed.principal, connection_id))


@router.get("/connections/{connection_id}/activity/live", response_class=EventSourceResponse)
async def live_tail(
    request: Request,
    connection_id: str,
    signed: SignedDep,
    start: Annotated[Tail, Depends(tail_start)],
) -> AsyncIterator[ServerSentEvent]:
    """New sync-log entries as ``log`` events, each an HTML list item htmx puts on top (a
    burst shows its newest 100: the log below has them all); ``Last-Event-ID`` resumes
    after a reconnect without repeating an entry."""
    connections = system_of(request).connections
    last = start.after
    line = templates.get_template("connection/_log_line.html")
    waited = 0.0
    while waited < TAIL_LIFETIME_SECONDS and not await request.is_disconnected():
        entries = await run_in_threadpool(
            partial(connections.sync_log, signed.principal, connection_id, outcome=None,
                    reason=None, stream=None, before=None, limit=100, after=last)
        )  # fmt: skip
        for entry in reversed(entries):
            last = entry["id"]
            html = line.render(entry=entry, timezone=start.timezone)
            yield ServerSentEvent(raw_data=" ".join(html.split()), event="log", id=str(last))
        await asyncio.sleep(TAIL_POLL_SECONDS)
        waited += TAIL_POLL_SECONDS
