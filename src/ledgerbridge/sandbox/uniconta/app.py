"""HTTP surface of the sandbox: Uniconta's OData read API, its REST CRUD API, admin endpoints.

Routes mirror ``odata.uniconta.com``: ``/odata/<CompanyId>/<Entity>`` and
``/api/Entities/{Insert|Update|Delete|Read}/<Entity>``. Uniconta's REST API cannot book an
invoice: that is the booking service's (``booking``), served on its own port. Everything
under ``/_sandbox/`` is sandbox-only tooling (no auth) for tests and the demo.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.types import Scope

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.uniconta.entities import (
    CATALOGUE,
    LOGIN_CATALOGUE,
    FieldType,
    InvalidValueError,
    Kind,
    coerce_input,
)
from ledgerbridge.sandbox.uniconta.metadata import metadata_xml
from ledgerbridge.sandbox.uniconta.odata import (
    OrderKey,
    QueryError,
    compile_query_filter,
    parse_non_negative,
    parse_orderby,
    parse_select,
    seek,
)
from ledgerbridge.sandbox.uniconta.state import (
    SandboxError,
    UnicontaSandbox,
    User,
    entity_def,
    row_to_json,
)

MAX_PAGE_SIZE = 1000
ODATA_MEDIA_TYPE = "application/json; odata.metadata=minimal; charset=utf-8"
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
Writer = Callable[[int, str, Sequence[Mapping[str, Any]]], list[dict[str, Any]]]
_SUPPORTED_OPTIONS = {"$filter", "$orderby", "$top", "$skip", "$select", "$count", "$format"}


def _dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON (Danish letters stay readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _odata_error(status: int, code: str, message: str) -> Response:
    """OData v4 error body ``{"error": {"code", "message"}}``."""
    return _error_response(status, {"error": {"code": code, "message": message}})


def _rest_error(status: int, code: str, message: str) -> Response:
    """REST error body ``{"ErrorCode", "Message"}`` (format inferred; Uniconta documents none)."""
    return _error_response(status, {"ErrorCode": code, "Message": message})


def _error_response(status: int, payload: Mapping[str, Any]) -> Response:
    """Error response; a 401 carries the Basic challenge so clients know how to log in."""
    headers = {"WWW-Authenticate": 'Basic realm="Uniconta"'} if status == 401 else None
    return Response(_dumps(payload), status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _json(payload: Any, media_type: str = JSON_MEDIA_TYPE) -> Response:
    """200 JSON response."""
    headers = {"OData-Version": "4.0"} if media_type == ODATA_MEDIA_TYPE else None
    return Response(_dumps(payload), 200, headers=headers, media_type=media_type)


def _base_url(request: Request) -> str:
    """Service root as the client reached it, for ``@odata.context`` and next links."""
    return str(request.base_url).rstrip("/")


def _parse_company(segment: str) -> int:
    """Company id from a path segment; a non-number cannot name a company the user has."""
    if not segment.isdigit():
        raise SandboxError("Forbidden", f"'{segment}' is not a company id", 403)
    return int(segment)


def create_app(sandbox: UnicontaSandbox) -> FastAPI:
    """Build the ASGI app serving one sandbox."""
    app = FastAPI(
        title="Uniconta sandbox",
        description="Simulator of Uniconta's OData/REST API for ledgerbridge tests and demos.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    async def login(request: Request, path_company: int | None) -> tuple[User, int]:
        """Authenticate, authorise the company, count the call and apply any throttle delay."""
        user, company_id = sandbox.authenticate(request.headers.get("authorization"))
        if path_company is not None:
            sandbox.authorize(user, path_company)
            company_id = path_company
        delay = sandbox.record_call(company_id, user.username)
        if delay > 0:
            await asyncio.sleep(delay)
        return user, company_id

    async def odata_call(request: Request, company: str | None, entity: str | None) -> Response:
        """Shared OData handler: errors become OData error bodies."""
        try:
            path_company = _parse_company(company) if company is not None else None
            user, company_id = await login(request, path_company)
            if entity == "$metadata":
                return Response(
                    metadata_xml(),
                    headers={"OData-Version": "4.0"},
                    media_type="application/xml; charset=utf-8",
                )
            if entity is None:
                return _service_document(request)
            return _query(sandbox, request, user, company_id, entity)
        except SandboxError as exc:
            return _odata_error(exc.status, exc.code, exc.message)
        except QueryError as exc:
            return _odata_error(
                400, "InvalidQuery", f"The query specified in the URI is not valid. {exc}"
            )

    @app.get("/odata", include_in_schema=False)
    async def odata_root(request: Request) -> Response:
        """Service document of the user's standard company."""
        return await odata_call(request, None, None)

    @app.get("/odata/{segment}", include_in_schema=False)
    async def odata_one(request: Request, segment: str) -> Response:
        """``/odata/<CompanyId>`` (service document), ``/odata/$metadata`` or
        ``/odata/<Entity>`` in the standard company.
        """
        if segment.isdigit():
            return await odata_call(request, segment, None)
        return await odata_call(request, None, segment)

    @app.get("/odata/{company}/{entity}", include_in_schema=False)
    async def odata_entity(request: Request, company: str, entity: str) -> Response:
        """``/odata/<CompanyId>/<Entity>`` with query options."""
        return await odata_call(request, company, entity)

    async def read_body(request: Request) -> tuple[list[Mapping[str, Any]], bool]:
        """Parse a write body: one object or an array of objects (a batch)."""
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SandboxError("InvalidRequest", f"Request body is not valid JSON: {exc}") from exc
        if isinstance(payload, dict):
            return [payload], False
        if isinstance(payload, list) and all(isinstance(item, dict) for item in payload):
            return payload, True
        raise SandboxError(
            "InvalidRequest", "Request body must be a JSON object or an array of objects"
        )

    async def list_rows(request: Request, entity: str) -> Response:
        """Shared body of the two REST read routes."""

        async def handle() -> Response:
            """Authenticate, then list the rows."""
            user, company_id = await login(request, None)
            return _rest_list(sandbox, request, user, company_id, entity)

        return await _guard(handle)

    async def write(request: Request, entity: str, apply: Writer) -> Response:
        """Shared body of the REST writes; answers in the shape sent (object or array)."""

        async def handle() -> Response:
            """Authenticate, parse the body and apply the write."""
            _, company_id = await login(request, None)
            entity_def(entity)
            items, batch = await read_body(request)
            rows = apply(company_id, entity, items)
            return _json(rows if batch else rows[0])

        return await _guard(handle)

    @app.get("/api/Entities/{entity}", tags=["Uniconta REST"])
    async def rest_list(request: Request, entity: str) -> Response:
        """All rows of an entity, optionally filtered by ``?Name=<Field>&Value=<value>``."""
        return await list_rows(request, entity)

    @app.get("/api/Entities/Read/{entity}", tags=["Uniconta REST"])
    async def rest_read(request: Request, entity: str) -> Response:
        """Same as ``GET /api/Entities/<Entity>``."""
        return await list_rows(request, entity)

    @app.post("/api/Entities/Insert/{entity}", tags=["Uniconta REST"])
    async def rest_insert(request: Request, entity: str) -> Response:
        """Insert one object or a batch; returns the stored row(s) with RowId and Created."""
        return await write(request, entity, sandbox.api_insert)

    @app.post("/api/Entities/InsertList/{entity}", tags=["Uniconta REST"])
    async def rest_insert_list(request: Request, entity: str) -> Response:
        """Insert a JSON array of rows, all or none; returns the stored rows."""
        return await write(request, entity, sandbox.api_insert)

    @app.put("/api/Entities/Update/{entity}", tags=["Uniconta REST"])
    async def rest_update(request: Request, entity: str) -> Response:
        """Replace one entity or a batch with the full entity sent."""
        return await write(request, entity, sandbox.api_update)

    @app.delete("/api/Entities/Delete/{entity}", tags=["Uniconta REST"])
    async def rest_delete(request: Request, entity: str) -> Response:
        """Delete the row(s) identified by key in the body; returns the deleted row(s)."""
        return await write(request, entity, sandbox.api_delete)

    _add_admin_routes(app, sandbox)
    return app


