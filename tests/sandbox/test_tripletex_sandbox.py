"""Tripletex sandbox over real HTTP on loopback: sessions, the troubleshooting errors,
accountant access, paging and fields, optimistic locking, rate limits, the sales flow,
webhooks and the work-statistics endpoints.

Starting uvicorn costs about 0.2 s, so one server runs per module and an ASGI switch routes each
test's requests to the app of that test's own sandbox. Webhook receivers are real
``http.server``s on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.tripletex import TripletexSandbox, create_app
from ledgerbridge.sandbox.tripletex.seed import SeededFirm, months_back, seed_accounting_firm
from tests.sandbox.live import SwitchServer, serve_switch

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TOMORROW = "2026-03-11"
API_ERROR_KEYS = {
    "status",
    "code",
    "message",
    "link",
    "developerMessage",
    "validationMessages",
    "requestId",
}


live_server = pytest.fixture(scope="module")(serve_switch)


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock on a Tuesday morning in March 2026 (10:00 in Oslo)."""
    return ManualClock(START)


@dataclass
class World:
    """A test's sandbox: an accounting firm with two lazily seeded clients, and the server."""

    sandbox: TripletexSandbox
    firm: SeededFirm
    server: str

    def url(self, environment: str = "production") -> str:
        """API root of an environment."""
        return f"{self.server}/{environment}/v2"

    def session(self, environment: str = "production") -> str:
        """A fresh session token for the firm's integration employee."""
        response = httpx.put(
            f"{self.url(environment)}/token/session/:create",
            params={
                "consumerToken": self.firm.consumer_token,
                "employeeToken": self.firm.employee_token,
                "expirationDate": TOMORROW,
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["value"]["token"])

    def client(self, company: int | str = 0, token: str | None = None) -> httpx.Client:
        """HTTP client authenticated as ``<company>:<session token>``."""
        return httpx.Client(
            base_url=self.url(), auth=(str(company), token or self.session()), timeout=10
        )


@pytest.fixture
def world(live_server: SwitchServer, clock: ManualClock) -> Iterator[World]:
    """Fresh sandbox per test, served by the module's live server."""
    sandbox = TripletexSandbox(clock=clock, seed=3, rate_limit=10_000, webhook_backoff=0.01)
    firm = seed_accounting_firm(sandbox, clients=2, seed=3, months=13)
    live_server.switch.app = create_app(sandbox)
    yield World(sandbox, firm, live_server.base_url)
    sandbox.close()


def assert_api_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """The response is the spec's ``ApiError`` with this status and internal code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == API_ERROR_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["requestId"] == response.headers["x-tlx-request-id"]
    return dict(body)


def validation_fields(body: dict[str, Any]) -> dict[str, str]:
    """``{field: message}`` of an error's validation messages."""
    return {m["field"]: m["message"] for m in body["validationMessages"] or []}


# ----------------------------------------------------------------------- sessions


def test_session_create_who_am_i_and_delete(world: World) -> None:
    """PUT :create gives a session token; whoAmI names the firm; DELETE ends the session."""
    response = httpx.put(
        f"{world.url()}/token/session/:create",
        params={
            "consumerToken": world.firm.consumer_token,
            "employeeToken": world.firm.employee_token,
            "expirationDate": TOMORROW,
        },
    )
    assert response.status_code == 200
    value = response.json()["value"]
    assert value["expirationDate"] == TOMORROW
    token = value["token"]
    assert set(value["consumerToken"]) == {"id", "url"}
    with world.client(0, token) as http:
        who = http.get("/token/session/>whoAmI", params={"fields": "*,company(name)"})
        assert who.status_code == 200
        info = who.json()["value"]
        assert info["companyId"] == world.firm.firm_id
        assert info["employeeId"] == world.firm.employee_id
        assert info["employeeIsProxy"] is False
        assert info["company"]["name"].endswith("Regnskap AS")
        assert http.delete(f"/token/session/{token}").status_code == 204
        assert_api_error(http.get("/token/session/>whoAmI"), 401, 3000)


def test_post_create_takes_a_json_body(world: World) -> None:
    """The preferred POST :create answers 201 with the same SessionToken envelope."""
    response = httpx.post(
        f"{world.url()}/token/session/:create",
        json={
            "consumerToken": world.firm.consumer_token,
            "employeeToken": world.firm.employee_token,
            "expirationDate": TOMORROW,
        },
    )
    assert response.status_code == 201
    assert response.json()["value"]["token"]


def test_session_expires_at_its_expiration_date(world: World, clock: ManualClock) -> None:
    """A session works until its expiration date starts (Oslo time), then 401/3000."""
    with world.client() as http:
        assert http.get("/token/session/>whoAmI").status_code == 200
        clock.set(datetime(2026, 3, 10, 22, 59, tzinfo=UTC))  # 23:59 in Oslo
        assert http.get("/token/session/>whoAmI").status_code == 200
        clock.set(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))  # midnight in Oslo
        body = assert_api_error(http.get("/token/session/>whoAmI"), 401, 3000)
        assert "expired" in body["message"]


