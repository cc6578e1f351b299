"""What each system offers a connection, for ``GET /systems``: the settings and secrets a
form is built from, the streams and the directions each allows, the default schedules, the
jobs a user may run and the lists the system offers."""

from __future__ import annotations

from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec, directions
from ledgerbridge.connectors.settings import schema_of
from ledgerbridge.services.connections.base import JSON
from ledgerbridge.services.connections.configure import schedules


def systems() -> list[JSON]:
    return [describe(spec) for _, spec in sorted(SYSTEMS.items())]


def describe(spec: SystemSpec) -> JSON:
    return {
        "name": spec.name,
        "timezone": spec.timezone,
        "settings_schema": schema_of(spec.settings),
        "secrets_schema": schema_of(spec.secrets),
        "streams": [
            {
                "name": stream,
                "directions": list(directions(mapping)),
                "enabled_by_default": stream in spec.default_streams,
            }
            for stream, mapping in spec.streams.items()
        ],
        "schedules": [
            {"kind": kind, "cron": cron, "timezone": spec.timezone}
            for kind, cron in schedules(spec, {}).items()
        ],
        "job_kinds": list(spec.job_kinds),
        "lists": list(spec.lists),
        "code_mappings": {
            "vat": spec.codes.vat,
            "units": dict(spec.codes.units) if spec.codes.units is not None else None,
            "payment_terms": (
                dict(spec.codes.payment_terms) if spec.codes.payment_terms is not None else None
            ),
        },
        "daily_call_limit": spec.daily_call_limit,
        "quota_timezone": spec.quota_timezone,
        "oauth": spec.oauth is not None,
    }
