"""The contract between the engine and a connector.

A connector knows its system's wire (client), how records map to canonical form (mappings) and
how to read and write them in pages and batches. It knows nothing of the store, the queue or
schedules: the engine decides what to sync, remembers what was synced and recovers from failures.
Canonical data crosses this boundary as JSON-mode dicts (``Model.model_dump(mode="json")``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

JSON = dict[str, Any]
CallMeter = Callable[[int], None]
"""Called with the number of API calls about to be made, before they are made. The engine
records them in the quota ledger and may raise to stop a run that would exceed the budget."""


class SkipRecord(Exception):
    """This record cannot sync now; ``reason`` is a stable code, ``message`` says what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ConnectorError(Exception):
    """Base of the failures a connector reports."""


class AuthenticationFailed(ConnectorError):
    """The credentials were refused: nothing will work until the user fixes them."""


class RemoteUnavailable(ConnectorError):
    """The request did not take effect (refused, throttled, 5xx on a read): safe to retry."""


class AmbiguousWrite(ConnectorError):
    """A write may or may not have taken effect (timeout or dropped connection after sending)."""


class RemoteRejected(ConnectorError):
    """The system refused the record itself (validation): retrying the same data will not help."""


@dataclass(frozen=True)
class Page:
    records: list[JSON]
    after: str | None
    """Keyset position to resume from; ``None`` when this was the last page."""


@dataclass(frozen=True)
class ChangeNotice:
    """A system told us that a record changed (callback or webhook)."""

    entity: str
    remote_id: str
    operation: Literal["upsert", "delete"]
    data: JSON | None = None


class EntityMapping(ABC):
    """How one canonical entity lives in one remote entity."""

    entity: str
    remote_entity: str
    fields: frozenset[str]
    """Canonical fields the remote carries; other fields of the hub record are left alone."""
    business_key_field: str | None = None
    """Canonical field holding the natural key the remote enforces (debtor number, invoice
    number): how a record is found again after an ambiguous create, and how an existing hub
    record is recognised on first import."""
    inbound: bool = True
    outbound: bool = True

    @abstractmethod
    def remote_id(self, remote: JSON) -> str:
        """The remote record's stable identity."""

    @abstractmethod
    def to_canonical(self, remote: JSON) -> JSON:
        """Wire → canonical fields (a subset of ``fields``). Raises ``SkipRecord``."""

    @abstractmethod
    def from_canonical(self, record: JSON, current: JSON | None) -> JSON:
        """Canonical record → wire payload, on top of the remote's current state when updating.
        Raises ``SkipRecord``."""

    def business_key(self, record: JSON) -> str | None:
        """The record's business key, if it has one."""
        if self.business_key_field is None:
            return None
        value = record.get(self.business_key_field)
        return str(value).strip() or None if value is not None else None

    def in_scope(self, record: JSON) -> bool:
        """Whether a hub record belongs in this remote entity at all (a supplier-only party is
        not a debtor)."""
        return True

    def defaults(self) -> JSON:
        """Canonical values given to a hub record first created from this remote entity."""
        return {}

    def project(self, record: JSON) -> JSON:
        """The part of a canonical record that this remote can hold, in the form it comes back:
        the round trip through the wire format. Comparing projections tells whether a change
        matters to the remote, and tells an echo of our own write from a real change."""
        return self.to_canonical(self.from_canonical(record, None))


class Connector(ABC):
    """One authenticated session with one account of an accounting system."""

    system: str
    mappings: Mapping[str, EntityMapping]

    @abstractmethod
    def test(self) -> str:
        """Check the credentials; returns a human description of what we are connected to."""

    @abstractmethod
    def read_page(self, entity: str, after: str | None, limit: int) -> Page:
        """Records of ``entity`` ordered by their key, strictly after ``after``."""

    @abstractmethod
    def fetch_many(self, entity: str, remote_ids: list[str]) -> dict[str, JSON]:
        """Current state of the given records (missing ones are absent from the result)."""

    @abstractmethod
    def find_by_business_key(self, entity: str, keys: list[str]) -> dict[str, JSON]:
        """Records whose business key is in ``keys``, by that key."""

    @abstractmethod
    def create_many(self, entity: str, payloads: list[JSON]) -> list[JSON]:
        """Create records in one batch; returns them as stored, in order."""

    @abstractmethod
    def update_many(self, entity: str, payloads: list[JSON]) -> list[JSON]:
        """Update records in one batch; returns them as stored, in order."""

    @abstractmethod
    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """Turn an inbound callback into change notices (unknown tables give none)."""

    @abstractmethod
    def close(self) -> None:
        """Release network resources."""
