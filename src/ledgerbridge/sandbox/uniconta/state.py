"""In-memory state of the Uniconta sandbox: companies, users, rows, call quota, Change URL.

Everything lives behind one lock because uvicorn serves requests while tests and the demo edit
the same companies "as a user in the Uniconta UI" from other threads.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ledgerbridge.sandbox.uniconta import posting, rules
from ledgerbridge.sandbox.uniconta.callbacks import Callback, CallbackDispatcher
from ledgerbridge.sandbox.uniconta.entities import (
    DATE,
    DEC,
    ENTITIES,
    LOGIN_ENTITIES,
    EntityDef,
    FieldType,
    InvalidValueError,
    Kind,
    coerce_input,
    to_json_value,
)
from ledgerbridge.sandbox.uniconta.odata import OrderKey, sort_rows
from ledgerbridge.sandbox.uniconta.store import Company, Key, Payment, Row, Transaction

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
USER_TYPES = ("Server", "Standard")
THROTTLE_WINDOW = timedelta(hours=24)

# The Danish VAT codes every new company starts with: (code, name, type, rate).
STANDARD_VAT_CODES: tuple[tuple[str, str, str, int], ...] = (
    ("S25", "Salg 25%", "Sales", 25),
    ("K25", "Køb 25%", "Purchase", 25),
    ("S0", "Momsfritt salg", "Sales", 0),
    ("EU0", "EU salg", "Sales", 0),
    ("U25", "Udland 25", "Sales", 25),
)
# The payment terms every new company starts with: (code, PaymentMethod, days).
STANDARD_PAYMENT_TERMS: tuple[tuple[str, str, int], ...] = (
    ("Netto 8", "NetDays", 8),
    ("Netto 14", "NetDays", 14),
    ("Netto 30", "NetDays", 30),
    ("Lb. md. + 30", "EndMonth", 30),
)
_STOCK = ENTITIES["InvItemStorageClient"]


class Clock(Protocol):
    """Source of "now"; tests pass a manual clock to cross midnight without waiting."""

    def now(self) -> datetime:
        """Current time, timezone-aware."""
        ...


class _SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


class SandboxError(Exception):
    """A refusal Uniconta would answer with an HTTP error; ``code`` is the ErrorCode name."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class User:
    """A Uniconta login. The first company it was added to is its standard company."""

    username: str
    password: str
    user_type: str
    roles: tuple[str, ...]
    name: str
    companies: list[int] = field(default_factory=list)

    @property
    def standard_company(self) -> int:
        """Company used when the login name carries no ``00<CompanyId>/`` prefix."""
        return self.companies[0]


@dataclass
class _Quota:
    """Call counter of one company user; ``windows`` are active throttle levels and expiries."""

    day: date | None = None
    today: int = 0
    total: int = 0
    windows: list[tuple[int, datetime]] = field(default_factory=list)


def parse_login(login: str) -> tuple[int | None, str]:
    """Split ``00<CompanyId>/<Username>``; any other form is a plain user name."""
    if login.startswith("00") and "/" in login:
        prefix, _, username = login.partition("/")
        digits = prefix[2:]
        if digits.isdigit() and username:
            return int(digits), username
    return None, login


def entity_def(name: str) -> EntityDef:
    """Catalogue entry for an entity name (company or login entity), or a 404 naming it."""
    entity = ENTITIES.get(name) or LOGIN_ENTITIES.get(name)
    if entity is None:
        raise SandboxError("UnknownEntity", f"Entity '{name}' does not exist", status=404)
    return entity


def company_entity(name: str) -> EntityDef:
    """Catalogue entry of an entity stored per company."""
    entity = ENTITIES.get(name)
    if entity is None:
        raise SandboxError("UnknownEntity", f"Entity '{name}' does not exist", status=404)
    return entity


