"""What every acquirer's payout stream declares: the canonical ``Payout`` record, read only,
incremental, known by the acquirer's payout id. A connector adds how its wire becomes a payout."""

from __future__ import annotations

from ledgerbridge.connectors.base import JSON, EntityMapping
from ledgerbridge.model.payout import Payout


class PayoutStream(EntityMapping):
    """Payouts, inbound only: the acquirer makes them. A payout read again unchanged is the
    same record; one whose status or lines changed (paid, then failed) is an update."""

    entity = "payout"
    remote_entity = "payout"
    fields = frozenset(Payout.model_fields) - {"id"}
    business_key_field = "source_id"
    incremental = True
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])
