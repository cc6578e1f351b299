"""The web UI over a live hub on loopback, read with plain HTTP (most tests) or driven in
Debian's chromium through Playwright (the flows a person goes through, and axe).

Playwright's own browser download is not available here, so the browser is the system's
chromium, launched by path; without it (or without Playwright) browser tests skip and say why.
``.ci/run`` installs chromium, so CI always runs them. Set ``LEDGERBRIDGE_UI_SCREENSHOTS=<dir>``
to save the screenshots the flows take (docs/ui/ holds the current ones).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.ui.web import CSRF_FIELD, SESSION_COOKIE
from tests.integration.conftest import Tenant

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS = os.environ.get("LEDGERBRIDGE_UI_SCREENSHOTS")
SERIOUS = ("serious", "critical")


@pytest.fixture
def ui_url(hub: str) -> str:
    """The UI's root, e.g. http://127.0.0.1:PORT/ui."""
    return hub.removesuffix("/api/v1") + "/ui"


@dataclass
class Web:
    """A signed-in person's browser without the browser: cookies, and the session's CSRF
    token on every form posted. Paths are the pages' own (``/ui/…``), as links and
    redirects name them."""

    client: httpx.Client
    csrf: str

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data={**(data or {}), CSRF_FIELD: self.csrf}, **kwargs)

    def fragment(self, path: str, **kwargs: Any) -> httpx.Response:
        """As htmx asks: the HX-Request header, the token in X-CSRF-Token."""
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf}
        return self.client.post(path, headers=headers, **kwargs)


def sign_in(system: System, ui_url: str, tenant_id: str, email: str | None = None) -> Web:
    token = system.sign_in.login_link(tenant_id, email)
    client = httpx.Client(base_url=ui_url.removesuffix("/ui"), timeout=30)
    response = client.get(f"/ui/login/{token}")
    assert response.status_code == 303, response.text
    signed = system.sign_in.resume(client.cookies[SESSION_COOKIE])
    assert signed is not None
    return Web(client, signed.csrf_token)


@pytest.fixture
def web(system: System, ui_url: str, tenant: Tenant) -> Iterator[Web]:
    """The tenant's owner, signed in."""
    signed = sign_in(system, ui_url, tenant.tenant_id)
    yield signed
    signed.client.close()


def text_of(html: str) -> str:
    """A page's words without its tags, for asserting on what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- the real browser ------------------------------------------------------------------------


def chromium_path() -> str | None:
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    found = shutil.which("chromium")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module (0.5 s to start). Not for the whole session: Playwright's
    sync API keeps its event loop marked running in this thread while it is open, so a later
    test calling ``asyncio.run`` in the same worker would fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield opened
    context.close()
    assert errors == [], f"the page's scripts failed: {errors}"


def browser_sign_in(page: Any, system: System, ui_url: str, tenant_id: str, **kw: Any) -> None:
    """Follows a one-time link, as a person does from `ledgerbridge ui-link`."""
    token = system.sign_in.login_link(tenant_id, kw.get("email"))
    page.goto(f"{ui_url}/login/{token}")


def assert_accessible(page: Any) -> None:
    """axe on the page as it stands: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(f"{n['target'][0]}: {n.get('failureSummary', '')}" for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
    assert bad == [], f"{page.url}: " + " | ".join(bad)


WIDEST = """() => {
  const limit = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 1
                 && !e.closest('.overflow-auto') && e.offsetParent !== null)
    .slice(0, 5)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
              + (e.className && typeof e.className === 'string' ? '.' + e.className : '')
              + ' "' + (e.textContent || '').trim().slice(0, 40) + '"');
}"""


def assert_fits_360(page: Any) -> None:
    """At 360 px wide nothing but a table's own scroller overflows the page."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 800})
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    widest = page.evaluate(WIDEST) if overflow > 1 else []
    page.set_viewport_size(size)
    assert overflow <= 1, f"{page.url} is {overflow}px wider than a 360px screen: {widest}"


def screenshot(page: Any, name: str) -> None:
    """Saved only when LEDGERBRIDGE_UI_SCREENSHOTS names a folder (docs/ui/ is refreshed so)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
