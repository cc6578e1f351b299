"""routes, flow cursors and derived records

Routes replace the push to every connection of a tenant: a change goes where a route sends
it. Commerce routes derive invoices and credit notes from orders and refunds, once per source
record (``derived_records``), reading the change feed after their own cursor.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledgerbridge.store.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_UTC = ledgerbridge.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("source_connection_id", sa.String(length=36), nullable=True),
        sa.Column("target_connection_id", sa.String(length=36), nullable=False),
        sa.Column("entities", _JSON, nullable=False),
        sa.Column("commerce", _JSON, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_routes_tenant", "routes", ["tenant_id"])
    op.create_table(
        "flow_cursors",
        sa.Column("route_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["route_id"], ["routes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("route_id"),
    )
    op.create_table(
        "derived_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("route_id", sa.String(length=36), nullable=False),
        sa.Column("source_record_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("derived_record_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["route_id"], ["routes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "route_id", "source_record_id", "role", name="uq_derived_records_source"
        ),
    )
    op.create_index(
        "ix_derived_records_derived", "derived_records", ["route_id", "derived_record_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_derived_records_derived", table_name="derived_records")
    op.drop_table("derived_records")
    op.drop_table("flow_cursors")
    op.drop_index("ix_routes_tenant", table_name="routes")
    op.drop_table("routes")
