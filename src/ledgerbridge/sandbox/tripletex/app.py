"""HTTP surface of the sandbox: Tripletex API v2 under ``/production/v2`` and ``/test/v2``.

Tripletex serves production at ``https://tripletex.no/v2`` and its test environment at
``https://api-test.tripletex.tech/v2``, with separate tokens. One sandbox server plays both, one
per path prefix, so a token from one environment fails on the other exactly as it would across
the two hosts. Paths, parameter names and envelopes are the official spec's; the ``:action``
and ``>summary`` segments are literal. Everything under ``/_sandbox/`` is sandbox-only tooling
(no auth) for tests and the demo.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.tripletex import queries
from ledgerbridge.sandbox.tripletex.books import Book, to_decimal
from ledgerbridge.sandbox.tripletex.errors import (
    BAD_REQUEST,
    INVALID_JSON,
    NOT_FOUND,
    PATH_PARAM,
    RATE_LIMIT,
    TripletexError,
    not_found,
    param_error,
    validation_error,
)
from ledgerbridge.sandbox.tripletex.render import (
    OSLO,
    Renderer,
    Row,
    check_selection,
    dumps,
    parse_fields,
    sort_rows,
    version_digest,
)
from ledgerbridge.sandbox.tripletex.state import (
    ENVIRONMENTS,
    EVENTS,
    Auth,
    RateStatus,
    TripletexSandbox,
)

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
DEFAULT_COUNT = 1000
Handler = Callable[["Ctx"], "Result"]


@dataclass
class Result:
    """What a handler answers: a JSON payload (``None`` for 204) and the status."""

    payload: Any
    status: int = 200


class Query:
    """Typed access to query parameters; malformed values are 422/21000 like Tripletex."""

    def __init__(self, request: Request) -> None:
        self._params = request.query_params

    def text(self, name: str) -> str | None:
        """A string parameter, ``None`` when absent."""
        return self._params.get(name)

    def required(self, name: str) -> str:
        """A parameter the spec marks as required."""
        value = self._params.get(name)
        if value is None or value == "":
            raise param_error(name, "is required")
        return value

    def integer(
        self, name: str, default: int | None = None, minimum: int | None = None
    ) -> int | None:
        """An integer parameter."""
        value = self._params.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError as exc:
            raise param_error(name, f"{value!r} is not an integer") from exc
        if minimum is not None and number < minimum:
            raise param_error(name, f"must be at least {minimum}")
        return number

    def required_int(self, name: str) -> int:
        """An integer parameter the spec marks as required."""
        self.required(name)
        value = self.integer(name)
        assert value is not None
        return value

    def ids(self, name: str) -> list[int] | None:
        """A "List of IDs": comma-separated integers."""
        value = self._params.get(name)
        if value is None or value.strip() == "":
            return None
        try:
            return [int(part) for part in value.split(",") if part.strip()]
        except ValueError as exc:
            raise param_error(name, f"{value!r} is not a comma-separated list of ids") from exc

    def strings(self, name: str) -> list[str] | None:
        """An array parameter (repeated, or comma-separated)."""
        values = self._params.getlist(name)
        if not values:
            return None
        return [part for value in values for part in value.split(",") if part]

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """A boolean parameter (``true``/``false``)."""
        value = self._params.get(name)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise param_error(name, f"{value!r} is not true or false")
        return lowered == "true"

    def decimal(self, name: str) -> Decimal | None:
        """A number parameter."""
        value = self._params.get(name)
        if value is None or value == "":
            return None
        try:
            return to_decimal(value, name)
        except TripletexError as exc:
            raise param_error(name, f"{value!r} is not a number below 10^12") from exc

    def day(self, name: str, required: bool = False) -> date | None:
        """A ``YYYY-MM-DD`` parameter."""
        value = self.required(name) if required else self._params.get(name)
        if value is None or value == "":
            return None
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise param_error(name, f"{value!r} is not a date (YYYY-MM-DD)") from exc

    def required_day(self, name: str) -> date:
        """A required ``YYYY-MM-DD`` parameter."""
        value = self.day(name, required=True)
        assert value is not None
        return value

    def moment(self, name: str) -> datetime | None:
        """A date or ``YYYY-MM-DDThh:mm:ss`` parameter, Norwegian local time unless offset."""
        value = self._params.get(name)
        if value is None or value == "":
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise param_error(name, f"{value!r} is not a date or date-time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=OSLO)

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        """An enum parameter."""
        value = self._params.get(name)
        if value is None or value == "":
            return None
        if value not in allowed:
            raise param_error(name, f"{value!r} is not one of {', '.join(allowed)}")
        return value


class Ctx:
    """One API call: who is calling, in which company, and how to render the answer."""

    def __init__(
        self,
        sandbox: TripletexSandbox,
        request: Request,
        environment: str,
        auth: Auth | None,
        body: Any,
    ) -> None:
        self.sandbox = sandbox
        self.request = request
        self.environment = environment
        self._auth = auth
        self.body = body
        self.query = Query(request)
        self.base_url = f"{str(request.base_url).rstrip('/')}/{environment}/v2"

    @property
    def auth(self) -> Auth:
        """The caller (only on authenticated routes)."""
        assert self._auth is not None
        return self._auth

    @property
    def book(self) -> Book:
        """Data of the company the call acts in."""
        return self.sandbox.book(self.auth.company_id)

    def renderer(self) -> Renderer:
        """Renderer resolving references in the company the call acts in."""
        if self._auth is None:
            return Renderer(self.base_url, lambda m, i: self.sandbox.shared.get(m, {}).get(i))
        book = self.book
        return Renderer(self.base_url, lambda m, i: book.get(m, i))

    def selection(self, model_name: str) -> Any:
        """Parsed and checked ``fields`` for a model."""
        selection = parse_fields(self.query.text("fields"))
        check_selection(selection, model_name)
        return selection

    def single(self, row: Row, model_name: str, status: int = 200) -> Result:
        """``{"value": {...}}``."""
        selection = self.selection(model_name)
        return Result({"value": self.renderer().render(row, model_name, selection)}, status)

    def listing(self, rows: Sequence[Row], model_name: str) -> Result:
        """``{fullResultSize, from, count, versionDigest, values}`` with sorting and paging."""
        selection = self.selection(model_name)
        renderer = self.renderer()
        ordered = sort_rows(rows, self.query.text("sorting"), model_name, renderer.resolve)
        start = self.query.integer("from", 0, minimum=0) or 0
        count = self.query.integer("count", DEFAULT_COUNT, minimum=0)
        page = ordered[start : start + (DEFAULT_COUNT if count is None else count)]
        return Result(
            {
                "fullResultSize": len(ordered),
                "from": start,
                "count": len(page),
                "versionDigest": version_digest(ordered, self.query.text("fields")),
                "values": [renderer.render(row, model_name, selection) for row in page],
            }
        )

    def get(self, model_name: str, object_id: str) -> Row:
        """A row of the company by path id (404 if missing)."""
        row = self.book.get(model_name, path_id(object_id))
        if row is None:
            raise not_found(model_name, object_id)
        return row


def _one(model_name: str) -> Handler:
    """Handler for ``GET /<model>/{id}`` in the caller's company."""

    def handler(ctx: Ctx) -> Result:
        return ctx.single(ctx.get(model_name, ctx.request.path_params["id"]), model_name)

    return handler


