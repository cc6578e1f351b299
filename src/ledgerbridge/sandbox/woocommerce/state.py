"""The shop behind the sandbox: products, customers, orders, refunds, subscriptions and webhooks
in memory, with WooCommerce's rules for each save.

Everything goes through one lock. Orders, refunds, products and variations share one id
sequence, as WordPress posts do; customers (users), webhooks and order items have their own.
Every read returns fresh dicts.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.sandbox.woocommerce.core import (
    SiteTime,
    WooError,
    boolean,
    decimal,
    dumps,
    fresh,
    integer,
    invalid_id,
    invalid_param,
    money,
    not_one_of,
    rnd,
    seconds,
    text,
)
from ledgerbridge.sandbox.woocommerce.payments import WooPayments
from ledgerbridge.sandbox.woocommerce.tax import Line, TaxRate, compute, tax_line
from ledgerbridge.sandbox.woocommerce.webhooks import Dispatcher, Job, Target

STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
"""Core order statuses (``trash`` is a filter value, drafts are never listed)."""
STOCK_REDUCING = frozenset({"processing", "completed", "on-hold"})
RESOURCES = ("order", "product", "customer", "coupon")
EVENTS = ("created", "updated", "deleted", "restored")
HOOKS: dict[str, list[str]] = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": [
        "user_register",
        "woocommerce_created_customer",
        "woocommerce_new_customer",
    ],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "customer.restored": [],
    "order.created": ["woocommerce_new_order"],
    "order.updated": [
        "woocommerce_update_order",
        "woocommerce_order_refunded",
        "woocommerce_delete_order_refund",
    ],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
ADDRESS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
)
PAYMENT_TITLES = {
    "quickpay": "Betalingskort",
    "mobilepay": "MobilePay",
    "bacs": "Bankoverførsel",
    "ean_invoice": "EAN-faktura",
    "cod": "Efterkrav",
    "woocommerce_payments": "Kreditkort (WooPayments)",
}
DEFAULT_TAX_RATES = (
    TaxRate(1, "DK", Decimal("25"), "Moms"),
    TaxRate(2, "DK", Decimal("25"), "Moms", "reduced-rate"),
    TaxRate(3, "DE", Decimal("19"), "MwSt"),
    TaxRate(4, "DE", Decimal("7"), "MwSt", "reduced-rate"),
    TaxRate(5, "SE", Decimal("25"), "Moms"),
    TaxRate(6, "NL", Decimal("21"), "BTW"),
    TaxRate(7, "FR", Decimal("20"), "TVA"),
)
DEFAULT_TAX_CLASSES = {"standard": "Standard rate", "reduced-rate": "Reduced rate",
                       "zero-rate": "Zero rate"}  # fmt: skip
"""The classes WooCommerce installs; the zero-rate class has no rate rows, so a product in it
is charged no tax."""


@dataclass(frozen=True)
class ApiKey:
    """A REST API key of a WordPress user."""

    consumer_key: str
    consumer_secret: str
    permissions: str
    user_id: int = 1


@dataclass
class Settings:
    """The shop's options that change what the API answers or sends."""

    prices_include_tax: bool = True
    round_at_subtotal: bool = False
    base_country: str = "DK"
    """``woocommerce_default_country``: the store's own country."""
    webhook_repeats: tuple[int, int] = (1, 1)
    """How many times ``order.updated`` is delivered for one save: drawn in this range."""
    webhook_miss_rate: float = 0.0
    """Probability that a save's delivery to a webhook never happens."""
    max_failures: int = 5
    """``woocommerce_max_webhook_delivery_failures``: a failure that finds the count of
    consecutive failures already above this disables the webhook."""
    woopayments: bool = True
    """Whether the WooPayments plugin is active (its ``/payments/`` routes exist)."""

    def to_json(self) -> dict[str, Any]:
        """The control API's view."""
        return {
            "prices_include_tax": self.prices_include_tax,
            "round_at_subtotal": self.round_at_subtotal,
            "base_country": self.base_country,
            "webhook_repeats": list(self.webhook_repeats),
            "webhook_miss_rate": self.webhook_miss_rate,
            "max_failures": self.max_failures,
            "woopayments": self.woopayments,
        }


@dataclass
class Order:
    """An order as entered (lines with their prices) and as last computed (``json``)."""

    id: int
    created: datetime
    modified: datetime
    status: str
    created_via: str
    prices_include_tax: bool
    items: list[dict[str, Any]]
    fees: list[dict[str, Any]]
    shipping_lines: list[dict[str, Any]]
    coupons: list[dict[str, Any]]
    fields: dict[str, Any]
    meta: list[dict[str, Any]]
    paid: datetime | None = None
    completed: datetime | None = None
    stock_reduced: bool = False
    trashed: bool = False
    refund_ids: list[int] = field(default_factory=list)
    json: dict[str, Any] = field(default_factory=dict)


@dataclass
class Webhook:
    """A webhook and its delivery bookkeeping."""

    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    created: datetime
    modified: datetime
    failure_count: int = 0
    pinged: bool = False


