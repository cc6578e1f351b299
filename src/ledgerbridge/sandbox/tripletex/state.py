"""In-memory state of the Tripletex sandbox: environments, companies, employees, the three
tokens, sessions, rate limits and webhook subscriptions.

Everything lives behind one re-entrant lock because uvicorn serves requests while tests and the
demo act "as a user in the Tripletex UI" (create a token, deactivate an employee, edit a
customer) from other threads.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from ledgerbridge.sandbox.tripletex.books import NOK_ID, NORWAY_ID, Book, parse_iso_date
from ledgerbridge.sandbox.tripletex.errors import (
    forbidden,
    not_found,
    unauthorized,
    validation_error,
)
from ledgerbridge.sandbox.tripletex.render import OSLO, Renderer, Row, check_selection, dumps
from ledgerbridge.sandbox.tripletex.render import parse_fields as parse_selection
from ledgerbridge.sandbox.tripletex.webhooks import (
    Delivery,
    DeliveryRecord,
    WebhookDispatcher,
    sign,
)

ENVIRONMENTS = ("production", "test")
# Where each environment lives in reality; the Python API renders ``url`` fields against these.
REAL_BASE_URLS = {
    "production": "https://tripletex.no/v2",
    "test": "https://api-test.tripletex.tech/v2",
}
FIRST_COMPANY_ID = 100_000
FIRST_EMPLOYEE_ID = 20_000

# Events a subscription may name (GET /event): description and the model sent as ``value``.
EVENTS: dict[str, tuple[str, str | None]] = {
    "customer.create": ("Customer created", "Customer"),
    "customer.update": ("Customer updated", "Customer"),
    "customer.delete": ("Customer deleted", None),
    "product.create": ("Product created", "Product"),
    "product.update": ("Product updated", "Product"),
    "product.delete": ("Product deleted", None),
    "order.create": ("Order created", "Order"),
    "order.update": ("Order updated", "Order"),
    "order.delete": ("Order deleted", None),
    "invoice.charged": ("Invoice charged", "Invoice"),
    "voucher.create": ("Voucher created", "Voucher"),
    "voucher.update": ("Voucher updated", "Voucher"),
    "voucher.delete": ("Voucher deleted", None),
}
CLIENT_ROOT_MESSAGE = (
    "Company owned users(employeeToken) can only access /token/session/>whoAmI & "
    "/company/>withLoginAccess in their own company."
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")

# (number, name, percentage, kind) of the predefined Norwegian VAT types.
VAT_TYPES: tuple[tuple[str, str, int, str], ...] = (
    ("0", "Ingen avgiftsbehandling", 0, "NONE"),
    ("1", "Fradrag inngående avgift, høy sats", 25, "INCOMING"),
    ("11", "Fradrag inngående avgift, middels sats", 15, "INCOMING"),
    ("13", "Fradrag inngående avgift, lav sats", 12, "INCOMING"),
    ("3", "Utgående avgift, høy sats", 25, "OUTGOING"),
    ("31", "Utgående avgift, middels sats", 15, "OUTGOING"),
    ("33", "Utgående avgift, lav sats", 12, "OUTGOING"),
    ("5", "Ingen utgående avgift (innenfor mva-loven)", 0, "OUTGOING"),
    ("6", "Ingen utgående avgift (utenfor mva-loven)", 0, "OUTGOING"),
    ("52", "Avgiftsfri eksport av varer og tjenester", 0, "OUTGOING"),
)
CURRENCIES = (("NOK", "Norske kroner"), ("EUR", "Euro"), ("SEK", "Svenske kroner"))
COUNTRIES = ((NORWAY_ID, "Norge", "NO", "NOR", "578"), (206, "Sverige", "SE", "SWE", "752"))
BANKS = (("DNB Bank ASA", (1200, 1201)), ("SpareBank 1 SR-Bank ASA", (3201,)))


class Clock(Protocol):
    """Source of "now"; tests pass a manual clock to cross an expiry date without waiting."""

    def now(self) -> datetime:
        """Current time, timezone-aware."""
        ...


class _SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


@dataclass
class ConsumerToken:
    """The integration's token, issued by Tripletex per environment."""

    id: int
    name: str
    token: str
    environment: str


