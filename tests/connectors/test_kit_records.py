"""Rules every mapping applies to a whole record."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import SkipRecord
from ledgerbridge.connectors.kit.records import written_once


def test_a_record_booked_as_it_is_written_is_written_once() -> None:
    written_once(None, "invoice_readonly", "issue a credit note")
    with pytest.raises(SkipRecord) as caught:
        written_once({"id": "7"}, "invoice_readonly", "issue a credit note")
    assert (caught.value.reason, caught.value.message) == (
        "invoice_readonly",
        "issue a credit note",
    )
