"""connection names: one per tenant, whatever the letters' case

The set-up form refused a name in use by reading the tenant's connections first, so two saves
of one form within milliseconds both passed the check and made two connections of one name. A
unique index now holds the rule. Names already held twice are told apart first: the later
connections (by creation, then id) of a name get " (2)", " (3)" … after it, the first keeps it.

The index is on an expression (the name in lower case), which the models cannot declare for
both backends: it lives here, and the services refuse a name in use before writing.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

NAME_MAX = 200
connections = sa.table(
    "connections",
    sa.column("id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
)


def _numbered(name: str, number: int, taken: set[str]) -> str:
    """The first free ``name (n)`` from ``number`` on, shortened to fit the column."""
    while True:
        suffix = f" ({number})"
        candidate = name[: NAME_MAX - len(suffix)] + suffix
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(connections.c.id, connections.c.tenant_id, connections.c.name).order_by(
            connections.c.tenant_id, connections.c.created_at, connections.c.id
        )
    ).all()
    taken: dict[str, set[str]] = {}
    for row in rows:
        taken.setdefault(row.tenant_id, set()).add(row.name.casefold())
    seen: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = seen.setdefault(row.tenant_id, {})
        key = row.name.casefold()
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 1:
            continue
        renamed = _numbered(row.name, counts[key], taken[row.tenant_id])
        taken[row.tenant_id].add(renamed.casefold())
        bind.execute(sa.update(connections).where(connections.c.id == row.id).values(name=renamed))
    op.execute(
        "CREATE UNIQUE INDEX uq_connections_tenant_name ON connections (tenant_id, lower(name))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX uq_connections_tenant_name")