def path_id(text: str) -> int:
    """An ``{id}`` path segment (400/12000 when it is not a number)."""
    try:
        return int(text)
    except ValueError as exc:
        raise TripletexError(400, PATH_PARAM, f"Invalid path parameter id: {text!r}.") from exc


def _headers(request_id: str, rate: RateStatus | None) -> dict[str, str]:
    """``x-tlx-request-id`` and the three rate-limit headers on every response."""
    headers = {"x-tlx-request-id": request_id}
    if rate is not None:
        headers["X-Rate-Limit-Limit"] = str(rate.limit)
        headers["X-Rate-Limit-Remaining"] = str(rate.remaining)
        headers["X-Rate-Limit-Reset"] = str(rate.reset)
    return headers


def _error_response(error: TripletexError, request_id: str, rate: RateStatus | None) -> Response:
    """An ``ApiError`` response."""
    return Response(
        dumps(error.body(request_id)),
        error.status,
        headers=_headers(request_id, rate),
        media_type=JSON_MEDIA_TYPE,
    )


async def _read_json(request: Request) -> Any:
    """The request body as JSON (422/22000 when it is not)."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TripletexError(422, INVALID_JSON, f"Invalid JSON in request body: {exc}") from exc


def create_app(sandbox: TripletexSandbox) -> FastAPI:
    """Build the ASGI app serving one sandbox (both environments)."""
    app = FastAPI(
        title="Tripletex sandbox",
        description="Simulator of Tripletex API v2 for ledgerbridge tests and demos.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    async def call(
        request: Request,
        environment: str,
        handler: Handler,
        *,
        auth: bool = True,
        client_root: bool = False,
        body: bool = False,
    ) -> Response:
        """Authenticate, count against the rate limit, run the handler under the lock."""
        request_id = str(uuid.uuid4())
        host = request.client.host if request.client else "unknown"
        rate: RateStatus | None = None
        try:
            if environment not in ENVIRONMENTS:
                rate = sandbox.take_rate(("anonymous", host))
                raise TripletexError(404, NOT_FOUND, f"No such environment {environment!r}.")
            caller: Auth | None = None
            if auth:
                try:
                    caller = sandbox.authenticate(
                        environment, request.headers.get("authorization"), client_root
                    )
                except TripletexError:
                    rate = sandbox.take_rate(("anonymous", environment, host))
                    raise
                rate = sandbox.take_rate(
                    (
                        "employee",
                        environment,
                        str(caller.token.consumer_id),
                        str(caller.employee.id),
                    )
                )
            else:
                rate = sandbox.take_rate(("anonymous", environment, host))
            if not rate.allowed:
                raise TripletexError(
                    429,
                    RATE_LIMIT,
                    "Too many requests: the rate limit for this period is used up.",
                )
            payload = await _read_json(request) if body else None
            ctx = Ctx(sandbox, request, environment, caller, payload)
            with sandbox.lock:
                result = handler(ctx)
                content = b"" if result.payload is None else dumps(result.payload)
        except TripletexError as exc:
            return _error_response(exc, request_id, rate)
        return Response(
            content,
            result.status,
            headers=_headers(request_id, rate),
            media_type=JSON_MEDIA_TYPE,
        )

    def route(
        method: str,
        path: str,
        handler: Handler,
        *,
        auth: bool = True,
        client_root: bool = False,
        body: bool = False,
    ) -> None:
        """Register one spec operation under ``/{environment}/v2``."""

        async def endpoint(request: Request) -> Response:
            environment = request.path_params["environment"]
            return await call(
                request, environment, handler, auth=auth, client_root=client_root, body=body
            )

        endpoint.__name__ = f"{method.lower()}_{path}"
        app.add_api_route(
            f"/{{environment}}/v2{path}",
            endpoint,
            methods=[method],
            include_in_schema=False,
        )

    _token_routes(route, sandbox)
    _company_routes(route, sandbox)
    _customer_and_product_routes(route)
    _sales_routes(route)
    _ledger_routes(route)
    _event_routes(route, sandbox)
    _add_admin_routes(app, sandbox)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown paths and methods answer with Tripletex's error envelope."""
        code = NOT_FOUND if exc.status_code == 404 else BAD_REQUEST
        error = TripletexError(exc.status_code, code, f"{exc.detail}: {request.url.path}")
        host = request.client.host if request.client else "unknown"
        return _error_response(error, str(uuid.uuid4()), sandbox.take_rate(("anonymous", host)))

    return app


