"""The operations the sandbox answers, and the dispatcher from a SOAP request to a handler.

Every service answers the shared operations (Authenticate, Domains, Administrations, ...);
each also has its own. An operation a WSDL declares but the sandbox does not simulate gets a
``soap:Server`` fault saying so, never a silent empty answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from ledgerbridge.sandbox.yuki.documents import (
    administrations_element,
    companies_element,
    contact_response,
    contacts_element,
    domains_element,
    gl_account_elements,
    import_response,
    outstanding_items_element,
    parse_contact_update,
    parse_sales_invoices,
    sales_item_elements,
    vat_code_elements,
)
from ledgerbridge.sandbox.yuki.soap import (
    READ_ERROR,
    TNS,
    Params,
    Result,
    fault_envelope,
    media_type,
    parse_envelope,
    requested_action,
    response_envelope,
    version_of,
)
from ledgerbridge.sandbox.yuki.state import (
    AMSTERDAM,
    ContactRejected,
    YukiFault,
    YukiSandbox,
    local_date,
)
from ledgerbridge.sandbox.yuki.wsdl import operation_docs

logger = logging.getLogger(__name__)

SALES_SCHEMA_PATH = "https://api.yukiworks.be/schemas/SalesInvoices.xsd"
SEARCH_OPTIONS = ("All",)
SORT_ORDERS = ("CreatedAsc", "CreatedDesc")
ACTIVE_FILTERS = ("Both", "Active", "Inactive")
CONTACT_TYPE_FILTERS = ("Customer", "Supplier", "Both", "None")

Handler = Callable[[YukiSandbox, Params], Result]


# ------------------------------------------------------------------ shared


def _authenticate(sandbox: YukiSandbox, params: Params) -> Result:
    """Authenticate(accessKey) → session id."""
    return sandbox.authenticate(params.string("accessKey") or "")


def _authenticate_client(sandbox: YukiSandbox, params: Params) -> Result:
    """AuthenticateClient(clientID, clientSecret, accessKey): any non-empty client pair."""
    if not params.string("clientID") or not params.string("clientSecret"):
        raise YukiFault("Authentication failed: clientID and clientSecret are required.")
    return sandbox.authenticate(params.string("accessKey") or "")


def _domains(sandbox: YukiSandbox, params: Params) -> Result:
    """Domains(sessionID): every domain the access key reaches."""
    scope = sandbox.begin_call(params.string("sessionID"))
    reachable = [d for d in sandbox.domains() if d.id in scope.session.domain_ids]
    return [domains_element(reachable, with_url=True)]


def _current_domain(sandbox: YukiSandbox, params: Params) -> Result:
    """GetCurrentDomain(sessionID)."""
    scope = sandbox.begin_call(params.string("sessionID"))
    current = [d for d in sandbox.domains() if d.id == scope.domain_id]
    return [domains_element(current, with_url=False)]


def _set_current_domain(sandbox: YukiSandbox, params: Params) -> Result:
    """SetCurrentDomain(sessionID, domainID): void."""
    session_id, domain_id = params.string("sessionID"), params.string("domainID") or ""
    scope = sandbox.begin_call(session_id)
    sandbox.set_current_domain(scope.session.id, domain_id)
    return None


def _administrations(sandbox: YukiSandbox, params: Params) -> Result:
    """Administrations(sessionID): those of the current domain."""
    scope = sandbox.begin_call(params.string("sessionID"))
    return [administrations_element(sandbox.administrations(scope.domain_id))]


def _companies(sandbox: YukiSandbox, params: Params) -> Result:
    """Companies(sessionID): the current domain's administrations as companies."""
    scope = sandbox.begin_call(params.string("sessionID"))
    return [companies_element(sandbox.administrations(scope.domain_id))]


def _administration_id(sandbox: YukiSandbox, params: Params) -> Result:
    """AdministrationID(sessionID, administrationName) → id."""
    name = params.string("administrationName") or ""
    scope = sandbox.begin_call(params.string("sessionID"))
    for admin in sandbox.administrations(scope.domain_id):
        if admin.name == name:
            return admin.id
    raise YukiFault(f"Administration '{name}' not found.")


# ----------------------------------------------------------------- Contact


def _modified_after(value: datetime | None) -> datetime | None:
    """A ``modifiedAfter`` as an aware time; no offset means Amsterdam local time, and
    ``0001-01-01`` (what clients send for "all") means no filter.
    """
    if value is None or value.year < 1900:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=AMSTERDAM)


