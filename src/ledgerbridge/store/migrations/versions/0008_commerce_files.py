"""commerce files

Order and refund files a files connection received, unique by content per connection, with
the progress and outcome of their import.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledgerbridge.store.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_UTC = ledgerbridge.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commerce_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", _JSON, nullable=False),
        sa.Column("problems", _JSON, nullable=False),
        sa.Column("problems_reported", sa.Boolean(), nullable=False),
        sa.Column("records_done", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("received_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "content_key", name="uq_commerce_files_content"),
    )
    op.create_index(
        "ix_commerce_files_connection", "commerce_files", ["connection_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_commerce_files_connection", table_name="commerce_files")
    op.drop_table("commerce_files")
