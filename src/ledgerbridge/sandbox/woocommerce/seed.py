"""A Danish webshop's last 90 days, the same for the same seed number.

Products with SKUs and managed stock (one variable product with sizes, one at the reduced
rate), customers (Danish and EU consumers, a Danish business with its CVR number, a German
business with a VAT number that is exempt, a public body paying by EAN), a few hundred orders
in every status with shipping, fees and coupons, refunds full, partial and amount-only,
subscriptions with renewals (one failed, then paid), and orders whose per-line tax rounding
leaves a 1-cent gap.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerbridge.sandbox.woocommerce.state import WooSandbox

PRODUCTS = (
    ("KAF-500", "Kaffebønner Espresso 500 g", "89.95", 400),
    ("KAF-1000", "Kaffebønner Filter 1 kg", "159.00", 250),
    ("TE-100", "Grøn te 100 g", "49.95", 300),
    ("KOP-01", "Kaffekop stentøj", "79.00", 120),
    ("KAN-08", "Stempelkande 0,8 l", "249.00", 60),
    ("KVN-01", "Kaffekværn manuel", "399.00", 35),
    ("FLT-100", "Kaffefiltre nr. 4, 100 stk.", "24.95", 500),
    ("CHO-70", "Mørk chokolade 70 %", "9.99", 900),
    ("KAG-01", "Småkager 250 g", "34.50", 200),
    ("GVK-500", "Gavekort 500 kr.", "500.00", 0),
    ("BOG-01", "Bogen om kaffe", "299.95", 40),
    ("SIR-01", "Sirup vanilje 250 ml", "59.00", 80),
)
SIZES = (("TSH-S", "S", 30), ("TSH-M", "M", 45), ("TSH-L", "L", 25))
DANISH = (
    ("Mette", "Jensen", "København K", "1050"),
    ("Lars", "Nielsen", "Aarhus C", "8000"),
    ("Sofie", "Hansen", "Odense C", "5000"),
    ("Jonas", "Pedersen", "Aalborg", "9000"),
    ("Ida", "Andersen", "Esbjerg", "6700"),
    ("Mikkel", "Christensen", "Vejle", "7100"),
    ("Freja", "Larsen", "Roskilde", "4000"),
    ("Emil", "Sørensen", "Kolding", "6000"),
)
ABROAD = (
    ("DE", "Anna", "Müller", "Berlin", "10115"),
    ("DE", "Lukas", "Schmidt", "Hamburg", "20095"),
    ("SE", "Elsa", "Lindqvist", "Malmö", "21119"),
    ("NL", "Daan", "de Vries", "Utrecht", "3511"),
    ("FR", "Camille", "Durand", "Lyon", "69001"),
)
METHODS = (("quickpay", 6), ("mobilepay", 4), ("bacs", 1))
STATUS_WEIGHTS = (
    ("completed", 55),
    ("processing", 20),
    ("on-hold", 5),
    ("pending", 6),
    ("cancelled", 6),
    ("failed", 3),
)


def _address(
    first: str, last: str, city: str, postcode: str, country: str, email: str, company: str = ""
) -> dict[str, str]:
    return {
        "first_name": first,
        "last_name": last,
        "company": company,
        "address_1": "Hovedgaden 1",
        "address_2": "",
        "city": city,
        "state": "",
        "postcode": postcode,
        "country": country,
        "email": email,
        "phone": "+4512345678",
    }


def _shipping(address: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in address.items() if k != "email"}


def seed_shop(
    sandbox: WooSandbox, *, seed: int = 1, orders: int = 300, customers: int = 60
) -> dict[str, Any]:
    """Fill ``sandbox``; returns the ids tests and the demo point at."""
    rng = random.Random(seed)
    now = sandbox.now()
    start = now - timedelta(days=90)
    product_ids: list[int] = []
    for sku, name, price, stock in PRODUCTS:
        body = {
            "name": name,
            "sku": sku,
            "regular_price": price,
            "manage_stock": stock > 0,
            "stock_quantity": stock if stock else None,
            "virtual": sku.startswith("GVK"),
            "tax_class": "reduced-rate" if sku.startswith("BOG") else "",
        }
        product_ids.append(sandbox.create_product(body, when=start)["id"])
    shirt = sandbox.create_product(
        {"name": "T-shirt Kaffeklubben", "type": "variable", "sku": "TSH"}, when=start
    )
    variation_ids = [
        sandbox.create_variation(
            shirt["id"],
            {
                "sku": sku,
                "regular_price": "149.00",
                "manage_stock": True,
                "stock_quantity": stock,
                "attributes": [{"name": "Størrelse", "option": size}],
            },
            when=start,
        )["id"]
        for sku, size, stock in SIZES
    ]
    subscription_product = sandbox.create_product(
        {"name": "Kaffeabonnement månedlig", "sku": "ABO-KAF", "regular_price": "199.00"},
        when=start,
    )["id"]

    people: list[dict[str, Any]] = []
    for index in range(customers - 3):
        when = start + timedelta(minutes=index * 7)
        if index % 4 == 3:
            country, first, last, city, postcode = ABROAD[(index // 4) % len(ABROAD)]
        else:
            first, last, city, postcode = DANISH[index % len(DANISH)]
            country = "DK"
        email = f"{first.lower()}.{last.lower().replace(' ', '')}{index}@example.{country.lower()}"
        address = _address(first, last, city, postcode, country, email)
        people.append(
            sandbox.create_customer(
                {
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "billing": address,
                    "shipping": _shipping(address),
                },
                when=when,
            )
        )
    business = _address(
        "Henrik", "Holm", "Herning", "7400", "DK", "indkob@kaffebar.example.dk", "Kaffebar Holm ApS"
    )
    dk_business = sandbox.create_customer(
        {
            "email": business["email"],
            "first_name": "Henrik",
            "last_name": "Holm",
            "billing": business,
            "shipping": _shipping(business),
            "meta_data": [{"key": "_billing_vat_number", "value": "DK12345674"}],
        },
        when=start,
    )
    german = _address(
        "Klaus",
        "Weber",
        "München",
        "80331",
        "DE",
        "einkauf@roesterei.example.de",
        "Rösterei Weber GmbH",
    )
    de_business = sandbox.create_customer(
        {
            "email": german["email"],
            "first_name": "Klaus",
            "last_name": "Weber",
            "billing": german,
            "shipping": _shipping(german),
            "meta_data": [{"key": "_billing_vat_number", "value": "DE136695976"}],
        },
        when=start,
    )
    public = _address(
        "Birgit",
        "Munk",
        "Silkeborg",
        "8600",
        "DK",
        "faktura@kommune.example.dk",
        "Silkeborg Kommune",
    )
    ean_customer = sandbox.create_customer(
        {
            "email": public["email"],
            "first_name": "Birgit",
            "last_name": "Munk",
            "billing": public,
            "shipping": _shipping(public),
            "meta_data": [{"key": "_billing_ean_number", "value": "5798000000001"}],
        },
        when=start,
    )

    def buyer_body(customer: dict[str, Any] | None, index: int) -> dict[str, Any]:
        if customer is None:
            first, last, city, postcode = DANISH[index % len(DANISH)]
            address = _address(first, last, city, postcode, "DK", f"gaest{index}@example.dk")
            return {"customer_id": 0, "billing": address, "shipping": _shipping(address)}
        return {
            "customer_id": customer["id"],
            "billing": customer["billing"],
            "shipping": customer["shipping"],
        }

    order_ids: list[int] = []
    method_pool = [m for m, w in METHODS for _ in range(w)]
    status_pool = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    span = (now - start).total_seconds() - 3600
    for index in range(orders):
        when = start + timedelta(seconds=int(span * (index + 1) / (orders + 1)))
        customer = None if index % 5 == 0 else people[rng.randrange(len(people))]
        body = buyer_body(customer, index)
        lines = []
        for product_id in rng.sample(product_ids[:9] + product_ids[10:], rng.randint(1, 3)):
            lines.append({"product_id": product_id, "quantity": rng.randint(1, 3)})
        if index % 7 == 0:
            lines.append(
                {
                    "product_id": shirt["id"],
                    "variation_id": rng.choice(variation_ids),
                    "quantity": 1,
                }
            )
        body["line_items"] = lines
        body["payment_method"] = rng.choice(method_pool)
        body["shipping_lines"] = [
            {
                "method_id": "flat_rate",
                "method_title": "GLS Pakkeshop",
                "instance_id": "1",
                "total": "31.20",
            }
        ]
        if index % 11 == 0:
            body["coupon_lines"] = [{"code": "velkommen10"}]
        if index % 13 == 0:
            body["fee_lines"] = [
                {"name": "Gebyr for gavepapir", "total": "20.00", "tax_status": "taxable"}
            ]
        if index % 17 == 0:
            body["fee_lines"] = [{"name": "Rabat", "total": "-25.00", "tax_status": "taxable"}]
        order = sandbox.create_order(body, created_via="checkout", when=when)
        status = rng.choice(status_pool)
        later = when + timedelta(minutes=rng.randint(1, 600))
        if status in ("processing", "completed", "on-hold"):
            order = sandbox.update_order(
                order["id"],
                {"status": "processing", "set_paid": True, "transaction_id": f"qp{order['id']}"},
                when=later,
            )
            if status != "processing":
                order = sandbox.update_order(
                    order["id"], {"status": status}, when=later + timedelta(hours=20)
                )
        elif status != "pending":
            order = sandbox.update_order(order["id"], {"status": status}, when=later)
        order_ids.append(order["id"])

    def special(body: dict[str, Any], when: datetime, status: str = "completed") -> dict[str, Any]:
        order = sandbox.create_order(body, created_via="checkout", when=when)
        return sandbox.update_order(
            order["id"], {"status": status, "set_paid": True}, when=when + timedelta(minutes=5)
        )

    recent = now - timedelta(days=2)
    german_consumer = next(p for p in people if p["billing"]["country"] == "DE")
    oss = special(
        {
            **buyer_body(german_consumer, 2),
            "payment_method": "quickpay",
            "line_items": [
                {"product_id": product_ids[0], "quantity": 2},
                {"product_id": product_ids[10], "quantity": 1},
            ],
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "DHL", "total": "60.00"}],
        },
        recent,
    )
    b2b = special(
        {
            **buyer_body(dk_business, 3),
            "payment_method": "bacs",
            "line_items": [{"product_id": product_ids[1], "quantity": 10}],
        },
        recent,
        "processing",
    )
    reverse = special(
        {
            **buyer_body(de_business, 4),
            "payment_method": "bacs",
            "meta_data": [
                {"key": "_billing_vat_number", "value": "DE136695976"},
                {"key": "is_vat_exempt", "value": "yes"},
            ],
            "line_items": [{"product_id": product_ids[1], "quantity": 20}],
        },
        recent,
    )
    ean = sandbox.create_order(
        {
            **buyer_body(ean_customer, 5),
            "payment_method": "ean_invoice",
            "meta_data": [{"key": "_billing_ean_number", "value": "5798000000001"}],
            "line_items": [{"product_id": product_ids[3], "quantity": 12}],
        },
        created_via="checkout",
        when=recent,
    )
    ean = sandbox.update_order(ean["id"], {"status": "processing"}, when=recent)

    full = special(
        {
            **buyer_body(people[2], 6),
            "payment_method": "quickpay",
            "line_items": [{"product_id": product_ids[4], "quantity": 1}],
        },
        recent,
    )
    sandbox.create_refund(
        full["id"],
        {
            "amount": full["total"],
            "reason": "Fortrudt køb",
            "line_items": [refund_line(full["line_items"][0])],
        },
    )
    partial = special(
        {
            **buyer_body(people[3], 7),
            "payment_method": "quickpay",
            "line_items": [
                {"product_id": product_ids[0], "quantity": 3},
                {"product_id": product_ids[3], "quantity": 2},
            ],
        },
        recent,
    )
    sandbox.create_refund(
        partial["id"],
        {"reason": "Knust kop", "line_items": [refund_line(partial["line_items"][1], 1)]},
    )
    amount_only = special(
        {
            **buyer_body(people[4], 8),
            "payment_method": "mobilepay",
            "line_items": [{"product_id": product_ids[5], "quantity": 1}],
        },
        recent,
    )
    sandbox.create_refund(
        amount_only["id"], {"amount": "50.00", "reason": "Kompensation for forsinkelse"}
    )

    subscriptions = []
    for number, customer in enumerate(people[:6]):
        sub = sandbox.create_subscription(
            customer["id"],
            [{"product_id": subscription_product, "quantity": 1}],
            "quickpay",
            when=start + timedelta(days=number),
        )
        subscriptions.append(sub["id"])
        for month in (1, 2):
            sandbox.renew(sub["id"], "paid", when=start + timedelta(days=number + 30 * month))
    retry = subscriptions[0]
    failed = sandbox.renew(retry, "failed", when=recent)
    sandbox.pay_order(failed["id"], f"txn_retry_{failed['id']}")
    pending = sandbox.renew(subscriptions[1], "pending", when=recent)
    return {
        "orders": order_ids,
        "gap_orders": sandbox.rounding_gaps(),
        "oss_order": oss["id"],
        "b2b_order": b2b["id"],
        "reverse_charge_order": reverse["id"],
        "ean_order": ean["id"],
        "full_refund_order": full["id"],
        "partial_refund_order": partial["id"],
        "amount_refund_order": amount_only["id"],
        "subscriptions": subscriptions,
        "failed_then_paid_renewal": failed["id"],
        "pending_renewal": pending["id"],
        "products": product_ids,
        "variable_product": shirt["id"],
        "variations": variation_ids,
    }


def refund_line(item: dict[str, Any], quantity: int | None = None) -> dict[str, Any]:
    """A refund of ``quantity`` (default: all) of an order line, net and tax in proportion."""
    count = item["quantity"] if quantity is None else quantity
    share = Decimal(count) / Decimal(item["quantity"])
    taxes = [
        {
            "id": t["id"],
            "refund_total": str((Decimal(t["total"]) * share).quantize(Decimal("0.01"))),
        }
        for t in item["taxes"]
    ]
    return {
        "id": item["id"],
        "quantity": count,
        "refund_total": str((Decimal(item["total"]) * share).quantize(Decimal("0.01"))),
        "refund_tax": taxes,
    }
