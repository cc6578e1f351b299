"""HTTP surface of the sandbox: Stripe's API under ``/v1`` (the reads a payout reconciliation
needs, and webhook endpoints) and the sandbox's control API under ``/_sandbox/`` (no auth).

Stripe's wire as the official OpenAPI describes it: the secret key as Bearer or Basic
credentials, form-encoded requests with bracketed keys (``expand[]=data.source``,
``created[gte]=…``), lists ``{"object": "list", "data", "has_more", "url"}`` newest first, paged
with ``limit`` (1 to 100), ``starting_after`` and ``ending_before``, errors
``{"error": {"type", "message", "code", "param"}}``, unknown parameters refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets as secrets_module
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.stripe.state import (
    API_VERSION,
    PAYOUT_EVENTS,
    StripeError,
    StripeSandbox,
    invalid,
    missing,
)

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
MANUAL_PAYOUT = (
    "Balance transaction history can only be filtered on automatic transfers, not manual."
)
RANGE_KEYS = ("gt", "gte", "lt", "lte")


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, indent=2), status, headers=dict(headers or {}),
        media_type="application/json",
    )  # fmt: skip


def _error(exc: StripeError, headers: Mapping[str, str] | None = None) -> Response:
    return _json(exc.body(), exc.status, headers)


class Params:
    """A request's parameters decoded the way Stripe reads them: ``a[]=x`` and ``a[0]=x`` are
    lists, ``a[b]=x`` a nested object, everything else text."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.values: dict[str, Any] = {}
        for key, value in pairs:
            name, _, rest = key.partition("[")
            if not rest:
                self.values[name] = value
                continue
            inner = rest.rstrip("]")
            if inner == "" or inner.isdigit():
                found = self.values.setdefault(name, [])
                if not isinstance(found, list):
                    raise invalid(name, f"Invalid array: {name}")
                found.append(value)
            else:
                nested = self.values.setdefault(name, {})
                if not isinstance(nested, dict):
                    raise invalid(name, f"Invalid hash: {name}")
                nested[inner] = value

    def only(self, allowed: Iterable[str]) -> None:
        """Stripe refuses any parameter an operation does not take."""
        known = set(allowed)
        for name in self.values:
            if name not in known:
                raise invalid(name, f"Received unknown parameter: {name}")

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(name, f"Invalid string: {name}")
        return value

    def items(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [str(value)]

    def limit(self) -> int:
        raw = self.text("limit")
        if raw is None:
            return DEFAULT_LIMIT
        try:
            value = int(raw)
        except ValueError as exc:
            raise invalid("limit", f"Invalid integer: {raw}") from exc
        if not 1 <= value <= MAX_LIMIT:
            raise invalid(
                "limit",
                f"This value must be greater than or equal to 1 and less than or equal to "
                f"{MAX_LIMIT} (it currently is {value}).",
            )
        return value

    def range_of(self, name: str) -> Callable[[int], bool]:
        """A timestamp filter: ``name=<unix>`` or ``name[gt|gte|lt|lte]=<unix>``."""
        value = self.values.get(name)
        if value is None:
            return lambda _stamp: True
        bounds = value if isinstance(value, dict) else {"eq": value}
        checks: list[Callable[[int], bool]] = []
        for key, raw in bounds.items():
            if key not in (*RANGE_KEYS, "eq"):
                raise invalid(f"{name}[{key}]", f"Received unknown parameter: {name}[{key}]")
            try:
                bound = int(raw)
            except (TypeError, ValueError) as exc:
                raise invalid(name, f"Invalid integer: {raw}") from exc
            checks.append(_compare(key, bound))
        return lambda stamp: all(check(stamp) for check in checks)


def _compare(key: str, bound: int) -> Callable[[int], bool]:
    if key == "gt":
        return lambda stamp: stamp > bound
    if key == "gte":
        return lambda stamp: stamp >= bound
    if key == "lt":
        return lambda stamp: stamp < bound
    if key == "lte":
        return lambda stamp: stamp <= bound
    return lambda stamp: stamp == bound


def _key_of(request: Request) -> str | None:
    """The secret key from ``Authorization: Bearer <key>`` or Basic ``<key>:``."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def _masked(key: str) -> str:
    return f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:]}" if len(key) > 12 else "****"


class Api:
    """The ``/v1`` routes over one sandbox."""

    def __init__(self, sandbox: StripeSandbox) -> None:
        self.sandbox = sandbox

    async def handle(self, request: Request) -> Response:
        version = request.headers.get("stripe-version", "").strip()
        headers = {
            "Request-Id": "req_" + secrets_module.token_hex(7),
            "Stripe-Version": version or API_VERSION,
        }
        try:
            key = _key_of(request)
            if key is None:
                raise StripeError(401, NO_KEY)
            if key not in self.sandbox.keys:
                raise StripeError(401, f"Invalid API Key provided: {_masked(key)}")
            if version and not VERSION.match(version):
                raise StripeError(400, f"Invalid Stripe API version: {version}")
            if request.method in ("POST", "DELETE"):
                content_type = request.headers.get("content-type", "")
                raw = (await request.body()).decode("utf-8", "replace")
                if raw.strip() and "application/x-www-form-urlencoded" not in content_type:
                    raise StripeError(
                        400,
                        "Invalid request: request parameters should be form-encoded "
                        "(Content-Type: application/x-www-form-urlencoded).",
                    )
                pairs = parse_qsl(raw, keep_blank_values=True)
                params = Params([*request.query_params.multi_items(), *pairs])
            else:
                params = Params(request.query_params.multi_items())
            with self.sandbox.lock:
                payload = self.route(request.method, request.url.path, params)
        except StripeError as exc:
            return _error(exc, headers)
        return _json(payload, headers=headers)

    def route(self, method: str, path: str, params: Params) -> Any:
        parts = path.strip("/").split("/")[1:]
        if method == "GET" and parts == ["balance"]:
            params.only(["expand"])
            return self.balance()
        collection = parts[0] if parts else ""
        if len(parts) == 1 and method == "GET" and collection in LISTS:
            return LISTS[collection](self, params)
        if len(parts) == 2 and method == "GET" and collection in ONE:
            params.only(["expand"])
            return ONE[collection](self, parts[1], params)
        if collection == "webhook_endpoints":
            if len(parts) == 1 and method == "POST":
                return self.create_endpoint(params)
            if len(parts) == 2 and method == "DELETE":
                return self.delete_endpoint(parts[1])
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    # ------------------------------------------------------------------ reads

    def balance(self) -> dict[str, Any]:
        amount = self.sandbox.balance()
        currency = self.sandbox.currency
        return {
            "object": "balance",
            "available": [
                {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            ],
            "livemode": False,
            "pending": [{"amount": 0, "currency": currency, "source_types": {"card": 0}}],
        }  # fmt: skip

    def page(
        self,
        params: Params,
        rows: list[dict[str, Any]],
        url: str,
        kind: str,
        shown: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    ) -> dict[str, Any]:
        """Newest first, ``limit`` of them after ``starting_after`` (or before
        ``ending_before``)."""
        order = self.sandbox.order
        ordered = sorted(rows, key=lambda r: (int(r["created"]), order.get(r["id"], 0)),
                         reverse=True)  # fmt: skip
        limit = params.limit()
        after, before = params.text("starting_after"), params.text("ending_before")
        ids = [row["id"] for row in ordered]
        if after is not None and before is not None:
            raise invalid("starting_after", "You may only specify one of these parameters: "
                          "ending_before, starting_after.")  # fmt: skip
        if after is not None:
            if after not in ids:
                raise missing(kind, after, "starting_after")
            start = ids.index(after) + 1
            chosen = ordered[start : start + limit]
            more = start + limit < len(ordered)
        elif before is not None:
            if before not in ids:
                raise missing(kind, before, "ending_before")
            end = ids.index(before)
            chosen = ordered[max(end - limit, 0) : end]
            more = end - limit > 0
        else:
            chosen = ordered[:limit]
            more = limit < len(ordered)
        return {"object": "list", "data": [shown(row) for row in chosen], "has_more": more,
                "url": url}  # fmt: skip

    def payouts(self, params: Params) -> dict[str, Any]:
        params.only(["arrival_date", "created", "destination", "ending_before", "expand",
                     "limit", "starting_after", "status"])  # fmt: skip
        self.expansions(params, ())
        created = params.range_of("created")
        arrival = params.range_of("arrival_date")
        status = params.text("status")
        rows = [
            p
            for p in self.sandbox.payouts.values()
            if created(p["created"]) and arrival(p["arrival_date"])
            and (status is None or p["status"] == status)
        ]  # fmt: skip
        return self.page(params, rows, "/v1/payouts", "payout", _copy)

    def payout(self, payout_id: str, params: Params) -> dict[str, Any]:
        self.expansions(params, ())
        found = self.sandbox.payouts.get(payout_id)
        if found is None:
            raise missing("payout", payout_id)
        return _copy(found)

    def transactions(self, params: Params) -> dict[str, Any]:
        params.only(["created", "currency", "ending_before", "expand", "limit", "payout",
                     "source", "starting_after", "type"])  # fmt: skip
        paths = self.expansions(params, ("data.source", "data.source.charge"))
        rows = list(self.sandbox.transactions.values())
        payout_id = params.text("payout")
        if payout_id is not None:
            payout = self.sandbox.payouts.get(payout_id)
            if payout is None:
                raise missing("payout", payout_id, "payout")
            if not payout["automatic"]:
                raise StripeError(400, MANUAL_PAYOUT, param="payout")
            rows = self.sandbox.payout_transactions(payout_id)
        created = params.range_of("created")
        kind, source = params.text("type"), params.text("source")
        currency = params.text("currency")
        rows = [
            t
            for t in rows
            if created(t["created"]) and (kind is None or t["type"] == kind)
            and (source is None or t["source"] == source)
            and (currency is None or t["currency"] == currency.lower())
        ]  # fmt: skip
        inner = {p.removeprefix("data.") for p in paths}
        return self.page(params, rows, "/v1/balance_transactions", "balance_transaction",
                         lambda row: self.expanded(row, inner))  # fmt: skip

    def transaction(self, txn_id: str, params: Params) -> dict[str, Any]:
        paths = self.expansions(params, ("source", "source.charge"))
        found = self.sandbox.transactions.get(txn_id)
        if found is None:
            raise missing("balance transaction", txn_id)
        return self.expanded(found, set(paths))

    def expansions(self, params: Params, allowed: Iterable[str]) -> list[str]:
        paths = params.items("expand")
        for path in paths:
            if path not in allowed:
                raise invalid("expand", f"This property cannot be expanded ({path}).")
        return paths

    def expanded(self, txn: dict[str, Any], paths: set[str]) -> dict[str, Any]:
        """A balance transaction with its ``source`` object (and the source's ``charge``)."""
        shown = _copy(txn)
        if "source" in paths and shown.get("source"):
            source = self.source_of(str(shown["source"]))
            if source is not None:
                if "source.charge" in paths and isinstance(source.get("charge"), str):
                    charge = self.sandbox.charges.get(source["charge"])
                    if charge is not None:
                        source["charge"] = _copy(charge)
                shown["source"] = source
        return shown

    def source_of(self, object_id: str) -> dict[str, Any] | None:
        for table in (self.sandbox.charges, self.sandbox.refunds, self.sandbox.disputes,
                      self.sandbox.payouts):  # fmt: skip
            if object_id in table:
                return _copy(table[object_id])
        return None

    def charges(self, params: Params) -> dict[str, Any]:
        params.only(["created", "customer", "ending_before", "expand", "limit",
                     "payment_intent", "starting_after", "transfer_group"])  # fmt: skip
        self.expansions(params, ())
        created = params.range_of("created")
        intent = params.text("payment_intent")
        rows = [
            c
            for c in self.sandbox.charges.values()
            if created(c["created"]) and (intent is None or c["payment_intent"] == intent)
        ]
        return self.page(params, rows, "/v1/charges", "charge", _copy)

    def charge(self, charge_id: str, params: Params) -> dict[str, Any]:
        self.expansions(params, ())
        found = self.sandbox.charges.get(charge_id)
        if found is None:
            raise missing("charge", charge_id)
        return _copy(found)

    def refunds(self, params: Params) -> dict[str, Any]:
        params.only(["charge", "created", "ending_before", "expand", "limit", "payment_intent",
                     "starting_after"])  # fmt: skip
        self.expansions(params, ())
        created = params.range_of("created")
        charge = params.text("charge")
        rows = [
            r
            for r in self.sandbox.refunds.values()
            if created(r["created"]) and (charge is None or r["charge"] == charge)
        ]
        return self.page(params, rows, "/v1/refunds", "refund", _copy)

    def refund(self, refund_id: str, params: Params) -> dict[str, Any]:
        self.expansions(params, ())
        found = self.sandbox.refunds.get(refund_id)
        if found is None:
            raise missing("refund", refund_id)
        return _copy(found)

    def dispute(self, dispute_id: str, params: Params) -> dict[str, Any]:
        self.expansions(params, ())
        found = self.sandbox.disputes.get(dispute_id)
        if found is None:
            raise missing("dispute", dispute_id)
        return _copy(found)

    def events(self, params: Params) -> dict[str, Any]:
        params.only(["created", "delivery_success", "ending_before", "expand", "limit",
                     "starting_after", "type", "types"])  # fmt: skip
        self.expansions(params, ())
        created = params.range_of("created")
        kinds = set(params.items("types"))
        kind = params.text("type")
        rows = [
            e
            for e in self.sandbox.events.values()
            if created(e["created"]) and (kind is None or _matches(kind, e["type"]))
            and (not kinds or e["type"] in kinds)
        ]  # fmt: skip
        return self.page(params, rows, "/v1/events", "event", _copy)

    def event(self, event_id: str, params: Params) -> dict[str, Any]:
        found = self.sandbox.events.get(event_id)
        if found is None:
            raise missing("event", event_id)
        return _copy(found)

    def endpoints(self, params: Params) -> dict[str, Any]:
        params.only(["ending_before", "expand", "limit", "starting_after"])
        rows = [e.to_json() for e in self.sandbox.endpoints.values()]
        return self.page(params, rows, "/v1/webhook_endpoints", "webhook endpoint")

    def endpoint(self, endpoint_id: str, params: Params) -> dict[str, Any]:
        found = self.sandbox.endpoints.get(endpoint_id)
        if found is None:
            raise missing("webhook endpoint", endpoint_id)
        return found.to_json()

    # ------------------------------------------------------------------ writes

    def create_endpoint(self, params: Params) -> dict[str, Any]:
        params.only(["api_version", "connect", "description", "enabled_events", "expand",
                     "metadata", "url"])  # fmt: skip
        url = params.text("url")
        if not url:
            raise StripeError(400, "Missing required param: url.", code="parameter_missing",
                              param="url")  # fmt: skip
        events = params.items("enabled_events")
        for kind in events:
            if kind != "*" and not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", kind):
                raise invalid("enabled_events", f"Invalid event type: {kind}")
        made = self.sandbox.create_endpoint(url, events, params.text("description"))
        return made.to_json(with_secret=True)

    def delete_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        if self.sandbox.endpoints.pop(endpoint_id, None) is None:
            raise missing("webhook endpoint", endpoint_id)
        return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def _matches(pattern: str, kind: str) -> bool:
    """``type`` may end in ``*`` (``payout.*``)."""
    return kind.startswith(pattern[:-1]) if pattern.endswith("*") else kind == pattern


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value))
    return result


