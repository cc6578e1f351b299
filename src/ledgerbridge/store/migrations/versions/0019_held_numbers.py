"""held numbers: numbers a system's records hold that the hub reads but does not import

A stream whose numbers the hub hands out (Yuki's relationship codes, the hub's debtor numbers)
reads some rows only to follow the hub records linked to them: a contact that is no customer,
a supplier when suppliers are not imported. Their numbers are kept, so the sequence skips
them instead of a push being refused for a number another record holds.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_numbers",
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(200), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("held_numbers")
