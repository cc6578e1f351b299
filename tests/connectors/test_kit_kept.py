"""Reference data kept between runs: read once while young, again when old or asked afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledgerbridge.connectors.kit.kept import KeptReads


def test_an_answer_is_kept_for_its_age_per_key_and_read_afresh_on_demand() -> None:
    reads: list[str] = []

    def read(key: str) -> object:
        reads.append(key)
        return {"read": len(reads)}

    kept = KeptReads(max_age=timedelta(hours=6))
    start = datetime(2026, 12, 4, 8, tzinfo=UTC)
    first, fresh = kept.get("company-1", start, lambda: read("company-1"))
    assert (first, fresh) == ({"read": 1}, True)
    again, fresh = kept.get("company-1", start + timedelta(hours=5), lambda: read("company-1"))
    assert (again, fresh) == (first, False)
    other, _ = kept.get("company-2", start, lambda: read("company-2"))
    assert other == {"read": 2}
    old, fresh = kept.get("company-1", start + timedelta(hours=6), lambda: read("company-1"))
    assert (old, fresh) == ({"read": 3}, True)
    asked, fresh = kept.get("company-1", start + timedelta(hours=6), lambda: read("company-1"),
                            fresh=True)  # fmt: skip
    assert (asked, fresh) == ({"read": 4}, True)
    assert reads == ["company-1", "company-2", "company-1", "company-1"]