Route = Callable[..., None]


def _token_routes(route: Route, sandbox: TripletexSandbox) -> None:
    """``/token/session``: create (legacy PUT with query, POST with body), whoAmI, delete."""

    def create_put(ctx: Ctx) -> Result:
        session = sandbox.create_session(
            ctx.environment,
            ctx.query.text("consumerToken"),
            ctx.query.text("employeeToken"),
            ctx.query.text("expirationDate"),
        )
        return ctx.single(sandbox.session_row(session), "SessionToken")

    def create_post(ctx: Ctx) -> Result:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        values = {
            name: body.get(name) for name in ("consumerToken", "employeeToken", "expirationDate")
        }
        for name, value in values.items():
            if value is not None and not isinstance(value, str):
                raise param_error(name, "must be a string")
        session = sandbox.create_session(
            ctx.environment,
            values["consumerToken"],
            values["employeeToken"],
            values["expirationDate"],
        )
        return ctx.single(sandbox.session_row(session), "SessionToken", status=201)

    def who_am_i(ctx: Ctx) -> Result:
        return ctx.single(sandbox.who_am_i(ctx.auth), "LoggedInUserInfo")

    def delete(ctx: Ctx) -> Result:
        sandbox.delete_session(ctx.auth, ctx.request.path_params["token"])
        return Result(None, 204)

    route("PUT", "/token/session/:create", create_put, auth=False)
    route("POST", "/token/session/:create", create_post, auth=False, body=True)
    route("GET", "/token/session/>whoAmI", who_am_i, client_root=True)
    route("DELETE", "/token/session/{token}", delete, client_root=True)


