"""HTTP surface of the sandbox: WooCommerce's REST API v3 under ``/wp-json/wc/v3`` and the
sandbox's control API under ``/_sandbox/`` (no auth).

Authentication is WooCommerce's over HTTPS: the consumer key and secret as HTTP Basic
credentials, or as ``consumer_key``/``consumer_secret`` query parameters (read first). The
sandbox treats its loopback HTTP as HTTPS; OAuth 1.0a for plain HTTP is not served.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.woocommerce import payments
from ledgerbridge.sandbox.woocommerce.core import (
    WooError,
    boolean,
    dumps,
    integer,
    invalid_id,
    invalid_param,
    not_one_of,
)
from ledgerbridge.sandbox.woocommerce.queries import Page, Row, ids, paginate, values
from ledgerbridge.sandbox.woocommerce.state import STATUSES, ApiKey, WooSandbox

PREFIX = "/wp-json/wc/v3"
MEDIA_TYPE = "application/json; charset=UTF-8"
BATCH_LIMIT = 100
SEED_LIMIT = 20_000
"""A seed of more than this many orders or customers is refused (the benchmark's 20,000)."""
DENIED = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": (
        "woocommerce_rest_cannot_delete",
        "Sorry, you are not allowed to delete this resource.",
    ),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}
DENIED_CODES = frozenset(code for code, _message in DENIED.values())
NO_ROUTE = WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

Handler = Callable[[ApiKey, Any], Any]


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(payload), status, headers=dict(headers or {}), media_type=MEDIA_TYPE)


def _error(exc: WooError) -> Response:
    return _json(exc.body(), exc.status)


def _credentials(request: Request) -> tuple[str, str] | None:
    """Query parameters first, then HTTP Basic, as ``perform_basic_authentication``."""
    key = request.query_params.get("consumer_key", "")
    secret = request.query_params.get("consumer_secret", "")
    if key and secret:
        return key, secret
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if sep and user and password:
            return user, password
    return None


def _authenticate(sandbox: WooSandbox, request: Request, permission: str) -> ApiKey:
    """The key of the request, or WooCommerce's 401.

    An unknown key authenticates no one, so the route's own permission check answers (for a
    list: ``woocommerce_rest_cannot_view``); a known key with the wrong secret is
    ``woocommerce_rest_authentication_error``; a key without read or write permission for the
    method is refused the same way.
    """
    given = _credentials(request)
    key = sandbox.keys.get(given[0]) if given else None
    if given and key is not None and given[1] != key.consumer_secret:
        raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    if key is None:
        code, message = DENIED[permission]
        raise WooError(401, code, message)
    reading = request.method in ("GET", "HEAD")
    if reading and key.permissions not in ("read", "read_write"):
        raise WooError(
            401,
            "woocommerce_rest_authentication_error",
            "The API key provided does not have read permissions.",
        )
    if not reading and key.permissions not in ("write", "read_write"):
        raise WooError(
            401,
            "woocommerce_rest_authentication_error",
            "The API key provided does not have write permissions.",
        )
    return key