def test_session_cannot_be_created_for_today(world: World) -> None:
    """The expiration date must lie after today."""
    response = httpx.put(
        f"{world.url()}/token/session/:create",
        params={
            "consumerToken": world.firm.consumer_token,
            "employeeToken": world.firm.employee_token,
            "expirationDate": "2026-03-10",
        },
    )
    body = assert_api_error(response, 422, 18000)
    assert "arg:expirationDate" in validation_fields(body)


# ------------------------------------------------------- troubleshooting errors


def create_session(
    world: World, environment: str, consumer: str, employee: str, expires: str = TOMORROW
) -> httpx.Response:
    """Raw PUT :create."""
    return httpx.put(
        f"{world.url(environment)}/token/session/:create",
        params={"consumerToken": consumer, "employeeToken": employee, "expirationDate": expires},
    )


def test_expired_employee_token_is_refused(world: World, clock: ManualClock) -> None:
    """Troubleshooting 1: the token has expired in Tripletex (on its expiration date)."""
    token = world.sandbox.issue_employee_token(
        world.firm.employee_id, world.firm.consumer_token, date(2026, 3, 12)
    ).token
    session = httpx.put(
        f"{world.url()}/token/session/:create",
        params={
            "consumerToken": world.firm.consumer_token,
            "employeeToken": token,
            "expirationDate": "2026-03-20",
        },
    ).json()["value"]["token"]
    clock.set(datetime(2026, 3, 12, 7, 0, tzinfo=UTC))
    with world.client(0, session) as http:
        expired = assert_api_error(http.get("/customer"), 401, 3000)
        assert expired["message"] == "The employee token expired on 2026-03-12."
    body = assert_api_error(
        create_session(world, "production", world.firm.consumer_token, token, "2026-03-20"),
        422,
        18000,
    )
    assert body["message"] == "Validering feilet."
    assert validation_fields(body) == {
        "arg:employeeToken": "The employee token expired on 2026-03-12."
    }


def test_wrong_environment_is_refused(world: World) -> None:
    """Troubleshooting 2: test tokens fail on production and production tokens on test."""
    sandbox = world.sandbox
    test_consumer = sandbox.add_consumer("ledgerbridge", "test")
    test_company = sandbox.add_company("Testfirma AS", environment="test")
    test_user = sandbox.add_employee(test_company.id, "Test", "Bruker")
    test_token = sandbox.issue_employee_token(test_user.id, test_consumer.token, date(2027, 1, 1))
    assert test_token.token.startswith("test-") and test_consumer.token.startswith("test-")

    on_production = create_session(world, "production", world.firm.consumer_token, test_token.token)
    body = assert_api_error(on_production, 422, 18000)
    assert validation_fields(body) == {
        "arg:employeeToken": "The employee token is invalid or does not exist."
    }
    on_test = create_session(world, "test", test_consumer.token, world.firm.employee_token)
    assert validation_fields(assert_api_error(on_test, 422, 18000)) == {
        "arg:employeeToken": "The employee token is invalid or does not exist."
    }
    wrong_consumer = create_session(world, "test", world.firm.consumer_token, test_token.token)
    assert validation_fields(assert_api_error(wrong_consumer, 422, 18000)) == {
        "arg:consumerToken": "The consumer token is invalid or does not exist."
    }
    assert create_session(world, "test", test_consumer.token, test_token.token).status_code == 200
    production_session = world.session()
    with httpx.Client(base_url=world.url("test"), auth=("0", production_session)) as http:
        assert_api_error(http.get("/token/session/>whoAmI"), 401, 3000)


@pytest.mark.parametrize("padding", [" {}", "{} ", "\t{}\n", " {} "])
def test_whitespace_around_a_token_is_refused(world: World, padding: str) -> None:
    """Troubleshooting 3: a token pasted with leading/trailing whitespace does not match."""
    padded = padding.format(world.firm.employee_token)
    body = assert_api_error(
        create_session(world, "production", world.firm.consumer_token, padded), 422, 18000
    )
    assert "arg:employeeToken" in validation_fields(body)
    session = padding.format(world.session())
    with httpx.Client(base_url=world.url(), auth=("0", session)) as http:
        assert_api_error(http.get("/token/session/>whoAmI"), 401, 3000)


def test_deactivated_employee_is_refused(world: World) -> None:
    """Troubleshooting 4: the employee owning the token has been deactivated."""
    with world.client() as http:
        world.sandbox.set_employee_active(world.firm.employee_id, False)
        body = assert_api_error(http.get("/token/session/>whoAmI"), 401, 3000)
        assert "deactivated" in body["message"]
    response = create_session(
        world, "production", world.firm.consumer_token, world.firm.employee_token
    )
    fields = validation_fields(assert_api_error(response, 422, 18000))
    assert fields == {"arg:employeeToken": "The employee who owns the token is deactivated."}
    world.sandbox.set_employee_active(world.firm.employee_id, True)
    assert (
        create_session(
            world, "production", world.firm.consumer_token, world.firm.employee_token
        ).status_code
        == 200
    )


