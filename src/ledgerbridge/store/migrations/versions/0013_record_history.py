"""record history: who made each change, in which run, and what it changed

Each change-feed row now keeps its actor (the API key or user of the app), the run that wrote
it (an inbound sync, a push's merge, a flow) and its field-by-field diff, written with the
change itself. A record's history is read by its id, in the change feed and in the sync log.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("actor", sa.String(100), nullable=True))
        batch.add_column(sa.Column("run_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("diff", _JSON, nullable=True))
    op.create_index("ix_changes_record", "changes", ["record_id", "version"])
    op.create_index("ix_sync_log_record", "sync_log", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_log_record", table_name="sync_log")
    op.drop_index("ix_changes_record", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("diff")
        batch.drop_column("run_id")
        batch.drop_column("actor")
