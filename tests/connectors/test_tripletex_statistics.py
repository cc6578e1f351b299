"""When a month's summary is imported, and how statistics become summary metrics."""

from __future__ import annotations

from datetime import date

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.tripletex.mapping import StatisticsMapping
from ledgerbridge.connectors.tripletex.statistics import (
    due_months,
    import_day,
    last_months,
    valid_rule,
)
from ledgerbridge.model import PeriodStatistics


@pytest.mark.parametrize(
    ("rule", "month", "expected"),
    [
        ("last_calendar_day", date(2026, 2, 1), date(2026, 2, 28)),
        ("last_work_day", date(2026, 5, 1), date(2026, 5, 29)),  # the 31st is a Sunday
        ("last_work_day", date(2026, 11, 1), date(2026, 11, 30)),
        (1, date(2026, 12, 1), date(2027, 1, 1)),
        (28, date(2026, 1, 1), date(2026, 2, 28)),
    ],
)
def test_import_day(rule: object, month: date, expected: date) -> None:
    assert import_day(rule, month) == expected


def test_due_months() -> None:
    assert due_months(3, date(2026, 12, 3)) == [date(2026, 11, 1)]
    assert due_months(3, date(2026, 12, 4)) == []
    assert due_months("last_calendar_day", date(2026, 11, 30)) == [date(2026, 11, 1)]
    assert due_months("last_work_day", date(2026, 5, 31)) == []


def test_reload_months_are_the_twelve_before_the_current_one() -> None:
    months = last_months(date(2026, 1, 15), 12)
    assert months[0] == date(2025, 1, 1) and months[-1] == date(2025, 12, 1)
    assert len(set(months)) == 12


@pytest.mark.parametrize("rule", ["last_work_day", "last_calendar_day", 1, 28])
def test_valid_rules(rule: object) -> None:
    assert valid_rule(rule)


@pytest.mark.parametrize("rule", [0, 29, "monthly", True, "3"])
def test_invalid_rules(rule: object) -> None:
    assert not valid_rule(rule)


def test_only_mapped_metrics_are_imported() -> None:
    mapping = StatisticsMapping({"sale_entries": "Salgsbilag", "postings": " "})
    row = {"customer": "51", "party_id": "p-1", "period_start": "2026-11-01",
           "period_end": "2026-11-30", "metrics": {"sale_entries": 12, "postings": 80}}  # fmt: skip
    assert mapping.remote_id(row) == "51:2026-11"
    stats = PeriodStatistics.model_validate(mapping.to_canonical(row, {}))
    assert stats.metrics == {"sale_entries": 12}
    with pytest.raises(SkipRecord) as caught:
        mapping.to_canonical({**row, "_problem": "no access"}, {})
    assert caught.value.reason == "client_company_unreachable"