def test_missing_or_malformed_authentication(world: World) -> None:
    """No Basic header, a garbled one, or an unknown session token: 401/3000."""
    assert_api_error(httpx.get(f"{world.url()}/customer"), 401, 3000)
    garbled = httpx.get(f"{world.url()}/customer", headers={"Authorization": "Basic %%%"})
    assert_api_error(garbled, 401, 3000)
    with httpx.Client(base_url=world.url(), auth=("0", "not-a-session")) as http:
        assert_api_error(http.get("/customer"), 401, 3000)


def test_revoked_employee_token_ends_its_sessions(world: World) -> None:
    """Deleting the employee token in the UI stops its sessions."""
    with world.client() as http:
        world.sandbox.revoke_employee_token(world.firm.employee_token)
        assert_api_error(http.get("/customer"), 401, 3000)


# ------------------------------------------------------------ accountant access


def test_accountant_reaches_client_companies(world: World) -> None:
    """withLoginAccess lists the clients; their id is the Basic user for calls into them."""
    token = world.session()
    with world.client(0, token) as http:
        clients = http.get("/company/>withLoginAccess").json()
        assert clients["fullResultSize"] == 2
        ids = [c["id"] for c in clients["values"]]
        assert ids == world.firm.client_ids
        assert all(c["customerCompanyId"] == c["id"] for c in clients["values"])
        firm_customers = http.get("/customer", params={"fields": "name,organizationNumber"})
        by_org = {c.get("organizationNumber"): c["name"] for c in firm_customers.json()["values"]}
        for client in clients["values"]:
            assert by_org[client["organizationNumber"]] == client["name"]
    client_id = ids[0]
    with world.client(client_id, token) as http:
        who = http.get("/token/session/>whoAmI").json()["value"]
        assert who["companyId"] == client_id and who["employeeIsProxy"] is True
        company = http.get(f"/company/{client_id}").json()["value"]
        assert company["id"] == client_id
        client_customers = http.get("/customer").json()["values"]
        assert client_customers and not {c["name"] for c in client_customers} & set(by_org.values())
    with world.client(999_999, token) as http:
        assert_api_error(http.get("/customer"), 403, 9000)


def test_client_access_token_is_limited_in_its_own_company(world: World) -> None:
    """An accountant's client-access token reaches only whoAmI and withLoginAccess at home."""
    sandbox = world.sandbox
    token = sandbox.issue_employee_token(
        world.firm.employee_id, world.firm.consumer_token, date(2027, 1, 1), client_access_only=True
    )
    session = create_session(world, "production", world.firm.consumer_token, token.token)
    value = session.json()["value"]["token"]
    with world.client(0, value) as http:
        assert http.get("/token/session/>whoAmI").status_code == 200
        assert http.get("/company/>withLoginAccess").status_code == 200
        body = assert_api_error(http.get("/customer"), 403, 9000)
        assert body["message"] == (
            "Company owned users(employeeToken) can only access /token/session/>whoAmI & "
            "/company/>withLoginAccess in their own company."
        )
    with world.client(world.firm.client_ids[0], value) as http:
        assert http.get("/customer").status_code == 200


# --------------------------------------------------------- lists, fields, paging


def test_paging_with_from_and_count(world: World) -> None:
    """``from``/``count`` page through the result; the envelope says where the page is."""
    with world.client() as http:
        everything = http.get("/customer", params={"fields": "id"}).json()
        total = everything["fullResultSize"]
        assert total == len(everything["values"]) == 7
        assert everything["from"] == 0 and everything["count"] == 7
        assert everything["versionDigest"]
        seen: list[int] = []
        start = 0
        while True:
            page = http.get("/customer", params={"from": start, "count": 3, "fields": "id"})
            body = page.json()
            assert body["fullResultSize"] == total and body["from"] == start
            seen += [v["id"] for v in body["values"]]
            if len(body["values"]) < 3:
                break
            start += 3
        assert seen == [v["id"] for v in everything["values"]]
        empty = http.get("/customer", params={"organizationNumber": "000000000"}).json()
        assert empty == {
            "fullResultSize": 0,
            "from": 0,
            "count": 0,
            "versionDigest": None,
            "values": [],
        }


