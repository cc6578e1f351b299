"""Reference data kept between runs in this process."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

_EVERY: weakref.WeakSet[KeptReads] = weakref.WeakSet()


class KeptReads:
    """Answers of reads that rarely change (a company's VAT codes), kept in this process for
    ``max_age`` and shared by the runs of every connection to the same company: an hourly
    job then reads them a few times a day instead of at every run. A run that follows a fix
    made in the system (a retry) reads afresh (``fresh=True``)."""

    def __init__(self, max_age: timedelta) -> None:
        self.max_age = max_age
        self._kept: dict[Hashable, tuple[datetime, Any]] = {}
        self._lock = threading.Lock()
        _EVERY.add(self)

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()

    def get(
        self, key: Hashable, now: datetime, read: Callable[[], Any], *, fresh: bool = False
    ) -> tuple[Any, bool]:
        """(the answer, whether it was read now): the kept one while younger than
        ``max_age``, unless ``fresh``."""
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and not fresh and now - kept[0] < self.max_age:
            return kept[1], False
        answer = read()
        with self._lock:
            self._kept[key] = (now, answer)
        return answer, True


def forget_kept_reads() -> None:
    """Forget every kept answer: a system starting in this process (another installation's
    database, a test's own sandboxes at addresses an earlier one used) reads its own."""
    for kept in list(_EVERY):
        kept.forget()
