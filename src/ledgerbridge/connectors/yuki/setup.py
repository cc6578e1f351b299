"""The Yuki set-up: the login that lists what an access key reaches (before a connection
exists), and the checks that the key works, reaches the chosen domain, and the chosen
administration belongs to it; the hub hands out debtor numbers. Each refusal names the field
to fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ledgerbridge.clock import SystemClock
from ledgerbridge.connectors.base import JSON, CallMeter, SetupRefused, Verified
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.yuki.client import DEFAULT_BASE_URL, YukiClient
from ledgerbridge.connectors.yuki.mapping import DIRECTIONS

DEBTOR_NUMBERS_NEEDED = (
    "Yuki connections need automatic debtor-number generation: the hub is the leading system "
    "for debtor numbers, which become Yuki relationship codes and are how contacts are "
    "matched. Give the next debtor number to hand out, and a prefix if you use one "
    '(settings.debtor_numbers, e.g. {"next": 10000, "prefix": ""}).'
)
CALL_LIMITS = (1000, 5000, 10000)

DomainMeter = Callable[[str, int], None]
"""(domain id, calls): Yuki counts calls per domain; the calls made before one is chosen
(Authenticate, Domains) count under the empty id."""


def login(
    access_key: str, meter: DomainMeter, base_url: str | None = None, domain_id: str | None = None
) -> list[JSON]:
    """The domains an access key reaches, each with its administrations: what a user picks
    from when setting up (two calls, and two per domain listed). ``domain_id`` lists that
    domain only."""
    counted = {"domain": ""}
    client = YukiClient(
        base_url=base_url or DEFAULT_BASE_URL,
        access_key=access_key,
        meter=lambda calls: meter(counted["domain"], calls),
        clock=SystemClock(),
    )
    try:
        domains = {str(d["ID"]): d.get("Name") for d in client.domains()}
        if domain_id is not None and domain_id not in domains:
            raise unreachable(domain_id, domains, "domain_id")
        listed = []
        for did in [domain_id] if domain_id is not None else list(domains):
            counted["domain"] = did
            client.set_current_domain(did)
            listed.append(
                {
                    "domain_id": did,
                    "name": domains[did],
                    "administrations": [
                        {
                            "administration_id": str(a["ID"]),
                            "name": a.get("Name"),
                            "active": str(a.get("Active") or "true").lower() == "true",
                        }
                        for a in client.administrations()
                    ],
                }
            )
    finally:
        client.close()
    return listed


def unreachable(domain_id: str, domains: Mapping[str, Any], field: str) -> SetupRefused:
    """The refusal of a domain the access key does not reach, listing those it does."""
    listed = ", ".join(f"{name} ({did})" for did, name in domains.items()) or "none"
    return SetupRefused(
        f"the Yuki access key does not reach domain {domain_id}; it reaches: {listed}",
        field=field,
    )


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """Authenticate, list the domains the key reaches and the chosen domain's administrations
    (four calls, one of them Authenticate unless a session is cached)."""
    client = YukiClient(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
        access_key=str(secrets["access_key"]),
        meter=meter,
        clock=SystemClock(),
    )
    try:
        domains = {str(d["ID"]): d.get("Name") for d in client.domains()}
        domain_id = str(settings["domain_id"])
        if domain_id not in domains:
            raise unreachable(domain_id, domains, "settings.domain_id")
        client.set_current_domain(domain_id)
        administrations = {str(a["ID"]): a for a in client.administrations()}
    finally:
        client.close()
    administration_id = str(settings["administration_id"])
    chosen = administrations.get(administration_id)
    if chosen is None:
        listed = ", ".join(f"{a.get('Name')} ({aid})" for aid, a in administrations.items())
        raise SetupRefused(
            f"administration {administration_id} is not in Yuki domain {domains[domain_id]}; "
            f"its administrations: {listed or 'none'}",
            field="settings.administration_id",
        )
    warnings = []
    if str(chosen.get("Active") or "true").lower() != "true":
        warnings.append(f"Yuki administration {chosen.get('Name')} is not active")
    return Verified(
        settings={
            "yuki_domain": {"id": domain_id, "name": domains[domain_id]},
            "yuki_administration": {"id": administration_id, "name": chosen.get("Name")},
        },
        warnings=warnings,
    )


def check_settings(settings: Mapping[str, Any]) -> None:
    """Debtor numbers come from the hub, so a connection without a number sequence cannot be
    activated; contact-type directions and the call limit must be known values."""
    sequence = settings.get("debtor_numbers")
    if not isinstance(sequence, dict) or not _is_number(sequence.get("next")):
        raise SetupRefused(DEBTOR_NUMBERS_NEEDED, field="settings.debtor_numbers")
    if not isinstance(sequence.get("prefix", ""), str):
        raise SetupRefused(
            "settings.debtor_numbers.prefix must be text", field="settings.debtor_numbers"
        )
    for kind, direction in (settings.get("contact_types") or {}).items():
        if kind not in ("organisation", "person") or direction not in DIRECTIONS:
            raise SetupRefused(
                f"settings.contact_types.{kind} must be one of {', '.join(DIRECTIONS)} for "
                "organisation or person",
                field="settings.contact_types",
            )
    limit = settings.get("daily_call_limit")
    if limit is not None and (not _is_number(limit) or int(limit) < 1):
        raise SetupRefused(
            f"settings.daily_call_limit must be a positive number of calls (Yuki: "
            f"{', '.join(str(n) for n in CALL_LIMITS)} a day)",
            field="settings.daily_call_limit",
        )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True
