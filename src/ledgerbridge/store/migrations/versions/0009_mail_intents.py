"""mail intents

Invoice mails sent through a connection's own SMTP server, one row per (connection,
invoice): the journal that makes each mail go once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ledgerbridge.store.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_UTC = ledgerbridge.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_intents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("order_number", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=True),
        sa.Column("first_attempt_at", _UTC, nullable=True),
        sa.Column("next_attempt_at", _UTC, nullable=True),
        sa.Column("started_at", _UTC, nullable=True),
        sa.Column("sent_at", _UTC, nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("attachment", sa.String(length=32), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "invoice_id", name="uq_mail_intents_invoice"),
    )
    op.create_index(
        "ix_mail_intents_due", "mail_intents", ["connection_id", "state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_mail_intents_due", table_name="mail_intents")
    op.drop_table("mail_intents")
