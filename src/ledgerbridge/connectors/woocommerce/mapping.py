"""WooCommerce JSON ⇄ canonical records: pure functions, no I/O.

Orders and refunds come in as the shop reports them (its totals, its tax lines, its rounding:
see ``model.commerce``); products go both ways by SKU, a variation being a product of its own;
stock goes out only, onto the product or variation the hub product is linked to.

WooCommerce facts relied on (``shared/research/api-woocommerce.md``): amounts are strings with
two decimals, line ``total``/``subtotal`` are net of VAT even when prices include it, a coupon's
discount is already inside each line's ``subtotal − total``, a negative fee is a manual
discount, refund lines carry negative quantities and amounts with ``_refunded_item_id`` in
their meta, and ``*_gmt`` dates are UTC without an offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.connectors.base import JSON, EntityMapping, Gathering, RemoteRef, SkipRecord
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.kit.values import dec, decimal, named, text
from ledgerbridge.connectors.woocommerce.prices import STANDARD, PriceBasis, wire_class
from ledgerbridge.model.numbers import PRICE_EXTRA_PLACES, currency_places

VAT_NUMBER_KEYS = ("_billing_vat_number", "_vat_number", "vat_number", "billing_vat_number")
"""Order meta keys EU VAT plugins keep a business's VAT number under (WooCommerce core has
none; the first is the sandbox's and the most common plugins')."""
EAN_KEYS = ("_billing_ean_number", "_ean_number", "ean_number")
"""Order meta keys of a Danish public customer's EAN (GLN) number."""
RENEWAL_KEY = "_subscription_renewal"
"""WooCommerce Subscriptions' meta on a renewal order: the subscription's id."""
PARENT_KEYS = ("_subscription_parent",)
"""Meta some Subscriptions versions put on a subscription's first order."""


