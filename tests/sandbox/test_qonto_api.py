"""Qonto sandbox over real HTTP: clients, client invoices, credit notes, products, paging,
errors and idempotency keys.

One uvicorn serves the module; each test installs its own sandbox with a manual clock and talks
to it with an OAuth token holding every scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
IBAN = "FR7616798000010000005663951"
SCOPES = (
    "organization.read client.read client.write client_invoices.read client_invoice.write "
    "product.read product.write"
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One loopback server for the module."""
    with SandboxServer(QontoSandbox()) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock on a Tuesday morning in March 2026."""
    return ManualClock(START)


@pytest.fixture
def sandbox(server: SandboxServer, clock: ManualClock) -> Iterator[QontoSandbox]:
    """A fresh sandbox served by the module's server."""
    box = QontoSandbox(clock)
    box.add_oauth_app("crm-app", "crm-secret", ["https://crm.example/cb"])
    server.use(box)
    yield box
    box.close()


@pytest.fixture
def api(server: SandboxServer, sandbox: QontoSandbox) -> Iterator[httpx.Client]:
    """HTTP client with a bearer token holding every scope the sync engine uses."""
    code = sandbox.issue_code("crm-app", SCOPES)
    tokens = sandbox.token_request(
        {
            "client_id": "crm-app",
            "client_secret": "crm-secret",
            "grant_type": "authorization_code",
            "code": code,
        }
    )
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as client:
        yield client


