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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ledgerbridge.sandbox.uniconta.callbacks import Callback, CallbackDispatcher
from ledgerbridge.sandbox.uniconta.entities import (
    ENTITIES,
    EntityDef,
    InvalidValueError,
    Kind,
    coerce_input,
    to_json_value,
)

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
USER_TYPES = ("Server", "Standard")
THROTTLE_WINDOW = timedelta(hours=24)

Row = dict[str, Any]
Key = str | int


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
    companies: list[int] = field(default_factory=list)

    @property
    def standard_company(self) -> int:
        """Company used when the login name carries no ``00<CompanyId>/`` prefix."""
        return self.companies[0]


class Company:
    """One Uniconta company: a table per catalogue entity and its Change URL setting."""

    def __init__(self, company_id: int, name: str) -> None:
        self.company_id = company_id
        self.name = name
        self.tables: dict[str, dict[Key, Row]] = {entity: {} for entity in ENTITIES}
        self.next_row_id: dict[str, int] = dict.fromkeys(ENTITIES, 1)
        self.change_url: str | None = None
        self.post_body = False
        self._in_key_order: dict[str, list[Row]] = {}

    def rows_in_key_order(self, entity: str) -> list[Row]:
        """Rows sorted by key, cached until the next write so paging stays cheap at 20,000 rows."""
        rows = self._in_key_order.get(entity)
        if rows is None:
            table = self.tables[entity]
            rows = [table[key] for key in sorted(table)]
            self._in_key_order[entity] = rows
        return rows

    def changed(self, entity: str) -> None:
        """Drop the cached key order after a write."""
        self._in_key_order.pop(entity, None)

    def __repr__(self) -> str:
        return f"Company({self.company_id}, {self.name!r})"


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
    """Catalogue entry for an entity name, or a 404 naming the unknown entity."""
    entity = ENTITIES.get(name)
    if entity is None:
        raise SandboxError("UnknownEntity", f"Entity '{name}' does not exist", status=404)
    return entity


