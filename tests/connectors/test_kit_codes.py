"""A connection's code tables: codes both ways, and a skip naming the setting to fix when a
code is in neither."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.kit.codes import CodeTable

TABLE = {"Piece": "pcs", "Stk": "pcs", "Hours": "hour"}
UNITS = CodeTable("Uniconta", "unit", "unit_mapping", TABLE, blank=("None",))


def test_codes_go_both_ways_and_a_shared_hub_code_goes_back_to_the_lowest() -> None:
    assert UNITS.to_hub("Hours") == "hour"
    assert UNITS.from_hub("hour") == "Hours"
    assert UNITS.from_hub("pcs") == "Piece"
    assert UNITS.knows("pcs") and not UNITS.knows("kg")


def test_no_code_and_the_systems_blank_code_are_none() -> None:
    assert UNITS.to_hub(None) is None
    assert UNITS.to_hub("None") is None
    assert UNITS.from_hub(None) is None
    assert UNITS.get("Hours") == "hour" and UNITS.get("Crate") is None and UNITS.get(None) is None


def test_an_unmapped_code_is_a_skip_that_names_the_setting() -> None:
    with pytest.raises(SkipRecord) as inbound:
        UNITS.to_hub("Crate")
    assert inbound.value.reason == "unit_unmapped"
    assert inbound.value.message == (
        "Uniconta unit 'Crate' is not mapped to a hub unit; add it to settings.unit_mapping and "
        "the record syncs by itself"
    )
    with pytest.raises(SkipRecord) as outbound:
        UNITS.from_hub("kg")
    assert outbound.value.reason == "unit_unmapped"
    assert "hub unit 'kg' has no Uniconta unit in settings.unit_mapping" in outbound.value.message


def test_the_record_is_named_and_hub_values_read_as_the_table_says() -> None:
    vat = CodeTable("Uniconta", "VAT code", "vat_mapping", {"S25": "DK25"})
    with pytest.raises(SkipRecord) as caught:
        vat.to_hub("U99", "item KAFFE-1")
    assert caught.value.reason == "vat_code_unmapped"
    assert caught.value.message.startswith(
        "item KAFFE-1 uses Uniconta VAT code 'U99', which is not mapped to a hub VAT code"
    )
    terms = CodeTable("Uniconta", "payment term", "payment_terms", {"Netto 8": 8},
                      shown=lambda days: f"of {days} days")  # fmt: skip
    assert terms.from_hub(8) == "Netto 8"
    with pytest.raises(SkipRecord, match="hub payment term of 30 days has no Uniconta"):
        terms.from_hub(30)


def test_a_table_kept_hub_first_is_given_as_back() -> None:
    vat = CodeTable("Yuki", "VAT code", "vat_mapping", back={"NL21": "1"})
    assert vat.from_hub("NL21") == "1"
    with pytest.raises(SkipRecord, match="hub VAT code 'NL9' has no Yuki VAT code"):
        vat.from_hub("NL9")
