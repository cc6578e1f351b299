"""``GET /metrics`` on a real server: Prometheus text read from the database at the scrape,
labelled by ids only, behind its own token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ledgerbridge.runtime.jobqueue.embedded import EmbeddedBackend
from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    Tenant,
    Uniconta,
    connect,
    hub_settings,
    import_all,
    seed,
)

TOKEN = "scrape-token-7f3a"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(db_url: str, secret_key: str, hub_port: int, tmp_path: Path) -> Settings:
    return hub_settings(db_url, secret_key, hub_port, tmp_path, metrics_token=TOKEN)


def metrics_url(hub: str) -> str:
    return hub.removesuffix("/api/v1") + "/metrics"


def scrape(hub: str) -> tuple[str, Samples]:
    answer = httpx.get(metrics_url(hub), headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return answer.text, samples


def test_metrics_need_their_own_token(system: System, hub: str, tenant: Tenant) -> None:
    url = metrics_url(hub)
    assert httpx.get(url).status_code == 401
    refused = httpx.get(url, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "LEDGERBRIDGE_METRICS_TOKEN" in refused.json()["detail"]
    # A tenant's API key opens its own data, not the installation's figures.
    with_key = httpx.get(url, headers={"Authorization": f"Bearer {tenant.api_key}"})
    assert with_key.status_code == 401
    system.settings.metrics_token = None
    off = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert off.status_code == 404
    assert "metrics are off" in off.json()["detail"]


def test_a_token_outside_ascii_is_refused_not_a_server_error(
    system: System, hub: str, tenant: Tenant
) -> None:
    # Header values reach the route as Latin-1 text; a compare of text outside ASCII raises.
    url = metrics_url(hub)
    refused = httpx.get(url, headers={"Authorization": "Bearer sk\u00e9-token".encode("latin-1")})
    assert refused.status_code == 401, refused.text
    # A token set outside ASCII opens the figures when sent as its UTF-8 bytes.
    system.settings.metrics_token = "jeton-\u00e9t\u00e9"
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    wanted = {"Authorization": "Bearer jeton-\u00e9t\u00e9".encode()}
    assert httpx.get(url, headers=wanted).status_code == 200


def test_the_figures_come_from_the_database_at_each_scrape(
    system: System, hub: str, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 3)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    # One debtor becomes invalid: an open issue after the next pull.
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK11111111"})
    assert tenant.api.post(f"/connections/{cid}/jobs/pull").status_code == 202
    system.run_until_idle()
    # A webhook whose app does not answer: its delivery waits for a retry.
    dead = "http://127.0.0.1:9/hooks"
    assert tenant.api.post("/webhooks", json={"url": dead, "events": ["*"]}).status_code == 201
    assert tenant.api.post("/parties", json={"name": "Hook ApS"}).status_code == 201
    system.run_until_idle()
    # A job asked for that no worker has taken yet.
    system.queue.enqueue(Command("push", connection_id=cid, tenant_id=tenant.tenant_id))

    text, samples = scrape(hub)
    connection = (("connection_id", cid), ("system", "uniconta"), ("tenant_id", tenant.tenant_id))
    status = tenant.api.get(f"/connections/{cid}").json()
    assert samples[("ledgerbridge_api_calls_used", connection)] == status["calls_used_today"] > 0
    assert samples[("ledgerbridge_api_calls_limit", connection)] == 5000
    assert samples[("ledgerbridge_jobs", (("kind", "import"), ("state", "done")))] == 1
    assert samples[("ledgerbridge_jobs", (("kind", "push"), ("state", "queued")))] == 1
    assert samples[("ledgerbridge_jobs_due", ())] == 1
    assert samples[("ledgerbridge_jobs_oldest_due_age_seconds", ())] >= 0
    issues = tuple(sorted((*connection, ("outcome", "skipped"))))
    assert samples[("ledgerbridge_open_issues", issues)] == 1
    imported = tuple(sorted((*connection, ("kind", "import"))))
    finished = samples[("ledgerbridge_last_success_timestamp_seconds", imported)]
    assert abs(finished - system.clock.now().timestamp()) < 120
    pending = (("state", "pending"), ("tenant_id", tenant.tenant_id))
    assert samples[("ledgerbridge_webhook_deliveries", pending)] == 1
    assert samples[("ledgerbridge_webhook_deliveries_due", ())] == 0  # waiting for its retry
    # Ids only: no tenant's name, no credential, no URL of a tenant's app.
    with system.sessions() as session:
        row = session.get(Connection, cid)
        assert row is not None
        credential = row.credential_key
    for private in ("Nordlys", credential, PASSWORD, dead, "Hook ApS", "@"):
        assert private not in text

    # Counted again at the next scrape, from the database.
    system.run_until_idle()
    _, later = scrape(hub)
    assert later[("ledgerbridge_jobs_due", ())] == 0
    assert later[("ledgerbridge_jobs_oldest_due_age_seconds", ())] == 0


def test_a_merged_job_is_its_own_state_and_no_failure(
    system: System, hub: str, tenant: Tenant
) -> None:
    backend = system.queue
    if not isinstance(backend, EmbeddedBackend):
        pytest.skip("folds a job by hand through the embedded queue")
    pull = Command("pull", connection_id="c1", dedupe_key="pull:c1")
    backend.enqueue(pull)
    job = backend.queue.claim("worker-1")
    assert job is not None
    backend.enqueue(pull)
    backend.queue.fail(job, "RemoteUnavailable: 503", retry_in=timedelta(seconds=2))
    _, samples = scrape(hub)
    assert samples[("ledgerbridge_jobs", (("kind", "pull"), ("state", "merged")))] == 1
    assert samples[("ledgerbridge_jobs", (("kind", "pull"), ("state", "queued")))] == 1
    assert not [key for key in samples if ("state", "failed") in key[1]]
    assert not [key for key in samples if ("state", "cancelled") in key[1]]
