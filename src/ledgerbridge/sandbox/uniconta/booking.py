"""The booking service: what a user runs beside ledgerbridge so that invoices get booked.

Uniconta's REST API cannot post an invoice; only its .NET API can (``InvoiceAPI.PostInvoice``).
The open-source UnicontaRest wrapper serves that call over HTTP, and this app speaks its
contract: ``POST /Companies/{companyId}/Invoice/DebtorOrders/{orderNumber}`` (and the legacy
``…/Invoice/Orders/{orderNumber}``) with ``simulate``, ``documentType`` and repeatable
``email``; HTTP Basic with the Uniconta user's own name and password; 200 with the
``InvoicePostingResult`` as JSON (or the invoice PDF when ``Accept`` asks for it), 500 with the
``ErrorCodes`` value when the order cannot be read or posting is refused.

It is its own ASGI app on its own port, sharing the sandbox's companies with the OData/REST app
(as the real service shares Uniconta's), and sits behind the same fault injection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ledgerbridge.sandbox.faults import FaultInjector, FaultPlan, VendorFaults
from ledgerbridge.sandbox.server import LoopbackServer
from ledgerbridge.sandbox.uniconta import posting
from ledgerbridge.sandbox.uniconta.state import SandboxError, UnicontaSandbox

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
PDF_MEDIA_TYPE = "application/pdf"


def _json(status: int, payload: Any) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"WWW-Authenticate": 'Basic realm="UnicontaRest"'} if status == 401 else None
    return Response(body, status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _problem(status: int, title: str) -> Response:
    """ASP.NET Core's problem details, which UnicontaRest answers for its own failures (no
    credentials, a refused login, an unknown company, a crash)."""
    return _json(status, {"type": f"https://httpstatuses.io/{status}", "title": title,
                          "status": status})  # fmt: skip


def _flag(value: str | None, name: str) -> bool:
    """An ASP.NET bool query value (``true``/``false``, any case); absent is false."""
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise SandboxError("InvalidValue", f"{name}: {value!r} is not a boolean")
    return lowered == "true"


def create_booking_app(sandbox: UnicontaSandbox) -> FastAPI:
    """The booking service over one sandbox's companies."""
    app = FastAPI(
        title="Uniconta booking service (UnicontaRest contract)",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )

    async def book(request: Request, company_id: str, order_number: str) -> Response:
        if not company_id.isdigit():
            return _problem(404, f"Company {company_id} not found")
        try:
            user = sandbox.booking_login(request.headers.get("authorization"), int(company_id))
        except SandboxError as exc:
            return _problem(exc.status, exc.message)
        delay = sandbox.record_call(int(company_id), user.username)
        if delay > 0:
            await asyncio.sleep(delay)
        params = request.query_params
        try:
            if not order_number.isdigit():
                raise SandboxError("InvalidValue", f"orderNumber {order_number!r} is not a number")
            result = sandbox.book_order(
                int(company_id),
                int(order_number),
                simulate=_flag(params.get("simulate"), "simulate"),
                document_type=params.get("documentType") or "Invoice",
                emails=params.getlist("email"),
            )
        except SandboxError as exc:
            return _problem(400, exc.message)
        except posting.PostingRefused as exc:
            # UnicontaRest answers the ErrorCodes value and nothing else.
            return _json(500, exc.code)
        if PDF_MEDIA_TYPE in request.headers.get("accept", ""):
            return Response(invoice_pdf(result), 200, media_type=PDF_MEDIA_TYPE)
        return _json(200, result)

    @app.post("/Companies/{company_id}/Invoice/DebtorOrders/{order_number}", tags=["booking"])
    async def debtor_order(request: Request, company_id: str, order_number: str) -> Response:
        """Post a sales order as an invoice (``InvoiceAPI.PostInvoice``)."""
        return await book(request, company_id, order_number)

    @app.post("/Companies/{company_id}/Invoice/Orders/{order_number}", tags=["booking"])
    async def legacy_order(request: Request, company_id: str, order_number: str) -> Response:
        """The legacy path of the same call."""
        return await book(request, company_id, order_number)

    @app.get("/_sandbox/companies/{company_id}/mails", tags=["sandbox admin"])
    def mails(company_id: int) -> Response:
        """Invoices the service was asked to mail (``email``), oldest first."""
        try:
            return _json(200, sandbox.mails(company_id))
        except SandboxError as exc:
            return _problem(exc.status, exc.message)

    return app


def invoice_pdf(result: dict[str, Any]) -> bytes:
    """A one-page PDF naming the invoice, its date and total: a real, parseable document
    standing for the layout Uniconta would print."""
    kind = "Kreditnota" if float(result.get("TotalAmount") or 0) < 0 else "Faktura"
    text = (
        f"{kind} {result.get('InvoiceNumber')}  {result.get('Date')}  "
        f"Total {result.get('TotalAmount')}"
    )
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 770 Td ({escaped}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


BOOKING_FAULTS = VendorFaults(
    error=lambda scope: _problem(500, "An error occurred while processing your request."),
    throttle=lambda scope, retry_after: Response(
        b"", 429, headers={"Retry-After": str(retry_after)}
    ),
)
"""A crashed or overloaded service answers ASP.NET's own problem details, never an ErrorCodes
value: a client can tell a refusal from a failure."""


class BookingServer(LoopbackServer):
    """The booking service on a background thread (``port=0``: a free one), for tests, the
    demo and ``ledgerbridge sandbox uniconta --booking-port``."""

    name = "Uniconta booking service"

    def __init__(
        self,
        sandbox: UnicontaSandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(host, port, FaultInjector(BOOKING_FAULTS, faults))
        self.sandbox = sandbox

    def app(self) -> Any:
        return create_booking_app(self.sandbox)
