"""A small webshop wired to Uniconta through the real hub, shared by the webshop scenario tests:
a WooCommerce sandbox shop with a handful of products and customers, the Uniconta sandbox
with its booking service (``conftest.uniconta``), both connected through the hub API as a user
would, a route shop → Uniconta with the commerce policy and one Uniconta → shop for stock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_webshop
from ledgerbridge.sandbox.woocommerce import SandboxServer, WooSandbox
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all

WAREHOUSE = "01"
POLICY: dict[str, Any] = {"rounding_account": "AFRUND", "refund_item": "REFUSION"}
"""Uniconta's own items for rounding and free refund amounts, as ``seed_webshop`` has them."""
PRODUCTS = (
    ("KAF-500", "Kaffebønner Espresso 500 g", "89.95", 40),
    ("KOP-01", "Kaffekop stentøj", "79.00", 12),
    ("CHO-70", "Mørk chokolade 70 %", "9.99", 90),
    ("GVK-500", "Gavekort 500 kr.", "500.00", 0),
)
"""SKU, name, price with VAT, stock: a 1-cent VAT gap is easy to make with CHO-70."""


def address(first: str, last: str, country: str, email: str, company: str = "") -> dict[str, str]:
    return {
        "first_name": first, "last_name": last, "company": company,
        "address_1": "Hovedgaden 1", "address_2": "", "city": "By", "state": "",
        "postcode": "8000", "country": country, "email": email, "phone": "+4512345678",
    }  # fmt: skip


@dataclass
class Webshop:
    """The whole set-up of one test, with what its assertions read."""

    system: System
    tenant: Tenant
    shop: WooSandbox
    shop_url: str
    uniconta: Uniconta
    shop_id: str = ""
    uniconta_id: str = ""
    route: dict[str, Any] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settle(self) -> None:
        """Until the shop's deliveries arrived and no job is left (webhooks queue flows, flows
        queue pushes, bookings answer with callbacks)."""
        for _ in range(3):
            self.shop.wait_for_webhooks(timeout=30)
            self.system.run_until_idle()
            time.sleep(0.1)

    def order(
        self,
        customer: str,
        lines: list[tuple[str, int]],
        *,
        method: str = "quickpay",
        paid: bool = True,
        **body: Any,
    ) -> dict[str, Any]:
        """An order at checkout by one of the shop's customers; ``paid``: the gateway confirms
        it at once (``processing``)."""
        who = self.customers[customer]
        created = self.shop.create_order(
            {
                "customer_id": who["id"], "billing": who["billing"], "shipping": who["shipping"],
                "payment_method": method,
                "line_items": [{"product_id": self.products[sku], "quantity": qty}
                               for sku, qty in lines],
                **body,
            },
            created_via="checkout",
        )  # fmt: skip
        if paid:
            created = self.shop.pay_order(created["id"], f"txn_{created['id']}")
        return created

    def invoices(self, order: dict[str, Any] | int) -> list[dict[str, Any]]:
        """The booked invoices and credit notes in Uniconta with the order's number as
        ``YourRef``."""
        number = str(order["number"] if isinstance(order, dict) else order)
        return [
            row for row in self.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
            if str(row.get("YourRef")) == number
        ]  # fmt: skip

    def invoice(self, order: dict[str, Any] | int) -> dict[str, Any]:
        """The one booked invoice of an order (not a credit note)."""
        found = [row for row in self.invoices(order) if Decimal(str(row["TotalAmount"])) >= 0]
        assert len(found) == 1, found
        return found[0]

    def credit_notes(self, order: dict[str, Any] | int) -> list[dict[str, Any]]:
        return [row for row in self.invoices(order) if Decimal(str(row["TotalAmount"])) < 0]

    def drafts(self, order: dict[str, Any] | int) -> list[dict[str, Any]]:
        """Orders in Uniconta (not booked) for the shop order."""
        number = str(order["number"] if isinstance(order, dict) else order)
        return [
            row for row in self.uniconta.sandbox.all(COMPANY, "DebtorOrderClient")
            if str(row.get("YourRef")) == number
        ]  # fmt: skip

    def lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            line for line in self.uniconta.sandbox.all(COMPANY, "DebtorInvoiceLines")
            if line["InvoiceNumber"] == invoice["InvoiceNumber"]
        ]  # fmt: skip

    def amount_open(self, invoice: dict[str, Any]) -> Decimal:
        (item,) = [row for row in self.uniconta.sandbox.all(COMPANY, "DebtorTransOpenClient")
                   if row["Invoice"] == invoice["InvoiceNumber"]]  # fmt: skip
        return Decimal(str(item["AmountOpen"]))

    def hub_invoices(self, order: dict[str, Any] | int) -> list[dict[str, Any]]:
        """The hub's invoices and credit notes with the order's number as reference."""
        number = str(order["number"] if isinstance(order, dict) else order)
        page = self.tenant.api.get("/invoices", params={"limit": 1000}).json()
        return [r["data"] for r in page["items"] if r["data"].get("reference") == number]

    def issues(self, stream: str | None = None) -> list[dict[str, Any]]:
        """The shop connection's open issues (of one stream)."""
        found: list[dict[str, Any]] = self.tenant.api.get(
            f"/connections/{self.shop_id}/issues"
        ).json()
        return [i for i in found if stream is None or i["stream"] == stream]

    def save_route(self, policy: dict[str, Any], rules: dict[str, Any] | None = None) -> None:
        body = {"source": self.shop_id, "target": self.uniconta_id, "entities": ["product"],
                "commerce": {"policy": policy, "rules": rules or {}}}  # fmt: skip
        saved = self.tenant.api.put(f"/routes/{self.route['id']}", json=body)
        assert saved.status_code == 200, saved.text
        self.route = saved.json()


