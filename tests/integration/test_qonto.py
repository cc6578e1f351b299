"""Customers between the hub and the Qonto sandbox, over real HTTP on loopback and a real DB."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import sqlalchemy as sa

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import RemoteUnavailable
from ledgerbridge.connectors.qonto.client import idempotency_key
from ledgerbridge.connectors.qonto.connector import QontoConnector
from ledgerbridge.connectors.qonto.oauth import SCOPES
from ledgerbridge.model import Invoice
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.qonto import (
    QontoSandbox,
    SandboxServer,
    seed_clients,
    seed_organization,
    sign,
)
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.sync import InboxEvent, Run, SyncIssue
from tests.integration.conftest import Tenant, new_tenant, reconciled

CLIENT_ID = "ledgerbridge"
CLIENT_SECRET = "ledgerbridge-secret-0123456789"
REDIRECT = "http://127.0.0.1/oauth/qonto/callback"


class Qonto:
    """The sandbox, where it listens, and a consent the tests act under."""

    def __init__(self, sandbox: QontoSandbox, url: str) -> None:
        self.sandbox = sandbox
        self.url = url
        code = sandbox.issue_code(CLIENT_ID, SCOPES, REDIRECT)
        tokens = sandbox.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uri": REDIRECT,
            }
        )
        self.access_token = tokens.access_token

    def clients(self) -> list[dict[str, Any]]:
        return self.sandbox.clients()

    def writes(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.sandbox.calls() if c.method != "GET"]


def start(sandbox: QontoSandbox, *redirects: str) -> Generator[Qonto, None, None]:
    sandbox.add_oauth_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT, *redirects])
    with SandboxServer(sandbox) as server:
        yield Qonto(sandbox, server.base_url)
    sandbox.close()


@pytest.fixture
def qonto() -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=4))


def connect(
    tenant: Tenant, qonto: Qonto, *, secrets: dict[str, Any] | None = None, name: str = "Qonto"
) -> Any:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "qonto",
            "name": name,
            "timezone": "Europe/Paris",
            "settings": {"base_url": qonto.url, "entities": {"customers": {"enabled": True}}},
            "secrets": secrets or {"access_token": qonto.access_token},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def import_all(system: System, tenant: Tenant, connection_id: str) -> None:
    assert tenant.api.post(f"/connections/{connection_id}/import").status_code == 202
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection_id}").json()
    assert status["import_state"] == "done", status


def parties(tenant: Tenant) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = tenant.api.get("/parties", params={"limit": 1000}).json()["items"]
    return items


def last_run(system: System, connection_id: str, kind: str) -> Run:
    with system.sessions() as session:
        run = session.scalars(
            sa.select(Run)
            .where(Run.connection_id == connection_id, Run.kind == kind)
            .order_by(Run.started_at.desc())
        ).first()
        assert run is not None
        return run


def pull(system: System, tenant: Tenant, connection_id: str) -> Run:
    assert tenant.api.post(f"/connections/{connection_id}/jobs/pull").status_code == 202
    system.run_until_idle()
    return last_run(system, connection_id, "pull")


NEW_CUSTOMER = {
    "name": "Atlas Rénovation SAS",
    "is_customer": True,
    "debtor_number": "10001",
    "email": "contact@atlas-renovation.example",
    "phone": "+33 1 42 68 53 00",
    "locale": "fr-FR",
    "currency": "EUR",
    "organisation_number": "732829320",
    "vat_number": "FR44732829320",
    "billing_address": {
        "line1": "12 bis rue de la République",
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
    },
}


def test_import_then_pulls_read_only_what_changed(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    ids = seed_clients(qonto.sandbox, count=250, seed=2)
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])

    imported = parties(tenant)
    assert len(imported) == 250
    run = last_run(system, connection["id"], "import")
    assert run.counts == {"customers.created": 250}
    assert run.calls == 4  # a count, then three pages of 100
    by_id = {c["id"]: c for c in qonto.clients()}
    company = next(c for c in by_id.values() if c["kind"] == "company")
    person = next(c for c in by_id.values() if c["kind"] == "individual")
    hub_company = next(p for p in imported if p["data"]["name"] == company["name"])["data"]
    assert hub_company["kind"] == "organisation"
    assert hub_company["vat_number"] == company["vat_number"]
    assert hub_company["organisation_number"] == company["tax_identification_number"]
    assert hub_company["billing_address"]["line1"] == company["billing_address"]["street_address"]
    assert hub_company["is_customer"] is True
    hub_person = next(p for p in imported if p["data"].get("email") == person["email"])["data"]
    assert hub_person["kind"] == "person"
    assert hub_person["name"] == f"{person['first_name']} {person['last_name']}"
    assert hub_person["billing_address"]["city"] == person["billing_address"]["city"]
    assert hub_person["postal_address"] is None

    nothing = pull(system, tenant, connection["id"])
    assert nothing.status == "succeeded"
    assert nothing.calls == 1  # clients updated since the newest one seen: none

    qonto.sandbox.update_client(ids[7], {"city": "Marseille", "address": "1 quai du Port"})
    changed = pull(system, tenant, connection["id"])
    assert changed.counts == {"customers.updated": 1}
    assert changed.calls == 1
    moved = next(p for p in parties(tenant) if p["data"]["name"] == by_id[ids[7]]["name"])
    assert moved["data"]["billing_address"]["city"] == "Marseille"
    assert qonto.writes() == []  # nothing echoed back


def test_the_first_import_recognises_customers_the_crm_already_has(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """Qonto has no debtor number: existing CRM customers are recognised by registration
    number, VAT number or e-mail, and keep their debtor numbers. An e-mail two CRM records
    share recognises neither (a wrong merge is worse than a second record)."""
    crm = {
        "tin": {**NEW_CUSTOMER, "vat_number": None},
        "vat": {**NEW_CUSTOMER, "name": "Brasserie du Port", "debtor_number": "10002",
                "organisation_number": None, "vat_number": "FR40303265045",
                "email": "compta@brasserie-du-port.example"},
        "email": {"kind": "person", "name": "Jan de Vries", "first_name": "Jan",
                  "last_name": "de Vries", "is_customer": True, "debtor_number": "10003",
                  "email": "Jan.deVries@example.nl"},
        "shared_1": {"kind": "person", "name": "Eva Lund", "is_customer": True,
                     "debtor_number": "10004", "email": "office@lund.example"},
        "shared_2": {"kind": "person", "name": "Erik Lund", "is_customer": True,
                     "debtor_number": "10005", "email": "office@lund.example"},
    }  # fmt: skip
    ids = {}
    for key, body in crm.items():
        response = tenant.api.post("/parties", json=body)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["id"]
    made = {
        "tin": qonto.sandbox.create_client(
            {"kind": "company", "name": "Atlas Rénovation", "currency": "EUR",
             "tax_identification_number": "732829320"}
        ),
        "vat": qonto.sandbox.create_client(
            {"kind": "company", "name": "Brasserie du Port SARL", "currency": "EUR",
             "vat_number": "FR 40303265045"}
        ),
        "email": qonto.sandbox.create_client(
            {"kind": "individual", "first_name": "Jan", "last_name": "de Vries",
             "currency": "EUR", "email": "jan.devries@example.nl"}
        ),
        "shared": qonto.sandbox.create_client(
            {"kind": "individual", "first_name": "Eva", "last_name": "Lund",
             "currency": "EUR", "email": "office@lund.example"}
        ),
    }  # fmt: skip
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])

    run = last_run(system, connection["id"], "import")
    assert run.counts == {"customers.updated": 3, "customers.created": 1}
    assert len(parties(tenant)) == 6
    for key in ("tin", "vat", "email"):
        record = tenant.api.get(f"/parties/{ids[key]}").json()
        assert record["sync"][0]["remote_id"] == made[key]["id"], key
        assert record["data"]["debtor_number"] == crm[key]["debtor_number"]
    assert tenant.api.get(f"/parties/{ids['vat']}").json()["data"]["name"] == (
        "Brasserie du Port SARL"  # Qonto's values win on the first match
    )
    for key in ("shared_1", "shared_2"):
        [state] = tenant.api.get(f"/parties/{ids[key]}").json()["sync"]
        assert state["remote_id"] is None, key


def test_hub_customer_reaches_qonto_at_once_and_does_not_echo(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    created = tenant.api.post("/parties", json=NEW_CUSTOMER)
    assert created.status_code == 201, created.text

    assert system.worker.run_once()  # one job: the push
    [client] = qonto.clients()
    assert client["kind"] == "company"
    assert client["name"] == "Atlas Rénovation SAS"
    assert client["phone"] == {"country_code": "+33", "number": "142685300"}
    assert client["tax_identification_number"] == "732829320"
    assert client["billing_address"]["street_address"] == "12 bis rue de la République"
    assert client["locale"] == "fr"
    # Searched by tax identification number before creating, created with a key.
    searches = [c for c in qonto.sandbox.calls() if c.method == "GET" and c.path == "/v2/clients"]
    assert parse_qs(searches[-1].query)["filter[tax_identification_number]"] == ["732829320"]
    assert qonto.writes() == ["POST /v2/clients"]

    version = tenant.api.get(f"/parties/{created.json()['id']}").json()["version"]
    run = pull(system, tenant, connection["id"])
    assert run.counts == {"customers.unchanged": 1}
    assert tenant.api.get(f"/parties/{created.json()['id']}").json()["version"] == version

    changed = tenant.api.patch(
        f"/parties/{created.json()['id']}", json={"email": "hi@atlas.example"}
    )
    assert changed.status_code == 200
    system.run_until_idle()
    assert qonto.clients()[0]["email"] == "hi@atlas.example"
    assert qonto.writes() == ["POST /v2/clients", f"PATCH /v2/clients/{client['id']}"]


def test_a_person_customer_is_sent_with_split_names(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    tenant.api.post(
        "/parties",
        json={
            "kind": "person",
            "name": "Jan Peter van der Berg",
            "is_customer": True,
            "debtor_number": "20001",
            "email": "jan@mail.example",
            "locale": "nl",
            "currency": "EUR",
            "postal_address": {
                "line1": "Keizersgracht 123-2",
                "postal_code": "1015 CJ",
                "city": "Amsterdam",
                "country": "NL",
            },
        },
    )
    system.run_until_idle()
    [client] = qonto.clients()
    assert (client["kind"], client["first_name"], client["last_name"]) == (
        "individual",
        "Jan Peter",
        "van der Berg",
    )
    assert client["billing_address"]["street_address"] == "Keizersgracht 123-2"


def test_a_customer_whose_client_was_deleted_in_qonto_says_which_and_what_to_do(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """A client deleted in Qonto is not made again when its customer changes in the app
    (deletes are not propagated); the issue names the customer and says what to do."""
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    created = tenant.api.post("/parties", json=NEW_CUSTOMER)
    system.run_until_idle()
    [client] = qonto.clients()
    qonto.sandbox.delete_client(client["id"])

    tenant.api.patch(f"/parties/{created.json()['id']}", json={"email": "new@atlas.example"})
    system.run_until_idle()
    assert qonto.clients() == []
    [issue] = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert (issue["reason"], issue["key"]) == ("remote_record_missing", created.json()["id"])
    assert "10001 (Atlas Rénovation SAS)" in issue["message"], issue["message"]
    assert "delete it in the app too" in issue["message"]
    assert "Make again" in issue["message"], issue["message"]

    # Deleted by mistake: made again on request, as a new client carrying the app's values.
    path = f"/connections/{connection['id']}/issues/retry"
    retried = tenant.api.post(path, json={"issue_id": issue["id"], "recreate": True})
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    [again] = qonto.clients()
    assert again["id"] != client["id"]
    assert again["email"] == "new@atlas.example"
    assert issues_of(tenant, connection["id"]) == []
    record = tenant.api.get(f"/parties/{created.json()['id']}").json()
    assert record["sync"][0]["remote_id"] == again["id"]


def test_make_again_is_refused_for_an_issue_of_another_kind_and_keeps_a_twin_still_there(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    created = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    [client] = qonto.clients()
    qonto.sandbox.delete_client(client["id"])
    tenant.api.patch(f"/parties/{created['id']}", json={"email": "new@atlas.example"})
    system.run_until_idle()
    [issue] = issues_of(tenant, connection["id"])
    assert issue["reason"] == "remote_record_missing"
    path = f"/connections/{connection['id']}/issues/retry"

    everything = tenant.api.post(path, json={"recreate": True})
    assert everything.status_code == 422, everything.text
    assert everything.json()["detail"][0]["loc"][-1] == "recreate"
    other = tenant.api.post(path, json={"reason": "vat_group_missing", "recreate": True})
    assert other.status_code == 422, other.text

    # Made again by hand in Qonto meanwhile: found and linked, not made a second time.
    by_hand = qonto.sandbox.create_client({**client, "email": "new@atlas.example"})
    retried = tenant.api.post(path, json={"reason": "remote_record_missing", "recreate": True})
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    assert [c["id"] for c in qonto.clients()] == [by_hand["id"]]
    assert issues_of(tenant, connection["id"]) == []


def test_a_vat_groups_country_is_checked_in_words_and_kept_upper_case(
    tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect(tenant, qonto)
    path = f"/connections/{connection['id']}"
    group = {"code": "FR20", "rate": "20"}
    refused = tenant.api.patch(
        path, json={"settings": {"vat_groups": [{**group, "country": "France"}]}}
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "settings", "vat_groups", "0", "country"]
    assert "unknown country code 'France'" in error["msg"], error["msg"]
    saved = tenant.api.patch(path, json={"settings": {"vat_groups": [{**group, "country": "fr"}]}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["vat_groups"][0]["country"] == "FR"


def test_an_existing_qonto_client_is_found_not_duplicated(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    existing = qonto.sandbox.create_client(
        {
            "kind": "company",
            "name": "Atlas Renovation",
            "vat_number": "FR44732829320",
            "currency": "EUR",
            "locale": "fr",
        }
    )
    qonto.sandbox.clear_calls()
    created = tenant.api.post("/parties", json={**NEW_CUSTOMER, "organisation_number": None})
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/push").status_code == 202
    system.worker.run_until_idle()

    [client] = qonto.clients()
    assert client["id"] == existing["id"]
    assert client["name"] == "Atlas Rénovation SAS"  # completed from the hub
    assert qonto.writes() == [f"PATCH /v2/clients/{existing['id']}"]
    record = tenant.api.get(f"/parties/{created.json()['id']}").json()
    assert record["sync"][0]["remote_id"] == existing["id"]
    slug = qonto.sandbox.organization()["slug"]
    assert record["sync"][0]["url"] == (
        f"https://app.qonto.com/organizations/{slug}/clients/{existing['id']}"
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_customer": False, "is_supplier": True}, "relation_type_unsupported"),
        ({"debtor_number": None}, "debtor_number_missing"),
    ],
)
def test_records_that_cannot_sync_say_why(
    system: System, tenant: Tenant, qonto: Qonto, changes: dict[str, Any], reason: str
) -> None:
    """Each says what to change in the app, and the record then syncs by itself."""
    connection = connect(tenant, qonto)
    import_all(system, tenant, connection["id"])
    created = tenant.api.post("/parties", json={**NEW_CUSTOMER, **changes})
    system.run_until_idle()
    assert qonto.clients() == []
    issues = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert [(i["reason"], i["key"]) for i in issues] == [(reason, created.json()["id"])]
    what_to_do = {
        "relation_type_unsupported": "mark it a customer (is_customer) and it syncs by itself",
        "debtor_number_missing": "assign one and it syncs by itself",
    }
    assert what_to_do[reason] in issues[0]["message"], issues[0]["message"]
    assert NEW_CUSTOMER["name"] in issues[0]["message"]  # which record, in its own name

    fixed = {"is_customer": True, "debtor_number": "10001"}
    tenant.api.patch(f"/parties/{created.json()['id']}", json=fixed)
    system.run_until_idle()
    assert len(qonto.clients()) == 1
    assert tenant.api.get(f"/connections/{connection['id']}/issues").json() == []


def test_an_api_key_reads_but_cannot_create_and_says_so(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    seed_clients(qonto.sandbox, count=5, seed=3)
    connection = connect(tenant, qonto, secrets={"api_key": qonto.sandbox.api_key})
    assert any("log in to Qonto" in w for w in connection["warnings"])
    import_all(system, tenant, connection["id"])
    assert len(parties(tenant)) == 5

    tenant.api.post("/parties", json=NEW_CUSTOMER)
    system.run_until_idle()
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert "does not allow POST /v2/clients" in status["last_error"]
    assert len(qonto.clients()) == 5


@pytest.mark.parametrize(
    ("secrets", "said"),
    [
        (
            {"api_key": "someone:wrong"},
            "Qonto refused the API key (401): check secrets.api_key; a Qonto API key is written "
            "<login>:<secret-key> (pied-piper-7132:62885d39f3a0…), both shown in the Qonto web "
            "app (not the mobile app) under Settings, Integrations and Partnerships > API key",
        ),
        (
            {"access_token": "revoked"},
            "Qonto refused the login (401): log in to Qonto again from the connection's settings",
        ),
    ],
)
def test_wrong_credentials_are_refused_saying_what_to_check(
    tenant: Tenant, qonto: Qonto, secrets: dict[str, str], said: str
) -> None:
    """A wrong API key says how Qonto writes one and where it is found; a refused login says
    to log in again."""
    response = tenant.api.post(
        "/connections",
        json={
            "system": "qonto",
            "name": "Qonto",
            "timezone": "Europe/Paris",
            "settings": {"base_url": qonto.url},
            "secrets": secrets,
        },
    )
    assert response.status_code == 422, response.text
    assert said in response.text


class LoseFirstCreateAnswer(httpx.BaseTransport):
    """The create reaches the sandbox and is applied; only its answer is lost."""

    def __init__(self, path: str = "/v2/clients", *, lose: int = 1, arrives: bool = True) -> None:
        self.inner = httpx.HTTPTransport()
        self.path = path
        self.lose = lose
        self.arrives = arrives
        self.creates = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """``lose``: which create (1 = the first) times out; ``arrives``: whether it reached
        the sandbox first (else it is lost on the way there)."""
        is_create = request.method == "POST" and request.url.path == self.path
        if is_create:
            self.creates += 1
        if is_create and self.creates == self.lose and not self.arrives:
            raise httpx.ReadTimeout("the request was lost", request=request)
        response = self.inner.handle_request(request)
        if is_create and self.creates == self.lose:
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


def test_create_whose_answer_was_lost_is_found_not_duplicated(
    settings: Settings, hub_port: int, clock: ManualClock, qonto: Qonto
) -> None:
    lossy = LoseFirstCreateAnswer()
    system = System(settings, clock=clock, transport=lossy)
    server = ServerThread(create_app(system), port=hub_port).start()
    try:
        tenant = new_tenant(system, f"{server.url}/api/v1")
        connection = connect(tenant, qonto)
        import_all(system, tenant, connection["id"])
        created = tenant.api.post("/parties", json=NEW_CUSTOMER)
        system.run_until_idle()
        assert lossy.creates == 1
        assert len(qonto.clients()) == 1  # it did arrive
        failed = tenant.api.get(f"/connections/{connection['id']}").json()
        assert "did not answer in time" in failed["last_error"]

        clock.advance(timedelta(minutes=1))
        system.run_until_idle()
        assert lossy.creates == 1  # found by its tax identification number, never resent
        assert len(qonto.clients()) == 1
        recovered = tenant.api.get(
            f"/connections/{connection['id']}/sync-log",
            params={"reason": "recovered_after_ambiguous_write"},
        ).json()
        assert [e["record_id"] for e in recovered] == [created.json()["id"]]
        tenant.api.close()
    finally:
        server.stop()
        system.close()


def test_an_invoice_whose_answer_was_lost_is_found_after_its_idempotency_key_expired(
    settings: Settings, hub_port: int, clock: ManualClock, qonto: Qonto
) -> None:
    """Qonto keeps an idempotency key 30 minutes and cannot search invoices by our id: after a
    longer outage the draft it made is found by its content among recent invoices, and a
    second hub invoice with the same content still gets a draft of its own."""
    lossy = LoseFirstCreateAnswer("/v2/client_invoices")
    system = System(settings, clock=clock, transport=lossy)
    server = ServerThread(create_app(system), port=hub_port).start()
    try:
        tenant = new_tenant(system, f"{server.url}/api/v1")
        connection = connect_invoices(tenant, qonto, VAT_GROUPS)
        import_all(system, tenant, connection["id"])
        party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
        system.run_until_idle()
        invoice = {
            "party_id": party["id"], "date": "2026-11-20", "payment_term_days": 14,
            "currency": "EUR",
            "lines": [{"description": "Audit", "quantity": "2", "unit": "day",
                       "unit_price": "650", "vat_code": "FR20"}],
        }  # fmt: skip
        first = tenant.api.post("/invoices", json=invoice).json()
        system.run_until_idle()
        assert lossy.creates == 1 and len(qonto.sandbox.invoices()) == 1  # it did arrive

        clock.advance(timedelta(hours=2))
        system.run_until_idle()
        assert lossy.creates == 1, "found, not sent again"
        [draft] = qonto.sandbox.invoices()
        record = tenant.api.get(f"/invoices/{first['id']}").json()
        assert record["sync"][0]["remote_id"] == draft["id"]

        second = tenant.api.post("/invoices", json=invoice).json()
        system.run_until_idle()
        assert lossy.creates == 2 and len(qonto.sandbox.invoices()) == 2
        other = tenant.api.get(f"/invoices/{second['id']}").json()["sync"][0]["remote_id"]
        assert other not in (None, draft["id"])
        tenant.api.close()
    finally:
        server.stop()
        system.close()


def test_a_lost_invoice_is_not_taken_for_an_identical_one_already_linked(
    settings: Settings, hub_port: int, clock: ManualClock, qonto: Qonto
) -> None:
    """The second of two identical invoices never reached Qonto; the look-up finds the first
    one's draft, which is linked already, so the second is sent and gets its own."""
    lossy = LoseFirstCreateAnswer("/v2/client_invoices", lose=2, arrives=False)
    system = System(settings, clock=clock, transport=lossy)
    server = ServerThread(create_app(system), port=hub_port).start()
    try:
        tenant = new_tenant(system, f"{server.url}/api/v1")
        connection = connect_invoices(tenant, qonto, VAT_GROUPS)
        import_all(system, tenant, connection["id"])
        party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
        system.run_until_idle()
        invoice = {
            "party_id": party["id"], "date": "2026-11-20", "payment_term_days": 14,
            "currency": "EUR",
            "lines": [{"description": "Audit", "quantity": "2", "unit": "day",
                       "unit_price": "650", "vat_code": "FR20"}],
        }  # fmt: skip
        ids = [tenant.api.post("/invoices", json=invoice).json()["id"] for _ in range(2)]
        system.run_until_idle()
        assert len(qonto.sandbox.invoices()) == 1  # the second was lost on its way

        clock.advance(timedelta(minutes=5))
        system.run_until_idle()
        drafts = qonto.sandbox.invoices()
        assert len(drafts) == 2
        linked = [tenant.api.get(f"/invoices/{i}").json()["sync"][0]["remote_id"] for i in ids]
        assert sorted(linked) == sorted(d["id"] for d in drafts)
        tenant.api.close()
    finally:
        server.stop()
        system.close()


