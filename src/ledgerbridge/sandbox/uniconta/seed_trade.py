"""Deterministic contacts, products with stock, and posted invoices for benchmarks and demos.

The data exercises what the integration must cope with: contacts without a customer, products
whose VAT code (``X99``) has no mapping, units beyond the common ones, credit-worthy and late
payers. Everything is bulk-loaded (no callbacks) and priced by the same code that posts
invoices, so seeded and posted invoices add up the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from stdnum import ean

from ledgerbridge.sandbox.uniconta.posting import price_lines
from ledgerbridge.sandbox.uniconta.rules import ZERO, due_date, money
from ledgerbridge.sandbox.uniconta.seed import (
    CREATED_FROM,
    CREATED_TO,
    FIRST_NAMES,
    SURNAMES,
    danish_phone,
)
from ledgerbridge.sandbox.uniconta.state import COPENHAGEN, UnicontaSandbox

FIRST_ITEM = 10000
SPECIAL_VAT = ("X99", "Særlig moms", "Sales", 25)
WAREHOUSE_NAMES = {"Hoved": "Hovedlager", "Aarhus": "Lager Aarhus"}
# Price of one DKK in the currencies foreign debtors are invoiced in.
_DKK_RATES = {
    "DKK": Decimal(1),
    "SEK": Decimal("1.52"),
    "NOK": Decimal("1.55"),
    "EUR": Decimal("0.134"),
}
_TITLES = (
    "Direktør", "Bogholder", "Indkøber", "Salgschef", "Projektleder", "Økonomichef", "Ejer",
    "Lagerchef", "Kontorchef", "Værkfører",
)  # fmt: skip
_ASCII = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "é": "e", "ü": "ue", "ö": "oe"})


@dataclass(frozen=True)
class _Family:
    """A kind of product: how it is named, sold, priced and stocked."""

    names: tuple[str, ...]
    variants: tuple[str, ...]
    units: tuple[str, ...]
    group: str
    price: tuple[int, int]
    service: bool = False
    weight: tuple[float, float] = (0.0, 0.0)


_FAMILIES: tuple[tuple[_Family, int], ...] = (
    (
        _Family(
            ("Skrue rustfri A4", "Spånpladeskrue", "Bolt galvaniseret", "Rawlplug", "Søm"),
            ("4x40 mm", "5x50 mm", "6x80 mm", "M8x60", "M10x100"),
            ("Box", "Pack", "Piece"),
            "Beslag",
            (25, 450),
            weight=(0.2, 3.0),
        ),
        20,
    ),
    (
        _Family(
            ("Kaffe økologisk", "Te sort", "Sukker", "Mel hvede", "Havregryn"),
            ("500 g", "1 kg", "5 kg", "25 kg"),
            ("Kg", "Pack", "Gram", "Tonne"),
            "Fødevarer",
            (15, 900),
            weight=(0.5, 25.0),
        ),
        12,
    ),
    (
        _Family(
            ("Rengøringsmiddel", "Sæbe flydende", "Olie hydraulik", "Sprinklervæske"),
            ("1 l", "5 l", "10 l", "200 l"),
            ("Litre", "Piece"),
            "Kemi",
            (30, 2500),
            weight=(1.0, 200.0),
        ),
        10,
    ),
    (
        _Family(
            ("Kabel PVL", "Installationsrør", "Tagrende zink", "Reb polyester", "Gulvliste eg"),
            ("3x1,5 mm²", "16 mm", "Ø100", "10 mm", "12x45 mm"),
            ("Meter", "Roll", "Km"),
            "Materialer",
            (8, 1200),
            weight=(0.1, 20.0),
        ),
        16,
    ),
    (
        _Family(
            ("Gipsplade", "Isolering", "Krydsfiner", "Tagpap", "Fliser"),
            ("12,5 mm", "95 mm", "18 mm", "2 lag", "30x30 cm"),
            ("SquareMeter", "CubicMeter", "Pallet"),
            "Byggemateriel",
            (45, 900),
            weight=(5.0, 900.0),
        ),
        10,
    ),
    (
        _Family(
            ("Værktøjssæt", "Bitsæt", "Handsker nitril", "Sikkerhedssko", "Høreværn"),
            ("24 dele", "32 dele", "str. L", "str. 43", "SNR 30"),
            ("Set", "Pair", "Box", "Piece"),
            "Værktøj",
            (60, 3000),
            weight=(0.1, 5.0),
        ),
        14,
    ),
    (
        _Family(
            ("Konsulenttime", "Montage", "Servicebesøg", "Kørsel", "Projektledelse"),
            ("", "weekend", "akut", "senior", "junior"),
            ("Hours", "Day", "Km"),
            "Service",
            (350, 1800),
            service=True,
        ),
        12,
    ),
    (
        _Family(
            ("Softwarelicens", "Supportaftale", "Hosting", "Avisabonnement", "Leje af lift"),
            ("basis", "pro", "pr. bruger", "digital", "2 uger"),
            ("Month", "Year", "Week"),
            "Abonnement",
            (99, 4000),
            service=True,
        ),
        6,
    ),
)


def seed_contacts(
    sandbox: UnicontaSandbox, company_id: int, count: int, seed: int = 1
) -> list[int]:
    """Create ``count`` contact persons; return their RowIds.

    Each belongs to a random existing debtor, except about 1 % with no ``DCAccount`` at all
    and about 1 % belonging to a creditor (when there are creditors), so the integration
    meets contacts it must skip.
    """
    rng = random.Random(seed)
    debtors = [_owner(row) for row in sandbox.snapshot(company_id, "DebtorClient")]
    creditors = [_owner(row) for row in sandbox.snapshot(company_id, "CreditorClient")]
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        roll = rng.random()
        row: dict[str, Any] = {"Name": f"{first} {last}", "DCType": "Debtor"}
        if roll < 0.01 or not debtors:
            domain = rng.choice(("gmail.com", "hotmail.com", "mail.dk", "outlook.dk"))
        elif roll < 0.02 and creditors:
            account, domain = rng.choice(creditors)
            row.update({"DCType": "Creditor", "DCAccount": account})
        else:
            account, domain = rng.choice(debtors)
            row["DCAccount"] = account
        if rng.random() < 0.93:
            row["Email"] = f"{first}.{last}".lower().translate(_ASCII) + f"@{domain}"
        if rng.random() < 0.6:
            row["Mobil"] = danish_phone(rng, rng.choice(("20", "22", "26", "28", "30", "40")))
        if rng.random() < 0.7:
            row["Title"] = rng.choice(_TITLES)
        row["Invoice"] = rng.random() < 0.15
        row["AccountStatement"] = rng.random() < 0.05
        rows.append(row)
    return [int(key) for key in sandbox.load(company_id, "ContactClient", rows)]


def _owner(row: dict[str, Any]) -> tuple[str, str]:
    """Account of a debtor or creditor and the mail domain its people use."""
    www = str(row.get("Www", ""))
    domain = www.removeprefix("www.") if www else f"{row['Account']}.example.dk"
    return str(row["Account"]), domain


def seed_products(
    sandbox: UnicontaSandbox,
    company_id: int,
    count: int,
    seed: int = 1,
    warehouses: Sequence[str] = ("Hoved", "Aarhus"),
) -> list[str]:
    """Create ``count`` items ("P10000", ...) with stock in each warehouse; return the items.

    VAT codes are S25 (about 90 %), S0 (about 8 %) and about 2 % the special code ``X99``,
    which is created if missing. Units spread over the ``ItemUnit`` members. Missing
    warehouses are created. Services (hours, subscriptions) carry no stock.
    """
    rng = random.Random(seed)
    if sandbox.get(company_id, "GLVatClient", SPECIAL_VAT[0]) is None:
        code, name, kind, rate = SPECIAL_VAT
        sandbox.load(
            company_id, "GLVatClient", [{"Vat": code, "Name": name, "VatType": kind, "Rate": rate}]
        )
    existing = {row["Warehouse"] for row in sandbox.snapshot(company_id, "InvWarehouseClient")}
    sandbox.load(
        company_id,
        "InvWarehouseClient",
        [
            {"Warehouse": name, "Name": WAREHOUSE_NAMES.get(name, f"Lager {name}")}
            for name in dict.fromkeys(warehouses)
            if name not in existing
        ],
    )
    numbers = [
        int(row["Item"][1:])
        for row in sandbox.snapshot(company_id, "InvItemClient")
        if row["Item"][:1] == "P" and row["Item"][1:].isdigit()
    ]
    start = max([FIRST_ITEM - 1, *numbers]) + 1
    families = [family for family, _ in _FAMILIES]
    weights = [weight for _, weight in _FAMILIES]
    span = (CREATED_TO - CREATED_FROM).total_seconds()
    eans: set[str] = set()
    items: list[dict[str, Any]] = []
    stock: list[dict[str, Any]] = []
    for index in range(count):
        item = f"P{start + index}"
        family = rng.choices(families, weights)[0]
        row = _product(rng, family, eans)
        created = CREATED_FROM + timedelta(seconds=span * index / max(count, 1))
        row.update({"Item": item, "Created": created})
        items.append(row)
        if row["UseStorage"]:
            for warehouse in dict.fromkeys(warehouses):
                stock.append(_stock(rng, item, warehouse))
    keys = [str(key) for key in sandbox.load(company_id, "InvItemClient", items)]
    sandbox.load(company_id, "InvItemStorageClient", stock)
    return keys


def _product(rng: random.Random, family: _Family, eans: set[str]) -> dict[str, Any]:
    """One item of a product family, with prices, VAT code, unit and (for goods) an EAN."""
    name = f"{rng.choice(family.names)} {rng.choice(family.variants)}".strip()
    low, high = family.price
    price = Decimal(rng.randint(low, high)) - Decimal(rng.choice(("0", "0.05", "0.50")))
    cost = money(price * Decimal(rng.randint(50, 80)) / 100)
    roll = rng.random()
    vat = "X99" if roll < 0.02 else "S0" if roll < 0.10 else "S25"
    row: dict[str, Any] = {
        "Name": name,
        "ItemType": "Service" if family.service else "Item",
        "Unit": rng.choice(family.units),
        "SalesPrice1": price,
        "Currency1": "DKK",
        "CostPrice": cost,
        "PurchasePrice": cost,
        "Vat": vat,
        "Group": family.group,
        "UseStorage": not family.service,
        "Blocked": rng.random() < 0.01,
    }
    if not family.service:
        row["Weight"] = round(rng.uniform(*family.weight), 2)
        if rng.random() < 0.75:
            row["EAN"] = _ean(rng, eans)
    return row


def _ean(rng: random.Random, used: set[str]) -> str:
    """A fresh EAN-13 with a Danish (57) prefix and a valid check digit."""
    while True:
        body = "57" + f"{rng.randint(0, 9_999_999_999):010d}"
        code = body + ean.calc_check_digit(body)
        if code not in used:
            used.add(code)
            return code


def _stock(rng: random.Random, item: str, warehouse: str) -> dict[str, Any]:
    """A stock row: some items are sold out, some have reservations or are on order."""
    qty = 0 if rng.random() < 0.08 else rng.randint(1, 500)
    return {
        "Item": item,
        "Warehouse": warehouse,
        "Location": f"{rng.choice('ABCDE')}-{rng.randint(1, 30):02d}-{rng.randint(1, 6)}",
        "Qty": qty,
        "QtyReserved": rng.randint(0, qty // 5) if qty else 0,
        "QtyOrdered": rng.choice((0, 0, 0, 50, 100, 250)),
    }


def seed_invoices(
    sandbox: UnicontaSandbox,
    company_id: int,
    count: int,
    lines: int = 3,
    seed: int = 1,
    *,
    first_date: date | None = None,
    days: int = 730,
) -> list[int]:
    """Create ``count`` posted invoices with ``lines`` lines each; return their numbers.

    Invoices go to random existing debtors for random unblocked items, dated over the two
    years up to today (or over ``days`` days from ``first_date``: a busy month), numbered on
    from the company's series, each with its open item.
    About 60 % are paid; older invoices are more likely paid than recent ones, and a few are
    partly paid. Needs debtors and items (``seed_debtors``, ``seed_products``).
    """
    rng = random.Random(seed)
    debtors = sandbox.snapshot(company_id, "DebtorClient")
    items = {row["Item"]: row for row in sandbox.snapshot(company_id, "InvItemClient")}
    sellable = [row for row in items.values() if not row.get("Blocked")]
    if not debtors or not sellable:
        raise ValueError("seed_invoices needs debtors and unblocked items in the company")
    rates = {row["Vat"]: row["Rate"] for row in sandbox.snapshot(company_id, "GLVatClient")}
    invoices_now = sandbox.snapshot(company_id, "DebtorInvoiceClient")
    first_invoice = max([4999, *(row["InvoiceNumber"] for row in invoices_now)]) + 1
    used_orders = [row.get("OrderNumber", 0) for row in invoices_now]
    used_orders += [row["OrderNumber"] for row in sandbox.snapshot(company_id, "DebtorOrderClient")]
    first_order = max([999, *used_orders]) + 1
    now = sandbox.clock.now().astimezone(UTC)
    today = now.astimezone(COPENHAGEN).date()
    headers: list[dict[str, Any]] = []
    invoice_lines: list[dict[str, Any]] = []
    open_items: list[dict[str, Any]] = []
    for index in range(count):
        number = first_invoice + index
        debtor = rng.choice(debtors)
        currency = debtor.get("Currency", "DKK")
        invoice_date = (
            first_date + timedelta(days=days * index // max(count, 1))
            if first_date is not None
            else today - timedelta(days=days * (count - index) // max(count, 1))
        )
        order_lines = [
            _order_line(rng, rng.choice(sellable), position, currency)
            for position in range(1, lines + 1)
        ]
        priced = price_lines(order_lines, number, currency, items.get, rates.get)
        payment = debtor.get("Payment")
        due = due_date(invoice_date, payment)
        headers.append(
            {
                "InvoiceNumber": number,
                "Account": debtor["Account"],
                "Name": debtor.get("Name"),
                "Date": invoice_date,
                "DueDate": due,
                "Payment": payment,
                "Currency": currency,
                "NetAmount": priced.net,
                "VatAmount": priced.vat,
                "TotalAmount": priced.total,
                "OrderNumber": first_order + index,
                "Created": min(_posted_at(rng, invoice_date), now),
            }
        )
        invoice_lines.extend(priced.lines)
        open_items.append(
            {
                "Account": debtor["Account"],
                "Invoice": number,
                "Date": invoice_date,
                "DueDate": due,
                "Amount": priced.total,
                "AmountOpen": _open_amount(rng, priced.total, due, today),
                "Currency": currency,
            }
        )
    keys = [int(key) for key in sandbox.load(company_id, "DebtorInvoiceClient", headers)]
    sandbox.load(company_id, "DebtorInvoiceLines", invoice_lines)
    sandbox.load(company_id, "DebtorTransOpenClient", open_items)
    return keys


def _order_line(
    rng: random.Random, item: dict[str, Any], position: int, currency: str
) -> dict[str, Any]:
    """An order line for an item, priced in the invoice currency."""
    unit = item.get("Unit")
    if unit in ("Kg", "Litre", "Meter", "SquareMeter", "CubicMeter", "Km", "Hours"):
        qty = Decimal(rng.randint(1, 80)) / 2
    else:
        qty = Decimal(rng.randint(1, 20))
    price = money(item.get("SalesPrice1", ZERO) * _DKK_RATES.get(currency, Decimal(1)))
    return {
        "LineNumber": Decimal(position),
        "Item": item["Item"],
        "Qty": qty,
        "Price": price,
        "DiscountPct": Decimal(rng.choice((0, 0, 0, 0, 0, 5, 10, 15))),
    }


def _posted_at(rng: random.Random, invoice_date: date) -> datetime:
    """When an invoice was posted: during office hours on its date, Copenhagen time."""
    local = datetime.combine(invoice_date, time(8), tzinfo=COPENHAGEN)
    return (local + timedelta(minutes=rng.randint(0, 540))).astimezone(UTC)


def _open_amount(rng: random.Random, total: Decimal, due: date, today: date) -> Decimal:
    """What is still owed: invoices long past due are mostly paid, recent ones mostly open."""
    settled_share = 0.64 if (today - due).days > 30 else 0.2
    roll = rng.random()
    if roll < settled_share:
        return ZERO
    if roll < settled_share + 0.04:
        return money(total * Decimal(rng.randint(10, 90)) / 100)
    return total
