"""remote rows: the last whole row a system returned for a record

For systems whose update replaces the whole entity (Uniconta), the row as last read, received
with a callback or answered by a write is kept, so that an update needs no read first while
nothing says the record changed since.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "remote_rows",
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream", sa.String(32), primary_key=True),
        sa.Column("remote_id", sa.String(200), primary_key=True),
        sa.Column("row", _JSON, nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("remote_rows")