LISTS: dict[str, Callable[[Api, Params], Any]] = {
    "payouts": Api.payouts,
    "balance_transactions": Api.transactions,
    "charges": Api.charges,
    "refunds": Api.refunds,
    "events": Api.events,
    "webhook_endpoints": Api.endpoints,
}
ONE: dict[str, Callable[[Api, str, Params], Any]] = {
    "payouts": Api.payout,
    "balance_transactions": Api.transaction,
    "charges": Api.charge,
    "refunds": Api.refund,
    "disputes": Api.dispute,
    "events": Api.event,
    "webhook_endpoints": Api.endpoint,
}


def create_app(sandbox: StripeSandbox) -> Starlette:
    """The ASGI app serving one account."""
    api = Api(sandbox)
    routes = [
        Route("/v1/{path:path}", api.handle, methods=["GET", "POST", "DELETE"]),
        *_control_routes(sandbox),
    ]

    async def unknown(request: Request) -> Response:
        return _error(StripeError(404, f"Unrecognized request URL ({request.method}: "
                                       f"{request.url.path})."))  # fmt: skip

    routes.append(Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "DELETE"]))
    return Starlette(routes=routes)


def _control_routes(sandbox: StripeSandbox) -> list[Route]:
    """``/_sandbox/``: state, reset, seed, settings, keys, the account's own activity (charges,
    refunds, disputes, fees, payouts and their fate) and the webhook log."""
    from ledgerbridge.sandbox.stripe.seed import seed_account

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            found = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StripeError(400, "Invalid JSON body.") from exc
        if not isinstance(found, dict):
            raise StripeError(400, "The body must be a JSON object.")
        return found

    def control(handler: Callable[[dict[str, Any], Mapping[str, str]], Any]) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                body = await body_of(request) if request.method in ("POST", "PUT") else {}
                return _json(handler(body, request.path_params))
            except StripeError as exc:
                return _error(exc)

        return endpoint

    def seed(body: dict[str, Any], _path: Mapping[str, str]) -> Any:
        sandbox.reset()
        try:
            charges = int(body.get("charges", 12))
            seed_value = int(body.get("seed", 1))
        except (TypeError, ValueError) as exc:
            raise invalid("charges", "charges and seed must be whole numbers") from exc
        if not 3 <= charges <= 5000:
            raise invalid("charges", "charges must be between 3 and 5000")
        return seed_account(sandbox, seed=seed_value, charges=charges)

    def reset(_body: dict[str, Any], _path: Mapping[str, str]) -> Any:
        sandbox.reset()
        return sandbox.summary()

    def resend(_body: dict[str, Any], path: Mapping[str, str]) -> Any:
        return sandbox.resend(str(path["event_id"]))

    return [
        Route("/_sandbox/health", control(lambda _b, _p: {"status": "ok"}), methods=["GET"]),
        Route("/_sandbox/state", control(lambda _b, _p: sandbox.summary()), methods=["GET"]),
        Route("/_sandbox/reset", control(reset), methods=["POST"]),
        Route("/_sandbox/seed", control(seed), methods=["POST"]),
        Route(
            "/_sandbox/settings",
            control(lambda b, _p: sandbox.apply_settings(b).to_json()),
            methods=["PUT"],
        ),
        Route(
            "/_sandbox/keys",
            control(lambda _b, _p: {"secret_key": sandbox.add_key()}),
            methods=["POST"],
        ),
        Route(
            "/_sandbox/charges", control(lambda b, _p: sandbox.create_charge(b)), methods=["POST"]
        ),
        Route(
            "/_sandbox/charges/{charge_id}/refunds",
            control(lambda b, p: sandbox.refund(p["charge_id"], b)),
            methods=["POST"],
        ),
        Route(
            "/_sandbox/charges/{charge_id}/disputes",
            control(lambda b, p: sandbox.dispute(p["charge_id"], b)),
            methods=["POST"],
        ),
        Route("/_sandbox/fees", control(lambda b, _p: sandbox.add_fee(b)), methods=["POST"]),
        Route(
            "/_sandbox/payouts", control(lambda b, _p: sandbox.create_payout(b)), methods=["POST"]
        ),
        Route(
            "/_sandbox/payouts/{payout_id}/status",
            control(lambda b, p: sandbox.set_payout_status(p["payout_id"], b)),
            methods=["POST"],
        ),
        Route("/_sandbox/events/{event_id}/resend", control(resend), methods=["POST"]),
        Route(
            "/_sandbox/webhooks/deliveries",
            control(lambda _b, _p: [d.to_json() for d in sandbox.hooks.deliveries()]),
            methods=["GET"],
        ),
        Route(
            "/_sandbox/webhooks/missed",
            control(lambda _b, _p: sandbox.hooks.missed()),
            methods=["GET"],
        ),
    ]