def test_fields_selection(world: World) -> None:
    """Default and ``*`` give references as id/url; ``(…)`` expands; ``changes`` on request."""
    with world.client() as http:
        default = http.get("/customer", params={"count": 1}).json()["values"][0]
        star = http.get("/customer", params={"count": 1, "fields": "*"}).json()["values"][0]
        assert default == star
        assert "changes" not in default
        assert set(default["postalAddress"]) == {"id", "url"}
        picked = http.get(
            "/customer", params={"count": 1, "fields": "name,postalAddress(city),changes"}
        ).json()["values"][0]
        assert set(picked) == {"name", "postalAddress", "changes"}
        assert set(picked["postalAddress"]) == {"city"}
        assert picked["changes"][0]["changeType"] == "CREATE"
        bad = http.get("/customer", params={"fields": "name,colour"})
        body = assert_api_error(bad, 400, 11000)
        assert "colour" in body["message"]
        unbalanced = http.get("/customer", params={"fields": "postalAddress(city"})
        assert_api_error(unbalanced, 400, 11000)


def test_sorting(world: World) -> None:
    """``sorting`` orders by fields, ``-`` descending; an unknown field is 422/17000."""
    with world.client() as http:
        names = [
            c["name"]
            for c in http.get("/customer", params={"sorting": "-name", "fields": "name"}).json()[
                "values"
            ]
        ]
        assert names == sorted(names, reverse=True)
        assert_api_error(http.get("/customer", params={"sorting": "shoeSize"}), 422, 17000)


def test_changed_since_and_filters(world: World, clock: ManualClock) -> None:
    """``changedSince`` returns only customers changed at or after the moment."""
    with world.client() as http:
        first = http.get("/customer", params={"count": 1}).json()["values"][0]
        clock.advance(timedelta(hours=2))
        moment = "2026-03-10T12:00:00"  # Oslo time, two hours after seeding
        assert http.get("/customer", params={"changedSince": moment}).json()["values"] == []
        changed = http.put(f"/customer/{first['id']}", json={"email": "ny@example.no"})
        assert changed.status_code == 200
        since = http.get("/customer", params={"changedSince": moment}).json()["values"]
        assert [c["id"] for c in since] == [first["id"]]
        by_org = http.get(
            "/customer", params={"organizationNumber": first["organizationNumber"]}
        ).json()
        assert [c["id"] for c in by_org["values"]] == [first["id"]]
        by_number = http.get(
            "/customer", params={"customerAccountNumber": str(first["customerNumber"])}
        ).json()
        assert [c["id"] for c in by_number["values"]] == [first["id"]]
        by_email = http.get("/customer", params={"email": "ny@example.no"}).json()
        assert [c["id"] for c in by_email["values"]] == [first["id"]]
        assert_api_error(http.get("/customer", params={"changedSince": "yesterday"}), 422, 21000)


def test_inactive_customers_need_is_inactive(world: World) -> None:
    """``isInactive`` defaults to false (as the spec declares), hiding inactive customers."""
    with world.client() as http:
        first = http.get("/customer", params={"count": 1}).json()["values"][0]
        http.put(f"/customer/{first['id']}", json={"isInactive": True})
        active = [c["id"] for c in http.get("/customer").json()["values"]]
        inactive = [
            c["id"] for c in http.get("/customer", params={"isInactive": "true"}).json()["values"]
        ]
        assert first["id"] not in active and inactive == [first["id"]]


def test_products_and_vat_types(world: World) -> None:
    """Products carry VAT types; the Norwegian rates 25, 15, 12 and 0 are all present."""
    with world.client() as http:
        products = http.get("/product", params={"fields": "*,vatType(id,number,percentage)"}).json()
        assert products["fullResultSize"] == 12
        product = products["values"][0]
        assert product["vatType"]["number"] == "3" and product["vatType"]["percentage"] == 25.0
        assert product["priceIncludingVatCurrency"] == product["priceExcludingVatCurrency"] * 1.25
        outgoing = http.get(
            "/ledger/vatType", params={"typeOfVat": "OUTGOING", "fields": "number,percentage"}
        ).json()["values"]
        assert {v["percentage"] for v in outgoing} == {25.0, 15.0, 12.0, 0.0}
        single = http.get(f"/ledger/vatType/{product['vatType']['id']}").json()["value"]
        assert single["number"] == "3" and single["name"] == "Utgående avgift, høy sats"
        assert_api_error(http.get("/product/1"), 404, 6000)
        assert_api_error(http.get("/product/abc"), 400, 12000)


# ------------------------------------------------------------- optimistic locking


def test_put_with_stale_version_is_a_conflict(world: World) -> None:
    """A PUT carrying an old ``version`` is refused with 409/8000; without one it wins."""
    with world.client() as http:
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        assert customer["version"] == 0
        first = http.put(
            f"/customer/{customer['id']}", json={"version": 0, "phoneNumber": "22 00 00 01"}
        )
        assert first.status_code == 200 and first.json()["value"]["version"] == 1
        stale = http.put(
            f"/customer/{customer['id']}", json={"version": 0, "phoneNumber": "22 00 00 02"}
        )
        assert_api_error(stale, 409, 8000)
        assert http.get(f"/customer/{customer['id']}").json()["value"]["phoneNumber"] == (
            "22 00 00 01"
        )
        blind = http.put(f"/customer/{customer['id']}", json={"phoneNumber": "22 00 00 03"})
        assert blind.json()["value"]["version"] == 2
        product = http.get("/product", params={"count": 1}).json()["values"][0]
        assert_api_error(http.put(f"/product/{product['id']}", json={"version": 5}), 409, 8000)


