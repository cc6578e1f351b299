"""What a webshop flow's records become in Uniconta, row by row: VAT codes (mapped, the
company's own, neither), VAT zones and groups, payment term codes, delivery addresses, orders
left to book without a booking service, credit notes that wait for a booked invoice, and items
the app is master of."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.uniconta.mapping import (
    AWAIT_BOOKING,
    AccountMapping,
    Codes,
    InvoiceMapping,
    ProductMapping,
)

CODES = Codes(vat_mapping={"S25": "DK25"},
              vat_rates={"S25": "25", "U25": "25", "U_DE19": "19", "UEUV": "0"})  # fmt: skip
DEBTOR = AccountMapping("debtor", "debtor_number", "is_customer")
CREDITOR = AccountMapping("creditor", "creditor_number", "is_supplier")
PARTY = {"party_id": ("customers", "100000")}


def _invoice(**fields: Any) -> dict[str, Any]:
    return {
        "id": "inv-1", "party_id": "p-1", "date": "2026-11-20", "currency": "DKK",
        "status": "booked", "payment_term_days": 8,
        "lines": [{"sku": "KRUS-1", "description": "Krus", "quantity": "1",
                   "unit_price": "80", "vat_code": "U25"}],
        **fields,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("hub", "uniconta"),
    [("DK25", "S25"), ("U25", "U25"), ("U_DE19", "U_DE19"), ("UEUV", "UEUV")],
)
def test_line_vat_codes_are_mapped_or_the_company_own(hub: str, uniconta: str) -> None:
    assert CODES.vat_from_hub(hub) == uniconta
    assert CODES.vat_to_hub(uniconta, "a line") == hub


def test_a_vat_code_that_is_neither_mapped_nor_the_company_own_is_unmapped() -> None:
    with pytest.raises(SkipRecord) as skipped:
        CODES.vat_from_hub("XX7")
    assert skipped.value.reason == "vat_code_unmapped"
    assert "neither one of the company's VAT codes" in skipped.value.message
    assert "settings.vat_mapping" in skipped.value.message
    with pytest.raises(SkipRecord):
        CODES.vat_to_hub("X99", "a line")


@pytest.mark.parametrize(
    ("zone", "vat_zone"), [("domestic", "Domestic"), ("eu", "EU"), ("abroad", "Foreign")]
)
def test_a_customer_group_and_vat_zone_go_to_the_debtor_and_back(zone: str, vat_zone: str) -> None:
    record = {"debtor_number": "100000", "is_customer": True, "name": "Jens Hansen",
              "customer_group": "PRIV", "vat_zone": zone, "gln": "5790000123452"}  # fmt: skip
    payload = DEBTOR.from_canonical(record, None, {})
    assert (payload["Group"], payload["VatZone"], payload["EAN"]) == (
        "PRIV", vat_zone, "5790000123452")  # fmt: skip
    back = DEBTOR.to_canonical(payload, {})
    assert (back["customer_group"], back["vat_zone"]) == ("PRIV", zone)
    assert DEBTOR.sequence is not None and DEBTOR.sequence.setting == "debtor_numbers"
    assert CREDITOR.sequence is not None and CREDITOR.sequence.setting == "creditor_numbers"
    assert "customer_group" not in CREDITOR.fields
    assert "VatZone" not in CREDITOR.from_canonical(
        {"creditor_number": "70000", "name": "Leverandør", "vat_zone": zone}, None, {})  # fmt: skip


def test_the_invoice_term_code_wins_and_the_delivery_address_goes_along() -> None:
    mapping = InvoiceMapping(CODES, post=True)
    payload = mapping.from_canonical(
        _invoice(payment_term="Kort", reference="#1001",
                 delivery_address={"line1": "Havnegade 4", "city": "Aarhus", "country": "DK"}),
        None, PARTY,
    )  # fmt: skip
    order = payload["order"]
    assert (order["Payment"], order["YourRef"], order["DeliveryCity"]) == (
        "Kort", "#1001", "Aarhus")  # fmt: skip
    assert order["DeliveryCountry"] == "Denmark" and payload["post"] is True
    assert payload["lines"][0]["Vat"] == "U25" and payload["lines"][0]["Item"] == "KRUS-1"
    canonical = mapping.to_canonical(payload, {"party_id": "p-1"})
    assert (canonical["payment_term"], canonical["status"]) == ("Kort", "booked")
    assert canonical["delivery_address"]["line1"] == "Havnegade 4"
    netto = mapping.to_canonical(mapping.from_canonical(_invoice(), None, PARTY), {})
    assert (netto["payment_term"], netto["payment_term_days"]) == (None, 8)


def test_without_a_booking_service_an_invoice_to_post_is_an_order_left_to_book() -> None:
    mapping = InvoiceMapping(CODES, post=True, booking=False)
    payload = mapping.from_canonical(_invoice(), None, PARTY)
    assert (payload["post"], payload[AWAIT_BOOKING]) == (False, True)
    assert mapping.to_canonical(payload, {})["status"] == "booked"
    draft = mapping.from_canonical(_invoice(status="draft"), None, PARTY)
    assert AWAIT_BOOKING not in draft and draft["post"] is False


def test_a_credit_note_waits_while_its_invoice_is_an_order() -> None:
    mapping = InvoiceMapping(CODES, post=True)
    credit = _invoice(kind="credit_note", credits_invoice_id="inv-0")
    refs = {**PARTY, "credits_invoice_id": ("invoices", "order:1001")}
    with pytest.raises(SkipRecord) as waiting:
        mapping.from_canonical(credit, None, refs)
    assert waiting.value.reason == "credited_invoice_pending"
    posted = {**PARTY, "credits_invoice_id": ("invoices", "5000")}
    booked = mapping.from_canonical(credit, None, posted)
    assert booked["order"]["Settlements"] == "5000"


def test_items_go_to_uniconta_only_when_the_app_is_master() -> None:
    assert ProductMapping(CODES).outbound is False
    app = ProductMapping(CODES, master="app", group="WEB")
    assert app.outbound is True and app.read_only_reason is None
    product = {"sku": "TS-01", "name": "T-shirt", "unit": "pcs", "sales_price": "199",
               "vat_code": "U25", "active": True}  # fmt: skip
    created = app.from_canonical(product, None, {})
    assert (created["Item"], created["Unit"], created["SalesPrice1"]) == ("TS-01", "Piece", 199)
    assert (created["Group"], created["Vat"]) == ("WEB", "U25")
    updated = app.from_canonical(product, {"Item": "TS-01", "Group": "OLD", "CostPrice": 50}, {})
    assert (updated["Group"], updated["CostPrice"]) == ("OLD", 50), "Uniconta's own stay"


def test_a_service_item_is_a_service_product_both_ways() -> None:
    """Shipping, fees and the rounding item are ItemType Service: the hub says so (a shop
    leaves them out), and a service product the app creates is made a service item."""
    app = ProductMapping(CODES, master="app")
    read = app.to_canonical({"Item": "FRAGT", "Name": "Fragt", "ItemType": "Service"}, {})
    assert read["kind"] == "service"
    assert (
        app.to_canonical({"Item": "TS-01", "Name": "T", "ItemType": "Item"}, {})["kind"] == "goods"
    )
    service = {"sku": "GEBYR", "name": "Gebyr", "kind": "service"}
    assert app.from_canonical(service, None, {})["ItemType"] == "Service"
    kept = app.from_canonical(service, {"Item": "GEBYR", "ItemType": "Item"}, {})
    assert kept["ItemType"] == "Item", "an existing item's type is Uniconta's"