async def _guard(handler: Callable[[], Awaitable[Response]]) -> Response:
    """Run a REST handler, mapping refusals to ``{"ErrorCode", "Message"}`` bodies."""
    try:
        return await handler()
    except SandboxError as exc:
        return _rest_error(exc.status, exc.code, exc.message)


def _service_document(request: Request) -> Response:
    """OData service document listing every entity set."""
    base = _base_url(request)
    return _json(
        {
            "@odata.context": f"{base}/odata/$metadata",
            "value": [
                {"name": entity.name, "kind": "EntitySet", "url": entity.name}
                for entity in (*CATALOGUE, *LOGIN_CATALOGUE)
            ],
        },
        ODATA_MEDIA_TYPE,
    )


def _query(
    sandbox: UnicontaSandbox, request: Request, user: User, company_id: int, entity: str
) -> Response:
    """Apply ``$filter``/``$orderby``/``$skip``/``$top``/``$select``/``$count`` to an entity set.

    At most ``MAX_PAGE_SIZE`` rows are returned per response; when more were asked for (or no
    ``$top`` was given) an ``@odata.nextLink`` continues with ``$skip``. Rows come from a
    sorted list the company caches, and filtering stops once the page is full, so keyset
    paging (``RowId gt <last>``) does not re-sort or re-scan the whole table per page.
    """
    definition = entity_def(entity)
    params = request.query_params
    for name in params:
        if name.startswith("$") and name not in _SUPPORTED_OPTIONS:
            raise QueryError(f"Query option '{name}' is not supported")
    compiled = compile_query_filter(params["$filter"], definition) if "$filter" in params else None
    order = parse_orderby(params["$orderby"], definition) if "$orderby" in params else []
    select = parse_select(params["$select"], definition) if "$select" in params else None
    top = parse_non_negative("$top", params["$top"]) if "$top" in params else None
    skip = parse_non_negative("$skip", params["$skip"]) if "$skip" in params else 0
    count = params.get("$count", "false").lower()
    if count not in ("true", "false"):
        raise QueryError(f"Invalid value {params['$count']!r} for $count: use true or false")
    fmt = params.get("$format", "json").lower()
    if fmt not in ("json", "application/json"):
        raise QueryError(f"Unsupported $format {params['$format']!r}; only json is available")

    if order == [OrderKey(name, descending=False) for name in definition.keys]:
        order = []
    rows = sandbox.read(user, company_id, entity, order)
    limit = MAX_PAGE_SIZE if top is None else min(top, MAX_PAGE_SIZE)
    matches: Iterable[Mapping[str, Any]] = rows
    if compiled is not None:
        leading = order[0] if order else OrderKey(definition.keys[0], descending=False)
        start = 0 if leading.descending else seek(rows, leading.field, compiled.bounds)
        predicate = compiled.predicate
        matches = (row for row in islice(rows, start, None) if predicate(row))
    total: int | None = None
    if count == "true":
        matched = list(matches)
        total = len(matched)
        window = matched[: skip + limit + 1]
    else:
        window = list(islice(matches, skip + limit + 1))
    page = window[skip : skip + limit]
    more = len(window) > skip + limit
    base = _base_url(request)
    context = f"{base}/odata/$metadata#{entity}"
    if select is not None:
        context += "(" + ",".join(select) + ")"
    body: dict[str, Any] = {"@odata.context": context}
    if total is not None:
        body["@odata.count"] = total
    body["value"] = [row_to_json(row, select) for row in page]
    wanted_more = top is None or top > len(page)
    if wanted_more and more and len(page) == MAX_PAGE_SIZE:
        next_params = {
            name: value for name, value in params.items() if name not in ("$skip", "$top")
        }
        next_params["$skip"] = str(skip + len(page))
        if top is not None:
            next_params["$top"] = str(top - len(page))
        body["@odata.nextLink"] = (
            f"{base}{request.url.path}?{urlencode(next_params, quote_via=quote, safe='$')}"
        )
    return _json(body, ODATA_MEDIA_TYPE)


