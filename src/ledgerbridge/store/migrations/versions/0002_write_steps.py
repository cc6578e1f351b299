"""write intents as resumable steps

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "steps",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.create_index(
            "ix_write_intents_record", ["connection_id", "stream", "record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_write_intents_record")
        batch_op.drop_column("steps")
