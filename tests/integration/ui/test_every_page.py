"""Every page the UI links to, reached as a person would (following links from the home
page), answers 200, passes axe with no serious or critical violation and fits a 360 px screen.
A page added later is checked without touching this test, as long as something links to it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed
from tests.integration.ui.conftest import assert_accessible, assert_fits_360, browser_sign_in

SKIP = ("/ui/static/", "/ui/login", "/ui/logout")
MAX_PAGES = 80


def shape(path: str) -> str:
    """A path with its ids blanked: one page of each kind is enough."""
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{id}", path)
    return re.sub(r"/\d+(?=/|$)", "/{n}", path)


def test_every_linked_page_is_accessible_and_fits_a_phone(
    page: Any, system: System, ui_url: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 12)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    origin = ui_url.removesuffix("/ui")
    queue, seen, visited = ["/ui/"], {shape("/ui/")}, []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        response = page.goto(origin + path)
        assert response is not None and response.status == 200, f"{path}: {response}"
        assert_accessible(page)
        assert_fits_360(page)
        visited.append(path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            target = urlsplit(href)
            if target.netloc != urlsplit(origin).netloc or not target.path.startswith("/ui"):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if target.path.startswith(SKIP) or shape(target.path) in seen:
                continue
            seen.add(shape(target.path))
            queue.append(link)
    assert len(visited) >= 4, visited