def _company_routes(route: Route, sandbox: TripletexSandbox) -> None:
    """``/company/>withLoginAccess`` and ``/company/{id}``."""

    def with_login_access(ctx: Ctx) -> Result:
        return ctx.listing(sandbox.clients(ctx.auth), "Client")

    def company(ctx: Ctx) -> Result:
        company_id = path_id(ctx.request.path_params["id"])
        if company_id != ctx.auth.company_id:
            raise not_found("Company", company_id)
        return ctx.single(sandbox.shared["Company"][company_id], "Company")

    route("GET", "/company/>withLoginAccess", with_login_access, client_root=True)
    route("GET", "/company/{id}", company)


def _customer_and_product_routes(route: Route) -> None:
    """``/customer``, ``/product`` and ``/ledger/vatType``."""

    def customers(ctx: Ctx) -> Result:
        q = ctx.query
        rows = queries.customers(
            ctx.book,
            ids=q.ids("id"),
            numbers=q.ids("customerAccountNumber"),
            organization_number=q.text("organizationNumber"),
            email=q.text("email"),
            invoice_email=q.text("invoiceEmail"),
            name=q.text("customerName"),
            mobile=q.text("phoneNumberMobile"),
            inactive=q.boolean("isInactive", False),
            manager_ids=q.ids("accountManagerId"),
            changed_since=q.moment("changedSince"),
        )
        return ctx.listing(rows, "Customer")

    def products(ctx: Ctx) -> Result:
        q = ctx.query
        numbers = q.strings("productNumber") or []
        numbers += [str(n) for n in q.ids("number") or []]
        flags = {
            name: value
            for name, value in (
                ("isInactive", q.boolean("isInactive")),
                ("isStockItem", q.boolean("isStockItem")),
                ("hasSupplierProductConnected", q.boolean("isSupplierProduct")),
            )
            if value is not None
        }
        references = {
            field: ids
            for field, ids in (
                ("supplier", q.ids("supplierId")),
                ("currency", q.ids("currencyId")),
                ("vatType", q.ids("vatTypeId")),
                ("productUnit", q.ids("productUnitId")),
                ("department", q.ids("departmentId")),
                ("account", q.ids("accountId")),
            )
            if ids is not None
        }
        prices = {
            field: (q.decimal(f"{field}From"), q.decimal(f"{field}To"))
            for field in (
                "costExcludingVatCurrency",
                "priceExcludingVatCurrency",
                "priceIncludingVatCurrency",
            )
        }
        rows = queries.products(
            ctx.book,
            ids=q.ids("ids"),
            product_numbers=numbers or None,
            name=q.text("name"),
            ean=q.text("ean"),
            flags=flags,
            references=references,
            price_ranges=prices,
        )
        return ctx.listing(rows, "Product")

    def vat_types(ctx: Ctx) -> Result:
        q = ctx.query
        q.day("vatDate")
        q.boolean("shouldIncludeSpecificationTypes")
        numbers = q.text("number")
        rows = queries.vat_types(
            ctx.sandbox.shared["VatType"].values(),
            ids=q.ids("id"),
            numbers=[n.strip() for n in numbers.split(",")] if numbers else None,
            type_of_vat=q.choice(
                "typeOfVat", ("OUTGOING", "INCOMING", "INCOMING_INVOICE", "PROJECT", "LEDGER")
            ),
        )
        return ctx.listing(rows, "VatType")

    def create_customer(ctx: Ctx) -> Result:
        row = ctx.book.create_customer(ctx.body, ctx.auth.employee.id)
        return ctx.single(row, "Customer", status=201)

    def update_customer(ctx: Ctx) -> Result:
        object_id = path_id(ctx.request.path_params["id"])
        return ctx.single(
            ctx.book.update_customer(object_id, ctx.body, ctx.auth.employee.id), "Customer"
        )

    def create_product(ctx: Ctx) -> Result:
        row = ctx.book.create_product(ctx.body, ctx.auth.employee.id)
        return ctx.single(row, "Product", status=201)

    def update_product(ctx: Ctx) -> Result:
        object_id = path_id(ctx.request.path_params["id"])
        return ctx.single(
            ctx.book.update_product(object_id, ctx.body, ctx.auth.employee.id), "Product"
        )

    def vat_type(ctx: Ctx) -> Result:
        row = ctx.sandbox.shared["VatType"].get(path_id(ctx.request.path_params["id"]))
        if row is None:
            raise not_found("VatType", ctx.request.path_params["id"])
        return ctx.single(row, "VatType")

    route("GET", "/customer", customers)
    route("POST", "/customer", create_customer, body=True)
    route("GET", "/customer/{id}", _one("Customer"))
    route("PUT", "/customer/{id}", update_customer, body=True)
    route("GET", "/product", products)
    route("POST", "/product", create_product, body=True)
    route("GET", "/product/{id}", _one("Product"))
    route("PUT", "/product/{id}", update_product, body=True)
    route("GET", "/ledger/vatType", vat_types)
    route("GET", "/ledger/vatType/{id}", vat_type)