def row_to_json(row: Mapping[str, Any], select: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON form of a stored row; null properties are omitted, as Uniconta does."""
    if select is None:
        return {name: to_json_value(value) for name, value in row.items() if value is not None}
    return {name: to_json_value(row[name]) for name in select if row.get(name) is not None}


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

    def add_company(self, company_id: int, name: str) -> Company:
        """Create an empty company with every catalogue entity."""
        with self._lock:
            if company_id in self._companies:
                raise ValueError(f"company {company_id} already exists")
            company = Company(company_id, name)
            self._companies[company_id] = company
            return company

    def add_user(
        self,
        company_id: int,
        username: str,
        password: str,
        user_type: str = "Server",
        roles: Iterable[str] = (),
    ) -> User:
        """Give a user rights to a company, creating the user on first call.

        Adding an existing user to another company keeps its standard company and sets the
        password given.
        """
        if user_type not in USER_TYPES:
            raise ValueError(f"user_type must be one of {USER_TYPES}, got {user_type!r}")
        with self._lock:
            self._company(company_id)
            user = self._users.get(username)
            if user is None:
                user = User(username, password, user_type, tuple(roles))
                self._users[username] = user
            else:
                user.password = password
                user.user_type = user_type
                user.roles = tuple(dict.fromkeys((*user.roles, *roles)))
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
        definition = entity_def(entity)
        with self._lock:
            company = self._company(company_id)
            stored_key = self._lookup_key(definition, key)
            current = company.tables[definition.name].get(stored_key)
            if current is None:
                raise SandboxError(
                    "RecordNotFound",
                    f"{definition.name} with {definition.key} {key!r} does not exist",
                )
            merged = {**row_to_json(current), **changes, definition.key: current[definition.key]}
            return self.api_update(company_id, entity, [merged])[0]

    def delete(self, company_id: int, entity: str, key: Key) -> None:
        """Delete one record by key (a UI delete); fires the Change URL callback."""
        definition = entity_def(entity)
        self.api_delete(company_id, entity, [{definition.key: self._lookup_key(definition, key)}])

    def get(self, company_id: int, entity: str, key: Key) -> dict[str, Any] | None:
        """One record in its JSON form, or ``None``."""
        definition = entity_def(entity)
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
        """Bulk import for setting up data: validated like Insert, but it may also set
        read-only values (``Created``, balances) and it fires no callbacks.
        """
        definition = entity_def(entity)
        with self._lock:
            company = self._company(company_id)
            table = company.tables[definition.name]
            prepared: list[Row] = []
            seen: set[Key] = set()
            for index, data in enumerate(rows):
                row = self._prepare(definition, data, index, allow_read_only=True)
                self._check_new_key(definition, row, table, seen, f"item {index}: ")
                prepared.append(row)
            keys: list[Key] = []
            for row in prepared:
                self._assign_server_values(company, definition, row, keep_created=True)
                key = row[definition.key]
                table[key] = self._ordered(definition, row)
                keys.append(key)
            company.changed(definition.name)
            return keys

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

    def snapshot(self, company_id: int, entity: str) -> list[Row]:
        """Stored rows in key order. Rows are never mutated in place, so the list may be
        filtered outside the lock.
        """
        definition = entity_def(entity)
        with self._lock:
            return list(self._company(company_id).rows_in_key_order(definition.name))

    def api_insert(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Insert: all items or none; returns the rows as stored."""
        definition = entity_def(entity)
        with self._lock:
            company = self._company(company_id)
            table = company.tables[definition.name]
            prepared: list[Row] = []
            seen: set[Key] = set()
            for index, data in enumerate(items):
                row = self._prepare(definition, data, self._index(items, index))
                self._check_new_key(definition, row, table, seen, self._where(items, index))
                prepared.append(row)
            stored: list[Row] = []
            for row in prepared:
                self._assign_server_values(company, definition, row, keep_created=False)
                ordered = self._ordered(definition, row)
                table[ordered[definition.key]] = ordered
                stored.append(ordered)
                self._notify(company, definition, ordered, "Insert")
            company.changed(definition.name)
            return [row_to_json(row) for row in stored]

    def api_update(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Update: each item replaces the stored entity; omitted properties become null
        (or the type default for numbers and booleans). All items or none.
        """
        definition = entity_def(entity)
        with self._lock:
            company = self._company(company_id)
            table = company.tables[definition.name]
            staged: dict[Key, Row] = {}
            order: list[Key] = []
            for index, data in enumerate(items):
                key = self._key_of(definition, data, items, index)
                current = staged.get(key, table.get(key))
                if current is None:
                    raise self._not_found(definition, key, items, index)
                row = self._prepare(definition, data, self._index(items, index))
                for name in definition.read_only:
                    if name in current:
                        row[name] = current[name]
                staged[key] = self._ordered(definition, row)
                order.append(key)
            for key in order:
                table[key] = staged[key]
                self._notify(company, definition, staged[key], "Update")
            company.changed(definition.name)
            return [row_to_json(staged[key]) for key in order]

    def api_delete(
        self, company_id: int, entity: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """REST Delete: rows identified by key; all or none. Returns the deleted rows."""
        definition = entity_def(entity)
        with self._lock:
            company = self._company(company_id)
            table = company.tables[definition.name]
            keys: list[Key] = []
            for index, data in enumerate(items):
                key = self._key_of(definition, data, items, index)
                if key not in table or key in keys:
                    raise self._not_found(definition, key, items, index)
                keys.append(key)
            removed = [table.pop(key) for key in keys]
            company.changed(definition.name)
            for row in removed:
                self._notify(company, definition, row, "Delete")
            return [row_to_json(row) for row in removed]

    # -------------------------------------------------------------- helpers

    def _company(self, company_id: int) -> Company:
        """Company by id; unknown ids are a programming error in setup code."""
        company = self._companies.get(company_id)
        if company is None:
            raise SandboxError("UnknownCompany", f"Company {company_id} does not exist", 404)
        return company

    def _prepare(
        self,
        definition: EntityDef,
        data: Mapping[str, Any],
        index: int | None,
        allow_read_only: bool = False,
    ) -> Row:
        """Validate a JSON object into a stored row (full-replace semantics)."""
        where = f"item {index}: " if index is not None else ""
        if not isinstance(data, Mapping):
            raise SandboxError(
                "InvalidRequest", f"{where}{definition.name} records must be JSON objects"
            )
        key_value = data.get(definition.key)
        label = definition.name
        if key_value is not None:
            label = f"{definition.name} {definition.key} {key_value!r}"
        row: Row = {}
        for name, value in data.items():
            if name.startswith("@odata."):
                continue
            ftype = definition.fields.get(name)
            if ftype is None:
                raise SandboxError(
                    "FieldNotFound",
                    f"{where}{label}: property '{name}' does not exist on {definition.name}",
                )
            if name in definition.read_only and not allow_read_only:
                continue
            try:
                row[name] = coerce_input(ftype, value)
            except InvalidValueError as exc:
                raise SandboxError(
                    "InvalidValue", f"{where}{label}: property '{name}': {exc}"
                ) from exc
        for name, ftype in definition.fields.items():
            if not ftype.nullable and row.get(name) is None:
                row[name] = ftype.default
        return row

    def _assign_server_values(
        self, company: Company, definition: EntityDef, row: Row, keep_created: bool
    ) -> None:
        """Give a new row its RowId (and Created), as the server does on Insert."""
        row_id = company.next_row_id[definition.name]
        company.next_row_id[definition.name] = row_id + 1
        row["RowId"] = row_id
        if "Created" in definition.fields and not (keep_created and row.get("Created")):
            row["Created"] = self.clock.now().astimezone(UTC)

    @staticmethod
    def _ordered(definition: EntityDef, row: Row) -> Row:
        """Row with properties in catalogue order and nulls dropped (sparse storage)."""
        return {name: row[name] for name in definition.fields if row.get(name) is not None}

    def _lookup_key(self, definition: EntityDef, key: Key) -> Key:
        """Normalise a key given by Python callers (``"5"`` is accepted for an int key)."""
        if definition.key_type.kind is Kind.INT:
            if isinstance(key, int) and not isinstance(key, bool):
                return key
            if isinstance(key, str) and key.strip().lstrip("-").isdigit():
                return int(key)
            raise SandboxError("InvalidValue", f"{definition.name}: key {key!r} is not an integer")
        return str(key)

    def _key_of(
        self,
        definition: EntityDef,
        data: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        index: int,
    ) -> Key:
        """Key of an Update/Delete item, validated against the key type."""
        where = self._where(items, index)
        if not isinstance(data, Mapping):
            raise SandboxError(
                "InvalidRequest", f"{where}{definition.name} records must be JSON objects"
            )
        value = data.get(definition.key)
        if value is None or value == "":
            raise SandboxError(
                "KeyIsEmpty",
                f"{where}{definition.name}: key property '{definition.key}' is missing or empty",
            )
        try:
            key = coerce_input(definition.key_type, value)
        except InvalidValueError as exc:
            raise SandboxError(
                "InvalidValue",
                f"{where}{definition.name}: key property '{definition.key}': {exc}",
            ) from exc
        assert isinstance(key, str | int)
        return key

    @staticmethod
    def _index(items: Sequence[Any], index: int) -> int | None:
        """Item position for messages, only when the request was a batch."""
        return index if len(items) > 1 else None

    def _where(self, items: Sequence[Any], index: int) -> str:
        """Message prefix locating an item inside a batch."""
        position = self._index(items, index)
        return f"item {position}: " if position is not None else ""

    @staticmethod
    def _check_new_key(
        definition: EntityDef, row: Row, table: Mapping[Key, Row], seen: set[Key], where: str
    ) -> None:
        """Insert needs a non-empty key that is in neither the table nor the same batch."""
        if definition.server_key:
            return
        key = row.get(definition.key)
        if key is None or key == "":
            raise SandboxError(
                "KeyIsEmpty",
                f"{where}{definition.name}: key property '{definition.key}' is missing or empty",
            )
        if key in table or key in seen:
            raise SandboxError(
                "RecordExists",
                f"{where}{definition.name} with {definition.key} {key!r} already exists",
            )
        seen.add(key)

    def _not_found(
        self, definition: EntityDef, key: Any, items: Sequence[Any], index: int
    ) -> SandboxError:
        """RecordNotFound error for an Update/Delete of a missing key."""
        return SandboxError(
            "RecordNotFound",
            f"{self._where(items, index)}{definition.name} with {definition.key} {key!r} "
            "does not exist",
        )

    def _notify(self, company: Company, definition: EntityDef, row: Row, operation: str) -> None:
        """Queue the Change URL callback for a committed change (caller holds the lock)."""
        if company.change_url is None or not definition.master_data:
            return
        params = urlencode(
            {
                "CompanyId": company.company_id,
                "Table": definition.table,
                "Key": row[definition.key],
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
