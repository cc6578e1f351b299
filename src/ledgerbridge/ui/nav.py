"""Where pages sit: the main menu, and the tabs of a connection's pages. Each page module
declares its own entry (a tab with the systems it applies to), so a system shows only what it
has (Summary tasks for Tripletex, Routes for a webshop) and adding a page touches no shared
list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ledgerbridge.connectors.registry import SYSTEMS, SystemSpec
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.web import system_of, templates


@dataclass(frozen=True)
class Tab:
    label: str
    path: str
    """Under ``/ui/connections/{id}/``; empty for the overview."""
    order: int
    applies: Callable[[SystemSpec], bool]


TABS: list[Tab] = []
MAIN_MENU: list[tuple[int, str, str]] = []


def tab(
    label: str, path: str, order: int, applies: Callable[[SystemSpec], bool] = lambda _s: True
) -> None:
    """A tab on every connection whose system ``applies``; ``order`` places it."""
    TABS.append(Tab(label, path, order, applies))


def menu(label: str, href: str, order: int) -> None:
    """An entry of the main menu (top of every page)."""
    MAIN_MENU.append((order, href, label))


def tabs_for(spec: SystemSpec) -> list[Tab]:
    return sorted((t for t in TABS if t.applies(spec)), key=lambda t: t.order)


def connection_context(
    request: Request, signed: Signed, connection_id: str, active: str
) -> dict[str, Any]:
    """What every connection page shows around its own content: the connection's status,
    its system and the tabs, ``active`` being the current tab's path."""
    status = system_of(request).connections.status(signed.principal, connection_id)
    spec = SYSTEMS[status["system"]]
    return {"connection": status, "spec": spec, "tabs": tabs_for(spec), "active_tab": active}


def system_title(name: str) -> str:
    spec = SYSTEMS.get(name)
    return spec.title if spec else name


menu("Connections", "/ui/", 10)


def main_menu(path: str) -> list[tuple[str, str, bool]]:
    """(href, label, whether the page at ``path`` is under it); connection pages are under
    Connections."""

    def current(href: str) -> bool:
        if href == "/ui/":
            return path == "/ui/" or path.startswith("/ui/connections")
        return path.startswith(href)

    return [(href, label, current(href)) for _order, href, label in sorted(MAIN_MENU)]


templates.env.globals["main_menu"] = main_menu
templates.env.filters["system_label"] = system_title
