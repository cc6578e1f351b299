"""The XML documents inside Yuki's SOAP messages: the ``xmlDoc`` a client sends and the
untyped (``s:any``) results Yuki returns.

Shapes follow the examples in ``shared/specs/yuki/examples`` element for element; what those
examples do not show (extra contact fields, failure messages) is marked inferred in
``docs/sandbox-yuki.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from ledgerbridge.sandbox.yuki.model import (
    Administration,
    Contact,
    ContactUpdate,
    Domain,
    GlAccount,
    ImportResult,
    InvoiceContactInput,
    InvoiceLineInput,
    OutstandingItem,
    Product,
    SalesInvoiceInput,
    VatCode,
)
from ledgerbridge.sandbox.yuki.soap import TNS, XSI_NS, unqualified
from ledgerbridge.sandbox.yuki.state import (
    AMSTERDAM,
    PAYMENT_METHODS,
    ContactRejected,
    YukiFault,
)

CONTACT_NS = "urn:xmlns:http://www.theyukicompany.com:contact"
CONTACT_RESPONSE_NS = "urn:xmlns:http://www.theyukicompany.com:contactResponse"
SALES_NS = "urn:xmlns:http://www.theyukicompany.com:salesinvoices"
SALES_RESPONSE_NS = "urn:xmlns:http://www.theyukicompany.com:salesinvoicesresponse"
XSD_TYPE = "http://www.w3.org/2001/XMLSchema"

# UpdateContact elements and the contact attribute each sets. ``PostCode`` is what clients
# send; ``Postcode`` is how Yuki writes it back, so both are read.
CONTACT_ELEMENTS = {
    "Code": "code",
    "FullName": "full_name",
    "FirstName": "first_name",
    "MiddleName": "middle_name",
    "LastName": "last_name",
    "AddressLine_1": "address_line_1",
    "AddressLine_2": "address_line_2",
    "PostCode": "postcode",
    "Postcode": "postcode",
    "City": "city",
    "Country": "country",
    "MailAddressLine_1": "mail_address_line_1",
    "MailAddressLine_2": "mail_address_line_2",
    "MailPostCode": "mail_postcode",
    "MailPostcode": "mail_postcode",
    "MailCity": "mail_city",
    "PhoneHome": "phone_home",
    "PhoneWork": "phone_work",
    "MobileHome": "mobile_home",
    "MobileWork": "mobile_work",
    "EmailHome": "email_home",
    "EmailWork": "email_work",
    "Website": "website",
    "VATNumber": "vat_number",
    "CoCNumber": "coc_number",
}
CONTACT_TYPE_CODES = {"0": "Person", "2": "Company", "person": "Person", "company": "Company"}

# Contact fields in search results: the order of the SearchContacts example, then the fields
# the example does not show.
_CONTACT_OUTPUT: tuple[tuple[str, Callable[[Contact], str]], ...] = (
    ("Code", lambda c: c.code),
    ("Name", lambda c: c.name),
    ("AddressLine_1", lambda c: c.address_line_1),
    ("AddressLine_2", lambda c: c.address_line_2),
    ("Postcode", lambda c: c.postcode),
    ("City", lambda c: c.city),
    ("MailAddressLine_1", lambda c: c.mail_address_line_1),
    ("MailAddressLine_2", lambda c: c.mail_address_line_2),
    ("MailPostcode", lambda c: c.mail_postcode),
    ("MailCity", lambda c: c.mail_city),
    ("Country", lambda c: c.country),
    ("PhoneHome", lambda c: c.phone_home),
    ("EMailWork", lambda c: c.email_work),
    ("Website", lambda c: c.website),
    ("VATNumber", lambda c: c.vat_number),
    ("CoCNumber", lambda c: c.coc_number),
    ("IncomeTaxNumber", lambda c: ""),
)
_CONTACT_TRAILER: tuple[tuple[str, Callable[[Contact], str]], ...] = (
    ("MainContactPerson", lambda c: ""),
    ("Tags", lambda c: ""),
    ("BackofficeStatus", lambda c: ""),
    ("FirstName", lambda c: c.first_name),
    ("MiddleName", lambda c: c.middle_name),
    ("LastName", lambda c: c.last_name),
    ("PhoneWork", lambda c: c.phone_work),
    ("MobileHome", lambda c: c.mobile_home),
    ("MobileWork", lambda c: c.mobile_work),
    ("EmailHome", lambda c: c.email_home),
    ("Active", lambda c: _bool(c.active)),
)


def yuki_timestamp(moment: datetime) -> str:
    """Yuki's contact timestamp: US-style local time, e.g. ``4/10/2019 3:50:52 PM``."""
    local = moment.astimezone(AMSTERDAM)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return (
        f"{local.month}/{local.day}/{local.year} {hour}:{local.minute:02d}:{local.second:02d} "
        f"{half}"
    )