FAULTS = VendorFaults(
    error=lambda scope: _error(
        StripeError(
            500,
            "An unknown error occurred while processing your request. Please try again.",
            type_="api_error",
        ),
        {"Stripe-Should-Retry": "true"},
    ),
    throttle=lambda scope, retry_after: _error(
        StripeError(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff "
            "of your requests.",
            code="rate_limit",
        ),
        {"Retry-After": str(retry_after), "Stripe-Should-Retry": "true"},
    ),
)
"""Stripe's ``api_error`` and its ``rate_limit`` answer (a 429 with ``code: rate_limit``)."""


def serve(
    sandbox: StripeSandbox,
    host: str = "127.0.0.1",
    port: int = 12111,
    faults: FaultPlan | None = None,
) -> None:
    """Run the account with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """An account served on a background thread, for tests and the demo; ``use()`` swaps it."""

    name = "Stripe sandbox"

    def __init__(
        self,
        sandbox: StripeSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.use(sandbox)

    def use(self, sandbox: StripeSandbox) -> None:
        self.sandbox = sandbox
        self._app: ASGIApp = create_app(sandbox)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def app(self) -> Any:
        return self._dispatch


__all__ = ["FAULTS", "PAYOUT_EVENTS", "SandboxServer", "create_app", "serve"]
