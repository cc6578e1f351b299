"""The data-field mapping screen: the figures a system offers, the app's custom fields they
are mapped to, and "New custom field" to create one on the spot."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledgerbridge.connectors.base import DataField
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.services.connections import ConnectionService
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.records import RecordService
from ledgerbridge.services.tenancy import Principal

JSON = dict[str, Any]
PAGE = 1000


class DataFieldService:
    def __init__(self, connections: ConnectionService, records: RecordService) -> None:
        self._connections = connections
        self._records = records

    def catalogue(self, principal: Principal, connection_id: str) -> JSON:
        """Every figure with its label, unit, definition, whether it is a common one (the
        others sit behind "Show more") and the custom field it fills (None: not imported),
        plus the app's custom fields to pick from."""
        offered, summary = self._summary(principal, connection_id)
        mapped = summary.get("fields") or {}
        fields = [
            {
                "statistic": name,
                "label": field.label,
                "unit": field.unit,
                "definition": field.definition,
                "common": field.common,
                "custom_field": (str(mapped.get(name) or "").strip() or None),
            }
            for name, field in offered.items()
        ]
        return {"fields": fields, "custom_fields": self._custom_fields(principal)}

    def create_custom_field(
        self,
        principal: Principal,
        connection_id: str,
        statistic: str,
        *,
        label: str,
        key: str | None = None,
    ) -> JSON:
        """Create a summary-task custom field for one figure and map the figure to it, in one
        step; the app hears of the new field through the change feed."""
        principal.require_admin("creating a custom field")
        offered, summary = self._summary(principal, connection_id)
        field = offered.get(statistic)
        if field is None:
            offers = ", ".join(offered)
            raise NotFound(f"no data field '{statistic}'; this connection offers: {offers}")
        key = key or re.sub(r"\W+", "_", label).strip("_").lower()
        if not key:
            raise Invalid("give the custom field a label with letters or digits", field="label")
        created = self._records.create(
            principal,
            "custom_field",
            {"key": key, "label": label.strip(), "value_type": field.unit},
        )
        fields = {**(summary.get("fields") or {}), statistic: key}
        self._connections.configure(
            principal, connection_id, settings={"summary": {**summary, "fields": fields}}
        )
        return {"custom_field": {"id": created.id, **created.data}, "fields": fields}

    def _summary(
        self, principal: Principal, connection_id: str
    ) -> tuple[Mapping[str, DataField], JSON]:
        """The figures the connection's system offers, and its summary settings."""
        system, settings = self._connections.settings_of(principal, connection_id)
        spec = SYSTEMS[system]
        if not spec.data_fields:
            raise NotFound(f"{spec.name} offers no data fields for the app's custom fields")
        return spec.data_fields, dict(settings.get("summary") or {})

    def _custom_fields(self, principal: Principal) -> list[JSON]:
        found: list[JSON] = []
        after: str | None = None
        while True:
            page = self._records.list_page(principal, "custom_field", limit=PAGE, after=after)
            found += [{"id": view.id, **view.data} for view in page]
            if len(page) < PAGE:
                return found
            after = page[-1].id
