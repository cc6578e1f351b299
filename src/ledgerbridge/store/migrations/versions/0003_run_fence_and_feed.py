"""run fences and a commit-ordered change feed

Existing changes keep their numbers: ``position`` starts equal to ``seq`` and each tenant's
counter at its highest ``seq``, so cursors handed out before (push cursors, apps' ``after=``)
stay valid.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ledgerbridge.store.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_counters",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "run_fences",
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("began_at", ledgerbridge.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("connection_id"),
    )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute("UPDATE changes SET position = seq")
    op.execute(
        "INSERT INTO feed_counters (tenant_id, last) "
        "SELECT changes.tenant_id, MAX(changes.seq) FROM changes "
        "JOIN tenants ON tenants.id = changes.tenant_id GROUP BY changes.tenant_id"
    )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.alter_column("position", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_index("ix_changes_tenant_seq")
        batch_op.create_index("ux_changes_tenant_position", ["tenant_id", "position"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ux_changes_tenant_position")
        batch_op.create_index("ix_changes_tenant_seq", ["tenant_id", "seq"], unique=False)
        batch_op.drop_column("position")
    op.drop_table("run_fences")
    op.drop_table("feed_counters")
