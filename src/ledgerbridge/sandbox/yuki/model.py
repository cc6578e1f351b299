"""Records the Yuki sandbox keeps: contacts, administrations, VAT codes, invoices, open items.

These are snapshots handed to Python callers (tests, the demo) as well as the stored rows; the
state class copies them on the way out so that a caller can never change stored data without
going through the lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

CONTACT_TYPES = ("Company", "Person")

# Contact attributes a user (in the UI) or the API (UpdateContact) may set. The customer and
# supplier flags and the active state are deliberately absent: the API cannot set them.
CONTACT_TEXT_FIELDS = (
    "code",
    "full_name",
    "first_name",
    "middle_name",
    "last_name",
    "address_line_1",
    "address_line_2",
    "postcode",
    "city",
    "country",
    "mail_address_line_1",
    "mail_address_line_2",
    "mail_postcode",
    "mail_city",
    "phone_home",
    "phone_work",
    "mobile_home",
    "mobile_work",
    "email_home",
    "email_work",
    "website",
    "vat_number",
    "coc_number",
)


@dataclass
class Contact:
    """A Yuki contact (relation) of one domain: a company or a person.

    ``code`` is the relationship code, which the integration fills with its debtor number; it
    is the only identifier of the integration's own that Yuki stores and matches on.
    """

    id: str
    hid: int
    type: str
    created: dt.datetime
    modified: dt.datetime
    code: str = ""
    full_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    address_line_1: str = ""
    address_line_2: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    mail_address_line_1: str = ""
    mail_address_line_2: str = ""
    mail_postcode: str = ""
    mail_city: str = ""
    phone_home: str = ""
    phone_work: str = ""
    mobile_home: str = ""
    mobile_work: str = ""
    email_home: str = ""
    email_work: str = ""
    website: str = ""
    vat_number: str = ""
    coc_number: str = ""
    is_customer: bool = False
    is_supplier: bool = False
    active: bool = True

    @property
    def name(self) -> str:
        """Display name: the full name, or first, middle and last name joined for a person."""
        if self.full_name:
            return self.full_name
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)


@dataclass(frozen=True)
class ContactUpdate:
    """An ``UpdateContact`` document: the elements it carried, by contact attribute.

    ``id`` and ``type`` are empty/``None`` when the document left them out or empty.
    """

    id: str
    type: str | None
    fields: dict[str, str]


@dataclass(frozen=True)
class Domain:
    """A Yuki domain (one customer environment); contacts and the daily call quota live here."""

    id: str
    name: str
    url: str
    daily_call_limit: int


@dataclass(frozen=True)
class VatCode:
    """One active VAT code of an administration, as ``ActiveVATCodesList`` returns it."""

    type: int
    description: str
    type_description: str
    percentage: Decimal
    country: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None


@dataclass(frozen=True)
class GlAccount:
    """One general-ledger account of an administration's scheme."""

    code: str
    description: str
    type: int
    subtype: int
    vat_applicable: bool = True


@dataclass(frozen=True)
class Administration:
    """A Yuki administration (a company's books) inside a domain."""

    id: str
    domain_id: str
    name: str
    address_line: str
    postcode: str
    city: str
    country: str
    coc_number: str
    vat_number: str
    start_date: dt.date
    active: bool
    vat_codes: tuple[VatCode, ...]
    gl_accounts: tuple[GlAccount, ...]


@dataclass
class OutstandingItem:
    """An open debtor item, created when a sales invoice is processed (booked)."""

    id: str
    administration_id: str
    reference: str
    date: dt.date
    due_date: dt.date | None
    description: str
    contact_id: str
    original_amount: Decimal
    open_amount: Decimal
    payment_method: str
    document_id: str
    type_id: int = 6
    type_description: str = "Sales invoice"


@dataclass(frozen=True)
class Product:
    """A sales item, created or updated from invoice lines and matched by description."""

    id: str
    description: str
    reference: str
    sales_price: Decimal
    vat_percentage: Decimal
    vat_type: int | None
    gl_account_code: str


@dataclass(frozen=True)
class InvoiceLineInput:
    """One ``InvoiceLine`` of a ``SalesInvoices`` document, with its product."""

    description: str
    quantity: Decimal
    product_description: str
    product_reference: str
    sales_price: Decimal
    vat_percentage: Decimal
    vat_included: bool
    vat_type: int | None
    gl_account_code: str
    remarks: str = ""


@dataclass(frozen=True)
class InvoiceContactInput:
    """The ``Contact`` block of a sales invoice (used to find, or else create, the contact)."""

    code: str
    full_name: str
    first_name: str
    middle_name: str
    last_name: str
    contact_type: str
    country: str
    city: str
    postcode: str
    address_line_1: str
    address_line_2: str
    website: str
    coc_number: str
    vat_number: str
    phone_home: str
    mobile_home: str
    email: str


@dataclass(frozen=True)
class SalesInvoiceInput:
    """One ``SalesInvoice`` of a ``SalesInvoices`` document, already type-checked."""

    reference: str
    subject: str
    payment_method: str
    payment_id: str
    process: bool
    email_to_customer: bool
    date: dt.date
    due_date: dt.date | None
    currency: str
    remarks: str
    contact: InvoiceContactInput
    lines: tuple[InvoiceLineInput, ...]


@dataclass(frozen=True)
class SalesInvoice:
    """A sales invoice the sandbox accepted: booked (``processed``) or left as a draft."""

    reference: str
    subject: str
    date: dt.date
    due_date: dt.date | None
    contact_id: str
    processed: bool
    email_sent: bool
    currency: str
    total: Decimal
    lines: tuple[InvoiceLineInput, ...]
    outstanding_item_id: str | None


@dataclass(frozen=True)
class InvoiceResult:
    """Per-invoice outcome in a ``SalesInvoicesImportResponse``."""

    succeeded: bool
    processed: bool
    email_sent: bool
    reference: str
    subject: str
    contact: str
    message: str
    skipped: bool = False


@dataclass(frozen=True)
class ImportResult:
    """Outcome of one ``ProcessSalesInvoices`` call."""

    timestamp: dt.date
    administration_id: str
    invoices: tuple[InvoiceResult, ...] = field(default_factory=tuple)

    @property
    def total_succeeded(self) -> int:
        """Invoices accepted (booked or draft)."""
        return sum(1 for r in self.invoices if r.succeeded)

    @property
    def total_skipped(self) -> int:
        """Invoices not attempted: duplicates, and those after the batch stopped."""
        return sum(1 for r in self.invoices if r.skipped)

    @property
    def total_failed(self) -> int:
        """Invoices rejected."""
        return sum(1 for r in self.invoices if not r.succeeded and not r.skipped)
