"""In-memory state of the Qonto sandbox: one organization, its clients, invoices, credit notes,
products, webhook subscriptions, OAuth server, rate limits and call log.

Everything lives behind one lock because uvicorn serves requests while tests and the demo act
"in the Qonto web app" (editing a client, recording a bank payment) from other threads.
"""

from __future__ import annotations

import base64
import random
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from ledgerbridge.sandbox.qonto.core import (
    Clock,
    QontoError,
    SystemClock,
    bad_parameter,
    dumps,
    format_timestamp,
    new_id,
    not_found,
    parse_date,
    parse_query_date,
    parse_timestamp,
    utc_ms,
    validation,
)
from ledgerbridge.sandbox.qonto.limits import (
    DEFAULT_RATE_LIMITS,
    IdempotencyCache,
    RateLimiter,
    Throttled,
)
from ledgerbridge.sandbox.qonto.money import (
    DEFAULT_RATES_PER_EUR,
    Line,
    check_vat_rate,
    compute,
    conversion_rate,
    parse_currency,
    parse_discount,
    parse_line,
)
from ledgerbridge.sandbox.qonto.oauth import SCOPES, OAuthApp, OAuthServer, Principal, TokenSet
from ledgerbridge.sandbox.qonto.records import (
    ClientRecord,
    CreditNoteRecord,
    InvoiceRecord,
    ProductRecord,
    Resource,
    client_input,
    fold,
    invoice_extra,
    merge_client_patch,
    normalize_client,
    normalize_product,
    parse_status_filter,
)
from ledgerbridge.sandbox.qonto.webhooks import WebhookDelivery, WebhookDispatcher, WebhookEvent

T = TypeVar("T")

MAX_PER_PAGE = 100
WEBHOOK_TYPES = (
    "v1/transactions",
    "v1/accounts",
    "v1/organizations",
    "v1/memberships",
    "v1/consent-revocations",
    "v1/cards",
    "v1/clients",
    "v1/client-invoices",
)
# Read scope a subscription's token needs per event type (docs pages of each webhook).
WEBHOOK_TYPE_SCOPES = {"v1/client-invoices": "client_invoices.read"}
DEFAULT_WEBHOOK_TYPE_SCOPE = "organization.read"
# API-key writes the research notes allow; every other write needs OAuth.
DEFAULT_API_KEY_WRITE_ROUTES = frozenset({"PATCH /v2/clients/{id}"})
DEFAULT_IBAN = "FR7616798000010000005663951"
CLIENT_SORTS = (
    "created_at:asc",
    "created_at:desc",
    "updated_at:asc",
    "updated_at:desc",
    "name:asc",
    "name:desc",
)


@dataclass(frozen=True)
class ApiCall:
    """One Business API request as the sandbox saw it."""

    method: str
    path: str
    query: str
    status: int
    auth: str | None
    client_id: str | None
    ip: str
    at: datetime


@dataclass(frozen=True)
class Page:
    """One page of a list and its ``meta`` object."""

    rows: Sequence[Resource]
    meta: dict[str, Any]

    @property
    def items(self) -> list[dict[str, Any]]:
        """The page's resources as dicts."""
        return [row.render() for row in self.rows]

    def encode(self, name: str) -> bytes:
        """``{"<name>": [...], "meta": {...}}`` assembled from each record's cached JSON.

        It fills the records' caches, so call it under the sandbox lock, as the HTTP layer
        does (every handler runs inside ``QontoSandbox.idempotent``).
        """
        parts = b",".join(row.encoded() for row in self.rows)
        return b'{"' + name.encode() + b'":[' + parts + b'],"meta":' + dumps(self.meta) + b"}"


