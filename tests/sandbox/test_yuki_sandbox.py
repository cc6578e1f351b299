"""Yuki sandbox over real HTTP: sessions, domains, contacts, sales invoices, open items, the
daily call limit and SOAP faults, driven by zeep clients built from the served WSDLs.

Starting uvicorn costs about 0.2 s, so one server runs per module and an ASGI switch routes each
test's requests to the app of that test's own sandbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from lxml import etree
from stdnum.be import vat as be_vat
from stdnum.nl import btw as nl_btw
from stdnum.nl import postcode as nl_postcode
from zeep import Client
from zeep.exceptions import Fault

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.yuki import (
    SandboxServer,
    SeededDomain,
    YukiSandbox,
    create_app,
    seed_contacts,
    seed_demo,
)
from tests.sandbox.live import AppSwitch, SwitchServer
from tests.sandbox.test_yuki_wsdl import zeep_client

TNS = "http://www.theyukicompany.com/"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SALES_NS = "urn:xmlns:http://www.theyukicompany.com:salesinvoices"
CONTACT_NS = "urn:xmlns:http://www.theyukicompany.com:contact"
START = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
DAILY_LIMIT_DETAIL = "Every domain has 1000 free webservice calls a day."


@dataclass
class Live:
    """The module's server and zeep clients, one per service."""

    base_url: str
    switch: AppSwitch
    clients: dict[str, Client]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """A loopback server for the module, with zeep clients from its WSDLs."""
    with SwitchServer() as server:
        server.switch.app = create_app(YukiSandbox())
        services = ("Accounting", "Archive", "Contact", "Sales", "Vat")
        clients = {service: zeep_client(server.base_url, service) for service in services}
        yield Live(server.base_url, server.switch, clients)


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock on a Tuesday morning in March 2026 (10:00 in Amsterdam)."""
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> YukiSandbox:
    """An empty sandbox on the manual clock."""
    return YukiSandbox(clock=clock)


@pytest.fixture
def seeded(sandbox: YukiSandbox) -> SeededDomain:
    """The demo domain with 250 seeded contacts."""
    return seed_demo(sandbox, contacts=250, seed=7)


@dataclass
class Yuki:
    """Test handle: zeep clients of the live server, now serving this test's sandbox."""

    live: Live
    sandbox: YukiSandbox
    seeded: SeededDomain

    def __getattr__(self, service: str) -> Any:
        """``yuki.Contact`` is the Contact service proxy."""
        return self.live.clients[service].service

    def session(self) -> str:
        """A fresh session id for the demo access key."""
        return str(self.Contact.Authenticate(accessKey=self.seeded.access_key))

    def search(self, session: str, **overrides: Any) -> list[etree._Element]:
        """SearchContacts (or GetSuppliersAndCustomers when ``contactType`` is given)."""
        params: dict[str, Any] = {
            "sessionID": session,
            "domainID": self.seeded.domain_id,
            "searchOption": "All",
            "searchValue": "",
            "sortOrder": "CreatedAsc",
            "modifiedAfter": dt.datetime(1, 1, 1),
            "active": "Both",
            "pageNumber": 1,
            **overrides,
        }
        op = "GetSuppliersAndCustomers" if "contactType" in params else "SearchContacts"
        result = getattr(self.Contact, op)(**params)
        return list(result)

    def update_contact(self, session: str, *elements: tuple[str, str]) -> etree._Element:
        """UpdateContact with a document of these (element, text) pairs."""
        doc = etree.Element(f"{{{CONTACT_NS}}}Contact", nsmap={None: CONTACT_NS})
        for name, text in elements:
            etree.SubElement(doc, f"{{{CONTACT_NS}}}{name}").text = text
        result = self.Contact.UpdateContact(
            sessionID=session, domainID=self.seeded.domain_id, xmlDoc={"_value_1": doc}
        )
        assert isinstance(result, etree._Element)
        return result

    def process(self, session: str, *invoices: etree._Element) -> etree._Element:
        """ProcessSalesInvoices with these SalesInvoice elements."""
        doc = etree.Element(f"{{{SALES_NS}}}SalesInvoices", nsmap={None: SALES_NS})
        doc.extend(invoices)
        result = self.Sales.ProcessSalesInvoices(
            sessionId=session,
            administrationId=self.seeded.administration_id,
            xmlDoc={"_value_1": doc},
        )
        assert isinstance(result, etree._Element)
        return result


@pytest.fixture
def yuki(live: Live, sandbox: YukiSandbox, seeded: SeededDomain) -> Yuki:
    """Route the live server to this test's seeded sandbox."""
    live.switch.app = create_app(sandbox)
    return Yuki(live, sandbox, seeded)


