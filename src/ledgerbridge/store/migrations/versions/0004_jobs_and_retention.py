"""job engine and retention: procrastinate's schema on PostgreSQL

Worker processes on PostgreSQL run their jobs on procrastinate. Its schema is applied here,
so that it is created at start-up under the same advisory lock as ours, once. It is
procrastinate's own schema (tables, types, functions and triggers named ``procrastinate_*``),
not described by our models: the model comparison leaves it out. SQLite (the embedded mode)
keeps its jobs in our ``jobs`` table and gets nothing here.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import re

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is not None:
        return  # applied by hand (``procrastinate schema --apply``) before this revision
    bind.connection.dbapi_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = SchemaManager.get_schema()
    for table in ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                  "procrastinate_workers"):  # fmt: skip
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for function in sorted(set(re.findall(r"CREATE FUNCTION (\w+)\(", schema))):
        op.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    for kind in sorted(set(re.findall(r"CREATE TYPE (\w+)", schema))):
        op.execute(f"DROP TYPE IF EXISTS {kind} CASCADE")
