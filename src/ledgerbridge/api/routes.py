"""Routes: which connection's records flow to which (docs/architecture.md, "Routes").

Without routes a hub change goes to every other connection that carries its entity. Once a
tenant has a route, only routes send: a change goes to a connection when a route from its
origin (a connection, or `app` for records written through this API) covers the entity. A
route with a `commerce` block also turns its source's orders and refunds into customers,
invoices and credit notes for its target (docs/commerce.md, "The flow").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ledgerbridge.api.connections import Preview
from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.services.errors import Invalid
from ledgerbridge.services.routes import RouteInput

router = APIRouter(prefix="/routes", tags=["routes"])


ROUTE_READ_ONLY = frozenset({"created_at", "updated_at", "warnings"})
"""What `GET /routes/{id}` answers that the hub keeps by itself."""


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        description="A connection id, or `app`: the records written through the hub API"
    )
    target: str = Field(description="The connection the records go to")
    entities: list[str] = Field(
        default_factory=list,
        description="Hub entities that flow (`party`, `product`, `stock_level`, …); each must "
        "be carried by the target's system",
    )
    commerce: dict[str, Any] | None = Field(
        None,
        description='For a shop\'s orders: `{"policy": CommercePolicy, "rules": '
        "MappingRules}` (docs/commerce.md); refusals name the path, e.g. "
        "`commerce.policy.vat.oss_codes`",
    )
    paymatch: dict[str, Any] | None = Field(
        None,
        description="For an acquirer's payouts: `journal`, `receivable_account`, "
        "`fee_account`, `bank_account`, `error_account`, `group_lines`, `start_date`, "
        "`wait_for_invoice_hours` (docs/paymatch.md); the target must have a cash journal",
    )
    active: StrictBool = True
    id: str | None = Field(
        None,
        description="Read only, as `GET` answers it: a route read, changed and sent back is "
        "taken as it is; on `PUT` it must be the route's own id",
    )

    @model_validator(mode="before")
    @classmethod
    def _without_read_only(cls, data: Any) -> Any:
        """A route sent back as `GET` answered it carries what the hub keeps by itself (its
        times and warnings): taken as read, not refused as unknown fields."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ROUTE_READ_ONLY}
        return data

    def as_input(self) -> RouteInput:
        return RouteInput(
            self.source, self.target, self.entities, self.commerce, self.active, self.paymatch
        )


class RouteView(BaseModel):
    id: str
    source: str = Field(description="A connection id, or `app`")
    target: str
    entities: list[str]
    commerce: dict[str, Any] | None = Field(
        description="The policy and the mapping rules with their `version` and `content_hash`"
    )
    paymatch: dict[str, Any] | None = Field(None, description="The PayMatch block as saved")
    active: bool
    created_at: str
    updated_at: str
    warnings: list[str] = Field(
        default_factory=list,
        description="What the user should know: a policy value saved before it was refused "
        "and how the flow reads it until the route is saved again (a `rounding_tolerance` "
        "above the largest), order files of the source that map no `order.paid_at` while "
        "card payments are registered as paid, and, on a save, e.g. that the accounting codes "
        "the route names were not checked because the target could not be reached",
    )


class HistoricalImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: dt.date = Field(alias="from", description="First day (order creation date)")
    to: dt.date = Field(description="Last day, included")
    dry_run: StrictBool = Field(
        True, description="Only answer what the import would create (nothing is written)"
    )


class ImportProblemView(BaseModel):
    order_source_id: str
    reason: str
    detail: str


class HistoricalImportAnswer(BaseModel):
    job_id: str | None = Field(None, description="The import's job (not for a dry run)")
    status: str | None = Field(None, description="`queued` for an import")
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    orders: int | None = Field(
        None, description="Orders that would go to the target (as invoice or order)"
    )
    by_outcome: dict[str, int] | None = Field(
        None,
        description="Those orders by what they become: `booked` (invoice posted), `draft` "
        "(invoice left for a person), `order` (an order reserving stock, never booked) and "
        "`held` (held with one of the `problems` as its issue, not booked)",
    )
    totals: dict[str, str] | None = Field(None, description="Their totals per currency")
    customers_to_create: list[str] | None = Field(None, description="`field:value` each")
    problems: list[ImportProblemView] | None = None
    skipped: dict[str, int] | None = Field(None, description="Orders not booked, per reason")
    vat_codes_checked: bool | None = Field(
        None,
        description="false: the target's VAT codes could not be read (the system does not "
        "give them, or could not be reached), so the lines' codes were not checked",
    )