def test_unknown_body_field_is_a_mapping_error(world: World) -> None:
    """Tripletex maps JSON strictly: an unknown property or a wrong type is 422/16000."""
    with world.client() as http:
        unknown = http.post("/customer", json={"name": "Ny Kunde AS", "colour": "blue"})
        assert_api_error(unknown, 422, 16000)
        wrong_type = http.post("/customer", json={"name": "Ny Kunde AS", "invoicesDueIn": "14"})
        assert_api_error(wrong_type, 422, 16000)
        nameless = http.post("/customer", json={"email": "x@example.no"})
        assert "name" in validation_fields(assert_api_error(nameless, 422, 18000))
        not_json = http.post(
            "/customer", content=b"{name", headers={"Content-Type": "application/json"}
        )
        assert_api_error(not_json, 422, 22000)


# ------------------------------------------------------------------ rate limits


def test_rate_limit_headers_and_429(world: World, clock: ManualClock) -> None:
    """Every response carries the three headers; past the limit every call is 429."""
    world.sandbox.rate_limit = 3
    world.sandbox.rate_limit_period = 60
    token = world.session()
    with world.client(0, token) as http:
        first = http.get("/token/session/>whoAmI")
        assert first.headers["X-Rate-Limit-Limit"] == "3"
        assert first.headers["X-Rate-Limit-Remaining"] == "2"
        assert first.headers["X-Rate-Limit-Reset"] == "60"
        assert first.headers["x-tlx-request-id"]
        http.get("/customer")
        clock.advance(timedelta(seconds=15))
        error = http.get("/customer", params={"fields": "nope"})
        assert error.status_code == 400
        assert error.headers["X-Rate-Limit-Remaining"] == "0"
        limited = http.get("/token/session/>whoAmI")
        assert_api_error(limited, 429, 0)
        assert limited.headers["X-Rate-Limit-Remaining"] == "0"
        assert limited.headers["X-Rate-Limit-Reset"] == "45"
        clock.advance(timedelta(seconds=45))
        again = http.get("/token/session/>whoAmI")
        assert again.status_code == 200 and again.headers["X-Rate-Limit-Remaining"] == "2"


# ----------------------------------------------------------------- sales flow


def test_order_invoice_payment_and_credit_note(world: World) -> None:
    """Order → invoice (charged, with voucher) → part payment → credit note."""
    with world.client() as http:
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        products = http.get("/product", params={"count": 2}).json()["values"]
        vat_low = http.get("/ledger/vatType", params={"number": "33"}).json()["values"][0]
        order = http.post(
            "/order",
            json={
                "customer": {"id": customer["id"]},
                "orderDate": "2026-03-10",
                "deliveryDate": "2026-03-10",
                "orderLines": [
                    {"product": {"id": products[0]["id"]}, "count": 2},
                    {
                        "description": "Reise",
                        "count": 1,
                        "unitPriceExcludingVatCurrency": 1000,
                        "vatType": {"id": vat_low["id"]},
                    },
                ],
            },
        )
        assert order.status_code == 201, order.text
        order_id = order.json()["value"]["id"]
        lines = http.get(f"/order/{order_id}", params={"fields": "orderLines(*)"}).json()
        amounts = [line["amountExcludingVatCurrency"] for line in lines["value"]["orderLines"]]
        net = products[0]["priceExcludingVatCurrency"] * 2
        assert amounts == [net, 1000.0]

        invoice = http.put(f"/order/{order_id}/:invoice", params={"invoiceDate": "2026-03-10"})
        assert invoice.status_code == 200, invoice.text
        value = invoice.json()["value"]
        gross = net * 1.25 + 1120.0
        assert value["amount"] == gross and value["amountOutstanding"] == gross
        assert value["amountExcludingVat"] == net + 1000.0
        assert value["isCharged"] is True and value["isCreditNote"] is False
        assert value["invoiceDueDate"] == "2026-03-24"
        again = http.put(f"/order/{order_id}/:invoice", params={"invoiceDate": "2026-03-10"})
        assert_api_error(again, 422, 18000)

        voucher = http.get(
            f"/ledger/voucher/{value['voucher']['id']}",
            params={"fields": "voucherType(name),postings(account(number),amount,vatType(number))"},
        ).json()["value"]
        assert voucher["voucherType"]["name"] == "Utgående faktura"
        postings = [(p["account"]["number"], p["amount"]) for p in voucher["postings"]]
        assert postings[0] == (1500, gross)
        assert sum(amount for _, amount in postings) == pytest.approx(0)

        payment_type = http.get("/invoice/paymentType").json()["values"][0]["id"]
        paid = http.put(
            f"/invoice/{value['id']}/:payment",
            params={"paymentDate": "2026-03-12", "paymentTypeId": payment_type, "paidAmount": 500},
        )
        assert paid.status_code == 200
        assert paid.json()["value"]["amountOutstanding"] == gross - 500
        assert paid.json()["value"]["version"] == 1

        credit = http.put(
            f"/invoice/{value['id']}/:createCreditNote",
            params={"date": "2026-03-13", "comment": "Feil antall"},
        )
        assert credit.status_code == 200
        note = credit.json()["value"]
        assert note["isCreditNote"] is True and note["creditedInvoice"] == value["id"]
        assert note["amount"] == -gross and note["amountOutstanding"] == -500.0
        original = http.get(f"/invoice/{value['id']}").json()["value"]
        assert original["isCredited"] is True and original["amountOutstanding"] == 0.0
        twice = http.put(f"/invoice/{value['id']}/:createCreditNote", params={"date": "2026-03-13"})
        assert_api_error(twice, 422, 18000)

        listed = http.get(
            "/invoice",
            params={
                "invoiceDateFrom": "2026-03-10",
                "invoiceDateTo": "2026-03-14",
                "fields": "invoiceNumber,isCreditNote",
            },
        ).json()["values"]
        assert [v["isCreditNote"] for v in listed] == [False, True]
        missing = http.get("/invoice", params={"invoiceDateFrom": "2026-03-01"})
        assert "invoiceDateTo" in validation_fields(assert_api_error(missing, 422, 21000))


