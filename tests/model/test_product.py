"""Products, stock, VAT codes, units, period statistics and the entity registry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ledgerbridge.model import (
    COMMON_UNITS,
    ENTITY_TYPES,
    PeriodStatistics,
    Product,
    Record,
    StockLevel,
    Unit,
    VatCode,
)


def _error(model: type[BaseModel], data: dict[str, Any]) -> Any:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return info.value.errors()[0]


def test_product_normalises_and_round_trips() -> None:
    product = Product(
        id="prod-1",
        sku=" A-100 ",
        name="Oak plank 2 m",
        description="Planed, FSC",
        unit="pcs",
        sales_price=Decimal("199.95"),
        purchase_price=Decimal("120"),
        cost_price=Decimal("125.5"),
        currency="sek",
        vat_code="S25",
        ean="400-6381-33393-1",
    )
    assert (product.sku, product.currency, product.ean) == ("A-100", "SEK", "4006381333931")
    assert Product.model_validate(product.model_dump(mode="json")) == product
    assert product.model_dump(mode="json")["sales_price"] == "199.95"


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"ean": "4006381333932"}, ("ean",), "ean"),
        ({"currency": "KRONE"}, ("currency",), "currency_code"),
        ({"sales_price": "-0.01"}, ("sales_price",), "greater_than_equal"),
        ({"purchase_price": -1}, ("purchase_price",), "greater_than_equal"),
        ({"cost_price": "NaN"}, ("cost_price",), "finite_number"),
        ({"sku": ""}, ("sku",), "string_too_short"),
        ({"price": "1"}, ("price",), "extra_forbidden"),
    ],
)
def test_product_errors(fields: dict[str, Any], loc: tuple[str, ...], error_type: str) -> None:
    error = _error(Product, {"sku": "A", "name": "Plank", **fields})
    assert (error["loc"], error["type"]) == (loc, error_type)


def test_product_price_from_float() -> None:
    assert Product(sku="A", name="B", sales_price=0.1).sales_price == Decimal("0.1")  # type: ignore[arg-type]


def test_stock_level_allows_negative_quantities() -> None:
    level = StockLevel(
        product_id="prod-1",
        warehouse="MAIN",
        quantity=Decimal("-3"),
        available=Decimal("-5"),
        reserved=Decimal("2"),
        as_of=dt.datetime(2024, 3, 1, 3, 0, tzinfo=dt.UTC),
    )
    assert level.ordered == 0
    assert StockLevel.model_validate_json(level.model_dump_json()) == level


def test_stock_level_requires_an_aware_timestamp() -> None:
    data = {"product_id": "p", "quantity": "1", "available": "1", "as_of": "2024-03-01T03:00:00"}
    error = _error(StockLevel, data)
    assert (error["loc"], error["type"]) == (("as_of",), "timezone_aware")


def test_vat_code() -> None:
    code = VatCode(
        code="S25", name="Salgsmoms 25%", rate=Decimal("25"), country="dk", direction="sales"
    )
    assert code.country == "DK"
    assert VatCode.model_validate(code.model_dump(mode="json")) == code
    assert VatCode(code="X", rate=Decimal(0)).direction == "both"


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"rate": "100.01"}, ("rate",)),
        ({"rate": "-1"}, ("rate",)),
        ({"country": "XX"}, ("country",)),
        ({"direction": "in"}, ("direction",)),
    ],
)
def test_vat_code_errors(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert _error(VatCode, {"code": "S25", "rate": "25", **fields})["loc"] == loc


@pytest.mark.parametrize(
    "code",
    [
        "pcs",
        "hour",
        "day",
        "week",
        "month",
        "year",
        "kg",
        "g",
        "l",
        "m",
        "m2",
        "m3",
        "km",
        "box",
        "set",
        "pack",
        "pallet",
    ],
)
def test_common_units(code: str) -> None:
    unit = COMMON_UNITS[code]
    assert isinstance(unit, Unit)
    assert unit.code == code
    assert unit.name


def test_common_units_are_read_only() -> None:
    with pytest.raises(TypeError):
        COMMON_UNITS["pcs"] = Unit(code="pcs", name="stuk")  # type: ignore[index]


def test_period_statistics() -> None:
    stats = PeriodStatistics(
        party_id="p-1",
        period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 1, 1),
        metrics={"turnover": Decimal("10500.25"), "open_balance": Decimal("-12.5")},
    )
    assert PeriodStatistics.model_validate_json(stats.model_dump_json()) == stats
    error = _error(
        PeriodStatistics,
        {"party_id": "p", "period_start": "2024-02-01", "period_end": "2024-01-31"},
    )
    assert (error["loc"], error["type"]) == (("period_end",), "period_end_before_start")


@pytest.mark.parametrize("name", ["Turnover", "turn-over", "open balance", "", "1st"])
def test_metric_names_are_snake_case(name: str) -> None:
    data = {"party_id": "p", "period_start": "2024-01-01", "period_end": "2024-01-31"}
    error = _error(PeriodStatistics, {**data, "metrics": {name: "1"}})
    assert error["loc"] == ("metrics", name, "[key]")


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
        st.decimals(allow_nan=False, allow_infinity=False),
        max_size=5,
    )
)
def test_metrics_survive_json(metrics: dict[str, Decimal]) -> None:
    stats = PeriodStatistics(
        party_id="p",
        period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 12, 31),
        metrics=metrics,
    )
    copy = PeriodStatistics.model_validate_json(stats.model_dump_json())
    assert {key: str(value) for key, value in copy.metrics.items()} == {
        key: str(value) for key, value in metrics.items()
    }


def test_entity_types() -> None:
    assert set(ENTITY_TYPES) == {
        "custom_field",
        "party",
        "contact_person",
        "product",
        "stock_level",
        "vat_code",
        "unit",
        "invoice",
        "payment",
        "order",
        "refund",
        "payout",
        "journal_posting",
        "period_statistics",
    }
    for model in ENTITY_TYPES.values():
        assert issubclass(model, Record)
        assert model.model_fields["id"].default is None
        assert model.model_config.get("extra") == "forbid"
