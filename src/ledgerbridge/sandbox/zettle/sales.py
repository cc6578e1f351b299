"""How the POS rings up a sale and a refund, as Zettle's Purchase API reports them.

All amounts are integers in minor units; a product row's ``quantity`` is a string (decimals
allowed, negative on a refund). Zettle's documented discount rules (``purchase.adoc``): a row's
own discount first (``discount.amount × quantity`` or ``percentage``, summed in
``discountValue``), then the purchase discount on the sum of discounted rows, a fixed one
spread over the rows pro rata; VAT is computed after every discount, per row
(``rowTaxableAmount`` = the row's gross after discounts without its VAT). The purchase's
``vatAmount`` is what the rows' gross exceeds their taxable amounts by.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

PAYMENT_TYPES = (
    "IZETTLE_CARD",
    "IZETTLE_CARD_ONLINE",
    "IZETTLE_CASH",
    "IZETTLE_INVOICE",
    "SWISH",
    "VIPPS",
    "MOBILE_PAY",
    "PAYPAL",
    "STORE_CREDIT",
    "GIFTCARD",
    "KLARNA",
)
CARD_TYPES = frozenset({"IZETTLE_CARD", "IZETTLE_CARD_ONLINE"})
"""Payments whose money Zettle handles: the only ones the Finance API shows."""
ROW_TYPES = ("PRODUCT", "CUSTOM_AMOUNT", "GIFTCARD")
STORE_LOCATION = "4c03eec0-183c-11e7-a3f8-037fdcd360ec"
SOLD_LOCATION = "4c03eec0-183c-11e7-a15a-cda93ab15db3"
"""The inventory locations a sold item moves between (the store's and "sold")."""
LARGEST = 10**12
"""Amounts from this on are refused (in minor units)."""


class ZettleError(Exception):
    """A refusal with its HTTP status and Zettle's error body."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})


def bad_request(field: str, message: str) -> ZettleError:
    """400 naming the request field (the shape Zettle's services use for a violation)."""
    return ZettleError(
        400,
        {
            "errorType": "VALIDATION_ERROR",
            "developerMessage": f"{field}: {message}",
            "violations": [{"propertyName": field, "developerMessage": message}],
        },
    )


def half_up(value: Decimal) -> int:
    """An amount rounded to whole minor units, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stamp(moment: datetime) -> str:
    """``2021-01-13T21:34:10.968+0000``: the Purchase API's and the Finance guide's form."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def short_uuid(value: uuid.UUID) -> str:
    """The deprecated ``purchaseUUID``: the UUID's bytes in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(value.bytes).decode("ascii").rstrip("=")


def integer(value: Any, field: str, *, low: int = -LARGEST, high: int = LARGEST) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(field, "must be an integer (minor units)")
    if not low <= value <= high:
        raise bad_request(field, f"must be between {low} and {high}")
    return value


def quantity(value: Any, field: str) -> Decimal:
    """A quantity given as a number or a string; positive, at most three decimals."""
    if isinstance(value, bool):
        raise bad_request(field, "must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad_request(field, "must be a number") from None
    if not number.is_finite() or number <= 0 or number >= 100_000:
        raise bad_request(field, "must be above 0 and below 100000")
    if number != number.quantize(Decimal("0.001")):
        raise bad_request(field, "at most three decimals")
    return number.normalize()


def percent(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad_request(field, "must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(field, "must be a number") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise bad_request(field, "must be between 0 and 100")
    return number


def qty_text(value: Decimal) -> str:
    """A quantity as the API writes it: ``"1"``, ``"0.5"``, ``"-1"``."""
    text = f"{value.normalize():f}"
    return "0" if text == "-0" else text


def spread(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split over ``weights`` pro rata, in whole units adding up exactly (the
    largest remainders get the units left)."""
    whole = sum(weights)
    if not whole or not total:
        return [0] * len(weights)
    raw = [Decimal(total) * w / whole for w in weights]
    shares = [int(r) for r in raw]  # toward zero
    left = total - sum(shares)
    step = 1 if left > 0 else -1
    order = sorted(range(len(raw)), key=lambda i: abs(raw[i] - shares[i]), reverse=True)
    for i in order[: abs(left)]:
        shares[i] += step
    return shares


@dataclass
class Row:
    """A product row as rung up, before the purchase discount."""

    name: str
    quantity: Decimal
    unit_price: int
    vat: Decimal
    sku: str | None
    variant_name: str
    row_type: str
    product_uuid: str
    variant_uuid: str
    discount: dict[str, Any] | None
    discount_value: int
    description: str = ""

    @property
    def gross(self) -> int:
        return half_up(self.unit_price * self.quantity) - self.discount_value


def read_row(index: int, data: Any, uuids: Any) -> Row:
    """One requested product row: ``name``, ``unit_price``, ``quantity``, ``vat_percentage``,
    optional ``sku``, ``variant_name``, ``type`` and ``discount`` (``percentage`` or
    ``amount`` per unit)."""
    where = f"products[{index}]"
    if not isinstance(data, dict):
        raise bad_request(where, "must be an object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"{where}.name", "is required")
    qty = quantity(data.get("quantity", 1), f"{where}.quantity")
    price = integer(data.get("unit_price"), f"{where}.unit_price", low=0)
    vat = percent(data.get("vat_percentage", 25), f"{where}.vat_percentage")
    row_type = data.get("type", "PRODUCT")
    if row_type not in ROW_TYPES:
        raise bad_request(f"{where}.type", f"one of {', '.join(ROW_TYPES)}")
    sku = data.get("sku")
    if sku is not None and (not isinstance(sku, str) or not sku.strip()):
        raise bad_request(f"{where}.sku", "must be a non-empty string")
    discount = data.get("discount")
    value = 0
    shown: dict[str, Any] | None = None
    gross = half_up(price * qty)
    if discount is not None:
        if not isinstance(discount, dict) or ("percentage" in discount) == ("amount" in discount):
            raise bad_request(f"{where}.discount", "give either percentage or amount")
        if "percentage" in discount:
            pct = percent(discount["percentage"], f"{where}.discount.percentage")
            value = half_up(gross * pct / 100)
            shown = {"percentage": float(pct) if pct != int(pct) else int(pct), "quantity": 1}
        else:
            amount = integer(discount["amount"], f"{where}.discount.amount", low=0)
            value = half_up(amount * qty)
            shown = {"amount": amount, "quantity": 1}
        if value > gross:
            raise bad_request(f"{where}.discount", "larger than the row")
    variant = data.get("variant_name", "")
    return Row(
        name=name.strip(),
        quantity=qty,
        unit_price=price,
        vat=vat,
        sku=sku.strip() if isinstance(sku, str) else None,
        variant_name=variant if isinstance(variant, str) else "",
        row_type=row_type,
        product_uuid=str(data.get("product_uuid") or uuids()),
        variant_uuid=str(data.get("variant_uuid") or uuids()),
        discount=shown,
        discount_value=value,
        description=str(data.get("description") or ""),
    )


def vat_key(rate: Decimal) -> str:
    """``groupedVatAmounts``' key: ``"25.0"``, ``"12.5"``."""
    text = f"{rate.normalize():f}"
    return text if "." in text else text + ".0"


def vat_number(rate: Decimal) -> int | float:
    """``vatPercentage`` as the API writes it: 25, 12.5."""
    return int(rate) if rate == rate.to_integral_value() else float(rate)


def product_json(index: int, row: Row, final_gross: int, sign: int = 1) -> dict[str, Any]:
    """The Purchase API's product row."""
    taxable = half_up(Decimal(final_gross) * 100 / (100 + row.vat))
    data: dict[str, Any] = {
        "quantity": qty_text(row.quantity * sign),
        "productUuid": row.product_uuid,
        "variantUuid": row.variant_uuid,
        "vatPercentage": vat_number(row.vat),
        "unitPrice": row.unit_price,
        "rowTaxableAmount": taxable * sign,
        "name": row.name,
        "description": row.description,
        "variantName": row.variant_name,
        "fromLocationUuid": STORE_LOCATION,
        "toLocationUuid": SOLD_LOCATION,
        "autoGenerated": False,
        "id": str(index),
        "type": row.row_type,
        "libraryProduct": row.row_type == "PRODUCT",
    }
    if row.sku:
        data["sku"] = row.sku
    if row.discount is not None:
        data["discount"] = dict(row.discount)
        data["discountValue"] = row.discount_value * sign
    return data


def grouped(rows: list[tuple[Decimal, int]]) -> dict[str, int]:
    """Gross per VAT rate, as the documentation's examples show ``groupedVatAmounts``."""
    found: dict[str, int] = {}
    for rate, gross in rows:
        found[vat_key(rate)] = found.get(vat_key(rate), 0) + gross
    return found
