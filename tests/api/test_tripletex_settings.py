"""Tripletex connection settings: the summary is merged by field, the zone is Oslo's."""

from __future__ import annotations

from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import (
    SUMMARY,
    Tripletex,
    body,
    clock,
    connect,
    settings,
    system,
    tripletex,
)

__all__ = ["clock", "settings", "system", "tripletex"]


def test_a_reload_request_keeps_the_rest_of_the_summary(
    tenant: Tenant, tripletex: Tripletex
) -> None:
    connection = connect(tenant, tripletex, summary=SUMMARY)
    changed = tenant.api.patch(
        f"/connections/{connection['id']}",
        json={"settings": {"summary": {"reload_requested_at": "2026-12-02T10:00:00Z"}}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["summary"] == {
        **SUMMARY, "reload_requested_at": "2026-12-02T10:00:00Z"
    }  # fmt: skip
    bad_day = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"summary": {"import_day": 31}}}
    )
    assert bad_day.status_code == 422
    assert bad_day.json()["detail"][0]["loc"] == ["body", "settings", "summary", "import_day"]
    assert bad_day.json()["detail"][0]["msg"] == (
        "settings.summary.import_day: Input should be 'last_work_day' or 'last_calendar_day'; "
        "or Input should be less than or equal to 28"
    )


def test_a_tripletex_connection_runs_on_oslo_time(tenant: Tenant, tripletex: Tripletex) -> None:
    created = tenant.api.post("/connections", json={**body(tripletex), "timezone": None})
    assert created.status_code == 201, created.text
    status = created.json()
    assert status["timezone"] == "Europe/Oslo"
    assert {s["timezone"] for s in status["schedules"]} == {"Europe/Oslo"}