def invoice(
    reference: str,
    contact_code: str = "",
    full_name: str = "",
    lines: tuple[tuple[str, str, str, str], ...] = (("Consultancy", "2", "100.00", "1"),),
    process: bool = True,
    vat_included: bool = False,
) -> etree._Element:
    """A SalesInvoice element; each line is (product, quantity, price, VAT type)."""
    s = f"{{{SALES_NS}}}"
    element = etree.Element(f"{s}SalesInvoice")
    for name, text in (
        ("Reference", reference),
        ("Subject", f"Factuur {reference}"),
        ("PaymentMethod", "ElectronicTransfer"),
        ("Process", "true" if process else "false"),
        ("EmailToCustomer", "false"),
        ("Date", "2026-03-09"),
        ("DueDate", "2026-04-08"),
    ):
        etree.SubElement(element, f"{s}{name}").text = text
    contact = etree.SubElement(element, f"{s}Contact")
    etree.SubElement(contact, f"{s}ContactCode").text = contact_code
    etree.SubElement(contact, f"{s}FullName").text = full_name
    etree.SubElement(contact, f"{s}CountryCode").text = "NL"
    etree.SubElement(contact, f"{s}ContactType").text = "Company"
    holder = etree.SubElement(element, f"{s}InvoiceLines")
    rates = {"1": "21.00", "2": "9.00", "99": "0"}
    for product, quantity, price, vat_type in lines:
        line = etree.SubElement(holder, f"{s}InvoiceLine")
        etree.SubElement(line, f"{s}Description").text = product
        etree.SubElement(line, f"{s}ProductQuantity").text = quantity
        item = etree.SubElement(line, f"{s}Product")
        etree.SubElement(item, f"{s}Description").text = product
        etree.SubElement(item, f"{s}SalesPrice").text = price
        etree.SubElement(item, f"{s}VATPercentage").text = rates.get(vat_type, "0")
        etree.SubElement(item, f"{s}VATIncluded").text = "true" if vat_included else "false"
        etree.SubElement(item, f"{s}VATType").text = vat_type
    return element


def fields(element: etree._Element) -> dict[str, str]:
    """Child element texts by name (no namespace in Yuki's untyped results)."""
    return {etree.QName(c).localname: c.text or "" for c in element if isinstance(c.tag, str)}


def raw_call(
    base_url: str,
    service: str,
    operation: str,
    params: list[tuple[str, str]],
    version: str = "1.1",
    action: str | None = None,
    namespace: str = TNS,
) -> httpx.Response:
    """A hand-built SOAP request, for what zeep would not send."""
    envelope_ns = SOAP11 if version == "1.1" else SOAP12
    envelope = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={"soap": envelope_ns})
    body = etree.SubElement(envelope, f"{{{envelope_ns}}}Body")
    op = etree.SubElement(body, f"{{{namespace}}}{operation}", nsmap={None: namespace})
    for name, text in params:
        etree.SubElement(op, f"{{{namespace}}}{name}").text = text
    soap_action = action if action is not None else f"{TNS}{operation}"
    if version == "1.1":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{soap_action}"'}
    return httpx.post(
        f"{base_url}/ws/{service}.asmx", content=etree.tostring(envelope), headers=headers
    )


