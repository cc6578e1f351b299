"""Qonto sandbox seeding: deterministic, valid identifiers, consistent totals, fast."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from stdnum import iban as stdnum_iban
from stdnum.be import vat as be_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import tva as fr_tva
from stdnum.nl import btw as nl_btw

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.qonto import (
    QontoSandbox,
    SandboxServer,
    seed_clients,
    seed_invoices,
    seed_organization,
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def seeded(seed: int = 1, clients: int = 300, invoices: int = 900) -> QontoSandbox:
    """A sandbox seeded at the given scale."""
    box = QontoSandbox(ManualClock(NOW))
    seed_organization(box, clients=clients, invoices=invoices, seed=seed)
    return box


def test_seeding_is_deterministic_per_seed() -> None:
    first, again, other = seeded(1), seeded(1), seeded(2)
    assert first.clients() == again.clients()
    assert first.invoices() == again.invoices()
    assert first.credit_notes() == again.credit_notes()
    assert first.clients() != other.clients()


def test_seeded_clients_look_real() -> None:
    clients = seeded().clients()
    countries = Counter(c["country_code"] for c in clients)
    assert set(countries) == {"FR", "NL", "BE"}
    assert countries["FR"] > countries["NL"] > 0
    kinds = Counter(c["kind"] for c in clients)
    assert kinds["company"] > kinds["individual"] > 0
    for client in clients:
        assert client["billing_address"]["street_address"]
        assert client["email"] and "@" in client["email"]
        assert client["currency"] and client["locale"] in ("fr", "nl", "en")
        if client["kind"] == "individual":
            assert client["name"] == f"{client['first_name']} {client['last_name']}"
            assert client["vat_number"] is None
            continue
        vat = client["vat_number"]
        tin = client["tax_identification_number"]
        if client["country_code"] == "FR":
            assert fr_siren.is_valid(tin), tin
            assert fr_tva.is_valid(vat), vat
            assert vat.endswith(tin)
        elif client["country_code"] == "NL":
            assert nl_btw.is_valid(vat), vat
            assert len(tin) == 8
        else:
            assert be_vat.is_valid(vat), vat
            assert vat == f"BE{tin}"
    domains = [c["email"].split("@")[1] for c in clients if c["kind"] == "company"]
    assert len(domains) == len(set(domains))
    assert any(" bis " in c["address"] or " ter " in c["address"] for c in clients)
    assert any(c["address"].split()[-1][-1].isalpha() for c in clients if c["country_code"] == "NL")


def test_seeded_invoices_are_consistent() -> None:
    box = seeded()
    invoices = box.invoices()
    statuses = Counter(invoice["status"] for invoice in invoices)
    assert set(statuses) == {"draft", "unpaid", "paid", "canceled"}
    numbers = [i["number"] for i in invoices if i["status"] != "draft"]
    assert len(numbers) == len(set(numbers))
    assert all(i["number"] is None for i in invoices if i["status"] == "draft")
    for invoice in invoices:
        items = invoice["items"]
        subtotal = sum(Decimal(item["subtotal"]["value"]) for item in items)
        discount = Decimal(invoice["discount"]["amount"]["value"]) if invoice["discount"] else 0
        vat = Decimal(invoice["vat_amount"]["value"])
        assert Decimal(invoice["total_amount"]["value"]) == subtotal - discount + vat
        assert invoice["issue_date"] <= invoice["due_date"]
        assert invoice["created_at"] <= "2026-03-10T09:00:00.000Z"
        if invoice["status"] == "paid":
            assert invoice["paid_at"] is not None
        if invoice["client"]["country_code"] != "FR" and invoice["client"]["kind"] == "company":
            assert {item["vat_rate"] for item in items} == {"0"}
    notes = box.credit_notes()
    assert notes
    by_invoice = {i["id"]: i for i in invoices}
    for note in notes:
        invoice = by_invoice[note["invoice_id"]]
        assert note["id"] in invoice["credit_notes_ids"]
        assert note["total_amount_cents"] < 0
        if -note["total_amount_cents"] == invoice["total_amount_cents"]:
            assert invoice["status"] == "canceled"
    assert stdnum_iban.is_valid(box.iban)


def test_seeded_data_is_served() -> None:
    box = QontoSandbox(ManualClock(NOW))
    client_ids = seed_clients(box, 120, seed=3)
    seed_invoices(box, 250, seed=3, client_ids=client_ids[:50])
    with (
        SandboxServer(box) as server,
        httpx.Client(base_url=server.base_url, headers={"Authorization": box.api_key}) as http,
    ):
        clients = http.get("/v2/clients", params={"per_page": 100, "page": 2}).json()
        assert clients["meta"]["total_count"] == 120
        assert len(clients["clients"]) == 20
        invoices = http.get("/v2/client_invoices", params={"filter[status]": "paid"}).json()
        assert invoices["meta"]["total_count"] == sum(
            1 for i in box.invoices() if i["status"] == "paid"
        )
        assert {i["client_id"] for i in box.invoices()} <= set(client_ids[:50])
    box.close()


def test_seeding_a_thousand_clients_and_invoices() -> None:
    box = QontoSandbox(ManualClock(NOW))
    seed_organization(box, clients=1000, invoices=3000, seed=5)
    assert len(box.clients()) == 1000
    assert len(box.invoices()) == 3000