def company(name: str = "Dupont Rénovation SAS", **extra: Any) -> dict[str, Any]:
    """A French company client ready for invoicing."""
    return {
        "kind": "company",
        "name": name,
        "email": "compta@dupont-renovation.fr",
        "vat_number": "FR44732829320",
        "tax_identification_number": "732829320",
        "billing_address": {
            "street_address": "12 bis rue de la Paix",
            "city": "Paris",
            "zip_code": "75002",
            "country_code": "FR",
        },
        "currency": "EUR",
        "locale": "FR",
        **extra,
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have ``status``."""
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The single JSON:API error object of a refusal."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["trace_id"] == response.headers["x-tyk-trace-id"]
    assert len(body["errors"]) == 1
    result: dict[str, Any] = body["errors"][0]
    return result


def new_client(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    """Create a company client through the API."""
    created: dict[str, Any] = ok(api.post("/v2/clients", json=company(**extra)))["client"]
    return created


def invoice_body(client_id: str, **extra: Any) -> dict[str, Any]:
    """Two lines with a line discount and a document discount (totals worked out below)."""
    return {
        "client_id": client_id,
        "issue_date": "2026-03-10",
        "due_date": "2026-04-09",
        "currency": "EUR",
        "payment_methods": {"iban": IBAN},
        "items": [
            {
                "title": "Prestation de conseil",
                "description": "Audit du parc informatique",
                "quantity": "1.5",
                "unit": "hour",
                "unit_price": {"value": "100.00", "currency": "EUR"},
                "vat_rate": "0.2",
                "discount": {"type": "percentage", "value": "0.1"},
            },
            {
                "title": "Câble réseau",
                "quantity": "3",
                "unit": "piece",
                "unit_price": {"value": "19.99", "currency": "EUR"},
                "vat_rate": "0.055",
            },
        ],
        "discount": {"type": "percentage", "value": "0.05"},
        **extra,
    }


def new_invoice(api: httpx.Client, client_id: str, **extra: Any) -> dict[str, Any]:
    """Create a draft through the API."""
    body = invoice_body(client_id, **extra)
    created: dict[str, Any] = ok(api.post("/v2/client_invoices", json=body))["client_invoice"]
    return created


def post(api: httpx.Client, path: str, body: Any = None) -> httpx.Response:
    """POST with an optional JSON body."""
    return api.post(path, json=body) if body is not None else api.post(path)


# ------------------------------------------------------------ organization


def test_organization(api: httpx.Client, sandbox: QontoSandbox) -> None:
    org = ok(api.get("/v2/organization"))["organization"]
    assert org["id"] == sandbox.organization_id
    assert org["legal_country"] == "FR"
    assert org["bank_accounts"][0]["iban"] == IBAN
    assert org["bank_accounts"][0]["main"] is True


# ----------------------------------------------------------------- clients


def test_create_company_client(api: httpx.Client) -> None:
    client = new_client(api)
    assert list(client)[:6] == ["id", "name", "first_name", "last_name", "phone_number", "phone"]
    assert client["kind"] == client["type"] == "company"
    assert client["locale"] == "fr"
    assert client["address"] == "12 bis rue de la Paix"
    assert client["zip_code"] == "75002"
    assert client["billing_address"]["city"] == "Paris"
    assert client["created_at"] == client["updated_at"] == "2026-03-10T09:00:00.000Z"


def test_create_individual_with_kind_winning_over_type(api: httpx.Client) -> None:
    client = ok(
        api.post(
            "/v2/clients",
            json={
                "kind": "individual",
                "type": "company",
                "first_name": "Élodie",
                "last_name": "Lefèvre",
                "vat_number": "FR44732829320",
                "phone": {"country_code": "+33", "number": "612345678"},
                "address": "3 rue des Lilas",
                "city": "Lyon",
                "zip_code": "69003",
                "country_code": "fr",
            },
        )
    )["client"]
    assert client["kind"] == "individual"
    assert client["name"] == "Élodie Lefèvre"
    assert client["vat_number"] is None
    assert client["phone_number"] == "+33612345678"
    assert client["billing_address"] == {
        "street_address": "3 rue des Lilas",
        "city": "Lyon",
        "zip_code": "69003",
        "province_code": None,
        "country_code": "FR",
    }


def test_wrapped_body_is_accepted(api: httpx.Client) -> None:
    client = ok(api.post("/v2/clients", json={"client": company("Enveloppe SAS")}))["client"]
    assert client["name"] == "Enveloppe SAS"


def test_duplicates_are_allowed(api: httpx.Client, sandbox: QontoSandbox) -> None:
    first = new_client(api)
    second = new_client(api)
    assert first["id"] != second["id"]
    assert len(sandbox.clients()) == 2


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"kind": "company"}, "/name", "blank"),
        ({"kind": "individual", "first_name": "Jean"}, "/last_name", "blank"),
        ({"kind": "freelancer", "first_name": "A", "last_name": "B"}, "/kind", "not_in_list"),
        ({"name": "Sans Type"}, "/kind", "blank"),
        ({"kind": "company", "name": "X", "vat_number": "FR123"}, "/vat_number", "invalid"),
        ({"kind": "company", "name": "X", "email": "not-an-email"}, "/email", "invalid"),
        ({"kind": "company", "name": "X", "locale": "xx"}, "/locale", "not_in_list"),
        ({"kind": "company", "name": "X", "currency": "EURO"}, "/currency", "invalid"),
        ({"kind": "company", "name": "N" * 251}, "/name", "too_long"),
    ],
)
def test_client_validation(
    api: httpx.Client, body: dict[str, Any], pointer: str, code: str
) -> None:
    problem = error(api.post("/v2/clients", json=body), 422)
    assert problem["code"] == code
    assert problem["source"] == {"pointer": pointer}


def test_malformed_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(
        "/v2/clients", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error(response, 400)["code"] == "invalid"


def test_get_patch_delete_client(api: httpx.Client, clock: ManualClock) -> None:
    client = new_client(api)
    path = f"/v2/clients/{client['id']}"
    assert ok(api.get(path))["client"] == client

    clock.advance(timedelta(minutes=5))
    patched = ok(api.patch(path, json={"city": "Marseille", "zip_code": "13008"}))["client"]
    assert patched["billing_address"]["city"] == "Marseille"
    assert patched["billing_address"]["street_address"] == "12 bis rue de la Paix"
    assert patched["updated_at"] == "2026-03-10T09:05:00.000Z"
    assert patched["created_at"] == client["created_at"]

    moved = ok(
        api.patch(
            path,
            json={
                "billing_address": {
                    "street_address": "1 quai de la Loire",
                    "city": "Nantes",
                    "zip_code": "44000",
                    "country_code": "FR",
                }
            },
        )
    )["client"]
    assert moved["address"] == "1 quai de la Loire"

    assert error(api.patch(path, json={"name": ""}), 422)["source"] == {"pointer": "/name"}
    assert api.delete(path).status_code == 204
    assert error(api.get(path), 404)["code"] == "not_found"
    assert error(api.delete(path), 404)["code"] == "not_found"


def test_client_filters(api: httpx.Client, sandbox: QontoSandbox, clock: ManualClock) -> None:
    dupont = new_client(api)
    clock.advance(timedelta(minutes=20))
    lefevre = new_client(
        api,
        name="Lefèvre Électricité",
        email="Facturation@Lefevre.fr",
        vat_number="FR83404833048",
        tax_identification_number="404833048",
    )
    person = ok(
        api.post(
            "/v2/clients",
            json={"kind": "individual", "first_name": "Anouk", "last_name": "de Vries"},
        )
    )["client"]

    def names(**filters: str) -> list[str]:
        params = {f"filter[{key}]": value for key, value in filters.items()}
        return [c["name"] for c in ok(api.get("/v2/clients", params=params))["clients"]]

    assert names(tax_identification_number="404833048") == ["Lefèvre Électricité"]
    assert names(vat_number="fr44732829320") == [dupont["name"]]
    assert names(email="facturation@lefevre.FR") == ["Lefèvre Électricité"]
    assert names(name="lefevre elec") == ["Lefèvre Électricité"]
    assert names(name="VRIES") == [person["name"]]
    assert names(name="nobody") == []
    assert names(updated_at_from="2026-03-10T09:10:00Z") == [
        "Anouk de Vries",
        "Lefèvre Électricité",
    ]
    assert names(updated_at_to="2026-03-10T09:00:00.000Z") == [dupont["name"]]

    short = error(api.get("/v2/clients", params={"filter[name]": "a"}), 400)
    assert short == {
        "code": "too_short",
        "detail": "name must contain at least 2 characters",
        "source": {"parameter": "filter[name]"},
    }
    assert lefevre["id"] in {c["id"] for c in sandbox.clients()}


def test_client_sorting_and_paging_meta(api: httpx.Client, clock: ManualClock) -> None:
    for name in ("Charlie SAS", "alpha SAS", "Bravo SAS", "Écho SAS", "Delta SAS"):
        new_client(api, name=name)
        clock.advance(timedelta(seconds=1))

    first = ok(api.get("/v2/clients", params={"per_page": 2}))
    assert [c["name"] for c in first["clients"]] == ["alpha SAS", "Bravo SAS"]
    assert first["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 3,
        "total_count": 5,
        "per_page": 2,
    }
    last = ok(api.get("/v2/clients", params={"per_page": 2, "page": 3}))
    assert [c["name"] for c in last["clients"]] == ["Écho SAS"]
    assert last["meta"]["next_page"] is None
    assert last["meta"]["prev_page"] == 2
    beyond = ok(api.get("/v2/clients", params={"per_page": 2, "page": 9}))
    assert beyond["clients"] == []
    assert beyond["meta"]["prev_page"] is None

    newest = ok(api.get("/v2/clients", params={"sort_by": "created_at:desc"}))["clients"]
    assert newest[0]["name"] == "Delta SAS"
    assert ok(api.get("/v2/clients"))["meta"]["per_page"] == 100

    assert error(api.get("/v2/clients", params={"per_page": 101}), 400)["source"] == {
        "parameter": "per_page"
    }
    assert error(api.get("/v2/clients", params={"page": 0}), 400)["code"] == "greater_than"
    assert error(api.get("/v2/clients", params={"sort_by": "email:asc"}), 400)["code"] == (
        "not_in_list"
    )


# ---------------------------------------------------------------- invoices


def test_invoice_draft_totals(api: httpx.Client, sandbox: QontoSandbox) -> None:
    client = new_client(api)
    invoice = new_invoice(api, client["id"])
    assert invoice["status"] == "draft"
    assert invoice["number"] is None
    assert invoice["finalized_at"] is None
    assert invoice["organization_id"] == sandbox.organization_id
    assert invoice["client"]["name"] == client["name"]
    first, second = invoice["items"]
    assert first["quantity"] == "1.5"
    assert first["unit_price"] == {"value": "100.00", "currency": "EUR"}
    assert first["unit_price_cents"] == 10000
    assert first["vat_rate"] == "0.2"
    assert first["discount"] == {
        "type": "percentage",
        "value": "0.1",
        "amount": {"value": "15.00", "currency": "EUR"},
    }
    assert first["subtotal_cents"] == 13500
    assert first["total_vat_cents"] == 2700
    assert first["total_amount_cents"] == 16200
    assert second["total_vat"] == {"value": "3.30", "currency": "EUR"}
    assert invoice["discount"]["amount"] == {"value": "9.75", "currency": "EUR"}
    assert invoice["vat_amount"] == {"value": "28.78", "currency": "EUR"}
    assert invoice["total_amount"] == {"value": "214.00", "currency": "EUR"}
    assert invoice["total_amount_cents"] == 21400
    assert invoice["amount_paid"] == {"value": "0.00", "currency": "EUR"}
    assert invoice["payment_methods"][0]["iban"] == IBAN


def test_invoice_lifecycle(api: httpx.Client, clock: ManualClock) -> None:
    client = new_client(api)
    invoice = new_invoice(api, client["id"])
    path = f"/v2/client_invoices/{invoice['id']}"

    patched = ok(api.patch(path, json={"due_date": "2026-04-30", "purchase_order": "PO-77"}))
    assert patched["client_invoice"]["due_date"] == "2026-04-30"
    assert patched["client_invoice"]["purchase_order"] == "PO-77"
    assert patched["client_invoice"]["total_amount_cents"] == 21400

    clock.advance(timedelta(minutes=1))
    final = ok(post(api, f"{path}/finalize"))["client_invoice"]
    assert final["status"] == "unpaid"
    assert final["number"] == final["invoice_number"] == "F-2026-00001"
    assert final["finalized_at"] == "2026-03-10T09:01:00.000Z"
    assert final["attachment_id"]

    refused_edit = error(api.patch(path, json={"purchase_order": "PO-78"}), 422)
    assert refused_edit["code"] == "invalid_status"
    refused_delete = error(api.delete(path), 422)
    assert refused_delete["detail"] == "Only client invoices with a draft status can be deleted"
    assert error(post(api, f"{path}/finalize"), 422)["code"] == "invalid_status"
    assert error(post(api, f"{path}/unmark_as_paid"), 422)["code"] == "invalid_status"

    future = error(post(api, f"{path}/mark_as_paid", {"paid_at": "2026-03-11"}), 422)
    assert future["source"] == {"pointer": "/paid_at"}
    paid = ok(post(api, f"{path}/mark_as_paid", {"paid_at": "2026-03-09"}))["client_invoice"]
    assert paid["status"] == "paid"
    assert paid["paid_at"] == "2026-03-09T00:00:00.000Z"
    assert paid["amount_paid"] == paid["total_amount"]
    assert error(post(api, f"{path}/mark_as_canceled"), 422)["code"] == "invalid_status"

    unpaid = ok(post(api, f"{path}/unmark_as_paid"))["client_invoice"]
    assert unpaid["status"] == "unpaid"
    assert unpaid["paid_at"] is None
    canceled = ok(post(api, f"{path}/mark_as_canceled"))["client_invoice"]
    assert canceled["status"] == "canceled"
    assert error(post(api, f"{path}/mark_as_paid"), 422)["code"] == "invalid_status"

    draft = new_invoice(api, client["id"])
    assert api.delete(f"/v2/client_invoices/{draft['id']}").status_code == 204
    assert error(api.get(f"/v2/client_invoices/{draft['id']}"), 404)["code"] == "not_found"


def test_numbers_continue_and_must_be_unique(api: httpx.Client) -> None:
    client = new_client(api)
    first = new_invoice(api, client["id"])
    ok(post(api, f"/v2/client_invoices/{first['id']}/finalize"))
    own = new_invoice(api, client["id"], number="F-2026-00002")
    clash = error(
        api.post("/v2/client_invoices", json=invoice_body(client["id"], number="F-2026-00002")), 422
    )
    assert clash["code"] == "taken"
    third = new_invoice(api, client["id"])
    finalized = ok(post(api, f"/v2/client_invoices/{third['id']}/finalize"))["client_invoice"]
    assert finalized["number"] == "F-2026-00003"
    kept = ok(post(api, f"/v2/client_invoices/{own['id']}/finalize"))["client_invoice"]
    assert kept["number"] == "F-2026-00002"


def test_invoice_takes_the_client_currency(api: httpx.Client, sandbox: QontoSandbox) -> None:
    client = new_client(api)
    body = invoice_body(client["id"], currency="USD", discount=None)
    body["items"] = [
        {
            "title": "Support",
            "quantity": "1",
            "unit_price": {"value": "108.00", "currency": "USD"},
            "vat_rate": "0.2",
        }
    ]
    invoice = ok(api.post("/v2/client_invoices", json=body))["client_invoice"]
    assert invoice["currency"] == "EUR"
    assert invoice["items"][0]["unit_price"] == {"value": "100.00", "currency": "EUR"}
    assert invoice["total_amount"] == {"value": "120.00", "currency": "EUR"}

    sandbox.set_exchange_rate("USD", "1.20")
    repriced = ok(api.post("/v2/client_invoices", json=body))["client_invoice"]
    assert repriced["items"][0]["unit_price"] == {"value": "90.00", "currency": "EUR"}
    body["currency"] = "JPY"
    body["items"][0]["unit_price"]["currency"] = "JPY"
    assert error(api.post("/v2/client_invoices", json=body), 422)["source"] == {
        "pointer": "/currency"
    }


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"client_id": None}, "/client_id", "blank"),
        ({"client_id": "0b7c0a2e-0000-4000-8000-000000000000"}, "/client_id", "not_found"),
        ({"issue_date": "10/03/2026"}, "/issue_date", "invalid"),
        ({"due_date": "2026-03-01"}, "/due_date", "greater_than_or_equal_to"),
        ({"payment_methods": None}, "/payment_methods/iban", "blank"),
        (
            {"payment_methods": {"iban": "DE89370400440532013000"}},
            "/payment_methods/iban",
            "invalid",
        ),
        ({"items": []}, "/items", "blank"),
        ({"status": "paid"}, "/status", "not_in_list"),
    ],
)
def test_invoice_validation(
    api: httpx.Client, change: dict[str, Any], pointer: str, code: str
) -> None:
    client = new_client(api)
    body = {**invoice_body(client["id"]), **change}
    problem = error(api.post("/v2/client_invoices", json=body), 422)
    assert (problem["source"]["pointer"], problem["code"]) == (pointer, code)


@pytest.mark.parametrize(
    ("item", "pointer", "code"),
    [
        ({"title": ""}, "/items/0/title", "blank"),
        ({"quantity": "0"}, "/items/0/quantity", "greater_than"),
        ({"quantity": "many"}, "/items/0/quantity", "invalid"),
        ({"vat_rate": "20"}, "/items/0/vat_rate", "invalid"),
        ({"vat_rate": "0.07"}, "/items/0/vat_rate", "not_in_list"),
        ({"unit_price": None}, "/items/0/unit_price", "blank"),
        ({"discount": {"type": "half"}}, "/items/0/discount/type", "not_in_list"),
    ],
)
def test_invoice_item_validation(
    api: httpx.Client, item: dict[str, Any], pointer: str, code: str
) -> None:
    client = new_client(api)
    body = invoice_body(client["id"])
    body["items"][0].update(item)
    problem = error(api.post("/v2/client_invoices", json=body), 422)
    assert (problem["source"]["pointer"], problem["code"]) == (pointer, code)


def test_only_the_vat_rates_of_the_organizations_country_are_invoiced(api: httpx.Client) -> None:
    """A French organization invoices France's rates, however written ("0.10" is 10 %);
    another rate is refused naming the item and the rates there are, credit notes alike."""
    client = new_client(api)
    body = invoice_body(client["id"])
    body["items"][1]["vat_rate"] = "0.19"
    problem = error(api.post("/v2/client_invoices", json=body), 422)
    assert problem["source"] == {"pointer": "/items/1/vat_rate"}
    assert problem["detail"] == (
        "vat_rate must be one of: 0, 0.021, 0.055, 0.085, 0.1, 0.2 (the VAT rates of FR)"
    )
    for rate in ("0", "0.021", "0.085", "0.10"):
        body["items"][1]["vat_rate"] = rate
        ok(api.post("/v2/client_invoices", json=body))
    invoice = new_invoice(api, client["id"])
    ok(post(api, f"/v2/client_invoices/{invoice['id']}/finalize"))
    items = [{**invoice_body(client["id"])["items"][0], "vat_rate": "0.07"}]
    note = error(
        api.post("/v2/credit_notes", json={"invoice_id": invoice["id"], "items": items}), 422
    )
    assert (note["source"]["pointer"], note["code"]) == ("/items/0/vat_rate", "not_in_list")


def test_client_must_be_ready_for_invoicing(api: httpx.Client) -> None:
    bare = ok(api.post("/v2/clients", json={"kind": "company", "name": "Sans Adresse"}))["client"]
    problem = error(api.post("/v2/client_invoices", json=invoice_body(bare["id"])), 422)
    assert problem["source"] == {"pointer": "/client_id"}
    assert "currency, locale, address" in problem["detail"]


def test_invoice_list_filters_and_sort(
    api: httpx.Client, sandbox: QontoSandbox, clock: ManualClock
) -> None:
    client = new_client(api)
    draft = new_invoice(api, client["id"])
    clock.advance(timedelta(minutes=10))
    unpaid = new_invoice(api, client["id"], due_date="2026-05-31")
    ok(post(api, f"/v2/client_invoices/{unpaid['id']}/finalize"))
    clock.advance(timedelta(minutes=10))
    paid = new_invoice(api, client["id"])
    ok(post(api, f"/v2/client_invoices/{paid['id']}/finalize"))
    clock.advance(timedelta(minutes=10))
    sandbox.mark_invoice_paid(paid["id"])

    def ids(**params: str) -> list[str]:
        body = ok(api.get("/v2/client_invoices", params=params))
        return [invoice["id"] for invoice in body["client_invoices"]]

    assert ids() == [paid["id"], unpaid["id"], draft["id"]]
    assert ids(sort_by="created_at:asc") == [draft["id"], unpaid["id"], paid["id"]]
    assert ids(**{"filter[status]": "draft,paid"}) == [paid["id"], draft["id"]]
    assert ids(**{"filter[updated_at_from]": "2026-03-10T09:25:00Z"}) == [paid["id"]]
    assert ids(**{"filter[created_at_to]": "2026-03-10T09:00:00Z"}) == [draft["id"]]
    assert ids(**{"filter[due_date_from]": "2026-05-01"}) == [unpaid["id"]]
    assert ids(**{"filter[due_date]": "2026-04-09"}) == [paid["id"], draft["id"]]
    bad = error(api.get("/v2/client_invoices", params={"filter[status]": "late"}), 400)
    assert bad["code"] == "not_in_list"
    assert bad["source"] == {"parameter": "filter[status]"}
    assert error(
        api.get("/v2/client_invoices", params={"filter[updated_at_from]": "yesterday"}), 400
    )["source"] == {"parameter": "filter[updated_at_from]"}


def test_finalized_invoice_keeps_client_details(api: httpx.Client) -> None:
    client = new_client(api)
    invoice = new_invoice(api, client["id"])
    ok(post(api, f"/v2/client_invoices/{invoice['id']}/finalize"))
    ok(api.patch(f"/v2/clients/{client['id']}", json={"name": "Nouveau Nom SAS"}))
    assert api.delete(f"/v2/clients/{client['id']}").status_code == 204
    kept = ok(api.get(f"/v2/client_invoices/{invoice['id']}"))["client_invoice"]
    assert kept["client"]["name"] == client["name"]


# ------------------------------------------------------------ credit notes


def test_credit_notes(api: httpx.Client, clock: ManualClock) -> None:
    client = new_client(api)
    invoice = new_invoice(api, client["id"])
    path = f"/v2/client_invoices/{invoice['id']}"
    draft_credit = {"invoice_id": invoice["id"], "items": [invoice_body("x")["items"][1]]}
    assert error(api.post("/v2/credit_notes", json=draft_credit), 422)["code"] == "invalid_status"
    ok(post(api, f"{path}/finalize"))

    partial = ok(api.post("/v2/credit_notes", json={**draft_credit, "reason": "Retour"}))
    note = partial["credit_note"]
    assert note["number"] == "AV-2026-00001"
    assert note["invoice_id"] == invoice["id"]
    assert note["invoice_issue_date"] == "2026-03-10"
    assert note["items"][0]["quantity"] == "-3"
    assert note["total_amount"] == {"value": "-63.27", "currency": "EUR"}
    assert note["total_amount_cents"] == -6327
    assert note["client"]["id"] == client["id"]

    too_much = {
        "invoice_id": invoice["id"],
        "items": [
            {
                "title": "Remboursement",
                "quantity": "1",
                "unit_price": {"value": "126.00"},
                "vat_rate": "0.2",
            }
        ],
    }
    refused = error(api.post("/v2/credit_notes", json=too_much), 422)
    assert refused["code"] == "less_than_or_equal_to"
    assert refused["detail"].startswith(
        "The cumulative total of all credit notes for an invoice cannot exceed the invoice amount"
    )

    still_unpaid = ok(api.get(path))["client_invoice"]
    assert still_unpaid["status"] == "unpaid"
    assert still_unpaid["credit_notes_ids"] == [note["id"]]

    rest = {
        "invoice_id": invoice["id"],
        "items": [
            {
                "title": "Solde",
                "quantity": "1",
                "unit_price": {"value": "125.61", "currency": "EUR"},
                "vat_rate": "0.2",
            }
        ],
    }
    clock.advance(timedelta(minutes=1))
    balance = ok(api.post("/v2/credit_notes", json=rest))["credit_note"]
    assert balance["total_amount_cents"] == -15073
    assert ok(api.get(path))["client_invoice"]["status"] == "canceled"

    listed = ok(api.get("/v2/credit_notes", params={"sort_by": "created_at:asc"}))
    assert [n["id"] for n in listed["credit_notes"]] == [note["id"], balance["id"]]
    assert listed["meta"]["total_count"] == 2
    assert ok(api.get(f"/v2/credit_notes/{note['id']}"))["credit_note"] == note
    assert error(api.get("/v2/credit_notes/unknown"), 404)["code"] == "not_found"


def test_full_credit_note_cancels_a_paid_invoice(api: httpx.Client, sandbox: QontoSandbox) -> None:
    client = new_client(api)
    invoice = new_invoice(api, client["id"])
    ok(post(api, f"/v2/client_invoices/{invoice['id']}/finalize"))
    sandbox.mark_invoice_paid(invoice["id"])
    body = invoice_body(client["id"])
    full = {"invoice_id": invoice["id"], "items": body["items"], "discount": body["discount"]}
    note = ok(api.post("/v2/credit_notes", json=full))["credit_note"]
    assert note["total_amount_cents"] == -invoice["total_amount_cents"]
    assert sandbox.get_invoice(invoice["id"])["status"] == "canceled"  # type: ignore[index]


# ---------------------------------------------------------------- products


def test_products(api: httpx.Client) -> None:
    created = ok(
        api.post(
            "/v2/products",
            json={
                "title": "Développement web",
                "type": "service",
                "unit_price": {"value": "650.00", "currency": "EUR"},
                "vat_rate": "0.20",
                "unit": "day",
            },
        )
    )["product"]
    assert created["vat_rate"] == "0.2"
    assert created["unit_price"] == {"value": "650.00", "currency": "EUR"}
    ok(
        api.post(
            "/v2/products",
            json={
                "title": "Agrafeuse",
                "type": "good",
                "unit_price": {"value": "12.5"},
                "vat_rate": "0.2",
            },
        )
    )
    titles = [p["title"] for p in ok(api.get("/v2/products"))["products"]]
    assert titles == ["Agrafeuse", "Développement web"]
    goods = ok(api.get("/v2/products", params={"filter[type]": "good"}))["products"]
    assert [p["title"] for p in goods] == ["Agrafeuse"]
    assert ok(api.get(f"/v2/products/{created['id']}"))["product"] == created
    assert error(api.post("/v2/products", json={"title": "X", "type": "gift"}), 422)["code"] == (
        "not_in_list"
    )


# ------------------------------------------------------------- idempotency


def test_idempotency_key_replays_the_first_success(
    api: httpx.Client, sandbox: QontoSandbox, clock: ManualClock
) -> None:
    key = {"X-Qonto-Idempotency-Key": "6b8f3c4e-2a8d-4f43-9c55-5f9d2d0b7a11"}
    first = api.post("/v2/clients", json=company("Premier SAS"), headers=key)
    again = api.post("/v2/clients", json=company("Autre Corps SAS"), headers=key)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert [c["name"] for c in sandbox.clients()] == ["Premier SAS"]

    clock.advance(timedelta(minutes=29, seconds=59))
    assert api.post("/v2/clients", json=company("Encore SAS"), headers=key).json() == first.json()
    clock.advance(timedelta(seconds=1))
    later = ok(api.post("/v2/clients", json=company("Après SAS"), headers=key))
    assert later["client"]["name"] == "Après SAS"
    assert len(sandbox.clients()) == 2


def test_failures_are_not_stored_under_the_key(api: httpx.Client, sandbox: QontoSandbox) -> None:
    key = {"X-Qonto-Idempotency-Key": "c7a9e7b2-1111-4222-8333-944455556666"}
    client = new_client(api)
    broken = invoice_body(client["id"], items=[])
    assert api.post("/v2/client_invoices", json=broken, headers=key).status_code == 422
    fixed = api.post("/v2/client_invoices", json=invoice_body(client["id"]), headers=key)
    invoice = ok(fixed)["client_invoice"]
    replay = ok(api.post("/v2/client_invoices", json=invoice_body(client["id"]), headers=key))
    assert replay["client_invoice"]["id"] == invoice["id"]
    assert len(sandbox.invoices()) == 1


def test_call_log(api: httpx.Client, sandbox: QontoSandbox) -> None:
    api.get("/v2/clients", params={"per_page": 5})
    api.get("/v2/clients/missing")
    calls = sandbox.calls()
    assert [(c.method, c.path, c.query, c.status, c.auth) for c in calls] == [
        ("GET", "/v2/clients", "per_page=5", 200, "oauth"),
        ("GET", "/v2/clients/missing", "", 404, "oauth"),
    ]
    assert calls[0].client_id == "crm-app"
    admin = api.get("/_sandbox/calls").json()
    assert [entry["status"] for entry in admin] == [200, 404]
    sandbox.clear_calls()
    assert sandbox.calls() == []