def test_a_retried_create_reuses_its_idempotency_key(qonto: Qonto) -> None:
    """Without an identifier Qonto can search exactly, a resent create carries the same key
    and Qonto answers with the client it already made."""
    connector = QontoConnector(
        {"base_url": qonto.url}, {"access_token": qonto.access_token}, lambda n: None
    )
    body = {"kind": "company", "name": "Zéphyr", "currency": "EUR"}
    try:
        first = connector.create_many("customers", [{**body, "__hub_id__": "hub-9"}])[0]
        again = connector.client.create("clients", "client", body, idempotency_key("hub-9", body))
    finally:
        connector.close()
    assert again["id"] == first["id"]
    assert len(qonto.clients()) == 1


@pytest.fixture
def throttled() -> Iterator[Qonto]:
    yield from start(QontoSandbox(seed=5, rate_limits=((2, 10.0),)))


def test_rate_limit_retries_after_qontos_delay(
    system: System, tenant: Tenant, throttled: Qonto
) -> None:
    seed_clients(throttled.sandbox, count=150, seed=6)
    connection = connect(tenant, throttled)  # one call: the organization
    assert tenant.api.post(f"/connections/{connection['id']}/import").status_code == 202
    system.worker.run_once()  # the count, then the first page; the second page is refused
    status = tenant.api.get(f"/connections/{connection['id']}").json()
    assert "rate limiting" in status["last_error"]
    (job,) = [j for j in system.queue.list() if j.kind == "import"]
    assert job.status == "queued"
    assert job.run_after is not None
    assert job.run_after >= system.clock.now() + timedelta(seconds=8)
    connector = QontoConnector(
        {"base_url": throttled.url}, {"access_token": throttled.access_token}, lambda n: None
    )
    try:
        with pytest.raises(RemoteUnavailable) as caught:
            connector.count("customers")
    finally:
        connector.close()
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


