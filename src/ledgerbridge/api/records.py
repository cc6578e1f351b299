"""CRUD over canonical records and the change feed.

No postponed annotations here: the routes are built in a loop, and FastAPI must see each
route's body model as a class, not as the name of a loop variable.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.api.input import BIGINT_MAX, INTEGER_MAX, strict_scalars, strict_type
from ledgerbridge.model import (
    ContactPerson,
    CustomField,
    Invoice,
    JournalPosting,
    Order,
    Party,
    Payment,
    Payout,
    PeriodStatistics,
    Product,
    Refund,
    StockLevel,
    VatCode,
)
from ledgerbridge.model.reasons import in_words
from ledgerbridge.model.references import references_of
from ledgerbridge.runtime.system import System
from ledgerbridge.services.records import IMMUTABLE, RecordView
from ledgerbridge.services.tenancy import Principal

router = APIRouter()
PatchBody = Annotated[
    dict[str, Any], Body(description="Fields to change; the result is validated whole")
]

RESOURCES: dict[str, tuple[str, type[BaseModel]]] = {
    "parties": ("party", Party),
    "contact-persons": ("contact_person", ContactPerson),
    "products": ("product", Product),
    "invoices": ("invoice", Invoice),
    "vat-codes": ("vat_code", VatCode),
    "payments": ("payment", Payment),
    "period-statistics": ("period_statistics", PeriodStatistics),
    "custom-fields": ("custom_field", CustomField),
    "orders": ("order", Order),
    "refunds": ("refund", Refund),
    "payouts": ("payout", Payout),
    "journal-postings": ("journal_posting", JournalPosting),
}


class SyncState(BaseModel):
    connection_id: str
    system: str | None = None
    stream: str | None = None
    remote_id: str | None = None
    url: str | None = None
    """The record's page in the system's own app, when the system has one."""
    issue: dict[str, str] | None = None


class Author(BaseModel):
    kind: str
    """``app`` (through the API: ``actor`` names its key or user), ``connection`` (a
    connection's sync, with its run), ``flow`` (a route's flow, with its run)."""
    name: str
    actor: str | None = None
    run_id: str | None = None
    connection_id: str | None = None
    route_id: str | None = None
    run_connection_id: str | None = None
    """The connection the run is logged on (a flow's run: its route's target or source)."""


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class VersionOut(BaseModel):
    version: int
    operation: str
    at: datetime
    by: Author
    changes: list[FieldChange]


class WriteOut(BaseModel):
    """One sync-log row about the record: a write to a system, a read from it, a skip or a
    failure with its reason, or a flow's step (``source_record_id``/``derived_record_id``)."""

    at: datetime
    connection_id: str
    connection: str
    system: str
    timezone: str
    stream: str
    direction: str
    outcome: str
    reason: str | None = None
    message: str | None = None
    run_id: str | None = None
    run_kind: str | None = None
    remote_id: str | None = None
    url: str | None = None
    source_record_id: str | None = None
    derived_record_id: str | None = None


class CreateOut(BaseModel):
    connection_id: str
    connection: str
    stream: str
    status: str
    remote_id: str | None = None
    error: str | None = None
    steps: dict[str, str | None]
    """Each step's state (``started``, ``done``, ``refused``) by its name."""
    step_labels: dict[str, str]
    """What each step does, in the system's users' words (sales order, order lines), by its
    name: the words the sync's messages use for it."""
    created_at: datetime
    updated_at: datetime


class HistoryOut(BaseModel):
    id: str
    entity: str
    version: int
    deleted: bool
    versions: list[VersionOut]
    writes: list[WriteOut]
    creates: list[CreateOut]


def _history(system: System, principal: Principal, entity: str, record_id: str) -> Any:
    found = system.history.history(principal, entity, record_id)
    return {
        "id": found.record_id,
        "entity": found.entity,
        "version": found.version,
        "deleted": found.deleted,
        "versions": found.versions,
        "writes": found.writes,
        "creates": found.creates,
    }


class ChangeOut(BaseModel):
    seq: int
    entity: str
    record_id: str
    operation: str
    version: int
    origin: str
    at: datetime


class ChangesPage(BaseModel):
    items: list[ChangeOut]
    next: int
    """Pass as ``after`` to get the changes that follow."""


def _out_model(model: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "id": (str, ...),
        "version": (int, ...),
        "origin": (str, ...),
        "created_at": (datetime, ...),
        "updated_at": (datetime, ...),
        "data": (dict[str, Any], ...),
        "sync": (list[SyncState], ...),
    }
    return create_model(f"{model.__name__}Record", **fields)