def paginate(rows: Sequence[T], query: Mapping[str, str]) -> tuple[Sequence[T], dict[str, Any]]:
    """Slice by ``page`` and ``per_page`` (1–100, default 100) and build Qonto's ``meta``."""
    page = _positive_int(query, "page", 1)
    per_page = _positive_int(query, "per_page", MAX_PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise bad_parameter(
            f"per_page must be less than or equal to {MAX_PER_PAGE}",
            "per_page",
            "less_than_or_equal_to",
        )
    total = len(rows)
    total_pages = -(-total // per_page)
    start = (page - 1) * per_page
    in_range = page <= total_pages
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 and in_range else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": per_page,
    }
    return rows[start : start + per_page], meta


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    """A query parameter that must be an integer of at least 1."""
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise bad_parameter(f"{name} must be an integer greater than 0", name, "greater_than")
    return int(text)


def _sort_option(query: Mapping[str, str], allowed: Sequence[str], default: str) -> str:
    """``sort_by`` checked against the documented options."""
    value = query.get("sort_by") or default
    if value not in allowed:
        raise bad_parameter(
            f"sort_by must be one of: {', '.join(allowed)}", "sort_by", "not_in_list"
        )
    return value


def _time_range(query: Mapping[str, str], name: str) -> tuple[datetime | None, datetime | None]:
    """``filter[<name>_from]`` and ``filter[<name>_to]`` (both inclusive)."""
    low = query.get(f"filter[{name}_from]")
    high = query.get(f"filter[{name}_to]")
    return (
        parse_timestamp(low, f"filter[{name}_from]") if low else None,
        parse_timestamp(high, f"filter[{name}_to]") if high else None,
    )


def _in_range(moment: datetime, low: datetime | None, high: datetime | None) -> bool:
    """Inclusive range test with open ends."""
    return (low is None or moment >= low) and (high is None or moment <= high)


def _equals_folded(key: str, value: str) -> Callable[[ClientRecord], bool]:
    """Exact, case-insensitive match of one client attribute."""
    return lambda row: (row.attrs.get(key) or "").casefold() == value


def _select(rows: Sequence[T], checks: Sequence[Callable[[T], bool]]) -> list[T]:
    """Rows passing every check (a copy, so callers may reorder it)."""
    if not checks:
        return list(rows)
    if len(checks) == 1:
        return [row for row in rows if checks[0](row)]
    return [row for row in rows if all(check(row) for check in checks)]


class QontoSandbox:
    """A simulated Qonto organization: state plus the rules its Business API enforces."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        organization_name: str = "Atelier Lumière SAS",
        organization_slug: str = "atelier-lumiere-sas-4821",
        legal_country: str = "FR",
        iban: str = DEFAULT_IBAN,
        seed: int = 0,
        rate_limits: Sequence[tuple[int, float]] = DEFAULT_RATE_LIMITS,
        auth_failure_limit: int = 200,
        idempotency_ttl: timedelta = timedelta(minutes=30),
        access_token_ttl: timedelta = timedelta(hours=1),
        refresh_token_ttl: timedelta = timedelta(days=90),
        refresh_grace: timedelta = timedelta(seconds=60),
        code_ttl: timedelta = timedelta(minutes=10),
        api_key_write_routes: Iterable[str] = DEFAULT_API_KEY_WRITE_ROUTES,
        staging_token: str | None = None,
        automatic_numbering: bool = True,
        webhook_timeout: float = 1.0,
        webhook_attempts: int = 4,
        webhook_backoff: float = 0.05,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.organization_id = new_id(self._rng)
        self.membership_id = new_id(self._rng)
        self.organization_slug = organization_slug
        self.organization_name = organization_name
        self.legal_country = legal_country.upper()
        self.iban = iban
        self.api_secret = secrets.token_hex(16)
        self.staging_token = staging_token
        self.automatic_numbering = automatic_numbering
        self.api_key_write_routes = frozenset(api_key_write_routes)
        self.exchange_rates: dict[str, Decimal] = dict(DEFAULT_RATES_PER_EUR)
        self.oauth = OAuthServer(
            self.membership_id,
            access_ttl=access_token_ttl,
            refresh_ttl=refresh_token_ttl,
            code_ttl=code_ttl,
            refresh_grace=refresh_grace,
        )
        self._limiter = RateLimiter(rate_limits, auth_failure_limit)
        self._idempotency = IdempotencyCache(idempotency_ttl)
        self._webhooks = WebhookDispatcher(
            self._now, webhook_timeout, webhook_attempts, webhook_backoff
        )
        self._clients: dict[str, ClientRecord] = {}
        self._invoices: dict[str, InvoiceRecord] = {}
        self._credit_notes: dict[str, CreditNoteRecord] = {}
        self._products: dict[str, ProductRecord] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._events: dict[str, WebhookEvent] = {}
        self._calls: list[ApiCall] = []
        self._numbers: dict[tuple[str, int], int] = {}
        self._invoice_numbers: set[str] = set()
        self._credit_note_numbers: set[str] = set()
        self._invoice_order: list[InvoiceRecord] | None = None
        self._client_orders: dict[str, list[ClientRecord]] = {}

    # ------------------------------------------------------------- basics

    def _now(self) -> datetime:
        """The sandbox clock, in UTC with millisecond precision."""
        return utc_ms(self.clock.now())

    def set_clock(self, clock: Clock) -> None:
        """Replace the clock (token lifetimes, idempotency, rate limits and timestamps)."""
        with self._lock:
            self.clock = clock

    @property
    def api_key(self) -> str:
        """The ``Authorization`` value for API-key mode: ``<organization-slug>:<secret-key>``."""
        return f"{self.organization_slug}:{self.api_secret}"

    def regenerate_api_key(self) -> str:
        """New secret key, as the "Regenerate" button does; the old one stops working."""
        with self._lock:
            self.api_secret = secrets.token_hex(16)
            return self.api_key

    def set_exchange_rate(self, currency: str, per_euro: Decimal | str) -> None:
        """Units of ``currency`` per euro, used when an invoice is converted to the client's
        currency.
        """
        with self._lock:
            self.exchange_rates[currency.upper()] = Decimal(per_euro)

    def organization(self) -> dict[str, Any]:
        """The organization object of ``GET /v2/organization``."""
        country = self.legal_country
        return {
            "id": self.organization_id,
            "slug": self.organization_slug,
            "legal_name": self.organization_name,
            "legal_number": "853795013",
            "legal_sector": "7410Z",
            "legal_registration_date": "2019-09-02",
            "legal_address": "12 rue du Faubourg Saint-Antoine 75012 Paris FRANCE",
            "legal_form": "SAS",
            "legal_country": country,
            "legal_share_capital": 10000,
            "locale": "fr",
            "contract_signed_at": "2019-09-10 09:12:44.000000",
            "bank_accounts": [
                {
                    "slug": f"{self.organization_slug}-bank-account-1",
                    "iban": self.iban,
                    "bic": "QNTOFRP1XXX",
                    "currency": "EUR",
                    "balance": 48250.35,
                    "balance_cents": 4825035,
                    "authorized_balance": 48250.35,
                    "authorized_balance_cents": 4825035,
                    "name": "Compte principal",
                    "updated_at": format_timestamp(self._now()),
                    "status": "active",
                    "main": True,
                }
            ],
        }

    # --------------------------------------------------------------- OAuth

    def add_oauth_app(
        self,
        client_id: str = "ledgerbridge-sandbox",
        client_secret: str = "sandbox-secret",
        redirect_uris: Iterable[str] = ("http://127.0.0.1/callback",),
        scopes: Iterable[str] = SCOPES,
    ) -> OAuthApp:
        """Register a partner application allowed to request ``scopes``."""
        with self._lock:
            return self.oauth.add_app(client_id, client_secret, redirect_uris, scopes)

    def set_consent(self, approve: bool) -> None:
        """Whether the simulated user approves (default) or denies the next consents."""
        with self._lock:
            self.oauth.approve = approve

    def authorization_redirect(self, params: Mapping[str, str]) -> str:
        """Where ``GET /oauth2/auth`` sends the browser (consent is automatic)."""
        with self._lock:
            return self.oauth.authorize(params, self._now())

    def issue_code(self, client_id: str, scope: str, redirect_uri: str | None = None) -> str:
        """An authorization code as if the user had just consented (skips the browser)."""
        with self._lock:
            if client_id not in self.oauth.apps:
                raise ValueError(f"unknown OAuth client {client_id!r}")
            return self.oauth.issue_code(client_id, tuple(scope.split()), redirect_uri, self._now())

    def token_request(
        self, form: Mapping[str, str], basic: tuple[str, str] | None = None
    ) -> TokenSet:
        """``POST /oauth2/token``; raises ``OAuthError`` with the RFC 6749 error."""
        with self._lock:
            return self.oauth.token(form, basic, self._now())

    def revoke_token_request(
        self, form: Mapping[str, str], basic: tuple[str, str] | None = None
    ) -> None:
        """``POST /oauth2/revoke`` (RFC 7009)."""
        with self._lock:
            self.oauth.revoke(form, basic)

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """The user disconnects the app: every token of that consent stops working."""
        with self._lock:
            return self.oauth.revoke_refresh_token(refresh_token)

    def revoke_app(self, client_id: str) -> int:
        """Withdraw every consent given to an app; return how many were withdrawn."""
        with self._lock:
            return self.oauth.revoke_client(client_id)

    def authenticate(self, authorization: str | None) -> Principal:
        """Check an ``Authorization`` header: ``Bearer <token>`` or ``<slug>:<secret>``."""
        if not authorization:
            raise QontoError(401, "unauthorized", "Missing Authorization header")
        with self._lock:
            if authorization[:7].lower() == "bearer ":
                return self.oauth.authenticate(authorization[7:].strip(), self._now())
            login, sep, secret = authorization.partition(":")
            if (
                sep
                and " " not in login
                and login == self.organization_slug
                and secrets.compare_digest(secret, self.api_secret)
            ):
                return Principal("api_key", frozenset(SCOPES))
            raise QontoError(401, "unauthorized", "Invalid login or secret key")

    # ------------------------------------------------- limits and call log

    def admit(self, ip: str) -> Throttled | None:
        """Count a Business API request against the per-IP limits."""
        with self._lock:
            return self._limiter.admit(ip, self._now())

    def record_unauthorized(self, ip: str) -> None:
        """Count a 401 toward the per-IP throttle."""
        with self._lock:
            self._limiter.record_unauthorized(ip, self._now())

    def record_call(self, call: ApiCall) -> None:
        """Append to the call log."""
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[ApiCall]:
        """Every Business API request so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        """Forget the call log."""
        with self._lock:
            self._calls.clear()

    def idempotent(
        self, key: str | None, run: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes]:
        """Run a write once per ``X-Qonto-Idempotency-Key``; replay its success for 30 minutes.

        The key alone identifies the request (a different body gets the stored response).
        Failures are not stored, so a corrected retry with the same key is processed.
        """
        with self._lock:
            if key:
                stored = self._idempotency.get(key, self._now())
                if stored is not None:
                    return stored.status, stored.body
            status, body = run()
            if key and 200 <= status < 300:
                self._idempotency.put(key, status, body, self._now())
            return status, body

    # ------------------------------------------------------------- clients

    def create_client(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a client (API or web app). No uniqueness rule: duplicates are fine."""
        with self._lock:
            attrs = normalize_client(data, self.legal_country == "IT")
            now = self._now()
            record = ClientRecord(new_id(self._rng), attrs, now, now)
            self._clients[record.id] = record
            self._client_orders.clear()
            rendered = record.render()
            self._emit("v1/clients", "created", record.id, rendered)
            return rendered

    def update_client(self, client_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some attributes of a client, as the API's PATCH or a user in the web app."""
        with self._lock:
            record = self._client(client_id)
            merged = merge_client_patch(client_input(record), changes)
            record.replace(normalize_client(merged, self.legal_country == "IT"), self._now())
            self._client_orders.clear()
            rendered = record.render()
            self._emit("v1/clients", "updated", record.id, rendered)
            return rendered

    def delete_client(self, client_id: str) -> None:
        """Delete a client for good; issued invoices keep showing its details."""
        with self._lock:
            record = self._client(client_id)
            del self._clients[client_id]
            self._client_orders.clear()
            self._emit("v1/clients", "deleted", client_id, record.render())

    def get_client(self, client_id: str) -> dict[str, Any] | None:
        """One client, or ``None``."""
        with self._lock:
            record = self._clients.get(client_id)
            return record.render() if record is not None else None

    def clients(self) -> list[dict[str, Any]]:
        """Every client, oldest first."""
        with self._lock:
            return [record.render() for record in self._clients.values()]

    def list_clients(self, query: Mapping[str, str]) -> Page:
        """``GET /v2/clients`` with its filters, sort and paging."""
        sort = _sort_option(
            query,
            CLIENT_SORTS,
            "name:asc",
        )
        exact = {}
        for key in ("tax_identification_number", "vat_number", "email"):
            value = query.get(f"filter[{key}]")
            if value:
                exact[key] = value.casefold()
        name = query.get("filter[name]")
        if name is not None and len(name.strip()) < 2:
            raise bad_parameter(
                "name must contain at least 2 characters", "filter[name]", "too_short"
            )
        wanted_name = fold(name.strip()) if name else None
        updated = _time_range(query, "updated_at")
        checks = [_equals_folded(key, value) for key, value in exact.items()]
        if wanted_name is not None:
            checks.append(lambda row: wanted_name in row.folded_name)
        if updated != (None, None):
            checks.append(lambda row: _in_range(row.updated_at, *updated))
        with self._lock:
            ordered = self._clients_sorted(sort)
        page, meta = paginate(_select(ordered, checks), query)
        return Page(page, meta)

    def _clients_sorted(self, sort: str) -> list[ClientRecord]:
        """Clients in a ``sort_by`` order, cached until the next client change."""
        rows = self._client_orders.get(sort)
        if rows is None:
            field, _, direction = sort.partition(":")
            rows = list(self._clients.values())
            if field == "name":
                rows.sort(key=lambda row: (row.folded_name, row.created_at, row.id))
            else:
                rows.sort(key=lambda row: (getattr(row, field), row.id))
            if direction == "desc":
                rows.reverse()
            self._client_orders[sort] = rows
        return rows

    def _client(self, client_id: str) -> ClientRecord:
        """Client by id or 404."""
        record = self._clients.get(client_id)
        if record is None:
            raise not_found("Client")
        return record

    # ------------------------------------------------------------ invoices

    def create_invoice(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a draft client invoice (API or web app)."""
        with self._lock:
            record = self._build_invoice(data, invoice_id=new_id(self._rng), current=None)
            self._invoices[record.id] = record
            self._invoice_order = None
            rendered = record.render()
            self._emit("v1/client-invoices", "created", record.id, rendered)
            return rendered

    def update_invoice(self, invoice_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change a draft; anything else is refused."""
        with self._lock:
            current = self._invoice(invoice_id)
            if current.status != "draft":
                raise QontoError(
                    422, "invalid_status", "Only client invoices with a draft status can be updated"
                )
            merged = {**current.source, **changes}
            record = self._build_invoice(merged, invoice_id=invoice_id, current=current)
            self._invoices[invoice_id] = record
            self._invoice_order = None
            return self._changed(record)

    def delete_invoice(self, invoice_id: str) -> None:
        """Delete a draft; validated or paid invoices cannot be deleted."""
        with self._lock:
            record = self._invoice(invoice_id)
            if record.status != "draft":
                raise QontoError(
                    422, "invalid_status", "Only client invoices with a draft status can be deleted"
                )
            del self._invoices[invoice_id]
            if record.number:
                self._invoice_numbers.discard(record.number)
            self._invoice_order = None

    def finalize_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Draft → unpaid; the invoice gets its number (unless it had one) and its PDF."""
        with self._lock:
            record = self._invoice(invoice_id)
            if record.status != "draft":
                raise QontoError(
                    422,
                    "invalid_status",
                    "Only client invoices with a draft status can be finalized",
                )
            if record.number is None:
                if not self.automatic_numbering:
                    raise validation(
                        "can't be blank when automatic numbering is disabled", "/number", "blank"
                    )
                record.number = self._next_number(
                    "F", record.issue_date.year, self._invoice_numbers
                )
            live = self._clients.get(record.client_id)
            if live is not None:
                record.client = live.render()
            now = self._now()
            record.status = "unpaid"
            record.finalized_at = now
            record.attachment_id = new_id(self._rng)
            return self._changed(record)

    def mark_invoice_paid(
        self, invoice_id: str, paid_at: datetime | date | None = None
    ) -> dict[str, Any]:
        """Unpaid → paid, as a matched bank payment (or the API's ``mark_as_paid``) does.

        On an already paid invoice only ``paid_at`` changes, as the docs allow.
        """
        with self._lock:
            record = self._invoice(invoice_id)
            if record.status not in ("unpaid", "paid"):
                raise QontoError(
                    422,
                    "invalid_status",
                    f"A client invoice with status {record.status} cannot be marked as paid",
                )
            if paid_at is None:
                moment = self._now()
            elif isinstance(paid_at, datetime):
                moment = utc_ms(paid_at)
            else:
                moment = datetime.combine(paid_at, time(), tzinfo=UTC)
            record.status = "paid"
            record.paid_at = moment
            return self._changed(record)

    def unmark_invoice_paid(self, invoice_id: str) -> dict[str, Any]:
        """Paid → unpaid."""
        with self._lock:
            record = self._invoice(invoice_id)
            if record.status != "paid":
                raise QontoError(
                    422, "invalid_status", "Only paid client invoices can be unmarked as paid"
                )
            record.status = "unpaid"
            record.paid_at = None
            return self._changed(record)

    def cancel_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Unpaid → canceled."""
        with self._lock:
            record = self._invoice(invoice_id)
            if record.status != "unpaid":
                raise QontoError(
                    422, "invalid_status", "Only unpaid client invoices can be marked as canceled"
                )
            record.status = "canceled"
            return self._changed(record)

    def get_invoice(self, invoice_id: str) -> dict[str, Any] | None:
        """One invoice, or ``None``."""
        with self._lock:
            record = self._invoices.get(invoice_id)
            return record.render() if record is not None else None

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice, oldest first."""
        with self._lock:
            return [record.render() for record in self._invoices.values()]

    def list_invoices(self, query: Mapping[str, str]) -> Page:
        """``GET /v2/client_invoices`` with its filters, sort and paging."""
        sort = _sort_option(query, ("created_at:desc", "created_at:asc"), "created_at:desc")
        status_filter = query.get("filter[status]")
        statuses = parse_status_filter(status_filter) if status_filter else None
        created = _time_range(query, "created_at")
        updated = _time_range(query, "updated_at")
        due_exact = query.get("filter[due_date]")
        due_from = query.get("filter[due_date_from]")
        due_to = query.get("filter[due_date_to]")
        due = (
            parse_query_date(due_exact, "filter[due_date]") if due_exact else None,
            parse_query_date(due_from, "filter[due_date_from]") if due_from else None,
            parse_query_date(due_to, "filter[due_date_to]") if due_to else None,
        )
        with self._lock:
            rows = self._invoices_by_creation()
        checks: list[Callable[[InvoiceRecord], bool]] = []
        if statuses is not None:
            checks.append(lambda row: row.status in statuses)
        if created != (None, None):
            checks.append(lambda row: _in_range(row.created_at, *created))
        if updated != (None, None):
            checks.append(lambda row: _in_range(row.updated_at, *updated))
        exact_due, low_due, high_due = due
        if exact_due is not None:
            checks.append(lambda row: row.due_date == exact_due)
        if low_due is not None:
            checks.append(lambda row: row.due_date >= low_due)
        if high_due is not None:
            checks.append(lambda row: row.due_date <= high_due)
        selected = _select(rows, checks)
        if sort == "created_at:desc":
            selected.reverse()
        page, meta = paginate(selected, query)
        with self._lock:
            return Page(page, meta)

    def _invoice(self, invoice_id: str) -> InvoiceRecord:
        """Invoice by id or 404."""
        record = self._invoices.get(invoice_id)
        if record is None:
            raise not_found("Client invoice")
        return record

    def _changed(self, record: InvoiceRecord) -> dict[str, Any]:
        """After an invoice change: bump it, drop caches, send ``updated``."""
        record.changed(self._now())
        rendered = record.render()
        self._emit("v1/client-invoices", "updated", record.id, rendered)
        return rendered

    def _build_invoice(
        self, data: Mapping[str, Any], invoice_id: str, current: InvoiceRecord | None
    ) -> InvoiceRecord:
        """Validate an invoice body into a draft record.

        The invoice takes the client's currency: prices sent in another currency are
        converted with the sandbox exchange rates.
        """
        if not isinstance(data, Mapping):
            raise validation("must be an object", "/")
        client_id = data.get("client_id")
        if not client_id:
            raise validation("can't be blank", "/client_id", "blank")
        client = self._clients.get(str(client_id))
        if client is None:
            raise validation("Client not found", "/client_id", "not_found")
        missing = client.missing_for_invoicing()
        if missing:
            raise validation(
                f"The client cannot be invoiced until it has: {', '.join(missing)}",
                "/client_id",
            )
        if data.get("issue_date") is None:
            raise validation("can't be blank", "/issue_date", "blank")
        issue_date = parse_date(data["issue_date"], "/issue_date")
        if data.get("due_date") is None:
            raise validation("can't be blank", "/due_date", "blank")
        due_date = parse_date(data["due_date"], "/due_date")
        if due_date < issue_date:
            raise validation(
                "must be on or after the issue date", "/due_date", "greater_than_or_equal_to"
            )
        status = data.get("status")
        if status not in (None, "draft"):
            raise validation("status must be draft on creation", "/status", "not_in_list")
        target = str(client.attrs["currency"])
        sent_currency = target
        if data.get("currency") is not None:
            sent_currency = parse_currency(data["currency"], "/currency")
        payment_methods = self._payment_methods(data.get("payment_methods"))
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise validation("must contain at least one item", "/items", "blank")
        lines: list[Line] = []
        for index, item in enumerate(items):
            line, price_currency = parse_line(item, f"/items/{index}", sent_currency)
            check_vat_rate(line.vat_rate, self.legal_country, f"/items/{index}/vat_rate")
            rate = conversion_rate(self.exchange_rates, price_currency, target)
            lines.append(line.converted(rate) if rate != 1 else line)
        discount = parse_discount(data.get("discount"), "/discount")
        if discount is not None:
            rate = conversion_rate(self.exchange_rates, sent_currency, target)
            discount = discount.converted(rate) if rate != 1 else discount
        number = data.get("number")
        if number is not None:
            if not isinstance(number, str) or not number.strip() or len(number) > 40:
                raise validation("must be a string of 1 to 40 characters", "/number")
            own = current.number if current is not None else None
            if number != own and number in self._invoice_numbers:
                raise validation("has already been taken", "/number", "taken")
        extra = invoice_extra(data)
        now = self._now()
        if current is not None and current.number and current.number != number:
            self._invoice_numbers.discard(current.number)
        if number is not None:
            self._invoice_numbers.add(number)
        return InvoiceRecord(
            id=invoice_id,
            organization_id=self.organization_id,
            status="draft",
            client_id=client.id,
            client=client.render(),
            currency=target,
            lines=tuple(lines),
            discount=discount,
            totals=compute(lines, discount),
            number=number,
            issue_date=issue_date,
            due_date=due_date,
            payment_methods=payment_methods,
            extra=extra,
            source=dict(data),
            created_at=current.created_at if current is not None else now,
            updated_at=now,
        )

    def _payment_methods(self, value: Any) -> list[dict[str, Any]]:
        """``payment_methods: {iban}``: the IBAN of one of the organization's accounts."""
        if not isinstance(value, Mapping) or not value.get("iban"):
            raise validation("can't be blank", "/payment_methods/iban", "blank")
        iban = str(value["iban"]).replace(" ", "").upper()
        if iban != self.iban:
            raise validation(
                "must be the IBAN of one of the organization's accounts",
                "/payment_methods/iban",
            )
        return [
            {
                "type": "transfer",
                "iban": iban,
                "bic": "QNTOFRP1XXX",
                "beneficiary_name": self.organization_name,
            }
        ]

    def _next_number(self, prefix: str, year: int, used: set[str]) -> str:
        """Next free automatic number, ``F-2026-00042`` style, per prefix and year."""
        counter = self._numbers.get((prefix, year), 0)
        while True:
            counter += 1
            number = f"{prefix}-{year}-{counter:05d}"
            if number not in used:
                self._numbers[(prefix, year)] = counter
                used.add(number)
                return number

    def _invoices_by_creation(self) -> list[InvoiceRecord]:
        """Invoices in creation order, cached until one is added, replaced or deleted."""
        if self._invoice_order is None:
            self._invoice_order = sorted(
                self._invoices.values(), key=lambda row: (row.created_at, row.id)
            )
        return self._invoice_order

    # -------------------------------------------------------- credit notes

    def create_credit_note(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A credit note against a finalised invoice.

        Quantities are sent positive and stored negated. The credit notes of an invoice may
        not add up to more than its total; reaching it exactly cancels the invoice.
        """
        with self._lock:
            note = self._add_credit_note(data, new_id(self._rng), self._now())
            self._changed(self._invoices[note.invoice_id])
            return note.render()

    def load_credit_note(
        self, data: Mapping[str, Any], credit_note_id: str, created_at: datetime
    ) -> str:
        """Import a credit note for setup: same rules, given id and time, no webhook."""
        with self._lock:
            note = self._add_credit_note(data, credit_note_id, utc_ms(created_at))
            invoice = self._invoices[note.invoice_id]
            invoice.changed(max(invoice.updated_at, note.created_at))
            return note.id

    def _add_credit_note(
        self, data: Mapping[str, Any], credit_note_id: str, created_at: datetime
    ) -> CreditNoteRecord:
        """Validate and store a credit note; cancel the invoice when fully credited."""
        if not isinstance(data, Mapping):
            raise validation("must be an object", "/")
        invoice_id = data.get("invoice_id")
        if not invoice_id:
            raise validation("can't be blank", "/invoice_id", "blank")
        invoice = self._invoices.get(str(invoice_id))
        if invoice is None:
            raise validation("Client invoice not found", "/invoice_id", "not_found")
        if invoice.status not in ("unpaid", "paid"):
            raise QontoError(
                422,
                "invalid_status",
                f"A credit note cannot be created for a client invoice with status "
                f"{invoice.status}",
                pointer="/invoice_id",
            )
        issue_date = created_at.date()
        if data.get("issue_date") is not None:
            issue_date = parse_date(data["issue_date"], "/issue_date")
        currency = invoice.currency
        if data.get("currency") is not None:
            currency = parse_currency(data["currency"], "/currency")
            if currency != invoice.currency:
                raise validation(f"must be the invoice currency ({invoice.currency})", "/currency")
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise validation("must contain at least one item", "/items", "blank")
        lines = [
            parse_line(item, f"/items/{index}", currency)[0].negated()
            for index, item in enumerate(items)
        ]
        for index, line in enumerate(lines):
            check_vat_rate(line.vat_rate, self.legal_country, f"/items/{index}/vat_rate")
        discount = parse_discount(data.get("discount"), "/discount")
        totals = compute(lines, discount)
        credited = sum(
            (-self._credit_notes[cid].totals.total for cid in invoice.credit_note_ids),
            Decimal(0),
        )
        if credited - totals.total > invoice.totals.total:
            raise validation(
                "The cumulative total of all credit notes for an invoice cannot exceed the "
                f"invoice amount ({invoice.totals.total} {currency}; already credited "
                f"{credited} {currency})",
                "/items",
                "less_than_or_equal_to",
            )
        number = data.get("number")
        if number is not None:
            if not isinstance(number, str) or not number.strip() or len(number) > 40:
                raise validation("must be a string of 1 to 40 characters", "/number")
            if number in self._credit_note_numbers:
                raise validation("has already been taken", "/number", "taken")
        elif not self.automatic_numbering:
            raise validation(
                "can't be blank when automatic numbering is disabled", "/number", "blank"
            )
        extra: dict[str, Any] = {}
        for key in ("reason", "terms_and_conditions", "header", "footer", "contact_email"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise validation("must be a string", f"/{key}")
            extra[key] = value
        if number is None:
            number = self._next_number("AV", issue_date.year, self._credit_note_numbers)
        else:
            self._credit_note_numbers.add(number)
        note = CreditNoteRecord(
            id=credit_note_id,
            invoice_id=invoice.id,
            number=number,
            issue_date=issue_date,
            invoice_issue_date=invoice.issue_date,
            currency=currency,
            lines=tuple(lines),
            discount=discount,
            totals=totals,
            client=dict(invoice.client),
            extra=extra,
            created_at=created_at,
            attachment_id=new_id(self._rng),
        )
        self._credit_notes[note.id] = note
        invoice.credit_note_ids.append(note.id)
        if credited - totals.total == invoice.totals.total:
            invoice.status = "canceled"
        return note

    def get_credit_note(self, credit_note_id: str) -> dict[str, Any] | None:
        """One credit note, or ``None``."""
        with self._lock:
            note = self._credit_notes.get(credit_note_id)
            return note.render() if note is not None else None

    def credit_notes(self) -> list[dict[str, Any]]:
        """Every credit note, oldest first."""
        with self._lock:
            return [note.render() for note in self._credit_notes.values()]

    def list_credit_notes(self, query: Mapping[str, str]) -> Page:
        """``GET /v2/credit_notes`` with created-at filters, sort and paging."""
        sort = _sort_option(query, ("created_at:desc", "created_at:asc"), "created_at:desc")
        created = _time_range(query, "created_at")
        with self._lock:
            rows = [
                note for note in self._credit_notes.values() if _in_range(note.created_at, *created)
            ]
        rows.sort(key=lambda note: (note.created_at, note.id), reverse=sort == "created_at:desc")
        page, meta = paginate(rows, query)
        return Page(page, meta)

    # ------------------------------------------------------------ products

    def create_product(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add a catalogue product."""
        with self._lock:
            if not isinstance(data, Mapping):
                raise validation("must be an object", "/")
            now = self._now()
            record = ProductRecord(
                new_id(self._rng), self.organization_id, normalize_product(data), now, now
            )
            self._products[record.id] = record
            return record.render()

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        """One product, or ``None``."""
        with self._lock:
            record = self._products.get(product_id)
            return record.render() if record is not None else None

    def list_products(self, query: Mapping[str, str]) -> Page:
        """``GET /v2/products`` with ``filter[type]``, sort and paging."""
        sort = _sort_option(
            query, ("created_at:asc", "created_at:desc", "title:asc", "title:desc"), "title:asc"
        )
        kind = query.get("filter[type]")
        if kind and kind not in ("good", "service"):
            raise bad_parameter("type must be one of: good, service", "filter[type]", "not_in_list")
        with self._lock:
            rows = [p for p in self._products.values() if not kind or p.attrs["type"] == kind]
        field, _, direction = sort.partition(":")
        if field == "title":
            rows.sort(key=lambda p: (fold(p.attrs["title"]), p.id))
        else:
            rows.sort(key=lambda p: (p.created_at, p.id))
        if direction == "desc":
            rows.reverse()
        page, meta = paginate(rows, query)
        return Page(page, meta)

    # ------------------------------------------------------------ webhooks

    def subscribe_webhook(
        self,
        callback_url: str,
        types: Sequence[str],
        secret: str | None = None,
        description: str | None = None,
        scopes: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Create a webhook subscription; ``scopes`` (the caller's) are checked per type."""
        body: dict[str, Any] = {"callback_url": callback_url, "types": list(types)}
        if secret is not None:
            body["secret"] = secret
        if description is not None:
            body["description"] = description
        return self.create_subscription(body, scopes)

    def create_subscription(
        self, data: Mapping[str, Any], scopes: frozenset[str] | None
    ) -> dict[str, Any]:
        """``POST /v2/webhook_subscriptions``."""
        with self._lock:
            fields = self._subscription_fields(data, scopes, partial=False)
            now = format_timestamp(self._now())
            secret = fields.pop("secret", None) or (
                "whsec_" + base64.b64encode(self._rng.randbytes(32)).decode()
            )
            subscription = {
                "id": new_id(self._rng),
                "organization_id": self.organization_id,
                "membership_id": self.membership_id,
                "callback_url": fields["callback_url"],
                "types": fields["types"],
                "description": fields.get("description"),
                "created_at": now,
                "updated_at": now,
                "secret": secret,
            }
            self._subscriptions[subscription["id"]] = subscription
            return dict(subscription)

    def update_subscription(
        self, subscription_id: str, data: Mapping[str, Any], scopes: frozenset[str] | None
    ) -> dict[str, Any]:
        """``PUT``/``PATCH /v2/webhook_subscriptions/{id}``: change URL, types or description."""
        with self._lock:
            subscription = self._subscription(subscription_id)
            fields = self._subscription_fields(data, scopes, partial=True)
            subscription.update(fields)
            subscription["updated_at"] = format_timestamp(self._now())
            return dict(subscription)

    def delete_subscription(self, subscription_id: str) -> None:
        """``DELETE /v2/webhook_subscriptions/{id}``."""
        with self._lock:
            self._subscription(subscription_id)
            del self._subscriptions[subscription_id]

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        """One subscription or 404."""
        with self._lock:
            return dict(self._subscription(subscription_id))

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription, oldest first."""
        with self._lock:
            return [dict(s) for s in self._subscriptions.values()]

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        """Subscription by id or 404."""
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise not_found("Webhook subscription")
        return subscription

    def _subscription_fields(
        self, data: Mapping[str, Any], scopes: frozenset[str] | None, partial: bool
    ) -> dict[str, Any]:
        """Validate ``callback_url``, ``types``, ``secret`` and ``description``."""
        if not isinstance(data, Mapping):
            raise validation("must be an object", "/")
        fields: dict[str, Any] = {}
        url = data.get("callback_url")
        if url is not None or not partial:
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise validation("must be an HTTPS URL", "/callback_url")
            if len(url) > 512:
                raise validation(
                    "is too long (maximum is 512 characters)", "/callback_url", "too_long"
                )
            fields["callback_url"] = url
        types = data.get("types")
        if types is not None or not partial:
            if not isinstance(types, list) or not types:
                raise validation("must contain at least one event type", "/types", "blank")
            for index, kind in enumerate(types):
                if kind not in WEBHOOK_TYPES:
                    raise validation(
                        f"must be one of: {', '.join(WEBHOOK_TYPES)}",
                        f"/types/{index}",
                        "not_in_list",
                    )
                needed = WEBHOOK_TYPE_SCOPES.get(kind, DEFAULT_WEBHOOK_TYPE_SCOPE)
                if scopes is not None and needed not in scopes:
                    raise QontoError(
                        403,
                        "forbidden",
                        f"Subscribing to {kind} needs the {needed} scope",
                        pointer=f"/types/{index}",
                    )
            fields["types"] = list(dict.fromkeys(types))
        secret = data.get("secret")
        if secret is not None:
            if partial:
                raise validation("cannot be changed", "/secret")
            if not isinstance(secret, str) or not 32 <= len(secret) <= 128:
                raise validation("must be 32 to 128 characters long", "/secret")
            fields["secret"] = secret
        description = data.get("description")
        if description is not None:
            if not isinstance(description, str) or len(description) > 256:
                raise validation("must be a string of at most 256 characters", "/description")
            fields["description"] = description
        return fields

    def _emit(self, event_type: str, action: str, resource_id: str, data: dict[str, Any]) -> None:
        """Queue one event per subscription to ``event_type`` (caller holds the lock)."""
        created_at = self._now()
        for subscription in self._subscriptions.values():
            if event_type not in subscription["types"]:
                continue
            event_id = new_id(self._rng)
            envelope = {
                "id": event_id,
                "subscription_id": subscription["id"],
                "organization_id": self.organization_id,
                "membership_id": self.membership_id,
                "type": event_type,
                "created_at": format_timestamp(created_at),
                "data": {"event": action, **data},
            }
            event = WebhookEvent(
                event_id=event_id,
                subscription_id=subscription["id"],
                type=event_type,
                action=action,
                resource_id=resource_id,
                callback_url=subscription["callback_url"],
                secret=subscription["secret"],
                body=dumps(envelope),
                created_at=created_at,
            )
            self._events[event_id] = event
            self._webhooks.submit(event)

    def webhook_events(self) -> list[WebhookEvent]:
        """Every event generated so far, oldest first."""
        with self._lock:
            return list(self._events.values())

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every delivery attempt so far, oldest first."""
        return self._webhooks.deliveries()

    def replay_webhook(self, event_id: str) -> WebhookEvent:
        """Send an event again, same id and body (receivers must de-duplicate)."""
        with self._lock:
            event = self._event(event_id)
            self._webhooks.submit(event)
            return event

    def send_webhook_with_bad_signature(self, event_id: str) -> WebhookEvent:
        """Send an event once, signed with the wrong secret (receivers must refuse it)."""
        with self._lock:
            event = self._event(event_id)
            self._webhooks.submit(event, bad_signature=True)
            return event

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Block until every queued webhook was delivered or given up; ``TimeoutError`` if not."""
        self._webhooks.wait(timeout)

    def _event(self, event_id: str) -> WebhookEvent:
        """Event by id; unknown ids are a caller error."""
        event = self._events.get(event_id)
        if event is None:
            raise KeyError(f"no webhook event {event_id!r}")
        return event

    def close(self) -> None:
        """Stop the webhook thread after it has drained its queue."""
        self._webhooks.close()

    # ---------------------------------------------------------- bulk import

    def load_client(self, data: Mapping[str, Any], client_id: str, created_at: datetime) -> str:
        """Import one client for setup: validated like a create, no webhook, given id and time."""
        with self._lock:
            attrs = normalize_client(data, self.legal_country == "IT")
            moment = utc_ms(created_at)
            self._clients[client_id] = ClientRecord(client_id, attrs, moment, moment)
            self._client_orders.clear()
            return client_id

    def load_invoice(
        self,
        data: Mapping[str, Any],
        invoice_id: str,
        created_at: datetime,
        status: str = "draft",
        paid_at: datetime | None = None,
    ) -> str:
        """Import one invoice for setup, in any status, without webhooks.

        Finalised statuses get a number (automatic unless given) and ``finalized_at`` equal to
        ``created_at``.
        """
        if status not in ("draft", "unpaid", "paid", "canceled"):
            raise ValueError(f"unknown invoice status {status!r}")
        with self._lock:
            record = self._build_invoice(data, invoice_id=invoice_id, current=None)
            moment = utc_ms(created_at)
            record.created_at = record.updated_at = moment
            if status != "draft":
                if record.number is None:
                    record.number = self._next_number(
                        "F", record.issue_date.year, self._invoice_numbers
                    )
                record.finalized_at = moment
                record.attachment_id = new_id(self._rng)
            if status == "paid":
                record.paid_at = utc_ms(paid_at) if paid_at is not None else moment
                record.updated_at = max(moment, record.paid_at)
            record.status = status
            self._invoices[invoice_id] = record
            self._invoice_order = None
            return invoice_id
