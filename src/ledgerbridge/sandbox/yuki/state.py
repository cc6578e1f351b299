"""In-memory state of the Yuki sandbox and the rules Yuki's web services enforce on it.

Everything sits behind one re-entrant lock because uvicorn serves SOAP calls while tests and
the demo act "as a user in the Yuki UI" (ticking the Customer box, deactivating a contact,
booking a payment) from other threads. Methods hand out copies, never stored objects.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ledgerbridge.sandbox.yuki.model import (
    CONTACT_TEXT_FIELDS,
    CONTACT_TYPES,
    Administration,
    Contact,
    ContactUpdate,
    Domain,
    GlAccount,
    ImportResult,
    InvoiceContactInput,
    InvoiceLineInput,
    InvoiceResult,
    OutstandingItem,
    Product,
    SalesInvoice,
    SalesInvoiceInput,
    VatCode,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SESSION_TTL = timedelta(hours=24)
DEFAULT_DAILY_CALL_LIMIT = 1000
PAGE_SIZE = 100
MAX_FAILED_INVOICES = 6
CENT = Decimal("0.01")

DAILY_LIMIT_FAULT = "Daily limit exceeded"
DAILY_LIMIT_DETAIL = "Every domain has 1000 free webservice calls a day."
INVALID_ACCESS_KEY_FAULT = "Authentication failed: the access key is not valid."
INVALID_SESSION_FAULT = "Invalid session ID. Call Authenticate to get a session ID."
EXPIRED_SESSION_FAULT = "Session expired. Call Authenticate to get a new session ID."

PAYMENT_METHODS = {
    "": "",
    "Unspecified": "",
    "ElectronicTransfer": "Electronic transfer",
    "DirectCollection": "Direct collection",
    "CreditCard": "Credit card",
    "DebitCard": "Debit card",
    "Cash": "Cash",
    "iDeal": "iDEAL",
    "Online": "Online",
    "ToSettle": "To settle",
}


class Clock(Protocol):
    """Source of "now"; tests pass a manual clock to expire sessions and cross midnight."""

    def now(self) -> datetime:
        """Current time, timezone-aware."""
        ...


class _SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


class YukiFault(Exception):
    """A refusal Yuki answers with a SOAP fault and HTTP 500.

    ``code`` is ``Client`` (the caller's fault) or ``Server``; it becomes ``soap:Client`` or
    ``soap:Server`` (``soap:Sender``/``soap:Receiver`` in SOAP 1.2).
    """

    def __init__(self, faultstring: str, detail: str = "", code: str = "Client") -> None:
        super().__init__(faultstring)
        self.faultstring = faultstring
        self.detail = detail
        self.code = code


class ContactRejected(Exception):
    """``UpdateContact`` refused the document; the message goes into ``<Failed>``."""


@dataclass
class Session:
    """A session from ``Authenticate``: the access key's domains and the current one."""

    id: str
    access_key: str
    domain_ids: tuple[str, ...]
    current_domain_id: str
    created: datetime


@dataclass(frozen=True)
class CallScope:
    """What one authorised, counted call acts on."""

    session: Session
    domain_id: str


@dataclass
class _DomainState:
    """A domain with its contacts, lookup indexes and call counter."""

    info: Domain
    administration_ids: list[str] = field(default_factory=list)
    contacts: dict[str, Contact] = field(default_factory=dict)
    by_code: dict[str, list[str]] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    next_hid: int = 1
    quota_day: date | None = None
    calls_today: int = 0
    calls_total: int = 0


@dataclass
class _AdministrationState:
    """An administration with its invoices, open items and sales items."""

    info: Administration
    invoices: dict[str, SalesInvoice] = field(default_factory=dict)
    items: dict[str, OutstandingItem] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)


def money(value: Decimal) -> Decimal:
    """Round to cents, half up, as an invoice total is."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def local_date(moment: datetime) -> date:
    """Calendar day in Amsterdam, where Yuki's day (and its call quota) turns over."""
    return moment.astimezone(AMSTERDAM).date()


def _name_key(name: str) -> str:
    """Case- and space-insensitive key for matching contacts by name."""
    return " ".join(name.split()).casefold()