def _page_model(model: type[BaseModel], out: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {"items": (list[out], ...), "next": (str | None, None)}  # type: ignore[valid-type]
    return create_model(f"{model.__name__}Page", **fields)


def _dump(view: RecordView) -> dict[str, Any]:
    return {
        "id": view.id,
        "version": view.version,
        "origin": view.origin,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "data": view.data,
        "sync": view.sync,
    }


def _page(views: list[RecordView], limit: int) -> dict[str, Any]:
    """A page of records and the ``after`` of the next one (none when this one is not full)."""
    return {
        "items": [_dump(v) for v in views],
        "next": views[-1].id if len(views) == limit else None,
    }


def _filters_model(model: type[BaseModel], entity: str) -> type[BaseModel]:
    """A list's filters: each reference the entity holds (``party_id``, ``invoice_id``) keeps
    the records pointing at that record, so an app reads one customer's invoices or figures
    without paging through everyone's."""
    fields: dict[str, Any] = {
        ref.field: (
            str | None,
            Field(None, max_length=200, description=f"Only records of this {ref.target} (its id)"),
        )
        for ref in references_of(entity)
    }
    return create_model(f"{model.__name__}Filters", **fields)


def _check_patch(model: type[BaseModel], changes: dict[str, Any]) -> None:
    """A patch's booleans and integers are JSON booleans and integers, as in a whole body."""
    errors: list[dict[str, Any]] = []
    for name, value in changes.items():
        field = model.model_fields.get(name)
        if field is None or (strict := strict_type(field.annotation)) is field.annotation:
            continue
        try:
            TypeAdapter(strict).validate_python(value)
        except ValidationError as exc:
            errors += [
                {"loc": ("body", name, *e["loc"]), "msg": in_words(e), "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
    if errors:
        raise RequestValidationError(errors)


def _register(path: str, entity: str, model: type[BaseModel]) -> None:
    out = _out_model(model)
    out_list = _page_model(model, out)
    body_model = strict_scalars(model)
    # A record the app may not make nor change is refused whatever the body (409 saying
    # why), not first asked for a valid one.
    immutable = entity in IMMUTABLE
    replace_body: Any = PatchBody if immutable else body_model
    tag = path
    filters_model = _filters_model(model, entity)

    @router.post(
        f"/{path}",
        status_code=201,
        response_model=out,
        tags=[tag],
        name=f"create_{entity}",
        description=f"Always refused (409): {IMMUTABLE[entity]}" if immutable else None,
    )
    def create(body: replace_body, principal: PrincipalDep, system: SystemDep) -> Any:
        data = body if isinstance(body, dict) else body.model_dump(mode="json", exclude={"id"})
        return _dump(system.records.create(principal, entity, data))

    @router.get(f"/{path}", response_model=out_list, tags=[tag], name=f"list_{entity}")
    def list_(
        principal: PrincipalDep,
        system: SystemDep,
        filters: Annotated[filters_model, Query()],  # type: ignore[valid-type]
        limit: int = Query(100, ge=1, le=1000),
        after: str | None = Query(None, description="Last id of the previous page"),
        q: str | None = Query(
            None,
            max_length=200,
            description="Only records whose values hold each of these words, in any case",
        ),
    ) -> Any:
        where = {k: v for k, v in filters.model_dump().items() if v is not None}  # type: ignore[attr-defined]
        found = system.records.list_page(
            principal, entity, limit=limit, after=after, where=where, search=q
        )
        return _page(found, limit)

    @router.get(f"/{path}/{{record_id}}", response_model=out, tags=[tag], name=f"get_{entity}")
    def get(record_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
        return _dump(system.records.get(principal, entity, record_id))

    @router.get(
        f"/{path}/{{record_id}}/history",
        response_model=HistoryOut,
        tags=[tag],
        name=f"history_{entity}",
    )
    def history(record_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
        """Each version with its field changes and who made it, and each write to each
        connected system (run, outcome, remote id), skips with their reasons."""
        return _history(system, principal, entity, record_id)

    @router.put(f"/{path}/{{record_id}}", response_model=out, tags=[tag], name=f"replace_{entity}")
    def replace(
        record_id: str,
        body: replace_body,
        principal: PrincipalDep,
        system: SystemDep,
        if_version: int | None = Query(
            None, ge=0, le=INTEGER_MAX, description="Refuse with 409 unless at this version"
        ),
    ) -> Any:
        data = body if isinstance(body, dict) else body.model_dump(mode="json", exclude={"id"})
        return _dump(
            system.records.replace(principal, entity, record_id, data, if_version=if_version)
        )

    @router.patch(f"/{path}/{{record_id}}", response_model=out, tags=[tag], name=f"patch_{entity}")
    def patch(
        record_id: str,
        principal: PrincipalDep,
        system: SystemDep,
        body: PatchBody,
    ) -> Any:
        _check_patch(model, body)
        return _dump(system.records.patch(principal, entity, record_id, body))

    @router.delete(f"/{path}/{{record_id}}", status_code=204, tags=[tag], name=f"delete_{entity}")
    def delete(record_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
        system.records.delete(principal, entity, record_id)
        return Response(status_code=204)


for _path, (_entity, _model) in RESOURCES.items():
    _register(_path, _entity, _model)


_StockLevelOut = _out_model(StockLevel)
_StockLevelPage = _page_model(StockLevel, _StockLevelOut)


@router.get("/stock-levels", response_model=_StockLevelPage, tags=["stock-levels"])
def list_stock_levels(
    principal: PrincipalDep,
    system: SystemDep,
    product_id: str | None = Query(None, description="Only this hub product's stock"),
    warehouse: str | None = Query(None, description="Only this warehouse's stock"),
    limit: int = Query(100, ge=1, le=1000),
    after: str | None = Query(None, description="Last id of the previous page"),
) -> Any:
    """Stock per product and warehouse, as the accounting system reports it (read only: the
    accounting system owns stock)."""
    where = {"product_id": product_id, "warehouse": warehouse}
    views = system.records.list_page(
        principal,
        "stock_level",
        limit=limit,
        after=after,
        where={field: value for field, value in where.items() if value is not None},
    )
    return _page(views, limit)


@router.get("/stock-levels/{record_id}", response_model=_StockLevelOut, tags=["stock-levels"])
def get_stock_level(record_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return _dump(system.records.get(principal, "stock_level", record_id))


@router.get("/stock-levels/{record_id}/history", response_model=HistoryOut, tags=["stock-levels"])
def stock_level_history(record_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    return _history(system, principal, "stock_level", record_id)


@router.get("/changes", response_model=ChangesPage, tags=["changes"])
def changes(
    principal: PrincipalDep,
    system: SystemDep,
    after: int = Query(
        0, ge=0, le=BIGINT_MAX, description="Cursor: the `next` of the previous page"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    items, next_cursor = system.records.changes(principal, after, limit)
    return {"items": items, "next": next_cursor}