async def _body(request: Request) -> Any:
    """A JSON body (an empty one reads as ``{}``), or WordPress's ``rest_invalid_json``."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in content_type:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.") from exc
    if not isinstance(payload, dict):
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return payload


def _links(request: Request, page: Page) -> dict[str, str]:
    """``X-WP-Total``, ``X-WP-TotalPages`` and the RFC 5988 ``Link`` header."""
    headers = {"X-WP-Total": str(page.total), "X-WP-TotalPages": str(page.pages)}
    base = str(request.url.replace(query=""))
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    links = []
    if page.page > 1:
        previous = str(min(page.page - 1, max(page.pages, 1)))
        links.append(f'<{base}?{urlencode([*params, ("page", previous)])}>; rel="prev"')
    if page.pages > page.page:
        links.append(f'<{base}?{urlencode([*params, ("page", str(page.page + 1))])}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def create_app(sandbox: WooSandbox) -> FastAPI:
    """Build the ASGI app serving one shop."""
    app = FastAPI(
        title="WooCommerce sandbox",
        description="Simulator of WooCommerce's REST API v3 for ledgerbridge tests and demos.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    def with_links(request: Request, kind: str, data: Any) -> Any:
        base = f"{request.url.scheme}://{request.url.netloc}{PREFIX}/{kind}"
        if isinstance(data, dict) and "id" in data:
            data["_links"] = {
                "self": [{"href": f"{base}/{data['id']}"}],
                "collection": [{"href": base}],
            }
        return data

    async def call(
        request: Request,
        permission: str,
        handler: Handler,
        *,
        status: int = 200,
        links: str | None = None,
        missing: Callable[[], WooError | None] | None = None,
    ) -> Response:
        """One API request. ``missing`` answers for a single object that does not exist:
        WooCommerce's CRUD routes check permission only on an existing object, so without
        valid credentials a missing one is still its 404 (400 on update)."""
        try:
            key = _authenticate(sandbox, request, permission)
        except WooError as exc:
            absent = missing() if missing is not None and exc.code in DENIED_CODES else None
            return _error(absent or exc)
        try:
            body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else None
            result = handler(key, body)
        except WooError as exc:
            return _error(exc)
        if isinstance(result, Page):
            items = [with_links(request, links, item) if links else item for item in result.items]
            return _json(items, headers=_links(request, result))
        headers = {}
        if links:
            result = with_links(request, links, result)
            if status == 201:
                headers["Location"] = result["_links"]["self"][0]["href"]
        return _json(result, status, headers)

    def order_missing(order_id: int, status: int = 404) -> Callable[[], WooError | None]:
        return lambda: None if order_id in sandbox.orders else invalid_id("shop_order", status)

    def product_missing(product_id: int, status: int = 404) -> Callable[[], WooError | None]:
        return lambda: None if product_id in sandbox.products else invalid_id("product", status)

    def variation_missing(
        product_id: int, variation_id: int, status: int = 404
    ) -> Callable[[], WooError | None]:
        def check() -> WooError | None:
            variation = sandbox.variations.get(variation_id)
            if variation is not None and variation["parent_id"] == product_id:
                return None
            return invalid_id("product_variation", status)

        return check

    def force(request: Request) -> bool:
        value = request.query_params.get("force")
        return boolean(value, "force") if value is not None else False

    # ------------------------------------------------------------- orders

    def order_rows(*, trashed: bool, searched: bool) -> list[Row]:
        """Orders to list, filtered on the stored records (trashed ones, with status
        ``trash``, only when asked for; the search text only for a search)."""
        return [
            Row(
                {**o.json, "status": "trash"} if o.trashed else o.json,
                o.created,
                o.modified,
                " ".join([*o.fields["billing"].values(), str(o.id)]) if searched else "",
                render=partial(sandbox.order_json, o.id),
            )
            for o in sandbox.orders.values()
            if trashed or not o.trashed
        ]

    def list_orders(_k: ApiKey, _b: Any, query: Any) -> Page:
        with sandbox.lock:
            wanted = values(query, "status") or ["any"]
            for index, status in enumerate(wanted):
                if status not in ("any", "trash", *STATUSES):
                    raise not_one_of("status", ("any", "trash", *STATUSES), f"status[{index}]")
            rows = order_rows(trashed="trash" in wanted, searched="search" in query)
            if "any" not in wanted:
                rows = [r for r in rows if r.data["status"] in wanted]
            if "customer" in query:
                customer = integer(query["customer"], "customer", 0)
                rows = [r for r in rows if r.data["customer_id"] == customer]
            if "product" in query:
                product = integer(query["product"], "product", 0)
                rows = [
                    r for r in rows if any(i["product_id"] == product for i in r.data["line_items"])
                ]
            parents = ids(query, "parent")
            if parents:
                rows = [r for r in rows if r.data["parent_id"] in parents]
            return paginate(
                rows,
                query,
                sandbox.site,
                orderby="date",
                order="desc",
                orderings={
                    "date": lambda r: r.created,
                    "id": lambda r: r.data["id"],
                    "include": lambda r: r.data["id"],
                    "title": lambda r: r.data["id"],
                    "slug": lambda r: r.data["id"],
                    "modified": lambda r: r.modified,
                },
            )

    @app.get(PREFIX + "/orders", tags=["orders"])
    async def orders(request: Request) -> Response:
        """List orders (``status`` defaults to ``any``)."""
        return await call(
            request, "list", lambda k, b: list_orders(k, b, request.query_params), links="orders"
        )

    @app.post(PREFIX + "/orders", tags=["orders"])
    async def create_order(request: Request) -> Response:
        """Create an order (201)."""
        return await call(
            request, "create", lambda k, b: sandbox.create_order(b), status=201, links="orders"
        )

    @app.get(PREFIX + "/orders/{order_id:int}", tags=["orders"])
    async def get_order(request: Request, order_id: int) -> Response:
        """One order."""
        return await call(
            request,
            "view",
            lambda k, b: sandbox.order_json(order_id),
            links="orders",
            missing=order_missing(order_id),
        )

    async def update_order(request: Request, order_id: int) -> Response:
        """Change an order."""
        return await call(
            request,
            "edit",
            lambda k, b: sandbox.update_order(order_id, b),
            links="orders",
            missing=order_missing(order_id, 400),
        )

    app.add_api_route(
        PREFIX + "/orders/{order_id:int}",
        update_order,
        methods=["PUT", "PATCH", "POST"],
        tags=["orders"],
    )

    @app.delete(PREFIX + "/orders/{order_id:int}", tags=["orders"])
    async def delete_order(request: Request, order_id: int) -> Response:
        """Trash an order, or delete it with ``force=true``."""
        return await call(
            request,
            "delete",
            lambda k, b: sandbox.delete_order(order_id, force(request)),
            links="orders",
            missing=order_missing(order_id),
        )

    def batch(
        body: Any,
        create: Callable[[Any], dict[str, Any]],
        update: Callable[[int, Any], dict[str, Any]],
        delete: Callable[[int], dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """``{create, update, delete}``, each item answered or refused on its own."""
        parts = {name: body.get(name, []) for name in ("create", "update", "delete")}
        for name, items in parts.items():
            if not isinstance(items, list):
                raise invalid_param(name, f"{name} is not of type array.")
        if sum(len(items) for items in parts.values()) > BATCH_LIMIT:
            raise WooError(
                413,
                "rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        answer: dict[str, list[Any]] = {}
        for name, items in parts.items():
            if not items:
                continue
            answer[name] = []
            for item in items:
                try:
                    if name == "create":
                        if not isinstance(item, dict):
                            raise invalid_param("create", "create[] items must be objects.")
                        answer[name].append(create(item))
                    elif name == "update":
                        if not isinstance(item, dict) or "id" not in item:
                            raise invalid_param("id", "id is required.")
                        answer[name].append(update(integer(item["id"], "id"), item))
                    elif delete is not None:
                        answer[name].append(delete(integer(item, "id")))
                except WooError as exc:
                    ident = item.get("id", 0) if isinstance(item, dict) else item
                    answer[name].append(
                        {
                            "id": ident,
                            "error": {
                                "code": exc.code,
                                "message": exc.message,
                                "data": {"status": exc.status},
                            },
                        }
                    )
        return answer

    @app.post(PREFIX + "/orders/batch", tags=["orders"])
    async def batch_orders(request: Request) -> Response:
        """Create, update and delete up to 100 orders."""
        return await call(
            request,
            "batch",
            lambda k, b: batch(
                b,
                sandbox.create_order,
                sandbox.update_order,
                lambda order_id: sandbox.delete_order(order_id, force(request)),
            ),
        )

    # ------------------------------------------------------------ refunds

    def refund_rows(order_id: int | None, with_parent: bool) -> list[Row]:
        return [
            Row(sandbox.refund_json(r["id"], with_parent=with_parent), r["_created"], r["_created"])
            for r in sandbox.refunds.values()
            if order_id is None or r["parent_id"] == order_id
        ]

    def list_refunds(query: Any, order_id: int | None) -> Page:
        with sandbox.lock:
            if order_id is not None:
                sandbox.refundable(order_id)
            rows = refund_rows(order_id, order_id is None)
            parents = ids(query, "parent")
            if parents and order_id is None:
                rows = [r for r in rows if r.data["parent_id"] in parents]
            return paginate(
                rows,
                query,
                sandbox.site,
                orderby="date",
                order="desc",
                orderings={
                    "date": lambda r: r.created,
                    "id": lambda r: r.data["id"],
                    "include": lambda r: r.data["id"],
                    "modified": lambda r: r.modified,
                },
            )

    @app.get(PREFIX + "/orders/{order_id:int}/refunds", tags=["refunds"])
    async def order_refunds(request: Request, order_id: int) -> Response:
        """An order's refunds."""
        return await call(
            request, "list", lambda k, b: list_refunds(request.query_params, order_id)
        )

    @app.post(PREFIX + "/orders/{order_id:int}/refunds", tags=["refunds"])
    async def create_refund(request: Request, order_id: int) -> Response:
        """Refund lines or an amount (201)."""
        return await call(
            request, "create", lambda k, b: sandbox.create_refund(order_id, b), status=201
        )

    @app.get(PREFIX + "/orders/{order_id:int}/refunds/{refund_id:int}", tags=["refunds"])
    async def get_refund(request: Request, order_id: int, refund_id: int) -> Response:
        """One refund of an order."""
        return await call(request, "view", lambda k, b: sandbox.refund_json(refund_id, order_id))

    @app.delete(PREFIX + "/orders/{order_id:int}/refunds/{refund_id:int}", tags=["refunds"])
    async def delete_refund(request: Request, order_id: int, refund_id: int) -> Response:
        """Delete a refund (``force=true`` is required: refunds cannot be trashed)."""

        def handle(_k: ApiKey, _b: Any) -> Any:
            if not force(request):
                raise WooError(
                    501, "woocommerce_rest_trash_not_supported", "Refunds do not support trashing."
                )
            return sandbox.delete_refund(order_id, refund_id)

        return await call(request, "delete", handle)

    @app.get(PREFIX + "/refunds", tags=["refunds"])
    async def refunds(request: Request) -> Response:
        """Refunds of every order, with ``parent_id`` (WooCommerce 9.0+)."""
        return await call(request, "list", lambda k, b: list_refunds(request.query_params, None))

    # ---------------------------------------------------------- customers

    def list_customers(query: Any) -> Page:
        with sandbox.lock:
            rows = [
                Row(
                    sandbox.customer_json(c["id"]),
                    c["_created"],
                    c["_modified"],
                    f"{c['email']} {c['first_name']} {c['last_name']} {c['username']}",
                )
                for c in sandbox.customers.values()
            ]
            if "email" in query:
                rows = [r for r in rows if r.data["email"].lower() == query["email"].lower()]
            return paginate(
                rows,
                query,
                sandbox.site,
                orderby="name",
                order="asc",
                dated=False,
                orderings={
                    "name": lambda r: r.data["username"],
                    "id": lambda r: r.data["id"],
                    "include": lambda r: r.data["id"],
                    "registered_date": lambda r: r.created,
                },
            )

    @app.get(PREFIX + "/customers", tags=["customers"])
    async def customers(request: Request) -> Response:
        """Customers (``email``, ``search``; ordered by name)."""
        return await call(
            request, "list", lambda k, b: list_customers(request.query_params), links="customers"
        )

    @app.post(PREFIX + "/customers", tags=["customers"])
    async def create_customer(request: Request) -> Response:
        """Create a customer (201)."""
        return await call(
            request,
            "create",
            lambda k, b: sandbox.create_customer(b),
            status=201,
            links="customers",
        )

    @app.get(PREFIX + "/customers/{customer_id:int}", tags=["customers"])
    async def get_customer(request: Request, customer_id: int) -> Response:
        """One customer."""
        return await call(
            request, "view", lambda k, b: sandbox.customer_json(customer_id), links="customers"
        )

    async def update_customer(request: Request, customer_id: int) -> Response:
        """Change a customer."""
        return await call(
            request, "edit", lambda k, b: sandbox.update_customer(customer_id, b), links="customers"
        )

    app.add_api_route(
        PREFIX + "/customers/{customer_id:int}",
        update_customer,
        methods=["PUT", "PATCH", "POST"],
        tags=["customers"],
    )

    # ----------------------------------------------------------- products

    def list_products(query: Any, parent_id: int | None) -> Page:
        with sandbox.lock:
            if parent_id is None:
                source = sandbox.products.values()
                render = sandbox.product_json
            else:
                sandbox.product_json(parent_id)
                source = [v for v in sandbox.variations.values() if v["parent_id"] == parent_id]  # type: ignore[assignment]
                render = sandbox.variation_json  # type: ignore[assignment]
            rows = [
                Row(
                    render(p["id"]),
                    p["_created"],
                    p["_modified"],
                    f"{p.get('name', '')} {p['sku']}",
                )
                for p in source
            ]
            if "sku" in query:
                wanted = {s.strip() for s in query["sku"].split(",")}
                rows = [r for r in rows if r.data["sku"] in wanted]
                if parent_id is None:
                    # WooCommerce's products route searches variations too when asked by SKU.
                    rows += [
                        Row(sandbox.variation_as_product(v["id"]), v["_created"], v["_modified"],
                            v["sku"])
                        for v in sandbox.variations.values()
                        if v["sku"] in wanted
                    ]  # fmt: skip
            if "stock_status" in query:
                rows = [r for r in rows if r.data["stock_status"] == query["stock_status"]]
            if "type" in query and parent_id is None:
                rows = [r for r in rows if r.data["type"] == query["type"]]
            return paginate(
                rows,
                query,
                sandbox.site,
                orderby="date",
                order="desc",
                orderings={
                    "date": lambda r: r.created,
                    "id": lambda r: r.data["id"],
                    "include": lambda r: r.data["id"],
                    "modified": lambda r: r.modified,
                    "title": lambda r: r.data.get("name", ""),
                    "slug": lambda r: r.data.get("slug", ""),
                    "price": lambda r: Decimal(r.data["price"] or 0),
                },
            )

    @app.get(PREFIX + "/products", tags=["products"])
    async def products(request: Request) -> Response:
        """Products (``sku``, ``stock_status``, ``type``, ``modified_after``…)."""
        return await call(
            request,
            "list",
            lambda k, b: list_products(request.query_params, None),
            links="products",
        )

    @app.post(PREFIX + "/products", tags=["products"])
    async def create_product(request: Request) -> Response:
        """Create a product (201)."""
        return await call(
            request, "create", lambda k, b: sandbox.create_product(b), status=201, links="products"
        )

    @app.get(PREFIX + "/products/{product_id:int}", tags=["products"])
    async def get_product(request: Request, product_id: int) -> Response:
        """One product."""
        return await call(
            request,
            "view",
            lambda k, b: sandbox.product_json(product_id),
            links="products",
            missing=product_missing(product_id),
        )

    async def update_product(request: Request, product_id: int) -> Response:
        """Change a product (stock: ``manage_stock``, ``stock_quantity``)."""
        return await call(
            request,
            "edit",
            lambda k, b: sandbox.update_product(product_id, b),
            links="products",
            missing=product_missing(product_id, 400),
        )

    app.add_api_route(
        PREFIX + "/products/{product_id:int}",
        update_product,
        methods=["PUT", "PATCH", "POST"],
        tags=["products"],
    )

    @app.post(PREFIX + "/products/batch", tags=["products"])
    async def batch_products(request: Request) -> Response:
        """Create and update up to 100 products (stock writes in bulk)."""
        return await call(
            request,
            "batch",
            lambda k, b: batch(b, sandbox.create_product, sandbox.update_product, None),
        )

    @app.get(PREFIX + "/products/{product_id:int}/variations", tags=["products"])
    async def variations(request: Request, product_id: int) -> Response:
        """A variable product's variations."""
        return await call(
            request, "list", lambda k, b: list_products(request.query_params, product_id)
        )

    @app.post(PREFIX + "/products/{product_id:int}/variations", tags=["products"])
    async def create_variation(request: Request, product_id: int) -> Response:
        """Create a variation (201)."""
        return await call(
            request, "create", lambda k, b: sandbox.create_variation(product_id, b), status=201
        )

    @app.get(PREFIX + "/products/{product_id:int}/variations/{variation_id:int}", tags=["products"])
    async def get_variation(request: Request, product_id: int, variation_id: int) -> Response:
        """One variation."""
        return await call(
            request,
            "view",
            lambda k, b: sandbox.variation_json(variation_id, product_id),
            missing=variation_missing(product_id, variation_id),
        )

    async def update_variation(request: Request, product_id: int, variation_id: int) -> Response:
        """Change a variation (its own stock)."""
        return await call(
            request,
            "edit",
            lambda k, b: sandbox.update_variation(product_id, variation_id, b),
            missing=variation_missing(product_id, variation_id, 400),
        )

    app.add_api_route(
        PREFIX + "/products/{product_id:int}/variations/{variation_id:int}",
        update_variation,
        methods=["PUT", "PATCH", "POST"],
        tags=["products"],
    )

    @app.post(PREFIX + "/products/{product_id:int}/variations/batch", tags=["products"])
    async def batch_variations(request: Request, product_id: int) -> Response:
        """Create and update up to 100 variations."""
        return await call(
            request,
            "batch",
            lambda k, b: batch(
                b,
                lambda item: sandbox.create_variation(product_id, item),
                lambda vid, item: sandbox.update_variation(product_id, vid, item),
                None,
            ),
        )

    # ----------------------------------------------------------- webhooks

    def list_webhooks(query: Any) -> Page:
        with sandbox.lock:
            rows = [
                Row(sandbox.webhook_json(h.id), h.created, h.modified, h.name)
                for h in sandbox.webhooks.values()
            ]
            if "status" in query and query["status"] != "all":
                rows = [r for r in rows if r.data["status"] == query["status"]]
            return paginate(
                rows,
                query,
                sandbox.site,
                orderby="date",
                order="desc",
                orderings={
                    "date": lambda r: r.created,
                    "id": lambda r: r.data["id"],
                    "include": lambda r: r.data["id"],
                    "title": lambda r: r.data["name"],
                },
            )

    @app.get(PREFIX + "/webhooks", tags=["webhooks"])
    async def webhooks(request: Request) -> Response:
        """Webhooks."""
        return await call(
            request, "list", lambda k, b: list_webhooks(request.query_params), links="webhooks"
        )

    @app.post(PREFIX + "/webhooks", tags=["webhooks"])
    async def create_webhook(request: Request) -> Response:
        """Create a webhook (201); an active one is pinged."""
        return await call(
            request,
            "create",
            lambda k, b: sandbox.create_webhook(b, k.consumer_secret),
            status=201,
            links="webhooks",
        )

    @app.get(PREFIX + "/webhooks/{webhook_id:int}", tags=["webhooks"])
    async def get_webhook(request: Request, webhook_id: int) -> Response:
        """One webhook."""
        return await call(
            request, "view", lambda k, b: sandbox.webhook_json(webhook_id), links="webhooks"
        )

    async def update_webhook(request: Request, webhook_id: int) -> Response:
        """Change a webhook; ``status: active`` re-enables a disabled one."""
        return await call(
            request, "edit", lambda k, b: sandbox.update_webhook(webhook_id, b), links="webhooks"
        )

    app.add_api_route(
        PREFIX + "/webhooks/{webhook_id:int}",
        update_webhook,
        methods=["PUT", "PATCH", "POST"],
        tags=["webhooks"],
    )

    @app.delete(PREFIX + "/webhooks/{webhook_id:int}", tags=["webhooks"])
    async def delete_webhook(request: Request, webhook_id: int) -> Response:
        """Delete a webhook (``force=true``: webhooks cannot be trashed)."""

        def handle(_k: ApiKey, _b: Any) -> Any:
            if not force(request):
                raise WooError(
                    501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing."
                )
            return sandbox.delete_webhook(webhook_id)

        return await call(request, "delete", handle, links="webhooks")

    @app.get(PREFIX + "/taxes", tags=["taxes"])
    async def taxes(request: Request) -> Response:
        """The tax rates (ids used in ``taxes[].id`` and ``tax_lines[].rate_id``)."""

        def handle(_k: ApiKey, _b: Any) -> Page:
            rates = [r.to_json() for r in sandbox.tax_rates]
            return Page(rates, len(rates), 1, 1)

        return await call(request, "list", handle)

    @app.get(PREFIX + "/taxes/classes", tags=["taxes"])
    async def tax_classes(request: Request) -> Response:
        """The tax classes (``slug``, ``name``), the standard one first; a class may have no
        rate rows (the zero-rate class), and then no tax is charged on it."""

        def handle(_k: ApiKey, _b: Any) -> Page:
            rows = [{"slug": slug, "name": name} for slug, name in sandbox.tax_classes.items()]
            return Page(rows, len(rows), 1, 1)

        return await call(request, "list", handle)

    @app.get(PREFIX + "/settings/{group_id}/{option_id}", tags=["settings"])
    async def setting_option(request: Request, group_id: str, option_id: str) -> Response:
        """One shop option: how prices are entered (``tax``) and the store's country
        (``general``), which a connection reads to know the VAT basis of product prices."""
        return await call(
            request, "view", lambda _k, _b: sandbox.setting_option(group_id, option_id)
        )

    _add_control_routes(app, sandbox)
    payments.add_routes(app, sandbox, call, _control, _body_or_none, NO_ROUTE)

    @app.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def no_route(path: str) -> Response:
        """WordPress's answer to any other path or method."""
        return _error(NO_ROUTE)

    return app