def fault_of(response: httpx.Response) -> tuple[str, str, str]:
    """(faultcode, faultstring, detail) of a SOAP 1.1 fault answered with HTTP 500."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/xml")
    fault = etree.fromstring(response.content).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None, response.text
    return (
        fault.findtext("faultcode") or "",
        fault.findtext("faultstring") or "",
        fault.findtext("detail") or "",
    )


# ------------------------------------------------------------- sessions


def test_authenticate_gives_a_session_and_a_bad_key_a_fault(yuki: Yuki) -> None:
    session = yuki.session()
    assert len(session) == 36 and session.count("-") == 4
    response = raw_call(yuki.live.base_url, "Contact", "Authenticate", [("accessKey", "wrong")])
    code, message, _ = fault_of(response)
    assert code == "soap:Client"
    assert message == "Authentication failed: the access key is not valid."
    with pytest.raises(Fault, match="access key is not valid"):
        yuki.Archive.Authenticate(accessKey="")


def test_session_expires_after_24_hours(yuki: Yuki, clock: ManualClock) -> None:
    session = yuki.session()
    clock.advance(dt.timedelta(hours=23, minutes=59))
    assert yuki.Contact.GetCurrentDomain(sessionID=session) is not None
    clock.advance(dt.timedelta(minutes=1))
    with pytest.raises(Fault) as expired:
        yuki.Contact.GetCurrentDomain(sessionID=session)
    assert expired.value.message.startswith("Session expired.")
    with pytest.raises(Fault) as unknown:
        yuki.Contact.GetCurrentDomain(sessionID="00000000-0000-0000-0000-000000000000")
    assert unknown.value.message.startswith("Invalid session ID.")
    assert yuki.Contact.GetCurrentDomain(sessionID=yuki.session()) is not None


def test_domains_current_domain_and_administrations(yuki: Yuki) -> None:
    box = yuki.sandbox
    other = box.add_domain("tweede-domein")
    other_admin = box.add_administration(other.id, "Tweede B.V.", country="BE", city="Gent")
    box.add_access_key(yuki.seeded.access_key, [yuki.seeded.domain_id, other.id])
    session = yuki.session()
    domains = yuki.Contact.Domains(sessionID=session)
    assert [d.get("ID") for d in domains] == [yuki.seeded.domain_id, other.id]
    assert fields(domains[1]) == {
        "Name": "tweede-domein",
        "URL": "https://tweede-domein.yukiworks.nl",
    }
    current = yuki.Contact.GetCurrentDomain(sessionID=session)
    assert [d.get("ID") for d in current] == [yuki.seeded.domain_id]
    admins = yuki.Accounting.Administrations(sessionID=session)
    assert [a.get("ID") for a in admins] == [yuki.seeded.administration_id]
    first = fields(admins[0])
    assert first["Name"] == "Demo Handelsonderneming B.V." and first["Active"] == "true"
    assert nl_btw.is_valid(first["VATNumber"]) and first["DomainID"] == yuki.seeded.domain_id
    assert yuki.Sales.SetCurrentDomain(sessionID=session, domainID=other.id) is None
    admins = yuki.Sales.Administrations(sessionID=session)
    assert [(a.get("ID"), fields(a)["Country"]) for a in admins] == [(other_admin.id, "BE")]
    assert yuki.Sales.AdministrationID(sessionID=session, administrationName="Tweede B.V.") == (
        other_admin.id
    )
    companies = yuki.Sales.Companies(sessionID=session)
    assert fields(companies[0]) == {"Name": "Tweede B.V.", "Active": "true"}
    with pytest.raises(Fault, match="No access to domain"):
        yuki.Sales.SetCurrentDomain(sessionID=session, domainID="not-a-domain")


# ------------------------------------------------------------- contacts


def test_contact_search_pages_of_100_and_modified_after(yuki: Yuki, clock: ManualClock) -> None:
    session = yuki.session()
    pages = [yuki.search(session, pageNumber=n) for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [100, 100, 50, 0]
    hids = [int(fields(c)["HID"]) for page in pages for c in page]
    assert hids == list(range(1, 251))
    newest_first = yuki.search(session, sortOrder="CreatedDesc")
    assert int(fields(newest_first[0])["HID"]) == 250
    row = fields(pages[0][0])
    assert row["Created"].endswith(("AM", "PM")) and row["Active"] in ("true", "false")
    assert "IsCustomer" not in row

    clock.advance(dt.timedelta(days=1))
    session = yuki.session()
    cutoff = clock.now()
    changed = yuki.sandbox.contacts(yuki.seeded.domain_id)[17]
    clock.advance(dt.timedelta(minutes=5))
    yuki.sandbox.edit_contact(yuki.seeded.domain_id, changed.id, city="Zwolle")
    since = yuki.search(session, modifiedAfter=cutoff)
    assert [(c.get("ID"), fields(c)["City"]) for c in since] == [(changed.id, "Zwolle")]
    # Without an offset the time is Amsterdam local time (UTC+1 in March).
    local = cutoff.astimezone(dt.timezone(dt.timedelta(hours=1))).replace(tzinfo=None)
    assert [c.get("ID") for c in yuki.search(session, modifiedAfter=local)] == [changed.id]
    later = cutoff + dt.timedelta(minutes=10)
    assert yuki.search(session, modifiedAfter=later) == []
    everything = yuki.search(session, modifiedAfter=None, pageNumber=3)
    assert len(everything) == 50


def test_search_value_and_active_filter(yuki: Yuki) -> None:
    box, domain = yuki.sandbox, yuki.seeded.domain_id
    target = next(c for c in box.contacts(domain) if c.type == "Company" and c.active)
    box.set_active(domain, target.id, False)
    session = yuki.session()
    found = yuki.search(session, searchValue=target.vat_number.lower())
    assert [(c.get("ID"), fields(c)["Active"]) for c in found] == [(target.id, "false")]
    assert yuki.search(session, searchValue=target.vat_number, active="Active") == []
    inactive = {c.id for c in box.contacts(domain) if not c.active}
    listed = {
        c.get("ID")
        for n in (1, 2, 3)
        for c in yuki.search(session, active="Inactive", pageNumber=n)
    }
    assert target.id in listed and listed == inactive


def test_suppliers_and_customers_filter_on_the_type_flags(yuki: Yuki) -> None:
    session = yuki.session()
    contacts = yuki.sandbox.contacts(yuki.seeded.domain_id)

    def ids(contact_type: str) -> set[str]:
        """Every contact GetSuppliersAndCustomers lists for a contactType."""
        return {
            c.get("ID")
            for n in (1, 2, 3)
            for c in yuki.search(session, contactType=contact_type, pageNumber=n)
        }

    assert ids("Customer") == {c.id for c in contacts if c.is_customer}
    assert ids("Supplier") == {c.id for c in contacts if c.is_supplier}
    assert ids("Both") == {c.id for c in contacts if c.is_customer or c.is_supplier}
    assert ids("None") == {c.id for c in contacts if not (c.is_customer or c.is_supplier)}
    row = fields(yuki.search(session, contactType="Customer")[0])
    assert row["IsCustomer"] == "True" and row["IsSupplier"] in ("True", "False")


def test_update_contact_creates_and_updates_but_never_sets_the_type(yuki: Yuki) -> None:
    session = yuki.session()
    created = yuki.update_contact(
        session,
        ("ID", ""),
        ("Type", "2"),
        ("Code", "20001"),
        ("FullName", "Bakkerij Visser B.V."),
        ("AddressLine_1", "Kerkstraat 12"),
        ("PostCode", "3511 AB"),
        ("City", "Utrecht"),
        ("Country", "NL"),
        ("EmailWork", "info@bakkerijvisser.nl"),
        ("VATNumber", "NL004495445B01"),
        ("CoCNumber", "30123456"),
        ("IsCustomer", "true"),
        ("IsSupplier", "true"),
        ("ContactType", "Customer"),
    )
    assert created.tag == "{urn:xmlns:http://www.theyukicompany.com:contactResponse}ContactResponse"
    result = fields(created)
    assert result["TimeStamp"] == "2026-03-10"
    assert result["Succeeded"].startswith("Succesfully created Contact ")
    contact_id = result["Succeeded"].rsplit(" ", 1)[1]
    stored = yuki.sandbox.get_contact(yuki.seeded.domain_id, contact_id)
    assert stored is not None and stored.code == "20001" and stored.type == "Company"
    assert (stored.is_customer, stored.is_supplier) == (False, False)
    listed = yuki.search(session, searchValue="20001", contactType="None")
    assert [fields(c)["Name"] for c in listed] == ["Bakkerij Visser B.V."]
    assert (fields(listed[0])["IsCustomer"], fields(listed[0])["IsSupplier"]) == ("False", "False")

    updated = fields(
        yuki.update_contact(
            session, ("Code", "20001"), ("City", "Amersfoort"), ("IsCustomer", "true")
        )
    )
    assert updated["Succeeded"] == f"Succesfully updated Contact {contact_id}"
    stored = yuki.sandbox.get_contact(yuki.seeded.domain_id, contact_id)
    assert stored is not None and stored.city == "Amersfoort" and stored.is_customer is False
    assert stored.full_name == "Bakkerij Visser B.V."

    yuki.sandbox.mark_as_customer(yuki.seeded.domain_id, contact_id)
    row = fields(yuki.search(session, searchValue="20001", contactType="Customer")[0])
    assert row["IsCustomer"] == "True"


def test_update_contact_matching_and_refusals(yuki: Yuki) -> None:
    session = yuki.session()
    person = fields(
        yuki.update_contact(
            session,
            ("Type", "0"),
            ("FirstName", "A"),
            ("MiddleName", "van"),
            ("LastName", "B"),
            ("FullName", "A van B"),
            ("EmailHome", "support@yuki.nl"),
        )
    )
    person_id = person["Succeeded"].rsplit(" ", 1)[1]
    same = fields(
        yuki.update_contact(
            session,
            ("Type", "0"),
            ("FullName", "A van B"),
            ("EmailHome", "support@yuki.nl"),
            ("MobileHome", "06-12345678"),
        )
    )
    assert same["Succeeded"] == f"Succesfully updated Contact {person_id}"
    by_id = fields(yuki.update_contact(session, ("ID", person_id), ("Code", "30001")))
    assert by_id["Succeeded"].endswith(person_id)
    stored = yuki.sandbox.get_contact(yuki.seeded.domain_id, "30001")
    assert stored is not None and stored.mobile_home == "06-12345678" and stored.type == "Person"

    missing = fields(yuki.update_contact(session, ("ID", "no-such-id"), ("City", "X")))
    assert missing["Failed"] == "Contact no-such-id not found." and "Succeeded" not in missing
    bad_type = fields(yuki.update_contact(session, ("Type", "7"), ("FullName", "X")))
    assert bad_type["Failed"].startswith("Type '7' is not valid")
    no_type = fields(yuki.update_contact(session, ("FullName", "Nieuw B.V.")))
    assert no_type["Failed"] == "Type is required to create a contact."


# -------------------------------------------------------- sales invoices


def test_process_sales_invoices_reports_per_invoice(yuki: Yuki) -> None:
    box, domain = yuki.sandbox, yuki.seeded.domain_id
    customer = box.add_contact(domain, full_name="Klant B.V.", code="40001", is_customer=True)
    prospect = box.add_contact(domain, full_name="Nog Geen Klant B.V.", code="40002")
    session = yuki.session()
    result = yuki.process(
        session,
        invoice("VF-1001", "40001", "Klant B.V."),
        invoice("VF-1002", "40002", "Nog Geen Klant B.V."),
        invoice("VF-1003", "40001", "Klant B.V.", lines=(("Licentie", "1", "50", "99"),)),
        invoice("VF-1001", "40001", "Klant B.V."),
    )
    assert result.tag == (
        "{urn:xmlns:http://www.theyukicompany.com:salesinvoicesresponse}SalesInvoicesImportResponse"
    )
    totals = fields(result)
    assert totals["AdministrationId"] == yuki.seeded.administration_id
    assert (totals["TotalSucceeded"], totals["TotalFailed"], totals["TotalSkipped"]) == (
        "1",
        "2",
        "1",
    )
    rows = [fields(e) for e in result.iter("Invoice")]
    assert [(r["Reference"], r["Succeeded"], r["Processed"]) for r in rows] == [
        ("VF-1001", "true", "true"),
        ("VF-1002", "false", "false"),
        ("VF-1003", "false", "false"),
        ("VF-1001", "false", "false"),
    ]
    assert rows[0]["Contact"] == "Klant B.V." and rows[0]["Message"] == ""
    assert rows[1]["Message"] == (
        "Contact 'Nog Geen Klant B.V.' is not a customer. Only contacts marked as Customer in "
        "Yuki can be invoiced."
    )
    assert (
        rows[2]["Message"]
        == "Line 1: VAT type 99 is not an active VAT code of this administration."
    )
    assert "already exists" in rows[3]["Message"]

    box.mark_as_customer(domain, prospect.id)
    retried = fields(yuki.process(session, invoice("VF-1002", "40002"))[5])
    assert (retried["Succeeded"], retried["Contact"]) == ("true", "Nog Geen Klant B.V.")
    invoices = {i.reference: i for i in box.sales_invoices(yuki.seeded.administration_id)}
    assert invoices["VF-1001"].total == Decimal("242.00")
    assert invoices["VF-1001"].contact_id == customer.id
    assert set(invoices) == {"VF-1001", "VF-1002"}


def test_invoice_for_an_unknown_contact_creates_a_customer(yuki: Yuki) -> None:
    session = yuki.session()
    row = fields(yuki.process(session, invoice("VF-2001", "50001", "Nieuwe Klant V.O.F."))[5])
    assert row["Succeeded"] == "true"
    created = yuki.sandbox.get_contact(yuki.seeded.domain_id, "50001")
    assert (
        created is not None and created.is_customer and created.full_name == ("Nieuwe Klant V.O.F.")
    )
    no_name = fields(yuki.process(session, invoice("VF-2002", "50002", ""))[5])
    assert no_name["Succeeded"] == "false" and "FullName" in no_name["Message"]


def test_booked_invoices_are_outstanding_until_paid(yuki: Yuki) -> None:
    box, domain, admin = yuki.sandbox, yuki.seeded.domain_id, yuki.seeded.administration_id
    box.add_contact(domain, full_name="Klant B.V.", code="40001", is_customer=True,
                    vat_number="NL004495445B01", city="Utrecht")  # fmt: skip
    session = yuki.session()
    yuki.process(
        session,
        invoice("VF-3001", "40001", lines=(("Uren", "3", "85.50", "1"), ("Boek", "1", "20", "2"))),
        invoice("VF-3002", "40001", process=False),
        invoice("VF-3003", "40001", lines=(("Pakket", "1", "121.00", "1"),), vat_included=True),
    )
    items = yuki.Accounting.OutstandingDebtorItems(
        sessionID=session, administrationID=admin, includeBankTransactions=False, sortOrder="x"
    )
    rows = [fields(i) for i in items]
    assert [(r["Reference"], r["OpenAmount"]) for r in rows] == [
        ("VF-3001", "332.17"),
        ("VF-3003", "121.00"),
    ]
    first = rows[0]
    assert first["Description"] == "Factuur voor Klant B.V." and first["Contact"] == "Klant B.V."
    assert first["PaymentMethod"] == "Electronic transfer" and first["DueDate"] == "2026-04-08"
    assert first["VATNumber"] == "NL004495445B01" and first["ContactCode"] == "40001"
    assert items[0].find("Type").get("ID") == "6"

    box.register_payment(admin, "VF-3001", "300.00")
    checked = yuki.Accounting.CheckOutstandingItem(sessionID=session, Reference="VF-3001")
    assert [fields(i)["OpenAmount"] for i in checked] == ["32.17"]
    assert "DocumentID" not in fields(checked[0])
    box.register_payment(admin, "VF-3001", "32.17")
    checked = yuki.Accounting.CheckOutstandingItemAdmin(
        sessionID=session, administrationID=admin, Reference=items[0].get("ID")
    )
    assert [fields(i)["OpenAmount"] for i in checked] == ["0.00"]
    items = yuki.Accounting.OutstandingDebtorItems(
        sessionID=session, administrationID=admin, includeBankTransactions=False, sortOrder="x"
    )
    assert [fields(i)["Reference"] for i in items] == ["VF-3003"]
    assert len(yuki.Accounting.CheckOutstandingItem(sessionID=session, Reference="VF-3002")) == 0
    sales_items = yuki.Sales.GetSalesItems(sessionID=session, administrationID=admin)
    assert [s.description for s in sales_items] == ["Uren", "Boek", "Consultancy", "Pakket"]


def test_invalid_sales_document_refuses_the_whole_call(yuki: Yuki) -> None:
    session = yuki.session()
    good = invoice("VF-4001", "x", "Klant B.V.")
    wrong = invoice("VF-4002", "x", "Klant B.V.")
    wrong.find(f".//{{{SALES_NS}}}SalesPrice").text = "twelve"
    with pytest.raises(Fault) as bad_value:
        yuki.process(session, good, wrong)
    assert "The string 'twelve' is not a valid Decimal value." in bad_value.value.message
    extra = invoice("VF-4003", "x", "Klant B.V.")
    etree.SubElement(extra, f"{{{SALES_NS}}}Colour").text = "red"
    with pytest.raises(Fault, match="has invalid child element 'Colour'"):
        yuki.process(session, extra)
    assert yuki.sandbox.sales_invoices(yuki.seeded.administration_id) == []


def test_batch_stops_after_six_failed_invoices(yuki: Yuki) -> None:
    yuki.sandbox.add_contact(yuki.seeded.domain_id, full_name="Prospect", code="60001")
    yuki.sandbox.add_contact(
        yuki.seeded.domain_id, full_name="Klant", code="60002", is_customer=True
    )
    session = yuki.session()
    batch = [invoice(f"VF-5{n:03d}", "60001") for n in range(7)] + [invoice("VF-5999", "60002")]
    totals = fields(yuki.process(session, *batch))
    assert (totals["TotalSucceeded"], totals["TotalFailed"], totals["TotalSkipped"]) == (
        "0",
        "6",
        "2",
    )


def test_ten_thousand_invoices_in_one_call(sandbox: YukiSandbox) -> None:
    seeded = seed_demo(sandbox, contacts=1000, seed=2)
    admin = seeded.administration_id
    codes = [c.code for c in sandbox.contacts(seeded.domain_id) if c.code]
    for code in codes:
        sandbox.mark_as_customer(seeded.domain_id, code)
    template = etree.tostring(invoice("REF", "CODE")).decode()
    invoices = "".join(
        template.replace("REF", f"F{n:05d}").replace("CODE", codes[n % len(codes)])
        for n in range(10_000)
    )
    with SandboxServer(sandbox) as server:
        key = sandbox.authenticate(seeded.access_key)
        body = (
            f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>'
            f'<ProcessSalesInvoices xmlns="{TNS}"><sessionId>{key}</sessionId>'
            f"<administrationId>{admin}</administrationId><xmlDoc>"
            f'<SalesInvoices xmlns="{SALES_NS}">{invoices}</SalesInvoices>'
            "</xmlDoc></ProcessSalesInvoices></soap:Body></soap:Envelope>"
        )
        response = httpx.post(
            server.url("Sales"),
            content=body.encode(),
            headers={"SOAPAction": f"{TNS}ProcessSalesInvoices", "Content-Type": "text/xml"},
            timeout=60,
        )
    assert response.status_code == 200
    result = etree.fromstring(response.content)
    assert result.findtext(".//TotalSucceeded") == "10000"
    assert len(sandbox.outstanding_items(admin)) == 10_000
    assert sandbox.total_calls(seeded.domain_id) == 2


# ----------------------------------------------------------- call quota


def test_daily_limit_fault_and_reset_at_amsterdam_midnight(yuki: Yuki, clock: ManualClock) -> None:
    box, domain = yuki.sandbox, yuki.seeded.domain_id
    box.set_daily_call_limit(domain, 3)
    session = yuki.session()
    yuki.Contact.GetCurrentDomain(sessionID=session)
    yuki.Contact.Administrations(sessionID=session)
    assert box.calls_today(domain) == 3
    response = raw_call(yuki.live.base_url, "Contact", "Administrations", [("sessionID", session)])
    assert fault_of(response) == ("soap:Client", "Daily limit exceeded", DAILY_LIMIT_DETAIL)
    with pytest.raises(Fault) as refused:
        yuki.Sales.Authenticate(accessKey=yuki.seeded.access_key)
    assert refused.value.message == "Daily limit exceeded"
    assert box.calls_today(domain) == 3 and box.total_calls(domain) == 3
    # 23:59 in Amsterdam is still the same day; midnight there resets the count.
    clock.set(dt.datetime(2026, 3, 10, 22, 59, tzinfo=dt.UTC))
    with pytest.raises(Fault, match="Daily limit exceeded"):
        yuki.Contact.Administrations(sessionID=session)
    clock.set(dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.UTC))
    assert yuki.Contact.Administrations(sessionID=session) is not None
    assert box.calls_today(domain) == 1 and box.total_calls(domain) == 4


def test_daily_limit_tiers_and_what_counts(clock: ManualClock) -> None:
    assert YukiSandbox().daily_call_limit == 1000
    box = YukiSandbox(daily_call_limit=5000, clock=clock)
    seeded = seed_demo(box, contacts=0)
    assert box.domains()[0].daily_call_limit == 5000
    assert box.set_daily_call_limit(seeded.domain_id, 10_000).daily_call_limit == 10_000
    session = box.authenticate(seeded.access_key)
    for _ in range(3):
        box.begin_call(session, domain_id=seeded.domain_id)
    with pytest.raises(Exception, match="Invalid session"):
        box.begin_call("nope")
    assert box.calls_today(seeded.domain_id) == 4
    with pytest.raises(ValueError):
        YukiSandbox(daily_call_limit=0)


# ------------------------------------------------------------------ faults


def test_every_fault_is_http_500_with_a_fault_body(yuki: Yuki) -> None:
    base = yuki.live.base_url
    session = yuki.session()
    unknown_action = raw_call(base, "Contact", "Administrations", [("sessionID", session)],
                              action=f"{TNS}NoSuchOperation")  # fmt: skip
    assert fault_of(unknown_action)[1] == (
        f"Server did not recognize the value of HTTP Header SOAPAction: {TNS}NoSuchOperation."
    )
    other_service = raw_call(base, "Vat", "UpdateContact", [("sessionID", session)])
    assert "did not recognize" in fault_of(other_service)[1]
    # ProcessSalesInvoices spells it sessionId: sessionID is not read at all.
    wrong_case = raw_call(
        base, "Sales", "ProcessSalesInvoices",
        [("sessionID", session), ("administrationId", yuki.seeded.administration_id)],
    )  # fmt: skip
    assert fault_of(wrong_case)[1].startswith("Invalid session ID.")
    unqualified = raw_call(base, "Contact", "Administrations", [("sessionID", session)],
                           namespace="urn:wrong")  # fmt: skip
    assert "was not expected" in fault_of(unqualified)[1]
    bad_enum = raw_call(
        base, "Contact", "SearchContacts",
        [("sessionID", session), ("sortOrder", "NameAsc"), ("pageNumber", "1")],
    )  # fmt: skip
    assert "'NameAsc' is not a valid value for SortOrder" in fault_of(bad_enum)[1]
    not_simulated = raw_call(base, "Archive", "DocumentFolders", [("sessionID", session)])
    code, message, _ = fault_of(not_simulated)
    assert code == "soap:Server" and "not simulated" in message
    garbage = httpx.post(f"{base}/ws/Contact.asmx", content=b"<not xml",
                         headers={"Content-Type": "text/xml"})  # fmt: skip
    assert fault_of(garbage)[0] == "soap:Client"
    escaped = raw_call(
        base, "Contact", "UpdateContact",
        [("sessionID", session), ("xmlDoc", "<Contact><FullName>x</FullName></Contact>")],
    )  # fmt: skip
    assert "not as escaped text" in fault_of(escaped)[1]
    assert httpx.post(f"{base}/ws/Nothing.asmx", content=b"").status_code == 404


def test_soap_12_calls_and_faults(yuki: Yuki) -> None:
    client = yuki.live.clients["Contact"]
    service = client.bind("Contact", "ContactSoap12")
    session = service.Authenticate(accessKey=yuki.seeded.access_key)
    assert [d.get("ID") for d in service.GetCurrentDomain(sessionID=session)] == [
        yuki.seeded.domain_id
    ]
    response = raw_call(yuki.live.base_url, "Contact", "Authenticate", [("accessKey", "x")], "1.2")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/soap+xml")
    fault = etree.fromstring(response.content).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
    assert "access key" in (fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or "")
    with pytest.raises(Fault, match="access key is not valid"):
        service.Authenticate(accessKey="x")


# ----------------------------------------------------- seeding and admin


def test_seed_is_deterministic_realistic_and_fast(clock: ManualClock) -> None:
    one, two = YukiSandbox(clock=clock), YukiSandbox(clock=clock)
    x, y = seed_demo(one, contacts=300, seed=4), seed_demo(two, contacts=300, seed=4)
    assert x == y and one.contacts(x.domain_id) == two.contacts(y.domain_id)
    assert seed_demo(YukiSandbox(clock=clock), contacts=300, seed=5) != x
    first = YukiSandbox(clock=clock)
    a = seed_demo(first, contacts=5000, seed=4)
    contacts = first.contacts(a.domain_id)
    companies = [c for c in contacts if c.type == "Company"]
    persons = [c for c in contacts if c.type == "Person"]
    assert 0.15 < len(persons) / len(contacts) < 0.35
    for company in companies:
        if company.country == "NL":
            assert nl_btw.is_valid(company.vat_number) and len(company.coc_number) == 8
            assert nl_postcode.is_valid(company.postcode)
        else:
            assert company.country == "BE" and be_vat.is_valid(company.vat_number)
            assert company.coc_number.replace(".", "") == company.vat_number[2:]
    assert len({c.vat_number for c in companies}) == len(companies)
    assert all(p.first_name and p.last_name and p.email_home and not p.vat_number for p in persons)
    assert 0.7 < sum(c.is_customer for c in contacts) / len(contacts) < 0.8
    assert 0 < sum(not c.active for c in contacts) < len(contacts) * 0.1
    codes = [int(c.code) for c in contacts if c.code]
    assert codes == sorted(codes) and codes[0] == 10001
    assert all(c.created <= c.modified <= clock.now() for c in contacts)
    more = set(seed_contacts(first, a.domain_id, count=10, seed=9))
    added = [int(c.code) for c in first.contacts(a.domain_id) if c.id in more and c.code]
    assert added and added[0] == codes[-1] + 1


def test_admin_endpoints_act_as_a_yuki_user(yuki: Yuki) -> None:
    base, domain = yuki.live.base_url, yuki.seeded.domain_id
    contact = yuki.sandbox.add_contact(domain, full_name="Via Admin B.V.", code="70001")
    assert httpx.get(f"{base}/_sandbox/health").json()["status"] == "ok"
    marked = httpx.post(f"{base}/_sandbox/domains/{domain}/contacts/70001/customer", json={})
    assert marked.status_code == 200 and marked.json()["is_customer"] is True
    off = httpx.post(f"{base}/_sandbox/domains/{domain}/contacts/{contact.id}/active",
                     json={"value": False})  # fmt: skip
    assert off.json()["active"] is False
    assert httpx.get(f"{base}/_sandbox/domains/{domain}/contacts/nope").status_code == 404
    yuki.process(yuki.session(), invoice("VF-7001", "70001"))
    admin = yuki.seeded.administration_id
    paid = httpx.post(f"{base}/_sandbox/administrations/{admin}/payments",
                      json={"reference": "VF-7001", "amount": "242.00"})  # fmt: skip
    assert paid.json()["open_amount"] == "0.00"
    assert httpx.get(f"{base}/_sandbox/administrations/{admin}/invoices").json()[0]["total"] == (
        "242.00"
    )
    limit = httpx.put(f"{base}/_sandbox/domains/{domain}/daily-call-limit", json={"limit": 5000})
    assert limit.json()["daily_call_limit"] == 5000
    report = httpx.get(f"{base}/_sandbox/calls").json()
    assert report[0]["today"] == 2 and report[0]["daily_call_limit"] == 5000
    page = httpx.get(f"{base}/ws/CONTACT.asmx")
    assert page.status_code == 200 and "UpdateContact" in page.text and "?WSDL" in page.text


def test_python_interface_raises_for_unknown_ids(sandbox: YukiSandbox) -> None:
    with pytest.raises(KeyError):
        sandbox.mark_as_customer("no-domain", "x")
    domain = sandbox.add_domain("d")
    with pytest.raises(KeyError):
        sandbox.mark_as_customer(domain.id, "missing")
    with pytest.raises(ValueError):
        sandbox.add_access_key("k", [])
    assert sandbox.get_contact(domain.id, "missing") is None
