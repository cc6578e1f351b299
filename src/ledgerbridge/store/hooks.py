"""Run work after a transaction commits (enqueue jobs, wake workers).

A job that refers to a change must not exist before the change does, and on SQLite a second
write connection cannot be opened while this one holds the write lock: both say "after commit".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_KEY = "ledgerbridge.after_commit"


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Call ``callback`` once the session's current transaction has committed."""
    session.info.setdefault(_KEY, []).append(callback)


@sa.event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the transaction itself has not committed yet
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a lost notification is caught up by the periodic jobs.
            log.exception("after-commit callback failed")


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction: a savepoint rolled back leaves the transaction going.
    # After a commit the callbacks were already taken; what is left was rolled back.
    if transaction.parent is None:
        session.info.pop(_KEY, None)
