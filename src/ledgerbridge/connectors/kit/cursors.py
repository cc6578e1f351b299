"""The cursor of a "changed since, with overlap" scan, for systems that can list what changed
since a moment but cannot page by it: ``<since>|<upcoming>|<position>``.

A scan reads the records changed since ``since``, page by page (``position``: a page, an
offset, a phase); meanwhile it notes ``upcoming``, where the next scan starts: the newest
change it saw, or the moment it began, less an overlap, so that a change saved while it ran is
read again rather than missed (a record read again is found unchanged and costs nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

SEPARATOR = "|"


@dataclass(frozen=True)
class ChangedSince:
    since: str = ""
    """This scan reads the records changed since this moment; empty: every record."""
    upcoming: str = ""
    """Where the next scan starts (empty: not known yet)."""
    position: str = ""
    """Where this scan stands; empty before its first page. It may hold the separator."""

    @classmethod
    def parse(cls, after: str | None) -> ChangedSince:
        """A cursor → its parts; a bare moment (no separator) is a scan about to start there."""
        since, _, rest = (after or "").partition(SEPARATOR)
        upcoming, _, position = rest.partition(SEPARATOR)
        return cls(since, upcoming, position)

    @property
    def starting(self) -> bool:
        """Whether this scan has read nothing yet."""
        return not self.position

    def page(self, first: int = 1) -> int:
        """The position as a page number (``first`` before the first page)."""
        return int(self.position or first)

    def starts_next(self, upcoming: str) -> ChangedSince:
        """The same scan, the next one to start at ``upcoming`` (as the scan begins)."""
        return replace(self, upcoming=upcoming)

    def saw(self, stamps: Iterable[object]) -> ChangedSince:
        """The same scan, having seen records changed at ``stamps`` (ISO 8601 moments, which
        order as text): ``upcoming`` is the newest change seen."""
        newest = max((str(s) for s in stamps if s), default="")
        return replace(self, upcoming=max(self.upcoming, newest))

    def at(self, position: object) -> str:
        """The cursor of this scan at ``position``."""
        return SEPARATOR.join((self.since, self.upcoming, str(position)))

    def done(self, start: str | None = None) -> str:
        """The cursor once this scan is over: the next starts at ``start``, by default where
        this one noted (else where it started, when it saw nothing)."""
        if start is None:
            start = self.upcoming or self.since
        return SEPARATOR.join((start, self.upcoming, ""))
