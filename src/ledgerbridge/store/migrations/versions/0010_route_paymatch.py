"""route paymatch block

A route may carry a ``paymatch`` block (journal and accounts a payout's lines are posted on in
the accounting system's cash journal), next to or instead of its ``commerce`` block. A column
of its own rather than a key inside ``commerce``: the two blocks are validated, revisited and
switched on independently, and a route from an acquirer has no commerce policy at all.

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.add_column(sa.Column("paymatch", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("paymatch")
