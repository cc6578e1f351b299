"""Yuki mapping tables (every row of the integration's organisation and person tables, both
ways), the documents and envelopes the client sends (against Yuki's examples in
``shared/specs/yuki/examples``), fault handling and offline WSDL loading."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from lxml import etree
from requests.adapters import BaseAdapter
from zeep import Client
from zeep.exceptions import TransportError

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import (
    AuthenticationFailed,
    QuotaReached,
    RemoteRejected,
    RemoteUnavailable,
    SetupRefused,
    SkipRecord,
)
from ledgerbridge.connectors.yuki.client import (
    CONTACT_NS,
    SALES_NS,
    TNS,
    OfflineTransport,
    YukiClient,
    wsdl_path,
)
from ledgerbridge.connectors.yuki.connector import (
    YukiConnector,
    contact_document,
    invoices_document,
    parse_modified,
)
from ledgerbridge.connectors.yuki.mapping import ContactMapping, InvoiceMapping
from ledgerbridge.connectors.yuki.setup import check_settings
from ledgerbridge.engine.canonical import validate
from tests.specs import spec_path

EXAMPLES = spec_path("yuki/examples")
BOTH = {"organisation": "both", "person": "both"}
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

ORGANISATION_ROWS = [
    ("debtor_number", "10042", "Code", "10042"),
    ("name", "Bouwbedrijf De Vries B.V.", "Name", "Bouwbedrijf De Vries B.V."),
    ("email", "info@devries.nl", "EMailWork", "info@devries.nl"),
    ("website", "www.devries.nl", "Website", "www.devries.nl"),
    ("phone", "030-2345678", "PhoneHome", "030-2345678"),
    ("organisation_number", "12345678", "CoCNumber", "12345678"),
    ("vat_number", "NL820471616B01", "VATNumber", "NL820471616B01"),
]
PERSON_ROWS = [
    ("debtor_number", "10043", "Code", "10043"),
    ("first_name", "Anna", "FirstName", "Anna"),
    ("last_name", "Jansen", "LastName", "Jansen"),
    ("name", "Anna Jansen", "Name", "Anna Jansen"),
    ("email", "anna@example.nl", "EmailHome", "anna@example.nl"),
    ("phone", "030-1111111", "PhoneHome", "030-1111111"),
    ("mobile_phone", "06-12345678", "MobileHome", "06-12345678"),
]
BILLING = {"line1": "Kerkstraat 1", "line2": "2e etage", "postal_code": "3511 AB",
           "city": "Utrecht", "country": "NL"}  # fmt: skip
POSTAL = {"line1": "Postbus 12", "postal_code": "3500 AA", "city": "Utrecht", "country": "NL"}


def organisation(**fields: Any) -> dict[str, Any]:
    return {"kind": "organisation", "name": "Bouwbedrijf De Vries B.V.",
            "debtor_number": "10042", **fields}  # fmt: skip


def person(**fields: Any) -> dict[str, Any]:
    return {"kind": "person", "name": "Anna Jansen", "debtor_number": "10043", **fields}


def remote(kind: str = "Company", **elements: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"ID": "d8c438fa", "Type": kind, "Code": "10042",
                           "Name": "Bouwbedrijf De Vries B.V.", "Active": "true",
                           "IsCustomer": "True", "IsSupplier": "False"}  # fmt: skip
    row.update(elements)
    return row


# ------------------------------------------------------------------ the two tables


@pytest.mark.parametrize(("field", "value", "element", "wire"), ORGANISATION_ROWS)
def test_organisation_row_both_ways(field: str, value: str, element: str, wire: str) -> None:
    mapping = ContactMapping(BOTH)
    out = mapping.from_canonical(organisation(**{field: value}), None, {})
    assert out[element] == wire
    back = mapping.to_canonical(remote(**{element: wire}), {})
    assert back[field] == value
    assert validate("party", {**organisation(), **back})[field] == value


@pytest.mark.parametrize(("field", "value", "element", "wire"), PERSON_ROWS)
def test_person_row_both_ways(field: str, value: str, element: str, wire: str) -> None:
    mapping = ContactMapping(BOTH)
    out = mapping.from_canonical(person(**{field: value}), None, {})
    assert out["Type"] == "Person"
    assert out[element] == wire
    back = mapping.to_canonical(remote("Person", **{element: wire}), {})
    assert back["kind"] == "person"
    assert back[field] == value


def test_organisation_billing_and_postal_addresses_both_ways() -> None:
    mapping = ContactMapping(BOTH)
    out = mapping.from_canonical(
        organisation(billing_address=BILLING, postal_address=POSTAL), None, {}
    )
    assert (out["AddressLine_1"], out["AddressLine_2"], out["Postcode"], out["City"]) == (
        "Kerkstraat 1", "2e etage", "3511 AB", "Utrecht",
    )  # fmt: skip
    assert (out["MailAddressLine_1"], out["MailPostcode"], out["MailCity"]) == (
        "Postbus 12", "3500 AA", "Utrecht",
    )  # fmt: skip
    assert out["Country"] == "NL"
    back = mapping.to_canonical(out, {})
    assert back["billing_address"] == BILLING
    assert back["postal_address"] == POSTAL


def test_person_private_address_is_the_billing_address_and_other_fields_stay_out() -> None:
    mapping = ContactMapping(BOTH)
    record = person(billing_address=BILLING, website="www.anna.nl", vat_number="NL1")
    out = mapping.from_canonical(record, None, {})
    assert out["AddressLine_1"] == "Kerkstraat 1" and out["City"] == "Utrecht"
    # Not sent at all, so an update leaves what Yuki holds there.
    assert not {"Website", "VATNumber", "EMailWork", "CoCNumber", "MailAddressLine_1"} & set(out)
    back = mapping.to_canonical(remote("Person", **{**out, "MailCity": "Elders"}), {})
    assert back["billing_address"] == BILLING
    assert back["postal_address"] is None


def test_a_person_whose_only_address_is_postal_is_sent_with_it() -> None:
    """A CRM (or Qonto, whose person address the hub keeps as the postal one) may hold a
    person's one address as postal: it is that person's private address in Yuki, not none."""
    out = ContactMapping(BOTH).from_canonical(person(postal_address=POSTAL), None, {})
    assert out["AddressLine_1"] == "Postbus 12" and out["Postcode"] == "3500 AA"
    assert out["City"] == "Utrecht" and out["Country"] == "NL"
    both = ContactMapping(BOTH).from_canonical(
        person(billing_address=BILLING, postal_address=POSTAL), None, {}
    )
    assert both["AddressLine_1"] == "Kerkstraat 1"


def test_roles_come_from_yukis_flags_and_are_never_sent() -> None:
    mapping = ContactMapping(BOTH)
    back = mapping.to_canonical(remote(IsCustomer="False", IsSupplier="True"), {})
    assert (back["is_customer"], back["is_supplier"]) == (False, True)
    assert "is_customer" not in mapping.fields
    document = contact_document(mapping.from_canonical(organisation(is_customer=True), None, {}))
    assert not {etree.QName(c).localname for c in document} & {"IsCustomer", "IsSupplier"}


def test_skips_say_why() -> None:
    mapping = ContactMapping(BOTH)
    with pytest.raises(SkipRecord) as inactive:
        mapping.to_canonical(remote(Active="false"), {})
    assert inactive.value.reason == "contact_inactive"
    with pytest.raises(SkipRecord) as excluded:
        ContactMapping({"organisation": "outbound", "person": "both"}).to_canonical(remote(), {})
    assert excluded.value.reason == "contact_type_excluded"
    with pytest.raises(SkipRecord) as nameless:
        mapping.to_canonical(remote(Name=None), {})
    assert nameless.value.reason == "name_missing"
    with pytest.raises(SkipRecord) as numberless:
        mapping.from_canonical(organisation(debtor_number=None), None, {})
    assert numberless.value.reason == "debtor_number_missing"
    assert not ContactMapping({"organisation": "inbound"}).in_scope(organisation())


def test_a_contact_is_known_by_its_relationship_code_else_by_its_yuki_id() -> None:
    mapping = ContactMapping(BOTH)
    assert mapping.remote_id(remote()) == "10042"
    assert mapping.remote_id(remote(Code=None)) == "id:d8c438fa"
    assert mapping.remote_aliases(remote()) == ["id:d8c438fa"]


def test_yuki_timestamps_parse() -> None:
    assert parse_modified("12/18/2019 10:21:40 AM") == datetime(2019, 12, 18, 10, 21, 40)
    assert parse_modified("4/10/2019 3:50:52 PM") == datetime(2019, 4, 10, 15, 50, 52)
    assert parse_modified("") is None


# ------------------------------------------------------------------ invoices


def hub_invoice(**fields: Any) -> dict[str, Any]:
    return {
        "id": "inv-1", "kind": "invoice", "number": "F-1", "party_id": "p", "status": "sent",
        "date": "2026-11-02", "payment_term_days": 30, "currency": "EUR",
        "lines": [{"sku": "A", "description": "Advies", "quantity": "2", "unit_price": "10.00",
                   "discount_percent": "0", "vat_code": "HIGH", "vat_rate": "21"}],
        **fields,
    }  # fmt: skip


def test_invoice_payload_and_its_projection() -> None:
    mapping = InvoiceMapping({"HIGH": "1"}, "ElectronicTransfer")
    payload = mapping.from_canonical(hub_invoice(), None, {"party_id": ("customers", "10042")})
    assert payload["Reference"] == "F-1" and payload["ContactCode"] == "10042"
    assert payload["DueDate"] == "2026-12-02"
    assert payload["Lines"][0]["VATType"] == "1"
    projected = validate("invoice", {**hub_invoice(), **mapping.project(
        hub_invoice(), {"party_id": ("customers", "10042")})})  # fmt: skip
    assert projected["lines"][0]["unit_price"] == "10"
    assert payload["Lines"][0]["SalesPrice"] == "10"
    assert mapping.in_scope(hub_invoice()) and not mapping.in_scope(hub_invoice(status="draft"))
    with pytest.raises(SkipRecord) as unmapped:
        mapping.from_canonical(
            hub_invoice(lines=[{**hub_invoice()["lines"][0], "vat_code": "X"}]), None,
            {"party_id": ("customers", "10042")},
        )  # fmt: skip
    assert unmapped.value.reason == "vat_code_unmapped"
    with pytest.raises(SkipRecord) as readonly:
        mapping.from_canonical(hub_invoice(), {"Reference": "F-1"}, {})
    assert readonly.value.reason == "invoice_readonly_after_sending"


def test_a_line_with_a_vat_code_but_no_rate_is_skipped_not_sent_without_vat() -> None:
    mapping = InvoiceMapping({"HIGH": "1"}, "ElectronicTransfer")
    refs = {"party_id": ("customers", "10042")}
    line = {**hub_invoice()["lines"][0], "vat_rate": None}
    with pytest.raises(SkipRecord) as missing:
        mapping.from_canonical(hub_invoice(lines=[line]), None, refs)
    assert missing.value.reason == "vat_rate_missing"
    assert "'Advies' has VAT code HIGH but no VAT rate" in missing.value.message
    # A line without a VAT code carries no VAT in the hub either: sent as it is.
    payload = mapping.from_canonical(hub_invoice(lines=[{**line, "vat_code": None}]), None, refs)
    assert (payload["Lines"][0]["VATPercentage"], payload["Lines"][0]["VATType"]) == (None, None)


# ------------------------------------------------------------------ documents vs examples


def _tags(element: etree._Element) -> list[str]:
    return [c.tag for c in element if isinstance(c.tag, str)]


def _in_order(sent: list[str], example: list[str]) -> bool:
    positions = [example.index(tag) for tag in sent]
    return positions == sorted(positions)


def test_update_contact_document_matches_the_example() -> None:
    example = etree.parse(str(EXAMPLES / "UpdateContact.xmlDoc.xml")).getroot()
    sent = contact_document(ContactMapping(BOTH).from_canonical(person(), None, {}))
    assert sent.tag == example.tag == f"{{{CONTACT_NS}}}Contact"
    assert _tags(sent)[:3] == _tags(example)[:3]  # ID, Type, Code
    assert set(_tags(example)) <= set(_tags(sent))
    assert sent.findtext(f"{{{CONTACT_NS}}}Type") == "0"
    assert sent.findtext(f"{{{CONTACT_NS}}}FullName") == "Anna Jansen"


def test_sales_invoices_document_matches_the_example() -> None:
    example = etree.parse(str(EXAMPLES / "ProcessSalesInvoices.xmlDoc.xml")).getroot()
    mapping = InvoiceMapping({"HIGH": "1"}, "ElectronicTransfer")
    payload = mapping.from_canonical(hub_invoice(), None, {"party_id": ("customers", "10042")})
    sent = invoices_document([payload])
    assert sent.tag == example.tag == f"{{{SALES_NS}}}SalesInvoices"
    invoice, wanted = sent[0], example[0]
    assert _in_order(_tags(invoice), _tags(wanted))
    for path in ("Contact", "InvoiceLines/InvoiceLine", "InvoiceLines/InvoiceLine/Product"):
        step = "/".join(f"{{{SALES_NS}}}{p}" for p in path.split("/"))
        assert _in_order(_tags(invoice.find(step)), _tags(wanted.find(step))), path


# ------------------------------------------------------------------ the client on the wire


class Recorder(BaseAdapter):
    """A requests adapter answering each SOAP action with a stored example response."""

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        super().__init__()
        self.answers = answers
        self.queued: dict[str, list[tuple[int, bytes]]] = {}
        """Answers given once each after the standing answer was given once."""
        self.sent: list[tuple[str, str, etree._Element]] = []

    def send(self, request: Any, **kwargs: Any) -> requests.Response:
        action = request.headers["SOAPAction"].strip('"').rsplit("/", 1)[-1]
        self.sent.append((request.url, action, etree.fromstring(request.body)))
        given = sum(1 for _, a, _ in self.sent if a == action)
        queued = self.queued.get(action) or []
        status, body = queued.pop(0) if given > 1 and queued else self.answers[action]
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Type"] = "text/xml; charset=utf-8"
        response.url = request.url
        return response

    def close(self) -> None:
        """Nothing to release."""


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def client_with(answers: dict[str, tuple[int, bytes]]) -> tuple[YukiClient, Recorder, list[int]]:
    calls: list[int] = []
    client = YukiClient(
        base_url=f"https://yuki-{len(answers)}-{id(answers)}.example",
        access_key="key",
        meter=calls.append,
        clock=ManualClock(datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
    )
    recorder = Recorder(answers)
    client._transport.session.mount("https://", recorder)
    return client, recorder, calls


def _parameters(envelope: etree._Element) -> tuple[str, list[str]]:
    request = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
    return request.tag, _tags(request)


def test_envelopes_keep_the_wsdl_names_and_answers_parse() -> None:
    client, recorder, calls = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "GetSuppliersAndCustomers": (200, example("suppliersAndCustomers.response.xml")),
        "UpdateContact": (200, example("updateContact.response.xml")),
        "ProcessSalesInvoices": (200, example("processSalesInvoices.response.xml")),
        "CheckOutstandingItemAdmin": (200, example("checkOutstandingItem.response.xml")),
    })  # fmt: skip
    rows = client.suppliers_and_customers(
        "dom", contact_type="Customer", modified_after=None, active="Both", page=1
    )
    assert rows[0]["Code"] == "CL0005" and rows[0]["IsCustomer"] == "True"
    contact_id, created = client.update_contact("dom", contact_document({"Code": "1"}))
    assert (contact_id, created) == ("97b30afc-xxxx-xxxx-xxxx-37487cbb6799", False)
    results = client.process_sales_invoices("adm", etree.Element(f"{{{SALES_NS}}}SalesInvoices"))
    assert results[0]["Succeeded"] == "true" and results[0]["Reference"] == "VF-0001"
    items = client.outstanding_items("adm", "NV2018/156")
    assert items[0]["OpenAmount"] == "91.96"
    assert len(calls) == 5  # Authenticate once, then four calls on the cached session

    sent = {action: envelope for _, action, envelope in recorder.sent}
    T = f"{{{TNS}}}"
    assert _parameters(sent["Authenticate"]) == (f"{T}Authenticate", [f"{T}accessKey"])
    assert _parameters(sent["GetSuppliersAndCustomers"])[1] == [
        f"{T}{n}" for n in ("sessionID", "domainID", "searchOption", "sortOrder",
                             "modifiedAfter", "active", "pageNumber", "contactType")
    ]  # fmt: skip
    assert _parameters(sent["UpdateContact"])[1] == [f"{T}sessionID", f"{T}domainID", f"{T}xmlDoc"]
    assert _parameters(sent["ProcessSalesInvoices"])[1] == [
        f"{T}sessionId",
        f"{T}administrationId",
        f"{T}xmlDoc",
    ]
    nested = sent["UpdateContact"].find(f".//{T}xmlDoc")[0]
    assert nested.tag == f"{{{CONTACT_NS}}}Contact"
    session = sent["UpdateContact"].findtext(f".//{T}sessionID")
    assert session == "a00912fb-558c-4165-a521-d3a095f88cc7"
    assert all(url.startswith(client.base_url + "/ws/") for url, _, _ in recorder.sent)


def test_daily_limit_fault_becomes_a_quota_condition_and_other_faults_say_what_failed() -> None:
    fault = example("soapFault.response.xml")
    client, _, _ = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "GetSuppliersAndCustomers": (500, fault),
    })  # fmt: skip
    with pytest.raises(QuotaReached) as reached:
        client.suppliers_and_customers(
            "dom", contact_type="Customer", modified_after=None, active="Both", page=1
        )
    assert reached.value.resumes_at.isoformat() == "2026-11-22T00:00:00+01:00"
    assert "1000 free webservice calls" in str(reached.value)

    other = fault.replace(b"Daily limit exceeded", b"Contact Type is invalid")
    client, _, _ = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "UpdateContact": (500, other),
    })  # fmt: skip
    with pytest.raises(RemoteRejected, match="Contact Type is invalid"):
        client.update_contact("dom", contact_document({"Code": "1"}))
    refused = fault.replace(b"Daily limit exceeded", b"Authentication failed")
    client, _, _ = client_with({"Authenticate": (500, refused)})
    with pytest.raises(AuthenticationFailed):
        client.session_id()


def test_a_throttled_call_is_made_again_not_refused() -> None:
    """HTTP 429 (a gateway in front of Yuki) carries a SOAP fault too, but nothing was
    processed: a write is repeated, and while it stays throttled the run is told to wait
    (``RemoteUnavailable`` with Retry-After), never that Yuki refused the record."""
    throttled = example("soapFault.response.xml").replace(
        b"Daily limit exceeded", b"Too many requests."
    )
    client, recorder, _ = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "UpdateContact": (429, throttled),
    })  # fmt: skip
    recorder.queued["UpdateContact"] = [(200, example("updateContact.response.xml"))]
    client.update_contact("dom", contact_document({"Code": "1"}))
    assert [action for _, action, _ in recorder.sent] == [
        "Authenticate",
        "UpdateContact",
        "UpdateContact",
    ]

    client, _, _ = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "UpdateContact": (429, throttled),
    })  # fmt: skip
    with pytest.raises(RemoteUnavailable, match="rate limiting") as raised:
        client.update_contact("dom", contact_document({"Code": "1"}))
    assert not isinstance(raised.value, RemoteRejected)


def test_an_expired_session_is_renewed_once() -> None:
    expired = example("soapFault.response.xml").replace(
        b"Daily limit exceeded", b"Session expired. Call Authenticate to get a new session ID."
    )
    client, recorder, _ = client_with({
        "Authenticate": (200, example("authenticate.response.xml")),
        "UpdateContact": (500, expired),
    })  # fmt: skip
    client.session_id()
    recorder.queued["UpdateContact"] = [(200, example("updateContact.response.xml"))]
    client.update_contact("dom", contact_document({"Code": "1"}))
    assert [action for _, action, _ in recorder.sent] == [
        "Authenticate",
        "UpdateContact",
        "Authenticate",
        "UpdateContact",
    ]


# ------------------------------------------------------------------ WSDLs offline


@pytest.fixture
def network_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1", b"localhost"):
            raise OSError(f"network refused in this test: {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.mark.usefixtures("network_refused")
def test_packaged_wsdls_load_in_zeep_without_network() -> None:
    for service in ("Contact", "Sales", "Accounting"):
        client = Client(wsdl_path(service), transport=OfflineTransport())
        operations = client.wsdl.services[service].ports[f"{service}Soap"].binding._operations
        assert "Authenticate" in operations
    transport = OfflineTransport()
    assert b"Array" in transport.load("http://schemas.xmlsoap.org/soap/encoding/")
    with pytest.raises(TransportError):
        transport.load("https://api.yukiworks.nl/schemas/Contact.xsd")


def test_connector_streams_and_defaults() -> None:
    connector = YukiConnector(
        {"domain_id": "d", "administration_id": "a"}, {"access_key": "k"}, lambda n: None
    )
    assert list(connector.mappings) == ["contacts", "customers", "invoices"]
    assert connector.mappings["customers"].attach_to == "contacts"
    assert connector.parse_notification({}, b"") == []
    connector.close()


def test_incremental_reads_overlap_only_while_the_newest_second_is_recent() -> None:
    clock = ManualClock(datetime(2026, 11, 21, 10, 0, 30, tzinfo=UTC))  # 11:00:30 Amsterdam
    connector = YukiConnector(
        {"domain_id": "d", "administration_id": "a"}, {"access_key": "k"}, lambda n: None,
        clock=clock,
    )  # fmt: skip
    recent = datetime(2026, 11, 21, 11, 0, 10)
    settled = datetime(2026, 11, 20, 9, 0, 0)
    assert connector._next_start(None, recent) == datetime(2026, 11, 21, 11, 0, 9)
    assert connector._next_start(None, settled) == settled
    assert connector._next_start(settled, None) == settled
    connector.close()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "settings.debtor_numbers"),
        ({"debtor_numbers": {"prefix": "D"}}, "settings.debtor_numbers"),
        ({"debtor_numbers": {"next": "ten"}}, "settings.debtor_numbers"),
        ({"debtor_numbers": {"next": 1, "prefix": 7}}, "settings.debtor_numbers"),
        ({"debtor_numbers": {"next": 1}, "contact_types": {"person": "sideways"}},
         "settings.contact_types"),
        ({"debtor_numbers": {"next": 1}, "daily_call_limit": 0}, "settings.daily_call_limit"),
    ],
)  # fmt: skip
def test_check_settings_names_the_field_to_fix(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SetupRefused) as refused:
        check_settings(settings)
    assert refused.value.field == field


def test_check_settings_accepts_a_sequence_and_the_paid_limits() -> None:
    check_settings({"debtor_numbers": {"next": 10000, "prefix": "D"}, "daily_call_limit": 5000,
                    "contact_types": {"organisation": "both", "person": "inbound"}})  # fmt: skip