SEND_TYPES = ("EMAIL", "EHF", "AVTALEGIRO", "EFAKTURA", "VIPPS", "PAPER", "MANUAL")
CREDIT_SEND_TYPES = (
    *SEND_TYPES,
    "DIRECT",
    "AUTOINVOICE_EHF_OUTBOUND",
    "AUTOINVOICE_EHF_INCOMING",
    "PEPPOL_EHF_INCOMING",
)


def _sales_routes(route: Route) -> None:
    """Orders, invoicing, invoices, credit notes, payments and payment types."""

    def create_order(ctx: Ctx) -> Result:
        return ctx.single(ctx.book.create_order(ctx.body, ctx.auth.employee.id), "Order", 201)

    def get_order(ctx: Ctx) -> Result:
        return ctx.single(ctx.get("Order", ctx.request.path_params["id"]), "Order")

    def orders(ctx: Ctx) -> Result:
        q = ctx.query
        start, end = _date_range(q, "orderDateFrom", "orderDateTo", required=True)
        assert start is not None and end is not None
        rows = queries.orders(
            ctx.book,
            start,
            end,
            ids=q.ids("id"),
            number=q.text("number"),
            customer_ids=q.ids("customerId"),
            delivery_comment=q.text("deliveryComment"),
            closed=q.boolean("isClosed"),
            subscription=q.boolean("isSubscription"),
        )
        return ctx.listing(rows, "Order")

    def delete_order(ctx: Ctx) -> Result:
        order = ctx.get("Order", ctx.request.path_params["id"])
        if any(order["id"] in (i.get("orders") or []) for i in ctx.book.rows("Invoice")):
            raise validation_error(("id", "The order has been invoiced and cannot be deleted."))
        for line_id in order.get("orderLines") or []:
            ctx.book.table("OrderLine").pop(line_id, None)
        ctx.book.delete("Order", order["id"], "order.delete")
        return Result(None, 204)

    def invoice_order(ctx: Ctx) -> Result:
        q = ctx.query
        order_id = path_id(ctx.request.path_params["id"])
        invoice_date = q.required_day("invoiceDate")
        q.boolean("sendToCustomer", True)
        q.choice("sendType", SEND_TYPES)
        q.choice("createOnAccount", ("NONE", "WITH_VAT", "WITHOUT_VAT"))
        q.boolean("createBackorder", False)
        for name in (
            "paidAmountAccountCurrency",
            "paidAmountAccountCurrencyRest",
            "amountOnAccount",
        ):
            q.decimal(name)
        for name in ("paymentTypeIdRestAmount", "invoiceIdIfIsCreditNote"):
            q.integer(name)
        invoice = ctx.book.invoice_order(
            order_id,
            invoice_date,
            ctx.auth.employee.id,
            payment_type_id=q.integer("paymentTypeId"),
            paid_amount=q.decimal("paidAmount"),
        )
        return ctx.single(invoice, "Invoice")

    def invoices(ctx: Ctx) -> Result:
        q = ctx.query
        start = q.required_day("invoiceDateFrom")
        end = q.required_day("invoiceDateTo")
        number = q.text("invoiceNumber")
        rows = queries.invoices(
            ctx.book,
            start.isoformat(),
            end.isoformat(),
            ids=q.ids("id"),
            number=q.integer("invoiceNumber") if number else None,
            kid=q.text("kid"),
            voucher_ids=q.ids("voucherId"),
            customer_id=q.integer("customerId"),
        )
        return ctx.listing(rows, "Invoice")

    def get_invoice(ctx: Ctx) -> Result:
        return ctx.single(ctx.get("Invoice", ctx.request.path_params["id"]), "Invoice")

    def credit_note(ctx: Ctx) -> Result:
        q = ctx.query
        invoice_id = path_id(ctx.request.path_params["id"])
        credit_date = q.required_day("date")
        q.boolean("sendToCustomer", True)
        q.choice("sendType", CREDIT_SEND_TYPES)
        credit = ctx.book.credit_invoice(
            invoice_id, credit_date, q.text("comment"), ctx.auth.employee.id
        )
        return ctx.single(credit, "Invoice")

    def payment(ctx: Ctx) -> Result:
        q = ctx.query
        invoice_id = path_id(ctx.request.path_params["id"])
        paid_on = q.required_day("paymentDate")
        payment_type = q.required_int("paymentTypeId")
        q.required("paidAmount")
        amount = q.decimal("paidAmount")
        assert amount is not None
        q.decimal("paidAmountCurrency")
        invoice = ctx.book.register_payment(
            invoice_id, paid_on, payment_type, amount, ctx.auth.employee.id
        )
        return ctx.single(invoice, "Invoice")

    def payment_types(ctx: Ctx) -> Result:
        q = ctx.query
        rows = queries.payment_types(ctx.book, q.ids("id"), q.text("description"), q.text("query"))
        return ctx.listing(rows, "PaymentType")

    route("POST", "/order", create_order, body=True)
    route("GET", "/order", orders)
    route("GET", "/order/{id}", get_order)
    route("DELETE", "/order/{id}", delete_order)
    route("PUT", "/order/{id}/:invoice", invoice_order)
    route("GET", "/invoice/paymentType", payment_types)
    route("GET", "/invoice", invoices)
    route("GET", "/invoice/{id}", get_invoice)
    route("PUT", "/invoice/{id}/:createCreditNote", credit_note)
    route("PUT", "/invoice/{id}/:payment", payment)


