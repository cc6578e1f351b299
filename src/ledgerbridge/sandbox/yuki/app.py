"""HTTP surface of the Yuki sandbox: the ASMX services, their WSDLs, and admin endpoints.

Routes mirror ``api.yukiworks.nl``: ``POST /ws/<Service>.asmx`` for SOAP 1.1 and 1.2 and
``GET /ws/<Service>.asmx?WSDL``. Everything under ``/_sandbox/`` is sandbox-only tooling (no
auth, not counted) for tests and the demo.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults, header
from ledgerbridge.sandbox.server import LoopbackServer, serve_forever
from ledgerbridge.sandbox.yuki.operations import dispatch, simulated
from ledgerbridge.sandbox.yuki.soap import fault_envelope, media_type
from ledgerbridge.sandbox.yuki.state import YukiFault, YukiSandbox
from ledgerbridge.sandbox.yuki.wsdl import SERVICES, operation_docs, served_wsdl

_SERVICE_BY_PATH = {f"{name.lower()}.asmx": name for name in SERVICES}
JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def _json(payload: Any, status: int = 200) -> Response:
    """JSON response; dataclasses, dates and decimals are written as JSON values/strings."""

    def default(value: Any) -> Any:
        """Encode what ``json`` cannot."""
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, Decimal):
            return str(value)
        return value.isoformat()

    body = json.dumps(payload, default=default, ensure_ascii=False).encode("utf-8")
    return Response(body, status, media_type=JSON_MEDIA_TYPE)


def _help_page(service: str, base: str) -> str:
    """The operation list ASMX shows for a browser, with each operation's documentation."""
    served = set(simulated(service))
    rows = "".join(
        f"<li><b>{html.escape(op)}</b>{'' if op in served else ' (not simulated)'}"
        f"<br>{html.escape(doc)}</li>"
        for op, doc in operation_docs(service).items()
    )
    return (
        f"<html><head><title>{service}</title></head><body><h1>{service}</h1>"
        f"<p>Yuki sandbox. Service description: <a href='{base}?WSDL'>{base}?WSDL</a></p>"
        f"<ul>{rows}</ul></body></html>"
    )