def test_orders_are_found_by_number_and_only_uninvoiced_ones_deleted(world: World) -> None:
    """GET /order needs its date range and filters by number (equals), customer and
    ``isClosed``; DELETE /order/{id} removes an order not invoiced yet."""
    with world.client() as http:
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        created = []
        for number in ("hub-1", "hub-2"):
            order = http.post(
                "/order",
                json={
                    "number": number,
                    "customer": {"id": customer["id"]},
                    "orderDate": "2026-03-10",
                    "deliveryDate": "2026-03-10",
                    "orderLines": [{"description": "Rådgivning", "count": 1,
                                    "unitPriceExcludingVatCurrency": 900}],
                },
            )  # fmt: skip
            assert order.status_code == 201, order.text
            created.append(order.json()["value"]["id"])
        day = {"orderDateFrom": "2026-03-10", "orderDateTo": "2026-03-11"}
        found = http.get("/order", params={**day, "number": "hub-2", "fields": "id,number"})
        assert found.json()["values"] == [{"id": created[1], "number": "hub-2"}]
        next_day = {"orderDateFrom": "2026-03-11", "orderDateTo": "2026-03-12"}
        later = http.get("/order", params={**next_day, "number": "hub-2"})
        assert later.json()["values"] == []
        missing = http.get("/order", params={"orderDateFrom": "2026-03-10", "number": "hub-2"})
        assert "orderDateTo" in validation_fields(assert_api_error(missing, 422, 21000))

        assert http.put(f"/order/{created[0]}/:invoice", params={"invoiceDate": "2026-03-10"})
        closed = http.get(
            "/order", params={**day, "isClosed": "true", "customerId": customer["id"]}
        )
        assert [o["id"] for o in closed.json()["values"]] == [created[0]]
        refused = http.delete(f"/order/{created[0]}")
        assert "id" in validation_fields(assert_api_error(refused, 422, 18000))
        assert http.delete(f"/order/{created[1]}").status_code == 204
        assert_api_error(http.get(f"/order/{created[1]}"), 404, 6000)


def test_prepaid_invoice(world: World) -> None:
    """``paymentTypeId`` + ``paidAmount`` on :invoice register a prepayment; one alone is 422."""
    with world.client() as http:
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        product = http.get("/product", params={"count": 1}).json()["values"][0]
        body = {
            "customer": {"id": customer["id"]},
            "orderDate": "2026-03-10",
            "deliveryDate": "2026-03-10",
            "orderLines": [{"product": {"id": product["id"]}, "count": 1}],
        }
        order_id = http.post("/order", json=body).json()["value"]["id"]
        payment_type = http.get("/invoice/paymentType").json()["values"][0]["id"]
        half = http.put(
            f"/order/{order_id}/:invoice",
            params={"invoiceDate": "2026-03-10", "paymentTypeId": payment_type},
        )
        assert_api_error(half, 422, 18000)
        invoice = http.put(
            f"/order/{order_id}/:invoice",
            params={
                "invoiceDate": "2026-03-10",
                "paymentTypeId": payment_type,
                "paidAmount": product["priceIncludingVatCurrency"],
            },
        ).json()["value"]
        assert invoice["amountOutstanding"] == 0.0


# --------------------------------------------------------------------- webhooks