def _date_range(
    q: Query, start_name: str, end_name: str, required: bool
) -> tuple[str | None, str | None]:
    """A ``…From``/``…To`` pair as ISO strings; the end must come after the start."""
    start = q.day(start_name, required)
    end = q.day(end_name, required)
    if start is not None and end is not None and end <= start:
        raise param_error(end_name, f"must be after {start_name}")
    return (
        start.isoformat() if start else None,
        end.isoformat() if end else None,
    )


def _ledger_routes(route: Route) -> None:
    """Vouchers, voucher types, postings, bank statements and transactions, documents."""

    def vouchers(ctx: Ctx) -> Result:
        q = ctx.query
        start, end = _date_range(q, "dateFrom", "dateTo", required=True)
        assert start is not None and end is not None
        rows = queries.vouchers(
            ctx.book,
            start,
            end,
            ids=q.ids("id"),
            numbers=q.ids("number"),
            number_from=q.integer("numberFrom"),
            number_to=q.integer("numberTo"),
            type_ids=q.ids("typeId"),
        )
        return ctx.listing(rows, "Voucher")

    def reception(ctx: Ctx) -> Result:
        q = ctx.query
        start, end = _date_range(q, "dateFrom", "dateTo", required=False)
        rows = queries.reception(ctx.book, start, end, q.text("searchText"))
        return ctx.listing(rows, "Voucher")

    def voucher_types(ctx: Ctx) -> Result:
        return ctx.listing(queries.voucher_types(ctx.book, ctx.query.text("name")), "VoucherType")

    def postings(ctx: Ctx) -> Result:
        q = ctx.query
        start, end = _date_range(q, "dateFrom", "dateTo", required=True)
        assert start is not None and end is not None
        q.text("openPostings")
        for name in (
            "accountingDimensionValue1Id",
            "accountingDimensionValue2Id",
            "accountingDimensionValue3Id",
        ):
            q.integer(name)
        references = {
            field: value
            for field, value in (
                ("account", q.integer("accountId")),
                ("supplier", q.integer("supplierId")),
                ("customer", q.integer("customerId")),
                ("employee", q.integer("employeeId")),
                ("department", q.integer("departmentId")),
                ("project", q.integer("projectId")),
                ("product", q.integer("productId")),
            )
            if value is not None
        }
        rows = queries.postings(
            ctx.book,
            start,
            end,
            references,
            q.integer("accountNumberFrom"),
            q.integer("accountNumberTo"),
            q.choice(
                "type",
                (
                    "INCOMING_PAYMENT",
                    "INCOMING_PAYMENT_OPPOSITE",
                    "INCOMING_INVOICE_CUSTOMER_POSTING",
                    "INVOICE_EXPENSE",
                    "OUTGOING_INVOICE_CUSTOMER_POSTING",
                    "WAGE",
                ),
            ),
        )
        return ctx.listing(rows, "Posting")

    def statements(ctx: Ctx) -> Result:
        q = ctx.query
        q.text("fileFormats")
        rows = queries.bank_statements(ctx.book, q.ids("id"), q.ids("accountId"))
        return ctx.listing(rows, "BankStatement")

    def transactions(ctx: Ctx) -> Result:
        statement = ctx.query.required_int("bankStatementId")
        return ctx.listing(queries.bank_transactions(ctx.book, statement), "BankTransaction")

    route("GET", "/ledger/voucherType", voucher_types)
    route("GET", "/ledger/voucherType/{id}", _one("VoucherType"))
    route("GET", "/ledger/voucher/>voucherReception", reception)
    route("GET", "/ledger/voucher", vouchers)
    route("GET", "/ledger/voucher/{id}", _one("Voucher"))
    route("GET", "/ledger/posting", postings)
    route("GET", "/ledger/posting/{id}", _one("Posting"))
    route("GET", "/bank/statement/transaction", transactions)
    route("GET", "/bank/statement/transaction/{id}", _one("BankTransaction"))
    route("GET", "/bank/statement", statements)
    route("GET", "/bank/statement/{id}", _one("BankStatement"))
    route("GET", "/document/{id}", _one("Document"))


