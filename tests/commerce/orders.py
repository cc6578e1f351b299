"""Orders as a Danish webshop sends them, built from a few facts, for the commerce tests."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.model.commerce import Order

CVR = "DK13585628"
"""A valid Danish VAT number."""
DE_VAT = "DE136695976"
"""A valid German VAT number."""
CENT = Decimal("0.01")
GLN = "5790000000005"
"""A valid EAN location number, as Danish public bodies are invoiced through."""


def line(
    price: str,
    rate: str = "25",
    *,
    quantity: str = "1",
    kind: str = "item",
    sku: str | None = "SKU-1",
    tax: str | None = None,
    source_id: str | None = None,
) -> dict[str, Any]:
    """A line whose shop figures are quantity × price and VAT rounded on the line (unless the
    shop's ``tax`` is given, as a shop rounding on the subtotal reports it)."""
    net = (Decimal(quantity) * Decimal(price)).quantize(CENT, ROUND_HALF_UP)
    vat = (net * Decimal(rate) / 100).quantize(CENT, ROUND_HALF_UP)
    return {
        "source_id": source_id,
        "kind": kind,
        "sku": sku if kind == "item" else None,
        "description": f"{kind} {price}",
        "quantity": quantity,
        "unit_price": price,
        "tax_rate": rate,
        "net_amount": str(net),
        "tax_amount": tax if tax is not None else str(vat),
    }


def order(
    lines: list[dict[str, Any]] | None = None,
    *,
    total: str | None = None,
    total_tax: str | None = None,
    **fields: Any,
) -> Order:
    """A paid card order to a Danish consumer; ``total`` defaults to the lines' own figures."""
    lines = lines if lines is not None else [line("100.00")]
    net = sum((Decimal(item["net_amount"]) for item in lines), Decimal(0))
    tax = sum((Decimal(item["tax_amount"]) for item in lines), Decimal(0))
    data: dict[str, Any] = {
        "source_id": "1001",
        "number": "1001",
        "state": "processing",
        "created_at": "2026-06-01T10:00:00+02:00",
        "paid_at": "2026-06-01T10:01:00+02:00",
        "currency": "DKK",
        "lines": lines,
        "total": total if total is not None else str(net + tax),
        "total_tax": total_tax if total_tax is not None else str(tax),
        "payment_method": {"code": "stripe", "title": "Kort"},
        "billing_address": {"line1": "Havnegade 1", "city": "Aarhus C", "country": "DK"},
        "customer": {"email": "kunde@example.dk", "name": "Karen Kunde"},
    }
    data.update(fields)
    return Order.model_validate(data)
