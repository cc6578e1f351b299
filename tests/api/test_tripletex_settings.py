"""Tripletex connection settings: the summary is merged by field, the zone is Oslo's."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ledgerbridge.clock import ManualClock
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
        "settings.summary.import_day: must be 'last_work_day' or 'last_calendar_day'; "
        "or must be 28 or less"
    )


def test_a_tripletex_connection_runs_on_oslo_time(tenant: Tenant, tripletex: Tripletex) -> None:
    created = tenant.api.post("/connections", json={**body(tripletex), "timezone": None})
    assert created.status_code == 201, created.text
    status = created.json()
    assert status["timezone"] == "Europe/Oslo"
    assert {s["timezone"] for s in status["schedules"]} == {"Europe/Oslo"}


def test_an_expiry_date_of_today_or_earlier_is_refused_on_its_field(
    tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """A token stops working on its expiry date, as the status reads it: a date of today (in
    Oslo) or earlier is refused when given, with what it is for; tomorrow is accepted."""
    today = clock.now().astimezone(ZoneInfo("Europe/Oslo")).date()
    past = (today - timedelta(days=1)).isoformat()
    for given in (past, today.isoformat()):
        created = tenant.api.post(
            "/connections", json=body(tripletex, employee_token_expires_on=given)
        )
        assert created.status_code == 422, created.text
        refusal = created.json()["detail"][0]
        assert refusal["loc"] == ["body", "settings", "employee_token_expires_on"]
        assert refusal["msg"] == (
            f"settings.employee_token_expires_on: {given} is not after today ({today}); it is "
            "the expiry date chosen when the employee token was generated, and Tripletex "
            "refuses a credential from that date on: generate a new one and give the date "
            "chosen for it"
        )
    assert tenant.api.get("/connections").json() == []
    tomorrow = (today + timedelta(days=1)).isoformat()
    connection = connect(tenant, tripletex, employee_token_expires_on=tomorrow)
    assert not any("expired" in w for w in connection["warnings"])
    for given in (past, today.isoformat()):
        changed = tenant.api.patch(
            f"/connections/{connection['id']}",
            json={"settings": {"employee_token_expires_on": given}},
        )
        assert changed.status_code == 422
        loc = changed.json()["detail"][0]["loc"]
        assert loc == ["body", "settings", "employee_token_expires_on"]


def test_a_saved_expiry_date_that_has_passed_keeps_loading(
    tenant: Tenant, tripletex: Tripletex, clock: ManualClock
) -> None:
    """A date that passed after it was saved is the status's to tell: the connection loads,
    says the token expired, and other settings can still be changed."""
    cid = connect(tenant, tripletex)["id"]
    expiry = tripletex.firm.token_expires
    clock.set(datetime.combine(expiry + timedelta(days=3), time(12), UTC))
    status = tenant.api.get(f"/connections/{cid}")
    assert status.status_code == 200, status.text
    assert any(f"expired on {expiry.isoformat()}" in w for w in status.json()["warnings"])
    changed = tenant.api.patch(f"/connections/{cid}", json={"settings": {"token_warning_days": 7}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["employee_token_expires_on"] == expiry.isoformat()