def _rest_list(
    sandbox: UnicontaSandbox, request: Request, user: User, company_id: int, entity: str
) -> Response:
    """``GET /api/Entities/<Entity>[?Name=<Field>&Value=<value>]``: a JSON array of rows."""
    definition = entity_def(entity)
    rows = sandbox.read(user, company_id, entity)
    name = request.query_params.get("Name")
    value = request.query_params.get("Value")
    if name is not None or value is not None:
        if name is None or value is None:
            raise SandboxError("InvalidRequest", "Name and Value must be given together")
        ftype = definition.fields.get(name)
        if ftype is None:
            raise SandboxError(
                "FieldNotFound", f"Property '{name}' does not exist on {definition.name}"
            )
        wanted = _parse_query_value(ftype, value, definition.name, name)
        rows = [row for row in rows if row.get(name) == wanted]
    return _json([row_to_json(row) for row in rows])


def _parse_query_value(ftype: FieldType, text: str, entity: str, name: str) -> Any:
    """Convert a ``Value=`` query string to the property's stored type."""
    candidate: Any = text
    try:
        if ftype.kind in (Kind.INT, Kind.DECIMAL):
            candidate = json.loads(text)
        elif ftype.kind is Kind.BOOL:
            candidate = {"true": True, "false": False}.get(text.lower(), text)
        return coerce_input(ftype, candidate)
    except (json.JSONDecodeError, InvalidValueError) as exc:
        raise SandboxError(
            "InvalidValue", f"{entity}: Value {text!r} does not fit property '{name}': {exc}"
        ) from exc