def _search(sandbox: YukiSandbox, params: Params, with_type: bool) -> Result:
    """SearchContacts and GetSuppliersAndCustomers: one page of 100."""
    session_id, domain_id = params.string("sessionID"), params.string("domainID")
    params.enum("searchOption", "SearchOption", SEARCH_OPTIONS)
    search_value = params.string("searchValue") or ""
    sort_order = params.enum("sortOrder", "SortOrder", SORT_ORDERS)
    modified_after = _modified_after(params.date_time("modifiedAfter"))
    active = params.enum("active", "ActiveFilter", ACTIVE_FILTERS)
    page = params.integer("pageNumber")
    contact_type = (
        params.enum("contactType", "ContactType", CONTACT_TYPE_FILTERS) if with_type else None
    )
    scope = sandbox.begin_call(session_id, domain_id=domain_id)
    found = sandbox.search_contacts(
        scope.domain_id,
        search_value=search_value,
        sort_order=sort_order,
        modified_after=modified_after,
        active=active,
        page=page,
        contact_type=contact_type,
    )
    return [contacts_element(found, with_flags=with_type)]


def _search_contacts(sandbox: YukiSandbox, params: Params) -> Result:
    """SearchContacts(sessionID, domainID, searchOption, searchValue, sortOrder,
    modifiedAfter, active, pageNumber).
    """
    return _search(sandbox, params, with_type=False)


def _suppliers_and_customers(sandbox: YukiSandbox, params: Params) -> Result:
    """GetSuppliersAndCustomers(…, contactType): with the IsSupplier/IsCustomer flags."""
    return _search(sandbox, params, with_type=True)


def _update_contact(sandbox: YukiSandbox, params: Params) -> Result:
    """UpdateContact(sessionID, domainID, xmlDoc): create or update one contact."""
    session_id, domain_id = params.string("sessionID"), params.string("domainID")
    doc = params.document("xmlDoc")
    scope = sandbox.begin_call(session_id, domain_id=domain_id)
    timestamp = local_date(sandbox.clock.now())
    try:
        contact, created = sandbox.update_contact(scope.domain_id, parse_contact_update(doc))
    except ContactRejected as exc:
        return [contact_response(timestamp, None, str(exc))]
    verb = "created" if created else "updated"
    return [contact_response(timestamp, f"Succesfully {verb} Contact {contact.id}", None)]


# ------------------------------------------------------------------- Sales


def _process_sales_invoices(sandbox: YukiSandbox, params: Params) -> Result:
    """ProcessSalesInvoices(sessionId, administrationId, xmlDoc): per-invoice results."""
    session_id, admin_id = params.string("sessionId"), params.string("administrationId")
    doc = params.document("xmlDoc")
    sandbox.begin_call(session_id, administration_id=admin_id, administration_required=True)
    invoices = parse_sales_invoices(doc)
    assert admin_id is not None
    return [import_response(sandbox.process_sales_invoices(admin_id, invoices))]


def _sales_invoice_schema_path(sandbox: YukiSandbox, params: Params) -> Result:
    """SalesInvoiceSchemaPath(): needs no session and counts no call."""
    return SALES_SCHEMA_PATH


def _sales_items(sandbox: YukiSandbox, params: Params) -> Result:
    """GetSalesItems(sessionID, administrationID)."""
    admin_id = _admin_call(sandbox, params)
    return sales_item_elements(sandbox.sales_items(admin_id))


# -------------------------------------------------------------- Accounting


def _admin_call(sandbox: YukiSandbox, params: Params) -> str:
    """Authorise and count a call on ``administrationID``; return that id."""
    session_id, admin_id = params.string("sessionID"), params.string("administrationID")
    sandbox.begin_call(session_id, administration_id=admin_id, administration_required=True)
    assert admin_id is not None
    return admin_id


def _outstanding_debtor_items(sandbox: YukiSandbox, params: Params) -> Result:
    """OutstandingDebtorItems(sessionID, administrationID, includeBankTransactions,
    sortOrder): every debtor item still open.
    """
    params.boolean("includeBankTransactions")
    params.string("sortOrder")
    admin_id = _admin_call(sandbox, params)
    domain_id = sandbox.administration(admin_id).domain_id
    items = sandbox.outstanding_items(admin_id)
    return [
        outstanding_items_element(
            "OutstandingDebtorItems",
            items,
            lambda contact_id: sandbox.contact_by_id(domain_id, contact_id),
            with_document_id=True,
        )
    ]


def _check(sandbox: YukiSandbox, domain_id: str, admin_ids: list[str], reference: str) -> Result:
    """The ``OutstandingItems`` answer of both CheckOutstandingItem variants."""
    items = sandbox.find_outstanding_items(admin_ids, reference)
    return [
        outstanding_items_element(
            "OutstandingItems",
            items,
            lambda contact_id: sandbox.contact_by_id(domain_id, contact_id),
            with_document_id=False,
        )
    ]


def _check_outstanding_item(sandbox: YukiSandbox, params: Params) -> Result:
    """CheckOutstandingItem(sessionID, Reference): across the current domain."""
    reference = params.string("Reference") or ""
    scope = sandbox.begin_call(params.string("sessionID"))
    admin_ids = [a.id for a in sandbox.administrations(scope.domain_id)]
    return _check(sandbox, scope.domain_id, admin_ids, reference)


