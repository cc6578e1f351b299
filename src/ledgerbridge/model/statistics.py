"""Per-party figures over a period (turnover, open balance…) that systems report as aggregates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.common import Record
from ledgerbridge.model.custom_field import CustomFieldKey

__all__ = ["MetricName", "PeriodStatistics"]

MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class PeriodStatistics(Record):
    """Named metrics for one party over an inclusive period.

    Metrics are an open mapping because each system reports a different set. Their names are
    canonical snake_case (``turnover``, ``open_balance``), chosen by the connector mapping; the
    pattern keeps two spellings of one metric from living side by side.

    A summary the app files as a task carries its ``title`` and ``topic`` and, in ``fields``,
    the same figures under the app's custom fields they are mapped to, ready to store.
    """

    party_id: str = Field(min_length=1)
    period_start: dt.date
    period_end: dt.date
    metrics: dict[MetricName, Decimal] = Field(default_factory=dict)
    title: str | None = None
    topic: str | None = None
    fields: dict[CustomFieldKey, Decimal] = Field(default_factory=dict)

    @field_validator("period_end")
    @classmethod
    def _end_not_before_start(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("period_start")
        if start is not None and value < start:
            raise PydanticCustomError(
                "period_end_before_start",
                "period end {period_end} is before its start {period_start}",
                {"period_end": value.isoformat(), "period_start": start.isoformat()},
            )
        return value
