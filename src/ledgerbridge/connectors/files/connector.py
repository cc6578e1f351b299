"""The files connector: two inbound streams whose rows are already canonical records.

A file is read into canonical orders and refunds before it reaches the engine (by the file
jobs, with the connection's saved mapping), so the mapping is the identity and a record's
remote id is its own number in the shop (``source_id``: the order number, or the credit
note's number). The engine then gives each a link, a sync-log row and an update instead of a
second record when a corrected file brings it again. Nothing is ever written to a file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
)
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.model.commerce import Order, Refund

STREAM_ENTITIES = {"orders": "order", "refunds": "refund"}


class _FileRecordMapping(EntityMapping):
    """A record read from a file, keyed by the shop's own number."""

    outbound = False
    read_only_reason = "files_are_read_only"

    def remote_id(self, remote: JSON) -> str:
        return str(remote["source_id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return {name: value for name, value in remote.items() if name in self.fields}


class OrderFileMapping(_FileRecordMapping):
    entity = "order"
    remote_entity = "order"
    fields = frozenset(name for name in Order.model_fields if name != "id")


class RefundFileMapping(_FileRecordMapping):
    entity = "refund"
    remote_entity = "refund"
    fields = frozenset(name for name in Refund.model_fields if name != "id")


class FilesConnector(Connector):
    system = "files"
    default_streams = frozenset(STREAM_ENTITIES)

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.settings = dict(settings)
        self.mappings = {"orders": OrderFileMapping(), "refunds": RefundFileMapping()}

    def test(self) -> str:
        folder = self.settings.get("watch_folder")
        return f"files uploaded, and files dropped into {folder}" if folder else "files uploaded"

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        """Files arrive by upload or in the watched folder, never by reading a stream: an
        import or pull finds nothing to read."""
        return Page([], after, False)

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        """A record of a file cannot be read again on its own: a corrected file brings it."""
        return {}

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        return {}

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("files are read, never written", reason="files_are_read_only")

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected("files are read, never written", reason="files_are_read_only")

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return []

    def close(self) -> None:
        """Nothing to release: no client, no connection."""
