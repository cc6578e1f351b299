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


FEED_SEPARATOR = "~"
"""Between a feed's page cursor and the entries taken from that page (not in base64 or
URL-safe base64, which vendors' opaque cursors are made of)."""


@dataclass(frozen=True)
class FeedPosition:
    """Where a reader stands in an append-only feed paged by opaque cursors (each answer names
    the cursor of the next page): the cursor the current page was asked with (empty: the
    feed's start) and how many of that page's entries are already taken. A reader that must
    stop inside a page (a payout ends there) resumes there without skipping or repeating."""

    cursor: str = ""
    taken: int = 0

    def __str__(self) -> str:
        return f"{self.cursor}{FEED_SEPARATOR}{self.taken}" if self.taken else self.cursor

    @classmethod
    def parse(cls, text: str) -> FeedPosition:
        """The position ``str`` wrote (a bare cursor: none of its page taken)."""
        if FEED_SEPARATOR not in text:
            return cls(text, 0)
        cursor, _, taken = text.rpartition(FEED_SEPARATOR)
        return cls(cursor, int(taken) if taken.isdigit() else 0)


def feed_positions(after: str | None, count: int) -> tuple[FeedPosition, ...]:
    """``count`` feeds' positions kept in one cursor (``SEPARATOR`` between them); a missing
    or empty one is the feed's start."""
    parts = (after or "").split(SEPARATOR) if after else []
    parts += [""] * (count - len(parts))
    return tuple(FeedPosition.parse(part) for part in parts[:count])


def feed_cursor(*positions: FeedPosition) -> str:
    """The cursor that ``feed_positions`` reads back."""
    return SEPARATOR.join(str(position) for position in positions)