def _postcode_key(postcode: str) -> str:
    """Postcode without spaces, upper case ("1234 ab" matches "1234AB")."""
    return "".join(postcode.split()).upper()


class YukiSandbox:
    """A simulated Yuki back end: state plus the rules of its SOAP web services."""

    def __init__(
        self,
        daily_call_limit: int = DEFAULT_DAILY_CALL_LIMIT,
        clock: Clock | None = None,
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        if daily_call_limit < 1:
            raise ValueError("daily_call_limit must be at least 1")
        self.daily_call_limit = daily_call_limit
        self.session_ttl = session_ttl
        self.clock: Clock = clock if clock is not None else _SystemClock()
        self._lock = threading.RLock()
        self._domains: dict[str, _DomainState] = {}
        self._administrations: dict[str, _AdministrationState] = {}
        self._access_keys: dict[str, tuple[str, ...]] = {}
        self._sessions: dict[str, Session] = {}

    # ----------------------------------------------------------------- setup

    def add_domain(
        self,
        name: str,
        domain_id: str | None = None,
        daily_call_limit: int | None = None,
        url: str | None = None,
    ) -> Domain:
        """Create an empty domain; ``daily_call_limit`` overrides the sandbox default."""
        limit = self.daily_call_limit if daily_call_limit is None else daily_call_limit
        if limit < 1:
            raise ValueError("daily_call_limit must be at least 1")
        info = Domain(
            id=domain_id or str(uuid.uuid4()),
            name=name,
            url=url or f"https://{name}.yukiworks.nl",
            daily_call_limit=limit,
        )
        with self._lock:
            if info.id in self._domains:
                raise ValueError(f"domain {info.id} already exists")
            self._domains[info.id] = _DomainState(info)
        return info

    def add_administration(
        self,
        domain_id: str,
        name: str,
        administration_id: str | None = None,
        *,
        country: str = "NL",
        address_line: str = "",
        postcode: str = "",
        city: str = "",
        coc_number: str = "",
        vat_number: str = "",
        start_date: date = date(2018, 1, 1),
        vat_codes: Iterable[VatCode] | None = None,
        gl_accounts: Iterable[GlAccount] | None = None,
    ) -> Administration:
        """Create an administration in a domain, with the country's usual VAT codes and a
        small GL scheme unless given.
        """
        info = Administration(
            id=administration_id or str(uuid.uuid4()),
            domain_id=domain_id,
            name=name,
            address_line=address_line,
            postcode=postcode,
            city=city,
            country=country,
            coc_number=coc_number,
            vat_number=vat_number,
            start_date=start_date,
            active=True,
            vat_codes=tuple(vat_codes) if vat_codes is not None else default_vat_codes(country),
            gl_accounts=(
                tuple(gl_accounts) if gl_accounts is not None else default_gl_accounts(country)
            ),
        )
        with self._lock:
            domain = self._domain(domain_id)
            if info.id in self._administrations:
                raise ValueError(f"administration {info.id} already exists")
            self._administrations[info.id] = _AdministrationState(info)
            domain.administration_ids.append(info.id)
        return info

    def add_access_key(self, access_key: str, domain_ids: Iterable[str]) -> None:
        """Register a web-service access key giving access to these domains; the first one
        is the current domain of new sessions.
        """
        ids = tuple(domain_ids)
        if not access_key or not ids:
            raise ValueError("an access key needs a value and at least one domain")
        with self._lock:
            for domain_id in ids:
                self._domain(domain_id)
            self._access_keys[access_key] = ids

    def set_daily_call_limit(self, domain_id: str, limit: int) -> Domain:
        """Change a domain's daily quota (1,000 free; 5,000 or 10,000 with the paid options)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._lock:
            domain = self._domain(domain_id)
            domain.info = replace(domain.info, daily_call_limit=limit)
            return domain.info

    def domains(self) -> list[Domain]:
        """All domains, in creation order."""
        with self._lock:
            return [d.info for d in self._domains.values()]

    def administrations(self, domain_id: str) -> list[Administration]:
        """The administrations of one domain, in creation order."""
        with self._lock:
            domain = self._domain(domain_id)
            return [self._administrations[a].info for a in domain.administration_ids]

    def administration(self, administration_id: str) -> Administration:
        """One administration by id."""
        with self._lock:
            return self._administration(administration_id).info

    # ----------------------------------------------------- sessions, quota

    def authenticate(self, access_key: str) -> str:
        """``Authenticate``: a new session id for a known access key.

        The call counts against the key's first domain, so it is refused like any other call
        once that domain's daily limit is reached.
        """
        with self._lock:
            domain_ids = self._access_keys.get(access_key or "")
            if domain_ids is None:
                raise YukiFault(INVALID_ACCESS_KEY_FAULT)
            self._count(self._domains[domain_ids[0]])
            session = Session(
                id=str(uuid.uuid4()),
                access_key=access_key,
                domain_ids=domain_ids,
                current_domain_id=domain_ids[0],
                created=self.clock.now(),
            )
            self._sessions[session.id] = session
            return session.id

    def session(self, session_id: str | None) -> Session:
        """A live session, or the fault for an unknown or an expired one."""
        with self._lock:
            session = self._sessions.get((session_id or "").strip().lower())
            if session is None:
                raise YukiFault(INVALID_SESSION_FAULT)
            if self.clock.now() >= session.created + self.session_ttl:
                raise YukiFault(EXPIRED_SESSION_FAULT)
            return replace(session)

    def begin_call(
        self,
        session_id: str | None,
        *,
        domain_id: str | None = None,
        administration_id: str | None = None,
        administration_required: bool = False,
    ) -> CallScope:
        """Authorise a call and count it against the domain it acts on.

        The domain is the administration's when one is named, else ``domain_id``, else the
        session's current domain. Refusals happen before counting; a call that fails later
        (bad document, unknown contact) still counts.
        """
        with self._lock:
            session = self.session(session_id)
            if administration_id or administration_required:
                admin = self._administrations.get(administration_id or "")
                if admin is None or admin.info.domain_id not in session.domain_ids:
                    raise YukiFault(f"No access to administration '{administration_id or ''}'.")
                scope_domain = admin.info.domain_id
            elif domain_id:
                if domain_id not in session.domain_ids:
                    raise YukiFault(f"No access to domain '{domain_id}'.")
                scope_domain = domain_id
            else:
                scope_domain = session.current_domain_id
            self._count(self._domains[scope_domain])
            return CallScope(session, scope_domain)

    def set_current_domain(self, session_id: str, domain_id: str) -> None:
        """``SetCurrentDomain``: later calls without a domain act on this one."""
        with self._lock:
            session = self._sessions[session_id]
            if domain_id not in session.domain_ids:
                raise YukiFault(f"No access to domain '{domain_id}'.")
            session.current_domain_id = domain_id

    def calls_today(self, domain_id: str) -> int:
        """Calls counted against the domain in the current Amsterdam day."""
        with self._lock:
            domain = self._domain(domain_id)
            self._roll_over(domain)
            return domain.calls_today

    def total_calls(self, domain_id: str) -> int:
        """Calls counted against the domain since the sandbox started."""
        with self._lock:
            return self._domain(domain_id).calls_total

    def call_report(self) -> list[dict[str, Any]]:
        """Per domain: limit, calls today and in total (admin endpoint)."""
        with self._lock:
            report = []
            for domain in self._domains.values():
                self._roll_over(domain)
                report.append(
                    {
                        "domain_id": domain.info.id,
                        "name": domain.info.name,
                        "daily_call_limit": domain.info.daily_call_limit,
                        "today": domain.calls_today,
                        "total": domain.calls_total,
                    }
                )
            return report

    def _roll_over(self, domain: _DomainState) -> None:
        """Reset the day's counter at midnight, Amsterdam time."""
        today = local_date(self.clock.now())
        if domain.quota_day != today:
            domain.quota_day = today
            domain.calls_today = 0

    def _count(self, domain: _DomainState) -> None:
        """Count one call, or refuse it with Yuki's fault once the day's limit is used."""
        self._roll_over(domain)
        if domain.calls_today >= domain.info.daily_call_limit:
            raise YukiFault(DAILY_LIMIT_FAULT, DAILY_LIMIT_DETAIL)
        domain.calls_today += 1
        domain.calls_total += 1

    # ------------------------------------------------------------- contacts

    def add_contact(
        self,
        domain_id: str,
        type: str = "Company",
        *,
        is_customer: bool = False,
        is_supplier: bool = False,
        active: bool = True,
        created: datetime | None = None,
        **fields: str,
    ) -> Contact:
        """Create a contact as a Yuki user would, flags included (the API cannot set them)."""
        with self._lock:
            domain = self._domain(domain_id)
            now = self.clock.now()
            contact = self._new_contact(domain, type, created or now)
            contact.is_customer = is_customer
            contact.is_supplier = is_supplier
            contact.active = active
            self._apply_fields(contact, fields)
            self._store(domain, contact)
            return replace(contact)

    def load_contacts(self, domain_id: str, contacts: Iterable[Mapping[str, Any]]) -> list[str]:
        """Bulk import for seeding: each mapping holds Contact attributes (``id``, ``hid``,
        ``created`` and ``modified`` optional). Faster than ``add_contact`` at 5,000 rows.
        """
        with self._lock:
            domain = self._domain(domain_id)
            now = self.clock.now()
            ids: list[str] = []
            for data in contacts:
                values = dict(data)
                created = values.pop("created", None) or now
                contact = Contact(
                    id=values.pop("id", None) or str(uuid.uuid4()),
                    hid=values.pop("hid", None) or domain.next_hid,
                    type=values.pop("type", "Company"),
                    created=created,
                    modified=values.pop("modified", None) or created,
                    **values,
                )
                if contact.type not in CONTACT_TYPES:
                    raise ValueError(f"contact type must be one of {CONTACT_TYPES}")
                if contact.id in domain.contacts:
                    raise ValueError(f"contact {contact.id} already exists")
                domain.next_hid = max(domain.next_hid, contact.hid + 1)
                self._store(domain, contact)
                ids.append(contact.id)
            return ids

    def edit_contact(self, domain_id: str, contact: str, **fields: str) -> Contact:
        """Change text fields as a Yuki user would; ``Modified`` becomes now."""
        with self._lock:
            domain = self._domain(domain_id)
            stored = self._find(domain, contact)
            self._unindex(domain, stored)
            self._apply_fields(stored, fields)
            stored.modified = self.clock.now()
            self._index(domain, stored)
            return replace(stored)

    def mark_as_customer(self, domain_id: str, contact: str, customer: bool = True) -> Contact:
        """Tick (or clear) the Customer box in Yuki. Only then are invoices accepted."""
        return self._set_flag(domain_id, contact, "is_customer", customer)

    def mark_as_supplier(self, domain_id: str, contact: str, supplier: bool = True) -> Contact:
        """Tick (or clear) the Supplier box in Yuki."""
        return self._set_flag(domain_id, contact, "is_supplier", supplier)

    def set_active(self, domain_id: str, contact: str, active: bool) -> Contact:
        """Deactivate (or reactivate) a contact in Yuki."""
        return self._set_flag(domain_id, contact, "active", active)

    def get_contact(self, domain_id: str, contact: str) -> Contact | None:
        """A contact by id or relationship code, or ``None``."""
        with self._lock:
            domain = self._domain(domain_id)
            try:
                return replace(self._find(domain, contact))
            except KeyError:
                return None

    def contacts(self, domain_id: str) -> list[Contact]:
        """Every contact of a domain, in HID order."""
        with self._lock:
            return [replace(c) for c in self._domain(domain_id).contacts.values()]

    def search_contacts(
        self,
        domain_id: str,
        *,
        search_value: str = "",
        sort_order: str = "CreatedAsc",
        modified_after: datetime | None = None,
        active: str = "Both",
        page: int = 1,
        contact_type: str | None = None,
    ) -> list[Contact]:
        """One page (100) of ``SearchContacts`` / ``GetSuppliersAndCustomers`` results.

        ``contact_type`` is ``None`` for SearchContacts, else Customer, Supplier, Both (either
        flag) or None (neither flag).
        """
        needle = search_value.strip().casefold()
        with self._lock:
            selected = [
                c
                for c in self._domain(domain_id).contacts.values()
                if (modified_after is None or c.modified > modified_after)
                and (active == "Both" or c.active == (active == "Active"))
                and _type_matches(c, contact_type)
                and (not needle or _text_matches(c, needle))
            ]
            selected.sort(key=lambda c: (c.created, c.hid), reverse=sort_order == "CreatedDesc")
            start = (max(page, 1) - 1) * PAGE_SIZE
            return [replace(c) for c in selected[start : start + PAGE_SIZE]]

    def update_contact(self, domain_id: str, update: ContactUpdate) -> tuple[Contact, bool]:
        """``UpdateContact``: update the matching contact or create one; ``True`` if created.

        Matching: ``ID``, else ``Code``, else Type + FullName + e-mail. Only the elements the
        document carries change. The customer and supplier flags are never touched.
        """
        with self._lock:
            domain = self._domain(domain_id)
            target = self._match(domain, update)
            now = self.clock.now()
            if target is None:
                if update.type is None:
                    raise ContactRejected("Type is required to create a contact.")
                contact = self._new_contact(domain, update.type, now)
                self._apply_fields(contact, update.fields)
                if not contact.name:
                    raise ContactRejected("FullName is required to create a contact.")
                self._store(domain, contact)
                return replace(contact), True
            self._unindex(domain, target)
            if update.type is not None:
                target.type = update.type
            self._apply_fields(target, update.fields)
            target.modified = now
            self._index(domain, target)
            return replace(target), False

    def _match(self, domain: _DomainState, update: ContactUpdate) -> Contact | None:
        """Existing contact an UpdateContact document refers to, if any."""
        if update.id:
            found = domain.contacts.get(update.id)
            if found is None:
                raise ContactRejected(f"Contact {update.id} not found.")
            return found
        code = update.fields.get("code", "")
        if code:
            ids = domain.by_code.get(code)
            return domain.contacts[ids[0]] if ids else None
        name = update.fields.get("full_name", "")
        emails = {update.fields.get("email_home", ""), update.fields.get("email_work", "")}
        emails.discard("")
        if update.type is None or not name or not emails:
            return None
        for contact_id in domain.by_name.get(_name_key(name), []):
            contact = domain.contacts[contact_id]
            if contact.type == update.type and emails & {contact.email_home, contact.email_work}:
                return contact
        return None

    def _set_flag(self, domain_id: str, contact: str, flag: str, value: bool) -> Contact:
        """Set a UI-only flag; the contact counts as modified."""
        with self._lock:
            stored = self._find(self._domain(domain_id), contact)
            setattr(stored, flag, value)
            stored.modified = self.clock.now()
            return replace(stored)

    def _new_contact(self, domain: _DomainState, type: str, now: datetime) -> Contact:
        """A contact with a fresh id and the domain's next HID (not yet stored)."""
        if type not in CONTACT_TYPES:
            raise ValueError(f"contact type must be one of {CONTACT_TYPES}")
        contact = Contact(
            id=str(uuid.uuid4()), hid=domain.next_hid, type=type, created=now, modified=now
        )
        domain.next_hid += 1
        return contact

    @staticmethod
    def _apply_fields(contact: Contact, fields: Mapping[str, str]) -> None:
        """Set text attributes; unknown names are a programming error."""
        for name, value in fields.items():
            if name not in CONTACT_TEXT_FIELDS:
                raise ValueError(f"unknown contact field {name!r}")
            setattr(contact, name, value)

    def _store(self, domain: _DomainState, contact: Contact) -> None:
        """Add a new contact and index it."""
        domain.contacts[contact.id] = contact
        self._index(domain, contact)

    @staticmethod
    def _index(domain: _DomainState, contact: Contact) -> None:
        """Register the contact under its code and name."""
        if contact.code:
            domain.by_code.setdefault(contact.code, []).append(contact.id)
        domain.by_name.setdefault(_name_key(contact.name), []).append(contact.id)

    @staticmethod
    def _unindex(domain: _DomainState, contact: Contact) -> None:
        """Remove the contact from the indexes before its code or name changes."""
        for index, key in (
            (domain.by_code, contact.code),
            (domain.by_name, _name_key(contact.name)),
        ):
            ids = index.get(key)
            if ids and contact.id in ids:
                ids.remove(contact.id)
                if not ids:
                    del index[key]

    @staticmethod
    def _find(domain: _DomainState, ref: str) -> Contact:
        """Contact by id, else by relationship code; ``KeyError`` if neither matches."""
        contact = domain.contacts.get(ref)
        if contact is not None:
            return contact
        ids = domain.by_code.get(ref)
        if ids:
            return domain.contacts[ids[0]]
        raise KeyError(f"no contact {ref!r} in domain {domain.info.id}")

    # ---------------------------------------------------------------- sales

    def process_sales_invoices(
        self, administration_id: str, invoices: Iterable[SalesInvoiceInput]
    ) -> ImportResult:
        """``ProcessSalesInvoices``: handle each invoice on its own and report per item.

        Duplicates of an existing reference are skipped. After six failed invoices the rest
        of the batch is skipped, as Yuki stops there.
        """
        with self._lock:
            admin = self._administration(administration_id)
            domain = self._domains[admin.info.domain_id]
            now = self.clock.now()
            results: list[InvoiceResult] = []
            failed = 0
            for invoice in invoices:
                if failed >= MAX_FAILED_INVOICES:
                    results.append(
                        _result(
                            invoice,
                            "",
                            "Not processed: processing stopped after "
                            f"{MAX_FAILED_INVOICES} failed invoices.",
                            skipped=True,
                        )
                    )
                    continue
                result = self._process_one(admin, domain, invoice, now)
                if not result.succeeded and not result.skipped:
                    failed += 1
                results.append(result)
            return ImportResult(local_date(now), administration_id, tuple(results))

    def _process_one(
        self,
        admin: _AdministrationState,
        domain: _DomainState,
        invoice: SalesInvoiceInput,
        now: datetime,
    ) -> InvoiceResult:
        """Validate, match the contact, and book (or keep as draft) one invoice."""
        if not invoice.reference:
            return _result(invoice, invoice.contact.full_name, "Reference is required.")
        if invoice.reference in admin.invoices:
            return _result(
                invoice,
                invoice.contact.full_name,
                f"An invoice with reference '{invoice.reference}' already exists in this "
                "administration.",
                skipped=True,
            )
        vat_types = {code.type for code in admin.info.vat_codes}
        gl_codes = {account.code for account in admin.info.gl_accounts}
        for number, line in enumerate(invoice.lines, start=1):
            if line.vat_type is not None and line.vat_type not in vat_types:
                return _result(
                    invoice,
                    invoice.contact.full_name,
                    f"Line {number}: VAT type {line.vat_type} is not an active VAT code of "
                    "this administration.",
                )
            if line.gl_account_code and line.gl_account_code not in gl_codes:
                return _result(
                    invoice,
                    invoice.contact.full_name,
                    f"Line {number}: GL account '{line.gl_account_code}' does not exist.",
                )
        contact = self._invoice_contact(domain, invoice.contact, now)
        if contact is None:
            return _result(invoice, "", "Contact not found and no FullName given to create it.")
        if not contact.is_customer:
            return _result(
                invoice,
                contact.name,
                f"Contact '{contact.name}' is not a customer. Only contacts marked as "
                "Customer in Yuki can be invoiced.",
            )
        total = sum((_line_total(line) for line in invoice.lines), Decimal(0))
        item_id: str | None = None
        if invoice.process:
            item = OutstandingItem(
                id=str(uuid.uuid4()),
                administration_id=admin.info.id,
                reference=invoice.reference,
                date=invoice.date,
                due_date=invoice.due_date,
                description=f"Factuur voor {contact.name}",
                contact_id=contact.id,
                original_amount=total,
                open_amount=total,
                payment_method=PAYMENT_METHODS.get(invoice.payment_method, ""),
                document_id=str(uuid.uuid4()),
            )
            admin.items[item.id] = item
            item_id = item.id
        email_sent = invoice.process and invoice.email_to_customer
        admin.invoices[invoice.reference] = SalesInvoice(
            reference=invoice.reference,
            subject=invoice.subject,
            date=invoice.date,
            due_date=invoice.due_date,
            contact_id=contact.id,
            processed=invoice.process,
            email_sent=email_sent,
            currency=invoice.currency or "EUR",
            total=total,
            lines=invoice.lines,
            outstanding_item_id=item_id,
        )
        for line in invoice.lines:
            self._record_product(admin, line)
        return InvoiceResult(
            succeeded=True,
            processed=invoice.process,
            email_sent=email_sent,
            reference=invoice.reference,
            subject=invoice.subject,
            contact=contact.name,
            message="",
        )

    def _invoice_contact(
        self, domain: _DomainState, data: InvoiceContactInput, now: datetime
    ) -> Contact | None:
        """Contact an invoice is for: by code, else by name and address, else a new one.

        A contact Yuki creates from a sales invoice is a customer from the start.
        """
        if data.code:
            ids = domain.by_code.get(data.code)
            if ids:
                return domain.contacts[ids[0]]
        if not data.full_name:
            return None
        candidates = [domain.contacts[i] for i in domain.by_name.get(_name_key(data.full_name), [])]
        for contact in candidates:
            if (not data.postcode and not data.address_line_1) or (
                _postcode_key(contact.postcode) == _postcode_key(data.postcode)
                and _name_key(contact.address_line_1) == _name_key(data.address_line_1)
            ):
                return contact
        person = data.contact_type == "Person"
        contact = self._new_contact(domain, "Person" if person else "Company", now)
        self._apply_fields(
            contact,
            {
                "code": data.code,
                "full_name": data.full_name,
                "first_name": data.first_name,
                "middle_name": data.middle_name,
                "last_name": data.last_name,
                "country": data.country,
                "city": data.city,
                "postcode": data.postcode,
                "address_line_1": data.address_line_1,
                "address_line_2": data.address_line_2,
                "website": data.website,
                "coc_number": data.coc_number,
                "vat_number": data.vat_number,
                "phone_home": data.phone_home,
                "mobile_home": data.mobile_home,
                "email_home" if person else "email_work": data.email,
            },
        )
        contact.is_customer = True
        self._store(domain, contact)
        return contact

    @staticmethod
    def _record_product(admin: _AdministrationState, line: InvoiceLineInput) -> None:
        """Create or update the sales item an invoice line names (matched by description)."""
        if not line.product_description:
            return
        existing = admin.products.get(line.product_description)
        admin.products[line.product_description] = Product(
            id=existing.id if existing else str(uuid.uuid4()),
            description=line.product_description,
            reference=line.product_reference,
            sales_price=line.sales_price,
            vat_percentage=line.vat_percentage,
            vat_type=line.vat_type,
            gl_account_code=line.gl_account_code,
        )

    def sales_invoices(self, administration_id: str) -> list[SalesInvoice]:
        """Every accepted invoice (booked and draft), in the order received."""
        with self._lock:
            return list(self._administration(administration_id).invoices.values())

    def sales_items(self, administration_id: str) -> list[Product]:
        """``GetSalesItems``: the products invoice lines created, in order of first use."""
        with self._lock:
            return list(self._administration(administration_id).products.values())

    def outstanding_items(
        self, administration_id: str, include_settled: bool = False
    ) -> list[OutstandingItem]:
        """Open debtor items by date and reference; settled ones only when asked."""
        with self._lock:
            items = [
                replace(i)
                for i in self._administration(administration_id).items.values()
                if include_settled or i.open_amount != 0
            ]
        items.sort(key=lambda i: (i.date, i.reference))
        return items

    def find_outstanding_items(
        self, administration_ids: Iterable[str], reference: str
    ) -> list[OutstandingItem]:
        """``CheckOutstandingItem``: items whose reference or id is ``reference``, paid or not."""
        with self._lock:
            return [
                replace(item)
                for admin_id in administration_ids
                for item in self._administration(admin_id).items.values()
                if reference and reference in (item.reference, item.id)
            ]

    def register_payment(
        self, administration_id: str, reference: str, amount: Decimal | str
    ) -> OutstandingItem:
        """Book a received payment against an open item, as a bank statement would."""
        paid = Decimal(amount)
        with self._lock:
            admin = self._administration(administration_id)
            for item in admin.items.values():
                if item.reference == reference:
                    item.open_amount = money(item.open_amount - paid)
                    return replace(item)
            raise KeyError(f"no outstanding item with reference {reference!r}")

    def contact_by_id(self, domain_id: str, contact_id: str) -> Contact | None:
        """Contact by id only (for rendering open items)."""
        with self._lock:
            contact = self._domain(domain_id).contacts.get(contact_id)
            return replace(contact) if contact else None

    # -------------------------------------------------------------- helpers

    def _domain(self, domain_id: str) -> _DomainState:
        """Domain by id; unknown ids are a programming error in the caller."""
        domain = self._domains.get(domain_id)
        if domain is None:
            raise KeyError(f"no domain {domain_id!r}")
        return domain

    def _administration(self, administration_id: str) -> _AdministrationState:
        """Administration by id; unknown ids are a programming error in the caller."""
        admin = self._administrations.get(administration_id)
        if admin is None:
            raise KeyError(f"no administration {administration_id!r}")
        return admin


def _result(
    invoice: SalesInvoiceInput, contact: str, message: str, skipped: bool = False
) -> InvoiceResult:
    """A failed or skipped invoice's line in the import response."""
    return InvoiceResult(
        succeeded=False,
        processed=False,
        email_sent=False,
        reference=invoice.reference,
        subject=invoice.subject,
        contact=contact,
        message=message,
        skipped=skipped,
    )


def _line_total(line: InvoiceLineInput) -> Decimal:
    """Amount including VAT of one invoice line, rounded to cents."""
    amount = money(line.quantity * line.sales_price)
    if line.vat_included:
        return amount
    return amount + money(amount * line.vat_percentage / 100)


def _type_matches(contact: Contact, contact_type: str | None) -> bool:
    """GetSuppliersAndCustomers' ``contactType`` filter; ``None`` means no filter."""
    if contact_type is None:
        return True
    if contact_type == "Customer":
        return contact.is_customer
    if contact_type == "Supplier":
        return contact.is_supplier
    if contact_type == "Both":
        return contact.is_customer or contact.is_supplier
    return not contact.is_customer and not contact.is_supplier


def _text_matches(contact: Contact, needle: str) -> bool:
    """``searchOption=All``: the value occurs in name, code, numbers, e-mail or place."""
    return any(
        needle in value.casefold()
        for value in (
            contact.name,
            contact.code,
            contact.vat_number,
            contact.coc_number,
            contact.email_home,
            contact.email_work,
            contact.city,
            contact.postcode,
        )
    )


def default_vat_codes(country: str) -> tuple[VatCode, ...]:
    """Active VAT codes of a Dutch or Belgian administration."""
    reverse = VatCode(17, "VAT reverse-charge", "VAT reverse-charged, sales", Decimal("0.00"))
    if country == "BE":
        return (
            VatCode(1, "VAT 21%", "VAT high", Decimal("21.00")),
            VatCode(21, "VAT 12%", "VAT medium", Decimal("12.00")),
            VatCode(2, "VAT 6%", "VAT low", Decimal("6.00")),
            VatCode(3, "VAT 0%", "VAT zero", Decimal("0.00")),
            reverse,
        )
    return (
        VatCode(1, "VAT 21%", "VAT high", Decimal("21.00")),
        VatCode(2, "VAT 9%", "VAT low", Decimal("9.00")),
        VatCode(3, "VAT 0%", "VAT zero", Decimal("0.00")),
        reverse,
        VatCode(
            40,
            "OSS NL",
            "VAT digital services and/or distance selling (OSS)",
            Decimal("21.00"),
            country="NL",
            start_date=date(2021, 7, 1),
        ),
    )


def default_gl_accounts(country: str) -> tuple[GlAccount, ...]:
    """A small revenue and debtor scheme, enough to check invoice lines' GL codes."""
    if country == "BE":
        return (
            GlAccount("400000", "Handelsdebiteuren", 1, 40),
            GlAccount("700000", "Omzet", 7, 70),
            GlAccount("700100", "Omzet diensten", 7, 70),
        )
    return (
        GlAccount("13000", "Debiteuren", 1, 13, vat_applicable=False),
        GlAccount("80000", "Omzet hoog", 8, 80),
        GlAccount("80100", "Omzet laag", 8, 80),
        GlAccount("80200", "Omzet verlegd", 8, 80),
    )