def _control(handler: Callable[[], Any]) -> Response:
    """A control call's answer: its result, or the error it raised."""
    try:
        return _json(handler())
    except WooError as exc:
        return _error(exc)


async def _body_or_none(request: Request) -> Any:
    """A control call's JSON body; None when it is not JSON."""
    try:
        return await _body(request)
    except WooError:
        return None


def _add_control_routes(app: FastAPI, sandbox: WooSandbox) -> None:
    """``/_sandbox/``: state, reset, seed, settings, keys, shop-side saves, renewals and the
    webhook log (fault injection lives at ``/_sandbox/faults``, served by the kit)."""
    from ledgerbridge.sandbox.woocommerce.seed import seed_shop

    def control(handler: Callable[[], Any]) -> Response:
        try:
            return _json(handler())
        except WooError as exc:
            return _error(exc)

    async def body_of(request: Request) -> Any:
        try:
            return await _body(request)
        except WooError:
            return None

    def invalid_body() -> Response:
        return _error(WooError(400, "rest_invalid_json", "Invalid JSON body passed."))

    @app.get("/_sandbox/health", tags=["sandbox control"])
    def health() -> Response:
        """Liveness."""
        return _json({"status": "ok"})

    @app.get("/_sandbox/state", tags=["sandbox control"])
    def state() -> Response:
        """Counts, keys, settings, webhooks and the orders with 1-cent rounding gaps."""
        return control(sandbox.summary)

    @app.post("/_sandbox/reset", tags=["sandbox control"])
    def reset() -> Response:
        """An empty shop (keys and settings stay)."""

        def handle() -> Any:
            sandbox.reset()
            return sandbox.summary()

        return control(handle)

    @app.post("/_sandbox/seed", tags=["sandbox control"])
    async def seed(request: Request) -> Response:
        """Reset and seed: ``{"seed", "orders", "customers"}``."""
        body = await body_of(request)
        if body is None:
            return invalid_body()

        def handle() -> Any:
            seed = integer(body.get("seed", 1), "seed", 0)
            orders = integer(body.get("orders", 300), "orders", 0)
            customers = integer(body.get("customers", 60), "customers", 8)
            if orders > SEED_LIMIT or customers > SEED_LIMIT:
                name = "orders" if orders > SEED_LIMIT else "customers"
                raise invalid_param(name, f"{name} must be at most {SEED_LIMIT}")
            sandbox.reset()
            seed_shop(sandbox, seed=seed, orders=orders, customers=customers)
            return sandbox.summary()

        return control(handle)

    @app.get("/_sandbox/settings", tags=["sandbox control"])
    def get_settings() -> Response:
        """Shop options and webhook defects."""
        return control(sandbox.settings.to_json)

    @app.put("/_sandbox/settings", tags=["sandbox control"])
    async def put_settings(request: Request) -> Response:
        """Change some options: ``webhook_repeats`` ("2-9"), ``webhook_miss_rate``,
        ``max_failures``, ``prices_include_tax``, ``round_at_subtotal``."""
        body = await body_of(request)
        if body is None:
            return invalid_body()
        return control(lambda: sandbox.apply_settings(body).to_json())

    @app.post("/_sandbox/keys", tags=["sandbox control"])
    async def add_key(request: Request) -> Response:
        """Another key: ``{"permissions": "read"|"write"|"read_write"}``."""
        body = await body_of(request)
        if body is None:
            return invalid_body()

        def handle() -> Any:
            key = sandbox.add_key(str(body.get("permissions", "read_write")))
            return {
                "consumer_key": key.consumer_key,
                "consumer_secret": key.consumer_secret,
                "permissions": key.permissions,
            }

        return control(handle)

    @app.post("/_sandbox/orders", tags=["sandbox control"])
    async def checkout(request: Request) -> Response:
        """An order placed in the shop (``created_via`` ``checkout`` unless given)."""
        body = await body_of(request)
        if body is None:
            return invalid_body()
        via = str(body.pop("created_via", "checkout"))
        return control(lambda: sandbox.create_order(body, created_via=via))

    @app.put("/_sandbox/orders/{order_id:int}", tags=["sandbox control"])
    async def admin_save(request: Request, order_id: int) -> Response:
        """A save of an order in wp-admin (status and the rest as ``PUT /orders/{id}``)."""
        body = await body_of(request)
        if body is None:
            return invalid_body()
        return control(lambda: sandbox.update_order(order_id, body))

    @app.post("/_sandbox/orders/{order_id:int}/payment", tags=["sandbox control"])
    async def payment(request: Request, order_id: int) -> Response:
        """The gateway's answer: ``{"outcome": "paid"|"failed", "transaction_id"}``."""
        body = await body_of(request)
        if body is None:
            return invalid_body()

        def handle() -> Any:
            outcome = body.get("outcome", "paid")
            if outcome == "paid":
                return sandbox.pay_order(order_id, str(body.get("transaction_id", "")))
            if outcome == "failed":
                return sandbox.update_order(order_id, {"status": "failed"})
            raise not_one_of("outcome", ("paid", "failed"))

        return control(handle)

    @app.get("/_sandbox/subscriptions", tags=["sandbox control"])
    def subscriptions() -> Response:
        """The subscriptions and their renewal orders."""
        with sandbox.lock:
            return _json(list(sandbox.subscriptions.values()))

    @app.post("/_sandbox/subscriptions/{subscription_id:int}/renewals", tags=["sandbox control"])
    async def renew(request: Request, subscription_id: int) -> Response:
        """A renewal: ``{"outcome": "paid"|"failed"|"pending"}``."""
        body = await body_of(request)
        if body is None:
            return invalid_body()
        return control(lambda: sandbox.renew(subscription_id, str(body.get("outcome", "paid"))))

    @app.get("/_sandbox/webhooks/deliveries", tags=["sandbox control"])
    def deliveries() -> Response:
        """Every delivery attempt and ping so far."""
        return _json([d.to_json() for d in sandbox.hooks.deliveries()])

    @app.get("/_sandbox/webhooks/missed", tags=["sandbox control"])
    def missed() -> Response:
        """Saves whose delivery was dropped by ``webhook_miss_rate``."""
        return _json(sandbox.hooks.missed())


