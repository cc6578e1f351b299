"""How a held record names the record it waits for: in a bookkeeper's words, by what they
find it by in either system, never by a field's name or a hub id when there is better."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import Reference
from ledgerbridge.engine.state import _label, named


@pytest.mark.parametrize(
    ("field", "words"),
    [("party_id", "party"), ("credits_invoice_id", "credited invoice"), ("product_id", "product")],
)
def test_a_reference_reads_as_words(field: str, words: str) -> None:
    reference = Reference(field, ("invoices",), "missing", "pending")
    assert _label(reference) == words


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"number": "5001", "reference": "1042"}, "5001"),
        ({"sku": "KOP-01", "name": "Kaffekop"}, "KOP-01 (Kaffekop)"),
        ({"reference": "1042", "status": "draft"}, "with reference 1042"),
        ({"status": "draft"}, "3f0c"),
    ],
)
def test_a_referenced_record_is_named_as_a_person_finds_it(
    data: dict[str, str], words: str
) -> None:
    assert named(data, "3f0c") == words