def row_to_json(row: Mapping[str, Any], select: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON form of a stored row; null properties are omitted, as Uniconta does."""
    if select is None:
        return {name: to_json_value(value) for name, value in row.items() if value is not None}
    return {name: to_json_value(row[name]) for name in select if row.get(name) is not None}


def _empty(value: Any) -> bool:
    """A key value that names nothing: null, ``""`` or a zero number."""
    if value is None or value == "":
        return True
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value == 0


class UnicontaSandbox:
    """A simulated Uniconta server: state plus the rules its OData/REST API enforces."""

    def __init__(
        self,
        daily_call_limit: int = 5000,
        throttle_delay: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if daily_call_limit < 1:
            raise ValueError("daily_call_limit must be at least 1")
        if throttle_delay < 0:
            raise ValueError("throttle_delay must not be negative")
        self.daily_call_limit = daily_call_limit
        self.throttle_delay = throttle_delay
        self.clock: Clock = clock if clock is not None else _SystemClock()
        self._lock = threading.RLock()
        self._companies: dict[int, Company] = {}
        self._users: dict[str, User] = {}
        self._quotas: dict[tuple[int, str], _Quota] = {}
        self._callbacks = CallbackDispatcher()

    # ----------------------------------------------------------------- setup

    def add_company(
        self, company_id: int, name: str, country: str = "Denmark", currency: str = "DKK"
    ) -> Company:
        """Create a company holding every catalogue entity, the Danish VAT codes and the
        common payment terms."""
        with self._lock:
            if company_id in self._companies:
                raise ValueError(f"company {company_id} already exists")
            company = Company(company_id, name, country, currency)
            self._companies[company_id] = company
            self.load(
                company_id,
                "GLVatClient",
                [
                    {"Vat": code, "Name": label, "VatType": kind, "Rate": rate}
                    for code, label, kind, rate in STANDARD_VAT_CODES
                ],
            )
            self.load(
                company_id,
                "PaymentTermClient",
                [
                    {"Payment": code, "Name": code, "PaymentMethod": method, "Days": days}
                    for code, method, days in STANDARD_PAYMENT_TERMS
                ],
            )
            return company

    def add_user(
        self,
        company_id: int,
        username: str,
        password: str,
        user_type: str = "Server",
        roles: Iterable[str] = (),
        name: str | None = None,
    ) -> User:
        """Give a user rights to a company, creating the user on first call.

        Adding an existing user to another company keeps its standard company (the first),
        sets the password and user type given and adds the roles given.
        """
        if user_type not in USER_TYPES:
            raise ValueError(f"user_type must be one of {USER_TYPES}, got {user_type!r}")
        with self._lock:
            self._company(company_id)
            user = self._users.get(username)
            if user is None:
                user = User(username, password, user_type, tuple(roles), name or username)
                self._users[username] = user
            else:
                user.password = password
                user.user_type = user_type
                user.roles = tuple(dict.fromkeys((*user.roles, *roles)))
                if name:
                    user.name = name
            if company_id not in user.companies:
                user.companies.append(company_id)
            return user

    def companies(self) -> list[Company]:
        """All companies, by id."""
        with self._lock:
            return [self._companies[cid] for cid in sorted(self._companies)]

    def set_change_url(self, company_id: int, url: str | None, post_body: bool = False) -> None:
        """Set or clear (``None``) the company's Change URL and its "Post" option."""
        with self._lock:
            company = self._company(company_id)
            company.change_url = url
            company.post_body = post_body

    def change_url(self, company_id: int) -> tuple[str | None, bool]:
        """Current Change URL and Post option of a company."""
        with self._lock:
            company = self._company(company_id)
            return company.change_url, company.post_body

    # ------------------------------------------------------- auth and quota

    def authenticate(self, authorization: str | None) -> tuple[User, int]:
        """Check an HTTP Basic header; return the user and the company the login names."""
        if not authorization or not authorization[:6].lower() == "basic ":
            raise SandboxError("Unauthorized", "HTTP Basic authentication required", 401)
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise SandboxError("Unauthorized", "Malformed Basic credentials", 401) from exc
        login, sep, password = decoded.partition(":")
        if not sep:
            raise SandboxError("Unauthorized", "Malformed Basic credentials", 401)
        company_id, username = parse_login(login)
        with self._lock:
            user = self._users.get(username)
            if user is None or not hmac.compare_digest(user.password, password):
                raise SandboxError("Unauthorized", "Unknown user or wrong password", 401)
            if company_id is None:
                company_id = user.standard_company
            self.authorize(user, company_id)
            return user, company_id

    def authorize(self, user: User, company_id: int) -> None:
        """403 unless the user has rights to the company."""
        with self._lock:
            if company_id not in user.companies or company_id not in self._companies:
                raise SandboxError(
                    "Forbidden",
                    f"User '{user.username}' has no rights to company {company_id}",
                    403,
                )

    def record_call(self, company_id: int, username: str) -> float:
        """Count one API call and return the throttle delay (seconds) to apply to it.

        The count resets at midnight Copenhagen time. Each time the day's count passes a
        multiple of the limit the delay level rises by one ``throttle_delay`` and that level
        stays in force for 24 hours, even across midnight.
        """
        with self._lock:
            now = self.clock.now()
            quota = self._quota(company_id, username, now)
            quota.today += 1
            quota.total += 1
            level_today = (quota.today - 1) // self.daily_call_limit
            if level_today and (quota.today - 1) % self.daily_call_limit == 0:
                quota.windows.append((level_today, now + THROTTLE_WINDOW))
            return self.throttle_delay * self._level(quota, now, level_today)

    def calls_today(self, company_id: int, username: str) -> int:
        """API calls counted for that user today (Copenhagen day)."""
        with self._lock:
            quota = self._quotas.get((company_id, username))
            if quota is None:
                return 0
            return self._quota(company_id, username, self.clock.now()).today

    def total_calls(self, company_id: int, username: str) -> int:
        """API calls counted for that user since the sandbox started (never reset)."""
        with self._lock:
            quota = self._quotas.get((company_id, username))
            return quota.total if quota is not None else 0

    def throttle(self, company_id: int, username: str) -> tuple[float, datetime | None]:
        """Delay the user's next call gets and when the current throttling ends."""
        with self._lock:
            now = self.clock.now()
            if (company_id, username) not in self._quotas:
                return 0.0, None
            quota = self._quota(company_id, username, now)
            level_today = quota.today // self.daily_call_limit
            ends = max((until for _, until in quota.windows), default=None)
            return self.throttle_delay * self._level(quota, now, level_today), ends

    def call_report(self, company_id: int) -> dict[str, Any]:
        """Per-user call counts and throttle state of one company (admin endpoint)."""
        with self._lock:
            self._company(company_id)
            now = self.clock.now()
            users: dict[str, Any] = {}
            for cid, username in sorted(self._quotas):
                if cid != company_id:
                    continue
                delay, ends = self.throttle(cid, username)
                users[username] = {
                    "today": self.calls_today(cid, username),
                    "total": self.total_calls(cid, username),
                    "next_call_delay_seconds": delay,
                    "throttled_until": ends.isoformat() if ends else None,
                }
            return {
                "company_id": company_id,
                "day": now.astimezone(COPENHAGEN).date().isoformat(),
                "daily_call_limit": self.daily_call_limit,
                "users": users,
            }

    def _quota(self, company_id: int, username: str, now: datetime) -> _Quota:
        """Quota record, rolled over to the current Copenhagen day and pruned of old windows."""
        quota = self._quotas.setdefault((company_id, username), _Quota())
        day = now.astimezone(COPENHAGEN).date()
        if quota.day != day:
            quota.day = day
            quota.today = 0
        quota.windows = [(level, until) for level, until in quota.windows if until > now]
        return quota

    @staticmethod
    def _level(quota: _Quota, now: datetime, level_today: int) -> int:
        """Highest delay level in force: today's, or one reached within the last 24 hours."""
        return max([level_today, *(level for level, until in quota.windows if until > now)])

    # ----------------------------------------------------- "UI" operations

    def insert(self, company_id: int, entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create one record as a UI user would; fires the Change URL callback."""
        return self.api_insert(company_id, entity, [data])[0]

    def update(
        self, company_id: int, entity: str, key: Key, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change some properties of one record (a UI edit); fires the Change URL callback."""
        definition = company_entity(entity)
        with self._lock:
            company = self._company(company_id)
            stored_key = self._lookup_key(definition, key)
            current = company.tables[definition.name].get(stored_key)
            if current is None:
                raise SandboxError(
                    "RecordNotFound",
                    f"{definition.name} with {definition.key_label(stored_key)} does not exist",
                )
            keys = {name: to_json_value(current[name]) for name in definition.keys}
            merged = {**row_to_json(current), **changes, **keys}
            return self.api_update(company_id, entity, [merged])[0]

    def delete(self, company_id: int, entity: str, key: Key) -> None:
        """Delete one record by key (a UI delete); fires the Change URL callback."""
        definition = company_entity(entity)
        stored_key = self._lookup_key(definition, key)
        parts = stored_key if definition.composite else (stored_key,)
        body = {
            name: to_json_value(part) for name, part in zip(definition.keys, parts, strict=True)
        }
        self.api_delete(company_id, entity, [body])

    def get(self, company_id: int, entity: str, key: Key) -> dict[str, Any] | None:
        """One record in its JSON form, or ``None``. A composite key is a tuple, or its parts
        joined by commas (``"P10000,Hoved"``).
        """
        definition = company_entity(entity)
        with self._lock:
            company = self._company(company_id)
            try:
                stored_key = self._lookup_key(definition, key)
            except SandboxError:
                return None
            row = company.tables[definition.name].get(stored_key)
            return row_to_json(row) if row is not None else None

    def all(self, company_id: int, entity: str) -> list[dict[str, Any]]:
        """Every record of an entity in key order, in JSON form."""
        return [row_to_json(row) for row in self.snapshot(company_id, entity)]

    def load(self, company_id: int, entity: str, rows: Iterable[Mapping[str, Any]]) -> list[Key]:
        """Bulk import for setting up data, all or nothing.

        Validated like Insert (keys, types, references), but it may also write read-only
        values (``Created``, ``UpdatedAt``, balances), it may fill entities the API cannot
        write (posted invoices, their lines and open items), and it fires no callbacks.
        Computed values (stock sums, totals, ``Paid``) are always computed. Number series
        continue above the highest order and invoice number loaded.
        """
        definition = company_entity(entity)
        now = self.clock.now()
        with self._transaction(company_id) as tx:
            return [
                definition.key_of(
                    self._insert_item(tx, definition, data, f"item {index}: ", now, load=True)
                )
                for index, data in enumerate(rows)
            ]

    def post_order(
        self,
        company_id: int,
        order_number: int,
        date: date | str | None = None,
        invoice_number: int = 0,
    ) -> dict[str, Any]:
        """Post an order as a Uniconta user would in the UI: same effect as PostInvoice, no
        API call counted and no injected failure. Returns the new ``DebtorInvoiceClient``.
        """
        invoice_date = self._date_or_today(date)
        try:
            with self._transaction(company_id) as tx:
                result = posting.post_order(
                    tx, order_number, invoice_date, invoice_number, False, self.clock.now()
                )
                invoice = tx.get("DebtorInvoiceClient", result["InvoiceNumber"])
                assert invoice is not None
                return row_to_json(invoice)
        except posting.PostingRefused as exc:
            raise SandboxError(exc.code, exc.message) from exc

    def register_payment(
        self,
        company_id: int,
        invoice_number: int,
        amount: Decimal | float | int,
        date: date | str | None = None,
    ) -> dict[str, Any]:
        """Book a payment on an invoice, as Uniconta's bank reconciliation would.

        The open item's ``AmountOpen`` moves towards zero by ``amount`` and ``Paid`` turns true
        when it reaches zero. Returns the open item. The payment date is kept in
        ``payments()`` only: the open item has no property for it.
        """
        try:
            value = coerce_input(DEC, amount)
        except InvalidValueError as exc:
            raise SandboxError("InvalidValue", f"amount: {exc}") from exc
        if value <= 0:
            raise SandboxError("InvalidValue", f"amount must be positive, got {amount}")
        paid_on = self._date_or_today(date)
        try:
            with self._transaction(company_id) as tx:
                row = posting.apply_payment(tx, invoice_number, value)
                tx.company.payments.append(Payment(invoice_number, value, paid_on))
                return row_to_json(row)
        except posting.PostingRefused as exc:
            raise SandboxError(exc.code, exc.message, 404) from exc

    def book_journal(
        self, company_id: int, journal: str, date: date | str | None = None
    ) -> list[dict[str, Any]]:
        """Book a cash journal's lines as a person does in Uniconta's UI (the REST API cannot):
        they must balance; a debtor line with an invoice number pays that invoice; the lines
        leave the journal. Returns the lines booked."""
        booked_on = self._date_or_today(date)
        try:
            with self._transaction(company_id) as tx:
                lines = posting.book_journal(tx, journal, booked_on, self.clock.now())
                return [row_to_json(row) for row in lines]
        except posting.PostingRefused as exc:
            raise SandboxError(exc.code, exc.message) from exc

    def payments(self, company_id: int, invoice_number: int | None = None) -> list[dict[str, Any]]:
        """Payments registered so far (optionally for one invoice), oldest first."""
        with self._lock:
            return [
                {
                    "Invoice": p.invoice,
                    "Amount": to_json_value(p.amount),
                    "Date": p.date.isoformat(),
                }
                for p in self._company(company_id).payments
                if invoice_number is None or p.invoice == invoice_number
            ]

    def fail_next_postings(self, company_id: int, message: str, count: int = 1) -> None:
        """Make the next ``count`` bookings through the booking service fail with
        ``InvoiceGenerationFailed`` (``message`` is kept for the sandbox's own callers),
        posting nothing (the known Uniconta API issue of some companies).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._company(company_id).failing_postings.extend([message] * count)

    def set_stock(
        self, company_id: int, item: str, warehouse: str, qty: Decimal | float | int
    ) -> dict[str, Any]:
        """Set an item's quantity in one warehouse (creating the stock row if needed), as a
        stock count in the UI would; fires the ``InvItemStorage`` Change URL callback.
        """
        now = self.clock.now()
        with self._transaction(company_id) as tx:
            current = tx.get(_STOCK.name, (item, warehouse))
            if current is None:
                data = {"Item": item, "Warehouse": warehouse, "Qty": qty}
                row = self._insert_item(tx, _STOCK, data, "", now, load=False)
            else:
                data = {**row_to_json(current), "Qty": qty}
                row = self._update_item(tx, _STOCK, data, "", now)
            return row_to_json(row)

    def wait_for_callbacks(self, timeout: float = 5.0) -> None:
        """Block until every queued Change URL callback was delivered (or dropped).

        Raises ``TimeoutError`` if callbacks are still pending after ``timeout`` seconds.
        """
        self._callbacks.wait(timeout)

    def callback_stats(self) -> dict[str, int]:
        """Delivered and dropped callback counts, for the admin health endpoint."""
        return {"delivered": self._callbacks.delivered, "dropped": self._callbacks.dropped}

    def close(self) -> None:
        """Stop the callback thread after it has drained its queue."""
        self._callbacks.close()

    # ------------------------------------------------------- API operations

    def snapshot(self, company_id: int, entity: str, order: Sequence[OrderKey] = ()) -> list[Row]:
        """Stored rows in key order, or in ``order``. Rows are never mutated in place, so the
        list may be filtered outside the lock.
        """
        return list(self._rows(company_id, entity, order))

    def _rows(self, company_id: int, entity: str, order: Sequence[OrderKey] = ()) -> list[Row]:
        """The company's cached sorted row list itself (callers must not change it)."""
        definition = company_entity(entity)
        with self._lock:
            return self._company(company_id).rows_in_order(definition, order)

    def read(
        self, user: User, company_id: int, entity: str, order: Sequence[OrderKey] = ()
    ) -> list[Row]:
        """Rows an API read of ``entity`` sees: company data, or the login's own companies
        (``CompanyClient``) and user (``UserClient``).
        """
        definition = entity_def(entity)
        if definition.name not in LOGIN_ENTITIES:
            return self._rows(company_id, entity, order)
        with self._lock:
            if definition.name == "UserClient":
                rows: list[Row] = [
                    {
                        "LoginId": user.username,
                        "Name": user.name,
                        "UserType": user.user_type,
                        "Roles": user.roles,
                    }
                ]
            else:
                rows = [
                    {
                        "CompanyId": company.company_id,
                        "Name": company.name,
                        "Country": company.country,
                        "CurrencyId": company.currency,
                    }
                    for company in self.companies()
                    if company.company_id in user.companies
                ]
        return sort_rows(rows, list(order), definition) if order else rows

    def api_insert(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Insert: all items or none; returns the rows as stored."""
        definition = self._writable(entity, "Insert")
        now = self.clock.now()
        with self._transaction(company_id) as tx:
            stored = [
                self._insert_item(tx, definition, data, self._where(items, index), now, load=False)
                for index, data in enumerate(items)
            ]
            return [row_to_json(row) for row in stored]

    def api_update(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Update: each item replaces the stored entity; omitted properties become null
        (or the type default for numbers and booleans). All items or none.
        """
        definition = self._writable(entity, "Update")
        now = self.clock.now()
        with self._transaction(company_id) as tx:
            stored = [
                self._update_item(tx, definition, data, self._where(items, index), now)
                for index, data in enumerate(items)
            ]
            return [row_to_json(row) for row in stored]

    def api_delete(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Delete: rows identified by key; all or none. Returns the deleted rows."""
        definition = self._writable(entity, "Delete")
        now = self.clock.now()
        with self._transaction(company_id) as tx:
            removed = [
                self._delete_item(tx, definition, data, self._where(items, index), now)
                for index, data in enumerate(items)
            ]
            return [row_to_json(row) for row in removed]

    def book_order(
        self,
        company_id: int,
        order_number: int,
        *,
        simulate: bool = False,
        document_type: str = "Invoice",
        emails: Sequence[str] = (),
        invoice_date: date | str | None = None,
        invoice_number: int = 0,
    ) -> dict[str, Any]:
        """What the booking service's ``InvoiceAPI.PostInvoice`` call does: post (or with
        ``simulate`` only price) an order, dated today, with the next invoice number.
        ``invoice_date`` and ``invoice_number`` are for Python callers only (the choices of
        the UI's posting dialog): the booking service has no such parameters.

        Returns the ``InvoicePostingResult`` (``Err`` is ``Succes``) or raises
        ``posting.PostingRefused`` with the ``ErrorCodes`` value; nothing changes on a
        refusal. A failure armed by ``fail_next_postings`` is checked first.
        """
        if document_type not in posting.DOCUMENT_TYPES:
            raise SandboxError(
                "InvalidValue",
                f"documentType {document_type!r} is not one of {', '.join(posting.DOCUMENT_TYPES)}",
            )
        dated = self._date_or_today(invoice_date)
        with self._transaction(company_id) as tx:
            if tx.company.failing_postings:
                message = tx.company.failing_postings.pop(0)
                raise posting.PostingRefused("InvoiceGenerationFailed", message)
            result = posting.post_order(
                tx, order_number, dated, invoice_number, simulate, self.clock.now()
            )
            if emails and not simulate:
                tx.company.mails.append(
                    {"Invoice": result["InvoiceNumber"], "To": ";".join(emails),
                     "DocumentType": document_type}
                )  # fmt: skip
            invoice = tx.get("DebtorInvoiceClient", result["InvoiceNumber"])
            header = row_to_json(invoice) if invoice is not None else None
            return {
                **{name: to_json_value(value) for name, value in result.items()},
                "Header": header,
                "OrderDeleted": not simulate,
                "DocumentType": document_type,
            }

    def mails(self, company_id: int) -> list[dict[str, Any]]:
        """Invoices the booking service was asked to mail, oldest first."""
        with self._lock:
            return list(self._company(company_id).mails)

    def booking_login(self, authorization: str | None, company_id: int) -> User:
        """The booking service's login: HTTP Basic with the Uniconta user's name (a
        ``00<CompanyId>/`` prefix is accepted too) and password. No credentials: 401; a
        login Uniconta refuses: 403; a company the user cannot open: 404."""
        try:
            user, _ = self.authenticate(authorization)
        except SandboxError as exc:
            if not authorization or exc.message == "Malformed Basic credentials":
                raise SandboxError("Unauthorized", "HTTP Basic credentials required", 401) from exc
            raise SandboxError("LoginFailed", "Uniconta refused the login", 403) from exc
        with self._lock:
            if company_id not in user.companies or company_id not in self._companies:
                raise SandboxError("CompanyNotFound", f"Company {company_id} not found", 404)
        return user

    # -------------------------------------------------------------- helpers

    @contextmanager
    def _transaction(self, company_id: int) -> Iterator[Transaction]:
        """Run changes to one company under the lock; undo them all if any is refused, and
        queue the Change URL callbacks only once everything succeeded.
        """
        with self._lock:
            company = self._company(company_id)
            tx = Transaction(company)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            for definition, row, operation in tx.events:
                self._notify(company, definition, row, operation)

    def _company(self, company_id: int) -> Company:
        """Company by id; unknown ids are a programming error in setup code."""
        company = self._companies.get(company_id)
        if company is None:
            raise SandboxError("UnknownCompany", f"Company {company_id} does not exist", 404)
        return company

    @staticmethod
    def _writable(entity: str, operation: str) -> EntityDef:
        """Entity definition, refusing operations the entity does not allow at all."""
        definition = entity_def(entity)
        if operation not in definition.writes:
            raise SandboxError("NotAllowed", _not_allowed(definition, operation))
        return definition

    def _insert_item(
        self,
        tx: Transaction,
        definition: EntityDef,
        data: Mapping[str, Any],
        where: str,
        now: datetime,
        *,
        load: bool,
    ) -> Row:
        """Validate and store one new row, with its server-assigned values and roll-ups."""
        row = self._prepare(definition, data, where, allow_read_only=load)
        rules.assign_keys(tx, definition, row)
        if not definition.server_key:
            self._require_key(definition, row, where)
        self._check_references(tx, definition, row, where)
        if not definition.server_key and tx.exists(definition.name, definition.key_of(row)):
            raise SandboxError(
                "RecordExists",
                f"{where}{definition.name} with "
                f"{definition.key_label(definition.key_of(row))} already exists",
            )
        rules.stamp(tx, definition, row, now, new=True, keep=load)
        if load:
            rules.follow_loaded_numbers(tx, definition, row)
        rules.derive(tx, definition, row)
        stored = tx.put(definition, row)
        rules.after_write(tx, definition, None, stored, now)
        if not load:
            tx.notify(definition, stored, "Insert")
        return stored

    def _update_item(
        self,
        tx: Transaction,
        definition: EntityDef,
        data: Mapping[str, Any],
        where: str,
        now: datetime,
    ) -> Row:
        """Replace one stored row (or, for posted documents, change its updatable fields)."""
        key = self._key_of(definition, data, where)
        current = tx.get(definition.name, key)
        if current is None:
            raise self._not_found(definition, key, where)
        if definition.updatable is not None:
            row = self._restricted_update(definition, current, data, where)
        else:
            row = self._prepare(definition, data, where)
            for name in definition.read_only:
                if name in current:
                    row[name] = current[name]
            self._check_references(tx, definition, row, where)
        rules.stamp(tx, definition, row, now, new=False, keep=False)
        rules.derive(tx, definition, row)
        stored = tx.put(definition, row)
        rules.after_write(tx, definition, current, stored, now)
        tx.notify(definition, stored, "Update")
        return stored

    def _delete_item(
        self,
        tx: Transaction,
        definition: EntityDef,
        data: Mapping[str, Any],
        where: str,
        now: datetime,
    ) -> Row:
        """Delete one row and what belongs to it."""
        key = self._key_of(definition, data, where)
        if not tx.exists(definition.name, key):
            raise self._not_found(definition, key, where)
        removed = tx.remove(definition, key)
        tx.notify(definition, removed, "Delete")
        rules.cascade_delete(tx, definition, removed)
        rules.after_write(tx, definition, removed, None, now)
        return removed

    def _prepare(
        self,
        definition: EntityDef,
        data: Mapping[str, Any],
        where: str,
        allow_read_only: bool = False,
    ) -> Row:
        """Validate a JSON object into a stored row (full-replace semantics)."""
        if not isinstance(data, Mapping):
            raise SandboxError(
                "InvalidRequest", f"{where}{definition.name} records must be JSON objects"
            )
        row: Row = {}
        for name, value in data.items():
            if name.startswith("@odata."):
                continue
            ftype = definition.fields.get(name)
            if ftype is None:
                raise SandboxError(
                    "FieldNotFound",
                    f"{where}{self._label(definition, data)}: property '{name}' does not exist "
                    f"on {definition.name}",
                )
            if name in definition.read_only and not allow_read_only:
                continue
            try:
                row[name] = coerce_input(ftype, value)
            except InvalidValueError as exc:
                raise SandboxError(
                    "InvalidValue",
                    f"{where}{self._label(definition, data)}: property '{name}': {exc}",
                ) from exc
        for name, default in definition.defaults.items():
            if row.get(name) is None:
                row[name] = default
        return row

    def _restricted_update(
        self, definition: EntityDef, current: Row, data: Mapping[str, Any], where: str
    ) -> Row:
        """Update of a posted document: only ``updatable`` properties may differ from what is
        stored. Properties left out keep their value, since a posted document cannot lose
        them. When the date or payment term changes and ``DueDate`` does not, the due date is
        worked out again.
        """
        assert definition.updatable is not None
        label = f"{definition.name} {definition.key_label(definition.key_of(current))}"
        row = dict(current)
        changed: set[str] = set()
        for name, value in data.items():
            if name.startswith("@odata."):
                continue
            ftype = definition.fields.get(name)
            if ftype is None:
                raise SandboxError(
                    "FieldNotFound",
                    f"{where}{label}: property '{name}' does not exist on {definition.name}",
                )
            if name in definition.read_only:
                continue
            coerced = self._coerce(ftype, value, f"{where}{label}: property '{name}'")
            if coerced == current.get(name):
                continue
            if name not in definition.updatable:
                allowed = ", ".join(sorted(definition.updatable))
                raise SandboxError(
                    "FieldReadOnly",
                    f"{where}{label}: property '{name}' cannot be changed after posting; "
                    f"only {allowed} can be updated",
                )
            if coerced is None and ftype.kind is Kind.DATE:
                raise SandboxError(
                    "InvalidValue", f"{where}{label}: property '{name}' cannot be empty"
                )
            row[name] = coerced
            changed.add(name)
        if changed & {"Date", "Payment"} and "DueDate" not in changed:
            row["DueDate"] = rules.due_date(row["Date"], row.get("Payment"))
        return row

    @staticmethod
    def _coerce(ftype: FieldType, value: Any, where: str) -> Any:
        """Coerce one property value, naming it in the 400 on failure."""
        try:
            return coerce_input(ftype, value)
        except InvalidValueError as exc:
            raise SandboxError("InvalidValue", f"{where}: {exc}") from exc

    @staticmethod
    def _label(definition: EntityDef, data: Mapping[str, Any]) -> str:
        """Entity name plus whatever key the data carries, for messages."""
        parts = [data.get(name) for name in definition.keys]
        if all(part is None for part in parts):
            return definition.name
        key = tuple(parts) if definition.composite else parts[0]
        return f"{definition.name} {definition.key_label(key)}"

    @staticmethod
    def _require_key(definition: EntityDef, row: Row, where: str) -> None:
        """Insert needs every key property set (after server-assigned ones were filled)."""
        for name in definition.keys:
            if _empty(row.get(name)):
                raise SandboxError(
                    "KeyIsEmpty",
                    f"{where}{definition.name}: key property '{name}' is missing or empty",
                )

    @staticmethod
    def _check_references(tx: Transaction, definition: EntityDef, row: Row, where: str) -> None:
        """Properties that name another record must name an existing one."""
        typed = {
            name: entities.get(str(row.get(kind) or next(iter(entities))), "")
            for name, (kind, entities) in definition.typed_references.items()
        }
        for name, target in {**definition.references, **typed}.items():
            value = row.get(name)
            if _empty(value) or tx.exists(target, value):
                continue
            target_key = ENTITIES[target].keys[0]
            raise SandboxError(
                "InvalidValue",
                f"{where}{UnicontaSandbox._label(definition, row)}: property '{name}': "
                f"{target} with {target_key} {to_json_value(value)!r} does not exist",
            )

    def _lookup_key(self, definition: EntityDef, key: Key) -> Key:
        """Normalise a key given by Python callers (``"5"`` is accepted for an int key, and
        ``"P1,Hoved"`` or a tuple for a composite key).
        """
        if not definition.composite:
            return self._lookup_part(definition, definition.keys[0], key)
        parts = key.split(",") if isinstance(key, str) else key
        if not isinstance(parts, tuple | list) or len(parts) != len(definition.keys):
            raise SandboxError(
                "InvalidValue",
                f"{definition.name}: key {key!r} must have the parts {', '.join(definition.keys)}",
            )
        return tuple(
            self._lookup_part(definition, name, part)
            for name, part in zip(definition.keys, parts, strict=True)
        )

    @staticmethod
    def _lookup_part(definition: EntityDef, name: str, value: Any) -> Key:
        """One key part converted to the property's type."""
        kind = definition.fields[name].kind
        if kind is Kind.INT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
        elif kind is Kind.DECIMAL:
            try:
                return Decimal(str(value).strip())
            except ArithmeticError:
                pass
        else:
            return str(value)
        raise SandboxError("InvalidValue", f"{definition.name}: {name} {value!r} is not a number")

    def _key_of(self, definition: EntityDef, data: Mapping[str, Any], where: str) -> Key:
        """Key of an Update/Delete item, validated against the key types."""
        if not isinstance(data, Mapping):
            raise SandboxError(
                "InvalidRequest", f"{where}{definition.name} records must be JSON objects"
            )
        parts: list[Any] = []
        for name in definition.keys:
            value = data.get(name)
            if _empty(value):
                raise SandboxError(
                    "KeyIsEmpty",
                    f"{where}{definition.name}: key property '{name}' is missing or empty",
                )
            parts.append(
                self._coerce(
                    definition.fields[name], value, f"{where}{definition.name}: key '{name}'"
                )
            )
        return tuple(parts) if definition.composite else parts[0]

    @staticmethod
    def _where(items: Sequence[Any], index: int) -> str:
        """Message prefix locating an item inside a batch (empty for a single item)."""
        return f"item {index}: " if len(items) > 1 else ""

    @staticmethod
    def _not_found(definition: EntityDef, key: Key, where: str) -> SandboxError:
        """RecordNotFound error for an Update/Delete of a missing key."""
        return SandboxError(
            "RecordNotFound",
            f"{where}{definition.name} with {definition.key_label(key)} does not exist",
        )

    def _date_or_today(self, value: date | str | None) -> date:
        """A date given by a Python caller, or today in Copenhagen."""
        if value is None:
            return self.clock.now().astimezone(COPENHAGEN).date()
        coerced: date = self._coerce(DATE, value, "date")
        return coerced

    def _notify(self, company: Company, definition: EntityDef, row: Row, operation: str) -> None:
        """Queue the Change URL callback for a committed change (caller holds the lock)."""
        if company.change_url is None:
            return
        params = urlencode(
            {
                "CompanyId": company.company_id,
                "Table": definition.table,
                "Key": to_json_value(row[definition.callback_key]),
                "RowId": row["RowId"],
                "Operation": operation,
            }
        )
        separator = "&" if "?" in company.change_url else "?"
        url = f"{company.change_url}{separator}{params}"
        if company.post_body:
            body = json.dumps(row_to_json(row), ensure_ascii=False).encode("utf-8")
            self._callbacks.submit(Callback(url, "POST", body))
        else:
            self._callbacks.submit(Callback(url, "GET", None))


def _not_allowed(definition: EntityDef, operation: str) -> str:
    """Why an entity refuses a write operation altogether."""
    if definition.name == "DebtorInvoiceClient":
        if operation == "Insert":
            return (
                "DebtorInvoiceClient cannot be inserted: an invoice is created by posting an "
                "order (InvoiceAPI.PostInvoice, through a booking service)"
            )
        return "DebtorInvoiceClient cannot be deleted: a posted invoice is permanent"
    return f"{definition.name} is read-only: {operation} is not allowed"
