"""sync log by run

A job whose worker died is run again without counting the attempt when its run logged
records; finding that run's log rows must not scan the whole log.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sync_log_run_id", "sync_log", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_log_run_id", table_name="sync_log")