class ChangeUrlBody(BaseModel):
    """Body of ``PUT /_sandbox/companies/{id}/change-url``."""

    url: str | None = None
    post_body: bool = False


class PaymentBody(BaseModel):
    """Body of ``POST /_sandbox/companies/{id}/payments``: a bank payment of an invoice."""

    invoice: int
    amount: Decimal
    date: dt.date | None = None


class FailPostingsBody(BaseModel):
    """Body of ``POST /_sandbox/companies/{id}/fail-postings``."""

    message: str
    count: int = 1


class PostOrderBody(BaseModel):
    """Body of ``POST /_sandbox/companies/{id}/orders/{order}/post``."""

    date: dt.date | None = None
    invoice_number: int = 0


class StockBody(BaseModel):
    """Body of ``PUT /_sandbox/companies/{id}/stock``."""

    item: str
    warehouse: str
    qty: Decimal


def _add_admin_routes(app: FastAPI, sandbox: UnicontaSandbox) -> None:
    """Sandbox-only endpoints (no auth): inspect calls, set the Change URL, act as a UI user."""

    def admin(handler: Callable[[], Any]) -> Response:
        """Run an admin action, answering its result as JSON or its refusal as a REST error."""
        try:
            return _json(handler())
        except SandboxError as exc:
            return _rest_error(exc.status, exc.code, exc.message)

    @app.get("/_sandbox/health", tags=["sandbox admin"])
    def health() -> Response:
        """Liveness plus the companies present and callback delivery counts."""
        return admin(
            lambda: {
                "status": "ok",
                "companies": [c.company_id for c in sandbox.companies()],
                "callbacks": sandbox.callback_stats(),
            }
        )

    @app.get("/_sandbox/companies/{company_id}/calls", tags=["sandbox admin"])
    def calls(company_id: int) -> Response:
        """API calls per user today and in total, with throttle state."""
        return admin(lambda: sandbox.call_report(company_id))

    @app.put("/_sandbox/companies/{company_id}/change-url", tags=["sandbox admin"])
    def change_url(company_id: int, body: ChangeUrlBody) -> Response:
        """Set or clear (``url: null``) the company's Change URL."""

        def handle() -> dict[str, Any]:
            """The admin action itself."""
            sandbox.set_change_url(company_id, body.url, body.post_body)
            url, post_body = sandbox.change_url(company_id)
            return {"company_id": company_id, "url": url, "post_body": post_body}

        return admin(handle)

    @app.post("/_sandbox/companies/{company_id}/payments", tags=["sandbox admin"])
    def register_payment(company_id: int, body: PaymentBody) -> Response:
        """Pay (part of) an invoice, as bank reconciliation in Uniconta would."""
        return admin(
            lambda: sandbox.register_payment(company_id, body.invoice, body.amount, body.date)
        )

    @app.post("/_sandbox/companies/{company_id}/journals/{journal}/book", tags=["sandbox admin"])
    def book_journal(company_id: int, journal: str) -> Response:
        """Book a cash journal's lines, as a person does in Uniconta once they approved them."""
        return admin(lambda: sandbox.book_journal(company_id, journal))

    @app.get("/_sandbox/companies/{company_id}/payments", tags=["sandbox admin"])
    def payments(company_id: int) -> Response:
        """Payments registered so far."""
        return admin(lambda: sandbox.payments(company_id))

    @app.post("/_sandbox/companies/{company_id}/fail-postings", tags=["sandbox admin"])
    def fail_postings(company_id: int, body: FailPostingsBody) -> Response:
        """Make the next bookings through the booking service fail with
        ``InvoiceGenerationFailed``."""

        def handle() -> dict[str, Any]:
            """The admin action itself."""
            try:
                sandbox.fail_next_postings(company_id, body.message, body.count)
            except ValueError as exc:
                raise SandboxError("InvalidValue", str(exc)) from exc
            return {"company_id": company_id, "failing_postings": body.count}

        return admin(handle)

    @app.post("/_sandbox/companies/{company_id}/orders/{order_number}/post", tags=["sandbox admin"])
    def post_order(company_id: int, order_number: int, body: PostOrderBody) -> Response:
        """Post an order as a UI user (no API call counted); returns the invoice."""
        return admin(
            lambda: sandbox.post_order(company_id, order_number, body.date, body.invoice_number)
        )

    @app.put("/_sandbox/companies/{company_id}/stock", tags=["sandbox admin"])
    def set_stock(company_id: int, body: StockBody) -> Response:
        """Set an item's quantity in a warehouse (fires the InvItemStorage callback)."""
        return admin(lambda: sandbox.set_stock(company_id, body.item, body.warehouse, body.qty))

    @app.post("/_sandbox/companies/{company_id}/{entity}", tags=["sandbox admin"])
    async def ui_insert(request: Request, company_id: int, entity: str) -> Response:
        """Create a record as a UI user (fires the Change URL callback)."""
        payload = await _admin_body(request)
        if isinstance(payload, Response):
            return payload
        return admin(lambda: sandbox.insert(company_id, entity, payload))

    @app.get("/_sandbox/companies/{company_id}/{entity}/{key}", tags=["sandbox admin"])
    def ui_get(company_id: int, entity: str, key: str) -> Response:
        """Read one record without counting an API call."""

        def handle() -> dict[str, Any]:
            """The admin action itself."""
            row = sandbox.get(company_id, entity, key)
            if row is None:
                raise SandboxError("RecordNotFound", f"{entity} {key!r} does not exist", 404)
            return row

        return admin(handle)

    @app.post("/_sandbox/companies/{company_id}/{entity}/{key}", tags=["sandbox admin"])
    async def ui_update(request: Request, company_id: int, entity: str, key: str) -> Response:
        """Partially change a record as a UI user (fires the Change URL callback)."""
        payload = await _admin_body(request)
        if isinstance(payload, Response):
            return payload
        return admin(lambda: sandbox.update(company_id, entity, key, payload))

    @app.delete("/_sandbox/companies/{company_id}/{entity}/{key}", tags=["sandbox admin"])
    def ui_delete(company_id: int, entity: str, key: str) -> Response:
        """Delete a record as a UI user (fires the Change URL callback)."""

        def handle() -> dict[str, Any]:
            """The admin action itself."""
            sandbox.delete(company_id, entity, key)
            return {"deleted": key}

        return admin(handle)