def _event_routes(route: Route, sandbox: TripletexSandbox) -> None:
    """``/event`` (the event catalogue) and ``/event/subscription`` (webhooks)."""

    def events(ctx: Ctx) -> Result:
        value = {
            name: {"description": text, **({"payloadModel": model} if model else {})}
            for name, (text, model) in EVENTS.items()
        }
        return Result({"value": value})

    def subscriptions(ctx: Ctx) -> Result:
        return ctx.listing(sandbox.subscriptions(ctx.auth), "Subscription")

    def create(ctx: Ctx) -> Result:
        row = sandbox.create_subscription(ctx.auth, ctx.body, ctx.base_url)
        return ctx.single(row, "Subscription", status=201)

    def get(ctx: Ctx) -> Result:
        row = sandbox.subscription(ctx.auth, path_id(ctx.request.path_params["id"]))
        return ctx.single(row, "Subscription")

    def update(ctx: Ctx) -> Result:
        row = sandbox.update_subscription(
            ctx.auth, path_id(ctx.request.path_params["id"]), ctx.body
        )
        return ctx.single(row, "Subscription")

    def delete(ctx: Ctx) -> Result:
        sandbox.delete_subscription(ctx.auth, path_id(ctx.request.path_params["id"]))
        return Result(None, 204)

    route("GET", "/event", events, auth=False)
    route("GET", "/event/subscription", subscriptions)
    route("POST", "/event/subscription", create, body=True)
    route("GET", "/event/subscription/{id}", get)
    route("PUT", "/event/subscription/{id}", update, body=True)
    route("DELETE", "/event/subscription/{id}", delete)