@dataclass
class Received:
    """One callback seen by the receiver."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The decoded body."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """A tiny real HTTP server that records webhook callbacks."""

    url: str
    requests: list[Received] = field(default_factory=list)
    always_fail: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An ``http.server`` on a free port answering 200 (or 500 when told to fail)."""
    lock = threading.Lock()
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with lock:
                state.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, raw)
                )
                failing = state.always_fail
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/tripletex"
    yield state
    server.shutdown()
    server.server_close()


def verify_signature(secret: str, received: Received) -> bool:
    """The receiver's check, written from the spec's formula, independent of the sandbox."""
    key = received.headers["idempotency-key"]
    mac = hmac.new(secret.encode(), key.encode() + b"&" + received.body, hashlib.sha512)
    expected = base64.b64encode(mac.digest()).decode()
    return hmac.compare_digest(expected, received.headers["x-request-signature"])


def test_webhooks_are_signed_and_delivered(world: World, receiver: Receiver) -> None:
    """Subscribed events arrive as ``{subscriptionId, event, id, value}``, signed with HMAC."""
    with world.client() as http:
        created = http.post(
            "/event/subscription",
            json={
                "event": "customer.update",
                "targetUrl": receiver.url,
                "fields": "id,version,name",
                "authHeaderName": "Authorization",
                "authHeaderValue": "Bearer abc123",
                "hmacSharedSecret": "delt-hemmelighet",
            },
        )
        assert created.status_code == 201, created.text
        subscription = created.json()["value"]
        assert subscription["status"] == "ACTIVE"
        assert "hmacSharedSecret" not in subscription and "authHeaderValue" not in subscription
        http.post(
            "/event/subscription", json={"event": "customer.delete", "targetUrl": receiver.url}
        )
        http.post(
            "/event/subscription", json={"event": "invoice.charged", "targetUrl": receiver.url}
        )
        listed = http.get("/event/subscription").json()
        assert listed["fullResultSize"] == 3
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        http.put(f"/customer/{customer['id']}", json={"name": "Nytt Navn AS"})
    world.sandbox.update(world.firm.firm_id, "Customer", customer["id"], {"name": "Fra UI AS"})
    world.sandbox.delete(world.firm.firm_id, "Customer", customer["id"])
    world.sandbox.wait_for_webhooks(5)

    updates = [r for r in receiver.requests if r.json["event"] == "customer.update"]
    assert [r.json["value"] for r in updates] == [
        {"id": customer["id"], "version": 1, "name": "Nytt Navn AS"},
        {"id": customer["id"], "version": 2, "name": "Fra UI AS"},
    ]
    first = updates[0]
    assert first.json["subscriptionId"] == subscription["id"] and first.json["id"] == customer["id"]
    assert first.headers["authorization"] == "Bearer abc123"
    assert verify_signature("delt-hemmelighet", first)
    assert not verify_signature("feil-hemmelighet", first)
    assert first.headers["idempotency-key"] != updates[1].headers["idempotency-key"]
    deleted = [r for r in receiver.requests if r.json["event"] == "customer.delete"]
    assert deleted[0].json["value"] is None and deleted[0].json["id"] == customer["id"]
    assert "x-request-signature" not in deleted[0].headers


def test_invoice_and_product_events(world: World, receiver: Receiver) -> None:
    """``invoice.charged`` fires when an order is invoiced; ``product.create`` on POST."""
    with world.client() as http:
        for event in ("invoice.charged", "product.create"):
            http.post("/event/subscription", json={"event": event, "targetUrl": receiver.url})
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        product = http.post("/product", json={"name": "Bokføring ekstra", "number": "999"})
        assert product.status_code == 201
        order = http.post(
            "/order",
            json={
                "customer": {"id": customer["id"]},
                "orderDate": "2026-03-10",
                "deliveryDate": "2026-03-10",
                "orderLines": [{"product": {"id": product.json()["value"]["id"]}}],
            },
        ).json()["value"]
        invoice = http.put(f"/order/{order['id']}/:invoice", params={"invoiceDate": "2026-03-10"})
    world.sandbox.wait_for_webhooks(5)
    events = [(r.json["event"], r.json["id"]) for r in receiver.requests]
    assert events == [
        ("product.create", product.json()["value"]["id"]),
        ("invoice.charged", invoice.json()["value"]["id"]),
    ]


def test_subscription_validation_and_deletion(world: World, receiver: Receiver) -> None:
    """Unknown events and non-HTTPS targets are refused; a deleted subscription gets nothing."""
    with world.client() as http:
        unknown = http.post(
            "/event/subscription", json={"event": "hat.create", "targetUrl": receiver.url}
        )
        assert "event" in validation_fields(assert_api_error(unknown, 422, 18000))
        plain = http.post(
            "/event/subscription",
            json={"event": "customer.update", "targetUrl": "http://example.com/hook"},
        )
        assert "targetUrl" in validation_fields(assert_api_error(plain, 422, 18000))
        events = http.get("/event").json()["value"]
        assert events["customer.update"]["payloadModel"] == "Customer"
        sub = http.post(
            "/event/subscription", json={"event": "customer.update", "targetUrl": receiver.url}
        ).json()["value"]
        assert http.delete(f"/event/subscription/{sub['id']}").status_code == 204
        assert_api_error(http.get(f"/event/subscription/{sub['id']}"), 404, 6000)
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        http.put(f"/customer/{customer['id']}", json={"name": "Stille AS"})
    world.sandbox.wait_for_webhooks(5)
    assert receiver.requests == []