# ---------------------------------------------------------------------------- OAuth 2.0


class OAuthWorld:
    """A hub and a Qonto sandbox on one manual clock, and a tenant using them."""

    def __init__(self, system: System, tenant: Tenant, qonto: Qonto, clock: ManualClock) -> None:
        self.system = system
        self.tenant = tenant
        self.qonto = qonto
        self.clock = clock

    def connect(self, **settings: Any) -> Any:
        response = self.tenant.api.post(
            "/connections",
            json={
                "system": "qonto",
                "name": "Qonto",
                "timezone": "Europe/Paris",
                "settings": {
                    "base_url": self.qonto.url,
                    "oauth_url": self.qonto.url,
                    "oauth_client_id": CLIENT_ID,
                    "entities": {"customers": {"enabled": True}},
                    **settings,
                },
                "secrets": {"oauth_client_secret": CLIENT_SECRET},
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    def log_in(self, connection_id: str) -> httpx.Response:
        """The user's browser: the hub's authorize URL, Qonto's consent, back to the hub."""
        started = self.tenant.api.post(f"/connections/{connection_id}/oauth/authorize")
        assert started.status_code == 200, started.text
        with httpx.Client(timeout=30) as browser:
            consent = browser.get(started.json()["authorize_url"])
            assert consent.status_code == 302, consent.text
            return browser.get(consent.headers["location"])

    def secrets(self, connection_id: str) -> dict[str, Any]:
        return dict(self.system.connections.handle(connection_id).secrets)

    def status(self, connection_id: str) -> Any:
        return self.tenant.api.get(f"/connections/{connection_id}").json()


@pytest.fixture
def world(settings: Settings, hub_port: int, clock: ManualClock) -> Iterator[OAuthWorld]:
    sandbox = QontoSandbox(clock=clock, seed=7)
    qontos = start(sandbox, f"http://127.0.0.1:{hub_port}/api/v1/oauth/callback")
    qonto = next(qontos)
    system = System(settings, clock=clock)
    server = ServerThread(create_app(system), port=hub_port).start()
    tenant = new_tenant(system, f"{server.url}/api/v1")
    try:
        yield OAuthWorld(system, tenant, qonto, clock)
    finally:
        tenant.api.close()
        server.stop()
        system.close()
        qontos.close()


def test_log_in_to_qonto_then_sync(world: OAuthWorld) -> None:
    seed_clients(world.qonto.sandbox, count=3, seed=8)
    connection = world.connect()
    assert any("not logged in to Qonto yet" in w for w in connection["warnings"])

    answer = world.log_in(connection["id"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "connected", "connection_id": connection["id"]}
    stored = world.secrets(connection["id"])
    assert stored["access_token"].startswith("ory_at_")
    assert stored["refresh_token"].startswith("ory_rt_")
    assert "oauth_state_hash" not in stored
    # Tokens never show in the connection's status.
    assert stored["refresh_token"] not in str(world.status(connection["id"]))

    import_all(world.system, world.tenant, connection["id"])
    assert len(parties(world.tenant)) == 3
    created = world.tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    world.system.run_until_idle()
    assert len(world.qonto.clients()) == 4

    # The login learned the organisation's slug: synced records link to the Qonto app.
    slug = world.qonto.sandbox.organization()["slug"]
    for party in [*parties(world.tenant)[:1], created]:
        [link] = world.tenant.api.get(f"/parties/{party['id']}").json()["sync"]
        assert link["url"] == (
            f"https://app.qonto.com/organizations/{slug}/clients/{link['remote_id']}"
        )


def test_logging_in_subscribes_to_invoice_webhooks(world: OAuthWorld) -> None:
    seed_organization(world.qonto.sandbox, clients=5, invoices=12, seed=9)
    connection = world.connect(entities=INVOICE_ENTITIES, vat_groups=VAT_GROUPS)
    world.log_in(connection["id"])
    [subscription] = world.qonto.sandbox.subscriptions()
    assert subscription["callback_url"] == connection["change_url"]
    assert subscription["types"] == ["v1/client-invoices"]
    assert world.secrets(connection["id"])["webhook_secret"] == subscription["secret"]
    import_all(world.system, world.tenant, connection["id"])

    unpaid = next(i for i in world.qonto.sandbox.invoices() if i["status"] == "unpaid")
    world.qonto.sandbox.mark_invoice_paid(unpaid["id"])
    world.qonto.sandbox.wait_for_webhooks()
    calls = len(world.qonto.sandbox.calls())
    world.system.run_until_idle()
    assert hub_invoice(world.tenant, unpaid["number"])["data"]["status"] == "paid"
    assert len(world.qonto.sandbox.calls()) == calls  # what invoices need was kept at login

    world.log_in(connection["id"])  # logging in again replaces the subscription
    [again] = world.qonto.sandbox.subscriptions()
    assert again["id"] != subscription["id"]
    assert world.secrets(connection["id"])["webhook_secret"] == again["secret"]


@pytest.mark.parametrize("state", ["unknown-connection.abcdefgh", "nothing-at-all"])
def test_a_callback_with_an_unknown_state_changes_nothing(world: OAuthWorld, state: str) -> None:
    connection = world.connect()
    before = world.secrets(connection["id"])
    answer = httpx.get(
        f"{world.tenant.api.base_url}/oauth/callback", params={"state": state, "code": "x"}
    )
    assert answer.status_code == 404
    assert world.secrets(connection["id"]) == before


def test_a_login_is_completed_once(world: OAuthWorld) -> None:
    connection = world.connect()
    started = world.tenant.api.post(f"/connections/{connection['id']}/oauth/authorize").json()
    with httpx.Client(timeout=30) as browser:
        back = browser.get(started["authorize_url"]).headers["location"]
        assert browser.get(back).status_code == 200
        tokens = world.secrets(connection["id"])
        assert browser.get(back).status_code == 404  # replayed: the state is spent
    assert world.secrets(connection["id"]) == tokens


def test_a_refused_consent_says_so(world: OAuthWorld) -> None:
    connection = world.connect()
    world.qonto.sandbox.set_consent(False)
    answer = world.log_in(connection["id"])
    assert answer.status_code == 422
    assert "access_denied" in world.status(connection["id"])["last_error"]
    assert "access_token" not in world.secrets(connection["id"])


def test_tokens_are_renewed_during_runs_and_the_new_refresh_token_is_kept(
    world: OAuthWorld,
) -> None:
    connection = world.connect()
    world.log_in(connection["id"])
    import_all(world.system, world.tenant, connection["id"])
    first = world.secrets(connection["id"])

    world.clock.advance(timedelta(minutes=57))  # 3 minutes left: renewed before the call
    assert pull(world.system, world.tenant, connection["id"]).status == "succeeded"
    second = world.secrets(connection["id"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    # Hours later, long after the old refresh token's 60-second grace: the stored one works.
    world.clock.advance(timedelta(hours=5))
    assert pull(world.system, world.tenant, connection["id"]).status == "succeeded"
    third = world.secrets(connection["id"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert world.status(connection["id"])["last_error"] is None


def test_an_access_token_refused_early_is_renewed_once_and_the_run_goes_on(
    world: OAuthWorld,
) -> None:
    connection = world.connect()
    world.log_in(connection["id"])
    import_all(world.system, world.tenant, connection["id"])
    before = world.secrets(connection["id"])
    world.qonto.sandbox.revoke_token_request(
        {
            "token": before["access_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    )

    run = pull(world.system, world.tenant, connection["id"])
    assert run.status == "succeeded"
    after = world.secrets(connection["id"])
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    statuses = [c.status for c in world.qonto.sandbox.calls()[-2:]]
    assert statuses == [401, 200]


def test_a_revoked_login_asks_the_user_to_log_in_again(world: OAuthWorld) -> None:
    connection = world.connect()
    world.log_in(connection["id"])
    import_all(world.system, world.tenant, connection["id"])
    world.qonto.sandbox.revoke_refresh_token(world.secrets(connection["id"])["refresh_token"])

    run = pull(world.system, world.tenant, connection["id"])
    assert run.status == "failed"
    error = world.status(connection["id"])["last_error"]
    assert "log in to Qonto again" in error

    world.log_in(connection["id"])
    assert world.status(connection["id"])["last_error"] is None
    assert pull(world.system, world.tenant, connection["id"]).status == "succeeded"


def test_a_login_older_than_90_days_asks_the_user_to_log_in_again(world: OAuthWorld) -> None:
    connection = world.connect()
    world.log_in(connection["id"])
    import_all(world.system, world.tenant, connection["id"])
    calls = len(world.qonto.sandbox.calls())

    world.clock.advance(timedelta(days=91))
    assert pull(world.system, world.tenant, connection["id"]).status == "failed"
    error = world.status(connection["id"])["last_error"]
    assert "older than 90 days" in error and "log in to Qonto again" in error
    assert len(world.qonto.sandbox.calls()) == calls  # no call made with a dead token


# ---------------------------------------------------------------------------- invoices

VAT_GROUPS = [
    {"code": code, "rate": rate, "country": country}
    for code, rate, country in (
        ("FR20", "20", "FR"), ("FR10", "10", "FR"), ("FR5.5", "5.5", "FR"),
        ("FR2.1", "2.1", "FR"), ("NL-RC", "0", "NL"), ("BE-RC", "0", "BE"),
    )
]  # fmt: skip
INVOICE_ENTITIES = {
    "customers": {"enabled": True},
    "invoices": {"enabled": True},
    "credit_notes": {"enabled": True},
}


def connect_invoices(tenant: Tenant, qonto: Qonto, vat_groups: list[dict[str, str]]) -> Any:
    response = tenant.api.post(
        "/connections",
        json={
            "system": "qonto",
            "name": "Qonto",
            "timezone": "Europe/Paris",
            "settings": {
                "base_url": qonto.url,
                "entities": INVOICE_ENTITIES,
                "vat_groups": vat_groups,
            },
            "secrets": {"access_token": qonto.access_token},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_invoices_switched_on_without_vat_groups_are_warned_about_before_the_import(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """ "Verify VAT groups in advance": with no VAT group, every invoice would fail, so the
    preflight and the status say so until the groups are saved."""
    cid = connect_invoices(tenant, qonto, [])["id"]
    preflight = tenant.api.get(f"/connections/{cid}/preflight").json()["warnings"]
    [warning] = tenant.api.get(f"/connections/{cid}").json()["warnings"]
    assert preflight == [warning]
    assert "no VAT group" in warning and "vat_group_missing" in warning
    assert "settings.vat_groups" in warning
    saved = tenant.api.patch(f"/connections/{cid}", json={"settings": {"vat_groups": VAT_GROUPS}})
    assert saved.is_success, saved.text
    assert tenant.api.get(f"/connections/{cid}").json()["warnings"] == []
    customers_only = connect(tenant, qonto, name="Qonto customers")["id"]
    assert tenant.api.get(f"/connections/{customers_only}").json()["warnings"] == []


def invoices(tenant: Tenant) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        page = tenant.api.get("/invoices", params=params).json()
        items.extend(page["items"])
        after = page["next"]
        if after is None:
            return items


def test_invoices_and_credit_notes_are_imported_linked_to_their_customers(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    seed_organization(qonto.sandbox, clients=30, invoices=150, seed=1)
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])

    run = last_run(system, connection["id"], "import")
    notes = qonto.sandbox.credit_notes()
    assert notes, "the seed makes credit notes"
    assert run.counts == {
        "customers.created": 30,
        "invoices.created": 150,
        "credit_notes.created": len(notes),
    }
    hub = {i["data"].get("number"): i for i in invoices(tenant)}
    parties_by_id = {p["id"]: p["data"] for p in parties(tenant)}
    remote = next(i for i in qonto.sandbox.invoices() if i["status"] == "paid")
    mine = hub[remote["number"]]["data"]
    assert mine["status"] == "paid"
    assert mine["date"] == remote["issue_date"]
    assert mine["due_date"] == remote["due_date"]
    assert mine["currency"] == remote["currency"]
    assert parties_by_id[mine["party_id"]]["name"] == remote["client"]["name"]
    assert [line["description"] for line in mine["lines"]] == [
        item["title"] for item in remote["items"]
    ]
    note = notes[0]
    credit = hub[note["number"]]["data"]
    credited = next(i for i in qonto.sandbox.invoices() if i["id"] == note["invoice_id"])
    assert credit["kind"] == "credit_note"
    assert credit["credits_invoice_id"] == hub[credited["number"]]["id"]
    assert all(Decimal(line["quantity"]) < 0 for line in credit["lines"])


def test_an_invoice_without_a_matching_vat_group_fails_until_one_is_added(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    seed_organization(qonto.sandbox, clients=10, invoices=40, seed=2)
    without_fr20 = [g for g in VAT_GROUPS if g["code"] != "FR20"]
    connection = connect_invoices(tenant, qonto, without_fr20)
    import_all(system, tenant, connection["id"])

    issues = tenant.api.get(
        f"/connections/{connection['id']}/issues", params={"reason": "vat_group_missing"}
    ).json()
    uses_20 = [
        i
        for i in qonto.sandbox.invoices()
        if any(item["vat_rate"] == "0.2" for item in i["items"])
        and i["client"]["billing_address"]["country_code"] == "FR"
    ]
    assert uses_20 and len(issues) >= len(uses_20)
    assert "VAT rate 20% for country FR" in issues[0]["message"]
    waiting = tenant.api.get(f"/connections/{connection['id']}/mappings").json()["waiting"]
    assert waiting["vat_groups"] == {"20% FR": len(issues)}, "named by what is missing"
    assert waiting["vat"] == {}, "no VAT code to map: Qonto's groups are found by rate"

    changed = tenant.api.patch(
        f"/connections/{connection['id']}", json={"settings": {"vat_groups": VAT_GROUPS}}
    )
    assert changed.status_code == 200, changed.text
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/retry").status_code == 202
    system.run_until_idle()
    left = tenant.api.get(
        f"/connections/{connection['id']}/issues", params={"reason": "vat_group_missing"}
    ).json()
    assert left == []
    assert len([i for i in invoices(tenant) if i["data"]["kind"] == "invoice"]) == 40


def test_a_hub_invoice_becomes_a_qonto_draft(system: System, tenant: Tenant, qonto: Qonto) -> None:
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    created = tenant.api.post(
        "/invoices",
        json={
            "party_id": party["id"],
            "date": "2026-03-10",
            "payment_term_days": 30,
            "currency": "EUR",
            "lines": [
                {"description": "Conseil", "quantity": "1.5", "unit": "hour",
                 "unit_price": "100", "discount_percent": "10", "vat_code": "FR20"},
            ],
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    system.run_until_idle()

    [draft] = qonto.sandbox.invoices()
    assert draft["status"] == "draft"
    assert draft["due_date"] == "2026-04-09"
    assert draft["items"][0]["vat_rate"] == "0.2"
    assert draft["items"][0]["discount"]["value"] == "0.1"
    assert draft["total_amount"]["value"] == "162.00"
    record = tenant.api.get(f"/invoices/{created.json()['id']}").json()
    assert record["sync"][0]["remote_id"] == draft["id"]
    assert record["sync"][0]["url"].endswith(f"/receivable-invoices/{draft['id']}")


def issues_of(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.api.get(f"/connections/{cid}/issues").json()
    return found


def test_an_invoice_to_a_client_deleted_in_qonto_says_so_and_is_sent_once_made_again(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    [client] = qonto.clients()
    qonto.sandbox.delete_client(client["id"])
    created = tenant.api.post(
        "/invoices",
        json={
            "party_id": party["id"], "date": "2026-03-10", "currency": "EUR",
            "lines": [{"description": "Conseil", "quantity": "1", "unit_price": "100",
                       "vat_code": "FR20"}],
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    system.run_until_idle()
    assert qonto.sandbox.invoices() == []
    [issue] = issues_of(tenant, connection["id"])
    assert (issue["reason"], issue["key"]) == ("reference_missing", created.json()["id"])
    assert "no longer has the invoice's client" in issue["message"], issue["message"]
    assert "Make again" in issue["message"]

    retried = tenant.api.post(
        f"/connections/{connection['id']}/issues/retry",
        json={"issue_id": issue["id"], "recreate": True},
    )
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    [again] = qonto.clients()
    assert again["id"] != client["id"]
    [draft] = qonto.sandbox.invoices()
    assert draft["client_id"] == again["id"]
    assert issues_of(tenant, connection["id"]) == []


def test_an_invoice_of_a_customer_without_a_debtor_number_waits_and_says_to_assign_one(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """The prerequisite "invoices cannot sync without a debtor number": the invoice waits
    for its customer, saying why, and both go once the customer has a number."""
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json={**NEW_CUSTOMER, "debtor_number": None}).json()
    created = tenant.api.post("/invoices", json={
        "party_id": party["id"], "date": "2026-03-10", "payment_term_days": 30,
        "currency": "EUR", "lines": [{"description": "Conseil", "quantity": "1",
                                      "unit_price": "100", "vat_code": "FR20"}],
    })  # fmt: skip
    assert created.status_code == 201, created.text
    system.run_until_idle()
    assert qonto.clients() == [] and qonto.sandbox.invoices() == []
    waiting = {i["key"]: i for i in issues_of(tenant, connection["id"])}
    assert waiting[party["id"]]["reason"] == "debtor_number_missing"
    held = waiting[created.json()["id"]]
    assert "debtor" in held["message"] and "number" in held["message"], held

    numbered = tenant.api.patch(f"/parties/{party['id']}", json={"debtor_number": "10001"})
    assert numbered.status_code == 200, numbered.text
    system.run_until_idle()
    assert issues_of(tenant, connection["id"]) == []
    [draft] = qonto.sandbox.invoices()
    assert (
        tenant.api.get(f"/invoices/{created.json()['id']}").json()["sync"][0]["remote_id"]
        == (draft["id"])
    )


def test_a_customer_without_locale_or_currency_can_still_be_invoiced(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """Qonto invoices a client only once it has a currency, a language and an address. A CRM
    customer rarely carries the first two: its client gets the language of its country
    (English where Qonto has none) and euros, so its invoices go. One without an address is
    held saying what to add, and goes by itself once it is added."""
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    bare = {k: v for k, v in NEW_CUSTOMER.items() if k not in ("locale", "currency")}
    party = tenant.api.post("/parties", json=bare).json()
    nowhere = tenant.api.post("/parties", json={
        **bare, "name": "Sans Adresse SARL", "debtor_number": "10002", "email": "sa@example.fr",
        "organisation_number": None, "vat_number": None, "billing_address": None,
    }).json()  # fmt: skip
    system.run_until_idle()
    clients = {c["name"]: c for c in qonto.sandbox.clients() if c.get("name")}
    atlas = clients["Atlas Rénovation SAS"]
    assert (atlas["locale"], atlas["currency"]) == ("fr", "EUR")

    def invoice(party_id: str) -> dict[str, Any]:
        created = tenant.api.post("/invoices", json={
            "party_id": party_id, "date": "2026-03-10", "payment_term_days": 30,
            "currency": "EUR", "lines": [{"description": "Conseil", "quantity": "1",
                                          "unit_price": "100", "vat_code": "FR20"}],
        })  # fmt: skip
        assert created.status_code == 201, created.text
        return dict(created.json())

    sent, held = invoice(party["id"]), invoice(nowhere["id"])
    system.run_until_idle()
    [draft] = qonto.sandbox.invoices()
    assert draft["client_id"] == atlas["id"]
    assert tenant.api.get(f"/invoices/{sent['id']}").json()["sync"][0]["remote_id"] == draft["id"]
    [issue] = [i for i in issues_of(tenant, connection["id"]) if i["key"] == held["id"]]
    assert issue["reason"] == "client_not_invoiceable", issue
    assert "client_id: The client cannot be invoiced until it has: address" in issue["message"]
    assert "Add what it lacks to the customer in the app" in issue["message"], issue

    fixed = tenant.api.patch(f"/parties/{nowhere['id']}", json={
        "billing_address": {"line1": "3 rue Neuve", "postal_code": "75002", "city": "Paris",
                            "country": "FR"},
    })  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    system.run_until_idle()
    assert len(qonto.sandbox.invoices()) == 1, "not tried again within the hour"
    # An hour later (the issue's timestamp moved back, as a clock an hour on would leave it).
    with system.sessions.begin() as session:
        session.execute(
            sa.update(SyncIssue)
            .where(SyncIssue.connection_id == connection["id"])
            .values(last_seen_at=system.clock.now() - timedelta(hours=1, seconds=1))
        )
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/push").status_code == 202
    system.run_until_idle()
    assert len(qonto.sandbox.invoices()) == 2, "the held invoice went once its client could take it"
    assert [i for i in issues_of(tenant, connection["id"]) if i["key"] == held["id"]] == []


def test_an_invoice_with_a_vat_rate_qonto_does_not_accept_is_held_before_any_call(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """7 % is no VAT rate of the organization's country (France): that invoice is held with
    a reason naming its line, the rate and what to do, and never reaches Qonto, which would
    refuse it; the invoices sent with it go. 8.5 % is a French rate the connection has no VAT
    group for: once the group is added, that invoice goes by itself; the other once its line
    is corrected."""
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    cid = connection["id"]
    import_all(system, tenant, cid)
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()

    def issue(description: str, rate: str) -> str:
        created = tenant.api.post("/invoices", json={
            "party_id": party["id"], "date": "2026-03-10", "payment_term_days": 30,
            "currency": "EUR",
            "lines": [{"description": "Conseil", "quantity": "1", "unit_price": "100",
                       "vat_code": "FR20"},
                      {"description": description, "quantity": "2", "unit_price": "50",
                       "vat_rate": rate}],
        })  # fmt: skip
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    qonto.sandbox.clear_calls()
    wrong, overseas = issue("Formation", "7"), issue("Livraison Réunion", "8.5")
    issue("Livres", "5.5")
    system.run_until_idle()

    sent = [[item["vat_rate"] for item in draft["items"]] for draft in qonto.sandbox.invoices()]
    assert sent == [["0.2", "0.055"]]
    assert qonto.writes() == ["POST /v2/client_invoices"], "a held invoice costs no call"
    held = tenant.api.get(f"/connections/{cid}/issues", params={"reason": "vat_group_missing"})
    by_record = {i["key"]: i["message"] for i in held.json()}
    assert set(by_record) == {wrong, overseas}
    assert by_record[wrong].startswith("line 2 ('Formation') has VAT rate 7%, which no VAT group")
    assert "settings.vat_groups of FR: 2.1%, 5.5%, 10%, 20%" in by_record[wrong]
    assert "Correct the line's VAT rate in the invoice" in by_record[wrong]

    groups = [*VAT_GROUPS, {"code": "FR8.5", "rate": "8.5", "country": "FR"}]
    saved = tenant.api.patch(f"/connections/{cid}", json={"settings": {"vat_groups": groups}})
    assert saved.status_code == 200, saved.text
    system.run_until_idle()
    assert len(qonto.sandbox.invoices()) == 2, "the 8.5 % invoice went once its group was added"
    record = tenant.api.get(f"/invoices/{wrong}").json()["data"]
    corrected = [record["lines"][0], {**record["lines"][1], "vat_rate": "10"}]
    assert tenant.api.patch(f"/invoices/{wrong}", json={"lines": corrected}).status_code == 200
    system.run_until_idle()
    rates = sorted(draft["items"][1]["vat_rate"] for draft in qonto.sandbox.invoices())
    assert rates == ["0.055", "0.085", "0.1"]
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []


def test_an_invoice_qonto_converts_to_its_clients_currency_is_shown_so_in_the_hub(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """The seed: "an invoice sent in a different currency will be converted to EUR
    automatically"; the hub then shows the EUR invoice Qonto holds, not the USD one sent."""
    qonto.sandbox.set_exchange_rate("USD", "1.08")
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    created = tenant.api.post("/invoices", json={
        "party_id": party["id"], "date": "2026-03-10", "payment_term_days": 30,
        "currency": "USD",
        "lines": [{"description": "Conseil", "quantity": "1", "unit_price": "108",
                   "vat_code": "FR20"}],
    })  # fmt: skip
    assert created.status_code == 201, created.text
    system.run_until_idle()

    [draft] = qonto.sandbox.invoices()
    assert draft["currency"] == "EUR"
    assert draft["items"][0]["unit_price"]["value"] == "100.00"
    record = tenant.api.get(f"/invoices/{created.json()['id']}").json()
    assert record["data"]["currency"] == "EUR"
    assert record["data"]["lines"][0]["unit_price"] == "100"
    assert record["data"]["lines"][0]["description"] == "Conseil"  # the hub's own line kept
    # The invoice's sync log says why the currency is not the one sent, and where to change it.
    logged = tenant.api.get(
        f"/connections/{connection['id']}/sync-log",
        params={"reason": "currency_converted_by_qonto"},
    ).json()
    assert [(e["record_id"], e["outcome"]) for e in logged] == [(created.json()["id"], "created")]
    assert "in EUR, the client's currency in Qonto, not USD" in logged[0]["message"]
    assert "set the client's currency in Qonto" in logged[0]["message"]
    pull(system, tenant, connection["id"])
    assert tenant.api.get(f"/invoices/{created.json()['id']}").json()["data"] == record["data"]


def euros(value: str) -> dict[str, str]:
    return {"value": value, "currency": "EUR"}


def test_an_imported_invoice_and_its_credit_note_have_subject_discount_and_products(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """Subject Invoice_<number>, Qonto's invoice discount as the document discount, an item's
    description as the line's extra description, and the hub product of the item's title and
    VAT rate with its purchase price; a line no product fits has none."""
    assert tenant.api.post(
        "/vat-codes", json={"code": "TVA20", "rate": "20", "country": "FR"}
    ).status_code == 201  # fmt: skip
    product = tenant.api.post(
        "/products",
        json={"sku": "CONS", "name": "Conseil", "vat_code": "TVA20", "purchase_price": "61.50"},
    ).json()
    client = qonto.sandbox.create_client(
        {"kind": "company", "name": "Atlas", "currency": "EUR", "locale": "fr",
         "billing_address": {"street_address": "3 quai Perrache", "zip_code": "69002",
                             "city": "Lyon", "country_code": "FR"}}
    )  # fmt: skip
    draft = qonto.sandbox.create_invoice(
        {
            "client_id": client["id"], "issue_date": "2026-03-10", "due_date": "2026-04-09",
            "currency": "EUR", "payment_methods": {"iban": qonto.sandbox.iban},
            "discount": {"type": "percentage", "value": "0.05"},
            "items": [
                {"title": "Conseil", "description": "Mars, 1,5 jour", "quantity": "1.5",
                 "unit": "day", "unit_price": euros("400"), "vat_rate": "0.2"},
                {"title": "Déplacement", "quantity": "1", "unit_price": euros("80"),
                 "vat_rate": "0.2"},
            ],
        }
    )  # fmt: skip
    invoice = qonto.sandbox.finalize_invoice(draft["id"])
    note = qonto.sandbox.create_credit_note(
        {
            "invoice_id": invoice["id"], "issue_date": "2026-03-20",
            "discount": {"type": "percentage", "value": "0.05"},
            "items": [{"title": "Conseil", "description": "Mars, 1,5 jour", "quantity": "0.5",
                       "unit": "day", "unit_price": euros("400"), "vat_rate": "0.2"}],
        }
    )  # fmt: skip
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])

    hub = hub_invoice(tenant, invoice["number"])["data"]
    assert hub["subject"] == f"Invoice_{invoice['number']}"
    assert hub["discount_percent"] == "5"
    first, second = hub["lines"]
    assert (first["description"], first["extra_description"]) == ("Conseil", "Mars, 1,5 jour")
    assert (first["product_id"], first["purchase_price"]) == (product["id"], "61.50")
    assert (second["product_id"], second["purchase_price"]) == (None, None)
    # 680 less 5 % is 646 net, 129.20 VAT: the hub's totals are Qonto's.
    assert Invoice.model_validate(hub).gross_total == Decimal(invoice["total_amount"]["value"])
    assert invoice["total_amount"]["value"] == "775.20"

    credit = hub_invoice(tenant, note["number"])["data"]
    assert credit["subject"] == f"Invoice_{note['number']}"
    assert credit["discount_percent"] == "5"
    [line] = credit["lines"]
    assert (line["product_id"], line["purchase_price"]) == (product["id"], "61.50")
    assert line["extra_description"] == "Mars, 1,5 jour"
    assert qonto.writes() == []  # looked-up products are the hub's own: nothing to send back


def test_an_invoice_in_a_unit_not_mapped_waits_until_the_unit_mapping_names_it(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """Units are mapped when a connection starts (day, hour, piece, …); an invoice with a unit
    of the organization's own waits, naming it, and comes once the mapping has it."""
    client = qonto.sandbox.create_client(
        {"kind": "company", "name": "Atlas", "currency": "EUR", "locale": "fr",
         "billing_address": {"street_address": "3 quai Perrache", "zip_code": "69002",
                             "city": "Lyon", "country_code": "FR"}}
    )  # fmt: skip
    draft = qonto.sandbox.create_invoice(
        {
            "client_id": client["id"], "issue_date": "2026-03-10", "due_date": "2026-04-09",
            "currency": "EUR", "payment_methods": {"iban": qonto.sandbox.iban},
            "items": [{"title": "Palettes", "quantity": "2", "unit": "palette",
                       "unit_price": euros("40"), "vat_rate": "0.2"}],
        }
    )  # fmt: skip
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    cid = connection["id"]
    import_all(system, tenant, cid)
    [waiting] = [i for i in issues_of(tenant, cid) if i["reason"] == "unit_unmapped"]
    assert "'palette'" in waiting["message"] and "settings.unit_mapping" in waiting["message"]
    mappings = tenant.api.get(f"/connections/{cid}/mappings").json()
    assert mappings["units"]["day"] == "day" and mappings["units"]["piece"] == "pcs"
    assert mappings["waiting"]["units"] == {"palette": 1}

    saved = tenant.api.put(f"/connections/{cid}/mappings", json={"units": {"palette": "pallet"}})
    assert saved.is_success, saved.text
    system.run_until_idle()
    assert [i for i in issues_of(tenant, cid) if i["reason"] == "unit_unmapped"] == []
    [invoice] = invoices(tenant)
    assert invoice["data"]["lines"][0]["unit"] == "pallet"
    assert [s["remote_id"] for s in invoice["sync"]] == [draft["id"]]


def test_a_hub_invoice_with_a_document_discount_reaches_qonto_with_it(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    created = tenant.api.post(
        "/invoices",
        json={
            "party_id": party["id"], "date": "2026-03-10", "payment_term_days": 30,
            "currency": "EUR", "subject": "Rénovation, phase 1", "discount_percent": "5",
            "lines": [
                {"description": "Conseil", "extra_description": "Mars", "quantity": "1.5",
                 "unit": "day", "unit_price": "400", "discount_percent": "10", "vat_rate": "20"},
                {"description": "Déplacement", "quantity": "1", "unit_price": "80",
                 "vat_rate": "20"},
            ],
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    system.run_until_idle()

    [draft] = qonto.sandbox.invoices()
    assert draft["discount"]["type"] == "percentage"
    assert Decimal(draft["discount"]["value"]) == Decimal("0.05")
    assert [item["description"] for item in draft["items"]] == ["Mars", None]
    assert Decimal(draft["items"][0]["discount"]["value"]) == Decimal("0.1")
    record = tenant.api.get(f"/invoices/{created.json()['id']}").json()
    # 540 + 80 less 5 % is 589 net, 117.80 VAT, in the hub and in Qonto alike.
    assert draft["total_amount"]["value"] == "706.80"
    assert Invoice.model_validate(record["data"]).gross_total == Decimal("706.80")
    assert record["data"]["subject"] == "Rénovation, phase 1"  # Qonto's subject is inbound only
    assert record["version"] == 1  # nothing came back from the draft

    removed = tenant.api.patch(f"/invoices/{record['id']}", json={"discount_percent": "0"})
    assert removed.status_code == 200, removed.text
    system.run_until_idle()
    [draft] = qonto.sandbox.invoices()
    assert draft["discount"] is None
    assert draft["total_amount"]["value"] == "744.00"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"discount_percent": "100.5"}, "body.discount_percent"),
        ({"discount_percent": "-5"}, "body.discount_percent"),
        ({"lines": [{"quantity": "1", "unit_price": "1", "purchase_price": "-1"}]},
         "body.lines.0.purchase_price"),
    ],
)  # fmt: skip
def test_a_bad_discount_or_purchase_price_is_refused_naming_the_field(
    tenant: Tenant, changes: dict[str, Any], field: str
) -> None:
    body = {"party_id": "p", "date": "2026-03-10", "currency": "EUR", **changes}
    response = tenant.api.post("/invoices", json=body)
    assert response.status_code == 422, response.text
    assert field in [".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]]


# ---------------------------------------------------------------------------- webhooks

WEBHOOK_SECRET = "whsec_ledgerbridge-test-secret-0123456789"


def inbox_count(system: System, connection_id: str) -> int:
    with system.sessions() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(InboxEvent)
                .where(InboxEvent.connection_id == connection_id)
            )
            or 0
        )


def webhook_setup(system: System, tenant: Tenant, qonto: Qonto) -> tuple[Any, dict[str, Any]]:
    """A connection with invoices, imported, and Qonto subscribed to its callback URL."""
    seed_organization(qonto.sandbox, clients=10, invoices=30, seed=3)
    response = tenant.api.post(
        "/connections",
        json={
            "system": "qonto",
            "name": "Qonto",
            "timezone": "Europe/Paris",
            "settings": {
                "base_url": qonto.url,
                "entities": INVOICE_ENTITIES,
                "vat_groups": VAT_GROUPS,
            },
            "secrets": {"access_token": qonto.access_token, "webhook_secret": WEBHOOK_SECRET},
        },
    )
    assert response.status_code == 201, response.text
    connection = response.json()
    import_all(system, tenant, connection["id"])
    qonto.sandbox.subscribe_webhook(
        connection["change_url"], ["v1/client-invoices"], secret=WEBHOOK_SECRET
    )
    unpaid = next(i for i in qonto.sandbox.invoices() if i["status"] == "unpaid")
    return connection, unpaid


def hub_invoice(tenant: Tenant, number: str) -> dict[str, Any]:
    return next(i for i in invoices(tenant) if i["data"].get("number") == number)


def test_a_payment_in_qonto_arrives_by_webhook(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection, unpaid = webhook_setup(system, tenant, qonto)
    assert hub_invoice(tenant, unpaid["number"])["data"]["status"] == "booked"
    calls = len(qonto.sandbox.calls())

    qonto.sandbox.mark_invoice_paid(unpaid["id"])
    qonto.sandbox.wait_for_webhooks()
    # An attempt the sandbox gave up on after its 1 s timeout (None: a busy machine) was sent
    # again, as Qonto does; exactly one was acknowledged.
    codes = [d.status_code for d in qonto.sandbox.webhook_deliveries()]
    assert codes.count(200) == 1 and set(codes) <= {200, None}, codes
    assert inbox_count(system, connection["id"]) == 1
    system.run_until_idle()

    paid = hub_invoice(tenant, unpaid["number"])["data"]
    assert paid["status"] == "paid"
    assert Decimal(paid["amount_open"]) == 0
    assert len(qonto.sandbox.calls()) == calls  # the webhook carried the invoice: no read


def test_a_replayed_webhook_changes_nothing(system: System, tenant: Tenant, qonto: Qonto) -> None:
    connection, unpaid = webhook_setup(system, tenant, qonto)
    qonto.sandbox.mark_invoice_paid(unpaid["id"])
    qonto.sandbox.wait_for_webhooks()
    system.run_until_idle()
    version = hub_invoice(tenant, unpaid["number"])["version"]

    [event] = qonto.sandbox.webhook_events()
    qonto.sandbox.replay_webhook(event.event_id)
    qonto.sandbox.replay_webhook(event.event_id)
    qonto.sandbox.wait_for_webhooks()
    # Each of the three deliveries answered 200; an attempt the sandbox gave up on after its
    # 1 s timeout (None: a busy machine) was sent again, as Qonto does. Never an error.
    codes = [d.status_code for d in qonto.sandbox.webhook_deliveries()]
    assert codes.count(200) == 3 and set(codes) <= {200, None}, codes
    assert inbox_count(system, connection["id"]) == 1
    system.run_until_idle()
    assert hub_invoice(tenant, unpaid["number"])["version"] == version


def test_simultaneous_deliveries_of_one_event_are_all_acknowledged_and_stored_once(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    """Qonto may deliver an event again before our first answer reached it: eight copies sent
    at the same moment (a barrier releases the threads together) all get 200, none a 500."""
    connection, unpaid = webhook_setup(system, tenant, qonto)
    qonto.sandbox.mark_invoice_paid(unpaid["id"])
    qonto.sandbox.wait_for_webhooks()
    system.run_until_idle()
    [event] = qonto.sandbox.webhook_events()
    copy = event.body.replace(event.event_id.encode(), b"evt-simultaneous")
    headers = {"X-Qonto-Signature": sign(event.secret, int(datetime.now(UTC).timestamp()), copy)}
    barrier = threading.Barrier(8)

    def deliver() -> int:
        barrier.wait()
        return httpx.post(connection["change_url"], content=copy, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: deliver(), range(8)))
    assert statuses == [200] * 8
    assert inbox_count(system, connection["id"]) == 2  # the original event and this one


def test_a_webhook_with_a_bad_signature_changes_nothing(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection, unpaid = webhook_setup(system, tenant, qonto)
    other = "whsec_someone-else-entirely-0123456789"
    qonto.sandbox.subscribe_webhook(connection["change_url"], ["v1/client-invoices"], secret=other)
    qonto.sandbox.mark_invoice_paid(unpaid["id"])
    qonto.sandbox.wait_for_webhooks()
    # Ours accepted, the other secret's refused at every retry (None: an attempt the sandbox
    # gave up on after its 1 s timeout on a busy machine, sent again).
    statuses = {d.status_code for d in qonto.sandbox.webhook_deliveries()} - {None}
    assert statuses == {200, 401}
    assert inbox_count(system, connection["id"]) == 1

    ours = next(e for e in qonto.sandbox.webhook_events() if e.secret == WEBHOOK_SECRET)
    qonto.sandbox.send_webhook_with_bad_signature(ours.event_id)
    qonto.sandbox.wait_for_webhooks()
    assert qonto.sandbox.webhook_deliveries()[-1].status_code == 401
    assert inbox_count(system, connection["id"]) == 1


def test_an_unsigned_or_stale_callback_is_refused(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection, _ = webhook_setup(system, tenant, qonto)
    body = b'{"id": "evt-1", "type": "v1/client-invoices", "data": {"id": "x"}}'
    unsigned = httpx.post(connection["change_url"], content=body)
    assert unsigned.status_code == 401
    stale = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    signed = sign(WEBHOOK_SECRET, stale, body)
    old = httpx.post(connection["change_url"], content=body, headers={"X-Qonto-Signature": signed})
    assert old.status_code == 401
    assert inbox_count(system, connection["id"]) == 0


def test_an_invoice_cancelled_in_qonto_leaves_nothing_open_in_the_hub(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    _connection, unpaid = webhook_setup(system, tenant, qonto)
    assert Decimal(hub_invoice(tenant, unpaid["number"])["data"]["amount_open"]) > 0

    qonto.sandbox.cancel_invoice(unpaid["id"])
    qonto.sandbox.wait_for_webhooks()
    system.run_until_idle()

    cancelled = hub_invoice(tenant, unpaid["number"])["data"]
    assert cancelled["status"] == "cancelled"
    # A cancelled invoice is owed by nobody: its total is not an open amount.
    assert Decimal(cancelled["amount_open"]) == 0


def test_the_reconciliation_counts_each_invoice_and_credit_note_once(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    seed_organization(qonto.sandbox, clients=30, invoices=150, seed=1)
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    month = qonto.sandbox.credit_notes()[0]["issue_date"][:7]
    report = reconciled(system, tenant, connection["id"], month)
    # Everything was just imported: both sides agree, and the invoices and credit notes of
    # the month are each counted once (not once per stream carrying hub invoices).
    assert report["differences"] == []
    hub, remote = report["totals"]["hub"], report["totals"]["remote"]
    assert hub["counts"] == remote["counts"]
    assert hub["counts"]["credit_notes"] == sum(
        1 for n in qonto.sandbox.credit_notes() if n["issue_date"].startswith(month)
    )
    assert hub["vat"] == remote["vat"]


def test_an_invoice_cancelled_in_the_hub_never_becomes_a_qonto_draft(
    system: System, tenant: Tenant, qonto: Qonto
) -> None:
    connection = connect_invoices(tenant, qonto, VAT_GROUPS)
    import_all(system, tenant, connection["id"])
    party = tenant.api.post("/parties", json=NEW_CUSTOMER).json()
    system.run_until_idle()
    lines = [{"description": "Conseil", "quantity": "1", "unit_price": "100", "vat_code": "FR20"}]
    cancelled = tenant.api.post("/invoices", json={
        "party_id": party["id"], "date": "2026-03-10", "currency": "EUR",
        "status": "cancelled", "lines": lines,
    }).json()  # fmt: skip
    drafted = tenant.api.post("/invoices", json={
        "party_id": party["id"], "date": "2026-03-11", "currency": "EUR", "lines": lines,
    }).json()  # fmt: skip
    system.run_until_idle()
    [draft] = qonto.sandbox.invoices()
    assert draft["issue_date"] == "2026-03-11"

    tenant.api.patch(f"/invoices/{drafted['id']}", json={"status": "cancelled"})
    system.run_until_idle()
    held = {
        i["key"]: i["message"]
        for i in tenant.api.get(
            f"/connections/{connection['id']}/issues", params={"reason": "invoice_cancelled"}
        ).json()
    }
    assert "not sent to Qonto" in held[cancelled["id"]]
    assert "delete the draft in Qonto" in held[drafted["id"]]
    assert len(qonto.sandbox.invoices()) == 1
