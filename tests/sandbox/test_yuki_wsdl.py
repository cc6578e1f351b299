"""Yuki sandbox WSDLs and wire shapes: zeep loads every served WSDL with the network refused,
the requests zeep builds from them match Yuki's documented names and examples, and the
sandbox's answers have the shape of the example responses.

The examples below are the ones in ``shared/specs/yuki/examples`` (Yuki's support article for
the sales XML; response fixtures modelled on Yuki's Postman collection), trimmed to one record.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree
from zeep import Client
from zeep.exceptions import TransportError
from zeep.transports import Transport

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.yuki import SERVICES, SandboxServer, YukiSandbox, seed_demo
from ledgerbridge.sandbox.yuki.wsdl import wsdl_bytes

TNS = "http://www.theyukicompany.com/"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
# A stand-in for the SOAP encoding schema the ASMX WSDLs refer to (``soapenc:Array``); zeep
# would otherwise fetch it from the internet.
SOAP_ENCODING_STUB = f"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{SOAP_ENCODING}">
  <xs:complexType name="Array">
    <xs:sequence>
      <xs:any minOccurs="0" maxOccurs="unbounded" processContents="lax"/>
    </xs:sequence>
    <xs:anyAttribute processContents="lax"/>
  </xs:complexType>
</xs:schema>""".encode()
START = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)

UPDATE_CONTACT_DOC = (
    '<Contact xmlns="urn:xmlns:http://www.theyukicompany.com:contact"><ID/><Type>0</Type>'
    "<Code>1</Code><FullName>A van B</FullName><EmailHome>support@yuki.nl</EmailHome></Contact>"
)
SALES_INVOICES_DOC = """<SalesInvoices xmlns="urn:xmlns:http://www.theyukicompany.com:salesinvoices"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <SalesInvoice>
    <Reference>XX-1234</Reference>
    <Subject>Testfactuur - 1</Subject>
    <PaymentMethod>ElectronicTransfer</PaymentMethod>
    <PaymentID>1234-456</PaymentID>
    <Process>true</Process>
    <EmailToCustomer>false</EmailToCustomer>
    <Layout />
    <Date>2012-06-22</Date>
    <DueDate>2012-07-22</DueDate>
    <PriceList />
    <Currency />
    <ProjectID />
    <ProjectCode />
    <Remarks />
    <Contact>
      <ContactCode>1122</ContactCode>
      <FullName>Apple Sales International</FullName>
      <FirstName />
      <MiddleName />
      <LastName />
      <Gender>Male</Gender>
      <CountryCode>NL</CountryCode>
      <City>Rotterdam</City>
      <Zipcode>1234 AA</Zipcode>
      <AddressLine_1>Bergweg 25</AddressLine_1>
      <AddressLine_2 />
      <Website />
      <CoCNumber />
      <VATNumber />
      <ContactType>Company</ContactType>
      <BankAccount />
      <PhoneHome />
      <MobileHome />
    </Contact>
    <ContactPerson>
      <FirstName>Steve</FirstName>
      <LastName>Jobs</LastName>
      <Gender>Male</Gender>
      <EmailAddress>steve@apple.com</EmailAddress>
    </ContactPerson>
    <InvoiceLines>
      <InvoiceLine>
        <Description>Regel 1</Description>
        <Remarks />
        <ProductQuantity>2</ProductQuantity>
        <Product>
          <Description>Product 1</Description>
          <Reference>TP-1122</Reference>
          <Category xsi:nil="true" />
          <SalesPrice>14.88</SalesPrice>
          <VATPercentage>6.00</VATPercentage>
          <VATIncluded>true</VATIncluded>
          <VATType>2</VATType>
          <GLAccountCode></GLAccountCode>
          <Remarks />
        </Product>
      </InvoiceLine>
    </InvoiceLines>
  </SalesInvoice>
</SalesInvoices>"""

