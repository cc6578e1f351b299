"""A connection's last error is the latest word on it: a later run that reaches the system
and succeeds clears it, and the failed run keeps its message in the runs."""

from __future__ import annotations

from ledgerbridge.connectors.uniconta.client import CREDENTIALS_REFUSED
from ledgerbridge.runtime.system import System
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    import_all,
    seed,
)


def test_a_later_successful_run_clears_the_last_error(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    path = f"/connections/{connection['id']}"
    # The password changed in Uniconta after the connection was saved.
    uniconta.sandbox.add_user(COMPANY, USER, "changed-in-Uniconta", user_type="Server")
    assert tenant.api.post(f"{path}/import").status_code == 202
    system.run_until_idle()
    failed = tenant.api.get(path).json()
    assert failed["last_error"] == CREDENTIALS_REFUSED
    assert failed["last_error_fix"] is not None

    uniconta.sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server")
    status = import_all(system, tenant, connection["id"])

    assert status["last_error"] is None
    assert status["last_error_at"] is None
    assert status["last_error_fix"] is None
    assert status["last_success_at"] is not None
    messages = [run["message"] for run in status["recent_runs"]]
    assert CREDENTIALS_REFUSED in messages, "the failed run keeps its message"


def test_a_run_deferred_to_keep_calls_for_invoices_says_to_see_the_usage(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    """A products refresh may not spend the last of the day's calls (they are kept for
    invoices and customers): deferred, it says so, and the advice is the quota's, not "the
    system refused the work"."""
    seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    path = f"/connections/{connection['id']}"
    used = import_all(system, tenant, connection["id"])["calls_used_today"]
    products_on = {"entities": {"products": {"enabled": True}}}
    limit = {"settings": {"daily_call_limit": used + 1, **products_on}}
    assert tenant.api.patch(path, json=limit).status_code == 200
    assert tenant.api.post(f"{path}/jobs/products").status_code == 202
    system.run_until_idle()

    status = tenant.api.get(path).json()
    assert status["last_error"].startswith("deferred to the next day")
    assert status["last_error_fix"]["page"] == "usage"
    assert "call budget" in status["last_error_fix"]["text"]
