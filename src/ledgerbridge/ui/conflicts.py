"""A connection's Conflict rules: per entity and field (or every field), which side wins when
both changed it between two syncs. Rows of entity → field → rule with Add row and Remove, all
without JavaScript; saved as the connection's ``settings.conflicts`` (rules not listed are
removed), a refusal shown on the row it concerns."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.connectors.registry import conflict_fields
from ledgerbridge.engine.conflicts import RULES
from ledgerbridge.services.errors import ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.forms import label_of
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Conflict rules", "conflicts", 35, applies=lambda spec: bool(conflict_fields(spec.streams)))

MAX_ROWS = 200
"""More rows than any entity has fields: a longer form is not a person's."""


def rows_of(form: dict[str, str]) -> list[dict[str, str]]:
    """The rows a form posted (``rule-<n>-entity|field|rule``), in order; a row left without
    an entity or marked for removal is dropped."""
    rows = []
    for n in range(MAX_ROWS):
        entity = form.get(f"rule-{n}-entity")
        if entity is None:
            break
        if not entity or form.get(f"rule-{n}-remove") == "on":
            continue
        rows.append(
            {
                "entity": entity,
                "field": form.get(f"rule-{n}-field") or "*",
                "rule": form.get(f"rule-{n}-rule") or "hold",
            }
        )
    return rows


def _page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    rows: list[dict[str, str]] | None = None,
    error: tuple[int | None, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = connection_context(request, signed, connection_id, "conflicts")
    found = system_of(request).connections.conflict_rules(signed.principal, connection_id)
    shown = found["rules"] if rows is None else rows
    return render(
        request,
        "connection/conflicts.html",
        {
            **context,
            "entities": found["entities"],
            "rows": [*shown, {"entity": "", "field": "*", "rule": "hold"}],
            "rules": RULES,
            "label_of": label_of,
            "error": error,
        },
        status_code=status_code,
        signed=signed,
    )


def _row_of(field: str | None, rows: list[dict[str, str]]) -> int | None:
    """The row a refusal of ``settings.conflicts.<entity>[.<field>]`` concerns."""
    parts = (field or "").split(".")
    if parts[:2] != ["settings", "conflicts"] or len(parts) < 3:
        return None
    for n, row in enumerate(rows):
        if row["entity"] == parts[2] and (len(parts) < 4 or row["field"] == parts[3]):
            return n
    return None


@router.get("/connections/{connection_id}/conflicts", response_class=HTMLResponse)
def conflicts_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    return _page(request, signed, connection_id)


@router.post("/connections/{connection_id}/conflicts", response_class=HTMLResponse)
async def save_conflicts(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str)}
    rows = rows_of(given)
    if given.get("action") == "add":
        # Add row: the rows as posted and one more, nothing saved yet.
        return _page(request, signed, connection_id, rows=rows)
    try:
        system_of(request).connections.set_conflict_rules(signed.principal, connection_id, rows)
    except ServiceError as exc:
        return _page(
            request, signed, connection_id, rows=rows,
            error=(_row_of(exc.field, rows), exc.message),
            status_code=422 if exc.status == 422 else exc.status,
        )  # fmt: skip
    return redirect(
        f"/ui/connections/{connection_id}/conflicts",
        f"Saved {len(rows)} conflict rule{'s' if len(rows) != 1 else ''}.",
    )