@pytest.fixture
def woo() -> Iterator[tuple[WooSandbox, str]]:
    """An empty shop on loopback (each save delivered once until a test says otherwise)."""
    sandbox = WooSandbox(webhook_timeout=5.0)
    server = SandboxServer(sandbox)
    server.start()
    yield sandbox, server.base_url
    server.stop()
    sandbox.close()


def stock_shop(shop: WooSandbox) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """Products and four customers: a Danish and a German consumer, a German business with a
    valid VAT number (exempt) and a Danish public body with an EAN number."""
    products = {
        sku: shop.create_product({
            "name": name, "sku": sku, "regular_price": price, "manage_stock": stock > 0,
            "stock_quantity": stock or None, "virtual": sku.startswith("GVK")})["id"]
        for sku, name, price, stock in PRODUCTS
    }  # fmt: skip
    people = {
        "mette": (address("Mette", "Jensen", "DK", "mette@example.dk"), []),
        "anna": (address("Anna", "Müller", "DE", "anna@example.de"), []),
        "weber": (
            address("Klaus", "Weber", "DE", "einkauf@roesterei.example.de", "Rösterei Weber GmbH"),
            [{"key": "_billing_vat_number", "value": "DE136695976"}],
        ),
        "kommune": (
            address("Birgit", "Munk", "DK", "faktura@kommune.example.dk", "Silkeborg Kommune"),
            [{"key": "_billing_ean_number", "value": "5798000000001"}],
        ),
    }
    customers = {}
    for key, (billing, meta) in people.items():
        shipping = {k: v for k, v in billing.items() if k != "email"}
        customers[key] = shop.create_customer({
            "email": billing["email"], "first_name": billing["first_name"],
            "last_name": billing["last_name"], "billing": billing, "shipping": shipping,
            "meta_data": meta})  # fmt: skip
    return products, customers


@pytest.fixture
def webshop(
    system: System, tenant: Tenant, uniconta: Uniconta, woo: tuple[WooSandbox, str]
) -> Webshop:
    """Both sides connected through the hub API and imported, the routes in place."""
    shop, url = woo
    seed_webshop(uniconta.sandbox, COMPANY)
    uniconta.sandbox.load(COMPANY, "InvWarehouseClient", [{"Warehouse": WAREHOUSE,
                                                           "Name": "Lager"}])  # fmt: skip
    products, customers = stock_shop(shop)
    setup = Webshop(system, tenant, shop, url, uniconta, products=products, customers=customers)
    key = shop.default_key
    made = tenant.api.post("/connections", json={
        "system": "woocommerce", "name": "Webshop",
        "settings": {"base_url": url,
                     "entities": {"orders": {"enabled": True}, "refunds": {"enabled": True},
                                  "products": {"enabled": True, "direction": "inbound"},
                                  "stock": {"enabled": True}}},
        "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    setup.shop_id = made.json()["id"]
    accounting = connect(tenant, uniconta, settings={
        "post_invoices": True, "products_master": "app",
        "entities": {s: {"enabled": True} for s in
                     ("customers", "products", "stock_levels", "invoices", "payment_status")},
    })  # fmt: skip
    setup.uniconta_id = accounting["id"]
    uniconta.sandbox.set_change_url(COMPANY, accounting["change_url"])
    route = tenant.api.post("/routes", json={
        "source": setup.shop_id, "target": setup.uniconta_id, "entities": ["product"],
        "commerce": {"policy": POLICY, "rules": {}}})  # fmt: skip
    assert route.status_code == 201, route.text
    setup.route = route.json()
    stock = tenant.api.post("/routes", json={"source": setup.uniconta_id,
                                             "target": setup.shop_id,
                                             "entities": ["stock_level"]})  # fmt: skip
    assert stock.status_code == 201, stock.text
    for cid in (setup.uniconta_id, setup.shop_id):
        import_all(system, tenant, cid)
    setup.settle()
    return setup
