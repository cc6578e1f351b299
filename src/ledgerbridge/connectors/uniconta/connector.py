"""Uniconta connector: debtors (customers) over OData reads and batched REST writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
)
from ledgerbridge.connectors.uniconta.client import (
    DEFAULT_BASE_URL,
    UnicontaClient,
    odata_quote,
)
from ledgerbridge.connectors.uniconta.mapping import DEBTOR

MAX_FILTER_KEYS = 40
"""Keys per ``Account eq … or …`` lookup: keeps URLs well under common 8 KB limits."""

CHANGE_URL_TABLES = {"Debtor": "party"}
"""Change URL table names (entity class without ``Client``) → canonical entity."""


class UnicontaConnector(Connector):
    system = "uniconta"
    mappings: Mapping[str, EntityMapping] = {"party": DEBTOR}

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        meter: CallMeter,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.company_id = int(settings["company_id"])
        self.client = UnicontaClient(
            base_url=settings.get("base_url") or DEFAULT_BASE_URL,
            company_id=self.company_id,
            username=str(settings["username"]),
            password=str(secrets["password"]),
            meter=meter,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def _remote(self, entity: str) -> EntityMapping:
        return self.mappings[entity]

    def test(self) -> str:
        sets = self.client.service_document()
        return f"Uniconta company {self.company_id} ({len(sets)} entity sets available)"

    def read_page(self, entity: str, after: str | None, limit: int) -> Page:
        mapping = self._remote(entity)
        rows = self.client.query(
            mapping.remote_entity,
            filter=f"Account gt {odata_quote(after)}" if after is not None else None,
            orderby="Account",
            top=limit,
        )
        last = mapping.remote_id(rows[-1]) if rows else None
        return Page(records=rows, after=last if len(rows) >= limit else None)

    def fetch_many(self, entity: str, remote_ids: list[str]) -> dict[str, JSON]:
        return self.find_by_business_key(entity, remote_ids)

    def find_by_business_key(self, entity: str, keys: list[str]) -> dict[str, JSON]:
        # The Account is both the remote id and the business key of debtors.
        mapping = self._remote(entity)
        found: dict[str, JSON] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), MAX_FILTER_KEYS):
            chunk = unique[start : start + MAX_FILTER_KEYS]
            expression = " or ".join(f"Account eq {odata_quote(k)}" for k in chunk)
            for row in self.client.query(mapping.remote_entity, filter=expression):
                found[mapping.remote_id(row)] = row
        return found

    def create_many(self, entity: str, payloads: list[JSON]) -> list[JSON]:
        stored = self.client.insert(self._remote(entity).remote_entity, payloads)
        if len(stored) != len(payloads):
            raise RemoteRejected(f"Uniconta stored {len(stored)} of {len(payloads)} records")
        return stored

    def update_many(self, entity: str, payloads: list[JSON]) -> list[JSON]:
        stored = self.client.update(self._remote(entity).remote_entity, payloads)
        if len(stored) != len(payloads):
            raise RemoteRejected(f"Uniconta stored {len(stored)} of {len(payloads)} records")
        return stored

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        entity = CHANGE_URL_TABLES.get(query.get("Table", ""))
        key = query.get("Key")
        if entity is None or not key:
            return []
        if str(query.get("CompanyId", self.company_id)) != str(self.company_id):
            return []
        operation: Literal["upsert", "delete"] = (
            "delete" if query.get("Operation") == "Delete" else "upsert"
        )
        data: JSON | None = None
        if body and operation == "upsert":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            data = parsed if isinstance(parsed, dict) else None
        return [ChangeNotice(entity=entity, remote_id=key, operation=operation, data=data)]