# Body of each example response (the element inside soap:Body).
EXAMPLE_RESPONSES = {
    "Authenticate": """<AuthenticateResponse xmlns="http://www.theyukicompany.com/">
      <AuthenticateResult>a00912fb-558c-4165-a521-d3a095f88cc7</AuthenticateResult>
    </AuthenticateResponse>""",
    "Administrations": """<AdministrationsResponse xmlns="http://www.theyukicompany.com/">
      <AdministrationsResult><Administrations xmlns="">
        <Administration ID="38a97d9b"><Name>Highpro BV</Name><AddressLine>Rijnkaai 37</AddressLine>
          <Postcode>2000</Postcode><City>Antwerpen</City><Country>BE</Country>
          <CoCNumber>0123456749</CoCNumber><VATNumber>BE0123.456.749</VATNumber>
          <StartDate>2016-02-05</StartDate><DomainID>e9570a5f</DomainID><Active>true</Active>
        </Administration></Administrations></AdministrationsResult>
    </AdministrationsResponse>""",
    "GetCurrentDomain": """<GetCurrentDomainResponse xmlns="http://www.theyukicompany.com/">
      <GetCurrentDomainResult><Domains xmlns="">
        <Domain ID="e9570a5f"><Name>katrien-highpro</Name></Domain>
      </Domains></GetCurrentDomainResult>
    </GetCurrentDomainResponse>""",
    "SearchContacts": """<SearchContactsResponse xmlns="http://www.theyukicompany.com/">
      <SearchContactsResult><Contacts xmlns="">
        <Contact ID="a79d3806"><Type>Company</Type><HID>139</HID><Code /><Name> Bol.com</Name>
          <AddressLine_1>Papendorpseweg 100</AddressLine_1><AddressLine_2 />
          <Postcode>3528 BJ</Postcode><City>UTRECHT</City>
          <MailAddressLine_1>Papendorpseweg 100</MailAddressLine_1><MailAddressLine_2 />
          <MailPostcode>3528 BJ</MailPostcode><MailCity>UTRECHT</MailCity><Country>NL</Country>
          <PhoneHome>09002025438</PhoneHome><EMailWork>klantenservice@bol.com</EMailWork>
          <Website>www.bol.com</Website><VATNumber>NL820471616B01</VATNumber>
          <CoCNumber>0824.148.721</CoCNumber><IncomeTaxNumber />
          <Created>4/10/2019 3:50:52 PM</Created><Modified>12/18/2019 10:21:40 AM</Modified>
          <MainContactPerson>ba62b21c</MainContactPerson><Tags>F281_PA, Telecom</Tags>
          <BackofficeStatus>Inactief</BackofficeStatus>
        </Contact></Contacts></SearchContactsResult>
    </SearchContactsResponse>""",
    "GetSuppliersAndCustomers": """<GetSuppliersAndCustomersResponse
        xmlns="http://www.theyukicompany.com/">
      <GetSuppliersAndCustomersResult><Contacts xmlns="">
        <Contact ID="d8c438fa"><Type>Company</Type><HID>19</HID><Code>CL0005</Code>
          <Name>Telenet</Name><AddressLine_1>Diksmuidelaan 25</AddressLine_1><AddressLine_2 />
          <Postcode>2000</Postcode><City>Antwerpen</City><Country>BE</Country>
          <Created>3/9/2020 9:56:07 AM</Created><Modified>9/12/2024 10:57:25 AM</Modified>
          <IsSupplier>True</IsSupplier><IsCustomer>True</IsCustomer>
          <Tags>F281_PA, Telecom</Tags><BackofficeStatus>Inactief</BackofficeStatus>
        </Contact></Contacts></GetSuppliersAndCustomersResult>
    </GetSuppliersAndCustomersResponse>""",
    "UpdateContact": """<UpdateContactResponse xmlns="http://www.theyukicompany.com/">
      <UpdateContactResult>
        <ContactResponse xmlns="urn:xmlns:http://www.theyukicompany.com:contactResponse">
          <TimeStamp xmlns="">2021-03-08</TimeStamp>
          <Succeeded xmlns="">Succesfully updated Contact 97b30afc</Succeeded>
        </ContactResponse>
      </UpdateContactResult>
    </UpdateContactResponse>""",
    "ProcessSalesInvoices": """<ProcessSalesInvoicesResponse
        xmlns="http://www.theyukicompany.com/">
      <ProcessSalesInvoicesResult>
        <SalesInvoicesImportResponse
            xmlns="urn:xmlns:http://www.theyukicompany.com:salesinvoicesresponse">
          <TimeStamp xmlns="">2025-10-23</TimeStamp>
          <AdministrationId xmlns="">e5151219</AdministrationId>
          <TotalSucceeded xmlns="">1</TotalSucceeded>
          <TotalFailed xmlns="">0</TotalFailed>
          <TotalSkipped xmlns="">0</TotalSkipped>
          <Invoice xmlns=""><Succeeded>true</Succeeded><Processed>true</Processed>
            <EmailSent>false</EmailSent><Reference>VF-0001</Reference>
            <Subject>Testfactuur - 1</Subject><Contact>blabla 007</Contact><Message></Message>
          </Invoice>
        </SalesInvoicesImportResponse>
      </ProcessSalesInvoicesResult>
    </ProcessSalesInvoicesResponse>""",
    "SalesInvoiceSchemaPath": """<SalesInvoiceSchemaPathResponse
        xmlns="http://www.theyukicompany.com/">
      <SalesInvoiceSchemaPathResult>https://api.yukiworks.be/schemas/SalesInvoices.xsd</SalesInvoiceSchemaPathResult>
    </SalesInvoiceSchemaPathResponse>""",
    "GetSalesItems": """<GetSalesItemsResponse xmlns="http://www.theyukicompany.com/">
      <GetSalesItemsResult>
        <SalesItem><id>item-1</id><description>Consulting</description></SalesItem>
      </GetSalesItemsResult>
    </GetSalesItemsResponse>""",
    "ActiveVATCodesList": """<ActiveVATCodesListResponse xmlns="http://www.theyukicompany.com/"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <ActiveVATCodesListResult>
        <VATCode><description>OSS NL</description><type>40</type>
          <typeDescription>VAT digital services and/or distance selling (OSS)</typeDescription>
          <percentage>21.00</percentage><country>NL</country>
          <startDate>2021-07-01T00:00:00</startDate><endDate xsi:nil="true"/>
        </VATCode>
      </ActiveVATCodesListResult>
    </ActiveVATCodesListResponse>""",
    "CheckOutstandingItem": """<CheckOutstandingItemResponse
        xmlns="http://www.theyukicompany.com/">
      <CheckOutstandingItemResult><OutstandingItems xmlns="">
        <Item ID="99a9dbe2"><Date>2020-12-16</Date><Description>Factuur voor  Bol.com</Description>
          <Contact> Bol.com</Contact><ContactID>a79d3806</ContactID><OpenAmount>91.96</OpenAmount>
          <OriginalAmount>91.96</OriginalAmount><Type ID="6">Sales invoice</Type>
          <Reference>NV2018/156</Reference><DueDate>2020-12-30</DueDate>
          <PaymentMethod>Electronic transfer</PaymentMethod><ContactCode />
          <CoCNumber>0824.148.721</CoCNumber><VATNumber>NL820471616B01</VATNumber>
          <AddressLine_1>Papendorpseweg 100</AddressLine_1><AddressLine_2 />
          <Postcode>3528 BJ</Postcode><City>UTRECHT</City>
          <MailAddressLine_1>Papendorpseweg 100</MailAddressLine_1><MailAddressLine_2 />
          <MailPostcode>3528 BJ</MailPostcode><MailCity>UTRECHT</MailCity><Country>NL</Country>
          <RecipientEmail /><PhoneHome>09002025438</PhoneHome><PhoneWork />
          <EmailHome>klantenservice@bol.com</EmailHome><EmailWork>klantenservice@bol.com</EmailWork>
        </Item></OutstandingItems></CheckOutstandingItemResult>
    </CheckOutstandingItemResponse>""",
    "OutstandingDebtorItems": """<OutstandingDebtorItemsResponse
        xmlns="http://www.theyukicompany.com/">
      <OutstandingDebtorItemsResult><OutstandingDebtorItems xmlns="">
        <Item ID="7407c636"><Date>2018-12-30</Date><Description>test</Description><Contact />
          <ContactID /><OpenAmount>1000.00</OpenAmount><OriginalAmount>1000.00</OriginalAmount>
          <Type ID="21">Diverse posten boeking</Type><Reference /><DueDate />
          <DocumentID>5d5a3213</DocumentID><PaymentMethod /><ContactCode /><CoCNumber />
          <VATNumber /><AddressLine_1 /><AddressLine_2 /><Postcode /><City />
          <MailAddressLine_1 /><MailAddressLine_2 /><MailPostcode /><MailCity /><Country />
          <RecipientEmail /><PhoneHome /><PhoneWork /><EmailHome /><EmailWork />
        </Item></OutstandingDebtorItems></OutstandingDebtorItemsResult>
    </OutstandingDebtorItemsResponse>""",
}
# Request parameters per operation, names and case as the live WSDLs declare them
# (shared/specs/yuki/yuki-operations.json).
REQUEST_PARAMETERS: dict[tuple[str, str], list[str]] = {
    ("Contact", "Authenticate"): ["accessKey"],
    ("Contact", "Domains"): ["sessionID"],
    ("Contact", "Administrations"): ["sessionID"],
    ("Contact", "GetCurrentDomain"): ["sessionID"],
    ("Contact", "SetCurrentDomain"): ["sessionID", "domainID"],
    ("Contact", "SearchContacts"): [
        "sessionID", "domainID", "searchOption", "searchValue", "sortOrder", "modifiedAfter",
        "active", "pageNumber",
    ],
    ("Contact", "GetSuppliersAndCustomers"): [
        "sessionID", "domainID", "searchOption", "searchValue", "sortOrder", "modifiedAfter",
        "active", "pageNumber", "contactType",
    ],
    ("Contact", "UpdateContact"): ["sessionID", "domainID", "xmlDoc"],
    ("Sales", "ProcessSalesInvoices"): ["sessionId", "administrationId", "xmlDoc"],
    ("Sales", "SalesInvoiceSchemaPath"): [],
    ("Sales", "GetSalesItems"): ["sessionID", "administrationID"],
    ("Accounting", "OutstandingDebtorItems"): [
        "sessionID", "administrationID", "includeBankTransactions", "sortOrder",
    ],
    ("Accounting", "CheckOutstandingItem"): ["sessionID", "Reference"],
    ("Accounting", "CheckOutstandingItemAdmin"): ["sessionID", "administrationID", "Reference"],
    ("Vat", "ActiveVATCodesList"): ["sessionID", "administrationID"],
    ("AccountingInfo", "GetGLAccountScheme"): ["sessionID", "administrationID"],
    ("Archive", "Authenticate"): ["accessKey"],
}  # fmt: skip