def _bool(value: bool) -> str:
    """``true``/``false`` as XML writes booleans."""
    return "true" if value else "false"


def _amount(value: Decimal) -> str:
    """Two decimals, as Yuki writes amounts and percentages."""
    return f"{value:.2f}"


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children (comments skipped)."""
    return [child for child in parent if isinstance(child.tag, str)]


# ---------------------------------------------------------------- contacts


def parse_contact_update(doc: etree._Element | None) -> ContactUpdate:
    """Read an UpdateContact document. Elements Yuki does not know, including any attempt to
    set the customer or supplier type, are ignored.
    """
    if doc is None or doc.tag != f"{{{CONTACT_NS}}}Contact":
        found = "nothing" if doc is None else f"'{etree.QName(doc).localname}'"
        raise YukiFault(
            f"xmlDoc must be a Contact element in namespace '{CONTACT_NS}'; found {found}."
        )
    contact_id = ""
    contact_type: str | None = None
    fields: dict[str, str] = {}
    for child in _elements(doc):
        qname = etree.QName(child)
        if qname.namespace != CONTACT_NS:
            continue
        value = (child.text or "").strip()
        if qname.localname == "ID":
            contact_id = value
        elif qname.localname == "Type":
            if value:
                contact_type = CONTACT_TYPE_CODES.get(value.lower())
                if contact_type is None:
                    raise ContactRejected(
                        f"Type '{value}' is not valid: use 0 (person) or 2 (company)."
                    )
        elif qname.localname in CONTACT_ELEMENTS:
            fields[CONTACT_ELEMENTS[qname.localname]] = value
    return ContactUpdate(contact_id, contact_type, fields)


def contact_response(timestamp: date, succeeded: str | None, failed: str | None) -> etree._Element:
    """``ContactResponse`` with ``Succeeded`` (a sentence naming the contact) or ``Failed``."""
    response = etree.Element(
        f"{{{CONTACT_RESPONSE_NS}}}ContactResponse", nsmap={None: CONTACT_RESPONSE_NS}
    )
    unqualified(response, "TimeStamp", timestamp.isoformat())
    if succeeded is not None:
        unqualified(response, "Succeeded", succeeded)
    if failed is not None:
        unqualified(response, "Failed", failed)
    return response


def contacts_element(contacts: Iterable[Contact], with_flags: bool) -> etree._Element:
    """``<Contacts xmlns="">`` of SearchContacts; with the IsSupplier/IsCustomer flags for
    GetSuppliersAndCustomers.
    """
    root = unqualified(None, "Contacts")
    for contact in contacts:
        element = etree.SubElement(root, "Contact", ID=contact.id)
        etree.SubElement(element, "Type").text = contact.type
        etree.SubElement(element, "HID").text = str(contact.hid)
        for name, getter in _CONTACT_OUTPUT:
            etree.SubElement(element, name).text = getter(contact) or None
        etree.SubElement(element, "Created").text = yuki_timestamp(contact.created)
        etree.SubElement(element, "Modified").text = yuki_timestamp(contact.modified)
        if with_flags:
            etree.SubElement(element, "IsSupplier").text = str(contact.is_supplier)
            etree.SubElement(element, "IsCustomer").text = str(contact.is_customer)
        for name, getter in _CONTACT_TRAILER:
            etree.SubElement(element, name).text = getter(contact) or None
    return root


# ----------------------------------------------------------- sales invoices

_STRING, _DATE, _DECIMAL, _BOOLEAN, _INT, _COMPLEX = (
    "string",
    "date",
    "decimal",
    "boolean",
    "int",
    "",
)
_INVOICE_SCHEMA = {
    "Reference": _STRING,
    "Subject": _STRING,
    "PaymentMethod": _STRING,
    "PaymentID": _STRING,
    "Process": _BOOLEAN,
    "EmailToCustomer": _BOOLEAN,
    "SentToPeppol": _BOOLEAN,
    "Layout": _STRING,
    "Date": _DATE,
    "DueDate": _DATE,
    "PriceList": _STRING,
    "Currency": _STRING,
    "ProjectID": _STRING,
    "ProjectCode": _STRING,
    "Remarks": _STRING,
    "DocumentFileName": _STRING,
    "DocumentBase64": _STRING,
    "Contact": _COMPLEX,
    "ContactPerson": _COMPLEX,
    "InvoiceLines": _COMPLEX,
}
_CONTACT_SCHEMA = dict.fromkeys(
    (
        "ContactCode", "FullName", "FirstName", "MiddleName", "LastName", "Gender",
        "CountryCode", "City", "Zipcode", "AddressLine_1", "AddressLine_2", "Website",
        "CoCNumber", "VATNumber", "ContactType", "BankAccount", "PhoneHome", "MobileHome",
        "EmailAddress",
    ),
    _STRING,
)  # fmt: skip
_CONTACT_PERSON_SCHEMA = dict.fromkeys(
    ("FirstName", "MiddleName", "LastName", "Gender", "EmailAddress"), _STRING
)
_LINES_SCHEMA = {"InvoiceLine": _COMPLEX}
_LINE_SCHEMA = {
    "Description": _STRING,
    "Remarks": _STRING,
    "ProductQuantity": _DECIMAL,
    "LineAmount": _DECIMAL,
    "LineVATAmount": _DECIMAL,
    "Product": _COMPLEX,
    "AccrualDate": _DATE,
    "AccrualPeriods": _INT,
    "AccrualInterval": _STRING,
}
_PRODUCT_SCHEMA = {
    "Description": _STRING,
    "Reference": _STRING,
    "Category": _STRING,
    "SalesPrice": _DECIMAL,
    "VATPercentage": _DECIMAL,
    "VATIncluded": _BOOLEAN,
    "VATType": _INT,
    "GLAccountCode": _STRING,
    "Remarks": _STRING,
}


_SALES_PREFIX = f"{{{SALES_NS}}}"
_PREFIX_LENGTH = len(_SALES_PREFIX)


class _Block:
    """The children of one XSD sequence, checked: known names only, values of their type."""

    def __init__(self, element: etree._Element, schema: Mapping[str, str]) -> None:
        self.element = element
        self.children: dict[str, list[etree._Element]] = {}
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            local = tag[_PREFIX_LENGTH:] if tag.startswith(_SALES_PREFIX) else ""
            if local not in schema:
                qname = etree.QName(child)
                raise YukiFault(
                    f"The element '{self.name}' in namespace '{SALES_NS}' has invalid child "
                    f"element '{qname.localname}' in namespace '{qname.namespace or ''}'."
                )
            self.children.setdefault(local, []).append(child)

    @property
    def name(self) -> str:
        """Local name of the element, for messages."""
        return etree.QName(self.element).localname

    def require(self, name: str) -> None:
        """Fail as the XSD does when a required child is missing."""
        self._value(name, required=True)

    def _value(self, name: str, required: bool) -> str | None:
        """Trimmed text of a child; ``None`` when absent or ``xsi:nil``."""
        found = self.children.get(name)
        if not found or found[0].get(f"{{{XSI_NS}}}nil") in ("true", "1"):
            if required:
                raise YukiFault(
                    f"The element '{self.name}' in namespace '{SALES_NS}' has incomplete "
                    f"content. List of possible elements expected: '{name}' in namespace "
                    f"'{SALES_NS}'."
                )
            return None
        return (found[0].text or "").strip()

    def _invalid(self, name: str, text: str, type_name: str, label: str) -> YukiFault:
        """The validation fault for a value of the wrong type."""
        return YukiFault(
            f"The '{SALES_NS}:{name}' element is invalid - The value '{text}' is invalid "
            f"according to its datatype '{XSD_TYPE}:{type_name}' - The string '{text}' is not "
            f"a valid {label} value."
        )

    def text(self, name: str) -> str:
        """A string child; empty when absent."""
        return self._value(name, False) or ""

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        """An ``xs:decimal`` child."""
        text = self._value(name, required)
        if text is None:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise self._invalid(name, text, "decimal", "Decimal")
        return value

    def integer(self, name: str) -> int | None:
        """An ``xs:int`` child."""
        text = self._value(name, False)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise self._invalid(name, text, "int", "Int32") from None

    def boolean(self, name: str) -> bool:
        """An ``xs:boolean`` child; false when absent."""
        text = self._value(name, False)
        if text is None:
            return False
        if text not in ("true", "false", "1", "0"):
            raise self._invalid(name, text, "boolean", "Boolean")
        return text in ("true", "1")

    def day(self, name: str, required: bool = False) -> date | None:
        """An ``xs:date`` child."""
        text = self._value(name, required)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._invalid(name, text, "date", "Date") from None

    def block(self, name: str, schema: Mapping[str, str], required: bool) -> _Block | None:
        """A complex child, checked against its own schema."""
        if required:
            self.require(name)
        found = self.children.get(name)
        return _Block(found[0], schema) if found else None

    def blocks(self, name: str, schema: Mapping[str, str]) -> list[_Block]:
        """Every occurrence of a repeated complex child."""
        return [_Block(element, schema) for element in self.children.get(name, [])]


def parse_sales_invoices(doc: etree._Element | None) -> list[SalesInvoiceInput]:
    """Validate a ``SalesInvoices`` document the way Yuki's XSD does (whole call refused on
    the first error) and return its invoices.
    """
    if doc is None or doc.tag != f"{{{SALES_NS}}}SalesInvoices":
        name = "xmlDoc" if doc is None else etree.QName(doc).localname
        raise YukiFault(
            f"The '{name}' element is not declared: expected 'SalesInvoices' in namespace "
            f"'{SALES_NS}'."
        )
    root = _Block(doc, {"SalesInvoice": _COMPLEX})
    invoices = [_invoice(block) for block in root.blocks("SalesInvoice", _INVOICE_SCHEMA)]
    if not invoices:
        root.require("SalesInvoice")
    return invoices


def _invoice(block: _Block) -> SalesInvoiceInput:
    """One SalesInvoice element, type-checked."""
    payment_method = block.text("PaymentMethod")
    if payment_method not in PAYMENT_METHODS:
        raise YukiFault(
            f"The '{SALES_NS}:PaymentMethod' element is invalid - The value '{payment_method}' "
            "is invalid according to its datatype 'PaymentMethod' - The Enumeration constraint "
            "failed."
        )
    contact = block.block("Contact", _CONTACT_SCHEMA, required=True)
    assert contact is not None
    contact_type = contact.text("ContactType")
    if contact_type not in ("", "Company", "Person"):
        raise YukiFault(
            f"The '{SALES_NS}:ContactType' element is invalid - The value '{contact_type}' is "
            "invalid according to its datatype 'ContactType' - The Enumeration constraint failed."
        )
    block.block("ContactPerson", _CONTACT_PERSON_SCHEMA, required=False)
    lines_block = block.block("InvoiceLines", _LINES_SCHEMA, required=True)
    assert lines_block is not None
    lines = [_line(line) for line in lines_block.blocks("InvoiceLine", _LINE_SCHEMA)]
    if not lines:
        lines_block.require("InvoiceLine")
    invoice_date = block.day("Date", required=True)
    assert invoice_date is not None
    return SalesInvoiceInput(
        reference=block.text("Reference"),
        subject=block.text("Subject"),
        payment_method=payment_method,
        payment_id=block.text("PaymentID"),
        process=block.boolean("Process"),
        email_to_customer=block.boolean("EmailToCustomer"),
        date=invoice_date,
        due_date=block.day("DueDate"),
        currency=block.text("Currency"),
        remarks=block.text("Remarks"),
        contact=InvoiceContactInput(
            code=contact.text("ContactCode"),
            full_name=contact.text("FullName"),
            first_name=contact.text("FirstName"),
            middle_name=contact.text("MiddleName"),
            last_name=contact.text("LastName"),
            contact_type=contact_type,
            country=contact.text("CountryCode"),
            city=contact.text("City"),
            postcode=contact.text("Zipcode"),
            address_line_1=contact.text("AddressLine_1"),
            address_line_2=contact.text("AddressLine_2"),
            website=contact.text("Website"),
            coc_number=contact.text("CoCNumber"),
            vat_number=contact.text("VATNumber"),
            phone_home=contact.text("PhoneHome"),
            mobile_home=contact.text("MobileHome"),
            email=contact.text("EmailAddress"),
        ),
        lines=tuple(lines),
    )


def _line(block: _Block) -> InvoiceLineInput:
    """One InvoiceLine with its Product, type-checked."""
    quantity = block.decimal("ProductQuantity", required=True)
    block.decimal("LineAmount")
    block.decimal("LineVATAmount")
    block.day("AccrualDate")
    block.integer("AccrualPeriods")
    product = block.block("Product", _PRODUCT_SCHEMA, required=True)
    assert quantity is not None and product is not None
    price = product.decimal("SalesPrice", required=True)
    assert price is not None
    return InvoiceLineInput(
        description=block.text("Description"),
        quantity=quantity,
        product_description=product.text("Description"),
        product_reference=product.text("Reference"),
        sales_price=price,
        vat_percentage=product.decimal("VATPercentage") or Decimal(0),
        vat_included=product.boolean("VATIncluded"),
        vat_type=product.integer("VATType"),
        gl_account_code=product.text("GLAccountCode"),
        remarks=block.text("Remarks"),
    )


def import_response(result: ImportResult) -> etree._Element:
    """``SalesInvoicesImportResponse`` with totals and one ``Invoice`` per submitted invoice."""
    root = etree.Element(
        f"{{{SALES_RESPONSE_NS}}}SalesInvoicesImportResponse", nsmap={None: SALES_RESPONSE_NS}
    )
    unqualified(root, "TimeStamp", result.timestamp.isoformat())
    unqualified(root, "AdministrationId", result.administration_id)
    unqualified(root, "TotalSucceeded", str(result.total_succeeded))
    unqualified(root, "TotalFailed", str(result.total_failed))
    unqualified(root, "TotalSkipped", str(result.total_skipped))
    for item in result.invoices:
        invoice = unqualified(root, "Invoice")
        etree.SubElement(invoice, "Succeeded").text = _bool(item.succeeded)
        etree.SubElement(invoice, "Processed").text = _bool(item.processed)
        etree.SubElement(invoice, "EmailSent").text = _bool(item.email_sent)
        etree.SubElement(invoice, "Reference").text = item.reference or None
        etree.SubElement(invoice, "Subject").text = item.subject or None
        etree.SubElement(invoice, "Contact").text = item.contact or None
        etree.SubElement(invoice, "Message").text = item.message
    return root


# -------------------------------------------------------- outstanding items

# The contact's data each open item repeats, in the order of the examples ("" for
# RecipientEmail, which no contact attribute holds).
_ITEM_CONTACT_FIELDS = (
    ("ContactCode", "code"),
    ("CoCNumber", "coc_number"),
    ("VATNumber", "vat_number"),
    ("AddressLine_1", "address_line_1"),
    ("AddressLine_2", "address_line_2"),
    ("Postcode", "postcode"),
    ("City", "city"),
    ("MailAddressLine_1", "mail_address_line_1"),
    ("MailAddressLine_2", "mail_address_line_2"),
    ("MailPostcode", "mail_postcode"),
    ("MailCity", "mail_city"),
    ("Country", "country"),
    ("RecipientEmail", "recipient_email"),
    ("PhoneHome", "phone_home"),
    ("PhoneWork", "phone_work"),
    ("EmailHome", "email_home"),
    ("EmailWork", "email_work"),
)


def outstanding_items_element(
    root_name: str,
    items: Sequence[OutstandingItem],
    contact_of: Callable[[str], Contact | None],
    with_document_id: bool,
) -> etree._Element:
    """``<OutstandingDebtorItems>`` / ``<OutstandingItems>`` with the contact's data per item;
    ``DocumentID`` appears in the debtor list only, as in the examples.
    """
    root = unqualified(None, root_name)
    for item in items:
        contact = contact_of(item.contact_id)
        element = etree.SubElement(root, "Item", ID=item.id)
        values: list[tuple[str, str]] = [
            ("Date", item.date.isoformat()),
            ("Description", item.description),
            ("Contact", contact.name if contact else ""),
            ("ContactID", item.contact_id),
            ("OpenAmount", _amount(item.open_amount)),
            ("OriginalAmount", _amount(item.original_amount)),
        ]
        for name, text in values:
            etree.SubElement(element, name).text = text or None
        type_element = etree.SubElement(element, "Type", ID=str(item.type_id))
        type_element.text = item.type_description
        tail: list[tuple[str, str]] = [
            ("Reference", item.reference),
            ("DueDate", item.due_date.isoformat() if item.due_date else ""),
        ]
        if with_document_id:
            tail.append(("DocumentID", item.document_id))
        tail.append(("PaymentMethod", item.payment_method))
        tail += [(name, getattr(contact, attr, "")) for name, attr in _ITEM_CONTACT_FIELDS]
        for name, text in tail:
            etree.SubElement(element, name).text = text or None
    return root


# ------------------------------------------------------ domains and admins


def domains_element(domains: Iterable[Domain], with_url: bool) -> etree._Element:
    """``<Domains xmlns="">``: ``Domain@ID`` with ``Name`` (and ``URL`` for Domains)."""
    root = unqualified(None, "Domains")
    for domain in domains:
        element = etree.SubElement(root, "Domain", ID=domain.id)
        etree.SubElement(element, "Name").text = domain.name
        if with_url:
            etree.SubElement(element, "URL").text = domain.url
    return root


def administrations_element(admins: Iterable[Administration]) -> etree._Element:
    """``<Administrations xmlns="">`` as in the Administrations example."""
    root = unqualified(None, "Administrations")
    for admin in admins:
        element = etree.SubElement(root, "Administration", ID=admin.id)
        for name, text in (
            ("Name", admin.name),
            ("AddressLine", admin.address_line),
            ("Postcode", admin.postcode),
            ("City", admin.city),
            ("Country", admin.country),
            ("CoCNumber", admin.coc_number),
            ("VATNumber", admin.vat_number),
            ("StartDate", admin.start_date.isoformat()),
            ("DomainID", admin.domain_id),
            ("Active", _bool(admin.active)),
        ):
            etree.SubElement(element, name).text = text or None
    return root


def companies_element(admins: Iterable[Administration]) -> etree._Element:
    """``<Companies xmlns="">``: ``Company@ID`` with ``Name`` and ``Active``."""
    root = unqualified(None, "Companies")
    for admin in admins:
        element = etree.SubElement(root, "Company", ID=admin.id)
        etree.SubElement(element, "Name").text = admin.name
        etree.SubElement(element, "Active").text = _bool(admin.active)
    return root


# ------------------------------------------------------------ typed results


def _typed(parent: etree._Element, tag: str) -> etree._Element:
    """A child in the service namespace (typed results are qualified)."""
    return etree.SubElement(parent, f"{{{TNS}}}{tag}")


def _nil(parent: etree._Element, tag: str, value: date | None) -> None:
    """A nillable ``s:dateTime`` child: the date at midnight, or ``xsi:nil``."""
    element = _typed(parent, tag)
    if value is None:
        element.set(f"{{{XSI_NS}}}nil", "true")
    else:
        element.text = f"{value.isoformat()}T00:00:00"


def vat_code_elements(codes: Iterable[VatCode]) -> list[etree._Element]:
    """``VATCode`` entries of ``ActiveVATCodesList`` (``country`` only where set)."""
    result = []
    for code in codes:
        element = etree.Element(f"{{{TNS}}}VATCode", nsmap={None: TNS})
        _typed(element, "description").text = code.description
        _typed(element, "type").text = str(code.type)
        _typed(element, "typeDescription").text = code.type_description
        _typed(element, "percentage").text = _amount(code.percentage)
        if code.country:
            _typed(element, "country").text = code.country
        _nil(element, "startDate", code.start_date)
        _nil(element, "endDate", code.end_date)
        result.append(element)
    return result


def sales_item_elements(products: Iterable[Product]) -> list[etree._Element]:
    """``SalesItem`` entries of ``GetSalesItems``."""
    result = []
    for product in products:
        element = etree.Element(f"{{{TNS}}}SalesItem", nsmap={None: TNS})
        _typed(element, "id").text = product.id
        _typed(element, "description").text = product.description
        result.append(element)
    return result


def gl_account_elements(accounts: Iterable[GlAccount]) -> list[etree._Element]:
    """``GlAccount`` entries of ``GetGLAccountScheme`` (``descripton`` is Yuki's spelling)."""
    result = []
    for account in accounts:
        element = etree.Element(f"{{{TNS}}}GlAccount", nsmap={None: TNS})
        for name, text in (
            ("code", account.code),
            ("type", str(account.type)),
            ("subtype", str(account.subtype)),
            ("isEnabled", "true"),
            ("descripton", account.description),
            ("descriptionNL", account.description),
            ("descriptionFR", account.description),
            ("descriptionEN", account.description),
            ("isVATApplicable", _bool(account.vat_applicable)),
            ("deductableVATPercentage", "100.00"),
            ("professionalPercentage", "100.00"),
        ):
            _typed(element, name).text = text
        result.append(element)
    return result
