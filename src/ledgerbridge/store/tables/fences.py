"""Run fences: which run of a connection may write its sync state."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base


class RunFence(Base):
    """The epoch of the run that may write a connection's sync state. Beginning a run bumps it
    (that is the takeover); every engine write of a run checks, before it commits, that the
    epoch is still its own, so a run whose job was taken over stores nothing more."""

    __tablename__ = "run_fences"

    connection_id: Mapped[str] = mapped_column(
        sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(sa.BigInteger)
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    """The run holding the epoch, named when a superseded run's write is refused."""
    began_at: Mapped[datetime]
