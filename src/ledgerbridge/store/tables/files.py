"""Order and refund files a files connection received (uploaded or found in its watched
folder), with their content and what their import made of them.

A file is known by its content key (``commerce.files.content_key``: its bytes without a byte
order mark, line endings as line feeds), unique per connection, so the same export arriving
twice is stored and imported once whatever the race. The import's progress is kept on the
row and moved in the transactions that write the records, so an import cut short resumes
after the last records it wrote and never applies a page or reports a problem twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledgerbridge.store.base import Base, JSONDoc, new_id

FILE_STATUSES = ("queued", "importing", "imported", "failed")


class CommerceFile(Base):
    __tablename__ = "commerce_files"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "content_key", name="uq_commerce_files_content"),
        sa.Index("ix_commerce_files_connection", "connection_id", "received_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    """``orders`` or ``refunds``: the mapping it is read with."""
    name: Mapped[str] = mapped_column(sa.String(255))
    source: Mapped[str] = mapped_column(sa.String(16))
    """``upload`` or ``folder``."""
    content_key: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.Integer)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    """Loaded only when read (the import), so listing files never loads their bytes."""
    status: Mapped[str] = mapped_column(sa.String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    """Records created, updated and unchanged, rows read, problems."""
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    problems_reported: Mapped[bool] = mapped_column(default=False)
    """The problems are stored and open as sync issues (done once, with the first page)."""
    records_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Records of the file already written to the hub, in file order: where a rerun resumes."""
    message: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
