"""What an amount, a price or a quantity can be: finite, below 10^12 in size, and no more precise
than money is counted.

These are the one check of numbers on every way in (the API, a record an accounting system
sends back): a value such as ``1e999999`` would otherwise be stored, then break every later
calculation on the record (``decimal.InvalidOperation`` when it is rounded to cents).

Precision: an amount (paid, owed) has at most the currency's minor units (2 for EUR, 0 for
JPY, 3 for KWD). An invoice line's unit price may go two places further, as per-unit prices
are quoted below the smallest coin (fuel, energy, small parts) and the line's amount is rounded
to the minor unit anyway. Prices that are not invoiced as such (a product's list and average
cost prices) are held to six decimals, as accounting systems keep them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "LIMIT",
    "Amount",
    "Price",
    "Quantity",
    "currency_places",
    "refuse_imprecise",
]

LIMIT = Decimal(10) ** 12
"""Every amount, price and quantity is smaller than this in size."""
DEFAULT_PLACES = 2
"""The minor units of a currency that ISO 4217 lists with two decimals (most of them)."""
_OTHER_PLACES: dict[str, int] = {
    # ISO 4217 currencies whose minor unit is not 1/100.
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
WIDEST_PLACES = max(_OTHER_PLACES.values())
"""The most decimals any currency has: the bound for an amount whose currency is unknown."""
PRICE_EXTRA_PLACES = 2
"""How much finer than the minor unit an invoice line's unit price may be."""
PRICE_PLACES = 6
"""Decimals of a price whose currency is not known."""
QUANTITY_PLACES = 6
"""Quantities are counted to a millionth (grams of a kilogram, millilitres of a cubic metre)."""


def currency_places(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217): 2 for EUR, 0 for JPY."""
    return _OTHER_PLACES.get(currency.upper(), DEFAULT_PLACES)


def places(value: Decimal) -> int:
    """Decimals the value needs: ``1.50`` needs 1, ``100`` none."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _bounded(kind: str, most_places: int) -> AfterValidator:
    def check(value: Decimal) -> Decimal:
        if abs(value) >= LIMIT:
            raise PydanticCustomError(
                "number_too_large",
                "{value} is not a possible {kind}: its size must stay below 10^12",
                {"value": f"{value:.6g}", "kind": kind},
            )
        if places(value) > most_places:
            raise PydanticCustomError(
                "number_too_precise",
                "{value} has {places} decimals; a {kind} has at most {most}",
                {"value": str(value), "places": places(value), "kind": kind, "most": most_places},
            )
        return value

    return AfterValidator(check)


Amount = Annotated[Decimal, _bounded("amount", WIDEST_PLACES)]
"""Money paid or owed; a record that names its currency narrows it with ``refuse_imprecise``."""
Price = Annotated[Decimal, _bounded("price", PRICE_PLACES)]
"""Money per unit; an invoice line narrows it to its currency with ``refuse_imprecise``."""
Quantity = Annotated[Decimal, _bounded("quantity", QUANTITY_PLACES)]


def refuse_imprecise(
    title: str, currency: str, values: Iterable[tuple[tuple[str | int, ...], Decimal | None, int]]
) -> None:
    """Raise a ``ValidationError`` naming each value (by its location in the record) that is
    more precise than ``currency`` allows; ``values`` are (location, value, extra places beyond
    the minor unit: 0 for amounts, ``PRICE_EXTRA_PLACES`` for unit prices)."""
    minor = currency_places(currency)
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "number_too_precise",
                "{value} has {places} decimals; {currency} allows at most {most} here",
                {
                    "value": str(value),
                    "places": places(value),
                    "currency": currency,
                    "most": minor + extra,
                },
            ),
            loc=loc,
            input=str(value),
        )
        for loc, value, extra in values
        if value is not None and places(value) > minor + extra
    ]
    if errors:
        raise ValidationError.from_exception_data(title, errors)