def create_app(sandbox: YukiSandbox) -> FastAPI:
    """Build the ASGI app serving one sandbox."""
    app = FastAPI(
        title="Yuki sandbox",
        description="Simulator of Yuki's SOAP web services for ledgerbridge tests and demos.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    @app.get("/ws/{name}", include_in_schema=False)
    def describe(request: Request, name: str) -> Response:
        """``?WSDL`` gives the service description; without it, the operation list."""
        service = _SERVICE_BY_PATH.get(name.lower())
        if service is None:
            return Response("Not Found", 404, media_type="text/plain")
        location = str(request.url.replace(query=""))
        if any(key.lower() == "wsdl" for key in request.query_params):
            return Response(served_wsdl(service, location), media_type="text/xml; charset=utf-8")
        return Response(_help_page(service, location), media_type="text/html; charset=utf-8")

    @app.post("/ws/{name}", include_in_schema=False)
    async def call(request: Request, name: str) -> Response:
        """A SOAP call; parsing and processing run off the event loop."""
        service = _SERVICE_BY_PATH.get(name.lower())
        if service is None:
            return Response("Not Found", 404, media_type="text/plain")
        raw = await request.body()
        reply = await run_in_threadpool(
            dispatch,
            sandbox,
            service,
            raw,
            request.headers.get("soapaction"),
            request.headers.get("content-type", ""),
        )
        return Response(reply.body, reply.status, media_type=reply.media_type)

    _add_admin_routes(app, sandbox)
    return app


class FlagBody(BaseModel):
    """Body of the flag endpoints: the new value of the checkbox."""

    value: bool = True


class LimitBody(BaseModel):
    """Body of ``PUT /_sandbox/domains/{id}/daily-call-limit``."""

    limit: int


class PaymentBody(BaseModel):
    """Body of ``POST /_sandbox/administrations/{id}/payments``."""

    reference: str
    amount: Decimal


def _add_admin_routes(app: FastAPI, sandbox: YukiSandbox) -> None:
    """Sandbox-only endpoints (no auth, not counted): act as a Yuki user, inspect state."""

    def admin(handler: Callable[[], Any]) -> Response:
        """Run an admin action; an unknown id or bad value becomes a 404 or 400."""
        try:
            return _json(handler())
        except KeyError as exc:
            return _json({"error": str(exc.args[0]) if exc.args else "not found"}, 404)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    @app.get("/_sandbox/health", tags=["sandbox admin"])
    def health() -> Response:
        """Liveness plus the domains present."""
        return admin(lambda: {"status": "ok", "domains": sandbox.domains()})

    @app.get("/_sandbox/calls", tags=["sandbox admin"])
    def calls() -> Response:
        """Calls per domain today and in total, with each daily limit."""
        return admin(sandbox.call_report)

    @app.put("/_sandbox/domains/{domain_id}/daily-call-limit", tags=["sandbox admin"])
    def daily_limit(domain_id: str, body: LimitBody) -> Response:
        """Change a domain's daily call limit (1,000 / 5,000 / 10,000)."""
        return admin(lambda: sandbox.set_daily_call_limit(domain_id, body.limit))

    @app.get("/_sandbox/domains/{domain_id}/contacts", tags=["sandbox admin"])
    def contacts(domain_id: str) -> Response:
        """Every contact of a domain, flags included."""
        return admin(lambda: sandbox.contacts(domain_id))

    @app.get("/_sandbox/domains/{domain_id}/contacts/{contact}", tags=["sandbox admin"])
    def contact(domain_id: str, contact: str) -> Response:
        """One contact by id or relationship code."""

        def handle() -> Any:
            """The admin action itself."""
            found = sandbox.get_contact(domain_id, contact)
            if found is None:
                raise KeyError(f"no contact {contact!r}")
            return found

        return admin(handle)

    @app.post("/_sandbox/domains/{domain_id}/contacts/{contact}/customer", tags=["sandbox admin"])
    def customer(domain_id: str, contact: str, body: FlagBody) -> Response:
        """Tick or clear the Customer box, as a Yuki user does."""
        return admin(lambda: sandbox.mark_as_customer(domain_id, contact, body.value))

    @app.post("/_sandbox/domains/{domain_id}/contacts/{contact}/supplier", tags=["sandbox admin"])
    def supplier(domain_id: str, contact: str, body: FlagBody) -> Response:
        """Tick or clear the Supplier box."""
        return admin(lambda: sandbox.mark_as_supplier(domain_id, contact, body.value))

    @app.post("/_sandbox/domains/{domain_id}/contacts/{contact}/active", tags=["sandbox admin"])
    def active(domain_id: str, contact: str, body: FlagBody) -> Response:
        """Deactivate (``false``) or reactivate a contact."""
        return admin(lambda: sandbox.set_active(domain_id, contact, body.value))

    @app.get("/_sandbox/administrations/{admin_id}/invoices", tags=["sandbox admin"])
    def invoices(admin_id: str) -> Response:
        """Accepted sales invoices, booked and draft."""
        return admin(lambda: sandbox.sales_invoices(admin_id))

    @app.get("/_sandbox/administrations/{admin_id}/outstanding-items", tags=["sandbox admin"])
    def items(admin_id: str) -> Response:
        """Debtor items, settled ones included."""
        return admin(lambda: sandbox.outstanding_items(admin_id, include_settled=True))

    @app.post("/_sandbox/administrations/{admin_id}/payments", tags=["sandbox admin"])
    def payment(admin_id: str, body: PaymentBody) -> Response:
        """Book a received payment against the open item with that reference."""
        return admin(lambda: sandbox.register_payment(admin_id, body.reference, body.amount))


def _soap_version(scope: Scope) -> str:
    return "1.2" if "application/soap+xml" in header(scope, "content-type") else "1.1"


def _soap_fault(scope: Scope, status: int, fault: YukiFault) -> Response:
    version = _soap_version(scope)
    return Response(fault_envelope(version, fault), status, media_type=media_type(version))


def _throttled(scope: Scope, retry_after: int) -> Response:
    """Yuki documents only a daily limit; a 429 is what a gateway in front of it answers."""
    response = _soap_fault(scope, 429, YukiFault("Too many requests.", code="Server"))
    response.headers["Retry-After"] = str(retry_after)
    return response


FAULTS = VendorFaults(
    error=lambda scope: _soap_fault(
        scope, 500, YukiFault("Server was unable to process request.", code="Server")
    ),
    throttle=_throttled,
    is_session=lambda scope: (
        "Authenticate" in header(scope, "soapaction")
        or "Authenticate" in header(scope, "content-type")
    ),
)
"""Yuki answers errors as SOAP faults with HTTP 500, as ASMX services do; a session starts
with ``Authenticate``."""


def serve(
    sandbox: YukiSandbox,
    host: str = "127.0.0.1",
    port: int = 8766,
    faults: FaultPlan | None = None,
) -> None:
    """Run the sandbox with uvicorn until interrupted (blocking), behind fault injection."""
    serve_forever(create_app(sandbox), FaultInjector(FAULTS, faults), host, port)


class SandboxServer(LoopbackServer):
    """A sandbox served by uvicorn on a background thread, for tests and benchmarks.

    ``port=0`` picks a free port; ``base_url`` tells where it landed.
    """

    name = "Yuki sandbox"

    def __init__(
        self,
        sandbox: YukiSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(FAULTS, faults))
        self.sandbox = sandbox

    def url(self, service: str) -> str:
        """Endpoint of one service, e.g. ``url("Contact")`` → ``…/ws/Contact.asmx``."""
        return f"{self.base_url}/ws/{service}.asmx"

    def app(self) -> Any:
        return create_app(self.sandbox)
