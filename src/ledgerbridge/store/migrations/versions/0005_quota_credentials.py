"""quota per real credential

Connections and the quota ledger are keyed by the vendor's real counter (host and user
normalised) instead of the settings as typed, so that two spellings of one Uniconta user share
one budget. Calls already counted under the old keys are added to the new ones, so today's
budget keeps counting across the upgrade.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ledgerbridge.connectors.registry import SYSTEMS

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_connections = sa.table(
    "connections",
    sa.column("id", sa.String),
    sa.column("system", sa.String),
    sa.column("settings", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.column("credential_key", sa.String),
)
_usage = sa.table(
    "quota_usage",
    sa.column("credential_key", sa.String),
    sa.column("day", sa.String),
    sa.column("used", sa.Integer),
    sa.column("limit", sa.Integer),
)


def upgrade() -> None:
    bind = op.get_bind()
    renamed: dict[str, str] = {}
    rows = bind.execute(
        sa.select(
            _connections.c.id,
            _connections.c.system,
            _connections.c.settings,
            _connections.c.credential_key,
        )
    ).all()
    for connection_id, system, settings, old_key in rows:
        spec = SYSTEMS.get(system)
        if spec is None:
            continue
        new_key = spec.credential_key(settings or {})
        if new_key == old_key:
            continue
        bind.execute(
            sa.update(_connections)
            .where(_connections.c.id == connection_id)
            .values(credential_key=new_key)
        )
        renamed[old_key] = new_key
    for old_key, new_key in renamed.items():
        _move_usage(bind, old_key, new_key)


def _move_usage(bind: sa.Connection, old_key: str, new_key: str) -> None:
    """Adds each day's calls counted under ``old_key`` to ``new_key``'s."""
    days = bind.execute(
        sa.select(_usage.c.day, _usage.c.used, _usage.c.limit).where(
            _usage.c.credential_key == old_key
        )
    ).all()
    for day, used, limit in days:
        counted = bind.execute(
            sa.update(_usage)
            .where(_usage.c.credential_key == new_key, _usage.c.day == day)
            .values(used=_usage.c.used + used)
        ).rowcount
        if not counted:
            bind.execute(
                sa.insert(_usage).values(credential_key=new_key, day=day, used=used, limit=limit)
            )
    bind.execute(sa.delete(_usage).where(_usage.c.credential_key == old_key))


def downgrade() -> None:
    """Nothing to undo in the schema; the keys stay normalised, which the previous release
    reads as keys of its own (it starts counting anew under the spellings it computes)."""
