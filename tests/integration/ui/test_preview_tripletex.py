"""Preview of Tripletex's "Reload data": the 12 months of figures of the linked clients it
would read and store, shown next to the reload's button, equal to what the reload then does."""

from __future__ import annotations

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant
from tests.integration.test_tripletex import SUMMARY, Tripletex, clock, settings, system, tripletex
from tests.integration.ui.conftest import Web, text_of
from tests.integration.ui.test_tenant_tripletex import client_of, imported

__all__ = ["clock", "settings", "system", "tripletex"]  # fixtures used below


def test_preview_of_a_reload_matches_the_reload(
    system: System, web: Web, tenant: Tenant, tripletex: Tripletex
) -> None:
    cid = imported(system, tenant, tripletex, summary=SUMMARY)
    party, customer = client_of(tenant, tripletex, 0)
    tenant.api.put(f"/connections/{cid}/client-links/{party['id']}", json={"customer_id": customer})
    system.run_until_idle()
    summary = web.get(f"/ui/connections/{cid}/summary")
    assert "Preview the reload" in text_of(summary.text)

    answer = web.post(f"/ui/connections/{cid}/preview", {"kind": "reload"})
    assert answer.status_code == 200, answer.text
    shown = text_of(answer.text)
    assert "Period statistics 12 0 0 0" in shown and "Yes, reload data" in shown
    preview = tenant.api.post(f"/connections/{cid}/preview", json={"kind": "reload"}).json()
    assert list(preview["streams"]) == ["period_statistics"]
    assert preview["calls"]["preview"] == preview["calls"]["run"] > 0

    queued = tenant.api.post(f"/connections/{cid}/reload")
    assert queued.status_code == 202, queued.text
    system.run_until_idle()
    state = tenant.api.get(f"/connections/{cid}/reload/{queued.json()['job_id']}").json()
    assert state["run"]["counts"] == {"period_statistics.created": 12}
    assert state["run"]["calls"] == preview["calls"]["run"]
