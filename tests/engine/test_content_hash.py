"""Content hashes stay what earlier versions stored: a changed hash would make every record
look changed after an upgrade (and be written, or sent, once more)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledgerbridge.engine.canonical import content_hash


def _stored_hash(data: Any) -> str:
    """The hash as the standard encoder wrote it before."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _values, max_size=8))
def test_hashes_equal_the_standard_encoders(data: dict[str, Any]) -> None:
    assert content_hash(data) == _stored_hash(data)


def test_the_cases_the_fast_encoder_writes_otherwise() -> None:
    for data in [
        {"rate": 1e-05, "fee": -2.5e-7},  # small floats: 0.00001 against 1e-05
        {"id": 2**70},  # beyond 64 bits
        {"note": "keeps 0.0000 and e- in text"},
        {1: "a non-string key"},
    ]:
        assert content_hash(data) == _stored_hash(data), data
