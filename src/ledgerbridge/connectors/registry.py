"""Which connector serves which system, and what each needs to be configured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ledgerbridge.connectors.base import CallMeter, Connector
from ledgerbridge.connectors.uniconta.connector import UnicontaConnector

ConnectorFactory = Callable[
    [Mapping[str, Any], Mapping[str, Any], CallMeter, httpx.BaseTransport | None], Connector
]


@dataclass(frozen=True)
class SystemSpec:
    """Static facts about one accounting system."""

    name: str
    factory: ConnectorFactory
    required_settings: tuple[str, ...]
    required_secrets: tuple[str, ...]
    daily_call_limit: int
    quota_timezone: str
    """The zone in which the vendor's quota day starts."""
    page_size: int
    write_batch_size: int
    pull_cron: str
    """Safety-net pull schedule, in the connection's time zone."""

    def credential_key(self, settings: Mapping[str, Any]) -> str:
        """What the vendor counts calls against (for Uniconta: the user, across companies)."""
        return f"{self.name}:{settings.get('base_url', '')}:{settings.get('username', '')}"


SYSTEMS: dict[str, SystemSpec] = {
    "uniconta": SystemSpec(
        name="uniconta",
        factory=UnicontaConnector,
        required_settings=("company_id", "username"),
        required_secrets=("password",),
        daily_call_limit=5000,
        quota_timezone="Europe/Copenhagen",
        page_size=1000,
        write_batch_size=100,
        pull_cron="*/15 * * * *",
    ),
}