class OfflineTransport(Transport):
    """zeep transport that serves a stub of the SOAP encoding schema and fetches nothing from
    the network except the sandbox on loopback.
    """

    def load(self, url: str) -> bytes:
        """Serve the stub, the sandbox's own URLs, or refuse."""
        if url.rstrip("/") == SOAP_ENCODING.rstrip("/"):
            return SOAP_ENCODING_STUB
        if urlsplit(url).hostname == "127.0.0.1":
            return bytes(super().load(url))
        raise TransportError(f"offline: refusing to fetch {url}")


def zeep_client(base_url: str, service: str) -> Client:
    """A zeep client built from the WSDL the sandbox serves for ``service``."""
    return Client(f"{base_url}/ws/{service}.asmx?WSDL", transport=OfflineTransport())


@pytest.fixture
def network_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any name lookup other than loopback fail, so a fetch from the internet cannot
    succeed by accident.
    """
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        """``getaddrinfo`` for 127.0.0.1 and localhost only."""
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1", b"localhost"):
            raise OSError(f"network refused in this test: {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, YukiSandbox, Any]]:
    """A seeded sandbox served by uvicorn on a free loopback port for the whole module."""
    sandbox = YukiSandbox(clock=ManualClock(START))
    seeded = seed_demo(sandbox, contacts=30, seed=3)
    with SandboxServer(sandbox) as server:
        yield server.base_url, sandbox, seeded


def _elements(element: etree._Element) -> list[etree._Element]:
    """Element children only."""
    return [child for child in element if isinstance(child.tag, str)]


def assert_contains_shape(example: etree._Element, actual: etree._Element, path: str = "") -> None:
    """Every element of ``example`` occurs in ``actual`` with the same namespace, in the same
    order, and likewise below it (the sandbox may add elements the example does not show).
    Attribute names must match as well.
    """
    where = f"{path}/{etree.QName(example).localname}"
    assert actual.tag == example.tag, f"{where}: {actual.tag} != {example.tag}"
    assert set(example.attrib) <= set(actual.attrib), f"{where}: attributes {actual.attrib}"
    children = iter(_elements(actual))
    for wanted in _elements(example):
        for candidate in children:
            if candidate.tag == wanted.tag:
                assert_contains_shape(wanted, candidate, where)
                break
        else:
            raise AssertionError(f"{where}: {wanted.tag} missing or out of order")


def assert_same_document(sent: etree._Element, expected: etree._Element) -> None:
    """Same element names, namespaces, order, attributes and (trimmed) text."""
    assert sent.tag == expected.tag
    assert dict(sent.attrib) == dict(expected.attrib)
    assert (sent.text or "").strip() == (expected.text or "").strip(), sent.tag
    sent_children, expected_children = _elements(sent), _elements(expected)
    assert [c.tag for c in sent_children] == [c.tag for c in expected_children]
    for left, right in zip(sent_children, expected_children, strict=True):
        assert_same_document(left, right)


def _call_body(base_url: str, service: str, operation: str, kwargs: dict[str, Any]) -> Any:
    """POST the envelope zeep builds and return the parsed Body child of the answer."""
    client = zeep_client(base_url, service)
    message = client.create_message(client.service, operation, **kwargs)
    binding = client.service._binding
    action = binding.get(operation).soapaction
    response = httpx.post(
        f"{base_url}/ws/{service}.asmx",
        content=etree.tostring(message),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'},
    )
    assert response.status_code == 200, response.text
    envelope = etree.fromstring(response.content)
    return _elements(envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body"))[0]


# ------------------------------------------------------------------ tests


@pytest.mark.usefixtures("network_refused")
def test_zeep_loads_every_served_wsdl_offline(served: tuple[str, YukiSandbox, Any]) -> None:
    base_url, _, _ = served
    for service in SERVICES:
        client = zeep_client(base_url, service)
        ports = client.wsdl.services[service].ports
        assert {f"{service}Soap", f"{service}Soap12"} <= set(ports)
        for name in (f"{service}Soap", f"{service}Soap12"):
            address = ports[name].binding_options["address"]
            assert address == f"{base_url}/ws/{service}.asmx"
            operations = ports[name].binding._operations
            assert "Authenticate" in operations
            assert operations["Authenticate"].soapaction == f"{TNS}Authenticate"
    # The stub is really needed: the WSDL refers to soapenc:Array.
    with pytest.raises(TransportError):
        Client(f"{base_url}/ws/Archive.asmx?WSDL", transport=_NoStubTransport())


class _NoStubTransport(OfflineTransport):
    """Offline transport without the SOAP encoding stub."""

    def load(self, url: str) -> bytes:
        """Refuse the SOAP encoding schema as well."""
        if url.rstrip("/") == SOAP_ENCODING.rstrip("/"):
            raise TransportError(f"offline: refusing to fetch {url}")
        return super().load(url)


def test_archive_wsdl_is_served_verbatim_but_for_addresses(
    served: tuple[str, YukiSandbox, Any],
) -> None:
    base_url, _, _ = served
    served_text = httpx.get(f"{base_url}/ws/archive.asmx?wsdl").content
    original = wsdl_bytes("Archive")
    location = f"{base_url}/ws/archive.asmx".encode()
    assert served_text.count(location) == 4
    assert served_text.replace(location, b"X") == (
        original.replace(b"https://api.yukiworks.be/ws/Archive.asmx", b"X").replace(
            b"http://api.yukiworks.be/ws/Archive.asmx", b"X"
        )
    )


def test_request_parameters_keep_the_wsdl_names_and_case(
    served: tuple[str, YukiSandbox, Any],
) -> None:
    base_url, _, _ = served
    samples: dict[str, Any] = {
        "searchOption": "All",
        "sortOrder": "CreatedAsc",
        "modifiedAfter": dt.datetime(2024, 1, 1),
        "active": "Both",
        "pageNumber": 1,
        "contactType": "Both",
        "includeBankTransactions": False,
        "xmlDoc": {"_value_1": etree.fromstring(UPDATE_CONTACT_DOC)},
    }
    for (service, operation), names in REQUEST_PARAMETERS.items():
        client = zeep_client(base_url, service)
        assert client.service._binding.get(operation).soapaction == f"{TNS}{operation}"
        kwargs = {name: samples.get(name, "text") for name in names}
        message = client.create_message(client.service, operation, **kwargs)
        body = message.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        request = _elements(body)[0]
        assert request.tag == f"{{{TNS}}}{operation}"
        assert [c.tag for c in _elements(request)] == [f"{{{TNS}}}{n}" for n in names]


def test_xml_documents_travel_nested_as_in_the_examples(
    served: tuple[str, YukiSandbox, Any],
) -> None:
    base_url, _, _ = served
    for service, operation, doc, session_param in (
        ("Contact", "UpdateContact", UPDATE_CONTACT_DOC, "sessionID"),
        ("Sales", "ProcessSalesInvoices", SALES_INVOICES_DOC, "sessionId"),
    ):
        client = zeep_client(base_url, service)
        expected = etree.fromstring(doc)
        kwargs = {session_param: "s", "xmlDoc": {"_value_1": etree.fromstring(doc)}}
        if service == "Contact":
            kwargs["domainID"] = "d"
        else:
            kwargs["administrationId"] = "a"
        message = client.create_message(client.service, operation, **kwargs)
        xml_doc = message.find(f".//{{{TNS}}}xmlDoc")
        assert xml_doc is not None
        nested = _elements(xml_doc)
        assert len(nested) == 1 and not (xml_doc.text or "").strip()
        assert_same_document(nested[0], expected)


def test_responses_have_the_shape_of_the_examples(
    served: tuple[str, YukiSandbox, Any],
) -> None:
    base_url, sandbox, seeded = served
    contact = sandbox.contacts(seeded.domain_id)[0]
    sandbox.mark_as_customer(seeded.domain_id, contact.id)
    sandbox.mark_as_supplier(seeded.domain_id, contact.id)
    auth = _call_body(base_url, "Contact", "Authenticate", {"accessKey": seeded.access_key})
    session = auth[0].text
    admin = seeded.administration_id
    doc = etree.fromstring(SALES_INVOICES_DOC)
    doc.find(".//{*}ContactCode").text = contact.code or "no-code"
    doc.find(".//{*}FullName").text = contact.name
    doc.find(".//{*}Reference").text = "VF-0001"
    doc.find(".//{*}VATType").text = "1"
    search = {
        "sessionID": session,
        "domainID": seeded.domain_id,
        "searchOption": "All",
        "searchValue": None,
        "sortOrder": "CreatedAsc",
        "modifiedAfter": None,
        "active": "Both",
        "pageNumber": 1,
    }
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "Authenticate": ("Contact", {"accessKey": seeded.access_key}),
        "Administrations": ("Contact", {"sessionID": session}),
        "GetCurrentDomain": ("Contact", {"sessionID": session}),
        "SearchContacts": ("Contact", search),
        "GetSuppliersAndCustomers": ("Contact", {**search, "contactType": "Both"}),
        "UpdateContact": (
            "Contact",
            {
                "sessionID": session,
                "domainID": seeded.domain_id,
                "xmlDoc": {"_value_1": etree.fromstring(UPDATE_CONTACT_DOC)},
            },
        ),
        "ProcessSalesInvoices": (
            "Sales",
            {"sessionId": session, "administrationId": admin, "xmlDoc": {"_value_1": doc}},
        ),
        "SalesInvoiceSchemaPath": ("Sales", {}),
        "GetSalesItems": ("Sales", {"sessionID": session, "administrationID": admin}),
        "ActiveVATCodesList": ("Vat", {"sessionID": session, "administrationID": admin}),
        "CheckOutstandingItem": ("Accounting", {"sessionID": session, "Reference": "VF-0001"}),
        "OutstandingDebtorItems": (
            "Accounting",
            {
                "sessionID": session,
                "administrationID": admin,
                "includeBankTransactions": False,
                "sortOrder": "DateAsc",
            },
        ),
    }
    assert set(calls) == set(EXAMPLE_RESPONSES)
    for operation, (service, kwargs) in calls.items():
        body = _call_body(base_url, service, operation, kwargs)
        example = etree.fromstring(EXAMPLE_RESPONSES[operation])
        if operation == "ActiveVATCodesList":
            vat_codes = _elements(_elements(body)[0])
            body = etree.Element(body.tag)
            body.append(etree.Element(f"{{{TNS}}}ActiveVATCodesListResult"))
            body[0].append(vat_codes[-1])
        assert_contains_shape(example, body)
    # The invoice was accepted: its product became a sales item.
    result = _call_body(base_url, "Sales", "GetSalesItems", calls["GetSalesItems"][1])
    assert [e.text for e in result.iter(f"{{{TNS}}}description")] == ["Product 1"]


def test_sandbox_answers_parse_with_zeep(served: tuple[str, YukiSandbox, Any]) -> None:
    base_url, _, seeded = served
    vat = zeep_client(base_url, "Vat")
    session = vat.service.Authenticate(accessKey=seeded.access_key)
    codes = vat.service.ActiveVATCodesList(
        sessionID=session, administrationID=seeded.administration_id
    )
    assert [c.type for c in codes] == [1, 2, 3, 17, 40]
    assert codes[0].percentage == Decimal("21.00")
    assert codes[4].country == "NL" and codes[4].startDate == dt.datetime(2021, 7, 1)
    info = zeep_client(base_url, "AccountingInfo")
    accounts = info.service.GetGLAccountScheme(
        sessionID=session, administrationID=seeded.administration_id
    )
    assert "80000" in [a.code for a in accounts]
    sales = zeep_client(base_url, "Sales")
    assert (
        sales.service.SalesInvoiceSchemaPath()
        == "https://api.yukiworks.be/schemas/SalesInvoices.xsd"
    )
