"""The booking service's wire: what posts an order as an invoice, since Uniconta's REST API
cannot (only its .NET ``InvoiceAPI.PostInvoice`` can).

A user who wants invoices booked automatically runs a service speaking the contract of the
open-source UnicontaRest wrapper beside ledgerbridge: ``POST
/Companies/{companyId}/Invoice/DebtorOrders/{orderNumber}``, HTTP Basic with the Uniconta user's
own name and password, 200 with Uniconta's ``InvoicePostingResult``, 500 with the
``ErrorCodes`` value when Uniconta refuses. Each booking is a Uniconta API call, so it is
announced to the connection's call meter like the OData calls.
"""

from __future__ import annotations

import base64
import re

import httpx

from ledgerbridge.connectors.base import (
    JSON,
    AmbiguousWrite,
    AuthenticationFailed,
    CallMeter,
    RemoteRejected,
)
from ledgerbridge.connectors.kit.http import (
    error_json,
    httpx_failure,
    status_failure,
    with_retries,
)

SUCCESS = "Succes"
"""``ErrorCodes.Succes``: Uniconta spells it so."""

PDF = "application/pdf"

ERROR_CODE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
"""An ``ErrorCodes`` member name: what a refusal's body is, and a crash's never is."""


class BookingClient:
    """Posts one order at a time: a posting cannot be batched and must not be repeated
    blindly (a lost answer is looked up by the order's ``OurRef`` instead)."""

    def __init__(
        self,
        *,
        booking_url: str,
        company_id: int,
        username: str,
        password: str,
        meter: CallMeter,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.company_id = company_id
        self._meter = meter
        self._http = httpx.Client(
            base_url=booking_url.rstrip("/"),
            auth=httpx.BasicAuth(username, password),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def book(self, order_number: int, *, pdf: bool = False) -> JSON:
        """Post an order: Uniconta's ``InvoicePostingResult`` (``Err`` is ``Succes`` and it
        names the ``InvoiceNumber``), or ``{"Err": <ErrorCodes>}`` when Uniconta refused to
        post it (the order stays as it was).

        ``pdf``: ask for the invoice in Uniconta's layout instead (``Accept:
        application/pdf``, for invoice mail). The service then answers the PDF and not the
        result, so a success is ``{"Err": "Succes", "pdf": <base64>}`` without the invoice
        number, which the read step finds by the order's ``OurRef``."""
        path = f"/Companies/{self.company_id}/Invoice/DebtorOrders/{order_number}"
        return with_retries(lambda: self._attempt(path, pdf))

    def _attempt(self, path: str, pdf: bool = False) -> JSON:
        self._meter(1)
        try:
            headers = {"Accept": f"{PDF}, application/json;q=0.5"} if pdf else None
            response = self._http.post(path, headers=headers)
        except httpx.TransportError as exc:
            raise httpx_failure(
                "the Uniconta booking service", "POST", path, exc, write=True
            ) from exc
        status = response.status_code
        if status == 401:
            raise AuthenticationFailed("the booking service asked for the Uniconta user's login")
        if status == 403:
            raise AuthenticationFailed("Uniconta refused the login at the booking service")
        if status == 404:
            raise RemoteRejected(
                f"the booking service at {self._http.base_url} does not know company "
                f"{self.company_id} (or booking_url does not point at a booking service)",
                reason="booking_service_refused",
            )
        if status == 200 and response.headers.get("content-type", "").startswith(PDF):
            return {"Err": SUCCESS, "pdf": base64.b64encode(response.content).decode("ascii")}
        body = error_json(response)
        if status == 500 and isinstance(body, str) and ERROR_CODE.match(body):
            return {"Err": body}
        failure = status_failure(
            "the Uniconta booking service", "POST", path, status, response.headers, write=True
        )
        if failure is not None:
            raise failure
        if status >= 400:
            raise RemoteRejected(
                f"the booking service refused POST {path}: HTTP {status} {response.text[:300]}",
                reason="booking_service_refused",
            )
        if not isinstance(body, dict) or "Err" not in body:
            raise AmbiguousWrite(
                f"the booking service answered POST {path} with no InvoicePostingResult"
            )
        return dict(body)