def _add_admin_routes(app: FastAPI, sandbox: TripletexSandbox) -> None:
    """Sandbox-only endpoints (no auth): inspect state, issue tokens, act as a UI user."""

    def answer(handler: Callable[[], Any], status: int = 200) -> Response:
        """Run an admin action; refusals use the API's error envelope."""
        request_id = str(uuid.uuid4())
        try:
            payload = handler()
        except TripletexError as exc:
            return _error_response(exc, request_id, None)
        except (KeyError, ValueError) as exc:
            error = TripletexError(400, BAD_REQUEST, str(exc))
            return _error_response(error, request_id, None)
        return Response(dumps(payload), status, media_type=JSON_MEDIA_TYPE)

    async def admin_body(request: Request) -> dict[str, Any]:
        """JSON object body of an admin call (empty object when absent or malformed)."""
        try:
            payload = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return payload if isinstance(payload, dict) else {}

    @app.get("/_sandbox/health", tags=["sandbox admin"])
    def health() -> Response:
        """Liveness and today's date by the sandbox clock."""
        return answer(lambda: {"status": "ok", "today": sandbox.today().isoformat()})

    @app.get("/_sandbox/state", tags=["sandbox admin"])
    def state() -> Response:
        """Consumers, companies, employees and their tokens."""
        return answer(sandbox.summary)

    @app.get("/_sandbox/webhooks", tags=["sandbox admin"])
    def webhooks() -> Response:
        """Finished webhook deliveries, oldest first."""
        return answer(
            lambda: [
                {
                    "subscriptionId": r.subscription_id,
                    "event": r.event,
                    "url": r.url,
                    "attempts": r.attempts,
                    "status": r.status,
                    "delivered": r.delivered,
                    "idempotencyKey": r.idempotency_key,
                }
                for r in sandbox.webhook_deliveries()
            ]
        )

    @app.post("/_sandbox/employees/{employee_id}/tokens", tags=["sandbox admin"])
    async def issue_token(request: Request, employee_id: int) -> Response:
        """Create an employee token: ``{consumerToken, expirationDate, clientAccessOnly}``."""
        body = await admin_body(request)

        def handle() -> dict[str, Any]:
            token = sandbox.issue_employee_token(
                employee_id,
                str(body.get("consumerToken", "")),
                date.fromisoformat(str(body.get("expirationDate", ""))),
                bool(body.get("clientAccessOnly", False)),
            )
            return {"token": token.token, "expirationDate": token.expiration_date.isoformat()}

        return answer(handle, 201)

    @app.put("/_sandbox/employees/{employee_id}/active", tags=["sandbox admin"])
    async def set_active(request: Request, employee_id: int) -> Response:
        """Deactivate or reactivate an employee: ``{active: false}``."""
        body = await admin_body(request)

        def handle() -> dict[str, Any]:
            sandbox.set_employee_active(employee_id, bool(body.get("active", True)))
            return {"employeeId": employee_id, "active": sandbox.employee(employee_id).active}

        return answer(handle)

    @app.post("/_sandbox/tokens/revoke", tags=["sandbox admin"])
    async def revoke(request: Request) -> Response:
        """Delete an employee token: ``{token}``."""
        body = await admin_body(request)

        def handle() -> dict[str, Any]:
            sandbox.revoke_employee_token(str(body.get("token", "")))
            return {"revoked": True}

        return answer(handle)

    models = {"customer": "Customer", "product": "Product", "order": "Order"}

    @app.post("/_sandbox/companies/{company_id}/{kind}", tags=["sandbox admin"])
    async def ui_insert(request: Request, company_id: int, kind: str) -> Response:
        """Create a customer, product or order as a UI user (webhooks fire)."""
        body = await admin_body(request)
        return answer(lambda: sandbox.insert(company_id, models[kind], body), 201)

    @app.put("/_sandbox/companies/{company_id}/{kind}/{object_id}", tags=["sandbox admin"])
    async def ui_update(request: Request, company_id: int, kind: str, object_id: int) -> Response:
        """Edit a customer or product as a UI user (webhooks fire)."""
        body = await admin_body(request)
        return answer(lambda: sandbox.update(company_id, models[kind], object_id, body))

    @app.delete("/_sandbox/companies/{company_id}/{kind}/{object_id}", tags=["sandbox admin"])
    def ui_delete(company_id: int, kind: str, object_id: int) -> Response:
        """Delete a customer, product or order as a UI user (webhooks fire)."""

        def handle() -> dict[str, Any]:
            sandbox.delete(company_id, models[kind], object_id)
            return {"deleted": object_id}

        return answer(handle)


SERVER_ERROR = 1000
"""The spec's internal code for a 500."""


FAULTS = VendorFaults(
    error=lambda scope: _error_response(
        TripletexError(500, SERVER_ERROR, "Internal server error."), str(uuid.uuid4()), None
    ),
    throttle=lambda scope, retry_after: _error_response(
        TripletexError(
            429, RATE_LIMIT, "Too many requests: the rate limit for this period is used up."
        ),
        str(uuid.uuid4()),
        RateStatus(limit=0, remaining=0, reset=retry_after, allowed=False),
    ),
    is_session=lambda scope: "/token/session/" in str(scope["path"]),
)
"""Tripletex's ``ApiError``; a 429 says when to come back in ``X-Rate-Limit-Reset``. Session
tokens are created under ``/token/session/``."""


def serve(
    sandbox: TripletexSandbox,
    host: str = "127.0.0.1",
    port: int = 8766,
    faults: FaultPlan | None = None,
) -> None:
    """Run the sandbox with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A sandbox served by uvicorn on a background thread, for tests and benchmarks.

    ``port=0`` picks a free port; ``url(environment)`` is the API root of an environment.
    """

    name = "Tripletex sandbox"

    def __init__(
        self,
        sandbox: TripletexSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox

    def url(self, environment: str = "production") -> str:
        """API root of one environment, e.g. ``http://127.0.0.1:8766/production/v2``."""
        return f"{self.base_url}/{environment}/v2"

    def app(self) -> Any:
        return create_app(self.sandbox)
