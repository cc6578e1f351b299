"""A record the canonical model refuses (read from a system, or an order the hub holds) is
skipped with a reason a person can act on: each field by its path in the record, with what it
must be, never the validation library's "Input should be a valid decimal" or "Field
required"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledgerbridge.engine.canonical import validate
from ledgerbridge.engine.state import skip_reason
from ledgerbridge.model.reasons import describe_validation_error


def refusal(entity: str, data: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        validate(entity, data)
    return refused.value


def test_a_record_the_model_refuses_is_skipped_naming_each_field_in_plain_words() -> None:
    bad = refusal("invoice", {
        "party_id": "p-1", "date": "31-01-2026", "currency": "DKK",
        "lines": [{"description": "Mug", "quantity": "two", "unit_price": "1,50"}],
    })  # fmt: skip
    reason, message = skip_reason(bad)
    assert reason == "invalid_remote_data"
    assert message == (
        "date: must be a day of the calendar written year-month-day, such as 2026-01-31; "
        "lines.0.quantity: must be a number such as 0.50, with a point as decimal mark; "
        "lines.0.unit_price: must be a number such as 0.50, with a point as decimal mark"
    )


def test_a_missing_field_is_said_required_and_the_whole_record_by_its_kind() -> None:
    missing = refusal("invoice", {"party_id": "p-1", "currency": "DKK", "lines": []})
    assert describe_validation_error(missing) == "date: required"
    assert "Field required" not in describe_validation_error(missing)
    whole = ValidationError.from_exception_data(
        "Order", [{"type": "missing", "loc": (), "input": {}}]
    )
    assert describe_validation_error(whole, "order") == "order: required"