def test_failing_receiver_disables_the_subscription(world: World, receiver: Receiver) -> None:
    """After too many failed deliveries the status becomes DISABLED_TOO_MANY_ERRORS."""
    world.sandbox.webhook_failure_limit = 2
    receiver.always_fail = True
    with world.client() as http:
        sub = http.post(
            "/event/subscription", json={"event": "customer.update", "targetUrl": receiver.url}
        ).json()["value"]
        customer = http.get("/customer", params={"count": 1}).json()["values"][0]
        for name in ("A AS", "B AS"):
            http.put(f"/customer/{customer['id']}", json={"name": name})
        world.sandbox.wait_for_webhooks(10)
        status = http.get(f"/event/subscription/{sub['id']}").json()["value"]["status"]
        assert status == "DISABLED_TOO_MANY_ERRORS"
        http.put(f"/customer/{customer['id']}", json={"name": "C AS"})
        world.sandbox.wait_for_webhooks(10)
    records = world.sandbox.webhook_deliveries()
    assert [r.delivered for r in records] == [False, False]
    assert all(r.attempts == 3 for r in records)
    assert len(receiver.requests) == 6


# ------------------------------------------------------------ work statistics


def test_work_statistics_per_month(world: World) -> None:
    """Vouchers by type, postings, bank transactions and documents for each of 13 months."""
    client_id = world.firm.client_ids[0]
    with world.client(client_id) as http:
        types = {t["name"]: t["id"] for t in http.get("/ledger/voucherType").json()["values"]}
        assert {"Utgående faktura", "Leverandørfaktura", "Innbetaling", "Lønnsbilag"} <= set(types)
        statements = http.get("/bank/statement", params={"fields": "id,fromDate,toDate"}).json()
        assert statements["fullResultSize"] == 13
        months = months_back(date(2026, 3, 10), 13)
        for first in months:
            following = (first + timedelta(days=32)).replace(day=1)
            window = {"dateFrom": first.isoformat(), "dateTo": following.isoformat()}
            sales = http.get(
                "/ledger/voucher", params={**window, "typeId": types["Utgående faktura"]}
            ).json()
            purchases = http.get(
                "/ledger/voucher",
                params={
                    **window,
                    "typeId": types["Leverandørfaktura"],
                    "fields": "id,date,attachment(fileName,mimeType)",
                },
            ).json()
            assert sales["fullResultSize"] >= 1 and purchases["fullResultSize"] >= 1
            assert all(
                first.isoformat() <= v["date"] < following.isoformat() for v in purchases["values"]
            )
            documents = [v for v in purchases["values"] if "attachment" in v]
            assert documents and documents[0]["attachment"]["mimeType"] == "application/pdf"
            postings = http.get("/ledger/posting", params={**window, "fields": "amount"}).json()
            assert sum(Decimal(str(p["amount"])) for p in postings["values"]) == 0
            statement = next(s for s in statements["values"] if s["fromDate"] == first.isoformat())
            transactions = http.get(
                "/bank/statement/transaction",
                params={"bankStatementId": statement["id"], "fields": "postedDate,amountCurrency"},
            ).json()
            assert transactions["fullResultSize"] >= 1
            assert all(
                t["postedDate"].startswith(first.isoformat()[:7]) for t in transactions["values"]
            )
            bank_postings = http.get(
                "/ledger/posting",
                params={**window, "accountNumberFrom": 1920, "accountNumberTo": 1920},
            ).json()
            assert bank_postings["fullResultSize"] == transactions["fullResultSize"]
        assert_api_error(http.get("/ledger/voucher", params={"dateFrom": "2026-03-01"}), 422, 21000)
        reception = http.get("/ledger/voucher/>voucherReception").json()
        assert all(v["number"] == 0 for v in reception["values"])
        voucher_with_doc = http.get(
            "/ledger/voucher",
            params={
                "dateFrom": months[-1].isoformat(),
                "dateTo": "2026-04-01",
                "typeId": types["Leverandørfaktura"],
                "fields": "attachment",
            },
        ).json()["values"][0]
        document = http.get(f"/document/{voucher_with_doc['attachment']['id']}").json()["value"]
        assert document["fileName"].endswith(".pdf") and document["size"] > 0


def test_environment_prefix_must_exist(world: World) -> None:
    """Only ``production`` and ``test`` are served."""
    response = httpx.get(f"{world.server}/staging/v2/customer")
    assert_api_error(response, 404, 6000)
    assert_api_error(httpx.get(f"{world.url()}/no/such/path"), 404, 6000)