class HistoricalImportState(BaseModel):
    job_id: str
    status: str = Field(
        description="queued, running, done, failed, cancelled or merged (folded into a "
        "waiting job of the same work, which does it: no failure)"
    )
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    run_status: str | None
    counts: dict[str, int] = Field(description="`<stream>.<outcome>` → records")
    message: str | None


@router.get("", response_model=list[RouteView])
def list_(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.routes.list_routes(principal)


@router.post("", status_code=201, response_model=RouteView)
def create(body: RouteBody, principal: PrincipalDep, system: SystemDep) -> Any:
    """Create a route (owner or admin). A commerce route starts reading its source's orders.
    The accounting codes it names (journal, accounts, payment terms, debtor groups, items)
    are looked up in the target: one it lacks is a 422 naming the field."""
    return system.routes.create(principal, body.as_input())


@router.get("/{route_id}", response_model=RouteView)
def get(route_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return system.routes.get(principal, route_id)


@router.put("/{route_id}", response_model=RouteView)
def replace(route_id: str, body: RouteBody, principal: PrincipalDep, system: SystemDep) -> Any:
    """Replace a route (owner or admin); changed mapping rules get the next version, and
    draft invoices follow the new settings (booked ones stay). Its codes are checked as on
    create; cash-journal postings the target refused go again with the corrected block."""
    if body.id is not None and body.id != route_id:
        raise Invalid(f"the body is route {body.id}, not route {route_id} of the path", field="id")
    return system.routes.replace(principal, route_id, body.as_input())


@router.delete("/{route_id}", status_code=204, response_class=Response)
def delete(route_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
    """Remove a route (owner or admin). What it derived stays in the hub, but the route's
    memory of it goes: to stop a commerce route for a while, pause it (`active: false`), or
    a new route would derive its orders again."""
    system.routes.delete(principal, route_id)
    return Response(status_code=204)


@router.post(
    "/{route_id}/historical-import",
    response_model=HistoricalImportAnswer,
    response_model_exclude_none=True,
    response_model_by_alias=True,
    responses={
        200: {"description": "The plan of a dry run"},
        202: {"model": HistoricalImportAnswer, "description": "The import's job was queued"},
    },
)
def historical_import(
    route_id: str, body: HistoricalImportBody, principal: PrincipalDep, system: SystemDep,
    response: Response,
) -> Any:  # fmt: skip
    """Book the source's orders created in a date range as if after the start date. With
    `dry_run` (the default) only the plan: orders, totals, customers to create, problems.
    Without it (owner or admin) a job; follow it at `…/historical-import/{job_id}`."""
    answer = system.routes.historical_import(
        principal, route_id, body.from_, body.to, dry_run=body.dry_run
    )
    if not body.dry_run:
        response.status_code = 202
    return answer


class RoutePreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: dt.date = Field(alias="from", description="First day (order creation date)")
    to: dt.date = Field(description="Last day, included")


class RoutePreview(Preview):
    plan: HistoricalImportAnswer = Field(description="The dry run's plan")


@router.post(
    "/{route_id}/preview",
    response_model=RoutePreview,
    response_model_by_alias=True,
    response_model_exclude_none=True,
)
def preview(
    route_id: str, body: RoutePreviewBody, principal: PrincipalDep, system: SystemDep
) -> Any:
    """What a historical import of the range would do, in the shape of a connection's
    preview (`POST /connections/{id}/preview`): per stream the orders booked, unchanged and
    skipped with reasons and examples, decided by the import's own code, written nowhere."""
    return system.routes.preview(principal, route_id, body.from_, body.to)


@router.get(
    "/{route_id}/historical-import/{job_id}",
    response_model=HistoricalImportState,
    response_model_by_alias=True,
)
def historical_import_state(
    route_id: str, job_id: str, principal: PrincipalDep, system: SystemDep
) -> Any:
    return system.routes.historical_job(principal, route_id, job_id)
