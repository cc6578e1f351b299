"""no scheduled push for a system that is only read

Every connection had a push every five minutes, the safety net for a hub change whose push was
lost in a crash. A system the product only reads (an order file, Stripe, Vipps MobilePay,
Zettle) has nothing to push: each of those runs wrote nothing and filled the connection's
activity with 288 empty runs a day, pushing its reads out of the recent runs. New connections
of such systems get no push schedule; this removes the ones made before.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

READ_ONLY_SYSTEMS = ("files", "stripe", "vipps_mobilepay", "zettle")
"""The systems with no stream written to when this revision was made."""

connections = sa.table("connections", sa.column("id", sa.String), sa.column("system", sa.String))
schedules = sa.table(
    "schedules", sa.column("connection_id", sa.String), sa.column("kind", sa.String)
)


def upgrade() -> None:
    read_only = sa.select(connections.c.id).where(connections.c.system.in_(READ_ONLY_SYSTEMS))
    op.execute(
        sa.delete(schedules).where(
            schedules.c.kind == "push", schedules.c.connection_id.in_(read_only)
        )
    )


def downgrade() -> None:
    """The removed schedules are not made again: a push of such a system does nothing."""