class WooSandbox:
    """One WooCommerce shop (store currency DKK, site time Europe/Copenhagen by default)."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        currency: str = "DKK",
        timezone: str = "Europe/Copenhagen",
        settings: Settings | None = None,
        webhook_timeout: float = 2.0,
        home_url: str = "https://shop.example.dk",
    ) -> None:
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.currency = currency
        self.site = SiteTime(timezone)
        self.settings = settings or Settings()
        self.home_url = home_url
        self.tax_rates = list(DEFAULT_TAX_RATES)
        self.tax_classes = dict(DEFAULT_TAX_CLASSES)
        self.keys: dict[str, ApiKey] = {}
        self._seed = seed
        self._rng = random.Random(seed)
        self._hook_rng = random.Random(seed + 1)
        self._key_rng = random.Random(seed + 2)
        """Keys survive a reset, so their generator is never rewound."""
        self.hooks = Dispatcher(
            source=lambda: self.home_url.rstrip("/") + "/",
            target=self._hook_target,
            payload=self._hook_payload,
            result=self._hook_result,
            now=self.clock.now,
            timeout=webhook_timeout,
        )
        self.add_key(permissions="read_write")
        self._empty()

    # ------------------------------------------------------------------ set-up

    def _empty(self) -> None:
        self.orders: dict[int, Order] = {}
        self.refunds: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.coupons: dict[str, Decimal] = {"velkommen10": Decimal(10), "sommer20": Decimal(20)}
        """Percent coupons by code."""
        self._post_id = 100
        self._user_id = 1
        self._item_id = 0
        self._meta_id = 0
        self._webhook_id = 0
        self.payments = WooPayments(self, self._seed + 3)

    def reset(self) -> None:
        """Forget every record and delivery; keys and settings stay."""
        with self.lock:
            self._empty()
            self._rng = random.Random(self._seed)
            self._hook_rng = random.Random(self._seed + 1)
            self.hooks.clear()

    def close(self) -> None:
        """Stop the webhook thread."""
        self.hooks.close()

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Block until every queued delivery ran."""
        self.hooks.wait(timeout)

    def add_key(self, permissions: str = "read_write") -> ApiKey:
        """A new consumer key/secret pair (``read``, ``write`` or ``read_write``)."""
        if permissions not in ("read", "write", "read_write"):
            raise not_one_of("permissions", ("read", "write", "read_write"))
        with self.lock:
            bits = self._key_rng.getrandbits(320).to_bytes(40, "big")
            key = ApiKey("ck_" + bits[:20].hex(), "cs_" + bits[20:].hex(), permissions)
            self.keys[key.consumer_key] = key
            return key

    @property
    def default_key(self) -> ApiKey:
        """The first read/write key."""
        return next(k for k in self.keys.values() if k.permissions == "read_write")

    def now(self) -> datetime:
        """The clock, to the second."""
        return seconds(self.clock.now())

    def _next_post(self) -> int:
        self._post_id += 1
        return self._post_id

    def _next_item(self) -> int:
        self._item_id += 1
        return self._item_id

    def _meta(self, key: str, value: Any) -> dict[str, Any]:
        self._meta_id += 1
        return {"id": self._meta_id, "key": key, "value": value}

    def rate_for(self, country: str, tax_class: str) -> TaxRate | None:
        """The rate for a destination country and tax class, or none (untaxed)."""
        wanted = tax_class or "standard"
        return next(
            (r for r in self.tax_rates if r.country == country and r.tax_class == wanted), None
        )

    def setting_option(self, group: str, option: str) -> dict[str, Any]:
        """``GET /settings/<group>/<id>`` for the two options a connection reads (how prices
        are entered and the store's country), shaped as WooCommerce's setting object; any
        other is ``rest_setting_setting_invalid`` (404), as for an option the group lacks."""
        if (group, option) == ("tax", "woocommerce_prices_include_tax"):
            return {
                "id": option, "label": "Prices entered with tax", "description": "",
                "type": "radio", "default": "no", "group_id": group,
                "value": "yes" if self.settings.prices_include_tax else "no",
                "options": {"yes": "Yes, I will enter prices inclusive of tax",
                            "no": "No, I will enter prices exclusive of tax"},
            }  # fmt: skip
        if (group, option) == ("general", "woocommerce_default_country"):
            return {
                "id": option, "label": "Country / State", "description": "",
                "type": "select", "default": "US:CA", "group_id": group,
                "value": self.settings.base_country,
            }  # fmt: skip
        raise WooError(404, "rest_setting_setting_invalid", "Invalid setting.")

    def apply_settings(self, changes: Mapping[str, Any]) -> Settings:
        """Change shop options from the control API; unknown names are refused."""
        with self.lock:
            known = set(self.settings.to_json())
            for key in changes:
                if key not in known:
                    raise invalid_param(
                        str(key), f"unknown setting; known: {', '.join(sorted(known))}"
                    )
            if "prices_include_tax" in changes:
                self.settings.prices_include_tax = boolean(
                    changes["prices_include_tax"], "prices_include_tax"
                )
            if "base_country" in changes:
                self.settings.base_country = text(changes["base_country"], "base_country").upper()
            if "round_at_subtotal" in changes:
                self.settings.round_at_subtotal = boolean(
                    changes["round_at_subtotal"], "round_at_subtotal"
                )
            if "webhook_repeats" in changes:
                self.settings.webhook_repeats = parse_repeats(changes["webhook_repeats"])
            if "webhook_miss_rate" in changes:
                rate = float(decimal(changes["webhook_miss_rate"], "webhook_miss_rate"))
                if not 0 <= rate <= 1:
                    raise invalid_param("webhook_miss_rate", "must be between 0 and 1")
                self.settings.webhook_miss_rate = rate
            if "max_failures" in changes:
                self.settings.max_failures = integer(changes["max_failures"], "max_failures", 0)
            if "woopayments" in changes:
                self.settings.woopayments = boolean(changes["woopayments"], "woopayments")
            return self.settings

    # ---------------------------------------------------------------- products

    def create_product(
        self, body: Mapping[str, Any], *, when: datetime | None = None
    ) -> dict[str, Any]:
        """A simple or variable product; ``regular_price`` as the shop enters it."""
        with self.lock:
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise invalid_param("name", "name is required.")
            kind = body.get("type", "simple")
            if kind not in ("simple", "variable", "grouped", "external"):
                raise not_one_of("type", ("simple", "grouped", "external", "variable"))
            sku = self._sku(body.get("sku", ""), None)
            moment = when or self.now()
            product_id = self._next_post()
            product: dict[str, Any] = {
                "id": product_id,
                "name": name,
                "slug": name.lower().replace(" ", "-"),
                "permalink": f"{self.home_url}/produkt/{product_id}/",
                "_created": moment,
                "_modified": moment,
                "type": kind,
                "status": "publish",
                "featured": False,
                "catalog_visibility": "visible",
                "description": str(body.get("description", "")),
                "short_description": "",
                "sku": sku,
                "regular_price": "",
                "sale_price": "",
                "virtual": bool(body.get("virtual", False)),
                "downloadable": False,
                "tax_status": "taxable",
                "tax_class": str(body.get("tax_class", "")),
                "manage_stock": False,
                "stock_quantity": None,
                "backorders": "no",
                "sold_individually": False,
                "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""},
                "shipping_class": "",
                "shipping_class_id": 0,
                "categories": [],
                "tags": [],
                "images": [],
                "attributes": [],
                "default_attributes": [],
                "variations": [],
                "total_sales": 0,
                "meta_data": [],
            }
            self._product_changes(product, body, creating=True)
            self.products[product_id] = product
            self._emit("product", "created", product_id)
            return self.product_json(product_id)

    def create_variation(
        self, parent_id: int, body: Mapping[str, Any], *, when: datetime | None = None
    ) -> dict[str, Any]:
        """A variation of a variable product."""
        with self.lock:
            parent = self._product(parent_id)
            moment = when or self.now()
            variation_id = self._next_post()
            attributes = body.get("attributes", [])
            if not isinstance(attributes, list):
                raise invalid_param("attributes", "attributes is not of type array.")
            variation: dict[str, Any] = {
                "id": variation_id,
                "parent_id": parent_id,
                "_created": moment,
                "_modified": moment,
                "description": "",
                "permalink": f"{parent['permalink']}?variation={variation_id}",
                "sku": self._sku(body.get("sku", ""), None),
                "regular_price": "",
                "sale_price": "",
                "status": "publish",
                "virtual": False,
                "downloadable": False,
                "tax_status": "taxable",
                "tax_class": parent["tax_class"],
                "manage_stock": False,
                "stock_quantity": None,
                "backorders": "no",
                "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""},
                "shipping_class": "",
                "shipping_class_id": 0,
                "image": None,
                "attributes": [
                    {"id": 0, "name": str(a.get("name", "")), "option": str(a.get("option", ""))}
                    for a in attributes
                    if isinstance(a, dict)
                ],
                "menu_order": len(parent["variations"]),
                "meta_data": [],
            }
            self._product_changes(variation, body, creating=True)
            self.variations[variation_id] = variation
            parent["variations"].append(variation_id)
            self._emit("product", "created", variation_id)
            return self.variation_json(variation_id)

    def _sku(self, value: Any, own_id: int | None) -> str:
        """A SKU no other product or variation has; a taken one is refused with the id of
        the one holding it and a free SKU made from it, as ``WC_Product::set_sku`` does."""
        sku = text(value, "sku").strip()
        if sku:
            taken = {other["sku"] for other in (*self.products.values(), *self.variations.values())}
            for other in (*self.products.values(), *self.variations.values()):
                if other["sku"] == sku and other["id"] != own_id:
                    free = next(f"{sku}-{n}" for n in range(1, len(taken) + 2)
                                if f"{sku}-{n}" not in taken)  # fmt: skip
                    raise WooError(
                        400,
                        "product_invalid_sku",
                        "Invalid or duplicated SKU.",
                        data={"resource_id": other["id"], "unique_sku": free},
                    )
        return sku

    def _product_changes(
        self, product: dict[str, Any], body: Mapping[str, Any], *, creating: bool
    ) -> None:
        """Prices, stock and plain fields from a create or update body."""
        for name in ("regular_price", "sale_price"):
            if name in body:
                value = body[name]
                product[name] = "" if value in ("", None) else money(decimal(value, name))
        if "sku" in body and not creating:
            product["sku"] = self._sku(body["sku"], product["id"])
        if "name" in body and not creating and "parent_id" not in product:
            product["name"] = text(body["name"], "name")
        if "manage_stock" in body:
            product["manage_stock"] = boolean(body["manage_stock"], "manage_stock")
        if "stock_quantity" in body:
            value = body["stock_quantity"]
            product["stock_quantity"] = None if value is None else integer(value, "stock_quantity")
        if "backorders" in body:
            if body["backorders"] not in ("no", "notify", "yes"):
                raise not_one_of("backorders", ("no", "notify", "yes"))
            product["backorders"] = body["backorders"]
        if "tax_class" in body:
            product["tax_class"] = text(body["tax_class"], "tax_class")
        if "meta_data" in body:
            product["meta_data"] = self._merge_meta(product["meta_data"], body["meta_data"])
        if not product["manage_stock"]:
            product["stock_quantity"] = None

    def _product(self, product_id: int) -> dict[str, Any]:
        product = self.products.get(product_id)
        if product is None:
            raise invalid_id("product")
        return product

    def product_json(self, product_id: int) -> dict[str, Any]:
        """``GET /products/{id}``."""
        with self.lock:
            product = self._product(product_id)
            return self._stock_view(product, self._product_view(product))

    def variation_json(self, variation_id: int, parent_id: int | None = None) -> dict[str, Any]:
        """``GET /products/{parent}/variations/{id}``."""
        with self.lock:
            variation = self.variations.get(variation_id)
            if variation is None or (parent_id is not None and variation["parent_id"] != parent_id):
                raise invalid_id("product_variation")
            return self._stock_view(variation, self._product_view(variation))

    def variation_as_product(self, variation_id: int) -> dict[str, Any]:
        """A variation as ``GET /products?sku=`` lists it: a product of type ``variation``
        with its ``parent_id``, named after its parent and its options."""
        with self.lock:
            variation = self.variations[variation_id]
            parent = self._product(variation["parent_id"])
            options = ", ".join(a["option"] for a in variation["attributes"] if a["option"])
            return {
                **self.variation_json(variation_id),
                "type": "variation",
                "parent_id": parent["id"],
                "name": f"{parent['name']} - {options}" if options else parent["name"],
            }

    def _product_view(self, product: dict[str, Any]) -> dict[str, Any]:
        view = fresh({k: v for k, v in product.items() if not k.startswith("_")})
        view.update(self.site.pair("date_created", product["_created"]))
        view.update(self.site.pair("date_modified", product["_modified"]))
        view.update(self.site.pair("date_on_sale_from", None))
        view.update(self.site.pair("date_on_sale_to", None))
        on_sale = bool(product["sale_price"])
        view["price"] = product["sale_price"] if on_sale else product["regular_price"]
        view["on_sale"] = on_sale
        view["purchasable"] = view["price"] != ""
        if "parent_id" in product:
            view.pop("parent_id")
        return view

    @staticmethod
    def _stock_view(product: Mapping[str, Any], view: dict[str, Any]) -> dict[str, Any]:
        managed = product["manage_stock"]
        quantity = product["stock_quantity"]
        if managed and quantity is not None and quantity <= 0:
            status = "onbackorder" if product["backorders"] != "no" else "outofstock"
        else:
            status = "instock"
        view["stock_status"] = status
        view["backorders_allowed"] = product["backorders"] != "no"
        view["backordered"] = bool(managed and quantity is not None and quantity < 0)
        return view

    def update_product(self, product_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /products/{id}`` (400 for an unknown id, as WooCommerce answers)."""
        with self.lock:
            product = self.products.get(product_id)
            if product is None:
                raise invalid_id("product", 400)
            self._product_changes(product, body, creating=False)
            product["_modified"] = self.now()
            self._emit("product", "updated", product_id)
            return self.product_json(product_id)

    def update_variation(
        self, parent_id: int, variation_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT /products/{parent}/variations/{id}``."""
        with self.lock:
            variation = self.variations.get(variation_id)
            if variation is None or variation["parent_id"] != parent_id:
                raise invalid_id("product_variation", 400)
            self._product_changes(variation, body, creating=False)
            variation["_modified"] = self.now()
            self._emit("product", "updated", variation_id)
            return self.variation_json(variation_id)

    def _adjust_stock(self, product_id: int, variation_id: int, delta: int) -> None:
        """Change managed stock of the variation, else of the product; a save of it."""
        target = self.variations.get(variation_id) if variation_id else None
        if target is None or not target["manage_stock"]:
            target = self.products.get(product_id)
        if target is None or not target["manage_stock"] or target["stock_quantity"] is None:
            return
        target["stock_quantity"] += delta
        target["_modified"] = self.now()
        self._emit("product", "updated", target["id"])

    # --------------------------------------------------------------- customers

    def create_customer(
        self, body: Mapping[str, Any], *, when: datetime | None = None
    ) -> dict[str, Any]:
        """A registered customer; ``email`` is required and unique."""
        with self.lock:
            email = body.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise invalid_param("email", "Invalid email address.")
            if any(c["email"].lower() == email.lower() for c in self.customers.values()):
                raise WooError(
                    400,
                    "registration-error-email-exists",
                    "An account is already registered with your email address.",
                )
            moment = when or self.now()
            self._user_id += 1
            customer: dict[str, Any] = {
                "id": self._user_id,
                "_created": moment,
                "_modified": moment,
                "email": email,
                "first_name": str(body.get("first_name", "")),
                "last_name": str(body.get("last_name", "")),
                "role": "customer",
                "username": str(body.get("username") or email.split("@")[0]),
                "billing": self._address(body.get("billing"), "billing", billing=True),
                "shipping": self._address(body.get("shipping"), "shipping", billing=False),
                "is_paying_customer": False,
                "avatar_url": "https://secure.gravatar.com/avatar/"
                + hashlib.md5(email.lower().encode()).hexdigest(),
                "meta_data": self._merge_meta([], body.get("meta_data", [])),
            }
            self.customers[customer["id"]] = customer
            self._emit("customer", "created", customer["id"])
            return self.customer_json(customer["id"])

    def update_customer(self, customer_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /customers/{id}``: names, addresses (merged by field) and meta."""
        with self.lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise WooError(400, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            for name in ("first_name", "last_name"):
                if name in body:
                    customer[name] = text(body[name], name)
            for kind in ("billing", "shipping"):
                if kind in body:
                    merged = {**customer[kind], **self._fields(body[kind], kind)}
                    customer[kind] = self._address(merged, kind, billing=kind == "billing")
            if "meta_data" in body:
                customer["meta_data"] = self._merge_meta(customer["meta_data"], body["meta_data"])
            customer["_modified"] = self.now()
            self._emit("customer", "updated", customer_id)
            return self.customer_json(customer_id)

    def customer_json(self, customer_id: int) -> dict[str, Any]:
        """``GET /customers/{id}``."""
        with self.lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            view = fresh({k: v for k, v in customer.items() if not k.startswith("_")})
            view.update(self.site.pair("date_created", customer["_created"]))
            view.update(self.site.pair("date_modified", customer["_modified"]))
            return view

    @staticmethod
    def _fields(value: Any, name: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid_param(name, f"{name} is not of type object.")
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid_param(name, f"{name}[{key}] is not of type string.")
        return value

    def _address(self, value: Any, name: str, *, billing: bool) -> dict[str, str]:
        given = self._fields(value, name)
        keys = (*ADDRESS, "email", "phone") if billing else (*ADDRESS, "phone")
        address = {key: str(given.get(key, "")) for key in keys}
        if billing and address["email"] and "@" not in address["email"]:
            raise invalid_param(name, "billing[email] is not a valid email address.")
        return address

    def _merge_meta(self, current: list[dict[str, Any]], given: Any) -> list[dict[str, Any]]:
        """WooCommerce's meta update: by ``id`` or ``key``, a ``null`` value deletes."""
        if not isinstance(given, list):
            raise invalid_param("meta_data", "meta_data is not of type array.")
        merged = [dict(m) for m in current]
        for entry in given:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise invalid_param("meta_data", "meta_data[].key is required.")
            existing = next((m for m in merged if m["key"] == entry["key"]), None)
            if entry.get("value") is None:
                merged = [m for m in merged if m["key"] != entry["key"]]
            elif existing is not None:
                existing["value"] = entry["value"]
            else:
                merged.append(self._meta(entry["key"], entry["value"]))
        return merged

    # ------------------------------------------------------------------ orders

    def create_order(
        self,
        body: Mapping[str, Any],
        *,
        created_via: str = "rest-api",
        when: datetime | None = None,
    ) -> dict[str, Any]:
        """A new order: lines priced from their products unless given, totals computed, status
        ``pending`` unless asked (``set_paid`` pays it: ``processing``)."""
        with self.lock:
            if "id" in body:
                raise WooError(
                    400, "woocommerce_rest_shop_order_exists", "Cannot create existing shop_order."
                )
            moment = when or self.now()
            status = self._status(body.get("status", "pending"))
            currency = text(body.get("currency", self.currency), "currency")
            customer_id = integer(body.get("customer_id", 0), "customer_id", 0)
            if customer_id and customer_id not in self.customers:
                raise WooError(
                    400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid."
                )
            fields: dict[str, Any] = {
                "parent_id": integer(body.get("parent_id", 0), "parent_id", 0),
                "currency": currency,
                "customer_id": customer_id,
                "customer_note": str(body.get("customer_note", "")),
                "customer_ip_address": str(body.get("customer_ip_address", "")),
                "customer_user_agent": str(body.get("customer_user_agent", "")),
                "payment_method": str(body.get("payment_method", "")),
                "payment_method_title": str(body.get("payment_method_title", "")),
                "transaction_id": str(body.get("transaction_id", "")),
                "billing": self._address(body.get("billing"), "billing", billing=True),
                "shipping": self._address(body.get("shipping"), "shipping", billing=False),
                "order_key": "wc_order_"
                + "".join(
                    self._rng.choice(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    )
                    for _ in range(13)
                ),
            }
            if fields["payment_method"] and not fields["payment_method_title"]:
                fields["payment_method_title"] = PAYMENT_TITLES.get(fields["payment_method"], "")
            order = Order(
                id=self._next_post(),
                created=moment,
                modified=moment,
                status="pending",
                created_via=created_via,
                prices_include_tax=self.settings.prices_include_tax,
                items=[],
                fees=[],
                shipping_lines=[],
                coupons=[],
                fields=fields,
                meta=self._merge_meta([], body.get("meta_data", [])),
            )
            self._lines(order, body)
            self.orders[order.id] = order
            self._set_status(order, status, moment)
            if body.get("set_paid") is not None and boolean(body["set_paid"], "set_paid"):
                self._payment_complete(order, moment, order.fields["transaction_id"])
            self._recompute(order)
            self._emit("order", "created", order.id)
            return self.order_json(order.id)

    def update_order(
        self, order_id: int, body: Mapping[str, Any], *, when: datetime | None = None
    ) -> dict[str, Any]:
        """``PUT /orders/{id}``: status, addresses (merged), payment fields, meta, and lines
        (by ``id`` to change, without to add, ``quantity`` 0 to remove)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.trashed:
                raise invalid_id("shop_order", 400)
            moment = when or self.now()
            for kind in ("billing", "shipping"):
                if kind in body:
                    merged = {**order.fields[kind], **self._fields(body[kind], kind)}
                    order.fields[kind] = self._address(merged, kind, billing=kind == "billing")
            for name in (
                "customer_note",
                "payment_method",
                "payment_method_title",
                "transaction_id",
            ):
                if name in body:
                    order.fields[name] = text(body[name], name)
            if "customer_id" in body:
                customer_id = integer(body["customer_id"], "customer_id", 0)
                if customer_id and customer_id not in self.customers:
                    raise WooError(
                        400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid."
                    )
                order.fields["customer_id"] = customer_id
            if "meta_data" in body:
                order.meta = self._merge_meta(order.meta, body["meta_data"])
            self._lines(order, body)
            if "status" in body:
                self._set_status(order, self._status(body["status"]), moment)
            if body.get("set_paid") is not None and boolean(body["set_paid"], "set_paid"):
                self._payment_complete(order, moment, order.fields["transaction_id"])
            order.modified = max(moment, order.modified)
            self._recompute(order)
            self._emit("order", "updated", order.id)
            return self.order_json(order.id)

    def delete_order(self, order_id: int, force: bool) -> dict[str, Any]:
        """Trash (or, with ``force``, delete) an order; the answer is the order as it was."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or (order.trashed and not force):
                if order is not None:
                    raise WooError(
                        410,
                        "woocommerce_rest_already_trashed",
                        f"The shop_order with ID {order_id} has already been deleted.",
                    )
                raise invalid_id("shop_order")
            if not force:
                order.trashed = True
                order.modified = self.now()
            view = self.order_json(order_id)
            if force:
                del self.orders[order_id]
                for refund_id in order.refund_ids:
                    self.refunds.pop(refund_id, None)
            self._emit("order", "deleted", order_id)
            return view

    def pay_order(self, order_id: int, transaction_id: str = "") -> dict[str, Any]:
        """The gateway confirms payment (``payment_complete``): ``processing``."""
        with self.lock:
            order = self._order(order_id)
            moment = self.now()
            self._payment_complete(order, moment, transaction_id)
            order.modified = max(moment, order.modified)
            self._recompute(order)
            self._emit("order", "updated", order.id)
            return self.order_json(order.id)

    def _order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.trashed:
            raise invalid_id("shop_order")
        return order

    @staticmethod
    def _status(value: Any) -> str:
        if value not in STATUSES:
            raise not_one_of("status", STATUSES)
        return str(value)

    def _set_status(self, order: Order, status: str, moment: datetime) -> None:
        """A status change with its effects: stock reduced on the way to a paid or held state
        and restored on cancellation, ``date_paid`` and ``date_completed`` set."""
        previous = order.status
        order.status = status
        if status in STOCK_REDUCING and not order.stock_reduced:
            for item in order.items:
                self._adjust_stock(item["product_id"], item["variation_id"], -item["quantity"])
            order.stock_reduced = True
        if status == "cancelled" and order.stock_reduced:
            for item in order.items:
                self._adjust_stock(item["product_id"], item["variation_id"], item["quantity"])
            order.stock_reduced = False
        if status in ("processing", "completed") and order.paid is None:
            order.paid = moment
        if status == "completed" and previous != "completed":
            order.completed = moment

    def _payment_complete(self, order: Order, moment: datetime, transaction_id: str) -> None:
        if order.status in ("pending", "failed", "on-hold", "cancelled"):
            if transaction_id:
                order.fields["transaction_id"] = transaction_id
            order.paid = order.paid or moment
            needs_processing = any(not self._is_virtual(i) for i in order.items)
            self._set_status(order, "processing" if needs_processing else "completed", moment)
            customer = self.customers.get(order.fields["customer_id"])
            if customer is not None:
                customer["is_paying_customer"] = True

    def _is_virtual(self, item: Mapping[str, Any]) -> bool:
        product = self.products.get(item["product_id"])
        return bool(product and product["virtual"])

    def _lines(self, order: Order, body: Mapping[str, Any]) -> None:
        """Items, fees, shipping and coupons from a create or update body."""
        if "line_items" in body:
            for index, entry in enumerate(self._list(body["line_items"], "line_items")):
                self._item(order, entry, f"line_items[{index}]")
        if "fee_lines" in body:
            for index, entry in enumerate(self._list(body["fee_lines"], "fee_lines")):
                name = f"fee_lines[{index}]"
                line = self._existing(order.fees, entry, name)
                if line is None:
                    line = {
                        "id": self._next_item(),
                        "name": "",
                        "tax_class": "",
                        "tax_status": "taxable",
                        "amount": Decimal(0),
                        "meta_data": [],
                    }
                    order.fees.append(line)
                if "name" in entry:
                    line["name"] = text(entry["name"], f"{name}[name]")
                if "tax_status" in entry:
                    if entry["tax_status"] not in ("taxable", "none"):
                        raise not_one_of(f"{name}[tax_status]", ("taxable", "none"))
                    line["tax_status"] = entry["tax_status"]
                if "tax_class" in entry:
                    line["tax_class"] = text(entry["tax_class"], f"{name}[tax_class]")
                if "total" in entry:
                    line["amount"] = decimal(entry["total"], f"{name}[total]")
                if not line["name"]:
                    raise invalid_param(f"{name}[name]", "Fee name is required.")
        if "shipping_lines" in body:
            for index, entry in enumerate(self._list(body["shipping_lines"], "shipping_lines")):
                name = f"shipping_lines[{index}]"
                line = self._existing(order.shipping_lines, entry, name)
                if line is None:
                    line = {
                        "id": self._next_item(),
                        "method_title": "",
                        "method_id": "",
                        "instance_id": "",
                        "amount": Decimal(0),
                        "meta_data": [],
                    }
                    order.shipping_lines.append(line)
                for key in ("method_title", "method_id", "instance_id"):
                    if key in entry:
                        line[key] = text(entry[key], f"{name}[{key}]")
                if "total" in entry:
                    line["amount"] = decimal(entry["total"], f"{name}[total]")
        if "coupon_lines" in body:
            for index, entry in enumerate(self._list(body["coupon_lines"], "coupon_lines")):
                code = entry.get("code")
                if not isinstance(code, str) or not code:
                    raise invalid_param(f"coupon_lines[{index}][code]", "Coupon code is required.")
                percent = self.coupons.get(code.lower())
                if percent is None:
                    raise WooError(
                        400, "woocommerce_rest_invalid_coupon", f'Coupon "{code}" does not exist!'
                    )
                if not any(c["code"] == code.lower() for c in order.coupons):
                    order.coupons.append(
                        {"id": self._next_item(), "code": code.lower(), "percent": percent}
                    )

    @staticmethod
    def _list(value: Any, name: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid_param(name, f"{name} is not of type array of objects.")
        return value

    @staticmethod
    def _existing(
        lines: list[dict[str, Any]], entry: Mapping[str, Any], name: str
    ) -> dict[str, Any] | None:
        if "id" not in entry:
            return None
        line_id = integer(entry["id"], f"{name}[id]")
        line = next((line for line in lines if line["id"] == line_id), None)
        if line is None:
            raise WooError(
                400,
                "woocommerce_rest_invalid_item_id",
                "Order item ID provided is not associated with order.",
            )
        return line

    def _item(self, order: Order, entry: Mapping[str, Any], name: str) -> None:
        line = self._existing(order.items, entry, name)
        if line is None:
            product_id = integer(entry.get("product_id", 0), f"{name}[product_id]", 0)
            variation_id = integer(entry.get("variation_id", 0), f"{name}[variation_id]", 0)
            if not product_id and "sku" in entry:
                found = self.find_by_sku(str(entry["sku"]))
                if found is not None:
                    product_id, variation_id = found
            product = self.products.get(product_id)
            if product is None:
                raise WooError(
                    400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid."
                )
            variation = self.variations.get(variation_id) if variation_id else None
            if variation_id and (variation is None or variation["parent_id"] != product_id):
                raise WooError(
                    400,
                    "woocommerce_rest_invalid_variation_id",
                    "Variation ID provided is invalid.",
                )
            source = variation or product
            price = source["sale_price"] or source["regular_price"] or "0"
            label = product["name"]
            if variation is not None:
                label += " - " + ", ".join(a["option"] for a in variation["attributes"])
            line = {
                "id": self._next_item(),
                "name": label,
                "parent_name": product["name"] if variation is not None else None,
                "product_id": product_id,
                "variation_id": variation_id,
                "quantity": 1,
                "tax_class": source["tax_class"],
                "sku": source["sku"],
                "unit": Decimal(price),
                "meta_data": [],
                "image": {"id": "", "src": ""},
            }
            order.items.append(line)
        if "quantity" in entry:
            quantity = integer(entry["quantity"], f"{name}[quantity]", 0)
            if quantity == 0 and "id" in entry:
                order.items.remove(line)
                return
            if quantity == 0:
                raise invalid_param(
                    f"{name}[quantity]", "quantity must be greater than or equal to 1"
                )
            line["quantity"] = quantity
        if "total" in entry:
            line["unit"] = decimal(entry["total"], f"{name}[total]") / line["quantity"]
        if "name" in entry:
            line["name"] = text(entry["name"], f"{name}[name]")

    def find_by_sku(self, sku: str) -> tuple[int, int] | None:
        """``(product_id, variation_id)`` of a SKU."""
        for variation in self.variations.values():
            if variation["sku"] == sku:
                return variation["parent_id"], variation["id"]
        for product in self.products.values():
            if product["sku"] == sku:
                return product["id"], 0
        return None

    def _tax_country(self, order: Order) -> str:
        return order.fields["shipping"]["country"] or order.fields["billing"]["country"] or "DK"

    def _recompute(self, order: Order) -> None:
        """Lines, totals and the full JSON of an order after a save."""
        exempt = any(m["key"] == "is_vat_exempt" and m["value"] == "yes" for m in order.meta)
        country = self._tax_country(order)
        per_line = not self.settings.round_at_subtotal
        incl = order.prices_include_tax
        percent = min(sum((c["percent"] for c in order.coupons), Decimal(0)), Decimal(100))

        def rate(tax_class: str) -> TaxRate | None:
            return None if exempt else self.rate_for(country, tax_class)

        items = []
        coupon_net = Decimal(0)
        coupon_tax = Decimal(0)
        for item in order.items:
            amount = item["unit"] * item["quantity"]
            item_rate = rate(item["tax_class"])
            sub_net, sub_tax = tax_line(amount, item_rate, incl, per_line)
            tot_net, tot_tax = tax_line(amount * (100 - percent) / 100, item_rate, incl, per_line)
            coupon_net += sub_net - tot_net
            coupon_tax += sub_tax - tot_tax
            data = _line_copy(item, "unit")
            items.append(
                (data, Line(sub_net, tot_net, item_rate, sub_tax, tot_tax), item["quantity"])
            )
        fees = []
        for fee in order.fees:
            fee_rate = rate(fee["tax_class"]) if fee["tax_status"] == "taxable" else None
            net, tax = tax_line(fee["amount"], fee_rate, False, per_line)
            data = _line_copy(fee, "amount")
            fees.append((data, Line(net, net, fee_rate, tax, tax)))
        shipping = []
        for ship in order.shipping_lines:
            ship_rate = rate("")
            if ship_rate is not None and not ship_rate.shipping:
                ship_rate = None
            net, tax = tax_line(ship["amount"], ship_rate, False, per_line)
            data = _line_copy(ship, "amount")
            shipping.append((data, Line(net, net, ship_rate, tax, tax)))
        totals = compute(items, fees, shipping)
        tax_line_ids = iter(range(10**6 + order.id * 10, 10**6 + order.id * 10 + 10))
        for line in totals.tax_lines:
            line["id"] = next(tax_line_ids)
        coupons = []
        for coupon in order.coupons:
            share = coupon["percent"] / percent if percent else Decimal(0)
            coupons.append(
                {
                    "id": coupon["id"],
                    "code": coupon["code"],
                    "discount": money(coupon_net * share),
                    "discount_tax": money(coupon_tax * share),
                    "discount_type": "percent",
                    "nominal_amount": float(coupon["percent"]),
                    "free_shipping": False,
                    "meta_data": [],
                }
            )
        refunded = sum((Decimal(self.refunds[r]["amount"]) for r in order.refund_ids), Decimal(0))
        fields = order.fields
        total = Decimal(totals.fields["total"])
        needs_payment = order.status in ("pending", "failed") and total > 0
        order.json = {
            "id": order.id,
            "parent_id": fields["parent_id"],
            "status": order.status,
            "currency": fields["currency"],
            "version": "9.9.3",
            "prices_include_tax": order.prices_include_tax,
            **self.site.pair("date_created", order.created),
            **self.site.pair("date_modified", order.modified),
            **totals.fields,
            "customer_id": fields["customer_id"],
            "order_key": fields["order_key"],
            "billing": dict(fields["billing"]),
            "shipping": dict(fields["shipping"]),
            "payment_method": fields["payment_method"],
            "payment_method_title": fields["payment_method_title"],
            "transaction_id": fields["transaction_id"],
            "customer_ip_address": fields["customer_ip_address"],
            "customer_user_agent": fields["customer_user_agent"],
            "created_via": order.created_via,
            "customer_note": fields["customer_note"],
            **self.site.pair("date_completed", order.completed),
            **self.site.pair("date_paid", order.paid),
            "cart_hash": "",
            "number": str(order.id),
            "meta_data": [dict(m) for m in order.meta],
            "line_items": totals.items,
            "tax_lines": totals.tax_lines,
            "shipping_lines": totals.shipping,
            "fee_lines": totals.fees,
            "coupon_lines": coupons,
            "refunds": [
                {
                    "id": r,
                    "reason": self.refunds[r]["reason"],
                    "total": "-" + self.refunds[r]["amount"],
                }
                for r in reversed(order.refund_ids)
            ],
            "payment_url": f"{self.home_url}/kassen/order-pay/{order.id}/"
            f"?pay_for_order=true&key={fields['order_key']}",
            "is_editable": order.status in ("pending", "on-hold"),
            "needs_payment": needs_payment,
            "needs_processing": any(not self._is_virtual(i) for i in order.items),
            "currency_symbol": "kr." if fields["currency"] == "DKK" else fields["currency"],
            "_refunded": money(refunded),
        }

    def order_json(self, order_id: int) -> dict[str, Any]:
        """``GET /orders/{id}`` (a trashed order shows status ``trash``)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise invalid_id("shop_order")
            view = fresh(order.json)
            view.pop("_refunded", None)
            if order.trashed:
                view["status"] = "trash"
            return view

    # ----------------------------------------------------------------- refunds

    def refundable(self, order_id: int) -> Order:
        """The order of a refunds route; the refunds controller names a missing one
        ``woocommerce_rest_invalid_order_id``."""
        order = self.orders.get(order_id)
        if order is None or order.trashed:
            raise WooError(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
        return order

    def create_refund(self, order_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /orders/{id}/refunds``: lines with ``refund_total``/``refund_tax``, or an
        amount, or both (``amount`` wins). Fully refunded orders become ``refunded``."""
        with self.lock:
            order = self.refundable(order_id)
            lines: list[dict[str, Any]] = []
            line_sum = Decimal(0)
            restock: list[tuple[dict[str, Any], int]] = []
            for index, entry in enumerate(self._list(body.get("line_items", []), "line_items")):
                name = f"line_items[{index}]"
                item_id = integer(entry.get("id"), f"{name}[id]")
                item = next((i for i in order.json["line_items"] if i["id"] == item_id), None)
                if item is None:
                    raise WooError(
                        400,
                        "woocommerce_rest_invalid_item_id",
                        "Order item ID provided is not associated with order.",
                    )
                quantity = integer(entry.get("quantity", 0), f"{name}[quantity]", 0)
                net = decimal(entry.get("refund_total", 0), f"{name}[refund_total]")
                taxes = []
                tax_sum = Decimal(0)
                for t_index, tax in enumerate(
                    self._list(entry.get("refund_tax", []), f"{name}[refund_tax]")
                ):
                    amount = decimal(
                        tax.get("refund_total", 0), f"{name}[refund_tax][{t_index}][refund_total]"
                    )
                    rate_id = integer(tax.get("id"), f"{name}[refund_tax][{t_index}][id]")
                    taxes.append(
                        {"id": rate_id, "total": money(-amount), "subtotal": money(-amount)}
                    )
                    tax_sum += amount
                if quantity == 0 and net == 0 and tax_sum == 0:
                    continue
                line_sum += net + tax_sum
                lines.append(
                    {
                        "id": self._next_item(),
                        "name": item["name"],
                        "product_id": item["product_id"],
                        "variation_id": item["variation_id"],
                        "quantity": -quantity,
                        "tax_class": item["tax_class"],
                        "subtotal": money(-net),
                        "subtotal_tax": money(-tax_sum),
                        "total": money(-net),
                        "total_tax": money(-tax_sum),
                        "taxes": taxes,
                        "meta_data": [self._meta("_refunded_item_id", str(item_id))],
                        "sku": item["sku"],
                        "price": float(-net / quantity) if quantity else 0.0,
                    }
                )
                if quantity:
                    restock.append((item, quantity))
            if body.get("amount") not in (None, ""):
                amount = rnd(decimal(body["amount"], "amount"))
            else:
                amount = rnd(line_sum)
            if amount <= 0:
                raise WooError(
                    400,
                    "woocommerce_rest_invalid_order_refund",
                    "Refund amount must be greater than zero.",
                )
            already = Decimal(order.json["_refunded"])
            if amount > Decimal(order.json["total"]) - already:
                raise WooError(
                    400, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount."
                )
            moment = self.now()
            refund_id = self._next_post()
            api_refund = boolean(body.get("api_refund", True), "api_refund")
            refund = {
                "id": refund_id,
                "parent_id": order.id,
                "_created": moment,
                "amount": money(amount),
                "reason": str(body.get("reason", "")),
                "refunded_by": integer(body.get("refunded_by", 1), "refunded_by", 0),
                "refunded_payment": api_refund,
                "meta_data": self._merge_meta([], body.get("meta_data", [])),
                "line_items": lines,
                "shipping_lines": [],
                "tax_lines": [],
                "fee_lines": [],
            }
            self.refunds[refund_id] = refund
            order.refund_ids.append(refund_id)
            if boolean(body.get("api_restock", True), "api_restock"):
                for item, quantity in restock:
                    self._adjust_stock(item["product_id"], item["variation_id"], quantity)
            order.modified = max(moment, order.modified)
            self._recompute(order)
            if Decimal(order.json["_refunded"]) >= Decimal(order.json["total"]):
                self._set_status(order, "refunded", moment)
                self._recompute(order)
            self._emit("order", "updated", order.id)
            return self.refund_json(refund_id)

    def refund_json(
        self, refund_id: int, order_id: int | None = None, *, with_parent: bool = False
    ) -> dict[str, Any]:
        """One refund (``parent_id`` only in ``/refunds``, as there)."""
        with self.lock:
            refund = self.refunds.get(refund_id)
            if refund is None or (order_id is not None and refund["parent_id"] != order_id):
                raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            view = fresh({k: v for k, v in refund.items() if not k.startswith("_")})
            view.update(self.site.pair("date_created", refund["_created"]))
            if not with_parent:
                view.pop("parent_id")
                for key in ("shipping_lines", "tax_lines", "fee_lines"):
                    view.pop(key)
            return view

    def delete_refund(self, order_id: int, refund_id: int) -> dict[str, Any]:
        """``DELETE /orders/{id}/refunds/{rid}?force=true`` (the order's status stays)."""
        with self.lock:
            view = self.refund_json(refund_id, order_id)
            order = self._order(order_id)
            order.refund_ids.remove(refund_id)
            del self.refunds[refund_id]
            order.modified = max(self.now(), order.modified)
            self._recompute(order)
            self._emit("order", "updated", order.id)
            return view

    # ----------------------------------------------------------- subscriptions

    def create_subscription(
        self,
        customer_id: int,
        lines: list[dict[str, Any]],
        payment_method: str,
        *,
        when: datetime | None = None,
    ) -> dict[str, Any]:
        """A WooCommerce Subscriptions subscription (kept in the sandbox; its REST routes are
        not served) with its parent order, paid."""
        with self.lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise invalid_param("customer_id", "customer_id names no customer")
            moment = when or self.now()
            parent = self.create_order(
                {
                    "customer_id": customer_id,
                    "billing": customer["billing"],
                    "shipping": customer["shipping"],
                    "payment_method": payment_method,
                    "line_items": lines,
                    "set_paid": True,
                },
                created_via="checkout",
                when=moment,
            )
            subscription = {
                "id": self._next_post(),
                "customer_id": customer_id,
                "status": "active",
                "billing_period": "month",
                "billing_interval": 1,
                "parent_id": parent["id"],
                "payment_method": payment_method,
                "line_items": fresh(lines),
                "renewal_ids": [],
            }
            self.subscriptions[subscription["id"]] = subscription
            return fresh(subscription)

    def renew(
        self, subscription_id: int, outcome: str = "paid", *, when: datetime | None = None
    ) -> dict[str, Any]:
        """A renewal order as WooCommerce Subscriptions makes it: ``created_via``
        ``subscription``, meta ``_subscription_renewal``, created ``pending`` (order.created),
        then paid (``processing``, or ``completed`` when nothing ships) or ``failed``
        (order.updated), or left ``pending``."""
        if outcome not in ("paid", "failed", "pending"):
            raise not_one_of("outcome", ("paid", "failed", "pending"))
        with self.lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                raise WooError(404, "woocommerce_rest_invalid_id", "Invalid subscription ID.")
            customer = self.customers[subscription["customer_id"]]
            moment = when or self.now()
            order = self.create_order(
                {
                    "customer_id": customer["id"],
                    "billing": customer["billing"],
                    "shipping": customer["shipping"],
                    "payment_method": subscription["payment_method"],
                    "line_items": subscription["line_items"],
                    "meta_data": [{"key": "_subscription_renewal", "value": str(subscription_id)}],
                },
                created_via="subscription",
                when=moment,
            )
            subscription["renewal_ids"].append(order["id"])
            if outcome == "paid":
                order = self.pay_order(order["id"], f"txn_{order['id']}")
                subscription["status"] = "active"
            elif outcome == "failed":
                order = self.update_order(order["id"], {"status": "failed"}, when=moment)
                subscription["status"] = "on-hold"
            return order

    # ---------------------------------------------------------------- webhooks

    def create_webhook(self, body: Mapping[str, Any], secret_default: str) -> dict[str, Any]:
        """``POST /webhooks``; an active webhook is pinged once."""
        with self.lock:
            topic = str(body.get("topic", "")).lower()
            if not valid_topic(topic):
                raise WooError(
                    400,
                    "woocommerce_rest_shop_webhook_invalid_topic",
                    "Webhook topic is required and must be valid.",
                )
            url = body.get("delivery_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise WooError(
                    400,
                    "woocommerce_rest_shop_webhook_invalid_delivery_url",
                    "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                )
            status = body.get("status", "active")
            if status not in ("active", "paused", "disabled"):
                raise not_one_of("status", ("active", "paused", "disabled"))
            moment = self.now()
            self._webhook_id += 1
            secret = body.get("secret") or secret_default
            name = body.get("name") or "Webhook created on " + moment.astimezone(
                self.site.zone
            ).strftime("%B %d, %Y @ %I:%M %p")
            hook = Webhook(
                self._webhook_id,
                text(name, "name"),
                status,
                topic,
                url,
                text(secret, "secret"),
                moment,
                moment,
            )
            self.webhooks[hook.id] = hook
            self._maybe_ping(hook)
            return self.webhook_json(hook.id)

    def update_webhook(self, webhook_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /webhooks/{id}``; setting ``status`` to ``active`` re-enables a disabled one
        and clears its failure count."""
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                raise WooError(400, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
            if "topic" in body:
                topic = str(body["topic"]).lower()
                if not valid_topic(topic):
                    raise WooError(
                        400,
                        "woocommerce_rest_shop_webhook_invalid_topic",
                        "Webhook topic must be valid.",
                    )
                hook.topic = topic
            if "delivery_url" in body:
                url = body["delivery_url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise WooError(
                        400,
                        "woocommerce_rest_shop_webhook_invalid_delivery_url",
                        "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                    )
                hook.delivery_url = url
            if "status" in body:
                if body["status"] not in ("active", "paused", "disabled"):
                    raise not_one_of("status", ("active", "paused", "disabled"))
                if body["status"] == "active":
                    hook.failure_count = 0
                hook.status = body["status"]
            if "secret" in body:
                hook.secret = text(body["secret"], "secret")
            if "name" in body:
                hook.name = text(body["name"], "name")
            hook.modified = self.now()
            self._maybe_ping(hook)
            return self.webhook_json(webhook_id)

    def delete_webhook(self, webhook_id: int) -> dict[str, Any]:
        """``DELETE /webhooks/{id}?force=true``."""
        with self.lock:
            view = self.webhook_json(webhook_id)
            del self.webhooks[webhook_id]
            return view

    def webhook_json(self, webhook_id: int) -> dict[str, Any]:
        """``GET /webhooks/{id}`` (the secret is write-only)."""
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                raise WooError(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
            resource, event = hook.topic.split(".", 1)
            return {
                "id": hook.id,
                "name": hook.name,
                "status": hook.status,
                "topic": hook.topic,
                "resource": resource,
                "event": event,
                "hooks": list(HOOKS.get(hook.topic, [event])),
                "delivery_url": hook.delivery_url,
                **self.site.pair("date_created", hook.created),
                **self.site.pair("date_modified", hook.modified),
            }

    def _maybe_ping(self, hook: Webhook) -> None:
        """Ping an active webhook on each save until a ping is answered 200
        (``pending_delivery``)."""
        if hook.status == "active" and not hook.pinged:
            self.hooks.submit(Job(hook.id, hook.topic, 0, ping=True))

    def _emit(self, resource: str, event: str, resource_id: int) -> None:
        """Queue the deliveries of one save, with the repeat and miss defects."""
        topic = f"{resource}.{event}"
        for hook in self.webhooks.values():
            if hook.status != "active" or hook.topic != topic:
                continue
            if self._hook_rng.random() < self.settings.webhook_miss_rate:
                self.hooks.record_miss(hook.id, topic, resource_id)
                continue
            low, high = self.settings.webhook_repeats
            copies = self._hook_rng.randint(low, high) if topic == "order.updated" else 1
            for number in range(1, copies + 1):
                self.hooks.submit(
                    Job(hook.id, topic, resource_id, deleted=event == "deleted", copy=number)
                )

    def _hook_target(self, webhook_id: int) -> Target | None:
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return None
            return Target(hook.delivery_url, hook.secret, hook.status == "active")

    def _hook_payload(self, job: Job) -> bytes | None:
        """The resource as ``GET`` shows it now (``{"id"}`` for a deletion)."""
        with self.lock:
            if job.deleted:
                return dumps({"id": job.resource_id})
            resource = job.topic.split(".", 1)[0]
            try:
                if resource == "order":
                    body = self.order_json(job.resource_id)
                elif resource == "customer":
                    body = self.customer_json(job.resource_id)
                elif job.resource_id in self.variations:
                    body = {
                        **self.variation_json(job.resource_id),
                        "type": "variation",
                        "parent_id": self.variations[job.resource_id]["parent_id"],
                    }
                else:
                    body = self.product_json(job.resource_id)
            except WooError:
                return None
            base = f"{self.home_url}/wp-json/wc/v3/{resource}s"
            body["_links"] = {
                "self": [{"href": f"{base}/{job.resource_id}"}],
                "collection": [{"href": base}],
            }
            return dumps(body)

    def _hook_result(self, webhook_id: int, ok: bool, ping: bool) -> None:
        """Bookkeeping after an attempt, as ``log_delivery``/``failed_delivery``: a failure
        when the count already exceeds the limit disables the webhook (with the default 5,
        the seventh failure in a row); a ping answered 200 is not sent again."""
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return
            if ping:
                hook.pinged = ok
                return
            if ok:
                hook.failure_count = 0
            elif hook.failure_count > self.settings.max_failures:
                hook.status = "disabled"
                hook.modified = self.now()
            else:
                hook.failure_count += 1

    # ------------------------------------------------------------------- views

    def summary(self) -> dict[str, Any]:
        """Counts, credentials and settings for the control API."""
        with self.lock:
            statuses: dict[str, int] = {}
            for order in self.orders.values():
                if not order.trashed:
                    statuses[order.status] = statuses.get(order.status, 0) + 1
            return {
                "orders": len(self.orders),
                "order_statuses": statuses,
                "refunds": len(self.refunds),
                "products": len(self.products),
                "variations": len(self.variations),
                "customers": len(self.customers),
                "subscriptions": len(self.subscriptions),
                "webhooks": [
                    {**self.webhook_json(h.id), "failure_count": h.failure_count}
                    for h in self.webhooks.values()
                ],
                "keys": [
                    {
                        "consumer_key": k.consumer_key,
                        "consumer_secret": k.consumer_secret,
                        "permissions": k.permissions,
                    }
                    for k in self.keys.values()
                ],
                "settings": self.settings.to_json(),
                "rounding_gap_orders": self.rounding_gaps(),
            }

    def rounding_gaps(self) -> list[int]:
        """Orders whose ``total_tax`` differs from the tax on their summed net amounts, or
        whose printed line taxes do not add up to ``total_tax``: the 1-cent gaps."""
        gaps = []
        for order in self.orders.values():
            data = order.json
            printed = sum(
                (
                    Decimal(line["total_tax"])
                    for kind in ("line_items", "fee_lines", "shipping_lines")
                    for line in data[kind]
                ),
                Decimal(0),
            )
            recomputed = Decimal(0)
            for tax in data["tax_lines"]:
                share = Decimal(str(tax["rate_percent"])) / 100
                base = sum(
                    (
                        Decimal(line["total"])
                        for kind in ("line_items", "fee_lines", "shipping_lines")
                        for line in data[kind]
                        if any(t["id"] == tax["rate_id"] for t in line["taxes"])
                    ),
                    Decimal(0),
                )
                recomputed += rnd(base * share)
            total_tax = Decimal(data["total_tax"])
            if total_tax and (printed != total_tax or recomputed != total_tax):
                gaps.append(order.id)
        return sorted(gaps)


def _line_copy(line: Mapping[str, Any], drop: str) -> dict[str, Any]:
    """An order line for the JSON view, without its entered amount (nested parts copied)."""
    data = {k: v for k, v in line.items() if k != drop}
    data["meta_data"] = [dict(m) for m in line["meta_data"]]
    if "image" in data:
        data["image"] = dict(data["image"])
    return data


def valid_topic(topic: str) -> bool:
    """``resource.event`` of the core topics, or ``action.<hook>``."""
    resource, _, event = topic.partition(".")
    if resource == "action":
        return bool(event)
    return resource in RESOURCES and event in EVENTS


def parse_repeats(value: Any) -> tuple[int, int]:
    """``"2-9"``, ``[2, 9]`` or ``3``: how many deliveries one save makes."""
    if isinstance(value, str) and "-" in value:
        parts: Iterable[Any] = value.split("-", 1)
    elif isinstance(value, list | tuple):
        parts = value
    else:
        parts = (value, value)
    numbers = [integer(p, "webhook_repeats", 1) for p in parts]
    if len(numbers) != 2 or numbers[0] > numbers[1] or numbers[1] > 20:
        raise invalid_param("webhook_repeats", "webhook_repeats must be a range like 2-9 (1 to 20)")
    return numbers[0], numbers[1]
