"""Run work after a transaction commits (enqueue jobs, wake workers).

A job that refers to a change must not exist before the change does, and on SQLite a second
write connection cannot be opened while this one holds the write lock: both say "after commit".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_KEY = "ledgerbridge.after_commit"


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Call ``callback`` once the session's current transaction has committed."""
    session.info.setdefault(_KEY, []).append(callback)


@sa.event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a lost notification is caught up by the periodic jobs.
            log.exception("after-commit callback failed")


@sa.event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