async def _admin_body(request: Request) -> dict[str, Any] | Response:
    """JSON object body of an admin write, or the 400 response to send instead."""
    try:
        payload = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _rest_error(400, "InvalidRequest", f"Request body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return _rest_error(400, "InvalidRequest", "Request body must be a JSON object")
    return payload


def _throttled(scope: Scope, retry_after: int) -> Response:
    """What a throttling gateway in front of Uniconta answers (Uniconta itself slows calls
    down rather than refusing them, and documents no 429 body)."""
    response = _rest_error(429, "TooManyRequests", "Too many requests; retry later.")
    response.headers["Retry-After"] = str(retry_after)
    return response


FAULTS = VendorFaults(
    error=lambda scope: _rest_error(500, "InternalServerError", "An internal error occurred."),
    throttle=_throttled,
)
"""Uniconta authenticates every call with Basic auth: no session call to spare."""


def serve(
    sandbox: UnicontaSandbox,
    host: str = "127.0.0.1",
    port: int = 8765,
    faults: FaultPlan | None = None,
) -> None:
    """Run the sandbox with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A sandbox served by uvicorn on a background thread, for tests and benchmarks.

    ``port=0`` picks a free port; ``base_url`` tells where it landed.
    """

    name = "Uniconta sandbox"

    def __init__(
        self,
        sandbox: UnicontaSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox

    def app(self) -> Any:
        return create_app(self.sandbox)