FAULTS = VendorFaults(
    error=lambda scope: _error(
        WooError(500, "internal_server_error", "There has been a critical error on this website.")
    ),
    throttle=lambda scope, retry_after: Response(
        b"<html><body><h1>429 Too Many Requests</h1></body></html>",
        429,
        headers={"Retry-After": str(retry_after)},
        media_type="text/html",
    ),
)
"""WordPress's fatal-error body; a 429 comes from the host in front, as HTML."""


def serve(
    sandbox: WooSandbox, host: str = "127.0.0.1", port: int = 8768, faults: FaultPlan | None = None
) -> None:
    """Run the shop with uvicorn until interrupted (blocking), behind fault injection."""
    sandbox.home_url = f"http://{host}:{port}"
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A shop served on a background thread, for tests and the demo; ``use()`` swaps it."""

    name = "WooCommerce sandbox"

    def __init__(
        self,
        sandbox: WooSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.use(sandbox)

    def use(self, sandbox: WooSandbox) -> None:
        """Serve another shop from the next request on."""
        self.sandbox = sandbox
        self._app: ASGIApp = create_app(sandbox)

    def start(self, timeout: float = 10.0) -> None:
        """Start, then tell the shop its address (``X-WC-Webhook-Source``, links)."""
        super().start(timeout)
        self.sandbox.home_url = self.base_url

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def app(self) -> Any:
        return self._dispatch
