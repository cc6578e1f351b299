"""Bad numbers and NUL characters never enter: the hub API answers 422 naming the field, on
SQLite and PostgreSQL alike, and stores nothing; an absurd value an accounting system sends
back becomes that record's skip, not an error that stops the page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import seed_products
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all

VAT = {"S25": "DK25", "S0": "DK0", "EU0": "EU0", "U25": "U25", "K25": "DK25K", "X99": "X"}


def party(tenant: Tenant) -> str:
    created = tenant.api.post(
        "/parties", json={"name": "Kvist ApS", "is_customer": True, "debtor_number": "70001"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def invoice(party_id: str, **changes: Any) -> dict[str, Any]:
    line = {"description": "Kaffe", "quantity": "2", "unit_price": "19.99", "vat_rate": "25"}
    line.update(changes.pop("line", {}))
    return {"party_id": party_id, "date": "2026-11-20", "currency": "EUR", "lines": [line],
            **changes}  # fmt: skip


def refused(response: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(location, error type) of each error of a 422."""
    assert response.status_code == 422, response.text
    return [(tuple(e["loc"]), e["type"]) for e in response.json()["detail"]]


@pytest.mark.parametrize(
    ("changes", "location", "error"),
    [
        ({"amount_open": "1e999999"}, ("body", "amount_open"), "number_too_large"),
        ({"amount_open": "1000000000000"}, ("body", "amount_open"), "number_too_large"),
        ({"amount_open": "12.345"}, ("body", "amount_open"), "number_too_precise"),
        ({"line": {"unit_price": "1e999999"}}, ("body", "lines", 0, "unit_price"),
         "number_too_large"),
        ({"line": {"unit_price": "NaN"}}, ("body", "lines", 0, "unit_price"), "finite_number"),
        ({"line": {"quantity": "Infinity"}}, ("body", "lines", 0, "quantity"), "finite_number"),
        ({"line": {"quantity": "-1E+13"}}, ("body", "lines", 0, "quantity"), "number_too_large"),
        ({"line": {"quantity": "0.0000001"}}, ("body", "lines", 0, "quantity"),
         "number_too_precise"),
        ({"line": {"unit_price": "1.00001"}}, ("body", "lines", 0, "unit_price"),
         "number_too_precise"),
        ({"currency": "JPY", "amount_open": "100.5"}, ("body", "amount_open"),
         "number_too_precise"),
        ({"currency": "JPY", "line": {"unit_price": "19.999"}},
         ("body", "lines", 0, "unit_price"), "number_too_precise"),
    ],
)  # fmt: skip
def test_impossible_amounts_are_refused_naming_the_field(
    system: System, tenant: Tenant, changes: dict[str, Any], location: tuple[Any, ...], error: str
) -> None:
    party_id = party(tenant)
    assert refused(tenant.api.post("/invoices", json=invoice(party_id, **changes))) == [
        (location, error)
    ]
    assert tenant.api.get("/invoices").json()["items"] == []


def test_amounts_money_can_be_are_accepted(system: System, tenant: Tenant) -> None:
    party_id = party(tenant)
    for changes in (
        {"amount_open": "999999999999.99", "line": {"unit_price": "0.0125", "quantity": "1.5"}},
        {"currency": "JPY", "amount_open": "1200", "line": {"unit_price": "19.99"}},
        {"currency": "KWD", "amount_open": "12.345"},
    ):
        created = tenant.api.post("/invoices", json=invoice(party_id, **changes))
        assert created.status_code == 201, created.text
    payment = {"invoice_id": created.json()["id"], "date": "2026-11-21", "currency": "EUR"}
    assert refused(tenant.api.post("/payments", json={**payment, "amount": "10.001"})) == [
        (("body", "amount"), "number_too_precise")
    ]
    assert tenant.api.post("/payments", json={**payment, "amount": "10.01"}).status_code == 201


def test_out_of_range_integer_query_parameters_are_refused(system: System, tenant: Tenant) -> None:
    party_id = party(tenant)
    for after in (2**70, 2**63, -1):
        response = tenant.api.get("/changes", params={"after": after})
        assert refused(response) == [
            (("query", "after"), "less_than_equal" if after > 0 else "greater_than_equal")
        ]
    assert tenant.api.get("/changes", params={"after": 2**63 - 1}).json()["items"] == []
    replaced = tenant.api.put(
        f"/parties/{party_id}", params={"if_version": 2**40}, json={"name": "Kvist A/S"}
    )
    assert refused(replaced) == [(("query", "if_version"), "less_than_equal")]


def test_a_sync_log_cursor_beyond_the_column_is_refused(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    connection = connect(tenant, uniconta)
    response = tenant.api.get(f"/connections/{connection['id']}/sync-log", params={"before": 2**70})
    assert refused(response) == [(("query", "before"), "less_than_equal")]


def test_a_nul_character_is_refused_wherever_it_is(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    party_id = party(tenant)
    cases = [
        (tenant.api.post("/parties", json={"name": "Kvist\u0000 ApS", "is_customer": True}),
         ("body", "name")),
        (tenant.api.post("/parties", json={"name": "Kvist ApS",
                                           "postal_address": {"city": "Vejle\u0000"}}),
         ("body", "postal_address", "city")),
        (tenant.api.patch(f"/parties/{party_id}", json={"notes": {"x\u0000": 1}}),
         ("body", "notes", "x\u0000")),
        (tenant.api.post("/invoices", json=invoice(party_id, line={"description": "\u0000"})),
         ("body", "lines", 0, "description")),
        (tenant.api.get("/parties", params={"after": "abc\u0000"}), ("query", "after")),
        (tenant.api.get(f"/parties/{party_id}%00"), ("path",)),
        (tenant.api.post("/connections", json={
            "system": "uniconta", "name": "Uniconta", "timezone": "Europe/Copenhagen",
            "settings": {"company_id": COMPANY, "username": "ledger\u0000bridge",
                         "base_url": uniconta.url},
            "secrets": {"password": "x"}}), ("body", "settings", "username")),
    ]  # fmt: skip
    for response, location in cases:
        assert refused(response) == [(location, "nul_character")], location
    parties = tenant.api.get("/parties").json()["items"]
    assert [p["data"]["name"] for p in parties] == ["Kvist ApS"]
    assert tenant.api.get("/invoices").json()["items"] == []


def test_an_absurd_number_from_the_accounting_system_skips_only_its_record(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    items = seed_products(uniconta.sandbox, COMPANY, count=5, seed=8)
    too_large, too_precise = items[1], items[3]
    uniconta.sandbox.update(COMPANY, "InvItemClient", too_large, {"SalesPrice1": Decimal("1e15")})
    uniconta.sandbox.update(
        COMPANY, "InvItemClient", too_precise, {"CostPrice": Decimal("0.1234567")}
    )
    connection = connect(tenant, uniconta, settings={
        "entities": {"products": {"enabled": True}}, "vat_mapping": VAT})  # fmt: skip
    import_all(system, tenant, connection["id"])

    products = tenant.api.get("/products").json()["items"]
    assert sorted(p["data"]["sku"] for p in products) == sorted(
        set(items) - {too_large, too_precise}
    )
    issues = tenant.api.get(f"/connections/{connection['id']}/issues").json()
    assert sorted((i["key"], i["reason"]) for i in issues) == sorted(
        [(too_large, "invalid_remote_data"), (too_precise, "invalid_remote_data")]
    )
