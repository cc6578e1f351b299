"""Code mappings (VAT codes, units, payment terms) and the system's own lists: what a user maps
and picks from. Each system's defaults are its own (``SystemSpec.codes``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import sqlalchemy as sa

from ledgerbridge.connectors.base import AuthenticationFailed, ConnectorError
from ledgerbridge.connectors.kit.codes import unmapped_code
from ledgerbridge.connectors.registry import SystemSpec
from ledgerbridge.engine.quota import QuotaExhausted
from ledgerbridge.services.connections.base import (
    JSON,
    UNMAPPED_REASONS,
    Opener,
    Part,
    system_spec,
)
from ledgerbridge.services.connections.settings import checked_settings
from ledgerbridge.services.errors import Invalid, NotFound
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.sync import SyncIssue

KIND_OF_REASON = dict(
    zip(UNMAPPED_REASONS, ("vat", "units", "payment_terms", "vat_groups"), strict=True)
)
"""Under which kind of ``waiting`` each reason's records are counted. Qonto's VAT groups are
found by rate and country, not mapped by code, so their waits are a kind of their own."""


class Codes(Part):
    def mappings(
        self, principal: Principal, connection_id: str, opener: Opener | None = None
    ) -> JSON:
        """The code mappings, over the system's defaults, with the system's own VAT codes and
        which of them are unmapped when ``opener`` lets us ask the system (owner or admin:
        it spends a call)."""
        if opener is not None:
            principal.require_admin("reading the system's codes (an API call)")
        system, settings = self.settings_of(principal, connection_id)
        codes = system_spec(system).codes
        view: JSON = {
            "vat": dict(settings.get("vat_mapping") or {}),
            "units": {**(codes.units or {}), **(settings.get("unit_mapping") or {})},
            "payment_terms": {
                **(codes.payment_terms or {}),
                **(settings.get("payment_terms") or {}),
            },
            "waiting": self.waiting(principal, connection_id),
        }
        if opener is not None:
            remote = self._read_lists(connection_id, system, opener).get("vat", [])
            view["remote_vat_codes"] = remote
            view["unmapped_vat_codes"] = [c["code"] for c in remote if c["code"] not in view["vat"]]
        return view

    def waiting(self, principal: Principal, connection_id: str) -> dict[str, dict[str, int]]:
        """Records skipped for a missing mapping, counted per kind and code (``{"vat": {"X99":
        12}}``): what mapping each code would let sync. Qonto's invoices waiting for a VAT
        group are counted per rate and country under ``vat_groups`` (``{"21% NL": 35}``), as
        the system's ``waiting_keys`` read them. A code the message does not name is counted
        under ``""``."""
        with self._sessions() as session:
            keys = system_spec(self._load(session, principal, connection_id).system).waiting_keys
            rows = session.execute(
                sa.select(SyncIssue.reason_code, SyncIssue.message).where(
                    SyncIssue.connection_id == connection_id,
                    SyncIssue.reason_code.in_(UNMAPPED_REASONS),
                )
            ).all()
        counts: dict[str, Counter[str]] = {kind: Counter() for kind in KIND_OF_REASON.values()}
        for reason, message in rows:
            named = keys.get(reason)
            code = named(message) if named else unmapped_code(reason, message)
            counts[KIND_OF_REASON[reason]][code or ""] += 1
        return {kind: dict(sorted(found.items())) for kind, found in counts.items()}

    def set_mappings(
        self,
        principal: Principal,
        connection_id: str,
        *,
        vat: Mapping[str, str | None] | None,
        units: Mapping[str, str | None] | None,
        payment_terms: Mapping[str, int | None] | None,
    ) -> JSON:
        """Save mappings over the saved ones, a code given ``None`` removed (a system's own
        default then applies again); records skipped for a missing mapping then sync by
        themselves."""
        principal.require_admin("changing mappings")
        with self._sessions.begin() as session:
            row = self._load(session, principal, connection_id)
            spec = system_spec(row.system)
            settings = dict(row.settings)
            given_codes = (
                ("vat_mapping", "vat", vat),
                ("unit_mapping", "units", units),
                ("payment_terms", "payment_terms", payment_terms),
            )
            for key, name, given in given_codes:
                if given is None:
                    continue
                _check_kind(spec, name)
                merged = {**(settings.get(key) or {}), **given}
                settings[key] = {code: v for code, v in merged.items() if v is not None}
            row.settings = checked_settings(spec, settings)
            row.updated_at = self._clock.now()
            tenant_id, ready = row.tenant_id, row.import_state == "done"
        if ready:
            self._reapply_unmapped(connection_id, tenant_id)
        return self.mappings(principal, connection_id)

    def remote_list(
        self, principal: Principal, connection_id: str, name: str, opener: Opener
    ) -> list[JSON]:
        """One of the system's own lists (``SystemSpec.lists``), read with the saved
        credentials: what the app shows a user to pick from (owner or admin: it spends
        calls)."""
        principal.require_admin("reading the system's lists (API calls)")
        system, _ = self.settings_of(principal, connection_id)
        offered = system_spec(system).lists
        if name not in offered:
            has = f"it has: {', '.join(offered)}" if offered else "it offers no lists"
            raise NotFound(f"{system_spec(system).title} has no list '{name}'; {has}")
        return self._read_lists(connection_id, system, opener).get(name, [])

    def _read_lists(self, connection_id: str, system: str, opener: Opener) -> dict[str, list[JSON]]:
        """The system's lists, read with the saved credentials; a failure says why (422), the
        refusal of credentials in the connector's own words (they say what to check)."""
        title = system_spec(system).title
        try:
            with opener(connection_id) as connector:
                return connector.code_lists()
        except AuthenticationFailed as exc:
            raise Invalid(f"the saved credentials do not work: {exc}", field="secrets") from exc
        except (ConnectorError, QuotaExhausted) as exc:
            raise Invalid(f"could not read {title}'s lists: {exc}", field="settings") from exc

    def _unmapped_warnings(
        self, connection_id: str, system: str, settings: JSON, opener: Opener | None
    ) -> list[str]:
        streams = streams_needing_vat(system, settings)
        if not streams or opener is None:
            return []
        try:
            lists = self._read_lists(connection_id, system, opener)
        except Invalid as exc:
            return [f"unmapped VAT codes not checked: {exc.message}"]
        codes = [c["code"] for c in lists.get("vat", [])]
        unmapped = [c for c in codes if c not in (settings.get("vat_mapping") or {})]
        if not unmapped:
            return []
        return [
            f"VAT codes {', '.join(unmapped)} are not mapped: {' and '.join(streams)} using "
            "them are skipped (not lost) and sync by themselves once the codes are mapped"
        ]


def streams_needing_vat(system: str, settings: JSON) -> list[str]:
    """The connection's streams that are on and whose records are skipped while a VAT code of
    the system is not mapped (Uniconta: only items read from it); none when it maps no VAT
    codes, or takes its own codes as they are."""
    codes = system_spec(system).codes
    if not codes.vat:
        return []
    entities = settings.get("entities") or {}
    return [s for s in codes.vat_streams(settings) if (entities.get(s) or {}).get("enabled")]


def _check_kind(spec: SystemSpec, name: str) -> None:
    used = {
        "vat": spec.codes.vat,
        "units": spec.codes.units is not None,
        "payment_terms": spec.codes.payment_terms is not None,
    }
    if not used[name]:
        raise Invalid(f"{spec.title} maps no {name.replace('_', ' ')}", field=name)