def utc(value: Any) -> str | None:
    """A ``*_gmt`` date (``2026-12-01T07:37:05``, UTC without offset) as an ISO moment."""
    raw = text(value)
    if raw is None:
        return None
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def meta(remote: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    """The first non-empty value among ``keys`` in ``meta_data``."""
    entries = {
        str(entry.get("key")): entry.get("value")
        for entry in remote.get("meta_data") or []
        if isinstance(entry, dict)
    }
    for key in keys:
        value = text(entries.get(key))
        if value is not None:
            return value
    return None


def address(wire: Any) -> JSON | None:
    """A billing or shipping block as an ``Address``; None when it holds nothing."""
    if not isinstance(wire, dict):
        return None
    found = {
        "line1": text(wire.get("address_1")),
        "line2": text(wire.get("address_2")),
        "postal_code": text(wire.get("postcode")),
        "city": text(wire.get("city")),
        "region": text(wire.get("state")),
        "country": text(wire.get("country")),
    }
    return found if any(found.values()) else None


def money(value: Any) -> Decimal:
    """A wire amount (``"12.50"``; absent or empty is 0) as a ``Decimal``; a value that is no
    number makes the record unreadable rather than zero."""
    if value is None or value == "":
        return Decimal(0)
    number = decimal(value)
    if number is None or not number.is_finite():
        raise SkipRecord("invalid_remote_data", f"{value!r} is not an amount")
    return number


def _rates(remote: Mapping[str, Any]) -> dict[str, Decimal]:
    """Tax rate id → percent, from the order's ``tax_lines``."""
    rates: dict[str, Decimal] = {}
    for line in remote.get("tax_lines") or []:
        percent = decimal(line.get("rate_percent"))
        if line.get("rate_id") is not None and percent is not None:
            rates[str(line["rate_id"])] = percent
    return rates


def _line_rate(line: Mapping[str, Any], rates: Mapping[str, Decimal]) -> Decimal:
    """The VAT rate of a line: the rates of the taxes it was charged (compound rates add up);
    0 when it carries none. A rate the order's tax lines do not name is derived from the
    line's own amounts, to a hundredth of a percent."""
    taxes = [t for t in line.get("taxes") or [] if money(t.get("total") or t.get("subtotal"))]
    if not taxes:
        return Decimal(0)
    known = [rates.get(str(t.get("id"))) for t in taxes]
    if all(rate is not None for rate in known):
        return sum((rate for rate in known if rate is not None), Decimal(0))
    net, tax = money(line.get("total")), money(line.get("total_tax"))
    if not net:
        return Decimal(0)
    return (tax / net * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _unit_price(net: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """Net price per unit after discounts, to the precision a line's unit price may have."""
    quantum = Decimal(1).scaleb(-(currency_places(currency) + PRICE_EXTRA_PLACES))
    return (net / quantity).quantize(quantum, rounding=ROUND_HALF_UP)


def order_lines(remote: Mapping[str, Any], currency: str) -> list[JSON]:
    """Items, shipping and fees (a negative fee is a discount); coupons are already inside
    the item lines, so they add no line."""
    rates = _rates(remote)
    lines: list[JSON] = []
    for item in remote.get("line_items") or []:
        quantity = money(item.get("quantity"))
        net = money(item.get("total"))
        if not quantity:
            raise SkipRecord("invalid_remote_data", f"order line {item.get('id')} has quantity 0")
        lines.append(
            {
                "source_id": text(item.get("id")),
                "kind": "item",
                "sku": text(item.get("sku")),
                "description": text(item.get("name")),
                "quantity": str(quantity),
                "unit_price": str(_unit_price(net, quantity, currency)),
                "tax_rate": str(_line_rate(item, rates)),
                "net_amount": str(net),
                "tax_amount": str(money(item.get("total_tax"))),
            }
        )
    for shipping in remote.get("shipping_lines") or []:
        net = money(shipping.get("total"))
        lines.append(
            {
                "source_id": text(shipping.get("id")),
                "kind": "shipping",
                "description": text(shipping.get("method_title")),
                "quantity": "1",
                "unit_price": str(net),
                "tax_rate": str(_line_rate(shipping, rates)),
                "net_amount": str(net),
                "tax_amount": str(money(shipping.get("total_tax"))),
            }
        )
    for fee in remote.get("fee_lines") or []:
        net = money(fee.get("total"))
        lines.append(
            {
                "source_id": text(fee.get("id")),
                "kind": "discount" if net < 0 else "fee",
                "description": text(fee.get("name")),
                "quantity": "1",
                "unit_price": str(net),
                "tax_rate": str(_line_rate(fee, rates)),
                "net_amount": str(net),
                "tax_amount": str(money(fee.get("total_tax"))),
            }
        )
    return lines


def tax_lines(remote: Mapping[str, Any]) -> list[JSON]:
    return [
        {
            "rate_code": text(tax.get("rate_code")),
            "label": text(tax.get("label")),
            "rate": str(decimal(tax.get("rate_percent")) or 0),
            "tax_total": str(money(tax.get("tax_total"))),
            "shipping_tax_total": str(money(tax.get("shipping_tax_total"))),
        }
        for tax in remote.get("tax_lines") or []
    ]


def customer(remote: Mapping[str, Any]) -> JSON:
    """Who ordered: the billing person and company, the VAT number and EAN the plugins keep in
    the order's meta, and the shop's customer id (none for a guest)."""
    billing = remote.get("billing") or {}
    person = " ".join(
        part for part in (text(billing.get("first_name")), text(billing.get("last_name"))) if part
    )
    customer_id = remote.get("customer_id")
    return {
        "email": text(billing.get("email")),
        "phone": text(billing.get("phone")),
        "name": person or None,
        "company": text(billing.get("company")),
        "vat_number": meta(remote, VAT_NUMBER_KEYS),
        "ean": meta(remote, EAN_KEYS),
        "source_id": str(customer_id) if customer_id not in (None, 0, "0", "") else None,
    }


class OrderMapping(EntityMapping):
    """Orders, inbound only: the shop is where they start. Read by ``modified_after``; a save
    reaches the hub as the order's new state (status, payment, lines)."""

    entity = "order"
    remote_entity = "order"
    fields = frozenset(
        {"source_id", "number", "state", "created_at", "paid_at", "currency", "lines", "total",
         "total_tax", "tax_lines", "payment_method", "transaction_id", "billing_address",
         "shipping_address", "customer", "subscription_id", "renewal", "note"}
    )  # fmt: skip
    business_key_field = "source_id"
    incremental = True
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        currency = text(remote.get("currency"))
        if currency is None:
            raise SkipRecord("invalid_remote_data", f"order {remote.get('id')} has no currency")
        created = utc(remote.get("date_created_gmt"))
        if created is None:
            raise SkipRecord("invalid_remote_data", f"order {remote.get('id')} has no date")
        renewal_of = meta(remote, (RENEWAL_KEY,))
        method = text(remote.get("payment_method"))
        return {
            "source_id": str(remote["id"]),
            "number": text(remote.get("number")),
            "state": text(remote.get("status")) or "pending",
            "created_at": created,
            "paid_at": utc(remote.get("date_paid_gmt")),
            "currency": currency,
            "lines": order_lines(remote, currency.upper()),
            "total": str(money(remote.get("total"))),
            "total_tax": str(money(remote.get("total_tax"))),
            "tax_lines": tax_lines(remote),
            "payment_method": (
                {"code": method, "title": text(remote.get("payment_method_title"))}
                if method
                else None
            ),
            "transaction_id": text(remote.get("transaction_id")),
            "billing_address": address(remote.get("billing")),
            "shipping_address": address(remote.get("shipping")),
            "customer": customer(remote),
            "subscription_id": renewal_of or meta(remote, PARENT_KEYS),
            "renewal": renewal_of is not None,
            "note": text(remote.get("customer_note")),
        }


class RefundMapping(EntityMapping):
    """Refunds, inbound only. WooCommerce gives refund lines negative quantities and amounts;
    the hub's are positive. The order's currency rides along as ``_currency`` (a refund does not
    carry it)."""

    entity = "refund"
    remote_entity = "order refund"
    fields = frozenset(
        {"source_id", "order_source_id", "created_at", "currency", "amount", "reason", "lines"}
    )
    business_key_field = "source_id"
    incremental = True
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        order_id = text(remote.get("parent_id"))
        if order_id is None or order_id == "0":
            raise SkipRecord("invalid_remote_data", f"refund {remote.get('id')} names no order")
        currency = text(remote.get("_currency"))
        if currency is None:
            raise SkipRecord(
                "refund_order_missing",
                f"refund {remote.get('id')}: its order {order_id} could not be read",
            )
        lines = []
        for line in remote.get("line_items") or []:
            lines.append(
                {
                    "order_line_id": meta(line, ("_refunded_item_id",)),
                    "sku": text(line.get("sku")),
                    "description": text(line.get("name")),
                    "quantity": str(abs(money(line.get("quantity")))),
                    "net_amount": str(-money(line.get("total"))),
                    "tax_amount": str(-money(line.get("total_tax"))),
                }
            )
        return {
            "source_id": str(remote["id"]),
            "order_source_id": order_id,
            "created_at": utc(remote.get("date_created_gmt")),
            "currency": currency,
            "amount": str(money(remote.get("amount"))),
            "reason": text(remote.get("reason")),
            "lines": lines,
        }


def product_remote_id(product_id: Any, variation_id: Any = None) -> str:
    """``<product id>`` for a product, ``<parent id>:<variation id>`` for a variation: a
    variation is read and written under its parent."""
    return f"{product_id}:{variation_id}" if variation_id else str(product_id)


def split_remote_id(remote_id: str) -> tuple[int, int | None]:
    """(product id, variation id or None) of a products remote id."""
    head, _, tail = remote_id.partition(":")
    return int(head), int(tail) if tail else None


def _tax_class(product: JSON) -> str | None:
    """A product's tax class; a variation's ``parent`` is its parent's."""
    name = product.get("tax_class")
    return product.get("_parent_tax_class") if name == "parent" else name


def classes_owned(tax_classes: Mapping[str, str]) -> dict[str, str]:
    """The VAT code each mapped class other than the standard one stands for: such a class
    is the map's, so a product in it is compared by that code. Two codes in one class are
    told by the first, which both project to alike. The standard class is every unmapped
    product's too, so it stands for no code."""
    owned: dict[str, str] = {}
    for code, slug in sorted(tax_classes.items()):
        if slug != STANDARD:
            owned.setdefault(slug, code)
    return owned


class ProductMapping(EntityMapping):
    """Products by SKU, both ways: which side is master is the connection's choice
    (``settings.entities.products.direction``). A variation is a product with its own SKU,
    named after its parent and its options; a variable product itself (which is not sold) is
    left out. The hub's price is the shop's regular price without VAT: where the shop enters
    prices with VAT, the VAT of the product's tax class is taken off and added back
    (``prices.PriceBasis``). A product whose accounting VAT code the connection maps to a tax
    class (``settings.tax_classes``) is sent with that class, and its price with that class's
    VAT; one whose code is no longer mapped leaves such a class for the standard one; any other
    keeps the class it has in the shop. With such a map the VAT code is compared too, so a code
    changed in the accounting system reaches the shop, and a class changed in the shop reaches
    the hub as the code the map gives it."""

    entity = "product"
    remote_entity = "product"
    fields = frozenset({"sku", "name", "sales_price", "active"})
    business_key_field = "sku"

    def __init__(
        self,
        basis: PriceBasis | None = None,
        *,
        services: bool = False,
        tax_classes: Mapping[str, str] | None = None,
    ) -> None:
        self.basis = basis or PriceBasis()
        self.services = services
        self.tax_classes = dict(tax_classes or {})
        self.owned = classes_owned(self.tax_classes)
        if self.owned:
            # The class follows the VAT code: a code changed in the accounting system is a
            # change the shop must get, though the net price is the same.
            self.fields = ProductMapping.fields | {"vat_code"}
        self.scope = "services" if services else ""

    def in_scope(self, record: JSON) -> bool:
        """The accounting system's service items (shipping, fees, the rounding and refund
        items) are not shop products unless the connection sends them
        (``send_service_items``)."""
        return self.services or record.get("kind") != "service"

    def _net(self, remote: JSON, sku: str) -> str | None:
        price = dec(remote.get("regular_price"))
        if price is None:
            return None
        return dec(self.basis.from_shop(Decimal(price), _tax_class(remote), sku))

    def remote_id(self, remote: JSON) -> str:
        if remote.get("type") == "variation" or remote.get("_parent_id"):
            return product_remote_id(remote.get("_parent_id") or remote.get("parent_id"),
                                     remote["id"])  # fmt: skip
        return product_remote_id(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        sku = text(remote.get("sku"))
        if sku is None:
            raise SkipRecord(
                "sku_missing", f"WooCommerce product {remote.get('id')} has no SKU to match by"
            )
        name = remote.get("name")
        if remote.get("_parent_id"):
            options = ", ".join(
                str(a.get("option")) for a in remote.get("attributes") or [] if a.get("option")
            )
            parent = text(remote.get("_parent_name"))
            name = " - ".join(part for part in (parent, options) if part) or name
        canonical: JSON = {
            "sku": sku,
            "name": named(name, f"WooCommerce product {sku}"),
            "sales_price": self._net(remote, sku),
            "active": remote.get("status", "publish") == "publish",
        }
        if self.owned:
            canonical["vat_code"] = self.owned.get(_tax_class(remote) or STANDARD)
        return canonical

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        price = record.get("sales_price")
        wanted_class = self.tax_classes.get(str(record.get("vat_code") or ""))
        if wanted_class is None and (_tax_class(current or {}) or STANDARD) in self.owned:
            # In a class the map gives another VAT code, which this product no longer has.
            wanted_class = STANDARD
        tax_class = wanted_class if wanted_class is not None else _tax_class(current or {})
        shop_price = None
        if price is not None:
            shop_price = self.basis.to_shop(Decimal(str(price)), tax_class, record["sku"])
        payload: JSON = {
            "sku": record["sku"],
            "regular_price": str(dec(shop_price)) if shop_price is not None else "",
            "status": "publish" if record.get("active", True) else "private",
        }
        if wanted_class is not None:
            payload["tax_class"] = wire_class(wanted_class)
        if current is not None and current.get("_parent_id"):
            # A variation has no name of its own (it is its parent's with its options): a
            # name changed in the hub is not written to it.
            return {
                **payload,
                "id": current["id"],
                "_parent_id": current["_parent_id"],
                "_parent_name": current.get("_parent_name"),
                "_parent_tax_class": current.get("_parent_tax_class"),
            }
        payload["name"] = record["name"]
        if current is not None:
            payload["id"] = current["id"]
        else:
            payload["type"] = "simple"
            payload["virtual"] = record.get("kind") == "service"
        return payload


def total_stock(levels: list[JSON]) -> JSON:
    """A product's levels in every warehouse and location as one: what is available in all of
    them, added up (a level oversold counts negative, as the accounting system says)."""
    return {
        "product_id": levels[0]["product_id"],
        "available": dec(sum((Decimal(str(level["available"])) for level in levels), Decimal(0))),
    }


class StockMapping(EntityMapping):
    """Stock, outbound only: the accounting system is its master. The hub's stock levels of a
    product set ``stock_quantity`` (and ``manage_stock``) on the shop product or variation
    its product is linked to (found by SKU when the shop's products were read): the shop
    keeps one quantity, so it gets the levels' total (``gathering``), of the chosen
    warehouse's levels only when one is chosen."""

    entity = "stock_level"
    remote_entity = "product stock"
    fields = frozenset({"product_id", "available"})
    references = (linked("stock_level", "product_id", "products"),)
    gathering = Gathering("product_id", total_stock)
    inbound = False

    def __init__(self, warehouse: str | None = None) -> None:
        self.warehouse = warehouse

    def defaults(self) -> JSON:
        """The shop holds only a quantity: these complete its projection into a valid stock
        level (they are outside ``fields``, so never compared nor written; stock is never
        read into the hub)."""
        return {"quantity": "0", "as_of": "1970-01-01T00:00:00+00:00"}

    def in_scope(self, record: JSON) -> bool:
        """Only the chosen warehouse's stock reaches the shop when one is chosen."""
        return self.warehouse is None or text(record.get("warehouse")) == self.warehouse

    def remote_id(self, remote: JSON) -> str:
        return str(remote["_target"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        quantity = remote.get("stock_quantity")
        return {
            "product_id": refs.get("product_id"),
            "available": dec(quantity) if quantity is not None else None,
        }

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        _, target = target_of(refs, "stock_level", "product_id")
        available = Decimal(str(record.get("available") if record.get("available") is not None
                                else record.get("quantity") or 0))  # fmt: skip
        if available != available.to_integral_value():
            raise SkipRecord(
                "stock_not_whole",
                f"WooCommerce keeps stock in whole units; {available} cannot be sent",
            )
        return {"_target": target, "manage_stock": True, "stock_quantity": int(available)}

    def payload_key(self, payload: JSON) -> str | None:
        return str(payload.get("_target") or "") or None
