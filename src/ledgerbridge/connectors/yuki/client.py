"""The Yuki wire: SOAP 1.1 over Yuki's ASMX web services.

zeep builds every request envelope from the WSDLs shipped in ``wsdl/`` (so parameter names and
their case are the WSDL's: ``sessionID`` on Contact, ``sessionId`` on ProcessSalesInvoices), and
answers are read with lxml because Yuki returns untyped ``s:any`` documents. Every call is
announced to the call meter first: Yuki counts calls per domain per day (1,000 by default).

Sessions from ``Authenticate`` are valid 24 hours; they are kept in a process-wide cache per
base URL and access key and renewed after 23 hours or when Yuki says a session is invalid, so
a worker authenticates about once a day instead of once per run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import TransportError
from zeep.transports import Transport

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    AmbiguousWrite,
    AuthenticationFailed,
    CallMeter,
    QuotaReached,
    RemoteRejected,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.http import (
    rate_limited,
    server_error,
    status_failure,
    transport_failure,
    with_retries,
)

WSDL_DIR = Path(__file__).parent / "wsdl"
TNS = "http://www.theyukicompany.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
CONTACT_NS = "urn:xmlns:http://www.theyukicompany.com:contact"
SALES_NS = "urn:xmlns:http://www.theyukicompany.com:salesinvoices"
DEFAULT_BASE_URL = "https://api.yukiworks.nl"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SESSION_TTL = timedelta(hours=23)
"""Yuki sessions last 24 hours; renewing an hour early keeps a long run from crossing the end."""
DAILY_LIMIT_FAULT = "Daily limit exceeded"
SERVER_FAULT = "Server was unable to process request."
"""ASMX's whole fault text when the service failed without saying why (a refusal of the
request adds "---> <reason>"): a server error like a bare HTTP 500."""
SESSION_FAULTS = ("invalid session", "session expired")
ACCESS_FAULTS = ("authentication failed", "access key", "no access to")

_SESSIONS: dict[tuple[str, str], tuple[str, datetime]] = {}
_SESSIONS_LOCK = threading.Lock()


class OfflineTransport(Transport):
    """zeep transport that loads the packaged WSDLs and the SOAP-encoding stub, and refuses
    every other fetch: a WSDL must never pull a schema from the internet at run time."""

    def load(self, url: str) -> bytes:
        if url.rstrip("/") == SOAP_ENCODING.rstrip("/"):
            return (WSDL_DIR / "soap-encoding.xsd").read_bytes()
        if urlsplit(url).scheme in ("http", "https"):
            raise TransportError(f"offline: refusing to fetch {url}")
        return bytes(super().load(url))


def wsdl_path(service: str) -> str:
    return str(WSDL_DIR / f"{service}.asmx.wsdl")


class YukiClient:
    def __init__(
        self,
        *,
        base_url: str,
        access_key: str,
        meter: CallMeter,
        clock: Clock,
        timeout: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._access_key = access_key
        self._meter = meter
        self._clock = clock
        self._transport = OfflineTransport(timeout=timeout, operation_timeout=timeout)
        self._services: dict[str, Any] = {}
        self._cache_key = (self.base_url, hashlib.sha256(access_key.encode()).hexdigest())

    def close(self) -> None:
        self._transport.session.close()

    # ------------------------------------------------------------------ sessions

    def session_id(self) -> str:
        """A live session: the cached one, else a new one from ``Authenticate``."""
        now = self._clock.now()
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(self._cache_key)
        if cached is not None and now - cached[1] < SESSION_TTL:
            return cached[0]
        result = self._send("Contact", "Authenticate", {"accessKey": self._access_key}, False)
        session = (result.text or "").strip()
        if not session:
            raise AuthenticationFailed("Yuki did not return a session for the access key")
        with _SESSIONS_LOCK:
            _SESSIONS[self._cache_key] = (session, now)
        return session

    def _drop_session(self) -> None:
        with _SESSIONS_LOCK:
            _SESSIONS.pop(self._cache_key, None)

    # ------------------------------------------------------------------ operations

    def domains(self) -> list[JSON]:
        return _rows(self._call("Contact", "Domains", {}), "Domain")

    def set_current_domain(self, domain_id: str) -> None:
        self._call("Contact", "SetCurrentDomain", {"domainID": domain_id})

    def administrations(self) -> list[JSON]:
        """The current domain's administrations."""
        return _rows(self._call("Contact", "Administrations", {}), "Administration")

    def suppliers_and_customers(
        self,
        domain_id: str,
        *,
        contact_type: str,
        modified_after: datetime | None,
        active: str,
        page: int,
    ) -> list[JSON]:
        """One page (at most 100) of contacts with their customer and supplier flags."""
        result = self._call(
            "Contact",
            "GetSuppliersAndCustomers",
            {
                "domainID": domain_id,
                "searchOption": "All",
                "searchValue": None,
                "sortOrder": "CreatedAsc",
                "modifiedAfter": modified_after,
                "active": active,
                "pageNumber": page,
                "contactType": contact_type,
            },
        )
        return _rows(result, "Contact")

    def search_contacts(self, domain_id: str, value: str, page: int = 1) -> list[JSON]:
        """Contacts whose name, code, numbers, e-mail or place contain ``value``."""
        result = self._call(
            "Contact",
            "SearchContacts",
            {
                "domainID": domain_id,
                "searchOption": "All",
                "searchValue": value,
                "sortOrder": "CreatedAsc",
                "modifiedAfter": None,
                "active": "Both",
                "pageNumber": page,
            },
        )
        return _rows(result, "Contact")

    def update_contact(self, domain_id: str, document: etree._Element) -> tuple[str, bool]:
        """Create or update one contact; returns its Yuki id and whether it was created."""
        result = self._call(
            "Contact",
            "UpdateContact",
            {"domainID": domain_id, "xmlDoc": {"_value_1": document}},
            write=True,
        )
        answer = _child(result)
        failed = _text(answer, "Failed") if answer is not None else None
        succeeded = _text(answer, "Succeeded") if answer is not None else None
        if failed or not succeeded:
            raise RemoteRejected(
                f"Yuki refused the contact: {failed or 'no answer'}", reason="yuki_contact_rejected"
            )
        return succeeded.rsplit(" ", 1)[-1], "created" in succeeded.lower()

    def process_sales_invoices(
        self, administration_id: str, document: etree._Element
    ) -> list[JSON]:
        """Send invoices in one call; returns Yuki's result per invoice, in order."""
        result = self._call(
            "Sales",
            "ProcessSalesInvoices",
            {"administrationId": administration_id, "xmlDoc": {"_value_1": document}},
            write=True,
            session_param="sessionId",
        )
        answer = _child(result)
        if answer is None:
            raise AmbiguousWrite("Yuki's answer to ProcessSalesInvoices had no result")
        return [
            {etree.QName(c).localname: (c.text or "").strip() for c in invoice if _is_element(c)}
            for invoice in answer
            if _is_element(invoice) and etree.QName(invoice).localname == "Invoice"
        ]

    def outstanding_items(self, administration_id: str, reference: str) -> list[JSON]:
        """Open or settled items of an administration whose reference is ``reference``."""
        result = self._call(
            "Accounting",
            "CheckOutstandingItemAdmin",
            {"administrationID": administration_id, "Reference": reference},
        )
        return _rows(result, "Item")

    # ------------------------------------------------------------------ the wire

    def _call(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        write: bool = False,
        session_param: str = "sessionID",
    ) -> etree._Element:
        try:
            return self._send(
                service, operation, {session_param: self.session_id(), **params}, write
            )
        except _SessionLost:
            self._drop_session()
        try:
            return self._send(
                service, operation, {session_param: self.session_id(), **params}, write
            )
        except _SessionLost as exc:
            raise AuthenticationFailed(f"Yuki refused a new session: {exc}") from exc

    def _proxy(self, service: str) -> Any:
        proxy = self._services.get(service)
        if proxy is None:
            client = Client(
                wsdl_path(service),
                transport=self._transport,
                settings=Settings(raw_response=True, xml_huge_tree=True),
            )
            proxy = client.create_service(
                f"{{{TNS}}}{service}Soap", f"{self.base_url}/ws/{service}.asmx"
            )
            self._services[service] = proxy
        return proxy

    def _send(
        self, service: str, operation: str, params: Mapping[str, Any], write: bool
    ) -> etree._Element:
        """One metered SOAP call, repeated when it failed without effect; returns the
        ``<Operation>Result`` element."""
        return with_retries(lambda: self._attempt(service, operation, params, write))

    def _attempt(
        self, service: str, operation: str, params: Mapping[str, Any], write: bool
    ) -> etree._Element:
        proxy = self._proxy(service)
        self._meter(1)
        try:
            response = getattr(proxy, operation)(**params)
        except requests.exceptions.RequestException as exc:
            raise transport_failure(
                "Yuki", "SOAP", operation, exc, sent=not _before_sending(exc), write=write
            ) from exc
        return self._result(operation, response, write)

    def _result(self, operation: str, response: requests.Response, write: bool) -> etree._Element:
        if response.status_code == 429:
            # A gateway's throttling answer, before Yuki processed anything, whatever SOAP
            # fault it carries: repeated after its Retry-After, never a refusal of the record.
            raise rate_limited("Yuki", response.headers)
        try:
            envelope = etree.fromstring(response.content)
        except etree.XMLSyntaxError:
            envelope = None
        body = envelope.find(f"{{{SOAP_ENV}}}Body") if envelope is not None else None
        fault = body.find(f"{{{SOAP_ENV}}}Fault") if body is not None else None
        if fault is not None:
            self._raise_fault(operation, fault, write)
        if response.status_code != 200 or body is None:
            failure = status_failure(
                "Yuki", "SOAP", operation, response.status_code, response.headers, write=write
            )
            raise failure or RemoteUnavailable(
                f"Yuki answered HTTP {response.status_code} to {operation}"
            )
        answer = _child(body)
        result = _child(answer) if answer is not None else None
        if result is None:
            return etree.Element(f"{{{TNS}}}{operation}Result")
        return result

    def _raise_fault(self, operation: str, fault: etree._Element, write: bool) -> None:
        text = (fault.findtext("faultstring") or "").strip()
        detail_element = fault.find("detail")
        detail = " ".join(detail_element.itertext()).strip() if detail_element is not None else ""
        lowered = text.lower()
        if text.startswith(DAILY_LIMIT_FAULT):
            local = self._clock.now().astimezone(AMSTERDAM)
            resumes = datetime.combine(local.date() + timedelta(days=1), time(0), AMSTERDAM)
            raise QuotaReached(
                f"Yuki's daily call limit for this domain is reached ({detail or text}); "
                f"resumes at {resumes.isoformat()}",
                resumes,
            )
        if any(marker in lowered for marker in SESSION_FAULTS) and operation != "Authenticate":
            raise _SessionLost(text)
        if any(marker in lowered for marker in ACCESS_FAULTS):
            raise AuthenticationFailed(f"Yuki refused access: {text}")
        if text == SERVER_FAULT and not detail:
            raise server_error("Yuki", "SOAP", operation, 500, write=write, detail=text)
        message = f"Yuki refused {operation}: {text}" + (f" ({detail})" if detail else "")
        if write:
            raise RemoteRejected(message, reason="yuki_fault")
        raise RemoteUnavailable(message)


def _before_sending(exc: requests.exceptions.RequestException) -> bool:
    """Whether the connection failed before the request left (refused, or no connection
    made in time), so that not even a write can have reached Yuki."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(exc, requests.exceptions.ConnectionError) and (
        "Failed to establish a new connection" in str(exc)
    )


class _SessionLost(Exception):
    """Yuki no longer knows the session: authenticate again and repeat the call once."""


def _is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


def _child(element: etree._Element) -> etree._Element | None:
    for child in element:
        if _is_element(child):
            return child
    return None


def _text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _is_element(child) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None


def _rows(result: etree._Element, name: str) -> list[JSON]:
    """Records named ``name`` anywhere below a result: their ``ID`` and child texts."""
    rows: list[JSON] = []
    for element in result.iter():
        if not _is_element(element) or etree.QName(element).localname != name:
            continue
        row: JSON = {"ID": element.get("ID")}
        for child in element:
            if _is_element(child):
                row[etree.QName(child).localname] = (child.text or "").strip() or None
        rows.append(row)
    return rows
