"""An invoice's document discount reaches every accounting system: Qonto has a field for it;
Uniconta, Yuki and Tripletex have none (Tripletex's Order.discountPercentage is only a default
for new lines), so each of their lines carries it folded into its own discount."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from ledgerbridge.connectors.qonto.mapping import Codes as QontoCodes
from ledgerbridge.connectors.qonto.mapping import InvoiceMapping as QontoInvoices
from ledgerbridge.connectors.tripletex.mapping import InvoiceMapping as TripletexInvoices
from ledgerbridge.connectors.uniconta.mapping import Codes as UnicontaCodes
from ledgerbridge.connectors.uniconta.mapping import InvoiceMapping as UnicontaInvoices
from ledgerbridge.connectors.yuki.mapping import InvoiceMapping as YukiInvoices
from ledgerbridge.model import Invoice

CENT = Decimal("0.01")


def hub_invoice(document: str) -> dict[str, Any]:
    return {
        "id": "hub-1", "kind": "invoice", "party_id": "p", "status": "sent",
        "date": "2026-11-20", "due_date": "2026-12-04", "currency": "NOK",
        "discount_percent": document,
        "lines": [
            {"description": "Advies", "quantity": "1.5", "unit_price": "100",
             "discount_percent": "10", "vat_code": "S", "vat_rate": "20"},
            {"description": "Boeken", "quantity": "3", "unit_price": "19.99",
             "vat_code": "S", "vat_rate": "20"},
        ],
    }  # fmt: skip


def uniconta(record: dict[str, Any]) -> list[Any]:
    mapping = UnicontaInvoices(UnicontaCodes(vat_mapping={"U25": "S"}), post=False)
    payload = mapping.from_canonical(record, None, {"party_id": ("customers", "10042")})
    return [line["DiscountPct"] for line in payload["lines"]]


def yuki(record: dict[str, Any]) -> list[Any]:
    mapping = YukiInvoices({"S": "1"}, "ElectronicTransfer")
    payload = mapping.from_canonical(record, None, {"party_id": ("customers", "10042")})
    return [line["SalesPrice"] for line in payload["Lines"]]  # the discount is in the price


def tripletex(record: dict[str, Any]) -> list[Any]:
    mapping = TripletexInvoices({"S": "3"})
    refs = {"party_id": ("customers", "51"), "credits_invoice_id": None}
    lines = mapping.from_canonical(record, None, refs)["order"]["orderLines"]
    return [line.get("discount") for line in lines]


def qonto(record: dict[str, Any]) -> list[Any]:
    mapping = QontoInvoices(QontoCodes([{"code": "S", "rate": "20", "country": "FR"}]), lambda: "")
    payload = mapping.from_canonical(record, None, {"party_id": ("customers", "c-1")})
    items = [(item.get("discount") or {}).get("value") for item in payload["items"]]
    return [(payload["discount"] or {}).get("value"), *items]


# (system, what it gets with a 5 % document discount, and without one)
ROWS: list[tuple[Callable[[dict[str, Any]], list[Any]], list[Any], list[Any]]] = [
    (uniconta, [14.5, 5.0], [10.0, 0.0]),
    (yuki, ["85.5", "18.9905"], ["90", "19.99"]),
    (tripletex, [14.5, 5], [10, None]),
    (qonto, ["0.05", "0.1", None], [None, "0.1", None]),  # invoice discount, then items'
]


@pytest.mark.parametrize(("send", "with_discount", "without"), ROWS)
def test_the_document_discount_is_sent_never_dropped(
    send: Callable[[dict[str, Any]], list[Any]], with_discount: list[Any], without: list[Any]
) -> None:
    assert send(hub_invoice("5")) == with_discount
    assert send(hub_invoice("0")) == without


def test_folded_lines_total_as_the_hub_invoice() -> None:
    """What Uniconta and Tripletex book from the folded discounts is the hub's net total."""
    record = hub_invoice("5")
    lines = record["lines"]
    booked = Decimal(0)
    for line, percent in zip(lines, uniconta(record), strict=True):
        net = Decimal(line["quantity"]) * Decimal(line["unit_price"])
        booked += (net * (1 - Decimal(str(percent)) / 100)).quantize(CENT, ROUND_HALF_UP)
    assert booked == Invoice.model_validate(record).net_total == Decimal("185.22")


def test_an_invoice_posted_in_uniconta_keeps_its_totals_with_the_discount_in_its_lines() -> None:
    """Uniconta's posted lines carry the folded discount: the hub takes them with a document
    discount of 0, not the discount twice."""
    record = hub_invoice("5")
    posted = [
        {**line, "discount_percent": str(percent)}
        for line, percent in zip(record["lines"], uniconta(record), strict=True)
    ]
    stored = {"status": "booked", "number": "1001", "lines": posted}
    mapping = UnicontaInvoices(UnicontaCodes(vat_mapping={"U25": "S"}), post=True)
    adopted = Invoice.model_validate(mapping.adopt_assigned(record, stored))
    assert adopted.discount_percent == 0
    assert [line.discount_percent for line in adopted.lines] == [Decimal("14.5"), Decimal(5)]
    assert adopted.gross_total == Invoice.model_validate(record).gross_total
