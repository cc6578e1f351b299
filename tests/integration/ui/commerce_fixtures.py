"""What the commerce screens' tests share: a WooCommerce sandbox shop and the Uniconta sandbox
connected and imported with no route yet (the tests make it through the pages), and a form
read from a page the way a browser would submit it."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_webshop
from ledgerbridge.sandbox.woocommerce import WooSandbox
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.webshop_fixtures import WAREHOUSE, Webshop, stock_shop

BOOKS_ZONE = ZoneInfo("Europe/Copenhagen")
"""The Uniconta connection's time zone: an order's day, and so its start-date and
historical-import decisions, is counted in it, not in the machine's."""


def books_day(days_from_today: int = 0) -> str:
    """A day in the books' time zone (the machine's local day differs from it around
    midnight)."""
    return (dt.datetime.now(BOOKS_ZONE).date() + dt.timedelta(days=days_from_today)).isoformat()


@pytest.fixture
def shop_and_books(
    system: System, tenant: Tenant, uniconta: Uniconta, woo: tuple[WooSandbox, str]
) -> Webshop:
    """The shop and the books, both imported; no route."""
    shop, url = woo
    seed_webshop(uniconta.sandbox, COMPANY)
    uniconta.sandbox.load(
        COMPANY, "InvWarehouseClient", [{"Warehouse": WAREHOUSE, "Name": "Lager"}]
    )
    products, customers = stock_shop(shop)
    setup = Webshop(system, tenant, shop, url, uniconta, products=products, customers=customers)
    key = shop.default_key
    made = tenant.api.post("/connections", json={
        "system": "woocommerce", "name": "Webshop",
        "settings": {"base_url": url,
                     "entities": {"orders": {"enabled": True}, "refunds": {"enabled": True},
                                  "products": {"enabled": True, "direction": "inbound"}}},
        "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    setup.shop_id = made.json()["id"]
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True, "products_master": "app",
        "entities": {s: {"enabled": True} for s in
                     ("customers", "products", "invoices", "cash_journal")},
    })  # fmt: skip
    setup.uniconta_id = accounting["id"]
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    for cid in (setup.uniconta_id, setup.shop_id):
        import_all(system, tenant, cid)
    setup.settle()
    return setup


class _Form(HTMLParser):
    """The fields of one form as a browser submits it untouched: text values, checked boxes,
    each select's selected (else first) option, text areas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._first: str | None = None
        self._area: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "file"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[name] = "on"
            else:
                self.fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._first = name, None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first is None:
                self._first = value
                self.fields[self._select] = value
            if "selected" in a:
                self.fields[self._select] = value
        elif tag == "textarea" and name:
            self._area = name
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._area:
            self.fields[self._area] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._area = None


def form_of(html: str, action: str) -> dict[str, Any]:
    """The form posting to ``action`` as its page shows it (without the CSRF token, which
    ``Web.post`` adds)."""
    parser = _Form(action)
    parser.feed(html)
    parser.fields.pop("csrf_token", None)
    return dict(parser.fields)
