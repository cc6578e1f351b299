"""A connection's daily call limit is read one way everywhere (``registry.daily_call_limit``):
its setting, else the system's. A limit saved as ``null`` (accepted, and kept so) is the
system's for the status, the preview and the runs alike."""

from __future__ import annotations

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed


def test_a_limit_saved_as_null_is_the_systems_for_the_status_the_preview_and_the_runs(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 3)
    created = connect(tenant, uniconta, settings={"daily_call_limit": None})
    default = SYSTEMS["uniconta"].daily_call_limit
    assert created["settings"]["daily_call_limit"] is None
    assert created["daily_call_limit"] == default

    preview = tenant.api.post(f"/connections/{created['id']}/preview", json={"kind": "import"})
    assert preview.status_code == 200, preview.text
    assert preview.json()["calls"]["limit"] == default

    status = import_all(system, tenant, created["id"])
    assert status["daily_call_limit"] == default
    assert status["calls_used_today"] > 0
