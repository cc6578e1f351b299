"""Per-party figures over a period (turnover, open balance…) that systems report as aggregates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.common import Record

__all__ = ["PeriodStatistics"]


class PeriodStatistics(Record):
    """Named metrics for one party over an inclusive period.

    Metrics are an open mapping because each system reports a different set; the names are
    canonical (``turnover``, ``open_balance``…) and chosen by the connector mapping.
    """

    party_id: str = Field(min_length=1)
    period_start: dt.date
    period_end: dt.date
    metrics: dict[str, Decimal] = Field(default_factory=dict)

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
