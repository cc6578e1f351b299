"""A refused value's reason in the words of whoever typed it, for each kind of value a setting
takes: the validation library's own refusals, read through ``in_words``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from ledgerbridge.model.reasons import in_words


class Settings(BaseModel, extra="forbid"):
    tolerance: Decimal = Field(Decimal("0.05"), ge=0, decimal_places=2)
    hours: int = Field(24, gt=0, le=48)
    lease: float = Field(30.0, gt=0, le=2.5e3)
    on: bool = True
    day: dt.date = dt.date(2026, 1, 1)
    rounding: Literal["per_rate", "per_line"] = "per_rate"
    names: list[str] = Field(default_factory=lambda: ["a"], min_length=1)
    code: str = Field("X", min_length=1, max_length=3)
    nested: dict[str, int] = Field(default_factory=dict)

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        if value != value.upper():
            raise ValueError("a code is written in capitals")
        return value


DAY = "must be a day of the calendar written year-month-day, such as 2026-01-31"


def reason(**given: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(given)
    [error] = refused.value.errors()
    return in_words(error)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"tolerance": "1,5"}, "must be a number such as 0.50, with a point as decimal mark"),
        ({"tolerance": "abc"}, "must be a number such as 0.50, with a point as decimal mark"),
        ({"tolerance": "0.005"}, "must have at most 2 decimals"),
        ({"tolerance": "-1"}, "must be 0 or more"),
        ({"hours": "six"}, "must be a whole number such as 3"),
        ({"hours": 1.5}, "must be a whole number such as 3, without decimals"),
        ({"hours": 0}, "must be more than 0"),
        ({"hours": 49}, "must be 48 or less"),
        ({"lease": -5}, "must be more than 0"),
        ({"lease": 9000}, "must be 2500 or less"),
        ({"on": "maybe"}, "must be true or false"),
        ({"day": "31-12-2026"}, DAY),
        ({"day": "2026-02-30"}, DAY),
        ({"rounding": "per_order"}, "must be 'per_rate' or 'per_line'"),
        ({"names": []}, "must have at least 1 item"),
        ({"names": "a"}, "must be a list"),
        ({"code": ""}, "must not be empty"),
        ({"code": "ABCD"}, "must have at most 3 characters"),
        ({"code": "ab"}, "a code is written in capitals"),
        ({"nested": "x"}, "must be an object of named values"),
        ({"colour": "red"}, "unknown field: it is not one this takes"),
    ],
)  # fmt: skip
def test_each_refusal_says_what_to_type(given: dict[str, Any], said: str) -> None:
    assert reason(**given) == said


def test_a_refusal_passed_on_without_its_limits_keeps_its_message_in_plain_words() -> None:
    """An error rebuilt from a 422's ``msg`` and ``type`` alone (no ``ctx``)."""
    bare = {"type": "greater_than", "msg": "Input should be greater than 0"}
    assert in_words(bare) == "must be greater than 0"
    assert in_words({"type": "custom", "msg": "the day after the last payout"}) == (
        "the day after the last payout"
    )