@dataclass
class Employee:
    """A user of one company; ``login_access`` lists client companies it may proxy into."""

    id: int
    company_id: int
    first_name: str
    last_name: str
    email: str
    active: bool = True
    login_access: list[int] = field(default_factory=list)


@dataclass
class EmployeeToken:
    """A token an administrator created for an employee and one consumer (application)."""

    id: int
    token: str
    employee_id: int
    consumer_id: int
    expiration_date: date
    environment: str
    client_access_only: bool = False
    revoked: bool = False


@dataclass
class Session:
    """A session token from ``/token/session/:create``, valid until its expiration date."""

    id: int
    token: str
    employee_token_id: int
    consumer_id: int
    expiration_date: date
    environment: str


@dataclass
class Company:
    """A Tripletex company: its environment and its book of data."""

    id: int
    name: str
    environment: str
    book: Book
    accountant: bool = False


@dataclass(frozen=True)
class Auth:
    """Who is calling: session, token, employee and the company the call acts in."""

    session: Session
    token: EmployeeToken
    employee: Employee
    company_id: int

    @property
    def proxy(self) -> bool:
        """True when the call goes into an accountant's client company."""
        return self.company_id != self.employee.company_id


@dataclass
class RateStatus:
    """Rate-limit state after counting one request: the three response headers' values."""

    limit: int
    remaining: int
    reset: int
    allowed: bool


@dataclass
class _Window:
    """A fixed rate-limit period and the requests counted in it."""

    start: datetime
    used: int = 0