def _check_outstanding_item_admin(sandbox: YukiSandbox, params: Params) -> Result:
    """CheckOutstandingItemAdmin(sessionID, administrationID, Reference)."""
    reference = params.string("Reference") or ""
    admin_id = _admin_call(sandbox, params)
    domain_id = sandbox.administration(admin_id).domain_id
    return _check(sandbox, domain_id, [admin_id], reference)


# ------------------------------------------------------ Vat, AccountingInfo


def _active_vat_codes(sandbox: YukiSandbox, params: Params) -> Result:
    """ActiveVATCodesList(sessionID, administrationID)."""
    admin_id = _admin_call(sandbox, params)
    return vat_code_elements(sandbox.administration(admin_id).vat_codes)


def _gl_account_scheme(sandbox: YukiSandbox, params: Params) -> Result:
    """GetGLAccountScheme(sessionID, administrationID)."""
    admin_id = _admin_call(sandbox, params)
    return gl_account_elements(sandbox.administration(admin_id).gl_accounts)


SHARED: dict[str, Handler] = {
    "Authenticate": _authenticate,
    "AuthenticateClient": _authenticate_client,
    "Domains": _domains,
    "Companies": _companies,
    "AdministrationID": _administration_id,
    "Administrations": _administrations,
    "GetCurrentDomain": _current_domain,
    "SetCurrentDomain": _set_current_domain,
}
SPECIFIC: dict[str, dict[str, Handler]] = {
    "Accounting": {
        "OutstandingDebtorItems": _outstanding_debtor_items,
        "CheckOutstandingItem": _check_outstanding_item,
        "CheckOutstandingItemAdmin": _check_outstanding_item_admin,
    },
    "AccountingInfo": {"GetGLAccountScheme": _gl_account_scheme},
    "Archive": {},
    "Contact": {
        "SearchContacts": _search_contacts,
        "GetSuppliersAndCustomers": _suppliers_and_customers,
        "UpdateContact": _update_contact,
    },
    "Sales": {
        "ProcessSalesInvoices": _process_sales_invoices,
        "SalesInvoiceSchemaPath": _sales_invoice_schema_path,
        "GetSalesItems": _sales_items,
    },
    "Vat": {"ActiveVATCodesList": _active_vat_codes},
}


def simulated(service: str) -> list[str]:
    """Operations of a service the sandbox answers, in WSDL order."""
    return [op for op in operation_docs(service) if op in SPECIFIC[service] or op in SHARED]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    media_type: str


def dispatch(
    sandbox: YukiSandbox,
    service: str,
    raw: bytes,
    soap_action: str | None,
    content_type: str,
) -> Reply:
    """Answer one SOAP request to ``/ws/<service>.asmx``. Every fault is HTTP 500."""
    try:
        envelope = parse_envelope(raw)
    except YukiFault as fault:
        version = version_of(raw)
        return Reply(500, fault_envelope(version, fault), media_type(version))
    version = envelope.version
    try:
        action = requested_action(version, soap_action, content_type)
        name = _operation(service, envelope.operation, version, action)
        handler = SPECIFIC[service].get(name) or SHARED.get(name)
        if handler is None:
            raise YukiFault(
                f"{name} is not simulated by the ledgerbridge Yuki sandbox.", code="Server"
            )
        result = handler(sandbox, Params(envelope.operation))
    except YukiFault as fault:
        return Reply(500, fault_envelope(version, fault), media_type(version))
    except Exception as exc:
        logger.exception("Yuki sandbox failed on %s", service)
        crash = YukiFault(f"Server was unable to process request. ---> {exc}", code="Server")
        return Reply(500, fault_envelope(version, crash), media_type(version))
    return Reply(200, response_envelope(version, name, result), media_type(version))


def _operation(service: str, element: etree._Element, version: str, action: str | None) -> str:
    """The operation a request calls. SOAP 1.1 routes on the SOAPAction header, which must
    name an operation of this service; SOAP 1.2 may route on the body element instead.
    Either way the body element must be that operation's.
    """
    declared = operation_docs(service)
    qname = etree.QName(element)
    if action is not None or version == "1.1":
        action = action or ""
        name = action[len(TNS) :] if action.startswith(TNS) else ""
        if name not in declared:
            raise YukiFault(
                f"Server did not recognize the value of HTTP Header SOAPAction: {action}."
            )
    else:
        name = qname.localname if qname.namespace == TNS else ""
    if qname.namespace != TNS or qname.localname != name or name not in declared:
        raise YukiFault(
            f"{READ_ERROR}<{qname.localname} xmlns='{qname.namespace or ''}'> was not expected."
        )
    return name
