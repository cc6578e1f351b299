"""streams left out of a connection's ``entities`` keep the system's default

Until now, once a connection's ``settings.entities`` named any stream, every stream it did not
name was off: switching invoices on (as the connector guides say) switched off the customers
that were on by default, and the web UI showed them on. From this revision a stream left out,
or named without ``enabled``, keeps the system's default. So that no existing connection starts
or stops syncing a stream by this change, each one with ``entities`` gets the choices it ran
with written out: ``enabled: false`` for a default stream it left out, ``enabled: true`` for a
stream it named without ``enabled``.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from ledgerbridge.store.base import JSONDoc

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

DEFAULT_STREAMS = {
    "uniconta": ("customers", "suppliers", "contacts"),
    "yuki": ("contacts", "customers", "invoices"),
    "qonto": ("customers",),
    "tripletex": ("vat_codes", "customers", "products", "period_statistics"),
    "files": ("orders", "refunds"),
    "woocommerce": ("products", "stock", "orders", "refunds"),
    "vipps_mobilepay": ("payouts",),
    "stripe": ("payouts",),
    "zettle": ("purchases", "refunds", "payouts"),
}
"""Each system's streams on by default when this revision was written (migrations are
frozen: a later change of a default must not change what this one writes)."""


def as_they_ran(system: str, entities: dict[str, Any]) -> dict[str, Any]:
    """The choices the old rule applied, written out."""
    written = {
        stream: {**choice, "enabled": choice.get("enabled", True)}
        for stream, choice in entities.items()
        if isinstance(choice, dict)
    }
    for stream in DEFAULT_STREAMS.get(system, ()):
        written.setdefault(stream, {"enabled": False})
    return written


def upgrade() -> None:
    connections = sa.table(
        "connections", sa.column("id", sa.String), sa.column("system", sa.String),
        sa.column("settings", JSONDoc),
    )  # fmt: skip
    bind = op.get_bind()
    for id_, system, settings in bind.execute(
        sa.select(connections.c.id, connections.c.system, connections.c.settings)
    ).all():
        entities = (settings or {}).get("entities")
        if not isinstance(entities, dict):
            continue
        bind.execute(
            connections.update()
            .where(connections.c.id == id_)
            .values(settings={**settings, "entities": as_they_ran(system, entities)})
        )


def downgrade() -> None:
    """The written-out choices mean the same under the old rule."""
