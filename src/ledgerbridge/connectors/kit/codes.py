"""A connection's code tables (units, VAT codes, payment terms): the system's codes and the
hub's, both ways, and what a record gets when its code is in neither.

An unmapped code is never guessed: the record is skipped with ``<kind>_unmapped`` and a message
naming the setting to add it to; once added, the record syncs by itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Generic, TypeVar

from ledgerbridge.connectors.base import SkipRecord

V = TypeVar("V", str, int)
"""A hub value: a code, or a number of days for payment terms."""


def quoted(value: object) -> str:
    return f"'{value}'"


def unmapped_code(reason: str, message: str) -> str | None:
    """The code a ``<kind>_unmapped`` skip names in its message (``VAT code 'X99'``), so a
    screen can count the records waiting for each code; None when the message names none
    (a hub payment term reads as "of 30 days")."""
    label = reason.removesuffix("_unmapped").replace("_", " ")
    found = re.search(rf"{re.escape(label)} '([^']*)'", message, re.IGNORECASE)
    return found.group(1) if found else None


class CodeTable(Generic[V]):
    """One code table: ``codes`` maps the system's code to the hub's. Going back, a hub value
    that several codes map to takes the lowest of them, so the choice never depends on the
    order the settings were saved in; a connection that keeps its table the other way round
    (hub code → system code, as Yuki's ``vat_mapping``) gives it as ``back``."""

    def __init__(
        self,
        system: str,
        label: str,
        setting: str,
        codes: Mapping[str, V] | None = None,
        *,
        back: Mapping[V, str] | None = None,
        blank: Collection[str] = (),
        shown: Callable[[V], str] = quoted,
    ) -> None:
        self.system = system
        self.label = label
        """What a code is, in messages: "unit", "VAT code", "payment term"."""
        self.setting = setting
        """The connection setting a user adds a missing code to (``unit_mapping``)."""
        self.reason = label.lower().replace(" ", "_") + "_unmapped"
        self.codes: dict[str, V] = dict(codes or {})
        self.back: dict[V, str] = (
            dict(back)
            if back is not None
            else {hub: code for code, hub in sorted(self.codes.items(), reverse=True)}
        )
        self.blank = frozenset(blank)
        """Codes the system uses for "none" (Uniconta's unit ``None``)."""
        self.shown: Callable[[V], str] = shown
        """How a hub value reads in a message."""

    def get(self, code: str | None) -> V | None:
        """The hub value of a code, None when it has none (for a value that may be derived
        another way, such as days from the due date)."""
        return self.codes.get(code) if code is not None else None

    def to_hub(self, code: str | None, what: str | None = None) -> V | None:
        """The hub value of a system code; ``what`` names the record in the message."""
        if code is None or code in self.blank:
            return None
        if code not in self.codes:
            subject = f"{self.system} {self.label} '{code}'"
            if what:
                subject = f"{what} uses {subject}, which"
            raise SkipRecord(
                self.reason,
                f"{subject} is not mapped to a hub {self.label}; add it to "
                f"settings.{self.setting} and the record syncs by itself",
            )
        return self.codes[code]

    def from_hub(self, value: V | None) -> str | None:
        """The system code of a hub value."""
        if value is None:
            return None
        if value not in self.back:
            raise SkipRecord(
                self.reason,
                f"hub {self.label} {self.shown(value)} has no {self.system} {self.label} in "
                f"settings.{self.setting}; add one and the record syncs by itself",
            )
        return self.back[value]

    def knows(self, value: V) -> bool:
        """Whether a hub value has a system code."""
        return value in self.back
