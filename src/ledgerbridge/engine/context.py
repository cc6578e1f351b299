"""What one run of one job knows: the connection, its connector, counters and budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledgerbridge.connectors.base import Connector, EntityMapping
from ledgerbridge.engine.fence import FenceToken
from ledgerbridge.engine.hub import connection_origin
from ledgerbridge.engine.recorder import Observer

if TYPE_CHECKING:
    from ledgerbridge.engine.lookups import ProductIndex

INBOUND = "inbound"
OUTBOUND = "outbound"


def stream_enabled(
    settings: Mapping[str, Any], default_streams: frozenset[str], stream: str
) -> bool:
    """A connection's choice (``settings.entities.<stream>.enabled``); a stream it leaves out,
    or names without ``enabled``, keeps the system's default. So switching one stream on (the
    docs' "enable invoices") leaves the streams that are on by default on."""
    chosen = ((settings.get("entities") or {}).get(stream) or {}).get("enabled")
    return stream in default_streams if chosen is None else bool(chosen)


def reads_something(
    settings: Mapping[str, Any], default_streams: frozenset[str], streams: Iterable[str]
) -> bool:
    """Whether a job reading ``streams`` has one switched on (else it would do nothing)."""
    return any(stream_enabled(settings, default_streams, stream) for stream in streams)


@dataclass
class RunContext:
    connection_id: str
    tenant_id: str
    settings: dict[str, Any]
    connector: Connector
    run_id: str | None
    page_size: int
    write_batch_size: int
    system_title: str
    """The system's name as people write it (Uniconta), for the messages a run records."""
    heartbeat: Callable[[], None] = lambda: None
    counts: Counter[str] = field(default_factory=Counter)
    """Outcomes per ``<stream>.<outcome>``."""
    unlinked_keys: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per stream and field: hub records not yet linked, by that field's value (computed once
    per run)."""
    matched: set[str] = field(default_factory=set)
    """Hub records a remote record was matched to in this run (each is matched once)."""
    totals: dict[str, int] = field(default_factory=dict)
    """Records per stream, when the system can count them (import progress and ETA)."""
    product_index: ProductIndex | None = None
    """Hub products for invoice lines looked up by name and VAT rate (read once per run)."""
    observer: Observer | None = None
    """Sees every outcome (a preview's examples); ``None`` in a real run."""
    seen: dict[str, datetime] = field(default_factory=dict)
    """Per ``<stream>:<remote id>``: when the system told of a change (a callback's arrival),
    for the ``latest`` conflict rule; a record without one was seen when read."""
    fence: FenceToken | None = None
    """The run's epoch: inside ``fenced(ctx.fence)`` every engine write transaction checks it
    (``None``: a run outside the job runtime, whose writes are not fenced)."""

    @property
    def origin(self) -> str:
        return connection_origin(self.connection_id)

    def mapping(self, stream: str) -> EntityMapping:
        return self.connector.mappings[stream]

    def remote_name(self, stream: str) -> str:
        """What a user calls one of the stream's remote records (Uniconta contact), for
        messages in the sync log and issues."""
        return f"{self.system_title} {self.mapping(stream).remote_entity}"

    def directions(self, stream: str) -> tuple[bool, bool]:
        """(inbound, outbound) for a stream: the connector's abilities and the user's choice."""
        mapping = self.connector.mappings.get(stream)
        if mapping is None:
            return False, False
        if not stream_enabled(self.settings, self.connector.default_streams, stream):
            return False, False
        choice = (self.settings.get("entities") or {}).get(stream) or {}
        direction = choice.get("direction", "both")
        return (
            mapping.inbound and direction in ("both", INBOUND),
            mapping.outbound and direction in ("both", OUTBOUND),
        )

    def streams(self, *, inbound: bool = False, outbound: bool = False) -> list[str]:
        """Enabled streams in dependency order."""
        return [
            s
            for s in self.connector.mappings
            if (inbound and self.directions(s)[0]) or (outbound and self.directions(s)[1])
        ]
