"""What a system adds to the generic set-up form (``ui/setup.py``): a first step before it (a
login that lists companies), nested settings it asks for, secrets a login sets instead of a
person, where a saved connection goes next, and the plain options its Entities page shows.
Each system declares its own in ``ui/setup_steps.py``; this module only holds them, so the
generic pages read them without knowing any system."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from ledgerbridge.services.sign_in import Signed

JSON = dict[str, Any]


@dataclass(frozen=True)
class Wizard:
    system: str
    start: Callable[[Request, Signed], Response] | None = None
    """The first page of the set-up instead of the plain form (``?form=1`` skips it)."""
    nested: tuple[str, ...] = ()
    """Object settings whose plain values the form asks (``debtor_numbers``)."""
    system_secrets: frozenset[str] = frozenset()
    """Secrets the system hands out (tokens of a login): never asked."""
    next_page: Callable[[JSON], tuple[str, str]] | None = None
    """(created connection) → (the page that comes next, what the notice adds)."""
    options: tuple[str, ...] = ()
    """Plain settings (and nested ones, by name) shown on the Entities page."""
    with_secrets: tuple[str, ...] = ()
    """Plain settings that go with a secret (an OAuth app's client ID beside its client
    secret): the Credentials tab asks them with the secrets, filled in with the saved value."""
    save_label: str = "Save and check the connection"


WIZARDS: dict[str, Wizard] = {}


def wizard(declared: Wizard) -> None:
    WIZARDS[declared.system] = declared


def wizard_of(system: str) -> Wizard:
    return WIZARDS.get(system) or Wizard(system)