class TripletexSandbox:
    """A simulated Tripletex: state plus the rules its API enforces."""

    def __init__(
        self,
        clock: Clock | None = None,
        rate_limit: int = 1000,
        rate_limit_period: float = 60.0,
        seed: int | None = None,
        webhook_attempts: int = 3,
        webhook_backoff: float = 0.05,
        webhook_timeout: float = 5.0,
        webhook_failure_limit: int = 10,
    ) -> None:
        if rate_limit < 1 or rate_limit_period <= 0:
            raise ValueError("rate_limit must be >= 1 and rate_limit_period > 0")
        self.clock: Clock = clock if clock is not None else _SystemClock()
        self.rate_limit = rate_limit
        self.rate_limit_period = rate_limit_period
        self.webhook_failure_limit = webhook_failure_limit
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._next_id = 0
        self._companies: dict[int, Company] = {}
        self._employees: dict[int, Employee] = {}
        self._consumers: dict[str, dict[str, ConsumerToken]] = {env: {} for env in ENVIRONMENTS}
        self._employee_tokens: dict[str, dict[str, EmployeeToken]] = {
            env: {} for env in ENVIRONMENTS
        }
        self._tokens_by_id: dict[int, EmployeeToken] = {}
        self._sessions: dict[str, dict[str, Session]] = {env: {} for env in ENVIRONMENTS}
        self._windows: dict[tuple[str, ...], _Window] = {}
        self._next_company_id = FIRST_COMPANY_ID
        self._next_employee_id = FIRST_EMPLOYEE_ID
        self.shared: dict[str, dict[int, Row]] = {
            "VatType": {},
            "Currency": {},
            "Country": {},
            "Bank": {},
            "Company": {},
            "Employee": {},
        }
        self._dispatcher = WebhookDispatcher(
            self._webhook_result,
            attempts=webhook_attempts,
            backoff=webhook_backoff,
            timeout=webhook_timeout,
        )
        self._load_shared_tables()

    # ----------------------------------------------------------------- setup

    def _load_shared_tables(self) -> None:
        """Predefined VAT types, currencies, countries and banks (same in every company)."""
        for index, (number, name, percentage, kind) in enumerate(VAT_TYPES, start=1):
            self.shared["VatType"][index] = {
                "id": index,
                "version": 0,
                "name": name,
                "number": number,
                "displayName": f"{number} {name}",
                "percentage": Decimal(percentage),
                "deductionPercentage": Decimal(100),
                "_kind": kind,
            }
        for index, (code, description) in enumerate(CURRENCIES, start=NOK_ID):
            self.shared["Currency"][index] = {
                "id": index,
                "version": 0,
                "code": code,
                "description": description,
                "displayName": code,
                "factor": 1,
                "isDisabled": False,
            }
        for country_id, name, alpha2, alpha3, numeric in COUNTRIES:
            self.shared["Country"][country_id] = {
                "id": country_id,
                "version": 0,
                "name": name,
                "displayName": name,
                "isoAlpha2Code": alpha2,
                "isoAlpha3Code": alpha3,
                "isoNumericCode": numeric,
            }
        for index, (name, registers) in enumerate(BANKS, start=1):
            self.shared["Bank"][index] = {
                "id": index,
                "version": 0,
                "name": name,
                "displayName": name,
                "registerNumbers": list(registers),
                "bankStatementFileFormatSupport": ["DNB_CSV", "CAMT_053"],
                "platform": "TIETO_EVRY",
            }

    def _token_string(self, token_id: int, environment: str) -> str:
        """A token in Tripletex's shape: base64 of ``{"tokenId", "token"}``, ``test-`` on test."""
        secret = uuid.UUID(int=self._rng.getrandbits(128), version=4)
        raw = json.dumps({"tokenId": token_id, "token": str(secret)}, separators=(",", ":"))
        text = base64.b64encode(raw.encode("utf-8")).decode("ascii")
        return f"test-{text}" if environment == "test" else text

    def _new_id(self) -> int:
        """Next id for tokens and sessions."""
        self._next_id += 1
        return self._next_id

    def add_consumer(self, name: str, environment: str = "production") -> ConsumerToken:
        """Register an integration (API 2.0 registration) and return its consumer token."""
        _check_environment(environment)
        with self.lock:
            token_id = self._new_id()
            consumer = ConsumerToken(
                token_id, name, self._token_string(token_id, environment), environment
            )
            self._consumers[environment][consumer.token] = consumer
            return consumer

    def add_company(
        self,
        name: str,
        organization_number: str | None = None,
        environment: str = "production",
        accountant: bool = False,
        company_type: str = "AS",
        email: str | None = None,
        phone: str | None = None,
        address: Mapping[str, str] | None = None,
        start_date: date | None = None,
    ) -> Company:
        """Create a company (with chart of accounts, voucher types and payment types)."""
        _check_environment(environment)
        with self.lock:
            company_id = self._next_company_id
            self._next_company_id += 1
            book = Book(company_id, self.clock.now, self._emit, self.shared)
            company = Company(company_id, name, environment, book, accountant)
            self._companies[company_id] = company
            row: Row = {
                "id": company_id,
                "version": 0,
                "name": name,
                "displayName": name,
                "organizationNumber": organization_number,
                "email": email,
                "phoneNumber": phone,
                "type": company_type,
                "currency": NOK_ID,
                "startDate": (start_date or date(2015, 1, 1)).isoformat(),
                "accountantOrSimilar": accountant,
                "companyMigration": "NONE",
                "invoiceShowDeliveryDate": False,
            }
            if address:
                row["address"] = book.add(
                    "Address", {**address, "country": NORWAY_ID}, employee_id=None
                )["id"]
            self.shared["Company"][company_id] = row
            return company

    def add_employee(
        self,
        company_id: int,
        first_name: str,
        last_name: str,
        email: str | None = None,
        active: bool = True,
    ) -> Employee:
        """Create a user of a company."""
        with self.lock:
            self._company(company_id)
            employee_id = self._next_employee_id
            self._next_employee_id += 1
            address = email or f"{first_name}.{last_name}@example.no".lower()
            employee = Employee(employee_id, company_id, first_name, last_name, address, active)
            self._employees[employee_id] = employee
            self.shared["Employee"][employee_id] = {
                "id": employee_id,
                "version": 0,
                "firstName": first_name,
                "lastName": last_name,
                "displayName": f"{first_name} {last_name}",
                "email": address,
                "userType": "EXTENDED",
                "isContact": False,
                "isProxy": False,
                "companyId": company_id,
            }
            return employee

    def issue_employee_token(
        self,
        employee_id: int,
        consumer_token: str,
        expiration_date: date,
        client_access_only: bool = False,
    ) -> EmployeeToken:
        """Create an employee token for one application, as an administrator does in the UI.

        ``client_access_only`` makes it an accountant's client-access token: in the employee's
        own company it reaches only ``>whoAmI`` and ``>withLoginAccess``.
        """
        with self.lock:
            employee = self._employee(employee_id)
            environment = self._company(employee.company_id).environment
            consumer = self._consumers[environment].get(consumer_token)
            if consumer is None:
                raise ValueError(f"no consumer token {consumer_token!r} in {environment}")
            token_id = self._new_id()
            token = EmployeeToken(
                token_id,
                self._token_string(token_id, environment),
                employee_id,
                consumer.id,
                expiration_date,
                environment,
                client_access_only,
            )
            self._employee_tokens[environment][token.token] = token
            self._tokens_by_id[token.id] = token
            return token

    def revoke_employee_token(self, token: str) -> None:
        """Delete a token in the UI: its sessions stop working."""
        with self.lock:
            for tokens in self._employee_tokens.values():
                if token in tokens:
                    tokens[token].revoked = True
                    return
            raise ValueError("unknown employee token")

    def set_employee_active(self, employee_id: int, active: bool) -> None:
        """Deactivate (or reactivate) an employee, as when someone leaves the firm."""
        with self.lock:
            self._employee(employee_id).active = active

    def grant_login_access(self, employee_id: int, company_id: int) -> None:
        """Give an accountant's employee proxy login to a client company."""
        with self.lock:
            employee = self._employee(employee_id)
            client = self._company(company_id)
            own = self._company(employee.company_id)
            if client.environment != own.environment:
                raise ValueError("a client company must be in the accountant's environment")
            if company_id not in employee.login_access and company_id != employee.company_id:
                employee.login_access.append(company_id)

    def companies(self) -> list[Company]:
        """All companies, by id."""
        with self.lock:
            return [self._companies[cid] for cid in sorted(self._companies)]

    def company(self, company_id: int) -> Company:
        """One company (``KeyError`` if missing)."""
        with self.lock:
            return self._company(company_id)

    def employee(self, employee_id: int) -> Employee:
        """One employee (``KeyError`` if missing)."""
        with self.lock:
            return self._employee(employee_id)

    def _company(self, company_id: int) -> Company:
        """A company or ``KeyError``."""
        company = self._companies.get(company_id)
        if company is None:
            raise KeyError(f"no company {company_id}")
        return company

    def _employee(self, employee_id: int) -> Employee:
        """An employee or ``KeyError``."""
        employee = self._employees.get(employee_id)
        if employee is None:
            raise KeyError(f"no employee {employee_id}")
        return employee

    def book(self, company_id: int) -> Book:
        """A company's data, running its deferred seed first (call with the lock held)."""
        book = self._company(company_id).book
        pending, book.pending_seed = book.pending_seed, None
        if pending is not None:
            pending()
        return book

    def today(self) -> date:
        """Today in Norway, by the sandbox clock."""
        return self.clock.now().astimezone(OSLO).date()

    # --------------------------------------------------------------- sessions

    def create_session(
        self,
        environment: str,
        consumer_token: str | None,
        employee_token: str | None,
        expiration_date: str | None,
    ) -> Session:
        """``/token/session/:create``: check the two tokens exactly as sent (no trimming)."""
        with self.lock:
            missing = [
                (f"arg:{name}", "The field is required.")
                for name, value in (
                    ("consumerToken", consumer_token),
                    ("employeeToken", employee_token),
                    ("expirationDate", expiration_date),
                )
                if not value
            ]
            if missing:
                raise validation_error(*missing)
            assert consumer_token and employee_token and expiration_date
            expires = parse_iso_date(expiration_date, "arg:expirationDate")
            if expires <= self.today():
                raise validation_error(
                    ("arg:expirationDate", "The expiration date must be after today.")
                )
            consumer = self._consumers[environment].get(consumer_token)
            if consumer is None:
                raise validation_error(
                    ("arg:consumerToken", "The consumer token is invalid or does not exist.")
                )
            token = self._employee_tokens[environment].get(employee_token)
            if token is None or token.revoked:
                raise validation_error(
                    ("arg:employeeToken", "The employee token is invalid or does not exist.")
                )
            if token.consumer_id != consumer.id:
                raise validation_error(
                    ("arg:employeeToken", "The employee token was not created for this consumer.")
                )
            if token.expiration_date <= self.today():
                raise validation_error(
                    (
                        "arg:employeeToken",
                        f"The employee token expired on {token.expiration_date.isoformat()}.",
                    )
                )
            if not self._employees[token.employee_id].active:
                raise validation_error(
                    ("arg:employeeToken", "The employee who owns the token is deactivated.")
                )
            session_id = self._new_id()
            session = Session(
                session_id,
                self._token_string(session_id, environment),
                token.id,
                consumer.id,
                expires,
                environment,
            )
            self._sessions[environment][session.token] = session
            return session

    def session_row(self, session: Session) -> Row:
        """The ``SessionToken`` object returned by ``:create``."""
        return {
            "id": session.id,
            "version": 0,
            "consumerToken": {"id": session.consumer_id},
            "employeeToken": {"id": session.employee_token_id},
            "expirationDate": session.expiration_date.isoformat(),
            "token": session.token,
        }

    def delete_session(self, auth: Auth, token: str) -> None:
        """``DELETE /token/session/{token}``: end one of the caller's own sessions."""
        with self.lock:
            sessions = self._sessions[auth.session.environment]
            target = sessions.get(token)
            if target is None or target.employee_token_id != auth.token.id:
                raise not_found("SessionToken", token)
            del sessions[token]

    def authenticate(
        self, environment: str, authorization: str | None, client_root_allowed: bool
    ) -> Auth:
        """Check ``Basic <company id or 0>:<session token>`` and pick the company to act in."""
        if not authorization or authorization[:6].lower() != "basic ":
            raise unauthorized("Authentication required: Basic <company id or 0>:<session token>.")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise unauthorized("Malformed Basic authorization header.") from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise unauthorized("Malformed Basic authorization header.")
        with self.lock:
            session = self._sessions[environment].get(password)
            if session is None:
                raise unauthorized("The session token is invalid or does not exist.")
            today = self.today()
            if session.expiration_date <= today:
                raise unauthorized(
                    f"The session token expired on {session.expiration_date.isoformat()}."
                )
            token = self._tokens_by_id[session.employee_token_id]
            if token.revoked:
                raise unauthorized("The employee token of this session has been deleted.")
            if token.expiration_date <= today:
                raise unauthorized(
                    f"The employee token expired on {token.expiration_date.isoformat()}."
                )
            employee = self._employees[token.employee_id]
            if not employee.active:
                raise unauthorized("The employee who owns the token is deactivated.")
            company_id = self._target_company(user, employee)
            if (
                company_id == employee.company_id
                and token.client_access_only
                and not client_root_allowed
            ):
                raise forbidden(CLIENT_ROOT_MESSAGE)
            return Auth(session, token, employee, company_id)

    def _target_company(self, user: str, employee: Employee) -> int:
        """Company named by the Basic user name: blank or 0 is the employee's own company."""
        text = user.strip()
        if text in ("", "0"):
            return employee.company_id
        if not text.isdigit():
            raise unauthorized(f"Invalid company id {user!r} in the Basic user name.")
        company_id = int(text)
        if company_id == employee.company_id:
            return company_id
        if company_id not in employee.login_access:
            raise forbidden(f"No login access to company {company_id}.")
        return company_id

    # ------------------------------------------------------------- rate limit

    def take_rate(self, key: tuple[str, ...]) -> RateStatus:
        """Count one request in its fixed period; refuse once the limit is reached."""
        with self.lock:
            now = self.clock.now()
            period = timedelta(seconds=self.rate_limit_period)
            window = self._windows.get(key)
            if window is None or now >= window.start + period:
                window = _Window(now)
                self._windows[key] = window
            reset = max(0, math.ceil((window.start + period - now).total_seconds()))
            if window.used >= self.rate_limit:
                return RateStatus(self.rate_limit, 0, reset, False)
            window.used += 1
            return RateStatus(self.rate_limit, self.rate_limit - window.used, reset, True)

    # ----------------------------------------------------------- who am I

    def who_am_i(self, auth: Auth) -> Row:
        """``LoggedInUserInfo`` of the caller in the company it acts in."""
        return {
            "employeeId": auth.employee.id,
            "actualEmployeeId": auth.employee.id,
            "employee": auth.employee.id,
            "companyId": auth.company_id,
            "company": auth.company_id,
            "language": "no",
            "loggedInWithConnect": False,
            "employeeIsProxy": auth.proxy,
        }

    def clients(self, auth: Auth) -> list[Row]:
        """``Client`` rows of the companies the employee has proxy login to.

        ``id`` and ``customerCompanyId`` both carry the client's company id, the value that goes
        into the Basic user name.
        """
        with self.lock:
            rows = []
            for company_id in auth.employee.login_access:
                company = dict(self.shared["Company"][company_id])
                company["customerCompanyId"] = company_id
                company["accountantOrSimilar"] = False
                company.pop("address", None)
                rows.append(company)
            return rows

    # --------------------------------------------------------- subscriptions

    def create_subscription(self, auth: Auth, body: Any, base_url: str) -> Row:
        """``POST /event/subscription`` for the caller's employee token in this company."""
        with self.lock:
            book = self.book(auth.company_id)
            row: Row = {}
            self._apply_subscription(book, body, row, auth)
            if not row.get("event"):
                raise validation_error(("event", "The field is required."))
            if not row.get("targetUrl"):
                raise validation_error(("targetUrl", "The field is required."))
            data = {
                "status": "ACTIVE",
                **row,
                "_token": auth.token.id,
                "_base_url": base_url,
                "_failures": 0,
            }
            return book.add("Subscription", data, auth.employee.id)

    def _apply_subscription(self, book: Book, body: Any, row: Row, auth: Auth) -> None:
        """Map a subscription body, keeping the write-only secrets out of the rendered object."""
        secrets: dict[str, Any] = {}
        if isinstance(body, Mapping):
            secrets = {k: body[k] for k in ("authHeaderValue", "hmacSharedSecret") if k in body}
        book.apply_body(
            "Subscription",
            body,
            row,
            auth.employee.id,
            handled=("authHeaderValue", "hmacSharedSecret"),
        )
        for name, value in secrets.items():
            if value is not None and not isinstance(value, str):
                raise validation_error((name, "Must be a string."))
        if "authHeaderValue" in secrets:
            row["_auth_value"] = secrets["authHeaderValue"]
        if "hmacSharedSecret" in secrets:
            row["_secret"] = secrets["hmacSharedSecret"]
        event = row.get("event")
        if event is not None and event not in EVENTS:
            raise validation_error(("event", f"Unknown event {event!r}; see GET /event."))
        header = row.get("authHeaderName")
        if header is not None and not _HEADER_NAME.fullmatch(header):
            raise validation_error(("authHeaderName", "Not a valid HTTP header name."))
        if "_auth_value" in row and not _HEADER_VALUE.fullmatch(row["_auth_value"] or ""):
            raise validation_error(("authHeaderValue", "Not a valid HTTP header value."))
        url = row.get("targetUrl")
        if url is not None and not _acceptable_target(url):
            raise validation_error(("targetUrl", "Must be absolute and use HTTPS."))
        status = row.get("status")
        if status is not None and status not in ("ACTIVE", "DISABLED"):
            raise validation_error(("status", "Only ACTIVE or DISABLED can be set."))
        fields_text = row.get("fields")
        if fields_text and event:
            payload = EVENTS[event][1]
            if payload:
                check_selection(parse_selection(fields_text), payload)

    def subscriptions(self, auth: Auth) -> list[Row]:
        """The caller's subscriptions (per employee token) in the company it acts in."""
        with self.lock:
            return [
                row
                for row in self.book(auth.company_id).rows("Subscription")
                if row["_token"] == auth.token.id
            ]

    def subscription(self, auth: Auth, subscription_id: int) -> Row:
        """One of the caller's subscriptions (404 for anyone else's)."""
        with self.lock:
            row = self.book(auth.company_id).get("Subscription", subscription_id)
            if row is None or row.get("_token") != auth.token.id:
                raise not_found("Subscription", subscription_id)
            return row

    def update_subscription(self, auth: Auth, subscription_id: int, body: Any) -> Row:
        """``PUT /event/subscription/{id}``: partial update with optimistic locking."""
        with self.lock:
            row = self.subscription(auth, subscription_id)
            book = self.book(auth.company_id)
            if isinstance(body, Mapping):
                book.check_version(row, body, "Subscription")
            staged = dict(row)
            self._apply_subscription(book, body, staged, auth)
            row.update(staged)
            if row["status"] == "ACTIVE":
                row["_failures"] = 0
            book.touch(row, auth.employee.id)
            return row

    def delete_subscription(self, auth: Auth, subscription_id: int) -> None:
        """``DELETE /event/subscription/{id}``."""
        with self.lock:
            self.subscription(auth, subscription_id)
            self.book(auth.company_id).delete("Subscription", subscription_id, None)

    def _emit(self, company_id: int, event: str, model_name: str, object_id: int) -> None:
        """Queue a callback to every active subscription of the company for this event."""
        book = self._companies[company_id].book
        for sub in book.rows("Subscription"):
            if sub["event"] != event or sub["status"] != "ACTIVE":
                continue
            value = None
            row = book.get(model_name, object_id)
            if row is not None and not event.endswith(".delete"):
                renderer = Renderer(sub["_base_url"], lambda m, i: book.get(m, i))
                value = renderer.render(row, model_name, parse_selection(sub.get("fields")))
            body = dumps(
                {"subscriptionId": sub["id"], "event": event, "id": object_id, "value": value}
            )
            key = str(uuid.uuid4())
            headers = {"Content-Type": "application/json", "idempotency-key": key}
            if sub.get("authHeaderName") and sub.get("_auth_value"):
                headers[sub["authHeaderName"]] = sub["_auth_value"]
            if sub.get("_secret"):
                headers["x-request-signature"] = sign(sub["_secret"], key, body)
            self._dispatcher.submit(
                Delivery(company_id, sub["id"], event, sub["targetUrl"], body, headers)
            )

    def _webhook_result(self, delivery: Delivery, delivered: bool) -> None:
        """Count consecutive failures; too many disable the subscription, as Tripletex does."""
        with self.lock:
            company = self._companies.get(delivery.company_id)
            sub = company.book.get("Subscription", delivery.subscription_id) if company else None
            if sub is None:
                return
            if delivered:
                sub["_failures"] = 0
                return
            sub["_failures"] += 1
            if sub["_failures"] >= self.webhook_failure_limit and sub["status"] == "ACTIVE":
                sub["status"] = "DISABLED_TOO_MANY_ERRORS"
                if company is not None:
                    company.book.touch(sub, None)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Block until every queued webhook was delivered or dropped (``TimeoutError`` if not)."""
        self._dispatcher.wait(timeout)

    def webhook_deliveries(self) -> list[DeliveryRecord]:
        """Every finished delivery so far, oldest first."""
        return list(self._dispatcher.records)

    def close(self) -> None:
        """Stop the webhook thread."""
        self._dispatcher.close()

    # ------------------------------------------------ acting as a UI user

    def insert(self, company_id: int, model_name: str, data: Mapping[str, Any]) -> Row:
        """Create a customer, product or order as a user in the UI (webhooks fire)."""
        creators: dict[str, Callable[[Book], Row]] = {
            "Customer": lambda book: book.create_customer(data, None),
            "Product": lambda book: book.create_product(data, None),
            "Order": lambda book: book.create_order(data, None),
        }
        if model_name not in creators:
            raise ValueError(f"cannot insert {model_name}; use Customer, Product or Order")
        with self.lock:
            book = self.book(company_id)
            return self._render(company_id, model_name, creators[model_name](book))

    def update(
        self, company_id: int, model_name: str, object_id: int, changes: Mapping[str, Any]
    ) -> Row:
        """Edit a customer or product as a user in the UI (webhooks fire)."""
        with self.lock:
            book = self.book(company_id)
            if model_name == "Customer":
                row = book.update_customer(object_id, changes, None)
            elif model_name == "Product":
                row = book.update_product(object_id, changes, None)
            else:
                raise ValueError(f"cannot update {model_name}; use Customer or Product")
            return self._render(company_id, model_name, row)

    def delete(self, company_id: int, model_name: str, object_id: int) -> None:
        """Delete a customer, product or order as a user in the UI (webhooks fire)."""
        events = {
            "Customer": "customer.delete",
            "Product": "product.delete",
            "Order": "order.delete",
        }
        if model_name not in events:
            raise ValueError(f"cannot delete {model_name}")
        with self.lock:
            self.book(company_id).delete(model_name, object_id, events[model_name])

    def register_payment(
        self, company_id: int, invoice_id: int, amount: Decimal, day: date | None = None
    ) -> Row:
        """A customer's payment registered on an invoice in the UI (a bank payment matched to
        it), with the company's first payment type: the invoice's outstanding amount drops as
        ``PUT /invoice/{id}/:payment`` lowers it."""
        with self.lock:
            book = self.book(company_id)
            payment_type = book.rows("PaymentType")[0]["id"]
            row = book.register_payment(
                invoice_id, day or self.today(), payment_type, Decimal(amount), None
            )
            return self._render(company_id, "Invoice", row)

    def get(self, company_id: int, model_name: str, object_id: int) -> Row | None:
        """One object with all fields, as the API would render it (``None`` if missing)."""
        with self.lock:
            row = self.book(company_id).get(model_name, object_id)
            return None if row is None else self._render(company_id, model_name, row)

    def all(self, company_id: int, model_name: str) -> list[Row]:
        """Every object of a model in a company, in id order, rendered with all fields."""
        with self.lock:
            book = self.book(company_id)
            return [self._render(company_id, model_name, row) for row in book.rows(model_name)]

    def _render(self, company_id: int, model_name: str, row: Row) -> Row:
        """Render with ``fields=*`` against the company's real base URL."""
        environment = self._companies[company_id].environment
        book = self._companies[company_id].book
        renderer = Renderer(REAL_BASE_URLS[environment], lambda m, i: book.get(m, i))
        return renderer.render(row, model_name, None)

    def summary(self) -> dict[str, Any]:
        """Consumers, companies, employees and their tokens, for ``/_sandbox/state`` and demos."""
        with self.lock:
            tokens_by_employee: dict[int, list[EmployeeToken]] = {}
            for tokens in self._employee_tokens.values():
                for token in tokens.values():
                    tokens_by_employee.setdefault(token.employee_id, []).append(token)
            return {
                "today": self.today().isoformat(),
                "consumers": [
                    {"name": c.name, "environment": c.environment, "token": c.token}
                    for tokens in self._consumers.values()
                    for c in tokens.values()
                ],
                "companies": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "environment": c.environment,
                        "accountant": c.accountant,
                    }
                    for c in self.companies()
                ],
                "employees": [
                    {
                        "id": e.id,
                        "companyId": e.company_id,
                        "name": f"{e.first_name} {e.last_name}",
                        "active": e.active,
                        "loginAccess": len(e.login_access),
                        "tokens": [
                            {
                                "token": t.token,
                                "expirationDate": t.expiration_date.isoformat(),
                                "clientAccessOnly": t.client_access_only,
                                "revoked": t.revoked,
                            }
                            for t in tokens_by_employee.get(e.id, [])
                        ],
                    }
                    for e in self._employees.values()
                ],
            }


def _check_environment(environment: str) -> None:
    """Only Tripletex's two environments exist."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {environment!r}")


def _acceptable_target(url: str) -> bool:
    """Absolute HTTPS URL; plain HTTP is accepted for loopback receivers in tests and demos."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not parts.netloc or not host:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and host in LOOPBACK_HOSTS
