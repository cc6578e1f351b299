"""References between records are declared once, in the model: every mapping's references come
from that declaration (the hub API's check is in tests/integration/test_references.py)."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import EntityMapping, Reference, SkipRecord
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.qonto import mapping as qonto
from ledgerbridge.connectors.tripletex import mapping as tripletex
from ledgerbridge.connectors.uniconta import mapping as uniconta
from ledgerbridge.connectors.yuki import mapping as yuki
from ledgerbridge.model import ENTITY_TYPES
from ledgerbridge.model.references import REFERENCES, reference, references_of


def test_every_declared_reference_is_a_field_of_its_entity_naming_an_entity() -> None:
    for ref in REFERENCES:
        assert ref.field in ENTITY_TYPES[ref.entity].model_fields
        assert ref.target in ENTITY_TYPES
    assert [r.field for r in references_of("invoice")] == ["party_id", "credits_invoice_id"]
    assert reference("invoice", "party_id").required
    assert not reference("invoice", "credits_invoice_id").required


def test_a_field_the_model_does_not_declare_cannot_be_resolved() -> None:
    with pytest.raises(KeyError, match=r"party\.name is not a reference"):
        linked("party", "name", "customers")


def test_a_mapping_reference_takes_the_models_reasons_unless_it_says_better() -> None:
    assert linked("contact_person", "party_id", "customers", "suppliers") == Reference(
        field="party_id", streams=("customers", "suppliers"),
        missing_reason="contact_parent_missing", pending_reason="contact_parent_pending",
    )  # fmt: skip
    stricter = linked("invoice", "credits_invoice_id", "invoices", required=True)
    assert stricter.required and stricter.missing_reason == "credited_invoice_missing"
    assert linked("invoice", "party_id", "customers", pending_reason="x").pending_reason == "x"


def test_each_mappings_reference_is_one_the_model_declares() -> None:
    seen = 0
    for module in (uniconta, tripletex, qonto, yuki):
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, EntityMapping)):
                continue
            for ref in value.references:
                declared = reference(value.entity, ref.field)
                assert ref.missing_reason == declared.missing_reason
                seen += 1
    assert seen >= 8


def test_a_mapping_called_without_a_required_target_skips_for_the_models_reason() -> None:
    assert target_of({"party_id": ("customers", "10")}, "invoice", "party_id") == (
        "customers", "10")  # fmt: skip
    with pytest.raises(SkipRecord) as caught:
        target_of({"party_id": None}, "contact_person", "party_id")
    assert caught.value.reason == "contact_parent_missing"
    assert caught.value.message == "the contact person has no party"
